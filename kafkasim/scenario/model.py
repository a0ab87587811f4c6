"""A validated scenario: frozen plain data, built only by :mod:`kafkasim.scenario.load`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kafkasim.clients.compression import DEFAULT_COMPRESSIBILITY


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, Any]


@dataclass(frozen=True)
class KeySpec:
    """Record keys of a workload: ``pattern`` formatted with ``n`` in [0, cardinality)."""

    pattern: str = "key-{n}"
    cardinality: int = 1
    choice: str = "cycle"  # cycle | random


@dataclass(frozen=True)
class Workload:
    """What a producer sends: ``count`` records at ``rate_per_s`` from ``start_ms``."""

    topic: str
    count: int
    rate_per_s: float
    start_ms: int = 0
    key: KeySpec | None = None
    value_size: int = 100
    partition: int = -1
    transaction_size: int = 0  # > 0: a transactional producer, this many records per transaction
    abort_every: int = 0  # abort every n-th transaction (0: never)
    fail_every: int = 0  # every n-th record fails processing (0: none)
    fail_attempts: int = -1  # how many processing attempts of such a record fail (-1: all, a poison record)
    # record headers (KIP-82), name -> value template with {n} (record number) and {producer}
    headers: tuple[tuple[str, str], ...] = ()
    # share of the values' bytes that repeat earlier ones, in [0, 1]: what compression can remove
    value_compressibility: float = DEFAULT_COMPRESSIBILITY
    value_sizes: Distribution | None = None  # sizes varying per record (value_size: their mean)


@dataclass(frozen=True)
class ProducerSpec:
    name: str
    config: dict[str, Any]
    workload: Workload


@dataclass(frozen=True)
class FailurePolicy:
    """What an application does with a record whose processing fails (Kafka has no built-in DLQ).

    ``retry-in-place``: seek back, pause the partition for ``backoff_ms`` and try again — the
    partition is blocked behind the record (head-of-line). ``retry-topics``: publish it to the next
    retry topic (consumed after ``delays_ms[i]``), commit past it, and after the last one to ``dlq``.
    """

    strategy: str  # retry-in-place | retry-topics
    backoff_ms: int = 1000
    retry_topics: tuple[str, ...] = ()
    delays_ms: tuple[int, ...] = ()
    dlq: str | None = None


@dataclass(frozen=True)
class Distribution:
    """A quantity that varies from record to record (ms of processing, bytes of a value):
    ``constant`` (``mean``), ``uniform`` in [``low``, ``high``], ``exponential`` with ``mean``
    (many small, a long tail), or ``choice`` of one of ``values`` at random (a mix)."""

    distribution: str = "constant"
    mean: float = 0.0
    low: int = 0
    high: int = 0
    values: tuple[int, ...] = ()

    def draw(self, rng: Any) -> int:
        """One value, from ``rng``."""
        if self.distribution == "choice":
            return self.values[rng.randrange(len(self.values))]
        return self.total(1, rng)

    def total(self, count: int, rng: Any) -> int:
        """The sum of ``count`` values (one draw each, from ``rng``)."""
        if self.distribution == "constant" or count <= 0:
            return round(self.mean * count)
        if self.distribution == "uniform":
            return round(sum(rng.uniform(self.low, self.high) for _ in range(count)))
        if self.distribution == "choice":
            return sum(self.draw(rng) for _ in range(count))
        return round(sum(rng.expovariate(1.0 / self.mean) for _ in range(count))) if self.mean > 0 else 0

    @property
    def largest(self) -> float:
        """The largest value it can take (an exponential one: its mean; its tail goes beyond)."""
        return self.high if self.distribution in ("uniform", "choice") else self.mean


@dataclass(frozen=True)
class MarkedRecord:
    """One record an application treats apart, by where it is: the record at ``offset`` of
    ``topic``-``partition`` takes ``processing_ms`` (None: as usual) and its first ``fails``
    processing attempts fail (-1: every attempt, a poison record; 0: none)."""

    topic: str
    partition: int
    offset: int
    processing_ms: int | None = None
    fails: int = 0


@dataclass(frozen=True)
class ConsumerSpec:
    """A consumer application: in group ``group.id`` (``subscribe``) or standalone (``assign``
    of every partition of ``topics``), processing each record for ``processing_ms`` and
    committing per ``commit``: auto | after-poll | after-poll-async | after-record | before-processing | none."""

    name: str
    config: dict[str, Any]
    topics: tuple[str, ...]
    start_ms: int = 0
    processing_ms: int = 0  # per record
    commit: str = "auto"
    async_processing: bool = False  # hand records to a worker and poll on (auto-commit then loses)
    on_failure: FailurePolicy | None = None
    processing_time: Distribution | None = None  # a distribution; None: processing_ms every time
    records: tuple[MarkedRecord, ...] = ()  # a slow or failing record at a chosen offset

    @property
    def group(self) -> str | None:
        return self.config.get("group.id")


PIPELINE_MODES = ("at-most-once", "at-least-once", "exactly-once", "idempotent-sink")
CRASH_POINTS = ("after-consume", "mid-processing", "after-produce", "before-commit", "after-commit")


@dataclass(frozen=True)
class PipelineSpec:
    """A consume-transform-produce stage: ``input`` topic -> ``output`` topic (same partition).

    ``mode`` decides the order of commit and produce: at-most-once (commit, then produce),
    at-least-once (produce, then commit), exactly-once (a transaction around both, with
    read_committed input), idempotent-sink (at-least-once into an external store that drops
    records it has seen: the primer's "database per consumer" pattern).
    """

    name: str
    input: str
    output: str
    mode: str
    config: dict[str, Any]
    producer_config: dict[str, Any]
    processing_ms: int = 0


@dataclass(frozen=True)
class Fault:
    """One scheduled fault: ``action`` on ``target`` (or the link ``source`` -> ``peers``)."""

    at_ms: int
    action: str  # crash | restart | cut | heal | slow | drop | close | stall | add-partitions
    target: str = ""
    peers: tuple[str, ...] = ()
    both: bool = True
    count: int = 1
    extra_ms: int = 0
    duration_ms: int = 0  # stall
    point: str = ""  # pipelines: crash when the next iteration reaches this step
    topic: str = ""  # add-partitions
    partitions: int = 0  # add-partitions: the new partition count


@dataclass(frozen=True)
class Expectation:
    """``stat OP value`` checked against the result (value: a number or another stat)."""

    stat: str
    op: str
    value: int | float | str
    text: str
    line: int | None = None


@dataclass(frozen=True)
class Latency:
    min: int = 1
    max: int = 1


@dataclass(frozen=True)
class Scenario:
    name: str
    file: str
    description: str
    seed: int
    duration_ms: int
    brokers: int
    broker_config: dict[str, Any]
    switches: dict[str, Any]
    latency: Latency
    topics: tuple[TopicSpec, ...]
    producers: tuple[ProducerSpec, ...] = ()
    consumers: tuple[ConsumerSpec, ...] = ()
    faults: tuple[Fault, ...] = ()
    expect: tuple[Expectation, ...] = ()
    source_hash: str = ""
    pipelines: tuple[PipelineSpec, ...] = ()
    modes: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
