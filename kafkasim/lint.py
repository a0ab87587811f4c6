"""``kafkasim lint``: the primer's gotchas and best practices, as warnings on a scenario file.

Each rule has a short code (``K001``...), a message saying what goes wrong and what to do
instead, and, where one exists, the bundled scenario that shows the consequence. A warning
reads ``file:line:col: K002: message (see scenario acks-1-lost-on-failover)``, located at the
setting to change (or, for a default, at the entry it applies to).

Lint works on a valid scenario: a file the loader rejects is an error, not a warning.

Kafka: none (advice from the primer's "Gotchas and Best Practices", checked against the
bundled lessons).
Simplified: the rules read the scenario, not a run: K013 compares average rates, K006 counts
members, not who is alive when.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path as FsPath
from typing import Any

from kafkasim.clients.compression import BatchCodec, batch_size, stored_size
from kafkasim.cluster.log import BATCH_OVERHEAD, RECORD_OVERHEAD
from kafkasim.scenario import bundled, yamlsafe
from kafkasim.scenario.model import Scenario

__all__ = ["RULES", "Rule", "Finding", "describe", "lint", "lint_file"]

Path = tuple[str | int, ...]

#: ``{environment}.{service}.{topic}``: lowercase, dot-separated, at least three parts.
TOPIC_NAME = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*(?:\.[a-z0-9]+(?:[-_][a-z0-9]+)*){2,}")
MAX_PARTITIONS = 1000
NEAR_LIMIT_BYTES = 900 * 1024
EAGER = ("range", "roundrobin", "sticky")
DLQ = re.compile(r"dlq|dead[-_.]?letter", re.I)


@dataclass(frozen=True)
class Rule:
    """One lint rule: code, short name, what it checks, the lesson that shows why."""

    code: str
    name: str
    summary: str
    see: str | None
    why: str


RULES: dict[str, Rule] = {r.code: r for r in (
    Rule("K001", "topic-naming", "topic names follow {environment}.{service}.{topic}", "broadcast",
         "Best practice: name topics {environment}.{service}.{topic}, lowercase, separated by dots "
         "(dev.order.created, prod.order.created), so a topic says where it lives and who owns it."),
    Rule("K002", "acks-without-replication-guarantee", "acks=0 or acks=1 on a replicated topic",
         "acks-1-lost-on-failover",
         "acks=1: the leader answers once the record is in its own log, before any follower copies it; "
         "if the leader dies first, a clean election loses acknowledged records. acks=0: the producer "
         "never hears back at all, so losses are silent (scenario acks-0-silent-loss). Use acks=all."),
    Rule("K003", "min-insync-replicas-one", "acks=all with min.insync.replicas=1 on a replicated topic",
         "unclean-election-enabled",
         "acks=all waits for the current ISR only. With min.insync.replicas=1 the ISR may shrink to the "
         "leader alone and acks=all still succeeds, so one more failure loses acknowledged records. "
         "Use replication.factor=3 with min.insync.replicas=2 (scenario acks-all-no-loss)."),
    Rule("K004", "replication-factor-below-3", "replication factor below 3", "min-isr-not-enough-replicas",
         "With 1 copy a broker loss loses the data; with 2, min.insync.replicas=2 stops acks=all writes "
         "when one broker is down (NOT_ENOUGH_REPLICAS) and min.insync.replicas=1 risks loss. Three "
         "copies with min.insync.replicas=2 survive one broker failure with neither."),
    Rule("K005", "unclean-leader-election", "unclean.leader.election.enable=true", "unclean-election-enabled",
         "An out-of-sync replica may become leader when no ISR member is alive: the partition comes back, "
         "and everything acknowledged that it had not copied is lost, its offsets reused."),
    Rule("K006", "idle-consumers", "more consumers in a group than partitions",
         "distribution-more-consumers-than-partitions",
         "Each partition goes to one member of a group: members beyond the partition count get nothing "
         "and sit idle. Start with as many partitions as consumers and grow them together."),
    Rule("K007", "too-many-partitions", f"more than {MAX_PARTITIONS} partitions in the cluster", "group-join-eager",
         "Every partition has a leader to elect, replicas to track and a place in every rebalance: too "
         "many make failover and rebalancing slow. Start small (3 per topic) and grow."),
    Rule("K008", "large-messages", "value_size near or over the 1 MB message limit", None,
         "Messages are limited to about 1 MB (max.request.size, max.message.bytes); raising the limit "
         "costs memory and latency. Send large payloads (a PDF) to a storage system and publish a "
         "reference to it."),
    Rule("K009", "no-dead-letter-topic", "a consumer that can crash or fail records, without a dead-letter topic",
         "consumer-crash-redelivery",
         "Consumers fail: after a crash the records processed since the last commit are processed again, "
         "and a record that always fails blocks its partition. Have a dead-letter topic (monitored), a "
         "retry strategy, and idempotent processing."),
    Rule("K010", "idempotence-disabled", "the idempotent producer is off", "lost-response-duplicate",
         "Without idempotence a retry is a resend: when a produce response is lost, the retried batch "
         "is appended again (duplicates). enable.idempotence=true (the default with acks=all) lets the "
         "broker drop it (scenario lost-response-idempotent)."),
    Rule("K011", "eager-rebalancing", "an eager partition.assignment.strategy", "group-join-eager",
         "With range, roundrobin or sticky in the list (Kafka's default is [range, cooperative-sticky]) "
         "the group rebalances eagerly: every member revokes every partition and stops until the new "
         "assignment arrives. [cooperative-sticky] moves only the partitions that change owner "
         "(scenario group-join-cooperative)."),
    Rule("K012", "poll-interval", "processing can outlast max.poll.interval.ms", "poll-timeout-eviction",
         "A consumer that does not poll within max.poll.interval.ms leaves its group although it "
         "heartbeats; its partitions move and its next commit fails, so records are processed again. "
         "Lower max.poll.records or process faster."),
    Rule("K013", "consumer-lag", "consumers slower than the producers", "consumer-lag-slow-consumer",
         "When the group processes fewer records per second than are produced, its lag grows for as "
         "long as that lasts. Track consumer lag; add partitions and members, or process faster."),
    Rule("K014", "commit-before-processing", "offsets committed before processing, or never", None,
         "Commit offsets after processing (commitSync/commitAsync, or auto-commit inside poll): "
         "committing first loses the records a crash interrupts (at-most-once); never committing "
         "restarts every new owner from auto.offset.reset."),
    Rule("K015", "auto-commit-async-processing", "auto-commit with asynchronous processing",
         "auto-commit-async-handoff-loss",
         "Auto-commit commits the positions poll has reached. When records are handed to another thread "
         "and poll goes on, those positions run ahead of the processing: a crash loses the records still "
         "waiting, although their offsets are committed. Commit by hand what the worker has finished."),
)}


@dataclass(frozen=True)
class Finding:
    """One warning, located in the scenario file."""

    file: str
    line: int
    col: int
    path: str
    code: str
    message: str
    see: str | None

    def __str__(self) -> str:
        see = f" (see scenario {self.see})" if self.see else ""
        return f"{self.file}:{self.line}:{self.col}: {self.code}: {self.message}{see}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def describe(code: str) -> str:
    """Text for ``kafkasim explain K00N``."""
    r = RULES[code.upper()]
    lines = [f"{r.code} {r.name}: {r.summary}", f"  {r.why}"]
    if r.see:
        lines.append(f"  see: kafkasim run scenarios/{bundled.path_of(r.see).name}")
    return "\n".join(lines)


class _Linter:
    def __init__(self, data: Any, scenario: Scenario, file: str, ignore: Iterable[str]) -> None:
        self.data = data
        self.sc = scenario
        self.file = file
        self.ignore = {c.upper() for c in ignore}
        self.found: list[Finding] = []
        self.topics = {t.name: (i, t) for i, t in enumerate(scenario.topics)}

    def warn(self, code: str, paths: Sequence[Path], message: str, see: str | None = "") -> None:
        if code in self.ignore:
            return
        for path in paths:  # the first path that exists in the file; else its nearest ancestor
            mark = yamlsafe.mark_of(self.data, path)
            if mark is not None:
                break
        else:
            path = paths[0]
            mark = None
            while mark is None and path:
                path = path[:-1]
                mark = yamlsafe.mark_of(self.data, path)
        line, col = mark if mark is not None else (1, 1)
        self.found.append(Finding(self.file, line, col, yamlsafe.format_path(path), code, message,
                                  RULES[code].see if see == "" else see))

    def raw(self, *path: str | int) -> Any:
        node = self.data
        for p in path:
            try:
                node = node[p]
            except (KeyError, IndexError, TypeError):
                return None
        return node

    def explicit(self, path: Path) -> bool:
        *parent, key = path
        node = self.raw(*parent)
        return isinstance(node, dict) and key in node

    # -- the rules ----------------------------------------------------------------------------------
    def run(self) -> list[Finding]:
        self.topic_rules()
        self.producer_rules()
        self.consumer_rules()
        self.fault_rules()
        seen: set[tuple[int, int, str]] = set()
        out = []
        for w in sorted(self.found, key=lambda w: (w.line, w.col, w.code)):
            if (w.line, w.col, w.code) not in seen:  # one setting inherited by many topics: once
                seen.add((w.line, w.col, w.code))
                out.append(w)
        return out

    def topic_rules(self) -> None:
        total = 0
        biggest = None
        for i, t in enumerate(self.sc.topics):
            p = ("topics", i)
            total += t.partitions
            if biggest is None or t.partitions > self.sc.topics[biggest].partitions:
                biggest = i
            if not TOPIC_NAME.fullmatch(t.name):
                self.warn("K001", [(*p, "name")], f"topic name '{t.name}' does not follow "
                          "{environment}.{service}.{topic} (lowercase, dot-separated, e.g. dev.order.created)")
            if t.replication_factor < 3:
                copies = "a single copy: losing its broker loses the data" if t.replication_factor == 1 else \
                    "2 copies: with one broker down, acks=all either stops (min.insync.replicas=2) or risks loss (1)"
                how = "" if self.explicit((*p, "replication_factor")) else " (default.replication.factor)"
                self.warn("K004", [(*p, "replication_factor"), p],
                          f"topic '{t.name}' has replication factor {t.replication_factor}{how}, {copies}; use 3")
            if t.config.get("unclean.leader.election.enable"):
                self.warn("K005", [(*p, "config", "unclean.leader.election.enable"),
                                   ("cluster", "config", "unclean.leader.election.enable")],
                          f"unclean.leader.election.enable=true for topic '{t.name}': when no in-sync replica is "
                          "left, an out-of-sync one leads and acknowledged records are lost")
            acks_all = [pr.name for pr in self.sc.producers
                        if pr.workload.topic == t.name and pr.config["acks"] == "all"]
            if acks_all and t.replication_factor >= 2 and t.config["min.insync.replicas"] == 1:
                self.warn("K003", [(*p, "config", "min.insync.replicas"), ("cluster", "config", "min.insync.replicas"), p],
                          f"topic '{t.name}' has min.insync.replicas=1 and {_names(acks_all)} "
                          f"{'uses' if len(acks_all) == 1 else 'use'} acks=all: once "
                          "the ISR shrinks to the leader, acks=all is acks=1 and a leader failure loses acknowledged "
                          "records; use min.insync.replicas=2 with replication factor 3")
        if total > MAX_PARTITIONS and biggest is not None:
            self.warn("K007", [("topics", biggest, "partitions"), ("topics", biggest)],
                      f"{total} partitions in the cluster (more than {MAX_PARTITIONS}): leader elections and "
                      "rebalances slow down with every partition; start small (3 per topic) and grow")

    def producer_rules(self) -> None:
        for i, pr in enumerate(self.sc.producers):
            p = ("producers", i)
            conf = pr.config
            _, topic = self.topics[pr.workload.topic]
            acks = conf["acks"]
            if acks in ("0", "1") and topic.replication_factor >= 2:
                if acks == "1":
                    msg = ("acks=1: the leader acknowledges before any follower has the record; if it dies "
                           "first, acknowledged records are lost; use acks=all")
                else:
                    msg = ("acks=0: the producer never hears back, so records lost on a failover (or rejected) "
                           "are lost silently; use acks=all")
                self.warn("K002", [(*p, "config", "acks")], msg,
                          see="acks-0-silent-loss" if acks == "0" else "")
            if not conf["enable.idempotence"] and acks != "0":
                if self.explicit((*p, "config", "enable.idempotence")):
                    where, why = (*p, "config", "enable.idempotence"), "enable.idempotence=false"
                else:
                    cause = "retries=0" if conf["retries"] == 0 else f"acks={acks}"
                    where, why = (*p, "config", cause.split("=")[0]), f"{cause} turns idempotence off"
                self.warn("K010", [where, (*p, "config"), p],
                          f"{why}: a batch retried after a lost response is written twice (duplicates)")
            dist = pr.workload.value_sizes  # a varying size: its largest values are the ones at risk
            size = pr.workload.value_size if dist is None else round(dist.largest)
            limit = min(conf["max.request.size"], topic.config["max.message.bytes"])
            wp = (*p, "workload", "value_size")
            # max.request.size counts the record uncompressed, max.message.bytes the batch as stored
            record = size + RECORD_OVERHEAD + BATCH_OVERHEAD
            codec = BatchCodec(conf["compression.type"], pr.workload.value_compressibility, uncompressed=record)
            sent = batch_size(record, codec.codec, codec.compressibility)
            kept = max(sent, stored_size(sent, codec, topic.config["compression.type"]))
            if record > conf["max.request.size"] or kept > topic.config["max.message.bytes"]:
                self.warn("K008", [wp], f"value_size {size} bytes is over the {limit}-byte message limit "
                          f"(max.request.size / max.message.bytes): {'every record' if dist is None else 'such a record'} "
                          "fails; store large payloads elsewhere and send a reference")
            elif record > topic.config["max.message.bytes"]:
                self.warn("K008", [wp], f"value_size {size} bytes fits max.message.bytes only compressed ({kept} "
                          f"bytes with {codec.codec}): that depends on the data; store large payloads elsewhere "
                          "and send a reference")
            elif size > NEAR_LIMIT_BYTES:
                self.warn("K008", [wp], f"value_size {size} bytes is near the 1 MB message limit; keep "
                          "messages small, store large payloads elsewhere and send a reference")

    def _entries(self) -> list[tuple[int, list[Any]]]:
        """Raw consumers[i] entries with the specs they expand to (``members``)."""
        out = []
        specs = list(self.sc.consumers)
        for i, item in enumerate(self.raw("consumers") or []):
            n = item.get("members", 1) if isinstance(item, dict) else 1
            out.append((i, specs[:n]))
            specs = specs[n:]
        return out

    def consumer_rules(self) -> None:
        groups: dict[str, list[tuple[int, list[Any]]]] = {}
        for i, specs in self._entries():
            spec = specs[0]
            p = ("consumers", i)
            conf = spec.config
            group = spec.group
            if group is not None:
                groups.setdefault(group, []).append((i, specs))
            if spec.commit == "before-processing" or (spec.commit == "none" and group is not None):
                what = ("commits before processing (at-most-once): a crash loses the records it had not finished"
                        if spec.commit == "before-processing" else
                        "never commits: every new owner of its partitions starts again from auto.offset.reset")
                self.warn("K014", [(*p, "commit")], f"consumer '{spec.name}' {what}; commit after processing")
            if group is None:
                continue
            if getattr(spec, "async_processing", False) and conf["enable.auto.commit"]:
                self.warn("K015", [(*p, "processing"), p],
                          f"consumer '{spec.name}' hands records to a worker (processing: async) with auto-commit: "
                          "offsets are committed before the records are processed, so a crash loses the "
                          "records still queued; commit what the worker has finished")
            if conf["group.protocol"] == "classic":
                strategy = conf["partition.assignment.strategy"]
                eager = [s for s in strategy if s in EAGER]
                if eager:
                    sp = (*p, "config", "partition.assignment.strategy")
                    listed = "[" + ", ".join(strategy) + "]"
                    how = f"partition.assignment.strategy {listed}" + ("" if self.explicit(sp) else " (Kafka's default)")
                    self.warn("K011", [sp, (*p, "config", "group.id")],
                              f"{how} includes eager {', '.join(eager)}: every rebalance stops every member of "
                              f"group '{group}' until the new assignment arrives; use [cooperative-sticky]")
            # a uniform distribution's worst case; an exponential one's mean (its tail makes it likelier still)
            dist = spec.processing_time
            per = dist.high if dist is not None and dist.distribution == "uniform" else spec.processing_ms
            if per:
                records = conf["max.poll.records"]
                interval = conf["max.poll.interval.ms"]
                if per * records > interval:
                    self.warn("K012", [(*p, "processing_ms")],
                              f"processing_ms {per} x max.poll.records {records} = {per * records} ms between polls "
                              f"exceeds max.poll.interval.ms ({interval}): the consumer is evicted from group "
                              f"'{group}' although it heartbeats; lower max.poll.records or process faster")
            interval = conf["max.poll.interval.ms"]
            for j, rec in enumerate(spec.records):
                if rec.processing_ms is not None and rec.processing_ms > interval:
                    self.warn("K012", [(*p, "records", j, "processing_ms")],
                              f"the record at {rec.topic}-{rec.partition} offset {rec.offset} takes "
                              f"{rec.processing_ms} ms, more than max.poll.interval.ms ({interval}): whichever member "
                              f"of group '{group}' processes it is evicted before it can commit, so the next owner "
                              "meets it again; process it off the poll loop (pause the partition) or raise the interval")
        for group, entries in groups.items():
            self._group_rules(group, entries)
        for i, specs in self._entries():  # standalone consumers read every partition themselves
            if specs[0].group is None:
                self._lag(f"consumer '{specs[0].name}'", [(i, specs)], None)

    def _group_rules(self, group: str, entries: list[tuple[int, list[Any]]]) -> None:
        topics = sorted({t for _, specs in entries for s in specs for t in s.topics})
        partitions = sum(self.topics[t][1].partitions for t in topics)
        members = sum(len(specs) for _, specs in entries)
        if members > partitions:
            i, _ = next(((i, s) for i, s in entries if len(s) > 1), entries[-1])
            idle = members - partitions
            self.warn("K006", [("consumers", i, "members"), ("consumers", i)],
                      f"group '{group}' has {members} members for {partitions} partition(s) of {', '.join(topics)}: "
                      f"{idle} member{'s' if idle != 1 else ''} will sit idle; add partitions or remove members")
        self._lag(f"group '{group}'", entries, partitions)

    def _lag(self, who: str, entries: list[tuple[int, list[Any]]], partitions: int | None) -> None:
        specs = [s for _, ss in entries for s in ss]
        if any(s.processing_ms == 0 for s in specs):
            return  # a member with no processing time keeps up with anything
        topics = {t for s in specs for t in s.topics}
        rate = sum(pr.workload.rate_per_s for pr in self.sc.producers if pr.workload.topic in topics and pr.workload.count)
        if not rate:
            return
        speeds = sorted((1000.0 / s.processing_ms for s in specs), reverse=True)
        working = speeds[:partitions] if partitions is not None else speeds[:1]
        capacity = sum(working)
        if capacity < rate:
            i = entries[0][0]
            n = len(working)
            per = sorted({s.processing_ms for s in specs})
            self.warn("K013", [("consumers", i, "processing_ms"), ("consumers", i)],
                      f"{who} can process about {capacity:.3g} records/s ({n} busy member{'s' if n != 1 else ''}, "
                      f"{'/'.join(map(str, per))} ms per record) but its topics receive {rate:g} records/s: "
                      "its lag grows while the producers run; track consumer lag, and add partitions and "
                      "members or process faster")

    def fault_rules(self) -> None:
        consumers = {c.name for c in self.sc.consumers}
        failing = {p.workload.topic for p in self.sc.producers if p.workload.fail_every}
        for i, c in enumerate(self.raw("consumers") or []):
            name = str(c.get("name")) if isinstance(c, dict) else ""
            spec = next((s for s in self.sc.consumers if re.fullmatch(re.escape(name) + r"(-\d+)?", s.name)), None)
            if spec is None or not failing & set(spec.topics):
                continue
            if spec.on_failure is None or spec.on_failure.dlq is None:
                how = "retried in place" if spec.on_failure is not None else "not handled"
                self.warn("K009", [("consumers", i, "on_failure"), ("consumers", i)],
                          f"records of {', '.join(sorted(failing & set(spec.topics)))} can fail processing and "
                          f"consumer '{spec.name}' has no dead-letter topic (failures are {how}): a record that "
                          "keeps failing blocks its partition for good; retry a bounded number of times, then "
                          "publish it to a dead-letter topic and monitor that", see="poison-retry-in-place")
        if any(DLQ.search(t.name) for t in self.sc.topics):
            return
        crashed: set[str] = set()
        for i, f in enumerate(self.raw("faults") or []):
            if isinstance(f, dict) and f.get("action") == "crash" and f.get("target") in consumers:
                if f["target"] in crashed:
                    continue
                crashed.add(f["target"])
                self.warn("K009", [("faults", i, "target")],
                          f"consumer '{f['target']}' can crash and there is no dead-letter topic (a topic named "
                          "*dlq* or *dead-letter*): records since its last commit are processed again and a "
                          "record that keeps failing has nowhere to go; add a DLQ and make processing idempotent")


def _names(names: list[str]) -> str:
    return ("producer " if len(names) == 1 else "producers ") + ", ".join(f"'{n}'" for n in names)


def lint(data: Any, scenario: Scenario, file: str, ignore: Iterable[str] = ()) -> list[Finding]:
    """Findings for a validated ``scenario`` whose YAML ``data`` (with marks) came from ``file``."""
    return _Linter(data, scenario, file, ignore).run()


def lint_file(path: str | FsPath, ignore: Iterable[str] = (), sets: Sequence[str] = ()) -> list[Finding]:
    """Load, validate and lint one file; raises :class:`~kafkasim.errors.ScenarioError` if it is invalid."""
    from kafkasim.scenario import overrides

    scenario, data, _ = overrides.load(path, sets)
    return lint(data, scenario, str(path), ignore)
