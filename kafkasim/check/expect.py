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
    "keys_on_many_partitions": "keys (per topic) whose records are stored in more than one partition",
    "key_order_violations": ("records stored after a record of the same key that their producer sent later; "
                             "per group: processed for the first time after such a record"),
    "groups": ("per group: groups.<group.id>.<stat> with any of the group stats below, or max_end_to_end_ms "
               "(largest time from a record's timestamp to a poll() returning it) and correlation_ids "
               "(distinct correlation_id headers returned)"),
    "pipelines": ("per pipeline: pipelines.<name>.<stat>, stat one of records_in, records_out, lost, "
                  "duplicated, duplicated_uncommitted, unprocessed, sink_duplicates_ignored, correlated "
                  "(outputs a reader saw carrying their input's correlation_id header), uncorrelated"),
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
    "unprocessed": "records in the final log that a group never processed (for a read_committed group: of those it can read, not aborted or open transactions)",
    "commit_failures": "offset commits that failed (e.g. CommitFailedException after eviction)",
    "poll_timeouts": "times a consumer exceeded max.poll.interval.ms (each time it leaves its group)",
    "session_timeouts": "members removed by the coordinator after session.timeout.ms",
    "out_of_order": "records a member processed below an offset it had already passed on that partition",
    "dead_lettered": "records a group published to its dead-letter topic",
    "idle_members_at_end": "members with no partition in the final assignment",
    "batches": "record batches producers built and sent (first sends; a retry is not a new batch)",
    "records_per_batch": "mean records per batch sent (linger.ms and batch.size make it grow)",
    "bytes_uncompressed": "bytes of the batches sent, before compression (61-byte header + records)",
    "bytes_sent": "bytes of the batches sent, after the producer's compression.type (on the wire)",
    "compression_rate": "bytes_sent / bytes_uncompressed (Kafka's compression-rate: lower is better; 1: none)",
    "bytes_stored": "bytes in the final leader logs, as stored (compressed): what disk and retention.bytes count",
    "producers": ("per producer: producers.<name>.<stat>, stat one of batches, records_per_batch, "
                  "bytes_uncompressed, bytes_sent, compression_rate"),
    "topics": "per topic: topics.<topic>.bytes_stored (its partitions' final leader logs)",
}

#: The stats of one group / pipeline / producer / topic, for ``groups.<id>.<stat>`` and the like
#: (the loader refuses any other; tests/check/test_expect.py checks them against real results).
ENTITY_STATS: dict[str, tuple[str, ...]] = {
    "groups": ("commit_failures", "correlation_ids", "dead_lettered", "idle_members_at_end", "key_order_violations",
               "max_end_to_end_ms", "max_lag", "max_partition_idle_ms", "max_rebalance_pause_ms", "members_at_end",
               "members_paused", "out_of_order", "poll_timeouts", "processed", "processed_twice", "processed_unique",
               "rebalances", "retried", "session_timeouts", "total_rebalance_pause_ms", "unprocessed"),
    "pipelines": ("correlated", "duplicated", "duplicated_uncommitted", "lost", "records_in", "records_out",
                  "sink_duplicates_ignored", "uncorrelated", "unprocessed"),
    "producers": ("batches", "bytes_sent", "bytes_uncompressed", "compression_rate", "records_per_batch"),
    "topics": ("bytes_stored",),
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
    flat["producers"] = result.get("producers", {})
    flat["topics"] = result.get("topics", {})
    parts = name.split(".")
    if parts[0] in ("groups", "pipelines", "producers", "topics") and len(parts) > 2:  # groups.<id>.<stat>; ids may contain dots
        gid, stat = ".".join(parts[1:-1]), parts[-1]
        if gid not in flat[parts[0]]:
            return None  # no such group / pipeline / producer / topic in this run: never a silent 0
        return flat[parts[0]][gid].get(stat, 0)
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
        if v is None:
            return None
        total += -v if sign == "-" else v
    return int(total) if float(total).is_integer() else total


def evaluate(expectations: tuple[Expectation, ...], result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for e in expectations:
        actual = lookup(result, e.stat)
        target = value_of(result, e.value) if isinstance(e.value, str) else e.value
        ok = actual is not None and target is not None and bool(_OPS[e.op](actual, target))
        row = {"name": e.stat, "expected": e.text, "actual": actual, "target": target, "ok": ok}
        missing = [n for n in (e.stat, *(_names(e.value) if isinstance(e.value, str) else ())) if lookup(result, n) is None]
        if missing:
            row["problem"] = f"{missing[0]}: no such {missing[0].split('.')[0][:-1]} in this run"
        out.append(row)
    return out


def _names(expr: str) -> list[str]:
    import re

    return re.findall(r"[A-Za-z_][\w.-]*", expr)
