"""The KRaft controller: heartbeats and fencing, clean and unclean elections, offline partitions.

Rules: §3 (controller-driven shrink after broker.session.timeout.ms; KRaft never empties an
ISR), §5 (clean election = first live ISR replica in assignment order; unclean election =
first live replica, ISR reset to it; every leader change bumps the leader epoch).
Kafka: BrokerHeartbeatManager, ReplicationControlManager.handleBrokerFenced,
PartitionChangeBuilder.

Placement (Kafka's rack-unaware assignment with start index 0, 3 brokers, RF 3):
t-0 -> (1, 2, 3), t-1 -> (2, 3, 1), t-2 -> (3, 1, 2). The preferred leader is the first.
"""

from __future__ import annotations

import pytest

from kafkasim.records import TopicPartition

SESSION = 9_000  # broker.session.timeout.ms
HEARTBEAT = 2_000  # broker.heartbeat.interval.ms

T0, T1, T2 = (TopicPartition("t", p) for p in range(3))


def three_partitions(faults: str, *, unclean: bool = False, duration: int = 120_000,
                     producers: str = "") -> str:
    return f"""
name: ctl
duration_ms: {duration}
cluster:
  brokers: 3
topics:
  - name: t
    partitions: 3
    replication_factor: 3
    config: {{unclean.leader.election.enable: {str(unclean).lower()}}}
{producers}
faults:
{faults}
"""


def test_assignment_is_kafkas_round_robin_placement(kit) -> None:
    sim = kit.build(three_partitions("  []").replace("faults:\n  []", ""))
    assert [kit.record(sim, tp).replicas for tp in (T0, T1, T2)] == [(1, 2, 3), (2, 3, 1), (3, 1, 2)]
    assert [kit.record(sim, tp).leader for tp in (T0, T1, T2)] == [1, 2, 3]


# -- fencing ------------------------------------------------------------------------------------------
def test_crashed_broker_is_fenced_after_the_session_timeout(kit) -> None:
    """§3: no heartbeat for broker.session.timeout.ms (9 s) -> fenced, dropped from every ISR
    (never emptying one), its leaderships moved."""
    sim = kit.build(three_partitions("  - {at_ms: 10500, action: crash, target: broker-2}"))
    w = sim.world
    w.run(10501)
    last_heartbeat = sim.cluster.controller.brokers[2].last_heartbeat
    assert 10500 - HEARTBEAT < last_heartbeat <= 10500
    w.run(60000)
    [fenced] = kit.events(sim, "broker.fenced")
    assert fenced.data["broker"] == 2
    assert last_heartbeat + SESSION <= fenced.t <= last_heartbeat + SESSION + 1000
    shrinks = kit.events(sim, "isr.change", reason="fenced")
    assert shrinks and all(e.t == fenced.t for e in shrinks), "ISRs shrink when the broker is fenced"
    for tp in (T0, T1, T2):
        rec = kit.record(sim, tp)
        assert 2 not in rec.isr
        assert rec.leader != 2


def test_broker_cut_from_the_controller_is_fenced_and_unfenced_after_heal(kit) -> None:
    """A live broker that cannot reach the controller misses its heartbeats just the same."""
    sim = kit.build(three_partitions("""
  - {at_ms: 10500, action: cut, from: broker-1, to: controller}
  - {at_ms: 40000, action: heal, from: broker-1, to: controller}"""))
    w = sim.world
    w.run(10501)
    last_heartbeat = sim.cluster.controller.brokers[1].last_heartbeat
    w.run(40000)
    [fenced] = kit.events(sim, "broker.fenced")
    assert fenced.data["broker"] == 1
    assert last_heartbeat + SESSION <= fenced.t <= last_heartbeat + SESSION + 1000
    assert sim.cluster.brokers[1].alive
    assert kit.record(sim, T0).leader == 2
    assert all(1 not in kit.record(sim, tp).isr for tp in (T0, T1, T2))
    w.run(41000 + HEARTBEAT)
    [unfenced] = kit.events(sim, "broker.unfenced")
    assert 40000 < unfenced.t <= 40000 + HEARTBEAT + 1


