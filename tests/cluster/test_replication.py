"""Replication end to end: acks=all, min.insync.replicas, ISR shrink/expand, HW propagation.

Small clusters built from inline scenarios and stepped millisecond by millisecond.
Rules: §1 (follower HW = min(leader HW, own LEO), lags a round trip), §2 (HW rule, strict
min-ISR), §3 (ISR shrink 30-45 s after last caught up; expand), §4 (what acks waits for,
NOT_ENOUGH_REPLICAS), §5 (new leader's epoch cache entry), §6 (fetch fencing, KIP-320),
§8 (producer state replicated with the log).
"""

from __future__ import annotations

import pytest

from kafkasim.clients.producer import Producer
from kafkasim.cluster.protocol import FetchPartition, FetchRequest
from kafkasim.errors import KafkaError

E = KafkaError

RF3_MIN2 = """
name: repl
duration_ms: 60000
cluster:
  brokers: 3
  config: {min.insync.replicas: 2}
topics:
  - {name: t, partitions: 1, replication_factor: 3}
"""


def producer(sim, name: str = "app", **conf) -> Producer:
    return Producer({"linger.ms": 0, **conf}, sim.cluster, name)


def collect(world, out: list):
    """A delivery callback recording (time, error, offset)."""
    return lambda err, msg: out.append((world.now, err, msg.offset()))


# -- acks=all ---------------------------------------------------------------------------------------
def test_acks_all_is_acknowledged_only_after_every_isr_follower_has_the_record(kit) -> None:
    """§4: the leader answers acks=all when the HW passed the record, i.e. every ISR member has it."""
    sim = kit.build(RF3_MIN2)
    w = sim.world
    w.run(1000)
    p = producer(sim, acks="all")
    w.run(2000)
    acks: list = []
    p.produce("t", value="m", on_delivery=collect(w, acks))
    leader, f2, f3 = (kit.log(sim, b) for b in (1, 2, 3))
    while not acks:
        assert w.now < 3000, "never acknowledged"
        # at every instant: the leader's HW covers the record only once both followers hold it
        if leader.hw >= 1:
            assert f2.leo >= 1 and f3.leo >= 1
        w.run(w.now + 1)
    t_ack, err, offset = acks[0]
    assert (err, offset) == (None, 0)
    [append] = kit.events(sim, "log.append")
    copies = [e for e in kit.events(sim, "replica.leo") if e.data["leo"] >= 1]
    assert {e.data["broker"] for e in copies} == {2, 3}
    [hw] = [e for e in kit.events(sim, "hw.advance", node="broker-1") if e.data["hw"] >= 1]
    assert append.t < max(e.t for e in copies) <= hw.t < t_ack


def test_acks_all_waits_for_a_slow_isr_follower_not_just_min_isr_replicas(kit) -> None:
    """§4: acks=all waits for *every* ISR member, not for min.insync.replicas of them.

    Broker 3's links to the leader get 1 s of extra delay each way: the record reaches it in a
    fetch response (>= 1 s) and the leader learns of it from its next fetch (>= 1 s). Broker 2
    has the record within milliseconds, which would satisfy min.insync.replicas=2, but not acks=all.
    """
    sim = kit.build(RF3_MIN2)
    w = sim.world
    w.net.slow("broker-1", "broker-3", 1000)
    w.run(5000)
    p_all = producer(sim, "all-app", acks="all")
    p_one = producer(sim, "one-app", acks="1", **{"enable.idempotence": False})
    w.run(8000)
    a_all: list = []
    a_one: list = []
    p_one.produce("t", value="x", on_delivery=collect(w, a_one))
    p_all.produce("t", value="y", on_delivery=collect(w, a_all))
    w.run(14000)
    appended = {e.data["producer"]: e.t for e in kit.events(sim, "log.append")}
    assert a_one[0][1] is None and a_one[0][0] - appended["one-app"] < 10
    assert a_all[0][1] is None
    assert a_all[0][0] - appended["all-app"] >= 2000
    assert kit.record(sim).isr == (1, 2, 3), "a slow but caught-up follower stays in the ISR"


# -- min.insync.replicas ----------------------------------------------------------------------------
MIN_ISR_DOWN = """
name: min-isr
duration_ms: 60000
cluster:
  brokers: 3
  config: {min.insync.replicas: 2}
  switches: {strict_min_isr: %s}
topics:
  - {name: t, partitions: 1, replication_factor: 3}
faults:
  - {at_ms: 3000, action: crash, target: broker-2}
  - {at_ms: 3000, action: crash, target: broker-3}
"""


