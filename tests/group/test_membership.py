"""The consumer's side of the classic group protocol (kafka-semantics §10-§11, assignors §1, §6).

Real ``kafkasim.Consumer`` members run as simulated applications (poll, process, commit);
the tests read the trace and the callbacks the application received. Expected values come
from Kafka's rules (Java ``ConsumerCoordinator`` / ``AbstractCoordinator``, confluent-kafka's
callback contract), never from what the model printed.

Timings: session.timeout.ms 6 000, heartbeat.interval.ms 1 000, max.poll.interval.ms 10 000,
link latency 1 ms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import kafkasim
from kafkasim.check.groups import analyse_groups
from kafkasim.group.coordinator import OFFSETS_TOPIC, install, offsets_partition
from kafkasim.records import TopicPartition
from kafkasim.scenario.run import Simulation, finish

SESSION, HEARTBEAT, MAX_POLL = 6000, 1000, 10_000
FAST = {"session.timeout.ms": SESSION, "heartbeat.interval.ms": HEARTBEAT, "max.poll.interval.ms": MAX_POLL,
        "auto.offset.reset": "earliest"}
EAGER = ["range"]
COOPERATIVE = ["cooperative-sticky"]


# -- helpers -----------------------------------------------------------------------------------------
def make_cluster(partitions: int = 4, seed: int = 1, topics: tuple[str, ...] = ("t",)) -> Any:
    c = kafkasim.cluster(3, seed=seed)
    for t in topics:
        c.topic(t, partitions=partitions, replication_factor=3)
    install(c)
    c.run(1)
    return c


def advance(c: Any, ms: int) -> None:
    c.run(c.world.now + ms)


def conf(**extra: Any) -> dict[str, Any]:
    out = dict(FAST, **{"group.id": "g"})
    out.update({k.replace("_", "."): v for k, v in extra.items()})
    return out


def events(c: Any, *kinds: str, **match: Any) -> list:
    node = match.pop("node", None)
    return [e for e in c.world.trace.of(*kinds)
            if (node is None or e.node == node) and all(e.data.get(k) == v for k, v in match.items())]


def parts(e: Any, key: str = "partitions") -> set[tuple[str, int]]:
    return {(t, p) for t, p in e.data[key]}


def produce(c: Any, per_partition: int, partitions: int = 4, topic: str = "t") -> None:
    p = kafkasim.Producer({}, c, f"producer-{topic}-{c.world.now}")
    for part in range(partitions):
        for i in range(per_partition):
            p.produce(topic, value=i, partition=part)


def spy(c: Any, method: str) -> list[tuple[int, str, tuple]]:
    """Record (arrival time, client, args) of every request ``method`` reaching any coordinator."""
    seen: list[tuple[int, str, tuple]] = []
    for b in c.brokers.values():
        coord = b.coordinator
        original = getattr(coord, method)

        def wrapper(*args: Any, _orig: Callable = original) -> Any:
            seen.append((c.world.now, args[3], args))  # every handler takes the client 4th
            return _orig(*args)

        setattr(coord, method, wrapper)
    return seen


class App:
    """A consumer application in group ``g``.

    It polls (``consume``) up to ``max_records`` records, processes each for ``process_ms``
    (emitting ``app.processed``) and commits per ``commit``: ``auto`` (the consumer's
    auto-commit), ``after`` (sync commit after processing: at-least-once), ``before`` (sync
    commit before processing: at-most-once), ``handoff`` (records are queued to a worker and
    the application polls again at once; auto-commit). It can crash, restart, close or stall
    (stop polling, also in the middle of a batch). Callbacks are logged as they fire.
    """

    def __init__(self, c: Any, name: str, config: dict[str, Any], topics: tuple[str, ...] = ("t",), *,
                 start_ms: int = 0, process_ms: int = 0, max_records: int = 10, commit: str = "auto",
                 with_on_lost: bool = True) -> None:
        self.c, self.name, self.config, self.topics = c, name, dict(config), topics
        self.process_ms, self.max_records, self.commit = process_ms, max_records, commit
        self.with_on_lost = with_on_lost
        self.run_id = 0
        self.consumer: Any = None
        self.stall_until = 0
        self.calls: list[tuple[str, int, list[tuple[str, int]]]] = []
        self.processed: list[tuple[int, str, int, int]] = []  # (t, topic, partition, offset)
        self.polls: list[tuple[int, dict, list[tuple[str, int, int]]]] = []  # (t, positions before, records)
        self.commits: list[tuple[int, Any]] = []
        self.queue: list[Any] = []
        self.errors: list[Any] = []  # errors poll() handed to the application
        self.returns: list[int] = []  # when each poll (consume) returned, records or not
        self.in_poll = False  # the application is inside consume() (or close())
        self.outside_poll: list[tuple[str, int, list]] = []  # callbacks that fired outside them
        self.stall_after: tuple[int, int] | None = None  # (not before, duration): stall as a poll returns
        c.world.at(start_ms, self.start)

    @property
    def group(self) -> str:
        return self.config["group.id"]

    def _cb(self, kind: str) -> Callable[[Any, list], None]:
        def callback(_consumer: Any, tps: list) -> None:
            call = (kind, self.c.world.now, sorted((tp.topic, tp.partition) for tp in tps))
            self.calls.append(call)
            if not self.in_poll:
                self.outside_poll.append(call)

        return callback

    def start(self) -> None:
        self.run_id += 1
        self.consumer = kafkasim.Consumer(self.config, self.c, self.name)
        kw = {"on_assign": self._cb("assign"), "on_revoke": self._cb("revoke")}
        if self.with_on_lost:
            kw["on_lost"] = self._cb("lost")
        self.consumer.subscribe(list(self.topics), **kw)
        self.c.world.process(self._loop(self.run_id, self.consumer))
        if self.commit == "handoff":
            self.c.world.process(self._worker(self.run_id))

    def restart(self) -> None:
        self.c.world.emit("app.restart", self.name, consumer=self.name, group=self.group)
        self.start()

    def crash(self) -> None:
        self.run_id += 1
        self.c.world.emit("app.crash", self.name, consumer=self.name, group=self.group)
        self.consumer.crash()

    def close(self) -> None:
        self.run_id += 1
        self.c.world.emit("app.close", self.name, consumer=self.name, group=self.group)
        self.in_poll = True  # close() runs the callbacks on the application thread too
        self.consumer.close()
        self.in_poll = False

    def stall(self, duration_ms: int) -> None:
        self.stall_until = self.c.world.now + duration_ms
        self.c.world.emit("app.stall", self.name, consumer=self.name, group=self.group, duration_ms=duration_ms)

    def _process(self, m: Any) -> None:
        w = self.c.world
        self.processed.append((w.now, m.topic(), m.partition(), m.offset()))
        producer, rec = m.rid.split(":", 1)[0], int(m.rid.rsplit(":", 1)[1])
        w.emit("app.processed", self.name, consumer=self.name, group=self.group, topic=m.topic(),
               partition=m.partition(), offset=m.offset(), count=1, producer=producer, rec=rec)

    def _loop(self, rid: int, k: Any) -> Any:
        w = self.c.world
        while rid == self.run_id and not k.closed:
            if self.stall_until > w.now:
                yield w.timeout(self.stall_until - w.now)
                continue
            before = {(tp.topic, tp.partition): off for tp, off in k.positions().items()}
            t_call = w.now
            self.in_poll = True
            msgs = yield k.consume(self.max_records, 0.5)
            self.in_poll = False
            if rid != self.run_id:
                return
            self.errors.extend(m.error() for m in msgs if m.error() is not None)
            msgs = [m for m in msgs if m.error() is None]
            self.returns.append(w.now)
            if self.stall_after is not None and w.now >= self.stall_after[0]:
                self.stall(self.stall_after[1])  # stop polling the instant this poll returned
                self.stall_after = None
            if not msgs:
                continue
            self.polls.append((t_call, before, [(m.topic(), m.partition(), m.offset()) for m in msgs]))
            if self.commit == "handoff":
                self.queue.extend(msgs)
                continue
            if self.commit == "before":
                self.commits.append((w.now, (yield k.commit(asynchronous=False))))
            for m in msgs:
                if self.process_ms:
                    yield w.timeout(self.process_ms)
                if rid != self.run_id:
                    return
                self._process(m)
                if self.stall_until > w.now:  # stuck in the middle of the batch
                    yield w.timeout(self.stall_until - w.now)
            if self.commit == "after":
                self.commits.append((w.now, (yield k.commit(asynchronous=False))))

    def _worker(self, rid: int) -> Any:
        w = self.c.world
        while rid == self.run_id:
            if self.queue:
                m = self.queue.pop(0)
                yield w.timeout(self.process_ms)
                if rid != self.run_id:
                    return
                self._process(m)
            else:
                yield w.timeout(50)


def analyse(c: Any) -> dict[str, Any]:
    """End the run (log.final events) and read the group statistics from the trace."""
    finish(Simulation(None, c.world, c))  # type: ignore[arg-type]
    return analyse_groups(c.world.trace)["groups"]["g"]


def ownership_violations(c: Any) -> list[str]:
    """A partition owned by two live consumers at the same instant, from the trace.

    A consumer owns what its last ``member.assigned`` says until ``member.revoked`` /
    ``member.lost``, its crash or close, or its poll timeout (from then on it is out of the
    group even though it has not yet been told)."""
    owner: dict[tuple[str, int], str] = {}
    held: dict[str, set[tuple[str, int]]] = {}
    bad = []

    def drop(node: str, tps: set[tuple[str, int]]) -> None:
        for tp in tps:
            if owner.get(tp) == node:
                del owner[tp]
        held[node] = held.get(node, set()) - tps

    for e in c.world.trace:
        if e.kind == "member.assigned":
            new = parts(e)
            for tp in new:
                if owner.get(tp, e.node) != e.node:
                    bad.append(f"t={e.t}: {tp} assigned to {e.node} while {owner[tp]} owns it")
                owner[tp] = e.node
            drop(e.node, held.get(e.node, set()) - new)
            held[e.node] = new
        elif e.kind in ("member.revoked", "member.lost"):
            drop(e.node, parts(e))
        elif e.kind in ("client.crash", "app.close", "consumer.poll_timeout"):
            drop(e.node, set(held.get(e.node, set())))
    return bad


def check_callbacks(app: App) -> None:
    """confluent-kafka / Java: on_assign for every assignment (the added partitions, possibly
    empty); on_revoke and on_lost only with something in them."""
    c = app.c
    assigned = events(c, "member.assigned", node=app.name)
    assigns = [call for call in app.calls if call[0] == "assign"]
    assert [(t, sorted(map(tuple, e.data["added"]))) for e, (_k, t, _p) in zip(assigned, assigns, strict=True)] \
        == [(t, p) for _k, t, p in assigns]
    for kind, _t, tps in app.calls:
        if kind in ("revoke", "lost"):
            assert tps, f"{app.name}: on_{kind} with nothing in it"


def stable_events(c: Any) -> list:
    return events(c, "group.stable", group="g")


# -- 4. liveness -------------------------------------------------------------------------------------------
def test_crashed_member_is_removed_after_the_session_timeout_not_before() -> None:
    c = make_cluster()
    a, b = App(c, "a", conf()), App(c, "b", conf())
    heartbeats = spy(c, "handle_heartbeat")
    advance(c, 9500)
    crash_t = c.world.now
    b_parts = {(tp.topic, tp.partition) for tp in b.consumer.assignment()}
    assert b_parts
    b.crash()
    advance(c, 15_000)
    last_hb = max(t for t, who, _ in heartbeats if who == "b")
    leaves = events(c, "member.leave", group="g")
    assert [e.data["reason"] for e in leaves] == ["session_timeout"]
    assert leaves[0].data["member"].startswith("b-")
    rebalance = [e for e in events(c, "group.rebalance", group="g") if e.t > crash_t]
    assert len(rebalance) == 1
    t = rebalance[0].t
    assert last_hb + SESSION - HEARTBEAT <= t <= last_hb + SESSION + HEARTBEAT
    assert t - crash_t >= SESSION - HEARTBEAT  # nothing happens for (almost) a whole session
    # b's partitions sit idle until then, then go to a
    taken = [e for e in events(c, "member.assigned", node="a") if parts(e) & b_parts]
    assert taken and taken[0].t >= t
    assert {(tp.topic, tp.partition) for tp in a.consumer.assignment()} == {("t", p) for p in range(4)}


def test_member_that_keeps_heartbeating_and_polling_stays() -> None:
    """A slow but live member (polls every 3 s, within max.poll.interval.ms) is never removed."""
    c = make_cluster()
    produce(c, 100)
    App(c, "a", conf(), process_ms=300, max_records=10)
    App(c, "b", conf())
    advance(c, 60_000)
    assert not events(c, "member.leave", "consumer.poll_timeout")
    assert len(stable_events(c)) == 1


def poll_timeout_setup(static: bool, with_on_lost: bool = True) -> tuple[Any, App, App, int]:
    c = make_cluster()
    produce(c, 2000)
    ca = conf(**({"group.instance.id": "ia"} if static else {}))
    cb = conf(**({"group.instance.id": "ib"} if static else {}))
    a = App(c, "a", ca, process_ms=10, commit="after")
    b = App(c, "b", cb, process_ms=10, commit="after", with_on_lost=with_on_lost)
    advance(c, 8000)
    b.stall(MAX_POLL + 10_000)  # stuck in the middle of a batch for 20 s
    stall_t = c.world.now
    return c, a, b, stall_t


def test_dynamic_member_that_stops_polling_leaves_the_group() -> None:
    """max.poll.interval.ms: the consumer itself sends LeaveGroup (rebalance at once, not after
    a session timeout), although its heartbeat thread was fine; its later commit fails with
    CommitFailedException and its partitions are reported lost at its next poll."""
    c, a, b, stall_t = poll_timeout_setup(static=False)
    b_parts = {(tp.topic, tp.partition) for tp in b.consumer.assignment()}
    last_poll = max(t for t, _before, _recs in b.polls)
    advance(c, 25_000)
    timeouts = events(c, "consumer.poll_timeout", node="b")
    assert len(timeouts) == 1
    assert last_poll + MAX_POLL <= timeouts[0].t <= last_poll + MAX_POLL + 5
    leave = events(c, "member.leave", group="g")[0]
    assert leave.data["reason"] == "poll_timeout" and leave.node.startswith("broker-")
    assert 0 < leave.t - timeouts[0].t <= 5  # a LeaveGroup request, one hop later
    assert not events(c, "member.leave", group="g", reason="session_timeout")
    rebalance = [e for e in events(c, "group.rebalance", group="g") if e.t > stall_t][0]
    assert rebalance.t == leave.t
    taken = [e for e in events(c, "member.assigned", node="a") if parts(e) >= b_parts]
    assert taken and taken[0].t < timeouts[0].t + SESSION  # well before a session timeout
    # after the stall: the commit of what b processed fails, b finds out its partitions are lost
    fail = [e for e in events(c, "commit.fail", node="b") if e.t >= stall_t + 20_000]
    assert fail and fail[0].data["exception"] == "CommitFailedException"
    assert any(err is not None for t, err in b.commits if t >= stall_t + 20_000)
    lost = [call for call in b.calls if call[0] == "lost"]
    assert lost and set(lost[0][2]) == b_parts and lost[0][1] >= stall_t + 20_000
    assert not [call for call in b.calls if call[0] == "revoke" and call[1] >= stall_t]
    rejoin = [e for e in events(c, "member.assigned", node="b") if e.t > lost[0][1]]
    assert rejoin  # and it joins again as a new member
    check_callbacks(b)


def test_poll_timeout_lost_partitions_go_to_on_revoke_without_on_lost() -> None:
    """confluent-kafka: with no on_lost callback, lost partitions are passed to on_revoke."""
    c, _a, b, stall_t = poll_timeout_setup(static=False, with_on_lost=False)
    b_parts = sorted((tp.topic, tp.partition) for tp in b.consumer.assignment())
    advance(c, 25_000)
    revoked = [call for call in b.calls if call[0] == "revoke" and call[1] >= stall_t]
    assert revoked and revoked[0][2] == b_parts
    assert events(c, "member.lost", node="b")


def test_static_member_that_stops_polling_is_removed_only_after_the_session_timeout() -> None:
    """A static member past max.poll.interval.ms sends no LeaveGroup: it stops heartbeating and
    the coordinator removes it a session timeout after its last heartbeat."""
    c, a, b, stall_t = poll_timeout_setup(static=True)
    heartbeats = spy(c, "handle_heartbeat")
    b_parts = {(tp.topic, tp.partition) for tp in b.consumer.assignment()}
    advance(c, 25_000)
    timeout = events(c, "consumer.poll_timeout", node="b")[0]
    last_hb = max(t for t, who, _ in heartbeats if who == "b" and t <= timeout.t + 5)
    leaves = events(c, "member.leave", group="g")
    assert [e.data["reason"] for e in leaves] == ["session_timeout"]
    assert leaves[0].data["instance"] == "ib"
    assert last_hb + SESSION - HEARTBEAT <= leaves[0].t <= last_hb + SESSION + HEARTBEAT
    assert not [e for e in events(c, "group.rebalance", group="g") if timeout.t <= e.t < leaves[0].t]
    taken = [e for e in events(c, "member.assigned", node="a") if parts(e) >= b_parts]
    assert taken and taken[0].t >= leaves[0].t
    fail = [e for e in events(c, "commit.fail", node="b") if e.t >= stall_t + 20_000]
    assert fail and fail[0].data["exception"] == "CommitFailedException"


def stop_polling_right_after_a_poll_returns(c: Any, app: App, not_before: int) -> int:
    """Let ``app`` stop polling (for 15 s) the instant its first poll after ``not_before`` returns."""
    app.stall_after = (not_before, 15_000)
    while app.stall_after is not None:
        advance(c, 1)
    return app.stall_until - 15_000


def test_a_poll_that_returned_is_no_longer_in_progress() -> None:
    c = make_cluster()
    a = App(c, "a", conf())
    stop_polling_right_after_a_poll_returns(c, a, 8000)
    assert not a.consumer.in_poll()


def test_member_that_is_not_polling_does_not_join_a_rebalance() -> None:
    """Java: the heartbeat thread only marks that a rejoin is needed; JoinGroup is sent from
    poll(). A member whose application stopped polling takes no part in the rebalance and
    leaves when max.poll.interval.ms runs out, counted from its last poll."""
    c = make_cluster()
    a = App(c, "a", conf())
    stall_t = stop_polling_right_after_a_poll_returns(c, a, 8000)
    joins = spy(c, "handle_join")
    App(c, "b", conf())
    advance(c, 16_000)
    assert not [t for t, who, _args in joins if who == "a" and t < stall_t + 15_000]
    timeout = events(c, "consumer.poll_timeout", node="a")
    assert timeout and timeout[0].t <= stall_t + MAX_POLL + 5


def test_member_that_dies_right_after_its_assignment_still_expires() -> None:
    c = make_cluster()
    a, b = App(c, "a", conf()), App(c, "b", conf())
    while not events(c, "member.assigned", node="b"):
        advance(c, 1)
    crash_t = c.world.now
    b.crash()  # before its first heartbeat (heartbeat.interval.ms after the assignment)
    advance(c, 20_000)
    leaves = events(c, "member.leave", group="g", reason="session_timeout")
    assert leaves and leaves[0].t <= crash_t + SESSION + HEARTBEAT
    assert {(tp.topic, tp.partition) for tp in a.consumer.assignment()} == {("t", p) for p in range(4)}


@pytest.mark.parametrize("strategy", [
    pytest.param(EAGER, id="eager"),
    pytest.param(COOPERATIVE, id="cooperative"),
])
def test_rebalance_callbacks_run_inside_poll(strategy: list[str]) -> None:
    """Rebalance callbacks are invoked from within poll()/consume() (or close()), never while the
    application is busy processing what the previous poll returned."""
    c = make_cluster(partitions=6)
    produce(c, 3000, partitions=6)
    cfg = conf(partition_assignment_strategy=strategy)
    apps = [App(c, "a", cfg, process_ms=50), App(c, "b", cfg, process_ms=50),
            App(c, "d", cfg, process_ms=50, start_ms=10_000)]
    advance(c, 20_000)
    assert all(app.calls for app in apps)
    assert [(app.name, call) for app in apps for call in app.outside_poll] == []


# -- 5. eager vs cooperative ---------------------------------------------------------------------------------
def join_third(strategy: list[str]) -> tuple[Any, list[App]]:
    c = make_cluster(partitions=6)
    produce(c, 3000, partitions=6)
    cfg = conf(partition_assignment_strategy=strategy)
    apps = [App(c, "a", cfg, process_ms=5), App(c, "b", cfg, process_ms=5),
            App(c, "d", cfg, process_ms=5, start_ms=10_000)]
    advance(c, 20_000)
    return c, apps


def test_eager_members_revoke_everything_before_the_new_assignment() -> None:
    """Eager (range): when d joins, a and b each revoke ALL their partitions (on_revoke(all))
    before rejoining, even those they get back; nobody owns anything until SyncGroup."""
    c, apps = join_third(EAGER)
    first, second = stable_events(c)[:2]
    assert second.data["protocol"] == "range" and second.data["generation"] == first.data["generation"] + 1
    rebalance = [e for e in events(c, "group.rebalance", group="g") if e.t > 10_000][0]
    new_assigned = events(c, "member.assigned", group="g", generation=second.data["generation"])
    assert {e.node for e in new_assigned} == {"a", "b", "d"}
    for app in apps[:2]:
        before = parts(events(c, "member.assigned", node=app.name)[0])
        revoked = [e for e in events(c, "member.revoked", node=app.name) if e.t >= rebalance.t]
        assert len(revoked) == 1 and parts(revoked[0]) == before
        assert revoked[0].t <= min(e.t for e in new_assigned)
        assert revoked[0].data["generation"] == first.data["generation"]
        mine = next(e for e in new_assigned if e.node == app.name)
        assert parts(mine) == parts(mine, "added")  # everything is new again
        kept = before & parts(mine)
        assert kept  # range keeps some partitions with their owner, and they were revoked anyway
        revoke_calls = [call for call in app.calls if call[0] == "revoke"]
        assert [set(call[2]) for call in revoke_calls] == [before]
        # stop-the-world: nothing is processed between giving everything up and the new assignment
        assert not [t for t, *_rest in app.processed if revoked[0].t < t < mine.t]
        assert [t for t, *_rest in app.processed if t > mine.t]  # and work resumes afterwards
        check_callbacks(app)
    assert len([e for e in events(c, "group.rebalance", group="g") if e.t > 10_000]) == 1
    assert ownership_violations(c) == []


def test_cooperative_members_revoke_only_what_moves_then_a_second_rebalance_hands_it_over() -> None:
    """Cooperative (KIP-429): a and b keep their partitions; the assignor withholds the ones that
    move; their owners revoke only those, rejoin, and a follow-up rebalance gives them to d."""
    c, apps = join_third(COOPERATIVE)
    stable = stable_events(c)
    assert len(stable) == 3  # initial, withheld round, hand-over round
    g1, g2, g3 = (e.data["generation"] for e in stable)
    assert g2 == g1 + 1 and g3 == g2 + 1
    assert {e.data["protocol"] for e in stable} == {"cooperative-sticky"}
    withheld = events(c, "group.assign", generation=g2)[0].data["transferring"]
    assert withheld  # the partitions that must move are not handed out in round 2
    moved: set[tuple[str, int]] = set()
    for app in apps[:2]:
        before = parts(events(c, "member.assigned", node=app.name, generation=g1)[0])
        after = parts(events(c, "member.assigned", node=app.name, generation=g2)[0])
        revoked = [e for e in events(c, "member.revoked", node=app.name)]
        assert len(revoked) == 1 and parts(revoked[0]) == before - after != set()
        assert after < before  # kept the rest, without revoking it
        moved |= parts(revoked[0])
        check_callbacks(app)
    assert moved == {(t, p) for t, p in withheld}
    d2 = events(c, "member.assigned", node="d", generation=g2)[0]
    d3 = events(c, "member.assigned", node="d", generation=g3)[0]
    assert parts(d2) == set() and parts(d3) == parts(d3, "added") == moved
    assert d3.t > max(e.t for e in events(c, "member.revoked"))
    assert [call[2] for call in apps[2].calls] == [[], sorted(moved)]  # on_assign([]) then the moved ones
    check_callbacks(apps[2])
    assert ownership_violations(c) == []
    # the group ends balanced: 6 partitions over 3 members, 2 each, every partition once
    final = stable[-1].data["members"]
    assert sorted(len(v) for v in final.values()) == [2, 2, 2]
    assert sorted(tuple(p) for v in final.values() for p in v) == [("t", p) for p in range(6)]


def test_cooperative_partitions_of_a_dead_member_move_in_one_round() -> None:
    """A member that died owns nothing any more: its partitions are reassigned in the single
    rebalance that removes it, and the survivors revoke nothing."""
    c, apps = join_third(COOPERATIVE)
    settled = len(stable_events(c))
    apps[2].crash()
    advance(c, 15_000)
    new = stable_events(c)[settled:]
    assert len(new) == 1
    assert not [e for e in events(c, "member.revoked") if e.t > 20_000]
    final = new[0].data["members"]
    assert sorted(tuple(p) for v in final.values() for p in v) == [("t", p) for p in range(6)]
    assert ownership_violations(c) == []
    for app in apps[:2]:
        check_callbacks(app)


def test_close_revokes_and_leaves_at_once() -> None:
    """A dynamic member's close(): on_revoke(all), LeaveGroup -> immediate rebalance (no session
    timeout), under both protocols."""
    for strategy in (EAGER, COOPERATIVE):
        c = make_cluster()
        a, b = App(c, "a", conf(partition_assignment_strategy=strategy)), \
            App(c, "b", conf(partition_assignment_strategy=strategy))
        advance(c, 8000)
        owned = sorted((tp.topic, tp.partition) for tp in b.consumer.assignment())
        close_t = c.world.now
        b.close()
        advance(c, 5000)
        assert [call for call in b.calls if call[0] == "revoke"][-1][2] == owned
        leave = events(c, "member.leave", group="g")
        assert [e.data["reason"] for e in leave] == ["leave"] and leave[0].t - close_t <= 5
        final = stable_events(c)[-1]
        assert final.t - close_t < HEARTBEAT + 100
        assert list(final.data["members"].values()) == [[["t", p] for p in range(4)]]
        assert ownership_violations(c) == []
        check_callbacks(a)


def test_mixed_strategies_use_the_common_cooperative_assignor() -> None:
    """[range, cooperative-sticky] + [cooperative-sticky]: the group uses cooperative-sticky;
    each client keeps its own rebalance protocol (the first is EAGER: its list contains range)."""
    c = make_cluster()
    App(c, "a", conf(partition_assignment_strategy=["range", "cooperative-sticky"]))
    App(c, "b", conf(partition_assignment_strategy=["cooperative-sticky"]))
    advance(c, 8000)
    assert {e.data["protocol"] for e in stable_events(c)} == {"cooperative-sticky"}
    protocols = {e.node: e.data["protocol"] for e in events(c, "member.assigned")}
    assert protocols == {"a": "eager", "b": "cooperative"}


def test_inconsistent_protocol_is_reported_to_the_application() -> None:
    c = make_cluster()
    App(c, "a", conf(partition_assignment_strategy=["range"]))
    advance(c, 5000)
    App(c, "b", conf(partition_assignment_strategy=["roundrobin"]))
    joins = spy(c, "handle_join")
    advance(c, 5000)
    assert [j for j in joins if j[1] == "b"]  # b did try
    assert not events(c, "member.assigned", node="b")
    mentions = [e for e in c.world.trace if "INCONSISTENT_GROUP_PROTOCOL" in str(e.data)]
    assert mentions, "the JoinGroup error is nowhere in the trace"


def test_invalid_session_timeout_is_reported_to_the_application() -> None:
    c = make_cluster()
    App(c, "a", conf(session_timeout_ms=5000))  # below group.min.session.timeout.ms (6 000)
    joins = spy(c, "handle_join")
    advance(c, 5000)
    assert joins and not events(c, "member.assigned")
    mentions = [e for e in c.world.trace if "INVALID_SESSION_TIMEOUT" in str(e.data)]
    assert mentions, "the JoinGroup error is nowhere in the trace"


# -- 6. static membership -------------------------------------------------------------------------------------
def static_pair(down_ms: int) -> tuple[Any, App, App, int]:
    c = make_cluster()
    a = App(c, "a", conf(group_instance_id="ia"))
    b = App(c, "b", conf(group_instance_id="ib"))
    advance(c, 10_000)
    crash_t = c.world.now
    a.crash()
    advance(c, down_ms)
    a.restart()
    advance(c, 15_000)
    return c, a, b, crash_t


def test_static_restart_within_session_timeout_needs_no_rebalance() -> None:
    """KIP-345: a static member back within session.timeout.ms (new member id, same instance id)
    gets the same assignment, without a rebalance; nobody else is disturbed."""
    c, a, b, crash_t = static_pair(3000)
    assert len(stable_events(c)) == 1 and len(events(c, "group.rebalance")) == 1
    assert not events(c, "member.leave", group="g")
    replaced = events(c, "member.replaced", group="g")
    assert len(replaced) == 1 and replaced[0].data["instance"] == "ia"
    first, second = events(c, "member.assigned", node="a")
    assert parts(first) == parts(second) != set()
    assert second.data["member"] == replaced[0].data["member"] != first.data["member"]
    assert second.data["generation"] == first.data["generation"]
    assert len(events(c, "member.assigned", node="b")) == 1 and not b.calls[1:]


def test_static_restart_within_session_timeout_runs_no_assignor() -> None:
    c, _a, _b, crash_t = static_pair(3000)
    assert not [e for e in events(c, "group.assign") if e.t > crash_t]


def test_static_restart_after_session_timeout_rebalances() -> None:
    c, a, b, crash_t = static_pair(9000)
    leaves = events(c, "member.leave", group="g")
    assert [(e.data["reason"], e.data["instance"]) for e in leaves] == [("session_timeout", "ia")]
    assert crash_t + SESSION - HEARTBEAT <= leaves[0].t <= crash_t + SESSION + HEARTBEAT
    stable = stable_events(c)
    assert len(stable) == 3  # initial; without a; with a again
    assert len(stable[1].data["members"]) == 1 and len(stable[2].data["members"]) == 2
    assert not events(c, "member.replaced")


def test_static_member_close_sends_no_leave_group() -> None:
    """KIP-345: a static member's close() sends no LeaveGroup; it is removed by the session timeout."""
    c = make_cluster()
    App(c, "a", conf(group_instance_id="ia"))
    b = App(c, "b", conf(group_instance_id="ib"))
    advance(c, 8000)
    leaves_spy = spy(c, "handle_leave")
    close_t = c.world.now
    b.close()
    advance(c, 12_000)
    assert leaves_spy == []
    leaves = events(c, "member.leave", group="g")
    assert [e.data["reason"] for e in leaves] == ["session_timeout"]
    assert leaves[0].t - close_t >= SESSION - HEARTBEAT


