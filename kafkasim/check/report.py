"""The result of a run, built from its trace: the JSON document and the human report.

Kept names (other tools depend on them): ``schema_version``, ``kafkasim_version``,
``scenario``, ``seed``, ``valid``, ``stats.delivery.{sent, acknowledged, failed,
lost_acknowledged, duplicates, consumed}``, ``anomalies`` (objects with a ``kind``),
``expectations`` (a list).
"""

from __future__ import annotations

import re
from typing import Any

from kafkasim._version import __version__
from kafkasim.check.batches import analyse_batches
from kafkasim.check.delivery import analyse
from kafkasim.check.expect import evaluate
from kafkasim.check.groups import analyse_groups, totals
from kafkasim.check.metadata import analyse_metadata, merge_metadata
from kafkasim.check.ordering import analyse_keys, analyse_ordering
from kafkasim.check.pipeline import analyse_pipelines
from kafkasim.sim.trace import SCHEMA_VERSION, Trace

RESULT_SCHEMA_VERSION = 1


def build_result(trace: Trace, expectations: tuple = (), scenario: Any = None) -> dict[str, Any]:
    rep = analyse(trace)
    grp = analyse_groups(trace)
    pipes = analyse_pipelines(trace)
    merge_metadata(analyse_metadata(trace), grp["groups"], pipes)
    rep.anomalies.extend(analyse_ordering(trace))
    keyed = analyse_keys(trace)
    rep.stats["keys_on_many_partitions"] = keyed["keys_on_many_partitions"]
    rep.stats["key_order_violations"] = keyed["key_order_violations"]
    for g, st in grp["groups"].items():
        st["key_order_violations"] = keyed["groups"].get(g, 0)
    batching = analyse_batches(trace)
    rep.stats.update(batching["totals"])  # batches, records_per_batch, bytes_*, compression_rate
    if rep.anomalies:
        rep.valid = False
    end = trace.events[-1].t if trace.events else 0
    result: dict[str, Any] = {
        "schema_version": RESULT_SCHEMA_VERSION,
        "trace_schema_version": SCHEMA_VERSION,
        "kafkasim_version": __version__,
        "scenario": trace.scenario,
        "file": getattr(scenario, "file", None),
        "description": getattr(scenario, "description", ""),
        "seed": trace.seed,
        "duration_ms": end,
        "valid": rep.valid,
        "stats": {"delivery": rep.stats, "cluster": rep.cluster, "groups": totals(grp["groups"])},
        "groups": grp["groups"],
        "rebalances": grp["rebalances"],
        "assignments": grp["assignments"],
        "pipelines": pipes,
        "producers": batching["producers"],
        "topics": batching["topics"],
        "anomalies": rep.anomalies,
        "expectations": [],
    }
    result["expectations"] = evaluate(expectations, result)
    return result


def build_matrix_result(results: dict[str, dict[str, Any]], expectations: tuple = (),
                        scenario: Any = None) -> dict[str, Any]:
    """One document for a ``modes:`` run: a row per delivery mode, and each mode's full result."""
    rows = []
    for mode, res in results.items():
        pipes = res.get("pipelines", {}).values()
        row = {"mode": mode}
        for key in ("records_in", "records_out", "lost", "duplicated", "duplicated_uncommitted", "unprocessed"):
            row[key] = sum(p[key] for p in pipes)
        rows.append(row)
    first = next(iter(results.values()), {})
    doc: dict[str, Any] = {
        "schema_version": RESULT_SCHEMA_VERSION,
        "kafkasim_version": __version__,
        "scenario": first.get("scenario"),
        "file": getattr(scenario, "file", None),
        "description": getattr(scenario, "description", ""),
        "seed": first.get("seed"),
        "valid": all(r["valid"] is not False for r in results.values()),
        "matrix": rows,
        "runs": results,
        "anomalies": [dict(a, mode=m) for m, r in results.items() for a in r["anomalies"]],
        "expectations": [],
    }
    doc["expectations"] = evaluate(expectations, doc)
    return doc