def test_not_enough_replicas_when_isr_below_min_isr_and_nothing_is_appended(kit) -> None:
    """§4 check 1: with |ISR| < min.insync.replicas an acks=all request is rejected before the
    append with NOT_ENOUGH_REPLICAS (retriable) until delivery.timeout.ms; nothing is written."""
    sim = kit.build(MIN_ISR_DOWN % "true")
    w = sim.world
    w.run(15000)
    assert kit.record(sim).isr == (1,)
    leo_before = kit.log(sim, 1).leo
    p = producer(sim, acks="all", **{"request.timeout.ms": 5000, "delivery.timeout.ms": 10000})
    out: list = []
    w.run(16000)
    p.produce("t", value="v", on_delivery=collect(w, out))
    w.run(40000)
    errors = {e.data["error"] for e in kit.events(sim, "produce.error", producer="app")}
    assert errors == {"NOT_ENOUGH_REPLICAS"}
    assert [e.data["retry"] for e in kit.events(sim, "produce.error", producer="app")][:1] == [True]
    assert len(out) == 1 and out[0][1] is E._MSG_TIMED_OUT
    assert kit.log(sim, 1).leo == leo_before
    assert not [e for e in kit.events(sim, "log.append") if e.t >= 16000]


@pytest.mark.parametrize(("strict", "visible"), [(True, False), (False, True)])
def test_acks_1_below_min_isr_is_appended_but_committed_only_without_strict_min_isr(
        kit, strict: bool, visible: bool) -> None:
    """§2/§19: min.insync.replicas is not checked for acks=1, so the record is appended and acked;
    under the strict rule (>= 3.7) the HW stays frozen while |ISR| < minISR, so nobody can read it;
    with strict_min_isr=False the leader alone commits it."""
    sim = kit.build(MIN_ISR_DOWN % str(strict).lower())
    w = sim.world
    w.run(15000)
    assert kit.record(sim).isr == (1,)
    p = producer(sim, acks="1", **{"enable.idempotence": False})
    out: list = []
    w.run(16000)
    p.produce("t", value="v", on_delivery=collect(w, out))
    w.run(20000)
    assert [(err, off) for _, err, off in out] == [(None, 0)]
    log = kit.log(sim, 1)
    assert log.leo == 1
    assert (log.hw == 1) is visible


# -- ISR shrink and expand --------------------------------------------------------------------------
ISR_CUT = """
name: isr-cut
duration_ms: 110000
cluster:
  brokers: 3
topics:
  - {name: t, partitions: 1, replication_factor: 3}
producers:
  - name: app
    config: {acks: "1", enable.idempotence: false}
    workload: {topic: t, count: 5000, rate_per_s: 50}
faults:
  - {at_ms: 10500, action: cut, from: broker-1, to: broker-3}
  - {at_ms: 70000, action: heal, from: broker-1, to: broker-3}
"""


def test_cut_off_follower_leaves_the_isr_30_to_45s_after_last_caught_up_and_rejoins(kit) -> None:
    """§3: a follower that cannot fetch leaves the ISR once not caught up for more than
    replica.lag.time.max.ms (30 s); the leader checks every 15 s, so 30-45 s after it was last
    caught up. Meanwhile the HW cannot pass its LEO. After the link heals it fetches again,
    catches up, and the leader adds it back (AlterPartition)."""
    sim = kit.build(ISR_CUT)
    w = sim.world
    w.run(10501)
    part = sim.cluster.brokers[1].parts[kit.TP]
    last_caught_up = part.followers[3].last_caught_up
    f3_leo = kit.log(sim, 3).leo
    assert 10500 - 1000 <= last_caught_up <= 10500
    kit.step_until(sim, lambda: 3 not in kit.record(sim).isr, 70000, step=1)
    [shrink] = kit.events(sim, "isr.change", reason="shrink")
    assert shrink.data["isr"] == [1, 2]
    assert 30_000 < shrink.t - last_caught_up <= 45_000 + 5
    hw_before = [e.data["hw"] for e in kit.events(sim, "hw.advance", node="broker-1") if e.t < shrink.t]
    assert max(hw_before) <= f3_leo, "while broker 3 is in the ISR the HW cannot pass its LEO"
    w.run(shrink.t + 100)
    assert kit.log(sim, 1).hw > f3_leo, "once it is out, the HW moves on"
    kit.step_until(sim, lambda: 3 in kit.record(sim).isr, 110000, step=100)
    [expand] = kit.events(sim, "isr.change", reason="expand")
    assert 70000 < expand.t <= 70000 + 35_000
    kit.run_to_end(sim)
    assert kit.batches(kit.log(sim, 3)) == kit.batches(kit.log(sim, 1))[:len(kit.log(sim, 3).batches)]


