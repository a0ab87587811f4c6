"""One registry of every configuration key kafkasim accepts, with Kafka's names and defaults.

Each role (broker, topic, producer, consumer, and ``kafkasim`` for the simulator's own
version switches) maps Kafka key names, verbatim, to a :class:`ConfigKey` carrying the type,
the Kafka 4.x default, the valid range or choices and a one-line doc. ``resolve`` turns a
user's overrides into a complete, validated dict; ``check_producer`` / ``check_consumer`` /
``check_broker`` / ``topic_config`` add Kafka's cross-key rules. Reference docs and
``kafkasim explain KEY`` (:func:`describe`) read the same table.

Kafka: ``ProducerConfig``, ``ConsumerConfig``, ``TopicConfig``/``LogConfig``, ``ServerLogConfigs``,
``ReplicationConfigs``, ``GroupCoordinatorConfig``, ``TransactionStateManagerConfig``, ``KRaftConfigs``.
Simplified: security, networking, metrics and serializer settings are not keys here at all.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import Any

from kafkasim.errors import ConfigError

INT_MAX = 2**31 - 1
LONG_MAX = 2**63 - 1
_BOUNDS = {"int": (-(2**31), INT_MAX), "long": (-(2**63), LONG_MAX)}
ROLES = ("broker", "topic", "producer", "consumer", "kafkasim")


@dataclass(frozen=True)
class ConfigKey:
    """One configuration key: Kafka's name, type, default, valid values and meaning."""

    name: str
    role: str
    type: str  # int | long | double | bool | string | list | class
    default: Any  # list defaults are tuples here; resolve() hands out fresh lists
    doc: str
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    broker_key: str | None = None  # topic keys: the broker-level default's name
    modelled: bool = True


_B = partial(ConfigKey, role="broker")
_T = partial(ConfigKey, role="topic")
_P = partial(ConfigKey, role="producer")
_C = partial(ConfigKey, role="consumer")
_K = partial(ConfigKey, role="kafkasim")
_NOT = "Accepted and validated; kafkasim does not model its effect."

