"""The requests and responses that cross the simulated network (Kafka's wire protocol, pared down).

Kafka: ``ProduceRequest``, ``FetchRequest``, ``ListOffsetsRequest``, ``MetadataRequest``,
``AlterPartitionRequest``, ``BrokerHeartbeatRequest`` and the KRaft metadata records.
Simplified: no versions, no rack ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kafkasim.errors import KafkaError
from kafkasim.records import TopicPartition

NO_LEADER = -1


def java_string_hash(s: str) -> int:
    """Java's ``String.hashCode`` (UTF-16 code units), as a signed 32-bit int."""
    h = 0
    data = s.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def offsets_partition(group_id: str, partitions: int) -> int:
    """The coordinator's partition for a group id or transactional id:
    ``Utils.abs(key.hashCode()) % partitions`` (abs(MIN_VALUE) is 0)."""
    h = java_string_hash(group_id)
    return (0 if h == -(1 << 31) else abs(h)) % partitions


@dataclass(slots=True, eq=False)
class ProducerBatch:
    """A producer's batch for one partition (client side), sent and retried as a unit.

    Kafka: ``ProducerBatch`` in the ``RecordAccumulator``.
    """

    tp: TopicPartition
    origin: str  # producer name
    rec: int  # index of the first record in origin's stream for this partition
    created: int  # ms, starts the delivery.timeout.ms clock; also record 0's CreateTime unless stamps says otherwise
    count: int = 0
    size: int = 0  # bytes, with batch overhead: uncompressed while open, as sent once built (compression)
    keys: list | None = None
    values: list | None = None
    headers: list | None = None
    callbacks: list | None = None
    producer_id: int = -1
    producer_epoch: int = -1
    base_sequence: int = -1
    transactional: bool = False
    control: int = 0  # transaction marker (COMMIT=1 / ABORT=2), written by the coordinator's WriteTxnMarkers
    attempts: int = 0
    retry_at: int = 0  # not before (retry.backoff.ms)
    closed: bool = False  # no more appends (full, or drained once)
    done: bool = False
    inflight: bool = False
    stamps: list | None = None  # CreateTime changes: (record index, ms) where it differs from the record before
    compression: Any = None  # clients.compression.BatchCodec: codec and data; None = uncompressed, default data


@dataclass(slots=True)
class ProduceRequest:
    client: str
    acks: str  # "0" | "1" | "all"
    timeout_ms: int
    batches: dict[TopicPartition, ProducerBatch]
    transactional_id: str | None = None


@dataclass(slots=True)
class PartitionProduceResponse:
    error: KafkaError
    base_offset: int = -1
    log_start: int = -1
    log_append_time: int = -1  # the leader's append time for a LogAppendTime topic, else -1 (KIP-32)


@dataclass(slots=True)
class FetchPartition:
    offset: int
    current_leader_epoch: int = -1
    last_fetched_epoch: int = -1  # followers: epoch of their last batch (KIP-595 style divergence check)
    max_bytes: int = 1048576


@dataclass(slots=True)
class FetchRequest:
    replica_id: int  # -1 for consumers
    client: str
    max_wait_ms: int
    partitions: dict[TopicPartition, FetchPartition]
    max_bytes: int = 52428800
    isolation_level: str = "read_uncommitted"
    # KIP-227: session 0 with epoch 0 opens a session (full request); epoch -1 is a sessionless
    # full fetch; otherwise ``partitions`` holds only what changed and ``forgotten`` what is dropped
    session_id: int = 0
    session_epoch: int = -1
    forgotten: tuple[TopicPartition, ...] = ()


@dataclass(slots=True)
class FetchPartitionData:
    error: KafkaError
    hw: int = -1
    lso: int = -1
    log_start: int = -1
    batches: list[Any] = field(default_factory=list)
    diverging_epoch: tuple[int, int] | None = None  # (epoch, end offset) on the leader
    aborted: list[tuple[int, int]] = field(default_factory=list)  # read_committed: (producer id, first offset)


@dataclass(slots=True)
class FetchResponse:
    """A fetch answer: in a session, only the partitions with something new (KIP-227)."""

    partitions: dict[TopicPartition, FetchPartitionData]
    session_id: int = 0
    error: KafkaError = KafkaError.NONE


@dataclass(slots=True)
class PartitionRecord:
    """The controller's state of one partition (KRaft ``PartitionRecord``/``PartitionChangeRecord``)."""

    tp: TopicPartition
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader: int
    leader_epoch: int
    partition_epoch: int


@dataclass(slots=True)
class TopicRecord:
    name: str
    partitions: int
    config: dict[str, Any]


@dataclass(slots=True)
class BrokerFencing:
    """KRaft ``FenceBrokerRecord`` / ``UnfenceBrokerRecord``: a fenced broker is not ISR-eligible."""

    broker: int
    fenced: bool


@dataclass(slots=True)
class AlterPartition:
    broker: int
    tp: TopicPartition
    leader_epoch: int
    partition_epoch: int
    new_isr: tuple[int, ...]
