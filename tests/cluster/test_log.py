"""PartitionLog: offsets, reads, truncation, the leader-epoch cache and retention.

Rules: §1 (offsets, LEO, HW, log start), §6 (epoch cache, truncation), §14 (retention never
passes the HW), §16 (a read always returns at least one batch). Kafka classes: UnifiedLog,
LogSegment.truncateTo (drops the whole batch containing the target offset),
LeaderEpochFileCache.endOffsetFor / truncateFromEnd / truncateFromStart.
"""

from __future__ import annotations

import pytest

from kafkasim.cluster.log import PartitionLog, RecordBatch
from kafkasim.errors import KafkaError

PID = 7


def make_batch(base: int, count: int = 1, epoch: int = 0, size: int = 100, *, pid: int = -1,
               pepoch: int = 0, seq: int = -1, rec: int = 0) -> RecordBatch:
    return RecordBatch(base, count, epoch, size, 0, "p", rec, pid, pepoch if pid >= 0 else -1, seq)


def log_of(*specs: tuple[int, int], size: int = 100) -> PartitionLog:
    """A log built from (count, leader epoch) batches appended in order."""
    log = PartitionLog()
    for count, epoch in specs:
        log.append(make_batch(log.leo, count, epoch, size))
    return log


def bases(log: PartitionLog) -> list[int]:
    return [b.base_offset for b in log.batches]


# -- appends and offsets ---------------------------------------------------------------------------
def test_empty_log_offsets() -> None:
    log = PartitionLog()
    assert (log.log_start, log.hw, log.leo) == (0, 0, 0)
    assert log.last_epoch() == -1
    assert log.read(0, 10, 1000) == []
    assert log.batch_at(0) is None


def test_append_gives_consecutive_offsets_and_leo_is_last_offset_plus_one() -> None:
    log = log_of((3, 0), (2, 0), (5, 0))
    assert bases(log) == [0, 3, 5]
    assert log.leo == 10  # last offset 9, plus one
    assert [b.last_offset for b in log.batches] == [2, 4, 9]
    assert log.batch_at(4).base_offset == 3
    assert log.batch_at(9).base_offset == 5
    assert log.batch_at(10) is None
    assert log.hw == 0, "appending never moves the HW (the replication rules do)"


@pytest.mark.parametrize("base", [2, 4])
def test_append_must_start_at_the_leo(base: int) -> None:
    log = log_of((3, 0))
    with pytest.raises(ValueError):
        log.append(make_batch(base))
    assert log.leo == 3


def test_epoch_cache_records_the_first_offset_of_each_epoch() -> None:
    log = log_of((3, 0), (2, 0), (4, 2), (1, 5))
    assert log.epochs == [(0, 0), (2, 5), (5, 9)]
    assert log.last_epoch() == 5


def test_assign_epoch_records_a_new_leaders_start_offset_once() -> None:
    """§5: a new leader records (epoch, start offset = its LEO) before appending anything."""
    log = log_of((4, 0))
    log.assign_epoch(3)
    assert log.epochs == [(0, 0), (3, 4)]
    log.assign_epoch(3)  # same epoch again: no second entry
    log.assign_epoch(1)  # an older epoch never goes after a newer one
    assert log.epochs == [(0, 0), (3, 4)]
    log.append(make_batch(4, 2, 3))
    assert log.epochs == [(0, 0), (3, 4)]
    assert log.epoch_start(3) == 4


# -- reads ------------------------------------------------------------------------------------------
def test_read_from_inside_a_batch_returns_the_whole_batch() -> None:
    log = log_of((3, 0), (3, 0), (3, 0))
    out = log.read(4, log.leo, 10_000)
    assert [b.base_offset for b in out] == [3, 6]


def test_read_upper_bound_never_splits_a_batch() -> None:
    """Consumers read below the HW: a batch that ends past the bound is not handed out."""
    log = log_of((3, 0), (3, 0), (3, 0))
    assert bases_of(log.read(0, 6, 10_000)) == [0, 3]
    assert bases_of(log.read(0, 5, 10_000)) == [0], "batch 3..5 straddles the bound 5"
    assert log.read(3, 5, 10_000) == []
    assert log.read(3, 3, 10_000) == []


def test_read_returns_at_least_one_batch_even_over_max_bytes() -> None:
    """§16: the first batch comes back even if it is larger than the fetch limit."""
    log = log_of((2, 0), (2, 0), size=500)
    assert bases_of(log.read(0, log.leo, 10)) == [0]


