"""The consumer, shaped like confluent-kafka's ``Consumer`` (standalone assignment for now).

``Consumer(conf, cluster)``; ``assign``, ``poll``, ``consume``, ``seek``, ``position``,
``get_watermark_offsets``, ``close``. Calls that wait in simulated time return an event to
``yield``: ``msg = yield consumer.poll(1.0)``.

Kafka: ``KafkaConsumer`` / ``Fetcher`` / ``SubscriptionState``. A consumer fetches from
each partition's leader, from its position, and receives only records below the high
watermark; a position with no offset is reset per ``auto.offset.reset``; after a leader
change it validates its position against the new leader's epochs (KIP-320) and resets to
the divergence point when the log it read was truncated.
Fetches run in an incremental fetch session per broker (KIP-227): a request names only the
partitions whose position changed, or that it stops fetching (buffered, paused, revoked).
Simplified: one fetch in flight per broker; records are returned at most one partition
chunk at a time per internal step; consumer groups come with the group coordinator.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kafkasim.clients.metadata import ClientMetadata
from kafkasim.clients.network_client import NetworkClient
from kafkasim.cluster.fetch_session import FetchSessionHandler
from kafkasim.cluster.log import CONTROL_ABORT
from kafkasim.cluster.protocol import (
    FetchPartition,
    FetchPartitionData,
    FetchRequest,
    FetchResponse,
)
from kafkasim.errors import KafkaError, KafkaException
from kafkasim.records import (
    CORRELATION_HEADER,
    OFFSET_BEGINNING,
    OFFSET_END,
    Message,
    TopicPartition,
    header_value,
)

if TYPE_CHECKING:
    import simpy

    from kafkasim.cluster.cluster import Cluster
    from kafkasim.cluster.log import RecordBatch

E = KafkaError
NONE = KafkaError.NONE  # a module constant: looking an enum member up costs ~80 ns (Python 3.11)


@dataclass(slots=True)
class Chunk:
    """Consecutive records of one batch handed to the application: offsets [offset, offset+count)."""

    tp: TopicPartition
    batch: RecordBatch | None
    offset: int
    count: int
    skip_to: int = -1  # a gap (transaction markers, aborted records): move the position, return nothing

    def messages(self) -> list[Message]:
        b = self.batch
        i0 = self.offset - b.base_offset
        out = []
        for i in range(i0, i0 + self.count):
            out.append(Message(
                self.tp.topic, self.tp.partition, b.base_offset + i,
                b.keys[i] if b.keys is not None else None,
                b.values[i] if b.values is not None else None,
                b.record_timestamp(i), b.headers[i] if b.headers is not None else None, None, b.leader_epoch,
                rid=f"{b.origin}:{self.tp}:{b.rec + i}", _timestamp_type=b.timestamp_type,
            ))
        return out

    def correlation_ids(self) -> list[str | None] | None:
        """The records' ``correlation_id`` header values, or None when none of them has one."""
        b = self.batch
        if b is None or b.headers is None:
            return None
        i0 = self.offset - b.base_offset
        ids = [header_value(b.headers[i], CORRELATION_HEADER) for i in range(i0, i0 + self.count)]
        return ids if any(x is not None for x in ids) else None


def next_offsets(chunks: list[Chunk]) -> list[tuple[TopicPartition, int]]:
    """The offsets to commit after processing ``chunks``: per partition, one past the last record."""
    nxt: dict[TopicPartition, int] = {}
    for ch in chunks:
        nxt[ch.tp] = max(nxt.get(ch.tp, 0), ch.offset + ch.count)
    return sorted(nxt.items())


@dataclass
class PartitionFetchState:
    position: int | None = None  # next offset to return to the application
    fetch_offset: int | None = None  # next offset to fetch (ahead of position by what is buffered)
    last_epoch: int = -1  # leader epoch of the last record returned (for truncation detection)
    leader_epoch_seen: int = -1
    validating: bool = False
    resetting: bool = False
    fetching_committed: bool = False
    hw: int = -1
    log_start: int = -1
    paused: bool = False


