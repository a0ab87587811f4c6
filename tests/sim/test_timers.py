"""World.timers(): cancelled timers cost no event, and live ones fire exactly where one simpy
Timeout each would have fired (same time, same order among simultaneous events)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kafkasim.sim.world import World

# (delay, cancel after this many ms or None) per timer, interleaved with plain World.at calls
PLAN = st.lists(st.tuples(st.integers(0, 50), st.one_of(st.none(), st.integers(0, 60)), st.booleans()),
                max_size=30)


def play(plan, lazy: bool) -> tuple[list, int]:
    w = World(1)
    fired: list = []
    timers = w.timers()
    for i, (delay, cancel_after, plain) in enumerate(plan):
        if plain:
            w.at(delay, fired.append, ("at", i, w.now))
            continue
        if lazy:
            t = timers.add(delay, lambda i=i: fired.append(("timer", i, w.now)))
            if cancel_after is not None:
                w.at(cancel_after, t.cancel)
        else:  # the reference: one Timeout per timer, its callback checking a flag
            live = [True]
            w.at(delay, lambda i=i, live=live: live[0] and fired.append(("timer", i, w.now)))
            if cancel_after is not None:
                w.at(cancel_after, live.__setitem__, 0, False)
    steps = 0
    while w.env.peek() != float("inf"):
        w.env.step()
        steps += 1
    return fired, steps


@given(PLAN)
def test_timers_fire_like_timeouts(plan) -> None:
    lazy, lazy_steps = play(plan, lazy=True)
    eager, eager_steps = play(plan, lazy=False)
    assert lazy == eager
    assert lazy_steps <= eager_steps


def test_cancelled_timers_leave_no_events() -> None:
    w = World(1)
    timers = w.timers()
    fired = []
    for _ in range(1000):  # a request answered at once, its 30 s deadline cancelled
        timers.add(30_000, fired.append, "timeout").cancel()
    last = timers.add(30_000, fired.append, "last")
    steps = 0
    while w.env.peek() != float("inf"):
        w.env.step()
        steps += 1
    assert fired == ["last"] and last.live is False
    assert steps <= 2, "one dead event for the first cancelled head at most, then the live one"
