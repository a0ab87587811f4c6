"""The consumer-group trace reader (``kafkasim.check.groups``) on hand-built traces.

Every trace here is written event by event with ``Trace.append(t, kind, node, data)``, so
the expected numbers follow from the reader's definitions and simple arithmetic:

* a *rebalance* runs from the coordinator's ``group.rebalance`` to the next ``group.stable``
  (or the group becoming Empty);
* a member *pauses* while it is in the group but owns nothing because it gave everything
  up, until its next assignment (eager: every member, every rebalance);
* a partition is *idle* from the moment its owner gives it up, loses it or dies, until a
  member is assigned it again (or the end of the trace);
* *processed twice* = records processed - distinct records processed, per group;
  *unprocessed* = records in the final logs of the group's topics no member processed.
"""

from __future__ import annotations

from typing import Any

import pytest

from kafkasim.check.groups import analyse_groups, totals
from kafkasim.sim.trace import Trace


class Builder:
    """Shorthands for the group events of a trace."""

    def __init__(self) -> None:
        self.trace = Trace(seed=0, scenario="synthetic")

    def add(self, t: int, kind: str, node: str, **data: Any) -> Builder:
        self.trace.append(t, kind, node, data)
        return self

    def rebalance(self, t: int, gen: int, trigger: str = "member joined", group: str = "g") -> Builder:
        self.add(t, "group.state", "broker-1", group=group, state="PreparingRebalance", generation=gen)
        return self.add(t, "group.rebalance", "broker-1", group=group, generation=gen, trigger=trigger)

    def stable(self, t: int, gen: int, members: dict[str, list], group: str = "g") -> Builder:
        self.add(t, "group.state", "broker-1", group=group, state="Stable", generation=gen)
        return self.add(t, "group.stable", "broker-1", group=group, generation=gen, protocol="range",
                        leader=next(iter(members), None), members=members)

    def empty(self, t: int, gen: int, group: str = "g") -> Builder:
        return self.add(t, "group.state", "broker-1", group=group, state="Empty", generation=gen)

    def assigned(self, t: int, consumer: str, partitions: list[int], added: list[int] | None = None,
                 gen: int = 1, protocol: str = "eager", group: str = "g", topic: str = "t") -> Builder:
        added = partitions if added is None else added
        return self.add(t, "member.assigned", consumer, group=group, member=f"{consumer}-id", generation=gen,
                        protocol=protocol, added=[[topic, p] for p in added],
                        partitions=[[topic, p] for p in partitions])

    def revoked(self, t: int, consumer: str, partitions: list[int], gen: int = 1, group: str = "g",
                topic: str = "t") -> Builder:
        return self.add(t, "member.revoked", consumer, group=group, member=f"{consumer}-id", generation=gen,
                        partitions=[[topic, p] for p in partitions])

    def lost(self, t: int, consumer: str, partitions: list[int], group: str = "g", topic: str = "t") -> Builder:
        return self.add(t, "member.lost", consumer, group=group, member="", partitions=[[topic, p] for p in partitions])

    def crash(self, t: int, consumer: str, group: str = "g") -> Builder:
        return self.add(t, "app.crash", consumer, consumer=consumer, group=group)

    def close(self, t: int, consumer: str, group: str = "g") -> Builder:
        return self.add(t, "app.close", consumer, consumer=consumer, group=group)

    def processed(self, t: int, consumer: str, offset: int, count: int, rec: int | None = None,
                  partition: int = 0, group: str = "g", topic: str = "t", producer: str = "p") -> Builder:
        return self.add(t, "app.processed", consumer, consumer=consumer, group=group, topic=topic,
                        partition=partition, offset=offset, count=count, producer=producer,
                        rec=offset if rec is None else rec)

    def final(self, t: int, batches: list[list], partition: int = 0, topic: str = "t") -> Builder:
        """log.final with batches [offset, count, producer, rec]."""
        hw = max((b[0] + b[1] for b in batches), default=0)
        return self.add(t, "log.final", "controller", topic=topic, partition=partition, leader=1, leader_epoch=0,
                        isr=[1], offline=False, hw=hw, leo=hw, log_start=0, replicas=[], batches=batches)

    def result(self) -> dict[str, Any]:
        return analyse_groups(self.trace)


M = {"c1-id": [["t", 0], ["t", 1]], "c2-id": [["t", 2], ["t", 3]]}