_BROKER = (
    _B("num.partitions", type="int", default=1, min=1, doc="Partition count for topics created without an explicit count."),
    _B("default.replication.factor", type="int", default=1, min=1, doc="Replication factor for topics created without one; 1 means a single copy, so any broker loss loses data."),
    _B("min.insync.replicas", type="int", default=1, min=1, doc="Broker default for the topic's min.insync.replicas: how many in-sync copies an acks=all write needs."),
    _B("unclean.leader.election.enable", type="bool", default=False, doc="Broker default: may an out-of-sync replica become leader when no ISR member is alive (availability over durability)."),
    _B("unclean.leader.election.interval.ms", type="long", default=300_000, min=1, doc="How often the KRaft controller retries unclean elections for leaderless partitions when they are enabled."),
    _B("replica.lag.time.max.ms", type="long", default=30_000, min=1, doc="A follower not caught up to the leader's log end for this long is removed from the ISR."),
    _B("replica.fetch.wait.max.ms", type="int", default=500, min=0, doc="How long a follower's fetch waits on the leader when there is nothing new; must not exceed replica.lag.time.max.ms."),
    _B("replica.fetch.min.bytes", type="int", default=1, min=0, doc="Bytes a follower fetch waits for before the leader answers (up to replica.fetch.wait.max.ms)."),
    _B("replica.fetch.response.max.bytes", type="int", default=10_485_760, min=0, doc="Bytes a whole follower fetch response may carry across partitions (the first batch always comes back)."),
    _B("replica.fetch.max.bytes", type="int", default=1_048_576, min=0, doc="Bytes per partition a follower fetch asks for; the first batch is returned even if larger."),
    _B("broker.session.timeout.ms", type="int", default=9_000, min=1, doc="A broker that has not heartbeated the controller for this long is fenced: dropped from every ISR, its leaderships moved."),
    _B("broker.heartbeat.interval.ms", type="int", default=2_000, min=1, doc="How often a broker heartbeats the KRaft controller (should be at most half the session timeout)."),
    _B("auto.leader.rebalance.enable", type="bool", default=True, doc="Move leadership back to the preferred (first assigned) replica when it is alive and in the ISR."),
    _B("leader.imbalance.check.interval.seconds", type="long", default=300, min=1, doc="How often the controller looks for partitions not led by their preferred replica."),
    _B("leader.imbalance.per.broker.percentage", type="int", default=10, min=0, max=100, doc="Share of non-preferred leaders a broker may have before preferred-leader election runs."),
    _B("log.cleanup.policy", type="list", default=("delete",), choices=("delete", "compact"), doc="Broker default for cleanup.policy: delete old segments, compact by key, or both."),
    _B("log.retention.ms", type="long", default=604_800_000, min=-1, doc="Broker default for retention.ms (Kafka leaves it unset and uses log.retention.hours=168, i.e. 7 days); -1 keeps forever."),
    _B("log.retention.bytes", type="long", default=-1, doc="Broker default for retention.bytes, per partition; -1 means no size limit."),
    _B("log.segment.bytes", type="int", default=1_073_741_824, min=1_048_576, doc="Broker default for segment.bytes: the active segment rolls at this size (Kafka 4.x minimum 1 MiB)."),
    _B("log.roll.ms", type="long", default=604_800_000, min=1, doc="Broker default for segment.ms (Kafka leaves it unset and uses log.roll.hours=168)."),
    _B("log.retention.check.interval.ms", type="long", default=300_000, min=1, doc="How often the broker looks for segments to delete; deletion lags the retention limit by up to this much."),
    _B("log.cleaner.delete.retention.ms", type="long", default=86_400_000, min=0, doc="Broker default for delete.retention.ms (how long tombstones survive compaction)."),
    _B("log.cleaner.min.compaction.lag.ms", type="long", default=0, min=0, doc="Broker default for min.compaction.lag.ms."),
    _B("log.cleaner.max.compaction.lag.ms", type="long", default=LONG_MAX, min=1, doc="Broker default for max.compaction.lag.ms."),
    _B("log.cleaner.min.cleanable.ratio", type="double", default=0.5, min=0.0, max=1.0, doc="Broker default for min.cleanable.dirty.ratio."),
    _B("log.message.timestamp.type", type="string", default="CreateTime", choices=("CreateTime", "LogAppendTime"), doc="Broker default for message.timestamp.type."),
    _B("log.flush.interval.messages", type="long", default=LONG_MAX, min=1, doc="Broker default for flush.messages: fsync a partition's log once this many records are unflushed (default never)."),
    _B("message.max.bytes", type="int", default=1_048_588, min=0, doc="Broker default for max.message.bytes: largest record batch (after compression) a partition accepts, 1 MiB + 12 bytes of overhead."),
    _B("compression.type", type="string", default="producer", choices=("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"), doc="Broker default for the topic's compression.type: producer keeps each batch's codec, another value makes the broker recompress."),
    _B("auto.create.topics.enable", type="bool", default=True, modelled=False, doc="Create a topic on first metadata request for it. " + _NOT),
    _B("group.initial.rebalance.delay.ms", type="int", default=3_000, min=0, doc="The coordinator waits this long after a new (empty) group's first join so more members can join the first rebalance."),
    _B("group.min.session.timeout.ms", type="int", default=6_000, min=0, doc="Smallest session.timeout.ms a classic group member may ask for; smaller is rejected with INVALID_SESSION_TIMEOUT."),
    _B("group.max.session.timeout.ms", type="int", default=1_800_000, min=0, doc="Largest session.timeout.ms a classic group member may ask for; larger is rejected with INVALID_SESSION_TIMEOUT."),
    _B("group.consumer.heartbeat.interval.ms", type="int", default=5_000, min=1, doc="Heartbeat interval the broker tells KIP-848 (group.protocol=consumer) members to use."),
    _B("group.consumer.session.timeout.ms", type="int", default=45_000, min=1, doc="Session timeout the broker applies to KIP-848 (group.protocol=consumer) members."),
    _B("offsets.topic.num.partitions", type="int", default=50, min=1, doc="Partitions of __consumer_offsets; a group's coordinator leads partition hash(group.id) mod this."),
    _B("offsets.topic.replication.factor", type="int", default=3, min=1, doc="Replication factor of __consumer_offsets; the topic cannot be created on a smaller cluster."),
    _B("offsets.retention.minutes", type="int", default=10_080, min=1, doc="Committed offsets of a group are deleted this long after the group becomes empty (7 days)."),
    _B("offsets.retention.check.interval.ms", type="long", default=600_000, min=1, doc="How often the coordinator looks for expired committed offsets."),
    _B("transaction.state.log.num.partitions", type="int", default=50, min=1, doc="Partitions of __transaction_state; a transactional.id's coordinator leads partition hash(id) mod this."),
    _B("transaction.state.log.replication.factor", type="int", default=3, min=1, doc="Replication factor of __transaction_state; transactions need at least this many brokers."),
    _B("transaction.state.log.min.isr", type="int", default=2, min=1, doc="min.insync.replicas of __transaction_state."),
    _B("transaction.max.timeout.ms", type="int", default=900_000, min=1, doc="Largest transaction.timeout.ms a producer may ask for; larger fails InitProducerId with INVALID_TRANSACTION_TIMEOUT."),
    _B("transaction.abort.timed.out.transaction.cleanup.interval.ms", type="int", default=10_000, min=1, doc="How often the transaction coordinator aborts transactions that outlived their timeout."),
    _B("transactional.id.expiration.ms", type="int", default=604_800_000, min=1, doc="A transactional.id with no transaction activity for this long is forgotten by its coordinator."),
    _B("producer.id.expiration.ms", type="int", default=86_400_000, min=1, doc="A partition forgets an idempotent producer's sequence state after this long without writes from it."),
    _B("producer.id.expiration.check.interval.ms", type="int", default=600_000, min=1, doc="How often partitions look for expired producer ids."),
)

