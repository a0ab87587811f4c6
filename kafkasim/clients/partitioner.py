"""Kafka's default (built-in) producer partitioner, reproduced byte for byte.

Keyed records go to ``toPositive(murmur2(serialized key)) % numPartitions``; keyless records
(and, with ``partitioner.ignore.keys=true``, all records) go to the topic's current *sticky*
partition, which changes after ``batch.size`` bytes were produced to it (KIP-794).

Kafka: ``org.apache.kafka.common.utils.Utils`` (``murmur2``, ``toPositive``),
``org.apache.kafka.clients.producer.internals.BuiltInPartitioner`` and its caller
``KafkaProducer.partition()`` / ``RecordAccumulator.append()`` (Kafka 3.3+, KIP-794).
Simplified: no custom ``Partitioner`` plug-in, no adaptive (queue-size weighted) choice of the
next sticky partition, no ``partitioner.availability.timeout.ms`` exclusion; see
:class:`StickyPartitioner` for the exact switching rule modelled. ``partitioner.ignore.keys``
is the caller's switch: with it on, send keyed records through :class:`StickyPartitioner` too.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Sequence
from typing import Final

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "KeyPartitionCache",
    "MURMUR2_M",
    "MURMUR2_R",
    "MURMUR2_SEED",
    "StickyPartitioner",
    "murmur2",
    "partition_for_key",
    "serialize_key",
    "to_positive",
]

DEFAULT_BATCH_SIZE: Final = 16384
"""Producer ``batch.size`` default (bytes); also the sticky partitioner's switch threshold."""

# Utils.murmur2 constants. murmur2() spells them as literals (faster than global lookups):
# seed 0x9747B28C, m 0x5BD1E995, r 24, 32-bit mask 0xFFFFFFFF.
MURMUR2_SEED: Final = 0x9747B28C
MURMUR2_M: Final = 0x5BD1E995
MURMUR2_R: Final = 24

# One precompiled little-endian "<nI" unpacker per block count seen (keys have few lengths).
_BLOCK_UNPACKERS: dict[int, Callable[[bytes], tuple[int, ...]]] = {}
_MAX_CACHED_BLOCKS: Final = 1024
_Struct = struct.Struct
_from_bytes = int.from_bytes


def murmur2(data: bytes) -> int:
    """32-bit MurmurHash2 of ``data`` exactly as Kafka's ``Utils.murmur2`` computes it.

    Seed ``0x9747b28c``, mixing constants ``m = 0x5bd1e995``, ``r = 24``; 4-byte blocks are read
    little-endian, the 1-3 tail bytes are folded in the same way. The result is returned as a
    *signed* 32-bit int, like Java's ``int``: ``murmur2(b"21") == -973932308``.

    Kafka: ``org.apache.kafka.common.utils.Utils.murmur2(byte[])``.
    Simplified: nothing (bit-exact); Python ints are masked to 32 bits where Java's wrap.
    """
    n = len(data)
    h = 0x9747B28C ^ n  # seed ^ length
    blocks = n >> 2
    if blocks:
        unpack = _BLOCK_UNPACKERS.get(blocks)
        if unpack is None:
            unpack = _Struct(f"<{blocks}I").unpack_from
            if blocks <= _MAX_CACHED_BLOCKS:
                _BLOCK_UNPACKERS[blocks] = unpack
        for k in unpack(data):
            k = (k * 0x5BD1E995) & 0xFFFFFFFF  # k *= m
            # k ^= k >>> r; k *= m; h *= m; h ^= k -- one final mask suffices, since the low
            # 32 bits of a XOR are the XOR of the low 32 bits.
            h = ((h * 0x5BD1E995) ^ ((k ^ (k >> 24)) * 0x5BD1E995)) & 0xFFFFFFFF
    if n & 3:
        # Java's fall-through switch (case 3: byte2<<16, case 2: byte1<<8, case 1: byte0; h *= m)
        # XORs in the little-endian integer of the 1-3 tail bytes.
        h = ((h ^ _from_bytes(data[blocks << 2 :], "little")) * 0x5BD1E995) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0x5BD1E995) & 0xFFFFFFFF
    h ^= h >> 15
    return h - 0x100000000 if h & 0x80000000 else h  # as a signed Java int


def to_positive(n: int) -> int:
    """Kafka's ``Utils.toPositive``: clear the sign bit (``n & 0x7fffffff``); *not* ``abs``.

    Kafka: ``org.apache.kafka.common.utils.Utils.toPositive(int)``.
    """
    return n & 0x7FFFFFFF


def _java_utf8(key: str) -> bytes:
    """UTF-8 like Java's ``String.getBytes(UTF_8)``: surrogate pairs joined, lone ones -> ``?``."""
    joined = key.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return joined.encode("utf-8", "replace")