def test_second_live_consumer_with_the_same_instance_id_is_fenced() -> None:
    """Kafka: b joins with a's group.instance.id -> it replaces a's member id; a's next request
    with its old member id -> FENCED_INSTANCE_ID, fatal for a (FencedInstanceIdException)."""
    c = make_cluster()
    a = App(c, "a", conf(group_instance_id="i1"))
    advance(c, 8000)
    App(c, "b", conf(group_instance_id="i1"))
    advance(c, 20_000)
    assert len(events(c, "member.replaced", group="g")) == 1
    fatal = [e for e in events(c, "member.leave", node="a") if "FENCED_INSTANCE_ID" in e.data["reason"]]
    assert fatal
    assert len(events(c, "member.assigned", node="b")) == 1
    assert len(events(c, "member.assigned", node="a")) == 1
    assert a.consumer.group.state == "left"
    # until a's next request is refused, a still believes it owns its partitions while b consumes
    # them: the hazard of two live consumers sharing one group.instance.id (KIP-345 fences the old
    # one as soon as it speaks, not before)


# -- 7. offsets ------------------------------------------------------------------------------------------------
def one_partition_handover(commit: str) -> tuple[Any, App, App, int]:
    """a owns t-0 (b is idle, subscribed to the same single partition); a crashes mid-batch."""
    c = make_cluster(partitions=1)
    produce(c, 200, partitions=1)
    a = App(c, "a", conf(enable_auto_commit=False), process_ms=100, commit=commit)
    advance(c, 100)
    b = App(c, "b", conf(enable_auto_commit=False), process_ms=100, commit=commit)
    advance(c, 7000)
    assert a.consumer.assignment() == [TopicPartition("t", 0)]
    crash_t = 0
    # crash in the middle of a batch: the 5th record of the current batch has just been processed
    while True:
        advance(c, 10)
        done = len(a.processed)
        if done % 10 == 5:
            crash_t = c.world.now
            a.crash()
            break
    advance(c, 30_000)
    return c, a, b, crash_t


