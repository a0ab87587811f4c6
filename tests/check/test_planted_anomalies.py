"""The trace checkers find what is planted in a hand-built history, and nothing in a clean one.

Each test writes a small synthetic trace with the fields the model emits (``log.final``
batches as [offset, count, producer, rec, producer_id, transactional, control]) and checks
that the checker names the anomaly (Jepsen's vocabulary, kafka-semantics §18) with its
kind, where it is, the trace events it rests on and an explanation. Clean histories —
bundled scenarios whose expectations say ``anomalies: 0`` and hand-built ones, markers and
aborted records included — report none. A result rebuilt from a saved trace equals the run's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kafkasim.check.delivery import analyse
from kafkasim.check.ordering import analyse_ordering
from kafkasim.check.report import build_result
from kafkasim.scenario.load import load
from kafkasim.scenario.run import run
from kafkasim.sim.trace import Trace

ROOT = Path(__file__).parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
ORDERING_KINDS = {"nonmonotonic-poll", "poll-skip", "nonmonotonic-send", "double-assignment",
                  "double-ownership", "zombie-write"}
DELIVERY_KINDS = {"lost-write", "duplicate", "aborted-read"}
COMMIT, ABORT = 1, 2


class History:
    """A synthetic trace, one event per millisecond, with the model's field names."""

    def __init__(self) -> None:
        self.trace = Trace(seed=0, scenario="planted")
        self.t = 0

    def add(self, kind: str, node: str, **data: Any) -> int:
        self.t += 1
        self.trace.append(self.t, kind, node, data)
        return self.trace.events[-1].seq

    # producers
    def send(self, producer: str, rec: int, count: int = 1, topic: str = "t", partition: int = 0,
             pid: int = -1) -> int:
        return self.add("produce.send", producer, producer=producer, topic=topic, partition=partition, rec=rec,
                        count=count, attempt=1, broker=1, producer_id=pid, base_sequence=-1)

    def ack(self, producer: str, rec: int, offset: int, count: int = 1, topic: str = "t", partition: int = 0,
            transactional: bool = False) -> int:
        return self.add("produce.ack", producer, producer=producer, topic=topic, partition=partition, rec=rec,
                        count=count, offset=offset, acks="all", attempt=1, transactional=transactional)

    def append(self, producer: str, rec: int, offset: int, count: int = 1, topic: str = "t", partition: int = 0,
               pid: int = -1, transactional: bool = False, control: int = 0) -> int:
        return self.add("log.append", "broker-1", topic=topic, partition=partition, offset=offset, count=count,
                        leader_epoch=0, producer=producer, rec=rec, producer_id=pid, base_sequence=-1,
                        transactional=transactional, control=control)

    def write(self, producer: str, rec: int, offset: int, count: int = 1, **kw: Any) -> tuple[int, int, int]:
        """send, append, ack: an acknowledged write."""
        return (self.send(producer, rec, count), self.append(producer, rec, offset, count, **kw),
                self.ack(producer, rec, offset, count, transactional=kw.get("transactional", False)))

    # consumers
    def consume(self, consumer: str, offset: int, producer: str, rec: int, count: int = 1, topic: str = "t",
                partition: int = 0, isolation: str = "read_uncommitted") -> int:
        return self.add("consume", consumer, consumer=consumer, group=consumer, topic=topic, partition=partition,
                        offset=offset, count=count, producer=producer, rec=rec, isolation=isolation)

    def assigned(self, consumer: str, generation: int, partitions: list[list[Any]], group: str = "g") -> int:
        return self.add("member.assigned", consumer, group=group, member=f"{consumer}-id", generation=generation,
                        protocol="eager", partitions=partitions, added=partitions)

    def final(self, batches: list[list[Any]], topic: str = "t", partition: int = 0, hw: int | None = None) -> int:
        leo = max((b[0] + b[1] for b in batches), default=0)
        return self.add("log.final", "controller", topic=topic, partition=partition, leader=1, leader_epoch=0,
                        isr=[1, 2, 3], offline=False, hw=leo if hw is None else hw, leo=leo, log_start=0,
                        replicas=[{"broker": b, "leo": leo, "hw": leo, "alive": True} for b in (1, 2, 3)],
                        batches=batches)

    def end(self) -> None:
        self.add("run.end", "controller")

    # checkers
    def anomalies(self) -> list[dict[str, Any]]:
        return analyse(self.trace).anomalies + analyse_ordering(self.trace)

    def only(self, kind: str) -> dict[str, Any]:
        found = self.anomalies()
        assert [a["kind"] for a in found] == [kind], found
        a = found[0]
        assert isinstance(a["explanation"], str) and a["explanation"].strip()
        return a


