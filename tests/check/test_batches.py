"""Batching and compression stats read from the trace: per producer (batches, records per batch,
bytes before and after compression, compression rate), per topic (bytes stored), and totals;
expectations can name them, dotted topic names included."""

from __future__ import annotations

import re

from kafkasim.check.batches import analyse_batches
from kafkasim.check.expect import lookup
from kafkasim.check.report import render
from kafkasim.scenario.load import loads
from kafkasim.scenario.run import run
from kafkasim.sim.trace import Trace

TEXT = """\
name: batches
seed: 5
duration_ms: 20000
cluster: {brokers: 3}
topics:
  - {name: dev.plain.v1, partitions: 1, replication_factor: 3}
  - {name: dev.zstd.v1, partitions: 1, replication_factor: 3}
producers:
  - name: plain
    config: {linger.ms: 100}
    workload: {topic: dev.plain.v1, count: 400, rate_per_s: 200, value_size: 300}
  - name: zstd
    config: {linger.ms: 100, compression.type: zstd}
    workload: {topic: dev.zstd.v1, count: 400, rate_per_s: 200, value_size: 300}
expect:
  topics.dev.zstd.v1.bytes_stored: "< topics.dev.plain.v1.bytes_stored"
  producers.zstd.compression_rate: "< 0.5"
"""


def test_stats_match_the_trace_and_the_logs() -> None:
    res = run(loads(TEXT))
    r = res.result
    sends = [e.data for e in res.trace.of("produce.send") if e.data["attempt"] == 1]
    for name in ("plain", "zstd"):
        mine = [d for d in sends if d["producer"] == name]
        st = r["producers"][name]
        assert st["batches"] == len(mine) == 20  # 400 records at 200/s, one batch per 100 ms linger
        assert st["records_per_batch"] == 20.0
        assert st["bytes_sent"] == sum(d["bytes"] for d in mine)
        assert st["bytes_uncompressed"] == 20 * (61 + 20 * 308)
    assert r["producers"]["plain"]["compression_rate"] == 1.0
    assert r["producers"]["zstd"]["bytes_sent"] == 20 * 1782  # the worked example of the model
    assert r["producers"]["zstd"]["compression_rate"] == round(1782 / 6221, 3)
    logs = res.trace.of("log.final")
    assert {e.data["topic"]: e.data["bytes"] for e in logs} == {
        "dev.plain.v1": 20 * 6221, "dev.zstd.v1": 20 * 1782}
    assert r["topics"]["dev.zstd.v1"]["bytes_stored"] == 20 * 1782
    d = r["stats"]["delivery"]
    assert d["batches"] == 40 and d["bytes_stored"] == 20 * (6221 + 1782)
    assert d["bytes_sent"] == d["bytes_stored"] and d["records_per_batch"] == 20.0
    assert all(e["ok"] for e in r["expectations"]) and len(r["expectations"]) == 2


def test_lookup_reads_dotted_names_and_missing_ones_are_zero() -> None:
    r = run(loads(TEXT)).result
    assert lookup(r, "topics.dev.zstd.v1.bytes_stored") == 20 * 1782
    assert lookup(r, "producers.zstd.batches") == 20
    assert lookup(r, "producers.nobody.batches") is None  # no such producer: never a silent 0
    assert lookup(r, "compression_rate") == round(20 * (1782 + 6221) / (40 * 6221), 3)


def test_a_retry_is_not_a_new_batch() -> None:
    t = Trace()
    base = {"producer": "p", "topic": "t", "partition": 0, "rec": 0, "count": 5, "broker": 1, "producer_id": -1,
            "base_sequence": -1, "bytes": 500, "uncompressed": 900}
    t.append(0, "produce.send", "p", {**base, "attempt": 1})
    t.append(5, "produce.send", "p", {**base, "attempt": 2})
    st = analyse_batches(t)["producers"]["p"]
    assert st == {"batches": 1, "records_per_batch": 5.0, "bytes_uncompressed": 900, "bytes_sent": 500,
                  "compression_rate": 0.556}


def test_a_producer_that_never_sent_has_zero_batches() -> None:
    t = Trace()
    t.append(0, "produce.fail", "p", {"producer": "p", "topic": "t", "partition": 0, "rec": 0, "count": 1,
                                      "error": "RECORD_TOO_LARGE"})
    assert analyse_batches(t)["producers"] == {"p": {"batches": 0, "records_per_batch": 0, "bytes_uncompressed": 0,
                                                     "bytes_sent": 0, "compression_rate": 1.0}}


def test_the_report_shows_batches_only_when_something_was_compressed() -> None:
    text = render(run(loads(TEXT)).result)
    assert "compression rate 0.286" in text and re.search(r"dev.zstd.v1 +35640 B", text)
    plain = TEXT.replace("compression.type: zstd", "compression.type: none")
    assert "compression rate" not in render(run(loads(plain)).result)
