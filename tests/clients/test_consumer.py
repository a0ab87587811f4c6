"""The consumer client: what it may read, where it starts, seeking, and leader changes.

Rules: §7 (records only below the HW for read_uncommitted; auto.offset.reset earliest /
latest / none), §12 (watermarks: log start and HW), §5/§6 (follow the new leader; after an
unclean election detect the truncation with OffsetsForLeaderEpoch, KIP-320, and reset to
the divergence point).
"""

from __future__ import annotations

import textwrap

import pytest

from kafkasim.clients.consumer import Consumer
from kafkasim.clients.producer import Producer
from kafkasim.errors import KafkaError, KafkaException
from kafkasim.records import OFFSET_BEGINNING, TopicPartition
from kafkasim.scenario.load import loads
from kafkasim.scenario.run import Simulation, build, finish

E = KafkaError
TP = TopicPartition("t", 0)


def sim_of(text: str) -> Simulation:
    return build(loads(textwrap.dedent(text)))


class Reader:
    """A consumer plus an application loop that records every (time, offset, value, epoch)."""

    def __init__(self, sim: Simulation, conf: dict, name: str = "reader") -> None:
        self.sim = sim
        self.c = Consumer(conf, sim.cluster, name)
        self.c.assign([TP])
        self.got: list[tuple] = []
        self.errors: list = []
        sim.world.process(self._loop())

    def _loop(self):
        w = self.sim.world
        while not self.c.closed:
            try:
                msgs = yield self.c.consume(100, timeout=0.2)
            except KafkaException as exc:
                self.errors.append(exc)
                yield w.timeout(200)
                continue
            for m in msgs:
                if m.error() is not None:
                    self.errors.append(m.error())
                else:
                    self.got.append((w.now, m.offset(), m.value(), m.leader_epoch()))

    def offsets(self) -> list[int]:
        return [g[1] for g in self.got]


def seeks(sim: Simulation, **match) -> list:
    return [e for e in sim.world.trace.of("consumer.seek") if all(e.data.get(k) == v for k, v in match.items())]


# -- only below the HW ------------------------------------------------------------------------------
FROZEN_HW = """
name: frozen-hw
duration_ms: 70000
cluster:
  brokers: 3
topics:
  - {name: t, partitions: 1, replication_factor: 3}
producers:
  - name: app
    config: {acks: "1", enable.idempotence: false}
    workload: {topic: t, count: 6000, rate_per_s: 100}
faults:
  - {at_ms: 5000, action: cut, from: broker-1, to: [broker-2, broker-3]}
"""


def test_consumer_reads_only_below_the_high_watermark() -> None:
    """The followers are cut off: the leader keeps appending acks=1 records, but they stay above
    the HW until the ISR shrinks (30-45 s later), and no consumer may see them until then."""
    sim = sim_of(FROZEN_HW)
    w = sim.world
    w.run(1000)
    r = Reader(sim, {"auto.offset.reset": "earliest"})
    leader = sim.cluster.brokers[1].logs[TP]
    frozen_seen = False
    for t in range(1100, 70000, 100):
        w.run(t)
        if r.got:
            assert max(r.offsets()) < leader.hw
        if 10_000 < t < 30_000:
            assert leader.leo > leader.hw
            frozen_seen = frozen_seen or (r.got and max(r.offsets()) == leader.hw - 1)
    assert frozen_seen, "the consumer caught up with the frozen HW and waited there"
    assert r.offsets() == list(range(len(r.offsets())))
    assert max(r.offsets()) > 6000 - 200, "after the ISR shrink the HW moved on and the consumer followed"


def test_watermarks_are_log_start_and_high_watermark_not_leo() -> None:
    sim = sim_of(FROZEN_HW)
    w = sim.world
    w.run(20000)
    c = Consumer({}, sim.cluster, "admin")
    w.run(21000)
    ev = c.get_watermark_offsets(TP)
    w.run(21100)
    leader = sim.cluster.brokers[1].logs[TP]
    assert ev.value == (0, leader.hw)
    assert leader.hw < leader.leo


