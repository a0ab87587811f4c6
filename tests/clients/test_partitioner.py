"""Kafka's default partitioner: murmur2 vectors, key -> partition, and the KIP-794 sticky rule."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kafkasim.clients.partitioner import (
    DEFAULT_BATCH_SIZE,
    KeyPartitionCache,
    StickyPartitioner,
    murmur2,
    partition_for_key,
    serialize_key,
    to_positive,
)

# --------------------------------------------------------------------------------------------
# An independent reference: the textbook byte-at-a-time MurmurHash2, written with Java int
# semantics (signed 32-bit wrap-around, >>> as an unsigned shift) rather than the masked
# unsigned block arithmetic of the implementation under test.
# --------------------------------------------------------------------------------------------


def _i32(x: int) -> int:
    """Wrap to a signed 32-bit value, like Java int overflow."""
    return (x + 2**31) % 2**32 - 2**31


def _ushr(x: int, r: int) -> int:
    """Java's ``x >>> r`` on an int."""
    return (x % 2**32) >> r


def reference_murmur2(data: bytes) -> int:
    seed, m, r = _i32(0x9747B28C), 0x5BD1E995, 24
    length = len(data)
    h = _i32(seed ^ length)
    i = 0
    while length - i >= 4:
        k = data[i] + (data[i + 1] << 8) + (data[i + 2] << 16) + (data[i + 3] << 24)
        k = _i32(k)
        k = _i32(k * m)
        k ^= _ushr(k, r)
        k = _i32(k)
        k = _i32(k * m)
        h = _i32(h * m)
        h = _i32(h ^ k)
        i += 4
    remaining = length - i
    if remaining >= 3:
        h = _i32(h ^ (data[i + 2] << 16))
    if remaining >= 2:
        h = _i32(h ^ (data[i + 1] << 8))
    if remaining >= 1:
        h = _i32(h ^ data[i])
        h = _i32(h * m)
    h = _i32(h ^ _ushr(h, 13))
    h = _i32(h * m)
    h = _i32(h ^ _ushr(h, 15))
    return h


# Exactly the cases of Kafka's UtilsTest.testMurmur2 (clients/src/test/.../utils/UtilsTest.java).
KAFKA_UTILS_TEST_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    bytes([ord("a"), ord("b"), ord("c")]): 479470107,
}

# librdkafka's unittest_murmur2 "java_murmur2_results" (src/rdmurmur2.c), as signed ints:
# every tail length 0-3, aligned and unaligned, and the empty key.
LIBRDKAFKA_JAVA_VECTORS = {
    b"kafka": _i32(0xD067CF64),
    b"giberish123456789": _i32(0x8F552B0C),
    b"1234": _i32(0x9FC97B14),
    b"234": _i32(0xE7C009CA),
    b"34": _i32(0x873930DA),
    b"4": _i32(0x5A4B5CA1),
    b"PreAmbleWillBeRemoved,ThePrePartThatIs": _i32(0x78424F1C),
    b"reAmbleWillBeRemoved,ThePrePartThatIs": _i32(0x4A62B377),
    b"eAmbleWillBeRemoved,ThePrePartThatIs": _i32(0xE0E4E09E),
    b"AmbleWillBeRemoved,ThePrePartThatIs": _i32(0x62B8B43F),
    b"": _i32(0x106E08D9),
}


