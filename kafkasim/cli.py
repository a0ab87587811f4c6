"""The ``kafkasim`` command line: a thin argparse front over the library.

Commands: ``run`` (play a scenario), ``validate`` (check files, or print the JSON Schema),
``check`` (re-judge a saved trace), ``list`` (bundled scenarios), ``explain`` (a config key
or lint code), ``lint`` (best-practice warnings), ``partition``, ``assign``, ``plot``.

Exit codes: 0 ran and every expectation held (or, with none stated, no anomaly; for
``lint``, no warning); 1 an expectation failed or an anomaly was found (``lint``: warnings);
2 usage or scenario error; 3 internal error (a kafkasim bug; the traceback only with
``--debug``). With ``--json``, stdout is exactly one JSON document; notes go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from kafkasim._version import __version__
from kafkasim.errors import ConfigError, KafkasimError, ScenarioError
from kafkasim.scenario import bundled
from kafkasim.scenario.bundled import bundled_dir
from kafkasim.sim.world import paused_gc

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
#: Show the progress bar only for runs that take longer than this (wall seconds), on a TTY.
PROGRESS_AFTER_S = 2.0
PROGRESS_SLICES = 200




class UsageError(KafkasimError):
    """A command line that cannot be acted on (exit 2)."""


def _seed(text: str) -> int | str:
    if text == "random":
        return text
    try:
        value = int(text, 10)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer or 'random', got {text!r}")
    return value


def _scenario_file(text: str) -> str:
    """A path as given, or, when no such file exists, the bundled scenario of that name."""
    if Path(text).exists():
        return text
    found = bundled.find(text)
    return str(found) if found is not None else text


def _add_sets(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario value before validation (repeatable), e.g. "
                   "producers[0].config.acks=1 or cluster.config.min.insync.replicas=2; after 'config' "
                   "the rest of the path is one Kafka key; the value is read as YAML")


def _add_debug(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show tracebacks of internal errors")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="kafkasim", description="A deterministic simulator of Apache Kafka, "
                                 "for learning its semantics.")
    ap.add_argument("--version", action="version", version=f"kafkasim {__version__}")
    ap.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser("run", help="play a scenario file and report what happened")
    run.add_argument("scenario", metavar="FILE", type=_scenario_file,
                     help="scenario YAML file, or the name of a bundled scenario (see list)")
    run.add_argument("--seed", type=_seed, metavar="N|random",
                     help="override the scenario's seed; 'random' picks one and prints it on stderr")
    _add_sets(run)
    run.add_argument("--json", action="store_true", help="print exactly one JSON document")
    run.add_argument("--trace", metavar="FILE", help="write the trace (JSON Lines) to FILE")
    run.add_argument("--out", metavar="DIR", help="write scenario copy, trace.jsonl and result.json to DIR")
    _add_debug(run)

    val = sub.add_parser("validate", help="check scenario files without running them, or print the JSON Schema")
    val.add_argument("files", nargs="*", metavar="FILE", type=_scenario_file,
                     help="scenario YAML file(s) or bundled scenario names")
    val.add_argument("--schema", action="store_true",
                     help="print a JSON Schema (draft 2020-12) of the scenario format instead")
    _add_sets(val)
    val.add_argument("--json", action="store_true", help="print exactly one JSON document")
    _add_debug(val)

    chk = sub.add_parser("check", help="re-run the checkers on a saved trace (same report as run)")
    chk.add_argument("trace", metavar="TRACE", help="trace file written by run --trace or run --out")
    chk.add_argument("--scenario", metavar="FILE", type=_scenario_file,
                     help="evaluate this scenario's expect: block too (default: scenario.yaml next to "
                     "TRACE, or the bundled scenario of that name, when its hash matches the trace's)")
    _add_sets(chk)
    chk.add_argument("--json", action="store_true", help="print exactly one JSON document")
    _add_debug(chk)

    lst = sub.add_parser("list", help="the bundled scenarios, with what each teaches")
    lst.add_argument("--dir", metavar="DIR", help="list the scenarios in DIR instead")
    lst.add_argument("--json", action="store_true", help="print exactly one JSON document")
    _add_debug(lst)

    exp = sub.add_parser("explain", help="what a config key (or a lint code) means, and where it is used")
    exp.add_argument("key", metavar="KEY", help="a Kafka config key (acks, min.insync.replicas, ...) or a lint "
                     "code (K001)")
    exp.add_argument("--dir", metavar="DIR", help="look for uses in the scenarios in DIR instead of the bundled ones")
    _add_debug(exp)

    lint = sub.add_parser("lint", help="warn about Kafka gotchas and best practices in scenario files")
    lint.add_argument("files", nargs="+", metavar="FILE", type=_scenario_file,
                      help="scenario YAML file(s) or bundled scenario names")
    lint.add_argument("--ignore", action="append", default=[], metavar="CODES",
                      help="comma-separated codes to skip, e.g. K001,K004 (repeatable)")
    lint.add_argument("--json", action="store_true", help="print exactly one JSON document")
    _add_debug(lint)

    from kafkasim.clients import partition_cli

    part = sub.add_parser("partition", help="which partition Kafka's default partitioner picks for keys")
    partition_cli.add_arguments(part)

    from kafkasim.plot import cli as plot_cli

    plot = sub.add_parser("plot", help="draw a saved trace: replication, delivery, rebalance timeline or lag")
    plot_cli.add_arguments(plot)

    try:
        from kafkasim.group.assignors import cli as assign_cli
    except ImportError:  # pragma: no cover - assignors are part of the package
        assign_cli = None
    if assign_cli is not None:
        asg = sub.add_parser("assign", help="run a partition assignor on a JSON input, as Kafka's would")
        assign_cli.add_arguments(asg)
    return ap


def entry() -> None:
    """The ``kafkasim`` command: :func:`main` in a process of its own, which ends straight after.

    The cyclic garbage collector stays paused to the end and the interpreter skips its
    teardown: collecting, then freeing one by one, the millions of objects a run leaves
    would take longer than many runs themselves (see :func:`kafkasim.sim.world.paused_gc`).
    """
    import gc

    gc.disable()
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    ap = _parser()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):  # argparse writes to sys.*
            args = ap.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if exc.code in (0, None) else EXIT_USAGE
    commands = {"run": _run, "validate": _validate, "check": _check, "list": _list, "explain": _explain,
                "lint": _lint}
    try:
        with paused_gc():  # a short-lived command over millions of long-lived objects (see paused_gc)
            return _dispatch(args, commands, out, err)
    except KafkasimError as exc:
        err.write(f"kafkasim: {exc}\n")
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `kafkasim list | head`: the reader has gone; say nothing more
        if out is sys.stdout:
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13  # SIGPIPE, as a shell reports it
    except OSError as exc:  # a file we were asked to read or write
        name = f"{exc.filename}: " if exc.filename else ""
        err.write(f"kafkasim: {name}{exc.strerror or exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.write("kafkasim: interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: never a bare traceback
        if args.debug:
            traceback.print_exc(file=err)
        err.write(f"kafkasim: internal error: {type(exc).__name__}: {exc}\n"
                  "this is a kafkasim bug; please report it with the scenario file (rerun with --debug "
                  "for the traceback)\n")
        return EXIT_INTERNAL


def _dispatch(args: argparse.Namespace, commands: dict[str, Any], out: TextIO, err: TextIO) -> int:
    if args.command in commands:
        return commands[args.command](args, out, err)
    if args.command == "partition":
        from kafkasim.clients import partition_cli

        return partition_cli.run(args, out, err)
    if args.command == "plot":
        from kafkasim.plot import cli as plot_cli

        return plot_cli.run(args, out, err)
    if args.command == "assign":
        from kafkasim.group.assignors import cli as assign_cli

        return assign_cli.run(args, out, err)
    return EXIT_USAGE


# -- run --------------------------------------------------------------------------------------------
def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _random_seed() -> int:
    return int.from_bytes(os.urandom(4), "big") >> 1  # 0 .. 2**31 - 1: easy to retype


def _bar(done: int, total: int, width: int = 30) -> str:
    frac = done / total if total else 1.0
    filled = int(frac * width)
    return f"\r[{'#' * filled}{'.' * (width - filled)}] {frac * 100:3.0f}% of {total / 1000:g} s simulated"


def simulate(scenario: Any, seed: int | None, progress: TextIO | None = None, *,
             after_s: float | None = None) -> Any:
    """``kafkasim.scenario.run.run``, with a progress bar on ``progress`` once the run has taken
    ``after_s`` (default :data:`PROGRESS_AFTER_S`) wall seconds. The world then runs in slices of
    simulated time, which changes nothing in the trace."""
    from kafkasim.scenario.run import RunResult, build, finish, run

    if progress is None or getattr(scenario, "modes", ()):  # a matrix of runs: run() composes it
        return run(scenario, seed)
    from kafkasim.check.report import build_result

    after_s = PROGRESS_AFTER_S if after_s is None else after_s
    sim = build(scenario, seed)
    total = scenario.duration_ms
    step = max(1, -(-total // PROGRESS_SLICES))
    start = last = time.monotonic()
    shown = False
    t = 0
    while t < total:
        t = min(total, t + step)
        sim.world.run(t)
        now = time.monotonic()
        if now - start >= after_s and (now - last >= 0.1 or t == total):
            progress.write(_bar(t, total))
            progress.flush()
            shown, last = True, now
    if shown:
        progress.write("\r" + " " * len(_bar(total, total)) + "\r")
        progress.flush()
    finish(sim)
    result = build_result(sim.world.trace, scenario.expect, scenario)
    return RunResult(scenario, sim.world.seed, sim.world.trace, result)


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from kafkasim.check.report import passed, render
    from kafkasim.scenario import overrides

    scenario, _, text = overrides.load(args.scenario, args.sets)
    seed = args.seed
    if seed == "random":
        seed = _random_seed()
        err.write(f"seed: {seed} (rerun with --seed {seed})\n")
        err.flush()
    if scenario.modes:
        return _run_matrix(args, scenario, seed, text, out)
    progress = err if not args.json and _isatty(err) else None
    res = simulate(scenario, seed, progress)
    if args.trace:
        res.trace.save(args.trace)
    if args.out:
        d = Path(args.out)
        d.mkdir(parents=True, exist_ok=True)
        if args.sets:  # the scenario as run: the file with the overrides applied
            (d / "scenario.yaml").write_text(text, encoding="utf-8")
        else:
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
    return EXIT_OK if passed(res.result) else EXIT_FAILED


def _run_matrix(args: argparse.Namespace, scenario: Any, seed: int | None, text: str, out: TextIO) -> int:
    """A scenario with ``modes:``: one run per mode, one comparison table (and JSON document)."""
    from kafkasim.check.report import passed, render_matrix
    from kafkasim.scenario.run import play

    doc, runs = play(scenario, seed)
    for mode, res in runs.items():
        if args.trace:
            base = Path(args.trace)
            res.trace.save(base.with_name(f"{base.stem}-{mode}{base.suffix or '.jsonl'}"))
        if args.out:
            d = Path(args.out) / mode
            d.mkdir(parents=True, exist_ok=True)
            res.trace.save(d / "trace.jsonl")
            (d / "result.json").write_text(json.dumps(res.result, indent=2, sort_keys=True) + "\n")
            from kafkasim.plot.cli import write_all

            write_all(res.trace, d)
    if args.out:
        d = Path(args.out)
        (d / "scenario.yaml").write_text(text if args.sets else Path(args.scenario).read_text(encoding="utf-8"),
                                         encoding="utf-8")
        (d / "result.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    if args.json:
        out.write(json.dumps(doc, sort_keys=True) + "\n")
    else:
        out.write(render_matrix(doc) + "\n")
        if args.out:
            out.write(f"\nwrote {args.out}/: scenario.yaml, result.json and one folder per mode\n")
    return EXIT_OK if passed(doc) else EXIT_FAILED


# -- validate ----------------------------------------------------------------------------------------
def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary(scenario: Any) -> dict[str, Any]:
    """The counts ``validate`` and ``list`` show for a scenario."""
    return {
        "brokers": scenario.brokers,
        "topics": len(scenario.topics),
        "partitions": sum(t.partitions for t in scenario.topics),
        "producers": len(scenario.producers),
        "consumers": len(scenario.consumers),
        "pipelines": len(getattr(scenario, "pipelines", ())),
        "faults": len(scenario.faults),
        "expectations": len(scenario.expect),
        "duration_ms": scenario.duration_ms,
        "seed": scenario.seed,
    }


def _summary_text(s: dict[str, Any]) -> str:
    return (f"{_plural(s['brokers'], 'broker')}, {_plural(s['topics'], 'topic')} "
            f"({_plural(s['partitions'], 'partition')}), {_plural(s['producers'], 'producer')}, "
            f"{_plural(s['consumers'], 'consumer')}, "
            + (f"{_plural(s['pipelines'], 'pipeline')}, " if s["pipelines"] else "")
            + f"{_plural(s['faults'], 'fault')}, "
            f"{_plural(s['expectations'], 'expectation')}; {s['duration_ms'] / 1000:g} s simulated")


def _error_json(exc: ScenarioError) -> dict[str, Any]:
    return {"message": str(exc), "file": exc.file, "line": exc.line, "col": exc.col, "path": exc.path,
            "problem": exc.problem}


def _validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from kafkasim.scenario import overrides

    if args.schema:
        if args.files or args.sets:
            raise UsageError("validate --schema takes no FILE or --set: it prints the schema of every scenario")
        from kafkasim.scenario.schema import build

        out.write(json.dumps(build(), indent=2) + "\n")
        return EXIT_OK
    if not args.files:
        raise UsageError("validate: give one or more scenario FILEs, or --schema")
    for s in args.sets:  # a malformed --set is a usage error, once, not one per file
        overrides.parse(s)
    entries = []
    for f in args.files:
        try:
            sc, _, _ = overrides.load(f, args.sets)
        except ScenarioError as exc:
            entries.append({"file": f, "ok": False, "error": _error_json(exc)})
            if not args.json:
                out.write(f"{exc}\n")
            continue
        s = summary(sc)
        entries.append({"file": f, "ok": True, "name": sc.name, "summary": s})
        if not args.json:
            out.write(f"{f}: ok ({_summary_text(s)})\n")
    ok = all(e["ok"] for e in entries)
    if args.json:
        out.write(json.dumps({"ok": ok, "files": entries}, sort_keys=True) + "\n")
    return EXIT_OK if ok else EXIT_USAGE


# -- check -------------------------------------------------------------------------------------------
def _load_trace(path: str) -> Any:
    from kafkasim.sim.trace import Trace, TraceFormatError

    try:
        return Trace.load(path)
    except TraceFormatError as exc:
        raise UsageError(str(exc)) from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a text file, expected a kafkasim trace (JSON Lines)") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read trace: {exc.strerror or exc}") from None


def _find_scenario(trace_path: str, trace: Any) -> Any:
    """The scenario a trace came from, when it can be found with the same hash: scenario.yaml
    next to the trace (``run --out``), or the bundled scenario of the trace's name."""
    from kafkasim.scenario import overrides

    if not trace.scenario_hash:
        return None
    candidates = [Path(trace_path).parent / "scenario.yaml"]
    if trace.scenario and (found := bundled.find(trace.scenario)) is not None:
        candidates.append(found)
    for c in candidates:
        if not c.is_file():
            continue
        try:
            sc, _, _ = overrides.load(c)
        except ScenarioError:
            continue
        if sc.source_hash == trace.scenario_hash:
            return sc
    return None


