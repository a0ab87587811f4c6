"""Play a scenario: build the world, run the workloads and faults, return the trace and result.

The model writes the trace; the result is computed from the trace alone
(:func:`kafkasim.check.report.build_result`), as ``kafkasim check`` does for a saved one.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from kafkasim.clients.consumer import Consumer, next_offsets
from kafkasim.clients.producer import Producer
from kafkasim.cluster.cluster import Cluster
from kafkasim.errors import KafkaException
from kafkasim.records import TopicPartition
from kafkasim.scenario import roles
from kafkasim.scenario.model import ConsumerSpec, Fault, ProducerSpec, Scenario
from kafkasim.sim.network import Latency
from kafkasim.sim.pause import pause
from kafkasim.sim.trace import Trace
from kafkasim.sim.world import World, paused_gc

#: How often the lag monitor samples (ms).
LAG_INTERVAL_MS = 1000


@dataclass
class Simulation:
    """A built, not yet run, scenario: the world and every node in it."""

    scenario: Scenario
    world: World
    cluster: Cluster
    producers: dict[str, Producer] = field(default_factory=dict)
    consumers: dict[str, Consumer] = field(default_factory=dict)
    apps: dict[str, Any] = field(default_factory=dict)  # consumer and pipeline applications by name
    sinks: dict[str, set] = field(default_factory=dict)  # idempotent sinks' external stores
    forwarded: dict[tuple, tuple] = field(default_factory=dict)  # retry-topic record -> (source, attempt)
    aimed_roles: dict[str, str] = field(default_factory=dict)  # role -> the broker its last crash/cut/slow hit


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
    world.pausable = {n for f in scenario.faults if f.action == "pause" for n in process_nodes(scenario, f.target)}
    world.net.default_latency = Latency(scenario.latency.min, scenario.latency.max,
                                        "uniform" if scenario.latency.max > scenario.latency.min else "constant")
    cluster = Cluster(world, scenario.brokers, dict(scenario.broker_config), dict(scenario.switches))
    for t in scenario.topics:
        cluster.create_topic(t.name, t.partitions, t.replication_factor, dict(t.config))
    groups: dict[str, set[str]] = {}
    for spec in scenario.consumers:
        if spec.group is not None:
            groups.setdefault(spec.group, set()).update(spec.topics)
    for pl in scenario.pipelines:
        groups.setdefault(pl.config["group.id"], set()).add(pl.input)
    if any(pl.mode == "exactly-once" for pl in scenario.pipelines) or any(
            p.config.get("transactional.id") for p in scenario.producers):
        from kafkasim.cluster.transactions import install as install_transactions

        install_transactions(cluster)
    if groups or any(c.config.get("group.id") for c in scenario.consumers):
        from kafkasim.group.coordinator import install

        install(cluster)
    cluster.start()
    sim = Simulation(scenario, world, cluster)
    for spec in scenario.producers:
        sim.apps[spec.name] = ProducerApp(sim, spec)
        sim.apps[spec.name].start()
    for spec in scenario.consumers:
        sim.apps[spec.name] = ConsumerApp(sim, spec)
        world.process(_consumer_app(sim, spec))
    from kafkasim.scenario.pipeline import PipelineApp

    for pl in scenario.pipelines:
        sim.apps[pl.name] = PipelineApp(sim, pl)
        sim.apps[pl.name].start()
    if groups:
        world.process(_lag_monitor(sim, groups, LAG_INTERVAL_MS))
    for fault in scenario.faults:
        world.at(fault.at_ms, _apply_fault, sim, fault)
    return sim


def play(scenario: Scenario, seed: int | None = None) -> tuple[dict[str, Any], dict[str, RunResult]]:
    """Run a scenario as the CLI does: once, or once per mode when it has ``modes:``.

    Returns the result document (with ``matrix`` rows for a modes run) and the runs by mode
    ("" for a single run).
    """
    from kafkasim.check.report import build_matrix_result

    if not scenario.modes:
        res = run(scenario, seed)
        return res.result, {"": res}
    runs = run_matrix(scenario, seed)
    return build_matrix_result({m: r.result for m, r in runs.items()}, scenario.expect, scenario), runs


def run_matrix(scenario: Scenario, seed: int | None = None) -> dict[str, RunResult]:
    """Run the scenario once per mode in ``modes:`` (every pipeline in that mode)."""
    out = {}
    for mode in scenario.modes:
        variant = dataclasses.replace(scenario, modes=(), expect=(),
                                      pipelines=tuple(dataclasses.replace(p, mode=mode) for p in scenario.pipelines))
        out[mode] = run(variant, seed)
    return out


def run(scenario: Scenario, seed: int | None = None) -> RunResult:
    """Run ``scenario`` (with its own seed unless ``seed`` is given) to its duration."""
    from kafkasim.check.report import build_result

    with paused_gc():  # the end-of-run readers walk the whole trace too
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
        if tp.topic.startswith("__"):
            continue  # internal topics (__consumer_offsets) are not part of the delivery story
        rec = cluster.controller.partitions[tp]
        offline = rec.leader < 0
        source = rec.leader if not offline else rec.isr[0]
        log = cluster.brokers[source].logs.get(tp)
        batches = ([[b.base_offset, b.count, b.origin, b.rec, b.producer_id, int(b.transactional), b.control]
                    for b in log.batches] if log else [])
        world.emit(
            "log.final", "controller", topic=tp.topic, partition=tp.partition, leader=rec.leader,
            leader_epoch=rec.leader_epoch, isr=list(rec.isr), offline=offline,
            hw=log.hw if log else 0, leo=log.leo if log else 0, log_start=log.log_start if log else 0,
            bytes=log.size if log else 0,  # as stored (compressed): what disk and retention.bytes count
            replicas=[{"broker": r, "leo": cluster.brokers[r].logs[tp].leo if tp in cluster.brokers[r].logs else 0,
                       "hw": cluster.brokers[r].logs[tp].hw if tp in cluster.brokers[r].logs else 0,
                       "alive": cluster.brokers[r].alive} for r in rec.replicas],
            batches=batches, keys=[_trace_keys(b.keys) for b in log.batches] if log else [],
        )
    world.emit("run.end", "controller")


def _trace_keys(keys: tuple | None) -> list[str | None] | None:
    """A batch's record keys as the trace stores them: None when every key is null (keyless
    records); bytes keys as UTF-8 text. The ordering checker needs them (per-key order)."""
    if keys is None or all(k is None for k in keys):
        return None
    return [k if k is None or isinstance(k, str) else
            k.decode("utf-8", "backslashreplace") if isinstance(k, bytes) else str(k) for k in keys]


# -- applications ------------------------------------------------------------------------------------
class ProducerApp:
    """A producer application sending its workload: record i is due at start + i / rate.

    It can crash (queued and in-flight records are never reported) and restart. Restarted, it
    behaves as an at-least-once application (e.g. an outbox relay): a new producer instance —
    a new producer id, so idempotence does not span the two — re-sends every record the crashed
    instance had not seen acknowledged, then catches up with the workload's schedule.
    """

    def __init__(self, sim: Simulation, spec: ProducerSpec) -> None:
        self.sim, self.spec, self.world = sim, spec, sim.world.for_node(spec.name)
        self.producer: Producer | None = None
        self.run_id = 0
        self.next = 0  # the next workload record to produce()
        self.start_at = -1  # when the workload started (its schedule survives restarts)
        self.rng = self.world.rng(f"workload:{spec.name}")
        self.size_rng = self.world.rng(f"value_size:{spec.name}")  # its own stream: keys draw as before
        self.unacked: tuple[list[Any], dict[TopicPartition, int]] = ([], {})

    def start(self) -> None:
        self.world.process(self._run(self.run_id))

    def crash(self, point: str = "") -> None:
        p = self.producer
        if p is None or p.closed:
            return
        self.run_id += 1
        self.unacked = p.unacknowledged()
        p.crash()

    def restart(self) -> None:
        if self.producer is None or not self.producer.closed:
            return
        self.world.emit("app.restart", self.spec.name, producer=self.spec.name, resent=sum(
            b.count for b in self.unacked[0]))
        self.start()

    def _new_producer(self) -> Producer:
        producer = Producer(dict(self.spec.config), self.sim.cluster, self.spec.name)
        producer.value_compressibility = self.spec.workload.value_compressibility
        self.sim.producers[self.spec.name] = producer
        self.producer = producer
        return producer

    def value_size(self) -> int:
        """The next record's value size: the workload's, or a draw from its distribution."""
        w = self.spec.workload
        return w.value_size if w.value_sizes is None else w.value_sizes.draw(self.size_rng)

    def _run(self, run_id: int) -> Generator[Any, Any, None]:
        """A crashed or fenced producer just stops; a fatal error is traced."""
        try:
            yield from self._workload(run_id)
        except KafkaException as exc:
            if self.producer is not None and not self.producer.closed:
                self.world.emit("app.fatal", self.spec.name, consumer=self.spec.name, group=None,
                                error=exc.error.name, message=exc.message)

    def _workload(self, run_id: int) -> Generator[Any, Any, None]:
        world, spec, w = self.world, self.spec, self.spec.workload
        if self.start_at < 0 and w.start_ms:
            yield world.timeout(w.start_ms)
        producer = self._new_producer()
        if self.start_at < 0:
            self.start_at = world.now
        batches, rec_next = self.unacked
        if batches or rec_next:
            producer.resend(batches, rec_next)
            self.unacked = ([], {})
        keys = [w.key.pattern.format(n=n) for n in range(w.key.cardinality)] if w.key else None
        random_keys = bool(w.key and w.key.choice == "random")
        if w.transaction_size:
            yield from _transactional_workload(producer, w, keys, random_keys, self.rng, self.start_at,
                                               self.value_size)
            return
        per_ms = w.rate_per_s / 1000.0
        while self.next < w.count:
            if run_id != self.run_id:
                return
            i = self.next
            elapsed = world.now - self.start_at
            due = min(w.count, math.floor(elapsed * per_ms) + 1)
            if due > i:
                if w.partition >= 0 or w.headers or w.value_sizes:  # produce() each: the fast path has one size
                    for j in range(i, due):
                        producer.produce(w.topic, key=_key(keys, random_keys, self.rng, j), partition=w.partition,
                                         size=self.value_size(), headers=_headers(w, spec.name, j))
                else:
                    batch_keys = [_key(keys, random_keys, self.rng, j) for j in range(i, due)] if keys else None
                    producer.produce_many(w.topic, batch_keys, due - i, w.value_size)
                self.next = i = due
            if i < w.count:
                yield world.timeout(max(1, math.ceil(i / per_ms) - elapsed))
        if run_id == self.run_id:
            yield producer.flush()


def _transactional_workload(producer: Producer, w: Any, keys: list[str] | None, random_keys: bool, rng: Any,
                            start: int, size: Callable[[], int]) -> Generator[Any, Any, None]:
    """Send ``count`` records at the workload's rate in transactions of ``transaction_size``;
    every ``abort_every``-th transaction is aborted instead of committed."""
    world = producer.world
    yield producer.init_transactions()
    i = n = 0
    while i < w.count:
        n += 1
        producer.begin_transaction()
        for _ in range(min(w.transaction_size, w.count - i)):
            due = start + math.ceil(i * 1000.0 / w.rate_per_s)
            if due > world.now:
                yield world.timeout(due - world.now)
            producer.produce(w.topic, key=_key(keys, random_keys, rng, i), partition=w.partition, size=size(),
                             headers=_headers(w, producer.name, i))
            i += 1
        if w.abort_every and n % w.abort_every == 0:
            yield producer.abort_transaction()
            continue
        try:
            yield producer.commit_transaction()
        except KafkaException:
            if producer.txn is not None and producer.txn.state == "FATAL":
                raise  # fenced: this instance stops
            # an abortable error (a send failed, e.g. the coordinator aborted the transaction when it
            # timed out): abort and go on with the next records, the KafkaProducer javadoc's pattern
            yield producer.abort_transaction()


def _headers(w: Any, producer: str, n: int) -> list[tuple[str, str]] | None:
    """Record n's headers from the workload's templates ({n}: record number, {producer}: its name)."""
    if not w.headers:
        return None
    return [(k, v.format(n=n, producer=producer)) for k, v in w.headers]


def _key(keys: list[str] | None, random_keys: bool, rng: Any, i: int) -> str | None:
    if keys is None:
        return None
    return keys[rng.randrange(len(keys))] if random_keys else keys[i % len(keys)]


class _MidProcessing:
    """A poll's records counted as they are processed: the application reaches its
    mid-processing crash point once half of them are done, but not all."""

    __slots__ = ("app", "total", "done")

    def __init__(self, app: ConsumerApp, total: int) -> None:
        self.app, self.total, self.done = app, total, 0

    def __call__(self, count: int) -> bool:
        """``count`` more records processed: whether the application dies here."""
        self.done += count
        return 2 * self.done >= self.total and self.done < self.total and self.app._at("mid-processing")


class ConsumerApp:
    """A consumer application: poll, process each record for ``processing_ms``, commit per
    its strategy. It can crash (no commit, no LeaveGroup) at once or at a step of its loop
    (``point``: after-consume, mid-processing, before-commit, after-commit), restart, close,
    or stall."""

    def __init__(self, sim: Simulation, spec: ConsumerSpec) -> None:
        self.sim = sim
        self.spec = spec
        self.world = sim.world.for_node(spec.name)
        self.consumer: Consumer | None = None
        self.run_id = 0
        self.stall_until = 0
        self.armed = ""  # a crash point the loop dies at the next time it reaches it
        self.slow = {(r.topic, r.partition, r.offset): r.processing_ms for r in spec.records
                     if r.processing_ms is not None}
        self._processing_rng = self.world.rng(f"processing:{spec.name}")
        self.failures: Any = None
        if spec.on_failure is not None:
            from kafkasim.scenario.failures import FailureHandling

            self.failures = FailureHandling(self)

    def start(self) -> None:
        self.run_id += 1
        c = Consumer(dict(self.spec.config), self.sim.cluster, self.spec.name)
        self.consumer = c
        self.sim.consumers[self.spec.name] = c
        if self.spec.group is not None:
            c.subscribe(list(self.spec.topics))
        else:
            c.assign([TopicPartition(t.name, p) for t in self.sim.scenario.topics if t.name in self.spec.topics
                      for p in range(t.partitions)])
        self.world.process(self._loop(self.run_id))

    def crash(self, point: str = "") -> None:
        if point:
            self.armed = point
            return
        self._die("")

    def _die(self, point: str) -> None:
        if self.consumer is None or self.consumer.closed:
            return
        self.run_id += 1
        self.armed = ""
        self.world.emit("app.crash", self.spec.name, consumer=self.spec.name, group=self.spec.group,
                        point=point or None)
        self.consumer.crash()

    def _at(self, point: str) -> bool:
        """Whether the application dies here: its crash is armed at ``point``."""
        if self.armed != point:
            return False
        self._die(point)
        return True

    def restart(self) -> None:
        if self.consumer is not None and not self.consumer.closed:
            return
        self.world.emit("app.restart", self.spec.name, consumer=self.spec.name, group=self.spec.group)
        self.start()

    def close(self) -> None:
        if self.consumer is None or self.consumer.closed:
            return
        self.run_id += 1
        self.world.emit("app.close", self.spec.name, consumer=self.spec.name, group=self.spec.group)
        self.consumer.close()

    def stall(self, duration_ms: int) -> None:
        self.stall_until = self.world.now + duration_ms
        self.world.emit("app.stall", self.spec.name, consumer=self.spec.name, group=self.spec.group,
                        duration_ms=duration_ms)

    def processing(self, count: int) -> int:
        """Milliseconds the application spends on ``count`` records (``processing_ms``)."""
        dist = self.spec.processing_time
        return self.spec.processing_ms * count if dist is None else dist.total(count, self._processing_rng)

    def record_ms(self, tp: TopicPartition, offset: int) -> int:
        """Milliseconds the application spends on the record at ``offset`` of ``tp``."""
        ms = self.slow.get((tp.topic, tp.partition, offset))
        return self.processing(1) if ms is None else ms

    def spans(self, chunk: Any) -> list[tuple[int, int, int]]:
        """A chunk as (offset, count, ms) runs processed in one go: a slow record is a run of its own."""
        tp, end = chunk.tp, chunk.offset + chunk.count
        slow = sorted(o for (t, p, o) in self.slow if t == tp.topic and p == tp.partition and chunk.offset <= o < end)
        if not slow:
            return [(chunk.offset, chunk.count, self.processing(chunk.count))]
        out, at = [], chunk.offset
        for o in slow:
            if o > at:
                out.append((at, o - at, self.processing(o - at)))
            out.append((o, 1, self.slow[(tp.topic, tp.partition, o)]))
            at = o + 1
        if at < end:
            out.append((at, end - at, self.processing(end - at)))
        return out

    def _process(self, run_id: int, c: Consumer, chunk: Any,
                 dies: Callable[[int], bool] | None = None) -> Generator[Any, Any, bool]:
        """Process ``chunk`` span by span (:meth:`spans`); False if the application died meanwhile:
        it crashed, or ``dies(count)`` after a span said it reached its crash point."""
        for offset, count, ms in self.spans(chunk):
            if ms:
                yield self.world.timeout(ms)
            if run_id != self.run_id:
                return False
            self._processed(c, chunk, offset, count)
            if dies is not None and dies(count):
                return False
        return True

    def _processed(self, c: Consumer, chunk: Any, offset: int, count: int) -> None:
        b = chunk.batch
        self.world.emit("app.processed", self.spec.name, consumer=self.spec.name, group=self.spec.group,
                        topic=chunk.tp.topic, partition=chunk.tp.partition, offset=offset, count=count,
                        producer=b.origin, rec=b.rec + (offset - b.base_offset))

    def _loop(self, run_id: int) -> Generator[Any, Any, None]:
        world, spec = self.world, self.spec
        c = self.consumer
        assert c is not None
        if spec.async_processing:
            yield from self._async_loop(run_id, c)
            return
        while run_id == self.run_id and not c.closed:
            if self.stall_until > world.now:
                yield world.timeout(self.stall_until - world.now)
                continue
            chunks = yield c.poll_chunks(timeout=1.0)
            if run_id != self.run_id:
                return
            if not chunks:
                continue
            if self._at("after-consume"):
                return
            if spec.commit == "before-processing":  # at-most-once: commit what poll returned, then process
                if self._at("before-commit"):
                    return
                yield c.commit(offsets=next_offsets(chunks), asynchronous=False)
                if self._at("after-commit"):
                    return
            if self.failures is not None:
                yield from self.failures.process(run_id, c, chunks)
                if run_id != self.run_id:
                    return
                # the positions: it seeked back to a record it retries in place
                if not (yield from self._commit_polled(c, None)):
                    return
                continue
            mid_processing = _MidProcessing(self, sum(ch.count for ch in chunks))
            for chunk in chunks:
                if spec.commit == "after-record":
                    for i in range(chunk.count):
                        if ms := self.record_ms(chunk.tp, chunk.offset + i):
                            yield world.timeout(ms)
                        if run_id != self.run_id:
                            return
                        self._processed(c, chunk, chunk.offset + i, 1)
                        if mid_processing(1) or self._at("before-commit"):
                            return
                        yield c.commit(offsets=[(chunk.tp, chunk.offset + i + 1)], asynchronous=False)
                        if self._at("after-commit"):
                            return
                    continue
                if not (yield from self._process(run_id, c, chunk, mid_processing)):
                    return
            if not (yield from self._commit_polled(c, next_offsets(chunks))):
                return

    def _commit_polled(self, c: Consumer, offsets: list[tuple[TopicPartition, int]] | None
                       ) -> Generator[Any, Any, bool]:
        """after-poll (commitSync) or after-poll-async: commit what was processed (``offsets``,
        or the positions), between the before-commit and after-commit crash points; False if
        the application died at one."""
        commit = self.spec.commit
        if commit not in ("after-poll", "after-poll-async"):
            return True
        if self._at("before-commit"):
            return False
        if commit == "after-poll":  # at-least-once: process, then commit
            yield c.commit(offsets=offsets, asynchronous=False)
        else:
            # Java commitAsync: send and go on polling; the result only reaches the callback
            # (here the trace: commit.ok / commit.fail). It is not retried: a later commit
            # already carries newer offsets, and requests on one connection arrive in order.
            c.commit(offsets=offsets, asynchronous=True)
        return not self._at("after-commit")

    def _async_loop(self, run_id: int, c: Consumer) -> Generator[Any, Any, None]:
        """Poll and hand records to a worker at once; the worker processes them one by one.

        The gotcha: auto-commit commits the positions poll reached, not what the worker has
        finished, so a crash loses the records still queued (they are never redelivered).
        """
        world = self.world
        queue: deque[Any] = deque()
        wake: list[Any] = []

        def worker() -> Generator[Any, Any, None]:
            while run_id == self.run_id:
                if not queue:
                    ev = world.event()
                    wake.append(ev)
                    yield ev
                    continue
                if not (yield from self._process(run_id, c, queue.popleft())):
                    return

        world.process(worker())
        while run_id == self.run_id and not c.closed:
            chunks = yield c.poll_chunks(timeout=1.0)
            if run_id != self.run_id or (chunks and self._at("after-consume")):
                return
            queue.extend(chunks)
            while wake:
                ev = wake.pop()
                if not ev.triggered:
                    ev.succeed()



def _consumer_app(sim: Simulation, spec: ConsumerSpec) -> Generator[Any, Any, None]:
    if spec.start_ms:
        yield sim.world.timeout(spec.start_ms)
    app = sim.apps[spec.name]
    app.start()


def _lag_monitor(sim: Simulation, groups: dict[str, set[str]], interval: int) -> Generator[Any, Any, None]:
    """Sample each group's lag per partition, as kafka-consumer-groups.sh shows it: HW - committed.

    Instrumentation, not model: it reads the brokers' state directly and sends nothing.
    """
    world, cluster = sim.world, sim.cluster
    while True:
        yield world.timeout(interval)
        for gid in sorted(groups):
            committed: dict[TopicPartition, int] = {}
            for b in cluster.brokers.values():
                coord = getattr(b, "coordinator", None)
                if coord is not None and b.alive and coord._coordinates(gid):
                    committed = coord.committed(gid)
                    break
            for t in sim.scenario.topics:
                if t.name not in groups[gid]:
                    continue
                for p in range(t.partitions):
                    tp = TopicPartition(t.name, p)
                    log = cluster.leader_log(tp)
                    if log is None:
                        continue
                    off = committed.get(tp, -1)
                    world.emit("lag", "monitor", group=gid, topic=t.name, partition=p, hw=log.hw, committed=off,
                               lag=log.hw - max(off, log.log_start) if off >= 0 else log.hw - log.log_start)


# -- faults --------------------------------------------------------------------------------------------
def process_nodes(scenario: Scenario, app: str) -> list[str]:
    """The network nodes of one application process: its clients, paused together."""
    nodes = [app]
    if any(pl.name == app for pl in scenario.pipelines):
        nodes.append(f"{app}-producer")
    if any(c.name == app and c.on_failure is not None and c.on_failure.strategy == "retry-topics"
           for c in scenario.consumers):
        nodes.append(f"{app}-retry-producer")
    return nodes


def _aim(sim: Simulation, f: Fault, name: str) -> str | None:
    """A node name as it stands, or the broker playing a role now (traced: ``fault.target``)."""
    if not roles.is_role(name):
        return name
    undo = f.action in ("restart", "heal") or (f.action == "slow" and f.extra_ms == 0)
    if undo and name in sim.aimed_roles:
        broker = sim.aimed_roles[name]  # undo what the opening fault did, wherever the role is now
    else:
        broker = roles.resolve(sim.cluster, name)
        if not undo and broker is not None:
            sim.aimed_roles[name] = broker
    sim.world.emit("fault.target", "controller", role=name, action=f.action, broker=broker or "")
    return broker


def _apply_fault(sim: Simulation, f: Fault) -> None:
    if f.action == "add-partitions":
        sim.cluster.add_partitions(f.topic, f.partitions)
        return
    if roles.is_role(f.target) or any(roles.is_role(p) for p in f.peers):
        target = _aim(sim, f, f.target)
        peers = tuple(p for p in (_aim(sim, f, p) for p in f.peers) if p is not None and p != target)
        if target is None or (f.peers and not peers):
            return  # nobody plays the role now (an offline partition): the fault hits nothing
        f = dataclasses.replace(f, target=target, peers=peers)
    net = sim.world.net
    if f.action == "pause":
        for name in process_nodes(sim.scenario, f.target):
            pause(sim.world, name, f.duration_ms)
        return
    app = sim.apps.get(f.target)
    if app is not None and f.action in ("crash", "restart", "close", "stall"):
        if f.action == "crash":
            app.crash(f.point)
        elif f.action == "restart":
            app.restart()
        elif f.action == "close":
            app.close()
        elif f.action == "stall":
            app.stall(f.duration_ms)
        return
    if f.action in ("crash", "power-loss", "disk-loss"):
        b = sim.cluster.broker(f.target)
        if b.alive:
            b.crash({"crash": "", "power-loss": "unflushed", "disk-loss": "disk"}[f.action])
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
