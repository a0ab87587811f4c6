"""Benchmark kafkasim's sticky assignors at Kafka's test sizes, and against kafka-python.

Cases (each run in a fresh subprocess; median seconds of ``--repeat`` runs, peak RSS = the
largest VmHWM of those children):

* ``sticky`` and ``cooperative-sticky`` on Kafka's ``testLargeAssignmentAndGroupWith
  UniformSubscription``: 500 topics x 2000 partitions (1,000,000), 2000 consumers all
  subscribed to everything; ``fresh``, then ``reassign`` (every consumer owns its previous
  assignment at generation 1, except consumer 0 which rejoins empty). Only the timed phase
  is measured; the reassign child computes the fresh assignment first (untimed).
* ``sticky`` at 1000 consumers x 100 topics x 100 partitions, kafkasim vs kafka-python's
  ``StickyPartitionAssignor`` (``pip install 'kafkasim[bench]'``), both phases.

Usage: ``python bench/assignors.py [--json] [--quick] [--repeat N]``. Targets: large cases
< 30 s and <= 2 GiB, kafkasim >= 20x faster than kafka-python.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import resource
import statistics
import subprocess
import sys
import time
from collections import namedtuple
from typing import Any

LARGE = {"topics": 500, "partitions_per_topic": 2000, "consumers": 2000}
COMPARE = {"topics": 100, "partitions_per_topic": 100, "consumers": 1000}
QUICK_LARGE = {"topics": 50, "partitions_per_topic": 200, "consumers": 200}
QUICK_COMPARE = {"topics": 30, "partitions_per_topic": 100, "consumers": 300}
TARGET_SECONDS, TARGET_RSS, TARGET_SPEEDUP = 30.0, 2 * 2**30, 20.0


def names(prefix: str, count: int) -> list[str]:
    """Kafka's test names: ``getTopicName`` / ``getConsumerName`` (zero-padded)."""
    width = len(str(count))
    return [f"{prefix}{i:0{width}d}" for i in range(count)]


def peak_rss_bytes() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# --- child side ----------------------------------------------------------------------------

def run_kafkasim(spec: dict[str, Any]) -> float:
    from kafkasim.group.assignors import Subscription, get_assignor

    topics = names("t", spec["topics"])
    ppt = {t: spec["partitions_per_topic"] for t in topics}
    ids = names("c", spec["consumers"])
    assignor = get_assignor(spec["strategy"])
    subs = [Subscription(c, tuple(topics)) for c in ids]
    if spec["phase"] == "reassign":
        fresh = assignor.assign(ppt, subs)
        subs = [Subscription(c, tuple(topics), tuple(fresh.assignment[c]) if i else (), 1)
                for i, c in enumerate(ids)]
        del fresh
    gc.collect()
    start = time.perf_counter()
    result = assignor.assign(ppt, subs)
    seconds = time.perf_counter() - start
    sizes = [len(v) for v in result.assignment.values()]
    assert sum(sizes) + len(result.transferring) == len(topics) * spec["partitions_per_topic"]
    assert max(sizes) - min(sizes) <= 1
    return seconds


def run_kafka_python(spec: dict[str, Any]) -> float:
    """Drive kafka-python 3.0.12's StickyPartitionAssignor the way its coordinator does:
    ``assign(cluster, members)`` with decoded ``ConsumerProtocolSubscription`` metadata whose
    user data carries the previous assignment and generation."""
    from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor

    class Cluster:
        def __init__(self, ppt: dict[str, int]) -> None:
            self.ppt = ppt

        def topics(self) -> set[str]:
            return set(self.ppt)

        def partitions_for_topic(self, topic: str) -> set[int] | None:
            n = self.ppt.get(topic)
            return None if n is None else set(range(n))

    member = namedtuple("member", "member_id group_instance_id metadata")
    topics = names("t", spec["topics"])
    cluster = Cluster({t: spec["partitions_per_topic"] for t in topics})
    ids = names("c", spec["consumers"])
    members = [member(c, None, StickyPartitionAssignor._metadata(topics, None)) for c in ids]
    if spec["phase"] == "reassign":
        fresh = StickyPartitionAssignor().assign(cluster, members)
        members = [member(c, None, StickyPartitionAssignor._metadata(
            topics, fresh[c].partitions() if i else None, 1)) for i, c in enumerate(ids)]
        del fresh
    gc.collect()
    start = time.perf_counter()
    result = StickyPartitionAssignor().assign(cluster, members)
    seconds = time.perf_counter() - start
    sizes = [len(a.partitions()) for a in result.values()]
    assert sum(sizes) == len(topics) * spec["partitions_per_topic"]
    return seconds


