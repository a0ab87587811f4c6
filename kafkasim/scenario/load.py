"""Load and validate a scenario file into a frozen :class:`~kafkasim.scenario.model.Scenario`.

Scenario files are data: read by the strict YAML loader, never evaluated. Every problem
is one :class:`~kafkasim.errors.ScenarioError`, ``file:line:col: path: problem``, with
"did you mean" for misspelt keys and the check Kafka itself would make.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from pathlib import Path as FsPath
from typing import Any

from kafkasim import config
from kafkasim.clients.compression import DEFAULT_COMPRESSIBILITY
from kafkasim.errors import ConfigError, ScenarioError
from kafkasim.scenario import roles, yamlsafe
from kafkasim.scenario.model import (
    CRASH_POINTS,
    PIPELINE_MODES,
    ConsumerSpec,
    Distribution,
    Expectation,
    FailurePolicy,
    Fault,
    KeySpec,
    Latency,
    MarkedRecord,
    PipelineSpec,
    ProducerSpec,
    Scenario,
    TopicSpec,
    Workload,
)

Path = tuple[str | int, ...]
REQUIRED = object()
# sizes beyond these would exhaust memory long before teaching anything
MAX_BROKERS, MAX_PARTITIONS, MAX_MEMBERS = 1_000, 100_000, 10_000
MAX_RECORDS, MAX_KEYS = 100_000_000, 1_000_000
FAULT_ACTIONS = ("crash", "restart", "cut", "heal", "slow", "drop", "close", "stall", "pause", "power-loss", "disk-loss",
                 "add-partitions")
#: auto: enable.auto.commit inside poll(); after-poll: commitSync of the polled offsets once processed;
#: after-poll-async: commitAsync of them (not awaited, not retried); after-record: commitSync per record;
#: before-processing: commitSync before processing (at-most-once); none: never commit.
COMMIT_STRATEGIES = ("auto", "after-poll", "after-poll-async", "after-record", "before-processing", "none")
OPS = ("==", "!=", "<=", ">=", "<", ">")
# names may contain '-' (group ids, modes); arithmetic needs spaces around - and +
_TERM = r"(?:[A-Za-z_][\w.-]*|\d+(?:\.\d+)?)"
_EXPECT_RE = re.compile(rf"^\s*(==|!=|<=|>=|<|>)?\s*(-?{_TERM}(?:\s+[-+]\s+{_TERM})*)\s*$")


class Reader:
    """Typed access to the loaded YAML with located errors."""

    def __init__(self, file: str, root: Any) -> None:
        self.file = file
        self.root = root

    def error(self, path: Path, problem: str, *, key: bool = False) -> ScenarioError:
        return yamlsafe.scenario_error(problem, self.file, self.root, path, key=key)

    def mapping(self, value: Any, path: Path, fields: dict[str, str]) -> dict[str, Any]:
        """Check ``value`` is a mapping whose keys are all in ``fields`` (name -> what it is)."""
        if not isinstance(value, dict):
            raise self.error(path, f"expected a mapping with {_names(fields)}, got {_got(value)}")
        for k in value:
            if k not in fields:
                raise self.error((*path, k), f"unknown key '{k}'{yamlsafe.suggest(k, fields)}; "
                                 f"expected one of {_names(fields)}", key=True)
        return value

    def get(self, m: dict[str, Any], path: Path, name: str, kind: type | tuple[type, ...],
            default: Any = REQUIRED, *, minimum: float | None = None,
            choices: tuple[str, ...] | None = None, maximum: float | None = None) -> Any:
        if name not in m:
            if default is REQUIRED:
                raise self.error(path, f"missing required key '{name}'")
            return default
        v = m[name]
        p = (*path, name)
        kinds = kind if isinstance(kind, tuple) else (kind,)
        ok = isinstance(v, kinds) and not (isinstance(v, bool) and bool not in kinds)
        if float in kinds and isinstance(v, int) and not isinstance(v, bool):
            ok = True
        if not ok:
            raise self.error(p, f"expected {_kind(kinds)}, got {_got(v)}")
        if minimum is not None and v < minimum:
            raise self.error(p, f"must be >= {minimum:g}, got {v}")
        if maximum is not None and v > maximum:
            raise self.error(p, f"must be <= {maximum:g} (a simulation this size would not fit in memory), got {v}")
        if choices is not None and v not in choices:
            raise self.error(p, f"expected one of {', '.join(choices)}, got {v!r}{yamlsafe.suggest(str(v), choices)}")
        return v

    def conf(self, role: str, value: Any, path: Path,
             resolver: Callable[[Any, str], dict[str, Any]] | None = None) -> dict[str, Any]:
        """Resolve a Kafka config block against the registry, locating any ConfigError."""
        if value is None:
            value = {}
        prefix = yamlsafe.format_path(path)
        try:
            return dict(resolver(value, prefix) if resolver else config.resolve(role, value, prefix))
        except ConfigError as exc:
            raise self._located(exc, value, path, prefix) from None

    def _located(self, exc: ConfigError, value: Any, path: Path, prefix: str) -> ScenarioError:
        key = exc.path[len(prefix) + 1:] if exc.path.startswith(prefix + ".") else ""
        if key and isinstance(value, dict) and key in value:
            return self.error((*path, key), exc.problem)
        return self.error(path, f"{key + ': ' if key else ''}{exc.problem}")


def load(path: str | FsPath) -> Scenario:
    """Read, parse and validate a scenario file."""
    file = str(path)
    data = yamlsafe.load_file(path)
    text = FsPath(path).read_bytes()
    return validate(data, file, hashlib.sha256(text).hexdigest()[:16])


def loads(text: str, file: str = "<scenario>") -> Scenario:
    data = yamlsafe.load(text, file)
    return validate(data, file, hashlib.sha256(text.encode()).hexdigest()[:16])


TOP = {
    "name": "the scenario's name", "description": "what it teaches", "seed": "default seed",
    "duration_ms": "simulated run time", "cluster": "brokers and their config", "topics": "topics to create",
    "producers": "producer workloads", "consumers": "standalone consumers", "faults": "the fault schedule",
    "expect": "what Kafka guarantees here, checked on every run",
    "pipelines": "consume-transform-produce stages", "modes": "run the pipelines once per delivery mode",
}


def validate(data: Any, file: str, source_hash: str = "") -> Scenario:
    r = Reader(file, data)
    top = r.mapping(data, (), TOP)
    name = r.get(top, (), "name", str, FsPath(file).stem)
    description = r.get(top, (), "description", str, "")
    seed = r.get(top, (), "seed", int, 0, minimum=0)
    duration = r.get(top, (), "duration_ms", int, minimum=1)

    cl = r.mapping(r.get(top, (), "cluster", dict), ("cluster",),
                   {"brokers": "number of brokers", "config": "broker config", "switches": "kafkasim version switches",
                    "network": "network latency"})
    brokers = r.get(cl, ("cluster",), "brokers", int, minimum=1, maximum=MAX_BROKERS)
    bconf = r.conf("broker", cl.get("config"), ("cluster", "config"),
                   lambda v, p: config.check_broker(config.resolve("broker", v, p), p))
    switches = r.conf("kafkasim", cl.get("switches"), ("cluster", "switches"))
    for switch, key in config.keys("kafkasim").items():
        if not key.modelled and switches[switch] != key.default:
            # never a silently wrong run: a switch kafkasim does not model yet is refused
            raise r.error(("cluster", "switches", switch), f"{config.show(switches[switch])} is not modelled yet "
                          f"(kafkasim runs {switch}={config.show(key.default)} only)")
    latency = Latency()
    if "network" in cl:
        net = r.mapping(cl["network"], ("cluster", "network"), {"latency_ms": "one-way latency {min, max}"})
        lat = r.mapping(r.get(net, ("cluster", "network"), "latency_ms", dict), ("cluster", "network", "latency_ms"),
                        {"min": "ms", "max": "ms"})
        lo = r.get(lat, ("cluster", "network", "latency_ms"), "min", int, 1, minimum=0)
        hi = r.get(lat, ("cluster", "network", "latency_ms"), "max", int, lo, minimum=lo)
        latency = Latency(lo, hi)

    topics = _topics(r, top, brokers, bconf)
    topic_names = {t.name: t for t in topics}
    producers = _producers(r, top, topic_names, bconf)
    consumers = _consumers(r, top, topic_names, bconf)
    pipelines = _pipelines(r, top, topic_names, bconf)
    modes = _modes(r, top, pipelines)
    nodes = {f"broker-{i}" for i in range(1, brokers + 1)} | {"controller", "monitor"}
    for kind, items in (("producers", producers), ("consumers", consumers), ("pipelines", pipelines)):
        for i, item in enumerate(items):
            names = [item.name, f"{item.name}-producer"] if kind == "pipelines" else [item.name]
            for n in names:
                if n in nodes:
                    raise r.error((kind, i, "name"), f"name '{n}' is already used by another node")
                nodes.add(n)
    starts = {p.name: p.workload.start_ms for p in producers if p.workload is not None}
    starts.update({c.name: c.start_ms for c in consumers})
    grown = {t.name: t.partitions for t in topics}
    for f in top.get("faults") or []:  # partitions a fault adds can be aimed at too
        if isinstance(f, dict) and f.get("action") == "add-partitions" and isinstance(f.get("partitions"), int):
            grown[f.get("topic")] = max(grown.get(f.get("topic"), 0), f["partitions"])
    role_ids = {
        "leader": {f"{t}-{i}" for t, n in grown.items() for i in range(n)},
        "coordinator": {c.config["group.id"] for c in consumers if c.config.get("group.id")}
        | {p.config.get("group.id", p.name) for p in pipelines},
        "txn-coordinator": {p.config["transactional.id"] for p in producers if p.config.get("transactional.id")}
        | {f"{p.name}-txn" for p in pipelines},
    }
    faults = _faults(r, top, nodes, duration, {c.name for c in consumers} | {p.name for p in pipelines},
                     {p.name for p in pipelines}, {p.name for p in producers},
                     {p.name for p in producers if p.config.get("transactional.id")}, starts, role_ids,
                     {t.name: t.partitions for t in topics},
                     {**{c.name: _crash_points(c) for c in consumers}, **{p.name: CRASH_POINTS for p in pipelines}})
    expect = _expect(r, top)
    return Scenario(name, file, description, seed, duration, brokers, bconf, switches, latency, topics,
                    producers, consumers, faults, expect, source_hash, pipelines, modes)


def _headers(r: Reader, w: dict, wp: Path) -> tuple[tuple[str, str], ...]:
    """``workload.headers``: string names to string value templates using only {n} and {producer}."""
    if w.get("headers") is None:
        return ()
    hp = (*wp, "headers")
    hm = r.get(w, wp, "headers", dict)
    out = []
    for name, value in hm.items():
        if not isinstance(name, str) or not name:
            raise r.error((*hp, name), f"a header name must be a non-empty string, got {_got(name)}", key=True)
        if not isinstance(value, str):
            hint = f' (quote it: "{value}")' if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
            raise r.error((*hp, name), f"expected a string{hint}, got {_got(value)}")
        if re.search(r"[{}]", re.sub(r"\{(?:n|producer)\}", "", value)):
            raise r.error((*hp, name), f"'{value}': only {{n}} (the record number) and {{producer}} may appear in "
                          "braces")
        out.append((name, value))
    return tuple(out)


def _pipelines(r: Reader, top: dict, topics: dict[str, TopicSpec], bconf: dict) -> tuple[PipelineSpec, ...]:
    out = []
    for i, item in enumerate(r.get(top, (), "pipelines", list, [])):
        p = ("pipelines", i)
        m = r.mapping(item, p, {
            "name": "node name (also the group.id unless config sets one)", "input": "topic to consume",
            "output": "topic to produce to (same partition number)", "mode": f"one of {', '.join(PIPELINE_MODES)}",
            "members": "how many instances (named name-1..N)", "processing_ms": "time to process one record",
            "config": "consumer config", "producer_config": "producer config"})
        name = r.get(m, p, "name", str)
        inp = _topic_ref_key(r, m, p, "input", topics)
        outp = _topic_ref_key(r, m, p, "output", topics)
        if topics[outp].partitions < topics[inp].partitions:
            raise r.error((*p, "output"), f"'{outp}' has {topics[outp].partitions} partitions, fewer than input "
                          f"'{inp}' ({topics[inp].partitions}); the stage writes each record to the same partition")
        mode = r.get(m, p, "mode", str, "at-least-once", choices=PIPELINE_MODES)
        raw = m.get("config")
        if raw is not None and not isinstance(raw, dict):
            raise r.error((*p, "config"), f"expected a mapping of consumer config keys, got {_got(raw)}")
        conf_in = dict(raw or {})
        conf_in.setdefault("group.id", name)
        conf_in.setdefault("enable.auto.commit", False)
        conf_in.setdefault("auto.offset.reset", "earliest")
        conf = r.conf("consumer", conf_in, (*p, "config"),
                      lambda v, pp: config.check_consumer(config.resolve("consumer", v, pp), bconf, pp))
        if conf["enable.auto.commit"]:
            raise r.error((*p, "config"), "a pipeline commits by itself: enable.auto.commit must be false")
        pconf = r.conf("producer", m.get("producer_config"), (*p, "producer_config"),
                       lambda v, pp: config.check_producer(config.resolve("producer", v, pp), pp, broker=bconf))
        members = r.get(m, p, "members", int, 1, minimum=1, maximum=MAX_MEMBERS)
        processing = r.get(m, p, "processing_ms", int, 0, minimum=0)
        for k in range(members):
            member = f"{name}-{k + 1}" if members > 1 else name
            out.append(PipelineSpec(member, inp, outp, mode, dict(conf), dict(pconf), processing))
    return tuple(out)


def _topic_ref_key(r: Reader, m: dict, path: Path, key: str, topics: dict[str, TopicSpec]) -> str:
    name = r.get(m, path, key, str)
    if name not in topics:
        raise r.error((*path, key), f"unknown topic '{name}'{yamlsafe.suggest(name, topics)}; "
                      f"defined topics: {', '.join(sorted(topics)) or 'none'}")
    return name


def _modes(r: Reader, top: dict, pipelines: tuple[PipelineSpec, ...]) -> tuple[str, ...]:
    if "modes" not in top:
        return ()
    modes = r.get(top, (), "modes", list)
    if not pipelines:
        raise r.error(("modes",), "modes: runs the pipelines once per mode, but there are no pipelines", key=True)
    for j, mode in enumerate(modes):
        if mode not in PIPELINE_MODES:
            raise r.error(("modes", j), f"expected one of {', '.join(PIPELINE_MODES)}, got {mode!r}"
                          f"{yamlsafe.suggest(str(mode), PIPELINE_MODES)}")
    if len(set(modes)) != len(modes) or not modes:
        raise r.error(("modes",), "expected a non-empty list of distinct modes")
    return tuple(modes)


def _topics(r: Reader, top: dict, brokers: int, bconf: dict) -> tuple[TopicSpec, ...]:
    items = r.get(top, (), "topics", list)
    out = []
    seen: set[str] = set()
    for i, t in enumerate(items):
        p = ("topics", i)
        t = r.mapping(t, p, {"name": "topic name", "partitions": "partition count",
                             "replication_factor": "copies of each partition", "config": "topic config"})
        name = r.get(t, p, "name", str)
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,249}", name) or name in (".", ".."):
            raise r.error((*p, "name"), f"'{name}' is not a legal topic name (Kafka allows 1-249 of [a-zA-Z0-9._-])")
        if name in seen:
            raise r.error((*p, "name"), f"topic '{name}' is defined twice")
        seen.add(name)
        parts = r.get(t, p, "partitions", int, bconf["num.partitions"], minimum=1,
                      maximum=MAX_PARTITIONS)
        rf = r.get(t, p, "replication_factor", int, bconf["default.replication.factor"], minimum=1)
        if rf > brokers:
            raise r.error((*p, "replication_factor"), f"{rf} is larger than the number of brokers ({brokers}); "
                          "Kafka rejects the topic with INVALID_REPLICATION_FACTOR")
        tconf = r.conf("topic", t.get("config"), (*p, "config"), lambda v, pp: config.topic_config(bconf, v, pp))
        if "compact" in str(tconf["cleanup.policy"]):
            raise r.error((*p, "config", "cleanup.policy"), "log compaction is not modelled yet; only delete")
        out.append(TopicSpec(name, parts, rf, tconf))
    return tuple(out)


def _topic_ref(r: Reader, m: dict, path: Path, topics: dict[str, TopicSpec]) -> str:
    name = r.get(m, path, "topic", str)
    if name not in topics:
        raise r.error((*path, "topic"), f"unknown topic '{name}'{yamlsafe.suggest(name, topics)}; "
                      f"defined topics: {', '.join(sorted(topics)) or 'none'}")
    return name


def _producers(r: Reader, top: dict, topics: dict[str, TopicSpec], bconf: dict) -> tuple[ProducerSpec, ...]:
    out = []
    for i, item in enumerate(r.get(top, (), "producers", list, [])):
        p = ("producers", i)
        m = r.mapping(item, p, {"name": "node name", "config": "producer config", "workload": "what it sends"})
        name = r.get(m, p, "name", str, f"producer-{i + 1}")
        conf = r.conf("producer", m.get("config"), (*p, "config"),
                      lambda v, pp: config.check_producer(config.resolve("producer", v, pp), pp, broker=bconf))
        wp = (*p, "workload")
        w = r.mapping(r.get(m, p, "workload", dict), wp, {
            "topic": "topic to send to", "count": "records to send", "rate_per_s": "records per second",
            "duration_ms": "instead of count: send at rate_per_s for this long",
            "start_ms": "when to start", "key": "record keys (omit for null keys)", "value_size": "bytes per value (or a distribution)",
            "partition": "explicit partition",
            "transaction": "send in transactions: {size: records per transaction, abort_every: n}",
            "failures": "records whose processing fails: {every: n, attempts: k (-1: always, a poison record)}",
            "headers": "record headers: {name: value}; values may use {n} (record number) and {producer}",
            "value_compressibility": "share of the values' bytes a codec can squeeze, 0..1 (default 0.8)"})
        topic = _topic_ref(r, w, wp, topics)
        rate = r.get(w, wp, "rate_per_s", float, 1000.0)
        if rate <= 0:
            raise r.error((*wp, "rate_per_s"), f"must be > 0, got {rate}")
        if ("count" in w) == ("duration_ms" in w):
            raise r.error(wp, "give either count (records to send) or duration_ms (send at rate_per_s for "
                          "this long), not " + ("both" if "count" in w else "neither"))
        if "count" in w:
            count = r.get(w, wp, "count", int, minimum=0, maximum=MAX_RECORDS)
        else:  # rate and duration: the records due within duration_ms (record i is due at i / rate)
            sending = r.get(w, wp, "duration_ms", int, minimum=0)
            count = min(math.ceil(sending * rate / 1000.0), MAX_RECORDS + 1)
            if count > MAX_RECORDS:
                raise r.error((*wp, "duration_ms"), f"{sending} ms at {rate:g}/s is more than {MAX_RECORDS} records "
                              "(a simulation this size would not fit in memory)")
        start = r.get(w, wp, "start_ms", int, 0, minimum=0)
        value_size, value_sizes = _distribution(r, w, wp, "value_size", "bytes", 100)
        partition = r.get(w, wp, "partition", int, -1, minimum=-1)
        if partition >= topics[topic].partitions:
            raise r.error((*wp, "partition"), f"topic '{topic}' has {topics[topic].partitions} partitions, "
                          f"so partition {partition} does not exist")
        key = None
        if "key" in w and w["key"] is not None:
            kp = (*wp, "key")
            km = r.mapping(w["key"], kp, {"pattern": "format with {n}", "cardinality": "distinct keys",
                                          "choice": "cycle or random"})
            pattern = r.get(km, kp, "pattern", str, "key-{n}")
            cardinality = r.get(km, kp, "cardinality", int, 1, minimum=1, maximum=MAX_KEYS)
            if cardinality > 1 and "{n}" not in pattern:
                raise r.error((*kp, "pattern"), f"'{pattern}' must contain {{n}} (the key number) to make "
                              f"{cardinality} distinct keys")
            if re.search(r"\{(?!n\})|(?<!\{n)\}", pattern):
                raise r.error((*kp, "pattern"), f"'{pattern}': only {{n}} may appear in braces")
            key = KeySpec(pattern, cardinality, r.get(km, kp, "choice", str, "cycle", choices=("cycle", "random")))
        txn_size = abort_every = 0
        if w.get("transaction") is not None:
            tp_ = (*wp, "transaction")
            tm = r.mapping(w["transaction"], tp_, {"size": "records per transaction",
                                                   "abort_every": "abort every n-th transaction (0: never)"})
            txn_size = r.get(tm, tp_, "size", int, 10, minimum=1)
            abort_every = r.get(tm, tp_, "abort_every", int, 0, minimum=0)
            if not conf.get("transactional.id"):
                conf["transactional.id"] = f"{name}-txn"
                conf = dict(config.check_producer(conf, yamlsafe.format_path((*p, "config"))))
        fail_every, fail_attempts = 0, -1
        if w.get("failures") is not None:
            fp = (*wp, "failures")
            fm = r.mapping(w["failures"], fp, {"every": "every n-th record fails", "attempts": "failing attempts (-1: all)"})
            fail_every = r.get(fm, fp, "every", int, minimum=1)
            fail_attempts = r.get(fm, fp, "attempts", int, -1, minimum=-1)
        headers = _headers(r, w, wp)
        compressibility = r.get(w, wp, "value_compressibility", float, DEFAULT_COMPRESSIBILITY, minimum=0)
        if compressibility > 1:
            raise r.error((*wp, "value_compressibility"), f"must be <= 1 (a share of the bytes), got {compressibility}")
        out.append(ProducerSpec(name, conf, Workload(topic, count, float(rate), start, key, value_size, partition,
                                                     txn_size, abort_every, fail_every, fail_attempts, headers,
                                                     value_compressibility=float(compressibility),
                                                     value_sizes=value_sizes)))
    return tuple(out)


def _consumers(r: Reader, top: dict, topics: dict[str, TopicSpec], bconf: dict) -> tuple[ConsumerSpec, ...]:
    out = []
    for i, item in enumerate(r.get(top, (), "consumers", list, [])):
        p = ("consumers", i)
        m = r.mapping(item, p, {
            "name": "node name", "config": "consumer config (group.id makes it a group member)",
            "topics": "topics to read (subscribe with a group.id, else assign every partition)",
            "members": "how many identical consumers (named name-1..N)", "start_ms": "when to start",
            "processing_ms": "time to process one record (ms, or a distribution)",
            "processing": "sync (process, then poll again) or async (hand records to a worker, poll on)",
            "on_failure": "retry-in-place or retry-topics with a dead-letter topic",
            "records": "records at chosen offsets that are slow (processing_ms) or fail (fails)",
            "commit": f"offset commits: {', '.join(COMMIT_STRATEGIES)}"})
        name = r.get(m, p, "name", str, f"consumer-{i + 1}")
        conf = r.conf("consumer", m.get("config"), (*p, "config"),
                      lambda v, pp: config.check_consumer(config.resolve("consumer", v, pp), bconf, pp))
        commit = r.get(m, p, "commit", str, "auto", choices=COMMIT_STRATEGIES)
        explicit_auto = isinstance(m.get("config"), dict) and m["config"].get("enable.auto.commit")
        if commit != "auto":
            if explicit_auto is True:
                raise r.error((*p, "commit"), f"commit: {commit} commits by hand, but config sets "
                              "enable.auto.commit: true; set it false or use commit: auto")
            conf["enable.auto.commit"] = False
        elif conf.get("group.id") is not None and not conf["enable.auto.commit"]:
            raise r.error((*p, "commit"), "commit: auto needs enable.auto.commit: true (Kafka's default); "
                          "choose after-poll, after-poll-async, after-record, before-processing or none")
        if commit != "none" and conf.get("group.id") is None and commit != "auto":
            raise r.error((*p, "commit"), f"commit: {commit} needs a group.id in config (commits go to a group)")
        names = r.get(m, p, "topics", list)
        if not names:
            raise r.error((*p, "topics"), "expected at least one topic")
        for j, t in enumerate(names):
            if not isinstance(t, str):
                raise r.error((*p, "topics", j), f"expected a topic name, got {_got(t)}")
            if t not in topics:
                raise r.error((*p, "topics", j), f"unknown topic '{t}'{yamlsafe.suggest(t, topics)}")
        members = r.get(m, p, "members", int, 1, minimum=1, maximum=MAX_MEMBERS)
        if members > 1 and conf.get("group.instance.id") is not None:
            raise r.error((*p, "members"), "members > 1 would share one group.instance.id; Kafka fences the "
                          "duplicate (FENCED_INSTANCE_ID): list static members one by one")
        start = r.get(m, p, "start_ms", int, 0, minimum=0)
        processing, processing_time = _processing_time(r, m, p)
        asynchronous = r.get(m, p, "processing", str, "sync", choices=("sync", "async")) == "async"
        if asynchronous and commit not in ("auto", "none"):
            raise r.error((*p, "processing"), f"processing: async hands records to a worker; commit: {commit} "
                          "would commit before they are processed. Use commit: auto (the gotcha) or none")
        policy = _failure_policy(r, m, p, topics, names)
        if policy is not None and asynchronous:
            raise r.error((*p, "on_failure"), "on_failure needs processing: sync")
        marked = _marked_records(r, m, p, topics, names, policy is not None)
        for k in range(members):
            member = f"{name}-{k + 1}" if members > 1 else name
            out.append(ConsumerSpec(member, dict(conf), tuple(names), start, processing, commit, asynchronous,
                                    policy, processing_time, marked))
    return tuple(out)


def _marked_records(r: Reader, m: dict, p: Path, topics: dict[str, TopicSpec], subscribed: list,
                    has_policy: bool) -> tuple[MarkedRecord, ...]:
    """``records``: the record at an offset of a partition is slow and/or fails (a poison record)."""
    out: list[MarkedRecord] = []
    seen: set[tuple[str, int, int]] = set()
    for j, item in enumerate(r.get(m, p, "records", list, [])):
        rp = (*p, "records", j)
        d = r.mapping(item, rp, {"topic": "the record's topic (one the consumer reads)",
                                 "partition": "its partition", "offset": "its offset",
                                 "processing_ms": "how long processing it takes (ms)",
                                 "fails": "how many processing attempts fail (-1: all, a poison record)"})
        topic = r.get(d, rp, "topic", str)
        if topic not in subscribed:
            raise r.error((*rp, "topic"), f"'{topic}' is not one of this consumer's topics "
                          f"({', '.join(subscribed)}){yamlsafe.suggest(topic, set(subscribed))}")
        count = topics[topic].partitions
        partition = r.get(d, rp, "partition", int, minimum=0)
        if partition >= count:
            raise r.error((*rp, "partition"), f"'{topic}' has partitions 0..{count - 1}, got {partition}")
        offset = r.get(d, rp, "offset", int, minimum=0)
        ms = r.get(d, rp, "processing_ms", int, None, minimum=0) if "processing_ms" in d else None
        fails = r.get(d, rp, "fails", int, 0, minimum=-1)
        if ms is None and not fails:
            raise r.error(rp, "expected processing_ms (a slow record) or fails (a failing record), or both")
        if fails and not has_policy:
            raise r.error((*rp, "fails"), "a failing record needs the consumer's on_failure (what the "
                          "application does when processing fails)")
        if (topic, partition, offset) in seen:
            raise r.error(rp, f"{topic}-{partition} offset {offset} is listed twice")
        seen.add((topic, partition, offset))
        out.append(MarkedRecord(topic, partition, offset, ms, fails))
    return tuple(out)


DISTRIBUTIONS = ("uniform", "exponential", "choice")


def _processing_time(r: Reader, m: dict, p: Path) -> tuple[int, Distribution | None]:
    """``processing_ms``: ms per record, or a distribution (see :func:`_distribution`)."""
    return _distribution(r, m, p, "processing_ms", "ms", 0)


def _distribution(r: Reader, m: dict, p: Path, key: str, unit: str, default: int) -> tuple[int, Distribution | None]:
    """``key``: a number, or ``{distribution: uniform, min, max}`` / ``{distribution: exponential,
    mean}`` / ``{distribution: choice, values: [...]}``; returns (the mean rounded, the
    distribution or None for a number)."""
    v = m.get(key)
    if not isinstance(v, dict):
        return r.get(m, p, key, int, default, minimum=0), None
    pp = (*p, key)
    d = r.mapping(v, pp, {"distribution": ", ".join(DISTRIBUTIONS), "min": f"uniform: smallest ({unit})",
                          "max": f"uniform: largest ({unit})", "mean": f"exponential: mean ({unit})",
                          "values": f"choice: the values ({unit}) to pick from, each equally likely"})
    kind = r.get(d, pp, "distribution", str, choices=DISTRIBUTIONS)
    wanted = {"uniform": ("min", "max"), "exponential": ("mean",), "choice": ("values",)}[kind]
    for k in d:
        if k != "distribution" and k not in wanted:
            raise r.error((*pp, k), f"'{k}' does not apply to distribution {kind} (it takes {', '.join(wanted)})",
                          key=True)
    if kind == "uniform":
        lo = r.get(d, pp, "min", int, minimum=0)
        hi = r.get(d, pp, "max", int, minimum=lo)
        return round((lo + hi) / 2), Distribution("uniform", (lo + hi) / 2, lo, hi)
    if kind == "choice":
        values = r.get(d, pp, "values", list)
        for j, x in enumerate(values):
            if isinstance(x, bool) or not isinstance(x, int) or x < 0:
                raise r.error((*pp, "values", j), f"expected a whole number of {unit} >= 0, got {_got(x)}")
        if not values:
            raise r.error((*pp, "values"), "expected at least one value")
        mean = sum(values) / len(values)
        return round(mean), Distribution("choice", mean, min(values), max(values), tuple(values))
    mean = r.get(d, pp, "mean", float, minimum=0)
    return round(mean), Distribution("exponential", float(mean))


def _failure_policy(r: Reader, m: dict, p: Path, topics: dict[str, TopicSpec],
                    subscribed: list) -> FailurePolicy | None:
    if m.get("on_failure") is None:
        return None
    fp = (*p, "on_failure")
    fm = r.mapping(m["on_failure"], fp, {
        "strategy": "retry-in-place or retry-topics", "backoff_ms": "retry-in-place: pause before retrying",
        "retry_topics": "retry-topics: the retry topics, in order", "delays_ms": "delay before each retry tier",
        "dlq": "retry-topics: the dead-letter topic after the last retry"})
    strategy = r.get(fm, fp, "strategy", str, choices=("retry-in-place", "retry-topics"))
    backoff = r.get(fm, fp, "backoff_ms", int, 1000, minimum=0)
    retry: list[str] = r.get(fm, fp, "retry_topics", list, [])
    delays: list[int] = r.get(fm, fp, "delays_ms", list, [1000] * len(retry))
    for j, t in enumerate(retry):
        if t not in topics:
            raise r.error((*fp, "retry_topics", j), f"unknown topic {t!r}{yamlsafe.suggest(str(t), topics)}")
        if t not in subscribed:
            raise r.error((*fp, "retry_topics", j), f"the consumer must also subscribe to its retry topic '{t}' "
                          "(add it to topics)")
    if len(delays) != len(retry) or not all(isinstance(d, int) and d >= 0 for d in delays):
        raise r.error((*fp, "delays_ms"), f"expected {len(retry)} delays in ms, one per retry topic")
    dlq = r.get(fm, fp, "dlq", str, None) if "dlq" in fm else None
    if dlq is not None and dlq not in topics:
        raise r.error((*fp, "dlq"), f"unknown topic {dlq!r}{yamlsafe.suggest(dlq, topics)}")
    if strategy == "retry-topics" and (not retry or dlq is None):
        raise r.error(fp, "retry-topics needs retry_topics and a dlq")
    return FailurePolicy(strategy, backoff, tuple(retry), tuple(delays), dlq)


def _crash_points(c: ConsumerSpec) -> tuple[str, ...]:
    """The steps of a consumer application's loop a crash can be aimed at.

    There is no produce step; auto-commit and ``commit: none`` have no commit step of the
    application's own (auto-commit happens inside poll()); a worker thread's processing is
    not a step of the poll loop.
    """
    if c.async_processing:
        return ("after-consume",)
    steps = ("after-consume",) if c.on_failure is not None else ("after-consume", "mid-processing")
    return steps if c.commit in ("auto", "none") else (*steps, "before-commit", "after-commit")


def _faults(r: Reader, top: dict, nodes: set[str], duration: int,
            consumer_names: set[str] = frozenset(), pipeline_names: set[str] = frozenset(),
            producer_names: set[str] = frozenset(),
            transactional_producers: set[str] = frozenset(),
            starts: dict[str, int] | None = None,
            role_ids: dict[str, set[str]] | None = None,
            topic_partitions: dict[str, int] | None = None,
            crash_points: dict[str, tuple[str, ...]] | None = None) -> tuple[Fault, ...]:
    out = []
    crash_points = crash_points or {}
    sizes = dict(topic_partitions or {})  # each topic's partition count, grown by add-partitions in time order
    adds: list[tuple[int, int, str, int]] = []
    starts = starts or {}
    role_ids = role_ids or {}

    def role(v: str, where: Path) -> None:
        """``leader:<topic>-<partition>`` and the like must name something the scenario has."""
        kind, what = roles.parse(v)
        known = role_ids.get(kind, set())
        if what not in known:
            noun = {"leader": "partition", "coordinator": "group id", "txn-coordinator": "transactional id"}[kind]
            listed = ", ".join(sorted(known)[:12]) or "none in this scenario"
            raise r.error(where, f"unknown {noun} '{what}' in role '{v}'{yamlsafe.suggest(what, known)}; "
                          f"known: {listed}")

    for i, item in enumerate(r.get(top, (), "faults", list, [])):
        p = ("faults", i)
        m = r.mapping(item, p, {
            "at_ms": "when", "action": f"one of {', '.join(FAULT_ACTIONS)}", "target": "node to crash/restart",
            "from": "link source node(s)", "to": "link destination node(s)", "both": "both directions (default true)",
            "count": "messages to drop", "extra_ms": "added latency", "duration_ms": "how long a stall or pause lasts",
            "point": f"consumers and pipelines: crash at the next {'|'.join(CRASH_POINTS)}",
            "topic": "add-partitions: the topic to grow", "partitions": "add-partitions: its new partition count"})
        at = r.get(m, p, "at_ms", int, minimum=0)
        if at > duration:
            raise r.error((*p, "at_ms"), f"{at} is after the end of the run (duration_ms {duration})")
        action = r.get(m, p, "action", str, choices=FAULT_ACTIONS)

        def node(key: str, m: dict = m, p: Path = p) -> str:
            v = r.get(m, p, key, str)
            if roles.is_role(v):
                role(v, (*p, key))
                return v
            if v not in nodes:
                raise r.error((*p, key), f"unknown node '{v}'{yamlsafe.suggest(v, nodes)}; nodes: {', '.join(sorted(nodes))}")
            not_yet(v, (*p, key))
            return v

        def not_yet(name: str, where: Path, at: int = at) -> None:
            """A client exists from its start_ms on: a fault cannot reach it earlier."""
            if at < starts.get(name, 0):
                raise r.error(where, f"'{name}' starts at {starts[name]} ms; a fault at {at} ms comes before "
                              "it exists (move at_ms to or after its start_ms)")

        if action == "add-partitions":
            topic = r.get(m, p, "topic", str)
            if topic not in sizes:
                raise r.error((*p, "topic"), f"unknown topic '{topic}'{yamlsafe.suggest(topic, set(sizes))}; "
                              f"topics: {', '.join(sorted(sizes))}")
            n = r.get(m, p, "partitions", int, minimum=1)
            out.append(Fault(at, action, topic=topic, partitions=n))
            adds.append((at, i, topic, n))
            continue
        if action in ("crash", "restart", "close", "stall", "pause", "power-loss", "disk-loss"):
            target = node("target")
            kind = ("broker" if target.startswith("broker-") or roles.is_role(target) else "consumer" if target in consumer_names
                    else "producer" if target in producer_names else "other")
            if action in ("power-loss", "disk-loss") and kind != "broker":
                raise r.error((*p, "target"), f"{action} of '{target}': only brokers lose power or disks "
                              "(restart them with action: restart)")
            if kind == "producer" and action not in ("crash", "restart", "pause"):
                raise r.error((*p, "action"), f"{action} of producer '{target}' is not modelled; only crash, "
                              "restart and pause")
            if kind == "producer" and action == "restart" and target in transactional_producers:
                raise r.error((*p, "action"), f"restart of transactional producer '{target}' is not modelled "
                              "yet (only crash)")
            if kind == "other" or (kind == "broker" and action in ("close", "stall", "pause")):
                allowed = ("brokers, producers and consumers" if action in ("crash", "restart") else
                           "producers, consumers and pipelines" if action == "pause" else "consumers")
                raise r.error((*p, "target"), f"{action} of '{target}': only {allowed} can {action} in this version")
            duration_ms = r.get(m, p, "duration_ms", int, 0, minimum=0)
            if action == "stall" and duration_ms <= 0:
                raise r.error(p, "missing required key 'duration_ms' (how long the application stops polling)")
            if action == "pause" and duration_ms <= 0:
                raise r.error(p, "missing required key 'duration_ms' (how long the process is frozen)")
            if action in ("close", "stall") and target in pipeline_names:
                raise r.error((*p, "action"), f"{action} of pipeline '{target}' is not modelled; crash it instead")
            point = r.get(m, p, "point", str, "", choices=("", *CRASH_POINTS))
            if point and (action != "crash" or target not in crash_points):
                raise r.error((*p, "point"), "point: applies to a crash of a consumer or a pipeline")
            if point and point not in crash_points[target]:
                raise r.error((*p, "point"), f"'{target}' never reaches {point}; its crash points: "
                              f"{', '.join(crash_points[target])}")
            out.append(Fault(at, action, target, duration_ms=duration_ms, point=point))
            continue
        sides = []
        for key in ("from", "to"):  # a node, or a list of nodes: a cut between two node sets
            v = m.get(key)
            names = [v] if isinstance(v, str) else v
            if key not in m:
                raise r.error(p, f"missing required key '{key}'")
            if not isinstance(names, list) or not names:
                raise r.error((*p, key), f"expected a node name or a list of node names, got {_got(v)}")
            for j, name in enumerate(names):
                if roles.is_role(name):
                    role(name, (*p, key) if isinstance(v, str) else (*p, key, j))
                    continue
                if name not in nodes:
                    raise r.error((*p, key) if isinstance(v, str) else (*p, key, j),
                                  f"unknown node '{name}'{yamlsafe.suggest(str(name), nodes)}; "
                                  f"nodes: {', '.join(sorted(nodes))}")
                not_yet(name, (*p, key) if isinstance(v, str) else (*p, key, j))
            sides.append(names)
        both_sides = set(sides[0]) & set(sides[1])
        if both_sides:
            raise r.error((*p, "to"), f"'{sorted(both_sides)[0]}' is on both sides of the link; "
                          "from and to must be different nodes")
        both = r.get(m, p, "both", bool, action != "drop")
        count = r.get(m, p, "count", int, 1, minimum=1)
        extra = r.get(m, p, "extra_ms", int, 0, minimum=0)
        if action == "slow" and "extra_ms" not in m:
            raise r.error(p, "missing required key 'extra_ms' for a slow link")
        for src in sides[0]:
            out.append(Fault(at, action, src, tuple(sides[1]), both, count, extra))
    for _at, i, topic, n in sorted(adds):  # Kafka: the number of partitions can only be increased
        if n <= sizes[topic]:
            raise r.error(("faults", i, "partitions"), f"'{topic}' has {sizes[topic]} partitions by then; "
                          "add-partitions can only increase the count (Kafka never removes partitions)")
        sizes[topic] = n
    return tuple(sorted(out, key=lambda f: f.at_ms))


def _expect(r: Reader, top: dict) -> tuple[Expectation, ...]:
    if "expect" not in top:
        return ()
    from kafkasim.check.expect import ENTITY_STATS, KNOWN_STATS

    def entity_problem(name: str) -> str | None:
        """``groups.<id>.<stat>`` and the like must name a stat that exists (an id is checked when run)."""
        parts = name.split(".")
        if parts[0] not in ENTITY_STATS:
            return None
        stats = ENTITY_STATS[parts[0]]
        if len(parts) < 3:
            return f"'{name}': expected {parts[0]}.<name>.<stat>, stat one of {', '.join(stats)}"
        if parts[-1] not in stats:
            return (f"unknown {parts[0][:-1]} stat '{parts[-1]}'{yamlsafe.suggest(parts[-1], stats)}; "
                    f"expected one of {', '.join(stats)}")
        return None

    m = r.get(top, (), "expect", dict)
    out = []
    for stat, v in m.items():
        p = ("expect", stat)
        base = stat.split(".")[0]
        if base not in KNOWN_STATS:
            raise r.error(p, f"unknown result '{stat}'{yamlsafe.suggest(stat, KNOWN_STATS)}; "
                          f"expected one of {', '.join(sorted(KNOWN_STATS))}", key=True)
        if (problem := entity_problem(stat)) is not None:
            raise r.error(p, problem, key=True)
        mark = yamlsafe.where(m, stat)
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise r.error(p, f"expected a number or a comparison like \">0\" or \"== sent\", got {_got(v)}")
        if isinstance(v, (int, float)):
            out.append(Expectation(stat, "==", v, f"== {v}", mark.line if mark else None))
            continue
        mm = _EXPECT_RE.match(v)
        if not mm:
            raise r.error(p, f"expected a comparison like \">0\", \"<=5000\" or \"== acknowledged\", got {v!r}")
        op, operand = mm.group(1) or "==", mm.group(2)
        value: int | float | str
        if re.fullmatch(r"-?\d+", operand):
            value = int(operand)
        elif re.fullmatch(r"-?\d+\.\d+", operand):
            value = float(operand)
        else:
            for term in re.findall(r"[A-Za-z_][\w.-]*", operand):
                if term.split(".")[0] not in KNOWN_STATS:
                    raise r.error(p, f"unknown result '{term}'{yamlsafe.suggest(term, KNOWN_STATS)}")
                if (problem := entity_problem(term)) is not None:
                    raise r.error(p, problem)
            value = " ".join(operand.split())
        out.append(Expectation(stat, op, value, f"{op} {operand}", mark.line if mark else None))
    return tuple(out)


def _names(fields: dict[str, str]) -> str:
    return ", ".join(f"'{k}'" for k in fields)


def _kind(kinds: tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false", list: "a list",
             dict: "a mapping"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _got(v: Any) -> str:
    if v is None:
        return "nothing (null)"
    if isinstance(v, bool):
        return f"{str(v).lower()}"
    if isinstance(v, str):
        return f"the string {v!r}"
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    return repr(v)