_TOPIC = (
    _T("cleanup.policy", type="list", default=("delete",), choices=("delete", "compact"), broker_key="log.cleanup.policy", doc="delete: drop old segments by time/size; compact: keep at least the latest record per key; both: compact, then delete."),
    _T("retention.ms", type="long", default=604_800_000, min=-1, broker_key="log.retention.ms", doc="Segments whose newest record is older than this are deleted, consumed or not; -1 keeps forever."),
    _T("retention.bytes", type="long", default=-1, broker_key="log.retention.bytes", doc="Oldest segments are deleted while a partition is larger than this; -1 means no size limit."),
    _T("segment.bytes", type="int", default=1_073_741_824, min=1_048_576, broker_key="log.segment.bytes", doc="The active segment rolls at this size; retention and compaction work on whole closed segments."),
    _T("segment.ms", type="long", default=604_800_000, min=1, broker_key="log.roll.ms", doc="The active segment rolls after this long even if not full, so time-based retention can delete it."),
    _T("flush.messages", type="long", default=LONG_MAX, min=1, broker_key="log.flush.interval.messages", doc="Kafka fsyncs the log once this many records are unflushed; by default never (it relies on replication and the OS writing the page cache back), so a power loss can lose the last seconds of writes."),
    _T("max.message.bytes", type="int", default=1_048_588, min=0, broker_key="message.max.bytes", doc="Largest record batch (after compression) this topic accepts; larger gets MESSAGE_TOO_LARGE."),
    _T("min.insync.replicas", type="int", default=1, min=1, broker_key="min.insync.replicas", doc="acks=all writes fail with NOT_ENOUGH_REPLICAS while the ISR is smaller; since 3.7 the high watermark also stalls."),
    _T("unclean.leader.election.enable", type="bool", default=False, broker_key="unclean.leader.election.enable", doc="Allow an out-of-sync replica to lead when no ISR member is alive: the partition comes back, acknowledged data may be lost."),
    _T("delete.retention.ms", type="long", default=86_400_000, min=0, broker_key="log.cleaner.delete.retention.ms", doc="Tombstones survive compaction at least this long, so slower readers still see the delete."),
    _T("min.compaction.lag.ms", type="long", default=0, min=0, broker_key="log.cleaner.min.compaction.lag.ms", doc="Records younger than this are never compacted away."),
    _T("max.compaction.lag.ms", type="long", default=LONG_MAX, min=1, broker_key="log.cleaner.max.compaction.lag.ms", doc="Records older than this become eligible for compaction even if the dirty ratio is low."),
    _T("min.cleanable.dirty.ratio", type="double", default=0.5, min=0.0, max=1.0, broker_key="log.cleaner.min.cleanable.ratio", doc="Compaction runs once this share of the log is uncompacted (dirty)."),
    _T("message.timestamp.type", type="string", default="CreateTime", choices=("CreateTime", "LogAppendTime"), broker_key="log.message.timestamp.type", doc="Whether record timestamps are the producer's create time or the broker's append time."),
    _T("compression.type", type="string", default="producer", choices=("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"), broker_key="compression.type", doc="Codec the log stores batches with: producer keeps the producer's, uncompressed stores them plain, any other codec makes the broker recompress (max.message.bytes is checked again after)."),
)

_PRODUCER = (
    _P("acks", type="string", default="all", choices=("0", "1", "all", "-1"), doc="What the leader waits for before answering: 0 nothing, 1 its own append, all every ISR member (-1 means all)."),
    _P("enable.idempotence", type="bool", default=True, doc="Broker dedupes retried batches by producer id and sequence; needs acks=all, retries>0, max.in.flight<=5 (default on since 3.0)."),
    _P("retries", type="int", default=INT_MAX, min=0, max=INT_MAX, doc="How many times a failed batch is resent; the real limit is usually delivery.timeout.ms. Retries without idempotence can duplicate."),
    _P("max.in.flight.requests.per.connection", type="int", default=5, min=1, doc="Unanswered requests per broker; above 1 without idempotence a retried batch can land after a later one."),
    _P("delivery.timeout.ms", type="int", default=120_000, min=0, doc="Upper bound from send() to success or failure, retries included; must be >= linger.ms + request.timeout.ms."),
    _P("request.timeout.ms", type="int", default=30_000, min=0, doc="How long the producer waits for one produce response before treating it as failed (and retrying)."),
    _P("retry.backoff.ms", type="long", default=100, min=0, doc="First wait before retrying a failed request; grows exponentially up to retry.backoff.max.ms."),
    _P("retry.backoff.max.ms", type="long", default=1_000, min=0, doc="Cap of the exponential retry backoff."),
    _P("metadata.max.age.ms", type="long", default=300_000, min=0, doc="Refresh metadata at least this often even without errors: how long until the producer sees added partitions."),
    _P("reconnect.backoff.ms", type="long", default=50, min=0, doc="Wait before reconnecting to a broker after its connection closed; doubles per consecutive failure (20% jitter)."),
    _P("reconnect.backoff.max.ms", type="long", default=1_000, min=0, doc="Cap of the reconnect backoff."),
    _P("linger.ms", type="long", default=5, min=0, doc="How long a batch waits for more records before it is sent (5 since Kafka 4.0, KIP-1030; 0 before)."),
    _P("batch.size", type="int", default=16_384, min=0, doc="Bytes per partition batch; a full batch is sent without waiting for linger.ms."),
    _P("buffer.memory", type="long", default=33_554_432, min=0, doc="Bytes of unsent records the producer holds; a record larger than this fails at once."),
    _P("max.request.size", type="int", default=1_048_576, min=0, doc="Largest request the producer sends; a single larger record fails with RecordTooLargeException and is never sent."),
    _P("max.block.ms", type="long", default=60_000, min=0, modelled=False, doc="How long send() and transaction calls may block on metadata or buffer space. " + _NOT),
    _P("transaction.timeout.ms", type="int", default=60_000, doc="The coordinator aborts a transaction open longer than this; must not exceed the broker's transaction.max.timeout.ms."),
    _P("transactional.id", type="string", default=None, doc="Stable identity of a transactional producer across restarts; implies idempotence and fences older instances."),
    _P("compression.type", type="string", default="none", choices=("none", "gzip", "snappy", "lz4", "zstd"), doc="Codec for whole record batches: more records per batch (linger.ms, batch.size) compress better; max.request.size still counts a record uncompressed."),
    _P("client.id", type="string", default="", doc="Name in logs and traces; when empty Kafka uses producer-N (or producer-<transactional.id>)."),
    _P("partitioner.ignore.keys", type="bool", default=False, doc="When true, keyed records are spread like keyless ones instead of by murmur2(key)."),
    _P("partitioner.adaptive.partitioning.enable", type="bool", default=True, modelled=False, doc="Sticky partitioner prefers partitions on faster brokers. " + _NOT),
    _P("partitioner.availability.timeout.ms", type="long", default=0, min=0, modelled=False, doc="Skip partitions whose broker has not taken a batch for this long; 0 disables. " + _NOT),
)