def eager_join() -> Builder:
    """c1 and c2 form the group; c3 joins at 10 000 and everybody revokes everything (eager)."""
    b = Builder()
    b.rebalance(0, 0, "member c1 joined")
    b.stable(3000, 1, M)
    b.assigned(3001, "c1", [0, 1]).assigned(3001, "c2", [2, 3])
    b.rebalance(10_000, 1, "member c3 joined")
    b.revoked(10_010, "c1", [0, 1]).revoked(10_012, "c2", [2, 3])
    b.stable(10_500, 2, {"c1-id": [["t", 0], ["t", 1]], "c2-id": [["t", 2]], "c3-id": [["t", 3]]})
    b.assigned(10_501, "c1", [0, 1], gen=2).assigned(10_502, "c2", [2], gen=2).assigned(10_503, "c3", [3], gen=2)
    return b


# -- rebalance episodes ------------------------------------------------------------------------------------
def test_rebalance_episodes_run_from_rebalance_to_stable() -> None:
    r = eager_join().result()
    first, second = r["rebalances"]
    assert (first["start_ms"], first["end_ms"], first["duration_ms"], first["generation"]) == (0, 3000, 3000, 1)
    assert first["trigger"] == "member c1 joined" and first["group"] == "g"
    assert (second["start_ms"], second["end_ms"], second["duration_ms"], second["generation"]) == \
        (10_000, 10_500, 500, 2)
    assert second["protocol"] == "eager"
    assert second["members"]["c1"]["revoked"] == [["t", 0], ["t", 1]]
    assert second["members"]["c1"]["assigned"] == [["t", 0], ["t", 1]]
    assert second["members"]["c2"]["assigned"] == [["t", 2]]
    assert second["members"]["c3"] == {"revoked": [], "assigned": [["t", 3]], "lost": [], "pause_ms": 0}
    assert r["groups"]["g"]["rebalances"] == 2


def test_a_second_rebalance_event_while_one_is_open_is_the_same_episode() -> None:
    b = Builder()
    b.rebalance(0, 0, "member c1 joined")
    b.add(1000, "group.rebalance", "broker-1", group="g", generation=0, trigger="member c2 joined")
    b.stable(3000, 1, M)
    r = b.result()
    assert len(r["rebalances"]) == 1
    assert r["rebalances"][0]["trigger"] == "member c1 joined" and r["rebalances"][0]["duration_ms"] == 3000


def test_a_rebalance_that_empties_the_group_ends_there() -> None:
    b = eager_join()
    b.rebalance(20_000, 2, "member c1 left (leave)")
    b.empty(20_001, 3)
    r = b.result()
    last = r["rebalances"][-1]
    assert (last["start_ms"], last["end_ms"], last["duration_ms"], last["generation"]) == (20_000, 20_001, 1, 3)
    assert r["groups"]["g"]["members_at_end"] == 0


def test_an_unfinished_rebalance_has_no_end() -> None:
    b = eager_join()
    b.rebalance(30_000, 2, "member c2 session timeout")
    last = b.result()["rebalances"][-1]
    assert last["end_ms"] is None and last["duration_ms"] is None and last["generation"] is None


# -- pauses ------------------------------------------------------------------------------------------------
def test_eager_members_pause_from_revoke_to_assignment() -> None:
    g = eager_join().result()["groups"]["g"]
    # c1: 10 010 -> 10 501 = 491; c2: 10 012 -> 10 502 = 490; c3 never owned anything: no pause
    assert g["total_rebalance_pause_ms"] == 491 + 490
    assert g["max_rebalance_pause_ms"] == 491
    assert g["members_paused"] == 2