def _check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from kafkasim.check.report import build_result, passed, render
    from kafkasim.scenario import overrides

    trace = _load_trace(args.trace)
    scenario = None
    if args.scenario:
        scenario, _, _ = overrides.load(args.scenario, args.sets)
        if trace.scenario_hash and scenario.source_hash != trace.scenario_hash:
            err.write(f"kafkasim check: warning: {args.trace} was written by scenario '{trace.scenario}' "
                      f"(hash {trace.scenario_hash}) but {args.scenario} is '{scenario.name}' (hash "
                      f"{scenario.source_hash}): the file changed since the run, or the run used other --set "
                      "values; its expectations are checked anyway\n")
    elif args.sets:
        raise UsageError("check: --set needs --scenario FILE (it overrides that file's values)")
    else:
        scenario = _find_scenario(args.trace, trace)
        if scenario is not None:
            err.write(f"kafkasim check: using the expectations of {scenario.file} (same hash as the trace)\n")
        else:
            err.write("kafkasim check: no scenario (give --scenario FILE to check its expect: block); "
                      "checking the trace for anomalies only\n")
    result = build_result(trace, scenario.expect if scenario is not None else (), scenario)
    if args.json:
        out.write(json.dumps(result, sort_keys=True) + "\n")
    else:
        out.write(render(result) + "\n")
    return EXIT_OK if passed(result) else EXIT_FAILED