def _ok(h: History) -> None:
    found = h.anomalies()
    assert found == [], found


# -- delivery: lost-write, duplicate, aborted-read -------------------------------------------------------
def test_planted_lost_write() -> None:
    """§18 lost write: acknowledged, yet absent from the final log of the partition's leader."""
    h = History()
    for rec in range(3):
        h.write("p", rec, offset=rec)
    h.final([[0, 1, "p", 0], [1, 1, "p", 2]])  # rec 1 is gone (truncated; offset 1 reused by rec 2)
    h.end()
    a = h.only("lost-write")
    assert (a["producer"], a["topic"], a["partition"]) == ("p", "t", 0)
    assert a["records"] == [[1, 1]] and a["count"] == 1
    ack_of_rec_1 = [e.seq for e in h.trace.of("produce.ack") if e.data["rec"] == 1]
    assert a["events"] and set(ack_of_rec_1) <= set(a["events"])
    stats = analyse(h.trace).stats
    assert stats["lost_acknowledged"] == 1 and stats["offsets_reused"] == 1


def test_planted_duplicate() -> None:
    """§18 duplicate: one value at more than one offset of a partition."""
    h = History()
    h.write("p", 0, offset=0)
    h.append("p", 0, offset=1)  # a retry the broker appended again
    h.write("p", 1, offset=2)
    h.final([[0, 1, "p", 0], [1, 1, "p", 0], [2, 1, "p", 1]])
    h.end()
    a = h.only("duplicate")
    assert (a["producer"], a["topic"], a["partition"], a["count"]) == ("p", "t", 0, 1)
    assert a["offsets"] == [{"rec": 0, "offsets": [0, 1]}]
    assert analyse(h.trace).stats["duplicates"] == 1


@pytest.mark.parametrize("how", ["abort-marker", "txn.end-abort"])
def test_planted_aborted_read(how: str) -> None:
    """§18 aborted read (G1a): a read_committed consumer was given a record of an aborted transaction."""
    h = History()
    h.add("txn.begin", "tp", producer="tp", transactional_id="x", n=1)
    h.write("tp", 0, offset=0, pid=5, transactional=True)
    batches: list[list[Any]] = [[0, 1, "tp", 0, 5, 1, 0]]
    if how == "abort-marker":
        h.append("", 0, offset=1, pid=5, transactional=True, control=ABORT)
        batches.append([1, 1, "", 0, 5, 1, ABORT])
    else:
        h.add("txn.end", "tp", producer="tp", transactional_id="x", result="abort", producer_id=5,
              producer_epoch=0, records=[["t", 0, 0, 1]], groups=[], n=1)
    bad = h.consume("rc", 0, "tp", 0, isolation="read_committed")
    h.consume("ru", 0, "tp", 0, isolation="read_uncommitted")  # allowed to see it
    h.final(batches)
    h.end()
    a = h.only("aborted-read")
    assert (a["producer"], a["topic"], a["partition"], a["consumer"]) == ("tp", "t", 0, "rc")
    assert a["records"] == [[0, 0]] and a["events"] == [bad]


# -- ordering: polls ------------------------------------------------------------------------------------------
def _log_of_six(h: History, producer: str = "p") -> None:
    for rec in range(6):
        h.write(producer, rec, offset=rec)


def test_planted_nonmonotonic_poll() -> None:
    """§18: a consumer re-reads / goes backwards without a seek or reassignment."""
    h = History()
    _log_of_six(h)
    first = h.consume("c", 0, "p", 0, count=5)
    again = h.consume("c", 2, "p", 2)
    h.final([[o, 1, "p", o] for o in range(6)])
    h.end()
    a = h.only("nonmonotonic-poll")
    assert (a["consumer"], a["topic"], a["partition"], a["offset"], a["expected"]) == ("c", "t", 0, 2, 5)
    assert a["events"] == [first, again]


