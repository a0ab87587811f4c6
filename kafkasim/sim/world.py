"""The simulated world: integer-millisecond simpy time and named, seeded RNG streams.

Determinism: every random draw comes from a stream derived from the one seed and the
stream's name (never from ``hash()``), so the same scenario and seed replay byte for byte,
whatever ``PYTHONHASHSEED`` is.
"""

from __future__ import annotations

import gc
import hashlib
import random
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any

import simpy

from kafkasim.sim.trace import Trace


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block (nested uses are fine).

    A run keeps millions of long-lived objects (log batches, trace events) that every full
    collection would rescan, while it makes almost no reference cycles (a 1M-record run
    leaves a few dozen), which plain reference counting cannot free. Measured: 2.7x faster
    on the throughput benchmark; writing the final logs of a 60 000-batch run went from 9 s
    to well under one once the end-of-run readers ran inside it too.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def derive_seed(seed: int, name: str) -> int:
    """A 64-bit seed for stream ``name``, stable across processes and platforms."""
    digest = hashlib.sha256(f"{seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class World:
    """Simulated time, randomness, the network and the trace, in one place.

    Kafka: none (this is the simulator's kernel).
    Simplified: time is integer milliseconds, the unit of every Kafka ``*.ms`` setting.
    """

    def __init__(self, seed: int, trace: Trace | None = None) -> None:
        # the network needs a world: imported here to avoid an import cycle
        from kafkasim.sim.network import Network

        self.seed = seed
        self.env = simpy.Environment()
        self.trace = trace if trace is not None else Trace(seed=seed)
        self._rngs: dict[str, random.Random] = {}
        self.net = Network(self)

    @property
    def now(self) -> int:
        """Simulated time in ms."""
        return self.env.now  # type: ignore[return-value]

    def rng(self, name: str) -> random.Random:
        """The random stream called ``name`` (created on first use from the seed)."""
        stream = self._rngs.get(name)
        if stream is None:
            stream = self._rngs[name] = random.Random(derive_seed(self.seed, name))
        return stream

    def at(self, delay: int, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(*args)`` after ``delay`` ms of simulated time."""
        if delay < 0:
            raise ValueError(f"negative delay {delay}")
        self.env.timeout(delay).callbacks.append(lambda _ev: fn(*args))

    def timeout(self, delay: int, value: Any = None) -> simpy.Event:
        """An event that fires after ``delay`` ms (``yield`` it in a process)."""
        return self.env.timeout(delay, value)

    def event(self) -> simpy.Event:
        """A fresh event, triggered by the model with ``succeed(value)``."""
        return self.env.event()

    def process(self, gen: Generator[Any, Any, Any]) -> simpy.Process:
        """Start a simulated process (a generator that yields events)."""
        return self.env.process(gen)

    def emit(self, kind: str, node: str, **fields: Any) -> None:
        """Append one event to the trace at the current time."""
        self.trace.append(self.env.now, kind, node, fields)

    def run(self, until: int | simpy.Event) -> None:
        """Run the simulation until ``until`` ms (or until an event fires), with the cyclic
        garbage collector paused (:func:`paused_gc`)."""
        with paused_gc():
            self.env.run(until=until)
