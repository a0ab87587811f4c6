"""The simulated network: TCP-like connections over links with latency, cuts, drops and crashes.

Messages on a link arrive in send order; a cut stalls them (nothing is lost) until the link
heals or their connection is closed; a connection that dies takes everything sent on it
afterwards with it, never one message in the middle; a crash resets the connections the
process served, and each client hears the RST one latency later, after the bytes already
on their way.
"""

from __future__ import annotations

from kafkasim.sim.network import Latency
from kafkasim.sim.world import World


def world(*nodes: str, latency: Latency | None = None, seed: int = 1) -> World:
    w = World(seed)
    if latency is not None:
        w.net.default_latency = latency
    for n in nodes:
        w.net.add_node(n, "test")
    return w


class Inbox:
    def __init__(self, w: World) -> None:
        self.w = w
        self.got: list[tuple[int, object]] = []

    def __call__(self, item: object) -> None:
        self.got.append((self.w.now, item))

    def items(self) -> list[object]:
        return [i for _, i in self.got]


def test_delivery_after_the_link_latency() -> None:
    w = world("a", "b", latency=Latency(7, 7))
    inbox = Inbox(w)
    w.run(10)
    assert w.net.send("a", "b", inbox, "hello")
    w.run(100)
    assert inbox.got == [(17, "hello")]


def test_messages_on_one_link_arrive_in_send_order_despite_random_latency() -> None:
    w = world("a", "b", "c", latency=Latency(1, 50, "uniform"))
    ab, cb = Inbox(w), Inbox(w)

    def sender():
        for i in range(200):
            w.net.send("a", "b", ab, i)
            w.net.send("c", "b", cb, i)
            yield w.timeout(1)

    w.process(sender())
    w.run(1000)
    assert ab.items() == list(range(200))
    assert cb.items() == list(range(200))
    delays = [t - i for t, i in ab.got]
    assert len(set(delays)) > 1, "latency really varies; only the order is kept"


def test_slow_link_adds_delay_and_zero_restores_it() -> None:
    w = world("a", "b", latency=Latency(2, 2))
    inbox = Inbox(w)
    w.net.slow("a", "b", 100)
    w.net.send("a", "b", inbox, 1)
    w.run(50)
    w.net.slow("a", "b", 0)
    w.net.send("a", "b", inbox, 2)  # FIFO: cannot overtake the slow message in front of it
    w.run(500)
    assert inbox.got == [(102, 1), (102, 2)]


def test_one_way_cut_stalls_only_that_direction() -> None:
    w = world("a", "b")
    at_a, at_b = Inbox(w), Inbox(w)
    w.net.cut("a", "b", both=False)
    assert w.net.send("a", "b", at_b, "stalled"), "the sender cannot tell a cut"
    assert w.net.send("b", "a", at_a, "arrives")
    w.run(10)
    assert at_b.items() == []
    assert at_a.items() == ["arrives"]
    assert not w.net.reachable("a", "b") and w.net.reachable("b", "a")


def test_a_cut_stalls_messages_and_the_heal_delivers_them_in_order() -> None:
    """TCP retransmits: what was in flight or sent into the cut arrives one latency after the heal,
    in send order, before anything sent after the heal."""
    w = world("a", "b", latency=Latency(10, 10))
    inbox = Inbox(w)
    w.net.send("a", "b", inbox, "in flight")
    w.net.send("b", "a", inbox, "other way")
    w.run(5)
    w.net.cut("a", "b", both=False)
    w.net.send("a", "b", inbox, "into the cut")
    w.run(1000)
    assert inbox.items() == ["other way"]
    w.net.heal("a", "b", both=False)
    w.net.send("a", "b", inbox, "after the heal")
    w.run(2000)
    assert inbox.got == [(10, "other way"), (1010, "in flight"), (1010, "into the cut"), (1010, "after the heal")]
    assert [e.kind for e in w.trace] == ["net.cut", "net.heal"]


def test_a_closed_connection_loses_what_is_still_undelivered_on_it() -> None:
    """A client that gives up (its deadline passed) closes the connection: the stalled bytes go with
    it, both ways; the next connection carries new messages only."""
    w = world("a", "b")
    inbox = Inbox(w)
    conn = w.net.connect("a", "b")
    w.net.cut("a", "b")
    w.net.request(conn, inbox, ("old request",))
    w.run(100)
    w.net.close(conn)
    w.net.heal("a", "b")
    assert not w.net.usable(conn)
    fresh = w.net.connect("a", "b")
    w.net.request(fresh, inbox, ("new request",))
    w.run(200)
    assert inbox.items() == ["new request"]


