"""The simulated network: per-link FIFO, latency, one-way cuts, dropped messages, crashes.

A link behaves like a TCP connection: messages arrive in send order; a cut link is a black
hole the sender cannot detect; a crash closes every connection of the process (nothing sent
before it arrives afterwards) and its peers are told one latency later.
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


def test_one_way_cut_loses_only_that_direction() -> None:
    w = world("a", "b")
    at_a, at_b = Inbox(w), Inbox(w)
    w.net.cut("a", "b", both=False)
    assert w.net.send("a", "b", at_b, "lost"), "a black hole: the sender cannot tell"
    assert w.net.send("b", "a", at_a, "arrives")
    w.run(10)
    assert at_b.items() == []
    assert at_a.items() == ["arrives"]
    assert not w.net.reachable("a", "b") and w.net.reachable("b", "a")


def test_cut_both_ways_and_heal() -> None:
    w = world("a", "b")
    inbox = Inbox(w)
    w.net.cut("a", "b")
    w.net.send("a", "b", inbox, 1)
    w.net.send("b", "a", inbox, 2)
    w.run(5)
    w.net.heal("a", "b")
    w.net.send("a", "b", inbox, 3)
    w.net.send("b", "a", inbox, 4)
    w.run(10)
    assert inbox.items() == [3, 4]
    kinds = [e.kind for e in w.trace]
    assert kinds == ["net.cut", "net.heal"]


def test_message_in_flight_when_the_link_is_cut_is_lost() -> None:
    w = world("a", "b", latency=Latency(10, 10))
    inbox = Inbox(w)
    w.net.send("a", "b", inbox, "in flight")
    w.net.send("b", "a", inbox, "other way")
    w.run(5)
    w.net.cut("a", "b", both=False)
    w.run(11)
    w.net.heal("a", "b", both=False)
    w.run(50)
    assert inbox.items() == ["other way"]


def test_drop_loses_exactly_the_next_count_messages_on_that_link() -> None:
    w = world("a", "b")
    ab, ba = Inbox(w), Inbox(w)
    w.net.drop("a", "b", 2)
    for i in range(4):
        assert w.net.send("a", "b", ab, i)
        w.net.send("b", "a", ba, i)
    w.run(10)
    assert ab.items() == [2, 3]
    assert ba.items() == [0, 1, 2, 3]
    w.net.drop("a", "b", 1)
    w.net.drop("a", "b", 1)  # counts add up
    for i in range(4, 7):
        w.net.send("a", "b", ab, i)
    w.run(20)
    assert ab.items() == [2, 3, 6]


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


def test_peers_are_notified_of_a_crash_one_latency_later() -> None:
    w = world("a", "b", "c", latency=Latency(3, 3))
    seen: list = []
    w.net.on_disconnect("a", lambda peer: seen.append(("a", w.now, peer)))
    w.net.on_disconnect("c", lambda peer: seen.append(("c", w.now, peer)))
    w.run(10)
    w.net.crash("b")
    w.run(100)
    assert sorted(seen) == [("a", 13, "b"), ("c", 13, "b")]


def test_no_disconnect_notice_over_a_cut_link_or_to_a_dead_or_restarted_peer() -> None:
    w = world("a", "b", "c", "d", latency=Latency(5, 5))
    seen: list = []
    for n in ("a", "c", "d"):
        w.net.on_disconnect(n, lambda peer, n=n: seen.append((n, peer)))
    w.net.cut("b", "a", both=False)  # the reset cannot reach a
    w.net.crash("c")  # c is down: nobody to tell
    w.net.crash("b")
    w.run(1)
    w.net.crash("d")  # d dies and comes back before the notice arrives: a new process
    w.net.restart("d")
    w.run(50)
    assert ("a", "b") not in seen
    assert ("c", "b") not in seen
    assert ("d", "b") not in seen


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
