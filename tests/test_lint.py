"""``kafkasim lint``: the primer's gotchas as located warnings, each pointing at the lesson that
shows the consequence; checked on every bundled scenario and on small made-up ones."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from kafkasim import lint
from kafkasim.cli import main
from kafkasim.scenario import bundled, yamlsafe
from kafkasim.scenario.load import loads

ROOT = Path(__file__).parents[1]
SCENARIOS = ROOT / "scenarios"
BUNDLED = sorted(SCENARIOS.glob("*.yaml"))

CLEAN = """\
name: clean
duration_ms: 10000
cluster:
  brokers: 3
  config: {min.insync.replicas: 2}
topics:
  - {name: dev.order.created, partitions: 3, replication_factor: 3}
producers:
  - name: shop
    workload: {topic: dev.order.created, count: 100, rate_per_s: 10}
consumers:
  - name: billing
    members: 3
    topics: [dev.order.created]
    config: {group.id: billing, partition.assignment.strategy: [cooperative-sticky]}
"""


def _lint(text: str, *ignore: str) -> list[lint.Finding]:
    data = yamlsafe.load(text, "s.yaml")
    return lint.lint(data, loads(text, "s.yaml"), "s.yaml", ignore)


def _codes(findings: list[lint.Finding]) -> list[str]:
    return [f.code for f in findings]


def _bundled(name: str) -> list[lint.Finding]:
    return lint.lint_file(bundled.path_of(name))


def _at(name: str, code: str) -> list[lint.Finding]:
    return [f for f in _bundled(name) if f.code == code]


def test_rules_are_numbered_and_point_at_bundled_lessons() -> None:
    assert list(lint.RULES) == [f"K{i:03d}" for i in range(1, len(lint.RULES) + 1)]
    for rule in lint.RULES.values():
        assert rule.summary and rule.why and rule.name == rule.name.lower()
        if rule.see:
            assert (bundled.path_of(rule.see)).is_file(), rule


def test_a_clean_scenario_has_no_warning() -> None:
    assert _lint(CLEAN) == []


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_every_bundled_scenario_lints_and_every_warning_is_located(path: Path) -> None:
    lines = path.read_text().splitlines()
    for f in lint.lint_file(path):
        assert f.file == str(path) and 1 <= f.line <= len(lines) and f.col >= 1
        assert re.fullmatch(r"K\d{3}", f.code)
        text = str(f)
        assert text.startswith(f"{path}:{f.line}:{f.col}: {f.code}: ") and "\n" not in text
        if f.see:
            assert text.endswith(f"(see scenario {f.see})") and (bundled.path_of(f.see)).is_file()


# (scenario, code, path of the setting it points at, scenario it names)
EXPECTED = [
    ("acks-1-lost-on-failover", "K002", "producers[0].config.acks", "acks-1-lost-on-failover"),
    ("acks-0-silent-loss", "K002", "producers[0].config.acks", "acks-0-silent-loss"),
    ("acks-1-lost-on-failover", "K010", "producers[0].config.enable.idempotence", "lost-response-duplicate"),
    ("lost-response-duplicate", "K010", "producers[0].config.enable.idempotence", "lost-response-duplicate"),
    ("unclean-election-enabled", "K005", "topics[0].config.unclean.leader.election.enable", "unclean-election-enabled"),
    ("unclean-election-enabled", "K003", "topics[0].config.min.insync.replicas", "unclean-election-enabled"),
    ("unclean-election-disabled", "K003", "topics[0].config.min.insync.replicas", "unclean-election-enabled"),
    ("group-join-eager", "K011", "consumers[0].config.group.id", "group-join-eager"),
    ("distribution-more-consumers-than-partitions", "K006", "consumers[0].members",
     "distribution-more-consumers-than-partitions"),
    ("consumer-crash-redelivery", "K009", "faults[0].target", "consumer-crash-redelivery"),
    ("poll-timeout-eviction", "K012", "consumers[0].processing_ms", "poll-timeout-eviction"),
    ("consumer-lag-slow-consumer", "K013", "consumers[0].processing_ms", "consumer-lag-slow-consumer"),
    ("acks-1-lost-on-failover", "K001", "topics[0].name", "broadcast"),
    ("broadcast", "K003", "topics[0]", "unclean-election-enabled"),
    ("auto-commit-async-handoff-loss", "K015", "consumers[0].processing", "auto-commit-async-handoff-loss"),
    ("poison-retry-in-place", "K009", "consumers[0].on_failure", "poison-retry-in-place"),
]


@pytest.mark.parametrize("name,code,path,see", EXPECTED, ids=lambda x: x if isinstance(x, str) else None)
def test_bundled_lessons_get_the_warning_the_primer_predicts(name: str, code: str, path: str, see: str) -> None:
    found = _at(name, code)
    assert found, f"{name}: no {code} in {_codes(_bundled(name))}"
    assert found[0].path == path and found[0].see == see
    data = yamlsafe.load_file(bundled.path_of(name))
    assert (found[0].line, found[0].col) == tuple(yamlsafe.mark_of(data, _parse(path)))


def _parse(path: str) -> tuple:
    from kafkasim.scenario.overrides import parse_path

    return parse_path(path)


# the contrasting lessons do NOT get the warning
ABSENT = [
    ("acks-all-no-loss", "K002"), ("acks-all-no-loss", "K003"), ("acks-all-no-loss", "K010"),
    ("min-isr-not-enough-replicas", "K003"), ("lost-response-idempotent", "K010"),
    ("unclean-election-disabled", "K005"), ("group-join-cooperative", "K011"),
    ("distribution-consumers-equal-partitions", "K006"), ("distribution-fewer-consumers-than-partitions", "K006"),
    ("consumer-graceful-close", "K009"), ("broadcast", "K001"), ("chat-room", "K001"),
    ("consumer-crash-redelivery", "K012"), ("consumer-crash-redelivery", "K013"),
    ("acks-1-lost-on-failover", "K004"), ("acks-0-silent-loss", "K010"), ("consumer-crash-redelivery", "K015"),
    ("poison-retry-topics-dlq", "K009"),
]


@pytest.mark.parametrize("name,code", ABSENT)
def test_contrasting_lessons_do_not_get_the_warning(name: str, code: str) -> None:
    assert code not in _codes(_bundled(name))


def _variant(old: str, new: str) -> str:
    assert old in CLEAN
    return CLEAN.replace(old, new)  # every occurrence (a topic's name and its references)


@pytest.mark.parametrize("old,new,code,fragment", [
    ("dev.order.created", "Orders", "K001", "topic name 'Orders'"),
    ("dev.order.created", "dev.orders", "K001", "{environment}.{service}.{topic}"),
    ("rate_per_s: 10}", "rate_per_s: 10}\n    config: {acks: \"1\"}", "K002", "acks=1"),
    ("config: {min.insync.replicas: 2}", "config: {}", "K003", "min.insync.replicas=1"),
    ("replication_factor: 3}", "replication_factor: 2}", "K004", "replication factor 2"),
    ("replication_factor: 3}", "}", "K004", "replication factor 1 (default.replication.factor)"),
    ("config: {min.insync.replicas: 2}", "config: {min.insync.replicas: 2, unclean.leader.election.enable: true}",
     "K005", "unclean.leader.election.enable=true"),
    ("members: 3", "members: 5", "K006", "5 members for 3 partition(s)"),
    ("partitions: 3,", "partitions: 1001,", "K007", "1001 partitions"),
    ("rate_per_s: 10}", "rate_per_s: 10, value_size: 950000}", "K008", "near the 1 MB"),
    ("rate_per_s: 10}", "rate_per_s: 10, value_size: 2000000}", "K008", "over the 1048576-byte"),
    ("rate_per_s: 10}", "rate_per_s: 10, value_size: {distribution: choice, values: [100, 2000000]}}", "K008",
     "value_size 2000000 bytes is over the 1048576-byte message limit (max.request.size / max.message.bytes): "
     "such a record fails"),
    ("rate_per_s: 10}", "rate_per_s: 10}\nfaults:\n  - {at_ms: 10, action: crash, target: billing-1}", "K009",
     "no dead-letter topic"),
    ("rate_per_s: 10}", "rate_per_s: 10}\n    config: {enable.idempotence: false}", "K010", "enable.idempotence=false"),
    ("partition.assignment.strategy: [cooperative-sticky]", "partition.assignment.strategy: [roundrobin]", "K011",
     "includes eager roundrobin"),
    ("config: {group.id: billing, ", "processing_ms: 1000\n    config: {group.id: billing, ", "K012",
     "1000 x max.poll.records 500"),
    ("config: {group.id: billing, ", "records: [{topic: dev.order.created, partition: 1, offset: 9, processing_ms: "
     "400000}]\n    config: {group.id: billing, ", "K012", "the record at dev.order.created-1 offset 9 takes 400000 ms"),
    ("config: {group.id: billing, ", "processing_ms: 400\n    config: {group.id: billing, ", "K013",
     "about 7.5 records/s (3 busy members, 400 ms per record) but its topics receive 10 records/s"),
    ("config: {group.id: billing, ", "commit: before-processing\n    config: {group.id: billing, ", "K014",
     "commits before processing"),
    ("config: {group.id: billing, ", "commit: none\n    config: {group.id: billing, ", "K014", "never commits"),
    ("config: {group.id: billing, ", "processing: async\n    config: {group.id: billing, ", "K015",
     "processing: async) with auto-commit"),
])
def test_each_rule_on_a_small_scenario(old: str, new: str, code: str, fragment: str) -> None:
    found = [f for f in _lint(_variant(old, new)) if f.code == code]
    assert found and fragment in found[0].message, _lint(_variant(old, new))


def test_a_dead_letter_topic_silences_k009() -> None:
    text = _variant("rate_per_s: 10}", "rate_per_s: 10}\nfaults:\n  - {at_ms: 10, action: crash, target: billing-1}")
    text = text.replace("topics:\n", "topics:\n  - {name: dev.order.created-dlq, partitions: 3, replication_factor: 3}\n")
    assert "K009" not in _codes(_lint(text))


def test_idempotence_turned_off_by_acks_points_at_acks() -> None:
    found = [f for f in _lint(_variant("rate_per_s: 10}", "rate_per_s: 10}\n    config: {acks: \"1\"}"))
             if f.code == "K010"]
    assert found[0].path == "producers[0].config.acks" and "acks=1 turns idempotence off" in found[0].message


def test_ignore() -> None:
    text = _variant("replication_factor: 3}", "replication_factor: 2}")
    assert "K004" in _codes(_lint(text)) and "K004" not in _codes(_lint(text, "k004"))


def test_describe() -> None:
    assert lint.describe("k002").startswith("K002 ")
    assert "acks-1-lost-on-failover" in lint.describe("K002")


# -- the command -------------------------------------------------------------------------------------
def _main(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


def test_cli_clean_warnings_and_bad_files(tmp_path: Path) -> None:
    clean = tmp_path / "clean.yaml"
    clean.write_text(CLEAN)
    assert _main("lint", str(clean)) == (0, "", "")
    rc, out, err = _main("lint", str(bundled.path_of("acks-1-lost-on-failover")))
    assert rc == 1 and "warning" in err
    assert re.search(r"acks-1-lost-on-failover\.yaml:22:20: K002: acks=1: .*\(see scenario acks-1-lost-on-failover\)$",
                     out, re.M)
    bad = tmp_path / "bad.yaml"
    bad.write_text(CLEAN.replace("brokers: 3", "brokers: three"))
    rc, out, err = _main("lint", str(clean), str(bad))
    assert rc == 2 and out == "" and err.count("\n") == 1 and "bad.yaml:4:" in err


def test_cli_json(tmp_path: Path) -> None:
    rc, out, _ = _main("lint", "--json", str(bundled.path_of("acks-1-lost-on-failover")),
                       str(bundled.path_of("acks-all-no-loss")))
    doc = json.loads(out)
    assert rc == 1 and out.count("\n") == 1
    assert doc["warnings"] == sum(len(f["warnings"]) for f in doc["files"])
    first = doc["files"][0]["warnings"]
    assert {"file", "line", "col", "path", "code", "message", "see"} <= set(first[0])
    assert "K002" in [w["code"] for w in first]


def test_cli_ignore() -> None:
    rc, out, _ = _main("lint", "--ignore", "K001,K003", "--ignore", "k004",
                       str(bundled.path_of("min-isr-not-enough-replicas")))
    assert rc == 0 and out == ""
    rc, _, err = _main("lint", "--ignore", "K099", str(bundled.path_of("broadcast")))
    assert rc == 2 and "K099" in err
