"""Mixed record sizes in one workload (``value_size`` as a distribution, issue #12)."""

from __future__ import annotations

from kafkasim.scenario.load import loads
from kafkasim.scenario.run import run

MIXED = """\
name: mixed-sizes
seed: 4
duration_ms: 20000
cluster: {{brokers: 3}}
topics:
  - {{name: t, partitions: 2, replication_factor: 3}}
producers:
  - name: p
    workload: {{topic: t, count: 200, rate_per_s: 50, value_size: {size}}}
"""


def _run(size: str):
    return run(loads(MIXED.format(size=size)))


def test_only_the_records_over_max_request_size_fail_and_the_rest_are_acknowledged() -> None:
    res = _run("{distribution: choice, values: [100, 100, 100, 1100000]}")
    d = res.result["stats"]["delivery"]
    large = d["failed_by_error"].get("RECORD_TOO_LARGE", 0)
    assert 20 < large < 80  # about a quarter of 200
    assert d["failed"] == large and d["acknowledged"] == 200 - large and d["lost_acknowledged"] == 0


def _one_record_batches(trace) -> list[int]:
    return [e.data["bytes"] for e in trace.of("produce.send") if e.data["count"] == 1]


def test_uniform_sizes_vary_per_record_and_stay_in_range() -> None:
    fixed = _one_record_batches(_run("50").trace)
    overhead = fixed[0] - 50  # the record's and its batch's headers
    assert set(fixed) == {50 + overhead}  # a number: one size for every record
    sizes = [b - overhead for b in _one_record_batches(_run("{distribution: uniform, min: 50, max: 5000}").trace)]
    assert len(sizes) > 100 and len(set(sizes)) > 50
    assert all(50 <= s <= 5000 for s in sizes)
