"""The transaction coordinator: one per broker, for the transactional ids whose
``__transaction_state`` partition that broker leads.

Kafka: ``TransactionCoordinator`` / ``TransactionStateManager`` /
``TransactionMarkerChannelManager`` (KIP-98, KIP-447). ``InitProducerId`` bumps the epoch of
a transactional id, fencing any older instance (a zombie), after completing or aborting
its open transaction; ``AddPartitionsToTxn`` / ``AddOffsetsToTxn`` register what a
transaction touches; ``EndTxn`` durably records PrepareCommit/PrepareAbort (the point of
no return), answers, then writes a COMMIT/ABORT marker into every registered partition
(including the group's offsets partition) and records CompleteCommit/CompleteAbort. A
transaction open longer than ``transaction.timeout.ms`` is aborted with a bumped epoch.
KIP-890 part 2's epoch bump at every transaction end is the switch ``txn_epoch_bump_per_txn``
(transaction.version 2, on by default).
Simplified: no KIP-890 partition verification; the coordinator's state is persisted
as one snapshot record per change; markers are retried until their leader accepts them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from kafkasim.cluster.log import CONTROL_ABORT, CONTROL_COMMIT
from kafkasim.cluster.protocol import offsets_partition
from kafkasim.errors import KafkaError
from kafkasim.records import TopicPartition

if TYPE_CHECKING:
    from kafkasim.cluster.broker import Broker
    from kafkasim.cluster.partition import Partition

E = KafkaError
TXN_TOPIC = "__transaction_state"


class TxnState(Enum):
    EMPTY = "Empty"
    ONGOING = "Ongoing"
    PREPARE_COMMIT = "PrepareCommit"
    PREPARE_ABORT = "PrepareAbort"
    COMPLETE_COMMIT = "CompleteCommit"
    COMPLETE_ABORT = "CompleteAbort"


@dataclass
class TxnMeta:
    tid: str
    producer_id: int
    epoch: int
    timeout_ms: int
    state: TxnState = TxnState.EMPTY
    partitions: set[TopicPartition] = field(default_factory=set)
    started: int = 0
    waiters: list[Callable[[], None]] = field(default_factory=list)  # run when the transaction completes


class TransactionCoordinator:
    """The transaction coordinator service on one broker."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.world = broker.world
        self.conf = broker.conf
        self.txns: dict[str, TxnMeta] = {}
        self.loaded: set[int] = set()
        broker.services.append(self)
        self._schedule_timeouts(broker.incarnation)

    def partition_for(self, tid: str) -> TopicPartition:
        return TopicPartition(TXN_TOPIC, offsets_partition(tid, self.conf["transaction.state.log.num.partitions"]))

    def _coordinates(self, tid: str) -> bool:
        return self.broker.alive and self.partition_for(tid).partition in self.loaded

    def _reply(self, client: str, reply: Callable[..., None], *args: Any) -> None:
        self.world.net.send(self.broker.name, client, reply, *args)

    # -- broker hooks ---------------------------------------------------------------------------
    def on_crash(self) -> None:
        self.txns.clear()
        self.loaded.clear()

    def on_marker(self, tp: TopicPartition, producer_id: int, control: int) -> None:
        return None

    def on_partition(self, tp: TopicPartition, p: Partition) -> None:
        if tp.topic != TXN_TOPIC:
            return
        if p.is_leader and tp.partition not in self.loaded:
            self.loaded.add(tp.partition)
            self._load(tp)
            self._schedule_timeouts(self.broker.incarnation)
        elif not p.is_leader and tp.partition in self.loaded:
            self.loaded.discard(tp.partition)
            for tid in [t for t in self.txns if self.partition_for(t) == tp]:
                del self.txns[tid]

    def _load(self, tp: TopicPartition) -> None:
        """A new coordinator replays the log and finishes transactions that were past the point of no return."""
        for b in self.broker.logs[tp].batches:
            for v in b.values or ():
                if isinstance(v, tuple) and v[0] == "txn":
                    _, tid, snap = v
                    self.txns[tid] = TxnMeta(tid, snap["producer_id"], snap["epoch"], snap["timeout_ms"],
                                             TxnState(snap["state"]),
                                             {TopicPartition(*x) for x in snap["partitions"]}, snap["started"])
        for tid, meta in sorted(self.txns.items()):
            if self.partition_for(tid) != tp:
                continue
            self.world.emit("txn.state", self.broker.name, transactional_id=tid, state=meta.state.value,
                            producer_id=meta.producer_id, producer_epoch=meta.epoch, reason="coordinator loaded")
            if meta.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
                self._write_markers(meta, meta.state is TxnState.PREPARE_COMMIT)

    # -- persistence ------------------------------------------------------------------------------
    def _persist(self, meta: TxnMeta, then: Callable[[KafkaError], None]) -> None:
        snap = {"producer_id": meta.producer_id, "epoch": meta.epoch, "timeout_ms": meta.timeout_ms,
                "state": meta.state.value, "partitions": sorted(tuple(tp) for tp in meta.partitions),
                "started": meta.started}
        self.broker.append_internal(self.partition_for(meta.tid), [("txn", meta.tid, snap)], then)

    def _set(self, meta: TxnMeta, state: TxnState, reason: str) -> None:
        meta.state = state
        self.world.emit("txn.state", self.broker.name, transactional_id=meta.tid, state=state.value,
                        producer_id=meta.producer_id, producer_epoch=meta.epoch, reason=reason,
                        partitions=sorted([tp.topic, tp.partition] for tp in meta.partitions))

    # -- InitProducerId ---------------------------------------------------------------------------
    def handle_init_producer_id(self, tid: str, timeout_ms: int, client: str, reply: Callable[..., None]) -> None:
        if not self._coordinates(tid):
            self._reply(client, reply, E.NOT_COORDINATOR, -1, -1)
            return
        if not 1 <= timeout_ms <= self.conf["transaction.max.timeout.ms"]:
            self._reply(client, reply, E.INVALID_TRANSACTION_TIMEOUT, -1, -1)
            return
        meta = self.txns.get(tid)
        if meta is None:
            meta = self.txns[tid] = TxnMeta(tid, self.broker.cluster.controller.allocate_producer_id(), 0, timeout_ms)
            self._set(meta, TxnState.EMPTY, "new transactional id")
            self._persist(meta, lambda err: self._answer_init(meta, err, client, reply))
            return
        if meta.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
            # finish the transaction past its point of no return first (Kafka: CONCURRENT_TRANSACTIONS, retried)
            self._reply(client, reply, E.CONCURRENT_TRANSACTIONS, -1, -1)
            return
        meta.epoch += 1  # fences every older instance of this transactional id
        meta.timeout_ms = timeout_ms
        if meta.state is TxnState.ONGOING:
            self._abort(meta, "fenced by a new InitProducerId")
            self._reply(client, reply, E.CONCURRENT_TRANSACTIONS, -1, -1)
            return
        self._set(meta, TxnState.EMPTY, "epoch bumped by InitProducerId")
        self._persist(meta, lambda err: self._answer_init(meta, err, client, reply))

    def _answer_init(self, meta: TxnMeta, err: KafkaError, client: str, reply: Callable[..., None]) -> None:
        if err is not E.NONE:
            self._reply(client, reply, E.NOT_COORDINATOR, -1, -1)
        else:
            self._reply(client, reply, E.NONE, meta.producer_id, meta.epoch)

    def _check(self, meta: TxnMeta | None, pid: int, epoch: int) -> KafkaError:
        if meta is None or meta.producer_id != pid:
            return E.INVALID_PRODUCER_ID_MAPPING
        if epoch < meta.epoch:
            return E.PRODUCER_FENCED
        if meta.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
            return E.CONCURRENT_TRANSACTIONS
        return E.NONE

    # -- AddPartitionsToTxn / AddOffsetsToTxn ------------------------------------------------------
    def handle_add_partitions(self, tid: str, pid: int, epoch: int, partitions: list[TopicPartition],
                              client: str, reply: Callable[..., None]) -> None:
        if not self._coordinates(tid):
            self._reply(client, reply, E.NOT_COORDINATOR)
            return
        meta = self.txns.get(tid)
        err = self._check(meta, pid, epoch)
        if err is not E.NONE:
            self._reply(client, reply, err)
            return
        assert meta is not None
        if meta.state is not TxnState.ONGOING:
            meta.partitions = set()
            meta.started = self.world.now
        meta.partitions.update(partitions)
        self._set(meta, TxnState.ONGOING, "partitions added")
        self._persist(meta, lambda e: self._reply(client, reply, E.NONE if e is E.NONE else E.NOT_COORDINATOR))

    # -- EndTxn ---------------------------------------------------------------------------------------
    def handle_end_txn(self, tid: str, pid: int, epoch: int, commit: bool, client: str,
                       reply: Callable[..., None]) -> None:
        if not self._coordinates(tid):
            self._reply(client, reply, E.NOT_COORDINATOR, -1)
            return
        meta = self.txns.get(tid)
        bumped = self.broker.cluster.switches.get("txn_epoch_bump_per_txn", False)
        if (bumped and meta is not None and meta.producer_id == pid and epoch == meta.epoch - 1
                and meta.state not in (TxnState.ONGOING, TxnState.EMPTY)):
            # KIP-890 part 2 (Kafka endTransaction, retryOnEpochBump): the epoch just before the
            # bump is a retry of the end already decided, whoever decided it: the producer's own
            # EndTxn whose answer was lost, or the coordinator's abort of a timed-out transaction
            # (that producer's abort then succeeds with the new epoch, KIP-588). So:
            # CONCURRENT_TRANSACTIONS while the markers are being written, then the outcome of
            # the first attempt (INVALID_TXN_STATE for the other result), with the new epoch
            if meta.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
                self._reply(client, reply, E.CONCURRENT_TRANSACTIONS, -1)
            else:
                same = meta.state is (TxnState.COMPLETE_COMMIT if commit else TxnState.COMPLETE_ABORT)
                self._reply(client, reply, E.NONE if same else E.INVALID_TXN_STATE, meta.epoch)
            return
        err = self._check(meta, pid, epoch)
        if err is not E.NONE:
            self._reply(client, reply, err, -1)
            return
        assert meta is not None
        if meta.state is not TxnState.ONGOING:
            done = (TxnState.COMPLETE_COMMIT if commit else TxnState.COMPLETE_ABORT, TxnState.EMPTY)
            self._reply(client, reply, E.NONE if meta.state in done else E.INVALID_TXN_STATE, meta.epoch)
            return
        if self.broker.cluster.switches.get("txn_epoch_bump_per_txn", False):
            meta.epoch += 1  # KIP-890 part 2 (Kafka 4.0): markers and the next transaction use a new epoch
        self._set(meta, TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT, "EndTxn")

        def prepared(e: KafkaError) -> None:
            if e is not E.NONE:
                self._reply(client, reply, E.NOT_COORDINATOR, -1)
                return
            self._reply(client, reply, E.NONE, meta.epoch)  # answered once the decision is durable
            self._write_markers(meta, commit)

        self._persist(meta, prepared)

    def _abort(self, meta: TxnMeta, reason: str) -> None:
        self._set(meta, TxnState.PREPARE_ABORT, reason)
        self._persist(meta, lambda e: self._write_markers(meta, False) if e is E.NONE else None)

    # -- markers ------------------------------------------------------------------------------------
    def _write_markers(self, meta: TxnMeta, commit: bool) -> None:
        control = CONTROL_COMMIT if commit else CONTROL_ABORT
        pending = set(meta.partitions)
        state_at = meta.state

        attempt: dict[TopicPartition, int] = {}

        def one_done(tp: TopicPartition, err: KafkaError, n: int | None = None) -> None:
            if meta.state is not state_at or not self._coordinates(meta.tid) or tp not in pending:
                return
            if n is not None and n != attempt.get(tp):
                return  # the answer to an attempt we already gave up on
            if err is E.NONE or err is E.INVALID_PRODUCER_EPOCH:
                pending.discard(tp)
                if not pending:
                    finish()
            else:
                self.world.at(self.conf.get("retry.backoff.ms", 100), send, tp)

        def send(tp: TopicPartition) -> None:
            if meta.state is not state_at or not self._coordinates(meta.tid):
                return
            rec = self.broker.meta.get(tp)
            leader = self.broker.cluster.brokers.get(rec.leader) if rec is not None and rec.leader >= 0 else None
            if leader is None:
                self.world.at(100, send, tp)
                return
            args = (tp, meta.producer_id, meta.epoch, control)
            n = attempt[tp] = attempt.get(tp, 0) + 1
            if leader is self.broker:
                self.broker.write_marker(*args, lambda err: one_done(tp, err, n))
            elif not self.world.net.send(self.broker.name, leader.name, leader.handle_write_marker, *args,
                                         self.broker.name, lambda err: one_done(tp, err, n)):
                self.world.at(100, send, tp)
                return
            # TransactionMarkerChannelManager retries until the leader accepts the marker
            self.world.at(self.conf.get("request.timeout.ms", 30_000), resend_if_unanswered, tp, n)

        def resend_if_unanswered(tp: TopicPartition, n: int) -> None:
            if tp in pending and attempt.get(tp) == n:
                send(tp)

        def finish() -> None:
            self._set(meta, TxnState.COMPLETE_COMMIT if commit else TxnState.COMPLETE_ABORT, "markers written")
            meta.partitions = set()
            self._persist(meta, lambda e: None)

        if not pending:
            finish()
            return
        for tp in sorted(pending):
            send(tp)

    # -- transaction.timeout.ms -------------------------------------------------------------------
    def _schedule_timeouts(self, inc: int) -> None:
        interval = self.conf["transaction.abort.timed.out.transaction.cleanup.interval.ms"]
        self.world.at(interval, self._expire, inc)

    def _expire(self, inc: int) -> None:
        if inc != self.broker.incarnation or not self.broker.alive:
            return
        now = self.world.now
        for tid, meta in sorted(self.txns.items()):
            if meta.state is TxnState.ONGOING and now - meta.started > meta.timeout_ms and self._coordinates(tid):
                meta.epoch += 1  # the producer is fenced: it can never commit this transaction
                self.world.emit("txn.timeout", self.broker.name, transactional_id=tid, producer_id=meta.producer_id,
                                producer_epoch=meta.epoch, timeout_ms=meta.timeout_ms)
                self._abort(meta, "transaction.timeout.ms expired")
        self._schedule_timeouts(inc)


