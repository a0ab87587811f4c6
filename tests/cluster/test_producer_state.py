"""Idempotent-producer state on a partition: dedupe of the last 5 batches, sequence and epoch checks.

Rules: §8. Kafka: ProducerStateEntry (NUM_BATCHES_TO_RETAIN = 5, findDuplicateBatch matches
first and last sequence), ProducerAppendInfo.checkSequence / checkProducerEpoch.
"""

from __future__ import annotations

import pytest

from kafkasim.cluster.log import PartitionLog, RecordBatch
from kafkasim.cluster.producer_state import ProducerStateTable
from kafkasim.errors import KafkaError

E = KafkaError
PID, OTHER = 1000, 2000


def batch(base: int, seq: int, count: int = 1, *, pid: int = PID, epoch: int = 0) -> RecordBatch:
    return RecordBatch(base, count, 0, 100, 0, "p", seq, pid, epoch, seq)


def table_with(*batches: RecordBatch) -> ProducerStateTable:
    t = ProducerStateTable()
    for b in batches:
        t.record(b)
    return t


def five_batches() -> list[RecordBatch]:
    """Sequences 0-1, 2-4, 5, 6-7, 8 at offsets 10.., as a leader would have appended them."""
    out, off, seq = [], 10, 0
    for n in (2, 3, 1, 2, 1):
        out.append(batch(off, seq, n))
        off, seq = off + n, seq + n
    return out


def test_unknown_producer_accepts_any_first_sequence() -> None:
    """No state for the PID (first write, or state expired): any sequence is accepted (§8)."""
    t = ProducerStateTable()
    assert t.check(PID, 0, 0, 4) == (E.NONE, -1)
    assert t.check(PID, 0, 42, 45) == (E.NONE, -1)
    assert t.check(PID, 3, 7, 7) == (E.NONE, -1)


def test_next_sequence_is_accepted() -> None:
    t = table_with(batch(0, 0, 3))
    assert t.check(PID, 0, 3, 3) == (E.NONE, -1)
    assert t.check(PID, 0, 3, 9) == (E.NONE, -1)


@pytest.mark.parametrize("i", range(5))
def test_duplicate_of_any_of_the_last_five_batches_returns_its_original_offset(i: int) -> None:
    bs = five_batches()
    t = table_with(*bs)
    b = bs[i]
    assert t.check(PID, 0, b.base_sequence, b.last_sequence) == (E.DUPLICATE_SEQUENCE_NUMBER, b.base_offset)


def test_the_sixth_oldest_batch_is_no_longer_deduplicated() -> None:
    """Only 5 batches are retained per producer: a retry of an older one is OUT_OF_ORDER_SEQUENCE."""
    bs = five_batches()
    t = table_with(*bs)
    t.record(batch(19, 9, 2))  # a sixth batch pushes the first (seq 0-1) out
    assert t.check(PID, 0, 0, 1) == (E.OUT_OF_ORDER_SEQUENCE_NUMBER, -1)
    assert t.check(PID, 0, 2, 4) == (E.DUPLICATE_SEQUENCE_NUMBER, 12)
    assert t.check(PID, 0, 9, 10) == (E.DUPLICATE_SEQUENCE_NUMBER, 19)
    assert t.check(PID, 0, 11, 11) == (E.NONE, -1)


@pytest.mark.parametrize(("first", "last"), [(10, 10), (12, 12), (4, 4), (2, 3), (0, 0)])
def test_sequence_that_is_neither_next_nor_a_retained_batch_is_out_of_order(first: int, last: int) -> None:
    """A gap (10 after 8), a repeat of a sequence inside a batch, a repeat of part of a batch (seq 2-3 of batch 2-4): OUT_OF_ORDER_SEQUENCE."""
    t = table_with(*five_batches())
    assert t.check(PID, 0, first, last) == (E.OUT_OF_ORDER_SEQUENCE_NUMBER, -1)


def test_lower_producer_epoch_is_fenced() -> None:
    t = table_with(batch(0, 0, 2, epoch=3))
    assert t.check(PID, 2, 2, 2) == (E.INVALID_PRODUCER_EPOCH, -1)
    assert t.check(PID, 2, 0, 1) == (E.INVALID_PRODUCER_EPOCH, -1), "even a duplicate of an older epoch"


def test_new_epoch_must_start_at_sequence_zero() -> None:
    t = table_with(batch(0, 0, 2, epoch=0))
    assert t.check(PID, 1, 2, 2) == (E.OUT_OF_ORDER_SEQUENCE_NUMBER, -1)
    assert t.check(PID, 1, 0, 0) == (E.NONE, -1)


def test_a_new_epoch_replaces_the_old_epochs_state() -> None:
    t = table_with(batch(0, 0, 2, epoch=0), batch(2, 2, 1, epoch=0))
    t.record(batch(3, 0, 1, epoch=1))
    assert t.check(PID, 1, 1, 1) == (E.NONE, -1)
    assert t.check(PID, 1, 0, 0) == (E.DUPLICATE_SEQUENCE_NUMBER, 3)
    assert t.check(PID, 0, 2, 2) == (E.INVALID_PRODUCER_EPOCH, -1)


def test_producers_are_independent() -> None:
    t = table_with(batch(0, 0, 2), batch(2, 0, 3, pid=OTHER))
    assert t.check(PID, 0, 2, 2) == (E.NONE, -1)
    assert t.check(OTHER, 0, 3, 3) == (E.NONE, -1)
    assert t.check(OTHER, 0, 0, 2) == (E.DUPLICATE_SEQUENCE_NUMBER, 2)
    assert t.check(PID, 0, 0, 1) == (E.DUPLICATE_SEQUENCE_NUMBER, 0)


def test_rebuild_from_batches_matches_incremental_state() -> None:
    """§8: producer state is recovered by replaying the log (restart, truncation, follower)."""
    bs = [*five_batches(), batch(19, 9, 2), batch(21, 0, 1, pid=OTHER)]
    plain = RecordBatch(22, 4, 0, 100, 0, "q", 0)  # non-idempotent batch: no producer id
    incremental = table_with(*bs)
    rebuilt = ProducerStateTable.rebuild([*bs[:3], plain, *bs[3:]])
    assert set(rebuilt.entries) == {PID, OTHER}
    for pid in (PID, OTHER):
        assert list(rebuilt.entries[pid].batches) == list(incremental.entries[pid].batches)
        assert rebuilt.entries[pid].epoch == incremental.entries[pid].epoch
    for first, last in [(0, 1), (2, 4), (9, 10), (11, 11), (12, 12)]:
        assert rebuilt.check(PID, 0, first, last) == incremental.check(PID, 0, first, last)


def test_rebuild_of_a_prefix_forgets_the_later_batches() -> None:
    bs = five_batches()
    t = ProducerStateTable.rebuild(bs[:2])
    assert t.check(PID, 0, 5, 5) == (E.NONE, -1)
    assert t.check(PID, 0, 6, 7) == (E.OUT_OF_ORDER_SEQUENCE_NUMBER, -1)


def test_follower_log_appends_build_the_same_state() -> None:
    """A follower appends the leader's batches through the same log: after failover it dedupes too."""
    log = PartitionLog()
    for b in five_batches():
        log.append(RecordBatch(log.leo, b.count, 0, 100, 0, "p", b.rec, PID, 0, b.base_sequence))
    assert log.producers.check(PID, 0, 2, 4) == (E.DUPLICATE_SEQUENCE_NUMBER, 2)
    assert log.producers.check(PID, 0, 9, 9) == (E.NONE, -1)
