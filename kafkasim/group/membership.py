"""The consumer's side of the classic group protocol: join, sync, heartbeat, leave, commit.

Kafka: ``ConsumerCoordinator`` / ``AbstractCoordinator``. The rebalance protocol is the
highest one all configured assignors support (the default ``[range, cooperative-sticky]``
gives EAGER). Before rejoining, an EAGER member revokes everything (``on_revoke(all)``); a
COOPERATIVE member keeps its partitions and, on the new assignment, revokes only those
that moved, then rejoins so they can be handed over (KIP-429). A member whose generation
was reset (session or poll timeout) reports its partitions through ``on_lost``. Heartbeats
run in the background every ``heartbeat.interval.ms`` while the member is stable; the
application must call ``poll`` at least every ``max.poll.interval.ms`` or the consumer
leaves the group (a static member just stops heartbeating). Auto-commit commits, inside
``poll``, the positions of records returned by earlier polls, and before every rebalance.
Simplified: callbacks take no simulated time; commits before a rebalance are sent and not
awaited beyond their round trip.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kafkasim.errors import KafkaError
from kafkasim.group.assignors import (
    RebalanceProtocol,
    Subscription,
    lookup_assignor,
    rebalance_protocol,
)
from kafkasim.records import TopicPartition

if TYPE_CHECKING:
    import simpy

    from kafkasim.clients.consumer import Consumer

E = KafkaError
COORDINATOR_CHANNEL = "coordinator"  # Java: a connection of its own, to node id MAX_VALUE - coordinator id
Callback = Callable[[Any, list[TopicPartition]], None] | None


class GroupMember:
    """Group membership of one consumer."""

    def __init__(self, consumer: Consumer) -> None:
        self.c = consumer
        self.world = consumer.world
        conf = consumer.conf
        self.conf = conf
        self.group_id: str = conf["group.id"]
        self.instance_id: str | None = conf["group.instance.id"]
        self.strategy: list[str] = list(conf["partition.assignment.strategy"])
        self.protocol = rebalance_protocol(self.strategy)
        self.member_id = ""
        self.generation = -1
        # Java's ConsumerGroupMetadata: set by onJoinComplete only, so a zombie whose generation was
        # reset still sends its old one with its offsets and is refused (KIP-447)
        self.joined_generation = -1
        self.joined_member_id = ""
        self._assigned_counts: dict[str, int] | None = None  # the leader's snapshot at its last assignment
        self.coordinator = -1
        self.state = "unjoined"  # unjoined | joining | syncing | stable | left
        self.topics: list[str] = []
        self.on_assign: Callback = None
        self.on_revoke: Callback = None
        self.on_lost: Callback = None
        self.needs_join = False
        self.rejoin_reason = "join"
        self.lost_pending = False
        self.last_poll = self.world.now
        self._timers = self.world.timers()
        self._poll_timers: list[tuple[int, Any]] = []  # (poll time, its max.poll.interval.ms check)
        self._token = 0  # invalidates callbacks of an abandoned join or a closed member
        self._hb_token = 0
        self._auto_commit_at = self.world.now + conf["auto.commit.interval.ms"]
        self._find_inflight = False
        self._find_seq = 0
        self._find_waiters: list[Callable[[], None]] = []
        self._pending_assignment: tuple[int, tuple[TopicPartition, ...]] | None = None
        node = self.world.net.node(self.c.name)
        self._incarnation = node.incarnation  # a crashed process's member stops looking
        self._lost_id = ""  # the member id we had before our generation was reset

    # -- application hooks ------------------------------------------------------------------------
    def subscribe(self, topics: list[str], on_assign: Callback, on_revoke: Callback, on_lost: Callback) -> None:
        changed = sorted(topics) != sorted(self.topics)
        self.topics = sorted(set(topics))
        self.on_assign, self.on_revoke, self.on_lost = on_assign, on_revoke, on_lost
        if changed:
            self.request_rejoin("subscription changed" if self.generation >= 0 else "join")
        self.poll_hook()

    def poll_hook(self) -> None:
        """Called whenever the application polls: liveness, auto-commit, and pending rejoins."""
        now = self.world.now
        self.last_poll = now
        self._schedule_poll_timeout()
        if self.state == "left":
            return
        if self._pending_assignment is not None:
            self._complete_join()
        if self.state == "stable" and self.conf["enable.auto.commit"] and now >= self._auto_commit_at:
            self._auto_commit_at = now + self.conf["auto.commit.interval.ms"]
            self.commit(self.c.positions(), reason="auto")
        if self.state == "stable" and self._assigned_counts and not self.needs_join:
            counts = self.c.metadata.partition_counts
            if any(counts.get(t, n) != n for t, n in self._assigned_counts.items()):
                # Java: the leader's "cached metadata has changed" (partitions were added)
                self.needs_join, self.rejoin_reason = True, "cached metadata has changed"
        if self.needs_join and self.state in ("unjoined", "stable"):
            self._start_join()

    def request_rejoin(self, reason: str) -> None:
        self.needs_join = True
        self.rejoin_reason = reason
        if self.c.in_poll():
            self.poll_hook()

    # -- coordinator discovery --------------------------------------------------------------------
    def _with_coordinator(self, then: Callable[[], None]) -> None:
        """Run ``then`` once the coordinator is known: at once, or when FindCoordinator answers.
        Every caller waiting meanwhile is served (a commit must not be dropped while a join is
        also looking for the coordinator)."""
        if self.coordinator >= 0:
            then()
            return
        self._find_waiters.append(then)
        if not self._find_inflight:
            self._find()

    def _process_alive(self) -> bool:
        node = self.world.net.node(self.c.name)
        return node.alive and node.incarnation == self._incarnation

    def _find(self) -> None:
        if not self._process_alive():
            self._find_waiters.clear()
            return
        if self.coordinator >= 0:
            self._serve_waiters()
            return
        brokers = sorted(self.c.cluster.brokers)
        start = self.world.rng(f"find:{self.c.name}").randrange(len(brokers))
        self._find_seq += 1
        seq = self._find_seq
        from kafkasim.group.coordinator import handle_find_coordinator

        def reply(err: KafkaError, leader: int) -> None:
            if seq != self._find_seq or not self._find_inflight:
                return  # timed out already; a newer FindCoordinator is in flight
            self._find_inflight = False
            if err is E.NONE and leader >= 0:
                self.coordinator = leader
                self._serve_waiters()
            else:
                self.world.at(self.conf["retry.backoff.ms"], self._retry_find)

        for i in range(len(brokers)):
            b = self.c.cluster.brokers[brokers[(start + i) % len(brokers)]]
            if self.c.nc.send(b.name, handle_find_coordinator, b, self.group_id, self.c.name, reply,
                              on_error=lambda _err: self._find_timeout(seq)):
                self._find_inflight = True
                return
        self.world.at(self.conf["retry.backoff.ms"], self._retry_find)

    def _retry_find(self) -> None:
        if not self._find_inflight and self._find_waiters:
            self._find()

    def _serve_waiters(self) -> None:
        waiters, self._find_waiters = self._find_waiters, []
        for then in waiters:
            then()

    def _find_timeout(self, seq: int) -> None:
        if self._find_inflight and seq == self._find_seq:
            self._find_inflight = False
            self._retry_find()

    def _coordinator_lost(self) -> None:
        """Java ``markCoordinatorUnknown``: forget it and close its connection, failing what is in flight."""
        if self.coordinator >= 0:
            self.c.nc.disconnect(self.c.cluster.brokers[self.coordinator].name, COORDINATOR_CHANNEL)
        self.coordinator = -1

    def _send(self, method: str, *args: Any, timeout: int | None = None,
              on_error: Callable[[KafkaError], None] | None = None) -> bool:
        """A request to the group coordinator, on the consumer's connection kept for it; a timeout
        or disconnect marks the coordinator unknown, then ``on_error`` handles the request."""
        b = self.c.cluster.brokers[self.coordinator]
        coord = getattr(b, "coordinator", None)
        if coord is None:
            return False

        def failed(err: KafkaError) -> None:
            self._coordinator_lost()
            if on_error is not None:
                on_error(err)

        if self.c.nc.send(b.name, getattr(coord, method), *args, channel=COORDINATOR_CHANNEL,
                          timeout_ms=timeout, on_error=failed):
            return True
        self._coordinator_lost()  # connection refused: its process is down; look the coordinator up again
        return False

    # -- join / sync ------------------------------------------------------------------------------
    def _start_join(self) -> None:
        """onJoinPrepare, then JoinGroup."""
        owned = self.c.assignment()
        if owned and not self.lost_pending and self.generation >= 0 and self.conf["enable.auto.commit"]:
            # onJoinPrepare commits while still a member of the current generation
            self.commit(self.c.positions(), reason="before rebalance")
        self.world.emit("member.rejoin", self.c.name, group=self.group_id, member=self.member_id or self._lost_id,
                        generation=self.generation, reason=self.rejoin_reason)
        self.state = "joining"
        self.needs_join = False
        self._token += 1
        if self.lost_pending or self.generation < 0 and owned:
            self.lost_pending = False
            if owned:
                self._lose(owned)
        elif owned:
            if self.protocol is RebalanceProtocol.EAGER:
                self._revoke(owned)
            else:
                gone = [tp for tp in owned if tp.topic not in self.topics]
                if gone:
                    self._revoke(gone)
        self._with_coordinator(self._send_join)

    def _send_join(self) -> None:
        if self.state != "joining":
            return
        token = self._token
        owned = [[tp.topic, tp.partition] for tp in self.c.assignment()]
        meta = {"topics": list(self.topics), "owned": owned, "generation": self.generation}
        protocols = [(name, meta) for name in self.strategy]
        reply = lambda *a: self._on_join(token, *a)  # noqa: E731
        timeout = self.conf["max.poll.interval.ms"] + 5000
        if not self._send("handle_join", self.group_id, self.member_id, self.instance_id, self.c.name, protocols,
                          self.conf["session.timeout.ms"], self.conf["max.poll.interval.ms"], self.rejoin_reason,
                          reply, on_error=lambda _e: self._join_timeout(token), timeout=timeout):
            self._retry_join(token)

    def _join_timeout(self, token: int) -> None:
        if token == self._token and self.state == "joining":
            self._coordinator_lost()
            self._retry_join(token)

    def _retry_join(self, token: int) -> None:
        self._token += 1
        self.world.at(self.conf["retry.backoff.ms"], self._rejoin_now, self._token)

    def _rejoin_now(self, token: int) -> None:
        if token == self._token and self.state == "joining":
            self._with_coordinator(self._send_join)

    def _on_join(self, token: int, err: KafkaError, generation: int, protocol: str | None, leader: str | None,
                 member_id: str, members: list) -> None:
        if token != self._token or self.state != "joining":
            return
        if err is E.MEMBER_ID_REQUIRED:
            self.member_id = member_id
            self._token += 1
            self._send_join()
            return
        if err in (E.NOT_COORDINATOR, E.COORDINATOR_NOT_AVAILABLE, E.COORDINATOR_LOAD_IN_PROGRESS):
            self._coordinator_lost()
            self._retry_join(token)
            return
        if err in (E.UNKNOWN_MEMBER_ID, E.ILLEGAL_GENERATION):
            self._reset_generation()
            owned = self.c.assignment()
            if owned:  # what we still held is lost, not revoked
                self.lost_pending = False
                self._lose(owned)
            self._retry_join(token)
            return
        if err in (E.FENCED_INSTANCE_ID, E.INCONSISTENT_GROUP_PROTOCOL, E.INVALID_SESSION_TIMEOUT):
            self._fatal(err)  # not retriable: Java throws it from poll()
            return
        if err is not E.NONE:
            self._retry_join(token)
            return
        self.member_id, self.generation = member_id, generation
        self.state = "syncing"
        self._assigned_counts = None  # only the leader watches the partition counts it assigned
        assignments = self._assign(protocol or "", members) if leader == member_id and members else None
        reply = lambda *a: self._on_sync(token, *a)  # noqa: E731
        if not self._send("handle_sync", self.group_id, generation, member_id, self.c.name, assignments, reply,
                          self.instance_id, on_error=lambda _e: self._sync_timeout(token)):
            self.state = "joining"
            self._retry_join(token)

    def _assign(self, protocol: str, members: list) -> dict[str, list[TopicPartition]]:
        """The leader runs the group's assignor over every member's subscription."""
        counts = self.c.metadata.partition_counts
        subs = [Subscription(mid, tuple(meta["topics"]), tuple(TopicPartition(t, p) for t, p in meta["owned"]),
                             meta["generation"], inst) for mid, inst, meta in members]
        topics = {t: counts[t] for s in subs for t in s.topics if counts.get(t)}
        self._assigned_counts = dict(topics)
        result = lookup_assignor(protocol, self.strategy).assign(topics, subs)
        self.world.emit("group.assign", self.c.name, group=self.group_id, generation=self.generation,
                        assignor=protocol, transferring=sorted([tp.topic, tp.partition] for tp in result.transferring),
                        assignment={mid: [[tp.topic, tp.partition] for tp in tps]
                                    for mid, tps in sorted(result.assignment.items())})
        return {mid: list(tps) for mid, tps in result.assignment.items()}

    def _sync_timeout(self, token: int) -> None:
        if token == self._token and self.state == "syncing":
            self._coordinator_lost()
            self.state = "joining"
            self._retry_join(token)

    def _on_sync(self, token: int, err: KafkaError, assignment: tuple[TopicPartition, ...]) -> None:
        if token != self._token or self.state != "syncing":
            return
        if err is not E.NONE:
            if err in (E.UNKNOWN_MEMBER_ID, E.ILLEGAL_GENERATION):
                self._reset_generation()
            elif err is E.NOT_COORDINATOR:
                self._coordinator_lost()
            elif err is E.FENCED_INSTANCE_ID:
                self._fatal(err)
                return
            self.state = "joining"
            self._retry_join(token)
            return
        # Java: the SyncGroup future completes on whichever thread polls the network (the member is
        # STABLE and heartbeats from then on), but onJoinComplete — the new assignment, revocations
        # and the rebalance callbacks — runs on the application thread, inside poll()
        self.state = "stable"
        self._start_heartbeats()
        self._pending_assignment = (self.generation, tuple(assignment))
        if self.c.in_poll():
            self._complete_join()

    def _complete_join(self) -> None:
        """onJoinComplete: take the assignment SyncGroup returned (inside poll())."""
        pending, self._pending_assignment = self._pending_assignment, None
        if pending is None or pending[0] != self.generation or self.state != "stable":
            return  # a newer rebalance or a lost membership replaced it
        self.joined_generation, self.joined_member_id = self.generation, self.member_id
        owned = set(self.c.assignment())
        new = set(pending[1])
        revoked = sorted(owned - new)
        added = sorted(new - owned)
        if revoked:
            self._revoke(revoked)
        self.c._add_partitions(added)
        self.world.emit("member.assigned", self.c.name, group=self.group_id, member=self.member_id,
                        generation=self.generation, protocol=self.protocol.name.lower(),
                        added=[[tp.topic, tp.partition] for tp in added],
                        partitions=[[tp.topic, tp.partition] for tp in sorted(new)])
        if self.on_assign is not None:
            self.on_assign(self.c, added)
        if revoked and self.protocol is RebalanceProtocol.COOPERATIVE:
            self.request_rejoin("revoked partitions to hand over")  # KIP-429 follow-up rebalance
        elif self.needs_join:
            self.request_rejoin(self.rejoin_reason)

    def _revoke(self, partitions: list[TopicPartition]) -> None:
        self.world.emit("member.revoked", self.c.name, group=self.group_id, member=self.member_id,
                        generation=self.generation, partitions=[[tp.topic, tp.partition] for tp in partitions])
        if self.on_revoke is not None:
            self.on_revoke(self.c, list(partitions))
        self.c._remove_partitions(partitions)

    def _lose(self, partitions: list[TopicPartition]) -> None:
        self.world.emit("member.lost", self.c.name, group=self.group_id, member=self.member_id or self._lost_id,
                        partitions=[[tp.topic, tp.partition] for tp in partitions])
        if self.on_lost is not None:
            self.on_lost(self.c, list(partitions))
        elif self.on_revoke is not None:
            self.on_revoke(self.c, list(partitions))  # confluent-kafka: on_revoke when no on_lost is given
        self.c._remove_partitions(partitions)

    def _reset_generation(self) -> None:
        """Our membership is gone (expired, fenced out of a generation): partitions are lost."""
        self.generation = -1
        if self.member_id:
            self._lost_id = self.member_id
        self.member_id = ""
        self.lost_pending = True

    def _fatal(self, err: KafkaError) -> None:
        from kafkasim.records import Message

        self.c._errors.append(Message("", -1, -1, _error=err))  # the application's next poll sees it
        self.c._kick()
        self.state = "left"
        self.world.emit("member.leave", self.c.name, group=self.group_id, member=self.member_id,
                        instance=self.instance_id, reason=f"fatal:{err.name}")

    # -- heartbeats and liveness --------------------------------------------------------------------
    def _start_heartbeats(self) -> None:
        self._hb_token += 1
        self.world.at(self.conf["heartbeat.interval.ms"], self._heartbeat, self._hb_token)

    def _heartbeat(self, hb: int) -> None:
        if hb != self._hb_token or self.state != "stable" or self.c.closed:
            return
        if self.coordinator < 0:
            self._with_coordinator(lambda: None)
        else:
            token = self._token
            # unanswered (timeout, disconnect): _send marks the coordinator unknown, then FindCoordinator
            if not self._send("handle_heartbeat", self.group_id, self.generation, self.member_id, self.c.name,
                              lambda err: self._on_heartbeat(token, err), self.instance_id):
                self._coordinator_lost()
        self.world.at(self.conf["heartbeat.interval.ms"], self._heartbeat, hb)

    def _on_heartbeat(self, token: int, err: KafkaError) -> None:
        if token != self._token or self.state != "stable":
            return
        if err is E.REBALANCE_IN_PROGRESS:
            self.request_rejoin("group is rebalancing")
        elif err in (E.UNKNOWN_MEMBER_ID, E.ILLEGAL_GENERATION):
            self._reset_generation()
            self.request_rejoin("member expired")
        elif err is E.FENCED_INSTANCE_ID:
            self._fatal(err)
        elif err in (E.NOT_COORDINATOR, E.COORDINATOR_NOT_AVAILABLE):
            self._coordinator_lost()

    def _schedule_poll_timeout(self) -> None:
        # a check armed at an earlier poll can no longer fire (last_poll moved): drop it
        for at, t in self._poll_timers:
            if at != self.last_poll:
                t.cancel()
        self._poll_timers = [(at, t) for at, t in self._poll_timers if at == self.last_poll]
        self._poll_timers.append((self.last_poll, self._timers.add(
            self.conf["max.poll.interval.ms"], self._check_poll_timeout, self.last_poll)))

    def _check_poll_timeout(self, polled_at: int) -> None:
        if self.last_poll != polled_at or self.c.closed or self.state in ("unjoined", "left"):
            return
        if self.c.in_poll():
            self.last_poll = self.world.now
            self._schedule_poll_timeout()
            return
        # Kafka: "consumer poll timeout has expired" -> leave (dynamic) or stop heartbeating (static)
        self.world.emit("consumer.poll_timeout", self.c.name, group=self.group_id, member=self.member_id,
                        max_poll_interval_ms=self.conf["max.poll.interval.ms"])
        self._hb_token += 1
        if self.instance_id is None and self.coordinator >= 0 and self.member_id:
            self._send("handle_leave", self.group_id, self.member_id, None, self.c.name, "poll_timeout",
                       lambda err: None)
        self._token += 1
        self.state = "unjoined"
        self._reset_generation()
        self.needs_join = True
        self.rejoin_reason = "rejoin after poll timeout"

    # -- commits ------------------------------------------------------------------------------------
    def commit(self, offsets: dict[TopicPartition, int], reason: str = "commit",
               event: simpy.Event | None = None) -> None:
        """OffsetCommit with our generation and member id; ``event`` gets the error (or None)."""
        if not offsets:
            if event is not None and not event.triggered:
                event.succeed(None)
            return
        gen, mid = self.generation, self.member_id
        listed = [[tp.topic, tp.partition, off] for tp, off in sorted(offsets.items())]
        finished = [False]

        def done(err: KafkaError) -> None:
            if finished[0]:
                return
            finished[0] = True
            if err is E.NONE:
                self.world.emit("commit.ok", self.c.name, group=self.group_id, member=mid, generation=gen,
                                offsets=listed, reason=reason)
            else:
                # Java: CommitFailedException for a member that is no longer in the generation
                failed = err in (E.UNKNOWN_MEMBER_ID, E.ILLEGAL_GENERATION, E.FENCED_INSTANCE_ID,
                                 E.REBALANCE_IN_PROGRESS)
                self.world.emit("commit.fail", self.c.name, group=self.group_id, member=mid, generation=gen,
                                offsets=listed, error=err.name, reason=reason,
                                exception=("RebalanceInProgressException" if err is E.REBALANCE_IN_PROGRESS
                                           else "CommitFailedException" if failed else "RetriableCommitFailedException"))
                if err in (E.NOT_COORDINATOR, E.COORDINATOR_NOT_AVAILABLE, E.REQUEST_TIMED_OUT):
                    self._coordinator_lost()  # Java OffsetCommitResponseHandler: markCoordinatorUnknown
            if event is not None and not event.triggered:
                event.succeed(None if err is E.NONE else err)

        def send() -> None:
            if not self._send("handle_commit", self.group_id, gen, mid, self.c.name, dict(offsets), done,
                              self.instance_id, on_error=done):
                done(E.COORDINATOR_NOT_AVAILABLE)

        if self.topics and self.state != "stable":
            # Java: a subscribed consumer outside a stable generation cannot commit
            # (RebalanceInProgressException while rebalancing, CommitFailedException otherwise)
            done(E.REBALANCE_IN_PROGRESS if self.state in ("joining", "syncing") else E.ILLEGAL_GENERATION)
        elif self.state == "left":
            done(E.UNKNOWN_MEMBER_ID)
        elif self.coordinator < 0:
            self._with_coordinator(send)
        else:
            send()

    def fetch_committed(self, partitions: list[TopicPartition], then: Callable[[dict], None]) -> None:
        def send() -> None:
            def reply(err: KafkaError, offsets: dict) -> None:
                if err is E.NONE:
                    then(offsets)
                else:
                    self._coordinator_lost()
                    self.world.at(self.conf["retry.backoff.ms"], self.fetch_committed, partitions, then)

            if not self._send("handle_offset_fetch", self.group_id, self.c.name, list(partitions), reply,
                              on_error=lambda _e: self.world.at(self.conf["retry.backoff.ms"], self.fetch_committed,
                                                               partitions, then)):
                self.world.at(self.conf["retry.backoff.ms"], self.fetch_committed, partitions, then)

        self._with_coordinator(send)

    # -- leaving ------------------------------------------------------------------------------------
    def crashed(self) -> None:
        """The process died: nothing of the member runs on (no rejoin, no FindCoordinator retried)."""
        self.state = "left"
        self._token += 1
        self._hb_token += 1
        self._find_waiters.clear()
        self._find_inflight = False

    def close(self) -> None:
        """Graceful close: commit (auto), revoke, and LeaveGroup unless static (KIP-345)."""
        owned = self.c.assignment()
        if self.conf["enable.auto.commit"] and self.generation >= 0:
            self.commit(self.c.positions(), reason="close")
        if owned:
            self._revoke(owned)
        if self.instance_id is None and self.member_id and self.coordinator >= 0:
            self._send("handle_leave", self.group_id, self.member_id, None, self.c.name, "leave", lambda err: None)
        self.state = "left"
        self._token += 1
        self._hb_token += 1