# -- list --------------------------------------------------------------------------------------------
def first_sentence(text: str) -> str:
    """The first sentence of a description, on one line."""
    flat = " ".join(text.split())
    for m in re.finditer(r"[.!?](?=\s|$)", flat):
        before = flat[:m.start() + 1]
        if re.search(r"\b(?:e\.g|i\.e|etc|vs)\.$", before):
            continue
        return before
    return flat


def _scenario_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise UsageError(f"{directory}: no such directory")
    return bundled.paths(directory)


def _list(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from kafkasim.scenario.load import load

    directory = Path(args.dir) if args.dir else bundled_dir()
    entries = []
    for f in _scenario_files(directory):
        chapter = bundled.split(f)[0]
        try:
            sc = load(f)
        except ScenarioError as exc:
            entries.append({"name": f.stem, "chapter": chapter, "file": str(f), "ok": False, "summary": "",
                            "error": _error_json(exc)})
            continue
        entries.append({"name": sc.name, "chapter": chapter, "file": str(f), "ok": True,
                        "summary": first_sentence(sc.description), "counts": summary(sc)})
    # guide chapter order (NN- prefix), then name
    entries.sort(key=lambda e: (e["chapter"] is None, e["chapter"] or 0, e["name"], e["file"]))
    ok = all(e["ok"] for e in entries)
    if args.json:
        out.write(json.dumps({"dir": str(directory), "ok": ok, "scenarios": entries}, sort_keys=True) + "\n")
    else:
        if not entries:
            err.write(f"kafkasim list: no scenario files (*.yaml) in {directory}\n")
        width = max((len(e["name"]) for e in entries), default=0)
        numbered = any(e["chapter"] is not None for e in entries)
        for e in entries:
            text = e["summary"] if e["ok"] else f"INVALID: {e['error']['message']}"
            chapter = "" if not numbered else f"{e['chapter']:02d}  " if e["chapter"] is not None else "    "
            out.write(f"{chapter}{e['name']:<{width}}  {text}\n".rstrip() + "\n")
    return EXIT_OK if ok else EXIT_USAGE


# -- explain -----------------------------------------------------------------------------------------
def _shown(value: Any) -> str:
    from kafkasim.config import show

    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    if isinstance(value, str):  # as it would be written in YAML: plain when that reads back the same
        return value if re.fullmatch(r"[A-Za-z_][\w.-]*", value) and value.lower() not in (
            "true", "false", "null") else json.dumps(value)
    return show(value)


def _at(data: Any, path: Sequence[str | int]) -> Any:
    for p in path:
        try:
            data = data[p]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def config_uses(key: str, roles: Sequence[str], directory: Path) -> list[dict[str, Any]]:
    """Where the scenarios in ``directory`` set ``key`` explicitly (in a block of one of ``roles``)."""
    from kafkasim.scenario import yamlsafe

    uses = []
    for f in _scenario_files(directory):
        try:
            data = yamlsafe.load_file(f)
        except ScenarioError:
            continue
        blocks: list[tuple[str, tuple[str | int, ...]]] = []
        if isinstance(data.get("cluster"), dict):
            blocks += [("broker", ("cluster", "config")), ("kafkasim", ("cluster", "switches"))]
        for kind, role in (("topics", "topic"), ("producers", "producer"), ("consumers", "consumer")):
            items = data.get(kind)
            if isinstance(items, list):
                blocks += [(role, (kind, i, "config")) for i in range(len(items))]
        for role, path in blocks:
            if role not in roles:
                continue
            node = _at(data, path)
            if isinstance(node, dict) and key in node:
                mark = yamlsafe.mark_of(data, (*path, key))
                name = data.get("name") if isinstance(data.get("name"), str) else f.stem
                uses.append({"scenario": name, "file": str(f), "line": mark.line if mark else None,
                             "path": yamlsafe.format_path((*path, key)), "value": node[key]})
    return sorted(uses, key=lambda u: (u["scenario"], u["path"]))


def _explain(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from kafkasim import config, lint

    key = args.key.strip()
    if key.upper() in lint.RULES:
        out.write(lint.describe(key) + "\n")
        return EXIT_OK
    try:
        text = config.describe(key)
    except ConfigError as exc:
        hint = ""
        if re.fullmatch(r"[kK]\d+", key):
            hint = f" (lint codes are {min(lint.RULES)}..{max(lint.RULES)})"
        err.write(f"kafkasim explain: {exc}{hint}\n")
        return EXIT_USAGE
    out.write(text + "\n")
    roles = [r for r in config.ROLES if key in config.REGISTRY[r]]
    directory = Path(args.dir) if args.dir else bundled_dir()
    uses = config_uses(key, roles, directory) if directory.is_dir() or args.dir else []
    where = "the scenarios in " + str(directory) if args.dir else "bundled scenarios"
    if uses:
        out.write(f"\nset in {where}:\n")
        width = max(len(u["scenario"]) for u in uses)
        for u in uses:
            out.write(f"  {u['scenario']:<{width}}  {u['path']}: {_shown(u['value'])}\n")
    else:
        out.write(f"\nnot set in any of the {where} (they use the default)\n")
    return EXIT_OK


# -- lint --------------------------------------------------------------------------------------------
def _lint(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from kafkasim import lint

    ignore = {c.strip().upper() for chunk in args.ignore for c in chunk.split(",") if c.strip()}
    unknown = sorted(ignore - set(lint.RULES))
    if unknown:
        raise UsageError(f"lint --ignore: unknown code(s) {', '.join(unknown)}; codes are "
                         f"{min(lint.RULES)}..{max(lint.RULES)}")
    files = []
    bad = False
    for f in args.files:
        try:
            found = lint.lint_file(f, ignore)
        except ScenarioError as exc:
            bad = True
            files.append({"file": f, "ok": False, "warnings": [], "error": _error_json(exc)})
            if not args.json:
                err.write(f"kafkasim lint: {exc}\n")
            continue
        files.append({"file": f, "ok": True, "warnings": [w.to_json() for w in found], "error": None})
        if not args.json:
            out.writelines(f"{w}\n" for w in found)
    count = sum(len(f["warnings"]) for f in files)
    if args.json:
        out.write(json.dumps({"files": files, "warnings": count}, sort_keys=True) + "\n")
    elif count:
        err.write(f"{_plural(count, 'warning')} in {_plural(len(files), 'file')}\n")
    if bad:
        return EXIT_USAGE
    return EXIT_FAILED if count else EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
