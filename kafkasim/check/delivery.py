"""Delivery outcomes from a trace: sent, acknowledged, failed, lost, duplicated, consumed.

A record is one ``produce()`` call, identified by (producer, topic, partition, rec).
*Acknowledged-then-lost* (Jepsen's lost write): acknowledged, yet absent from the final
log of the partition's leader. *Duplicate*: one record at two or more offsets of the final
log (a retry after a lost response, without idempotence). Acknowledged records still above
the high watermark at the end are *unconfirmed*; those in a partition that is offline at the
end are *unavailable*: neither is called lost.
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from kafkasim.check import index
from kafkasim.check import intervals as iv
from kafkasim.check.index import PartitionFinal, final_of
from kafkasim.sim.trace import Trace

__all__ = ["DeliveryReport", "PartitionFinal", "analyse", "final_logs", "final_of"]

Stream = tuple[str, str, int]  # (producer, topic, partition)


@dataclass
class DeliveryReport:
    stats: dict[str, Any] = field(default_factory=dict)
    cluster: dict[str, Any] = field(default_factory=dict)
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    valid: bool | str = True


def final_logs(trace: Trace) -> dict[tuple[str, int], PartitionFinal]:
    """Each partition's end-of-run log (``log.final`` events), by (topic, partition)."""
    return dict(index.finals(trace))


def analyse(trace: Trace) -> DeliveryReport:
    """Delivery outcomes and anomalies of a run; computed once per trace, each call gets its own copy."""
    return copy.deepcopy(trace.memo("check.delivery", _analyse))