# -- the HW on leader and followers -----------------------------------------------------------------
BUSY = """
name: busy
duration_ms: 10000
cluster:
  brokers: 3
  config: {min.insync.replicas: 2}
topics:
  - {name: t, partitions: 1, replication_factor: 3}
producers:
  - name: app
    config: {acks: all}
    workload: {topic: t, count: 2000, rate_per_s: 400}
"""


def test_leader_hw_never_decreases_and_follower_hw_lags_it(kit) -> None:
    """§1: HW never moves backwards on a leader; a follower keeps min(leader HW seen, own LEO),
    so it is never ahead of the leader's HW and trails it by a fetch round trip."""
    sim = kit.build(BUSY)
    w = sim.world
    leader_prev = 0
    behind = 0
    for t in range(1, 5000):
        w.run(t)
        lead = kit.log(sim, 1)
        assert lead.hw >= leader_prev
        leader_prev = lead.hw
        for b in (2, 3):
            f = kit.log(sim, b)
            assert f.log_start <= f.hw <= f.leo
            assert f.hw <= lead.hw
            behind += f.hw < lead.hw
    assert leader_prev > 1000
    assert behind > 0, "the followers learn the HW one fetch later"


def test_new_leader_records_its_epoch_start_and_catches_up_its_hw(kit) -> None:
    """§5: the new leader bumps the epoch and records (epoch, its LEO) in its epoch cache;
    its HW may lag the old leader's until the ISR followers fetch from it."""
    sim = kit.build(RF3_MIN2.replace("duration_ms: 60000", "duration_ms: 30000") + """
producers:
  - name: app
    config: {acks: all}
    workload: {topic: t, count: 100, rate_per_s: 100}
faults:
  - {at_ms: 5000, action: crash, target: broker-1}
""")
    w = sim.world
    kit.step_until(sim, lambda: kit.record(sim).leader == 2, 20000, step=1)
    w.run(w.now + 2)  # the metadata reaches broker 2
    new = sim.cluster.brokers[2].parts[kit.TP]
    assert new.is_leader and new.leader_epoch == 1
    assert new.log.epochs[-1] == (1, 100)
    assert new.log.epochs[0] == (0, 0)
    w.run(w.now + 1000)
    assert new.log.hw == 100


def test_leader_fences_fetches_from_an_older_or_newer_leader_epoch(kit) -> None:
    """§6 (KIP-320): fetches carry the fetcher's current leader epoch; the leader answers
    FENCED_LEADER_EPOCH for an older one and UNKNOWN_LEADER_EPOCH for a newer one."""
    sim = kit.build(RF3_MIN2 + """
faults:
  - {at_ms: 2000, action: crash, target: broker-1}
  - {at_ms: 20000, action: restart, target: broker-1}
""")
    w = sim.world
    w.run(25000)
    rec = kit.record(sim)
    assert (rec.leader, rec.leader_epoch) == (2, 1)
    leader = sim.cluster.brokers[2]
    got: dict = {}
    for epoch in (0, 1, 2):
        req = FetchRequest(-1, "broker-3", 0, {kit.TP: FetchPartition(0, epoch, -1, 1 << 20)})
        leader.handle_fetch(req, lambda resp, e=epoch: got.__setitem__(e, resp.partitions[kit.TP].error))
    w.run(w.now + 10)
    assert got == {0: E.FENCED_LEADER_EPOCH, 1: E.NONE, 2: E.UNKNOWN_LEADER_EPOCH}


