"""Message metadata from the trace: record timestamps and correlation ids as consumers saw them.

*End-to-end latency* of a record is the time a consumer returned it to the application minus
the record's timestamp (``consume`` events carry the oldest timestamp of the records they
return, so the largest latency among them). With ``message.timestamp.type=CreateTime`` that
timestamp is the producer's (the time of ``send()``), so the latency includes linger.ms,
retries and everything else before the append; with ``LogAppendTime`` it is the leader's
append time, so it measures only replication and fetching (KIP-32).

*Correlation ids*: a record's ``correlation_id`` header (KIP-82 headers). ``consume`` events
carry them when records have one. A pipeline output is *correlated* when a reader saw it
carrying the same correlation id as the input record it was made from (``pipeline.output``
maps outputs to inputs): what lets a downstream service join its input to its output.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from kafkasim.check.pipeline import _base
from kafkasim.sim.trace import Trace

Rec = tuple[str, str, int, int]  # producer, topic, partition, rec


def analyse_metadata(trace: Trace) -> dict[str, dict[str, dict[str, int]]]:
    """Per group: ``max_end_to_end_ms``, ``correlation_ids`` (distinct ids returned to it);
    per pipeline: ``correlated`` and ``uncorrelated`` output records seen by any reader."""
    e2e: dict[str, int] = {}
    ids_seen: dict[str, set[str]] = defaultdict(set)
    id_of: dict[Rec, str | None] = {}
    outputs: dict[Rec, tuple[Rec, str]] = {}  # output record -> (its input record, pipeline)
    out_topics: set[str] = set()
    seen: set[Rec] = set()  # output records some reader was returned
    for ev in trace.of("consume", "pipeline.output"):  # in trace order: an output is read after it is written
        k, d = ev.kind, ev.data
        if k == "consume":
            g = d.get("group")
            ts = d.get("timestamp")
            if g is not None and ts is not None and ts >= 0:
                lat = ev.t - ts
                if lat > e2e.get(g, -1):
                    e2e[g] = lat
            prod, topic, part, rec = d["producer"], d["topic"], d["partition"], d["rec"]
            if topic in out_topics:  # outputs are written (pipeline.output) before anyone can read them
                seen.update((prod, topic, part, rec + i) for i in range(d["count"]))
            ids = d.get("correlation_ids")
            if ids is not None:
                for i, cid in enumerate(ids):
                    id_of[(prod, topic, part, rec + i)] = cid
                    if cid is not None and g is not None:
                        ids_seen[g].add(cid)
        elif k == "pipeline.output":
            name = _base(d["pipeline"])
            src0 = (d["producer"], d["topic"], d["partition"], d["rec"])
            out_topics.add(d["out_topic"])
            for i in range(d["count"]):
                out = (d["out_producer"], d["out_topic"], d["out_partition"], d["out_rec"] + i)
                outputs[out] = ((src0[0], src0[1], src0[2], src0[3] + i), name)
    groups = {g: {"max_end_to_end_ms": e2e.get(g, 0), "correlation_ids": len(ids_seen.get(g, ()))}
              for g in sorted(set(e2e) | set(ids_seen))}
    pipes: dict[str, dict[str, int]] = defaultdict(lambda: {"correlated": 0, "uncorrelated": 0})
    for out, (src, name) in outputs.items():
        st = pipes[name]
        if out not in seen:
            continue  # no reader returned this output: nothing to judge
        cid = id_of.get(out)
        if cid is not None and cid == id_of.get(src):
            st["correlated"] += 1
        else:
            st["uncorrelated"] += 1
    return {"groups": groups, "pipelines": dict(pipes)}


def merge_metadata(meta: dict[str, Any], groups: dict[str, dict[str, Any]], pipelines: dict[str, dict[str, Any]]) -> None:
    """Add the metadata stats to the group and pipeline results (0 where nothing was seen)."""
    for g, st in groups.items():
        st.update({"max_end_to_end_ms": 0, "correlation_ids": 0, **meta["groups"].get(g, {})})
    for name, st in pipelines.items():
        st.update({"correlated": 0, "uncorrelated": 0, **meta["pipelines"].get(name, {})})
