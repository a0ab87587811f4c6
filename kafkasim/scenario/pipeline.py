"""Consume-transform-produce applications, in the four delivery modes of the primer.

Each iteration polls the input, "transforms" each record (``processing_ms``), writes one
output record per input record to the same partition number of the output topic, and
commits the consumed offsets:

* at-most-once: commit, then produce (Kafka design doc §4.6: a crash after the commit
  loses the rest of the batch);
* at-least-once: produce and flush, then commit (a crash before the commit redoes the batch:
  duplicates);
* exactly-once: read_committed input; begin, produce, send_offsets_to_transaction,
  commit_transaction (KIP-98/447: outputs and offsets commit or abort together);
* idempotent-sink: at-least-once into an external store that ignores records it has
  already stored (the primer's "database per consumer to check for duplicates").

Each output copies its input's headers (KIP-82), so a correlation id follows the record.

A ``crash`` fault with a ``point`` arms a crash at that step of the next iteration.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from kafkasim.clients.consumer import Consumer, next_offsets
from kafkasim.clients.producer import Producer
from kafkasim.errors import KafkaException
from kafkasim.records import TopicPartition
from kafkasim.scenario.model import PipelineSpec

if TYPE_CHECKING:
    from kafkasim.scenario.run import Simulation


class Crashed(Exception):
    """The application died at an armed crash point."""


class PipelineApp:
    """One instance of a pipeline stage; it can crash (at a step) and restart."""

    def __init__(self, sim: Simulation, spec: PipelineSpec) -> None:
        self.sim = sim
        self.spec = spec
        self.world = sim.world.for_node(spec.name)
        self.run_id = 0
        self.armed: str = ""
        self.consumer: Consumer | None = None
        self.producer: Producer | None = None
        # the external store survives the application's crashes; one per group (shared by its members)
        self.sink: set[tuple[str, str, int, int]] = sim.sinks.setdefault(spec.config["group.id"], set())

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        self.run_id += 1
        spec = self.spec
        conf = dict(spec.config)
        if spec.mode == "exactly-once":
            conf["isolation.level"] = "read_committed"
        self.consumer = Consumer(conf, self.sim.cluster, spec.name)
        if spec.mode != "idempotent-sink":
            pconf = dict(spec.producer_config)
            if spec.mode == "exactly-once" and not pconf.get("transactional.id"):
                pconf["transactional.id"] = f"{spec.name}-txn"  # stable across restarts: fences zombies
            self.producer = Producer(pconf, self.sim.cluster, f"{spec.name}-producer",
                                     origin=f"{spec.name}#{self.run_id}")
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
        self.world.emit("app.crash", self.spec.name, consumer=self.spec.name, group=self.spec.config["group.id"],
                        point=point or None)
        self.consumer.crash()
        if self.producer is not None and not self.producer.closed:
            self.producer.crash()

    def restart(self) -> None:
        if self.consumer is not None and not self.consumer.closed:
            return
        self.world.emit("app.restart", self.spec.name, consumer=self.spec.name, group=self.spec.config["group.id"])
        self.start()

    def _at(self, point: str, run_id: int) -> None:
        if run_id != self.run_id:
            raise Crashed()
        if self.armed == point:
            self._die(point)
            raise Crashed()

    # -- the loop ---------------------------------------------------------------------------------------
    def _loop(self, run_id: int) -> Generator[Any, Any, None]:
        try:
            yield from self._iterate(run_id)
        except Crashed:
            return
        except KafkaException as exc:  # e.g. PRODUCER_FENCED: a zombie stops for good
            self.world.emit("app.fatal", self.spec.name, consumer=self.spec.name,
                            group=self.spec.config["group.id"], error=exc.error.name, message=exc.message)

    def _iterate(self, run_id: int) -> Generator[Any, Any, None]:
        spec, world = self.spec, self.world
        c, p = self.consumer, self.producer
        assert c is not None
        if spec.mode == "exactly-once":
            assert p is not None
            yield p.init_transactions()
        c.subscribe([spec.input])
        while run_id == self.run_id:
            chunks = yield c.poll_chunks(timeout=1.0)
            if run_id != self.run_id:
                return
            if not chunks:
                continue
            self._at("after-consume", run_id)
            offsets = next_offsets(chunks)
            if spec.mode == "at-most-once":
                yield c.commit(offsets=offsets, asynchronous=False)
                self._at("after-commit", run_id)
            if spec.mode == "exactly-once":
                p.begin_transaction()
            total, done = sum(ch.count for ch in chunks), 0
            for chunk in chunks:
                if spec.processing_ms:
                    yield world.timeout(spec.processing_ms * chunk.count)
                    if run_id != self.run_id:
                        return
                self._output(chunk)
                done += chunk.count
                if 2 * done >= total and done < total:
                    self._at("mid-processing", run_id)
            if self.armed == "after-produce" and p is not None:
                yield p.flush()  # the point is after the outputs are written, not merely handed to send()
            self._at("after-produce", run_id)
            if spec.mode == "exactly-once":
                try:
                    yield p.send_offsets_to_transaction(offsets, c.consumer_group_metadata())
                    self._at("before-commit", run_id)
                    yield p.commit_transaction()
                except KafkaException:
                    if p.txn is not None and p.txn.state == "FATAL":  # fenced: a zombie stops for good
                        raise
                    # semantics §9: an abortable error -> abort, rewind to the committed offsets, go on
                    # (KIP-447: a member fenced by its generation cannot commit offsets)
                    yield p.abort_transaction()
                    c.rewind_to_committed()
                    continue
                self._at("after-commit", run_id)
            elif spec.mode in ("at-least-once", "idempotent-sink"):
                if p is not None:
                    yield p.flush()
                self._at("before-commit", run_id)
                yield c.commit(offsets=offsets, asynchronous=False)
                self._at("after-commit", run_id)
            else:
                yield p.flush()

    def _output(self, chunk: Any) -> None:
        """One output per input record; the trace maps each output back to its source."""
        b = chunk.batch
        src_rec = b.rec + (chunk.offset - b.base_offset)
        tp = chunk.tp
        self.world.emit("app.processed", self.spec.name, consumer=self.spec.name, group=self.spec.config["group.id"],
                        topic=tp.topic, partition=tp.partition, offset=chunk.offset, count=chunk.count,
                        producer=b.origin, rec=src_rec)
        if self.spec.mode == "idempotent-sink":
            for i in range(chunk.count):
                key = (b.origin, tp.topic, tp.partition, src_rec + i)
                if key in self.sink:
                    self.world.emit("sink.duplicate", self.spec.name, pipeline=self.spec.name,
                                    group=self.spec.config["group.id"], producer=b.origin,
                                    topic=tp.topic, partition=tp.partition, rec=src_rec + i, count=1)
                else:
                    self.sink.add(key)
                    self.world.emit("sink.write", self.spec.name, pipeline=self.spec.name,
                                    group=self.spec.config["group.id"], producer=b.origin,
                                    topic=tp.topic, partition=tp.partition, rec=src_rec + i, count=1)
            return
        p = self.producer
        assert p is not None
        out_tp = TopicPartition(self.spec.output, tp.partition)
        out_rec = p._rec_next.get(out_tp, 0)
        size = b.size // max(b.count, 1)
        for i in range(chunk.count):
            j = chunk.offset - b.base_offset + i
            key = b.keys[j] if b.keys is not None else None
            # the output carries its input's headers, as applications copy them to propagate a
            # correlation id (Kafka itself never copies headers from one record to another)
            headers = b.headers[j] if b.headers is not None else None
            hsize = sum(len(k) + len(v or "") for k, v in headers) if headers else 0
            p.produce(self.spec.output, key=key, partition=tp.partition, size=max(0, size - hsize), headers=headers)
        self.world.emit("pipeline.output", self.spec.name, pipeline=self.spec.name,
                        group=self.spec.config["group.id"], producer=b.origin,
                        topic=tp.topic, partition=tp.partition, rec=src_rec, count=chunk.count,
                        out_producer=p.origin, out_topic=out_tp.topic, out_partition=out_tp.partition,
                        out_rec=out_rec)