def _analyse(trace: Trace) -> DeliveryReport:
    by_kind = trace.by_kind()

    def of(kind: str) -> list[Any]:
        return by_kind.get(kind, [])

    sent_hi: dict[Stream, int] = defaultdict(int)
    acked: dict[Stream, list] = defaultdict(list)
    ack_offsets: dict[Stream, list[tuple[int, int, int, int]]] = defaultdict(list)  # (rec, count, offset, seq)
    failed: dict[Stream, list] = defaultdict(list)
    failed_by: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    consumed: dict[Stream, list] = defaultdict(list)
    consumed_committed: dict[Stream, list] = defaultdict(list)
    txn_aborted: dict[Stream, list] = defaultdict(list)
    consumed_total = 0
    # Each accumulator is fed by one kind, or is order-free (a max, or merged later), so each kind
    # is read on its own from the index.
    for ev in (*of("produce.send"), *of("produce.unsent")):
        d = ev.data
        s = (d["producer"], d["topic"], d["partition"])
        hi = d["rec"] + d["count"]
        if hi > sent_hi[s]:
            sent_hi[s] = hi
    for ev in of("produce.ack"):
        d = ev.data
        s = (d["producer"], d["topic"], d["partition"])
        rec, n = d["rec"], d["count"]
        if not d.get("transactional"):  # a transactional record counts once its transaction commits
            acked[s].append((rec, rec + n))
        ack_offsets[s].append((rec, n, d["offset"], ev.seq))
        sent_hi[s] = max(sent_hi[s], rec + n)
    for ev in of("txn.end"):
        for topic, part, lo, hi in ev.data["records"]:
            s = (ev.data["producer"], topic, part)
            (acked if ev.data["result"] == "commit" else txn_aborted)[s].append((lo, hi))
    for ev in of("produce.fail"):
        d = ev.data
        s = (d["producer"], d["topic"], d["partition"])
        rec, n = d["rec"], d["count"]
        failed[s].append((rec, rec + n))
        failed_by[d["error"]] += n
        sent_hi[s] = max(sent_hi[s], rec + n)
    for ev in of("produce.error"):
        errors[ev.data["error"]] += ev.data["count"]
    for ev in of("consume"):
        d = ev.data
        if d.get("producer"):
            s = (d["producer"], d["topic"], d["partition"])
            rec = d["rec"]
            consumed[s].append((rec, rec + d["count"]))
            if d.get("isolation") == "read_committed":
                consumed_committed[s].append(((rec, rec + d["count"]), ev.seq, d["consumer"]))
        consumed_total += d["count"]
    finals = index.finals(trace)
    txn_timeouts = len(of("txn.timeout"))
    fenced = len(of("txn.fenced"))
    elections = of("leader.elected")
    isr_changes = len(of("isr.change"))
    truncations: dict[tuple[str, int], list[int]] = defaultdict(list)
    for ev in of("log.truncate"):
        truncations[(ev.data["topic"], ev.data["partition"])].append(ev.seq)
    appended = index.appended(trace)  # (topic, partition, base offset) -> log.append seq
    restarted = {ev.data["producer"] for ev in of("app.restart") if ev.data.get("producer")}
    visible = index.visible(trace)

    present: dict[Stream, list] = defaultdict(list)
    committed: dict[Stream, list] = defaultdict(list)
    aborted_in_log: dict[Stream, list] = defaultdict(list)
    offline_streams: set[tuple[str, int]] = set()
    for key, f in finals.items():
        if f.offline:
            offline_streams.add(key)
        for off, n, prod, rec, state in visible[key]:
            if not prod:
                continue
            s = (prod, f.topic, f.partition)
            if state == "aborted":
                aborted_in_log[s].append((rec, rec + n))
                continue
            if state == "open":
                continue
            present[s].append((rec, rec + n))
            if off + n <= f.hw:
                committed[s].append((rec, rec + n))

    read_topics = {s[1] for s in consumed}
    report = DeliveryReport()
    totals = Counter()
    streams = sorted(set(sent_hi) | set(present) | set(consumed))
    for s in streams:
        a = iv.merge(acked.get(s, ()))
        fl = iv.subtract(iv.merge(failed.get(s, ())), a)
        pres_raw = present.get(s, [])
        pres = iv.merge(pres_raw)
        cons = iv.merge(consumed.get(s, ()))
        totals["sent"] += sent_hi.get(s, 0)
        totals["acknowledged"] += iv.total(a)
        totals["failed"] += iv.total(fl)
        dup = iv.total(pres_raw) - iv.total(pres)
        totals["duplicates"] += dup
        totals["consumed_unique"] += iv.total(cons)
        if s[1] in read_topics:  # Jepsen's "unseen": committed, yet no consumer ever returned it
            totals["unseen"] += iv.total(iv.subtract(iv.merge(committed.get(s, ())), cons))
        totals["failed_present"] += iv.total(iv.intersect(fl, pres))
        if (s[1], s[2]) in offline_streams:
            totals["unavailable"] += iv.total(iv.subtract(a, pres))
            continue
        if (s[1], s[2]) not in finals:
            continue
        f_ = finals[(s[1], s[2])]
        # records below the final log start offset were deleted by retention, not lost
        gone = iv.merge((rec, rec + min(cnt, max(0, f_.log_start - off)))
                        for rec, cnt, off, _seq in ack_offsets.get(s, ()) if off >= 0)
        expired = iv.intersect(iv.subtract(a, pres), gone)
        totals["expired"] += iv.total(expired)
        lost = iv.subtract(iv.subtract(a, pres), expired)
        unconfirmed = iv.subtract(iv.intersect(a, pres), iv.merge(committed.get(s, ())))
        totals["unconfirmed"] += iv.total(unconfirmed)
        if lost:
            n = iv.total(lost)
            totals["lost_acknowledged"] += n
            totals["lost_consumed"] += iv.total(iv.intersect(lost, cons))
            f = finals[(s[1], s[2])]
            reused = 0
            evidence = []
            for rec, cnt, off, seq in ack_offsets.get(s, ()):
                hit = iv.clip(lost, rec, rec + cnt)
                if hit:
                    evidence.append(seq)
                    if off >= 0:
                        first_lost = hit[0][0]
                        if off + (first_lost - rec) < f.leo:
                            reused += iv.total(hit)
            totals["offsets_reused"] += reused
            report.anomalies.append({
                "kind": "lost-write", "producer": s[0], "topic": s[1], "partition": s[2],
                "records": iv.closed(lost), "count": n,
                "explanation": (f"{n} record(s) of {s[0]} were acknowledged on {s[1]}-{s[2]} but are not in "
                                "the final log of its leader: the replicas that had them were truncated or "
                                "lost the election"),
                "events": evidence[:5] + truncations.get((s[1], s[2]), [])[:5],
            })
        if dup:
            report.anomalies.append({
                "kind": "duplicate", "producer": s[0], "topic": s[1], "partition": s[2], "count": dup,
                "explanation": (f"{dup} record(s) of {s[0]} appear at more than one offset of {s[1]}-{s[2]}: "
                                + ("a retry, or the restarted application (a new producer id: idempotence "
                                   "does not span producer instances), re-sent records the broker had already "
                                   "appended" if s[0] in restarted else
                                   "a retry re-sent a batch the broker had already appended")),
                "offsets": (dups := _dup_offsets(visible[(s[1], s[2])], s[0]))[:10],
                "events": sorted({appended[(s[1], s[2], off)] for d in dups[:5] for off in _batch_bases(
                    finals[(s[1], s[2])], d["offsets"]) if (s[1], s[2], off) in appended}),
            })
    for s in streams:
        ab = iv.merge([*txn_aborted.get(s, ()), *aborted_in_log.get(s, ())])
        totals["aborted"] += iv.total(ab)
        for rng, seq, consumer in consumed_committed.get(s, ()):
            hit = iv.clip(ab, *rng)
            if hit:
                report.anomalies.append({
                    "kind": "aborted-read", "producer": s[0], "topic": s[1], "partition": s[2],
                    "records": iv.closed(hit), "count": iv.total(hit), "consumer": consumer, "events": [seq],
                    "explanation": (f"read_committed consumer {consumer} was given {iv.total(hit)} record(s) of "
                                    f"{s[0]} from an aborted transaction on {s[1]}-{s[2]}"),
                })
    sent = totals["sent"]
    in_flight = 0
    for s_ in streams:
        resolved = iv.merge([*acked.get(s_, ()), *failed.get(s_, ()), *txn_aborted.get(s_, ()),
                             *aborted_in_log.get(s_, ())])
        in_flight += max(0, sent_hi.get(s_, 0) - iv.total(resolved))
    report.stats = {
        "sent": sent,
        "acknowledged": totals["acknowledged"],
        "failed": totals["failed"],
        "lost_acknowledged": totals["lost_acknowledged"],
        "duplicates": totals["duplicates"],
        "consumed": consumed_total,
        "consumed_unique": totals["consumed_unique"],
        "lost_consumed": totals["lost_consumed"],
        "offsets_reused": totals["offsets_reused"],
        "unconfirmed": totals["unconfirmed"],
        "unavailable": totals["unavailable"],
        "in_flight": in_flight,
        "failed_present": totals["failed_present"],
        "aborted": totals["aborted"],
        "expired": totals["expired"],
        "unseen": totals["unseen"],
        "txn_timeouts": txn_timeouts,
        "producers_fenced": fenced,
        "failed_by_error": dict(sorted(failed_by.items())),
        "errors": dict(sorted(errors.items())),
    }
    changes = [e for e in elections if e.data["election"] != "initial"]
    changes_of = Counter((e.data["topic"], e.data["partition"]) for e in changes)
    report.cluster = {
        "leader_changes": len(changes),
        "unclean_elections": sum(1 for e in changes if e.data["election"] == "unclean"),
        "isr_changes": isr_changes,
        "offline_partitions": len(offline_streams),
        "partitions": [
            {"topic": f.topic, "partition": f.partition, "leader": f.leader, "leader_epoch": f.leader_epoch,
             "isr": f.isr, "log_start": f.log_start, "hw": f.hw, "leo": f.leo, "offline": f.offline,
             "replicas": f.replicas,
             "leader_changes": changes_of[k]}
            for k, f in sorted(finals.items())
        ],
    }
    if report.anomalies:
        report.valid = False
    elif in_flight or totals["unavailable"] or totals["unconfirmed"]:
        report.valid = "unknown"
    return report


def _batch_bases(f: PartitionFinal, offsets: list[int]) -> list[int]:
    """Base offsets of the final-log batches holding ``offsets``."""
    out = []
    for off, n, *_ in f.batches:
        if any(off <= o < off + n for o in offsets):
            out.append(off)
    return out


def _dup_offsets(batches: list[index.Visible], producer: str) -> list[dict[str, Any]]:
    """The records of ``producer`` stored more than once in a final log (its visible batches)."""
    where: dict[int, list[int]] = defaultdict(list)
    for off, n, prod, rec, state in batches:
        if state != "visible":
            continue
        if prod == producer:
            for i in range(n):
                where[rec + i].append(off + i)
    return [{"rec": r, "offsets": offs} for r, offs in sorted(where.items()) if len(offs) > 1]
