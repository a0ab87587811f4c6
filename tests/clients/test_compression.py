"""Compression (chapter 16): the batch-size model, the producer's ratio estimate, where Kafka
checks sizes (max.request.size uncompressed, max.message.bytes compressed, again after a
broker recompresses) and the topic's compression.type.

Kafka: MemoryRecordsBuilder (estimatedBytesWritten, hasRoomFor, isFull, factor 1.05),
CompressionRatioEstimator (start 1.0, -0.005 / +0.05 steps), RecordAccumulator.splitAndReenqueue,
KafkaProducer.doSend (estimateSizeInBytesUpperBound ignores the codec), UnifiedLog (size check as
received, and after LogValidator recompresses), BrokerCompressionType.
"""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kafkasim.clients import compression as cz
from kafkasim.clients.compression import (
    EFFICIENCY,
    WARMUP_BYTES,
    BatchCodec,
    RatioEstimator,
    batch_size,
    records_size,
    stored_size,
    target_codec,
)
from kafkasim.clients.producer import Producer
from kafkasim.cluster.log import BATCH_OVERHEAD, RECORD_OVERHEAD
from kafkasim.errors import KafkaError, ScenarioError
from kafkasim.records import TopicPartition
from kafkasim.scenario.load import loads
from kafkasim.scenario.run import Simulation, build

E = KafkaError
TP = TopicPartition("t", 0)
CODECS = ("none", "snappy", "lz4", "gzip", "zstd")  # weakest to strongest
sizes = st.integers(min_value=0, max_value=5_000_000)
shares = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
codecs = st.sampled_from(CODECS)


# -- the size model ----------------------------------------------------------------------------------
@given(u1=sizes, u2=sizes, codec=codecs, c=shares)
def test_compressed_size_grows_with_the_batch_and_never_exceeds_it(u1: int, u2: int, codec: str, c: float) -> None:
    lo, hi = sorted((u1, u2))
    assert records_size(lo, codec, c) <= records_size(hi, codec, c)
    assert 0 <= records_size(hi, codec, c) <= hi


@given(u1=st.integers(min_value=1, max_value=5_000_000), u2=st.integers(min_value=1, max_value=5_000_000),
       codec=codecs, c=shares)
def test_bigger_batches_compress_at_least_as_well(u1: int, u2: int, codec: str, c: float) -> None:
    """The ratio never rises with the batch's size (up to the one byte a ceiling may add)."""
    lo, hi = sorted((u1, u2))
    assert records_size(hi, codec, c) / hi < records_size(lo, codec, c) / lo + 1 / hi


@given(u=sizes, c=shares)
def test_codecs_are_ordered_by_typical_ratio(u: int, c: float) -> None:
    got = [records_size(u, codec, c) for codec in CODECS]
    assert got == sorted(got, reverse=True), "none >= snappy >= lz4 >= gzip >= zstd"


@given(u=sizes, codec=codecs, c1=shares, c2=shares)
def test_more_compressible_data_compresses_at_least_as_well(u: int, codec: str, c1: float, c2: float) -> None:
    lo, hi = sorted((c1, c2))
    assert records_size(u, codec, hi) <= records_size(u, codec, lo)


@given(u=sizes, codec=codecs)
def test_incompressible_data_and_tiny_batches_do_not_shrink(u: int, codec: str) -> None:
    assert records_size(u, codec, 0.0) == u
    assert records_size(min(u, WARMUP_BYTES), codec, 1.0) == min(u, WARMUP_BYTES)
    assert records_size(u, "none", 1.0) == u


@pytest.mark.parametrize("codec", ["snappy", "lz4", "gzip", "zstd"])
def test_huge_batches_approach_the_codecs_limit_ratio(codec: str) -> None:
    u = 10_000_000
    assert records_size(u, codec, 0.8) / u == pytest.approx(1 - 0.8 * EFFICIENCY[codec], abs=1e-4)