def test_quick_restart_is_fenced_when_the_old_session_expires(kit) -> None:
    """Broker 3 (leader of t-2) crashes at 10.5 s and is back at 14 s, within the session."""
    sim = kit.build(three_partitions("""
  - {at_ms: 10500, action: crash, target: broker-3}
  - {at_ms: 14000, action: restart, target: broker-3}""", duration=40_000))
    w = sim.world
    w.run(10501)
    last_heartbeat = sim.cluster.controller.brokers[3].last_heartbeat
    kit.run_to_end(sim)
    [fenced] = kit.events(sim, "broker.fenced", broker=3)
    assert last_heartbeat + SESSION <= fenced.t <= last_heartbeat + SESSION + 1000
    assert [e.t > fenced.t for e in kit.events(sim, "broker.unfenced", broker=3)] == [True]
    assert kit.record(sim, T2).leader_epoch >= 1, "its leadership of t-2 moved when it was fenced"


def test_a_restarted_broker_registers_once_its_old_session_expired_then_is_unfenced_when_caught_up(kit) -> None:
    """KRaft (ClusterControlManager.registerBroker, BrokerLifecycleManager): the new process's
    BrokerRegistration is refused with DUPLICATE_BROKER_REGISTRATION while the previous
    process's session is valid, retried 100 ms, 200 ms, 400 ms ... later (doubling, 2 %
    jitter); accepted after the old session expired (the broker was fenced); the broker is
    unfenced once a heartbeat shows it has caught up with the metadata log, heartbeating
    every 10 ms until then."""
    sim = kit.build(three_partitions("""
  - {at_ms: 10500, action: crash, target: broker-3}
  - {at_ms: 12000, action: restart, target: broker-3}""", duration=40_000))
    sim.world.run(10501)
    last_heartbeat = sim.cluster.controller.brokers[3].last_heartbeat
    kit.run_to_end(sim)
    regs = kit.events(sim, "broker.register", broker=3)
    [fenced] = kit.events(sim, "broker.fenced", broker=3)
    refused = [e for e in regs if e.data["error"] == "DUPLICATE_BROKER_REGISTRATION"]
    accepted = [e for e in regs if e.data["error"] == "NONE"]
    assert refused and all(e.t < fenced.t for e in refused)
    assert len(accepted) == 1 and accepted[0].t > fenced.t
    assert fenced.t == last_heartbeat + SESSION
    gaps = [b.t - a.t for a, b in zip(regs, regs[1:], strict=False)]
    for n, gap in enumerate(gaps):  # one network round trip (1-5 ms) on top of the backoff
        backoff = min(100 * 2 ** n, SESSION)
        assert 0.98 * backoff <= gap <= 1.02 * backoff + 10, (n, gap)
    [unfenced] = kit.events(sim, "broker.unfenced", broker=3)
    assert accepted[0].t < unfenced.t <= accepted[0].t + 50  # caught up within a few 10 ms heartbeats


# -- clean elections ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("victim", "tp", "expected"), [(1, T0, 2), (2, T1, 3), (3, T2, 1)])
def test_clean_election_picks_the_first_live_isr_replica_in_assignment_order(
        kit, victim: int, tp: TopicPartition, expected: int) -> None:
    sim = kit.build(three_partitions(f"  - {{at_ms: 5000, action: crash, target: broker-{victim}}}",
                                     duration=30_000))
    kit.run_to_end(sim)
    rec = kit.record(sim, tp)
    replicas = rec.replicas
    live_isr = [r for r in replicas if r != victim]
    assert rec.leader == live_isr[0] == expected
    [ev] = kit.events(sim, "leader.elected", partition=tp.partition, election="clean")
    assert ev.data["leader_epoch"] == 1


def test_clean_election_uses_assignment_order_not_isr_order(kit) -> None:
    """t-1 = (2, 3, 1). Broker 3 leaves and rejoins, so the ISR becomes [1, 2, 3] (sorted); when
    broker 2 dies the new leader must still be 3, the first live ISR replica of the *assignment*."""
    sim = kit.build(three_partitions("""
  - {at_ms: 3000, action: crash, target: broker-3}
  - {at_ms: 20000, action: restart, target: broker-3}
  - {at_ms: 40000, action: crash, target: broker-2}""", duration=70_000))
    w = sim.world
    w.run(39000)
    rec = kit.record(sim, T1)
    assert rec.leader == 2 and list(rec.isr) == [1, 2, 3]
    w.run(70000)
    assert kit.record(sim, T1).leader == 3


