"""Scenario expectations: ``stat OP value`` predicates over a run's result.

A scenario's ``expect:`` block states what Kafka guarantees (or does not) for its setup,
e.g. ``lost_acknowledged: ">0"``, ``duplicates: 0``, ``consumed_unique: "== acknowledged"``.
"""

from __future__ import annotations

import operator
from typing import Any

from kafkasim.scenario.model import Expectation

#: Result names an expectation can use; dotted forms look inside (``errors.NOT_ENOUGH_REPLICAS``).
KNOWN_STATS: dict[str, str] = {
    "sent": "records passed to produce()",
    "acknowledged": "records the producer saw succeed (acks=0: sent)",
    "failed": "records whose final delivery report was an error",
    "lost_acknowledged": "acknowledged records absent from the final log",
    "duplicates": "extra copies of records in the final log",
    "consumed": "records returned to consumers (with repeats)",
    "consumed_unique": "distinct records returned to consumers",
    "lost_consumed": "lost records that a consumer had read",
    "offsets_reused": "lost records whose offsets now hold other records",
    "unconfirmed": "acknowledged records still above the high watermark at the end",
    "unavailable": "acknowledged records in partitions offline at the end",
    "in_flight": "records neither acknowledged nor failed at the end",
    "failed_present": "records reported failed that are in the final log anyway (a timeout is not 'not written')",
    "failed_by_error": "failed records by final error (e.g. failed_by_error._MSG_TIMED_OUT)",
    "errors": "records by attempt error, retried or not (e.g. errors.NOT_ENOUGH_REPLICAS)",
    "leader_changes": "leader elections after the initial ones",
    "unclean_elections": "elections of a replica outside the ISR",
    "isr_changes": "ISR shrinks and expansions",
    "offline_partitions": "partitions without a leader at the end",
    "anomalies": "number of anomalies found",
    "groups": "per group: groups.<group.id>.<stat> with any of the group stats below",
    "pipelines": ("per pipeline: pipelines.<name>.<stat>, stat one of records_in, records_out, lost, "
                  "duplicated, duplicated_uncommitted, unprocessed, sink_duplicates_ignored"),
    "aborted": "records of transactions that were aborted",
    "unseen": "committed records of a topic consumers read that no consumer ever returned (Jepsen: allowed while they lag)",
    "expired": "acknowledged records deleted by retention (below the final log start offset)",
    "txn_timeouts": "transactions the coordinator aborted after transaction.timeout.ms",
    "producers_fenced": "producers that learned they were fenced (zombies: PRODUCER_FENCED)",
    "matrix": "with modes: — matrix.<mode>.<stat>: records_in, records_out, lost, duplicated, duplicated_uncommitted",
    "rebalances": "rebalances (coordinator: PreparingRebalance until Stable), all groups",
    "max_rebalance_pause_ms": "longest time a member owned nothing because it had revoked everything",
    "total_rebalance_pause_ms": "sum of those pauses",
    "members_paused": "members that had to stop (own nothing) during some rebalance",
    "max_partition_idle_ms": "longest time a partition had no live owner (revoked, lost or owner dead)",
    "processed": "records processed by consumer applications (with repeats)",
    "processed_twice": "extra processings of a record within one group (at-least-once redelivery)",
    "unprocessed": "records in the final log that a group never processed",
    "commit_failures": "offset commits that failed (e.g. CommitFailedException after eviction)",
    "poll_timeouts": "consumers that exceeded max.poll.interval.ms",
    "session_timeouts": "members removed by the coordinator after session.timeout.ms",
    "out_of_order": "records a member processed below an offset it had already passed on that partition",
    "dead_lettered": "records a group published to its dead-letter topic",
    "idle_members_at_end": "members with no partition in the final assignment",
}

_OPS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
        ">=": operator.ge}


def lookup(result: dict[str, Any], name: str) -> Any:
    """The value of a result name (see :data:`KNOWN_STATS`); dotted names look inside."""
    if "matrix" in result:  # a modes: run: matrix.<mode>.<stat>
        parts = name.split(".")
        rows = {r["mode"]: r for r in result["matrix"]}
        if parts[0] == "matrix" and len(parts) == 3:
            return rows.get(parts[1], {}).get(parts[2], 0)
        return 0
    flat = {**result["stats"]["delivery"], **{k: v for k, v in result["stats"]["cluster"].items()
                                             if k != "partitions"}, **result["stats"].get("groups", {})}
    flat["anomalies"] = len(result["anomalies"])
    flat["groups"] = result.get("groups", {})
    flat["pipelines"] = result.get("pipelines", {})
    parts = name.split(".")
    if parts[0] in ("groups", "pipelines") and len(parts) > 2:  # groups.<id>.<stat>; ids may contain dots
        gid, stat = ".".join(parts[1:-1]), parts[-1]
        return flat[parts[0]].get(gid, {}).get(stat, 0)
    value: Any = flat.get(parts[0], 0)
    for p in parts[1:]:
        value = value.get(p, 0) if isinstance(value, dict) else 0
    return value


def value_of(result: dict[str, Any], expr: str) -> Any:
    """A sum/difference of result names and numbers: ``acknowledged - lost_acknowledged``."""
    import re

    total: float = 0
    for sign, term in re.findall(r"(?:^|\s)([-+]?)\s*([A-Za-z_][\w.-]*|\d+(?:\.\d+)?)", expr):
        v = float(term) if term[0].isdigit() else lookup(result, term)
        total += -v if sign == "-" else v
    return int(total) if float(total).is_integer() else total


def evaluate(expectations: tuple[Expectation, ...], result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for e in expectations:
        actual = lookup(result, e.stat)
        target = value_of(result, e.value) if isinstance(e.value, str) else e.value
        ok = bool(_OPS[e.op](actual, target))
        out.append({"name": e.stat, "expected": e.text, "actual": actual, "target": target, "ok": ok})
    return out