# -- producer state travels with the log ------------------------------------------------------------
def test_idempotent_dedupe_survives_leader_failover(kit) -> None:
    """§8: the followers rebuild producer state from the replicated batches, so a retry of an
    acknowledged-but-unanswered batch sent to the new leader is answered with the original offset."""
    sim = kit.build(RF3_MIN2)
    w = sim.world
    w.run(1000)
    p = producer(sim, acks="all")
    out: list = []
    w.run(2000)
    for i in range(3):
        p.produce("t", value=f"v{i}", on_delivery=collect(w, out))
    w.net.drop("broker-1", "app", 1)  # the leader's answer is lost
    w.run(2100)
    assert kit.log(sim, 1).hw == 3 and out == []
    sim.cluster.brokers[1].crash()
    w.run(40000)
    assert kit.record(sim).leader == 2
    assert sorted((err, off) for _, err, off in out) == [(None, 0), (None, 1), (None, 2)]
    assert kit.log(sim, 2).leo == 3, "no second copy on the new leader"
    assert len(kit.events(sim, "log.append")) == 1


# -- following a leader again ----------------------------------------------------------------------
REFOLLOW = """
name: refollow
duration_ms: 120000
cluster:
  brokers: 3
topics:
  - {name: t, partitions: 2, replication_factor: 3}
producers:
  - name: app
    config: {acks: all}
    workload: {topic: t, count: 5000, rate_per_s: 50, partition: 0}
faults:
  - {at_ms: 5000, action: crash, target: broker-2}
  - {at_ms: 20000, action: restart, target: broker-2}
  - {at_ms: 40000, action: crash, target: broker-1}
"""


def test_follower_replicates_from_a_new_leader_it_had_followed_before(kit) -> None:
    """t-0 has replicas (1,2,3), t-1 has (2,3,1). Broker 3 first follows broker 2 for t-1; when
    broker 2 dies t-1 moves to broker 3 and that fetch loop has nothing left to fetch. Broker 2
    returns and rejoins; then broker 1 dies and broker 2 (first live ISR replica of t-0) leads t-0.
    Broker 3 is alive and connected, so per §2/§3 it must replicate t-0 from broker 2 and stay
    in the ISR. (Regression: its idle fetch loop for broker 2 was never restarted.)"""
    sim = kit.build(REFOLLOW)
    w = sim.world
    kit.step_until(sim, lambda: kit.record(sim).leader == 2, 60000, step=100)
    w.run(w.now + 60_000)
    assert 3 in kit.record(sim).isr
    assert kit.log(sim, 3).leo >= kit.log(sim, 2).hw > 2000


# -- appended but not acknowledged ------------------------------------------------------------------
SHRINK_WHILE_WAITING = """
name: shrink-while-waiting
duration_ms: 200000
cluster:
  brokers: 3
  config: {min.insync.replicas: 2}
  switches: {strict_min_isr: %s}
topics:
  - {name: t, partitions: 1, replication_factor: 3}
faults:
  - {at_ms: 1500, action: cut, from: broker-1, to: [broker-2, broker-3]}
"""


@pytest.mark.parametrize(("strict", "first_error"), [
    (False, "NOT_ENOUGH_REPLICAS_AFTER_APPEND"),
    (True, "REQUEST_TIMED_OUT"),
])
def test_acks_all_request_waiting_when_the_isr_shrinks_below_min_isr(kit, strict: bool, first_error: str) -> None:
    """§4 check 2/3: the record is appended, then the followers (cut off) leave the ISR 30-45 s
    later, leaving it below min.insync.replicas. Without the strict rule the leader alone
    advances the HW past the record and answers NOT_ENOUGH_REPLICAS_AFTER_APPEND; under the
    strict rule the HW freezes and the request ends REQUEST_TIMED_OUT. Either way the record
    is in the leader's log although the producer is never told it was written; its retries
    are refused before the append (NOT_ENOUGH_REPLICAS) until delivery.timeout.ms."""
    sim = kit.build(SHRINK_WHILE_WAITING % str(strict).lower())
    w = sim.world
    w.run(1000)
    p = producer(sim, acks="all", **{"enable.idempotence": False, "request.timeout.ms": 60000,
                                     "delivery.timeout.ms": 100000})
    out: list = []
    w.run(2000)
    p.produce("t", value="v", on_delivery=collect(w, out))
    w.run(200000)
    errors = [e.data["error"] for e in kit.events(sim, "produce.error")]
    assert errors[0] == first_error
    assert set(errors[1:]) == {"NOT_ENOUGH_REPLICAS"}
    assert len(out) == 1 and out[0][1] is E._MSG_TIMED_OUT
    assert kit.record(sim).isr == (1,)
    assert [b.values for b in kit.log(sim, 1).batches] == [("v",)], "appended once, never acknowledged"
    assert kit.log(sim, 1).hw == (0 if strict else 1)