def test_a_worked_example_of_the_formula() -> None:
    """20 records of 300-byte values (8 bytes of framing each), zstd, compressibility 0.8:
    61 + 256 + ceil((1 - 0.8 * 0.94) * (6160 - 256)) = 61 + 256 + 1465."""
    assert batch_size(BATCH_OVERHEAD + 20 * 308, "zstd", 0.8) == 1782
    assert batch_size(BATCH_OVERHEAD + 308, "zstd", 0.8) == 61 + 256 + 13  # one record: barely shrinks
    assert batch_size(BATCH_OVERHEAD + 20 * 308, "none", 0.8) == 6221


def test_topic_codec_decides_what_is_stored() -> None:
    assert target_codec("producer", "lz4") == "lz4"
    assert target_codec("uncompressed", "lz4") == "none"
    assert target_codec("zstd", "none") == "zstd"
    sent = batch_size(6221, "lz4", 0.8)
    lz4 = BatchCodec("lz4", 0.8, uncompressed=6221)
    assert stored_size(sent, lz4, "producer") == sent
    assert stored_size(sent, lz4, "lz4") == sent
    assert stored_size(sent, lz4, "uncompressed") == 6221
    assert stored_size(sent, lz4, "zstd") == batch_size(6221, "zstd", 0.8) < sent
    assert stored_size(6221, None, "gzip") == batch_size(6221, "gzip", cz.DEFAULT_COMPRESSIBILITY)
    assert stored_size(6221, None, "producer") == 6221


# -- the producer's ratio estimate ------------------------------------------------------------------
@given(current=st.floats(min_value=0.01, max_value=2.0), observed=st.floats(min_value=0.0, max_value=2.0))
def test_ratio_estimate_steps(current: float, observed: float) -> None:
    r = RatioEstimator()
    r.reset("t", 1.0)
    r._ratios["t"] = current
    new = r.update("t", observed)
    if observed < current:  # improves slowly, never below what was seen
        assert new == pytest.approx(max(current - 0.005, observed))
    elif observed > current:  # worsens fast, at least to what was seen
        assert new == pytest.approx(max(current + 0.05, observed)) and new >= observed
    else:
        assert new == current


def test_ratio_estimate_starts_at_one_and_resets_to_at_least_one() -> None:
    r = RatioEstimator()
    assert r.estimate("t") == 1.0
    r.update("t", 0.3)
    assert r.estimate("t") == pytest.approx(0.995)
    r.reset("t", 0.3)
    assert r.estimate("t") == 1.0
    r.reset("t", 1.2)
    assert r.estimate("t") == 1.2


def test_estimated_size_is_the_builders() -> None:
    assert BatchCodec("zstd", 0.8, estimate=1.0).estimated_size(1061) == 61 + 1050
    assert BatchCodec("zstd", 0.8, estimate=0.5).estimated_size(1061) == 61 + 525
    assert BatchCodec("none", 0.8, estimate=0.5).estimated_size(1061) == 1061


# -- the producer and the broker -------------------------------------------------------------------
def cluster(topic_config: str = "{}") -> Simulation:
    text = f"""
        name: compression
        duration_ms: 600000
        cluster:
          brokers: 3
        topics:
          - {{name: t, partitions: 1, replication_factor: 3, config: {topic_config}}}
        """
    return build(loads(textwrap.dedent(text)))


def start(sim: Simulation, **conf) -> Producer:
    sim.world.run(1000)
    p = Producer(dict(conf), sim.cluster, "app")
    sim.world.run(2000)
    return p


def sends(sim: Simulation) -> list[dict]:
    return [e.data for e in sim.world.trace.of("produce.send")]


def stored(sim: Simulation) -> list[int]:
    return [b.size for b in sim.cluster.brokers[1].logs[TP].batches]