def render_matrix(doc: dict[str, Any]) -> str:
    """The at-most-once / at-least-once / exactly-once comparison as a table."""
    lines = [f"scenario {doc['scenario']}  (seed {doc['seed']}): the same workload and crash in each mode", ""]
    if doc.get("description"):
        lines.extend(f"  {line}".rstrip() for line in doc["description"].strip().splitlines())
        lines.append("")
    head = f"  {'mode':<16} {'records in':>10} {'records out':>11} {'lost':>6} {'duplicated':>10} {'dup (uncommitted)':>17}"
    lines.append(head)
    lines.append("  " + "-" * (len(head) - 2))
    for r in doc["matrix"]:
        lines.append(f"  {r['mode']:<16} {r['records_in']:>10} {r['records_out']:>11} {r['lost']:>6} "
                     f"{r['duplicated']:>10} {r['duplicated_uncommitted']:>17}")
    lines.append("")
    lines.append("  records out and duplicates as a read_committed reader of the output sees them; "
                 "for idempotent-sink, writes to the external store")
    if doc["expectations"]:
        lines.append("")
        lines.append("expectations")
        for e in doc["expectations"]:
            lines.append(f"  {'ok  ' if e['ok'] else 'FAIL'} {e['name']} {e['expected']}  ({_actual(e)})")
    return "\n".join(lines)


def passed(result: dict[str, Any]) -> bool:
    """Exit status 0 or 1: every expectation held; with none stated, no anomaly was found."""
    if result["expectations"]:
        return all(e["ok"] for e in result["expectations"])
    return result["valid"] is not False