def serialize_key(key: str | bytes) -> bytes:
    """Serialize a record key the way the Java producer's usual serializers do.

    ``str`` -> UTF-8 (``StringSerializer``), ``bytes`` -> as is (``ByteArraySerializer``).
    A ``str`` that is not valid Unicode (lone surrogates) encodes as Java would: each lone
    surrogate becomes ``?``. ``None`` is a *null key*, which is keyless (sticky) in Kafka, so it
    is rejected here with ``TypeError`` like every other type.

    Kafka: ``org.apache.kafka.common.serialization.StringSerializer`` / ``ByteArraySerializer``.
    Simplified: only these two serializers; no ``key.serializer.encoding`` other than UTF-8.
    """
    if isinstance(key, str):
        try:
            return key.encode("utf-8")
        except UnicodeEncodeError:
            return _java_utf8(key)
    if isinstance(key, bytes):
        return key
    if key is None:
        raise TypeError(
            "key is None: a null key is keyless in Kafka (sticky partitioner), "
            "use StickyPartitioner instead of partition_for_key"
        )
    raise TypeError(f"key must be str or bytes, not {type(key).__name__}")


def _check_num_partitions(num_partitions: int) -> None:
    if type(num_partitions) is not int:
        raise TypeError(f"num_partitions must be an int, not {type(num_partitions).__name__}")
    if num_partitions < 1:
        raise ValueError(f"num_partitions must be >= 1, got {num_partitions}")


def partition_for_key(key: str | bytes, num_partitions: int) -> int:
    """The partition Kafka's producer picks for a keyed record.

    ``toPositive(murmur2(serialize_key(key))) % num_partitions``. The empty key (``""`` or
    ``b""``) is a real key, not a null key: it hashes (``murmur2(b"") == 275646681``).
    Raises ``ValueError`` if ``num_partitions < 1``.

    Kafka: ``BuiltInPartitioner.partitionForKey`` called from ``KafkaProducer.partition()`` when
    the record has no explicit partition, no custom partitioner is set, the serialized key is
    non-null and ``partitioner.ignore.keys`` is false.
    Simplified: the explicit-partition and custom-partitioner branches are the caller's business.
    """
    if type(num_partitions) is not int or num_partitions < 1:
        _check_num_partitions(num_partitions)
    if type(key) is str:
        try:
            data = key.encode("utf-8")
        except UnicodeEncodeError:
            data = _java_utf8(key)
    elif type(key) is bytes:
        data = key
    else:
        data = serialize_key(key)
    return (murmur2(data) & 0x7FFFFFFF) % num_partitions


class KeyPartitionCache:
    """Memo of :func:`partition_for_key` for one partition count, for hot call sites.

    Workloads reuse a bounded set of keys, so a dict lookup beats re-hashing. The memo holds at
    most ``max_entries`` keys and is simply cleared when it would grow past that. ``"k"`` and
    ``b"k"`` are separate entries (they always map to the same partition).
    Kafka: none (Kafka hashes every record; the result is identical).
    """

    __slots__ = ("num_partitions", "max_entries", "_memo")

    def __init__(self, num_partitions: int, max_entries: int = 1 << 16) -> None:
        _check_num_partitions(num_partitions)
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.num_partitions = num_partitions
        self.max_entries = max_entries
        self._memo: dict[str | bytes, int] = {}

    def get(self, key: str | bytes) -> int:
        """Partition of ``key`` (same value and errors as :func:`partition_for_key`)."""
        try:
            return self._memo[key]
        except KeyError:
            pass
        except TypeError:  # unhashable: let partition_for_key raise its clear TypeError
            return partition_for_key(key, self.num_partitions)
        partition = partition_for_key(key, self.num_partitions)
        memo = self._memo
        if len(memo) >= self.max_entries:
            memo.clear()
        memo[key] = partition
        return partition

    def __len__(self) -> int:
        return len(self._memo)


class _StickyState:
    """Kafka's ``BuiltInPartitioner.StickyPartitionInfo``: the sticky partition and its bytes."""

    __slots__ = ("partition", "produced_bytes")

    def __init__(self, partition: int) -> None:
        self.partition = partition
        self.produced_bytes = 0