def test_first_compressed_batch_holds_fewer_records_then_the_estimate_learns() -> None:
    """Records of 1000-byte values (1008 with framing), batch.size 16384: uncompressed, 16 fit
    (61 + 16 * 1008 = 16189). With zstd the first estimate is 1.0 * 1.05, so only 15 fit
    (61 + int(14 * 1008 * 1.05) + 1008 <= 16384 < 61 + int(15 * 1008 * 1.05) + 1008). Each
    built batch lowers the estimate by 0.005, so later batches hold more."""
    counts = {}
    for codec in ("none", "zstd"):
        sim = cluster()
        p = start(sim, **{"linger.ms": 60_000, "compression.type": codec})
        for _ in range(200):  # 20 records per ms: the sender builds batches as they fill
            for _ in range(20):
                p.produce("t", size=1000)
            sim.world.run(sim.world.now + 1)
        sim.world.run(400_000)
        counts[codec] = [d["count"] for d in sends(sim)]
        assert sum(counts[codec]) == 4000
    assert counts["none"][0] == 16 and set(counts["none"][:-1]) == {16}
    assert counts["zstd"][0] == 15
    assert counts["zstd"][-2] > 20, "the estimate has learned the ratio"
    assert len(counts["zstd"]) < len(counts["none"])


def test_the_estimate_follows_kafkas_steps_in_the_producer() -> None:
    sim = cluster()
    p = start(sim, **{"linger.ms": 60_000, "compression.type": "gzip"})
    for _ in range(1000):
        p.produce("t", size=1000)
    sim.world.run(100_000)
    built = [d for d in sends(sim) if d["attempt"] == 1]
    observed = [(d["bytes"] - 61) / (d["uncompressed"] - 61) for d in built]
    expect = 1.0
    for o in observed:
        expect = max(expect - 0.005, o) if o < expect else max(expect + 0.05, o) if o > expect else expect
    assert p._ratios.estimate("t") == pytest.approx(expect)
    assert all(o < 0.5 for o in observed)


def test_the_broker_stores_the_batch_as_sent_with_topic_compression_producer() -> None:
    sim = cluster()
    p = start(sim, **{"linger.ms": 100, "compression.type": "lz4"})
    for _ in range(20):
        p.produce("t", size=300)
    sim.world.run(5000)
    (sent,) = sends(sim)
    assert sent["uncompressed"] == 61 + 20 * (RECORD_OVERHEAD + 300)
    assert sent["bytes"] == batch_size(sent["uncompressed"], "lz4", 0.8) < sent["uncompressed"]
    assert stored(sim) == [sent["bytes"]]


@pytest.mark.parametrize(("producer_codec", "topic_codec", "stored_codec"), [
    ("none", "zstd", "zstd"), ("zstd", "uncompressed", "none"), ("lz4", "gzip", "gzip"), ("gzip", "gzip", "gzip"),
])
def test_the_topics_codec_decides_the_stored_size(producer_codec: str, topic_codec: str, stored_codec: str) -> None:
    sim = cluster(f"{{compression.type: {topic_codec}}}")
    p = start(sim, **{"linger.ms": 100, "compression.type": producer_codec})
    for _ in range(20):
        p.produce("t", size=300)
    sim.world.run(5000)
    (sent,) = sends(sim)
    uncompressed = sent.get("uncompressed", sent["bytes"])
    assert stored(sim) == [batch_size(uncompressed, stored_codec, 0.8)]


def test_max_request_size_counts_the_record_uncompressed() -> None:
    """A 1.5 MB record that zstd would squeeze to ~0.37 MB still fails RecordTooLarge: the
    producer checks the serialized size before any compression."""
    sim = cluster()
    p = start(sim, **{"compression.type": "zstd"})
    errors = []
    p.produce("t", size=1_500_000, on_delivery=lambda err, msg: errors.append(err))
    sim.world.run(5000)
    assert errors == [E.RECORD_TOO_LARGE] and sends(sim) == []


def test_max_message_bytes_counts_the_batch_compressed() -> None:
    sim = cluster()
    p = start(sim, **{"compression.type": "zstd", "max.request.size": 2_097_152})
    errors = []
    p.produce("t", size=1_500_000, on_delivery=lambda err, msg: errors.append(err))
    sim.world.run(5000)
    assert errors == [None]
    (size,) = stored(sim)
    assert size == batch_size(61 + 8 + 1_500_000, "zstd", 0.8) < 1_048_588