def last_committed(c: Any, node: str, partition: int = 0) -> int:
    out = -1
    for e in events(c, "commit.ok", node=node):
        for _t, p, off in e.data["offsets"]:
            if p == partition:
                out = off
    return out


def test_commit_after_processing_then_crash_redelivers_from_the_committed_offset() -> None:
    """At-least-once: the next owner resumes at the committed offset, so the records a processed
    after its last commit are processed a second time; none is lost."""
    c, a, b, crash_t = one_partition_handover("after")
    committed = last_committed(c, "a")
    done_by_a = [off for _t, _tp, _p, off in a.processed]
    assert committed == done_by_a[-1] - 4  # the last full batch was committed, 5 more were processed
    by_b = [off for _t, _tp, _p, off in b.processed]
    assert by_b[0] == committed
    twice = set(done_by_a) & set(by_b)
    assert twice == set(range(committed, done_by_a[-1] + 1))
    assert sorted(set(done_by_a) | set(by_b)) == list(range(200))
    stats = analyse(c)
    assert stats["processed_twice"] == len(twice) == 5 and stats["unprocessed"] == 0


def test_commit_before_processing_then_crash_loses_the_rest_of_the_batch() -> None:
    """At-most-once: the batch was committed before it was processed; after the crash the next
    owner starts after it, so the unprocessed rest of the batch is never processed."""
    c, a, b, crash_t = one_partition_handover("before")
    committed = last_committed(c, "a")
    done_by_a = [off for _t, _tp, _p, off in a.processed]
    assert committed == done_by_a[-1] + 6  # the whole batch, of which 5 were processed
    by_b = [off for _t, _tp, _p, off in b.processed]
    assert by_b[0] == committed
    lost = set(range(200)) - set(done_by_a) - set(by_b)
    assert lost == set(range(done_by_a[-1] + 1, committed))
    assert not set(done_by_a) & set(by_b)
    stats = analyse(c)
    assert stats["unprocessed"] == len(lost) == 5 and stats["processed_twice"] == 0


