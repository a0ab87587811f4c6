"""Connections and deadlines as Kafka clients see them (issue #12, defects 1, 2, 4, 5, 7).

Rules (Kafka ``NetworkClient``): every request has a deadline (request.timeout.ms); when it
passes, the client closes that connection and every request in flight on it fails at once;
an RST fails them the same way; the next request opens a new connection after
reconnect.backoff.ms. A cut stalls a connection; it loses nothing, so what was sent into a
short cut completes soon after the heal. A dead process reports nothing.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import kafkasim
from kafkasim.clients.network_client import NetworkClient
from kafkasim.cluster.transactions import install as install_transactions
from kafkasim.errors import KafkaError
from kafkasim.group.coordinator import OFFSETS_TOPIC, offsets_partition
from kafkasim.group.coordinator import install as install_groups
from kafkasim.records import TopicPartition
from kafkasim.sim.network import Latency
from kafkasim.sim.world import World

E = KafkaError
T0 = TopicPartition("t", 0)


def cluster(partitions: int = 1) -> kafkasim.Cluster:
    c = kafkasim.cluster(3, seed=1)
    c.topic("t", partitions, 3)
    install_transactions(c)
    install_groups(c)
    c.start()
    return c


def events(c: kafkasim.Cluster, *kinds: str, node: str | None = None) -> list:
    return [e for e in c.world.trace.of(*kinds) if node is None or e.node == node]


def produce_every(c: kafkasim.Cluster, p: kafkasim.Producer, count: int, every_ms: int) -> None:
    """Records 0 .. count-1 to topic t, one every ``every_ms``."""
    def workload() -> Generator[Any, Any, None]:
        for i in range(count):
            p.produce("t", value=i)
            yield c.world.timeout(every_ms)

    c.world.process(workload())


# -- the NetworkClient itself ----------------------------------------------------------------------
class Server:
    """Answers each request after ``delay`` ms on the connection it came on (or never)."""

    def __init__(self, w: World, name: str, delay: int | None) -> None:
        self.w, self.name, self.delay, self.got = w, name, delay, []

    def handle(self, item: Any, reply: Any) -> None:
        self.got.append(item)
        if self.delay is not None:
            self.w.at(self.delay, self.w.net.send, self.name, "client", reply, item)


def setup(delay: int | None) -> tuple[World, NetworkClient, Server]:
    w = World(1)
    w.net.default_latency = Latency(1, 1)
    for n in ("client", "server"):
        w.net.add_node(n, "test")
    return w, NetworkClient(w, "client", 1000), Server(w, "server", delay)


def test_a_timeout_fails_every_request_on_the_connection_at_once_and_reconnects() -> None:
    w, nc, srv = setup(delay=None)  # the server never answers
    failed: list[tuple[int, str, str]] = []
    for i in range(3):
        nc.send("server", srv.handle, i, lambda item: None, on_error=lambda err, i=i: failed.append((w.now, i, err.name)))
        w.run(w.now + 100)
    w.run(5000)
    # the first request's deadline (1000 ms) fails all three together, in send order
    assert failed == [(1000, 0, "REQUEST_TIMED_OUT"), (1000, 1, "REQUEST_TIMED_OUT"), (1000, 2, "REQUEST_TIMED_OUT")]
    srv.delay = 10
    answers: list[Any] = []
    nc.send("server", srv.handle, "again", answers.append)
    w.run(6000)
    assert answers == ["again"], "a new connection carries the next request"


def test_an_answer_after_the_deadline_never_arrives() -> None:
    w, nc, srv = setup(delay=1500)  # answers after the client gave up
    answers, errors = [], []
    nc.send("server", srv.handle, "slow", answers.append, on_error=errors.append)
    w.run(5000)
    assert srv.got == ["slow"] and answers == [] and errors == [E.REQUEST_TIMED_OUT]


def test_reconnect_backoff_grows_for_connections_that_keep_failing() -> None:
    """Java blacks a node out for reconnect.backoff.ms after its last connection attempt, doubling
    per consecutive failure up to reconnect.backoff.max.ms: a connection that lived long
    reconnects at once; one that failed right after it was opened waits."""
    w, nc, _srv = setup(delay=None)
    nc.request_timeout_ms = 10
    arrivals: list[int] = []

    def attempt(_err: Any = None) -> None:
        if len(arrivals) < 8:
            nc.send("server", lambda item, reply: arrivals.append(w.now), 0, lambda _: None, on_error=attempt)

    attempt()
    w.run(10_000)
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    # 50, 100, 200, 400, 800 ms (each +-20 %), then capped at 1000
    assert all(40 <= g <= 60 * 2 ** i for i, g in enumerate(gaps[:5])), gaps
    assert gaps[1] < gaps[2] < gaps[3] < gaps[4]
    assert all(800 <= g <= 1200 + 2 for g in gaps[5:]), gaps


# -- what a learner sees -----------------------------------------------------------------------------
def test_a_healed_cut_restarts_replication_within_about_a_second() -> None:
    """Defect 1: records produced into a 5 s cut between the leader and its followers are
    replicated and visible soon after the heal, not after a 30 s request timeout."""
    c = cluster()
    p = kafkasim.Producer({"acks": "all", "linger.ms": 5}, c, "app")
    produce_every(c, p, 200, 50)
    c.run(3000)
    leader = c.controller.partitions[T0].leader
    others = [b.name for b in c.brokers.values() if b.id != leader]
    lb = c.brokers[leader]
    c.world.net.cut(lb.name, others[0])
    c.world.net.cut(lb.name, others[1])
    c.run(8000)
    stuck_hw, leo = lb.parts[T0].log.hw, lb.parts[T0].log.leo
    assert leo > stuck_hw, "acks=all: the high watermark waits for the ISR during the cut"
    c.world.net.heal(lb.name, others[0])
    c.world.net.heal(lb.name, others[1])
    c.run(9000)
    assert lb.parts[T0].log.hw >= leo, "within a second of the heal everything from the cut is committed"
    assert not events(c, "produce.fail")


def test_a_lost_produce_request_does_not_reorder_an_idempotent_producer() -> None:
    """Defect 2: with a connection that dies under one request, the pipelined requests after it
    are lost too; the retries go out in sequence order: no OUT_OF_ORDER_SEQUENCE_NUMBER, no
    epoch bump, no duplicate, no reordering."""
    c = cluster()
    p = kafkasim.Producer({"linger.ms": 0}, c, "app")
    for b in c.brokers.values():  # 30 ms each way, a record every 20 ms: requests are pipelined
        c.world.net.set_latency("app", b.name, Latency(30, 30))
        c.world.net.set_latency(b.name, "app", Latency(30, 30))
    produce_every(c, p, 100, 20)
    c.run(1000)
    c.world.net.drop("app", c.brokers[c.controller.partitions[T0].leader].name, 1)
    c.run(60_000)
    errors = {e.data["error"] for e in events(c, "produce.error")}
    assert errors == {"REQUEST_TIMED_OUT"}
    assert not [e for e in events(c, "producer.init") if e.data.get("reason") == "epoch bump"]
    log = c.brokers[c.controller.partitions[T0].leader].parts[T0].log
    recs = [r for b in log.batches for r in range(b.rec, b.rec + b.count)]
    assert recs == list(range(100)), "every record once, in send order"


def test_find_coordinator_sent_into_a_cut_times_out_and_the_transaction_goes_on() -> None:
    """Defect 4: a transactional producer's FindCoordinator into a cut has a deadline too."""
    c = cluster()
    c.run(100)
    brokers = [b.name for b in c.brokers.values()]
    p = kafkasim.Producer({"transactional.id": "tx"}, c, "app")
    for b in brokers:
        c.world.net.cut("app", b)
    out: dict[str, Any] = {}

    def body() -> Generator[Any, Any, None]:
        yield p.init_transactions()
        p.begin_transaction()
        p.produce("t", value=1)
        yield p.commit_transaction()
        out["done"] = c.world.now

    c.world.process(body())
    c.run(40_000)  # the cut outlasts request.timeout.ms: the first requests are abandoned
    for b in brokers:
        c.world.net.heal("app", b)
    c.run(80_000)
    assert "done" in out, "the producer found its coordinator and committed after the heal"