def test_max_message_bytes_is_checked_again_after_the_broker_decompresses() -> None:
    """The batch as sent (~0.37 MB) passes; the topic stores uncompressed, 1.5 MB: MESSAGE_TOO_LARGE."""
    sim = cluster("{compression.type: uncompressed}")
    p = start(sim, **{"compression.type": "zstd", "max.request.size": 2_097_152})
    errors = []
    p.produce("t", size=1_500_000, on_delivery=lambda err, msg: errors.append(err))
    sim.world.run(5000)
    assert errors == [E.MESSAGE_TOO_LARGE] and stored(sim) == []
    assert sends(sim)[0]["bytes"] < 1_048_588


def test_an_incompressible_big_record_is_too_large_for_the_topic() -> None:
    sim = cluster()
    p = start(sim, **{"compression.type": "zstd", "max.request.size": 2_097_152})
    p.value_compressibility = 0.0
    errors = []
    p.produce("t", size=1_500_000, on_delivery=lambda err, msg: errors.append(err))
    sim.world.run(5000)
    assert errors == [E.MESSAGE_TOO_LARGE]


def test_a_compressed_batch_rejected_as_too_large_is_split_rebuilt_and_the_estimate_reset() -> None:
    """Six 1000-byte records of barely compressible data (0.1): the batch (~5.7 KB compressed)
    is over max.message.bytes 4000; each half (~2.9 KB) fits."""
    sim = cluster("{max.message.bytes: 4000}")
    p = start(sim, **{"linger.ms": 50, "compression.type": "zstd"})
    p.value_compressibility = 0.1
    p._ratios._ratios["t"] = 0.5
    errors = []
    for _ in range(6):
        p.produce("t", size=1000, on_delivery=lambda err, msg: errors.append(err))
    sim.world.run(10_000)
    assert errors == [None] * 6
    first, *parts = sends(sim)
    assert first["count"] == 6 and [d["count"] for d in parts] == [3, 3]
    assert all(d["uncompressed"] == 61 + 3 * 1008 for d in parts)
    assert stored(sim) == [batch_size(61 + 3 * 1008, "zstd", 0.1)] * 2
    assert p._ratios.estimate("t") >= 1.0 - 2 * 0.005, "reset to 1.0 before the parts were built"


def test_uncompressed_workload_fast_path_sends_what_it_did() -> None:
    """compression.type=none keeps the fast path: one batch of 20, its bytes uncompressed."""
    sim = cluster()
    p = start(sim, **{"linger.ms": 100})
    p.produce_many("t", None, 20, 300)
    sim.world.run(5000)
    (sent,) = sends(sim)
    assert sent == {**sent, "count": 20, "bytes": 61 + 20 * 308} and "uncompressed" not in sent
    assert stored(sim) == [61 + 20 * 308]


# -- the scenario knob --------------------------------------------------------------------------------
SCENARIO = """\
name: knob
duration_ms: 10000
cluster: {brokers: 1}
topics: [{name: t, partitions: 1, replication_factor: 1}]
producers:
  - name: p
    config: {compression.type: zstd}
    workload: {topic: t, count: 10, value_compressibility: VALUE}
"""


@pytest.mark.parametrize(("value", "problem"), [
    ("1.5", "must be <= 1"), ("-0.1", "must be >= 0"), ("high", "expected a number"),
])
def test_value_compressibility_is_validated_with_a_location(value: str, problem: str) -> None:
    with pytest.raises(ScenarioError) as e:
        loads(SCENARIO.replace("VALUE", value), "knob.yaml")
    assert e.value.line == 8 and "value_compressibility" in e.value.path and problem in e.value.problem


def test_value_compressibility_reaches_the_producer() -> None:
    sc = loads(SCENARIO.replace("VALUE", "0.25"))
    assert sc.producers[0].workload.value_compressibility == 0.25
    assert loads(SCENARIO.replace(", value_compressibility: VALUE", "")).producers[0].workload \
        .value_compressibility == cz.DEFAULT_COMPRESSIBILITY