@pytest.mark.parametrize(("data", "expected"), sorted(KAFKA_UTILS_TEST_VECTORS.items()))
def test_murmur2_matches_kafka_utils_test(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected
    assert reference_murmur2(data) == expected


@pytest.mark.parametrize(("data", "expected"), sorted(LIBRDKAFKA_JAVA_VECTORS.items()))
def test_murmur2_matches_librdkafka_java_vectors(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected
    assert reference_murmur2(data) == expected


def test_murmur2_of_empty_key() -> None:
    # Not pinned by UtilsTest; 0x106e08d9 per librdkafka's Java-compatibility vectors.
    assert murmur2(b"") == 275646681
    assert partition_for_key("", 6) == 275646681 % 6
    assert partition_for_key(b"", 6) == partition_for_key("", 6)


def test_murmur2_returns_signed_java_ints() -> None:
    values = [murmur2(bytes([i])) for i in range(256)]
    assert all(-(2**31) <= v < 2**31 for v in values)
    assert any(v < 0 for v in values) and any(v > 0 for v in values)


def test_to_positive_clears_the_sign_bit_only() -> None:
    assert to_positive(-973932308) == -973932308 & 0x7FFFFFFF == 1173551340
    assert to_positive(479470107) == 479470107
    assert to_positive(-(2**31)) == 0  # not abs(): Math.abs(MIN_VALUE) would stay negative
    assert to_positive(-1) == 0x7FFFFFFF
    assert to_positive(0) == 0


# §13 of the kafka-semantics reference.
SIX = {"k0": 5, "k1": 5, "k2": 3, "k3": 4, "k4": 4, "k5": 0, "k6": 1, "k7": 4, "k8": 2, "k9": 2}
THREE = {"k0": 2, "k1": 2, "k2": 0, "k3": 1, "k4": 1, "k5": 0, "k6": 1, "k7": 1, "k8": 2, "k9": 2}


@pytest.mark.parametrize(("key", "expected"), sorted(SIX.items()))
def test_six_partitions(key: str, expected: int) -> None:
    assert partition_for_key(key, 6) == expected


@pytest.mark.parametrize(("key", "expected"), sorted(THREE.items()))
def test_three_partitions(key: str, expected: int) -> None:
    assert partition_for_key(key, 3) == expected


def test_growing_six_to_twelve_partitions_moves_only_k2_and_k9() -> None:
    twelve = {key: partition_for_key(key, 12) for key in SIX}
    moved = {key: p for key, p in twelve.items() if p != SIX[key]}
    assert moved == {"k2": 9, "k9": 8}


@pytest.mark.parametrize(
    ("key", "utf8"),
    [
        ("ключ", "ключ".encode()),
        ("🔑", b"\xf0\x9f\x94\x91"),
        ("Aêñüc", b"A\xc3\xaa\xc3\xb1\xc3\xbcc"),
        ("日本語のキー", "日本語のキー".encode()),
    ],
)
def test_non_ascii_keys_hash_their_utf8_bytes(key: str, utf8: bytes) -> None:
    assert serialize_key(key) == utf8
    assert murmur2(serialize_key(key)) == reference_murmur2(utf8)
    for n in (1, 3, 6, 12, 50):
        assert partition_for_key(key, n) == partition_for_key(utf8, n)
        assert partition_for_key(key, n) == (reference_murmur2(utf8) & 0x7FFFFFFF) % n


def test_non_ascii_pinned_values() -> None:
    # Pinned so an accidental change of encoding (e.g. UTF-16, or str hashing) is caught.
    assert murmur2("ключ".encode()) == 2122343024
    assert murmur2("🔑".encode()) == 2080712807


def test_strings_with_surrogates_encode_like_java() -> None:
    # Java's String.getBytes(UTF_8): a surrogate pair is one code point, a lone one becomes '?'.
    assert serialize_key("\ud83d\udd11") == "🔑".encode()
    assert serialize_key("a\ud800b") == b"a?b"


@pytest.mark.parametrize("bad", [None, 42, 4.2, bytearray(b"k"), ["k"], object()])
def test_serialize_key_rejects_other_types(bad: object) -> None:
    with pytest.raises(TypeError, match="key"):
        serialize_key(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="key"):
        partition_for_key(bad, 6)  # type: ignore[arg-type]


def test_none_key_error_points_to_the_sticky_partitioner() -> None:
    with pytest.raises(TypeError, match="StickyPartitioner"):
        serialize_key(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [0, -1, -6])
def test_partition_for_key_rejects_fewer_than_one_partition(n: int) -> None:
    with pytest.raises(ValueError, match="num_partitions"):
        partition_for_key("k", n)
    with pytest.raises(ValueError, match="num_partitions"):
        KeyPartitionCache(n)


def test_partition_for_key_rejects_non_int_partition_counts() -> None:
    with pytest.raises(TypeError, match="num_partitions"):
        partition_for_key("k", 6.0)  # type: ignore[arg-type]


def test_one_partition_is_always_zero() -> None:
    assert {partition_for_key(f"k{i}", 1) for i in range(100)} == {0}


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

keys = st.one_of(st.text(max_size=64), st.binary(max_size=64))
partition_counts = st.integers(min_value=1, max_value=2**31 - 1)


@given(data=st.binary(max_size=300))
def test_murmur2_equals_reference(data: bytes) -> None:
    assert murmur2(data) == reference_murmur2(data)


@given(key=keys, n=partition_counts)
def test_partition_in_range_and_stable(key: str | bytes, n: int) -> None:
    p = partition_for_key(key, n)
    assert 0 <= p < n
    assert partition_for_key(key, n) == p
    assert p == (reference_murmur2(serialize_key(key)) & 0x7FFFFFFF) % n


@given(key=st.text(max_size=64), n=st.integers(min_value=1, max_value=1000))
def test_str_key_and_its_utf8_bytes_agree(key: str, n: int) -> None:
    assert partition_for_key(key, n) == partition_for_key(key.encode("utf-8"), n)


@given(key_list=st.lists(keys, max_size=50), n=st.integers(min_value=1, max_value=64))
def test_key_partition_cache_matches_direct(key_list: list[str | bytes], n: int) -> None:
    cache = KeyPartitionCache(n, max_entries=8)
    for key in key_list + key_list:
        assert cache.get(key) == partition_for_key(key, n)
    assert len(cache) <= 8


def test_key_partition_cache_errors() -> None:
    cache = KeyPartitionCache(6)
    with pytest.raises(TypeError, match="key"):
        cache.get(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="key"):
        cache.get(["unhashable"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_entries"):
        KeyPartitionCache(6, max_entries=0)


def test_key_partition_cache_memoizes() -> None:
    cache = KeyPartitionCache(6)
    assert [cache.get(f"k{i}") for i in range(10)] == list(SIX.values())
    assert len(cache) == 10
    assert cache.get("k9") == 2
    assert len(cache) == 10


# --------------------------------------------------------------------------------------------
# Sticky partitioner (KIP-794 BuiltInPartitioner)
# --------------------------------------------------------------------------------------------


class ScriptedRng(random.Random):
    """A Random whose getrandbits(32) returns scripted values (to pin Kafka's index math)."""

    def __init__(self, values: list[int]) -> None:
        super().__init__(0)
        self._values = list(values)

    def getrandbits(self, k: int) -> int:
        assert k == 32
        return self._values.pop(0)


def runs(partitions: list[int]) -> list[tuple[int, int]]:
    """Run-length encode: [(partition, count), ...]."""
    out: list[tuple[int, int]] = []
    for p in partitions:
        if out and out[-1][0] == p:
            out[-1] = (p, out[-1][1] + 1)
        else:
            out.append((p, 1))
    return out


def test_default_batch_size_is_kafkas() -> None:
    assert DEFAULT_BATCH_SIZE == 16384
    assert StickyPartitioner(random.Random(0)).batch_size == 16384


def test_first_partition_chosen_lazily_then_sticks_until_batch_size() -> None:
    # r = toPositive(nextInt()) % n: 0x80000007 -> 7 -> 7 % 6 = 1; 0xFFFFFFFF -> 2**31-1 -> 1 % 6.
    rng = ScriptedRng([0x80000007, 0xFFFFFFFF, 3])
    sp = StickyPartitioner(rng, batch_size=100)
    assert sp.current_partition("t") is None
    got = [sp.partition("t", 6, 10) for _ in range(10)]
    # 10 records x 10 bytes reach batch.size on the 10th: it still goes to partition 1, then the
    # next partition is chosen right away (2**31-1 % 6 == 1): Kafka may re-pick the same one.
    assert got == [1] * 10
    assert sp.current_partition("t") == 1
    assert sp.produced_bytes("t") == 0
    got = [sp.partition("t", 6, 10) for _ in range(10)]
    assert got == [1] * 10
    assert sp.current_partition("t") == 3
    assert sp.partition("t", 6, 10) == 3


def test_switch_happens_when_produced_bytes_reach_batch_size() -> None:
    sp = StickyPartitioner(random.Random(7), batch_size=100)
    produced: list[int] = []
    for _ in range(4):
        sp.partition("t", 6, 30)
        produced.append(sp.produced_bytes("t"))
    # 30, 60, 90, then 120 >= 100: switched, counter starts again for the new partition.
    assert produced == [30, 60, 90, 0]


def test_choose_then_account_with_a_record_larger_than_batch_size() -> None:
    rng = ScriptedRng([2, 5])
    sp = StickyPartitioner(rng, batch_size=100)
    assert sp.partition("t", 6, 1000) == 2  # the big record still goes to the current partition
    assert sp.current_partition("t") == 5
    assert sp.partition("t", 6, 1) == 5


def test_sticky_runs_are_whole_batches_with_a_seeded_rng() -> None:
    sp = StickyPartitioner(random.Random(42), batch_size=1000)
    parts = [sp.partition("t", 6, 100) for _ in range(10_000)]
    # Every 10th record closes a sticky period; consecutive periods may land on the same
    # partition, so each run of equal partitions is a whole number of 10-record periods.
    assert all(count % 10 == 0 for _, count in runs(parts))
    for start in range(0, 10_000, 10):
        assert len(set(parts[start : start + 10])) == 1
    assert len(runs(parts)) > 100


def test_deterministic_for_a_given_seed() -> None:
    def trace(seed: int) -> list[int]:
        sp = StickyPartitioner(random.Random(seed), batch_size=500)
        return [sp.partition("t", 12, 37) for _ in range(5000)]

    assert trace(3) == trace(3)
    assert trace(3) != trace(4)


def test_switches_are_uniform_over_partitions() -> None:
    sp = StickyPartitioner(random.Random(2024), batch_size=10)
    n, switches = 6, 12_000
    periods = [sp.partition("t", n, 10) for _ in range(switches)]  # one record per period
    counts = Counter(periods)
    assert set(counts) == set(range(n))
    expected = switches / n
    chi2 = sum((counts[p] - expected) ** 2 / expected for p in range(n))
    assert chi2 < 20.5  # p ~ 0.001 for 5 degrees of freedom
    # Uniform choice includes the current partition: about 1/n of switches re-pick it.
    repeats = sum(1 for a, b in zip(periods, periods[1:], strict=False) if a == b)
    assert 0.12 < repeats / (switches - 1) < 0.22


def test_state_is_per_topic() -> None:
    sp = StickyPartitioner(random.Random(1), batch_size=100)
    sp.partition("a", 6, 90)
    sp.partition("b", 6, 10)
    assert sp.produced_bytes("a") == 90
    assert sp.produced_bytes("b") == 10
    before_b = sp.current_partition("b")
    sp.partition("a", 6, 10)  # switches "a" only
    assert sp.produced_bytes("a") == 0
    assert sp.current_partition("b") == before_b
    assert sp.produced_bytes("b") == 10


def test_disabled_switch_is_deferred_up_to_twice_batch_size() -> None:
    sp = StickyPartitioner(random.Random(5), batch_size=100)
    first = sp.partition("t", 6, 10, enable_switch=False)
    for _ in range(18):
        assert sp.partition("t", 6, 10, enable_switch=False) == first
    assert sp.produced_bytes("t") == 190
    assert sp.partition("t", 6, 10, enable_switch=False) == first  # 200 >= 2 x batch.size
    assert sp.produced_bytes("t") == 0


def test_deferred_switch_completes_on_next_enabled_append() -> None:
    rng = ScriptedRng([1, 4])
    sp = StickyPartitioner(rng, batch_size=100)
    for _ in range(12):
        assert sp.partition("t", 6, 10, enable_switch=False) == 1
    assert sp.partition("t", 6, 10, enable_switch=True) == 1
    assert sp.current_partition("t") == 4


def test_complete_deferred_switch() -> None:
    rng = ScriptedRng([1, 4])
    sp = StickyPartitioner(rng, batch_size=100)
    assert sp.complete_deferred_switch("t", 6) is False  # nothing chosen yet
    sp.partition("t", 6, 50, enable_switch=False)
    assert sp.complete_deferred_switch("t", 6) is False  # below batch.size: nothing deferred
    sp.partition("t", 6, 60, enable_switch=False)
    assert sp.current_partition("t") == 1
    assert sp.complete_deferred_switch("t", 6) is True
    assert sp.current_partition("t") == 4
    assert sp.produced_bytes("t") == 0


def test_next_partition_is_chosen_among_available_partitions() -> None:
    # Kafka: availablePartitions.get(random % availablePartitions.size()).
    rng = ScriptedRng([0, 1, 2, 3])
    sp = StickyPartitioner(rng, batch_size=10)
    got = [sp.partition("t", 6, 10, available=[2, 4]) for _ in range(3)]
    assert got == [2, 4, 2]
    assert sp.current_partition("t") == 4


def test_available_is_only_consulted_when_switching() -> None:
    sp = StickyPartitioner(ScriptedRng([0, 0]), batch_size=100)
    assert sp.partition("t", 6, 10, available=[3]) == 3
    # Partition 3 lost its leader: the sticky choice stands until the next switch, as in Kafka.
    assert sp.partition("t", 6, 90, available=[5]) == 3
    assert sp.current_partition("t") == 5


def test_no_available_partitions_falls_back_to_all() -> None:
    sp = StickyPartitioner(ScriptedRng([0x7FFFFFFF + 0x80000000]), batch_size=100)
    assert sp.partition("t", 6, 10, available=[]) == (2**31 - 1) % 6


def test_random_sticky_partitions_cover_available_only() -> None:
    sp = StickyPartitioner(random.Random(9), batch_size=1)
    seen = {sp.partition("t", 8, 1, available=[1, 3, 5]) for _ in range(300)}
    assert seen == {1, 3, 5}


def test_sticky_argument_validation() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        StickyPartitioner(random.Random(0), batch_size=0)
    sp = StickyPartitioner(random.Random(0))
    with pytest.raises(ValueError, match="num_partitions"):
        sp.partition("t", 0, 10)
    with pytest.raises(ValueError, match="record_size"):
        sp.partition("t", 6, -1)
    with pytest.raises(ValueError, match="out of range"):
        sp.partition("t", 6, 10, available=[6])


@given(
    seed=st.integers(min_value=0, max_value=2**32),
    n=st.integers(min_value=1, max_value=50),
    batch=st.integers(min_value=1, max_value=5000),
    sizes=st.lists(st.integers(min_value=0, max_value=3000), min_size=1, max_size=200),
)
def test_sticky_invariants(seed: int, n: int, batch: int, sizes: list[int]) -> None:
    sp = StickyPartitioner(random.Random(seed), batch_size=batch)
    produced = 0
    current = None
    for size in sizes:
        p = sp.partition("t", n, size)
        assert 0 <= p < n
        if current is not None:
            assert p == current  # the record goes where the previous call said it would
        produced += size
        if produced >= batch:
            produced = 0
        assert sp.produced_bytes("t") == produced
        current = sp.current_partition("t")