def test_the_group_finds_a_new_coordinator_when_its_broker_crashes_during_the_first_join() -> None:
    """Defect 5: the coordinator's crash resets the consumers' connections to it; they mark it
    unknown, look it up again once __consumer_offsets has a new leader, and the group forms."""
    c = cluster(partitions=3)
    n = c.controller.topics[OFFSETS_TOPIC].partitions
    coord = c.controller.partitions[TopicPartition(OFFSETS_TOPIC, offsets_partition("g", n))].leader
    consumers = [kafkasim.Consumer({"group.id": "g", "auto.offset.reset": "earliest"}, c, f"c{i}") for i in range(2)]
    for k in consumers:
        k.subscribe(["t"])

    def poll(k: kafkasim.Consumer) -> Generator[Any, Any, None]:
        while True:
            yield k.poll(0.1)

    for k in consumers:
        c.world.process(poll(k))
    c.run(30)  # both JoinGroups wait in the coordinator (group.initial.rebalance.delay.ms)
    assert len(events(c, "group.join")) == 2 and not events(c, "group.stable")
    c.brokers[coord].crash()
    c.run(c.world.now + 60_000)
    assigned = {(t, p) for e in events(c, "group.assign") for parts in e.data["assignment"].values() for t, p in parts}
    assert assigned == {("t", 0), ("t", 1), ("t", 2)}


def test_a_crashed_consumer_reports_nothing_about_its_commit_in_flight() -> None:
    """Defect 7: a dead client hears no answer and reports no failure (the broker may well
    have applied the commit)."""
    c = cluster()
    k = kafkasim.Consumer({"group.id": "g"}, c, "standalone")
    k.assign([T0])
    c.run(2000)
    k.commit(offsets=[(T0, 3)], asynchronous=True)
    k.crash()
    c.run(60_000)
    assert not events(c, "commit.fail", node="standalone")
