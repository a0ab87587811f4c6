"""End-to-end delivery of pipelines, from the trace: input records in, outputs out.

Each output record maps back to the input record it came from (``pipeline.output``). Seen
by a read_committed reader of the output topic (aborted transactions hidden), an input
record is *lost* when the pipeline's group committed an offset past it yet it has no
output (it will never be processed again), *unprocessed* when it has no output but the
group has not moved past it (it would be redone), and *duplicated* for every output beyond
the first. ``duplicated_uncommitted`` counts what a
read_uncommitted reader would see (aborted copies included). For an idempotent sink the
outputs are the store's writes.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from typing import Any

from kafkasim.check import index
from kafkasim.sim.trace import Trace

Src = tuple[str, str, int, int]  # producer, topic, partition, rec


def analyse_pipelines(trace: Trace) -> dict[str, dict[str, Any]]:
    maps: dict[tuple[str, str, int], list[tuple[int, int, Src, str]]] = defaultdict(list)
    sink_writes: dict[str, dict[Src, int]] = defaultdict(lambda: defaultdict(int))
    sink_dupes: dict[str, int] = defaultdict(int)
    committed_offsets: dict[str, dict[tuple[str, int], int]] = defaultdict(dict)
    txn_pending: dict[str, list[tuple[str, list]]] = defaultdict(list)  # producer -> (group, offsets)
    group_of: dict[str, str] = {}
    inputs: dict[str, str] = {}
    outputs: dict[str, str] = {}
    pipelines: set[str] = set()
    for ev in trace.of("pipeline.output", "sink.write", "sink.duplicate", "commit.ok", "txn.offsets", "txn.end"):
        k, d = ev.kind, ev.data
        if k == "pipeline.output":
            name = _base(d["pipeline"])
            pipelines.add(name)
            group_of[name] = d.get("group", name)
            inputs[name], outputs[name] = d["topic"], d["out_topic"]
            maps[(d["out_producer"], d["out_topic"], d["out_partition"])].append(
                (d["out_rec"], d["count"], (d["producer"], d["topic"], d["partition"], d["rec"]), name))
        elif k in ("sink.write", "sink.duplicate"):
            name = _base(d["pipeline"])
            pipelines.add(name)
            group_of[name] = d.get("group", name)
            inputs.setdefault(name, d["topic"])
            src = (d["producer"], d["topic"], d["partition"], d["rec"])
            if k == "sink.write":
                sink_writes[name][src] += 1
            else:
                sink_dupes[name] += 1
        elif k == "commit.ok":
            for topic, part, off in d["offsets"]:
                _advance(committed_offsets[d["group"]], (topic, part), off)
        elif k == "txn.offsets":
            txn_pending[d["producer"]].append((d["group"], d["offsets"]))
        elif k == "txn.end":
            for gid, offsets in txn_pending.pop(d["producer"], []):
                if d["result"] == "commit":
                    for topic, part, off in offsets:
                        _advance(committed_offsets[gid], (topic, part), off)
    finals, batches = index.finals(trace), index.visible(trace)
    found = {key: _Outputs(entries) for key, entries in maps.items()}

    out: dict[str, dict[str, Any]] = {}
    for name in sorted(pipelines):
        committed: dict[Src, int] = defaultdict(int)
        everything: dict[Src, int] = defaultdict(int)
        if name in outputs:
            for (topic, part) in finals:
                if topic != outputs[name]:
                    continue
                for _off, n, prod, rec, state in batches[(topic, part)]:
                    outs = found.get((prod, topic, part))
                    for lo, cnt, src, owner in outs.overlapping(rec, rec + n) if outs else ():
                        if owner != name:
                            continue
                        a, b = max(lo, rec), min(lo + cnt, rec + n)
                        for r in range(a, b):
                            s = (src[0], src[1], src[2], src[3] + (r - lo))
                            everything[s] += 1
                            if state == "visible":
                                committed[s] += 1
        else:
            committed = sink_writes[name]
            everything = committed
        records_in: dict[Src, int] = {}  # input record -> its offset
        for (topic, part) in finals:
            if topic != inputs.get(name):
                continue
            for off, n, prod, rec, state in batches[(topic, part)]:
                if state == "visible" and prod:
                    for i in range(n):
                        records_in[(prod, topic, part, rec + i)] = off + i
        done = committed_offsets.get(group_of.get(name, name), {})
        missing = [s for s in records_in if committed.get(s, 0) == 0]
        lost = sum(1 for s in missing if records_in[s] < done.get((s[1], s[2]), 0))
        out[name] = {
            "records_in": len(records_in),
            "records_out": sum(committed.values()),
            "lost": lost,
            "unprocessed": len(missing) - lost,
            "duplicated": sum(max(0, n - 1) for n in committed.values()),
            "duplicated_uncommitted": sum(max(0, n - 1) for n in everything.values()),
            "sink_duplicates_ignored": sink_dupes.get(name, 0),
        }
    return out


class _Outputs:
    """One output stream's ``pipeline.output`` entries, sorted by first record, so the entries
    overlapping a batch are found by bisection rather than by a scan per batch."""

    def __init__(self, entries: list[tuple[int, int, Src, str]]) -> None:
        self.entries = sorted(entries, key=lambda e: e[0])
        self.los = [e[0] for e in self.entries]
        self.longest = max((e[1] for e in self.entries), default=0)

    def overlapping(self, lo: int, hi: int) -> list[tuple[int, int, Src, str]]:
        """Every entry that may share a record with [lo, hi) (no entry that does is left out)."""
        return self.entries[bisect_left(self.los, lo - self.longest + 1):bisect_left(self.los, hi)]


def _advance(offsets: dict[tuple[str, int], int], tp: tuple[str, int], off: int) -> None:
    # a group's committed offset can move back (a rewind commit); the last commit wins
    offsets[tp] = off


def _base(member: str) -> str:
    """Pipeline members are named name-1..N; their stats are the pipeline's."""
    head, _, tail = member.rpartition("-")
    return head if head and tail.isdigit() else member
