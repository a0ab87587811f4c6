"""Per-producer idempotence state kept by a partition's log: dedupe of the last 5 batches.

Kafka: ``ProducerStateManager`` / ``ProducerStateEntry`` / ``ProducerAppendInfo``
(KIP-98). The leader keeps, per producer id, the epoch and metadata of the last 5
batches; a batch matching one of them is a duplicate answered with its original offset;
a sequence that is not last+1 is OUT_OF_ORDER_SEQUENCE_NUMBER; a lower epoch is
INVALID_PRODUCER_EPOCH. The state is rebuilt from the log, so it survives failover.
Simplified: no producer-id expiration (``producer.id.expiration.ms``, 1 day) within a run.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kafkasim.errors import KafkaError

if TYPE_CHECKING:
    from kafkasim.cluster.log import RecordBatch

#: Batches remembered per producer (Kafka: ``ProducerStateEntry.NUM_BATCHES_TO_RETAIN``).
NUM_BATCHES_TO_RETAIN = 5


@dataclass
class ProducerEntry:
    epoch: int
    # (first_seq, last_seq, base_offset, last_offset) of recent batches, oldest first
    batches: deque = field(default_factory=lambda: deque(maxlen=NUM_BATCHES_TO_RETAIN))
    open_txn_first_offset: int = -1  # first offset of this producer's ongoing transaction

    @property
    def last_seq(self) -> int:
        return self.batches[-1][1] if self.batches else -1


class ProducerStateTable:
    """producer id -> :class:`ProducerEntry`, for one partition replica."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: dict[int, ProducerEntry] = {}

    def check(self, pid: int, epoch: int, first_seq: int, last_seq: int) -> tuple[KafkaError, int]:
        """Validate an incoming idempotent batch; returns (error, duplicate's base offset or -1).

        ``KafkaError.DUPLICATE_SEQUENCE_NUMBER`` with an offset means "already appended there".
        """
        entry = self.entries.get(pid)
        if entry is None:
            return KafkaError.NONE, -1  # no state: any first sequence is accepted
        if epoch < entry.epoch:
            return KafkaError.INVALID_PRODUCER_EPOCH, -1
        if epoch > entry.epoch:
            # a bumped epoch starts again at sequence 0
            return (KafkaError.NONE, -1) if first_seq == 0 else (KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, -1)
        for first, last, base, _last_offset in entry.batches:
            if first == first_seq and last == last_seq:
                return KafkaError.DUPLICATE_SEQUENCE_NUMBER, base
        if first_seq != entry.last_seq + 1:
            return KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, -1
        return KafkaError.NONE, -1

    def record(self, batch: RecordBatch) -> None:
        """Remember an appended batch (leader or follower)."""
        entry = self.entries.get(batch.producer_id)
        if entry is None or batch.producer_epoch > entry.epoch:
            entry = self.entries[batch.producer_id] = ProducerEntry(batch.producer_epoch)
        if batch.control:  # a marker ends the transaction; a bumped epoch starts sequences afresh
            entry.open_txn_first_offset = -1
            return
        if batch.transactional and entry.open_txn_first_offset < 0:
            entry.open_txn_first_offset = batch.base_offset
        entry.batches.append((batch.base_sequence, batch.last_sequence, batch.base_offset, batch.last_offset))

    @classmethod
    def rebuild(cls, batches: Iterable[RecordBatch]) -> ProducerStateTable:
        """Recover producer state by replaying a log (after truncation or restart)."""
        table = cls()
        for b in batches:
            if b.producer_id >= 0:
                table.record(b)
        return table