def test_cooperative_members_that_keep_partitions_do_not_pause() -> None:
    b = Builder()
    b.rebalance(0, 0).stable(3000, 1, M)
    b.assigned(3001, "c1", [0, 1], protocol="cooperative").assigned(3001, "c2", [2, 3], protocol="cooperative")
    b.rebalance(10_000, 1, "member c3 joined")
    b.stable(10_010, 2, {"c1-id": [["t", 0]], "c2-id": [["t", 2], ["t", 3]], "c3-id": []})
    b.revoked(10_011, "c1", [1], gen=2)
    b.assigned(10_011, "c1", [0], added=[], gen=2, protocol="cooperative")
    b.assigned(10_011, "c2", [2, 3], added=[], gen=2, protocol="cooperative")
    b.assigned(10_011, "c3", [], gen=2, protocol="cooperative")
    b.rebalance(10_012, 2, "revoked partitions to hand over")
    b.stable(11_000, 3, {"c1-id": [["t", 0]], "c2-id": [["t", 2], ["t", 3]], "c3-id": [["t", 1]]})
    b.assigned(11_001, "c1", [0], added=[], gen=3, protocol="cooperative")
    b.assigned(11_001, "c2", [2, 3], added=[], gen=3, protocol="cooperative")
    b.assigned(11_002, "c3", [1], gen=3, protocol="cooperative")
    r = b.result()
    g = r["groups"]["g"]
    assert g["rebalances"] == 3
    assert g["members_paused"] == 0 and g["total_rebalance_pause_ms"] == 0
    assert g["max_partition_idle_ms"] == 11_002 - 10_011  # only t-1 moved, idle between the two rounds
    assert r["rebalances"][1]["members"]["c1"]["revoked"] == [["t", 1]]
    assert r["rebalances"][1]["protocol"] == "cooperative"
    assert g["members_at_end"] == 3 and g["idle_members_at_end"] == 0


def test_a_crashed_member_is_not_paused_but_its_partitions_are_idle() -> None:
    b = Builder()
    b.rebalance(0, 0).stable(3000, 1, M)
    b.assigned(3001, "c1", [0, 1]).assigned(3001, "c2", [2, 3])
    b.crash(5000, "c2")
    b.rebalance(11_000, 1, "member c2-id session timeout")
    b.add(11_000, "member.leave", "broker-1", group="g", member="c2-id", instance=None, reason="session_timeout")
    b.revoked(11_001, "c1", [0, 1])
    b.stable(11_010, 2, {"c1-id": [["t", p] for p in range(4)]})
    b.assigned(11_011, "c1", [0, 1, 2, 3], gen=2)
    g = b.result()["groups"]["g"]
    assert g["max_partition_idle_ms"] == 11_011 - 5000  # t-2, t-3: from the crash to the reassignment
    assert g["members_paused"] == 1 and g["total_rebalance_pause_ms"] == 10  # c1 only (eager)
    assert g["session_timeouts"] == 1


def test_closing_member_is_not_paused() -> None:
    b = Builder()
    b.rebalance(0, 0).stable(3000, 1, M)
    b.assigned(3001, "c1", [0, 1]).assigned(3001, "c2", [2, 3])
    b.revoked(5000, "c2", [2, 3]).close(5000, "c2")
    b.rebalance(5001, 1, "member c2-id left (leave)")
    b.stable(5003, 2, {"c1-id": [["t", p] for p in range(4)]})
    b.assigned(5004, "c1", [0, 1, 2, 3], added=[2, 3], gen=2, protocol="cooperative")
    g = b.result()["groups"]["g"]
    assert g["members_paused"] == 0
    assert g["max_partition_idle_ms"] == 4


# -- idle partitions -----------------------------------------------------------------------------------------
def test_lost_partitions_are_idle_until_reassigned() -> None:
    b = Builder()
    b.rebalance(0, 0).stable(3000, 1, M)
    b.assigned(3001, "c1", [0, 1]).assigned(3001, "c2", [2, 3])
    b.rebalance(19_000, 1, "member c2-id session timeout")
    b.lost(20_000, "c2", [2, 3])  # c2 finds out at its next heartbeat
    b.stable(20_100, 2, {"c1-id": [["t", 0], ["t", 1], ["t", 2]], "c2-id": [["t", 3]]})
    b.assigned(20_101, "c1", [0, 1, 2], added=[2], gen=2, protocol="cooperative")
    b.assigned(20_150, "c2", [3], gen=2, protocol="cooperative")
    r = b.result()
    assert r["groups"]["g"]["max_partition_idle_ms"] == 150
    assert r["rebalances"][1]["members"]["c2"]["lost"] == [["t", 2], ["t", 3]]


def test_a_partition_never_reassigned_is_idle_until_the_end_of_the_trace() -> None:
    b = Builder()
    b.rebalance(0, 0).stable(3000, 1, M)
    b.assigned(3001, "c1", [0, 1]).assigned(3001, "c2", [2, 3])
    b.crash(4000, "c2")
    b.add(30_000, "run.end", "controller")
    assert b.result()["groups"]["g"]["max_partition_idle_ms"] == 26_000


def test_idle_members_at_end() -> None:
    b = Builder()
    b.rebalance(0, 0).stable(3000, 1, {"c1-id": [["t", 0]], "c2-id": [], "c3-id": []})
    g = b.result()["groups"]["g"]
    assert g["members_at_end"] == 3 and g["idle_members_at_end"] == 2