def test_read_stops_at_max_bytes_after_the_first_batch() -> None:
    log = log_of((1, 0), (1, 0), (1, 0), (1, 0), size=100)
    assert bases_of(log.read(0, log.leo, 250)) == [0, 1]
    assert bases_of(log.read(0, log.leo, 300)) == [0, 1, 2]
    assert bases_of(log.read(1, log.leo, 10_000)) == [1, 2, 3]


def test_read_at_or_past_the_leo_is_empty() -> None:
    log = log_of((2, 0))
    assert log.read(2, 100, 10_000) == []
    assert log.read(5, 100, 10_000) == []


def bases_of(batches: list[RecordBatch]) -> list[int]:
    return [b.base_offset for b in batches]


# -- truncation -------------------------------------------------------------------------------------
def test_truncate_inside_a_batch_drops_the_whole_batch() -> None:
    """LogSegment.truncateTo(o) cuts at the batch that contains o (replicas copy whole batches)."""
    log = log_of((3, 0), (3, 0), (4, 0))
    dropped = log.truncate_to(4)
    assert log.leo == 3
    assert bases(log) == [0]
    assert dropped == 7  # offsets 3..9


def test_truncate_at_a_batch_boundary() -> None:
    log = log_of((3, 0), (3, 0), (4, 0))
    assert log.truncate_to(6) == 4
    assert (bases(log), log.leo) == ([0, 3], 6)
    log.append(make_batch(6, 1, 1))  # the log continues from the new LEO
    assert log.leo == 7


def test_truncate_to_zero_empties_the_log() -> None:
    log = log_of((3, 0), (3, 1))
    assert log.truncate_to(0) == 6
    assert (log.batches, log.leo, log.epochs) == ([], 0, [])


def test_truncate_at_or_past_the_leo_drops_nothing() -> None:
    log = log_of((3, 0), (3, 1))
    assert log.truncate_to(6) == 0
    assert log.truncate_to(50) == 0
    assert (bases(log), log.leo, log.epochs) == ([0, 3], 6, [(0, 0), (1, 3)])


def test_truncate_lowers_the_hw_to_the_new_leo() -> None:
    log = log_of((3, 0), (3, 0), (4, 0))
    log.hw = 8
    log.truncate_to(6)
    assert log.hw == 6
    log.hw = 2
    log.truncate_to(3)
    assert log.hw == 2, "a HW below the truncation point stays"


def test_truncate_removes_epochs_that_start_at_or_after_the_new_end() -> None:
    """LeaderEpochFileCache.truncateFromEnd(o): drop every entry whose start offset >= o."""
    log = log_of((3, 0), (3, 1), (4, 2))
    assert log.epochs == [(0, 0), (1, 3), (2, 6)]
    log.truncate_to(6)
    assert log.epochs == [(0, 0), (1, 3)]
    assert log.last_epoch() == 1
    log.truncate_to(3)
    assert log.epochs == [(0, 0)]


def test_truncate_past_the_leo_still_drops_an_empty_epoch_at_the_leo() -> None:
    """A broker that became leader (assigning (epoch, LEO)) but appended nothing before losing the
    leadership must not keep that entry: Kafka truncates the cache from the LEO even when the
    truncation offset is beyond it ("we may have a conflicting epoch entry at the end of the log")."""
    log = log_of((3, 0))
    log.assign_epoch(4)
    assert log.epochs == [(0, 0), (4, 3)]
    log.truncate_to(5)
    assert log.leo == 3
    assert log.epochs == [(0, 0)]


def test_truncate_rebuilds_producer_state_from_the_remaining_batches() -> None:
    """§8: producer state is derived from the log, so truncated batches are no longer deduplicated."""
    log = PartitionLog()
    log.append(make_batch(0, 3, pid=PID, seq=0))
    log.append(make_batch(3, 3, pid=PID, seq=3))
    assert log.producers.check(PID, 0, 3, 5) == (KafkaError.DUPLICATE_SEQUENCE_NUMBER, 3)
    log.truncate_to(3)
    # seq 3..5 is gone: it is now the next expected batch, not a duplicate
    assert log.producers.check(PID, 0, 3, 5) == (KafkaError.NONE, -1)
    assert log.producers.check(PID, 0, 0, 2) == (KafkaError.DUPLICATE_SEQUENCE_NUMBER, 0)
    assert log.producers.check(PID, 0, 6, 6)[0] is KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER
    log.truncate_to(0)
    assert PID not in log.producers.entries, "no batch of the producer is left: no state"