def test_every_leader_change_bumps_the_leader_epoch_and_isr_changes_do_not(kit) -> None:
    """§3/§5: a leader change bumps the leader epoch (by one); ISR-only changes bump only the
    partition epoch."""
    sim = kit.build(three_partitions("""
  - {at_ms: 3000, action: crash, target: broker-1}
  - {at_ms: 20000, action: restart, target: broker-1}
  - {at_ms: 40000, action: crash, target: broker-2}
  - {at_ms: 60000, action: restart, target: broker-2}
  - {at_ms: 80000, action: crash, target: broker-3}""", duration=110_000))
    w = sim.world
    seen: dict = {tp: [] for tp in (T0, T1, T2)}
    for t in range(0, 110_000, 50):
        w.run(t + 1)
        for tp in seen:
            r = kit.record(sim, tp)
            state = (r.leader, r.leader_epoch, r.partition_epoch, r.isr)
            if not seen[tp] or seen[tp][-1] != state:
                seen[tp].append(state)
    for tp, states in seen.items():
        leaders = [s[0] for s in states]
        assert len(set(leaders)) > 1, f"{tp} never changed leader"
        for (l0, e0, p0, _), (l1, e1, p1, _) in zip(states, states[1:], strict=False):
            assert p1 > p0
            if l1 != l0:
                assert e1 == e0 + 1
            else:
                assert e1 == e0
    # t-0 = (1, 2, 3): 1 dies -> 2 (epoch 1); 1 returns and rejoins; 2 dies -> 1 (epoch 2)
    assert [(e.data["leader"], e.data["leader_epoch"]) for e in kit.events(sim, "leader.elected", partition=0)] \
        == [(1, 0), (2, 1), (1, 2)]


def test_fenced_follower_leaves_the_isr_and_the_leader_is_kept(kit) -> None:
    """Clean election keeps the current leader when it is still a live ISR member."""
    sim = kit.build(three_partitions("  - {at_ms: 5000, action: crash, target: broker-3}", duration=30_000))
    kit.run_to_end(sim)
    rec = kit.record(sim, T0)
    assert (rec.leader, rec.leader_epoch, rec.isr) == (1, 0, (1, 2))


# -- offline and unclean ------------------------------------------------------------------------------
ISOLATE_3 = """
  - {at_ms: 2000, action: cut, from: broker-3, to: [broker-1, broker-2]}
  - {at_ms: 60000, action: crash, target: broker-3}
  - {at_ms: 61000, action: heal, from: broker-3, to: [broker-1, broker-2]}
  - {at_ms: 90000, action: restart, target: broker-3}"""
WRITES_T2 = """
producers:
  - name: app
    config: {acks: all}
    workload: {topic: t, count: 6000, rate_per_s: 50, partition: 2}
"""


def test_last_isr_member_dying_makes_the_partition_offline_until_it_returns(kit) -> None:
    """§3/§5: broker 3 leads t-2; cut off, its followers leave the ISR, which shrinks to [3].
    When 3 dies the controller keeps it as the ISR (KRaft never empties an ISR) and, unclean
    election being off, the partition has no leader. When 3 returns it is elected again."""
    sim = kit.build(three_partitions(ISOLATE_3, producers=WRITES_T2, duration=150_000))
    w = sim.world
    w.run(59000)
    assert kit.record(sim, T2).isr == (3,)
    kit.step_until(sim, lambda: kit.record(sim, T2).leader == -1, 75000, step=100)
    rec = kit.record(sim, T2)
    assert (rec.leader, rec.isr, rec.leader_epoch) == (-1, (3,), 1)
    w.run(89000)
    assert kit.record(sim, T2).leader == -1, "no other replica may lead (unclean election is off)"
    assert not kit.events(sim, "leader.elected", partition=2, election="unclean")
    kit.step_until(sim, lambda: kit.record(sim, T2).leader == 3, 100_000, step=100)
    assert kit.record(sim, T2).leader_epoch == 2
    report = kit.run_to_end(sim)
    assert report.stats["lost_acknowledged"] == 0
    assert report.cluster["unclean_elections"] == 0