def test_auto_commit_commits_positions_of_earlier_polls_at_the_interval() -> None:
    """Auto-commit runs inside poll() once auto.commit.interval.ms (5 000) has passed, and
    commits the positions reached by the records returned by *earlier* polls."""
    c = make_cluster(partitions=1)
    produce(c, 1000, partitions=1)
    commits = spy(c, "handle_commit")
    created = c.world.now
    a = App(c, "a", conf(), process_ms=20)
    advance(c, 21_000)
    auto = [(t - 1, args[4]) for t, who, args in commits if who == "a"]  # sent one link latency before
    reasons = [e.data["reason"] for e in events(c, "commit.ok", node="a")]
    assert reasons == ["auto"] * len(auto) and len(auto) == 4  # at ~5, 10, 15, 20 s
    sent = [t for t, _ in auto]
    assert sent[0] - created >= 5000
    for x, y in zip(sent, sent[1:], strict=False):
        assert 5000 <= y - x <= 5000 + 250  # the interval, checked at the next poll
    polls = {t: (before, recs) for t, before, recs in a.polls}
    for t, offsets in auto:
        before, recs = polls[t]  # committed inside the poll called at t
        tp = TopicPartition("t", 0)
        assert offsets[tp] == before[("t", 0)]  # the position before this poll's records
        assert offsets[tp] == recs[0][2] < recs[-1][2] + 1  # not including what this poll returns
        returned = max(off for pt, _b, rs in a.polls if pt < t for _t, _p, off in rs)
        assert offsets[tp] == returned + 1


