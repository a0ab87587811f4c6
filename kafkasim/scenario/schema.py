"""A JSON Schema (draft 2020-12) of the scenario format, for editor completion and checks.

``kafkasim validate --schema`` prints :func:`build`. Config blocks list every key of
:data:`kafkasim.config.REGISTRY` with its type, default, valid values and doc; the other
blocks mirror the field tables of :mod:`kafkasim.scenario.load`. Those tables are inline in
the loader, so they are written out once more here (:data:`FIELDS`); a test probes the loader
with every key of every block, both ways, so the two cannot drift apart.

The schema is a little looser than the loader where JSON Schema cannot say what the loader
checks (a topic that exists, ``max >= min``, Kafka's cross-key rules): ``kafkasim validate``
is the authority; the schema helps while typing.

Kafka: none (the scenario format is kafkasim's).
"""

from __future__ import annotations

import math
import re
from typing import Any

from kafkasim import config
from kafkasim.scenario import model
from kafkasim.scenario.load import COMMIT_STRATEGIES, FAULT_ACTIONS, TOP

PIPELINE_MODES: tuple[str, ...] = getattr(model, "PIPELINE_MODES", ())
CRASH_POINTS: tuple[str, ...] = getattr(model, "CRASH_POINTS", ())

__all__ = ["FIELDS", "SCHEMA_ID", "build", "config_schema", "key_schema"]

SCHEMA_ID = "urn:kafkasim:scenario:1"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

def _int(minimum: int | None = None, default: int | None = None, doc: str = "") -> dict[str, Any]:
    s: dict[str, Any] = {"type": "integer", "description": doc}
    if minimum is not None:
        s["minimum"] = minimum
    if default is not None:
        s["default"] = default
    return s


def _varying(unit: str, default: int, doc: str) -> dict[str, Any]:
    """A number, or a distribution of them drawn per record."""
    return {"anyOf": [
        _int(0, default, unit),
        {"type": "object", "additionalProperties": False, "required": ["distribution", "min", "max"],
         "properties": {"distribution": {"const": "uniform"}, "min": _int(0), "max": _int(0)}},
        {"type": "object", "additionalProperties": False, "required": ["distribution", "mean"],
         "properties": {"distribution": {"const": "exponential"}, "mean": {"type": "number", "minimum": 0}}},
        {"type": "object", "additionalProperties": False, "required": ["distribution", "values"],
         "properties": {"distribution": {"const": "choice"},
                        "values": {"type": "array", "minItems": 1, "items": _int(0)}}},
    ], "description": f"{doc}, or {{distribution: uniform, min, max}} / {{distribution: exponential, mean}} / "
       "{distribution: choice, values: [...]} (one drawn per record)"}


