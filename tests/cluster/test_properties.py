"""Hypothesis properties of the cluster model over random fault schedules.

(a) §1 invariants at random sample times: ``log_start <= HW <= LEO`` on every replica, and a
    leader's HW never decreases within one leader epoch, whatever the faults and switches.
(b) §2/§4/§8/§13 guarantee: acks=all, min.insync.replicas=2, RF 3, clean elections,
    idempotence on, and at most one broker down at a time: no acknowledged record is lost,
    none is written twice, and each partition holds the records in send order.
(c) Determinism: the same scenario and seed give a byte-identical trace.

Each property has a fast variant (20 examples) and a ``slow`` sweep (50); examples are
derandomized so a run is reproducible (the model is deterministic too).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkasim.check.delivery import analyse
from kafkasim.scenario.run import run

FAST = settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=50, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

BROKERS = ("broker-1", "broker-2", "broker-3")


# -- strategies ---------------------------------------------------------------------------------------
@st.composite
def any_faults(draw: st.DrawFn, duration: int, max_faults: int = 8) -> list[str]:
    """Any crashes, restarts, cuts and heals (one- or two-way, also to the controller and client)."""
    out = []
    for _ in range(draw(st.integers(0, max_faults))):
        t = draw(st.integers(0, duration - 1))
        action = draw(st.sampled_from(("crash", "restart", "cut", "heal")))
        node = draw(st.sampled_from(BROKERS))
        if action in ("crash", "restart"):
            out.append(f"{{at_ms: {t}, action: {action}, target: {node}}}")
        else:
            peer = draw(st.sampled_from([n for n in (*BROKERS, "controller", "app") if n != node]))
            both = draw(st.booleans())
            out.append(f"{{at_ms: {t}, action: {action}, from: {node}, to: {peer}, both: {str(both).lower()}}}")
    return out


@st.composite
def one_broker_down_at_a_time(draw: st.DrawFn, until: int) -> list[str]:
    """Crash a random broker at a random time, restart it after a random while, repeat."""
    steps = draw(st.lists(st.tuples(st.integers(0, 20_000), st.sampled_from(BROKERS), st.integers(1, 15_000)),
                          max_size=8))
    out = []
    t = 0
    for gap, broker, down in steps:
        t += gap
        if t >= until:
            break
        out.append(f"{{at_ms: {t}, action: crash, target: {broker}}}")
        out.append(f"{{at_ms: {t + down}, action: restart, target: {broker}}}")
        t += down
    return out


def faults_yaml(faults: list[str]) -> str:
    return ("faults:\n" + "".join(f"  - {f}\n" for f in faults)) if faults else ""


@st.composite
def invariant_scenarios(draw: st.DrawFn) -> tuple[str, list[int]]:
    duration = 30_000
    acks = draw(st.sampled_from(['"0"', '"1"', "all"]))
    text = f"""
        name: invariants
        duration_ms: {duration}
        cluster:
          brokers: 3
          config: {{min.insync.replicas: {draw(st.integers(1, 3))}}}
          switches:
            strict_min_isr: {str(draw(st.booleans())).lower()}
            truncation: {draw(st.sampled_from(["leader_epoch", "high_watermark"]))}
          network: {{latency_ms: {{min: 1, max: {draw(st.sampled_from([1, 5, 30]))}}}}}
        topics:
          - name: t
            partitions: 2
            replication_factor: 3
            config: {{unclean.leader.election.enable: {str(draw(st.booleans())).lower()}}}
        producers:
          - name: app
            config: {{acks: {acks}}}
            workload: {{topic: t, count: 2000, rate_per_s: 80}}
        """
    text = textwrap.dedent(text) + faults_yaml(draw(any_faults(duration)))
    samples = sorted(draw(st.lists(st.integers(1, duration), min_size=5, max_size=30, unique=True)))
    return text, samples


def durability_scenario(faults: list[str], seed: int) -> str:
    return textwrap.dedent(f"""
        name: durability
        seed: {seed}
        duration_ms: 75000
        cluster:
          brokers: 3
          config: {{min.insync.replicas: 2}}
        topics:
          - {{name: t, partitions: 2, replication_factor: 3}}
        producers:
          - name: app
            config: {{acks: all, enable.idempotence: true}}
            workload: {{topic: t, count: 1200, rate_per_s: 40}}
        """) + faults_yaml(faults)


# -- (a) invariants -----------------------------------------------------------------------------------
def check_invariants(kit, text: str, samples: list[int]) -> None:
    sim = kit.build(text)
    w = sim.world
    leader_hw: dict[tuple, int] = {}
    for t in samples:
        w.run(t)
        for bid, broker in sim.cluster.brokers.items():
            for tp, log in broker.logs.items():
                assert log.log_start <= log.hw <= log.leo, (t, bid, tp, log)
            for tp, part in broker.parts.items():
                if part.is_leader:
                    key = (bid, tp, part.leader_epoch)
                    assert part.log.hw >= leader_hw.get(key, 0), (t, key, leader_hw[key], part.log.hw)
                    leader_hw[key] = part.log.hw


@FAST
@given(case=invariant_scenarios())
def test_offsets_invariants_hold_under_random_faults(kit, case: tuple[str, list[int]]) -> None:
    check_invariants(kit, *case)


@pytest.mark.slow
@SLOW
@given(case=invariant_scenarios())
def test_offsets_invariants_hold_under_random_faults_sweep(kit, case: tuple[str, list[int]]) -> None:
    check_invariants(kit, *case)


# -- (b) acknowledged writes survive single-broker failures -------------------------------------------
def check_durability(kit, faults: list[str], seed: int) -> None:
    result = run(kit.scenario(durability_scenario(faults, seed)))
    stats = analyse(result.trace).stats
    assert stats["lost_acknowledged"] == 0, stats
    assert stats["duplicates"] == 0, stats
    for final in result.trace.of("log.final"):  # §13: idempotence keeps each partition in send order
        recs = [rec for _off, _n, producer, rec, *_ in final.data["batches"] if producer == "app"]
        assert recs == sorted(recs), (final.data["partition"], recs)


@FAST
@given(faults=one_broker_down_at_a_time(until=45_000), seed=st.integers(0, 2**16))
def test_acks_all_min_isr_2_loses_nothing_with_one_broker_down_at_a_time(kit, faults: list[str],
                                                                        seed: int) -> None:
    check_durability(kit, faults, seed)


@pytest.mark.slow
@SLOW
@given(faults=one_broker_down_at_a_time(until=50_000), seed=st.integers(0, 2**16))
def test_acks_all_min_isr_2_loses_nothing_with_one_broker_down_at_a_time_sweep(kit, faults: list[str],
                                                                              seed: int) -> None:
    check_durability(kit, faults, seed)


# -- (c) determinism ----------------------------------------------------------------------------------
def busy_scenario(faults: list[str]) -> str:
    return textwrap.dedent("""
        name: determinism
        duration_ms: 30000
        cluster:
          brokers: 3
          config: {min.insync.replicas: 2}
          network: {latency_ms: {min: 1, max: 25}}
        topics:
          - {name: t, partitions: 3, replication_factor: 3}
        producers:
          - name: app
            config: {acks: all}
            workload: {topic: t, count: 1000, rate_per_s: 50, key: {cardinality: 7, choice: random}}
        consumers:
          - name: reader
            topics: [t]
            config: {auto.offset.reset: earliest}
        """) + faults_yaml(faults)


@settings(max_examples=5, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(faults=any_faults(30_000, max_faults=6), seed=st.integers(0, 2**32 - 1))
def test_same_scenario_and_seed_give_an_identical_trace(kit, faults: list[str], seed: int) -> None:
    scenario = kit.scenario(busy_scenario(faults))
    first = run(scenario, seed=seed).trace.dumps()
    second = run(scenario, seed=seed).trace.dumps()
    assert first == second


def test_different_seeds_may_give_different_traces(kit) -> None:
    scenario = kit.scenario(busy_scenario(["{at_ms: 9000, action: crash, target: broker-1}"]))
    bodies = {"".join(run(scenario, seed=s).trace.dumps().splitlines(keepends=True)[1:]) for s in range(4)}
    assert len(bodies) > 1, "random latencies and keys should depend on the seed"


def test_trace_does_not_depend_on_pythonhashseed() -> None:
    """Every random stream is derived from the seed with sha256, never from hash(): fresh
    interpreters with different string-hash seeds write the same trace."""
    text = busy_scenario(["{at_ms: 9000, action: crash, target: broker-2}",
                          "{at_ms: 20000, action: restart, target: broker-2}"])
    code = textwrap.dedent("""
        import hashlib, sys
        from kafkasim.scenario.load import loads
        from kafkasim.scenario.run import run
        print(hashlib.sha256(run(loads(sys.stdin.read()), seed=5).trace.dumps().encode()).hexdigest())
        """)
    root = Path(__file__).resolve().parents[2]
    digests = set()
    for hashseed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        out = subprocess.run([sys.executable, "-c", code], input=text, capture_output=True, text=True,
                             env=env, cwd=root, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1