def test_followers_rejoin_after_an_offline_partition_comes_back(kit) -> None:
    """§3 expand: once broker 3 leads t-2 again, the live followers fetch, catch up and rejoin.
    (Regression: their fetch loops for broker 3 had gone idle while t-2 was offline.)"""
    sim = kit.build(three_partitions(ISOLATE_3, producers=WRITES_T2, duration=150_000))
    kit.run_to_end(sim)
    assert set(kit.record(sim, T2).isr) == {1, 2, 3}
    assert kit.log(sim, 1, T2).leo == kit.log(sim, 3, T2).leo


def test_unclean_election_picks_the_first_live_replica_and_resets_the_isr(kit) -> None:
    """§5: with unclean.leader.election.enable, when no ISR member is alive the controller elects
    the first live replica in assignment order (t-2 = (3, 1, 2) -> broker 1), ISR = [1]."""
    sim = kit.build(three_partitions(ISOLATE_3, unclean=True, producers=WRITES_T2, duration=150_000))
    w = sim.world
    kit.step_until(sim, lambda: kit.record(sim, T2).leader not in (3,), 80000, step=100)
    rec = kit.record(sim, T2)
    assert (rec.leader, rec.isr, rec.leader_epoch) == (1, (1,), 1)
    [ev] = kit.events(sim, "leader.elected", partition=2, election="unclean")
    assert ev.t == kit.events(sim, "broker.fenced", broker=3)[0].t
    w.run(89000)
    assert kit.record(sim, T2).leader == 1
    report = kit.run_to_end(sim)
    assert report.cluster["unclean_elections"] == 1
    assert report.stats["lost_acknowledged"] > 0, "records only broker 3 had are gone"


def test_preferred_leader_takes_the_leadership_back(kit) -> None:
    """§5: auto.leader.rebalance.enable (default true) moves leadership back to the preferred
    (first assigned) replica once it is alive and in the ISR, at the next imbalance check
    (leader.imbalance.check.interval.seconds = 300). t-0's preferred leader is broker 1."""
    sim = kit.build(three_partitions("""
  - {at_ms: 5000, action: crash, target: broker-1}
  - {at_ms: 30000, action: restart, target: broker-1}""", duration=320_000))
    w = sim.world
    w.run(299_000)
    rec = kit.record(sim, T0)
    assert (rec.leader, rec.leader_epoch) == (2, 1) and 1 in rec.isr
    w.run(320_000)
    rec = kit.record(sim, T0)
    assert (rec.leader, rec.leader_epoch) == (1, 2)
    [ev] = kit.events(sim, "leader.elected", election="preferred")
    assert ev.t == 300_000 and ev.data["partition"] == 0


def test_restarted_broker_catches_up_metadata_in_order(kit) -> None:
    """Broker 3 dies at 0.5 s and is fenced at 9001 ms; broker 1 restarts at 9000 ms. At 9001 the
    controller publishes the ISR change (pushed to broker 1, still registered) just before it
    answers broker 1's first heartbeat with the catch-up from offset 0: the single new record
    reaches broker 1 before the records it depends on (the topic)."""
    sim = kit.build("""
name: metadata-order
duration_ms: 60000
cluster:
  brokers: 3
topics:
  - {name: t, partitions: 1, replication_factor: 3}
producers:
  - name: app
    config: {acks: all}
    workload: {topic: t, count: 2000, rate_per_s: 50}
faults:
  - {at_ms: 500, action: crash, target: broker-3}
  - {at_ms: 8999, action: crash, target: broker-1}
  - {at_ms: 9000, action: restart, target: broker-1}
""")
    report = kit.run_to_end(sim)
    rec = kit.record(sim)
    assert set(rec.isr) == {1, 2}
    assert kit.batches(kit.log(sim, 1)) == kit.batches(kit.log(sim, 2))
    assert report.stats["lost_acknowledged"] == 0
