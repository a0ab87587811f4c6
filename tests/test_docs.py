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


def _console_outputs() -> list[tuple[str, str, list[str]]]:
    """(page, command, shown output lines) for each ```console command followed by its output."""
    out = []
    for path in DOCS:
        for block in re.findall(r"```console\n(.*?)```", path.read_text(), re.S):
            lines = block.splitlines()
            for i, line in enumerate(lines):
                if not line.startswith("$ kafkasim "):
                    continue
                shown = []
                for nxt in lines[i + 1:]:
                    if nxt.startswith("$ "):
                        break
                    if nxt.strip() and nxt.strip() != "...":
                        shown.append(nxt)
                if shown:
                    out.append((path.relative_to(ROOT).as_posix(), line[2:], shown))
    return out


@pytest.mark.parametrize("where,command,shown", _console_outputs(),
                         ids=lambda x: x if isinstance(x, str) and "/" not in x and not x.startswith(" ") else None)
def test_documented_output_is_what_the_command_prints(where: str, command: str, shown: list[str], tmp_path: Path,
                                                      monkeypatch, capsys) -> None:
    """Output shown under a command in a console block is printed by it (lines elided with ...)."""
    monkeypatch.chdir(ROOT)
    argv = [str(tmp_path / a) if a.startswith("out/") else a for a in shlex.split(command)[1:]]
    main(argv)
    printed = {" ".join(line.split()) for line in capsys.readouterr().out.splitlines()}
    missing = [line for line in shown if " ".join(line.split()) not in printed]
    assert not missing, f"{where}: `{command}` no longer prints:\n" + "\n".join(missing)


def _text_after_console() -> list[tuple[str, str, list[str]]]:
    """A ```text block right after a ```console block of one command shows that command's output."""
    out = []
    for path in DOCS:
        text = path.read_text()
        for m in re.finditer(r"```console\n(.*?)```\s*```text\n(.*?)```", text, re.S):
            commands = [ln[2:] for ln in m.group(1).splitlines() if ln.startswith("$ kafkasim ")]
            shown = [ln for ln in m.group(2).splitlines() if ln.strip() and ln.strip() != "..."]
            if len(commands) == 1 and shown and "--out" not in commands[0]:
                out.append((path.relative_to(ROOT).as_posix(), commands[0], shown))
    return out


def _matches(shown: str, printed: list[str]) -> bool:
    """``shown`` with ``...`` standing for elided text, found in order in some printed line."""
    parts = [" ".join(p.split()) for p in shown.split("...")]
    for line in printed:
        at = 0
        for part in parts:
            at = line.find(part, at)
            if at < 0:
                break
            at += len(part)
        else:
            return True
    return False


@pytest.mark.parametrize("where,command,shown", _text_after_console(),
                         ids=lambda x: x if isinstance(x, str) and "/" not in x and not x.startswith(" ") else None)
def test_output_shown_after_a_command_is_what_it_prints(where: str, command: str, shown: list[str],
                                                        tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    argv = [str(tmp_path / a) if a.startswith("out/") else a for a in shlex.split(command)[1:]]
    main(argv)
    printed = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    missing = [line for line in shown if not _matches(line, printed)]
    assert not missing, f"{where}: `{command}` no longer prints:\n" + "\n".join(missing)