def test_auto_commit_before_a_rebalance_and_on_close() -> None:
    """Auto-commit also commits in the join preparation (before revoking) and in close(): the
    next owner starts exactly where the previous one stopped, nothing is processed twice."""
    c = make_cluster(partitions=2)
    produce(c, 2000, partitions=2)
    a = App(c, "a", conf(), process_ms=20)
    advance(c, 7000)
    b = App(c, "b", conf(), process_ms=20)  # joins: a commits before the rebalance
    advance(c, 6000)
    a.close()  # commits on close
    advance(c, 8000)
    reasons = [e.data["reason"] for e in events(c, "commit.ok", node="a")]
    assert "before rebalance" in reasons and reasons[-1] == "close"
    before = next(e for e in events(c, "commit.ok", node="a") if e.data["reason"] == "before rebalance")
    revoke = next(e for e in events(c, "member.revoked", node="a"))
    assert revoke.t >= before.t - 5  # committed as part of the revocation, same generation
    assert before.data["generation"] == revoke.data["generation"]
    moved_first = {p for _t, p in parts(events(c, "member.assigned", node="b")[0])}
    for p in moved_first:
        committed = next(off for _t, pp, off in before.data["offsets"] if pp == p)
        first_b = next(off for _t, _tp, pp, off in b.processed if pp == p)
        assert first_b == committed
    close = events(c, "commit.ok", node="a", reason="close")[0]
    for _t, p, off in close.data["offsets"]:
        after = [o for t, _tp, pp, o in b.processed if pp == p and t > close.t]
        assert after and after[0] == off
    assert analyse(c)["processed_twice"] == 0  # (the backlog is still being read: no unprocessed check)