def test_drop_kills_the_connection_never_one_message_in_the_middle() -> None:
    """Defect 2 of issue #12: TCP cannot lose one request and deliver the next ones on the same
    connection. The dropped message and everything after it on that connection are lost."""
    w = world("a", "b")
    inbox = Inbox(w)
    conn = w.net.connect("a", "b")
    w.net.request(conn, inbox, (0,))
    w.net.drop("a", "b", 1)
    for i in range(1, 5):
        assert w.net.request(conn, inbox, (i,)), "the sender cannot tell"
    w.run(10)
    assert inbox.items() == [0]
    assert conn.dead and w.net.usable(conn), "silently: the client only learns at its deadline"
    other = w.net.connect("a", "b", "coordinator")  # another connection on the same link is fine
    w.net.request(other, inbox, ("other",))
    w.run(20)
    assert inbox.items() == [0, "other"]


def test_drop_with_reset_tells_the_client() -> None:
    w = world("a", "b", latency=Latency(3, 3))
    resets: list[int] = []
    conn = w.net.connect("a", "b", on_reset=lambda _conn: resets.append(w.now))
    w.net.drop("b", "a", 1, reset=True)  # the server's answer is lost, and the connection reset
    w.net.transmit_reply(conn, lambda: None, ())
    w.run(50)
    assert resets == [3] and not w.net.usable(conn)


def test_untracked_traffic_reconnects_after_a_drop() -> None:
    """Broker-to-controller messages have no deadline to notice a dead connection: the next one
    opens a new connection, so only the dropped message is lost."""
    w = world("a", "b")
    ab = Inbox(w)
    w.net.drop("a", "b", 2)
    for i in range(4):
        assert w.net.send("a", "b", ab, i)
    w.run(10)
    assert ab.items() == [2, 3]


def test_send_to_or_from_a_dead_process_is_refused() -> None:
    w = world("a", "b")
    inbox = Inbox(w)
    w.net.crash("b")
    assert not w.net.send("a", "b", inbox, 1), "connection refused"
    assert not w.net.send("b", "a", inbox, 2)
    w.net.restart("b")
    assert w.net.send("a", "b", inbox, 3)
    w.run(5)
    assert inbox.items() == [3]


def test_crash_loses_messages_in_flight_to_the_process_even_if_it_restarts() -> None:
    """The connections a message was sent on died with the receiving process; bytes its sender
    already put on the wire before dying still arrive (the network's documented contract)."""
    w = world("a", "b", "c", latency=Latency(10, 10))
    inbox = Inbox(w)
    w.net.send("a", "b", inbox, "to b")
    w.net.send("b", "c", inbox, "from b")
    w.net.send("a", "c", inbox, "bystander")
    w.run(3)
    w.net.crash("b")
    w.run(4)
    w.net.restart("b")  # back before the messages would arrive: still a new process
    w.net.send("a", "b", inbox, "after restart")
    w.run(100)
    assert sorted(inbox.items()) == ["after restart", "bystander", "from b"]
    assert "to b" not in inbox.items()


def test_a_crash_resets_the_connections_the_process_served_one_latency_later() -> None:
    w = world("a", "b", "c", latency=Latency(3, 3))
    seen: list = []
    conns = {n: w.net.connect(n, "b", on_reset=lambda _conn, n=n: seen.append((n, w.now))) for n in ("a", "c")}
    late = Inbox(w)
    w.run(10)
    w.net.transmit_reply(conns["a"], late, ("answer already on the wire",))
    w.net.crash("b")
    w.run(100)
    assert sorted(seen) == [("a", 13), ("c", 13)]
    assert late.got == [(13, "answer already on the wire")], "the bytes before the RST still arrive"


def test_a_reset_over_a_cut_link_waits_for_the_heal_and_none_reaches_a_restarted_client() -> None:
    w = world("a", "b", "d", latency=Latency(5, 5))
    seen: list = []
    conn_a = w.net.connect("a", "b", on_reset=lambda _conn: seen.append(("a", w.now)))
    w.net.connect("d", "b", on_reset=lambda _conn: seen.append(("d", w.now)))
    w.net.cut("b", "a", both=False)  # the reset cannot reach a yet
    w.net.crash("b")
    w.run(1)
    w.net.crash("d")  # d dies and comes back before the reset arrives: a new process
    w.net.restart("d")
    w.run(50)
    assert seen == []
    w.net.heal("b", "a", both=False)
    w.run(100)
    assert seen == [("a", 55)] and not w.net.usable(conn_a)


def test_same_seed_same_latencies() -> None:
    def arrivals(seed: int) -> list[int]:
        w = world("a", "b", latency=Latency(1, 100, "uniform"), seed=seed)
        inbox = Inbox(w)

        def sender():
            for i in range(50):
                w.net.send("a", "b", inbox, i)
                yield w.timeout(20)

        w.process(sender())
        w.run(5000)
        return [t for t, _ in inbox.got]

    assert arrivals(3) == arrivals(3)
    assert arrivals(3) != arrivals(4)
