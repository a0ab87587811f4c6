"""Play a scenario: build the world, run the workloads and faults, return the trace and result.

The model writes the trace; the result is computed from the trace alone
(:func:`kafkasim.check.report.build_result`), as ``kafkasim check`` does for a saved one.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from kafkasim.clients.consumer import Consumer
from kafkasim.clients.producer import Producer
from kafkasim.cluster.cluster import Cluster
from kafkasim.records import TopicPartition
from kafkasim.scenario.model import ConsumerSpec, Fault, ProducerSpec, Scenario
from kafkasim.sim.network import Latency
from kafkasim.sim.trace import Trace
from kafkasim.sim.world import World


@dataclass
class Simulation:
    """A built, not yet run, scenario: the world and every node in it."""

    scenario: Scenario
    world: World
    cluster: Cluster
    producers: dict[str, Producer] = field(default_factory=dict)
    consumers: dict[str, Consumer] = field(default_factory=dict)


@dataclass
class RunResult:
    scenario: Scenario
    seed: int
    trace: Trace
    result: dict[str, Any]


def build(scenario: Scenario, seed: int | None = None) -> Simulation:
    seed = scenario.seed if seed is None else seed
    trace = Trace(seed=seed, scenario=scenario.name, scenario_hash=scenario.source_hash)
    world = World(seed, trace)
    world.net.default_latency = Latency(scenario.latency.min, scenario.latency.max,
                                        "uniform" if scenario.latency.max > scenario.latency.min else "constant")
    cluster = Cluster(world, scenario.brokers, dict(scenario.broker_config), dict(scenario.switches))
    for t in scenario.topics:
        cluster.create_topic(t.name, t.partitions, t.replication_factor, dict(t.config))
    cluster.start()
    sim = Simulation(scenario, world, cluster)
    for spec in scenario.producers:
        world.process(_producer_app(sim, spec))
    for spec in scenario.consumers:
        world.process(_consumer_app(sim, spec))
    for fault in scenario.faults:
        world.at(fault.at_ms, _apply_fault, sim, fault)
    return sim


def run(scenario: Scenario, seed: int | None = None) -> RunResult:
    """Run ``scenario`` (with its own seed unless ``seed`` is given) to its duration."""
    from kafkasim.check.report import build_result

    sim = build(scenario, seed)
    sim.world.run(scenario.duration_ms)
    finish(sim)
    result = build_result(sim.world.trace, scenario.expect, scenario)
    return RunResult(scenario, sim.world.seed, sim.world.trace, result)


def finish(sim: Simulation) -> None:
    """End of run: record every partition's final log and what producers never sent."""
    world, cluster = sim.world, sim.cluster
    for p in sim.producers.values():
        for tp, q in sorted(p._queues.items()):
            for b in q:
                if not b.done and b.attempts == 0:
                    world.emit("produce.unsent", p.name, producer=p.name, topic=tp.topic, partition=tp.partition,
                               rec=b.rec, count=b.count)
    for tp in cluster.partitions():
        rec = cluster.controller.partitions[tp]
        offline = rec.leader < 0
        source = rec.leader if not offline else rec.isr[0]
        log = cluster.brokers[source].logs.get(tp)
        batches = [[b.base_offset, b.count, b.origin, b.rec] for b in log.batches] if log else []
        world.emit(
            "log.final", "controller", topic=tp.topic, partition=tp.partition, leader=rec.leader,
            leader_epoch=rec.leader_epoch, isr=list(rec.isr), offline=offline,
            hw=log.hw if log else 0, leo=log.leo if log else 0, log_start=log.log_start if log else 0,
            replicas=[{"broker": r, "leo": cluster.brokers[r].logs[tp].leo if tp in cluster.brokers[r].logs else 0,
                       "hw": cluster.brokers[r].logs[tp].hw if tp in cluster.brokers[r].logs else 0,
                       "alive": cluster.brokers[r].alive} for r in rec.replicas],
            batches=batches,
        )
    world.emit("run.end", "controller")


# -- applications ------------------------------------------------------------------------------------
def _producer_app(sim: Simulation, spec: ProducerSpec) -> Generator[Any, Any, None]:
    """Send ``count`` records at ``rate_per_s``: record i is due at start + i / rate."""
    world = sim.world
    w = spec.workload
    if w.start_ms:
        yield world.timeout(w.start_ms)
    producer = Producer(dict(spec.config), sim.cluster, spec.name)
    sim.producers[spec.name] = producer
    rng = world.rng(f"workload:{spec.name}")
    keys = [w.key.pattern.format(n=n) for n in range(w.key.cardinality)] if w.key else None
    random_keys = bool(w.key and w.key.choice == "random")
    start = world.now
    i = 0
    per_ms = w.rate_per_s / 1000.0
    while i < w.count:
        elapsed = world.now - start
        due = min(w.count, math.floor(elapsed * per_ms) + 1)
        if due > i:
            if w.partition >= 0:
                for j in range(i, due):
                    producer.produce(w.topic, key=_key(keys, random_keys, rng, j), partition=w.partition,
                                     size=w.value_size)
            else:
                batch_keys = [_key(keys, random_keys, rng, j) for j in range(i, due)] if keys else None
                producer.produce_many(w.topic, batch_keys, due - i, w.value_size)
            i = due
        if i < w.count:
            next_due = math.ceil(i / per_ms)
            yield world.timeout(max(1, next_due - elapsed))
    yield producer.flush()


def _key(keys: list[str] | None, random_keys: bool, rng: Any, i: int) -> str | None:
    if keys is None:
        return None
    return keys[rng.randrange(len(keys))] if random_keys else keys[i % len(keys)]


def _consumer_app(sim: Simulation, spec: ConsumerSpec) -> Generator[Any, Any, None]:
    world = sim.world
    if spec.start_ms:
        yield world.timeout(spec.start_ms)
    consumer = Consumer(dict(spec.config), sim.cluster, spec.name)
    sim.consumers[spec.name] = consumer
    parts = [TopicPartition(t.name, p) for t in sim.scenario.topics if t.name in spec.topics
             for p in range(t.partitions)]
    consumer.assign(parts)
    while not consumer.closed:
        chunks = yield consumer.poll_chunks(timeout=1.0)
        if spec.processing_ms and chunks:
            yield world.timeout(spec.processing_ms * sum(c.count for c in chunks))


# -- faults --------------------------------------------------------------------------------------------
def _apply_fault(sim: Simulation, f: Fault) -> None:
    net = sim.world.net
    if f.action == "crash":
        b = sim.cluster.broker(f.target)
        if b.alive:
            b.crash()
    elif f.action == "restart":
        b = sim.cluster.broker(f.target)
        if not b.alive:
            b.restart()
    else:
        for peer in f.peers:
            if f.action == "cut":
                net.cut(f.target, peer, both=f.both)
            elif f.action == "heal":
                net.heal(f.target, peer, both=f.both)
            elif f.action == "slow":
                net.slow(f.target, peer, f.extra_ms, both=f.both)
            elif f.action == "drop":
                net.drop(f.target, peer, f.count)
                if f.both:
                    net.drop(peer, f.target, f.count)
