"""The ``kafkasim`` command line: a thin argparse front over the library.

Exit codes: 0 ran and every expectation held (or, with none stated, no anomaly);
1 an expectation failed or an anomaly was found; 2 usage or scenario error;
3 internal error (a kafkasim bug; the traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from kafkasim._version import __version__
from kafkasim.errors import KafkasimError


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="kafkasim", description="A deterministic simulator of Apache Kafka, "
                                 "for learning its semantics.")
    ap.add_argument("--version", action="version", version=f"kafkasim {__version__}")
    ap.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser("run", help="play a scenario file and report what happened")
    run.add_argument("scenario", metavar="FILE", help="scenario YAML file")
    run.add_argument("--seed", type=int, help="override the scenario's seed")
    run.add_argument("--json", action="store_true", help="print exactly one JSON document")
    run.add_argument("--trace", metavar="FILE", help="write the trace (JSON Lines) to FILE")
    run.add_argument("--out", metavar="DIR", help="write scenario copy, trace.jsonl and result.json to DIR")

    from kafkasim.clients import partition_cli

    part = sub.add_parser("partition", help="which partition Kafka's default partitioner picks for keys")
    partition_cli.add_arguments(part)

    from kafkasim.plot import cli as plot_cli

    plot = sub.add_parser("plot", help="draw a saved trace: replication or delivery")
    plot_cli.add_arguments(plot)

    try:
        from kafkasim.group.assignors import cli as assign_cli
    except ImportError:  # pragma: no cover - assignors are part of the package
        assign_cli = None
    if assign_cli is not None:
        asg = sub.add_parser("assign", help="run a partition assignor on a JSON input, as Kafka's would")
        assign_cli.add_arguments(asg)
    return ap


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    ap = _parser()
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if exc.code in (0, None) else 2
    try:
        if args.command == "run":
            return _run(args, out, err)
        if args.command == "partition":
            from kafkasim.clients import partition_cli

            return partition_cli.run(args, out, err)
        if args.command == "plot":
            from kafkasim.plot import cli as plot_cli

            return plot_cli.run(args, out, err)
        if args.command == "assign":
            from kafkasim.group.assignors import cli as assign_cli

            return assign_cli.run(args, out, err)
    except KafkasimError as exc:
        err.write(f"kafkasim: {exc}\n")
        return 2
    except KeyboardInterrupt:
        err.write("kafkasim: interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: never a bare traceback
        if args.debug:
            traceback.print_exc(file=err)
        err.write(f"kafkasim: internal error: {type(exc).__name__}: {exc}\n"
                  "this is a kafkasim bug; please report it with the scenario file (rerun with --debug "
                  "for the traceback)\n")
        return 3
    return 2


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from kafkasim.check.report import passed, render
    from kafkasim.scenario.load import load
    from kafkasim.scenario.run import run

    scenario = load(args.scenario)
    res = run(scenario, args.seed)
    if args.trace:
        res.trace.save(args.trace)
    if args.out:
        d = Path(args.out)
        d.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.scenario, d / "scenario.yaml")
        res.trace.save(d / "trace.jsonl")
        (d / "result.json").write_text(json.dumps(res.result, indent=2, sort_keys=True) + "\n")
        from kafkasim.plot.cli import write_all

        plots = write_all(res.trace, d)
    if args.json:
        out.write(json.dumps(res.result, sort_keys=True) + "\n")
    else:
        out.write(render(res.result) + "\n")
        if args.out:
            names = ", ".join(p.name for p in plots)
            out.write(f"\nwrote {args.out}/: scenario.yaml, trace.jsonl, result.json, {names}\n")
    return 0 if passed(res.result) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
