"""Every `$ kafkasim ...` command and every python block in the README and docs runs as shown."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from kafkasim.cli import main

ROOT = Path(__file__).parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _commands() -> list[tuple[str, str]]:
    out = []
    for path in DOCS:
        for line in path.read_text().splitlines():
            if line.startswith("$ kafkasim "):
                out.append((path.relative_to(ROOT).as_posix(), line[2:]))
    return out


def _python_blocks() -> list[tuple[str, str]]:
    """One entry per page: its python blocks run in order in one namespace, as a reader would."""
    out = []
    for path in DOCS:
        blocks = re.findall(r"```python\n(.*?)```", path.read_text(), re.S)
        if blocks:
            out.append((f"{path.relative_to(ROOT).as_posix()}#python", "\n\n".join(blocks)))
    return out


def test_docs_have_examples() -> None:
    assert _commands() and _python_blocks()


@pytest.mark.parametrize("where,command", _commands(), ids=lambda x: x if "/" not in x else None)
def test_documented_command_runs(where: str, command: str, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    argv = shlex.split(command)[1:]
    argv = [str(tmp_path / a) if a.startswith("out/") else a for a in argv]
    assert main(argv) == 0, f"{where}: {command}\n{capsys.readouterr().err}"


@pytest.mark.parametrize("where,code", _python_blocks(), ids=lambda x: x if "#" in x else None)
def test_documented_python_runs(where: str, code: str, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    exec(compile(code, where, "exec"), {"__name__": "__docs__"})


def _scenario_blocks() -> list[tuple[str, str]]:
    out = []
    for path in DOCS:
        for i, block in enumerate(re.findall(r"```yaml\n(.*?)```", path.read_text(), re.S)):
            if block.startswith("name:"):
                out.append((f"{path.relative_to(ROOT).as_posix()}#yaml{i}", block))
    return out


@pytest.mark.parametrize("where,text", _scenario_blocks(), ids=lambda x: x if "#" in x else None)
def test_documented_scenarios_run_and_hold(where: str, text: str) -> None:
    from kafkasim.scenario.load import loads
    from kafkasim.scenario.run import run

    result = run(loads(text, where)).result
    assert result["expectations"] and all(e["ok"] for e in result["expectations"]), result["expectations"]
