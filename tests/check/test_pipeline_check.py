"""The pipeline checker: end-to-end delivery of consume-transform-produce stages, from the trace.

Rules (kafka-semantics §9, §10): at-most-once (commit, then process) loses the rest of a
batch on a crash after the commit; at-least-once (process, then commit) duplicates on a
crash before the commit; exactly-once (a transaction around outputs and offsets, read
by read_committed) neither loses nor duplicates, though a read_uncommitted reader sees the
aborted copies; an idempotent sink ignores what it already stored. An input without output
is *lost* once the group committed past it, *unprocessed* otherwise.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from kafkasim.check.pipeline import analyse_pipelines
from kafkasim.scenario import bundled
from kafkasim.scenario.load import load
from kafkasim.scenario.run import RunResult, play, run
from kafkasim.sim.trace import Trace

ROOT = Path(__file__).parents[2]
COMMIT, ABORT = 1, 2


class History:
    """A synthetic pipeline trace: input ``in``-0 holds records 0..n-1 of ``src`` at offsets 0..n-1."""

    def __init__(self, n_in: int = 4) -> None:
        self.trace = Trace(seed=0, scenario="pipeline")
        self.t = 0
        self.n_in = n_in

    def add(self, kind: str, node: str, **data: Any) -> int:
        self.t += 1
        self.trace.append(self.t, kind, node, data)
        return self.trace.events[-1].seq

    def output(self, rec: int, out_rec: int, out_producer: str = "stage#1", pipeline: str = "stage",
               count: int = 1) -> None:
        self.add("pipeline.output", pipeline, pipeline=pipeline, group="stage", producer="src", topic="in",
                 partition=0, rec=rec, count=count, out_producer=out_producer, out_topic="out", out_partition=0,
                 out_rec=out_rec)

    def sink(self, rec: int, duplicate: bool = False, pipeline: str = "stage") -> None:
        self.add("sink.duplicate" if duplicate else "sink.write", pipeline, pipeline=pipeline, group="stage",
                 producer="src", topic="in", partition=0, rec=rec, count=1)

    def commit(self, offset: int, group: str = "stage") -> None:
        self.add("commit.ok", "stage", group=group, member="stage-id", generation=1, reason="sync",
                 offsets=[["in", 0, offset]])

    def txn(self, producer: str, offset: int | None, result: str) -> None:
        if offset is not None:
            self.add("txn.offsets", "stage-producer", producer=producer, transactional_id="stage-txn",
                     group="stage", offsets=[["in", 0, offset]])
        self.add("txn.end", "stage-producer", producer=producer, transactional_id="stage-txn", result=result,
                 producer_id=7, producer_epoch=0, records=[], groups=["stage"], n=1)

    def final(self, topic: str, batches: list[list[Any]]) -> None:
        leo = max((b[0] + b[1] for b in batches), default=0)
        self.add("log.final", "controller", topic=topic, partition=0, leader=1, leader_epoch=0, isr=[1, 2, 3],
                 offline=False, hw=leo, leo=leo, log_start=0, replicas=[], batches=batches)

    def result(self, out_batches: list[list[Any]] | None) -> dict[str, Any]:
        self.final("in", [[o, 1, "src", o] for o in range(self.n_in)])
        if out_batches is not None:
            self.final("out", out_batches)
        self.add("run.end", "controller")
        return analyse_pipelines(self.trace)["stage"]


def _identity(st: dict[str, Any]) -> None:
    """Every input is output once (plus its duplicates), lost, or not yet reached."""
    assert st["records_out"] == st["records_in"] - st["lost"] - st["unprocessed"] + st["duplicated"]
    assert st["duplicated_uncommitted"] >= st["duplicated"]


# -- synthetic traces ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("committed, lost, unprocessed", [
    (None, 0, 2),  # nothing committed: both missing records will be redone
    (3, 1, 1),  # committed past rec 2 (offset 2) but not rec 3
    (4, 2, 0),  # committed past both
    (2, 0, 2),  # committed only up to the outputs
])
def test_missing_outputs_are_lost_only_behind_the_committed_offset(committed: int | None, lost: int,
                                                                   unprocessed: int) -> None:
    h = History()
    h.output(0, 0)
    h.output(1, 1)
    if committed is not None:
        h.commit(committed)
    st = h.result([[0, 2, "stage#1", 0]])
    assert st == {"records_in": 4, "records_out": 2, "lost": lost, "unprocessed": unprocessed, "duplicated": 0,
                  "duplicated_uncommitted": 0, "sink_duplicates_ignored": 0}
    _identity(st)


def test_the_last_commit_wins_even_when_it_moves_back() -> None:
    h = History()
    h.output(0, 0)
    h.commit(4)
    h.commit(1)  # a rewind: records 1..3 will be redone
    st = h.result([[0, 1, "stage#1", 0]])
    assert (st["lost"], st["unprocessed"]) == (0, 3)


@pytest.mark.parametrize("result, lost", [("commit", 2), ("abort", 0)])
def test_transactional_offsets_count_only_when_their_transaction_commits(result: str, lost: int) -> None:
    h = History()
    h.output(0, 0)
    h.output(1, 1)
    h.txn("stage#1", 4, result)
    out = [[0, 2, "stage#1", 0, 7, 1, 0], [2, 1, "", 0, 7, 1, COMMIT if result == "commit" else ABORT]]
    st = h.result(out)
    if result == "commit":
        assert (st["records_out"], st["lost"], st["unprocessed"]) == (2, 2, 0)
    else:  # the outputs were aborted and the offsets never committed: all four will be redone
        assert (st["records_out"], st["lost"], st["unprocessed"]) == (0, 0, 4)
    assert st["lost"] == lost
    _identity(st)


def test_duplicates_in_aborted_transactions_count_only_for_read_uncommitted() -> None:
    """rec 0: once in an aborted transaction, once committed (EOS after a crash before commit);
    rec 1: twice, both visible (at-least-once redelivery); rec 2: only in an open transaction."""
    h = History(n_in=3)
    h.output(0, 0, out_producer="stage#1")
    h.output(0, 0, out_producer="stage#2")
    h.output(1, 1, out_producer="stage#2")
    h.output(1, 0, out_producer="plain")
    h.output(2, 0, out_producer="stage#3")
    out = [
        [0, 1, "stage#1", 0, 7, 1, 0], [1, 1, "", 0, 7, 1, ABORT],
        [2, 2, "stage#2", 0, 7, 1, 0], [4, 1, "", 0, 7, 1, COMMIT],
        [5, 1, "plain", 0],
        [6, 1, "stage#3", 0, 8, 1, 0],  # no marker: still open
    ]
    st = h.result(out)
    assert st["records_in"] == 3
    assert st["records_out"] == 3  # rec 0 once, rec 1 twice
    assert st["duplicated"] == 1  # rec 1
    assert st["duplicated_uncommitted"] == 2  # rec 0's aborted copy too; the open one is no copy of anything
    assert (st["lost"], st["unprocessed"]) == (0, 1)  # rec 2: its only output is not committed
    _identity(st)


def test_idempotent_sink_counts_store_writes_and_ignored_duplicates() -> None:
    h = History()
    h.sink(0)
    h.sink(1)
    h.sink(1, duplicate=True)
    h.sink(0, duplicate=True)
    h.commit(2)
    st = h.result(None)
    assert st == {"records_in": 4, "records_out": 2, "lost": 0, "unprocessed": 2, "duplicated": 0,
                  "duplicated_uncommitted": 0, "sink_duplicates_ignored": 2}


def test_members_of_a_pipeline_are_reported_as_the_pipeline() -> None:
    h = History(n_in=2)
    h.output(0, 0, out_producer="stage-1#1", pipeline="stage-1")
    h.output(1, 0, out_producer="stage-2#1", pipeline="stage-2")
    h.final("in", [[0, 1, "src", 0], [1, 1, "src", 1]])
    h.final("out", [[0, 1, "stage-1#1", 0], [1, 1, "stage-2#1", 0]])
    h.add("run.end", "controller")
    res = analyse_pipelines(h.trace)
    assert list(res) == ["stage"]
    assert (res["stage"]["records_out"], res["stage"]["duplicated"]) == (2, 0)


# -- bundled scenarios -------------------------------------------------------------------------------------
_CACHE: dict[tuple, RunResult] = {}


def _variant(mode: str, point: str) -> RunResult:
    """delivery-modes-compared in one mode, its crash armed at ``point``."""
    key = (mode, point)
    if key not in _CACHE:
        sc = load(bundled.path_of("delivery-modes-compared"))
        faults = tuple(dataclasses.replace(f, point=point) if f.point else f for f in sc.faults)
        pipelines = tuple(dataclasses.replace(p, mode=mode) for p in sc.pipelines)
        _CACHE[key] = run(dataclasses.replace(sc, modes=(), expect=(), faults=faults, pipelines=pipelines))
    return _CACHE[key]


def _stage(res: RunResult) -> dict[str, Any]:
    (st,) = res.result["pipelines"].values()
    return st


def _crashed(res: RunResult, point: str) -> None:
    crashes = res.trace.of("app.crash")
    assert [e.data["point"] for e in crashes] == [point]
    assert res.trace.of("app.restart")


def test_at_most_once_crash_after_commit_loses_the_rest_of_the_batch() -> None:
    res = _variant("at-most-once", "after-commit")
    _crashed(res, "after-commit")
    st = _stage(res)
    assert st["lost"] > 0 and st["duplicated"] == 0 and st["unprocessed"] == 0
    # independently: the records the stage polled but never processed are exactly the lost ones
    polled = {(e.data["producer"], e.data["partition"], e.data["rec"] + i)
              for e in res.trace.of("consume") if e.node == "settler" for i in range(e.data["count"])}
    processed = {(e.data["producer"], e.data["partition"], e.data["rec"] + i)
                 for e in res.trace.of("app.processed") for i in range(e.data["count"])}
    assert st["lost"] == len(polled - processed)
    _identity(st)


def test_at_least_once_crash_before_commit_duplicates_and_loses_nothing() -> None:
    res = _variant("at-least-once", "before-commit")
    _crashed(res, "before-commit")
    st = _stage(res)
    assert st["lost"] == 0 and st["unprocessed"] == 0 and st["duplicated"] > 0
    # independently: every output is visible (no transactions), so duplicates = repeat processings
    times = Counter((e.data["producer"], e.data["partition"], e.data["rec"] + i)
                    for e in res.trace.of("app.processed") for i in range(e.data["count"]))
    assert st["duplicated"] == sum(n - 1 for n in times.values())
    assert st["duplicated_uncommitted"] == st["duplicated"]
    _identity(st)


@pytest.mark.parametrize("point", ["before-commit", "mid-processing", "after-commit"])
def test_exactly_once_neither_loses_nor_duplicates(point: str) -> None:
    res = _variant("exactly-once", point)
    _crashed(res, point)
    st = _stage(res)
    assert (st["lost"], st["duplicated"], st["unprocessed"]) == (0, 0, 0)
    assert st["records_out"] == st["records_in"] == 2000
    if point != "after-commit":  # the crashed transaction's outputs were in the log, aborted
        assert st["duplicated_uncommitted"] > 0
        assert res.result["stats"]["delivery"]["aborted"] > 0


def test_idempotent_sink_neither_loses_nor_duplicates() -> None:
    res = _variant("idempotent-sink", "before-commit")
    _crashed(res, "before-commit")
    st = _stage(res)
    assert (st["lost"], st["duplicated"], st["unprocessed"]) == (0, 0, 0)
    assert st["records_out"] == st["records_in"] and st["sink_duplicates_ignored"] > 0


def test_bundled_delivery_modes_matrix() -> None:
    sc = load(bundled.path_of("delivery-modes-compared"))
    doc, runs = play(sc)
    rows = {r["mode"]: r for r in doc["matrix"]}
    assert set(rows) == {"at-most-once", "at-least-once", "exactly-once", "idempotent-sink"}
    assert rows["at-most-once"]["lost"] > 0 and rows["at-most-once"]["duplicated"] == 0
    assert rows["at-least-once"]["lost"] == 0 and rows["at-least-once"]["duplicated"] > 0
    for mode in ("exactly-once", "idempotent-sink"):
        assert (rows[mode]["lost"], rows[mode]["duplicated"]) == (0, 0)
    assert rows["exactly-once"]["duplicated_uncommitted"] > 0
    for mode, r in runs.items():
        st = _stage(r)
        assert rows[mode]["records_in"] == st["records_in"] == 2000
        assert st["unprocessed"] == 0
        _identity(st)
    assert all(e["ok"] for e in doc["expectations"])


@pytest.mark.parametrize("name, lost, duplicated", [
    ("alo-crash-before-commit", 0, ">0"),
    ("eos-crash-before-commit", 0, 0),
    ("eos-crash-after-commit", 0, 0),
])
def test_bundled_crash_scenarios(name: str, lost: int, duplicated: int | str) -> None:
    res = run(load(bundled.path_of(name)))
    st = res.result["pipelines"]["enricher"]
    assert st["lost"] == lost and st["unprocessed"] == 0
    assert st["duplicated"] > 0 if duplicated == ">0" else st["duplicated"] == duplicated
    _identity(st)
    # the read_committed reader downstream reads exactly the output records the checker counts
    # (a duplicated output is a record of its own); the read_uncommitted one also the aborted copies
    groups = res.result["groups"]
    assert groups["reader-committed"]["processed_unique"] == st["records_out"]
    extra = st["duplicated_uncommitted"] - st["duplicated"]
    assert groups["reader-uncommitted"]["processed_unique"] == st["records_out"] + extra
