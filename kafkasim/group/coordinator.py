"""The group coordinator: one per broker, for the groups whose ``__consumer_offsets``
partition that broker leads.

Kafka: ``GroupCoordinator`` / ``GroupMetadataManager`` (classic protocol). Members join
(JoinGroup), the coordinator waits for every known member (bounded by the rebalance timeout,
``max.poll.interval.ms``; the first rebalance of an empty group waits
``group.initial.rebalance.delay.ms`` more per arriving member), bumps the generation, picks
the protocol all members support and a leader; the leader computes the assignment and
sends it in SyncGroup; the group is Stable. A member silent for ``session.timeout.ms`` is
removed. Offsets and the group's state are written to the offsets partition and
replicated before the coordinator answers, so a new coordinator (after failover) loads them.
Simplified: no pending-member accounting for KIP-394 ids; the group snapshot is written
once per generation.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kafkasim.cluster.protocol import java_string_hash, offsets_partition  # noqa: F401 (re-exported)
from kafkasim.errors import KafkaError
from kafkasim.group.assignors import select_assignor
from kafkasim.group.state import GroupState, check_transition
from kafkasim.records import TopicPartition

if TYPE_CHECKING:
    from kafkasim.cluster.broker import Broker
    from kafkasim.cluster.partition import Partition

E = KafkaError
OFFSETS_TOPIC = "__consumer_offsets"
S = GroupState


@dataclass
class MemberMeta:
    member_id: str
    instance_id: str | None
    client: str
    protocols: list[tuple[str, dict[str, Any]]]  # (assignor name, subscription metadata)
    session_timeout: int
    rebalance_timeout: int
    join_reply: Callable[..., None] | None = None
    sync_reply: Callable[..., None] | None = None
    assignment: tuple[TopicPartition, ...] = ()
    last_heartbeat: int = 0


@dataclass
class Group:
    group_id: str
    state: GroupState = GroupState.EMPTY
    generation: int = 0
    protocol: str | None = None
    leader: str | None = None
    members: dict[str, MemberMeta] = field(default_factory=dict)
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    pending_txn: dict[int, dict[TopicPartition, int]] = field(default_factory=dict)  # producer id -> offsets
    rebalance_token: int = 0
    initial_delay_until: int = -1  # >= 0 while the initial rebalance delay runs
    joined_in_window: bool = False
    issued: set[str] = field(default_factory=set)  # KIP-394: member ids handed out, not yet joined
    trigger: str = ""


class GroupCoordinator:
    """The coordinator service installed on one broker."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.world = broker.world
        self.conf = broker.conf
        self.groups: dict[str, Group] = {}
        self.loaded: set[int] = set()
        self._rng = self.world.rng(f"coordinator:{broker.name}")
        broker.services.append(self)

    # -- placement ------------------------------------------------------------------------------
    def partition_for(self, group_id: str) -> TopicPartition:
        return TopicPartition(OFFSETS_TOPIC, offsets_partition(group_id, self.conf["offsets.topic.num.partitions"]))

    def on_crash(self) -> None:
        self.groups.clear()
        self.loaded.clear()

    def on_marker(self, tp: TopicPartition, producer_id: int, control: int) -> None:
        """A transaction marker on an offsets partition: its pending offsets commit or vanish."""
        if tp.topic != OFFSETS_TOPIC:
            return
        from kafkasim.cluster.log import CONTROL_COMMIT

        for gid, g in self.groups.items():
            if self.partition_for(gid) != tp:
                continue  # Kafka's handleTxnCompletion: only the groups of the marker's partition
            pending = g.pending_txn.pop(producer_id, None)
            if pending and control == CONTROL_COMMIT:
                g.offsets.update(pending)

    def on_partition(self, tp: TopicPartition, p: Partition) -> None:
        if tp.topic != OFFSETS_TOPIC:
            return
        if p.is_leader and tp.partition not in self.loaded:
            self.loaded.add(tp.partition)
            self._load(tp)
        elif not p.is_leader and tp.partition in self.loaded:
            self.loaded.discard(tp.partition)
            for gid in [g for g in self.groups if self.partition_for(g).partition == tp.partition]:
                g = self.groups.pop(gid)
                self._fail_pending(g, E.NOT_COORDINATOR)
            self.world.emit("coordinator.unload", self.broker.name, partition=tp.partition)

    def _load(self, tp: TopicPartition) -> None:
        """A new coordinator replays the offsets partition: committed offsets and group state."""
        log = self.broker.logs[tp]
        now = self.world.now
        pending: dict[int, list[tuple[str, TopicPartition, int]]] = {}
        for b in log.batches:
            if b.control:  # a transaction's marker: its offsets commit or vanish
                from kafkasim.cluster.log import CONTROL_COMMIT

                for gid, tp_, off in pending.pop(b.producer_id, []):
                    if b.control == CONTROL_COMMIT:
                        self._group(gid).offsets[tp_] = off
                continue
            for v in b.values or ():
                if not isinstance(v, tuple):
                    continue
                if v[0] == "txn_offset":
                    _, gid, topic, part, off = v
                    pending.setdefault(b.producer_id, []).append((gid, TopicPartition(topic, part), off))
                elif v[0] == "offset":
                    _, gid, topic, part, off = v
                    self._group(gid).offsets[TopicPartition(topic, part)] = off
                elif v[0] == "group":
                    _, gid, snap = v
                    g = self._group(gid)
                    g.generation, g.protocol, g.leader = snap["generation"], snap["protocol"], snap["leader"]
                    g.members = {
                        m["member_id"]: MemberMeta(m["member_id"], m["instance_id"], m["client"], m["protocols"],
                                                   m["session_timeout"], m["rebalance_timeout"],
                                                   assignment=tuple(TopicPartition(*x) for x in m["assignment"]),
                                                   last_heartbeat=now)
                        for m in snap["members"]
                    }
                    g.state = S.STABLE if g.members else S.EMPTY
        for pid, items in pending.items():
            for gid, tp_, off in items:
                self._group(gid).pending_txn.setdefault(pid, {})[tp_] = off
        for gid, g in sorted(self.groups.items()):
            if self.partition_for(gid) != tp:
                continue
            for m in g.members.values():
                self._schedule_expiry(g, m)
            self.world.emit("coordinator.load", self.broker.name, group=gid, partition=tp.partition,
                            state=g.state.value, generation=g.generation)

    def _group(self, gid: str) -> Group:
        g = self.groups.get(gid)
        if g is None:
            g = self.groups[gid] = Group(gid)
        return g

    def _coordinates(self, gid: str) -> bool:
        return self.broker.alive and self.partition_for(gid).partition in self.loaded

    def _reply(self, client: str, reply: Callable[..., None], *args: Any) -> None:
        self.world.net.send(self.broker.name, client, reply, *args)

    # -- state ----------------------------------------------------------------------------------
    def _transition(self, g: Group, new: GroupState) -> None:
        check_transition(g.state, new)
        g.state = new
        self.world.emit("group.state", self.broker.name, group=g.group_id, state=new.value, generation=g.generation)

    def _prepare_rebalance(self, g: Group, trigger: str) -> None:
        if g.state is S.PREPARING_REBALANCE:
            return
        if g.state is S.COMPLETING_REBALANCE:
            for m in g.members.values():
                if m.sync_reply is not None:
                    self._reply(m.client, m.sync_reply, E.REBALANCE_IN_PROGRESS, ())
                    m.sync_reply = None
        was_empty = g.state is S.EMPTY
        g.trigger = trigger
        self._transition(g, S.PREPARING_REBALANCE)
        self.world.emit("group.rebalance", self.broker.name, group=g.group_id, generation=g.generation,
                        trigger=trigger)
        g.rebalance_token += 1
        token = g.rebalance_token
        timeout = max((m.rebalance_timeout for m in g.members.values()), default=0)
        if was_empty:
            delay = min(self.conf["group.initial.rebalance.delay.ms"], timeout)
            g.initial_delay_until = self.world.now + delay
            g.joined_in_window = False
            self.world.at(delay, self._initial_delay_done, g, token, timeout - delay)
        else:
            g.initial_delay_until = -1
            self.world.at(timeout, self._rebalance_timeout, g, token)

    def _initial_delay_done(self, g: Group, token: int, remaining: int) -> None:
        """InitialDelayedJoin: wait again while new members keep arriving, up to the rebalance timeout."""
        if token != g.rebalance_token or g.state is not S.PREPARING_REBALANCE or not self._live(g):
            return
        if g.joined_in_window and remaining > 0:
            # Kafka's InitialDelayedJoin: members joined during this window -> one more window
            # of min(group.initial.rebalance.delay.ms, what is left of the rebalance timeout)
            g.joined_in_window = False
            delay = min(self.conf["group.initial.rebalance.delay.ms"], remaining)
            self.world.at(delay, self._initial_delay_done, g, token, remaining - delay)
            return
        g.initial_delay_until = -1
        self._try_complete_join(g)
        if g.state is S.PREPARING_REBALANCE:
            self.world.at(max(remaining, 0), self._rebalance_timeout, g, token)

    def _rebalance_timeout(self, g: Group, token: int) -> None:
        if token == g.rebalance_token and g.state is S.PREPARING_REBALANCE and self._live(g):
            self._complete_join(g)

    def _live(self, g: Group) -> bool:
        return self.groups.get(g.group_id) is g and self._coordinates(g.group_id)

    def _try_complete_join(self, g: Group) -> None:
        if g.state is S.PREPARING_REBALANCE and g.initial_delay_until < 0 \
                and all(m.join_reply is not None for m in g.members.values()):
            self._complete_join(g)

    def _complete_join(self, g: Group) -> None:
        for mid in [mid for mid, m in g.members.items() if m.join_reply is None]:
            self._remove(g, mid, "rebalance_timeout")
        g.generation += 1
        if not g.members:
            g.protocol = g.leader = None
            self._transition(g, S.EMPTY)
            self._persist(g, lambda err: None)
            return
        prefs = {mid: [name for name, _ in m.protocols] for mid, m in g.members.items()}
        g.protocol = select_assignor(prefs)
        if g.leader not in g.members:
            g.leader = next(iter(g.members))
        self._transition(g, S.COMPLETING_REBALANCE)
        metadata = [(mid, m.instance_id, dict(m.protocols)[g.protocol]) for mid, m in g.members.items()]
        for mid, m in g.members.items():
            reply, m.join_reply = m.join_reply, None
            m.last_heartbeat = self.world.now
            self._schedule_expiry(g, m)
            members = metadata if mid == g.leader else []
            self._reply(m.client, reply, E.NONE, g.generation, g.protocol, g.leader, mid, members)

    # -- JoinGroup ------------------------------------------------------------------------------
    def handle_join(self, gid: str, member_id: str, instance_id: str | None, client: str,
                    protocols: list[tuple[str, dict[str, Any]]], session_timeout: int, rebalance_timeout: int,
                    reason: str, reply: Callable[..., None]) -> None:
        if not self._coordinates(gid):
            self._reply(client, reply, E.NOT_COORDINATOR, -1, None, None, member_id, [])
            return
        lo, hi = self.conf["group.min.session.timeout.ms"], self.conf["group.max.session.timeout.ms"]
        if not lo <= session_timeout <= hi:
            self._reply(client, reply, E.INVALID_SESSION_TIMEOUT, -1, None, None, member_id, [])
            return
        g = self._group(gid)
        names = [n for n, _ in protocols]
        if g.members and g.protocol is None and not set(names) & set.intersection(
                *[set(n for n, _ in m.protocols) for m in g.members.values()]):
            self._reply(client, reply, E.INCONSISTENT_GROUP_PROTOCOL, -1, None, None, member_id, [])
            return
        if g.protocol is not None and g.members and g.protocol not in names and \
                any(mid != member_id for mid in g.members):
            others = [set(n for n, _ in m.protocols) for mid, m in g.members.items() if mid != member_id]
            if not set(names) & set.intersection(*others):
                self._reply(client, reply, E.INCONSISTENT_GROUP_PROTOCOL, -1, None, None, member_id, [])
                return
        if instance_id is not None:
            self._join_static(g, member_id, instance_id, client, protocols, session_timeout,
                              rebalance_timeout, reason, reply)
            return
        if not member_id:
            # KIP-394: a new dynamic member first gets its id, then joins with it
            new_id = f"{client}-{uuid.UUID(int=self._rng.getrandbits(128), version=4)}"
            g.issued.add(new_id)
            self._reply(client, reply, E.MEMBER_ID_REQUIRED, -1, None, None, new_id, [])
            return
        m = g.members.get(member_id)
        if m is None and member_id not in g.issued:
            # not a member and not an id we handed out (e.g. removed after its session expired)
            self._reply(client, reply, E.UNKNOWN_MEMBER_ID, -1, None, None, member_id, [])
            return
        if m is None:
            g.issued.discard(member_id)
            m = MemberMeta(member_id, None, client, protocols, session_timeout, rebalance_timeout)
            g.members[member_id] = m
            self.world.emit("group.join", self.broker.name, group=gid, member=member_id, instance=None,
                            client=client, reason=reason or "join")
            self._join_member(g, m, reply, trigger=f"member {member_id} joined")
            return
        changed = m.protocols != protocols
        m.protocols, m.session_timeout, m.rebalance_timeout = protocols, session_timeout, rebalance_timeout
        self.world.emit("group.join", self.broker.name, group=gid, member=member_id, instance=None,
                        client=client, reason=reason or "rejoin")
        if g.state in (S.STABLE, S.COMPLETING_REBALANCE) and not changed and member_id != g.leader:
            # nothing changed: answer with the current generation, no rebalance
            self._reply(client, reply, E.NONE, g.generation, g.protocol, g.leader, member_id, [])
            return
        self._join_member(g, m, reply, trigger=reason or f"member {member_id} rejoined")

    def _join_member(self, g: Group, m: MemberMeta, reply: Callable[..., None], trigger: str) -> None:
        m.join_reply = reply
        m.last_heartbeat = self.world.now
        if g.state is not S.PREPARING_REBALANCE:
            self._prepare_rebalance(g, trigger)
        elif g.initial_delay_until >= 0:
            g.joined_in_window = True
        self._try_complete_join(g)

    def _join_static(self, g: Group, member_id: str, instance_id: str, client: str,
                     protocols: list[tuple[str, dict[str, Any]]], session_timeout: int, rebalance_timeout: int,
                     reason: str, reply: Callable[..., None]) -> None:
        """KIP-345: a known instance id replaces the old member; in a stable group, no rebalance."""
        old_id = next((mid for mid, m in g.members.items() if m.instance_id == instance_id), None)
        if old_id is not None and member_id and member_id != old_id:
            self._reply(client, reply, E.FENCED_INSTANCE_ID, -1, None, None, member_id, [])
            return
        if old_id is not None and member_id == old_id:
            m = g.members[old_id]
            m.protocols, m.client = protocols, client
            self._join_member(g, m, reply, trigger=reason or f"static member {instance_id} rejoined")
            return
        new_id = f"{instance_id}-{uuid.UUID(int=self._rng.getrandbits(128), version=4)}"
        self.world.emit("group.join", self.broker.name, group=g.group_id, member=new_id, instance=instance_id,
                        client=client, reason=reason or "join")
        if old_id is None:
            m = MemberMeta(new_id, instance_id, client, protocols, session_timeout, rebalance_timeout)
            g.members[new_id] = m
            self._join_member(g, m, reply, trigger=f"static member {instance_id} joined")
            return
        old = g.members.pop(old_id)
        m = MemberMeta(new_id, instance_id, client, protocols, session_timeout, rebalance_timeout,
                       assignment=old.assignment, last_heartbeat=self.world.now)
        g.members[new_id] = m
        if g.leader == old_id:
            g.leader = new_id
        self.world.emit("member.replaced", self.broker.name, group=g.group_id, instance=instance_id,
                        old_member=old_id, member=new_id)
        if old.join_reply is not None:
            self._reply(old.client, old.join_reply, E.FENCED_INSTANCE_ID, -1, None, None, old_id, [])
        if g.state is S.PREPARING_REBALANCE:
            m.join_reply = reply
            self._try_complete_join(g)
            return
        if g.state is S.STABLE and g.protocol in [n for n, _ in protocols]:
            self._schedule_expiry(g, m)
            self._persist(g, lambda err: None)
            # KIP-814 skipAssignment: the replaced leader gets no member list, computes nothing
            self._reply(client, reply, E.NONE, g.generation, g.protocol, g.leader, new_id, [])
            return
        self._join_member(g, m, reply, trigger=f"static member {instance_id} rejoined")

    # -- SyncGroup ------------------------------------------------------------------------------
    def handle_sync(self, gid: str, generation: int, member_id: str, client: str,
                    assignments: dict[str, list[TopicPartition]] | None, reply: Callable[..., None],
                    instance_id: str | None = None) -> None:
        if not self._coordinates(gid):
            self._reply(client, reply, E.NOT_COORDINATOR, ())
            return
        g = self.groups.get(gid)
        m = g.members.get(member_id) if g else None
        if self._fenced(g, member_id, instance_id):
            self._reply(client, reply, E.FENCED_INSTANCE_ID, ())
            return
        if g is None or m is None:
            self._reply(client, reply, E.UNKNOWN_MEMBER_ID, ())
            return
        if generation != g.generation:
            self._reply(client, reply, E.ILLEGAL_GENERATION, ())
            return
        if g.state is S.PREPARING_REBALANCE:
            self._reply(client, reply, E.REBALANCE_IN_PROGRESS, ())
            return
        if g.state is S.STABLE:
            self._reply(client, reply, E.NONE, m.assignment)
            return
        m.sync_reply = reply
        m.last_heartbeat = self.world.now
        self._schedule_expiry(g, m)  # Kafka's propagateAssignment re-arms every member's session timer
        if member_id == g.leader and assignments is not None:
            for mid, mm in g.members.items():
                mm.assignment = tuple(sorted(assignments.get(mid, ())))
            gen = g.generation

            def persisted(err: KafkaError) -> None:
                if not self._live(g) or g.generation != gen or g.state is not S.COMPLETING_REBALANCE:
                    return
                if err is not E.NONE:
                    self._prepare_rebalance(g, "coordinator could not store the assignment")
                    return
                self._transition(g, S.STABLE)
                self.world.emit("group.stable", self.broker.name, group=g.group_id, generation=g.generation,
                                protocol=g.protocol, leader=g.leader,
                                members={mid: [[tp.topic, tp.partition] for tp in x.assignment]
                                         for mid, x in g.members.items()})
                for x in g.members.values():
                    if x.sync_reply is not None:
                        self._reply(x.client, x.sync_reply, E.NONE, x.assignment)
                        x.sync_reply = None

            self._persist(g, persisted)

    # -- Heartbeat, LeaveGroup, expiry ----------------------------------------------------------------
    def _fenced(self, g: Group | None, member_id: str, instance_id: str | None) -> bool:
        """KIP-345: a request from the old member id of a static instance that was replaced."""
        return (g is not None and instance_id is not None and member_id not in g.members
                and any(m.instance_id == instance_id for m in g.members.values()))

    def handle_heartbeat(self, gid: str, generation: int, member_id: str, client: str,
                         reply: Callable[..., None], instance_id: str | None = None) -> None:
        if not self._coordinates(gid):
            self._reply(client, reply, E.NOT_COORDINATOR)
            return
        g = self.groups.get(gid)
        m = g.members.get(member_id) if g else None
        if self._fenced(g, member_id, instance_id):
            self._reply(client, reply, E.FENCED_INSTANCE_ID)
            return
        if g is None or m is None:
            self._reply(client, reply, E.UNKNOWN_MEMBER_ID)
            return
        m.last_heartbeat = self.world.now
        self._schedule_expiry(g, m)
        if generation != g.generation:
            self._reply(client, reply, E.ILLEGAL_GENERATION)
        elif g.state is S.PREPARING_REBALANCE:
            self._reply(client, reply, E.REBALANCE_IN_PROGRESS)
        else:
            self._reply(client, reply, E.NONE)

    def _schedule_expiry(self, g: Group, m: MemberMeta) -> None:
        self.world.at(m.session_timeout, self._check_expiry, g, m.member_id, m.last_heartbeat)

    def _check_expiry(self, g: Group, member_id: str, heartbeat_at: int) -> None:
        m = g.members.get(member_id)
        if m is None or not self._live(g) or m.last_heartbeat != heartbeat_at or m.join_reply is not None:
            return
        self._remove(g, member_id, "session_timeout")
        self._after_removal(g, f"member {member_id} session timeout")

    def handle_leave(self, gid: str, member_id: str, instance_id: str | None, client: str, reason: str,
                     reply: Callable[..., None]) -> None:
        if not self._coordinates(gid):
            self._reply(client, reply, E.NOT_COORDINATOR)
            return
        g = self.groups.get(gid)
        if g is None or member_id not in g.members:
            self._reply(client, reply, E.UNKNOWN_MEMBER_ID)
            return
        self._remove(g, member_id, reason or "leave")
        self._after_removal(g, f"member {member_id} left ({reason or 'leave'})")
        self._reply(client, reply, E.NONE)

    def _remove(self, g: Group, member_id: str, reason: str) -> None:
        m = g.members.pop(member_id)
        if m.join_reply is not None and reason != "rebalance_timeout":
            self._reply(m.client, m.join_reply, E.UNKNOWN_MEMBER_ID, -1, None, None, member_id, [])
        if g.leader == member_id:
            g.leader = next(iter(g.members), None)
        self.world.emit("member.leave", self.broker.name, group=g.group_id, member=member_id,
                        instance=m.instance_id, client=m.client, reason=reason)

    def _after_removal(self, g: Group, trigger: str) -> None:
        if g.state in (S.STABLE, S.COMPLETING_REBALANCE):
            if g.members:
                self._prepare_rebalance(g, trigger)
            else:
                self._prepare_rebalance(g, trigger)
                self._complete_join(g)
        elif g.state is S.PREPARING_REBALANCE:
            self._try_complete_join(g)

    # -- offsets ----------------------------------------------------------------------------------
    def handle_commit(self, gid: str, generation: int, member_id: str, client: str,
                      offsets: dict[TopicPartition, int], reply: Callable[..., None],
                      instance_id: str | None = None) -> None:
        if not self._coordinates(gid):
            self._reply(client, reply, E.NOT_COORDINATOR)
            return
        g = self._group(gid)
        if self._fenced(g, member_id, instance_id):
            self._reply(client, reply, E.FENCED_INSTANCE_ID)
            return
        if generation >= 0 or member_id:
            m = g.members.get(member_id)
            if m is None:
                self._reply(client, reply, E.UNKNOWN_MEMBER_ID)
                return
            if generation != g.generation:
                self._reply(client, reply, E.ILLEGAL_GENERATION)
                return
            if g.state is S.COMPLETING_REBALANCE:
                self._reply(client, reply, E.REBALANCE_IN_PROGRESS)
                return
        elif g.members:
            # a commit without membership into a group with members (Kafka: UNKNOWN_MEMBER_ID)
            self._reply(client, reply, E.UNKNOWN_MEMBER_ID)
            return
        values = [("offset", gid, tp.topic, tp.partition, off) for tp, off in sorted(offsets.items())]

        def done(err: KafkaError) -> None:
            if err is E.NONE and self._live(g):
                g.offsets.update(offsets)
            self._reply(client, reply, coordinator_error(err))

        self.broker.append_internal(self.partition_for(gid), values, done)

    def handle_txn_offset_commit(self, gid: str, producer_id: int, producer_epoch: int, generation: int,
                                 member_id: str, offsets: dict[TopicPartition, int], client: str,
                                 reply: Callable[..., None]) -> None:
        """TxnOffsetCommit: offsets pending until the transaction's marker (KIP-98); a member of an
        older generation is fenced (KIP-447)."""
        if not self._coordinates(gid):
            self._reply(client, reply, E.NOT_COORDINATOR)
            return
        g = self._group(gid)
        if generation >= 0 and g.members:
            if member_id not in g.members:
                self._reply(client, reply, E.UNKNOWN_MEMBER_ID)
                return
            if generation != g.generation:
                self._reply(client, reply, E.ILLEGAL_GENERATION)
                return
        values = [("txn_offset", gid, tp.topic, tp.partition, off) for tp, off in sorted(offsets.items())]

        def done(err: KafkaError) -> None:
            if err is E.NONE and self._live(g):
                g.pending_txn.setdefault(producer_id, {}).update(offsets)
            self._reply(client, reply, coordinator_error(err))

        self.broker.append_internal(self.partition_for(gid), values, done, producer_id=producer_id,
                                    producer_epoch=producer_epoch, transactional=True)

    def handle_offset_fetch(self, gid: str, client: str, partitions: list[TopicPartition],
                            reply: Callable[..., None]) -> None:
        if not self._coordinates(gid):
            self._reply(client, reply, E.NOT_COORDINATOR, {})
            return
        g = self.groups.get(gid)
        if g is not None and any(tp in pend for pend in g.pending_txn.values() for tp in partitions):
            # a transaction may still commit offsets for these partitions (KIP-447 stable offsets)
            self._reply(client, reply, E.UNSTABLE_OFFSET_COMMIT, {})
            return
        offsets = {tp: (g.offsets.get(tp, -1) if g else -1) for tp in partitions}
        self._reply(client, reply, E.NONE, offsets)

    def committed(self, gid: str) -> dict[TopicPartition, int]:
        g = self.groups.get(gid)
        return dict(g.offsets) if g else {}

    # -- persistence ------------------------------------------------------------------------------
    def _persist(self, g: Group, on_done: Callable[[KafkaError], None]) -> None:
        snap = {
            "generation": g.generation, "protocol": g.protocol, "leader": g.leader,
            "members": [{"member_id": m.member_id, "instance_id": m.instance_id, "client": m.client,
                         "protocols": m.protocols, "session_timeout": m.session_timeout,
                         "rebalance_timeout": m.rebalance_timeout,
                         "assignment": [tuple(tp) for tp in m.assignment]} for m in g.members.values()],
        }
        self.broker.append_internal(self.partition_for(g.group_id), [("group", g.group_id, snap)], on_done)

    def _fail_pending(self, g: Group, err: KafkaError) -> None:
        for m in g.members.values():
            if m.join_reply is not None:
                self._reply(m.client, m.join_reply, err, -1, None, None, m.member_id, [])
                m.join_reply = None
            if m.sync_reply is not None:
                self._reply(m.client, m.sync_reply, err, ())
                m.sync_reply = None


