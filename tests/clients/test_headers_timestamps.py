"""Record metadata: timestamps (KIP-32) and headers (KIP-82), end to end.

Rules: with ``message.timestamp.type=CreateTime`` (the default) every record keeps the
producer's timestamp (the time of ``produce()`` unless one is given); with ``LogAppendTime``
the leader overwrites the batch's timestamp with its append time and every record of the
batch reads that (Kafka ``LogValidator``: ``setMaxTimestamp(LOG_APPEND_TIME, now)``); the
produce response carries it (``log_append_time``) and so does the delivery report.
confluent-kafka: ``Message.timestamp()`` is ``(TIMESTAMP_CREATE_TIME=1 | TIMESTAMP_LOG_APPEND_TIME=2, ms)``,
``Message.headers()`` a list of ``(str, bytes)``. Headers count in the record's size.
Retention reads record timestamps (a segment goes when its largest timestamp is older than
``retention.ms``), so an old CreateTime is deleted at once.
"""

from __future__ import annotations

import textwrap

from kafkasim.clients.consumer import Consumer
from kafkasim.clients.producer import Producer
from kafkasim.errors import KafkaError
from kafkasim.records import (
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    TIMESTAMP_NOT_AVAILABLE,
    Message,
    TopicPartition,
)
from kafkasim.scenario.load import loads
from kafkasim.scenario.run import Simulation, build

E = KafkaError
TP = TopicPartition("t", 0)


def cluster(topic_config: str = "{}", broker_config: str = "{}") -> Simulation:
    text = f"""
        name: metadata
        duration_ms: 200000
        cluster:
          brokers: 3
          config: {broker_config}
          network: {{latency_ms: {{min: 2, max: 2}}}}
        topics:
          - {{name: t, partitions: 1, replication_factor: 3, config: {topic_config}}}
        """
    return build(loads(textwrap.dedent(text)))


def producer(sim: Simulation, **conf) -> Producer:
    sim.world.run(1000)
    p = Producer(dict(conf), sim.cluster, "app")
    sim.world.run(2000)
    return p


def at(sim: Simulation, t: int) -> None:
    if t > sim.world.now:
        sim.world.run(t)


def send_at(sim: Simulation, p: Producer, times: list[int], reports: list, **kw) -> None:
    """produce() one record at each simulated time (ms), values '0', '1', ..."""
    for i, t in enumerate(times):
        at(sim, t)
        p.produce("t", value=str(i), on_delivery=lambda err, msg: reports.append((err, msg)), **kw)


def consume_all(sim: Simulation, until: int) -> list[Message]:
    c = Consumer({"auto.offset.reset": "earliest"}, sim.cluster, "reader")
    c.assign([TP])
    got: list[Message] = []

    def loop():
        while True:
            msgs = yield c.consume(100, timeout=0.2)
            got.extend(m for m in msgs if m.error() is None)

    sim.world.process(loop())
    sim.world.run(until)
    return got


def append_times(sim: Simulation) -> list[int]:
    return [e.t for e in sim.world.trace.of("log.append") if e.data["topic"] == "t"]


# -- CreateTime ---------------------------------------------------------------------------------------
def test_create_time_keeps_each_records_send_time_across_a_lingering_batch() -> None:
    """Three records lingering in one batch: each keeps its own produce() time, not the append time."""
    sim = cluster()
    p = producer(sim, **{"linger.ms": 100})
    reports: list = []
    send_at(sim, p, [2000, 2030, 2060], reports)
    got = consume_all(sim, 6000)
    assert len(append_times(sim)) == 1, "one batch"
    assert append_times(sim)[0] >= 2100, "appended after linger.ms"
    assert [m.timestamp() for m in got] == [(TIMESTAMP_CREATE_TIME, t) for t in (2000, 2030, 2060)]
    # the delivery report carries the same CreateTime
    assert [(err, msg.timestamp()) for err, msg in reports] == [(None, (1, t)) for t in (2000, 2030, 2060)]


def test_explicit_timestamp_is_kept_with_create_time() -> None:
    sim = cluster()
    p = producer(sim, **{"linger.ms": 0})
    reports: list = []
    send_at(sim, p, [2000], reports, timestamp=123)
    got = consume_all(sim, 5000)
    assert [m.timestamp() for m in got] == [(TIMESTAMP_CREATE_TIME, 123)]
    assert reports[0][1].timestamp() == (TIMESTAMP_CREATE_TIME, 123)