@pytest.mark.parametrize("between", ["seek", "assign", "member.assigned", "app.restart"])
def test_going_back_after_a_seek_or_reassignment_is_not_nonmonotonic(between: str) -> None:
    h = History()
    _log_of_six(h)
    h.consume("c", 0, "p", 0, count=5)
    if between == "seek":
        h.add("consumer.seek", "c", consumer="c", topic="t", partition=0, offset=2, reason="seek")
    elif between == "assign":
        h.add("consumer.assign", "c", consumer="c", partitions=[["t", 0]])
    elif between == "member.assigned":
        h.assigned("c", 2, [["t", 0]])
    else:
        h.add("app.restart", "c", consumer="c", group="g")
    h.consume("c", 2, "p", 2, count=4)
    h.final([[o, 1, "p", o] for o in range(6)])
    h.end()
    _ok(h)


def test_planted_poll_skip() -> None:
    """§18: successive polls jump over offsets known to hold records the consumer should see."""
    h = History()
    _log_of_six(h)
    first = h.consume("c", 0, "p", 0, count=2)
    jump = h.consume("c", 5, "p", 5)
    h.final([[o, 1, "p", o] for o in range(6)])
    h.end()
    a = h.only("poll-skip")
    assert (a["consumer"], a["topic"], a["partition"], a["from"], a["to"], a["count"]) == ("c", "t", 0, 2, 5, 3)
    assert a["events"] == [first, jump]


def test_jumping_over_markers_and_aborted_records_is_not_a_poll_skip() -> None:
    """Markers take offsets and are never returned; read_committed also skips aborted records."""
    h = History()
    h.write("tp", 0, offset=0, pid=5, transactional=True)
    h.append("", 0, offset=1, pid=5, transactional=True, control=COMMIT)
    h.write("tp", 1, offset=2, pid=5, transactional=True)
    h.append("", 0, offset=3, pid=5, transactional=True, control=ABORT)
    h.write("tp", 2, offset=4, pid=5, transactional=True)
    h.append("", 0, offset=5, pid=5, transactional=True, control=COMMIT)
    h.consume("rc", 0, "tp", 0, isolation="read_committed")
    h.consume("rc", 4, "tp", 2, isolation="read_committed")
    h.consume("ru", 0, "tp", 0)
    h.consume("ru", 2, "tp", 1)
    h.consume("ru", 4, "tp", 2)
    h.add("txn.end", "tp", producer="tp", transactional_id="x", result="commit", producer_id=5, producer_epoch=0,
          records=[["t", 0, 0, 1]], groups=[], n=1)
    h.final([[0, 1, "tp", 0, 5, 1, 0], [1, 1, "", 0, 5, 1, COMMIT], [2, 1, "tp", 1, 5, 1, 0],
             [3, 1, "", 0, 5, 1, ABORT], [4, 1, "tp", 2, 5, 1, 0], [5, 1, "", 0, 5, 1, COMMIT]])
    h.end()
    _ok(h)


# -- ordering: sends, groups, zombies ------------------------------------------------------------------------
def test_planted_nonmonotonic_send() -> None:
    """§8: a retried batch overtaken by the next one (max.in.flight > 1, no idempotence)."""
    h = History()
    h.send("p", 0, count=2)
    h.send("p", 2, count=2)
    h.write("p", 2, offset=0, count=2)
    h.append("p", 0, offset=2, count=2)
    h.ack("p", 0, offset=2, count=2)
    h.final([[0, 2, "p", 2], [2, 2, "p", 0]])
    h.end()
    a = h.only("nonmonotonic-send")
    assert (a["producer"], a["topic"], a["partition"], a["offset"], a["records"]) == ("p", "t", 0, 2, [[0, 1]])


def test_planted_double_assignment() -> None:
    """One partition in two members' assignments of the same generation."""
    h = History()
    h.assigned("c1", 1, [["t", 0], ["t", 1]])
    second = h.assigned("c2", 1, [["t", 1]])
    h.end()
    found = h.anomalies()
    (a,) = [x for x in found if x["kind"] == "double-assignment"]
    assert {x["kind"] for x in found} <= {"double-assignment", "double-ownership"}
    assert (a["group"], a["generation"], a["topic"], a["partition"], a["members"]) == ("g", 1, "t", 1, ["c1", "c2"])
    assert a["events"] == [second] and a["explanation"]


def test_planted_double_ownership() -> None:
    """KIP-429: a partition given to a new owner while the old one (still a member) has not revoked it."""
    h = History()
    held = h.assigned("c1", 1, [["t", 0]])
    given = h.assigned("c2", 2, [["t", 0]])
    h.end()
    a = h.only("double-ownership")
    assert (a["group"], a["topic"], a["partition"], a["members"]) == ("g", "t", 0, ["c1", "c2"])
    assert a["events"] == [held, given]