def handle_find_coordinator(broker: Broker, gid: str, client: str, reply: Callable[..., None]) -> None:
    """FindCoordinator: the leader of the group's offsets partition, from this broker's metadata.
    Kafka creates ``__consumer_offsets`` on the first FindCoordinator (until its partitions have
    leaders the answer is COORDINATOR_NOT_AVAILABLE, and the client retries)."""
    if OFFSETS_TOPIC not in broker.cluster.topic_configs:
        install(broker.cluster)
    n = broker.conf["offsets.topic.num.partitions"]
    rec = broker.meta.get(TopicPartition(OFFSETS_TOPIC, offsets_partition(gid, n)))
    leader = rec.leader if rec is not None else -1
    broker.world.net.send(broker.name, client, reply, E.NONE if leader >= 0 else E.COORDINATOR_NOT_AVAILABLE,
                          leader)


def coordinator_error(err: KafkaError) -> KafkaError:
    """The error a client gets when the coordinator's write to ``__consumer_offsets`` fails.

    Kafka's ``GroupCoordinatorService.normalizeException`` (as the classic coordinator's
    ``storeOffsets``): no replicas or no partition -> COORDINATOR_NOT_AVAILABLE, not the
    leader any more -> NOT_COORDINATOR, a record too large -> UNKNOWN_SERVER_ERROR; any other
    error as it is (REQUEST_TIMED_OUT after ``offsets.commit.timeout.ms``, INVALID_PRODUCER_EPOCH).
    """
    if err in (E.UNKNOWN_TOPIC_OR_PARTITION, E.NOT_ENOUGH_REPLICAS, E.NOT_ENOUGH_REPLICAS_AFTER_APPEND):
        return E.COORDINATOR_NOT_AVAILABLE
    if err is E.NOT_LEADER_OR_FOLLOWER:
        return E.NOT_COORDINATOR
    if err is E.MESSAGE_TOO_LARGE:
        return E.UNKNOWN_SERVER_ERROR
    return err


def install(cluster: Any) -> None:
    """Put a group coordinator on every broker and create ``__consumer_offsets``.

    Kafka creates the offsets topic on the first FindCoordinator; kafkasim creates it when a
    scenario has consumer groups, or then (RF = min(offsets.topic.replication.factor, brokers)).
    """
    conf = cluster.broker_conf
    if OFFSETS_TOPIC in cluster.topic_configs:
        return
    from kafkasim.config import topic_config

    rf = min(conf["offsets.topic.replication.factor"], len(cluster.brokers))
    cluster.create_topic(OFFSETS_TOPIC, conf["offsets.topic.num.partitions"], rf,
                         dict(topic_config(conf, {"cleanup.policy": "compact"})))
    for b in cluster.brokers.values():
        b.coordinator = GroupCoordinator(b)
