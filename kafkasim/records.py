"""Plain data shared by the model, the clients and the readers of a trace.

Kafka: ``TopicPartition``, ``RecordMetadata``, ``ConsumerRecord`` / confluent-kafka ``Message``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from kafkasim.errors import KafkaError

#: confluent-kafka's logical offsets.
OFFSET_BEGINNING = -2
OFFSET_END = -1
OFFSET_STORED = -1000
OFFSET_INVALID = -1001


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
        """(TIMESTAMP_CREATE_TIME=1, ms) as confluent-kafka returns it."""
        return (1, self._timestamp)

    def headers(self) -> list | None:
        return list(self._headers) if self._headers is not None else None

    def error(self) -> KafkaError | None:
        return self._error

    def leader_epoch(self) -> int:
        return self._leader_epoch
