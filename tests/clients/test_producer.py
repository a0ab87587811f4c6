"""The producer client: partitioning, batching, retries and idempotence, size limits, timeouts.

Rules: §4 (retry loop until delivery.timeout.ms), §8 (retries duplicate without
idempotence; max.in.flight reordering; idempotent dedupe), §13 (murmur2 key placement and
the reference's derived key -> partition tables), §16 (RECORD_TOO_LARGE never sent;
MESSAGE_TOO_LARGE from the topic: single record fails, multi-record batch is split).
Kafka: KafkaProducer, RecordAccumulator.ready ("full = deque.size() > 1 || batch.isFull()"),
Sender, NetworkClient.
"""

from __future__ import annotations

import textwrap

import pytest

from kafkasim.clients.partitioner import partition_for_key
from kafkasim.clients.producer import Producer
from kafkasim.errors import KafkaError
from kafkasim.records import TopicPartition
from kafkasim.scenario.load import loads
from kafkasim.scenario.run import Simulation, build

E = KafkaError
TP = TopicPartition("t", 0)


def cluster(partitions: int = 1, rf: int = 3, topic_config: str = "{}", faults: str = "") -> Simulation:
    text = f"""
        name: producer
        duration_ms: 200000
        cluster:
          brokers: 3
        topics:
          - {{name: t, partitions: {partitions}, replication_factor: {rf}, config: {topic_config}}}
        """
    return build(loads(textwrap.dedent(text) + faults))


def start(sim: Simulation, name: str = "app", at: int = 1000, **conf) -> Producer:
    """A producer created at ``at`` ms (after the cluster settled), metadata loaded by at+1000."""
    sim.world.run(at)
    p = Producer(dict(conf), sim.cluster, name)
    sim.world.run(at + 1000)
    assert p.metadata.partition_counts, "metadata loaded"
    return p


class Reports:
    """Delivery reports as (time, err, topic, partition, offset, key, value); pass it as on_delivery."""

    def __init__(self, world) -> None:
        self.world = world
        self.items: list[tuple] = []

    def __call__(self, err, msg) -> None:
        self.items.append((self.world.now, err, msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value()))

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:  # a callback object is always "set", however many reports it holds
        return True

    def __eq__(self, other) -> bool:
        return self.items == other

    def by_value(self) -> dict:
        return {r[6]: r for r in self.items}


def events(sim: Simulation, kind: str, **match) -> list:
    return [e for e in sim.world.trace.of(kind) if all(e.data.get(k) == v for k, v in match.items())]


def log_values(sim: Simulation, broker: int = 1, tp: TopicPartition = TP) -> list:
    return [v for b in sim.cluster.brokers[broker].logs[tp].batches for v in (b.values or (None,) * b.count)]


# -- partitioning -----------------------------------------------------------------------------------
# §13: derived with an independent murmur2 implementation that passes Kafka's test vectors
EXPECTED = {
    6: [5, 5, 3, 4, 4, 0, 1, 4, 2, 2],
    3: [2, 2, 0, 1, 1, 0, 1, 1, 2, 2],
}


@pytest.mark.parametrize("partitions", [6, 3])
def test_keyed_records_land_on_the_murmur2_partition(partitions: int) -> None:
    sim = cluster(partitions=partitions)
    w = sim.world
    p = start(sim)
    reports = Reports(w)
    for rnd in range(2):
        for i in range(10):
            p.produce("t", key=f"k{i}", value=f"v{i}-{rnd}", on_delivery=reports)
    w.run(5000)
    assert len(reports) == 20 and all(r[1] is None for r in reports)
    got = {r[5]: set() for r in reports}
    for r in reports:
        got[r[5]].add(r[3])
    for i, want in enumerate(EXPECTED[partitions]):
        assert got[f"k{i}"] == {want} == {partition_for_key(f"k{i}", partitions)}
    for r in reports:  # and that is where the records are
        tp = TopicPartition("t", r[3])
        leader = sim.cluster.controller.partitions[tp].leader
        assert r[6] in log_values(sim, leader, tp)


