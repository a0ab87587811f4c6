"""A partition replica's log: record batches, offsets, leader-epoch cache (pure, no simpy).

Kafka: ``UnifiedLog`` / ``LocalLog`` / ``LeaderEpochFileCache``.
Segments are modelled by their base offsets only (no files): the active segment rolls at
``segment.bytes`` or ``segment.ms`` as Kafka rolls it on append, and retention deletes
whole segments (``UnifiedLog.deleteOldSegments``). Sizes are modelled, payloads optional.

Durability: an append is in the OS page cache, not on disk. Kafka fsyncs only when a
segment rolls (``LocalLog.roll`` flushes what precedes the new segment) and when
``flush.messages`` records are unflushed (``UnifiedLog.append``; default never: Kafka relies
on replication). The OS writes dirty pages back by itself; kafkasim takes Linux's defaults:
pages dirty for 30 s (``vm.dirty_expire_centisecs``) are written by the flusher that runs
every 5 s (``vm.dirty_writeback_centisecs``). A power loss keeps only what is durable.
"""


from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from kafkasim.cluster.producer_state import ProducerStateTable
from kafkasim.records import (
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    min_timestamp,
    timestamp_at,
)

#: Bytes of batch header Kafka adds around the records (v2 format: 61 bytes).
BATCH_OVERHEAD = 61
#: Per-record overhead in the v2 format, roughly (varint lengths, attributes, deltas).
RECORD_OVERHEAD = 8

CONTROL_NONE, CONTROL_COMMIT, CONTROL_ABORT = 0, 1, 2

#: Linux writeback (vm.dirty_expire_centisecs, vm.dirty_writeback_centisecs), in ms.
DIRTY_EXPIRE_MS = 30_000
DIRTY_WRITEBACK_MS = 5_000


@dataclass(slots=True, eq=False)
class RecordBatch:
    """A batch as stored in a log: offsets, epoch and producer fields, and its records.

    ``origin`` and ``rec`` identify the produce() calls inside (kafkasim bookkeeping, not a
    Kafka field): records ``rec .. rec+count-1`` of producer ``origin`` for this partition.
    ``keys``/``values``/``headers`` are tuples, or None when a workload only models sizes.
    ``timestamp`` is the batch's largest timestamp (Kafka's ``maxTimestamp``, which retention
    and segment rolling read). With CreateTime each record keeps the producer's timestamp
    (``first_timestamp`` and the changes in ``stamps``); with LogAppendTime the leader set
    ``timestamp`` to its append time and every record reads that (KIP-32).
    """

    base_offset: int
    count: int
    leader_epoch: int
    size: int
    timestamp: int
    origin: str = ""
    rec: int = 0
    producer_id: int = -1
    producer_epoch: int = -1
    base_sequence: int = -1
    transactional: bool = False
    control: int = CONTROL_NONE
    keys: tuple | None = None
    values: tuple | None = None
    headers: tuple | None = None
    timestamp_type: int = TIMESTAMP_CREATE_TIME
    first_timestamp: int = -1  # CreateTime of the records before the first stamp (-1: read ``timestamp``)
    stamps: tuple | None = None  # (record index, CreateTime) where it changes

    def record_timestamp(self, i: int) -> int:
        """Record ``i``'s timestamp as a consumer sees it."""
        if self.timestamp_type == TIMESTAMP_LOG_APPEND_TIME or self.first_timestamp < 0:
            return self.timestamp
        return timestamp_at(self.first_timestamp, self.stamps, i)

    def oldest_timestamp(self, lo: int, hi: int) -> int:
        """The smallest timestamp among records ``lo .. hi-1`` (indexes within the batch)."""
        if self.timestamp_type == TIMESTAMP_LOG_APPEND_TIME or self.first_timestamp < 0:
            return self.timestamp
        return min_timestamp(self.first_timestamp, self.stamps, lo, hi)

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.count - 1

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.count

    @property
    def last_sequence(self) -> int:
        return self.base_sequence + self.count - 1 if self.base_sequence >= 0 else -1