# -- where a consumer starts ------------------------------------------------------------------------
TEN_THEN_FIVE = """
name: reset
duration_ms: 20000
cluster:
  brokers: 3
topics:
  - {name: t, partitions: 1, replication_factor: 3}
producers:
  - name: app
    config: {acks: all}
    workload: {topic: t, count: 10, rate_per_s: 100}
"""


def late_records(sim: Simulation, at: int = 6000, n: int = 5) -> None:
    w = sim.world
    w.run(at)
    p = Producer({"linger.ms": 0}, sim.cluster, "late")
    for i in range(n):
        p.produce("t", value=f"late{i}")


@pytest.mark.parametrize(("policy", "expected"), [("earliest", list(range(15))), ("latest", list(range(10, 15)))])
def test_auto_offset_reset_earliest_and_latest(policy: str, expected: list[int]) -> None:
    """No position: earliest starts at the log start offset, latest at the high watermark."""
    sim = sim_of(TEN_THEN_FIVE)
    w = sim.world
    w.run(3000)
    assert sim.cluster.brokers[1].logs[TP].hw == 10
    r = Reader(sim, {"auto.offset.reset": policy})
    late_records(sim)
    w.run(20000)
    assert r.offsets() == expected
    [seek] = seeks(sim, reason=policy)
    assert seek.data["offset"] == expected[0]


def test_auto_offset_reset_none_reads_nothing() -> None:
    sim = sim_of(TEN_THEN_FIVE)
    w = sim.world
    w.run(3000)
    r = Reader(sim, {"auto.offset.reset": "none"})
    late_records(sim)
    w.run(20000)
    assert r.got == []
    assert r.c.position([TP]) == [(TP, -1001)]


def test_auto_offset_reset_none_surfaces_an_error_to_the_application() -> None:
    sim = sim_of(TEN_THEN_FIVE)
    w = sim.world
    w.run(3000)
    r = Reader(sim, {"auto.offset.reset": "none"})
    w.run(10000)
    assert r.errors, "§7: none -> raise"


def test_seek_and_position() -> None:
    sim = sim_of(TEN_THEN_FIVE)
    w = sim.world
    w.run(3000)
    c = Consumer({"auto.offset.reset": "earliest"}, sim.cluster, "c")
    c.assign([TP])
    assert c.position([TP]) == [(TP, -1001)], "unknown until reset"
    got: list = []

    def app():
        got.append((yield c.poll(1.0)).offset())
        c.seek(TP, 4)
        got.append((yield c.poll(1.0)).offset())
        got.append(c.position([TP])[0][1])
        c.seek(TP, OFFSET_BEGINNING)
        got.append((yield c.poll(1.0)).offset())
        got.append(c.position([TP])[0][1])

    w.process(app())
    w.run(8000)
    assert got == [0, 4, 5, 0, 1]


# -- leader changes ---------------------------------------------------------------------------------
FAILOVER = """
name: failover
duration_ms: 40000
cluster:
  brokers: 3
  config: {min.insync.replicas: 2}
topics:
  - {name: t, partitions: 1, replication_factor: 3}
producers:
  - name: app
    config: {acks: all}
    workload: {topic: t, count: 1500, rate_per_s: 100}
faults:
  - {at_ms: 4000, action: crash, target: broker-1}
"""


def test_consumer_follows_a_leader_change() -> None:
    sim = sim_of(FAILOVER)
    w = sim.world
    w.run(500)
    r = Reader(sim, {"auto.offset.reset": "earliest"})
    w.run(40000)
    assert sim.cluster.controller.partitions[TP].leader == 2
    assert r.offsets() == list(range(1500)), "every record once, in order, across the failover"
    epochs = {g[3] for g in r.got}
    assert epochs == {0, 1}, "records written by both leaders"
    assert seeks(sim, reason="truncation") == []


