"""Records whose processing fails, and what an application does about them.

Kafka has no dead-letter queue and no retry topics (the primer's gotchas; Uber's
reprocessing design). Two application patterns:

* retry in place: seek back to the failed record, pause its partition for ``backoff_ms`` and
  try again. Nothing behind it on that partition is processed meanwhile (head-of-line
  blocking); a poison record blocks its partition for good and its lag only grows;
* retry topics: publish the failed record to the next retry topic (read again after that
  tier's delay), commit past it and go on; after the last tier, publish it to the dead-letter
  topic. The partition keeps moving, but a record that succeeds on a retry is processed after
  records sent after it: per-key order is broken.

A failed record keeps its identity through the retry topics (the trace maps each forwarded
record to its source), so the group's results count it once, at its source offset.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from kafkasim.records import TopicPartition

if TYPE_CHECKING:
    from kafkasim.clients.consumer import Chunk, Consumer
    from kafkasim.scenario.run import ConsumerApp

Src = tuple[str, str, int, int, int]  # producer, topic, partition, rec, offset


class FailureHandling:
    """The failure policy of one consumer application."""

    def __init__(self, app: ConsumerApp) -> None:
        self.app = app
        self.world = app.world
        self.policy = app.spec.on_failure
        self.plan = {p.name: (p.workload.fail_every, p.workload.fail_attempts) for p in app.sim.scenario.producers}
        self.marked = {(r.topic, r.partition, r.offset): r.fails for r in app.spec.records if r.fails}
        self.attempts: dict[Src, int] = {}  # retry in place: attempts so far (application memory)
        self.forwarded: dict[tuple[str, str, int, int], tuple[Src, int]] = app.sim.forwarded
        self.producer: Any = None

    def fails(self, src: Src, attempt: int) -> bool:
        """Whether processing attempt ``attempt`` (from 0) of the record from ``src`` fails: it is
        marked by its source offset, or its producer's workload fails every n-th record."""
        attempts = self.marked.get((src[1], src[2], src[4]))
        if attempts is None:
            every, attempts = self.plan.get(src[0], (0, -1))
            if not every or src[3] % every != every - 1:
                return False
        return attempts < 0 or attempt < attempts

    def process(self, run_id: int, c: Consumer, chunks: list[Chunk]) -> Generator[Any, Any, None]:
        app, world, policy = self.app, self.world, self.policy
        assert policy is not None
        blocked: set[TopicPartition] = set()
        for chunk in chunks:
            tp, b = chunk.tp, chunk.batch
            if tp in blocked:
                continue
            for i in range(chunk.count):
                off = chunk.offset + i
                rec = b.rec + (off - b.base_offset)
                src, attempt = self.forwarded.get((b.origin, tp.topic, tp.partition, rec),
                                                  ((b.origin, tp.topic, tp.partition, rec, off), 0))
                if tp.topic in policy.retry_topics:
                    due = b.timestamp + policy.delays_ms[policy.retry_topics.index(tp.topic)]
                    if world.now < due:  # not yet: wait for this tier's delay, then read it again
                        self._hold(c, tp, off, due - world.now, run_id)
                        blocked.add(tp)
                        break
                if ms := app.record_ms(tp, off):
                    yield world.timeout(ms)
                    if run_id != app.run_id:
                        return
                if policy.strategy == "retry-in-place":
                    attempt = self.attempts.get(src, 0)
                if not self.fails(src, attempt):
                    self._processed(src)
                    continue
                world.emit("app.failed", app.spec.name, consumer=app.spec.name, group=app.spec.group,
                           producer=src[0], topic=src[1], partition=src[2], rec=src[3], offset=src[4],
                           attempt=attempt + 1, strategy=policy.strategy)
                if policy.strategy == "retry-in-place":
                    self.attempts[src] = attempt + 1
                    self._hold(c, tp, off, policy.backoff_ms, run_id)
                    blocked.add(tp)
                    break
                self._forward(src, attempt + 1, b.keys[off - b.base_offset] if b.keys is not None else None)

    def _hold(self, c: Consumer, tp: TopicPartition, offset: int, ms: int, run_id: int) -> None:
        """Seek back to ``offset`` and pause the partition for ``ms``."""
        c.seek(tp, offset)
        c.pause([tp])

        def resume() -> None:
            if run_id == self.app.run_id and not c.closed:
                c.resume([tp])

        self.world.at(max(ms, 1), resume)

    def _processed(self, src: Src) -> None:
        app = self.app
        self.world.emit("app.processed", app.spec.name, consumer=app.spec.name, group=app.spec.group,
                        topic=src[1], partition=src[2], offset=src[4], count=1, producer=src[0], rec=src[3])

    def _forward(self, src: Src, attempt: int, key: Any) -> None:
        """Publish a failed record to the next retry topic, or the dead-letter topic after the last."""
        from kafkasim.clients.producer import Producer

        policy = self.policy
        assert policy is not None
        app = self.app
        if self.producer is None or self.producer.closed:
            self.producer = Producer({}, app.sim.cluster, f"{app.spec.name}-retry-producer",
                                     origin=f"{app.spec.name}-retry#{app.run_id}")
        p = self.producer
        dead = attempt > len(policy.retry_topics)
        target = policy.dlq if dead else policy.retry_topics[attempt - 1]
        assert target is not None
        counts = {t.name: t.partitions for t in app.sim.scenario.topics}[target]
        partition = src[2] % counts  # same partition number where it exists: per-partition order kept
        out_tp = TopicPartition(target, partition)
        out_rec = p._rec_next.get(out_tp, 0)
        p.produce(target, key=key, partition=partition, size=100)
        self.forwarded[(p.origin, target, partition, out_rec)] = (src, attempt)
        self.world.emit("retry.forward", app.spec.name, consumer=app.spec.name, group=app.spec.group,
                        producer=src[0], topic=src[1], partition=src[2], rec=src[3], offset=src[4],
                        attempt=attempt, dead_letter=dead, out_producer=p.origin, out_topic=target,
                        out_partition=partition, out_rec=out_rec)
