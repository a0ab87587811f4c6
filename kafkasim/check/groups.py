"""Consumer-group outcomes from a trace: rebalances, pauses, idle partitions, processing.

A *rebalance* runs from the coordinator's ``group.rebalance`` to the next ``group.stable``.
A member *pauses* while it is in the group but owns nothing because it gave everything up
(eager: every member, every rebalance); a partition is *idle* from the moment its owner
gives it up, loses it or dies, until a member is assigned it again. *Processed twice*:
one record processed more than once by the same group (at-least-once redelivery).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from kafkasim.check import index
from kafkasim.check import intervals as iv
from kafkasim.sim.trace import Trace

TP = tuple[str, int]


@dataclass
class _Episode:
    group: str
    start: int
    trigger: str
    from_generation: int
    end: int | None = None
    generation: int | None = None
    protocol: str | None = None
    members: dict[str, dict[str, Any]] = field(default_factory=dict)

    def member(self, name: str) -> dict[str, Any]:
        return self.members.setdefault(name, {"revoked": [], "assigned": [], "lost": [], "pause_ms": 0})


CORE = ("group.rebalance", "group.stable", "group.state", "member.assigned", "member.revoked", "member.lost",
        "app.crash", "app.close", "app.processed")  # read together, in trace order: each depends on the others


def analyse_groups(trace: Trace) -> dict[str, Any]:
    episodes: list[_Episode] = []
    open_ep: dict[str, _Episode] = {}
    last_ep: dict[str, _Episode] = {}  # group -> its latest episode
    owned: dict[str, set[TP]] = defaultdict(set)  # consumer -> partitions
    consumer_group: dict[str, str] = {}
    pause_start: dict[str, int] = {}
    idle_since: dict[tuple[str, TP], int] = {}
    idle: dict[str, list[int]] = defaultdict(list)
    processed: dict[str, dict[tuple[str, str, int], list]] = defaultdict(lambda: defaultdict(list))
    commit_failures: dict[str, int] = defaultdict(int)
    poll_timeouts: dict[str, int] = defaultdict(int)
    leaves: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    last_offset: dict[tuple[str, TP], int] = {}
    out_of_order: dict[str, int] = defaultdict(int)
    final_assignment: dict[str, dict[str, list]] = {}
    lag_max: dict[str, int] = defaultdict(int)
    dead_lettered: dict[str, int] = defaultdict(int)
    copies: set[str] = set()
    retried: dict[str, int] = defaultdict(int)

    def episode_at(group: str) -> _Episode | None:
        return open_ep.get(group) or last_ep.get(group)

    def give_up(consumer: str, parts: list[TP], t: int) -> None:
        g = consumer_group.get(consumer)
        for tp in parts:
            owned[consumer].discard(tp)
            if g is not None:
                idle_since.setdefault((g, tp), t)
        if not owned[consumer] and consumer not in pause_start:
            pause_start[consumer] = t

    for ev in trace.of(*CORE):
        k, d = ev.kind, ev.data
        if k == "group.rebalance":
            if d["group"] not in open_ep:
                ep = _Episode(d["group"], ev.t, d["trigger"], d["generation"])
                open_ep[d["group"]] = ep
                episodes.append(ep)
                last_ep[d["group"]] = ep
        elif k == "group.stable":
            ep = open_ep.pop(d["group"], None)
            if ep is not None:
                ep.end, ep.generation = ev.t, d["generation"]
            final_assignment[d["group"]] = d["members"]
        elif k == "group.state" and d["state"] == "Empty":
            ep = open_ep.pop(d["group"], None)
            if ep is not None:
                ep.end, ep.generation = ev.t, d["generation"]
            final_assignment[d["group"]] = {}
        elif k == "member.assigned":
            c, g = ev.node, d["group"]
            consumer_group[c] = g
            parts = {(t, p) for t, p in d["partitions"]}
            owned[c] = parts
            for tp in parts:
                s = idle_since.pop((g, tp), None)
                if s is not None:
                    idle[g].append(ev.t - s)
                last_offset.pop((c, tp), None)
            s = pause_start.pop(c, None)
            ep = episode_at(g)
            if ep is not None:
                m = ep.member(c)
                m["assigned"] = sorted(d["added"])
                ep.protocol = d.get("protocol", ep.protocol)
                if s is not None:
                    m["pause_ms"] += ev.t - s
        elif k in ("member.revoked", "member.lost"):
            c = ev.node
            consumer_group[c] = d["group"]
            parts = [(t, p) for t, p in d["partitions"]]
            ep = episode_at(d["group"])
            if ep is not None:
                ep.member(c)["revoked" if k == "member.revoked" else "lost"] += sorted(d["partitions"])
            give_up(c, parts, ev.t)
        elif k in ("app.crash", "app.close"):
            c = ev.node
            if c in consumer_group:
                give_up(c, sorted(owned[c]), ev.t)
                pause_start.pop(c, None)  # a dead or closed member is not "paused"
        elif k == "app.processed" and d.get("group"):
            g = d["group"]
            processed[g][(d["producer"], d["topic"], d["partition"])].append((d["rec"], d["rec"] + d["count"]))
            key = (ev.node, (d["topic"], d["partition"]))
            prev = last_offset.get(key)
            if prev is not None and d["offset"] < prev:
                out_of_order[g] += 1
            last_offset[key] = d["offset"] + d["count"]
    by_kind = trace.by_kind()
    for ev in by_kind.get("commit.fail", ()):
        commit_failures[ev.data["group"]] += 1
    for ev in by_kind.get("retry.forward", ()):
        d = ev.data
        if d.get("group"):
            copies.add(d["out_producer"])  # forwarded copies are the same logical records
            if d["dead_letter"]:
                dead_lettered[d["group"]] += 1
            else:
                retried[d["group"]] += 1
    for ev in by_kind.get("consumer.poll_timeout", ()):
        poll_timeouts[ev.data["group"]] += 1
    for ev in by_kind.get("member.leave", ()):
        leaves[ev.data["group"]][ev.data["reason"]] += 1
    for ev in by_kind.get("lag", ()):
        lag_max[ev.data["group"]] = max(lag_max[ev.data["group"]], ev.data["lag"])
    present = _present(trace)
    # a read_committed group never sees a record of an aborted (or still open) transaction: those
    # are not records it left unprocessed
    isolation: dict[str, set[str]] = defaultdict(set)
    for ev in by_kind.get("consume", ()):
        if ev.data.get("group"):
            isolation[ev.data["group"]].add(ev.data.get("isolation", "read_uncommitted"))
    hidden: dict[tuple[str, str, int], list] = defaultdict(list)  # (producer, topic, partition) -> records
    for (t, p), batches in index.visible(trace).items():
        for _off, n, prod, rec, state in batches:
            if prod and state != "visible":
                hidden[(prod, t, p)].append((rec, rec + n))

    end_t = trace.events[-1].t if trace.events else 0
    for (g, _tp), s in idle_since.items():
        idle[g].append(end_t - s)

    rebalances = []
    for ep in episodes:
        rebalances.append({
            "group": ep.group, "generation": ep.generation, "protocol": ep.protocol, "trigger": ep.trigger,
            "start_ms": ep.start, "end_ms": ep.end, "duration_ms": (ep.end - ep.start) if ep.end is not None else None,
            "members": {name: m for name, m in sorted(ep.members.items())},
        })
    groups: dict[str, Any] = {}
    names = sorted(set(consumer_group.values()) | set(processed) | {e.group for e in episodes})
    rebalances_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rebalances:
        rebalances_of[r["group"]].append(r)
    owned_topics: dict[str, set[str]] = defaultdict(set)  # group -> topics its consumers own at the end
    for c, gg in consumer_group.items():
        owned_topics[gg].update(t for t, _ in owned[c])
    stored: dict[str, list[tuple[tuple[str, str, int], list]]] = defaultdict(list)  # topic -> merged records
    for s, v in present.items():
        if s[0] not in copies:
            stored[s[1]].append((s, iv.merge(v)))
    for g in names:
        eps = rebalances_of.get(g, [])
        pauses = [m["pause_ms"] for r in eps for m in r["members"].values()]
        done = processed.get(g, {})
        topics = {t for (_p, t, _pp) in done} | owned_topics.get(g, set())
        total = sum(iv.total(v) for v in done.values())
        unique = sum(iv.total(iv.merge(v)) for v in done.values())
        skip = hidden if isolation.get(g) == {"read_committed"} else {}
        unprocessed = sum(iv.total(iv.subtract(v, iv.merge([*done.get(s, ()), *skip.get(s, ())])))
                          for t in topics for s, v in stored.get(t, ()))
        groups[g] = {
            "rebalances": len(eps),
            "total_rebalance_pause_ms": sum(pauses),
            "max_rebalance_pause_ms": max(pauses, default=0),
            "members_paused": len({name for r in eps for name, m in r["members"].items() if m["pause_ms"]}),
            "max_partition_idle_ms": max(idle.get(g, ()), default=0),
            "processed": total,
            "processed_unique": unique,
            "processed_twice": total - unique,
            "unprocessed": unprocessed,
            "commit_failures": commit_failures.get(g, 0),
            "poll_timeouts": poll_timeouts.get(g, 0),
            "session_timeouts": leaves[g].get("session_timeout", 0),
            "out_of_order": out_of_order.get(g, 0),
            "retried": retried.get(g, 0),
            "dead_lettered": dead_lettered.get(g, 0),
            "max_lag": lag_max.get(g, 0),
            "members_at_end": len(final_assignment.get(g, {})),
            "idle_members_at_end": sum(1 for parts in final_assignment.get(g, {}).values() if not parts),
        }
    assignments = {g: {m: [f"{t}-{p}" for t, p in parts] for m, parts in sorted(final_assignment.get(g, {}).items())}
                   for g in names}
    return {"rebalances": rebalances, "groups": groups, "assignments": assignments}


def _present(trace: Trace) -> dict[tuple[str, str, int], list]:
    """Per (producer, topic, partition): the records of its final logs, plus those retention
    deleted that had been acknowledged before the log ended (part of what was there)."""
    present: dict[tuple[str, str, int], list] = defaultdict(list)
    acks_at: dict[TP, list[tuple[str, int, int, int]]] = defaultdict(list)
    for ev in trace.of("produce.ack", "log.final"):
        d = ev.data
        if ev.kind == "log.final":
            for _off, n, prod, rec, *_ in d["batches"]:
                if prod:
                    present[(prod, d["topic"], d["partition"])].append((rec, rec + n))
            for prod, rec, n, off in acks_at.get((d["topic"], d["partition"]), ()):
                k_ = min(n, max(0, d["log_start"] - off))  # deleted by retention: part of what was there
                if k_:
                    present[(prod, d["topic"], d["partition"])].append((rec, rec + k_))
        elif d["offset"] >= 0 and not d.get("transactional"):
            acks_at[(d["topic"], d["partition"])].append((d["producer"], d["rec"], d["count"], d["offset"]))
    return present


def totals(groups: dict[str, Any]) -> dict[str, int]:
    """Aggregates over every group, for expectations that do not name a group."""
    def agg(key: str, fn: Any = sum) -> int:
        return fn((s[key] for s in groups.values()), default=0) if fn is max else fn(s[key] for s in groups.values())

    return {
        "rebalances": agg("rebalances"),
        "total_rebalance_pause_ms": agg("total_rebalance_pause_ms"),
        "max_rebalance_pause_ms": agg("max_rebalance_pause_ms", max),
        "members_paused": agg("members_paused"),
        "max_partition_idle_ms": agg("max_partition_idle_ms", max),
        "processed": agg("processed"),
        "processed_twice": agg("processed_twice"),
        "unprocessed": agg("unprocessed"),
        "commit_failures": agg("commit_failures"),
        "poll_timeouts": agg("poll_timeouts"),
        "session_timeouts": agg("session_timeouts"),
        "out_of_order": agg("out_of_order"),
        "dead_lettered": agg("dead_lettered"),
        "idle_members_at_end": agg("idle_members_at_end"),
    }