def child(spec: dict[str, Any]) -> None:
    run = run_kafka_python if spec.get("impl") == "kafka-python" else run_kafkasim
    seconds = run(spec)
    print(json.dumps({"seconds": seconds, "peak_rss_bytes": peak_rss_bytes()}))


# --- parent side ---------------------------------------------------------------------------

def measure(spec: dict[str, Any], repeat: int, label: str) -> tuple[float, int, list[float]]:
    runs, rss = [], 0
    for i in range(repeat):
        print(f"  {label}: run {i + 1}/{repeat} ...", end="", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(file=sys.stderr)
            raise SystemExit(f"benchmark child failed for {spec}:\n{proc.stderr}")
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        runs.append(out["seconds"])
        rss = max(rss, out["peak_rss_bytes"])
        print(f" {out['seconds']:.2f} s", file=sys.stderr, flush=True)
    return statistics.median(runs), rss, runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each")
    parser.add_argument("--repeat", type=int, default=None, help="runs per case (default 3)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    repeat = args.repeat or (1 if args.quick else 3)
    large, compare = (QUICK_LARGE, QUICK_COMPARE) if args.quick else (LARGE, COMPARE)
    have_kp = importlib.util.find_spec("kafka") is not None
    plan = [({"strategy": s, **large, "phase": p}, False)
            for s in ("sticky", "cooperative-sticky") for p in ("fresh", "reassign")]
    plan += [({"strategy": "sticky", **compare, "phase": p}, True) for p in ("fresh", "reassign")]
    cases = []
    for n, (spec, versus) in enumerate(plan, 1):
        label = (f"[{n}/{len(plan)}] {spec['strategy']} {spec['topics']} topics x "
                 f"{spec['partitions_per_topic']} partitions, {spec['consumers']} consumers, "
                 f"{spec['phase']}")
        print(label, file=sys.stderr, flush=True)
        median, rss, runs = measure({**spec, "impl": "kafkasim"}, repeat, "kafkasim")
        case: dict[str, Any] = {**spec, "seconds_median": round(median, 4),
                                "peak_rss_bytes": rss, "runs_seconds": [round(r, 4) for r in runs]}
        if versus and have_kp:
            kp, kp_rss, _ = measure({**spec, "impl": "kafka-python"}, repeat, "kafka-python")
            case["kafka_python_seconds_median"] = round(kp, 4)
            case["kafka_python_peak_rss_bytes"] = kp_rss
            case["speedup"] = round(kp / median, 1)
        elif versus:
            case["note"] = ("kafka-python not importable; install it with "
                            "pip install 'kafkasim[bench]' (kafka-python==3.0.12)")
        cases.append(case)
    if args.json:
        print(json.dumps({"cases": cases}))
    else:
        print(table(cases, args.quick))
    return 0


def table(cases: list[dict[str, Any]], quick: bool) -> str:
    head = (f"{'strategy':<19} {'topics x partitions':>20} {'consumers':>9} {'phase':<9} "
            f"{'median s':>9} {'peak RSS':>9} {'kafka-python s':>15} {'speedup':>8}")
    lines = [head, "-" * len(head)]
    for c in cases:
        kp = c.get("kafka_python_seconds_median")
        lines.append(
            f"{c['strategy']:<19} {c['topics']:>9} x {c['partitions_per_topic']:<8} "
            f"{c['consumers']:>9} {c['phase']:<9} {c['seconds_median']:>9.3f} "
            f"{c['peak_rss_bytes'] / 2**20:>5.0f} MiB {'' if kp is None else f'{kp:.2f}':>15} "
            f"{'' if kp is None else str(c['speedup']) + 'x':>8}")
        if "note" in c:
            lines.append(f"  note: {c['note']}")
    large = [c for c in cases if "kafka_python_seconds_median" not in c and "note" not in c]
    speedups = [c["speedup"] for c in cases if "speedup" in c]
    verdict = [
        f"large cases < {TARGET_SECONDS:.0f} s: "
        + ("yes" if all(c["seconds_median"] < TARGET_SECONDS for c in large) else "NO"),
        "peak RSS <= 2 GiB: " + ("yes" if all(c["peak_rss_bytes"] <= TARGET_RSS
                                             for c in cases) else "NO"),
    ]
    if speedups:
        verdict.append(f">= {TARGET_SPEEDUP:.0f}x faster than kafka-python: "
                       + ("yes" if min(speedups) >= TARGET_SPEEDUP else "NO"))
    lines.append("targets" + (" (quick sizes)" if quick else "") + ": " + "; ".join(verdict))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
