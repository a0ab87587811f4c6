"""Run-shape benchmark (issue #11, "make a run cost what happens in it").

One row per run shape; each measurement runs in a fresh subprocess (so peak RSS is its own),
kafkasim and its baseline alternate, and every figure is the median of ``--repeat`` runs:

* ``idle``: 3 brokers, 3 partitions RF 3, a group of 3, nothing produced, 1 simulated hour.
  Baseline: bare simpy, 1,000,000 ``env.timeout(1)``. Target: kafkasim <= baseline.
* ``lesson-10min``: 100 records/s for 600 s, 3 partitions, a group of 3. Target <= 3 s.
* ``partitions-N`` (12, 120, 1200; ``--skip-1200`` drops the slowest): 1000 records/s for 60 s, N
  partitions RF 3, a group of 3. Targets: 120 <= 1.3x 12, 1200 <= 2x 12.
  Rows 1-3 time ``kafkasim.scenario.run.run`` (model + ``finish`` + ``build_result``; model
  alone in the notes); except ``idle``, the baseline is bare simpy processing as many
  timeouts as the run took simpy event ids (see :func:`simpy_events`).
* ``standard-1M``: bench/throughput.py's scenario and baseline. Targets >= 1M records/s, <= 1 GiB.
* ``bundled-cli``: ``kafkasim.cli.main(["run", FILE])`` for each scenarios/*.yaml, one
  subprocess per file (timed in-process, after ``import kafkasim.cli``). Targets: total
  <= 15 s, none over 1 s. Baseline: bare simpy, the files' event ids summed.
* ``plot-K``: ``kafkasim.cli.main(["plot", TRACE, "--kind", K, ...])`` on a saved trace of
  02-keyed-ordering-broker-crash (matplotlib import included). Target <= 1 s each.
  Baseline: bare matplotlib (import, one line plot, savefig through Agg).

    python bench/shapes.py [--repeat 3] [--only ROW[,ROW]] [--skip-1200] [--json] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import throughput  # bench/throughput.py: the standard scenario and its baseline

IDLE = """
name: idle
seed: 1
duration_ms: {duration}
cluster: {{brokers: 3}}
topics: [{{name: t, partitions: 3, replication_factor: 3}}]
consumers:
  - name: g
    members: 3
    topics: [t]
    config: {{group.id: g}}
"""

LOADED = """
name: {name}
seed: 1
duration_ms: {duration}
cluster: {{brokers: 3}}
topics: [{{name: t, partitions: {partitions}, replication_factor: 3}}]
producers:
  - name: load
    workload: {{topic: t, duration_ms: {duration}, rate_per_s: {rate}, key: {{pattern: "k-{{n}}", cardinality: 100}}}}
consumers:
  - name: g
    members: 3
    topics: [t]
    config: {{group.id: g}}
"""

IDLE_BASELINE_TIMEOUTS = 1_000_000  # per simulated hour
PLOT_SCENARIO = "02-keyed-ordering-broker-crash.yaml"  # a broker crash, a group joining
PLOT_KINDS = ("replication", "delivery", "timeline", "lag")
PARTITION_COUNTS = (12, 120, 1200)
ROWS = ("idle", "lesson-10min", *(f"partitions-{n}" for n in PARTITION_COUNTS), "standard-1M", "bundled-cli",
        *(f"plot-{k}" for k in PLOT_KINDS))


@dataclass(frozen=True)
class Sizes:
    """How big each shape is: the issue's sizes, or ``--quick`` ones for a smoke test."""

    idle_ms: int = 3_600_000
    lesson_ms: int = 600_000
    partitions_ms: int = 60_000
    standard_records: int = 1_000_000
    bundled_files: int | None = None  # None: every file
    quick: bool = False


QUICK = Sizes(idle_ms=60_000, lesson_ms=30_000, partitions_ms=2_000, standard_records=100_000, bundled_files=3,
              quick=True)


@dataclass
class Row:
    """One line of the table (and one object of the JSON document)."""

    shape: str
    seconds: float | None
    baseline_seconds: float | None
    baseline: str
    target: str
    met: bool | None
    notes: str = ""
    reduced: bool = False  # --quick changed this shape's size: the target is not judged
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """kafkasim's time over the baseline's."""
        if self.seconds is None or not self.baseline_seconds:
            return None
        return self.seconds / self.baseline_seconds


