"""Truncation on leader change: leader epochs (KIP-101/279/320) versus the legacy HW truncation.

Rules: §6 (a follower finds where its log diverges from the new leader's and truncates
there; the legacy switch truncates to the follower's own, lagging HW and can lose committed
data: the KIP-101 example), §5 (unclean election loses everything past the new leader's LEO),
§19 (``truncation`` switch).
"""

from __future__ import annotations

import pytest


def acked_at_or_above(kit, sim, first: int, before: int) -> int:
    """Records acknowledged before time ``before`` at offsets >= ``first``."""
    n = 0
    for e in kit.events(sim, "produce.ack"):
        lo, hi = e.data["offset"], e.data["offset"] + e.data["count"]
        if e.t < before and lo >= 0:
            n += max(0, hi - max(lo, first))
    return n

ACKS1_FAILOVER = """
name: acks1-failover
duration_ms: 60000
cluster:
  brokers: 3
topics:
  - {name: t, partitions: 1, replication_factor: 3}
producers:
  - name: app
    config: {acks: "1", enable.idempotence: false}
    workload: {topic: t, count: 2000, rate_per_s: 100}
faults:
  - {at_ms: 5000, action: cut, from: broker-1, to: [broker-2, broker-3]}
  - {at_ms: 8000, action: crash, target: broker-1}
  - {at_ms: 9000, action: heal, from: broker-1, to: [broker-2, broker-3]}
  - {at_ms: 30000, action: restart, target: broker-1}
"""


def test_returning_old_leader_truncates_its_unreplicated_suffix_and_matches_the_new_leader(kit) -> None:
    """The old leader appended acks=1 records its followers never fetched (they were cut off).
    Broker 2 becomes leader in epoch 1 starting at its own LEO X. When broker 1 returns, its last
    epoch (0) ends at X on the new leader, so it truncates to X, drops exactly its un-replicated
    suffix, and re-fetches: all three replicas end identical."""
    sim = kit.build(ACKS1_FAILOVER)
    w = sim.world
    w.run(8000)
    old_leo = kit.log(sim, 1).leo
    kit.step_until(sim, lambda: kit.record(sim).leader == 2, 30000, step=10)
    elected = w.now
    w.run(w.now + 5)
    new_leader = kit.log(sim, 2)
    assert new_leader.epochs[-1][0] == 1
    x = new_leader.epochs[-1][1]
    assert x < old_leo, "broker 1 had records the new leader never got"
    assert kit.log(sim, 1).leo == old_leo, "a crashed broker keeps its log (process crash)"
    report = kit.run_to_end(sim)
    [trunc] = kit.events(sim, "log.truncate", node="broker-1")
    assert trunc.data["reason"] == "leader_epoch"
    assert trunc.data["offset"] == x
    assert trunc.data["dropped"] == old_leo - x
    final = kit.batches(kit.log(sim, 2))
    assert kit.batches(kit.log(sim, 1)) == final
    assert kit.batches(kit.log(sim, 3)) == final
    lost = acked_at_or_above(kit, sim, x, elected)
    assert 0 < lost <= old_leo - x
    assert report.stats["lost_acknowledged"] == lost


UNCLEAN = """
name: unclean
duration_ms: 150000
cluster:
  brokers: 3
topics:
  - name: t
    partitions: 1
    replication_factor: 3
    config: {unclean.leader.election.enable: true, min.insync.replicas: 1}
producers:
  - name: app
    config: {acks: all}
    workload: {topic: t, count: 5000, rate_per_s: 50}
faults:
  - {at_ms: 2000, action: cut, from: broker-1, to: [broker-2, broker-3]}
  - {at_ms: 60000, action: crash, target: broker-1}
  - {at_ms: 61000, action: heal, from: broker-1, to: [broker-2, broker-3]}
  - {at_ms: 90000, action: restart, target: broker-1}
"""