def test_auto_commit_with_handed_off_records_can_lose_them() -> None:
    """Jepsen's note: auto-commit commits what poll() *returned*; an application that hands
    records to a worker and polls again commits records not yet processed, and a crash loses them."""
    c = make_cluster(partitions=1)
    produce(c, 400, partitions=1)
    a = App(c, "a", conf(), process_ms=50, commit="handoff", max_records=20)
    advance(c, 100)
    App(c, "b", conf(), process_ms=50)
    advance(c, 11_000)
    a.crash()
    advance(c, 30_000)
    stats = analyse(c)
    assert stats["unprocessed"] > 0
    committed = last_committed(c, "a")
    processed_by_a = max(off for _t, _tp, _p, off in a.processed)
    assert committed > processed_by_a + 1  # committed beyond what was processed


def test_no_committed_offset_means_auto_offset_reset() -> None:
    """OffsetFetch -1 (confluent-kafka committed(): OFFSET_INVALID, -1001) -> auto.offset.reset:
    earliest starts at the log start, latest at the end (only records produced later)."""
    c = make_cluster(partitions=1)
    produce(c, 20, partitions=1)
    advance(c, 500)
    early = App(c, "early", conf(**{"group.id": "g1", "auto.offset.reset": "earliest"}))
    late = App(c, "late", conf(**{"group.id": "g2", "auto.offset.reset": "latest"}))
    advance(c, 5000)
    ev = early.consumer.committed([TopicPartition("t", 0)])
    ev2 = late.consumer.committed([TopicPartition("t", 0)])
    advance(c, 10)
    assert ev.value == [(TopicPartition("t", 0), -1001)] and ev2.value == ev.value
    assert [off for *_x, off in early.processed] == list(range(20))
    assert late.processed == []
    produce(c, 5, partitions=1)
    advance(c, 3000)
    assert [off for *_x, off in late.processed] == list(range(20, 25))
    assert [off for *_x, off in early.processed] == list(range(25))
    seeks = {e.node: e.data["reason"] for e in events(c, "consumer.seek")}
    assert seeks == {"early": "earliest", "late": "latest"}