_UUID = re.compile(r"-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def _actual(e: dict[str, Any]) -> str:
    return e["problem"] if e.get("problem") else f"actual {e['actual']}"


def member_name(member_id: str) -> str:
    """A member id without the coordinator's UUID suffix (KIP-394: ``client.id-UUID``)."""
    return _UUID.sub("", member_id)


def render(result: dict[str, Any]) -> str:
    """A compact, readable report for people."""
    d = result["stats"]["delivery"]
    c = result["stats"]["cluster"]
    lines = [f"scenario {result['scenario']}  (seed {result['seed']}, {result['duration_ms'] / 1000:g} s simulated)"]
    if result.get("description"):
        lines.extend(f"  {line}".rstrip() for line in result["description"].strip().splitlines())
    lines.append("")
    lines.append("delivery")
    rows = [
        ("sent", d["sent"], "records passed to produce()"),
        ("acknowledged", d["acknowledged"], "the producer saw them succeed"),
        ("failed", d["failed"], ", ".join(f"{k} {v}" for k, v in d["failed_by_error"].items())),
        ("lost_acknowledged", d["lost_acknowledged"], "acknowledged, then gone from the log"),
        ("duplicates", d["duplicates"], "extra copies in the log"),
        ("consumed", d["consumed"], f"{d['consumed_unique']} distinct"),
    ]
    for extra in ("unconfirmed", "unavailable", "in_flight", "failed_present", "offsets_reused", "lost_consumed",
                  "expired", "aborted", "keys_on_many_partitions", "key_order_violations"):
        if d.get(extra):
            rows.append((extra, d[extra], ""))
    for name, value, note in rows:
        lines.append(f"  {name:<18} {value:>{max(1, 27 - max(18, len(name)))}}  {note}".rstrip())  # values right-aligned
    if d["errors"]:
        lines.append("  attempt errors     " + ", ".join(f"{k} x{v}" for k, v in d["errors"].items()))
    lines.append("")
    lines.append(f"cluster  leader changes {c['leader_changes']}, unclean elections {c['unclean_elections']}, "
                 f"ISR changes {c['isr_changes']}, offline partitions {c['offline_partitions']}")
    parts = c["partitions"]
    for p in parts[:12]:
        leader = "OFFLINE" if p["offline"] else f"broker-{p['leader']}"
        lines.append(f"  {p['topic']}-{p['partition']:<3} leader {leader:<9} epoch {p['leader_epoch']:<3} "
                     f"isr {p['isr']}  hw {p['hw']}  leo {p['leo']}")
    if len(parts) > 12:
        lines.append(f"  ... {len(parts) - 12} more partitions (see --json)")
    if result.get("groups"):
        lines.append("")
        lines.append("groups")
        for g, st in result["groups"].items():
            lines.append(f"  {g}: {st['rebalances']} rebalance(s), max pause {st['max_rebalance_pause_ms']} ms, "
                         f"max idle partition {st['max_partition_idle_ms']} ms; processed {st['processed']} "
                         f"({st['processed_twice']} twice, {st['unprocessed']} never); commit failures "
                         f"{st['commit_failures']}, max lag {st['max_lag']}"
                         + (f", {st['key_order_violations']} out of key order" if st.get("key_order_violations")
                            else ""))
            owners = result.get("assignments", {}).get(g, {})
            if owners:
                shown = [f"{member_name(m)} {' '.join(ps) if ps else '(idle)'}" for m, ps in list(owners.items())[:8]]
                more = f" | ... {len(owners) - 8} more" if len(owners) > 8 else ""
                lines.append(f"    final assignment: {' | '.join(shown)}{more}")
        for r in result["rebalances"][:12]:
            end = f"{r['end_ms'] / 1000:.3f}s" if r["end_ms"] is not None else "unfinished"
            paused = {m: v["pause_ms"] for m, v in r["members"].items() if v["pause_ms"]}
            lines.append(f"    {r['group']} gen {r['generation']} {r['protocol'] or ''} {r['start_ms'] / 1000:.3f}s"
                         f"-{end}: {_UUID.sub('', r['trigger'])}" + (f"; paused {paused}" if paused else ""))
    if result.get("pipelines"):
        lines.append("")
        lines.append("pipelines (as a read_committed reader of the output sees them)")
        for name, st in result["pipelines"].items():
            lines.append(f"  {name}: in {st['records_in']}, out {st['records_out']}, lost {st['lost']}, "
                         f"duplicated {st['duplicated']} (read_uncommitted: {st['duplicated_uncommitted']}), "
                         f"not reached {st['unprocessed']}")
    producers = result.get("producers", {})
    if any(st["compression_rate"] < 1 for st in producers.values()):  # some producer compressed
        lines.append("")
        lines.append("batches (first sends; bytes before -> after the producer's compression.type)")
        width = max(len(n) for n in producers)
        for name, st in producers.items():
            lines.append(f"  {name:<{width}} {st['batches']:>6} batches x {st['records_per_batch']:>7.2f} records  "
                         f"{st['bytes_uncompressed']:>9} -> {st['bytes_sent']:>9} B  "
                         f"compression rate {st['compression_rate']:.3f}")
        lines.append("  stored in the final leader logs (compressed as the topic keeps them):")
        topics = result.get("topics", {})
        for t, st in topics.items():
            lines.append(f"    {t:<{max(len(n) for n in topics)}} {st['bytes_stored']:>9} B")
    if result["anomalies"]:
        lines.append("")
        lines.append("anomalies")
        for a in result["anomalies"][:20]:
            where = f"{a['topic']}-{a['partition']}" if "topic" in a else ""
            lines.append(f"  {a['kind']:<17} {where}  {a['explanation']}")
    if result["expectations"]:
        lines.append("")
        lines.append("expectations")
        for e in result["expectations"]:
            mark = "ok  " if e["ok"] else "FAIL"
            lines.append(f"  {mark} {e['name']} {e['expected']}  ({_actual(e)})")
    lines.append("")
    verdict = {True: "valid", False: "anomalies found", "unknown": "unknown (records in flight or unavailable)"}
    lines.append(f"verdict: {verdict[result['valid']]}; "
                 + ("every expectation held" if result["expectations"] and passed(result)
                    else "an expectation FAILED" if result["expectations"] else "no expectations stated"))
    return "\n".join(lines)
