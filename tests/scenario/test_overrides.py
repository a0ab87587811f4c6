"""``--set key=value``: path syntax (Kafka keys with dots are one key), strict YAML values,
applying to the data before validation, and one-line errors that name the override."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from kafkasim.errors import ScenarioError
from kafkasim.scenario import bundled, overrides, yamlsafe
from kafkasim.scenario.load import load as load_file
from kafkasim.scenario.overrides import OverrideError, parse, parse_path

ROOT = Path(__file__).parents[2]
ACKS1 = bundled.path_of("acks-1-lost-on-failover")
BROADCAST = bundled.path_of("broadcast")


@pytest.mark.parametrize("text,path", [
    ("duration_ms", ("duration_ms",)),
    ("producers[0].config.acks", ("producers", 0, "config", "acks")),
    ("cluster.config.min.insync.replicas", ("cluster", "config", "min.insync.replicas")),
    ("topics[2].config.unclean.leader.election.enable", ("topics", 2, "config", "unclean.leader.election.enable")),
    ("consumers[1].config.partition.assignment.strategy",
     ("consumers", 1, "config", "partition.assignment.strategy")),
    ("cluster.network.latency_ms.max", ("cluster", "network", "latency_ms", "max")),
    ("faults[0].to[1]", ("faults", 0, "to", 1)),
    ("expect.groups.ledger.processed_twice", ("expect", "groups.ledger.processed_twice")),
    ("expect.errors.NOT_ENOUGH_REPLICAS", ("expect", "errors.NOT_ENOUGH_REPLICAS")),
    ("  producers[0].workload.count ", ("producers", 0, "workload", "count")),
    ("cluster.switches.strict_min_isr", ("cluster", "switches", "strict_min_isr")),
    ("producers[10].config", ("producers", 10, "config")),
])
def test_paths(text: str, path: tuple) -> None:
    assert parse_path(text) == path


@pytest.mark.parametrize("text,fragment", [
    ("", "key before '='"),
    ("producers[x].a", "expected '.' or '[N]'"),
    ("producers.", "ends with '.'"),
    ("[0].a", "expected a name"),
    ("a..b", "expected a name"),
    ("producers[-1].a", "expected '.' or '[N]'"),
    ("cluster.config.", "ends with '.'"),
])
def test_bad_paths(text: str, fragment: str) -> None:
    with pytest.raises(OverrideError) as e:
        parse_path(text)
    assert fragment in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("text,value", [
    ("a=1", 1), ("a=-3", -3), ("a=1.5", 1.5), ("a=1e3", 1000.0), ("a=0x1F", 31), ("a=017", 17),
    ("a=true", True), ("a=False", False), ("a=null", None), ("a=~", None), ("a=", None),
    ("a=all", "all"), ('a="1"', "1"), ("a='0'", "0"),
    ("a=yes", "yes"), ("a=off", "off"), ("a=1_000", "1_000"), ("a=2024-01-01", "2024-01-01"),
    ("a=[cooperative-sticky, range]", ["cooperative-sticky", "range"]), ("a={acks: all}", {"acks": "all"}),
    ("a=x=y", "x=y"), ('a=">0"', ">0"), ("a=== sent", "== sent"),
])
def test_values_use_the_strict_yaml_rules(text: str, value: object) -> None:
    assert parse(text).value == value


@pytest.mark.parametrize("text,fragment", [
    ("noequals", "expected key=value"),
    ("a=[1, 2", "not valid YAML"),
    ("a=b: c", "quote it"),
    ("a=*alias", "not valid YAML"),
    ("a=!!python/object x", "not valid YAML"),
    ("a=x\ny", "one line"),
])
def test_bad_values(text: str, fragment: str) -> None:
    with pytest.raises(OverrideError) as e:
        parse(text)
    assert str(e.value).startswith(f"--set {text}: ")
    assert fragment in str(e.value)


def _apply(text: str, *sets: str) -> object:
    data = yamlsafe.load(text, "t.yaml")
    overrides.apply(data, [parse(s) for s in sets])
    return data


def test_apply_creates_missing_config_blocks_and_keeps_dotted_keys_whole() -> None:
    data = _apply("cluster: {brokers: 3}\nproducers:\n  - workload: {topic: t}\n",
                  "cluster.config.min.insync.replicas=2", "producers[0].config.acks=1",
                  "producers[0].config.enable.idempotence=false")
    assert data["cluster"]["config"] == {"min.insync.replicas": 2}
    assert data["producers"][0]["config"] == {"acks": 1, "enable.idempotence": False}


def test_apply_replaces_a_null_block_and_later_sets_win() -> None:
    data = _apply("cluster:\n  config:\n", "cluster.config.a=1", "cluster.config.a=2")
    assert data["cluster"]["config"] == {"a": 2}


@pytest.mark.parametrize("text,fragment", [
    ("producers[3].config.acks=1", "producers has 1 item ([0]..[0]), so there is no [3]"),
    ("faults[0].at_ms=1", "faults is not in the scenario, so it has no item [0]"),
    ("cluster.brokers.x=1", "cluster.brokers is an integer, not a mapping"),
    ("cluster[0]=1", "cluster is a mapping, not a list"),
    ("producers.x=1", "producers is a list, not a mapping"),
    ("empty[0]=1", "empty is empty, so there is no item [0]"),
])
def test_apply_errors_name_the_override(text: str, fragment: str) -> None:
    with pytest.raises(OverrideError) as e:
        _apply("cluster: {brokers: 3}\nempty: []\nproducers:\n  - workload: {topic: t}\n", text)
    msg = str(e.value)
    assert msg.startswith(f"--set {text}: ") and fragment in msg, msg


def test_load_without_sets_is_the_plain_loader() -> None:
    sc, _, text = overrides.load(ACKS1)
    assert sc == load_file(ACKS1)
    assert sc.source_hash == hashlib.sha256(ACKS1.read_bytes()).hexdigest()[:16]
    assert text == ACKS1.read_text()


def test_load_with_sets_dotted_kafka_keys() -> None:
    sc, _, _ = overrides.load(ACKS1, ["producers[0].config.acks=all", "producers[0].config.enable.idempotence=true",
                                      "cluster.config.min.insync.replicas=2", "duration_ms=5000",
                                      "faults[0].at_ms=100", "faults[1].at_ms=200", "faults[2].at_ms=300",
                                      "faults[3].at_ms=400"])
    assert sc.producers[0].config["acks"] == "all" and sc.producers[0].config["enable.idempotence"] is True
    assert sc.broker_config["min.insync.replicas"] == 2
    assert sc.topics[0].config["min.insync.replicas"] == 2  # topics inherit the broker default, as in Kafka
    assert sc.duration_ms == 5000


def test_effective_text_round_trips_and_carries_the_hash() -> None:
    sets = ["producers[0].config.acks=all", "consumers[0].config.auto.offset.reset=latest",
            'description="yes"', "expect.duplicates=0"]
    sc, data, text = overrides.load(ACKS1, sets)
    assert text.startswith("# ") and "--set producers[0].config.acks=all" in text.splitlines()[0]
    assert sc.source_hash == hashlib.sha256(text.encode()).hexdigest()[:16]
    again = yamlsafe.load(text, "again.yaml")
    assert again == data and again["description"] == "yes"
    assert overrides.load(ACKS1, sets)[0].source_hash == sc.source_hash  # deterministic
    assert sc.source_hash != load_file(ACKS1).source_hash


def test_effective_text_falls_back_to_json_when_yaml_would_change_a_value() -> None:
    data = yamlsafe.load("name: '0o17'\nx: '1e3'\n", "t.yaml")
    text = overrides.effective_text(data, "t.yaml", [parse("y=1")])
    assert yamlsafe.load(text, "t2.yaml") == {"name": "0o17", "x": "1e3"}


@pytest.mark.parametrize("sets,expected", [
    (["producers[0].config.acks=2"], "--set producers[0].config.acks=2: 2 (an integer) is not a valid value"),
    (["producers[0].config.ack=1"], "--set producers[0].config.ack=1: unknown producer config 'ack' (did you mean 'acks'?)"),
    (["cluster.config.min.insync.replicas=0"], "--set cluster.config.min.insync.replicas=0: must be at least 1"),
    (["cluster.foo.bar=1"], "--set cluster.foo.bar=1: cluster.foo: unknown key 'foo'"),
    (["foo=1"], "--set foo=1: unknown key 'foo'"),
    (["producers[0].config={acks: 2}"], "--set producers[0].config={acks: 2}: producers[0].config.acks: 2"),
    (["topics[0].partitions=yes"], "--set topics[0].partitions=yes: expected an integer, got the string 'yes'"),
])
def test_validation_errors_blame_the_override(sets: list[str], expected: str) -> None:
    with pytest.raises(ScenarioError) as e:
        overrides.load(ACKS1, sets)
    assert str(e.value).startswith(expected), str(e.value)
    assert "\n" not in str(e.value)


def test_errors_elsewhere_keep_their_location_and_mention_the_sets() -> None:
    with pytest.raises(ScenarioError) as e:
        overrides.load(ACKS1, ["duration_ms=1000"])
    msg = str(e.value)
    assert msg.startswith(f"{ACKS1}:29:") and "faults[0].at_ms" in msg and msg.endswith("(with --set duration_ms=1000)")


def test_expect_keys_with_dots() -> None:
    sc, _, _ = overrides.load(BROADCAST, ["expect.groups.foo.processed_unique=== sent + 1"])
    e = {x.stat: x for x in sc.expect}["groups.foo.processed_unique"]
    assert e.op == "==" and e.value == "sent + 1"


@pytest.mark.parametrize("text,value", [
    ("expect.duplicates=>0", ">0"), ("expect.failed=>= 1", ">= 1"), ("expect.sent=<=5000", "<=5000"),
    ("expect.consumed=== sent", "== sent"), ("expect.duplicates=0", 0),
])
def test_expect_comparisons_need_no_quotes(text: str, value: object) -> None:
    assert parse(text).value == value


def test_outside_expect_a_leading_gt_is_still_yaml() -> None:
    with pytest.raises(OverrideError):
        parse("description=>0")