# -- processing: twice, unprocessed, order -------------------------------------------------------------------------
def redelivery() -> Builder:
    """20 records (two batches of 10); c1 processes 0..14 and crashes; c2 resumes at 8."""
    b = Builder()
    b.rebalance(0, 0).stable(3000, 1, {"c1-id": [["t", 0]], "c2-id": []})
    b.assigned(3001, "c1", [0]).assigned(3001, "c2", [])
    b.processed(4000, "c1", 0, 10).processed(4100, "c1", 10, 5)
    b.crash(4200, "c1")
    b.rebalance(10_000, 1).stable(10_010, 2, {"c2-id": [["t", 0]]})
    b.assigned(10_011, "c2", [0], gen=2)
    b.processed(10_100, "c2", 8, 12)
    return b


def test_processed_twice_counts_redelivered_records() -> None:
    b = redelivery()
    b.final(20_000, [[0, 10, "p", 0], [10, 10, "p", 10]])
    g = b.result()["groups"]["g"]
    assert g["processed"] == 10 + 5 + 12
    assert g["processed_unique"] == 20
    assert g["processed_twice"] == 7  # records 8..14
    assert g["unprocessed"] == 0
    assert g["out_of_order"] == 0  # c2 started over after an assignment: not out of order


def test_unprocessed_counts_records_of_the_final_log_no_member_processed() -> None:
    b = Builder()
    b.rebalance(0, 0).stable(3000, 1, {"c1-id": [["t", 0]]}).assigned(3001, "c1", [0])
    b.processed(4000, "c1", 0, 10).processed(4100, "c1", 15, 3)  # 10..14 skipped (committed, then lost)
    b.final(20_000, [[0, 10, "p", 0], [10, 10, "p", 10]])
    g = b.result()["groups"]["g"]
    assert g["processed"] == 13 and g["processed_twice"] == 0
    assert g["unprocessed"] == 5 + 2  # 10..14 and 18..19


def test_unprocessed_uses_producer_records_not_offsets() -> None:
    """Records are identified by (producer, topic, partition, rec): a record written twice (a
    producer retry) at two offsets counts once, processing either copy processes it."""
    b = Builder()
    b.rebalance(0, 0).stable(3000, 1, {"c1-id": [["t", 0]]}).assigned(3001, "c1", [0])
    b.processed(4000, "c1", 0, 5, rec=0).processed(4100, "c1", 5, 5, rec=0)  # same records at offsets 5..9
    b.final(20_000, [[0, 5, "p", 0], [5, 5, "p", 0]])
    g = b.result()["groups"]["g"]
    assert g["processed"] == 10 and g["processed_unique"] == 5 and g["processed_twice"] == 5
    assert g["unprocessed"] == 0


@pytest.mark.parametrize(("isolation", "unprocessed"), [("read_committed", 0), ("read_uncommitted", 4)])
def test_unprocessed_leaves_out_aborted_records_for_a_read_committed_group(isolation: str, unprocessed: int) -> None:
    """A read_committed consumer never sees a record of an aborted transaction: not one it left
    unprocessed. A read_uncommitted group could have read it, so it counts."""
    b = Builder()
    b.rebalance(0, 0).stable(3000, 1, {"c1-id": [["t", 0]]}).assigned(3001, "c1", [0])
    b.add(4000, "consume", "c1", consumer="c1", group="g", isolation=isolation, topic="t", partition=0,
          offset=0, count=5, producer="p", rec=0)
    b.processed(4000, "c1", 0, 5)
    # [offset, count, producer, rec, producer id, transactional, control]: 4 records, then ABORT
    b.final(20_000, [[0, 5, "p", 0, -1, 0, 0], [5, 4, "tx", 0, 7, 1, 0], [9, 1, "", 0, 7, 1, 2]])
    assert b.result()["groups"]["g"]["unprocessed"] == unprocessed


def test_groups_are_counted_separately_and_only_their_topics() -> None:
    b = redelivery()
    b.rebalance(0, 0, group="other").stable(3000, 1, {"x-id": [["t", 0]]}, group="other")
    b.assigned(3001, "x", [0], group="other")
    b.processed(5000, "x", 0, 20, group="other")
    b.final(20_000, [[0, 10, "p", 0], [10, 10, "p", 10]])
    b.final(20_000, [[0, 50, "q", 0]], topic="u")  # no group reads topic u
    groups = b.result()["groups"]
    assert groups["g"]["processed_twice"] == 7 and groups["g"]["unprocessed"] == 0
    assert groups["other"]["processed"] == 20 and groups["other"]["processed_twice"] == 0
    assert groups["other"]["unprocessed"] == 0