# -- OffsetsForLeaderEpoch --------------------------------------------------------------------------
@pytest.fixture
def epochs_log() -> PartitionLog:
    # epoch 1: offsets 0..3, epoch 3: 4..9, epoch 5: 10..14; LEO 15
    log = log_of((4, 1), (6, 3), (5, 5))
    assert log.epochs == [(1, 0), (3, 4), (5, 10)]
    return log


@pytest.mark.parametrize(("requested", "expected"), [
    (5, (5, 15)),   # the latest epoch: its end is the LEO
    (3, (3, 10)),   # an older epoch ends where the next larger one starts
    (1, (1, 4)),
    (4, (3, 10)),   # unknown epoch between two known ones: the largest smaller epoch, and its end
    (2, (1, 4)),
    (-1, (-1, -1)),  # UNDEFINED_EPOCH
])
def test_end_offset_for_epoch(epochs_log: PartitionLog, requested: int, expected: tuple[int, int]) -> None:
    assert epochs_log.end_offset_for_epoch(requested) == expected


def test_end_offset_for_an_epoch_older_than_the_cache(epochs_log: PartitionLog) -> None:
    assert epochs_log.end_offset_for_epoch(0) == (0, 0)


def test_end_offset_for_an_epoch_newer_than_the_cache(epochs_log: PartitionLog) -> None:
    assert epochs_log.end_offset_for_epoch(7) == (-1, -1)


def test_end_offset_for_epoch_on_an_empty_cache_is_undefined() -> None:
    assert PartitionLog().end_offset_for_epoch(0) == (-1, -1)


def test_end_offset_for_a_new_leaders_epoch_without_records_is_its_leo() -> None:
    log = log_of((4, 0))
    log.assign_epoch(2)
    assert log.end_offset_for_epoch(2) == (2, 4)
    assert log.end_offset_for_epoch(0) == (0, 4)
    assert log.end_offset_for_epoch(1) == (0, 4)


# -- retention --------------------------------------------------------------------------------------
def test_delete_before_drops_whole_batches_below_the_offset() -> None:
    log = log_of((3, 0), (3, 0), (4, 0))
    log.hw = log.leo
    log.delete_before(4)  # batch 3..5 still holds offsets >= 4: it stays
    assert (bases(log), log.log_start) == ([3, 6], 3)
    log.delete_before(6)
    assert (bases(log), log.log_start) == ([6], 6)
    assert log.leo == 10


def test_delete_before_never_passes_the_hw() -> None:
    """§1/§14: the log start offset never passes the HW; data at or above it is never deleted."""
    log = log_of((3, 0), (3, 0), (4, 0))
    log.hw = 5
    log.delete_before(100)
    assert log.log_start == 3
    assert bases(log) == [3, 6]
    assert log.log_start <= log.hw <= log.leo
    log.hw = 10
    log.delete_before(100)
    assert (log.batches, log.log_start, log.leo) == ([], 10, 10)


def test_delete_before_trims_the_epoch_cache_to_the_log_start() -> None:
    """LeaderEpochFileCache.truncateFromStart: the earliest kept epoch now starts at the log start."""
    log = log_of((3, 0), (3, 1), (4, 2))
    log.hw = log.leo
    log.delete_before(6)
    assert log.epochs == [(2, 6)]
    log2 = log_of((3, 0), (3, 1), (1, 1), (4, 2))
    log2.hw = log2.leo
    log2.delete_before(6)  # epoch 1 covered 3..6; its surviving part starts at 6
    assert log2.log_start == 6
    assert log2.epochs == [(1, 6), (2, 7)]


def test_delete_before_the_log_start_is_a_no_op() -> None:
    log = log_of((3, 0), (3, 0))
    log.hw = 6
    log.delete_before(0)
    assert (bases(log), log.log_start) == ([0, 3], 0)


