"""Strict YAML for scenario files: plain data with a line and column for every node.

Scenario files are read as data, never as code, and with YAML 1.2's core schema so that
the YAML 1.1 traps cannot change a value behind the author's back:

* only ``true``/``false`` (also ``True``/``TRUE``/``False``/``FALSE``) are booleans;
  ``yes``/``no``/``on``/``off``/``y``/``n`` stay strings, so a validator can say
  "expected true or false, got the string 'off'";
* integers are decimal (``017`` is 17, as in YAML 1.2; no octal by leading zero),
  ``0o17`` (15) or ``0x1F`` (31); ``1_000_000`` and sexagesimal ``1:30`` stay strings;
* floats are ``1.5``, ``1e3``, ``.inf``, ``-.inf``, ``.nan``; ``2024-01-01`` stays a string;
* ``~``, ``null``, ``Null``, ``NULL`` and an empty value are null.

Rejected, each with ``file:line:col``: duplicate keys, keys that are not strings, merge
keys (``<<``), anchors and aliases (so "billion laughs" cannot happen and errors always
point at what the author wrote), every tag except ``!!str``, nesting deeper than
:data:`MAX_DEPTH`, more than one document, files over :data:`MAX_BYTES`, non-UTF-8 or
binary input, and a top level that is not a mapping.

Mappings come back as :class:`YamlMap` (a ``dict``) and sequences as :class:`YamlList`
(a ``list``); both carry the marks of their entries. Use :func:`where` / :func:`where_key`
on a container, :func:`mark_of` on a path, and :func:`scenario_error` to raise at a node.

Kafka: none (YAML 1.2.2 core schema, PyYAML ``SafeLoader``).
Simplified: one document per file; no anchors, aliases or tags beyond ``!!str``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, NodeEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kafkasim.config import suggest
from kafkasim.errors import ScenarioError

__all__ = [
    "MAX_BYTES", "MAX_DEPTH", "Mark", "YamlList", "YamlMap", "format_path", "load", "load_file",
    "mark_of", "scenario_error", "suggest", "where", "where_key",
]

MAX_BYTES = 1 << 20  # 1 MiB
MAX_DEPTH = 64
Path = tuple[str | int, ...]

_CORE = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = (_CORE + t for t in ("str", "int", "float", "bool", "null"))


@dataclass(frozen=True)
class Mark:
    """1-based line and column of a node's first character; unpacks as ``line, col``."""

    line: int
    col: int

    def __iter__(self) -> Iterator[int]:  # lets callers write `line, col = mark`
        return iter((self.line, self.col))

    def __str__(self) -> str:
        return f"{self.line}:{self.col}"


class YamlMap(dict):
    """A YAML mapping: a plain ``dict`` plus ``mark`` and per-key ``key_marks`` / ``value_marks``."""

    def __init__(self, mark: Mark | None = None) -> None:
        super().__init__()
        self.mark = mark
        self.key_marks: dict[str, Mark] = {}
        self.value_marks: dict[str, Mark] = {}


class YamlList(list):
    """A YAML sequence: a plain ``list`` plus ``mark`` and ``item_marks`` (one per item)."""

    def __init__(self, mark: Mark | None = None) -> None:
        super().__init__()
        self.mark = mark
        self.item_marks: list[Mark] = []


def _mark(m: yaml.Mark) -> Mark:
    return Mark(m.line + 1, m.column + 1)


