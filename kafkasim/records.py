"""Plain data shared by the model, the clients and the readers of a trace.

Kafka: ``TopicPartition``, ``RecordMetadata``, ``ConsumerRecord`` / confluent-kafka ``Message``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from kafkasim.errors import KafkaError

#: confluent-kafka's logical offsets.
OFFSET_BEGINNING = -2
OFFSET_END = -1
OFFSET_STORED = -1000
OFFSET_INVALID = -1001

#: confluent-kafka's timestamp types, as ``Message.timestamp()`` returns them (Kafka's
#: ``TimestampType``; the topic's ``message.timestamp.type`` decides, KIP-32).
TIMESTAMP_NOT_AVAILABLE = 0
TIMESTAMP_CREATE_TIME = 1
TIMESTAMP_LOG_APPEND_TIME = 2

#: The header kafkasim's readers follow a record by (``kafkasim check`` joins pipeline outputs to inputs by it).
CORRELATION_HEADER = "correlation_id"


def timestamp_at(first: int, stamps: Sequence[tuple[int, int]] | None, i: int) -> int:
    """The CreateTime of record ``i`` of a batch: ``first`` unless a stamp ``(index, ts)``
    at or before ``i`` changed it. Batches keep only the changes, as Kafka's
    v2 batch keeps a base timestamp and per-record deltas."""
    if not stamps:
        return first
    j = bisect_right(stamps, i, key=lambda s: s[0]) - 1
    return stamps[j][1] if j >= 0 else first


def min_timestamp(first: int, stamps: Sequence[tuple[int, int]] | None, lo: int, hi: int) -> int:
    """The smallest CreateTime among records ``lo .. hi-1`` of a batch (the oldest of a chunk)."""
    ts = timestamp_at(first, stamps, lo)
    if stamps:
        for idx, t in stamps:
            if lo < idx < hi and t < ts:
                ts = t
    return ts


def header_value(headers: Any, name: str) -> str | None:
    """The value of the last header called ``name``, as text (Java: ``Headers.lastHeader``);
    keys may repeat (KIP-82)."""
    found = None
    for k, v in (headers.items() if isinstance(headers, dict) else headers or ()):
        if k == name:
            found = v.decode("utf-8", "replace") if isinstance(v, bytes) else (None if v is None else str(v))
    return found


class TopicPartition(NamedTuple):
    """A partition of a topic. Sorts by (topic, partition), as Kafka's tools print them."""

    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition}"


@dataclass(frozen=True, slots=True)
class RecordMetadata:
    """What a delivery report says about one record (Java ``RecordMetadata``)."""

    topic: str
    partition: int
    offset: int  # -1 when unknown (acks=0, or failed)
    timestamp: int


@dataclass(slots=True)
class Message:
    """One record as a consumer (or a delivery report) sees it; confluent-kafka's ``Message``.

    ``rid`` is kafkasim's identity of the produce() call that created the record
    (``producer:partition:index``), carried invisibly so checkers can follow it.
    """

    _topic: str
    _partition: int
    _offset: int
    _key: Any = None
    _value: Any = None
    _timestamp: int = -1
    _headers: tuple | None = None
    _error: KafkaError | None = None
    _leader_epoch: int = -1
    rid: str = ""
    _timestamp_type: int = TIMESTAMP_CREATE_TIME

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> Any:
        return self._key

    def value(self) -> Any:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        """(type, ms) as confluent-kafka returns it: TIMESTAMP_CREATE_TIME (1), the producer's
        timestamp, or TIMESTAMP_LOG_APPEND_TIME (2), the leader's append time; (0, -1) if none."""
        if self._timestamp < 0:
            return (TIMESTAMP_NOT_AVAILABLE, -1)
        return (self._timestamp_type, self._timestamp)

    def headers(self) -> list | None:
        """[(key, value bytes)] as confluent-kafka returns them (str values arrive UTF-8 encoded), or None."""
        if self._headers is None:
            return None
        items = self._headers.items() if isinstance(self._headers, dict) else self._headers
        return [(k, v.encode("utf-8") if isinstance(v, str) else v) for k, v in items]

    def error(self) -> KafkaError | None:
        return self._error

    def leader_epoch(self) -> int:
        return self._leader_epoch