UNCLEAN = """
name: unclean
duration_ms: 150000
cluster:
  brokers: 3
topics:
  - name: t
    partitions: 1
    replication_factor: 3
    config: {unclean.leader.election.enable: true, min.insync.replicas: 1}
producers:
  - name: app
    config: {acks: all}
    workload: {topic: t, count: 5000, rate_per_s: 50}
consumers:
  - name: reader
    topics: [t]
    config: {auto.offset.reset: earliest}
faults:
  - {at_ms: 2000, action: cut, from: broker-1, to: [broker-2, broker-3]}
  - {at_ms: 60000, action: crash, target: broker-1}
  - {at_ms: 61000, action: heal, from: broker-1, to: [broker-2, broker-3]}
  - {at_ms: 90000, action: restart, target: broker-1}
"""


def test_consumer_detects_truncation_after_an_unclean_election_and_resets_to_the_divergence_point() -> None:
    """Broker 1 alone (ISR [1]) commits records up to its HW and the consumer reads them. Broker 1
    dies; broker 2 is elected uncleanly with LEO X < what the consumer read. On the leader change
    the consumer asks the new leader where its last fetched epoch ends (KIP-320): at X, below its
    position, so the log was truncated; it resets to X and reads the new leader's records there."""
    sim = sim_of(UNCLEAN)
    w = sim.world
    while sim.cluster.controller.partitions[TP].leader != 2:
        w.run(w.now + 10)
    w.run(w.now + 5)
    x = sim.cluster.brokers[2].logs[TP].epochs[-1][1]
    w.run(150000)
    finish(sim)
    consumed = [e for e in sim.world.trace.of("consume")]
    [reset] = seeks(sim, reason="truncation")
    assert reset.data["offset"] == x
    before = [e for e in consumed if e.t <= reset.t]
    after = [e for e in consumed if e.t > reset.t]
    assert max(e.data["offset"] + e.data["count"] for e in before) > x, "it had read past X"
    assert after[0].data["offset"] == x
    [final] = sim.world.trace.of("log.final")
    in_log = {}
    for off, n, prod, rec, *_ in final.data["batches"]:
        for i in range(n):
            in_log[off + i] = (prod, rec + i)
    for e in after:
        for i in range(e.data["count"]):
            assert in_log[e.data["offset"] + i] == (e.data["producer"], e.data["rec"] + i)


# -- assign() with a group.id: committed offsets without joining -----------------------------------
def test_an_assigned_consumer_with_a_group_id_starts_at_the_committed_offset() -> None:
    """Java's standalone consumer: assign() does not join the group, but a position-less partition
    is fetched from the group's committed offset (OffsetFetch) before auto.offset.reset applies."""
    sim = sim_of("""
        name: standalone
        duration_ms: 20000
        cluster: {brokers: 3}
        topics: [{name: t, partitions: 1, replication_factor: 3}]
        producers: [{name: app, workload: {topic: t, count: 100, rate_per_s: 100}}]
        """)
    first = Consumer({"group.id": "g", "auto.offset.reset": "earliest"}, sim.cluster, "first")
    first.assign([TP])
    sim.world.run(4000)
    sim.world.process(_commit(first, 40))
    sim.world.run(5000)
    second = Reader(sim, {"group.id": "g", "auto.offset.reset": "earliest"}, "second")
    other = Reader(sim, {"group.id": "other", "auto.offset.reset": "earliest"}, "third")
    sim.world.run(9000)
    assert second.offsets()[0] == 40 and other.offsets()[0] == 0
    assert seeks(sim, consumer="second", reason="committed")[0].data["offset"] == 40
    assert not [e for e in sim.world.trace.of("member.rejoin") if e.node in ("first", "second")]  # no join


def _commit(c: Consumer, offset: int):
    err = yield c.commit(offsets=[(TP, offset)], asynchronous=False)
    assert err is None
