"""docs/guide/property-testing-assignors.md: every python block runs on its own, and its
``$ kafkasim assign ...`` command prints what the page shows."""

from __future__ import annotations

import argparse
import io
import re
import shlex
from pathlib import Path

import pytest

from kafkasim.group.assignors import cli

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "guide" / "property-testing-assignors.md"


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line number of the block's first line, code) for each ```python block."""
    return [(text.count("\n", 0, m.start(1)), m.group(1))
            for m in re.finditer(r"^```python\n(.*?)^```", text, flags=re.S | re.M)]


def test_page_has_python_blocks():
    assert len(python_blocks(PAGE.read_text(encoding="utf-8"))) >= 2


@pytest.mark.parametrize("index", [0, 1])
def test_python_block_runs_standalone(index, capsys):
    line, block = python_blocks(PAGE.read_text(encoding="utf-8"))[index]
    # pad so a traceback points at the right line of the page
    exec(compile("\n" * line + block, str(PAGE), "exec"), {"__name__": "docs_example"})  # noqa: S102
    if index == 0:
        out = capsys.readouterr().out
        assert "not balanced, as expected" in out
        assert "test_balanced(" in out  # the shrunk counterexample


def test_documented_command_output(monkeypatch):
    text = PAGE.read_text(encoding="utf-8")
    console = re.search(r"^```console\n\$ kafkasim assign (.*?)\n(.*?)^```", text, re.S | re.M)
    assert console
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    monkeypatch.chdir(ROOT)
    out, err = io.StringIO(), io.StringIO()
    assert cli.run(parser.parse_args(shlex.split(console.group(1))), out, err) == 0
    assert out.getvalue() == console.group(2)