class StickyPartitioner:
    """Kafka's BuiltInPartitioner for keyless records (KIP-794): stick to one partition until
    batch.size bytes were produced to it, then pick another.

    State per topic (Kafka keeps one ``BuiltInPartitioner`` per topic): the current sticky
    partition and the bytes produced to it since it was chosen. The first partition is chosen
    lazily, on the topic's first keyless record.

    Each call to :meth:`partition` follows Kafka's order, choose-then-account: it returns the
    current sticky partition (the record is appended there), *then* adds ``record_size`` to the
    produced bytes and, if the switch condition holds, immediately picks the partition for the
    *next* record. Switch condition, as in ``BuiltInPartitioner.updatePartitionInfo``::

        produced_bytes >= batch_size and enable_switch  or  produced_bytes >= 2 * batch_size

    Choice of the next partition (``BuiltInPartitioner.nextPartition`` without load stats):
    ``r = toPositive(random 32-bit int)``; if some partitions are *available* (have a leader)
    it is ``available[r % len(available)]``, otherwise ``r % num_partitions``. It is uniform
    and *may pick the same partition again* (the pre-3.3 ``StickyPartitionCache`` excluded the
    previous partition; KIP-794's ``BuiltInPartitioner`` does not).

    Kafka: ``org.apache.kafka.clients.producer.internals.BuiltInPartitioner`` driven by
    ``RecordAccumulator.append`` (3.3+), ``partitioner.adaptive.partitioning.enable=true``.
    Simplified: no adaptive weighting. Kafka weighs the choice by inverse per-partition queue
    length, but only once every partition has a batch queue and the lengths differ; when they
    are all equal (or adaptive is off, or there are < 2 partitions) it is exactly the uniform
    choice above, which is what is modelled. No ``partitioner.availability.timeout.ms``
    exclusion. ``record_size`` is whatever the caller accounts (Kafka counts the growth of the
    batch's estimated size, so a record that opens a new batch also counts the batch header).
    Kafka completes a deferred switch before an append when the queue's batches have become
    full; here the caller does that with :meth:`complete_deferred_switch`. Randomness comes from
    the injected ``rng`` (Kafka: ``ThreadLocalRandom``), so runs are reproducible.
    """

    def __init__(self, rng: random.Random, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self._rng = rng
        self.batch_size = batch_size
        self._topics: dict[str, _StickyState] = {}

    def partition(
        self,
        topic: str,
        num_partitions: int,
        record_size: int,
        *,
        enable_switch: bool = True,
        available: Sequence[int] | None = None,
    ) -> int:
        """The partition for the next keyless record of ``topic``, then account its bytes.

        ``enable_switch`` is Kafka's ``allBatchesFull(deque)`` after the append: pass ``False``
        while the sticky partition's last batch is still open and not full (only matters with
        ``linger.ms > 0``); the switch is then deferred until a call with ``True`` (or
        :meth:`complete_deferred_switch`) or until ``2 * batch_size`` bytes. ``available`` is
        the partitions that currently have a leader (``None`` = all of them); it is consulted
        only when a new sticky partition is chosen, as in Kafka.
        """
        _check_num_partitions(num_partitions)
        if record_size < 0:
            raise ValueError(f"record_size must be >= 0, got {record_size}")
        state = self._topics.get(topic)
        if state is None or state.partition >= num_partitions:
            # First keyless record (or the topic shrank, which Kafka never does): choose now.
            state = self._topics[topic] = _StickyState(
                self._next_partition(num_partitions, available)
            )
        chosen = state.partition
        state.produced_bytes += record_size
        produced = state.produced_bytes
        if (produced >= self.batch_size and enable_switch) or produced >= 2 * self.batch_size:
            self._topics[topic] = _StickyState(self._next_partition(num_partitions, available))
        return chosen

    def complete_deferred_switch(
        self, topic: str, num_partitions: int, available: Sequence[int] | None = None
    ) -> bool:
        """Switch now if a switch was deferred (``batch_size`` reached with switching disabled).

        Call it when the sticky partition's batches have become full or were drained; Kafka
        does this check (``updatePartitionInfo(info, 0, cluster, true)``) under the partition's
        queue lock before each append. Returns whether the sticky partition changed.
        """
        state = self._topics.get(topic)
        if state is None or state.produced_bytes < self.batch_size:
            return False
        _check_num_partitions(num_partitions)
        self._topics[topic] = _StickyState(self._next_partition(num_partitions, available))
        return True

    def current_partition(self, topic: str) -> int | None:
        """The sticky partition the next keyless record of ``topic`` goes to (``None``: unset)."""
        state = self._topics.get(topic)
        return None if state is None else state.partition

    def produced_bytes(self, topic: str) -> int:
        """Bytes produced to ``topic``'s current sticky partition since it was chosen."""
        state = self._topics.get(topic)
        return 0 if state is None else state.produced_bytes

    def _next_partition(self, num_partitions: int, available: Sequence[int] | None) -> int:
        """Kafka's ``nextPartition`` without load stats: uniform over available partitions."""
        r = self._rng.getrandbits(32) & 0x7FFFFFFF  # toPositive(ThreadLocalRandom.nextInt())
        if available:
            partition = available[r % len(available)]
            if not 0 <= partition < num_partitions:
                raise ValueError(
                    f"available partition {partition} out of range for {num_partitions} partitions"
                )
            return partition
        return r % num_partitions
