"""A client process paused: a long GC pause or a VM stall freezes every thread of it.

While a JVM is stopped, none of its threads run: the consumer sends no heartbeat and calls
no ``poll()``, the producer's sender thread sends nothing, no timer of its own fires. The
operating system still works for it: bytes it had already written leave, and what peers
send it waits in its socket buffers. When it resumes, it carries on with its old state, as
if no time had passed, and only then learns what the world did meanwhile (a coordinator
that removed it, a transaction coordinator that aborted its transaction and bumped its
epoch): the zombie.

kafkasim freezes a client by its node name. A node that some fault pauses gets a
:class:`NodeWorld` (from :meth:`World.for_node`): its timers and timeouts, when they fall
due during a pause, wait for the resume; the network holds what arrives for it. At the
resume the held messages are handled first, in arrival order, then the held timers, in
the order they fell due: Java's ``NetworkClient.poll()`` reads the socket before it checks
request deadlines, so a response that arrived during the pause completes its request.
A node no fault pauses uses the world itself, so a scenario without pauses runs exactly
as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import simpy

from kafkasim.sim.world import Timers

if TYPE_CHECKING:
    from kafkasim.sim.world import World


@dataclass
class Pause:
    """What a paused node has not handled yet: messages that arrived, timers that fell due."""

    until: int
    deliveries: list[Callable[[], None]] = field(default_factory=list)
    timers: list[tuple[Callable[..., Any], tuple]] = field(default_factory=list)


class NodeWorld:
    """The world as one pausable client process sees it: its timers stop while it is paused.

    Everything but ``at``, ``timeout`` and ``timers`` is the world's own.
    """

    def __init__(self, world: World, name: str) -> None:
        self._world = world
        self.name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._world, attr)

    @property
    def now(self) -> int:
        return self._world.now

    def _gate(self, fn: Callable[..., Any], args: tuple) -> None:
        """Run ``fn(*args)`` now, or at the resume if the node is paused."""
        p = self._world.net.paused.get(self.name)
        if p is not None:
            p.timers.append((fn, args))
        else:
            fn(*args)

    def at(self, delay: int, fn: Callable[..., Any], *args: Any) -> None:
        self._world.at(delay, self._gate, fn, args)

    def timeout(self, delay: int, value: Any = None) -> simpy.Event:
        ev = self._world.env.event()
        self._world.at(delay, self._gate, ev.succeed, (value,))
        return ev

    def timers(self) -> Timers:
        return _GatedTimers(self)


class _GatedTimers(Timers):
    """A :class:`Timers` queue whose timers wait for the resume when they fall due in a pause."""

    __slots__ = ("node",)

    def __init__(self, node: NodeWorld) -> None:
        super().__init__(node._world.env)
        self.node = node

    def add(self, delay: int, fn: Callable[..., Any], *args: Any) -> Any:
        return super().add(delay, self.node._gate, fn, args)


def pause(world: World, name: str, duration_ms: int) -> None:
    """Freeze client ``name`` for ``duration_ms`` (a second pause while paused extends it)."""
    net = world.net
    p = net.paused.get(name)
    until = world.now + duration_ms
    if p is not None:
        p.until = max(p.until, until)
    else:
        net.paused[name] = Pause(until)
    world.emit("client.pause", name, client=name, duration_ms=duration_ms)
    world.at(duration_ms, _resume, world, name)


def _resume(world: World, name: str) -> None:
    net = world.net
    p = net.paused.get(name)
    if p is None or p.until > world.now:
        return  # crashed meanwhile (a dead process is not paused), or the pause was extended
    del net.paused[name]
    world.emit("client.resume", name, client=name, held_messages=len(p.deliveries), held_timers=len(p.timers))
    for deliver in p.deliveries:
        deliver()
    for fn, args in p.timers:
        fn(*args)
