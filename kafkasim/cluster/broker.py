"""A broker: serves produce and fetch, replicates as a follower, leads partitions.

Kafka: ``KafkaApis`` / ``ReplicaManager`` / ``DelayedProduce`` / ``DelayedFetch`` /
``ReplicaFetcherThread``, in KRaft mode (metadata comes from the controller).
Fetches run in incremental fetch sessions (KIP-227, :mod:`kafkasim.cluster.fetch_session`):
a round costs the partitions with something new, not every partition the leader hosts.
Simplified: one fetcher per (follower, leader) pair; no quotas; the high watermark is
checkpointed continuously (Kafka: every 5 s).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kafkasim.clients.compression import stored_size
from kafkasim.clients.network_client import NetworkClient
from kafkasim.cluster.fetch_session import (
    FINAL_EPOCH,
    INITIAL_EPOCH,
    CachedPartition,
    FetchSession,
    FetchSessionHandler,
)
from kafkasim.cluster.log import BATCH_OVERHEAD, PartitionLog, RecordBatch
from kafkasim.cluster.partition import DelayedProduce, Partition
from kafkasim.cluster.protocol import (
    NO_LEADER,
    AlterPartition,
    BrokerFencing,
    FetchPartition,
    FetchPartitionData,
    FetchRequest,
    FetchResponse,
    PartitionProduceResponse,
    PartitionRecord,
    ProducerBatch,
    ProduceRequest,
    TopicRecord,
)
from kafkasim.errors import KafkaError
from kafkasim.records import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, TopicPartition

if TYPE_CHECKING:
    from kafkasim.cluster.cluster import Cluster

#: Follower fetch request timeout and reconnect backoff (``replica.socket.timeout.ms``,
#: ``replica.fetch.backoff.ms``).
REPLICA_SOCKET_TIMEOUT_MS = 30_000
REPLICA_FETCH_BACKOFF_MS = 1_000

E = KafkaError
NONE = KafkaError.NONE  # a module constant: looking an enum member up costs ~80 ns (Python 3.11)


@dataclass(slots=True, eq=False)
class ProduceContext:
    """One produce request in the broker's purgatory: partitions still waiting for the HW."""

    req: ProduceRequest
    reply: Callable[[dict[TopicPartition, PartitionProduceResponse]], None]
    results: dict[TopicPartition, PartitionProduceResponse] = field(default_factory=dict)
    pending: int = 0
    done: bool = False
    timer: Any = None  # its request.timeout deadline in the broker's timers


@dataclass(slots=True, eq=False)
class DelayedFetch:
    """A fetch session's request waiting in purgatory for news or ``max_wait_ms``."""

    session: FetchSession
    reply: Callable[[FetchResponse], None]
    seq: int  # parking order: fetches woken together are answered in the order they parked
    done: bool = False
    timer: Any = None  # its max_wait_ms deadline