def _str(doc: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": doc, **extra}


# The loader's blocks: property name -> schema. Kept in step with load.py by
# tests/scenario/test_schema.py (every key here is accepted there and vice versa).
FIELDS: dict[str, dict[str, dict[str, Any]]] = {
    "top": {
        "name": _str(TOP["name"] + " (default: the file name)"),
        "description": _str(TOP["description"] + "; printed with the report"),
        "seed": _int(0, 0, TOP["seed"] + " (kafkasim run --seed N overrides it)"),
        "duration_ms": _int(1, None, TOP["duration_ms"] + " (ms)"),
        "cluster": {"$ref": "#/$defs/cluster"},
        "topics": {"type": "array", "items": {"$ref": "#/$defs/topic"}, "description": TOP["topics"]},
        "producers": {"type": "array", "items": {"$ref": "#/$defs/producer"}, "description": TOP["producers"]},
        "consumers": {"type": "array", "items": {"$ref": "#/$defs/consumer"},
                      "description": "consumer applications: in a group with config group.id, else standalone"},
        "faults": {"type": "array", "items": {"$ref": "#/$defs/fault"}, "description": TOP["faults"]},
        "expect": {"$ref": "#/$defs/expect"},
        "pipelines": {"type": "array", "items": {"$ref": "#/$defs/pipeline"}, "description": TOP.get("pipelines", "")},
        "modes": {"type": "array", "items": {"enum": list(PIPELINE_MODES)}, "minItems": 1, "uniqueItems": True,
                  "description": TOP.get("modes", "") + " (needs pipelines)"},
    },
    "cluster": {
        "brokers": _int(1, None, "number of brokers, named broker-1 .. broker-N"),
        "config": {"$ref": "#/$defs/brokerConfig"},
        "switches": {"$ref": "#/$defs/kafkasimConfig"},
        "network": {"$ref": "#/$defs/network"},
    },
    "network": {
        "latency_ms": {"$ref": "#/$defs/latency"},
    },
    "latency": {
        "min": _int(0, 1, "smallest one-way latency (ms)"),
        "max": _int(0, None, "largest one-way latency (ms; at least min, default min)"),
    },
    "topic": {
        "name": _str("topic name: 1-249 of [a-zA-Z0-9._-] (best practice: {environment}.{service}.{topic})",
                     pattern=r"^(?!\.{1,2}$)[A-Za-z0-9._-]{1,249}$"),
        "partitions": _int(1, None, "partition count (default: the broker's num.partitions, 1)"),
        "replication_factor": _int(1, None, "copies of each partition, at most the number of brokers "
                                   "(default: the broker's default.replication.factor, 1)"),
        "config": {"$ref": "#/$defs/topicConfig"},
    },
    "producer": {
        "name": _str("node name (default producer-N)"),
        "config": {"$ref": "#/$defs/producerConfig"},
        "workload": {"$ref": "#/$defs/workload"},
    },
    "workload": {
        "topic": _str("topic to send to (one of topics[].name)"),
        "count": _int(0, None, "records to send (or give duration_ms)"),
        "duration_ms": _int(0, None, "instead of count: send at rate_per_s for this long (ms)"),
        "rate_per_s": {"type": "number", "exclusiveMinimum": 0, "default": 1000, "description": "records per second"},
        "start_ms": _int(0, 0, "when to start (ms)"),
        "key": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/key"}],
                "description": "record keys (omit for null keys)"},
        "value_size": _varying("bytes per value", 100, "bytes per value"),
        "partition": _int(-1, -1, "explicit partition (-1: the partitioner chooses)"),
        "transaction": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/transaction"}],
                        "description": "send in transactions (a transactional producer; transactional.id "
                        "defaults to <name>-txn)"},
        "failures": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/failures"}],
                     "description": "records whose processing fails: every n-th record, for k attempts"},
        "headers": {"type": ["object", "null"], "propertyNames": {"minLength": 1},
                    "additionalProperties": {"type": "string", "pattern": r"^([^{}]|\{n\}|\{producer\})*$"},
                    "description": "record headers (KIP-82): name -> value; values may use {n} (the record "
                    "number) and {producer}; a correlation_id header lets readers join records"},
        "value_compressibility": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.8,
                                  "description": "share of the values' bytes that repeat earlier ones, which a "
                                  "compression.type codec can squeeze (0: random or encrypted data)"},
    },
    "failures": {
        "every": _int(1, None, "every n-th record of a partition fails"),
        "attempts": _int(-1, -1, "failing attempts (-1: every attempt, a poison record)"),
    },
    "on_failure": {
        "strategy": {"enum": ["retry-in-place", "retry-topics"], "description": "what the application does"},
        "backoff_ms": _int(0, 1000, "retry-in-place: pause before retrying (ms)"),
        "retry_topics": {"type": "array", "items": {"type": "string"}, "description": "retry topics, in order"},
        "delays_ms": {"type": "array", "items": {"type": "integer", "minimum": 0},
                      "description": "delay before each retry tier (ms)"},
        "dlq": _str("the dead-letter topic after the last retry"),
    },
    "transaction": {
        "size": _int(1, 10, "records per transaction"),
        "abort_every": _int(0, 0, "abort every n-th transaction (0: never)"),
    },
    "key": {
        "pattern": _str("key format with {n}, the key number", default="key-{n}"),
        "cardinality": _int(1, 1, "distinct keys (pattern must contain {n} when above 1)"),
        "choice": {"enum": ["cycle", "random"], "default": "cycle", "description": "cycle through the keys or pick at random"},
    },
    "consumer": {
        "name": _str("node name (default consumer-N; with members, name-1 .. name-N)"),
        "config": {"$ref": "#/$defs/consumerConfig"},
        "topics": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                   "description": "topics to read (subscribe with a group.id, else assign every partition)"},
        "members": _int(1, 1, "how many identical consumers (named name-1..N)"),
        "start_ms": _int(0, 0, "when to start (ms)"),
        "processing_ms": _varying("ms per record", 0, "time to process one record: ms"),
        "processing": {"enum": ["sync", "async"], "default": "sync",
                       "description": "sync (process, then poll again) or async (hand records to a worker, poll on)"},
        "commit": {"enum": list(COMMIT_STRATEGIES), "default": "auto",
                   "description": "offset commits: auto (enable.auto.commit), after-poll (commitSync), "
                   "after-poll-async (commitAsync), after-record, before-processing, none"},
        "on_failure": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/on_failure"}],
                       "description": "retry-in-place, or retry-topics with a dead-letter topic"},
        "records": {"type": "array", "items": {"$ref": "#/$defs/record"},
                    "description": "records at chosen offsets that are slow or fail (a poison record)"},
    },
    "record": {
        "topic": _str("the record's topic (one the consumer reads)"),
        "partition": _int(0, None, "its partition"),
        "offset": _int(0, None, "its offset"),
        "processing_ms": _int(0, None, "how long processing it takes (ms)"),
        "fails": _int(-1, 0, "how many processing attempts fail (-1: all, a poison record; needs on_failure)"),
    },
    "pipeline": {
        "name": _str("node name (also the group.id unless config sets one; with members, name-1 .. name-N)"),
        "input": _str("topic to consume"),
        "output": _str("topic to produce to (same partition number; at least as many partitions as input)"),
        "mode": {"enum": list(PIPELINE_MODES), "default": "at-least-once",
                 "description": "order of produce and commit: " + ", ".join(PIPELINE_MODES)},
        "members": _int(1, 1, "how many instances (named name-1..N)"),
        "processing_ms": _int(0, 0, "time to process one record (ms)"),
        "config": {"$ref": "#/$defs/consumerConfig"},
        "producer_config": {"$ref": "#/$defs/producerConfig"},
    },
    "fault": {
        "at_ms": _int(0, None, "when (ms), at most duration_ms"),
        "action": {"enum": list(FAULT_ACTIONS), "description": "what happens"},
        "target": _str("node to crash/restart (broker-N, a producer or a consumer, or a role resolved when the "
                       "fault fires: leader:<topic>-<partition>, coordinator:<group.id>, "
                       "txn-coordinator:<transactional.id>), or consumer to close/stall"),
        "from": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
                 "description": "link source node(s): with lists on both sides, a cut between two node sets"},
        "to": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
               "description": "link destination node(s)"},
        "both": {"type": "boolean", "description": "both directions (default true; false for drop)"},
        "count": _int(1, 1, "messages to drop"),
        "extra_ms": _int(0, None, "added latency (ms) of a slow link"),
        "duration_ms": _int(0, None, "how long a stall lasts (ms)"),
        "point": {"enum": list(CRASH_POINTS), "description": "consumers and pipelines: crash when the "
                  "loop next reaches this step"},
        "topic": _str("add-partitions: the topic to grow"),
        "partitions": _int(2, 2, "add-partitions: the topic's new partition count (more than it has)"),
    },
}