def test_going_back_without_a_reassignment_is_out_of_order() -> None:
    b = Builder()
    b.rebalance(0, 0).stable(3000, 1, {"c1-id": [["t", 0]]}).assigned(3001, "c1", [0])
    b.processed(4000, "c1", 0, 10).processed(4100, "c1", 5, 10)
    assert b.result()["groups"]["g"]["out_of_order"] == 1


# -- counters and totals --------------------------------------------------------------------------------------------
def test_commit_failures_poll_timeouts_session_timeouts_and_lag() -> None:
    b = eager_join()
    b.add(12_000, "consumer.poll_timeout", "c2", group="g", member="c2-id", max_poll_interval_ms=10_000)
    b.add(12_001, "member.leave", "broker-1", group="g", member="c2-id", instance=None, reason="poll_timeout")
    for t in (13_000, 13_500):
        b.add(t, "commit.fail", "c2", group="g", member="", generation=-1, offsets=[["t", 2, 5]],
              error="ILLEGAL_GENERATION", reason="sync", exception="CommitFailedException")
    b.add(14_000, "member.leave", "broker-1", group="g", member="c3-id", instance=None, reason="session_timeout")
    for t, lag in ((1000, 5), (2000, 42), (3000, 7)):
        b.add(t, "lag", "monitor", group="g", topic="t", partition=0, hw=lag, committed=0, lag=lag)
    g = b.result()["groups"]["g"]
    assert (g["commit_failures"], g["poll_timeouts"], g["session_timeouts"], g["max_lag"]) == (2, 1, 1, 42)


def test_totals_add_up_every_group() -> None:
    b = eager_join()
    b.rebalance(0, 0, group="h").stable(5000, 1, {"z-id": []}, group="h")
    b.add(6000, "commit.fail", "z", group="h", member="z-id", generation=1, offsets=[], error="REBALANCE_IN_PROGRESS",
          reason="auto", exception="RebalanceInProgressException")
    r = b.result()
    assert set(r["groups"]) == {"g", "h"}
    tot = totals(r["groups"])
    assert tot["rebalances"] == 3
    assert tot["commit_failures"] == 1
    assert tot["max_rebalance_pause_ms"] == 491
    assert tot["total_rebalance_pause_ms"] == 981
    assert tot["members_paused"] == 2
    assert tot["idle_members_at_end"] == 1


def test_empty_trace() -> None:
    r = analyse_groups(Trace())
    assert r == {"rebalances": [], "groups": {}, "assignments": {}}
    assert totals(r["groups"])["rebalances"] == 0


@pytest.mark.parametrize("make", [eager_join, redelivery])
def test_a_saved_trace_gives_the_same_answers(make: Any) -> None:
    """History is the interface: the JSON Lines file reads back to the same analysis."""
    b = make()
    b.final(20_000, [[0, 10, "p", 0], [10, 10, "p", 10]])
    again = Trace.loads(b.trace.dumps())
    assert analyse_groups(again) == b.result()


@pytest.mark.parametrize("name,partitions,members", [
    ("distribution-consumers-equal-partitions", 3, 3),
    ("distribution-fewer-consumers-than-partitions", 6, 3),
    ("distribution-more-consumers-than-partitions", 2, 4),
])
def test_final_assignment_is_reported_per_member(name: str, partitions: int, members: int) -> None:
    from kafkasim.check.report import member_name, render
    from kafkasim.scenario import bundled
    from kafkasim.scenario.load import load
    from kafkasim.scenario.run import run

    result = run(load(bundled.path_of(name))).result
    owners = result["assignments"]["workers"]
    owned = sorted(tp for parts in owners.values() for tp in parts)
    assert len(owners) == members and owned == sorted(f"tasks-{p}" for p in range(partitions))
    # range: each member gets floor or ceil of partitions/members (the primer's distribution rules)
    assert {len(ps) for ps in owners.values()} <= {partitions // members, -(-partitions // members)}
    assert sum(1 for ps in owners.values() if not ps) == result["groups"]["workers"]["idle_members_at_end"]
    assert {member_name(m) for m in owners} == {f"worker-{i}" for i in range(1, members + 1)}
    assert "final assignment: worker-1 tasks-0" in render(result)
