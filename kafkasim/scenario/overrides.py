"""``--set key=value``: override scenario values from the command line, before validation.

A path walks the YAML data with dots and ``[N]`` indexes::

    duration_ms=5000
    producers[0].config.acks=1
    cluster.config.min.insync.replicas=2
    consumers[1].config.partition.assignment.strategy=[cooperative-sticky]
    expect.groups.ledger.processed_twice=">0"

Kafka config keys contain dots, and so do result names, so after a ``config`` segment
(and after ``expect``) the rest of the path is ONE key. The value is read by the same strict
YAML 1.2 rules as the file (:mod:`kafkasim.scenario.yamlsafe`): ``true``/``false``, integers,
floats, ``null`` (or nothing after ``=``), quoted or plain strings (``yes`` stays a string),
and flow lists/mappings (``[a, b]``, ``{acks: all}``); under ``expect`` a value starting with a
comparison operator is that comparison, unquoted (``expect.duplicates=>0``). Missing mappings on the way are created
(``cluster.config.x=1`` works without a ``config:`` block); list items must exist.

Errors are one line naming the override: ``--set producers[0].config.acks=2: ...``, both for a
bad path and for a value the validator rejects.

Kafka: none (a kafkasim command-line feature).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from kafkasim.errors import ScenarioError
from kafkasim.scenario import yamlsafe
from kafkasim.scenario.model import Scenario

__all__ = ["Override", "OverrideError", "apply", "effective_text", "load", "parse", "parse_path"]

Path = tuple[str | int, ...]
#: After a segment with one of these names (``expect`` only at the top), the rest is one key.
ONE_KEY_AFTER = ("config",)
_SEGMENT = re.compile(r"([^.\[\]=]+)((?:\[\d+\])*)")


class OverrideError(ScenarioError):
    """A ``--set`` that cannot be applied, or whose value the validator rejects."""

    def __init__(self, override: str, problem: str, path: str = "") -> None:
        super().__init__(problem, file=f"--set {override}", path=path)
        self.override = override


@dataclass(frozen=True)
class Override:
    """One parsed ``--set``: its text as given, the path into the data, and the value."""

    text: str
    path: Path
    value: Any

    @property
    def where(self) -> str:
        return yamlsafe.format_path(self.path)


def parse_path(text: str, override: str | None = None) -> Path:
    """``producers[0].config.acks`` -> ``("producers", 0, "config", "acks")``."""
    who = override if override is not None else text

    def bad(problem: str) -> OverrideError:
        return OverrideError(who, problem)

    text = text.strip()
    if not text:
        raise bad("expected key=value with a key before '=', e.g. producers[0].config.acks=1")
    out: list[str | int] = []
    pos = 0
    while pos < len(text):
        m = _SEGMENT.match(text, pos)
        if not m:
            raise bad(f"bad path {text!r} at character {pos + 1}: expected a name, then [N] indexes, "
                      "separated by dots (e.g. producers[0].config.acks)")
        name, indexes = m.group(1), m.group(2)
        if name != name.strip():
            raise bad(f"bad path {text!r}: spaces around {name.strip()!r}")
        out.append(name)
        out.extend(int(i) for i in re.findall(r"\d+", indexes))
        pos = m.end()
        if pos == len(text):
            break
        if text[pos] != ".":
            raise bad(f"bad path {text!r} at character {pos + 1}: expected '.' or '[N]' after {name!r}")
        pos += 1
        if pos == len(text):
            raise bad(f"bad path {text!r}: it ends with '.'")
        rest_is_key = (name in ONE_KEY_AFTER and not indexes) or (out == ["expect"])
        if rest_is_key:
            key = text[pos:]
            if key != key.strip() or not key:
                raise bad(f"bad path {text!r}: the key after {name!r} is empty or has spaces around it")
            out.append(key)  # a Kafka config key (min.insync.replicas) or a result name: one key
            break
    return tuple(out)


def parse(text: str) -> Override:
    """Parse ``key=value``; the value by the scenario file's strict YAML rules."""
    if "=" not in text:
        raise OverrideError(text, "expected key=value, e.g. producers[0].config.acks=1")
    key, raw = text.split("=", 1)
    path = parse_path(key, text)
    if "\n" in raw or "\r" in raw:
        raise OverrideError(text, "the value must be on one line")
    if path[0] == "expect" and re.match(r"\s*(==|!=|<=|>=|<|>)", raw):
        return Override(text, path, raw.strip())  # a comparison (">0" would be a YAML block scalar)
    try:
        doc = yamlsafe.load("v: " + raw, "<--set>")
    except ScenarioError as exc:
        raise OverrideError(text, f"value {raw!r} is not valid YAML: {exc.problem}"
                            " (quote it if you mean a string)") from None
    if len(doc) != 1 or "v" not in doc:  # e.g. "1\nv2: x" cannot happen (one line), but be sure
        raise OverrideError(text, f"value {raw!r} is not one YAML value")
    return Override(text, path, doc["v"])


def _kind(v: Any) -> str:
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true/false"
    return {int: "an integer", float: "a number", str: "a string"}.get(type(v), type(v).__name__)


