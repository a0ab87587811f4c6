"""The metadata checker: end-to-end latency from record timestamps, correlation ids through pipelines.

Rules: a record's end-to-end latency is the time poll() returned it minus its timestamp —
CreateTime (the producer's send() time) includes linger.ms and retries, LogAppendTime (the
leader's append time) does not (KIP-32). Headers travel unchanged with a record (KIP-82); a
pipeline that copies its input's headers to its output lets a reader join the two by the
``correlation_id`` header, duplicates included.
"""

from __future__ import annotations

import textwrap
from typing import Any

from kafkasim.check.metadata import analyse_metadata
from kafkasim.clients.consumer import Consumer
from kafkasim.records import TopicPartition
from kafkasim.scenario.load import loads
from kafkasim.scenario.run import build, run
from kafkasim.sim.trace import Trace


class History:
    """A synthetic trace, one event per call."""

    def __init__(self) -> None:
        self.trace = Trace(seed=0, scenario="metadata")

    def add(self, t: int, kind: str, node: str, **data: Any) -> None:
        self.trace.append(t, kind, node, data)

    def consume(self, t: int, group: str | None, ts: int, topic: str = "in", producer: str = "src", rec: int = 0,
                count: int = 1, ids: list | None = None) -> None:
        data = dict(consumer="c", group=group, topic=topic, partition=0, offset=rec, count=count, producer=producer,
                    rec=rec, isolation="read_uncommitted", timestamp=ts)
        if ids is not None:
            data["correlation_ids"] = ids
        self.add(t, "consume", "c", **data)


def test_max_end_to_end_is_the_largest_poll_time_minus_timestamp_per_group() -> None:
    h = History()
    h.consume(500, "g", 100)  # 400
    h.consume(900, "g", 800)  # 100: later, but smaller
    h.consume(1000, "other", 990)  # 10
    h.consume(5000, None, 0)  # standalone: no group
    groups = analyse_metadata(h.trace)["groups"]
    assert groups["g"]["max_end_to_end_ms"] == 400
    assert groups["other"]["max_end_to_end_ms"] == 10
    assert None not in groups


def test_correlation_ids_are_distinct_per_group() -> None:
    h = History()
    h.consume(10, "g", 0, rec=0, count=3, ids=["a", "b", None])
    h.consume(20, "g", 0, rec=0, count=2, ids=["a", "b"])  # redelivered: the same ids
    h.consume(30, "g", 0, rec=3, count=1)  # no header
    assert analyse_metadata(h.trace)["groups"]["g"]["correlation_ids"] == 2


def test_pipeline_outputs_correlated_only_when_a_reader_saw_the_inputs_id() -> None:
    h = History()
    h.consume(10, "stage", 0, rec=0, count=3, ids=["id-0", "id-1", "id-2"])  # the pipeline reads its input
    h.add(11, "pipeline.output", "stage", pipeline="stage", group="stage", producer="src", topic="in", partition=0,
          rec=0, count=3, out_producer="stage#1", out_topic="out", out_partition=0, out_rec=0)
    # a reader of the output: record 0 carries its input's id, record 1 another one; record 2 is never read
    h.consume(20, "audit", 0, topic="out", producer="stage#1", rec=0, count=2, ids=["id-0", "id-2"])
    pipes = analyse_metadata(h.trace)["pipelines"]
    assert pipes["stage"] == {"correlated": 1, "uncorrelated": 1}


def test_pipeline_output_without_headers_is_uncorrelated() -> None:
    h = History()
    h.consume(10, "stage", 0, rec=0, count=1, ids=["id-0"])
    h.add(11, "pipeline.output", "stage-2", pipeline="stage-2", group="stage", producer="src", topic="in",
          partition=0, rec=0, count=1, out_producer="stage-2#1", out_topic="out", out_partition=0, out_rec=0)
    h.consume(20, "audit", 0, topic="out", producer="stage-2#1", rec=0, count=1)  # no correlation_ids
    assert analyse_metadata(h.trace)["pipelines"]["stage"] == {"correlated": 0, "uncorrelated": 1}


# -- against the model ------------------------------------------------------------------------------------
E2E = """
name: e2e
duration_ms: 20000
cluster: {brokers: 3, network: {latency_ms: {min: 1, max: 3}}}
topics:
  - {name: t, partitions: 1, replication_factor: 3, config: {message.timestamp.type: TYPE}}
producers:
  - name: app
    config: {linger.ms: 150}
    workload: {topic: t, count: 100, rate_per_s: 50, start_ms: 1000}
"""


def _app_view(timestamp_type: str) -> tuple[int, int]:
    """(max over records of poll time - Message.timestamp() as the application sees it, the checker's value)."""
    sim = build(loads(textwrap.dedent(E2E.replace("TYPE", timestamp_type))))
    c = Consumer({"group.id": "g", "auto.offset.reset": "earliest"}, sim.cluster, "reader")
    c.assign([TopicPartition("t", 0)])
    seen: list[int] = []

    def loop():
        while True:
            msgs = yield c.consume(100, timeout=0.2)
            seen.extend(sim.world.now - m.timestamp()[1] for m in msgs if m.error() is None)

    sim.world.process(loop())
    sim.world.run(15000)
    assert len(seen) == 100
    return max(seen), analyse_metadata(sim.world.trace)["groups"]["g"]["max_end_to_end_ms"]


def test_max_end_to_end_matches_what_the_application_sees() -> None:
    app, checker = _app_view("CreateTime")
    assert app == checker
    assert checker >= 150, "CreateTime: the first record of each batch lingered linger.ms"
    app, checker = _app_view("LogAppendTime")
    assert app == checker
    assert checker < 150, "LogAppendTime: the linger is before the append, outside the measure"


PIPE = """
name: correlated
seed: 3
duration_ms: 30000
cluster: {brokers: 3}
topics:
  - {name: in, partitions: 2, replication_factor: 3}
  - {name: out, partitions: 2, replication_factor: 3}
producers:
  - name: svc
    workload: {topic: in, count: 1000, rate_per_s: 100HEADERS}
pipelines:
  - {name: stage, input: in, output: out, mode: at-least-once, processing_ms: 2,
     config: {session.timeout.ms: 6000, heartbeat.interval.ms: 1000}}
consumers:
  - {name: auditor, topics: [out], config: {group.id: audit, auto.offset.reset: earliest}}
faults:
  - {at_ms: 5000, action: crash, target: stage, point: before-commit}
  - {at_ms: 8000, action: restart, target: stage}
"""


def _pipe(headers: str) -> dict:
    return run(loads(textwrap.dedent(PIPE.replace("HEADERS", headers)))).result


def test_pipeline_copies_the_correlation_id_to_every_output_duplicates_included() -> None:
    res = _pipe(', headers: {correlation_id: "{producer}-{n}"}')
    st = res["pipelines"]["stage"]
    assert st["duplicated"] > 0, "the crash before the commit redid a batch"
    assert st["correlated"] == st["records_out"] > 0
    assert st["uncorrelated"] == 0
    audit = res["groups"]["audit"]
    assert audit["correlation_ids"] == st["records_in"] == 1000  # duplicates share their input's id
    assert audit["processed"] == st["records_out"] > audit["correlation_ids"]


def test_pipeline_without_headers_has_nothing_to_correlate() -> None:
    st = _pipe("")["pipelines"]["stage"]
    assert st["records_out"] > 0
    assert (st["correlated"], st["uncorrelated"]) == (0, st["records_out"])