# -- reset ------------------------------------------------------------------------------------------
def test_reset_to_starts_an_empty_log_at_the_offset() -> None:
    log = PartitionLog()
    log.append(make_batch(0, 3, 0, pid=PID, seq=0))
    log.hw = 2
    log.reset_to(40)
    assert (log.batches, log.log_start, log.hw, log.leo, log.epochs) == ([], 40, 40, 40, [])
    assert log.producers.entries == {}
    assert log.size == 0
    with pytest.raises(ValueError):
        log.append(make_batch(0))
    log.append(make_batch(40, 2, 3))
    assert (log.leo, log.epochs) == (42, [(3, 40)])


# -- segments ---------------------------------------------------------------------------------------
def _timed(base: int, ts: int, size: int = 100) -> RecordBatch:
    return RecordBatch(base, 1, 0, size, ts, "p", base)


def test_the_active_segment_rolls_at_segment_bytes() -> None:
    """LogSegment.shouldRoll: a batch that would take the active segment past segment.bytes opens a new one."""
    log = PartitionLog(segment_bytes=250, segment_ms=10**9)
    for i in range(5):
        log.append(_timed(i, 0))
    assert log.segments == [0, 2, 4]
    assert [(b, u, size) for b, u, size, _ in log.segment_spans()] == [(0, 2, 200), (2, 4, 200), (4, 5, 100)]


def test_the_active_segment_rolls_after_segment_ms_on_the_next_append_only() -> None:
    """Time-based rolling happens at an append, measured from the segment's first batch."""
    log = PartitionLog(segment_bytes=1 << 30, segment_ms=1000)
    log.append(_timed(0, 0), now=0)
    log.append(_timed(1, 900), now=1000)  # exactly segment.ms old: no roll (Kafka: > rollMs)
    log.append(_timed(2, 1500), now=1500)
    assert log.segments == [0, 2]
    assert log.segment_spans()[0][3] == 900  # the segment's largest timestamp


def test_retention_boundary_segments_survive_truncation_and_deletion() -> None:
    log = PartitionLog(segment_bytes=250, segment_ms=10**9)
    for i in range(6):
        log.append(_timed(i, i))
    log.hw = log.leo
    log.delete_before(4)  # retention passes segment boundaries
    assert (log.log_start, log.segments) == (4, [4])
    log.truncate_to(5)
    assert (log.leo, log.segments) == (5, [4])
    log.append(_timed(5, 9))
    log.append(_timed(6, 9))  # 4 and 5 fill the segment: 6 rolls
    assert log.segments == [4, 6]


# -- durability: what a power loss keeps -----------------------------------------------------------
def test_power_loss_keeps_what_linux_writeback_wrote_30_s_after_append_every_5_s() -> None:
    """Nothing is fsynced by default: a batch is on disk once the OS flusher (every 5 s) finds
    it dirty for 30 s; a power loss truncates the rest, HW and epoch cache with it."""
    log = PartitionLog()
    for t in (0, 4_000, 9_000, 12_000, 20_000):  # one batch of 10 at each time
        log.append(make_batch(log.leo, 10, epoch=t // 10_000), now=t)
    log.hw = log.leo
    # at 44 999 the flusher last ran at 40 000: it wrote what was dirty since 10 000 or before
    assert log.durable_end(44_999) == 30
    assert log.durable_end(45_000) == 40  # it ran at 45 000: the batch of 12 000 too
    assert log.durable_end(29_999) == 0
    assert log.truncate_to(log.durable_end(44_999)) == 20  # the power loss: log recovery keeps what is on disk
    assert (log.leo, log.hw) == (30, 30)
    assert log.epochs == [(0, 0)]  # epoch 1 started at offset 30, now past the end
    log.append(make_batch(30, 5, epoch=2), now=50_000)  # the log goes on at its new end
    assert log.leo == 35


@pytest.mark.parametrize(("flush_messages", "durable"), [(1, 50), (20, 40), (1 << 63, 0)])
def test_flush_messages_fsyncs_once_that_many_records_are_unflushed(flush_messages: int, durable: int) -> None:
    log = PartitionLog(flush_messages=flush_messages)
    for i in range(5):
        log.append(make_batch(log.leo, 10), now=1_000 + i)
    assert log.durable_end(2_000) == durable


def test_a_segment_roll_fsyncs_the_segment_before_it() -> None:
    log = PartitionLog(segment_bytes=250)
    for i in range(5):
        log.append(make_batch(log.leo, 10, size=100), now=i)
    assert log.segments == [0, 20, 40]
    assert log.durable_end(10) == 40