@pytest.mark.parametrize("handover", ["revoked", "lost", "app.crash"])
def test_a_handover_after_revoke_or_death_is_not_double_ownership(handover: str) -> None:
    h = History()
    h.assigned("c1", 1, [["t", 0]])
    if handover == "app.crash":
        h.add("app.crash", "c1", consumer="c1", group="g", point=None)
    else:
        h.add(f"member.{handover}", "c1", group="g", member="c1-id", generation=1, partitions=[["t", 0]])
    h.assigned("c2", 2, [["t", 0]])
    h.end()
    _ok(h)


def test_planted_zombie_write() -> None:
    """§9: a producer told it was fenced still got records into the committed log."""
    h = History()
    fenced = h.add("txn.fenced", "z", producer="z", transactional_id="x", producer_id=9, producer_epoch=0,
                   error="PRODUCER_FENCED")
    h.send("z", 0, pid=9)
    late = h.append("z", 0, offset=3, pid=9, transactional=True)
    h.append("", 0, offset=4, pid=9, transactional=True, control=COMMIT)
    h.final([[0, 3, "other", 0], [3, 1, "z", 0, 9, 1, 0], [4, 1, "", 0, 9, 1, COMMIT]])
    h.end()
    found = h.anomalies()
    (a,) = [x for x in found if x["kind"] == "zombie-write"]
    assert {x["kind"] for x in found} == {"zombie-write"}
    assert (a["producer"], a["topic"], a["partition"], a["count"]) == ("z", "t", 0, 1)
    assert a["events"] == [fenced, late] and a["explanation"]


@pytest.mark.parametrize("case", ["appended-before-fencing", "aborted"])
def test_fenced_producer_writes_that_never_commit_are_not_zombie_writes(case: str) -> None:
    h = History()
    if case == "appended-before-fencing":
        h.write("z", 0, offset=0)
        h.add("txn.fenced", "z", producer="z", transactional_id="x", producer_id=9, producer_epoch=0,
              error="PRODUCER_FENCED")
        h.final([[0, 1, "z", 0]])
    else:
        h.add("txn.fenced", "z", producer="z", transactional_id="x", producer_id=9, producer_epoch=0,
              error="PRODUCER_FENCED")
        h.send("z", 0, pid=9)
        h.append("z", 0, offset=0, pid=9, transactional=True)
        h.append("", 0, offset=1, pid=9, transactional=True, control=ABORT)
        h.final([[0, 1, "z", 0, 9, 1, 0], [1, 1, "", 0, 9, 1, ABORT]])
    h.end()
    assert not [a for a in h.anomalies() if a["kind"] == "zombie-write"]


# -- every anomaly cites its evidence ---------------------------------------------------------------------------
def _history_for(kind: str) -> History:
    """Rebuild the planted history of ``kind`` (the tests above, as data)."""
    h = History()
    if kind == "lost-write":
        for rec in range(3):
            h.write("p", rec, offset=rec)
        h.final([[0, 1, "p", 0], [1, 1, "p", 2]])
    elif kind == "duplicate":
        h.write("p", 0, offset=0)
        h.append("p", 0, offset=1)
        h.final([[0, 1, "p", 0], [1, 1, "p", 0]])
    elif kind == "nonmonotonic-send":
        h.send("p", 0, count=2)
        h.send("p", 2, count=2)
        h.write("p", 2, offset=0, count=2)
        h.append("p", 0, offset=2, count=2)
        h.ack("p", 0, offset=2, count=2)
        h.final([[0, 2, "p", 2], [2, 2, "p", 0]])
    h.end()
    return h


@pytest.mark.parametrize("kind", ["lost-write", "duplicate", "nonmonotonic-send"])
def test_every_anomaly_cites_the_events_it_rests_on(kind: str) -> None:
    h = _history_for(kind)
    (a,) = [x for x in h.anomalies() if x["kind"] == kind]
    assert a.get("events"), a
    kinds = {e.kind for e in h.trace.events if e.seq in set(a["events"])}
    assert kinds <= {"produce.send", "produce.ack", "log.append", "log.truncate"}


