"""Every bundled scenario runs, states expectations, and they hold (Kafka's rules, checked each run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkasim.check.report import passed
from kafkasim.scenario import bundled
from kafkasim.scenario.load import load
from kafkasim.scenario.run import play, run

SCENARIOS = sorted((Path(__file__).parents[2] / "scenarios").glob("*.yaml"))


def test_there_are_bundled_scenarios() -> None:
    assert len(SCENARIOS) >= 8


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_bundled_scenario_expectations_hold(path: Path) -> None:
    scenario = load(path)
    assert scenario.expect, f"{path.name} states no expectations"
    assert scenario.description.strip(), f"{path.name} has no description that teaches"
    result, _runs = play(scenario)
    failed = [e for e in result["expectations"] if not e["ok"]]
    assert not failed, failed
    assert passed(result)


def _result(name: str) -> dict:
    return run(load(bundled.path_of(name))).result


def test_acks_contrast_same_faults_different_outcome() -> None:
    """Same cut-then-crash schedule: acks=1 loses acknowledged records, acks=all loses none."""
    one = _result("acks-1-lost-on-failover")["stats"]["delivery"]
    allr = _result("acks-all-no-loss")["stats"]["delivery"]
    assert one["lost_acknowledged"] > 0 and one["failed"] == 0
    assert allr["lost_acknowledged"] == 0 and allr["acknowledged"] == allr["sent"]


def test_acks_1_loss_matches_the_window_between_cut_and_crash() -> None:
    """Records sent between the cut (5 s) and the crash (8 s) at 100/s were never replicated:
    all ~300 of them are lost, and none were visible to consumers (HW stuck, ISR unchanged)."""
    d = _result("acks-1-lost-on-failover")["stats"]["delivery"]
    assert 290 <= d["lost_acknowledged"] <= 310
    assert d["lost_consumed"] == 0


def test_unclean_election_loses_what_clean_keeps() -> None:
    enabled = _result("unclean-election-enabled")
    disabled = _result("unclean-election-disabled")
    assert enabled["stats"]["cluster"]["unclean_elections"] >= 1
    assert enabled["stats"]["delivery"]["lost_acknowledged"] > 0
    assert disabled["stats"]["delivery"]["lost_acknowledged"] == 0
    assert disabled["stats"]["cluster"]["unclean_elections"] == 0


def test_lost_response_duplicates_only_without_idempotence() -> None:
    dup = _result("lost-response-duplicate")["stats"]["delivery"]
    idem = _result("lost-response-idempotent")["stats"]["delivery"]
    assert dup["duplicates"] > 0
    assert idem["duplicates"] == 0
    assert idem["acknowledged"] == idem["sent"]
