"""A producer application that crashes and restarts re-sends what it had not seen acknowledged,
with a new producer instance: the records keep their identity, so copies the broker had already
appended are duplicates (idempotence does not span producer ids)."""

from __future__ import annotations

import pytest

from kafkasim.errors import ScenarioError
from kafkasim.scenario.load import loads
from kafkasim.scenario.run import run

BASE = """
name: restart
duration_ms: 20000
cluster: {{brokers: 3, config: {{min.insync.replicas: 2}}}}
topics: [{{name: t, partitions: 2, replication_factor: 3}}]
producers:
  - name: p
    config: {config}
    workload: {{topic: t, count: 3000, rate_per_s: 500{extra}}}
faults:
{faults}
"""
SLOW = ("  - {at_ms: 1000, action: slow, from: broker-1, to: [broker-2, broker-3], extra_ms: 300}\n"
        "  - {at_ms: 1000, action: slow, from: broker-2, to: broker-3, extra_ms: 300}\n")


def _run(faults: str, config: str = "{}", extra: str = "") -> tuple[dict, list]:
    res = run(loads(BASE.format(faults=faults, config=config, extra=extra)))
    return res.result["stats"]["delivery"], [e for e in res.trace.events if e.kind == "app.restart"]


def test_unacknowledged_records_are_resent_and_appended_twice() -> None:
    d, [restart] = _run(SLOW + "  - {at_ms: 2000, action: crash, target: p}\n"
                               "  - {at_ms: 3000, action: restart, target: p}\n")
    # an ack needs a follower round trip of >= 600 ms: requests in flight at the crash were appended, not acked
    assert 0 < d["duplicates"] <= restart.data["resent"]
    assert d["sent"] == d["acknowledged"] == 3000 and d["lost_acknowledged"] == 0 and d["in_flight"] == 0


def test_a_restart_when_everything_was_acknowledged_resends_nothing() -> None:
    # the workload ends at 6 s; nothing is outstanding by 8 s
    d, [restart] = _run("  - {at_ms: 8000, action: crash, target: p}\n  - {at_ms: 9000, action: restart, target: p}\n")
    assert restart.data["resent"] == 0 and d["duplicates"] == 0 and d["acknowledged"] == 3000


def test_the_workload_catches_up_after_the_downtime() -> None:
    d, _ = _run("  - {at_ms: 1000, action: crash, target: p}\n  - {at_ms: 4000, action: restart, target: p}\n")
    assert d["sent"] == d["acknowledged"] == 3000 and d["in_flight"] == 0 and d["lost_acknowledged"] == 0


@pytest.mark.parametrize("action,config,problem", [
    ("restart", "{transactional.id: tx}", "restart of transactional producer 'p' is not modelled"),
    ("close", "{}", "close of producer 'p' is not modelled; only crash, restart and pause"),
])
def test_unmodelled_producer_faults_are_refused(action: str, config: str, problem: str) -> None:
    with pytest.raises(ScenarioError, match=problem):
        loads(BASE.format(faults=f"  - {{at_ms: 100, action: {action}, target: p}}\n", config=config, extra=""))