def apply(data: Any, overrides: Sequence[Override]) -> dict[str, Override]:
    """Set each override in ``data`` (in order; a later one wins). Returns the paths each one
    wrote or created (formatted, e.g. ``cluster.config``) -> the override, to attribute errors."""
    touched: dict[str, Override] = {}
    for ov in overrides:
        node = data
        for depth, seg in enumerate(ov.path[:-1]):
            here = yamlsafe.format_path(ov.path[:depth + 1])
            nxt = ov.path[depth + 1]
            if isinstance(seg, int):
                if not isinstance(node, list):
                    raise OverrideError(ov.text, f"{yamlsafe.format_path(ov.path[:depth])} is {_kind(node)}, "
                                        "not a list: it has no [N] items")
                if seg >= len(node):
                    raise OverrideError(ov.text, _index_problem(ov.path[:depth], len(node), seg))
                child = node[seg]
            else:
                if not isinstance(node, dict):
                    where = yamlsafe.format_path(ov.path[:depth]) or "the top level"
                    raise OverrideError(ov.text, f"{where} is {_kind(node)}, not a mapping: it has no key {seg!r}")
                if seg not in node or node[seg] is None:
                    if isinstance(nxt, int):
                        raise OverrideError(ov.text, f"{here} is not in the scenario, so it has no item [{nxt}]")
                    node[seg] = yamlsafe.YamlMap()  # e.g. a missing cluster.config block
                    touched.setdefault(here, ov)
                child = node[seg]
            node = child
        last = ov.path[-1]
        if isinstance(last, int):
            if not isinstance(node, list):
                raise OverrideError(ov.text, f"{yamlsafe.format_path(ov.path[:-1])} is {_kind(node)}, not a list")
            if last >= len(node):
                raise OverrideError(ov.text, _index_problem(ov.path[:-1], len(node), last))
            node[last] = ov.value
        else:
            if not isinstance(node, dict):
                where = yamlsafe.format_path(ov.path[:-1]) or "the top level"
                raise OverrideError(ov.text, f"{where} is {_kind(node)}, not a mapping: it has no key {last!r}")
            node[last] = ov.value
        touched[ov.where] = ov
    return touched


def _index_problem(list_path: Path, length: int, index: int) -> str:
    where = yamlsafe.format_path(list_path)
    if length == 0:
        return f"{where} is empty, so there is no item [{index}]"
    return f"{where} has {length} item{'s' if length != 1 else ''} ([0]..[{length - 1}]), so there is no [{index}]"


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def effective_text(data: Any, file: str, overrides: Sequence[Override]) -> str:
    """The overridden scenario as a YAML file (what ``run --out`` writes as scenario.yaml)."""
    import yaml

    head = f"# {file} with " + " ".join(f"--set {o.text}" for o in overrides) + "\n"
    plain = _plain(data)
    body = yaml.safe_dump(plain, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
    try:
        same = _plain(yamlsafe.load(body, "<dump>")) == plain
    except ScenarioError:
        same = False
    if not same:  # a string PyYAML leaves plain that YAML 1.2 reads otherwise: JSON is YAML too
        body = json.dumps(plain, indent=2, ensure_ascii=False) + "\n"
    return head + body


def _attribute(exc: ScenarioError, touched: dict[str, Override], overrides: Sequence[Override]) -> ScenarioError:
    """Blame the override that wrote (or created) the path an error is about, if any."""
    path = exc.path
    best: Override | None = None
    if path in touched:
        best = touched[path]
    else:
        for where, ov in touched.items():  # an error inside a flow value given with --set
            if path.startswith((where + ".", where + "[")):
                best = ov
    if best is None:
        if overrides and exc.file and not exc.file.startswith("--set "):
            sets = " ".join(f"--set {o.text}" for o in overrides)
            err = ScenarioError(f"{exc.problem} (with {sets})", file=exc.file, line=exc.line, col=exc.col, path=path)
            return err
        return exc
    shown = "" if path == best.where else path
    return OverrideError(best.text, exc.problem, shown)


def load(file: str | FsPath, sets: Sequence[str] = ()) -> tuple[Scenario, Any, str]:
    """Read ``file``, apply ``sets`` (``key=value`` texts), validate.

    Returns the scenario, the (overridden) YAML data, and the scenario text whose hash the
    scenario carries: the file itself without overrides, else :func:`effective_text`.
    """
    from kafkasim.scenario.load import validate

    name = str(file)
    data = yamlsafe.load_file(file)
    if not sets:
        raw = FsPath(file).read_bytes()
        return validate(data, name, hashlib.sha256(raw).hexdigest()[:16]), data, raw.decode("utf-8")
    overrides = [parse(s) for s in sets]
    touched = apply(data, overrides)
    text = effective_text(data, name, overrides)
    try:
        scenario = validate(data, name, hashlib.sha256(text.encode()).hexdigest()[:16])
    except ScenarioError as exc:
        raise _attribute(exc, touched, overrides) from None
    return scenario, data, text
