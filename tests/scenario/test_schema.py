"""The JSON Schema of the scenario format: valid JSON, in step with the loader (probed block by
block, both ways), every config key from the registry, and it accepts every bundled scenario."""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from kafkasim import config
from kafkasim.check.expect import KNOWN_STATS
from kafkasim.cli import main
from kafkasim.errors import ScenarioError
from kafkasim.scenario import schema, yamlsafe
from kafkasim.scenario.load import TOP, loads

ROOT = Path(__file__).parents[2]
BUNDLED = sorted((ROOT / "scenarios").glob("*.yaml"))

# A scenario that uses every block of the format, so each can be probed.
BASE: dict[str, Any] = {
    "name": "probe", "description": "every block", "seed": 1, "duration_ms": 10000,
    "cluster": {"brokers": 3, "config": {"min.insync.replicas": 2}, "switches": {"strict_min_isr": True},
                "network": {"latency_ms": {"min": 1, "max": 2}}},
    "topics": [{"name": "dev.a.in", "partitions": 2, "replication_factor": 3, "config": {"retention.ms": 1000}},
               {"name": "dev.a.out", "partitions": 2, "replication_factor": 3}],
    "producers": [{"name": "p", "config": {"acks": "all"},
                   "workload": {"topic": "dev.a.in", "count": 10, "key": {"pattern": "k-{n}", "cardinality": 2},
                                "transaction": {"size": 5}, "failures": {"every": 5}}}],
    "consumers": [{"name": "c", "topics": ["dev.a.in", "dev.a.out"], "config": {"group.id": "g"},
                   "on_failure": {"strategy": "retry-topics", "retry_topics": ["dev.a.out"], "dlq": "dev.a.out"},
                   "records": [{"topic": "dev.a.in", "partition": 1, "offset": 3, "fails": -1}]}],
    "pipelines": [{"name": "stage", "input": "dev.a.in", "output": "dev.a.out"}],
    "faults": [{"at_ms": 100, "action": "crash", "target": "broker-1"}],
    "expect": {"lost_acknowledged": 0},
}
# block -> where it sits in BASE
BLOCKS = {
    "top": (), "cluster": ("cluster",), "network": ("cluster", "network"),
    "latency": ("cluster", "network", "latency_ms"), "topic": ("topics", 0), "producer": ("producers", 0),
    "workload": ("producers", 0, "workload"), "key": ("producers", 0, "workload", "key"),
    "transaction": ("producers", 0, "workload", "transaction"),
    "failures": ("producers", 0, "workload", "failures"), "on_failure": ("consumers", 0, "on_failure"),
    "consumer": ("consumers", 0), "record": ("consumers", 0, "records", 0), "pipeline": ("pipelines", 0), "fault": ("faults", 0),
}


def _text(doc: dict) -> str:
    return json.dumps(doc)  # JSON is YAML


def _schema() -> dict[str, Any]:
    out, err = io.StringIO(), io.StringIO()
    assert main(["validate", "--schema"], out=out, err=err) == 0, err.getvalue()
    return json.loads(out.getvalue())


def test_base_probe_scenario_is_valid() -> None:
    loads(_text(BASE), "base.yaml")


def test_every_loader_block_is_in_the_schema() -> None:
    assert set(BLOCKS) == set(schema.FIELDS)


@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_schema_keys_equal_the_loaders_keys(block: str) -> None:
    """Put an unknown key in the block: the loader's error lists the keys it accepts."""
    doc = copy.deepcopy(BASE)
    node: Any = doc
    for p in BLOCKS[block]:
        node = node[p]
    node["zzz_probe"] = 1
    with pytest.raises(ScenarioError) as e:
        loads(_text(doc), "probe.yaml")
    msg = e.value.problem
    assert "unknown key 'zzz_probe'" in msg, msg
    accepted = set(re.findall(r"'([^']+)'", msg.split("expected one of", 1)[1]))
    assert accepted == set(schema.FIELDS[block]), (
        f"{block}: loader accepts {sorted(accepted - set(schema.FIELDS[block]))} that the schema lacks; "
        f"schema has {sorted(set(schema.FIELDS[block]) - accepted)} that the loader rejects")


