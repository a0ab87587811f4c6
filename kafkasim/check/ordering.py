"""Jepsen's ordering anomalies and the group rules, from the trace only.

* nonmonotonic-poll: a consumer returned an offset below one it had already passed on the
  same partition, with no seek, reset or reassignment in between;
* poll-skip: a consumer jumped over offsets that hold records it should have seen (visible
  for its isolation level), with no seek, reset or reassignment in between;
* nonmonotonic-send: a producer's records landed in a partition out of the order they were
  sent (retries with max.in.flight > 1 and no idempotence);
* double-assignment: one partition in two members' assignments in the same generation;
* double-ownership: a member was given a partition while another current member of the
  group still owned it (cooperative rebalancing must revoke first);
* zombie-write: a producer told it was fenced still got records into the committed log.

:func:`analyse_keys` counts the per-key rules as stats (keys split over partitions, records
of a key stored or processed out of send order).

Kafka: Jepsen's kafka checker (jepsen.tests.kafka), KIP-429, KIP-98.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from kafkasim.check import index
from kafkasim.check import intervals as iv
from kafkasim.check.index import PartitionFinal, Visible, final_of, visible_batches
from kafkasim.sim.trace import Trace

TP = tuple[str, int]
RESETS = ("member.assigned", "member.revoked", "member.lost", "app.crash", "app.restart", "client.crash")


def analyse_ordering(trace: Trace) -> list[dict[str, Any]]:
    anomalies: list[dict[str, Any]] = []
    finals, batches = index.finals(trace), index.visible(trace)
    visible: dict[TP, list[tuple[int, int]]] = {}
    for tp in finals:
        visible[tp] = [(off, off + n) for off, n, prod, _rec, state in batches[tp] if prod and state == "visible"]
    anomalies += _polls(trace, visible)
    anomalies += _sends(finals, batches, index.appended(trace))
    anomalies += _ownership(trace)
    anomalies += _zombies(trace, finals, batches)
    return anomalies


def _polls(trace: Trace, visible: dict[TP, list[tuple[int, int]]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    last: dict[str, dict[TP, tuple[int, int]]] = defaultdict(dict)  # consumer -> tp -> (next offset, seq)
    for ev in trace.of("consumer.seek", "consumer.assign", *RESETS, "consume"):
        k, d = ev.kind, ev.data
        if k in ("consumer.seek", "consumer.assign"):
            if k == "consumer.assign":
                last.pop(ev.node, None)
            elif ev.node in last:
                last[ev.node].pop((d.get("topic"), d.get("partition")), None)
        elif k != "consume":
            last.pop(ev.node, None)
        else:
            tp = (d["topic"], d["partition"])
            mine = last[d["consumer"]]
            prev = mine.get(tp)
            off, n = d["offset"], d["count"]
            if prev is not None:
                expected, seq = prev
                if off < expected:
                    out.append({"kind": "nonmonotonic-poll", "consumer": d["consumer"], "topic": tp[0],
                                "partition": tp[1], "offset": off, "expected": expected, "events": [seq, ev.seq],
                                "explanation": f"{d['consumer']} returned offset {off} of {tp[0]}-{tp[1]} after "
                                               f"it had reached {expected}, without a seek or reassignment"})
                elif off > expected:
                    missed = sum(max(0, min(hi, off) - max(lo, expected)) for lo, hi in visible.get(tp, ()))
                    if missed:
                        out.append({"kind": "poll-skip", "consumer": d["consumer"], "topic": tp[0], "partition": tp[1],
                                    "from": expected, "to": off, "count": missed, "events": [seq, ev.seq],
                                    "explanation": f"{d['consumer']} jumped from offset {expected} to {off} of "
                                                   f"{tp[0]}-{tp[1]}, skipping {missed} committed record(s)"})
            mine[tp] = (off + n, ev.seq)
    return out


def _sends(finals: dict[TP, PartitionFinal], batches: dict[TP, list[Visible]],
           appended: dict[tuple[str, int, int], int]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tp, _f in sorted(finals.items()):
        high: dict[str, int] = {}
        high_at: dict[str, int] = {}
        seen: dict[str, list[tuple[int, int]]] = defaultdict(list)  # per producer: merged records so far
        for off, n, prod, rec, state in batches[tp]:
            if not prod or state != "visible":
                continue
            before = seen[prod]
            if rec + n <= high.get(prod, -1) and rec < high.get(prod, -1) and iv.total(
                    iv.clip(before, rec, rec + n)) < n:  # a second copy is a duplicate, not a reordering
                events = [e for e in (appended.get((tp[0], tp[1], high_at[prod])),
                                      appended.get((tp[0], tp[1], off))) if e is not None]
                out.append({"kind": "nonmonotonic-send", "producer": prod, "topic": tp[0], "partition": tp[1],
                            "offset": off, "records": [[rec, rec + n - 1]], "events": events,
                            "explanation": f"records {rec}..{rec + n - 1} of {prod} landed at offset {off} of "
                                           f"{tp[0]}-{tp[1]}, after records it sent later (a retried batch "
                                           "overtaken by the next one: max.in.flight > 1 without idempotence)"})
            iv.add(before, rec, rec + n)
            if rec + n - 1 > high.get(prod, -1):
                high[prod] = rec + n - 1
                high_at[prod] = off
    return out


def _ownership(trace: Trace) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    by_generation: dict[tuple[str, int], dict[TP, str]] = defaultdict(dict)
    owner: dict[tuple[str, TP], tuple[str, int]] = {}  # (group, tp) -> (consumer, seq)
    held_by: dict[str, set[tuple[str, TP]]] = defaultdict(set)  # consumer -> the owner keys it holds
    members: dict[str, set[str]] = defaultdict(set)  # group -> consumers currently in it
    member_consumer: dict[str, str] = {}
    for ev in trace.of("member.assigned", "member.revoked", "member.lost", "member.leave", "app.crash", "app.close",
                       "app.fatal"):
        k, d = ev.kind, ev.data
        if k == "member.assigned":
            g, c = d["group"], ev.node
            members[g].add(c)
            member_consumer[d["member"]] = c
            gen = by_generation[(g, d["generation"])]
            for t, p in d["partitions"]:
                tp = (t, p)
                if tp in gen and gen[tp] != c:
                    out.append({"kind": "double-assignment", "group": g, "generation": d["generation"],
                                "topic": t, "partition": p, "members": [gen[tp], c], "events": [ev.seq],
                                "explanation": f"{t}-{p} was assigned to both {gen[tp]} and {c} in generation "
                                               f"{d['generation']} of group {g}"})
                gen[tp] = c
                held = owner.get((g, tp))
                if held is not None and held[0] != c and held[0] in members[g]:
                    out.append({"kind": "double-ownership", "group": g, "topic": t, "partition": p,
                                "members": [held[0], c], "events": [held[1], ev.seq],
                                "explanation": f"{c} was given {t}-{p} while {held[0]} still owned it (the old "
                                               "owner must revoke before the new one is assigned)"})
                if held is not None:
                    held_by[held[0]].discard((g, tp))
                owner[(g, tp)] = (c, ev.seq)
                held_by[c].add((g, tp))
        elif k in ("member.revoked", "member.lost"):
            for t, p in d["partitions"]:
                if owner.get((d["group"], (t, p)), ("",))[0] == ev.node:
                    del owner[(d["group"], (t, p))]
                    held_by[ev.node].discard((d["group"], (t, p)))
        elif k == "member.leave":
            c = d.get("client") or member_consumer.get(d["member"])
            if c is not None:
                members[d["group"]].discard(c)
        elif k in ("app.crash", "app.close", "app.fatal"):
            for g in members:
                members[g].discard(ev.node)
            for key in held_by.pop(ev.node, ()):
                del owner[key]
    return out


def _zombies(trace: Trace, finals: dict[TP, PartitionFinal], batches: dict[TP, list[Visible]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    fenced_at: dict[str, tuple[int, int]] = {}
    for ev in trace.of("txn.fenced"):
        fenced_at.setdefault(ev.data["producer"], (ev.t, ev.seq))
    if not fenced_at:
        return out
    late: dict[tuple[str, str, int], list[tuple[int, int, int]]] = defaultdict(list)
    for ev in trace.of("log.append"):
        d = ev.data
        f = fenced_at.get(d["producer"])
        if f is not None and ev.t > f[0]:
            late[(d["producer"], d["topic"], d["partition"])].append((d["offset"], d["count"], ev.seq))
    for (prod, t, p), appends in sorted(late.items()):
        f = finals.get((t, p))
        if f is None:
            continue
        vis = {off for off, _n, pr, _r, state in batches[(t, p)] if pr == prod and state == "visible"}
        bad = [(off, n, seq) for off, n, seq in appends if off in vis]
        if bad:
            out.append({"kind": "zombie-write", "producer": prod, "topic": t, "partition": p,
                        "count": sum(n for _o, n, _s in bad), "events": [fenced_at[prod][1], bad[0][2]],
                        "explanation": f"{prod} was fenced but later appended records to {t}-{p} that committed"})
    return out


def analyse_keys(trace: Trace) -> dict[str, Any]:
    """Per-key ordering stats from the final logs' keys (``log.final`` ``keys``) and processing.

    Kafka orders records within a partition only; the default partitioner sends every record
    of a key to ``toPositive(murmur2(key)) % partitions``, so a key's records keep their send
    order as long as the partition count stays the same and retries cannot reorder batches.

    * ``keys_on_many_partitions``: keys (per topic) with records stored in more than one partition;
    * ``key_order_violations``: records whose first copy in a final log is stored after a record
      of the same key that the same producer sent later (re-appended copies are ``duplicates``);
    * ``groups[g]``: records group ``g`` processed for the first time after it had processed a
      later-sent record of the same key (repeats after a redelivery are ``processed_twice``).

    Send order is a producer's order within a partition (``rec``), so order is judged per
    partition; null keys have no key order. Kafka: ``BuiltInPartitioner.partitionForKey``.
    """
    key_of: dict[tuple[str, str, int, int], str] = {}
    partitions_of: dict[tuple[str, str], set[int]] = defaultdict(set)
    stored = 0
    finals, batches = index.finals(trace), index.visible(trace)
    for ev in trace.of("log.final"):
        d = ev.data
        keys = d.get("keys") or []
        if not any(k is not None for k in keys):
            continue
        by_base = {b[0]: k for b, k in zip(d["batches"], keys, strict=False) if k is not None}
        high: dict[tuple[str, str], int] = {}
        seen: set[tuple[str, int]] = set()
        tp = (d["topic"], d["partition"])
        shown = batches[tp] if finals[tp].batches is d["batches"] else visible_batches(final_of(d))
        for off, n, prod, rec, state in shown:
            ks = by_base.get(off)
            if not prod or ks is None:
                continue
            for i in range(n):
                k = ks[i]
                if k is None:
                    continue
                key_of[(prod, d["topic"], d["partition"], rec + i)] = k
                if state != "visible" or (prod, rec + i) in seen:
                    continue
                seen.add((prod, rec + i))
                partitions_of[(d["topic"], k)].add(d["partition"])
                if rec + i < high.get((prod, k), -1):
                    stored += 1
                else:
                    high[(prod, k)] = rec + i
    processed: dict[str, int] = {}
    if key_of:
        done: set[tuple[str, str, str, int, int]] = set()
        top: dict[tuple[str, str, str, int, str], int] = {}
        for ev in trace.of("app.processed"):
            d = ev.data
            g = d.get("group")
            if not g:
                continue
            processed.setdefault(g, 0)
            prod, t, p = d["producer"], d["topic"], d["partition"]
            for r in range(d["rec"], d["rec"] + d["count"]):
                k = key_of.get((prod, t, p, r))
                if k is None or (g, prod, t, p, r) in done:
                    continue
                done.add((g, prod, t, p, r))
                hk = (g, prod, t, p, k)
                if r < top.get(hk, -1):
                    processed[g] += 1
                else:
                    top[hk] = r
    return {"keys_on_many_partitions": sum(1 for ps in partitions_of.values() if len(ps) > 1),
            "key_order_violations": stored, "groups": processed}
