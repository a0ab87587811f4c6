"""Indexes over a trace that several readers share, each built once per trace.

The checkers, the report and the plots all need the final leader logs, what a read_committed
reader sees in them and where each batch was appended. Rebuilding those in every reader made
a report walk the same data half a dozen times; here each is derived once and kept on the
trace (:meth:`~kafkasim.sim.trace.Trace.memo`), so it is rebuilt only if events are appended.
The values are shared: readers must not modify them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kafkasim.sim.trace import Trace

TP = tuple[str, int]
Visible = tuple[int, int, str, int, str]  # offset, count, producer, rec, state (visible|aborted|open)


@dataclass
class PartitionFinal:
    topic: str
    partition: int
    leader: int
    leader_epoch: int
    hw: int
    leo: int
    log_start: int
    offline: bool
    isr: list[int]
    replicas: list[dict[str, int]]
    batches: list[list[Any]]  # [offset, count, producer, rec]


def final_of(d: dict[str, Any]) -> PartitionFinal:
    return PartitionFinal(d["topic"], d["partition"], d["leader"], d["leader_epoch"], d["hw"], d["leo"],
                          d["log_start"], d["offline"], d["isr"], d["replicas"], d["batches"])


def visible_batches(f: PartitionFinal) -> list[Visible]:
    """Each data batch of a final log with its state: "visible", "aborted" (its transaction
    ended with an ABORT marker) or "open" (no marker yet), as a read_committed reader sees it."""
    out: list[list[Any]] = []
    open_txn: dict[int, list[list[Any]]] = {}
    for b in f.batches:
        off, n, prod, rec = b[:4]
        pid, txn, control = (b[4], b[5], b[6]) if len(b) >= 7 else (-1, 0, 0)
        if control:
            for entry in open_txn.pop(pid, []):
                entry[4] = "visible" if control == 1 else "aborted"
            continue
        entry = [off, n, prod, rec, "visible"]
        if txn:
            entry[4] = "open"
            open_txn.setdefault(pid, []).append(entry)
        out.append(entry)
    return [tuple(e) for e in out]  # type: ignore[misc]


def finals(trace: Trace) -> dict[TP, PartitionFinal]:
    """Each partition's end-of-run log (``log.final``; the last one wins), by (topic, partition)."""
    return trace.memo("check.finals", lambda tr: {(f.topic, f.partition): f
                                                  for f in (final_of(ev.data) for ev in tr.of("log.final"))})


def visible(trace: Trace) -> dict[TP, list[Visible]]:
    """:func:`visible_batches` of every final log, by (topic, partition)."""
    return trace.memo("check.visible", lambda tr: {tp: visible_batches(f) for tp, f in finals(tr).items()})


def appended(trace: Trace) -> dict[tuple[str, int, int], int]:
    """(topic, partition, base offset) -> seq of the last ``log.append`` of a batch there."""
    return trace.memo("check.appended", lambda tr: {(e.data["topic"], e.data["partition"], e.data["offset"]): e.seq
                                                    for e in tr.of("log.append")})
