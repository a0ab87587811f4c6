"""Records marked by offset (``consumers[].records``): a slow record and a poison record where
the scenario puts them (issue #12)."""

from __future__ import annotations

import pytest

from kafkasim.errors import ScenarioError
from kafkasim.scenario.load import loads
from kafkasim.scenario.run import run

BASE = """\
name: marked
seed: 2
duration_ms: 20000
cluster: {{brokers: 3}}
topics:
  - {{name: t, partitions: 2, replication_factor: 3}}
producers:
  - name: p0
    workload: {{topic: t, partition: 0, count: 200, rate_per_s: 50}}
  - name: p1
    workload: {{topic: t, partition: 1, count: 200, rate_per_s: 50}}
consumers:
  - name: c
    topics: [t]
    processing_ms: 1
    commit: after-poll
    config: {{group.id: g, auto.offset.reset: earliest}}
{extra}"""


def _run(extra: str):
    return run(loads(BASE.format(extra=extra)))


def _processed(trace, partition: int) -> list[int]:
    return sorted(e.data["offset"] + i for e in trace.of("app.processed") if e.data["partition"] == partition
                  for i in range(e.data["count"]))


def test_a_poison_record_retried_in_place_blocks_its_partition_at_its_offset() -> None:
    res = _run("""\
    on_failure: {strategy: retry-in-place, backoff_ms: 500}
    records:
      - {topic: t, partition: 1, offset: 37, fails: -1}
""")
    failed = res.trace.of("app.failed")
    assert failed and {(e.data["partition"], e.data["offset"]) for e in failed} == {(1, 37)}
    assert [e.data["attempt"] for e in failed] == list(range(1, len(failed) + 1))
    assert _processed(res.trace, 1) == list(range(37))  # nothing at or behind it, head-of-line
    assert len(_processed(res.trace, 0)) == 200  # the other partition flows
    assert res.result["stats"]["groups"]["unprocessed"] == 200 - 37


def test_a_record_that_fails_k_times_is_processed_on_attempt_k_plus_one() -> None:
    res = _run("""\
    on_failure: {strategy: retry-in-place, backoff_ms: 500}
    records:
      - {topic: t, partition: 0, offset: 5, fails: 2}
""")
    assert [e.data["attempt"] for e in res.trace.of("app.failed")] == [1, 2]
    assert _processed(res.trace, 0) == list(range(200))
    assert res.result["stats"]["groups"]["unprocessed"] == 0


def test_a_slow_record_takes_its_own_time_and_the_rest_of_its_batch_the_usual() -> None:
    base = _run("")
    slow = _run("""\
    records:
      - {topic: t, partition: 0, offset: 50, processing_ms: 3000}
""")
    (at,) = [e for e in slow.trace.of("app.processed") if e.data["partition"] == 0 and e.data["offset"] == 50]
    assert at.data["count"] == 1
    before = max(e.t for e in slow.trace.of("app.processed") if e.node == "c" and e.t < at.t)
    assert at.t - before == 3000
    first = {e.data["offset"]: e.t for e in base.trace.of("app.processed") if e.data["partition"] == 0}
    assert first[50] < at.t - 2000  # without the mark it is processed at the usual pace


@pytest.mark.parametrize("records,where,fragment", [
    ("[{topic: t, partition: 0, offset: 3, fails: -1}]", "records[0].fails", "needs the consumer's on_failure"),
    ("[{topic: t, partition: 2, offset: 3, processing_ms: 10}]", "records[0].partition", "partitions 0..1, got 2"),
    ("[{topic: u, partition: 0, offset: 3, processing_ms: 10}]", "records[0].topic", "not one of this consumer's"),
    ("[{topic: t, partition: 0, offset: 3}]", "records[0]", "expected processing_ms"),
    ("[{topic: t, partition: 0, offset: 3, processing_ms: 1}, {topic: t, partition: 0, offset: 3, processing_ms: 2}]",
     "records[1]", "listed twice"),
])
def test_a_bad_marked_record_is_refused_with_its_field(records: str, where: str, fragment: str) -> None:
    with pytest.raises(ScenarioError) as err:
        _run(f"    records: {records}\n")
    assert f"consumers[0].{where}" in str(err.value) and fragment in str(err.value)
