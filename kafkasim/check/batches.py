"""Batching and compression from a trace: batches per producer, bytes before and after compression,
bytes stored per topic.

A producer's *batches* are the batches it built and sent (``produce.send`` with ``attempt`` 1; a
retry resends the same batch, a batch split after MESSAGE_TOO_LARGE makes new ones); a producer
whose records all failed before sending (RECORD_TOO_LARGE) is listed with 0. Their
``bytes`` are the size on the wire, ``uncompressed`` the size before ``compression.type`` (the
same when the producer does not compress). ``compression_rate`` is Kafka's producer metric
``compression-rate-avg`` taken over the bytes: compressed / uncompressed, lower is better. A
topic's ``bytes_stored`` is the size of its partitions' final leader logs (``log.final``), as the
broker stores them: compressed, after any recompression by the topic's ``compression.type``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from kafkasim.sim.trace import Trace


def _summary(batches: int, records: int, uncompressed: int, sent: int) -> dict[str, Any]:
    return {
        "batches": batches,
        "records_per_batch": round(records / batches, 2) if batches else 0,
        "bytes_uncompressed": uncompressed,
        "bytes_sent": sent,
        "compression_rate": round(sent / uncompressed, 3) if uncompressed else 1.0,
    }


def analyse_batches(trace: Trace) -> dict[str, Any]:
    """``{"producers": {name: stats}, "topics": {name: {"bytes_stored": n}}, "totals": stats}``."""
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # batches, records, uncompressed, sent
    stored: dict[str, int] = defaultdict(int)
    by_kind = trace.by_kind()
    for ev in by_kind.get("produce.send", ()):
        d = ev.data
        if d["attempt"] == 1 and "bytes" in d:
            acc = per[d["producer"]]
            acc[0] += 1
            acc[1] += d["count"]
            acc[2] += d.get("uncompressed", d["bytes"])
            acc[3] += d["bytes"]
    for ev in (*by_kind.get("produce.fail", ()), *by_kind.get("produce.unsent", ())):
        per[ev.data["producer"]]  # a producer whose records never left it: 0 batches, but known
    for ev in by_kind.get("log.final", ()):
        stored[ev.data["topic"]] += ev.data.get("bytes", 0)
    producers = {name: _summary(*acc) for name, acc in sorted(per.items())}
    totals = _summary(*(sum(acc[i] for acc in per.values()) for i in range(4)))
    totals["bytes_stored"] = sum(stored.values())
    return {"producers": producers, "topics": {t: {"bytes_stored": n} for t, n in sorted(stored.items())},
            "totals": totals}
