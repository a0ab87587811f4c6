"""``kafkasim plot``: draw a figure from saved trace file(s), and ``write_all`` for ``run --out``.

Example::

    $ kafkasim run scenarios/07-acks-1-lost-on-failover.yaml --trace acks1.jsonl
    $ kafkasim plot acks1.jsonl --kind replication -o acks1.png
    wrote acks1.png

With several traces, one file per trace: ``-o out.png a.jsonl b.jsonl`` writes
``out-a.png`` and ``out-b.png``; except ``--kind timeline``, which draws them side by side on
one time axis in ``out.png`` (eager vs cooperative on the same seed). Exit codes: 0 written; 2 unreadable trace, bad output name,
or nothing to plot (e.g. no such partition).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from kafkasim.plot import KINDS, style
from kafkasim.sim.trace import Trace, TraceFormatError

if TYPE_CHECKING:  # matplotlib loads only when a figure is drawn: `kafkasim --help` stays fast
    from matplotlib.figure import Figure

EXIT_USAGE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: ``TRACE...``, ``--kind``, ``-o/--output FILE``, ``--topic``, ``--partition``, ``--group``."""
    parser.add_argument("traces", nargs="+", metavar="TRACE", help="trace file(s) written by `kafkasim run --trace`")
    parser.add_argument("--kind", choices=KINDS, default="replication",
                        help="replication: LEO/HW/ISR per partition over time; delivery: outcome per "
                        "producer; timeline: which consumer owned which partition when, rebalances shaded "
                        "(several traces: side by side in one figure); lag: consumer lag per partition over "
                        "time (default: replication)")
    parser.add_argument("-o", "--output", required=True, metavar="FILE",
                        help=f"output file; the format comes from the suffix ({', '.join(style.SUFFIXES)}); "
                        "with several traces, FILE-<trace name>.<suffix> per trace (timeline: all in FILE)")
    parser.add_argument("--topic", help="replication: only this topic's partitions")
    parser.add_argument("--partition", type=int, metavar="N", help="replication: only partition N")
    parser.add_argument("--group", metavar="NAME", help="timeline, lag: only this consumer group")


def _figure(kind: str, trace: Trace, topic: str | None = None, partition: int | None = None,
            group: str | None = None) -> Figure:
    if kind == "replication":
        from kafkasim.plot.replication import replication_figure

        return replication_figure(trace, topic, partition)
    if kind == "timeline":
        from kafkasim.plot.timeline import timeline_figure

        return timeline_figure(trace, group)
    if kind == "lag":
        from kafkasim.plot.lag import lag_figure

        return lag_figure(trace, group)
    from kafkasim.plot.delivery import delivery_figure

    return delivery_figure(trace)


def _outputs(output: str, traces: list[str]) -> list[Path]:
    """Where each trace's figure goes: ``output`` itself for one, ``stem-<name>`` for several."""
    out = Path(output)
    if len(traces) == 1:
        return [out]
    paths: list[Path] = []
    for trace in traces:
        name = Path(trace).stem if Path(trace).stem != "trace" else Path(trace).resolve().parent.name
        path = out.with_name(f"{out.stem}-{name}{out.suffix}")
        n = 2
        while path in paths:
            path, n = out.with_name(f"{out.stem}-{name}-{n}{out.suffix}"), n + 1
        paths.append(path)
    return paths


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Load every trace first (so a bad one writes nothing), then draw and write each figure."""
    traces: list[Trace] = []
    try:
        style.check_suffix(args.output)
        for name in args.traces:
            try:
                traces.append(Trace.load(name))
            except UnicodeDecodeError:
                raise TraceFormatError(f"{name}: not a text file, expected a kafkasim trace (JSON Lines)") from None
    except (style.PlotError, TraceFormatError) as exc:
        err.write(f"kafkasim plot: {exc}\n")
        return EXIT_USAGE
    except OSError as exc:
        err.write(f"kafkasim plot: cannot read {exc.filename or 'trace'}: {exc.strerror or exc}\n")
        return EXIT_USAGE
    group = getattr(args, "group", None)
    if args.kind == "timeline" and len(traces) > 1:  # side by side on one time axis, in one file
        from kafkasim.plot.timeline import compare_timelines

        jobs = [(lambda: compare_timelines(traces, group), Path(args.output))]
    else:
        jobs = [(lambda t=t: _figure(args.kind, t, args.topic, args.partition, group), path)
                for t, path in zip(traces, _outputs(args.output, args.traces), strict=True)]
    for draw, path in jobs:
        try:
            style.save(draw(), path)
        except style.PlotError as exc:
            err.write(f"kafkasim plot: {exc}\n")
            return EXIT_USAGE
        except OSError as exc:
            err.write(f"kafkasim plot: cannot write {path}: {exc.strerror or exc}\n")
            return EXIT_USAGE
        out.write(f"wrote {path}\n")
    return 0


def applicable(trace: Trace) -> list[str]:
    """The plot kinds this trace has data for: replication needs partitions, delivery producers,
    timeline consumer-group events, lag the group lag samples."""
    kinds = []
    if trace.of("partition.created"):
        kinds.append("replication")
    if trace.of("produce.send", "produce.ack", "produce.fail", "produce.unsent"):
        kinds.append("delivery")
    if trace.of("member.assigned", "group.rebalance"):
        kinds.append("timeline")
    if trace.of("lag"):
        kinds.append("lag")
    return kinds


def write_all(trace: Trace, out_dir: str | Path) -> list[Path]:
    """Write every plot kind that applies as ``<out_dir>/<kind>.png``; return the paths written."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in applicable(trace):
        written.append(style.save(_figure(kind, trace), d / f"{kind}.png"))
    return written