_CONSUMER = (
    _C("group.id", type="string", default=None, doc="Consumer group to join; null means no group: no subscribe(), no committed offsets, no auto-commit."),
    _C("group.instance.id", type="string", default=None, doc="Static membership (KIP-345): a restart within the session timeout gets its partitions back without a rebalance."),
    _C("client.id", type="string", default="", doc="Name in logs and traces; member ids are client.id + '-' + a generated suffix."),
    _C("session.timeout.ms", type="int", default=45_000, min=1, doc="No heartbeat for this long and the coordinator removes the member and rebalances (classic protocol; 45 s since 3.0)."),
    _C("heartbeat.interval.ms", type="int", default=3_000, min=1, doc="How often the background thread heartbeats the coordinator; must be below session.timeout.ms."),
    _C("max.poll.interval.ms", type="int", default=300_000, min=1, doc="If poll() is not called for this long the consumer leaves the group itself; catches stuck processing."),
    _C("max.poll.records", type="int", default=500, min=1, doc="Most records one poll() returns."),
    _C("enable.auto.commit", type="bool", default=True, doc="Commit positions of records returned by earlier polls every auto.commit.interval.ms, inside poll()."),
    _C("auto.commit.interval.ms", type="int", default=5_000, min=0, doc="How often auto-commit commits; records processed since the last commit are redelivered after a crash."),
    _C("auto.offset.reset", type="string", default="latest", choices=("earliest", "latest", "none"), doc="Where to start with no committed offset or an out-of-range one: latest skips existing data, none raises."),
    _C("isolation.level", type="string", default="read_uncommitted", choices=("read_committed", "read_uncommitted"), doc="read_committed reads only up to the last stable offset and hides aborted transactional records."),
    _C("partition.assignment.strategy", type="list", default=("range", "cooperative-sticky"), doc="Assignors by preference (range, roundrobin, sticky, cooperative-sticky or Java class names); the group uses the first all members share."),
    _C("group.protocol", type="string", default="classic", choices=("classic", "consumer"), doc="classic: client-side assignment with JoinGroup/SyncGroup; consumer: KIP-848 broker-side incremental assignment."),
    _C("group.remote.assignor", type="string", default=None, choices=(None, "uniform", "range"), doc="Broker-side assignor for group.protocol=consumer; null lets the broker choose (uniform)."),
    _C("fetch.min.bytes", type="int", default=1, min=0, doc="Bytes a fetch waits for before the broker answers (up to fetch.max.wait.ms)."),
    _C("fetch.max.wait.ms", type="int", default=500, min=0, doc="How long the broker holds a fetch that has less than fetch.min.bytes."),
    _C("max.partition.fetch.bytes", type="int", default=1_048_576, min=0, doc="Bytes per partition per fetch; the first batch is returned even if larger, so progress never stops."),
    _C("fetch.max.bytes", type="int", default=52_428_800, min=0, doc="Bytes per fetch response across partitions (not absolute: one oversized batch still comes back)."),
    _C("request.timeout.ms", type="int", default=30_000, min=0, doc="How long the consumer waits for one response before failing the request."),
    _C("default.api.timeout.ms", type="int", default=60_000, min=0, doc="Timeout of blocking consumer calls (commitSync, committed, position, ...) that take no explicit timeout."),
    _C("retry.backoff.ms", type="long", default=100, min=0, doc="First wait before retrying a failed request; grows exponentially up to retry.backoff.max.ms."),
    _C("retry.backoff.max.ms", type="long", default=1_000, min=0, doc="Cap of the exponential retry backoff."),
    _C("metadata.max.age.ms", type="long", default=300_000, min=0, doc="Refresh metadata at least this often even without errors: how long until a group's leader sees added partitions and rebalances."),
    _C("reconnect.backoff.ms", type="long", default=50, min=0, doc="Wait before reconnecting to a broker after its connection closed; doubles per consecutive failure (20% jitter)."),
    _C("reconnect.backoff.max.ms", type="long", default=1_000, min=0, doc="Cap of the reconnect backoff."),
    _C("allow.auto.create.topics", type="bool", default=True, modelled=False, doc="Subscribing may create the topic when the broker allows it. " + _NOT),
    _C("check.crcs", type="bool", default=True, modelled=False, doc="Verify record checksums on fetch. " + _NOT),
    _C("client.rack", type="string", default="", modelled=False, doc="Rack of the consumer, for fetching from the nearest replica. " + _NOT),
)