# -- clean histories --------------------------------------------------------------------------------------------
def test_a_clean_hand_built_history_reports_nothing() -> None:
    """Sends acknowledged once each, in order; two consumers read everything in order, one from a
    reassignment on; a committed transaction whose marker leaves a gap; groups hand over cleanly."""
    h = History()
    for rec in range(4):
        h.write("p", rec, offset=rec)
    h.write("tp", 0, offset=4, count=2, pid=5, transactional=True)
    h.append("", 0, offset=6, pid=5, transactional=True, control=COMMIT)
    h.add("txn.end", "tp", producer="tp", transactional_id="x", result="commit", producer_id=5, producer_epoch=0,
          records=[["t", 0, 0, 2]], groups=[], n=1)
    h.write("p", 4, offset=7)
    h.assigned("c1", 1, [["t", 0]])
    h.consume("c1", 0, "p", 0, count=2, isolation="read_committed")
    h.add("member.revoked", "c1", group="g", member="c1-id", generation=1, partitions=[["t", 0]])
    h.assigned("c2", 2, [["t", 0]])
    h.add("consumer.seek", "c2", consumer="c2", topic="t", partition=0, offset=2, reason="committed")
    h.consume("c2", 2, "p", 2, count=2, isolation="read_committed")
    h.consume("c2", 4, "tp", 0, count=2, isolation="read_committed")
    h.consume("c2", 7, "p", 4, isolation="read_committed")
    for offset, producer, rec in [(0, "p", 0), (1, "p", 1), (2, "p", 2), (3, "p", 3), (4, "tp", 0), (5, "tp", 1),
                                  (7, "p", 4)]:  # offset 6 is the marker
        h.consume("solo", offset, producer, rec)
    h.final([[0, 1, "p", 0], [1, 1, "p", 1], [2, 1, "p", 2], [3, 1, "p", 3], [4, 2, "tp", 0, 5, 1, 0],
             [6, 1, "", 0, 5, 1, COMMIT], [7, 1, "p", 4]])
    h.end()
    _ok(h)
    rep = analyse(h.trace)
    assert rep.valid is True
    assert rep.stats["acknowledged"] == 7 and rep.stats["consumed_unique"] == 7


def _clean_scenarios() -> list[Path]:
    out = []
    for path in SCENARIOS:
        sc = load(path)
        if any(e.stat == "anomalies" and e.op == "==" and e.value == 0 for e in sc.expect):
            out.append(path)
    return out


CLEAN = _clean_scenarios()
_RUNS: dict[Path, Any] = {}


def _run(path: Path) -> Any:
    if path not in _RUNS:
        _RUNS[path] = run(load(path))
    return _RUNS[path]


def test_some_bundled_scenarios_promise_no_anomalies() -> None:
    assert len(CLEAN) >= 2
    assert any("transaction" in p.read_text() for p in CLEAN)


@pytest.mark.parametrize("path", CLEAN, ids=lambda p: p.stem)
def test_bundled_scenarios_without_anomalies_report_none(path: Path) -> None:
    res = _run(path)
    assert res.result["anomalies"] == []
    kinds = {a["kind"] for a in analyse(res.trace).anomalies + analyse_ordering(res.trace)}
    assert not kinds & (ORDERING_KINDS | DELIVERY_KINDS)


def test_result_from_a_saved_transactional_trace_equals_the_runs(tmp_path: Path) -> None:
    path = next(p for p in CLEAN if "transaction" in p.read_text())
    res = _run(path)
    assert res.trace.of("txn.end") and res.trace.of("log.final")
    file = tmp_path / "trace.jsonl"
    res.trace.save(file)
    again = build_result(Trace.load(file), res.scenario.expect, res.scenario)
    assert again == res.result


# -- checker bugs -------------------------------------------------------------------------------------------------
def test_records_of_an_aborted_transaction_are_not_in_flight() -> None:
    """§18: only indefinite outcomes are 'may or may not have been written'. A transaction whose
    ABORT marker is in the log has a definite outcome: its records were not written."""
    h = History()
    h.add("txn.begin", "tp", producer="tp", transactional_id="x", n=1)
    h.write("tp", 0, offset=0, count=2, pid=5, transactional=True)
    h.add("client.crash", "tp", client="tp")  # no txn.end: the coordinator aborts it (timeout / new instance)
    h.append("", 0, offset=2, pid=5, transactional=True, control=ABORT)
    h.final([[0, 2, "tp", 0, 5, 1, 0], [2, 1, "", 0, 5, 1, ABORT]])
    h.end()
    rep = analyse(h.trace)
    assert rep.anomalies == []
    assert rep.stats["aborted"] == 2
    assert rep.stats["in_flight"] == 0
    assert rep.valid is True
