"""Mutated scenario files: `kafkasim validate` answers exit 0 or one located line with exit 2,
never a traceback (issue: every bad input gets a clear error, never a crash)."""

from __future__ import annotations

import io
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkasim.cli import main

ROOT = Path(__file__).parents[2]
TEXTS = [p.read_text() for p in sorted((ROOT / "scenarios").glob("*.yaml"))]
JUNK = ["-1", "0", "true", "off", "null", "[]", "{}", "'x'", "1.5", "99999999999", "~", "{a: 1}", ": :", "- -"]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(TEXTS)).splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "value", "key", "indent", "truncate"]))
        line = lines[i]
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, line)
        elif op == "value" and ":" in line:
            head = line.split(":", 1)[0]
            lines[i] = f"{head}: {draw(st.sampled_from(JUNK))}"
        elif op == "key" and ":" in line:
            head, tail = line.split(":", 1)
            lines[i] = f"{head}x:{tail}"
        elif op == "indent":
            lines[i] = "  " + line
        elif op == "truncate":
            lines[i] = line[: draw(st.integers(0, max(0, len(line) - 1)))]
        if not lines:
            break
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated())
def test_mutated_scenarios_never_crash(tmp_path_factory, text: str) -> None:
    path = tmp_path_factory.mktemp("mut") / "s.yaml"
    path.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    code = main(["validate", str(path)], out=out, err=err)
    both = out.getvalue() + err.getvalue()
    assert code in (0, 2), both
    assert "Traceback" not in both and "internal error" not in both, both
    if code == 2:
        problem = [line for line in both.splitlines() if line.strip()]
        assert len(problem) == 1 and str(path) in problem[0], both
