"""``kafkasim plot`` body (driven through its own argparse parser) and ``write_all``."""

from __future__ import annotations

import argparse
import ast
import io
import subprocess
import sys
from pathlib import Path

import pytest

from kafkasim.plot import cli
from kafkasim.scenario import bundled
from kafkasim.scenario.load import load
from kafkasim.scenario.run import run
from kafkasim.sim.trace import Trace

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
MAGIC = {".png": b"\x89PNG", ".svg": b"<?xml", ".pdf": b"%PDF"}


@pytest.fixture(scope="module")
def trace_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("trace") / "acks1.jsonl"
    run(load(str(bundled.path_of("acks-1-lost-on-failover")))).trace.save(path)
    return path


def invoke(*argv: str | Path) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="kafkasim plot")
    cli.add_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(parser.parse_args([str(a) for a in argv]), out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("kind,suffix", [("replication", ".png"), ("delivery", ".svg"), ("replication", ".pdf")])
def test_writes_the_format_of_the_suffix(trace_file: Path, tmp_path: Path, kind: str, suffix: str) -> None:
    target = tmp_path / f"fig{suffix}"
    code, out, err = invoke(trace_file, "--kind", kind, "-o", target)
    assert (code, out, err) == (0, f"wrote {target}\n", "")
    assert target.read_bytes().startswith(MAGIC[suffix])


def test_kind_defaults_to_replication_and_takes_topic_and_partition(trace_file: Path, tmp_path: Path) -> None:
    args = argparse.ArgumentParser()
    cli.add_arguments(args)
    assert args.parse_args([str(trace_file), "-o", "x.png"]).kind == "replication"
    code, _, err = invoke(trace_file, "--topic", "orders", "--partition", "0", "-o", tmp_path / "p.png")
    assert (code, err) == (0, "")
    code, out, err = invoke(trace_file, "--topic", "nope", "-o", tmp_path / "q.png")
    assert code == 2 and out == "" and err.count("\n") == 1 and "no partition nope-*" in err
    assert not (tmp_path / "q.png").exists()


def test_several_traces_one_file_each(trace_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.jsonl"
    other.write_text(trace_file.read_text())
    code, out, _ = invoke(trace_file, other, "--kind", "delivery", "-o", tmp_path / "d.png")
    assert code == 0
    assert out.splitlines() == [f"wrote {tmp_path / 'd-acks1.png'}", f"wrote {tmp_path / 'd-other.png'}"]
    assert (tmp_path / "d-acks1.png").exists() and (tmp_path / "d-other.png").exists()


@pytest.mark.parametrize("content,message", [
    (None, "No such file or directory"),
    (b"", "empty file"),
    (b"name: not-a-trace\n", "not JSON"),
    (b'{"type": "something-else"}\n', "not a kafkasim trace"),
    (b"\xff\xfe\x00\x01binary", "not a text file"),
])
def test_unreadable_trace_is_one_line_and_exit_2(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "t.jsonl"
    if content is not None:
        path.write_bytes(content)
    code, out, err = invoke(path, "-o", tmp_path / "x.png")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err and str(path) in err
    assert not (tmp_path / "x.png").exists()


def test_directory_as_trace_is_exit_2(tmp_path: Path) -> None:
    code, _, err = invoke(tmp_path, "-o", tmp_path / "x.png")
    assert code == 2 and err.count("\n") == 1 and str(tmp_path) in err


@pytest.mark.parametrize("name", ["x.jpg", "x", "x.PNG.txt"])
def test_unknown_suffix_names_the_allowed_ones(trace_file: Path, tmp_path: Path, name: str) -> None:
    code, out, err = invoke(trace_file, "-o", tmp_path / name)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and ".png, .svg, .pdf" in err


def test_unwritable_output_is_exit_2(trace_file: Path, tmp_path: Path) -> None:
    code, _, err = invoke(trace_file, "-o", tmp_path / "missing-dir" / "x.png")
    assert code == 2 and err.startswith("kafkasim plot: cannot write") and err.count("\n") == 1


def test_write_all_writes_every_kind_that_applies(trace_file: Path, tmp_path: Path) -> None:
    paths = cli.write_all(Trace.load(trace_file), tmp_path / "out")
    assert paths == [tmp_path / "out" / "replication.png", tmp_path / "out" / "delivery.png"]
    assert all(p.read_bytes().startswith(MAGIC[".png"]) for p in paths)
    no_producers = Trace(scenario="quiet")
    no_producers.append(0, "partition.created", "controller", {"topic": "t", "partition": 0, "replicas": [1]})
    assert cli.write_all(no_producers, tmp_path / "quiet") == [tmp_path / "quiet" / "replication.png"]


def test_plot_modules_never_import_pyplot_and_the_cli_loads_matplotlib_lazily() -> None:
    code = ("import sys, kafkasim.plot.cli; print('matplotlib' in sys.modules); "
            "import kafkasim.plot.style, kafkasim.plot.replication, kafkasim.plot.delivery; "
            "print('matplotlib.pyplot' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_plot_modules_read_traces_only() -> None:
    """Plots import the trace and its readers, never the model (the kafkasim package root does)."""
    allowed = ("kafkasim.plot", "kafkasim.sim.trace", "kafkasim.records", "kafkasim.errors",
               "kafkasim.check.delivery", "kafkasim.check.intervals")
    for path in Path(cli.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith("kafkasim.") or name.startswith(allowed), f"{path.name}: {name}"
                assert not name.startswith("matplotlib.pyplot"), path.name


@pytest.fixture(scope="module")
def group_traces(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("groups")
    a, b = d / "poll.jsonl", d / "more.jsonl"
    run(load(str(bundled.path_of("poll-timeout-eviction")))).trace.save(a)
    run(load(str(bundled.path_of("distribution-more-consumers-than-partitions")))).trace.save(b)
    return a, b


def test_timeline_of_two_traces_is_one_figure_side_by_side(group_traces: tuple[Path, Path], tmp_path: Path) -> None:
    target = tmp_path / "both.png"
    code, out, err = invoke(*group_traces, "--kind", "timeline", "-o", target)
    assert (code, out, err) == (0, f"wrote {target}\n", "")
    assert target.read_bytes().startswith(MAGIC[".png"])
    assert list(tmp_path.iterdir()) == [target]


def test_lag_of_two_traces_is_one_file_each(group_traces: tuple[Path, Path], tmp_path: Path) -> None:
    code, out, _ = invoke(*group_traces, "--kind", "lag", "-o", tmp_path / "lag.svg")
    assert code == 0
    assert out.splitlines() == [f"wrote {tmp_path / 'lag-poll.svg'}", f"wrote {tmp_path / 'lag-more.svg'}"]
    assert all((tmp_path / n).read_bytes().startswith(MAGIC[".svg"]) for n in ("lag-poll.svg", "lag-more.svg"))


@pytest.mark.parametrize("kind", ["timeline", "lag"])
def test_group_option_and_traces_without_groups(group_traces: tuple[Path, Path], trace_file: Path, tmp_path: Path,
                                                kind: str) -> None:
    code, _, err = invoke(group_traces[0], "--kind", kind, "--group", "renderers", "-o", tmp_path / "ok.png")
    assert (code, err) == (0, "") and (tmp_path / "ok.png").exists()
    code, out, err = invoke(group_traces[0], "--kind", kind, "--group", "nope", "-o", tmp_path / "x.png")
    assert code == 2 and out == "" and err.count("\n") == 1 and "nope" in err and "renderers" in err
    code, out, err = invoke(trace_file, "--kind", kind, "-o", tmp_path / "y.png")
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("kafkasim plot: no ")
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "y.png").exists()


def test_write_all_adds_timeline_and_lag_when_the_trace_has_groups(group_traces: tuple[Path, Path],
                                                                   tmp_path: Path) -> None:
    trace = Trace.load(group_traces[0])
    assert cli.applicable(trace) == ["replication", "delivery", "timeline", "lag"]
    paths = cli.write_all(trace, tmp_path / "out")
    assert [p.name for p in paths] == ["replication.png", "delivery.png", "timeline.png", "lag.png"]
    assert all(p.read_bytes().startswith(MAGIC[".png"]) for p in paths)


def test_group_plot_modules_never_import_pyplot() -> None:
    code = ("import sys, kafkasim.plot as p; p.timeline_figure, p.compare_timelines, p.lag_figure; "
            "import kafkasim.plot.timeline, kafkasim.plot.lag; print('matplotlib.pyplot' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False"]