# -- batching ---------------------------------------------------------------------------------------
def test_linger_ms_collects_records_into_one_batch() -> None:
    sim = cluster()
    w = sim.world
    p = start(sim, **{"linger.ms": 100})
    for i in range(3):
        p.produce("t", value=f"v{i}")
    w.run(2099)
    assert events(sim, "produce.send") == []
    w.run(3000)
    [send] = events(sim, "produce.send")
    assert (send.t, send.data["count"]) == (2100, 3)
    assert [b.count for b in sim.cluster.brokers[1].logs[TP].batches] == [3]


def test_full_batch_is_sent_without_waiting_for_linger() -> None:
    """A batch that reaches batch.size goes at once; linger.ms only bounds a partial batch."""
    sim = cluster()
    w = sim.world
    # each record is 300 + 8 bytes; batch overhead 61: two records fill exactly 677 bytes
    p = start(sim, **{"linger.ms": 1000, "batch.size": 677})
    for i in range(3):
        p.produce("t", value=str(i) * 300)
    w.run(5000)
    assert [(e.t, e.data["rec"], e.data["count"]) for e in events(sim, "produce.send")] == \
        [(2000, 0, 2), (3000, 2, 1)]


def test_batch_that_cannot_take_the_next_record_is_sent_at_once() -> None:
    sim = cluster()
    w = sim.world
    p = start(sim, **{"linger.ms": 1000, "batch.size": 700})  # 677 bytes used, a third record won't fit
    for i in range(3):
        p.produce("t", value=str(i) * 300)
    w.run(5000)
    assert [(e.t, e.data["rec"], e.data["count"]) for e in events(sim, "produce.send")] == \
        [(2000, 0, 2), (3000, 2, 1)]


# -- retries and idempotence ------------------------------------------------------------------------
@pytest.mark.parametrize(("idempotent", "copies", "offset"), [(False, 2, 1), (True, 1, 0)])
def test_retry_after_a_lost_response(idempotent: bool, copies: int, offset: int) -> None:
    """§8: the leader appended the batch but its answer was lost; after request.timeout.ms the
    producer resends. Without idempotence the record is appended twice; with it the leader
    recognises the sequence number and answers with the original offset."""
    sim = cluster()
    w = sim.world
    p = start(sim, **{"enable.idempotence": idempotent, "request.timeout.ms": 5000, "linger.ms": 0})
    reports = Reports(w)
    w.net.drop("broker-1", "app", 1)
    p.produce("t", value="once", on_delivery=reports)
    w.run(20000)
    assert [(r[1], r[4]) for r in reports] == [(None, offset)], "one delivery report per record"
    assert log_values(sim) == ["once"] * copies
    [err] = events(sim, "produce.error")
    assert (err.data["error"], err.data["retry"]) == ("REQUEST_TIMED_OUT", True)
    assert [e.data["attempt"] for e in events(sim, "produce.send")] == [1, 2]


def send_ten_with_first_response_lost(idempotent: bool, max_in_flight: int) -> tuple[Simulation, Reports]:
    sim = cluster()
    w = sim.world
    p = start(sim, **{"enable.idempotence": idempotent, "linger.ms": 0, "request.timeout.ms": 5000,
                      "max.in.flight.requests.per.connection": max_in_flight})
    reports = Reports(w)
    w.net.drop("broker-1", "app", 1)

    def app():
        for i in range(10):
            p.produce("t", value=i, on_delivery=reports)
            yield w.timeout(1)

    w.process(app())
    w.run(30000)
    assert len(reports) == 10 and all(r[1] is None for r in reports)
    return sim, reports


def ack_offsets_in_send_order(reports: Reports) -> list[int]:
    return [reports.by_value()[i][4] for i in range(10)]


def test_max_in_flight_above_one_without_idempotence_can_reorder() -> None:
    """§8: five requests in flight; the first answer is lost, so the connection times out and all
    five are retried (Kafka fails them oldest first and re-enqueues each at the head). Retried
    batches land after later ones: an earlier record gets a higher offset, and all are duplicated."""
    sim, reports = send_ten_with_first_response_lost(False, 5)
    offsets = ack_offsets_in_send_order(reports)
    assert offsets != sorted(offsets), "a record sent earlier ended after one sent later"
    assert len(log_values(sim)) > 10


def test_max_in_flight_one_keeps_send_order() -> None:
    """One request at a time: the retry goes before anything later (duplicates still possible)."""
    sim, reports = send_ten_with_first_response_lost(False, 1)
    offsets = ack_offsets_in_send_order(reports)
    assert offsets == sorted(offsets)
    first_seen = list(dict.fromkeys(log_values(sim)))
    assert first_seen == list(range(10))