# -- children: each runs in its own subprocess and prints one JSON line -------------------------------
@contextlib.contextmanager
def probe() -> Iterator[dict[str, Any]]:
    """Count the simpy events of every simulation built, and time ``build_result`` (the checkers),
    by wrapping ``kafkasim.scenario.run.build`` and ``kafkasim.check.report.build_result`` (looked
    up at call time by ``run`` and the CLI)."""
    import kafkasim.check.report as report
    import kafkasim.scenario.run as runmod

    info: dict[str, Any] = {"sims": [], "check_seconds": 0.0}
    build, build_result = runmod.build, report.build_result

    def counting_build(*args: Any, **kwargs: Any) -> Any:
        sim = build(*args, **kwargs)
        info["sims"].append(sim)
        return sim

    def timed_build_result(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return build_result(*args, **kwargs)
        finally:
            info["check_seconds"] += time.perf_counter() - t0

    runmod.build, report.build_result = counting_build, timed_build_result
    try:
        yield info
    finally:
        runmod.build, report.build_result = build, build_result


def simpy_events(info: dict[str, Any]) -> tuple[int | None, int | None]:
    """(event ids taken, events still queued at the end) of the probed simulations.

    The ids (simpy's ``env._eid`` counter) count every event scheduled, and every timer set
    through ``World.timers()`` (which takes the id its Timeout would have had), so they are
    the same for a scenario whatever the model skips: the baseline's event count. Events
    processed are at most ids less those still queued.
    """
    ids = queued = 0
    for sim in info["sims"]:
        env = sim.world.env
        eid = getattr(env, "_eid", None)
        if eid is None:
            return None, None
        ids += next(eid)
        queued += len(env._queue)
    return ids, queued


def child_run(text: str) -> dict[str, Any]:
    """Rows 1-3: ``kafkasim.scenario.run.run`` on a scenario text (model, finish, checkers)."""
    from kafkasim.scenario.load import loads
    from kafkasim.scenario.run import run

    scenario = loads(text)
    with probe() as info:
        t0 = time.perf_counter()
        res = run(scenario)
        seconds = time.perf_counter() - t0
    delivery = res.result.get("stats", {}).get("delivery", {})
    events, queued = simpy_events(info)
    return {"seconds": seconds, "model_seconds": seconds - info["check_seconds"], "events": events,
            "queued_at_end": queued, "trace_events": len(res.trace), "sent": delivery.get("sent"), "peak_rss_bytes": throughput.peak_rss()}


def child_timeouts(n: int) -> dict[str, Any]:
    """Bare simpy: one process yielding ``env.timeout(1)`` n times."""
    import simpy

    env = simpy.Environment()

    def loop() -> Iterator[Any]:
        for _ in range(n):
            yield env.timeout(1)

    t0 = time.perf_counter()
    env.process(loop())
    env.run()
    return {"seconds": time.perf_counter() - t0, "timeouts": n, "peak_rss_bytes": throughput.peak_rss()}


def child_cli(argv: list[str]) -> dict[str, Any]:
    """``kafkasim.cli.main(argv)`` in-process, output captured: seconds, exit code, simpy events."""
    from kafkasim.cli import main

    out, err = io.StringIO(), io.StringIO()
    with probe() as info:
        t0 = time.perf_counter()
        code = main(argv, out, err)
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "exit": code, "events": simpy_events(info)[0], "stderr": err.getvalue()[-500:],
            "peak_rss_bytes": throughput.peak_rss()}


def child_matplotlib(path: str) -> dict[str, Any]:
    """Bare matplotlib: import, one 1000-point line plot, saved as PNG through Agg."""
    t0 = time.perf_counter()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 6))
    FigureCanvasAgg(fig)
    fig.add_subplot().plot(range(1000), [i * i for i in range(1000)])
    fig.savefig(path)
    return {"seconds": time.perf_counter() - t0, "peak_rss_bytes": throughput.peak_rss()}


CHILDREN: dict[str, Callable[..., dict[str, Any]]] = {
    "run": child_run, "timeouts": child_timeouts, "cli": child_cli, "matplotlib": child_matplotlib,
    "standard": throughput.child_kafkasim, "standard-baseline": throughput.child_baseline,
}