_KAFKASIM = (
    _K("strict_min_isr", type="bool", default=True, doc="Kafka >= 3.7 (KAFKA-15583): the high watermark does not advance while |ISR| < min.insync.replicas; False gives the older rule."),
    _K("truncation", type="string", default="leader_epoch", choices=("leader_epoch", "high_watermark"), doc="How a new follower finds where to truncate: leader epochs (KIP-101/279/320), or its own HW (pre-0.11, can lose committed data)."),
    _K("eligible_leader_replicas", type="bool", default=False, modelled=False, doc="KIP-966: keep replicas dropped from a below-min ISR as clean election candidates (default on new 4.1+ clusters). kafkasim does not model it yet and accepts only false."),
    _K("crash_model", type="string", default="process", choices=("process", "power_loss"), doc="process: a crashed broker keeps what it appended (page cache); power_loss: every broker crash is a power loss, losing what was not yet on disk (see the power-loss fault)."),
    _K("txn_epoch_bump_per_txn", type="bool", default=True, doc="KIP-890 part 2 (Kafka 4.0): bump the producer epoch at every transaction end so late markers cannot hit the next transaction."),
)


def _table(rows: Iterable[ConfigKey]) -> Mapping[str, ConfigKey]:
    return MappingProxyType({k.name: k for k in rows})


REGISTRY: Mapping[str, Mapping[str, ConfigKey]] = MappingProxyType({
    "broker": _table(_BROKER),
    "topic": _table(_TOPIC),
    "producer": _table(_PRODUCER),
    "consumer": _table(_CONSUMER),
    "kafkasim": _table(_KAFKASIM),
})

# Keys Kafka validates with NonEmptyString: null is fine, "" is not.
_NON_EMPTY = frozenset({"transactional.id", "group.instance.id"})

# Java class names Kafka accepts, and their protocol names (which kafkasim stores).
_ASSIGNOR_CLASSES = {
    "RangeAssignor": "range",
    "RoundRobinAssignor": "roundrobin",
    "StickyAssignor": "sticky",
    "CooperativeStickyAssignor": "cooperative-sticky",
}
ASSIGNORS = tuple(_ASSIGNOR_CLASSES.values())
_CUSTOM_ASSIGNOR = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
# confluent-kafka/librdkafka spellings that Java Kafka rejects.
_LIBRDKAFKA_ALIASES = {"smallest": "earliest", "beginning": "earliest", "largest": "latest", "end": "latest"}


class Resolved(dict):
    """A complete config dict that also remembers which keys the user set (``explicit``).

    Kafka's cross-checks depend on whether a key was set or defaulted (an explicit
    ``enable.idempotence=true`` with ``acks=1`` is an error, a defaulted one is silently
    turned off), so ``resolve`` keeps that fact. A plain ``dict(...)`` copy loses it.
    """

    def __init__(self, data: Mapping[str, Any], role: str, explicit: Iterable[str]) -> None:
        super().__init__(data)
        self.role = role
        self.explicit = frozenset(explicit)