class Broker:
    """One Kafka broker (a node on the network). Its logs survive crashes; nothing else does."""

    def __init__(self, cluster: Cluster, broker_id: int) -> None:
        self.cluster = cluster
        self.world = cluster.world
        self.id = broker_id
        self.name = f"broker-{broker_id}"
        self.conf = cluster.broker_conf
        self.logs: dict[TopicPartition, PartitionLog] = {}
        self.services: list[Any] = []  # e.g. the group coordinator: told of leadership changes and crashes
        self.timers = self.world.timers()  # request deadlines, nearly all cancelled by their answer
        self._rng = self.world.rng(f"registration:{self.name}")
        self.starting = False  # restarted, and not yet unfenced by the controller
        self._reset_memory()
        self._node = self.world.net.add_node(self.name, "broker")  # the same Node across crashes and restarts

    def _reset_memory(self) -> None:
        self.parts: dict[TopicPartition, Partition] = {}
        self.topics: dict[str, TopicRecord] = {}
        self.meta: dict[TopicPartition, PartitionRecord] = {}  # metadata cache of every partition
        self.fenced: set[int] = set()  # brokers the controller has fenced (not ISR-eligible)
        self.metadata_offset = 0
        self.sessions: dict[int, FetchSession] = {}  # incremental fetch sessions (KIP-227) by id
        self.session_of: dict[str, FetchSession] = {}  # each client's session here
        self.sessions_by_tp: dict[TopicPartition, list[FetchSession]] = {}
        self._next_session_id = 1
        self._park_seq = 0
        self.unsettled: set[TopicPartition] = set()  # changed since the ISR check last found them quiet
        self.fetchers: dict[int, Fetcher] = {}
        # the replica fetchers' connections (Kafka: their NetworkClient, whose request timeout is
        # replica.socket.timeout.ms); a restarted process starts with none
        self.nc = NetworkClient(self.world, self.name, REPLICA_SOCKET_TIMEOUT_MS)
        self.incarnation = getattr(self, "incarnation", 0) + 1

    @property
    def alive(self) -> bool:
        return self._node.alive

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """The broker of a cluster being formed: registered already, it heartbeats at once."""
        self._heartbeat(self.incarnation)
        self._start_housekeeping()

    def _start_housekeeping(self) -> None:
        self._schedule_isr_check(self.incarnation)
        self.world.at(self.conf["log.retention.check.interval.ms"], self._retention, self.incarnation)

    def crash(self, lose: str = "") -> None:
        """Process crash: in-flight requests and memory are gone; the log (page cache) survives.

        ``lose="unflushed"``: a power loss, the page cache is gone too and each log keeps only
        what was on disk (:meth:`PartitionLog.durable_end`); the switch ``crash_model:
        power_loss`` makes every crash one. ``lose="disk"``: the disk is gone, the broker
        comes back with empty logs and re-replicates them from the leaders.
        """
        if not lose and self.cluster.switches.get("crash_model") == "power_loss":
            lose = "unflushed"
        self.world.net.crash(self.name)
        self.world.emit("broker.crash", self.name, broker=self.id)
        self.nc.shutdown()
        self._reset_memory()
        for service in self.services:
            service.on_crash()
        now = self.world.now
        for tp in sorted(self.logs) if lose else ():
            log = self.logs[tp]
            end = log.log_start if lose == "disk" else log.durable_end(now)
            if end < log.leo:
                self.world.emit("log.truncate", self.name, topic=tp.topic, partition=tp.partition, broker=self.id,
                                offset=end, dropped=log.leo - end,
                                reason="disk_loss" if lose == "disk" else "power_loss")
                log.truncate_to(end)  # log recovery keeps what is on disk: HW and epoch cache follow
        if lose == "disk":
            self.logs.clear()

    def restart(self) -> None:
        """The process starts again: it must register with the controller before it heartbeats."""
        self.world.net.restart(self.name)
        self.world.emit("broker.restart", self.name, broker=self.id)
        self.starting = True
        self._register_broker(self.incarnation, 0)
        self._start_housekeeping()

    def _register_broker(self, inc: int, failures: int) -> None:
        """BrokerRegistration, retried with Kafka's BrokerLifecycleManager backoff (100 ms doubling
        up to broker.session.timeout.ms, 2 % jitter) until the controller accepts this incarnation;
        then the first heartbeat goes at once."""
        if inc != self.incarnation or not self.alive:
            return
        ctl = self.cluster.controller

        def retry(_err: Any = None) -> None:
            backoff = min(100 * 2 ** failures, self.conf["broker.session.timeout.ms"])
            self.world.at(int(backoff * self._rng.uniform(0.98, 1.02)), self._register_broker, inc, failures + 1)

        def answered(err: E) -> None:
            if inc != self.incarnation:
                return
            if err is E.NONE:
                self._heartbeat(inc)
            else:
                retry()

        if not self.nc.send(ctl.name, ctl.handle_register, self.id, inc, self.name, answered, channel="controller",
                            on_error=retry):
            retry()

    def _heartbeat(self, inc: int) -> None:
        if inc != self.incarnation or not self.alive:
            return
        ctl = self.cluster.controller
        self.world.net.send(self.name, ctl.name, ctl.handle_heartbeat, self.id, self.metadata_offset)
        # BrokerLifecycleManager: every 10 ms while starting (until the controller unfences it), then
        # every broker.heartbeat.interval.ms
        self.world.at(10 if self.starting else self.conf["broker.heartbeat.interval.ms"], self._heartbeat, inc)

    # -- metadata from the controller -------------------------------------------------------
    def apply_metadata(self, records: list[tuple[int, Any]]) -> None:
        """Apply metadata-log records from the controller, in order, skipping ones already seen.

        A catch-up of many records (a restarted broker) applies only each partition's latest
        state, as a broker loading a metadata snapshot does.
        """
        fresh = [(o, r) for o, r in records if o >= self.metadata_offset]
        if not fresh or fresh[0][0] != self.metadata_offset:
            return  # nothing new, or a gap: the next heartbeat response replays from our offset
        self.metadata_offset = fresh[-1][0] + 1
        latest: dict[TopicPartition, int] = {}
        for i, (_o, rec) in enumerate(fresh):
            if isinstance(rec, PartitionRecord):
                latest[rec.tp] = i
        for i, (_o, rec) in enumerate(fresh):
            if isinstance(rec, TopicRecord):
                self.topics[rec.name] = rec
            elif isinstance(rec, BrokerFencing):
                (self.fenced.add if rec.fenced else self.fenced.discard)(rec.broker)
                if rec.broker == self.id and not rec.fenced:
                    self.starting = False
                for tp in self.parts:  # ISR eligibility changed: the HW rule may now move the HW
                    self._changed(tp)
            elif isinstance(rec, PartitionRecord) and latest[rec.tp] == i:
                self.meta[rec.tp] = rec
                self._apply_partition(rec)

    def _apply_partition(self, rec: PartitionRecord) -> None:
        tp = rec.tp
        if self.id not in rec.replicas:
            return
        log = self.logs.get(tp)
        tconf = self.topics[tp.topic].config
        if log is None:
            log = self.logs[tp] = PartitionLog(tconf["segment.bytes"], tconf["segment.ms"], tconf["flush.messages"])
        p = self.parts.get(tp)
        if p is not None:
            self._changed(tp)  # before the followers' state is reset by a new leadership
        if p is None:
            p = self.parts[tp] = Partition(
                tp, log, self.id, min_isr=tconf["min.insync.replicas"],
                strict_min_isr=self.cluster.switches["strict_min_isr"],
            )
        was_leader, old_epoch, old_leader = p.is_leader, p.leader_epoch, p.leader
        p.replicas, p.isr, p.partition_epoch = rec.replicas, rec.isr, rec.partition_epoch
        p.pending_isr = None
        p.leader, p.leader_epoch = rec.leader, rec.leader_epoch
        now = self.world.now
        if p.is_leader:
            if not was_leader or old_epoch != rec.leader_epoch:
                p.become_leader(now)
                self._stop_following(tp, old_leader)
            self._maybe_advance_hw(p)
        else:
            if was_leader:
                self._abort_waiting(p, E.NOT_LEADER_OR_FOLLOWER)
            if old_epoch != rec.leader_epoch or old_leader != rec.leader:
                self._stop_following(tp, old_leader)
                if self.cluster.switches["truncation"] == "high_watermark" and log.leo > log.hw and \
                        rec.leader != NO_LEADER:
                    # pre-KIP-101: a follower of a new leader truncates to its own (possibly stale)
                    # HW (ReplicaManager.makeFollowers; with no leader it only keeps its replica)
                    dropped = log.truncate_to(log.hw)
                    self.world.emit("log.truncate", self.name, topic=tp.topic, partition=tp.partition,
                                    broker=self.id, offset=log.leo, dropped=dropped, reason="high_watermark")
                if rec.leader != NO_LEADER:
                    self._follow(tp, rec.leader)
        self._changed(tp)
        for service in self.services:
            service.on_partition(tp, p)

    # -- following: one fetcher per leader ----------------------------------------------------
    def _follow(self, tp: TopicPartition, leader: int) -> None:
        f = self.fetchers.get(leader)
        if f is None:
            f = self.fetchers[leader] = Fetcher(self, leader)
        f.partitions.add(tp)
        f.changed.add(tp)
        f.kick()  # a fetcher that went idle (no partitions) starts again

    def _stop_following(self, tp: TopicPartition, leader: int) -> None:
        f = self.fetchers.get(leader)
        if f is not None:
            f.partitions.discard(tp)
            f.changed.add(tp)

    # -- produce ------------------------------------------------------------------------------
    def handle_produce(self, req: ProduceRequest, reply: Callable[..., None]) -> None:
        ctx = ProduceContext(req, reply)
        now = self.world.now
        for tp, pb in req.batches.items():
            res = self._append(tp, pb, req, now)
            if isinstance(res, PartitionProduceResponse):
                ctx.results[tp] = res
                continue
            p, required, base = res
            if req.acks != "all":
                ctx.results[tp] = PartitionProduceResponse(NONE, base, p.log.log_start)
            elif p.log.hw >= required:
                ctx.results[tp] = self._produce_result(p, base)
            else:
                ctx.pending += 1
                ctx.results[tp] = PartitionProduceResponse(NONE, base, p.log.log_start)
                p.waiting.append(DelayedProduce(required, ctx))
        if req.acks == "0":
            return  # acks=0: the broker never answers
        if ctx.pending == 0:
            self._respond_produce(ctx)
        else:
            ctx.timer = self.timers.add(req.timeout_ms, self._expire_produce, ctx, self.incarnation)

    def _append(self, tp: TopicPartition, pb: Any, req: ProduceRequest, now: int):
        p = self.parts.get(tp)
        if p is None or not p.is_leader:
            return PartitionProduceResponse(E.NOT_LEADER_OR_FOLLOWER)
        tconf = self.topics[tp.topic].config
        if pb.size > tconf["max.message.bytes"]:
            return PartitionProduceResponse(E.MESSAGE_TOO_LARGE)
        isr_size = len(p.isr)
        if req.acks == "all" and isr_size < p.effective_min_isr:
            return PartitionProduceResponse(E.NOT_ENOUGH_REPLICAS)
        size = pb.size  # checked above as received, compressed (UnifiedLog.analyzeAndValidateRecords)
        codec = tconf.get("compression.type", "producer")
        if pb.compression is not None or codec not in ("producer", "uncompressed"):
            # LogValidator recompresses when the topic's codec differs from the batch's; UnifiedLog.append
            # checks max.message.bytes again on the result
            size = stored_size(size, pb.compression, codec)
            if size > tconf["max.message.bytes"]:
                return PartitionProduceResponse(E.MESSAGE_TOO_LARGE)
        log = p.log
        if pb.control or (pb.producer_id >= 0 and pb.base_sequence < 0):
            # markers and the coordinator's transactional offset commits carry no sequence: epoch check only
            entry = log.producers.entries.get(pb.producer_id)
            if entry is not None and pb.producer_epoch < entry.epoch:
                return PartitionProduceResponse(E.INVALID_PRODUCER_EPOCH)
        elif pb.producer_id >= 0:
            err, dup_base = log.producers.check(pb.producer_id, pb.producer_epoch, pb.base_sequence,
                                               pb.base_sequence + pb.count - 1)
            if err is E.DUPLICATE_SEQUENCE_NUMBER:
                return p, dup_base + pb.count, dup_base  # answered with the original offsets
            if err is not NONE:
                return PartitionProduceResponse(err)
        base = log.leo
        if tconf.get("message.timestamp.type") == "LogAppendTime":
            # KIP-32: the leader stamps the batch with its append time; the producer's timestamps are ignored
            ts_type, first, stamps, max_ts = TIMESTAMP_LOG_APPEND_TIME, -1, None, now
        else:  # CreateTime: the producer's timestamps are kept; the batch carries the largest
            ts_type, first, stamps = TIMESTAMP_CREATE_TIME, pb.created, tuple(pb.stamps) if pb.stamps else None
            max_ts = max([t for _i, t in stamps] + ([first] if stamps[0][0] > 0 else [])) if stamps else first
        batch = RecordBatch(
            base, pb.count, p.leader_epoch, size, max_ts, pb.origin, pb.rec,
            pb.producer_id, pb.producer_epoch, pb.base_sequence, pb.transactional, pb.control,
            keys=tuple(pb.keys) if pb.keys is not None else None,
            values=tuple(pb.values) if pb.values is not None else None,
            headers=tuple(pb.headers) if pb.headers is not None else None,
            timestamp_type=ts_type, first_timestamp=first, stamps=stamps,
        )
        log.append(batch, now)
        self.world.emit("log.append", self.name, topic=tp.topic, partition=tp.partition, offset=base,
                        count=pb.count, leader_epoch=p.leader_epoch, producer=pb.origin, rec=pb.rec,
                        producer_id=pb.producer_id, base_sequence=pb.base_sequence,
                        transactional=pb.transactional, control=pb.control)
        if pb.control:
            for service in self.services:
                service.on_marker(tp, pb.producer_id, pb.control)
            self._changed(tp, wake_consumers=True)  # the LSO may move
        self._changed(tp, wake_followers=True)
        self._maybe_advance_hw(p)
        return p, base + pb.count, base

    def _produce_result(self, p: Partition, base: int) -> PartitionProduceResponse:
        """acks=all, HW reached: Partition.checkEnoughReplicasReachOffset answers
        NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR has meanwhile shrunk below min.insync.replicas."""
        if len(p.isr) < p.effective_min_isr:
            return PartitionProduceResponse(E.NOT_ENOUGH_REPLICAS_AFTER_APPEND, -1)
        return PartitionProduceResponse(NONE, base, p.log.log_start)

    def _complete_waiting(self, p: Partition) -> None:
        hw = p.log.hw
        still = []
        for w in p.waiting:
            if w.ctx.done:
                continue
            if hw >= w.required:
                w.ctx.results[p.tp] = self._produce_result(p, w.ctx.results[p.tp].base_offset)
                w.ctx.pending -= 1
                if w.ctx.pending == 0:
                    self._respond_produce(w.ctx)
            else:
                still.append(w)
        p.waiting = still

    def _abort_waiting(self, p: Partition, error: KafkaError) -> None:
        for w in p.waiting:
            if not w.ctx.done:
                w.ctx.results[p.tp] = PartitionProduceResponse(error)
                w.ctx.pending -= 1
                if w.ctx.pending == 0:
                    self._respond_produce(w.ctx)
        p.waiting = []

    def _expire_produce(self, ctx: ProduceContext, inc: int) -> None:
        if ctx.done or inc != self.incarnation:
            return
        for tp in list(ctx.results):
            p = self.parts.get(tp)
            if p is not None and any(w.ctx is ctx for w in p.waiting):
                ctx.results[tp] = PartitionProduceResponse(E.REQUEST_TIMED_OUT)
                p.waiting = [w for w in p.waiting if w.ctx is not ctx]
        self._respond_produce(ctx)

    def _respond_produce(self, ctx: ProduceContext) -> None:
        ctx.done = True
        if ctx.timer is not None:
            ctx.timer.cancel()
        if ctx.req.client == self.name:  # an internal append (the coordinator's own writes)
            self.world.at(0, ctx.reply, ctx.results)
            return
        for tp, r in ctx.results.items():
            # ProduceResponse.log_append_time: the batch's append time when the topic uses LogAppendTime
            topic = self.topics.get(tp.topic)
            if r.error is NONE and topic is not None and topic.config.get("message.timestamp.type") == "LogAppendTime":
                p = self.parts.get(tp)
                b = p.log.batch_at(r.base_offset) if p is not None and r.base_offset >= 0 else None
                if b is not None:
                    r.log_append_time = b.timestamp
        self.world.net.send(self.name, ctx.req.client, ctx.reply, ctx.results)

    def write_marker(self, tp: TopicPartition, producer_id: int, producer_epoch: int, control: int,
                     on_done: Callable[[KafkaError], None], timeout_ms: int = 5000) -> None:
        """WriteTxnMarkers: append a COMMIT/ABORT control batch as leader (acks=all), then on_done."""
        pb = ProducerBatch(tp, "", 0, self.world.now, count=1, size=BATCH_OVERHEAD + 8, producer_id=producer_id,
                           producer_epoch=producer_epoch, transactional=True, control=control)
        req = ProduceRequest(self.name, "all", timeout_ms, {tp: pb})
        self.handle_produce(req, lambda results: on_done(results[tp].error))

    def handle_write_marker(self, tp: TopicPartition, producer_id: int, producer_epoch: int, control: int,
                            coordinator: str, reply: Callable[..., None]) -> None:
        """WriteTxnMarkers from a transaction coordinator on another broker."""
        self.write_marker(tp, producer_id, producer_epoch, control,
                          lambda err: self.world.net.send(self.name, coordinator, reply, err))

    def append_internal(self, tp: TopicPartition, values: list[Any], on_done: Callable[[KafkaError], None],
                        timeout_ms: int = 5000, producer_id: int = -1, producer_epoch: int = -1,
                        transactional: bool = False) -> None:
        """Append records of an internal topic as its leader, acks=all, then ``on_done(error)``.

        Kafka: the group coordinator's writes to ``__consumer_offsets``
        (``offsets.commit.required.acks=-1``): a commit succeeds once the ISR has it.
        """
        pb = ProducerBatch(tp, "", 0, self.world.now, count=len(values), size=BATCH_OVERHEAD + 64 * len(values),
                           values=list(values), producer_id=producer_id, producer_epoch=producer_epoch,
                           transactional=transactional)
        req = ProduceRequest(self.name, "all", timeout_ms, {tp: pb})
        self.handle_produce(req, lambda results: on_done(results[tp].error))

    # -- high watermark -------------------------------------------------------------------------
    def _maybe_advance_hw(self, p: Partition) -> None:
        hw = p.new_hw(self.world.now, self.conf["replica.lag.time.max.ms"], self.fenced)
        if hw is None:
            return
        p.log.hw = hw
        self.world.emit("hw.advance", self.name, topic=p.tp.topic, partition=p.tp.partition, hw=hw)
        if p.waiting:
            self._complete_waiting(p)
        self._changed(p.tp, wake_consumers=True)

    # -- fetch (in incremental fetch sessions, KIP-227) ------------------------------------------
    def handle_fetch(self, req: FetchRequest, reply: Callable[[FetchResponse], None]) -> None:
        """Answer at once when there are records, an error or a divergence to report (or
        ``max_wait_ms`` is 0); else park the request until news or ``max_wait_ms``
        (``DelayedFetch``: followers wake on appends, consumers on HW or LSO moves)."""
        s = self._session(req)
        if isinstance(s, KafkaError):
            self.world.net.send(self.name, req.client, reply, FetchResponse({}, req.session_id, s))
            return
        data = self._read_session(s)
        urgent = req.max_wait_ms <= 0
        if not urgent:
            for d in data.values():
                if d.batches or d.error is not NONE or d.diverging_epoch:
                    urgent = True
                    break
        if urgent:
            self._respond_fetch(s, data, reply)
            return
        df = s.parked = DelayedFetch(s, reply, self._park_seq)
        self._park_seq += 1
        if not s.id:  # a sessionless fetch waits on its partitions only while parked
            self._register(s, s.partitions)
        df.timer = self.timers.add(req.max_wait_ms, self._complete_fetch, df, self.incarnation)

    def _session(self, req: FetchRequest) -> FetchSession | KafkaError:
        """The request's session, opened, or updated with its changed and forgotten partitions."""
        if req.session_epoch == FINAL_EPOCH:  # sessionless full fetch: every partition, every time
            s = FetchSession(0, req.client, req.replica_id, full=True)
            s.partitions = {tp: CachedPartition(fp) for tp, fp in req.partitions.items()}
            s.dirty = set(s.partitions)
        elif req.session_epoch == INITIAL_EPOCH:  # a full request opens a session, closing the old one
            old = self.session_of.pop(req.client, None)
            if old is not None:
                self._close_session(old)
            s = FetchSession(self._next_session_id, req.client, req.replica_id)
            self._next_session_id += 1
            self.sessions[s.id] = self.session_of[req.client] = s
            self._add_partitions(s, req.partitions)
        else:
            s = self.sessions.get(req.session_id)
            if s is None or s.client != req.client:
                return E.FETCH_SESSION_ID_NOT_FOUND
            if req.session_epoch != s.epoch:
                return E.INVALID_FETCH_SESSION_EPOCH
            s.epoch += 1
            self._forget(s, req.forgotten)
            self._add_partitions(s, req.partitions)
        s.max_bytes, s.isolation_level = req.max_bytes, req.isolation_level
        return s

    def _add_partitions(self, s: FetchSession, parts: dict[TopicPartition, FetchPartition]) -> None:
        fresh = {}
        for tp, fp in parts.items():
            cp = s.partitions.get(tp)
            if cp is None:
                cp = s.partitions[tp] = CachedPartition(fp)
                fresh[tp] = cp
            else:
                if tp not in s.dirty:  # else FetchSession.settle has nothing to do
                    self._settle(s, tp)
                cp.fetch = fp
            s.dirty.add(tp)
        if fresh:
            self._register(s, fresh)

    def _register(self, s: FetchSession, tps: Any) -> None:
        for tp in tps:
            self.sessions_by_tp.setdefault(tp, []).append(s)

    def _forget(self, s: FetchSession, tps: Any) -> None:
        for tp in tps:
            if tp in s.partitions:
                self._settle(s, tp)
                del s.partitions[tp]
                s.dirty.discard(tp)
                self.sessions_by_tp[tp].remove(s)

    def _close_session(self, s: FetchSession) -> None:
        self._forget(s, list(s.partitions))
        self.sessions.pop(s.id, None)
        s.closed = True

    def _settle(self, s: FetchSession, tp: TopicPartition) -> None:
        """Bring the leader's state of a follower up to date with the rounds a clean partition sat out."""
        if s.replica_id >= 0:
            p = self.parts.get(tp)
            if p is not None and p.is_leader:
                s.settle(tp, p.followers.get(s.replica_id))

    def _changed(self, tp: TopicPartition, wake_followers: bool = False, wake_consumers: bool = False) -> None:
        """``tp``'s state here changed: every session holding it has news for its fetcher; wake
        the parked fetches that wait for such news (followers: records; consumers: HW or LSO)."""
        self.unsettled.add(tp)
        sessions = self.sessions_by_tp.get(tp)
        if not sessions:
            return
        woken = []
        for s in sessions:
            if tp not in s.dirty:
                self._settle(s, tp)
                s.dirty.add(tp)
            if s.parked is not None and (wake_followers if s.replica_id >= 0 else wake_consumers):
                woken.append(s.parked)
        if woken:
            woken.sort(key=lambda df: df.seq)
            for df in woken:
                self._complete_fetch(df, self.incarnation)

    def _complete_fetch(self, df: DelayedFetch, inc: int) -> None:
        if df.done or inc != self.incarnation:
            return
        df.done = True
        df.timer.cancel()
        s = df.session
        s.parked = None
        if not s.id:
            for tp in s.partitions:
                self.sessions_by_tp[tp].remove(s)
        if s.closed:  # replaced by a newer session of the same client, which ignores this answer
            self.world.net.send(self.name, s.client, df.reply, FetchResponse({}, s.id, E.FETCH_SESSION_ID_NOT_FOUND))
            return
        self._respond_fetch(s, self._read_session(s), df.reply)

    def _respond_fetch(self, s: FetchSession, data: dict[TopicPartition, FetchPartitionData],
                       reply: Callable[[FetchResponse], None]) -> None:
        """Send what is new; a partition with nothing left to say leaves the session's dirty set."""
        out = {}
        for tp, d in data.items():
            cp = s.partitions[tp]
            if s.full or d.batches or d.error is not NONE or d.diverging_epoch is not None or (
                    d.hw != cp.hw or d.lso != cp.lso or d.log_start != cp.log_start):
                out[tp] = d
                cp.hw, cp.lso, cp.log_start = d.hw, d.lso, d.log_start
        if s.id:
            for tp, d in data.items():
                if self._quiet(s, tp, d):
                    s.dirty.discard(tp)
        self.world.net.send(self.name, s.client, reply, FetchResponse(out, s.id))

    def _quiet(self, s: FetchSession, tp: TopicPartition, d: FetchPartitionData) -> bool:
        """Whether the fetcher has been told everything about ``tp`` and has nothing to fetch, so
        that further rounds change nothing until ``tp`` changes (see :meth:`_changed`)."""
        if d.error is not NONE or d.diverging_epoch is not None:
            return False
        p = self.parts.get(tp)
        if p is None or not p.is_leader:
            return False
        log, cp = p.log, s.partitions[tp]
        if cp.hw != log.hw or cp.log_start != log.log_start:
            return False
        fp = cp.fetch
        if s.replica_id < 0:
            upper = log.lso if s.isolation_level == "read_committed" else log.hw
            return cp.lso == log.lso and fp.offset >= upper
        f = p.followers.get(s.replica_id)
        return (f is not None and f.leo == log.leo == fp.offset and p.pending_isr is None
                and not p.hw_waits_on_time(self.world.now, self.conf["replica.lag.time.max.ms"], self.fenced))

    def _read_session(self, s: FetchSession) -> dict[TopicPartition, FetchPartitionData]:
        """Read the session's partitions with news (all of them for a sessionless fetch), in
        partition order, within the request's ``max_bytes``."""
        now = self.world.now
        budget = s.max_bytes
        out: dict[TopicPartition, FetchPartitionData] = {}
        for tp in sorted(s.dirty):
            d = out[tp] = self._read_partition(s, tp, s.partitions[tp].fetch, now, budget)
            for b in d.batches:
                budget -= b.size
        s.last_fetch_time = now
        return out

    def _read_partition(self, s: FetchSession, tp: TopicPartition, fp: FetchPartition, now: int,
                        budget: int) -> FetchPartitionData:
        p = self.parts.get(tp)
        if p is None or not p.is_leader:
            return FetchPartitionData(E.NOT_LEADER_OR_FOLLOWER)
        if fp.current_leader_epoch >= 0 and fp.current_leader_epoch != p.leader_epoch:
            err = E.FENCED_LEADER_EPOCH if fp.current_leader_epoch < p.leader_epoch else E.UNKNOWN_LEADER_EPOCH
            return FetchPartitionData(err)
        if s.replica_id >= 0:
            return self._read_follower(p, s.replica_id, fp, now, budget)
        log = p.log
        committed = s.isolation_level == "read_committed"
        lso = log.lso
        upper = lso if committed else log.hw
        if fp.offset < log.log_start or fp.offset > log.leo:
            return FetchPartitionData(E.OFFSET_OUT_OF_RANGE, log.hw, lso, log.log_start)
        # (log.read has nothing at or past ``upper``: not called then)
        batches = log.read(fp.offset, upper, min(fp.max_bytes, budget)) if budget > 0 and fp.offset < upper else []
        aborted = log.aborted_in(fp.offset, upper) if committed and batches else []
        return FetchPartitionData(NONE, log.hw, lso, log.log_start, batches, aborted=aborted)

    def _read_follower(self, p: Partition, replica: int, fp: FetchPartition, now: int,
                       budget: int) -> FetchPartitionData:
        log = p.log
        if self.cluster.switches["truncation"] == "leader_epoch" and fp.last_fetched_epoch >= 0:
            epoch, end = log.end_offset_for_epoch(fp.last_fetched_epoch)
            if epoch != fp.last_fetched_epoch or end < fp.offset:
                return FetchPartitionData(NONE, log.hw, log.hw, log.log_start, diverging_epoch=(epoch, end))
        if fp.offset < log.log_start or fp.offset > log.leo:
            return FetchPartitionData(E.OFFSET_OUT_OF_RANGE, log.hw, log.hw, log.log_start)
        if p.update_follower(replica, fp.offset, now).leo != log.leo:
            self.unsettled.add(p.tp)
        if p.pending_isr is None and replica not in p.isr and p.can_join_isr(replica):
            self._alter_isr(p, tuple(sorted((*p.isr, replica))))
        self._maybe_advance_hw(p)
        leo = log.leo
        batches = log.read(fp.offset, leo, min(fp.max_bytes, budget)) if budget > 0 and fp.offset < leo else []
        return FetchPartitionData(NONE, log.hw, log.hw, log.log_start, batches)

    # -- ISR changes (leader-driven, committed by the controller) --------------------------------
    # -- retention (cleanup.policy=delete) ------------------------------------------------------------
    def _retention(self, inc: int) -> None:
        """Every log.retention.check.interval.ms, each replica deletes its oldest whole segments
        past ``retention.ms`` (by their largest timestamp), then those beyond ``retention.bytes``,
        whether or not anyone consumed them. Kafka: ``UnifiedLog.deleteOldSegments`` — a segment
        goes only if it lies wholly below the high watermark, so the active segment goes only
        once all of it is old enough (then Kafka rolls a new, empty one)."""
        if inc != self.incarnation or not self.alive:
            return
        now = self.world.now
        for tp in sorted(self.parts):
            cfg = self.topics[tp.topic].config
            if "delete" not in str(cfg.get("cleanup.policy", "delete")):
                continue
            log = self.parts[tp].log
            ms, max_bytes = cfg["retention.ms"], cfg["retention.bytes"]
            # nothing can go while the oldest batch is young enough and the log small enough
            if not log.batches or ((ms < 0 or now - log.batches[0].timestamp <= ms)
                                   and (max_bytes < 0 or log.size <= max_bytes)):
                continue
            before = log.log_start
            spans = log.segment_spans()
            k = 0
            # deleteRetentionMsBreachedSegments, then deleteRetentionSizeBreachedSegments
            while ms >= 0 and k < len(spans) and _deletable(spans[k], log) and now - spans[k][3] > ms:
                k += 1
            excess = log.size - sum(sp[2] for sp in spans[:k]) - max_bytes
            while max_bytes >= 0 and k < len(spans) and _deletable(spans[k], log) and excess - spans[k][2] >= 0:
                excess -= spans[k][2]
                k += 1
            if k:
                log.delete_before(spans[k - 1][1])
            if log.log_start > before:
                self.world.emit("log.retention", self.name, topic=tp.topic, partition=tp.partition,
                                broker=self.id, log_start=log.log_start)
                self._changed(tp)
        self.world.at(self.conf["log.retention.check.interval.ms"], self._retention, inc)

    def _schedule_isr_check(self, inc: int) -> None:
        lag = self.conf["replica.lag.time.max.ms"]
        self.world.at(lag // 2, self._isr_check, inc)

    def _isr_check(self, inc: int) -> None:
        if inc != self.incarnation or not self.alive:
            return
        now = self.world.now
        lag = self.conf["replica.lag.time.max.ms"]
        # a partition whose followers were all caught up when last looked at, and that has not
        # changed since, cannot have fallen out of sync: only the others are walked
        for tp in sorted(self.unsettled):
            p = self.parts.get(tp)
            if p is None or not p.is_leader:
                self.unsettled.discard(tp)
                continue
            if p.pending_isr is not None:
                if now - p.pending_since < REPLICA_SOCKET_TIMEOUT_MS:
                    continue
            elif p.in_sync():
                self.unsettled.discard(tp)
                continue
            out = p.out_of_sync(now, lag)
            if out:
                self._alter_isr(p, tuple(r for r in p.isr if r not in out))
        self._schedule_isr_check(inc)

    def _alter_isr(self, p: Partition, new_isr: tuple[int, ...]) -> None:
        self.unsettled.add(p.tp)
        p.pending_isr = new_isr
        p.pending_since = self.world.now
        ctl = self.cluster.controller
        req = AlterPartition(self.id, p.tp, p.leader_epoch, p.partition_epoch, new_isr)
        self.world.net.send(self.name, ctl.name, ctl.handle_alter_partition, req)

    def alter_partition_failed(self, tp: TopicPartition) -> None:
        p = self.parts.get(tp)
        if p is not None:
            p.pending_isr = None
            self._changed(tp)

    # -- other requests ---------------------------------------------------------------------------
    def handle_metadata(self, client: str, reply: Callable[..., None]) -> None:
        leaders = {tp: (r.leader, r.leader_epoch) for tp, r in self.meta.items()}
        self.world.net.send(self.name, client, reply, dict(self.topics), leaders)

    def handle_init_producer_id(self, client: str, reply: Callable[..., None]) -> None:
        """InitProducerId for an idempotent producer: a fresh id at epoch 0.

        Simplified: the broker takes the id straight from the controller's counter (Kafka
        allocates blocks of ids to brokers through the controller).
        """
        pid = self.cluster.controller.allocate_producer_id()
        self.world.net.send(self.name, client, reply, pid, 0)

    def handle_offsets_for_epoch(self, client: str, tp: TopicPartition, epoch: int,
                                 reply: Callable[..., None]) -> None:
        """OffsetsForLeaderEpoch: (largest epoch <= ``epoch``, its end offset) on this leader."""
        p = self.parts.get(tp)
        if p is None or not p.is_leader:
            self.world.net.send(self.name, client, reply, E.NOT_LEADER_OR_FOLLOWER, -1, -1)
            return
        e, end = p.log.end_offset_for_epoch(epoch)
        self.world.net.send(self.name, client, reply, NONE, e, end)

    def handle_list_offsets(self, client: str, tp: TopicPartition, which: str,
                            reply: Callable[..., None]) -> None:
        p = self.parts.get(tp)
        if p is None or not p.is_leader:
            self.world.net.send(self.name, client, reply, tp, E.NOT_LEADER_OR_FOLLOWER, -1, -1)
            return
        # "latest" is the high watermark for read_uncommitted consumers, the LSO for read_committed
        high = p.log.lso if which.endswith(":read_committed") else p.log.hw
        self.world.net.send(self.name, client, reply, tp, NONE, p.log.log_start, high)


class Fetcher:
    """A follower's fetch loop against one leader (Kafka's ``ReplicaFetcherThread``), in one
    incremental fetch session: each request carries only the partitions whose position moved."""

    def __init__(self, broker: Broker, leader: int) -> None:
        self.broker = broker
        self.leader = leader
        self.partitions: set[TopicPartition] = set()
        self.changed: set[TopicPartition] = set()  # position or membership changed since the last request
        self.session = FetchSessionHandler()
        self.inc = broker.incarnation
        self.running = False
        self.attempt = 0

    def kick(self) -> None:
        if not self.running:
            self.running = True
            self.broker.world.at(0, self._fetch)

    def _position(self, tp: TopicPartition) -> FetchPartition | None:
        p = self.broker.parts.get(tp)
        if tp not in self.partitions or p is None or p.leader != self.leader:
            return None
        return FetchPartition(p.log.leo, p.leader_epoch, p.log.last_epoch(),
                              self.broker.conf["replica.fetch.max.bytes"])

    def _fetch(self) -> None:
        b = self.broker
        if self.inc != b.incarnation or not b.alive:
            return
        session = self.session
        names = self.partitions if session.epoch == INITIAL_EPOCH else self.changed
        parts, forgotten = session.request({tp: self._position(tp) for tp in sorted(names)})
        self.changed = set()
        if not session.sent:
            self.running = False
            return
        leader = b.cluster.brokers[self.leader]
        req = FetchRequest(b.id, b.name, b.conf["replica.fetch.wait.max.ms"], parts,
                           max_bytes=b.conf.get("replica.fetch.response.max.bytes", 10485760),
                           session_id=session.session_id, session_epoch=session.epoch,
                           forgotten=tuple(forgotten))
        self.attempt += 1
        attempt = self.attempt
        if not b.nc.send(leader.name, leader.handle_fetch, req, lambda resp: self._on_response(attempt, resp),
                         on_error=lambda _err: self._failed(attempt)):
            b.world.at(REPLICA_FETCH_BACKOFF_MS, self._retry, attempt)

    def _failed(self, attempt: int) -> None:
        """Timed out or disconnected: a new session after replica.fetch.backoff.ms
        (Kafka: ``handlePartitionsWithErrors``, ``FetchSessionHandler.handleError``)."""
        if attempt == self.attempt:
            self.session.reset()
            self.broker.world.at(REPLICA_FETCH_BACKOFF_MS, self._retry, attempt)

    def _retry(self, attempt: int) -> None:
        if attempt == self.attempt:  # no answer to that request: try again, in a new session
            self.session.reset()
            self._fetch()

    def _on_response(self, attempt: int, resp: FetchResponse) -> None:
        b = self.broker
        if attempt != self.attempt or self.inc != b.incarnation:
            return
        self.attempt += 1
        world = b.world
        now = world.now
        self.session.handle_response(resp.session_id, resp.error is NONE)
        backoff = resp.error is not NONE
        for tp, d in resp.partitions.items():
            p = b.parts.get(tp)
            if p is None or p.leader != self.leader or tp not in self.partitions:
                continue
            self.changed.add(tp)
            log = p.log
            if d.diverging_epoch is not None:
                self._truncate(p, d.diverging_epoch)
                continue
            if d.error is not NONE:
                if d.error is E.OFFSET_OUT_OF_RANGE and log.leo < d.log_start:
                    log.reset_to(d.log_start)
                    world.emit("log.truncate", b.name, topic=tp.topic, partition=tp.partition, broker=b.id,
                               offset=log.leo, dropped=0, reason="out_of_range")
                else:
                    backoff = True
                continue
            appended = False
            for batch in d.batches:
                if batch.base_offset == log.leo:
                    log.append(batch, now)
                    appended = True
            new_hw = min(d.hw, log.leo)
            if new_hw > log.hw:
                log.hw = new_hw
            if appended:
                world.emit("replica.leo", b.name, topic=tp.topic, partition=tp.partition, broker=b.id,
                           leo=log.leo, hw=log.hw)
        if backoff:
            world.at(REPLICA_FETCH_BACKOFF_MS, self._fetch)
        else:
            self._fetch()

    def _truncate(self, p: Partition, diverging: tuple[int, int]) -> None:
        """Truncate to where this log diverges from the leader's (KIP-101/279, Kafka 2.7+ style)."""
        log = p.log
        epoch, end = diverging
        if epoch < 0:
            target = log.log_start
        else:
            my_epoch, my_end = log.end_offset_for_epoch(epoch)
            target = min(end, my_end) if my_epoch == epoch else my_end
            if my_epoch < 0:
                target = log.log_start
        target = min(target, log.leo)
        dropped = log.truncate_to(target)
        if target < log.hw:
            log.hw = target
        self.broker.world.emit("log.truncate", self.broker.name, topic=p.tp.topic, partition=p.tp.partition,
                               broker=self.broker.id, offset=log.leo, dropped=dropped, reason="leader_epoch")


__all__ = ["BATCH_OVERHEAD", "Broker", "Fetcher"]


def _deletable(span: tuple[int, int, int, int], log: PartitionLog) -> bool:
    """Kafka's ``deletableSegments``: wholly below the high watermark and not an empty last segment."""
    _base, upper, size, _ts = span
    return upper <= log.hw and size > 0