def run_child(name: str, *args: Any) -> dict[str, Any]:
    """Run ``CHILDREN[name](*args)`` in a fresh interpreter (same cwd and environment)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", name, json.dumps(list(args))],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"child {name} {args!r} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    d = json.loads(proc.stdout.strip().splitlines()[-1])
    d["process_seconds"] = time.perf_counter() - t0  # interpreter start and imports included
    return d


# -- the shapes ------------------------------------------------------------------------------------------
def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def med(runs: list[dict[str, Any]], key: str = "seconds") -> float:
    return statistics.median(r[key] for r in runs)


def mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def measure_run(shape: str, text: str, repeat: int, fixed_timeouts: int | None = None) -> Row:
    """kafkasim ``run`` on ``text`` against bare simpy (as many timeouts as its events, or fixed)."""
    runs, bases = [], []
    for i in range(repeat):
        log(f"[{shape} {i + 1}/{repeat}] kafkasim ...")
        runs.append(run_child("run", text))
        n = fixed_timeouts or runs[-1]["events"] or IDLE_BASELINE_TIMEOUTS
        log(f"[{shape} {i + 1}/{repeat}] baseline, {n:,} timeouts ...")
        bases.append(run_child("timeouts", n))
    r = runs[0]
    n = bases[0]["timeouts"]
    source = ("the issue's fixed baseline" if fixed_timeouts else "= kafkasim's simpy event ids" if r["events"]
              else "kafkasim's event count unknown")
    notes = (f"model {med(runs, 'model_seconds'):.2f} s + checkers {med(runs) - med(runs, 'model_seconds'):.2f} s; "
             f"{r['events']:,} event ids ({r['queued_at_end']:,} queued at end), {r['trace_events']:,} trace events, {r['sent'] or 0:,} records; "
             f"peak RSS {mib(max(x['peak_rss_bytes'] for x in runs))}")
    return Row(shape, med(runs), med(bases), f"simpy: {n:,} timeouts ({source})", "", None, notes,
               detail={"runs": runs, "baseline_runs": bases})


def shape_idle(sizes: Sizes, repeat: int) -> Row:
    timeouts = IDLE_BASELINE_TIMEOUTS * sizes.idle_ms // 3_600_000
    row = measure_run("idle", IDLE.format(duration=sizes.idle_ms), repeat, fixed_timeouts=timeouts)
    row.target, row.met = "<= baseline", row.seconds <= row.baseline_seconds
    return row


def shape_lesson(sizes: Sizes, repeat: int) -> Row:
    text = LOADED.format(name="lesson", duration=sizes.lesson_ms, partitions=3, rate=100)
    row = measure_run("lesson-10min", text, repeat)
    row.target, row.met = "<= 3 s", row.seconds <= 3.0
    return row


def shape_partitions(n: int, sizes: Sizes, repeat: int) -> Row:
    text = LOADED.format(name=f"partitions-{n}", duration=sizes.partitions_ms, partitions=n, rate=1000)
    return measure_run(f"partitions-{n}", text, repeat)


def judge_partitions(rows: dict[str, Row]) -> None:
    """The scaling targets: partitions-120 and -1200 against partitions-12."""
    ref = rows.get("partitions-12")
    if ref is not None:
        ref.target = "reference"
    for n, limit in ((120, 1.3), (1200, 2.0)):
        row = rows.get(f"partitions-{n}")
        if row is None:
            continue
        row.target = f"<= {limit}x partitions-12"
        if ref is not None and ref.seconds:
            scale = row.seconds / ref.seconds
            row.met = scale <= limit
            row.detail["vs_partitions_12"] = scale
            row.notes = f"{scale:.2f}x partitions-12; {row.notes}"


def shape_standard(sizes: Sizes, repeat: int) -> Row:
    runs, bases = [], []
    records = sizes.standard_records
    for i in range(repeat):
        log(f"[standard-1M {i + 1}/{repeat}] kafkasim, {records:,} records ...")
        runs.append(run_child("standard", records))
        if runs[-1]["consumed"] < records:
            raise RuntimeError(f"standard: the consumer read {runs[-1]['consumed']} of {records} records")
        log(f"[standard-1M {i + 1}/{repeat}] baseline ...")
        bases.append(run_child("standard-baseline", records, runs[-1]["batches"]))
    sec = med(runs)
    rate, rss = records / sec, max(r["peak_rss_bytes"] for r in runs)
    notes = (f"{rate:,.0f} records/s, peak RSS {mib(rss)}; {runs[0]['batches']:,} batches, "
             f"{runs[0]['trace_events']:,} trace events (model only, no checkers)")
    return Row("standard-1M", sec, med(bases), f"simpy: {runs[0]['batches']:,} batch appends (throughput.py)",
               ">= 1M rec/s, <= 1 GiB", rate >= 1_000_000 and rss <= 1 << 30, notes,
               detail={"records": records, "records_per_s": rate, "peak_rss_bytes": rss, "runs": runs,
                       "baseline_runs": bases})


def scenario_files(sizes: Sizes) -> list[Path]:
    from kafkasim.scenario.bundled import bundled_dir

    files = sorted(bundled_dir().glob("*.yaml"))
    return files[: sizes.bundled_files] if sizes.bundled_files else files


def shape_bundled(sizes: Sizes, repeat: int) -> Row:
    files = scenario_files(sizes)
    per_file: dict[str, list[dict[str, Any]]] = {f.name: [] for f in files}
    totals, bases = [], []
    for i in range(repeat):
        log(f"[bundled-cli {i + 1}/{repeat}] kafkasim run, {len(files)} files ...")
        for f in files:
            per_file[f.name].append(run_child("cli", ["run", str(f)]))
        totals.append({"seconds": sum(v[i]["seconds"] for v in per_file.values()),
                       "process_seconds": sum(v[i]["process_seconds"] for v in per_file.values())})
        events = sum(v[i]["events"] or 0 for v in per_file.values())
        log(f"[bundled-cli {i + 1}/{repeat}] baseline, {events:,} timeouts ...")
        bases.append(run_child("timeouts", events))
    medians = {name: med(v) for name, v in per_file.items()}
    worst = max(medians, key=medians.__getitem__)
    failed = {name: v[0]["exit"] for name, v in per_file.items() if any(x["exit"] != 0 for x in v)}
    total = med(totals)
    exits = "exit codes all 0" if not failed else "EXIT != 0: " + ", ".join(f"{k}={v}" for k, v in failed.items())
    notes = (f"worst {worst} {medians[worst]:.2f} s; {sum(m > 1.0 for m in medians.values())} over 1 s; "
             f"{len(files)} files; {exits}; {med(totals, 'process_seconds'):.1f} s with interpreter starts")
    return Row("bundled-cli", total, med(bases), f"simpy: {bases[0]['timeouts']:,} timeouts (= the files' simpy event ids)",
               "total <= 15 s, each <= 1 s", total <= 15.0 and medians[worst] <= 1.0 and not failed, notes,
               reduced=sizes.bundled_files is not None,
               detail={"per_file_seconds": medians, "exit_codes": {k: v[0]["exit"] for k, v in per_file.items()},
                       "worst": worst, "nonzero_exits": failed, "totals": totals, "baseline_runs": bases})


def shape_plots(kinds: list[str], repeat: int, tmp: Path) -> list[Row]:
    from kafkasim.scenario.bundled import bundled_dir

    trace = tmp / "trace.jsonl"
    log(f"[plot] kafkasim run {PLOT_SCENARIO} --trace ...")
    saved = run_child("cli", ["run", str(bundled_dir() / PLOT_SCENARIO), "--trace", str(trace)])
    if saved["exit"] != 0 or not trace.exists():
        raise RuntimeError(f"plot: saving the trace failed (exit {saved['exit']}): {saved['stderr']}")
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    bases = []
    for i in range(repeat):
        for k in kinds:
            log(f"[plot-{k} {i + 1}/{repeat}] kafkasim plot ...")
            runs[k].append(run_child("cli", ["plot", str(trace), "--kind", k, "-o", str(tmp / f"{k}.png")]))
        log(f"[plot {i + 1}/{repeat}] baseline ...")
        bases.append(run_child("matplotlib", str(tmp / "baseline.png")))
    size = trace.stat().st_size
    rows = []
    for k in kinds:
        sec = med(runs[k])
        failed = [x["exit"] for x in runs[k] if x["exit"] != 0]
        notes = f"trace of {PLOT_SCENARIO} ({size / 2**20:.1f} MiB)" + (f"; EXIT {failed[0]}" if failed else "")
        rows.append(Row(f"plot-{k}", sec, med(bases), "bare matplotlib: import + 1 line plot + savefig", "<= 1 s",
                        sec <= 1.0 and not failed, notes, detail={"runs": runs[k], "baseline_runs": bases}))
    return rows


def measure(selected: list[str], sizes: Sizes, repeat: int) -> list[Row]:
    """Every selected shape, in table order."""
    rows: dict[str, Row] = {}
    if "idle" in selected:
        rows["idle"] = shape_idle(sizes, repeat)
    if "lesson-10min" in selected:
        rows["lesson-10min"] = shape_lesson(sizes, repeat)
    for n in PARTITION_COUNTS:
        if f"partitions-{n}" in selected:
            rows[f"partitions-{n}"] = shape_partitions(n, sizes, repeat)
    judge_partitions(rows)
    if "standard-1M" in selected:
        rows["standard-1M"] = shape_standard(sizes, repeat)
    if "bundled-cli" in selected:
        rows["bundled-cli"] = shape_bundled(sizes, repeat)
    kinds = [k for k in PLOT_KINDS if f"plot-{k}" in selected]
    if kinds:
        with tempfile.TemporaryDirectory(prefix="kafkasim-bench-") as tmp:
            rows.update((r.shape, r) for r in shape_plots(kinds, repeat, Path(tmp)))
    for name in ("idle", "lesson-10min", *(f"partitions-{n}" for n in PARTITION_COUNTS), "standard-1M"):
        if name in rows and sizes.quick:
            rows[name].reduced = True
    return [rows[name] for name in ROWS if name in rows]


# -- output ----------------------------------------------------------------------------------------------
def met_text(row: Row) -> str:
    if row.reduced:
        return "n/a (quick)"
    return "-" if row.met is None else "yes" if row.met else "NO"


def table(rows: list[Row], header: str) -> str:
    """The aligned human table, then each row's baseline and notes."""
    cols = ("shape", "kafkasim median s", "baseline median s", "ratio", "target", "met?")
    cells = [cols] + [(r.shape, f"{r.seconds:.3f}", f"{r.baseline_seconds:.3f}",
                       f"{r.ratio:.2f}x" if r.ratio is not None else "-", r.target or "-", met_text(r))
                      for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    lines = [header, ""]
    for n, c in enumerate(cells):
        lines.append("  ".join(x.rjust(w) if 0 < i < 4 else x.ljust(w) for i, (x, w) in enumerate(zip(c, widths, strict=True)))
                     .rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += ["", "ratio = kafkasim median / baseline median. Baselines and notes:"]
    width = max(len(r.shape) for r in rows)
    for r in rows:
        lines.append(f"  {r.shape.ljust(width)}  baseline {r.baseline}")
        lines.append(f"  {' ' * width}  {r.notes}")
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    import simpy

    import kafkasim

    return {"kafkasim_file": kafkasim.__file__, "kafkasim_version": getattr(kafkasim, "__version__", None),
            "simpy": simpy.__version__, "python": sys.version.split()[0], "cwd": os.getcwd(),
            "cpus": os.cpu_count(), "load_avg": os.getloadavg()}


def select(only: str | None, skip_1200: bool) -> list[str]:
    """Row names from ``--only`` (``plot`` and ``partitions`` name their groups)."""
    if only is None:
        return [r for r in ROWS if not (skip_1200 and r == "partitions-1200")]
    wanted = set()
    for name in (x.strip() for x in only.split(",") if x.strip()):
        group = [r for r in ROWS if r == name or r.startswith(f"{name}-")]
        if not group:
            raise SystemExit(f"unknown row {name!r}; rows: {', '.join(ROWS)}")
        wanted.update(r for r in group if not (skip_1200 and r == "partitions-1200"))
    return [r for r in ROWS if r in wanted]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per shape, medians quoted (default 3)")
    ap.add_argument("--only", metavar="ROW[,ROW]", help=f"rows to run: {', '.join(ROWS)}, or plot, partitions")
    ap.add_argument("--skip-1200", action="store_true",
                    help="leave out partitions-1200, the slowest row (about 1 min a run on 0cce436, "
                    "15 min on fc38ce0)")
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test (targets not judged)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("args", nargs="?", default="[]", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(CHILDREN[a.child](*json.loads(a.args))))
        return 0
    sizes = QUICK if a.quick else Sizes()
    selected = select(a.only, a.skip_1200)
    env = environment()
    log(f"kafkasim from {env['kafkasim_file']}")
    rows = measure(selected, sizes, a.repeat)
    if a.json:
        doc = {"repeat": a.repeat, "quick": sizes.quick, "sizes": asdict(sizes), "environment": env,
               "rows": [{**asdict(r), "ratio": r.ratio} for r in rows]}
        print(json.dumps(doc, sort_keys=True))
    else:
        print(table(rows, f"kafkasim run shapes (issue #11), median of {a.repeat}{', QUICK sizes' if a.quick else ''}"
                    f"; kafkasim {env['kafkasim_file']}, simpy {env['simpy']}, Python {env['python']}, "
                    f"{env['cpus']} CPUs, load {env['load_avg'][0]:.1f} at start"))
        if a.skip_1200:
            print("partitions-1200 not run (--skip-1200)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
