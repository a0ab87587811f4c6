"""Regenerate the reference pages from the code: ``python docs/make_reference.py``.

docs/reference/lint.md (from kafkasim.lint.RULES), docs/reference/trace.md (from the trace
vocabulary) and docs/reference/config.md (from the config registry). A test fails when a
page is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kafkasim import config, lint
from kafkasim.sim.trace import KINDS

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "docs" / "reference"


def lint_page() -> str:
    lines = ["# Lint rules", "", "`kafkasim lint FILE...` checks a scenario against the primer's gotchas and best",
             "practices. Exit code 0 when clean, 1 with warnings, 2 for a bad file; `--ignore K001,K004`.",
             "`kafkasim explain K005` prints a rule's reasoning.", "",
             "| code | name | checks | the lesson that shows why |", "|---|---|---|---|"]
    for r in lint.RULES.values():
        see = f"`{r.see}`" if r.see else "-"
        lines.append(f"| {r.code} | {r.name} | {r.summary} | {see} |")
    return "\n".join(lines) + "\n"


def trace_page() -> str:
    lines = ["# Trace vocabulary", "", "Every event of a trace has `t` (simulated ms), `seq` (global order), `kind`,",
             "`node` and the fields below, named as Kafka names them.", "", "| kind | what it records |", "|---|---|"]
    for kind, doc in KINDS.items():
        lines.append(f"| `{kind}` | {doc.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def config_page() -> str:
    lines = ["# Configuration keys", "", "Kafka's keys verbatim, with Kafka 4.x defaults. `kafkasim explain KEY` prints one.",
             "Keys marked *not modelled* are validated but have no effect in the simulation.", ""]
    for role in config.ROLES:
        lines += [f"## {role}", "", "| key | default | meaning |", "|---|---|---|"]
        for name, key in sorted(config.keys(role).items()):
            note = "" if key.modelled else " *(not modelled)*"
            lines.append(f"| `{name}` | `{config.show(key.default)}` | {key.doc.replace('|', '/')}{note} |")
        lines.append("")
    return "\n".join(lines)


PAGES = {"lint.md": lint_page, "trace.md": trace_page, "config.md": config_page}


def main() -> None:
    REF.mkdir(parents=True, exist_ok=True)
    for name, make in PAGES.items():
        (REF / name).write_text(make(), encoding="utf-8")
        print(f"wrote docs/reference/{name}", file=sys.stderr)


if __name__ == "__main__":
    main()
