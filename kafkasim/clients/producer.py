"""The producer, shaped like confluent-kafka's ``Producer``: accumulate, batch, send, retry.

``Producer(conf, cluster)`` takes Kafka's dotted keys with Kafka 4.x defaults. ``produce()``
never blocks; ``flush()`` and ``poll()`` return simulated-time events to ``yield``.
Delivery callbacks ``on_delivery(err, msg)`` run as soon as the outcome is known.

Kafka: ``KafkaProducer`` / ``RecordAccumulator`` / ``Sender`` / ``TransactionManager``
(idempotence, KIP-98). Records are partitioned at ``produce()`` time (murmur2 for keys,
the sticky partitioner for null keys), appended to per-partition batches that are sent
when full (``batch.size``) or after ``linger.ms``; at most
``max.in.flight.requests.per.connection`` requests per broker; retriable errors and
timeouts are retried with exponential backoff until ``delivery.timeout.ms``.
Simplified: callbacks are not deferred to ``poll()``; no ``buffer.memory`` blocking; an
idempotent producer treats OUT_OF_ORDER_SEQUENCE_NUMBER as retriable instead of bumping
its epoch (KIP-360).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kafkasim.clients.compression import (
    DEFAULT_COMPRESSIBILITY,
    BatchCodec,
    RatioEstimator,
    batch_size,
)
from kafkasim.clients.metadata import ClientMetadata
from kafkasim.clients.network_client import NetworkClient
from kafkasim.clients.partitioner import StickyPartitioner, partition_for_key
from kafkasim.clients.transactions import TransactionManager
from kafkasim.cluster.log import BATCH_OVERHEAD, RECORD_OVERHEAD
from kafkasim.cluster.protocol import PartitionProduceResponse, ProducerBatch, ProduceRequest
from kafkasim.errors import KafkaError, KafkaException
from kafkasim.records import (
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    Message,
    TopicPartition,
    timestamp_at,
)

if TYPE_CHECKING:
    import simpy

    from kafkasim.cluster.cluster import Cluster

E = KafkaError


@dataclass(eq=False)
class InFlight:
    """A produce request awaiting its response on the connection to ``leader``."""

    leader: int
    req: ProduceRequest
    results: Any = None
    done: bool = False


def record_size(key: Any, value: Any, headers: Any, size: int | None) -> int:
    """Modelled serialized size of one record: key + value (+ headers) + per-record overhead."""
    n = RECORD_OVERHEAD
    if key is not None:
        n += len(key) if isinstance(key, (bytes, str)) else 8
    if size is not None:
        n += size
    elif value is not None:
        n += len(value) if isinstance(value, (bytes, str)) else 8
    if headers:
        for hk, hv in headers:
            n += len(hk) + (len(hv) if hv is not None else 0)
    return n


class Producer:
    """A Kafka producer client on the simulated network."""

    def __init__(self, conf: dict[str, Any], cluster: Cluster, name: str | None = None, *,
                 origin: str | None = None) -> None:
        from kafkasim.config import check_producer, resolve

        conf = check_producer(resolve("producer", _without_bootstrap(conf), "producer"), "producer")
        self.conf = conf
        self.cluster = cluster
        self.name = name or conf.get("client.id") or "producer"
        self.world = cluster.world.for_node(self.name)  # its own clock stops while it is paused
        # the records' identity in the trace: one name per producer *instance* (a restarted
        # application's producer numbers its records from 0 again)
        self.origin = origin or self.name
        if self.world.net.has_node(self.name):
            if not self.world.net.node(self.name).alive:
                self.world.net.restart(self.name)
        else:
            self.world.net.add_node(self.name, "producer")
        self._rng = self.world.rng(f"producer:{self.name}")
        self.acks: str = conf["acks"]
        self.idempotent: bool = bool(conf["enable.idempotence"])
        self.linger: int = conf["linger.ms"]
        self.batch_size: int = conf["batch.size"]
        self.max_inflight: int = conf["max.in.flight.requests.per.connection"]
        self.request_timeout: int = conf["request.timeout.ms"]
        self.delivery_timeout: int = conf["delivery.timeout.ms"]
        self.retries: int = conf["retries"]
        self.max_request_size: int = conf["max.request.size"]
        self.codec: str = conf["compression.type"]
        #: how compressible this application's values are (kafkasim: workload.value_compressibility)
        self.value_compressibility: float = DEFAULT_COMPRESSIBILITY
        self._ratios = RatioEstimator()  # Kafka: CompressionRatioEstimator, per topic
        self.sticky = StickyPartitioner(self._rng, self.batch_size)
        self.nc = NetworkClient(self.world, self.name, self.request_timeout,
                                reconnect_backoff_ms=conf["reconnect.backoff.ms"],
                                reconnect_backoff_max_ms=conf["reconnect.backoff.max.ms"])
        self.metadata = ClientMetadata(cluster, self.nc, conf["retry.backoff.ms"], self._wakeup,
                                       conf["metadata.max.age.ms"])
        self._queues: dict[TopicPartition, deque[ProducerBatch]] = {}
        self._rec_next: dict[TopicPartition, int] = {}
        self._key_partitions: dict[tuple[str, int], dict[Any, int]] = {}
        self._seq_next: dict[TopicPartition, int] = {}
        self._conns: dict[int, deque[InFlight]] = {}  # broker id -> requests in flight, in order
        self._bump_epoch = False
        self._inflight_batches: dict[TopicPartition, list[ProducerBatch]] = {}
        self._waiting_metadata: list[tuple] = []
        self._outstanding = 0  # records not yet acknowledged or failed
        self._flushing = 0
        self._flush_waiters: list[simpy.Event] = []
        self._wakeup_at: int | None = None
        self.producer_id = -1
        self.producer_epoch = -1
        self.closed = False
        self._inc = 0
        self.metadata.bootstrap()
        self.txn: TransactionManager | None = None
        if conf["transactional.id"] is not None:
            self.txn = TransactionManager(self)  # the producer id comes from init_transactions()
        elif self.idempotent:
            self._init_producer_id()

    def __repr__(self) -> str:
        return f"Producer({self.name!r}, acks={self.acks!r}, enable.idempotence={self.idempotent})"

    # -- public API (confluent-kafka shaped) --------------------------------------------------------
    def produce(self, topic: str, value: Any = None, key: Any = None, partition: int = -1,
                on_delivery: Callable[[KafkaError | None, Message], None] | None = None,
                timestamp: int = 0, headers: Any = None, *, size: int | None = None) -> None:
        """Queue one record. ``size`` models the value's size in bytes when ``value`` is None.

        ``timestamp`` (ms; 0: now, the time of this call) is the record's CreateTime; ``headers``
        (a list of (key, value) pairs or a dict, KIP-82) travel with it and count in its size.
        """
        if self.closed:
            raise KafkaException(E._STATE, f"producer {self.name} is closed")
        if self.txn is not None and self.txn.state != "IN_TRANSACTION":
            # Java: IllegalStateException "Cannot perform a 'send' before completing a call to initTransactions"
            # / "Cannot call send in state ..." outside a transaction
            raise KafkaException(E._STATE, f"produce() outside a transaction (state {self.txn.state})")
        if isinstance(headers, dict):
            headers = list(headers.items())
        rsize = record_size(key, value, headers, size)
        self._outstanding += 1
        if rsize + BATCH_OVERHEAD > self.max_request_size:
            # Kafka: KafkaProducer.ensureValidRecordSize -> RecordTooLargeException, never sent; the size
            # is the uncompressed one whatever compression.type (AbstractRecords.estimateSizeInBytesUpperBound)
            tp = TopicPartition(topic, max(partition, 0))
            rec = self._next_rec(tp)
            self._fail_records(tp, rec, 1, E.RECORD_TOO_LARGE, [on_delivery], [key], [value])
            if self.txn is not None and self.txn.abortable is None:
                self.txn.abortable = E.RECORD_TOO_LARGE  # Java: the transaction can only abort now
            return
        count = self.metadata.partition_counts.get(topic)
        if count is None:
            self._waiting_metadata.append((topic, value, key, partition, on_delivery, headers, rsize,
                                           self.world.now, timestamp))
            self.metadata.refresh()
            return
        self._append(topic, count, value, key, partition, on_delivery, headers, rsize, self.world.now, timestamp)

    def poll(self, timeout: float | None = None) -> simpy.Event:
        """Serve delivery callbacks (already served in kafkasim); an event after ``timeout`` s."""
        return self.world.timeout(int((timeout or 0) * 1000), 0)

    def flush(self, timeout: float | None = None) -> simpy.Event:
        """An event that fires when every queued record is delivered or failed (value: records left)."""
        ev = self.world.event()
        if self._outstanding == 0:
            ev.succeed(0)
            return ev
        self._flushing += 1
        self._flush_waiters.append(ev)
        if timeout is not None:
            self.world.at(int(timeout * 1000), self._flush_timeout, ev)
        self._wakeup()
        return ev

    def __len__(self) -> int:
        """Records queued or in flight (confluent-kafka's ``len(producer)``)."""
        return self._outstanding

    def crash(self) -> None:
        """The producer process dies: queued and in-flight records are never reported."""
        self.world.net.crash(self.name)
        self.world.emit("client.crash", self.name, client=self.name)
        self.closed = True
        self._inc += 1
        self._conns.clear()
        self.nc.shutdown()  # a dead process hears no answers and reports nothing

    def unacknowledged(self) -> tuple[list[ProducerBatch], dict[TopicPartition, int]]:
        """What a crashed instance had not seen acknowledged — batches queued or in flight, by
        partition and record number — and each partition's next record number: what
        :meth:`resend` of a restarted application's new instance takes."""
        out = {id(b): b for q in self._queues.values() for b in q if not b.done}
        out.update({id(b): b for bs in self._inflight_batches.values() for b in bs if not b.done})
        return sorted(out.values(), key=lambda b: (b.tp, b.rec)), dict(self._rec_next)

    def resend(self, batches: list[ProducerBatch], rec_next: dict[TopicPartition, int]) -> None:
        """Queue another instance's unacknowledged records again, as new produce() calls of the same
        records (same numbers, so a checker sees a second copy as a duplicate): created now, with this
        instance's producer id and sequences. New records continue after ``rec_next``."""
        now = self.world.now
        for tp, nxt in rec_next.items():
            self._rec_next[tp] = max(self._rec_next.get(tp, 0), nxt)
        for old in batches:
            c = old.compression
            size = c.uncompressed if c is not None and c.uncompressed else old.size
            b = ProducerBatch(old.tp, self.origin, old.rec, now, count=old.count, size=size, keys=old.keys,
                              values=old.values, headers=old.headers, callbacks=old.callbacks, closed=True)
            if c is not None:
                b.compression = BatchCodec(self.codec, c.compressibility, self._ratios.estimate(old.tp.topic))
            self._queues.setdefault(old.tp, deque()).append(b)
            self._outstanding += old.count
        self._schedule(now)

    # -- accumulator ------------------------------------------------------------------------------
    def _next_rec(self, tp: TopicPartition) -> int:
        rec = self._rec_next.get(tp, 0)
        self._rec_next[tp] = rec + 1
        return rec

    def _append(self, topic: str, count: int, value: Any, key: Any, partition: int,
                on_delivery: Any, headers: Any, rsize: int, created: int, timestamp: int = 0) -> None:
        if partition < 0:
            if key is not None and not self.conf["partitioner.ignore.keys"]:
                partition = partition_for_key(key if isinstance(key, (str, bytes)) else str(key), count)
            else:
                # the sticky partitioner counts the batch's estimated (compressed) growth
                grow = rsize if self.codec == "none" else int(rsize * self._ratios.estimate(topic) * 1.05)
                partition = self.sticky.partition(topic, count, grow)
        elif partition >= count:
            tp = TopicPartition(topic, partition)
            self._fail_records(tp, self._next_rec(tp), 1, E.UNKNOWN_TOPIC_OR_PARTITION, [on_delivery],
                               [key], [value])
            return
        tp = TopicPartition(topic, partition)
        b = self._open_batch(tp, rsize, created)
        self._rec_next[tp] = b.rec + b.count + 1
        n = b.count
        _stamp(b, n, timestamp if timestamp > 0 else created)  # librdkafka: 0 means the time of produce()
        b.count = n + 1
        b.size += rsize
        b.keys.append(key)
        # values, headers and callbacks are kept only once one is given (sizes alone model the rest)
        for attr, item in (("values", value), ("headers", headers), ("callbacks", on_delivery)):
            lst = getattr(b, attr)
            if lst is not None:
                lst.append(item)
            elif item is not None:
                setattr(b, attr, [None] * n + [item])
        if (b.size if b.compression is None else b.compression.estimated_size(b.size)) >= self.batch_size:
            b.closed = True  # Kafka: MemoryRecordsBuilder.isFull, on the estimated compressed size
            self._schedule(self.world.now)

    def _open_batch(self, tp: TopicPartition, rsize: int, created: int) -> ProducerBatch:
        """The partition's open batch if ``rsize`` more bytes fit (or it is empty), else a new one."""
        q = self._queues.get(tp)
        if q is None:
            q = self._queues[tp] = deque()
        b = q[-1] if q else None
        # Kafka: MemoryRecordsBuilder.hasRoomFor: estimated (compressed) size so far + the record uncompressed
        if b is None or b.closed or b.attempts or (b.count and (b.size if b.compression is None else b.compression
                                                                .estimated_size(b.size)) + rsize > self.batch_size):
            if b is not None and not b.closed:
                b.closed = True  # Kafka: a batch that cannot take the next record is full: send it now
                self._schedule(self.world.now)
            b = ProducerBatch(tp, self.origin, self._rec_next.get(tp, 0), created, size=BATCH_OVERHEAD, keys=[])
            if self.codec != "none" or self.value_compressibility != DEFAULT_COMPRESSIBILITY:
                b.compression = BatchCodec(self.codec, self.value_compressibility, self._ratios.estimate(tp.topic))
            q.append(b)
            self._schedule(created + self.linger)
        return b

    def produce_many(self, topic: str, keys: list[Any] | None, count: int, size: int) -> None:
        """Workload fast path: ``count`` records with modelled values of ``size`` bytes.

        ``keys`` gives each record's key (None: null keys, sticky partitioner). The same as
        calling ``produce(topic, key=k, size=size)`` for each, without delivery callbacks.
        """
        npart = self.metadata.partition_counts.get(topic)
        too_big = RECORD_OVERHEAD + size + BATCH_OVERHEAD + 64 > self.max_request_size  # keys add a little
        if (npart is None or self.closed or self.conf["partitioner.ignore.keys"] or too_big or self.txn is not None
                or self.codec != "none"):  # compressed batches fill by their estimated size: the general path
            for i in range(count):
                self.produce(topic, key=keys[i] if keys is not None else None, size=size)
            return
        self._outstanding += count
        now = self.world.now
        base = RECORD_OVERHEAD + size
        if keys is None:
            for _ in range(count):
                p = self.sticky.partition(topic, npart, base)
                self._append_run(TopicPartition(topic, p), (None,), base, now)
            return
        cache = self._key_partitions.setdefault((topic, npart), {})
        groups: dict[int, list[Any]] = {}
        for k in keys:
            p = cache.get(k)
            if p is None:
                p = cache[k] = partition_for_key(k if isinstance(k, (str, bytes)) else str(k), npart)
            g = groups.get(p)
            if g is None:
                groups[p] = [k]
            else:
                g.append(k)
        for p, ks in groups.items():
            self._append_run(TopicPartition(topic, p), ks, base, now)

    def _append_run(self, tp: TopicPartition, keys: Any, base: int, now: int) -> None:
        """Append records with ``keys`` (each ``base`` bytes + its key) to ``tp``, created ``now``."""
        q = self._queues.get(tp)
        b = q[-1] if q else None
        limit = self.batch_size
        fresh = True  # b not yet touched by this run: its CreateTime stamps may need ``now``
        for key in keys:
            rsize = base + len(key) if key is not None else base
            if b is None or b.closed or b.attempts or b.values is not None or (b.size + rsize > limit):
                if not fresh:  # b took records of this run: the new batch's first record follows them
                    self._rec_next[tp] = b.rec + b.count
                b = self._open_batch(tp, rsize, now)
                fresh = True
            if fresh:
                st = b.stamps
                if (st[-1][1] if st else b.created) != now:
                    _stamp(b, b.count, now)
                fresh = False
            b.keys.append(key)
            b.count += 1
            b.size += rsize
            if b.size >= limit:
                b.closed = True
                self._schedule(now)
        if not fresh:
            self._rec_next[tp] = b.rec + b.count

    # -- sender -------------------------------------------------------------------------------------
    def _schedule(self, at: int) -> None:
        now = self.world.now
        at = max(at, now)
        if self._wakeup_at is not None and self._wakeup_at <= at and self._wakeup_at >= now:
            return
        self._wakeup_at = at
        self.world.at(at - now, self._run_sender, at, self._inc)

    def _wakeup(self) -> None:
        if self._waiting_metadata:
            waiting, self._waiting_metadata = self._waiting_metadata, []
            for topic, value, key, partition, cb, headers, rsize, created, ts in waiting:
                count = self.metadata.partition_counts.get(topic)
                if count is None:
                    self._waiting_metadata.append((topic, value, key, partition, cb, headers, rsize, created, ts))
                else:
                    self._append(topic, count, value, key, partition, cb, headers, rsize, created, ts)
        self._schedule(self.world.now)

    def _run_sender(self, at: int, inc: int) -> None:
        if inc != self._inc:
            return
        if self._wakeup_at == at:
            self._wakeup_at = None
        now = self.world.now
        for tp, q in self._queues.items():
            if q and now - q[0].created >= self.delivery_timeout:
                self._expire(tp, q, now)
        if self._bump_epoch and not self._bump_idempotent_epoch():
            return  # wait for requests in flight to resolve before bumping
        next_at: int | None = None
        by_leader: dict[int, dict[TopicPartition, ProducerBatch]] = {}
        need_metadata = False
        for tp, q in self._queues.items():
            if not q:
                continue
            b = q[0]
            deadline = b.created + self.delivery_timeout
            if b.attempts and now < b.retry_at:
                next_at = _min(next_at, b.retry_at)
                continue
            ready = b.closed or len(q) > 1 or self._flushing or b.attempts or now - b.created >= self.linger
            if not ready:
                next_at = _min(next_at, b.created + self.linger)
                continue
            if self.idempotent and self.producer_id < 0:
                next_at = _min(next_at, deadline)
                continue
            if self.txn is not None and self.txn.state == "FATAL":
                while q:  # Java: abortUndrainedBatches with the fatal error (ProducerFencedException)
                    self._fail_batch(tp, q.popleft(), self.txn.fatal_error or E.PRODUCER_FENCED)
                continue
            if self.txn is not None and self.txn.abortable is not None and any(not x.attempts for x in q):
                # Java abortUndrainedBatches(lastError): once the transaction can only be aborted,
                # what was never sent fails with that error instead of being sent
                for x in [x for x in q if not x.attempts]:
                    q.remove(x)
                    self._fail_batch(tp, x, self.txn.abortable)
                if not q:
                    continue
            if self.txn is not None and tp not in self.txn.added:
                self.txn.need_partition(tp)  # AddPartitionsToTxn first; its answer wakes the sender
                continue
            leader = self.metadata.leader(tp)
            if leader < 0:
                need_metadata = True
                next_at = _min(next_at, min(deadline, now + self.conf["retry.backoff.ms"]))
                continue
            if len(self._conns.get(leader, ())) + (1 if leader not in by_leader else 0) > self.max_inflight:
                continue  # a response will wake us
            if self.idempotent and b.base_sequence >= 0:
                # a retried batch goes only when no earlier sequence of its partition is in flight
                if any(f.base_sequence < b.base_sequence for f in self._inflight_batches.get(tp, ())):
                    continue
            q.popleft()
            b.closed = True
            if b.compression is not None and not b.compression.uncompressed:
                self._build(b)
            if self.idempotent and b.base_sequence < 0:
                b.producer_id, b.producer_epoch = self.producer_id, self.producer_epoch
                b.transactional = self.txn is not None
                b.base_sequence = self._seq_next.get(tp, 0)
                self._seq_next[tp] = b.base_sequence + b.count
            by_leader.setdefault(leader, {})[tp] = b
            if q:
                next_at = _min(next_at, now)
        for leader, batches in by_leader.items():
            self._send(leader, batches)
        if need_metadata:
            self.metadata.refresh()
        if next_at is not None:
            self._schedule(next_at)

    def _build(self, b: ProducerBatch) -> None:
        """Drained for the first time: compress the batch and learn its ratio (Kafka: ``ProducerBatch.close``
        builds the records and updates ``CompressionRatioEstimator``); a retry resends the same bytes."""
        c = b.compression
        c.uncompressed = b.size
        if c.codec != "none":
            b.size = batch_size(b.size, c.codec, c.compressibility)
            raw = c.uncompressed - BATCH_OVERHEAD
            if raw > 0:
                self._ratios.update(b.tp.topic, (b.size - BATCH_OVERHEAD) / raw)

    def _send(self, leader: int, batches: dict[TopicPartition, ProducerBatch]) -> None:
        broker = self.cluster.brokers[leader]
        req = ProduceRequest(self.name, self.acks, self.request_timeout, batches)
        now = self.world.now
        for tp, b in batches.items():
            b.attempts += 1
            b.inflight = True
            self._inflight_batches.setdefault(tp, []).append(b)
            c = b.compression
            if c is None or c.codec == "none":
                self.world.emit("produce.send", self.name, producer=self.origin, topic=tp.topic,
                                partition=tp.partition, rec=b.rec, count=b.count, attempt=b.attempts,
                                broker=leader, producer_id=b.producer_id, base_sequence=b.base_sequence,
                                bytes=b.size)
            else:  # compressed: its size before compression too
                self.world.emit("produce.send", self.name, producer=self.origin, topic=tp.topic,
                                partition=tp.partition, rec=b.rec, count=b.count, attempt=b.attempts,
                                broker=leader, producer_id=b.producer_id, base_sequence=b.base_sequence,
                                bytes=b.size, uncompressed=c.uncompressed)
        inc = self._inc
        if self.acks == "0":
            if self.nc.send(broker.name, broker.handle_produce, req, None):
                for tp, b in batches.items():
                    self._release(tp, b)
                    self._complete(tp, b, -1, now)
            else:
                self._handle(req, None)
            return
        f = InFlight(leader, req)
        conn = self._conns.setdefault(leader, deque())
        conn.append(f)
        if not self.nc.send(broker.name, broker.handle_produce, req, lambda results: self._on_arrival(f, results, inc),
                            on_error=lambda err: self._reset_connection(leader, err, inc)):
            self.world.at(0, self._reset_connection, leader, E.NETWORK_EXCEPTION, inc)  # refused

    def _on_arrival(self, f: InFlight, results: Any, inc: int) -> None:
        """Responses are processed in request order, as they come off one TCP connection."""
        if f.done or inc != self._inc:
            return
        f.results = results
        conn = self._conns[f.leader]
        while conn and conn[0].results is not None:
            head = conn.popleft()
            head.done = True
            self._handle(head.req, head.results)
        self._schedule(self.world.now)

    def _reset_connection(self, leader: int, error: KafkaError, inc: int) -> None:
        """A timeout or disconnect closes the connection: every request in flight on it fails
        (Kafka: ``NetworkClient.handleTimedOutRequests`` / ``handleDisconnections``)."""
        if inc != self._inc:
            return
        conn = self._conns.get(leader)
        if not conn:
            return
        failed = list(conn)
        conn.clear()
        for f in failed:
            f.done = True
            self._handle(f.req, {tp: PartitionProduceResponse(error) for tp in f.req.batches})
        self.metadata.refresh()
        self._schedule(self.world.now)

    def _release(self, tp: TopicPartition, b: ProducerBatch) -> None:
        b.inflight = False
        inflight = self._inflight_batches.get(tp)
        if inflight and b in inflight:
            inflight.remove(b)

    def _earlier_unresolved(self, tp: TopicPartition, b: ProducerBatch) -> bool:
        """Is an earlier sequence of this partition still in flight or queued for retry?"""
        seq = b.base_sequence
        if any(0 <= f.base_sequence < seq for f in self._inflight_batches.get(tp, ())):
            return True
        return any(0 <= q.base_sequence < seq for q in self._queues.get(tp, ()))

    def _handle(self, req: ProduceRequest, results: Any) -> None:
        now = self.world.now
        if results is None:
            results = {tp: PartitionProduceResponse(E.NETWORK_EXCEPTION) for tp in req.batches}
        refresh = False
        for tp, b in req.batches.items():
            r = results[tp]
            self._release(tp, b)
            if r.error is E.NONE:
                self._complete(tp, b, r.base_offset, now, r.log_append_time)
                continue
            err = r.error
            if err in (E.NOT_LEADER_OR_FOLLOWER, E.NETWORK_EXCEPTION, E.REQUEST_TIMED_OUT,
                       E.UNKNOWN_TOPIC_OR_PARTITION, E.LEADER_NOT_AVAILABLE):
                refresh = True
            if err is E.MESSAGE_TOO_LARGE and b.count > 1:
                self._emit_error(tp, b, err, True)
                self._requeue_split(tp, b)
                continue
            retriable = err.retriable
            if err is E.OUT_OF_ORDER_SEQUENCE_NUMBER and self.idempotent:
                # The idempotent producer retries every OUT_OF_ORDER_SEQUENCE_NUMBER; when no earlier
                # sequence is unresolved the gap is real, so it bumps its epoch first and the retry
                # restarts at sequence 0 (KIP-360: TransactionManager.canRetry)
                retriable = True
                if not self._earlier_unresolved(tp, b):
                    self._bump_epoch = True
            expired = now - b.created >= self.delivery_timeout
            if retriable and not expired and b.attempts <= self.retries:
                self._emit_error(tp, b, err, True)
                self._requeue(tp, b, now)
            else:
                self._emit_error(tp, b, err, False)
                self._fail_batch(tp, b, E._MSG_TIMED_OUT if (retriable and expired) else err)
        if refresh:
            self.metadata.refresh()

    def _emit_error(self, tp: TopicPartition, b: ProducerBatch, err: KafkaError, retry: bool) -> None:
        self.world.emit("produce.error", self.name, producer=self.origin, topic=tp.topic, partition=tp.partition,
                        rec=b.rec, count=b.count, error=err.name, retry=retry)

    def _backoff(self, attempts: int) -> int:
        """KIP-580 exponential backoff with 20% jitter: retry.backoff.ms * 2^(n-1), capped."""
        base = self.conf["retry.backoff.ms"]
        cap = self.conf["retry.backoff.max.ms"]
        exp = min(cap, base * (2 ** max(attempts - 1, 0)))
        return max(1, int(exp * self._rng.uniform(0.8, 1.2)))

    def _requeue(self, tp: TopicPartition, b: ProducerBatch, now: int) -> None:
        b.retry_at = now + self._backoff(b.attempts)
        q = self._queues.setdefault(tp, deque())
        if self.idempotent:
            # keep retries in sequence order at the head of the queue (Kafka: insertInSequenceOrder)
            i = 0
            while i < len(q) and q[i].base_sequence >= 0 and q[i].base_sequence < b.base_sequence:
                i += 1
            q.insert(i, b)
        else:
            q.appendleft(b)
        self._schedule(b.retry_at)

    def _requeue_split(self, tp: TopicPartition, b: ProducerBatch) -> None:
        """MESSAGE_TOO_LARGE on a multi-record batch: split it in two and retry (Kafka splits by size)."""
        half = b.count // 2
        parts = []
        c = b.compression
        size = b.size
        if c is not None and c.uncompressed:
            size = c.uncompressed  # the parts are rebuilt (and recompressed) from the records
            if c.codec != "none":  # Kafka: RecordAccumulator.splitAndReenqueue resets the estimate to max(1.0, its ratio)
                self._ratios.reset(tp.topic, (b.size - BATCH_OVERHEAD) / max(1, size - BATCH_OVERHEAD))
        for lo, hi in ((0, half), (half, b.count)):
            def part(lst: list | None, lo: int = lo, hi: int = hi) -> list | None:
                return lst[lo:hi] if lst is not None else None

            nb = ProducerBatch(tp, b.origin, b.rec + lo, b.created, count=hi - lo,
                               keys=part(b.keys), values=part(b.values), headers=part(b.headers),
                               callbacks=part(b.callbacks), producer_id=b.producer_id,
                               producer_epoch=b.producer_epoch,
                               base_sequence=b.base_sequence + lo if b.base_sequence >= 0 else -1,
                               closed=True, stamps=_split_stamps(b, lo, hi))
            nb.size = BATCH_OVERHEAD + int((size - BATCH_OVERHEAD) * (hi - lo) / b.count)
            if c is not None:
                nb.compression = BatchCodec(c.codec, c.compressibility, self._ratios.estimate(tp.topic))
            parts.append(nb)
        q = self._queues.setdefault(tp, deque())
        q.appendleft(parts[1])
        q.appendleft(parts[0])
        self._schedule(self.world.now)

    def _expire(self, tp: TopicPartition, q: deque[ProducerBatch], now: int) -> None:
        while q and now - q[0].created >= self.delivery_timeout and not q[0].inflight:
            b = q.popleft()
            self._fail_batch(tp, b, E._MSG_TIMED_OUT)

    # -- outcomes -----------------------------------------------------------------------------------
    def _complete(self, tp: TopicPartition, b: ProducerBatch, base_offset: int, now: int,
                  log_append_time: int = -1) -> None:
        if b.done:
            return
        b.done = True
        self.world.emit("produce.ack", self.name, producer=self.origin, topic=tp.topic, partition=tp.partition,
                        rec=b.rec, count=b.count, offset=base_offset, acks=self.acks, attempt=b.attempts,
                        transactional=self.txn is not None)
        self._report(tp, b, None, base_offset, log_append_time)

    def _fail_batch(self, tp: TopicPartition, b: ProducerBatch, error: KafkaError) -> None:
        if b.done:
            return
        b.done = True
        if self.txn is not None:
            if error is E.PRODUCER_FENCED:
                self.txn.fatal(error)
            elif self.txn.abortable is None:  # INVALID_PRODUCER_EPOCH too (KIP-588): the abort decides
                self.txn.abortable = error  # the transaction can only be aborted now
        elif self.idempotent and b.base_sequence >= 0:
            self._bump_epoch = True  # its sequence is now a hole: start a new epoch (KIP-360)
        self._fail_records(tp, b.rec, b.count, error, b.callbacks, b.keys, b.values, b.headers, b)

    def _fail_records(self, tp: TopicPartition, rec: int, count: int, error: KafkaError,
                      callbacks: Any, keys: Any, values: Any, headers: Any = None,
                      batch: ProducerBatch | None = None) -> None:
        self.world.emit("produce.fail", self.name, producer=self.origin, topic=tp.topic, partition=tp.partition,
                        rec=rec, count=count, error=error.name)
        fake = ProducerBatch(tp, self.origin, rec, batch.created if batch else self.world.now, count=count, keys=keys,
                             values=values, headers=headers, callbacks=callbacks,
                             stamps=batch.stamps if batch else None)
        self._report(tp, fake, error, -1)

    def _report(self, tp: TopicPartition, b: ProducerBatch, error: KafkaError | None, base: int,
                log_append_time: int = -1) -> None:
        """Delivery reports; a record's timestamp is its CreateTime, or the broker's append time
        for a LogAppendTime topic (RecordMetadata.timestamp / librdkafka's delivery report)."""
        self._outstanding -= b.count
        cbs = b.callbacks
        if cbs and any(cbs):
            for i, cb in enumerate(cbs):
                if cb is not None:
                    msg = Message(tp.topic, tp.partition, base + i if base >= 0 else -1,
                                  b.keys[i] if b.keys else None, b.values[i] if b.values else None,
                                  log_append_time if log_append_time >= 0 else timestamp_at(b.created, b.stamps, i),
                                  b.headers[i] if b.headers else None, error,
                                  rid=f"{self.origin}:{tp}:{b.rec + i}",
                                  _timestamp_type=TIMESTAMP_LOG_APPEND_TIME if log_append_time >= 0
                                  else TIMESTAMP_CREATE_TIME)
                    cb(error, msg)
        if self._outstanding == 0 and self._flush_waiters:
            waiters, self._flush_waiters = self._flush_waiters, []
            self._flushing = 0
            for ev in waiters:
                if not ev.triggered:
                    ev.succeed(0)

    def _flush_timeout(self, ev: simpy.Event) -> None:
        if not ev.triggered:
            ev.succeed(self._outstanding)
            if ev in self._flush_waiters:
                self._flush_waiters.remove(ev)
                self._flushing = max(0, self._flushing - 1)

    # -- idempotence ---------------------------------------------------------------------------------
    def _init_producer_id(self) -> None:
        """InitProducerId: any broker allocates a producer id from the controller's blocks."""
        ids = sorted(self.cluster.brokers)
        start = self._rng.randrange(len(ids))
        for i in range(len(ids)):
            b = self.cluster.brokers[ids[(start + i) % len(ids)]]
            if self.nc.send(b.name, b.handle_init_producer_id, self.name, self._on_producer_id,
                            on_error=lambda _err: self.world.at(self.conf["retry.backoff.ms"],
                                                                self._retry_init_producer_id)):
                return
        self.world.at(self.conf["retry.backoff.ms"], self._retry_init_producer_id)

    def _retry_init_producer_id(self) -> None:
        if self.producer_id < 0 and not self.closed:
            self._init_producer_id()

    # -- transactions (confluent-kafka names) ---------------------------------------------------------
    def _txn_manager(self) -> TransactionManager:
        if self.txn is None:
            raise KafkaException(E._STATE, "transactions need a transactional.id")
        return self.txn

    def init_transactions(self, timeout: float | None = None) -> simpy.Event:
        """InitProducerId: get the producer id and a bumped epoch (fencing older instances)."""
        return self._txn_manager().init_transactions()

    def begin_transaction(self) -> None:
        self._txn_manager().begin_transaction()

    def send_offsets_to_transaction(self, positions: list[Any], group_metadata: Any,
                                    timeout: float | None = None) -> simpy.Event:
        """Commit the consumer's positions with this transaction (``consumer.consumer_group_metadata()``)."""
        return self._txn_manager().send_offsets_to_transaction(positions, group_metadata)

    def commit_transaction(self, timeout: float | None = None) -> simpy.Event:
        return self._txn_manager().commit_transaction()

    def abort_transaction(self, timeout: float | None = None) -> simpy.Event:
        return self._txn_manager().abort_transaction()

    def _set_producer_id(self, pid: int, epoch: int) -> None:
        """A (new) producer id and epoch: every partition's sequence starts again at 0."""
        self.producer_id, self.producer_epoch = pid, epoch
        self._seq_next.clear()
        for q in self._queues.values():
            for b in q:
                b.base_sequence = -1
        self._schedule(self.world.now)

    def _drop_unsent(self) -> None:
        for tp, q in self._queues.items():
            keep = [b for b in q if b.attempts]
            for b in q:
                if not b.attempts:
                    self._fail_batch_quiet(tp, b)
            q.clear()
            q.extend(keep)

    def _fail_batch_quiet(self, tp: TopicPartition, b: ProducerBatch) -> None:
        if not b.done:
            b.done = True
            self._fail_records(tp, b.rec, b.count, E._PURGE_QUEUE, b.callbacks, b.keys, b.values, b.headers, b)

    def _bump_idempotent_epoch(self) -> bool:
        """Bump the epoch and restart every partition's sequence at 0, once nothing is in flight.

        Kafka: ``TransactionManager.bumpIdempotentEpochAndResetIdIfNeeded`` (KIP-360).
        Simplified: the bump is local; Kafka asks the broker with InitProducerId.
        """
        if any(self._conns.values()):
            return False
        self._bump_epoch = False
        self.producer_epoch += 1
        self._seq_next.clear()
        for q in self._queues.values():
            for b in q:
                b.base_sequence = -1
                b.producer_epoch = self.producer_epoch
        self.world.emit("producer.init", self.name, producer=self.name, producer_id=self.producer_id,
                        producer_epoch=self.producer_epoch, reason="epoch bump")
        return True

    def _on_producer_id(self, pid: int, epoch: int) -> None:
        if self.producer_id >= 0:
            return
        self.producer_id, self.producer_epoch = pid, epoch
        self.world.emit("producer.init", self.name, producer=self.name, producer_id=pid, producer_epoch=epoch)
        self._schedule(self.world.now)


def _stamp(b: ProducerBatch, n: int, ts: int) -> None:
    """Record ``n`` of ``b`` has CreateTime ``ts``: noted only where it differs from record n-1's."""
    st = b.stamps
    if ts != (st[-1][1] if st else b.created):
        if st is None:
            b.stamps = [(n, ts)]
        else:
            st.append((n, ts))


def _split_stamps(b: ProducerBatch, lo: int, hi: int) -> list | None:
    """The stamps of records ``lo .. hi-1`` of ``b`` as a batch of their own (same ``created``)."""
    first = timestamp_at(b.created, b.stamps, lo)
    out = [(0, first)] if first != b.created else []
    out += [(i - lo, t) for i, t in b.stamps or () if lo < i < hi]
    return out or None


def _min(a: int | None, b: int) -> int:
    return b if a is None or b < a else a


def _without_bootstrap(conf: dict[str, Any] | None) -> dict[str, Any]:
    """confluent-kafka configs carry ``bootstrap.servers``; the simulated cluster needs none."""
    return {k: v for k, v in (conf or {}).items() if k != "bootstrap.servers"}