def format_path(path: Iterable[str | int]) -> str:
    """``("producers", 0, "config", "acks")`` -> ``"producers[0].config.acks"``."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core resolvers, refusing aliases, anchors, tags and deep nesting."""

    yaml_implicit_resolvers: dict = {}  # own table: none of SafeLoader's YAML 1.1 resolvers

    def __init__(self, text: str, file: str) -> None:
        super().__init__(text)
        self.file = file
        self.depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        event = self.peek_event()
        where = _mark(event.start_mark)
        if isinstance(event, AliasEvent):
            raise ScenarioError(f"aliases (*{event.anchor}) are not supported in scenario files; write the value out",
                                file=self.file, line=where.line, col=where.col)
        if isinstance(event, NodeEvent) and event.anchor is not None:
            raise ScenarioError(f"anchors (&{event.anchor}) are not supported in scenario files; write values out",
                                file=self.file, line=where.line, col=where.col)
        tag = getattr(event, "tag", None)
        if tag == "!" and isinstance(event, ScalarEvent):
            event.tag = tag = STR  # YAML's non-specific "!" makes a scalar a string; PyYAML would resolve it
        allowed = (None, "!", STR) if isinstance(event, ScalarEvent) else (None, "!")
        if tag not in allowed:
            shown = "!!" + tag[len(_CORE):] if tag.startswith(_CORE) else tag
            raise ScenarioError(f"tag {shown} is not allowed: scenario files hold plain data "
                                "(strings, numbers, true/false, null, lists, mappings)",
                                file=self.file, line=where.line, col=where.col)
        if isinstance(event, CollectionStartEvent):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ScenarioError(f"nested more than {MAX_DEPTH} levels deep", file=self.file,
                                    line=where.line, col=where.col)
        try:
            return super().compose_node(parent, index)
        finally:
            if isinstance(event, CollectionStartEvent):
                self.depth -= 1


_DIGITS = list("0123456789")
_RESOLVERS = (  # YAML 1.2.2 core schema (section 10.3.2), in PyYAML's (tag, regexp, first chars) form
    (NULL, r"~|null|Null|NULL|", ["~", "n", "N", ""]),
    (BOOL, r"true|True|TRUE|false|False|FALSE", list("tTfF")),
    (INT, r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", ["-", "+", *_DIGITS]),
    (FLOAT, r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)",
     ["-", "+", ".", *_DIGITS]),
)
for _tag, _regexp, _first in _RESOLVERS:
    _StrictLoader.add_implicit_resolver(_tag, re.compile(f"^(?:{_regexp})$"), _first)