def test_every_top_level_key_is_typed() -> None:
    s = _schema()
    assert set(s["properties"]) == set(TOP)
    for name, prop in s["properties"].items():
        assert {"type", "$ref", "enum", "anyOf"} & set(prop), f"{name} has no type in the schema"


def test_document_shape() -> None:
    s = _schema()
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert s["additionalProperties"] is False and set(s["required"]) == {"duration_ms", "cluster", "topics"}
    refs = re.findall(r'"\$ref": "#/\$defs/([^"]+)"', json.dumps(s))
    assert refs and all(r in s["$defs"] for r in refs)


@pytest.mark.parametrize("role,ref", [("broker", "brokerConfig"), ("topic", "topicConfig"),
                                      ("producer", "producerConfig"), ("consumer", "consumerConfig"),
                                      ("kafkasim", "kafkasimConfig")])
def test_config_blocks_list_every_registry_key(role: str, ref: str) -> None:
    block = _schema()["$defs"][ref]
    assert block["additionalProperties"] is False
    assert set(block["properties"]) == set(config.keys(role))
    for name, k in config.keys(role).items():
        prop = block["properties"][name]
        assert k.doc in prop["description"]
        assert "default" in prop
        assert {"type", "enum", "anyOf"} & set(prop), name


def test_producer_config_details() -> None:
    props = _schema()["$defs"]["producerConfig"]["properties"]
    assert set(props["acks"]["enum"]) >= {"all", "1", "0", "-1", 1, 0}
    assert props["acks"]["default"] == "all"
    assert props["enable.idempotence"] == {**props["enable.idempotence"], "type": "boolean", "default": True}
    assert props["linger.ms"]["type"] == "integer" and props["linger.ms"]["minimum"] == 0
    assert props["retries"]["maximum"] == config.INT_MAX
    assert props["compression.type"]["enum"] == ["none", "gzip", "snappy", "lz4", "zstd"]
    assert props["transactional.id"]["type"] == ["string", "null"]


def test_expect_names() -> None:
    exp = _schema()["$defs"]["expect"]
    assert set(exp["properties"]) == set(KNOWN_STATS)
    names = re.compile(exp["propertyNames"]["pattern"])
    assert names.match("groups.ledger.processed_twice") and names.match("errors.NOT_ENOUGH_REPLICAS")
    assert not names.match("lost_acknowleged")


