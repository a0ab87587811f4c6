"""A run makes (almost) no reference cycles: what it drops, reference counting frees at once.

The cyclic collector is paused for a run (``paused_gc``), so a cycle per message or per
request would keep every message, request and timer of the run alive until the end, and the
first collection afterwards would scan them all (it took longer than the run's own checkers).
"""

from __future__ import annotations

import gc

import pytest

from kafkasim.scenario.load import loads
from kafkasim.scenario.run import build

BASE = """
name: garbage
seed: 3
duration_ms: 6000
cluster: {brokers: 3}
topics: [{name: t, partitions: 3, replication_factor: 3}]
producers:
  - name: p
    workload: {topic: t, duration_ms: 5000, rate_per_s: 200, key: {pattern: "k-{n}", cardinality: 20}}
consumers:
  - name: g
    members: 2
    topics: [t]
    config: {group.id: g}
"""

FAULTS = {
    "quiet": "",
    "faults": """
faults:
  - {at_ms: 1000, action: crash, target: broker-1}
  - {at_ms: 1500, action: cut, from: broker-2, to: [broker-3], duration_ms: 1000}
  - {at_ms: 2500, action: restart, target: broker-1}
  - {at_ms: 3000, action: crash, target: g-2}
""",
}


@pytest.mark.parametrize("shape", sorted(FAULTS))
def test_a_run_leaves_no_cyclic_garbage(shape: str) -> None:
    sim = build(loads(BASE + FAULTS[shape]))
    gc.collect()
    gc.disable()  # so that no automatic collection after the run takes the cycles first
    try:
        sim.world.run(6000)
        found = gc.collect()  # unreachable objects: only cycles are left for the collector
    finally:
        gc.enable()
    # thousands of messages and requests were sent; each cycle per message would count here
    assert len(sim.world.trace) > 1000
    assert found < 200, f"{found} objects in reference cycles after the run"
