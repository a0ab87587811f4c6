"""Shared helpers for the cluster-model tests, handed out as the ``kit`` fixture.

Every scenario here is written inline as YAML (the same format as ``scenarios/*.yaml``),
built with :func:`kafkasim.scenario.run.build` and stepped with ``sim.world.run(t)`` so
the tests can look at each replica's log, partition state and the controller between
events. Expected values always come from Kafka's rules (the kafka-semantics reference,
cited by section), never from what the model happened to print.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from kafkasim.check.delivery import DeliveryReport, analyse
from kafkasim.cluster.log import PartitionLog, RecordBatch
from kafkasim.records import TopicPartition
from kafkasim.scenario.load import loads
from kafkasim.scenario.model import Scenario
from kafkasim.scenario.run import Simulation, build, finish

TP = TopicPartition("t", 0)


class Kit:
    """Small helpers over a built :class:`Simulation` (static methods only)."""

    TP = TP

    @staticmethod
    def scenario(text: str) -> Scenario:
        return loads(textwrap.dedent(text))

    @staticmethod
    def build(text: str, seed: int | None = None) -> Simulation:
        return build(Kit.scenario(text), seed)

    @staticmethod
    def run_to_end(sim: Simulation) -> DeliveryReport:
        """Run to the scenario's duration, record the final logs, analyse the trace."""
        sim.world.run(sim.scenario.duration_ms)
        finish(sim)
        return analyse(sim.world.trace)

    @staticmethod
    def log(sim: Simulation, broker: int, tp: TopicPartition = TP) -> PartitionLog:
        return sim.cluster.brokers[broker].logs[tp]

    @staticmethod
    def record(sim: Simulation, tp: TopicPartition = TP) -> Any:
        """The controller's PartitionRecord (leader, isr, leader_epoch, partition_epoch)."""
        return sim.cluster.controller.partitions[tp]

    @staticmethod
    def batches(log: PartitionLog) -> list[tuple]:
        """A log's content, comparable across replicas: (base offset, count, epoch, producer, rec)."""
        return [Kit.batch_id(b) for b in log.batches]

    @staticmethod
    def batch_id(b: RecordBatch) -> tuple:
        return (b.base_offset, b.count, b.leader_epoch, b.origin, b.rec)

    @staticmethod
    def events(sim: Simulation, *kinds: str, **match: Any) -> list:
        """Trace events of ``kinds`` whose fields (or ``node``) equal ``match``."""
        node = match.pop("node", None)
        return [e for e in sim.world.trace.of(*kinds)
                if (node is None or e.node == node) and all(e.data.get(k) == v for k, v in match.items())]

    @staticmethod
    def step_until(sim: Simulation, pred: Callable[[], bool], limit: int, step: int = 1) -> int:
        """Advance time ``step`` ms at a time until ``pred()`` holds; returns the time. Fails at ``limit``."""
        w = sim.world
        while not pred():
            if w.now >= limit:
                raise AssertionError(f"condition not reached by t={limit}")
            w.run(w.now + step)
        return w.now


@pytest.fixture(scope="session")
def kit() -> type[Kit]:
    return Kit