class PartitionLog:
    """One replica's log of a partition: what survives a broker crash.

    Offsets: ``log_start`` (first kept), ``leo`` (log end offset: next offset to assign).
    The high watermark lives here too (each replica has its own) but is moved by the
    replication rules in :mod:`kafkasim.cluster.partition`.
    """

    __slots__ = ("batches", "_bases", "log_start", "leo", "hw", "epochs", "producers", "size", "ongoing", "aborted",
                 "segments", "segment_bytes", "segment_ms", "_active_size", "_active_first_ts", "flush_messages",
                 "flushed", "_appended_at")

    def __init__(self, segment_bytes: int = 1 << 30, segment_ms: int = 604_800_000,
                 flush_messages: int = 1 << 63) -> None:
        self.batches: list[RecordBatch] = []
        self._bases: list[int] = []
        self.log_start = 0
        self.leo = 0
        self.hw = 0
        self.epochs: list[tuple[int, int]] = []  # leader-epoch cache: (epoch, start offset), ascending
        self.producers = ProducerStateTable()
        self.size = 0
        self.ongoing: dict[int, int] = {}  # producer id -> first offset of its open transaction
        self.aborted: list[tuple[int, int, int]] = []  # (producer id, first offset, marker offset)
        self.segments: list[int] = [0]  # base offsets; the last is the active segment
        self.segment_bytes, self.segment_ms = segment_bytes, segment_ms
        self._active_size = 0
        self._active_first_ts = 0  # Kafka's rollingBasedTimestamp: the first batch's timestamp
        self.flush_messages = flush_messages
        self.flushed = 0  # offsets below this were fsynced by Kafka
        self._appended_at: list[int] = []  # when each batch was appended (page cache age)

    def __repr__(self) -> str:
        return f"PartitionLog(log_start={self.log_start}, hw={self.hw}, leo={self.leo}, batches={len(self.batches)})"

    # -- appends --------------------------------------------------------------------------
    def append(self, batch: RecordBatch, now: int | None = None) -> None:
        """Append a batch whose base offset is the current LEO (leader or follower), rolling
        the active segment first when Kafka would (``LogSegment.shouldRoll``): the batch
        would take it past ``segment.bytes``, or it is non-empty and older than ``segment.ms``."""
        if batch.base_offset != self.leo:
            raise ValueError(f"append at {batch.base_offset}, LEO is {self.leo}")
        if self._active_size:
            t = batch.timestamp if now is None else now
            if (self._active_size + batch.size > self.segment_bytes
                    or t - self._active_first_ts > self.segment_ms):
                self.segments.append(batch.base_offset)
                self._active_size = 0
                self.flushed = max(self.flushed, batch.base_offset)  # the rolled segment is fsynced
        if not self._active_size:
            self._active_first_ts = batch.timestamp
        self._active_size += batch.size
        epoch = batch.leader_epoch
        if not self.epochs or self.epochs[-1][0] < epoch:
            self.epochs.append((epoch, batch.base_offset))
        self.batches.append(batch)
        self._bases.append(batch.base_offset)
        self._appended_at.append(batch.timestamp if now is None else now)
        self.leo = batch.base_offset + batch.count
        self.size += batch.size
        if self.leo - self.flushed >= self.flush_messages:
            self.flushed = self.leo
        if batch.producer_id >= 0:
            self.producers.record(batch)
            if batch.transactional:
                self._track_transaction(batch)

    def _track_transaction(self, batch: RecordBatch) -> None:
        """Open transactions hold back the LSO; aborted ones are remembered for read_committed."""
        pid = batch.producer_id
        if batch.control:
            first = self.ongoing.pop(pid, None)
            if batch.control == CONTROL_ABORT and first is not None:
                self.aborted.append((pid, first, batch.base_offset))
        elif pid not in self.ongoing:
            self.ongoing[pid] = batch.base_offset

    @property
    def lso(self) -> int:
        """Last stable offset: the first offset of the oldest open transaction, capped at the HW."""
        if not self.ongoing:
            return self.hw
        return min(self.hw, min(self.ongoing.values()))

    def aborted_in(self, start: int, upper: int) -> list[tuple[int, int]]:
        """(producer id, first offset) of aborted transactions overlapping [start, upper)."""
        return [(pid, first) for pid, first, last in self.aborted if last >= start and first < upper]

    def assign_epoch(self, epoch: int) -> None:
        """A new leader records (epoch, its LEO) in its epoch cache (KIP-101)."""
        if not self.epochs or self.epochs[-1][0] < epoch:
            self.epochs.append((epoch, self.leo))

    # -- reads ----------------------------------------------------------------------------
    def read(self, offset: int, upper: int, max_bytes: int) -> list[RecordBatch]:
        """Batches containing offsets in [offset, upper), at least one batch, then up to max_bytes."""
        if offset >= upper or offset >= self.leo:
            return []
        i = bisect_right(self._bases, offset) - 1
        if i < 0:
            i = 0
        out: list[RecordBatch] = []
        total = 0
        batches = self.batches
        n = len(batches)
        while i < n:
            b = batches[i]
            if b.base_offset >= upper:
                break
            if b.next_offset > upper:  # never hand out a batch that straddles the bound
                break
            if out and total + b.size > max_bytes:
                break
            out.append(b)
            total += b.size
            i += 1
        return out

    def batch_at(self, offset: int) -> RecordBatch | None:
        i = bisect_right(self._bases, offset) - 1
        if i >= 0 and self.batches[i].next_offset > offset:
            return self.batches[i]
        return None

    def last_epoch(self) -> int:
        """Latest epoch in the cache (the fetch request's lastFetchedEpoch); -1 if none."""
        return self.epochs[-1][0] if self.epochs else -1

    def epoch_start(self, epoch: int) -> int:
        """Start offset of ``epoch`` in the cache (or the LEO if unknown)."""
        for e, start in reversed(self.epochs):
            if e == epoch:
                return start
        return self.leo

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """OffsetsForLeaderEpoch: (largest cached epoch <= epoch, its end offset).

        The end offset is the start of the next larger epoch, or the LEO for the latest one;
        an epoch older than the cache ends at the cache's first start offset; one newer than
        every cached epoch is unknown: (-1, -1).
        Kafka: ``LeaderEpochFileCache.endOffsetFor``.
        """
        if epoch < 0 or not self.epochs:
            return (-1, -1)
        if epoch == self.epochs[-1][0]:
            return (epoch, self.leo)
        higher = next((i for i, (e, _s) in enumerate(self.epochs) if e > epoch), None)
        if higher is None:
            return (-1, -1)  # newer than anything this replica has seen
        if higher == 0:
            return (epoch, self.epochs[0][1])  # older than the cache: it ended where the cache starts
        return (self.epochs[higher - 1][0], self.epochs[higher][1])

    # -- truncation and retention ---------------------------------------------------------
    def truncate_to(self, offset: int) -> int:
        """Drop every record at or above ``offset`` (batch-aligned down); returns records dropped."""
        if offset >= self.leo:
            # Kafka: UnifiedLog.truncateTo always truncates the epoch cache from the LEO
            self.epochs = [(e, s) for e, s in self.epochs if s < self.leo]
            return 0
        i = bisect_left(self._bases, offset)
        # a batch straddling the point is dropped whole (replicas copy whole batches)
        if i > 0 and self.batches[i - 1].next_offset > offset:
            i -= 1
        dropped = self.leo - (self.batches[i].base_offset if i < len(self.batches) else self.leo)
        for b in self.batches[i:]:
            self.size -= b.size
        del self.batches[i:]
        del self._bases[i:]
        del self._appended_at[i:]
        self.leo = self.batches[-1].next_offset if self.batches else self.log_start
        self.flushed = min(self.flushed, self.leo)
        self.hw = min(self.hw, self.leo)
        # Kafka: LeaderEpochFileCache.truncateFromEnd drops epochs starting at or past the new end
        self.epochs = [(e, s) for e, s in self.epochs if s < self.leo]
        self.producers = ProducerStateTable.rebuild(self.batches)
        self.ongoing, self.aborted = {}, []
        for b in self.batches:
            if b.transactional and b.producer_id >= 0:
                self._track_transaction(b)
        # Kafka: segments based at or past the new end go; the last one left is active again
        self.segments = [b for b in self.segments if b < self.leo] or [self.log_start]
        active = self.batches[bisect_left(self._bases, self.segments[-1]):]
        self._active_size = sum(b.size for b in active)
        self._active_first_ts = active[0].timestamp if active else 0
        return dropped

    def durable_end(self, now: int) -> int:
        """The offset below which everything is on disk at ``now``: fsynced by Kafka, or written
        back by the OS (dirty for DIRTY_EXPIRE_MS at the flusher's last run)."""
        written_back = (now // DIRTY_WRITEBACK_MS) * DIRTY_WRITEBACK_MS - DIRTY_EXPIRE_MS
        i = bisect_right(self._appended_at, written_back)  # append times never decrease
        end = self.batches[i - 1].next_offset if i else self.log_start
        return max(end, min(self.flushed, self.leo))

    def segment_spans(self) -> list[tuple[int, int, int, int]]:
        """(base offset, upper offset, bytes, largest timestamp) of each segment, oldest first;
        the upper offset of the active segment is the LEO."""
        out = []
        bases = self.segments
        for k, base in enumerate(bases):
            upper = bases[k + 1] if k + 1 < len(bases) else self.leo
            i, j = bisect_left(self._bases, base), bisect_left(self._bases, upper)
            chunk = self.batches[i:j]
            out.append((base, upper, sum(b.size for b in chunk), max((b.timestamp for b in chunk), default=-1)))
        return out

    def delete_before(self, offset: int) -> None:
        """Drop whole batches entirely below ``offset`` (never at or past the HW); retention
        passes a segment boundary, so whole segments go."""
        offset = min(offset, self.hw)
        i = 0
        while i < len(self.batches) and self.batches[i].next_offset <= offset:
            self.size -= self.batches[i].size
            i += 1
        if i:
            del self.batches[:i]
            del self._bases[:i]
            del self._appended_at[:i]
            self.log_start = self.batches[0].base_offset if self.batches else self.leo
            self.epochs = _trim_epochs(self.epochs, self.log_start)
            self.segments = [self.log_start, *(b for b in self.segments if b > self.log_start)]
            if not self.batches:
                self._active_size = 0

    def reset_to(self, offset: int) -> None:
        """Empty the log and start it at ``offset`` (a follower behind the leader's log start)."""
        self.batches.clear()
        self._bases.clear()
        self._appended_at.clear()
        self.size = 0
        self.log_start = self.leo = self.hw = self.flushed = offset
        self.segments, self._active_size = [offset], 0
        self.epochs = []
        self.producers = ProducerStateTable()
        self.ongoing, self.aborted = {}, []


def _trim_epochs(epochs: list[tuple[int, int]], log_start: int) -> list[tuple[int, int]]:
    """Drop epochs wholly before the log start; the earliest kept one starts at log_start."""
    out = []
    for i, (e, s) in enumerate(epochs):
        nxt = epochs[i + 1][1] if i + 1 < len(epochs) else None
        if nxt is not None and nxt <= log_start:
            continue
        out.append((e, max(s, log_start)))
    return out
