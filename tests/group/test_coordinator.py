"""The broker-side group coordinator (kafka-semantics §10-§11, assignors §1).

Two ways in:

* *probe* tests call the coordinator's handlers directly (``handle_join``, ``handle_sync``,
  ``handle_heartbeat``, ``handle_leave``, ``handle_commit``, ``handle_offset_fetch``) from a
  probe node on the simulated network and read the replies, as a hand-written client would;
* *consumer* tests run real ``kafkasim.Consumer`` members and read the trace.

Expected values come from Kafka's rules (Java ``String.hashCode``, ``GroupCoordinator`` /
``GroupMetadataManager`` of the classic protocol), never from what the model printed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import kafkasim
from kafkasim.errors import KafkaError
from kafkasim.group.coordinator import (
    OFFSETS_TOPIC,
    GroupCoordinator,
    install,
    java_string_hash,
    offsets_partition,
)
from kafkasim.records import TopicPartition

E = KafkaError
FAST = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000, "max.poll.interval.ms": 10000,
        "auto.offset.reset": "earliest"}
META = {"topics": ["t"], "owned": [], "generation": -1}
T = [TopicPartition("t", p) for p in range(4)]


# -- helpers -----------------------------------------------------------------------------------------
def make_cluster(brokers: int = 3, partitions: int = 4, seed: int = 1,
                 config: dict[str, Any] | None = None) -> Any:
    c = kafkasim.cluster(brokers, seed=seed, config=config)
    c.topic("t", partitions=partitions, replication_factor=min(3, brokers))
    install(c)
    c.run(10)  # bootstrap: leaders elected, coordinators loaded
    return c


def advance(c: Any, ms: int) -> None:
    c.run(c.world.now + ms)


def coordinator_id(c: Any, gid: str) -> int:
    """The broker leading the group's __consumer_offsets partition (the controller's view)."""
    n = c.broker_conf["offsets.topic.num.partitions"]
    return c.controller.partitions[TopicPartition(OFFSETS_TOPIC, offsets_partition(gid, n))].leader


def coordinator(c: Any, gid: str) -> GroupCoordinator:
    return c.brokers[coordinator_id(c, gid)].coordinator


def events(c: Any, *kinds: str, **match: Any) -> list:
    node = match.pop("node", None)
    return [e for e in c.world.trace.of(*kinds)
            if (node is None or e.node == node) and all(e.data.get(k) == v for k, v in match.items())]


class Probe:
    """A hand-written client on the network: sends one request, keeps every reply."""

    def __init__(self, c: Any, name: str = "probe") -> None:
        self.c = c
        self.name = name
        c.world.net.add_node(name, "consumer")

    def reply_box(self) -> tuple[list, Callable[..., None]]:
        box: list = []
        return box, lambda *a: box.append((self.c.world.now, a))

    def join(self, coord: GroupCoordinator, gid: str = "g", member_id: str = "", *,
             protocols: list[tuple[str, dict]] | None = None, session: int = 6000, rebalance: int = 10000,
             instance: str | None = None) -> list:
        box, reply = self.reply_box()
        coord.handle_join(gid, member_id, instance, self.name, protocols or [("range", META)], session,
                          rebalance, "", reply)
        return box

    def join_with_id(self, coord: GroupCoordinator, gid: str = "g", **kw: Any) -> tuple[str, list]:
        """KIP-394: JoinGroup without an id, take the MEMBER_ID_REQUIRED id, JoinGroup again."""
        first = self.join(coord, gid, **kw)
        advance(self.c, 5)
        (_, (err, _gen, _proto, _leader, member_id, _members)), = first
        assert err is E.MEMBER_ID_REQUIRED
        return member_id, self.join(coord, gid, member_id, **kw)

    def sync(self, coord: GroupCoordinator, gid: str, generation: int, member_id: str,
             assignments: dict | None) -> list:
        box, reply = self.reply_box()
        coord.handle_sync(gid, generation, member_id, self.name, assignments, reply)
        return box

    def heartbeat(self, coord: GroupCoordinator, gid: str, generation: int, member_id: str) -> list:
        box, reply = self.reply_box()
        coord.handle_heartbeat(gid, generation, member_id, self.name, reply)
        return box

    def leave(self, coord: GroupCoordinator, gid: str, member_id: str) -> list:
        box, reply = self.reply_box()
        coord.handle_leave(gid, member_id, None, self.name, "leave", reply)
        return box

    def commit(self, coord: GroupCoordinator, gid: str, generation: int, member_id: str,
               offsets: dict[TopicPartition, int]) -> list:
        box, reply = self.reply_box()
        coord.handle_commit(gid, generation, member_id, self.name, offsets, reply)
        return box

    def fetch(self, coord: GroupCoordinator, gid: str, partitions: list[TopicPartition]) -> list:
        box, reply = self.reply_box()
        coord.handle_offset_fetch(gid, self.name, partitions, reply)
        return box


def only(box: list) -> tuple:
    assert len(box) == 1, box
    return box[0][1]


class App:
    """A consumer application: subscribe, poll (consume) in a loop, optionally process and commit."""

    def __init__(self, c: Any, name: str, conf: dict[str, Any], topics: tuple[str, ...] = ("t",), *,
                 start_ms: int = 0, process_ms: int = 0, max_records: int = 10) -> None:
        self.c, self.name, self.conf, self.topics = c, name, dict(conf), topics
        self.process_ms, self.max_records = process_ms, max_records
        self.run_id = 0
        self.consumer: Any = None
        self.processed: list[tuple[int, int, int]] = []  # (t, partition, offset)
        c.world.at(start_ms, self.start)

    def start(self) -> None:
        self.run_id += 1
        self.consumer = kafkasim.Consumer(self.conf, self.c, self.name)
        self.consumer.subscribe(list(self.topics))
        self.c.world.process(self._loop(self.run_id, self.consumer))

    def crash(self) -> None:
        self.run_id += 1
        self.c.world.emit("app.crash", self.name, consumer=self.name, group=self.conf["group.id"])
        self.consumer.crash()

    def close(self) -> None:
        self.run_id += 1
        self.c.world.emit("app.close", self.name, consumer=self.name, group=self.conf["group.id"])
        self.consumer.close()

    def _loop(self, rid: int, k: Any) -> Any:
        w = self.c.world
        while rid == self.run_id and not k.closed:
            msgs = yield k.consume(self.max_records, 0.5)
            for m in msgs:
                if self.process_ms:
                    yield w.timeout(self.process_ms)
                if rid != self.run_id:
                    return
                self.processed.append((w.now, m.partition(), m.offset()))


def produce(c: Any, per_partition: int, partitions: int = 4, topic: str = "t") -> None:
    p = kafkasim.Producer({}, c, "producer")
    for part in range(partitions):
        for i in range(per_partition):
            p.produce(topic, value=i, partition=part)


# -- 1. placement: abs(Java String.hashCode) % offsets.topic.num.partitions -----------------------------
# Hand-computed from s[0]*31^(n-1) + ... + s[n-1] over UTF-16 code units, in 32-bit two's complement:
#   "g"   = 103                                         -> 103 % 50 = 3
#   "ab"  = 97*31 + 98 = 3105                          -> 5
#   "größe": 103*31^4 + 114*31^3 + 246*31^2 + 223*31 + 101 = 98762257 -> 7   (U+00F6, U+00DF are
#            single UTF-16 units: hashing UTF-8 bytes would give another value)
#   "日本語": 0x65E5*961 + 0x672C*31 + 0x8A9E = 26085*961 + 26412*31 + 35486 = 25921943 -> 43
#   "😀" (U+1F600) is the surrogate pair D83D DE00: 55357*31 + 56832 = 1772899 -> 49
#            (its code point 128512 would give 12)
#   "billing"  = -109829509 (overflows): abs -> 9      (Python's -109829509 % 50 would give 41)
#   "my-group" = -1906497762: abs -> 12                 (Python's % would give 38)
#   "polygenelubricants" = -2147483648 = Integer.MIN_VALUE: Kafka's Utils.abs(MIN_VALUE) = 0 -> 0
HASHES = [("g", 103, 3), ("ab", 3105, 5), ("größe", 98762257, 7), ("日本語", 25921943, 43),
          ("😀", 1772899, 49), ("billing", -109829509, 9), ("my-group", -1906497762, 12),
          ("polygenelubricants", -2147483648, 0)]


@pytest.mark.parametrize(("gid", "hash_code", "partition"), HASHES, ids=[h[0] for h in HASHES])
def test_offsets_partition_is_abs_java_hashcode_mod_50(gid: str, hash_code: int, partition: int) -> None:
    assert java_string_hash(gid) == hash_code
    assert offsets_partition(gid, 50) == partition


def test_offsets_partition_with_other_partition_counts() -> None:
    assert offsets_partition("g", 7) == 103 % 7
    assert offsets_partition("billing", 1) == 0
    assert offsets_partition("my-group", 3) == 1906497762 % 3
    assert java_string_hash("") == 0 and offsets_partition("", 50) == 0


def test_find_coordinator_returns_the_offsets_partition_leader() -> None:
    """FindCoordinator -> the leader of __consumer_offsets-(abs(hash) % 50): "g" -> partition 3."""
    from kafkasim.group.coordinator import handle_find_coordinator

    c = make_cluster()
    probe = Probe(c)
    leader = c.controller.partitions[TopicPartition(OFFSETS_TOPIC, 3)].leader
    for b in c.brokers.values():
        box, reply = probe.reply_box()
        handle_find_coordinator(b, "g", probe.name, reply)
        advance(c, 5)
        assert only(box) == (E.NONE, leader)


def test_only_the_coordinator_answers_for_a_group() -> None:
    c = make_cluster()
    probe = Probe(c)
    other = next(b for i, b in c.brokers.items() if i != coordinator_id(c, "g"))
    box = probe.join(other.coordinator, "g")
    advance(c, 5)
    assert only(box)[0] is E.NOT_COORDINATOR
    box = probe.fetch(other.coordinator, "g", T[:1])
    advance(c, 5)
    assert only(box)[0] is E.NOT_COORDINATOR


# -- 3. JoinGroup / SyncGroup -----------------------------------------------------------------------------
def test_kip394_member_id_round_trip() -> None:
    """A new dynamic member first gets MEMBER_ID_REQUIRED with an id (client.id + "-" + UUID),
    then joins with it; a JoinGroup without an id is not a member yet."""
    import uuid

    c = make_cluster()
    probe = Probe(c)
    coord = coordinator(c, "g")
    first = probe.join(coord, "g")
    advance(c, 5)
    err, gen, _proto, _leader, member_id, members = only(first)
    assert err is E.MEMBER_ID_REQUIRED and gen == -1 and members == []
    assert member_id.startswith("probe-")
    uuid.UUID(member_id.removeprefix("probe-"))  # the rest is a UUID
    assert not events(c, "group.join") and not events(c, "group.rebalance")

    second = probe.join(coord, "g", member_id)
    advance(c, 3100)
    err, gen, proto, leader, mid, members = only(second)
    assert (err, gen, proto, leader, mid) == (E.NONE, 1, "range", member_id, member_id)
    assert [m[0] for m in members] == [member_id]  # the leader gets every member's metadata
    assert members[0][2] == META

    sync = probe.sync(coord, "g", 1, member_id, {member_id: T})
    advance(c, 50)
    assert only(sync) == (E.NONE, tuple(T))
    stable = events(c, "group.stable", group="g")
    assert len(stable) == 1 and stable[0].data["generation"] == 1


def test_each_new_member_gets_a_distinct_id() -> None:
    c = make_cluster()
    probe = Probe(c)
    coord = coordinator(c, "g")
    ids = set()
    for _ in range(3):
        box = probe.join(coord, "g")
        advance(c, 5)
        ids.add(only(box)[4])
    assert len(ids) == 3


def test_join_with_an_unknown_member_id_is_rejected() -> None:
    """Kafka ``doJoinGroup``: a non-empty member id that is neither a member nor pending ->
    UNKNOWN_MEMBER_ID (the client resets its id and joins again)."""
    c = make_cluster()
    probe = Probe(c)
    box = probe.join(coordinator(c, "g"), "g", "probe-made-up-id")
    advance(c, 3100)
    assert only(box)[0] is E.UNKNOWN_MEMBER_ID


@pytest.mark.parametrize(("session", "ok"), [(5999, False), (6000, True), (1_800_000, True),
                                             (1_800_001, False), (1, False)])
def test_session_timeout_must_be_within_broker_bounds(session: int, ok: bool) -> None:
    """group.min.session.timeout.ms (6 000) <= session.timeout.ms <= group.max.session.timeout.ms (1 800 000)."""
    c = make_cluster()
    probe = Probe(c)
    box = probe.join(coordinator(c, "g"), "g", session=session)
    advance(c, 5)
    assert only(box)[0] is (E.MEMBER_ID_REQUIRED if ok else E.INVALID_SESSION_TIMEOUT)


def test_session_timeout_bounds_come_from_the_broker_config() -> None:
    c = make_cluster(config={"group.min.session.timeout.ms": 10_000, "group.max.session.timeout.ms": 20_000})
    probe = Probe(c)
    coord = coordinator(c, "g")
    results = []
    for session in (9_999, 10_000, 20_000, 20_001):
        box = probe.join(coord, "g", session=session)
        advance(c, 5)
        results.append(only(box)[0])
    assert results == [E.INVALID_SESSION_TIMEOUT, E.MEMBER_ID_REQUIRED, E.MEMBER_ID_REQUIRED,
                       E.INVALID_SESSION_TIMEOUT]


def test_first_rebalance_waits_the_initial_delay() -> None:
    """An empty group's first rebalance completes group.initial.rebalance.delay.ms (3 000) after
    the first member joined, not at once."""
    c = make_cluster()
    probe = Probe(c)
    coord = coordinator(c, "g")
    member_id, box = probe.join_with_id(coord)
    t0 = c.world.now
    advance(c, 2990)
    assert box == []  # still waiting for more members
    advance(c, 20)
    t, (err, gen, *_rest) = box[0]
    assert err is E.NONE and gen == 1
    assert t0 + 3000 <= t <= t0 + 3000 + 2


def test_initial_delay_is_extended_while_members_keep_joining() -> None:
    """A second member joining during the delay extends it: the join completes after both the
    first window and a full delay after the last arrival, within the rebalance timeout."""
    c = make_cluster()
    a, b = Probe(c, "a"), Probe(c, "b")
    coord = coordinator(c, "g")
    _ida, box_a = a.join_with_id(coord)
    t0 = c.world.now
    advance(c, 2000 - 5)
    _idb, box_b = b.join_with_id(coord)
    t1 = c.world.now
    advance(c, 10_000)
    (ta, ra), (tb, rb) = box_a[0], box_b[0]
    assert ra[0] is E.NONE and rb[0] is E.NONE and ra[1] == rb[1] == 1
    assert ta == tb
    assert ta >= max(t0 + 3000, t1 + 3000 - 5)
    assert ta <= t0 + 10_000 + 2  # never beyond the rebalance timeout


def test_initial_delay_extension_follows_kafkas_windows() -> None:
    """Kafka ``InitialDelayedJoin`` / ``tryCompleteInitialRebalanceElseSchedule``: the first window
    is [t0, t0+3000]; when it expires and a member was added meanwhile, another window of
    min(3000, remaining) starts *then*. A joins at t0, B at t0+2000 -> complete at t0+6000."""
    c = make_cluster()
    a, b = Probe(c, "a"), Probe(c, "b")
    coord = coordinator(c, "g")
    _ida, box_a = a.join_with_id(coord, rebalance=30_000)
    t0 = c.world.now
    advance(c, 2000 - 5)
    b.join_with_id(coord, rebalance=30_000)
    advance(c, 10_000)
    ta = box_a[0][0]
    assert t0 + 6000 <= ta <= t0 + 6000 + 2


def test_protocol_is_one_every_member_supports() -> None:
    """[range, cooperative-sticky] + [cooperative-sticky] -> cooperative-sticky (the only common one)."""
    c = make_cluster()
    App(c, "a", dict(FAST, **{"group.id": "g", "partition.assignment.strategy": ["range", "cooperative-sticky"]}))
    App(c, "b", dict(FAST, **{"group.id": "g", "partition.assignment.strategy": ["cooperative-sticky"]}))
    advance(c, 8000)
    stable = events(c, "group.stable", group="g")
    assert stable and {e.data["protocol"] for e in stable} == {"cooperative-sticky"}
    assert {e.data["assignor"] for e in events(c, "group.assign")} == {"cooperative-sticky"}
    assigned = {e.node: e.data["partitions"] for e in events(c, "member.assigned")}
    assert sorted(p for parts in assigned.values() for p in parts) == [["t", p] for p in range(4)]


def test_protocol_vote_is_among_candidates_only() -> None:
    """Candidates = names all members support; each votes for its first candidate. range is
    first for a and b but c lacks it, so roundrobin is the only candidate."""
    c = make_cluster()
    for name, strategy in (("a", ["range", "roundrobin"]), ("b", ["range", "roundrobin"]), ("c", ["roundrobin"])):
        App(c, name, dict(FAST, **{"group.id": "g", "partition.assignment.strategy": strategy}))
    advance(c, 8000)
    assert {e.data["protocol"] for e in events(c, "group.stable", group="g")} == {"roundrobin"}


def test_majority_vote_picks_the_protocol() -> None:
    """Both range and roundrobin are supported by everyone; two members prefer roundrobin."""
    c = make_cluster()
    for name, strategy in (("a", ["range", "roundrobin"]), ("b", ["roundrobin", "range"]),
                           ("c", ["roundrobin", "range"])):
        App(c, name, dict(FAST, **{"group.id": "g", "partition.assignment.strategy": strategy}))
    advance(c, 8000)
    assert {e.data["protocol"] for e in events(c, "group.stable", group="g")} == {"roundrobin"}


def test_inconsistent_group_protocol_while_forming() -> None:
    """A member sharing no protocol with the members already in the (first) rebalance is refused."""
    c = make_cluster()
    a, b = Probe(c, "a"), Probe(c, "b")
    coord = coordinator(c, "g")
    a.join_with_id(coord, protocols=[("range", META)])
    box = b.join(coord, "g", protocols=[("roundrobin", META)])
    advance(c, 5)
    assert only(box)[0] is E.INCONSISTENT_GROUP_PROTOCOL


def test_inconsistent_group_protocol_in_a_stable_group() -> None:
    c = make_cluster()
    App(c, "a", dict(FAST, **{"group.id": "g", "partition.assignment.strategy": ["range"]}))
    advance(c, 5000)
    assert events(c, "group.stable", group="g")
    probe = Probe(c)
    coord = coordinator(c, "g")
    box = probe.join(coord, "g", protocols=[("roundrobin", META), ("sticky", META)])
    advance(c, 5)
    assert only(box)[0] is E.INCONSISTENT_GROUP_PROTOCOL
    ok = probe.join(coord, "g", protocols=[("roundrobin", META), ("range", META)])
    advance(c, 5)
    assert only(ok)[0] is E.MEMBER_ID_REQUIRED  # shares range: accepted


def test_every_member_receives_its_assignment_and_generations_count_rebalances() -> None:
    """Three members join one by one: each completed rebalance bumps the generation by one; in
    every generation, every member gets an assignment and together they cover each partition once."""
    c = make_cluster()
    conf = dict(FAST, **{"group.id": "g"})
    App(c, "a", conf)
    App(c, "b", conf, start_ms=8000)
    App(c, "c", conf, start_ms=16000)
    advance(c, 24000)
    gens = [e.data["generation"] for e in events(c, "group.state", group="g", state="CompletingRebalance")]
    assert gens == [1, 2, 3]
    stable = events(c, "group.stable", group="g")
    assert [e.data["generation"] for e in stable] == [1, 2, 3]
    for st in stable:
        gen, members = st.data["generation"], st.data["members"]
        assert len(members) == gen  # a, then a+b, then a+b+c
        got = {e.data["member"]: e.data["partitions"]
               for e in events(c, "member.assigned", group="g", generation=gen)}
        assert got == members  # every member received exactly what the coordinator stored
        flat = sorted(tuple(p) for parts in got.values() for p in parts)
        assert flat == [("t", p) for p in range(4)]


# -- Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch: error codes -------------------------------------------
def stable_probe_group(c: Any) -> tuple[Probe, GroupCoordinator, str]:
    probe = Probe(c)
    coord = coordinator(c, "g")
    member_id, box = probe.join_with_id(coord)
    advance(c, 3100)
    assert only(box)[0] is E.NONE
    sync = probe.sync(coord, "g", 1, member_id, {member_id: T})
    advance(c, 50)
    assert only(sync)[0] is E.NONE
    return probe, coord, member_id


def test_heartbeat_errors() -> None:
    c = make_cluster()
    probe, coord, mid = stable_probe_group(c)
    nogroup = next(f"other-{i}" for i in range(100) if coordinator_id(c, f"other-{i}") == coordinator_id(c, "g"))
    replies = [probe.heartbeat(coord, "g", 1, mid), probe.heartbeat(coord, "g", 0, mid),
               probe.heartbeat(coord, "g", 1, "probe-nobody"), probe.heartbeat(coord, nogroup, 1, mid)]
    advance(c, 5)
    assert [only(b)[0] for b in replies] == [E.NONE, E.ILLEGAL_GENERATION, E.UNKNOWN_MEMBER_ID,
                                             E.UNKNOWN_MEMBER_ID]


def test_heartbeat_during_a_rebalance_says_rebalance_in_progress() -> None:
    c = make_cluster()
    probe, coord, mid = stable_probe_group(c)
    other = Probe(c, "other")
    other.join_with_id(coord)  # a new member: PreparingRebalance
    advance(c, 5)
    box = probe.heartbeat(coord, "g", 1, mid)
    advance(c, 5)
    assert only(box)[0] is E.REBALANCE_IN_PROGRESS
    assert events(c, "group.state", group="g")[-1].data["state"] == "PreparingRebalance"


def test_silent_member_is_expired_after_the_session_timeout() -> None:
    """A member that stops sending anything after it joined is removed one session timeout later."""
    c = make_cluster()
    probe = Probe(c)
    coord = coordinator(c, "g")
    member_id, box = probe.join_with_id(coord)
    advance(c, 3100)
    assert only(box)[0] is E.NONE
    t_join = box[0][0]  # the JoinGroup answer arrived (sent one link latency earlier)
    advance(c, 10_000)  # no SyncGroup, no heartbeat
    leave = events(c, "member.leave", group="g", member=member_id)
    assert leave and leave[0].data["reason"] == "session_timeout"
    assert t_join + 6000 - 5 <= leave[0].t <= t_join + 6000 + 5


def test_member_silent_after_sync_is_expired_after_the_session_timeout() -> None:
    """Kafka keeps a session timer on every member at all times: after SyncGroup and no
    heartbeat, the member is removed one session timeout later and the group rebalances."""
    c = make_cluster()
    probe, coord, mid = stable_probe_group(c)
    t_sync = c.world.now
    advance(c, 15_000)
    leave = events(c, "member.leave", group="g", member=mid)
    assert leave and leave[0].data["reason"] == "session_timeout"
    assert leave[0].t <= t_sync + 6000


def test_leave_group_removes_the_member_and_empties_the_group() -> None:
    c = make_cluster()
    probe, coord, mid = stable_probe_group(c)
    box = probe.leave(coord, "g", mid)
    advance(c, 5)
    assert only(box)[0] is E.NONE
    states = [e.data["state"] for e in events(c, "group.state", group="g")]
    assert states[-2:] == ["PreparingRebalance", "Empty"]
    assert events(c, "member.leave", group="g", member=mid)[0].data["reason"] == "leave"
    again = probe.leave(coord, "g", mid)
    advance(c, 5)
    assert only(again)[0] is E.UNKNOWN_MEMBER_ID


def test_commit_checks_membership_and_generation() -> None:
    c = make_cluster()
    probe, coord, mid = stable_probe_group(c)
    replies = [probe.commit(coord, "g", 1, mid, {T[0]: 5}),
               probe.commit(coord, "g", 0, mid, {T[0]: 6}),
               probe.commit(coord, "g", 1, "probe-nobody", {T[0]: 7}),
               probe.commit(coord, "g", -1, "", {T[0]: 8})]  # no membership, but the group has members
    advance(c, 50)
    assert [only(b)[0] for b in replies] == [E.NONE, E.ILLEGAL_GENERATION, E.UNKNOWN_MEMBER_ID,
                                             E.UNKNOWN_MEMBER_ID]
    fetched = probe.fetch(coord, "g", T[:2])
    advance(c, 5)
    assert only(fetched) == (E.NONE, {T[0]: 5, T[1]: -1})


def test_offset_fetch_without_commit_is_minus_one_and_simple_commits_work_in_an_empty_group() -> None:
    """OffsetFetch answers -1 for a partition with no committed offset; a consumer outside group
    management (generation -1, no member id) may commit into a group with no members."""
    c = make_cluster()
    probe = Probe(c)
    coord = coordinator(c, "g")
    box = probe.fetch(coord, "g", T)
    advance(c, 5)
    assert only(box) == (E.NONE, {tp: -1 for tp in T})
    commit = probe.commit(coord, "g", -1, "", {T[2]: 42})
    advance(c, 50)
    assert only(commit)[0] is E.NONE
    box = probe.fetch(coord, "g", T)
    advance(c, 5)
    assert only(box) == (E.NONE, {T[0]: -1, T[1]: -1, T[2]: 42, T[3]: -1})


def test_commit_is_replicated_in_consumer_offsets_before_the_answer() -> None:
    """Offsets are records of __consumer_offsets, replicated (acks=all) before the coordinator answers."""
    c = make_cluster()
    probe = Probe(c)
    coord = coordinator(c, "g")
    tp = TopicPartition(OFFSETS_TOPIC, offsets_partition("g", 50))
    box: list = []

    def reply(err: KafkaError) -> None:
        # when the answer leaves the coordinator, every ISR replica has the record below its HW
        rec = c.controller.partitions[tp]
        for r in rec.isr:
            log = c.brokers[r].logs[tp]
            values = [v for b in log.batches for v in (b.values or ())]
            assert ("offset", "g", "t", 1, 17) in values
        leader_log = c.brokers[rec.leader].logs[tp]
        assert leader_log.hw == leader_log.leo
        box.append(err)

    coord.handle_commit("g", -1, "", probe.name, {T[1]: 17}, reply)
    advance(c, 50)
    assert box == [E.NONE]


# -- 2. coordinator failover -------------------------------------------------------------------------------------
def test_committed_offsets_survive_coordinator_failover() -> None:
    """The offsets partition's leader dies: another replica becomes leader, loads the group from
    __consumer_offsets and answers OffsetFetch with the offsets committed before the crash;
    a new consumer of the group resumes from them."""
    c = make_cluster()
    produce(c, 50)
    conf = dict(FAST, **{"group.id": "g", "enable.auto.commit": False})
    app = App(c, "a", conf, process_ms=100)
    advance(c, 6000)
    committed = {T[0]: 7, T[1]: 11, T[2]: 13, T[3]: 17}
    ev = app.consumer.commit(offsets=sorted(committed.items()), asynchronous=False)
    advance(c, 100)
    assert ev.triggered and ev.value is None
    app.close()
    advance(c, 100)

    old = coordinator_id(c, "g")
    c.broker(old).crash()
    advance(c, 20_000)
    new = coordinator_id(c, "g")
    assert new not in (old, -1)
    loads = events(c, "coordinator.load", node=f"broker-{new}", group="g")
    assert loads and loads[-1].t > 6000

    probe = Probe(c)
    box = probe.fetch(c.brokers[new].coordinator, "g", T)
    advance(c, 5)
    assert only(box) == (E.NONE, committed)

    late = App(c, "late", dict(FAST, **{"group.id": "g"}))
    advance(c, 8000)
    first = {}
    for _t, p, off in late.processed:
        first.setdefault(p, off)
    assert first == {tp.partition: committed[tp] for tp in T}


def test_group_continues_after_coordinator_failover() -> None:
    """Auto-committing members keep working across a coordinator failover: they find the new
    coordinator, their later commits succeed, and when a member then crashes the survivor
    resumes its partitions at the offsets it committed (through either coordinator)."""
    c = make_cluster()
    produce(c, 200)
    conf = dict(FAST, **{"group.id": "g"})
    a = App(c, "a", conf, process_ms=50)
    b = App(c, "b", conf, process_ms=50)
    old = coordinator_id(c, "g")
    # the first rebalance ends at ~6 s (b joined inside the initial delay: one more window, Kafka's
    # InitialDelayedJoin); crash the coordinator once members have committed
    c.world.at(9000, c.broker(old).crash)
    c.world.at(22000, b.crash)
    advance(c, 45_000)
    new = coordinator_id(c, "g")
    load = events(c, "coordinator.load", node=f"broker-{new}", group="g")[-1]
    assert new != old and load.data["state"] == "Stable"
    assert not events(c, "member.leave", group="g", reason="session_timeout", member=a.consumer.group.member_id)
    assert any(e.t > load.t for e in events(c, "commit.ok", node="a"))
    assert a.consumer.group.coordinator == new

    b_parts = {p for e in events(c, "member.assigned", node="b") for _t, p in e.data["partitions"]}
    assert sorted(tp.partition for tp in a.consumer.assignment()) == [0, 1, 2, 3]
    last_commit = {}
    for e in events(c, "commit.ok", node="b"):
        for _t, p, off in e.data["offsets"]:
            last_commit[p] = off
    takeover = events(c, "member.leave", group="g", reason="session_timeout")[-1].t
    assert b_parts == {2, 3}
    for p in b_parts:
        after = [off for t, pp, off in a.processed if pp == p and t > takeover]
        assert after == list(range(last_commit.get(p, 0), 200))  # from b's commit to the end, once


def test_idle_members_rediscover_the_coordinator_after_failover() -> None:
    """Java: a failed or timed-out Heartbeat marks the coordinator unknown, FindCoordinator runs
    again, and heartbeats go to the new coordinator; the new coordinator (which loaded the group
    as Stable) keeps the live members. Members here never commit (enable.auto.commit=false)."""
    c = make_cluster()
    conf = dict(FAST, **{"group.id": "g", "enable.auto.commit": False})
    a = App(c, "a", conf)
    b = App(c, "b", conf)
    old = coordinator_id(c, "g")
    c.world.at(8000, c.broker(old).crash)
    advance(c, 40_000)
    new = coordinator_id(c, "g")
    assert events(c, "coordinator.load", node=f"broker-{new}", group="g")
    assert not events(c, "member.leave", group="g", reason="session_timeout")
    assert a.consumer.group.coordinator == new and b.consumer.group.coordinator == new
    group = c.brokers[new].coordinator.groups["g"]
    assert group.state.value == "Stable" and len(group.members) == 2