def handle_find_txn_coordinator(broker: Broker, tid: str, client: str, reply: Callable[..., None]) -> None:
    """FindCoordinator(TRANSACTION): the leader of the transactional id's state partition."""
    n = broker.conf["transaction.state.log.num.partitions"]
    rec = broker.meta.get(TopicPartition(TXN_TOPIC, offsets_partition(tid, n)))
    leader = rec.leader if rec is not None else -1
    broker.world.net.send(broker.name, client, reply, E.NONE if leader >= 0 else E.COORDINATOR_NOT_AVAILABLE, leader)


def install(cluster: Any) -> None:
    """Put a transaction coordinator on every broker and create ``__transaction_state``
    (RF = min(transaction.state.log.replication.factor, brokers), min ISR
    transaction.state.log.min.isr capped the same way)."""
    conf = cluster.broker_conf
    if TXN_TOPIC in cluster.topic_configs:
        return
    from kafkasim.config import topic_config

    rf = min(conf["transaction.state.log.replication.factor"], len(cluster.brokers))
    min_isr = min(conf["transaction.state.log.min.isr"], rf)
    cluster.create_topic(TXN_TOPIC, conf["transaction.state.log.num.partitions"], rf,
                         dict(topic_config(conf, {"cleanup.policy": "compact", "min.insync.replicas": min_isr})))
    for b in cluster.brokers.values():
        b.txn_coordinator = TransactionCoordinator(b)