def test_idempotent_producer_keeps_order_and_writes_once_with_five_in_flight() -> None:
    sim, reports = send_ten_with_first_response_lost(True, 5)
    assert ack_offsets_in_send_order(reports) == list(range(10))
    assert log_values(sim) == list(range(10))


# -- size limits ------------------------------------------------------------------------------------
def test_record_over_max_request_size_fails_at_once_and_is_never_sent() -> None:
    """§16: RecordTooLargeException from send(); other records are unaffected."""
    sim = cluster()
    w = sim.world
    p = start(sim, **{"max.request.size": 10_000})
    reports = Reports(w)
    p.produce("t", value="x" * 20_000, on_delivery=reports)
    assert [(r[0], r[1], r[4]) for r in reports] == [(2000, E.RECORD_TOO_LARGE, -1)]
    p.produce("t", value="small", on_delivery=reports)
    w.run(5000)
    assert [r[1] for r in reports] == [E.RECORD_TOO_LARGE, None]
    assert [e.data["count"] for e in events(sim, "produce.send")] == [1]
    assert log_values(sim) == ["small"]


def test_single_record_over_max_message_bytes_fails_with_message_too_large() -> None:
    """§16: the topic rejects the batch (nothing appended); a single record cannot be split, so it
    fails without retry; later records are unaffected."""
    sim = cluster(topic_config="{max.message.bytes: 1000}")
    w = sim.world
    p = start(sim, **{"linger.ms": 0})
    reports = Reports(w)
    p.produce("t", value="x" * 2000, on_delivery=reports)
    w.run(3000)
    p.produce("t", value="ok", on_delivery=reports)
    w.run(5000)
    assert [(r[1], r[4]) for r in reports] == [(E.MESSAGE_TOO_LARGE, -1), (None, 0)]
    assert len(events(sim, "produce.send", rec=0)) == 1, "not retried"
    assert log_values(sim) == ["ok"]


def split_case(headers: bool) -> tuple[Simulation, Reports]:
    sim = cluster(topic_config="{max.message.bytes: 1000}")
    w = sim.world
    p = start(sim, **{"linger.ms": 50})
    reports = Reports(w)
    for i in range(6):  # 6 x (300 + 8) bytes + 61: too big together, fine in halves
        p.produce("t", value=str(i) * 300, on_delivery=reports, headers=[("h", "1")] if headers else None)
    w.run(10000)
    return sim, reports


def assert_split_delivered(sim: Simulation, reports: Reports) -> None:
    assert sorted((r[1], r[4]) for r in reports) == [(None, i) for i in range(6)]
    assert log_values(sim) == [str(i) * 300 for i in range(6)]
    errors = events(sim, "produce.error")
    assert [(e.data["error"], e.data["count"], e.data["retry"]) for e in errors] == [("MESSAGE_TOO_LARGE", 6, True)]
    assert all(b.size <= 1000 for b in sim.cluster.brokers[1].logs[TP].batches)


def test_multi_record_batch_over_max_message_bytes_is_split_and_delivered() -> None:
    sim, reports = split_case(headers=True)
    assert_split_delivered(sim, reports)


def test_multi_record_batch_without_headers_is_split_and_delivered() -> None:
    sim, reports = split_case(headers=False)
    assert_split_delivered(sim, reports)


# -- timeouts ---------------------------------------------------------------------------------------
OFFLINE = "faults:\n  - {at_ms: 3000, action: crash, target: broker-1}\n"


def test_delivery_timeout_expires_records_while_the_partition_is_offline() -> None:
    """§4/§5: RF 1 on broker 1; broker 1 dies, the partition has no leader. Records are retried
    until delivery.timeout.ms after send(), then fail with a timeout; nothing is written."""
    sim = cluster(rf=1, faults=OFFLINE)
    w = sim.world
    p = start(sim, **{"delivery.timeout.ms": 20000, "request.timeout.ms": 10000, "linger.ms": 0})
    w.run(15000)
    assert sim.cluster.controller.partitions[TP].leader == -1
    reports = Reports(w)
    p.produce("t", value="a", on_delivery=reports)
    p.produce("t", value="b", on_delivery=reports)
    w.run(34999)
    assert reports == []
    w.run(40000)
    assert [r[1] for r in reports] == [E._MSG_TIMED_OUT] * 2
    assert all(35000 <= r[0] <= 36000 for r in reports)
    assert [e.data["error"] for e in events(sim, "produce.fail")] == ["_MSG_TIMED_OUT"]