REQUIRED = {
    "top": ["duration_ms", "cluster", "topics"], "cluster": ["brokers"], "network": ["latency_ms"],
    "topic": ["name"], "producer": ["workload"], "workload": ["topic"], "consumer": ["topics"],
    "record": ["topic", "partition", "offset"],
    "fault": ["at_ms", "action"], "pipeline": ["name", "input", "output"],
}


def _obj(block: str, description: str = "") -> dict[str, Any]:
    s: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": dict(FIELDS[block])}
    if description:
        s["description"] = description
    if block in REQUIRED:
        s["required"] = REQUIRED[block]
    return s


def _json_number(x: float | None) -> float | int | None:
    if x is None or not math.isfinite(x):
        return None
    return int(x) if float(x).is_integer() else x


def _ci_pattern(words: list[str]) -> str:
    """A case-insensitive alternation (JSON Schema regexes take no flags)."""
    def one(w: str) -> str:
        return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c if c.isalnum() or c in "-_" else re.escape(c)
                       for c in w)
    return "^(" + "|".join(one(w) for w in words) + ")$"


def key_schema(k: config.ConfigKey) -> dict[str, Any]:
    """One config key: type, default, valid values or range, and its doc."""
    doc = k.doc + ("" if k.modelled else " (kafkasim: not modelled)")
    s: dict[str, Any] = {"description": f"{doc} [{k.role}, {k.type}]"}
    if k.name == "acks":
        s.update(enum=["all", "1", "0", "-1", 1, 0, -1], default="all")
        return s
    if k.name == "partition.assignment.strategy":
        classes = [c for c in getattr(config, "_ASSIGNOR_CLASSES", {})]
        names = [*config.ASSIGNORS, *classes, *(f"org.apache.kafka.clients.consumer.{c}" for c in classes)]
        item = {"anyOf": [{"enum": names}, {"type": "string", "pattern": r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"}]}
        s.update(anyOf=[{"type": "array", "items": item, "minItems": 1, "uniqueItems": True},
                        {"type": "string", "description": "comma-separated"}], default=list(k.default))
        return s
    if k.name == "group.protocol":
        s.update(type="string", pattern=_ci_pattern([c for c in k.choices or () if c]), default=k.default,
                 examples=[c for c in k.choices or () if c])
        return s
    if k.type in ("int", "long", "double"):
        s["type"] = "number" if k.type == "double" else "integer"
        lo, hi = config._BOUNDS.get(k.type, (None, None)) if hasattr(config, "_BOUNDS") else (None, None)
        lo = k.min if k.min is not None else lo
        hi = k.max if k.max is not None else hi
        if _json_number(lo) is not None:
            s["minimum"] = _json_number(lo)
        if _json_number(hi) is not None:
            s["maximum"] = _json_number(hi)
        s["default"] = k.default
    elif k.type == "bool":
        s.update(type="boolean", default=k.default)
    elif k.type == "list":
        item: dict[str, Any] = {"enum": list(k.choices)} if k.choices else {"type": "string"}
        arr: dict[str, Any] = {"type": "array", "items": item, "uniqueItems": True}
        if k.choices:
            arr["minItems"] = 1
        s.update(anyOf=[arr, {"type": "string", "description": "comma-separated"}], default=list(k.default))
    else:  # string, class
        if k.choices:
            s["enum"] = list(k.choices)
        else:
            s["type"] = ["string", "null"] if k.default is None else "string"
            if k.name in getattr(config, "_NON_EMPTY", ()):
                s["minLength"] = 1
        s["default"] = k.default
    return s


def config_schema(role: str, description: str) -> dict[str, Any]:
    """A config block: every key of ``role`` in the registry, nothing else (null means empty)."""
    return {"type": ["object", "null"], "additionalProperties": False, "description": description,
            "properties": {name: key_schema(k) for name, k in sorted(config.keys(role).items())}}


def _expect() -> dict[str, Any]:
    from kafkasim.check.expect import KNOWN_STATS
    from kafkasim.scenario.load import _EXPECT_RE

    value = {"anyOf": [{"type": "number"}, {"type": "string", "pattern": _EXPECT_RE.pattern}],
             "description": 'a number, or a comparison like ">0", "<= 5000", "== sent", '
                            '"== acknowledged - lost_acknowledged"'}
    names = "|".join(sorted(KNOWN_STATS, key=len, reverse=True))
    return {
        "type": "object",
        "description": "what Kafka guarantees here, checked on every run: result name -> number or comparison "
                       "(dotted names look inside: groups.<group.id>.<stat>, errors.<ERROR>, failed_by_error.<ERROR>)",
        "properties": {name: {**value, "description": doc} for name, doc in KNOWN_STATS.items()},
        "propertyNames": {"pattern": f"^({names})(\\..+)?$"},
        "additionalProperties": value,
    }


def _workload() -> dict[str, Any]:
    s = _obj("workload", "what the producer sends")
    s["oneOf"] = [{"required": ["count"]}, {"required": ["duration_ms"]}]
    return s


def _fault() -> dict[str, Any]:
    s = _obj("fault", "one scheduled fault: at_ms, action and its target")
    node = ["crash", "restart", "close", "stall", "pause", "power-loss", "disk-loss"]
    link = [a for a in FAULT_ACTIONS if a not in node and a != "add-partitions"]
    s["allOf"] = [
        {"if": {"properties": {"action": {"enum": node}}, "required": ["action"]}, "then": {"required": ["target"]}},
        {"if": {"properties": {"action": {"enum": link}}, "required": ["action"]}, "then": {"required": ["from", "to"]}},
        {"if": {"properties": {"action": {"enum": ["stall", "pause"]}}, "required": ["action"]},
         "then": {"required": ["duration_ms"]}},
        {"if": {"properties": {"action": {"const": "add-partitions"}}, "required": ["action"]},
         "then": {"required": ["topic", "partitions"]}},
        {"if": {"properties": {"action": {"const": "slow"}}, "required": ["action"]},
         "then": {"required": ["extra_ms"]}},
    ]
    return s


def build() -> dict[str, Any]:
    """The scenario format as a JSON Schema document (a plain dict, ready for ``json.dumps``)."""
    from kafkasim._version import __version__

    top = _obj("top")
    for name, doc in TOP.items():  # a key the loader took on since FIELDS was written: accepted, untyped
        top["properties"].setdefault(name, {"description": doc})
    return {
        "$schema": DRAFT,
        "$id": SCHEMA_ID,
        "title": "kafkasim scenario",
        "description": f"A kafkasim scenario file (format version 1, kafkasim {__version__}): brokers, topics, "
                       "producers, consumers, a fault schedule and the expectations checked on every run.",
        "type": "object",
        "additionalProperties": False,
        "required": top["required"],
        "properties": top["properties"],
        "$defs": {
            "cluster": _obj("cluster", TOP["cluster"]),
            "network": _obj("network", "network latency"),
            "latency": _obj("latency", "one-way link latency, uniform in [min, max] ms"),
            "topic": _obj("topic", "a topic to create"),
            "producer": _obj("producer", "a producer and its workload"),
            "workload": _workload(),
            "key": _obj("key", "record keys: pattern formatted with n in [0, cardinality)"),
            "transaction": _obj("transaction", "transactions of the workload"),
            "failures": _obj("failures", "records whose processing fails"),
            "on_failure": _obj("on_failure", "what the application does with a record that fails"),
            "consumer": _obj("consumer", "a consumer application"),
            "record": _obj("record", "a record at a chosen offset that is slow or fails"),
            "pipeline": _obj("pipeline", "a consume-transform-produce stage"),
            "fault": _fault(),
            "expect": _expect(),
            "brokerConfig": config_schema("broker", "broker config (Kafka keys; Kafka 4.x defaults)"),
            "topicConfig": config_schema("topic", "topic config (defaults from the broker-level keys)"),
            "producerConfig": config_schema("producer", "producer config (Kafka keys; Kafka 4.x defaults)"),
            "consumerConfig": config_schema("consumer", "consumer config (group.id makes it a group member)"),
            "kafkasimConfig": config_schema("kafkasim", "kafkasim version switches"),
        },
    }
