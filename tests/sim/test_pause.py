"""A paused client process (a GC or VM pause, issue #12): its timers stop, what arrives waits
in its socket buffer, and at the resume it reads first and checks its timers after."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkasim.errors import ScenarioError
from kafkasim.scenario.load import load, loads
from kafkasim.scenario.run import run
from kafkasim.sim.network import Latency
from kafkasim.sim.pause import pause
from kafkasim.sim.world import World

LESSON = Path(__file__).parents[2] / "scenarios" / "05-consumer-paused-zombie.yaml"


def _world() -> World:
    w = World(1)
    w.net.default_latency = Latency(5, 5)
    w.pausable = {"client"}
    for n in ("client", "server"):
        w.net.add_node(n, "test")
    return w


def test_a_paused_node_handles_what_arrived_first_then_the_timers_that_fell_due() -> None:
    w = _world()
    cw = w.for_node("client")
    assert cw is not w and w.for_node("server") is w  # only a node some fault pauses is gated
    seen: list[tuple[int, str]] = []
    cw.at(300, lambda: seen.append((w.now, "deadline")))  # falls due during the pause
    w.at(100, pause, w, "client", 1000)
    w.at(200, lambda: w.net.send("server", "client", lambda m: seen.append((w.now, m)), "response"))
    w.run(2000)
    # Java NetworkClient.poll(): the socket is read before the request deadlines are checked
    assert seen == [(1100, "response"), (1100, "deadline")]
    assert [e.kind for e in w.trace.events] == ["client.pause", "client.resume"]
    assert w.trace.events[1].data == {"client": "client", "held_messages": 1, "held_timers": 1}


def test_a_timeout_in_a_paused_process_ends_at_the_resume() -> None:
    w = _world()
    cw = w.for_node("client")
    woke: list[int] = []

    def sleeper():
        yield cw.timeout(50)
        woke.append(w.now)
        yield cw.timeout(50)
        woke.append(w.now)

    cw.process(sleeper())
    w.at(10, pause, w, "client", 500)
    w.run(1000)
    assert woke == [510, 560]


def test_a_crash_ends_the_pause_and_what_it_held_is_gone() -> None:
    w = _world()
    got: list[int] = []
    w.at(0, pause, w, "client", 500)
    w.at(10, lambda: w.net.send("server", "client", lambda: got.append(w.now)))
    w.at(100, w.net.crash, "client")
    w.run(1000)
    assert got == [] and "client" not in w.net.paused
    assert [e.kind for e in w.trace.events] == ["client.pause"]  # no resume for a dead process


def test_a_paused_consumer_sends_nothing_and_comes_back_a_zombie() -> None:
    trace = run(load(LESSON)).trace
    (p,) = trace.of("client.pause")
    (r,) = trace.of("client.resume")
    assert r.t - p.t == 60_000
    assert not [e for e in trace.events if e.node == "billing-1" and p.t < e.t < r.t]
    (leave,) = trace.of("member.leave")
    assert leave.data["reason"] == "session_timeout" and p.t < leave.t < r.t
    # at the resume it processes what waited in its socket buffer, then learns it was replaced
    zombie = [e for e in trace.of("app.processed") if e.node == "billing-1" and r.t <= e.t < r.t + 100]
    fail = next(e for e in trace.of("commit.fail") if e.node == "billing-1" and e.t >= r.t)
    assert zombie and fail.data["exception"] == "CommitFailedException" and zombie[0].t <= fail.t


def test_same_seed_same_trace_with_a_pause() -> None:
    assert run(load(LESSON)).trace.dumps() == run(load(LESSON)).trace.dumps()


PRODUCER = """\
name: paused-producer
duration_ms: 20000
cluster: {{brokers: 3}}
topics:
  - {{name: t, partitions: 1, replication_factor: 3}}
producers:
  - name: p
    workload: {{topic: t, count: 1000, rate_per_s: 100}}
faults:
  - {fault}
"""


def test_a_paused_producer_sends_nothing_then_catches_up() -> None:
    trace = run(loads(PRODUCER.format(fault="{at_ms: 2000, action: pause, target: p, duration_ms: 3000}"))).trace
    sends = [e.t for e in trace.of("produce.send")]
    assert not [t for t in sends if 2000 < t < 5000]
    assert sum(e.data["count"] for e in trace.of("produce.ack")) == 1000


@pytest.mark.parametrize("fault,fragment", [
    ("{at_ms: 2000, action: pause, target: broker-1, duration_ms: 3000}",
     "only producers, consumers and pipelines can pause"),
    ("{at_ms: 2000, action: pause, target: p}", "missing required key 'duration_ms'"),
])
def test_a_bad_pause_is_refused(fault: str, fragment: str) -> None:
    with pytest.raises(ScenarioError) as err:
        loads(PRODUCER.format(fault=fault))
    assert "faults[0]" in str(err.value) and fragment in str(err.value)
