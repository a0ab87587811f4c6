"""Properties of consume-transform-produce pipelines under random crash schedules.

Rules (kafka-semantics §9, §10): an exactly-once stage (read_committed input, a transaction
around outputs and offsets, a transactional.id stable across restarts) never loses and never
duplicates an output as a read_committed reader sees it, however it crashes; an
at-least-once stage (produce and flush, then commit) never loses. Each example crashes the
stage 1–3 times at random times in [2 s, 20 s], each time at a random step of an iteration
(``CRASH_POINTS``), restarts it 1–5 s later, and runs long enough for the stage to catch up
(``unprocessed == 0`` is asserted, so the properties are not vacuous).

Each property has a fast variant and a ``slow`` sweep; examples are derandomized (the model
is deterministic too), so a failure reproduces.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkasim.scenario.load import loads
from kafkasim.scenario.model import CRASH_POINTS
from kafkasim.scenario.run import RunResult, run

FAST = settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

RECORDS, RATE = 440, 20  # the input keeps flowing until 22 s, past the last crash
DURATION_MS = 65_000
SAFETY_UNTIL_MS = 45_000

Crash = tuple[int, str, int]  # (at ms, point, restart delay ms)

crash_schedules = st.lists(
    st.tuples(st.integers(2_000, 20_000), st.sampled_from(CRASH_POINTS), st.integers(1_000, 5_000)),
    min_size=1, max_size=3,
).map(sorted)


def scenario_text(mode: str, seed: int, crashes: list[Crash], reader: bool) -> str:
    """A 2-partition stage ``in`` -> ``out``. ``session.timeout.ms`` 6 s and heartbeats every 1 s
    let a restarted stage rejoin quickly; ``max.poll.interval.ms`` 10 s bounds a join phase that
    waits for a dead member (see test_member_crashed_before_its_first_heartbeat_expires_by_session)."""
    faults = []
    last = 0
    for at, point, delay in crashes:
        faults.append(f"  - {{at_ms: {at}, action: crash, target: stage, point: {point}}}")
        faults.append(f"  - {{at_ms: {at + delay}, action: restart, target: stage}}")
        last = max(last, at + delay)
    # A crash is armed at a step and fires when an iteration reaches it: possibly after its
    # restart fault (a no-op while the stage still runs). Later restarts (no-ops while it runs)
    # make sure the stage is up at the end.
    for t in range(last + 2_000, SAFETY_UNTIL_MS + 1, 2_000):
        faults.append(f"  - {{at_ms: {t}, action: restart, target: stage}}")
    readers = textwrap.dedent("""\
        consumers:
          - name: reader
            topics: [out]
            config: {group.id: reader, isolation.level: read_committed, auto.offset.reset: earliest}
        """) if reader else ""
    return textwrap.dedent(f"""\
        name: pipeline-property-{mode}
        description: random crashes of a consume-transform-produce stage
        seed: {seed}
        duration_ms: {DURATION_MS}
        cluster:
          brokers: 3
          config: {{offsets.topic.num.partitions: 3, transaction.state.log.num.partitions: 3}}
        topics:
          - {{name: in, partitions: 2, replication_factor: 3}}
          - {{name: out, partitions: 2, replication_factor: 3}}
        producers:
          - name: src
            workload: {{topic: in, count: {RECORDS}, rate_per_s: {RATE}}}
        pipelines:
          - name: stage
            input: in
            output: out
            mode: {mode}
            processing_ms: 10
            config: {{session.timeout.ms: 6000, heartbeat.interval.ms: 1000, max.poll.records: 20,
                      max.poll.interval.ms: 10000}}
        """) + readers + "faults:\n" + "\n".join(faults) + "\n"


def play(mode: str, seed: int, crashes: list[Crash], reader: bool = False) -> RunResult:
    return run(loads(scenario_text(mode, seed, crashes, reader)))


def _caught_up(res: RunResult) -> dict[str, Any]:
    st_ = res.result["pipelines"]["stage"]
    assert st_["records_in"] == RECORDS, st_
    assert st_["unprocessed"] == 0, ("the stage did not catch up: the property would be vacuous", st_)
    return st_


def check_exactly_once(seed: int, crashes: list[Crash]) -> None:
    res = play("exactly-once", seed, crashes, reader=True)
    st_ = _caught_up(res)
    assert st_["lost"] == 0 and st_["duplicated"] == 0, (crashes, st_)
    assert st_["records_out"] == RECORDS
    assert res.result["groups"]["reader"]["processed_unique"] == RECORDS  # the read_committed reader
    assert res.result["anomalies"] == [], res.result["anomalies"]
    assert not res.trace.of("app.fatal")


def check_at_least_once(seed: int, crashes: list[Crash]) -> None:
    res = play("at-least-once", seed, crashes)
    st_ = _caught_up(res)
    assert st_["lost"] == 0, (crashes, st_)
    assert st_["records_out"] >= RECORDS
    assert not [a for a in res.result["anomalies"] if a["kind"] in ("lost-write", "aborted-read")]


seeds = st.integers(0, 2**31 - 1)


@FAST
@given(seed=seeds, crashes=crash_schedules)
def test_exactly_once_never_loses_or_duplicates(seed: int, crashes: list[Crash]) -> None:
    check_exactly_once(seed, crashes)


@pytest.mark.slow
@SLOW
@given(seed=seeds, crashes=crash_schedules)
def test_exactly_once_never_loses_or_duplicates_sweep(seed: int, crashes: list[Crash]) -> None:
    check_exactly_once(seed, crashes)


@FAST
@given(seed=seeds, crashes=crash_schedules)
def test_at_least_once_never_loses(seed: int, crashes: list[Crash]) -> None:
    check_at_least_once(seed, crashes)


@pytest.mark.slow
@SLOW
@given(seed=seeds, crashes=crash_schedules)
def test_at_least_once_never_loses_sweep(seed: int, crashes: list[Crash]) -> None:
    check_at_least_once(seed, crashes)


def test_the_crash_points_are_reached() -> None:
    """Not vacuous: a crash armed at each point fires there (the stage is busy at 8 s)."""
    for point in CRASH_POINTS:
        if point == "mid-processing":
            continue  # needs a poll of two chunks or more; reached after a restart's backlog
        res = play("exactly-once", 3, [(8_000, point, 2_000)])
        assert [e.data["point"] for e in res.trace.of("app.crash")] == [point]
        _caught_up(res)


def test_a_mid_processing_crash_is_reached_on_a_backlog() -> None:
    res = play("exactly-once", 3, [(6_000, "after-commit", 3_000), (7_000, "mid-processing", 3_000)])
    assert [e.data["point"] for e in res.trace.of("app.crash")] == ["after-commit", "mid-processing"]
    st_ = _caught_up(res)
    assert st_["lost"] == st_["duplicated"] == 0 and st_["duplicated_uncommitted"] > 0


# -- model bug found by the properties ------------------------------------------------------------------------
def _rejoin_text(crash_at: int) -> str:
    return textwrap.dedent(f"""\
        name: rejoin-after-crash
        description: a stage crashes, restarts 1 s later, and must rejoin its group
        seed: 1
        duration_ms: 20000
        cluster:
          brokers: 3
          config: {{offsets.topic.num.partitions: 3, transaction.state.log.num.partitions: 3}}
        topics:
          - {{name: in, partitions: 2, replication_factor: 3}}
          - {{name: out, partitions: 2, replication_factor: 3}}
        producers:
          - name: src
            workload: {{topic: in, count: 200, rate_per_s: 20}}
        pipelines:
          - name: stage
            input: in
            output: out
            mode: at-least-once
            config: {{session.timeout.ms: 6000, heartbeat.interval.ms: 1000}}
        faults:
          - {{at_ms: {crash_at}, action: crash, target: stage}}
          - {{at_ms: {crash_at + 1000}, action: restart, target: stage}}
        """)


def _second_generation_stable_at(crash_at: int) -> tuple[int, int | None]:
    res = run(loads(_rejoin_text(crash_at)))
    first = [e.t for e in res.trace.of("group.stable") if e.data["group"] == "stage" and e.data["generation"] == 1]
    second = [e.t for e in res.trace.of("group.stable") if e.data["group"] == "stage" and e.data["generation"] == 2]
    return first[0], (second[0] if second else None)


def test_a_crashed_member_expires_by_session_timeout() -> None:
    """§11: no heartbeat for session.timeout.ms -> the member is removed -> rebalance. The stage
    crashes 2 s after joining (it has heartbeated); its restart rejoins once the dead member expired."""
    stable1, stable2 = _second_generation_stable_at(5_000)
    assert stable1 < 4_000
    # removed session.timeout.ms after its last heartbeat (at most heartbeat.interval.ms before the crash)
    assert stable2 is not None and 5_000 - 1_000 + 6_000 <= stable2 <= 5_000 + 6_000 + 1_500


def test_member_crashed_before_its_first_heartbeat_expires_by_session() -> None:
    """§11, Kafka GroupCoordinator.propagateAssignment: the session timer is (re)armed when the
    assignment is sent. A member that dies 100 ms after SyncGroup is removed session.timeout.ms later."""
    stable1, stable2 = _second_generation_stable_at(3_100)
    assert stable1 < 3_100
    assert stable2 is not None and stable2 <= 3_100 + 6_000 + 1_500