# -- delivery reports and flush ---------------------------------------------------------------------
def test_delivery_callbacks_carry_error_and_offsets() -> None:
    sim = cluster()
    w = sim.world
    p = start(sim, **{"linger.ms": 10})
    reports = Reports(w)
    for i in range(3):
        p.produce("t", key=f"k{i}", value=f"v{i}", on_delivery=reports, partition=0)
    w.run(5000)
    [ack] = events(sim, "produce.ack")
    assert [r[1:] for r in reports] == [(None, "t", 0, i, f"k{i}", f"v{i}") for i in range(3)]
    assert all(r[0] == ack.t for r in reports), "reports arrive with the acknowledgement"


def test_acks_0_reports_offset_minus_one() -> None:
    """§4: acks=0 never gets an answer; the send counts as done once written, offset -1."""
    sim = cluster()
    w = sim.world
    p = start(sim, acks="0", **{"enable.idempotence": False, "linger.ms": 0})
    reports = Reports(w)
    p.produce("t", value="fire", on_delivery=reports)
    w.run(5000)
    assert [(r[1], r[4]) for r in reports] == [(None, -1)]
    assert log_values(sim) == ["fire"]


def test_flush_fires_once_every_record_is_delivered() -> None:
    sim = cluster()
    w = sim.world
    p = start(sim, **{"linger.ms": 500})
    reports = Reports(w)
    done: list = []
    for i in range(5):
        p.produce("t", value=i, on_delivery=reports)

    def app():
        left = yield p.flush()
        done.append((w.now, left, len(reports)))

    w.process(app())
    w.run(5000)
    assert len(reports) == 5
    assert done == [(max(r[0] for r in reports), 0, 5)]
    assert max(r[0] for r in reports) < 2500, "flush sends at once instead of waiting for linger.ms"
    assert len(p) == 0


def test_flush_with_timeout_returns_the_records_left() -> None:
    sim = cluster(rf=1, faults=OFFLINE)
    w = sim.world
    p = start(sim, **{"delivery.timeout.ms": 60000, "request.timeout.ms": 10000, "linger.ms": 0})
    w.run(15000)
    for i in range(4):
        p.produce("t", value=i)
    done: list = []

    def app():
        done.append((yield p.flush(timeout=2.0)))

    w.process(app())
    w.run(20000)
    assert done == [4]
    assert len(p) == 4


# -- metadata ---------------------------------------------------------------------------------------
def test_records_are_delivered_after_the_first_metadata_request_is_lost() -> None:
    sim = cluster()
    w = sim.world
    w.run(1000)
    p = Producer({}, sim.cluster, "app")
    brokers = [b.name for b in sim.cluster.brokers.values()]
    for b in brokers:  # the bootstrap metadata request is in flight: lose it
        w.net.cut("app", b)
    w.run(1005)
    for b in brokers:
        w.net.heal("app", b)
    reports = Reports(w)
    p.produce("t", value="v", on_delivery=reports)
    w.run(60000)
    assert [(r[1], r[4]) for r in reports] == [(None, 0)]


def test_retries_zero_fails_on_the_first_retriable_error() -> None:
    """retries=0 (which turns the default idempotence off): a lost answer is not retried."""
    sim = cluster()
    w = sim.world
    p = start(sim, acks="1", retries=0, **{"request.timeout.ms": 5000, "linger.ms": 0})
    assert not p.idempotent
    reports = Reports(w)
    w.net.drop("broker-1", "app", 1)
    p.produce("t", value="v", on_delivery=reports)
    w.run(20000)
    assert [(r[1], r[4]) for r in reports] == [(E.REQUEST_TIMED_OUT, -1)]
    assert log_values(sim) == ["v"], "written, yet reported failed: a timeout is ambiguous"
    assert len(events(sim, "produce.send")) == 1


