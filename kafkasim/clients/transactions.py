"""The producer's side of transactions: confluent-kafka's ``init_transactions``,
``begin_transaction``, ``send_offsets_to_transaction``, ``commit_transaction`` and
``abort_transaction``, each returning an event to ``yield``.

Kafka: ``TransactionManager`` (KIP-98, KIP-447). The producer finds its transaction
coordinator, gets (producer id, epoch) from InitProducerId, registers each partition with
AddPartitionsToTxn before its first batch of a transaction, adds the consumer's offsets
with AddOffsetsToTxn + TxnOffsetCommit (to the group coordinator, with the consumer's
generation and member id), flushes, and ends the transaction with EndTxn. A producer whose
epoch was bumped by a newer instance is fenced: every further call fails with
PRODUCER_FENCED. A failed send makes the transaction abortable only, INVALID_PRODUCER_EPOCH
from a partition leader included (KIP-588: the coordinator aborted the transaction, e.g. it
timed out): the application aborts, and the coordinator's answer to that EndTxn decides. With
transaction.version 2 (KIP-890) it is a retry of the abort already done and returns the new
epoch, so the producer goes on; before, the old epoch is PRODUCER_FENCED.
Simplified: one AddPartitionsToTxn in flight at a time; no KIP-890 verification.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kafkasim.errors import KafkaError, KafkaException
from kafkasim.records import TopicPartition

if TYPE_CHECKING:
    import simpy

    from kafkasim.clients.producer import Producer

E = KafkaError
FENCING = (E.PRODUCER_FENCED, E.INVALID_PRODUCER_EPOCH)


class TransactionManager:
    """Transactional state of one producer."""

    def __init__(self, producer: Producer) -> None:
        self.p = producer
        self.world = producer.world
        self.tid: str = producer.conf["transactional.id"]
        self.timeout_ms: int = producer.conf["transaction.timeout.ms"]
        self.state = "UNINITIALIZED"  # READY | IN_TRANSACTION | COMMITTING | ABORTING | FATAL
        self.coordinator = -1
        self.added: set[TopicPartition] = set()
        self.pending: set[TopicPartition] = set()
        self.add_inflight = False
        self.abortable: KafkaError | None = None
        self.fatal_error: KafkaError | None = None
        self.start_recs: dict[TopicPartition, int] = {}
        self.count = 0
        self.offset_groups: list[str] = []

    # -- plumbing -----------------------------------------------------------------------------------
    def _backoff(self) -> int:
        return self.p.conf["retry.backoff.ms"]

    def _with_coordinator(self, then: Callable[[], None]) -> None:
        if self.coordinator >= 0:
            then()
            return
        from kafkasim.cluster.transactions import handle_find_txn_coordinator

        ids = sorted(self.p.cluster.brokers)
        start = self.world.rng(f"txn-find:{self.p.name}").randrange(len(ids))
        for i in range(len(ids)):
            b = self.p.cluster.brokers[ids[(start + i) % len(ids)]]

            def reply(err: KafkaError, leader: int) -> None:
                if err is E.NONE and leader >= 0:
                    self.coordinator = leader
                    then()
                else:
                    self.world.at(self._backoff(), self._with_coordinator, then)

            if self.p.nc.send(b.name, handle_find_txn_coordinator, b, self.tid, self.p.name, reply,
                              on_error=lambda _err: self.world.at(self._backoff(), self._with_coordinator, then)):
                return
        self.world.at(self._backoff(), self._with_coordinator, then)

    def _call(self, method: str, args: tuple, on_reply: Callable[..., None], retry: Callable[[], None]) -> None:
        """Send a request to the coordinator; on NOT_COORDINATOR/timeouts rediscover and ``retry``."""
        done = [False]

        def reply(err: KafkaError, *rest: Any) -> None:
            if done[0]:
                return
            done[0] = True
            if err in (E.NOT_COORDINATOR, E.COORDINATOR_NOT_AVAILABLE, E.COORDINATOR_LOAD_IN_PROGRESS):
                self.coordinator = -1
                self.world.at(self._backoff(), retry)
            elif err is E.CONCURRENT_TRANSACTIONS:
                self.world.at(self._backoff(), retry)
            else:
                on_reply(err, *rest)

        def timeout(_err: KafkaError) -> None:
            if not done[0]:
                done[0] = True
                self.coordinator = -1
                retry()

        def send() -> None:
            b = self.p.cluster.brokers[self.coordinator]
            coord = getattr(b, "txn_coordinator", None)
            if coord is None or not self.p.nc.send(b.name, getattr(coord, method), *args, self.p.name, reply,
                                                   on_error=timeout):
                self.coordinator = -1
                self.world.at(self._backoff(), retry)

        self._with_coordinator(send)

    def _fail(self, ev: simpy.Event, err: KafkaError, what: str) -> None:
        if not ev.triggered:
            ev.fail(KafkaException(err, what))
            ev.defused = True

    def fatal(self, err: KafkaError) -> None:
        if self.state == "FATAL":
            return
        self.state = "FATAL"
        self.fatal_error = E.PRODUCER_FENCED if err in FENCING else err
        self.p._schedule(self.world.now)  # fail what is still queued
        self.world.emit("txn.fenced", self.p.name, producer=self.p.origin, transactional_id=self.tid,
                        producer_id=self.p.producer_id, producer_epoch=self.p.producer_epoch, error=err.name)

    def _check_usable(self, ev: simpy.Event, what: str) -> bool:
        if self.state == "FATAL":
            self._fail(ev, self.fatal_error or E.PRODUCER_FENCED, f"{what}: the producer is fenced")
            return False
        return True

    # -- InitProducerId -------------------------------------------------------------------------------
    def init_transactions(self) -> simpy.Event:
        ev = self.world.event()
        if not self._check_usable(ev, "init_transactions"):
            return ev

        def attempt() -> None:
            self._call("handle_init_producer_id", (self.tid, self.timeout_ms), reply, attempt)

        def reply(err: KafkaError, pid: int, epoch: int) -> None:
            if err is not E.NONE:
                self._fail(ev, err, "init_transactions")
                return
            self.p._set_producer_id(pid, epoch)
            self.state = "READY"
            self.world.emit("txn.init", self.p.name, producer=self.p.origin, transactional_id=self.tid,
                            producer_id=pid, producer_epoch=epoch)
            ev.succeed(None)

        attempt()
        return ev

    # -- the transaction --------------------------------------------------------------------------------
    def begin_transaction(self) -> None:
        if self.state == "FATAL":
            raise KafkaException(E.PRODUCER_FENCED, "begin_transaction: the producer is fenced")
        if self.state != "READY":
            raise KafkaException(E._STATE, f"begin_transaction in state {self.state}")
        self.state = "IN_TRANSACTION"
        self.count += 1
        self.added, self.pending, self.abortable = set(), set(), None
        self.offset_groups = []
        self.start_recs = dict(self.p._rec_next)
        self.world.emit("txn.begin", self.p.name, producer=self.p.origin, transactional_id=self.tid, n=self.count)

    def need_partition(self, tp: TopicPartition) -> None:
        """The sender holds a partition's batches until AddPartitionsToTxn registered it."""
        if tp in self.added or self.state == "FATAL":
            return
        self.pending.add(tp)
        if self.add_inflight:
            return
        batch = sorted(self.pending)
        self.add_inflight = True

        def attempt() -> None:
            self._call("handle_add_partitions", (self.tid, self.p.producer_id, self.p.producer_epoch, batch),
                       reply, attempt)

        def reply(err: KafkaError) -> None:
            self.add_inflight = False
            if err is E.NONE:
                self.added.update(batch)
                self.pending.difference_update(batch)
            elif err in FENCING:
                self.fatal(err)
            else:
                self.abortable = err
            self.p._schedule(self.world.now)
            if self.pending and err is E.NONE:
                self.need_partition(next(iter(sorted(self.pending))))

        attempt()

    def send_offsets_to_transaction(self, offsets: list[tuple[TopicPartition, int]],
                                    group_metadata: dict[str, Any]) -> simpy.Event:
        """AddOffsetsToTxn, then TxnOffsetCommit to the group coordinator (KIP-447 fencing by generation)."""
        ev = self.world.event()
        if not self._check_usable(ev, "send_offsets_to_transaction"):
            return ev
        if self.state != "IN_TRANSACTION":
            self._fail(ev, E._STATE, "send_offsets_to_transaction outside a transaction")
            return ev
        if self.abortable is not None:  # Java maybeFailWithError(): only abort_transaction is allowed now
            self._fail(ev, self.abortable, "send_offsets_to_transaction: a send in this transaction failed; abort it")
            return ev
        from kafkasim.group.coordinator import OFFSETS_TOPIC, offsets_partition

        gid = group_metadata["group_id"]
        n = self.p.cluster.broker_conf["offsets.topic.num.partitions"]
        offsets_tp = TopicPartition(OFFSETS_TOPIC, offsets_partition(gid, n))
        pid, epoch = self.p.producer_id, self.p.producer_epoch
        to_commit = {TopicPartition(*tp[:2]): off for tp, off in offsets}

        def add() -> None:
            self._call("handle_add_partitions", (self.tid, pid, epoch, [offsets_tp]), added, add)

        def added(err: KafkaError) -> None:
            if err is not E.NONE:
                if err in FENCING:
                    self.fatal(err)
                self._fail(ev, err, "AddOffsetsToTxn")
                return
            self.added.add(offsets_tp)
            self.offset_groups.append(gid)
            commit_offsets()

        def commit_offsets() -> None:
            rec = self.p.cluster.brokers[next(iter(self.p.cluster.brokers))].meta.get(offsets_tp)
            leader = self.p.cluster.brokers.get(rec.leader) if rec is not None and rec.leader >= 0 else None
            coord = getattr(leader, "coordinator", None) if leader is not None else None
            if coord is None or not self.p.nc.send(
                    leader.name, coord.handle_txn_offset_commit, gid, pid, epoch,
                    group_metadata.get("generation", -1), group_metadata.get("member_id", ""), to_commit,
                    self.p.name, committed, on_error=lambda _err: self.world.at(self._backoff(), commit_offsets)):
                self.world.at(self._backoff(), commit_offsets)

        def committed(err: KafkaError) -> None:
            if err is E.NONE:
                self.world.emit("txn.offsets", self.p.name, producer=self.p.origin, transactional_id=self.tid,
                                group=gid, offsets=[[tp.topic, tp.partition, o] for tp, o in sorted(to_commit.items())])
                ev.succeed(None)
            elif err in (E.NOT_COORDINATOR, E.COORDINATOR_NOT_AVAILABLE, E.REQUEST_TIMED_OUT):
                self.world.at(self._backoff(), commit_offsets)  # Java TxnOffsetCommitHandler: find it again, retry
            else:
                if err in FENCING:
                    self.fatal(err)
                else:
                    self.abortable = err
                self._fail(ev, err, "TxnOffsetCommit")

        add()
        return ev

    def commit_transaction(self) -> simpy.Event:
        return self._end(True)

    def abort_transaction(self) -> simpy.Event:
        return self._end(False)

    def _end(self, commit: bool) -> simpy.Event:
        ev = self.world.event()
        what = "commit_transaction" if commit else "abort_transaction"
        if not self._check_usable(ev, what):
            return ev
        if self.state != "IN_TRANSACTION":
            self._fail(ev, E._STATE, f"{what} outside a transaction")
            return ev
        if not commit:
            self.p._drop_unsent()  # Kafka fails batches not yet sent with TransactionAbortedException
        self.state = "COMMITTING" if commit else "ABORTING"

        def flushed(_left: Any = None) -> None:
            if self.state == "FATAL":
                self._fail(ev, self.fatal_error or E.PRODUCER_FENCED, what)
                return
            if commit and self.abortable is not None:
                self.state = "IN_TRANSACTION"  # the application must abort
                self._fail(ev, self.abortable, "commit_transaction: a send in this transaction failed; abort it")
                return
            if not self.added:  # nothing was registered with the coordinator: nothing to end there
                self._emit_end("commit" if commit else "abort")
                self.state = "READY"
                ev.succeed(None)
                return
            attempt()

        def attempt() -> None:
            self._call("handle_end_txn", (self.tid, self.p.producer_id, self.p.producer_epoch, commit), reply, attempt)

        def reply(err: KafkaError, epoch: int = -1) -> None:
            bumped = err is E.NONE and epoch > self.p.producer_epoch
            if bumped:
                self.p._set_producer_id(self.p.producer_id, epoch)  # KIP-890: a new epoch per transaction
            if err in FENCING or err is E.INVALID_TXN_STATE:  # Java EndTxnHandler: both are fatal
                self.fatal(err)
                self._emit_end("fenced" if err in FENCING else "failed")
                self._fail(ev, self.fatal_error or err, what)
                return
            if err is not E.NONE:
                self._emit_end("failed")
                self.state = "IN_TRANSACTION"
                self._fail(ev, err, what)
                return
            self._emit_end("commit" if commit else "abort")
            self.state = "READY"
            if not commit and self.abortable is not None and not bumped:
                # KIP-360: an abort after a failed send bumps the epoch so sequences restart cleanly
                # (with transaction.version 2 the EndTxn answer already brought a new epoch)
                self.state = "UNINITIALIZED"
                bump = self.init_transactions()
                bump.callbacks.append(lambda _e: ev.triggered or ev.succeed(None))
                return
            ev.succeed(None)

        f = self.p.flush()
        f.callbacks.append(lambda e: flushed(e.value))
        return ev

    def _emit_end(self, result: str) -> None:
        recs = [[tp.topic, tp.partition, self.start_recs.get(tp, 0), hi]
                for tp, hi in sorted(self.p._rec_next.items()) if hi > self.start_recs.get(tp, 0)]
        self.world.emit("txn.end", self.p.name, producer=self.p.origin, transactional_id=self.tid, result=result,
                        producer_id=self.p.producer_id, producer_epoch=self.p.producer_epoch, records=recs,
                        groups=list(self.offset_groups), n=self.count)
