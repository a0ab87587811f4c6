"""Throughput benchmark: the standard scenario against a bare-simpy baseline, in one run.

Standard scenario (issue #2): 3 brokers; one topic of 12 partitions, replication factor 3,
min.insync.replicas=2; an idempotent acks=all producer sending 1,000,000 keyed records of
1 KiB (sizes modelled, payloads not allocated); one consumer reading every partition to the
end. Baseline, measured in the same run: bare simpy appending the same number of batches to
lists with one timeout per batch. Each repeat runs in a fresh subprocess so that peak RSS is
its own. Prints medians; ``--json`` prints one JSON object.

    python bench/throughput.py [--records N] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

PARTITIONS = 12
VALUE_SIZE = 1024
KEYS = 10_000

SCENARIO = """
name: throughput
seed: 1
duration_ms: 3600000
cluster: {{brokers: 3, config: {{min.insync.replicas: 2}}}}
topics: [{{name: bench, partitions: {partitions}, replication_factor: 3}}]
producers:
  - name: loader
    config: {{acks: all, enable.idempotence: true}}
    workload: {{topic: bench, count: {records}, rate_per_s: 500000, value_size: {value_size},
               key: {{pattern: "key-{{n}}", cardinality: {keys}}}}}
consumers:
  - name: reader
    topics: [bench]
    config: {{auto.offset.reset: earliest}}
"""


def peak_rss() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child_kafkasim(records: int) -> dict:
    from kafkasim.scenario.load import loads
    from kafkasim.scenario.run import build

    sc = loads(SCENARIO.format(records=records, partitions=PARTITIONS, value_size=VALUE_SIZE, keys=KEYS))
    t0 = time.perf_counter()
    sim = build(sc)
    world = sim.world
    consumed = 0
    while True:  # run in 1 s slices of simulated time until the consumer has read everything
        world.run(world.now + 1000)
        reader = sim.consumers.get("reader")
        if reader is not None:
            consumed = sum(st.position or 0 for st in reader.state.values())
        if consumed >= records or world.now > 3_000_000:
            break
    seconds = time.perf_counter() - t0
    d = {"kafkasim": True, "records": records, "consumed": consumed, "seconds": seconds,
         "simulated_ms": world.now, "trace_events": len(world.trace),
         "batches": sum(1 for e in world.trace.events if e.kind == "log.append"), "peak_rss_bytes": peak_rss()}
    return d


def child_baseline(records: int, batches: int) -> dict:
    """Bare simpy: the same batches appended to per-partition lists, one timeout per batch."""
    import simpy

    env = simpy.Environment()
    logs: list[list[tuple[int, int]]] = [[] for _ in range(PARTITIONS)]
    per_partition = [batches // PARTITIONS + (1 if p < batches % PARTITIONS else 0) for p in range(PARTITIONS)]
    per_batch = max(1, records // max(batches, 1))

    def writer(p: int):
        log = logs[p]
        offset = 0
        for _ in range(per_partition[p]):
            yield env.timeout(1)
            log.append((offset, per_batch))
            offset += per_batch

    t0 = time.perf_counter()
    for p in range(PARTITIONS):
        env.process(writer(p))
    env.run()
    return {"seconds": time.perf_counter() - t0, "batches": sum(len(x) for x in logs), "peak_rss_bytes": peak_rss()}


def run_child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", choices=["kafkasim", "baseline"], help=argparse.SUPPRESS)
    ap.add_argument("--batches", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child == "kafkasim":
        print(json.dumps(child_kafkasim(a.records)))
        return 0
    if a.child == "baseline":
        print(json.dumps(child_baseline(a.records, a.batches)))
        return 0
    runs, bases = [], []
    for i in range(a.repeat):
        print(f"[{i + 1}/{a.repeat}] kafkasim, {a.records:,} records ...", file=sys.stderr, flush=True)
        r = run_child(["--child", "kafkasim", "--records", str(a.records)])
        if r["consumed"] < a.records:
            print(f"error: the consumer read {r['consumed']} of {a.records} records", file=sys.stderr)
            return 1
        runs.append(r)
        print(f"[{i + 1}/{a.repeat}] baseline ...", file=sys.stderr, flush=True)
        bases.append(run_child(["--child", "baseline", "--records", str(a.records), "--batches", str(r["batches"])]))
    sec = statistics.median(r["seconds"] for r in runs)
    base = statistics.median(b["seconds"] for b in bases)
    result = {
        "records": a.records,
        "repeat": a.repeat,
        "seconds_median": round(sec, 3),
        "records_per_s": round(a.records / sec),
        "baseline_seconds_median": round(base, 3),
        "baseline_records_per_s": round(a.records / base),
        "ratio_to_baseline": round(base / sec, 3),
        "peak_rss_bytes": max(r["peak_rss_bytes"] for r in runs),
        "baseline_peak_rss_bytes": max(b["peak_rss_bytes"] for b in bases),
        "batches": runs[0]["batches"],
        "trace_events": runs[0]["trace_events"],
        "simulated_ms": runs[0]["simulated_ms"],
        "targets": {"records_per_s": 250_000, "peak_rss_bytes": 1 << 30},
    }
    if a.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(f"kafkasim throughput, {a.records:,} records of {VALUE_SIZE} B, {PARTITIONS} partitions, RF 3, "
              f"acks=all, idempotent (median of {a.repeat})")
        print(f"  kafkasim   {result['records_per_s']:>10,} records/s  ({sec:.2f} s, {result['batches']:,} batches, "
              f"{result['trace_events']:,} trace events, peak RSS {result['peak_rss_bytes'] / 2**20:.0f} MiB)")
        print(f"  baseline   {result['baseline_records_per_s']:>10,} records/s  ({base:.2f} s: bare simpy, "
              "one timeout per batch)")
        print(f"  kafkasim takes {sec / base:.1f}x the baseline's time; targets: >= 250,000 records/s, <= 1 GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
