"""Expectations name results that exist: a misspelt group stat is a scenario error, an unknown
group id fails the expectation (never a silent 0 that passes ``== 0``)."""

from __future__ import annotations

import pytest

from kafkasim.check.expect import ENTITY_STATS
from kafkasim.errors import ScenarioError
from kafkasim.scenario import bundled
from kafkasim.scenario.load import load, loads
from kafkasim.scenario.run import run

SCENARIO = """
name: probe
duration_ms: 8000
cluster: {{brokers: 1}}
topics: [{{name: t, partitions: 1, replication_factor: 1}}]
producers: [{{name: p, workload: {{topic: t, count: 20, rate_per_s: 100}}}}]
consumers: [{{name: c, topics: [t], config: {{group.id: g, auto.offset.reset: earliest}}}}]
expect:
  {expect}
"""


def test_entity_stats_are_exactly_what_a_run_reports() -> None:
    result = run(load(bundled.path_of("correlation-ids"))).result
    for kind, stats in ENTITY_STATS.items():
        assert result[kind], kind
        for name, st in result[kind].items():
            assert sorted(st) == sorted(stats), (kind, name)


def test_a_misspelt_group_stat_is_a_located_error() -> None:
    with pytest.raises(ScenarioError) as exc:
        loads(SCENARIO.format(expect="groups.g.procesed_twice: 0"), "probe.yaml")
    assert "probe.yaml:9:" in str(exc.value) and "did you mean 'processed_twice'" in str(exc.value)
    with pytest.raises(ScenarioError, match="expected groups.<name>.<stat>"):
        loads(SCENARIO.format(expect="groups.processed_twice: 0"))
    with pytest.raises(ScenarioError, match="unknown group stat 'lagg'"):
        loads(SCENARIO.format(expect='processed: "> groups.g.lagg"'))


def test_an_unknown_group_fails_instead_of_reading_zero() -> None:
    result = run(loads(SCENARIO.format(expect="groups.gg.processed_twice: 0"))).result
    [e] = result["expectations"]
    assert not e["ok"] and e["actual"] is None and e["problem"] == "groups.gg.processed_twice: no such group in this run"
    result = run(loads(SCENARIO.format(expect='processed: "== groups.nobody.processed"'))).result
    assert not result["expectations"][0]["ok"]
    result = run(loads(SCENARIO.format(expect="groups.g.processed_twice: 0"))).result
    assert result["expectations"][0]["ok"]
