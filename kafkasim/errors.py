"""Kafka error codes and kafkasim's own exception tree.

Kafka: ``org.apache.kafka.common.protocol.Errors`` (the wire error codes). Client-side
conditions that never reach a broker carry negative codes, as librdkafka's do.
"""

from __future__ import annotations

from enum import IntEnum


class KafkaError(IntEnum):
    """Kafka protocol error codes (subset kafkasim models), with Kafka's names and numbers."""

    # client-local conditions (librdkafka style, negative)
    _MSG_TIMED_OUT = -192  # delivery.timeout.ms expired (Java: TimeoutException)
    RECORD_TOO_LARGE = -190  # one record above max.request.size; never sent (RecordTooLargeException)
    _STATE = -172  # API used in the wrong state
    _PURGE_QUEUE = -152  # a queued batch dropped by abort_transaction (Java: TransactionAbortedException)
    _PARTITION_EOF = -191  # consumer reached the end of a partition
    UNKNOWN_SERVER_ERROR = -1
    NONE = 0
    OFFSET_OUT_OF_RANGE = 1
    UNKNOWN_TOPIC_OR_PARTITION = 3
    LEADER_NOT_AVAILABLE = 5
    NOT_LEADER_OR_FOLLOWER = 6
    REQUEST_TIMED_OUT = 7
    MESSAGE_TOO_LARGE = 10
    NETWORK_EXCEPTION = 13
    COORDINATOR_LOAD_IN_PROGRESS = 14
    COORDINATOR_NOT_AVAILABLE = 15
    NOT_COORDINATOR = 16
    NOT_ENOUGH_REPLICAS = 19
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20
    ILLEGAL_GENERATION = 22
    INCONSISTENT_GROUP_PROTOCOL = 23
    UNKNOWN_MEMBER_ID = 25
    INVALID_SESSION_TIMEOUT = 26
    REBALANCE_IN_PROGRESS = 27
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45
    DUPLICATE_SEQUENCE_NUMBER = 46
    INVALID_PRODUCER_EPOCH = 47
    INVALID_TXN_STATE = 48
    INVALID_PRODUCER_ID_MAPPING = 49
    INVALID_TRANSACTION_TIMEOUT = 50
    CONCURRENT_TRANSACTIONS = 51
    UNKNOWN_PRODUCER_ID = 59
    FETCH_SESSION_ID_NOT_FOUND = 70
    INVALID_FETCH_SESSION_EPOCH = 71
    FENCED_LEADER_EPOCH = 74
    UNKNOWN_LEADER_EPOCH = 75
    MEMBER_ID_REQUIRED = 79
    FENCED_INSTANCE_ID = 82
    UNSTABLE_OFFSET_COMMIT = 88
    PRODUCER_FENCED = 90
    DUPLICATE_BROKER_REGISTRATION = 101  # KRaft: that broker id's previous process still has a session

    @property
    def retriable(self) -> bool:
        """Whether Kafka's clients retry this error (``RetriableException`` subclasses)."""
        return self in _RETRIABLE


_RETRIABLE = frozenset(
    {
        KafkaError.NOT_LEADER_OR_FOLLOWER,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NETWORK_EXCEPTION,
        KafkaError.NOT_ENOUGH_REPLICAS,
        KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        KafkaError.UNKNOWN_TOPIC_OR_PARTITION,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.FENCED_LEADER_EPOCH,
        KafkaError.UNKNOWN_LEADER_EPOCH,
        KafkaError.UNSTABLE_OFFSET_COMMIT,
        KafkaError.CONCURRENT_TRANSACTIONS,
    }
)


class KafkasimError(Exception):
    """Base of every error kafkasim raises on purpose."""


class KafkaException(KafkasimError):
    """A Kafka error surfaced to client code (confluent-kafka's ``KafkaException``)."""

    def __init__(self, error: KafkaError, message: str = "") -> None:
        self.error = error
        self.message = message
        super().__init__(error, message)  # simpy re-raises an exception as type(e)(*e.args)

    def __str__(self) -> str:
        return f"{self.error.name}: {self.message}" if self.message else self.error.name


class ConfigError(KafkasimError):
    """A configuration value Kafka would reject, or an unknown key.

    ``path`` is the dotted location in the user's input (``producers[0].config.acks``);
    ``problem`` says what was wrong and what was expected.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path else problem)


class ScenarioError(KafkasimError):
    """A scenario file that cannot be run: ``file:line:col: path: problem``."""

    def __init__(self, problem: str, *, file: str = "", line: int | None = None,
                 col: int | None = None, path: str = "") -> None:
        self.file, self.line, self.col, self.path, self.problem = file, line, col, path, problem
        where = file
        if line is not None:
            where += f":{line}:{col if col is not None else 1}"
        parts = [p for p in (where, path) if p]
        super().__init__(": ".join([*parts, problem]))