def test_unclean_election_returning_leader_truncates_committed_data_and_matches(kit) -> None:
    """§5: after an unclean election every record past the new leader's LEO is lost, even
    committed and acknowledged ones; the returning old leader truncates to where the new
    leader's epoch began and then holds the new leader's records at the reused offsets."""
    sim = kit.build(UNCLEAN)
    w = sim.world
    w.run(60000)
    old = kit.log(sim, 1)
    old_leo, old_hw = old.leo, old.hw
    kit.step_until(sim, lambda: kit.record(sim).leader == 2, 90000, step=10)
    elected = w.now
    w.run(w.now + 5)
    x = kit.log(sim, 2).epochs[-1][1]
    assert x < old_hw <= old_leo, "the old leader had committed records the new leader lacks"
    report = kit.run_to_end(sim)
    [trunc] = kit.events(sim, "log.truncate", node="broker-1")
    assert (trunc.data["offset"], trunc.data["dropped"]) == (x, old_leo - x)
    assert kit.batches(kit.log(sim, 1)) == kit.batches(kit.log(sim, 2))
    lost = acked_at_or_above(kit, sim, x, elected)
    assert 0 < lost <= old_hw - x, "acks=all: only records below the old leader's HW were acknowledged"
    assert report.stats["lost_acknowledged"] == lost
    assert report.stats["offsets_reused"] > 0


# -- the KIP-101 example ----------------------------------------------------------------------------
KIP101 = """
name: kip101
duration_ms: 30000
cluster:
  brokers: 3
  switches: {truncation: %s}
topics:
  - {name: t, partitions: 1, replication_factor: 3}
producers:
  - name: app
    config: {acks: all}
    workload: {topic: t, count: 2, rate_per_s: 0.5, start_ms: 1000}
faults:
  - {at_ms: 3100, action: cut, from: broker-3, to: [broker-1, broker-2]}
  - {at_ms: 3200, action: crash, target: broker-1}
  - {at_ms: 15000, action: crash, target: broker-2}
"""


@pytest.mark.parametrize(("mode", "lost"), [("high_watermark", 1), ("leader_epoch", 0)])
def test_kip101_acknowledged_record_lost_only_with_high_watermark_truncation(kit, mode: str, lost: int) -> None:
    """The KIP-101 data-loss example (§6), on one schedule for both switches.

    Leader B = broker 1, followers C = broker 2 and A = broker 3, RF 3, acks=all. m1 is sent
    at 1 s, m2 at 3 s. A fetches m2; its next fetch tells B so, B's HW moves to 2 and m2 is
    acknowledged. That fetch has nothing new, so B holds it for replica.fetch.wait.max.ms
    (500 ms): until then A's own HW is still 1 (it trails the leader's by a round trip). At
    3.1 s A is cut off from the other brokers (not from the controller: it stays registered
    and in the ISR), so it never learns HW 2. B dies at 3.2 s; when its session expires the
    controller elects C, and A learns that C leads.

    * ``truncation: high_watermark`` (pre-0.11): becoming C's follower, A truncates to its own
      HW (1) and drops m2, which it cannot fetch again through the cut. C dies at 15 s; A, the
      only live ISR member, is elected cleanly: acknowledged m2 is gone for good.
    * ``truncation: leader_epoch`` (KIP-101): A does not truncate to its HW; it would only ask
      C where its epoch ends, and C never answers. A keeps m2 and leads with it.
    """
    sim = kit.build(KIP101 % mode)
    w = sim.world
    w.run(3100)
    acked = [(e.data["rec"], e.data["offset"]) for e in kit.events(sim, "produce.ack")]
    assert acked == [(0, 0), (1, 1)], "both m1 and m2 acknowledged before the cut"
    a = kit.log(sim, 3)
    assert (a.leo, a.hw) == (2, 1), "A has m2, but its HW does not cover it"
    assert kit.log(sim, 1).hw == 2
    report = kit.run_to_end(sim)
    rec = kit.record(sim)
    assert (rec.leader, rec.isr) == (3, (3,))
    assert [e.data["leader"] for e in kit.events(sim, "leader.elected", election="clean")][-2:] == [2, 3]
    truncations = kit.events(sim, "log.truncate", node="broker-3")
    if mode == "high_watermark":
        assert [(e.data["reason"], e.data["offset"], e.data["dropped"]) for e in truncations] == \
            [("high_watermark", 1, 1)]
        assert kit.log(sim, 3).leo == 1
    else:
        assert truncations == []
        assert kit.log(sim, 3).leo == 2
    assert report.stats["acknowledged"] == 2
    assert report.stats["lost_acknowledged"] == lost