@pytest.mark.parametrize("keyed", [False, True])
def test_produce_many_fills_batches_like_produce_and_numbers_records_contiguously(keyed: bool) -> None:
    """The workload fast path: one call spanning several batches gives every record its own
    number (rec), batch after batch, and the same batches as produce() one by one."""
    def sends(fast: bool) -> list[tuple]:
        sim = cluster(partitions=2)
        p = start(sim, **{"batch.size": 2000, "linger.ms": 50})
        keys = [f"k{i % 3}" for i in range(100)] if keyed else None
        if fast:
            p.produce_many("t", keys, 100, 100)
        else:
            for i in range(100):
                p.produce("t", key=keys[i] if keys else None, size=100)
        sim.world.run(5000)
        return [(e.data["partition"], e.data["rec"], e.data["count"]) for e in sim.world.trace.events
                if e.kind == "produce.send" and e.data["attempt"] == 1]

    fast = sends(True)
    assert len(fast) > 4 and fast == sends(False)
    for part in (0, 1):
        recs = [(rec, n) for p_, rec, n in fast if p_ == part]
        assert [rec for rec, _ in recs] == [sum(n for _, n in recs[:i]) for i in range(len(recs))]


def test_produce_many_behind_a_retried_batch_keeps_numbering_records_forward() -> None:
    """A retried batch re-enqueued at the front of an otherwise empty queue is the queue's last
    batch; new records must not restart their numbering from it (they would collide)."""
    from collections import deque

    from kafkasim.cluster.protocol import ProducerBatch

    sim = cluster(partitions=1)
    p = start(sim)
    tp = TopicPartition("t", 0)
    retried = ProducerBatch(tp, p.origin, 0, sim.world.now, count=5, size=600, keys=[None] * 5, attempts=1,
                            closed=True)
    p._queues[tp] = deque([retried])
    p._rec_next[tp] = 12  # records 5..11 are in flight elsewhere
    p.produce_many("t", None, 3, 100)
    newest = p._queues[tp][-1]
    assert (newest.rec, newest.count, p._rec_next[tp]) == (12, 3, 15)


def test_a_batch_that_timed_out_in_a_failover_is_retried_first_with_its_sequence() -> None:
    """#12 defect 3, by Kafka's rules: with max.in.flight 1, a batch whose request timed out
    (its leader cut off, then replaced) is retried with the same producer epoch and sequence
    until it succeeds, and nothing after it is sent before: no epoch bump (KIP-360 bumps only
    after a batch failed for the application), the log in order, no copy twice."""
    from kafkasim.scenario.load import loads
    from kafkasim.scenario.run import run

    res = run(loads("""
name: d3
seed: 3
duration_ms: 60000
cluster: {brokers: 3}
topics: [{name: t, partitions: 1, replication_factor: 3, config: {min.insync.replicas: 2}}]
producers:
  - name: p
    config: {acks: all, max.in.flight.requests.per.connection: 1, request.timeout.ms: 3000}
    workload: {topic: t, count: 1000, rate_per_s: 100}
faults:
  - {at_ms: 4000, action: cut, from: broker-1, to: [p, broker-2, broker-3, controller]}
"""))
    sends = [e.data for e in res.trace.events if e.kind == "produce.send"]
    timed_out = {e.data["rec"] for e in res.trace.events if e.kind == "produce.error"}
    assert len(timed_out) == 1, "one batch was in flight when the leader was cut off"
    (rec,) = timed_out
    i = next(k for k, d in enumerate(sends) if d["rec"] == rec)
    retries = [d for d in sends[i:] if d["rec"] == rec]
    assert len(retries) >= 3 and {d["base_sequence"] for d in retries} == {sends[i]["base_sequence"]}
    assert [d["rec"] for d in sends[i:i + len(retries)]] == [rec] * len(retries), "nothing overtook it"
    assert retries[-1]["broker"] != 1, "it succeeded on the new leader"
    inits = [e for e in res.trace.events if e.kind == "producer.init"]
    assert len(inits) == 1, "the one InitProducerId at the start: no epoch bump"
    d = res.result["stats"]["delivery"]
    assert (d["acknowledged"], d["duplicates"], d["lost_acknowledged"]) == (1000, 0, 0)
    assert not [a for a in res.result["anomalies"] if a["kind"] in ("duplicate", "nonmonotonic-send")]