def suggest(word: str, options: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest option, or ``""`` when none is close."""
    opts = sorted({o for o in options if isinstance(o, str)})
    for o in opts:  # a case slip is always worth naming
        if o.lower() == word.lower() and o != word:
            return f" (did you mean '{o}'?)"
    match = difflib.get_close_matches(word, opts, n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _role(role: str) -> Mapping[str, ConfigKey]:
    try:
        return REGISTRY[role]
    except (KeyError, TypeError):
        raise ValueError(f"unknown config role {role!r}; expected one of {', '.join(ROLES)}") from None


def keys(role: str) -> Mapping[str, ConfigKey]:
    """The keys of one role, by Kafka name (read-only)."""
    return _role(role)


def defaults(role: str) -> dict[str, Any]:
    """Kafka's default for every key of ``role``, as a fresh dict (lists are fresh lists)."""
    return {name: _fresh(k.default) for name, k in _role(role).items()}


def _fresh(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def show(value: Any) -> str:
    """A value as the user wrote it in YAML: ``true``, ``null``, ``'off'``, ``1.5``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return str(value)


def _got(value: Any) -> str:
    if isinstance(value, str):
        hint = ""
        if re.fullmatch(r"[-+]?\d[\d_]*(\.[\d_]*)?", value) and "_" in value:
            hint = " (YAML 1.2 numbers have no '_' separators; write it without them)"
        return f"the string {value!r}{hint}"
    kind = {bool: "a boolean", int: "an integer", float: "a float"}.get(type(value))
    return f"{show(value)} ({kind})" if kind else show(value)


def _unknown(role: str, name: Any, path: str) -> ConfigError:
    where = _at(path, str(name))
    if not isinstance(name, str):
        return ConfigError(where, f"config keys must be strings, got {show(name)}")
    problem = f"unknown {role} config {name!r}"
    others = [r for r in ROLES if r != role and name in REGISTRY[r]]
    twin = None
    if role == "topic":
        twin = next((k.name for k in REGISTRY["topic"].values() if k.broker_key == name), None)
    elif role == "broker" and name in REGISTRY["topic"]:
        twin = REGISTRY["topic"][name].broker_key
    if others:
        problem += f": {name} is a {'/'.join(others)} setting, not a {role} one"
    if twin:
        level = "topic" if role == "topic" else "broker"
        return ConfigError(where, f"{problem}; the {level}-level name is {twin!r}")
    return ConfigError(where, problem + suggest(name, REGISTRY[role]))


def _coerce(key: ConfigKey, value: Any, where: str) -> Any:
    """Check one value against its key and return it normalised (Kafka's parse + validate)."""
    def bad(problem: str) -> ConfigError:
        return ConfigError(where, problem)

    special = _SPECIAL.get(key.name)
    if special is not None:
        return special(key, value, bad)
    if value is None:
        if key.default is None:
            return None
        raise bad(f"expected {_EXPECT[key.type]}, got null")
    if key.type == "bool":
        if not isinstance(value, bool):
            raise bad(f"expected true or false, got {_got(value)}")
        return value
    if key.type in ("int", "long", "double"):
        ok = isinstance(value, int) or (key.type == "double" and isinstance(value, float))
        if isinstance(value, bool) or not ok:
            raise bad(f"expected {_EXPECT[key.type]}, got {_got(value)}")
        if key.type == "double":
            value = float(value)
            if math.isnan(value):
                raise bad("expected a number, got .nan")
        # (infinities fall through to the range check: no Kafka number is unbounded)
        lo, hi = _BOUNDS.get(key.type, (None, None))
        lo = key.min if key.min is not None else lo
        hi = key.max if key.max is not None else hi
        if lo is not None and value < lo:
            raise bad(f"must be at least {_num(lo)}, got {_num(value)}")
        if hi is not None and value > hi:
            raise bad(f"must be at most {_num(hi)}, got {_num(value)}")
        return value
    if key.type in ("string", "class"):
        if not isinstance(value, str):
            raise bad(f"expected {_EXPECT[key.type]}, got {_got(value)}")
        if key.name in _NON_EMPTY and not value.strip():
            raise bad("must be a non-empty string (or null to leave it unset)")
        _check_choice(key, value, bad)
        return value
    if key.type == "list":
        items = _as_list(value, bad)
        for item in items:
            _check_choice(key, item, bad)
        if key.choices and not items:
            raise bad(f"needs at least one of {', '.join(key.choices)}")
        return items
    raise AssertionError(f"unhandled config type {key.type}")  # pragma: no cover


_EXPECT = {"int": "an integer", "long": "an integer", "double": "a number", "bool": "true or false",
           "string": "a string", "class": "a class name", "list": "a list"}


def _num(x: float) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() and abs(x) < 1e15 else show(x)


def _check_choice(key: ConfigKey, value: str, bad: Any) -> None:
    if key.choices is None or value in key.choices:
        return
    valid = ", ".join(show(c) for c in key.choices)
    hint = ""
    if value in _LIBRDKAFKA_ALIASES and _LIBRDKAFKA_ALIASES[value] in key.choices:
        hint = f" ({value!r} is librdkafka's spelling; Kafka's is {_LIBRDKAFKA_ALIASES[value]!r})"
    raise bad(f"{show(value)} is not a valid value; expected one of {valid}{hint or suggest(value, key.choices)}")


def _as_list(value: Any, bad: Any) -> list[str]:
    if isinstance(value, str):  # Kafka's LIST type also takes "a,b"
        value = [p for p in (s.strip() for s in value.split(",")) if p]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise bad(f"expected a list of strings (or one comma-separated string), got {_got(value)}")
    items = [v.strip() for v in value]
    dup = next((v for i, v in enumerate(items) if v in items[:i]), None)
    if dup is not None:
        raise bad(f"{dup!r} is listed twice")
    return items


def _acks(key: ConfigKey, value: Any, bad: Any) -> str:
    text = str(value).strip().lower() if isinstance(value, int | str) and not isinstance(value, bool) else None
    if text not in ("0", "1", "-1", "all"):
        raise bad(f"{_got(value)} is not a valid value; expected one of 0, 1, all (or -1, which means all)")
    return "all" if text == "-1" else text


def _assignors(key: ConfigKey, value: Any, bad: Any) -> list[str]:
    out = []
    for item in _as_list(value, bad):
        simple = item.removeprefix("org.apache.kafka.clients.consumer.")
        if item in ASSIGNORS:
            out.append(item)
        elif simple in _ASSIGNOR_CLASSES:
            out.append(_ASSIGNOR_CLASSES[simple])
        elif _CUSTOM_ASSIGNOR.match(item):
            out.append(item)  # a custom assignor, "module:Class"
        else:
            raise bad(f"unknown assignor {item!r}; expected {', '.join(ASSIGNORS)}, their Java class "
                      f"names, or 'module:Class' for a custom one{suggest(item, ASSIGNORS)}")
    if not out:
        raise bad("needs at least one assignor (Kafka: 'Must configure at least one partition assigner')")
    dup = next((v for i, v in enumerate(out) if v in out[:i]), None)
    if dup is not None:
        raise bad(f"{dup!r} is listed twice")
    return out


def _lowercase_choice(key: ConfigKey, value: Any, bad: Any) -> str:
    """Kafka matches group.protocol case-insensitively (CaseInsensitiveValidString)."""
    if not isinstance(value, str):
        raise bad(f"expected a string, got {_got(value)}")
    _check_choice(key, value.lower(), bad)
    return value.lower()


_SPECIAL = {"acks": _acks, "partition.assignment.strategy": _assignors, "group.protocol": _lowercase_choice}


def _resolve(role: str, base: dict[str, Any], overrides: Mapping[str, Any] | None, path: str) -> Resolved:
    table = _role(role)
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, Mapping):
        raise ConfigError(path, f"expected a mapping of {role} config keys, got {_got(overrides)}")
    out = dict(base)
    for name, value in overrides.items():
        key = table.get(name) if isinstance(name, str) else None
        if key is None:
            raise _unknown(role, name, path)
        out[name] = _coerce(key, value, _at(path, name))
    return Resolved(out, role, overrides.keys())


def resolve(role: str, overrides: Mapping[str, Any] | None, path: str = "") -> Resolved:
    """Kafka's defaults for ``role`` updated by the validated, normalised ``overrides``.

    Raises :class:`ConfigError` at ``path.key`` for unknown keys, wrong types, out-of-range
    values and invalid choices. The result is a :class:`Resolved` dict (knows what was explicit).
    """
    return _resolve(role, defaults(role), overrides, path)


def _as_resolved(role: str, conf: Mapping[str, Any] | None, path: str) -> Resolved:
    """Output of ``resolve`` passes through; anything else is taken as the user's overrides."""
    if isinstance(conf, Resolved) and conf.role == role:
        return conf
    return resolve(role, conf, path)


def _at(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def check_producer(conf: Mapping[str, Any], path: str = "", *, broker: Mapping[str, Any] | None = None) -> Resolved:
    """Kafka's producer cross-checks; returns the adjusted config (input untouched).

    ``conf`` is ``resolve("producer", ...)`` output or the user's overrides. Idempotence set
    explicitly with a conflicting acks/retries is an error; left at its default it is
    silently disabled. With ``broker`` given, a transactional producer's
    ``transaction.timeout.ms`` is checked against ``transaction.max.timeout.ms``.
    Kafka: ``ProducerConfig.postProcessAndValidateIdempotenceConfigs``,
    ``KafkaProducer.configureDeliveryTimeout``, ``TransactionCoordinator.handleInitProducerId``.
    """
    conf = _as_resolved("producer", conf, path)
    out, explicit = dict(conf), conf.explicit
    idem_explicit = "enable.idempotence" in explicit
    conflicts: list[tuple[str, str]] = []
    if out["enable.idempotence"]:
        if out["retries"] == 0:
            conflicts.append(("retries", "retries=0; the idempotent producer needs retries > 0"))
        if out["acks"] != "all":
            conflicts.append(("acks", f"acks={out['acks']}; the idempotent producer needs acks=all"))
        if idem_explicit and conflicts:
            name, why = conflicts[0]
            raise ConfigError(_at(path, name), f"enable.idempotence=true is set explicitly but {why} (Kafka throws ConfigException)")
        inflight = out["max.in.flight.requests.per.connection"]
        if inflight > 5:
            raise ConfigError(_at(path, "max.in.flight.requests.per.connection"),
                              f"{inflight} is above 5, the most an idempotent producer may have in flight (a broker keeps only "
                              "the last 5 batches per producer); idempotence is on unless enable.idempotence=false is set "
                              "explicitly (Kafka >= 4.0 throws ConfigException, KAFKA-17927)")
        if conflicts:
            out["enable.idempotence"] = False  # Kafka: "Idempotence will be disabled because ..."
    if out["transactional.id"] is not None and not out["enable.idempotence"]:
        if idem_explicit or not conflicts:
            why = "enable.idempotence=false"
        else:
            why = f"idempotence was turned off by {conflicts[0][1].split(';')[0]}"
        raise ConfigError(_at(path, "transactional.id"), f"a transactional producer needs idempotence, but {why} "
                          "(Kafka: 'Cannot set a transactional.id without also enabling idempotence')")
    floor = min(out["linger.ms"] + out["request.timeout.ms"], INT_MAX)
    if out["delivery.timeout.ms"] < floor:
        if "delivery.timeout.ms" in explicit:
            raise ConfigError(_at(path, "delivery.timeout.ms"),
                              f"{out['delivery.timeout.ms']} is below linger.ms + request.timeout.ms "
                              f"({out['linger.ms']} + {out['request.timeout.ms']} = {floor}); Kafka throws ConfigException")
        out["delivery.timeout.ms"] = floor  # Kafka raises the default and logs a warning
    if broker is not None and out["transactional.id"] is not None:
        cap = _as_resolved("broker", broker, "")["transaction.max.timeout.ms"]
        if not 0 < out["transaction.timeout.ms"] <= cap:
            raise ConfigError(_at(path, "transaction.timeout.ms"),
                              f"{out['transaction.timeout.ms']} is outside 1..transaction.max.timeout.ms ({cap}); the broker "
                              "would reject InitProducerId with INVALID_TRANSACTION_TIMEOUT")
    return Resolved(out, "producer", explicit)


def check_consumer(conf: Mapping[str, Any], broker: Mapping[str, Any] | None, path: str = "") -> Resolved:
    """Kafka's consumer checks, plus the broker's session-timeout bounds; returns the adjusted config.

    The only adjustment is Kafka's: without a ``group.id``, a defaulted ``enable.auto.commit``
    becomes false. Kafka: ``ConsumerConfig.postProcessParsedConfig`` (unsupported-per-protocol keys,
    auto-commit without group), ``consumer.internals.Heartbeat`` (heartbeat < session),
    ``GroupMetadataManager`` / ``GroupCoordinator`` (INVALID_SESSION_TIMEOUT on JoinGroup).
    """
    conf = _as_resolved("consumer", conf, path)
    brk = _as_resolved("broker", broker, "")
    out, explicit = dict(conf), conf.explicit
    if out["group.protocol"] == "consumer":
        for name in ("partition.assignment.strategy", "heartbeat.interval.ms", "session.timeout.ms"):
            if name in explicit:
                moved = {"heartbeat.interval.ms": "group.consumer.heartbeat.interval.ms",
                         "session.timeout.ms": "group.consumer.session.timeout.ms"}.get(name, "group.remote.assignor")
                raise ConfigError(_at(path, name), f"cannot be set when group.protocol=consumer; under KIP-848 the broker "
                                  f"decides it (see {moved}); Kafka throws ConfigException")
    else:
        if out["group.remote.assignor"] is not None:
            raise ConfigError(_at(path, "group.remote.assignor"),
                              "cannot be set when group.protocol=classic (assignment is client-side there); Kafka throws ConfigException")
        session, heartbeat = out["session.timeout.ms"], out["heartbeat.interval.ms"]
        if heartbeat >= session:
            raise ConfigError(_at(path, "heartbeat.interval.ms"), f"{heartbeat} must be lower than session.timeout.ms ({session}) "
                              "(Kafka: 'Heartbeat must be set lower than the session timeout')")
        lo, hi = brk["group.min.session.timeout.ms"], brk["group.max.session.timeout.ms"]
        if out["group.id"] is not None and not lo <= session <= hi:
            side, bound, value = ("below", "group.min.session.timeout.ms", lo) if session < lo else ("above", "group.max.session.timeout.ms", hi)
            raise ConfigError(_at(path, "session.timeout.ms"), f"{session} is {side} {bound} ({value}); "
                              "the broker would reject JoinGroup with INVALID_SESSION_TIMEOUT")
    if out["group.id"] is None and out["enable.auto.commit"]:
        if "enable.auto.commit" in explicit:
            raise ConfigError(_at(path, "enable.auto.commit"), "cannot be true without a group.id: there is no group to "
                              "commit to (Kafka throws InvalidConfigurationException)")
        out["enable.auto.commit"] = False
    return Resolved(out, "consumer", explicit)


def check_broker(conf: Mapping[str, Any], path: str = "") -> Resolved:
    """The broker's start-up cross-checks that kafkasim's keys touch. Kafka: ``KafkaConfig.validateValues``."""
    conf = _as_resolved("broker", conf, path)
    if conf["replica.fetch.wait.max.ms"] > conf["replica.lag.time.max.ms"]:
        raise ConfigError(_at(path, "replica.fetch.wait.max.ms"),
                          f"{conf['replica.fetch.wait.max.ms']} must not exceed replica.lag.time.max.ms "
                          f"({conf['replica.lag.time.max.ms']}), or idle followers keep dropping out of the ISR "
                          "(Kafka refuses to start)")
    return conf


def topic_config(broker_conf: Mapping[str, Any] | None, overrides: Mapping[str, Any] | None, path: str = "") -> Resolved:
    """A topic's complete config: broker-level defaults (``broker_key``) under the topic's overrides.

    A broker ``min.insync.replicas: 2`` makes every topic default to 2, as in Kafka.
    Kafka: ``LogConfig.fromProps`` and ``LogConfig.validateValues``.
    """
    brk = _as_resolved("broker", broker_conf, "")
    base = {n: _fresh(brk[k.broker_key]) if k.broker_key else _fresh(k.default) for n, k in REGISTRY["topic"].items()}
    out = _resolve("topic", base, overrides, path)
    if out["min.compaction.lag.ms"] > out["max.compaction.lag.ms"]:
        raise ConfigError(_at(path, "min.compaction.lag.ms"), f"{out['min.compaction.lag.ms']} is above max.compaction.lag.ms "
                          f"({out['max.compaction.lag.ms']}); Kafka rejects the topic config")
    return out


def describe(name: str) -> str:
    """Text for ``kafkasim explain KEY``: meaning, role, type, default and valid values."""
    found = [REGISTRY[r][name] for r in ROLES if name in REGISTRY[r]]
    if not found:
        everything = {n for table in REGISTRY.values() for n in table}
        raise ConfigError(name, f"unknown config key{suggest(name, everything)}")
    blocks = []
    for k in found:
        if k.type == "list":
            default = ", ".join(k.default)
        else:
            default = k.default if isinstance(k.default, str) and k.default else show(k.default)
        lines = [f"{k.name} ({k.role}, {k.type})", f"  {k.doc}", f"  default: {default}"]
        if k.choices:
            lines.append("  valid values: " + ", ".join(c for c in k.choices if c is not None)
                         + (", or null" if None in k.choices else ""))
        elif k.name == "partition.assignment.strategy":
            lines.append("  valid values: " + ", ".join(ASSIGNORS) + ", their Java class names, or module:Class")
        if k.min is not None and k.max is not None:
            lines.append(f"  valid range: {_num(k.min)} .. {_num(k.max)}")
        elif k.min is not None or k.max is not None:
            lines.append(f"  valid range: at least {_num(k.min)}" if k.min is not None else f"  valid range: at most {_num(k.max)}")
        if k.broker_key:
            lines.append(f"  broker-level default: {k.broker_key}")
        if not k.modelled:
            lines.append("  kafkasim: not modelled (accepted and validated only)")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
