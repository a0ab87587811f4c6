"""Crash points of pipelines and consumer applications fire where their names say (issue #12)."""

from __future__ import annotations

from typing import Any

import pytest

from kafkasim.errors import ScenarioError
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


# -- consumer applications ----------------------------------------------------------------------------
CONSUMER = """\
name: consumer-crash-point
seed: 3
duration_ms: 30000
cluster: {{brokers: 3}}
topics:
  - {{name: t, partitions: 1, replication_factor: 3}}
producers:
  - name: src
    workload: {{topic: t, count: 4000, rate_per_s: 1000}}
consumers:
  - name: c1
    topics: [t]
    processing_ms: 2
    commit: {commit}
    config: {{group.id: g, auto.offset.reset: earliest, session.timeout.ms: 10000}}
  - name: c2
    topics: [t]
    processing_ms: 2
    commit: {commit}
    config: {{group.id: g, auto.offset.reset: earliest, session.timeout.ms: 10000}}
faults:
  - {{at_ms: 2000, action: crash, target: leader-of-t, point: {point}}}
"""


def _crash_owner(commit: str, point: str) -> tuple[dict, Any]:
    """Crash whichever member owns t-0 at ``point``; the other one takes over after the session timeout."""
    probe = run(loads(CONSUMER.format(commit=commit, point="after-consume").replace("leader-of-t", "c1")))
    owner = next(e.node for e in probe.trace.of("member.assigned") if e.data.get("partitions"))
    res = run(loads(CONSUMER.format(commit=commit, point=point).replace("leader-of-t", owner)))
    return res.result["stats"]["groups"], res.trace


@pytest.mark.parametrize("commit,point,twice,lost", [
    # at-least-once (process, then commit): what was processed since the last commit is redone
    ("after-poll", "after-consume", False, False),  # polled, nothing processed: redelivered, processed once
    ("after-poll", "mid-processing", True, False),
    ("after-poll", "before-commit", True, False),
    ("after-poll", "after-commit", False, False),
    # at-most-once (commit, then process): what was committed and not yet processed is never seen again
    ("before-processing", "after-commit", False, True),
    ("before-processing", "before-commit", False, False),
])
def test_a_consumer_crash_point_decides_what_is_redone_or_lost(commit: str, point: str, twice: bool,
                                                                lost: bool) -> None:
    stats, trace = _crash_owner(commit, point)
    (crash,) = trace.of("app.crash")
    assert crash.data["point"] == point and crash.t > 2000
    assert (stats["processed_twice"] > 0) is twice, stats
    assert (stats["unprocessed"] > 0) is lost, stats


def test_the_crash_fires_at_the_step_after_the_fault_not_at_the_fault() -> None:
    stats, trace = _crash_owner("after-poll", "after-commit")
    (crash,) = trace.of("app.crash")
    node = crash.node
    last_commit = max(e.t for e in trace.of("commit.ok") if e.node == node and e.t <= crash.t)
    assert last_commit == crash.t  # it died the moment its commit completed


@pytest.mark.parametrize("commit,point,fragment", [
    ("auto", "before-commit", "never reaches before-commit; its crash points: after-consume, mid-processing"),
    ("after-poll", "after-produce", "never reaches after-produce"),
])
def test_a_crash_point_the_consumer_never_reaches_is_refused(commit: str, point: str, fragment: str) -> None:
    with pytest.raises(ScenarioError) as err:
        loads(CONSUMER.format(commit=commit, point=point).replace("leader-of-t", "c1"))
    assert "faults[0].point" in str(err.value) and fragment in str(err.value)
