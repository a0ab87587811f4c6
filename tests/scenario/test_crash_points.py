"""A pipeline's crash points fire where their names say (issue #12)."""

from __future__ import annotations

from kafkasim.scenario.load import loads
from kafkasim.scenario.run import run

SCENARIO = """\
name: crash-point
seed: 5
duration_ms: 70000
cluster: {brokers: 3}
topics:
  - {name: in, partitions: 1, replication_factor: 3}
  - {name: out, partitions: 1, replication_factor: 3}
producers:
  - name: src
    workload: {topic: in, count: 500, rate_per_s: 100}
pipelines:
  - {name: stage, input: in, output: out, mode: at-least-once}
faults:
  - {at_ms: 3000, action: crash, target: stage, point: after-produce}
  - {at_ms: 6000, action: restart, target: stage}
"""


def test_after_produce_fires_once_the_iterations_outputs_are_in_the_log() -> None:
    trace = run(loads(SCENARIO)).trace
    (crash,) = trace.of("app.crash")
    processed = sum(e.data["count"] for e in trace.of("app.processed") if e.t <= crash.t)
    appended = sum(e.data["count"] for e in trace.of("log.append")
                   if e.data["topic"] == "out" and e.node == "broker-1" and e.t <= crash.t)
    assert processed > 0 and appended == processed
    acked = sum(e.data["count"] for e in trace.of("produce.ack") if e.node == "stage-producer" and e.t <= crash.t)
    assert acked == processed, "acknowledged, not merely handed to send()"