class Consumer:
    """A Kafka consumer client on the simulated network."""

    def __init__(self, conf: dict[str, Any], cluster: Cluster, name: str | None = None) -> None:
        from kafkasim.config import resolve

        conf = resolve("consumer", {k: v for k, v in (conf or {}).items() if k != "bootstrap.servers"},
                       "consumer")
        self.conf = conf
        self.cluster = cluster
        self.name = name or conf.get("client.id") or "consumer"
        self.world = cluster.world.for_node(self.name)  # its own clock stops while it is paused
        self.group_id: str | None = conf.get("group.id")
        if self.world.net.has_node(self.name):  # a restarted application reuses its node
            if not self.world.net.node(self.name).alive:
                self.world.net.restart(self.name)
        else:
            self.world.net.add_node(self.name, "consumer")
        self.nc = NetworkClient(self.world, self.name, conf["request.timeout.ms"],
                                reconnect_backoff_ms=conf["reconnect.backoff.ms"],
                                reconnect_backoff_max_ms=conf["reconnect.backoff.max.ms"])
        self.metadata = ClientMetadata(cluster, self.nc, conf.get("retry.backoff.ms", 100), self._kick,
                                       conf["metadata.max.age.ms"])
        self.state: dict[TopicPartition, PartitionFetchState] = {}
        self.buffer: deque[Chunk] = deque()
        self._inflight: set[int] = set()
        self._waiters: list[simpy.Event] = []
        self._inc = 0
        self.closed = False
        self._sessions: dict[int, FetchSessionHandler] = {}  # broker id -> our fetch session there
        self._timers = self.world.timers()  # fetch and poll deadlines, nearly all cancelled
        self.group: Any = None  # GroupMember once subscribed
        self._errors: deque[Message] = deque()  # errors for the application's next poll
        self._stored: dict[TopicPartition, int] = {}
        self.metadata.bootstrap()

    def __repr__(self) -> str:
        return f"Consumer({self.name!r}, assignment={sorted(self.state)})"

    # -- group membership ---------------------------------------------------------------------------
    def subscribe(self, topics: list[str], on_assign: Any = None, on_revoke: Any = None,
                  on_lost: Any = None) -> None:
        """Join the consumer group ``group.id`` for ``topics``; partitions come from its assignor.

        Callbacks are called as confluent-kafka calls them: ``on_assign(consumer, partitions)``
        (always, possibly empty; the newly added partitions under cooperative rebalancing),
        ``on_revoke(consumer, partitions)`` and ``on_lost(consumer, partitions)`` (non-empty).
        """
        if self.group_id is None:
            raise KafkaException(E._STATE, "subscribe() needs a group.id")
        if self.group is None:
            from kafkasim.group.membership import GroupMember

            self.group = GroupMember(self)
        self.group.subscribe(list(topics), on_assign, on_revoke, on_lost)

    def consumer_group_metadata(self) -> dict[str, Any]:
        """What send_offsets_to_transaction needs to fence a zombie of an older generation (KIP-447):
        the generation and member id of the last completed join, as Java's ``groupMetadata()``."""
        g = self.group
        return {"group_id": self.group_id, "generation": g.joined_generation if g else -1,
                "member_id": g.joined_member_id if g else "", "group_instance_id": self.conf.get("group.instance.id")}

    def in_poll(self) -> bool:
        """Is the application blocked in poll() right now (so rebalances can proceed)?"""
        return bool(self._waiters)

    def _member(self) -> Any:
        """The group client: made on subscribe, or on first use by an assign()ed consumer with a
        group.id (which commits and reads committed offsets without joining: Kafka's standalone
        consumer)."""
        if self.group is None:
            from kafkasim.group.membership import GroupMember

            self.group = GroupMember(self)
        return self.group

    def positions(self) -> dict[TopicPartition, int]:
        """Offsets to commit for the assignment: stored offsets, else positions."""
        out = {}
        for tp, st in self.state.items():
            off = self._stored.get(tp, st.position)
            if off is not None:
                out[tp] = off
        return out

    def commit(self, message: Message | None = None, offsets: list[Any] | None = None,
               asynchronous: bool = True) -> simpy.Event:
        """Commit offsets (next offset to read): of ``message`` (+1), ``offsets`` [(tp, offset)],
        or every assigned partition's position. The event yields None or the KafkaError."""
        ev = self.world.event()
        if message is not None:
            to_commit = {TopicPartition(message.topic(), message.partition()): message.offset() + 1}
        elif offsets is not None:
            to_commit = {TopicPartition(*o[0][:2]) if isinstance(o[0], tuple) else TopicPartition(o[0], o[1]):
                         o[-1] for o in offsets}
        else:
            to_commit = self.positions()
        if self.group_id is None:
            ev.fail(KafkaException(E._STATE, "commit() needs a group.id"))
            return ev
        self._member().commit(to_commit, reason="sync" if not asynchronous else "async", event=ev)
        return ev

    def store_offsets(self, message: Message | None = None, offsets: list[Any] | None = None) -> None:
        """Store offsets for the next commit (auto or argument-less) instead of the positions."""
        if message is not None:
            self._stored[TopicPartition(message.topic(), message.partition())] = message.offset() + 1
        for tp, off in offsets or ():
            self._stored[TopicPartition(*tp[:2])] = off

    def committed(self, partitions: list[TopicPartition], timeout: float | None = None) -> simpy.Event:
        """Event yielding [(tp, committed offset or -1001)] from the group coordinator."""
        ev = self.world.event()
        tps = [TopicPartition(*tp[:2]) for tp in partitions]
        self._member().fetch_committed(tps, lambda offs: ev.triggered or ev.succeed(
            [(tp, offs.get(tp, -1) if offs.get(tp, -1) >= 0 else -1001) for tp in tps]))
        return ev

    def pause(self, partitions: list[TopicPartition]) -> None:
        """Stop fetching these partitions (buffered records are dropped), as confluent-kafka's pause()."""
        gone = {TopicPartition(*tp[:2]) for tp in partitions}
        for tp in gone:
            if tp in self.state:
                self.state[tp].paused = True
        self.buffer = deque(c for c in self.buffer if c.tp not in gone)

    def resume(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            st = self.state.get(TopicPartition(*tp[:2]))
            if st is not None:
                st.paused = False
        self._kick()

    def rewind_to_committed(self) -> None:
        """Forget positions: every assigned partition restarts from the group's committed offset."""
        for st in self.state.values():
            st.position = st.fetch_offset = None
        self.buffer.clear()
        self._kick()

    def incremental_assign(self, partitions: list[TopicPartition]) -> None:
        self._add_partitions([TopicPartition(*tp[:2]) for tp in partitions])

    def incremental_unassign(self, partitions: list[TopicPartition]) -> None:
        self._remove_partitions([TopicPartition(*tp[:2]) for tp in partitions])

    def _add_partitions(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            if tp not in self.state:
                self.state[tp] = PartitionFetchState()
        self._kick()

    def _remove_partitions(self, partitions: list[TopicPartition]) -> None:
        gone = set(partitions)
        for tp in gone:
            self.state.pop(tp, None)
            self._stored.pop(tp, None)
        self.buffer = deque(c for c in self.buffer if c.tp not in gone)

    # -- assignment and positions ----------------------------------------------------------------
    def assign(self, partitions: list[TopicPartition]) -> None:
        """Replace the assignment; positions start unknown: the group's committed offset when there
        is a group.id and one was committed, else auto.offset.reset."""
        tps = [TopicPartition(*tp[:2]) for tp in partitions]
        self.state = {tp: self.state.get(tp, PartitionFetchState()) for tp in tps}
        self.buffer = deque(c for c in self.buffer if c.tp in self.state)
        self.world.emit("consumer.assign", self.name, consumer=self.name,
                        partitions=[[tp.topic, tp.partition] for tp in sorted(tps)])
        self._kick()

    def assignment(self) -> list[TopicPartition]:
        return sorted(self.state)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Move the position (``OFFSET_BEGINNING`` / ``OFFSET_END`` reset through the policy)."""
        st = self.state.get(TopicPartition(*tp[:2]))
        if st is None:
            raise KafkaException(E._STATE, f"{tp} is not assigned")
        self.buffer = deque(c for c in self.buffer if c.tp != tp)
        if offset in (OFFSET_BEGINNING, OFFSET_END):
            st.position = st.fetch_offset = None
            self._reset(tp, "earliest" if offset == OFFSET_BEGINNING else "latest")
        else:
            st.position = st.fetch_offset = offset
            self.world.emit("consumer.seek", self.name, consumer=self.name, topic=tp.topic,
                            partition=tp.partition, offset=offset, reason="seek")
        self._kick()

    def position(self, partitions: list[TopicPartition]) -> list[tuple[TopicPartition, int]]:
        """Next offset to be returned per partition (-1001, OFFSET_INVALID, when unknown)."""
        out = []
        for tp in partitions:
            st = self.state.get(TopicPartition(*tp[:2]))
            out.append((tp, st.position if st and st.position is not None else -1001))
        return out

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float | None = None,
                              cached: bool = False) -> simpy.Event:
        """Event yielding (low, high): the log start offset and the high watermark."""
        tp = TopicPartition(*tp[:2])
        ev = self.world.event()
        if cached:
            st = self.state.get(tp)
            ev.succeed((st.log_start, st.hw) if st else (-1, -1))
            return ev
        leader = self.metadata.leader(tp)
        if leader < 0:
            ev.fail(KafkaException(E.LEADER_NOT_AVAILABLE, str(tp)))
            return ev
        b = self.cluster.brokers[leader]

        def reply(_tp: TopicPartition, err: KafkaError, low: int, high: int) -> None:
            if ev.triggered:
                return
            if err is NONE:
                ev.succeed((low, high))
            else:
                ev.fail(KafkaException(err, str(tp)))

        if not self.nc.send(b.name, b.handle_list_offsets, self.name, tp, f"latest:{self.conf['isolation.level']}",
                            reply, timeout_ms=int((timeout or self.conf["request.timeout.ms"] / 1000) * 1000),
                            on_error=lambda err: ev.triggered or ev.fail(KafkaException(err, str(tp)))):
            ev.fail(KafkaException(E.NETWORK_EXCEPTION, b.name))
        return ev

    # -- polling --------------------------------------------------------------------------------
    def poll(self, timeout: float | None = None) -> simpy.Event:
        """Event yielding one Message, or None after ``timeout`` seconds without one."""
        ev = self.world.event()
        if self.group is not None:
            self.group.poll_hook()
        self._wait(ev, timeout, lambda: self.take_chunks(1))
        return ev

    def consume(self, num_messages: int = 1, timeout: float | None = -1) -> simpy.Event:
        """Event yielding a list of up to ``num_messages`` Messages (may be empty after ``timeout``)."""
        ev = self.world.event()
        if self.group is not None:
            self.group.poll_hook()
        self._wait(ev, None if timeout is None or timeout < 0 else timeout, lambda: self.take_chunks(num_messages),
                   as_list=True)
        return ev

    def poll_chunks(self, max_records: int | None = None, timeout: float | None = None) -> simpy.Event:
        """Event yielding a list of :class:`Chunk` (kafkasim's batch-granular poll, no Message objects)."""
        ev = self.world.event()
        if self.group is not None:
            self.group.poll_hook()
        limit = max_records or self.conf["max.poll.records"]
        self._wait(ev, timeout, lambda: self.take_chunks(limit), raw=True)
        return ev

    def _wait(self, ev: simpy.Event, timeout: float | None, take: Any, as_list: bool = False,
              raw: bool = False) -> None:
        timer: list[Any] = []  # the poll's timeout, cancelled once it returns records

        def attempt() -> bool:
            if ev.triggered:
                return True
            if self._errors and not raw:
                err = self._errors.popleft()
                ev.succeed([err] if as_list else err)
            else:
                chunks = take()
                if not chunks:
                    return False
                if raw:
                    ev.succeed(chunks)
                else:
                    msgs = [m for c in chunks for m in c.messages()]
                    ev.succeed(msgs if as_list else msgs[0])
            for t in timer:
                t.cancel()
            return True

        if attempt():
            return
        self._waiters.append(attempt)  # type: ignore[arg-type]
        if timeout is not None:
            def expire() -> None:
                if not ev.triggered:
                    ev.succeed([] if (as_list or raw) else None)
                if attempt in self._waiters:
                    self._waiters.remove(attempt)  # the application is no longer in poll()
            timer.append(self._timers.add(int(timeout * 1000), expire))
        self._kick()

    def take_chunks(self, max_records: int) -> list[Chunk]:
        """Move up to ``max_records`` buffered records to the application, advancing positions."""
        out: list[Chunk] = []
        skipped = False
        left = max_records
        while self.buffer and left > 0:
            c = self.buffer[0]
            st = self.state.get(c.tp)
            if st is None or st.position is None or c.offset != st.position:
                self.buffer.popleft()  # stale (seek, reset or reassignment since it was fetched)
                continue
            if c.skip_to >= 0:
                self.buffer.popleft()
                st.position = c.skip_to
                skipped = True
                continue
            if c.count > left:
                part = Chunk(c.tp, c.batch, c.offset, left)
                self.buffer[0] = Chunk(c.tp, c.batch, c.offset + left, c.count - left)
                c = part
            else:
                self.buffer.popleft()
            st.position = c.offset + c.count
            st.last_epoch = c.batch.leader_epoch
            left -= c.count
            out.append(c)
            b = c.batch
            i0 = c.offset - b.base_offset
            extra = {}
            if b.headers is not None:
                ids = c.correlation_ids()
                if ids is not None:
                    extra["correlation_ids"] = ids  # only for records that carry one: the trace stays lean
            self.world.emit("consume", self.name, consumer=self.name, group=self.group_id, topic=c.tp.topic,
                            partition=c.tp.partition, offset=c.offset, count=c.count, producer=b.origin,
                            rec=b.rec + i0, isolation=self.conf["isolation.level"],
                            timestamp=b.oldest_timestamp(i0, i0 + c.count), **extra)
        if out or skipped:
            self._send_fetches()
        return out

    def close(self) -> simpy.Event:
        """Leave the group (commit first with auto-commit; static members send no LeaveGroup)."""
        if self.group is not None and not self.closed:
            self.group.close()
        self.closed = True
        self._inc += 1
        ev = self.world.event()
        ev.succeed(None)
        return ev

    def crash(self) -> None:
        """The process dies: no commit, no LeaveGroup; the coordinator notices after session.timeout.ms."""
        if self.group is not None:
            self.group.crashed()
        self.world.net.crash(self.name)
        self.nc.shutdown()  # a dead process hears no answers and reports nothing (not its commits either)
        self.world.emit("client.crash", self.name, client=self.name)
        self.closed = True
        self._inc += 1

    # -- fetching -------------------------------------------------------------------------------
    def _kick(self) -> None:
        """Serve waiting polls, then send fetches to leaders with nothing in flight."""
        if self.closed:
            return
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            still = [w for w in waiters if not w()]  # type: ignore[operator]
            self._waiters = still + self._waiters
        self._send_fetches()

    def _send_fetches(self) -> None:
        if self.closed:
            return
        buffered = {c.tp for c in self.buffer} if self.buffer else ()
        by_leader: dict[int, dict[TopicPartition, FetchPartition]] = {}
        need_metadata = False
        leaders = self.metadata.leaders
        inflight = self._inflight
        max_bytes = self.conf["max.partition.fetch.bytes"]
        for tp in sorted(self.state):
            st = self.state[tp]
            if st.paused or st.resetting or st.validating or st.fetching_committed or tp in buffered:
                continue
            leader, epoch = leaders.get(tp, (-1, -1))
            if leader in inflight and st.position is not None and st.leader_epoch_seen == epoch:
                continue  # the common case: nothing to do until that leader answers
            if leader < 0:
                need_metadata = True
                continue
            if st.position is None:
                if self.group_id is not None:  # Java: refreshCommittedOffsetsIfNeeded, for assign() too
                    self._fetch_committed(tp, st)
                else:
                    self._reset(tp, self.conf["auto.offset.reset"])
                continue
            if st.leader_epoch_seen >= 0 and epoch > st.leader_epoch_seen and st.last_epoch >= 0:
                self._validate(tp, st, leader)
                continue
            st.leader_epoch_seen = epoch
            if leader in inflight:
                continue
            st.fetch_offset = st.position
            by_leader.setdefault(leader, {})[tp] = FetchPartition(st.position, epoch, -1, max_bytes)
        for leader, parts in by_leader.items():
            self._fetch(leader, parts)
        if need_metadata:
            self.metadata.refresh()
            self.world.at(self.metadata.backoff_ms, self._kick_inc, self._inc)

    def _kick_inc(self, inc: int) -> None:
        if inc == self._inc:
            self._kick()

    def _fetch(self, leader: int, parts: dict[TopicPartition, FetchPartition]) -> None:
        b = self.cluster.brokers[leader]
        session = self._sessions.setdefault(leader, FetchSessionHandler())
        changed, forgotten = session.diff(parts)
        req = FetchRequest(-1, self.name, self.conf["fetch.max.wait.ms"], changed,
                           self.conf["fetch.max.bytes"], self.conf["isolation.level"],
                           session_id=session.session_id, session_epoch=session.epoch,
                           forgotten=tuple(forgotten))
        self._inflight.add(leader)
        state = {"done": False}
        inc = self._inc

        def on_response(resp: FetchResponse | None) -> None:
            if state["done"] or inc != self._inc:
                return
            state["done"] = True
            self._inflight.discard(leader)
            session.handle_response(resp.session_id if resp else 0, resp is not None and resp.error is NONE)
            self._on_fetch(leader, parts, resp.partitions if resp is not None else None)

        if not self.nc.send(b.name, b.handle_fetch, req, on_response, on_error=lambda _err: on_response(None)):
            self.world.at(self.conf.get("retry.backoff.ms", 100), on_response, None)

    def _on_fetch(self, leader: int, parts: dict[TopicPartition, FetchPartition],
                  data: dict[TopicPartition, FetchPartitionData] | None) -> None:
        if data is None:
            self.metadata.refresh()
            self._kick()
            return
        refresh = False
        for tp, d in data.items():
            st = self.state.get(tp)
            if st is None or st.position != parts[tp].offset:
                continue
            if d.error is not NONE:
                if d.error is E.OFFSET_OUT_OF_RANGE:
                    policy = self.conf["auto.offset.reset"]
                    if policy == "none":
                        self._error(tp, E.OFFSET_OUT_OF_RANGE)
                    else:
                        st.position = None
                        self._reset(tp, policy)
                else:
                    refresh = True
                continue
            st.hw, st.log_start = d.hw, d.log_start
            pos = st.position
            # read_committed: batches of aborted transactions are dropped here, as the Java
            # consumer does with the fetch response's AbortedTransactions list
            aborted = sorted(d.aborted, key=lambda a: a[1]) if d.aborted else []
            active: set[int] = set()
            for b in d.batches:
                if b.next_offset <= pos:
                    continue
                start = max(pos, b.base_offset)
                while aborted and aborted[0][1] <= b.base_offset:
                    active.add(aborted.pop(0)[0])
                hidden = b.control or (b.transactional and b.producer_id in active)
                if b.control == CONTROL_ABORT:
                    active.discard(b.producer_id)
                if hidden:
                    self.buffer.append(Chunk(tp, None, start, 0, skip_to=b.next_offset))
                else:
                    self.buffer.append(Chunk(tp, b, start, b.next_offset - start))
                pos = b.next_offset
            st.fetch_offset = pos
        if refresh:
            self.metadata.refresh()
        self._kick()

    def _fetch_committed(self, tp: TopicPartition, st: PartitionFetchState) -> None:
        """A newly assigned partition starts at the group's committed offset (OffsetFetch),
        or per auto.offset.reset when there is none."""
        st.fetching_committed = True
        inc = self._inc

        def then(offsets: dict[TopicPartition, int]) -> None:
            st.fetching_committed = False
            if inc != self._inc or self.state.get(tp) is not st:
                return
            off = offsets.get(tp, -1)
            if off >= 0:
                st.position = st.fetch_offset = off
                st.leader_epoch_seen = self.metadata.leader_epoch(tp)
                self.world.emit("consumer.seek", self.name, consumer=self.name, topic=tp.topic,
                                partition=tp.partition, offset=off, reason="committed")
            else:
                self._reset(tp, self.conf["auto.offset.reset"])
            self._kick()

        self._member().fetch_committed([tp], then)

    def _error(self, tp: TopicPartition, err: KafkaError) -> None:
        """Pause the partition and hand the error to the application's next poll
        (Java: NoOffsetForPartitionException / OffsetOutOfRangeException; confluent-kafka: an error event)."""
        self.state[tp].paused = True
        self._errors.append(Message(tp.topic, tp.partition, -1, _error=err))
        self._kick()
        self.world.emit("consumer.seek", self.name, consumer=self.name, topic=tp.topic, partition=tp.partition,
                        offset=-1, reason=f"error:{err.name}")

    def _reset(self, tp: TopicPartition, policy: str) -> None:
        """auto.offset.reset: earliest -> log start offset; latest -> high watermark (ListOffsets)."""
        st = self.state[tp]
        if policy == "none":
            self._error(tp, E.OFFSET_OUT_OF_RANGE)
            return
        leader = self.metadata.leader(tp)
        if leader < 0 or st.resetting:
            return
        st.resetting = True
        b = self.cluster.brokers[leader]
        inc = self._inc

        def reply(_tp: TopicPartition, err: KafkaError, low: int, high: int) -> None:
            if inc != self._inc or not st.resetting:
                return
            st.resetting = False
            if err is NONE and tp in self.state:
                st.position = st.fetch_offset = low if policy == "earliest" else high
                st.leader_epoch_seen = self.metadata.leader_epoch(tp)
                self.world.emit("consumer.seek", self.name, consumer=self.name, topic=tp.topic,
                                partition=tp.partition, offset=st.position, reason=policy)
            else:
                self.metadata.refresh()
            self._kick()

        def give_up() -> None:
            if st.resetting:
                st.resetting = False
                self._kick()

        if not self.nc.send(b.name, b.handle_list_offsets, self.name, tp, f"{policy}:{self.conf['isolation.level']}",
                            reply, on_error=lambda _err: give_up()):
            self.world.at(self.conf.get("retry.backoff.ms", 100), give_up)

    def _validate(self, tp: TopicPartition, st: PartitionFetchState, leader: int) -> None:
        """KIP-320: after a leader change, check the records we returned still exist on the new leader."""
        st.validating = True
        b = self.cluster.brokers[leader]
        inc = self._inc
        new_epoch = self.metadata.leader_epoch(tp)

        def reply(err: KafkaError, epoch: int, end: int) -> None:
            if inc != self._inc or not st.validating:
                return
            st.validating = False
            if err is not NONE:
                self.metadata.refresh()
                self._kick()
                return
            st.leader_epoch_seen = new_epoch
            if st.position is not None and end >= 0 and (end < st.position or epoch < st.last_epoch):
                target = min(end, st.position)
                if self.conf["auto.offset.reset"] == "none":
                    self._error(tp, E.OFFSET_OUT_OF_RANGE)
                else:
                    # Kafka: "Truncation detected ... resetting offset" to the divergence point
                    st.position = st.fetch_offset = target
                    self.world.emit("consumer.seek", self.name, consumer=self.name, topic=tp.topic,
                                    partition=tp.partition, offset=target, reason="truncation")
            self._kick()

        def give_up() -> None:
            if st.validating:
                st.validating = False
                self._kick()

        if not self.nc.send(b.name, b.handle_offsets_for_epoch, self.name, tp, st.last_epoch, reply,
                            on_error=lambda _err: give_up()):
            self.world.at(self.conf.get("retry.backoff.ms", 100), give_up)