def test_split_batches_keep_per_record_timestamps() -> None:
    """MESSAGE_TOO_LARGE splits a lingering batch in two; the halves keep every record's CreateTime."""
    sim = cluster(topic_config="{max.message.bytes: 1000}")
    p = producer(sim, **{"linger.ms": 100})
    reports: list = []
    times = [2000, 2010, 2020, 2030, 2040, 2050]
    for i, t in enumerate(times):
        at(sim, t)
        p.produce("t", value=str(i) * 300, on_delivery=lambda err, msg: reports.append((err, msg)))
    got = consume_all(sim, 8000)
    assert [e.data["error"] for e in sim.world.trace.of("produce.error")] == ["MESSAGE_TOO_LARGE"]
    assert len(append_times(sim)) == 2
    assert [m.timestamp()[1] for m in got] == times


# -- LogAppendTime -------------------------------------------------------------------------------------
def test_log_append_time_overwrites_every_records_timestamp_with_the_append_time() -> None:
    sim = cluster(topic_config="{message.timestamp.type: LogAppendTime}")
    p = producer(sim, **{"linger.ms": 100})
    reports: list = []
    send_at(sim, p, [2000, 2030, 2060], reports, timestamp=5)  # the producer's timestamps are ignored
    got = consume_all(sim, 6000)
    [appended] = append_times(sim)
    assert appended >= 2100
    assert [m.timestamp() for m in got] == [(TIMESTAMP_LOG_APPEND_TIME, appended)] * 3
    assert [(err, msg.timestamp()) for err, msg in reports] == [(None, (TIMESTAMP_LOG_APPEND_TIME, appended))] * 3


def test_no_timestamp_reads_as_not_available() -> None:
    assert Message("t", 0, 0).timestamp() == (TIMESTAMP_NOT_AVAILABLE, -1)


# -- headers ---------------------------------------------------------------------------------------------
def test_headers_arrive_unchanged_in_order_with_repeated_keys() -> None:
    sim = cluster()
    p = producer(sim, **{"linger.ms": 0})
    p.produce("t", value="a", headers=[("source", "orders-service"), ("version", b"2"), ("hop", "1"),
                                       ("hop", "2"), ("empty", None)])
    p.produce("t", value="b", headers={"correlation_id": "orders-service-7"})
    p.produce("t", value="c")
    got = consume_all(sim, 6000)
    assert [m.headers() for m in got] == [
        [("source", b"orders-service"), ("version", b"2"), ("hop", b"1"), ("hop", b"2"), ("empty", None)],
        [("correlation_id", b"orders-service-7")],
        None,
    ]


def test_headers_count_toward_max_request_size() -> None:
    """The same record fits without its header and is RECORD_TOO_LARGE with it (never sent)."""
    sim = cluster()
    p = producer(sim, **{"max.request.size": 1000})
    reports: list = []
    p.produce("t", value="x" * 500, on_delivery=lambda err, msg: reports.append(err))
    p.produce("t", value="x" * 500, headers=[("trace", "y" * 500)], on_delivery=lambda err, msg: reports.append(err))
    sim.world.run(6000)
    # 500 + 8 + 61 bytes fit in 1000; the 5 + 500 header bytes do not (reported at once, the other on ack)
    assert reports == [E.RECORD_TOO_LARGE, None]


# -- retention reads record timestamps -------------------------------------------------------------------
def _retained(timestamp_type: str) -> int:
    sim = cluster(topic_config=f"{{retention.ms: 5000, message.timestamp.type: {timestamp_type}}}",
                  broker_config="{log.retention.check.interval.ms: 1000}")
    p = producer(sim, **{"linger.ms": 0})
    reports: list = []
    send_at(sim, p, [2000], reports, timestamp=1)  # a producer clock far behind the broker's
    sim.world.run(6500)
    return sim.cluster.brokers[1].logs[TP].log_start


def test_retention_deletes_a_record_whose_create_time_is_old() -> None:
    """CreateTime 1 ms: older than retention.ms at the first check after 5001 ms, so deleted at once;
    with LogAppendTime the same record is stamped ~2000 ms and kept until ~7000 ms."""
    assert _retained("CreateTime") == 1
    assert _retained("LogAppendTime") == 0