# -- a small draft 2020-12 validator: the keywords the schema uses ---------------------------------------
def _errors(inst: Any, s: Any, root: dict, at: str = "$") -> list[str]:
    if s is True:
        return []
    if s is False:
        return [f"{at}: not allowed"]
    out: list[str] = []
    if "$ref" in s:
        name = s["$ref"].removeprefix("#/$defs/")
        out += _errors(inst, root["$defs"][name], root, at)
    if "type" in s:
        types = s["type"] if isinstance(s["type"], list) else [s["type"]]
        checks = {"object": lambda v: isinstance(v, dict), "array": lambda v: isinstance(v, list),
                  "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
                  "null": lambda v: v is None,
                  "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
                  "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool)}
        if not any(checks[t](inst) for t in types):
            return [*out, f"{at}: expected {types}, got {inst!r}"]
    if "enum" in s and not any(inst == e and type(inst) is type(e) for e in s["enum"]):
        out.append(f"{at}: {inst!r} not in enum")
    if "const" in s and inst != s["const"]:
        out.append(f"{at}: {inst!r} != const")
    if isinstance(inst, int | float) and not isinstance(inst, bool):
        if "minimum" in s and inst < s["minimum"]:
            out.append(f"{at}: below minimum")
        if "maximum" in s and inst > s["maximum"]:
            out.append(f"{at}: above maximum")
        if "exclusiveMinimum" in s and inst <= s["exclusiveMinimum"]:
            out.append(f"{at}: not above exclusiveMinimum")
    if isinstance(inst, str):
        if "pattern" in s and not re.search(s["pattern"], inst):
            out.append(f"{at}: {inst!r} does not match {s['pattern']}")
        if "minLength" in s and len(inst) < s["minLength"]:
            out.append(f"{at}: too short")
    if isinstance(inst, list):
        if "minItems" in s and len(inst) < s["minItems"]:
            out.append(f"{at}: too few items")
        if s.get("uniqueItems") and len({json.dumps(v, sort_keys=True) for v in inst}) != len(inst):
            out.append(f"{at}: items not unique")
        if "items" in s:
            for i, v in enumerate(inst):
                out += _errors(v, s["items"], root, f"{at}[{i}]")
    if isinstance(inst, dict):
        props = s.get("properties", {})
        for r in s.get("required", []):
            if r not in inst:
                out.append(f"{at}: missing {r}")
        for k, v in inst.items():
            if "propertyNames" in s:
                out += _errors(k, s["propertyNames"], root, f"{at}.{k}(name)")
            if k in props:
                out += _errors(v, props[k], root, f"{at}.{k}")
            elif "additionalProperties" in s:
                out += _errors(v, s["additionalProperties"], root, f"{at}.{k}")
    if "anyOf" in s and all(_errors(inst, sub, root, at) for sub in s["anyOf"]):
        out.append(f"{at}: matches none of anyOf")
    for sub in s.get("allOf", []):
        out += _errors(inst, sub, root, at)
    if "if" in s and not _errors(inst, s["if"], root, at) and "then" in s:
        out += _errors(inst, s["then"], root, at)
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_schema_accepts_every_bundled_scenario(path: Path) -> None:
    s = _schema()
    assert _errors(_plain(yamlsafe.load_file(path)), s, s) == []


def test_schema_accepts_the_probe_scenario() -> None:
    s = _schema()
    assert _errors(BASE, s, s) == []


@pytest.mark.parametrize("change,fragment", [
    (lambda d: d.update(zzz=1), "$.zzz: not allowed"),
    (lambda d: d["cluster"].update(brokers="three"), "$.cluster.brokers"),
    (lambda d: d["producers"][0]["config"].update(acks=2), "$.producers[0].config.acks"),
    (lambda d: d["producers"][0]["config"].update(ack="all"), "$.producers[0].config.ack: not allowed"),
    (lambda d: d["faults"][0].update(action="explode"), "$.faults[0].action"),
    (lambda d: d["faults"][0].pop("target"), "missing target"),
    (lambda d: d["topics"][0].update(name="bad name"), "$.topics[0].name"),
    (lambda d: d["expect"].update(lost_acknowleged=0), "lost_acknowleged(name)"),
    (lambda d: d["expect"].update(duplicates="about 3"), "$.expect.duplicates"),
    (lambda d: d["consumers"][0]["config"].update({"partition.assignment.strategy": ["fancy"]}), "strategy"),
    (lambda d: d["consumers"][0]["config"].update({"group.protocol": "CONSUMER"}), None),
    (lambda d: d["producers"][0]["workload"].update(rate_per_s=0), "rate_per_s"),
])
def test_schema_rejects_what_the_loader_rejects(change: Any, fragment: str | None) -> None:
    s = _schema()
    doc = copy.deepcopy(BASE)
    change(doc)
    errors = _errors(doc, s, s)
    if fragment is None:  # accepted by both (group.protocol is case-insensitive in Kafka)
        assert errors == []
        loads(_text(doc), "ok.yaml")
        return
    assert any(fragment in e for e in errors), errors
    with pytest.raises(ScenarioError):
        loads(_text(doc), "bad.yaml")


def test_schema_with_files_is_a_usage_error() -> None:
    err = io.StringIO()
    assert main(["validate", "--schema", str(BUNDLED[0])], out=io.StringIO(), err=err) == 2
    assert "--schema" in err.getvalue()