def test_offsets_are_per_group() -> None:
    """Two groups read the same partition independently: each has its own committed offsets."""
    c = make_cluster(partitions=1)
    produce(c, 500, partitions=1)
    App(c, "x", conf(**{"group.id": "g1"}))
    App(c, "y", conf(**{"group.id": "g2"}), process_ms=100)
    advance(c, 12_000)
    n = c.broker_conf["offsets.topic.num.partitions"]
    offs = {}
    for gid in ("g1", "g2"):
        leader = c.controller.partitions[TopicPartition(OFFSETS_TOPIC, offsets_partition(gid, n))].leader
        offs[gid] = c.brokers[leader].coordinator.committed(gid).get(TopicPartition("t", 0))
    assert offs["g1"] == 500 and 0 < offs["g2"] < 500


def test_commits_made_while_the_coordinator_is_being_found_all_complete() -> None:
    """Two commits before the coordinator is known: the second arrives while FindCoordinator is in
    flight; both must be sent once it answers (one used to be dropped, and a commitSync would
    then wait forever)."""
    c = make_cluster()
    k = kafkasim.Consumer(conf(), c, "standalone")
    k.assign([TopicPartition("t", 0)])
    first = k.commit(offsets=[(TopicPartition("t", 0), 3)], asynchronous=False)
    second = k.commit(offsets=[(TopicPartition("t", 0), 5)], asynchronous=False)
    advance(c, 2000)
    assert first.triggered and second.triggered and first.value is None and second.value is None
    assert [e.data["offsets"] for e in events(c, "commit.ok", node="standalone")] == [[["t", 0, 3]], [["t", 0, 5]]]


def test_a_crashed_consumer_stops_looking_for_its_coordinator() -> None:
    c = make_cluster()
    k = kafkasim.Consumer(conf(), c, "standalone")
    k.assign([TopicPartition("t", 0)])
    k.commit(offsets=[(TopicPartition("t", 0), 3)], asynchronous=True)
    k.crash()
    advance(c, 120_000)
    assert not events(c, "commit.ok", "commit.fail", node="standalone")
    assert not k.group._find_waiters and not k.group._find_inflight  # no FindCoordinator retried forever