class _Builder:
    """Turns composed nodes into YamlMap / YamlList / scalars, checking keys on the way."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, problem: str, node: Node, path: Path) -> ScenarioError:
        m = _mark(node.start_mark)
        return ScenarioError(problem, file=self.file, line=m.line, col=m.col, path=format_path(path))

    def build(self, node: Node, path: Path) -> Any:
        if isinstance(node, MappingNode):
            return self.mapping(node, path)
        if isinstance(node, SequenceNode):
            out = YamlList(_mark(node.start_mark))
            for i, item in enumerate(node.value):
                out.append(self.build(item, (*path, i)))
                out.item_marks.append(_mark(item.start_mark))
            return out
        return self.scalar(node, path)

    def mapping(self, node: MappingNode, path: Path) -> YamlMap:
        out = YamlMap(_mark(node.start_mark))
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag != STR:
                got = {MappingNode: "a mapping", SequenceNode: "a list"}.get(type(key_node))
                got = got or ("null" if key_node.tag == NULL else key_node.value)
                hint = f"; quote it ('{key_node.value}') if you mean the string" if isinstance(key_node, ScalarNode) else ""
                raise self.fail(f"keys must be strings, got {got}{hint}", key_node, path)
            key = key_node.value
            if key == "<<" and key_node.style is None:
                raise self.fail("merge keys (<<) are not supported in scenario files; write the keys out", key_node, path)
            if key in out:
                first = out.key_marks[key]
                raise self.fail(f"duplicate key {key!r} (first at line {first.line})", key_node, (*path, key))
            out.key_marks[key] = _mark(key_node.start_mark)
            out.value_marks[key] = _mark(value_node.start_mark)
            out[key] = self.build(value_node, (*path, key))
        return out

    def scalar(self, node: ScalarNode, path: Path) -> Any:
        value, tag = node.value, node.tag
        if tag == NULL:
            return None
        if tag == BOOL:
            return value.lower() == "true"
        if tag == INT:
            try:
                if value.startswith(("0o", "0x")):
                    return int(value[2:], 8 if value[1] == "o" else 16)
                return int(value, 10)
            except ValueError:  # Python refuses int() of more than 4300 digits
                raise self.fail(f"integer {value[:20]}... is too long", node, path) from None
        if tag == FLOAT:
            low = value.lower()
            if low.endswith(".inf"):
                return float("-inf") if low.startswith("-") else float("inf")
            return float("nan") if low == ".nan" else float(value)
        return value  # STR (plain, quoted or !!str)


def _decode(data: bytes, file: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScenarioError(f"not a UTF-8 text file (byte 0x{data[e.start]:02x} at offset {e.start} is not UTF-8)",
                            file=file) from None


def _line_col(text: str, pos: int) -> tuple[int, int]:
    return text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)


def _syntax_error(e: yaml.YAMLError, text: str, file: str) -> ScenarioError:
    if isinstance(e, yaml.reader.ReaderError):  # a control character in the text
        line, col = _line_col(text, e.position)
        return ScenarioError(f"not a text file: it contains the character U+{e.character:04X}, which YAML does not allow",
                             file=file, line=line, col=col)
    assert isinstance(e, yaml.MarkedYAMLError)
    if e.context == "expected a single document in the stream":
        problem = "found a second YAML document; a scenario file holds exactly one"
    else:
        problem = f"invalid YAML: {e.problem or e.context}"
        if e.problem and e.context and e.context_mark is not None:
            problem += f" ({e.context} at line {e.context_mark.line + 1})"
    mark = e.problem_mark or e.context_mark
    if mark is None:
        return ScenarioError(problem, file=file)
    return ScenarioError(problem, file=file, line=mark.line + 1, col=mark.column + 1)


def load(text: str | bytes, file: str = "<string>") -> YamlMap:
    """Parse one scenario document; raise :class:`ScenarioError` (with file:line:col) on any problem."""
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise ScenarioError(f"file is {size} bytes; scenario files are limited to 1 MiB", file=file)
    if isinstance(text, bytes):
        text = _decode(text, file)
    if "\0" in text:
        raise ScenarioError("not a UTF-8 text file (it contains NUL bytes)", file=file)
    try:
        loader = _StrictLoader(text, file)  # the reader rejects control characters right here
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        raise _syntax_error(e, text, file) from None
    if node is None or (isinstance(node, ScalarNode) and node.tag == NULL and not node.value):
        raise ScenarioError("file is empty: expected a mapping at the top level", file=file)
    if not isinstance(node, MappingNode):
        got = "a list" if isinstance(node, SequenceNode) else f"the scalar {node.value!r}"
        m = _mark(node.start_mark)
        raise ScenarioError(f"expected a mapping at the top level, got {got}", file=file, line=m.line, col=m.col)
    return _Builder(file).mapping(node, ())


def load_file(path: str | os.PathLike[str]) -> YamlMap:
    """Read and :func:`load` a scenario file; the size limit is checked before reading."""
    file = os.fspath(path)
    try:
        size = os.stat(file).st_size
        if size > MAX_BYTES:
            raise ScenarioError(f"file is {size} bytes; scenario files are limited to 1 MiB", file=file)
        with open(file, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise ScenarioError(f"cannot read file: {e.strerror or e}", file=file) from None
    return load(data, file)


def where(container: Any, key: str | int) -> Mark | None:
    """Mark of ``container[key]``'s value, or None (plain dicts/lists carry no marks)."""
    if isinstance(container, YamlMap):
        return container.value_marks.get(key)  # type: ignore[arg-type]
    if isinstance(container, YamlList) and isinstance(key, int) and 0 <= key < len(container.item_marks):
        return container.item_marks[key]
    return None


def where_key(container: Any, key: str | int) -> Mark | None:
    """Mark of the key ``key`` in a mapping (of the item, for a list), or None."""
    if isinstance(container, YamlMap):
        return container.key_marks.get(key)  # type: ignore[arg-type]
    return where(container, key)


def mark_of(data: Any, path: Path, *, key: bool = False) -> Mark | None:
    """Mark of the value (or, with ``key=True``, the key) at ``path`` from the top of ``data``."""
    if not path:
        return getattr(data, "mark", None)
    parent = data
    for p in path[:-1]:
        try:
            parent = parent[p]
        except (KeyError, IndexError, TypeError):
            return None
    return (where_key if key else where)(parent, path[-1])


def scenario_error(problem: str, file: str, data: Any, path: Path, *, key: bool = False) -> ScenarioError:
    """A ScenarioError located at ``path`` (value, or key with ``key=True``) for validators to raise."""
    m = mark_of(data, path, key=key)
    return ScenarioError(problem, file=file, line=m.line if m else None, col=m.col if m else None,
                         path=format_path(path))
