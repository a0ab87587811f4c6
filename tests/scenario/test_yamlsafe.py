"""The strict scenario YAML loader: YAML 1.2 values, marks for every node, located errors."""

from __future__ import annotations

import copy
import json
import math
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkasim.errors import ScenarioError
from kafkasim.scenario.yamlsafe import (
    MAX_BYTES,
    Mark,
    YamlList,
    YamlMap,
    format_path,
    load,
    load_file,
    mark_of,
    scenario_error,
    suggest,
    where,
    where_key,
)

DOC = textwrap.dedent("""\
    cluster:
      brokers: 3
      config:
        min.insync.replicas: 2
    producers:
      - id: p1
        config:
          acks: all
          linger.ms: 5
      - id: p2
        config: {acks: 1, enable.idempotence: false}
    expect:
      lost_acknowledged: ">0"
""")


def fails(text: str | bytes, file: str = "s.yaml") -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load(text, file)
    return info.value


def one(value: str):
    """The value of ``v`` in the one-line document ``v: <value>``."""
    return load(f"v: {value}\n")["v"]


# -- plain data ----------------------------------------------------------------------------------

def test_result_is_plain_python_data():
    data = load(DOC, "s.yaml")
    assert data == {
        "cluster": {"brokers": 3, "config": {"min.insync.replicas": 2}},
        "producers": [{"id": "p1", "config": {"acks": "all", "linger.ms": 5}},
                      {"id": "p2", "config": {"acks": 1, "enable.idempotence": False}}],
        "expect": {"lost_acknowledged": ">0"},
    }
    assert isinstance(data, dict) and isinstance(data["producers"], list)
    assert list(data) == ["cluster", "producers", "expect"]  # insertion order
    assert json.loads(json.dumps(data)) == data
    assert copy.deepcopy(data) == data and copy.deepcopy(data)["cluster"].mark == Mark(2, 3)


@pytest.mark.parametrize(("text", "value"), [
    ("true", True), ("True", True), ("TRUE", True), ("false", False), ("False", False), ("FALSE", False),
    ("null", None), ("~", None), ("Null", None), ("NULL", None), ("", None),
    ("17", 17), ("-3", -3), ("+12", 12), ("0", 0), ("017", 17), ("0o17", 15), ("0x1F", 31), ("0x1f", 31),
    ("1.5", 1.5), ("1e3", 1000.0), ("1E3", 1000.0), ("-2.5e-1", -0.25), (".5", 0.5), ("1.", 1.0),
    (".inf", math.inf), ("-.inf", -math.inf), ("+.INF", math.inf),
    ("'17'", "17"), ('"true"', "true"), ("!!str 17", "17"), ("! 17", "17"),
])
def test_yaml_1_2_core_scalars(text, value):
    got = one(text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("text", [
    "yes", "no", "on", "off", "y", "n", "Yes", "NO", "On", "OFF",  # YAML 1.1 booleans
    "1:30", "190:20:30",  # YAML 1.1 sexagesimal
    "1_000_000", "0b1010", "-0x1F", "0o8",  # not YAML 1.2 core integers
    "2024-01-01", "2001-12-14t21:59:43.10-05:00",  # YAML 1.1 timestamps
    "=", "<<x", "nan", "inf", ".Inf.", "tRue",
])
def test_yaml_1_1_traps_stay_strings(text):
    assert one(text) == text


def test_nan():
    assert math.isnan(one(".nan")) and math.isnan(one(".NaN"))


def test_bom_and_crlf_are_fine():
    assert load("\ufeffa: 1\r\nb: 2\r\n") == {"a": 1, "b": 2}
    assert load(b"\xef\xbb\xbfa: 1\n") == {"a": 1}


# -- marks ---------------------------------------------------------------------------------------

def test_marks_for_nested_keys_and_values():
    data = load(DOC, "s.yaml")
    assert mark_of(data, ()) == Mark(1, 1)
    assert mark_of(data, ("cluster", "config", "min.insync.replicas")) == Mark(4, 26)
    assert mark_of(data, ("cluster", "config", "min.insync.replicas"), key=True) == Mark(4, 5)
    assert mark_of(data, ("producers", 0, "config", "linger.ms")) == Mark(9, 18)
    assert mark_of(data, ("producers", 0, "config", "linger.ms"), key=True) == Mark(9, 7)
    flow_line = DOC.splitlines()[10]
    col = flow_line.index("false") + 1
    assert mark_of(data, ("producers", 1, "config", "enable.idempotence")) == Mark(11, col) == Mark(11, 43)
    assert mark_of(data, ("expect", "lost_acknowledged")) == Mark(13, 22)


def test_marks_for_list_items():
    data = load(DOC)
    assert mark_of(data, ("producers",)) == Mark(6, 3)  # a block sequence starts at its first "-"
    assert mark_of(data, ("producers", 0)) == Mark(6, 5)
    assert mark_of(data, ("producers", 1)) == Mark(10, 5)
    assert mark_of(data, ("producers", 1), key=True) == Mark(10, 5)
    flow = load("xs: [a, bb, ccc]\n")["xs"]
    assert isinstance(flow, YamlList) and flow.item_marks == [Mark(1, 6), Mark(1, 9), Mark(1, 13)]
    assert where(flow, 2) == Mark(1, 13) and where(flow, 3) is None and where(flow, "x") is None


def test_where_helpers():
    data = load(DOC)
    cluster = data["cluster"]
    assert isinstance(cluster, YamlMap) and cluster.mark == Mark(2, 3)
    assert where(cluster, "brokers") == Mark(2, 12) and where_key(cluster, "brokers") == Mark(2, 3)
    line, col = where(cluster, "brokers")  # a Mark unpacks
    assert (line, col) == (2, 12) and str(Mark(2, 12)) == "2:12"
    assert where(cluster, "missing") is None and where({"plain": 1}, "plain") is None
    assert mark_of(data, ("nope", "x")) is None and mark_of(data, ("cluster", "brokers", "x")) is None
    assert mark_of({"a": 1}, ()) is None


def test_scenario_error_at_a_path():
    data = load(DOC)
    e = scenario_error("is below group.min.session.timeout.ms", "s.yaml", data, ("producers", 0, "config", "linger.ms"))
    assert str(e) == "s.yaml:9:18: producers[0].config.linger.ms: is below group.min.session.timeout.ms"
    e = scenario_error("unknown key", "s.yaml", data, ("cluster", "brokers"), key=True)
    assert (e.line, e.col, e.path) == (2, 3, "cluster.brokers")
    e = scenario_error("missing", "s.yaml", data, ("cluster", "zzz"))
    assert e.line is None and str(e) == "s.yaml: cluster.zzz: missing"


def test_format_path():
    assert format_path(("producers", 0, "config", "acks")) == "producers[0].config.acks"
    assert format_path(()) == "" and format_path((3,)) == "[3]" and format_path(("a", 1, 2)) == "a[1][2]"


def test_suggest_is_shared_with_config():
    from kafkasim import config
    assert suggest is config.suggest
    assert suggest("topcs", ["topics", "cluster"]) == " (did you mean 'topics'?)"


# -- rejected input ------------------------------------------------------------------------------

def test_duplicate_keys_with_both_positions():
    e = fails("a: 1\nproducer:\n  acks: all\n  linger.ms: 5\n  acks: 1\n")
    assert (e.file, e.line, e.col, e.path) == ("s.yaml", 5, 3, "producer.acks")
    assert e.problem == "duplicate key 'acks' (first at line 3)"
    assert str(e) == "s.yaml:5:3: producer.acks: duplicate key 'acks' (first at line 3)"
    e = fails("xs:\n  - {a: 1, a: 2}\n")
    assert (e.line, e.col, e.path) == (2, 12, "xs[0].a")
    assert fails("a: 1\na: 1\n").line == 2


@pytest.mark.parametrize(("text", "got"), [("1: a", "got 1"), ("true: a", "got true"), ("~: a", "got null"),
                                           ("1.5: a", "got 1.5"), ("? [a]\n: b", "got a list"),
                                           ("? {a: 1}\n: b", "got a mapping")])
def test_keys_must_be_strings(text, got):
    e = fails(text)
    assert e.problem.startswith(f"keys must be strings, {got}") and e.line == 1


def test_quoted_keys_are_strings():
    assert load("'1': a\n\"true\": b\n'<<': c") == {"1": "a", "true": "b", "<<": "c"}


@pytest.mark.parametrize(("text", "tag"), [
    ("a: !!python/object:os.system x", "!!python/object:os.system"),
    ("a: !!python/object/apply:os.system ['echo hi']", "!!python/object/apply:os.system"),
    ("a: !foo x", "!foo"), ("a: !!int 3", "!!int"), ("a: !!binary aGk=", "!!binary"),
    ("a: !!timestamp 2024-01-01", "!!timestamp"), ("a: !!set {x}", "!!set"), ("a: !!str {x: 1}", "!!str"),
    ("a: !<tag:example.com,2000:x> 1", "tag:example.com,2000:x"),
])
def test_tags_are_rejected_by_name(text, tag):
    e = fails(text)
    assert f"tag {tag} is not allowed" in e.problem and (e.line, e.col) == (1, 4)


def test_anchors_aliases_and_merge_keys_are_rejected():
    assert "anchors (&x)" in fails("a: &x 1\nb: 2\n").problem
    e = fails("a: 1\nb: *x\n")  # an alias is refused before PyYAML looks its anchor up
    assert "aliases (*x)" in e.problem and (e.line, e.col) == (2, 4)
    assert "merge keys (<<)" in fails("<<: {a: 1}\n").problem


def test_billion_laughs_is_impossible():
    lol = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    lol += "".join(f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    assert "anchors" in fails(lol).problem


def test_deep_nesting_is_refused_without_recursion_error():
    e = fails("a: " + "[" * 5000 + "]" * 5000)
    assert "nested more than 64 levels" in e.problem
    load("a: " + "[" * 60 + "]" * 60)


def test_syntax_error_is_located():
    e = fails("cluster:\n  brokers: 3\n  config: [1, 2\nproducers: []\n")
    assert e.problem.startswith("invalid YAML: ") and e.line is not None and e.col is not None
    assert "Traceback" not in str(e) and "\n" not in str(e)
    e = fails("a: b: c\n")
    assert (e.line, e.col) == (1, 5) and "mapping values are not allowed here" in e.problem
    e = fails("a:\n\t- b\n")
    assert e.line == 2


def test_empty_file():
    for text in ("", "   \n\n", "# just a comment\n", "---\n"):
        e = fails(text)
        assert e.problem == "file is empty: expected a mapping at the top level" and e.file == "s.yaml"


@pytest.mark.parametrize(("text", "got"), [("- a\n- b\n", "a list"), ("hello\n", "the scalar 'hello'"),
                                           ("42", "the scalar '42'")])
def test_top_level_must_be_a_mapping(text, got):
    e = fails(text)
    assert e.problem == f"expected a mapping at the top level, got {got}" and (e.line, e.col) == (1, 1)


def test_one_document_only():
    e = fails("a: 1\n---\nb: 2\n")
    assert "second YAML document" in e.problem and e.line == 2


def test_binary_garbage():
    assert fails(bytes(range(256))).problem.startswith("not a UTF-8 text file")
    assert fails(b"a: \xff\xfe\n").problem == "not a UTF-8 text file (byte 0xff at offset 3 is not UTF-8)"
    assert fails("a: 1\x00\x00").problem == "not a UTF-8 text file (it contains NUL bytes)"
    e = fails("a: 1\nb: \x07\n")
    assert "U+0007" in e.problem and (e.line, e.col) == (2, 4)


def test_huge_integer_is_an_error_not_a_crash():
    assert "too long" in fails("a: " + "9" * 5000).problem


def test_size_limit_checked_before_parsing():
    text = "a: [" + "1," * (5 * 1024 * 1024) + "1]\n"  # 10 MiB: parsing it would take minutes
    e = fails(text)
    assert e.problem == f"file is {len(text)} bytes; scenario files are limited to 1 MiB"
    assert e.line is None
    load("a: '" + "x" * (MAX_BYTES - 10) + "'")  # just under the limit is fine


def test_load_file(tmp_path):
    good = tmp_path / "ok.yaml"
    good.write_text(DOC, encoding="utf-8")
    assert load_file(good)["cluster"]["brokers"] == 3
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:
        f.truncate(10 * 1024 * 1024)
    e = load_file_fails(big)
    assert e.problem == "file is 10485760 bytes; scenario files are limited to 1 MiB" and e.file == str(big)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert load_file_fails(binary).problem.startswith("not a UTF-8 text file")
    dup = tmp_path / "dup.yaml"
    dup.write_text("a: 1\na: 2\n")
    assert str(load_file_fails(dup)) == f"{dup}:2:1: a: duplicate key 'a' (first at line 1)"
    assert "cannot read file" in load_file_fails(tmp_path / "missing.yaml").problem
    assert "cannot read file" in load_file_fails(tmp_path).problem


def load_file_fails(path) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_file(path)
    return info.value


# -- fuzzing: data or ScenarioError, never anything else ----------------------------------------

def _load_or_scenario_error(text: str) -> None:
    try:
        data = load(text, "fuzz.yaml")
    except ScenarioError as e:
        assert e.file == "fuzz.yaml" and e.problem
        return
    assert isinstance(data, YamlMap)


YAML_CHARS = st.sampled_from(list(DOC) + list("&*!%@`|>?-:{}[],#'\"\\\t\r\n\x00\x07\x85\u2028\ufeff\ud800é~<.0x_"))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_random_text_loads_or_raises_scenario_error(text):
    _load_or_scenario_error(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(DOC)), st.integers(0, 3), YAML_CHARS), min_size=1, max_size=8))
def test_mutated_document_loads_or_raises_scenario_error(edits):
    chars = list(DOC)
    for pos, length, ch in edits:
        pos = min(pos, len(chars))
        chars[pos:pos + length] = [ch]  # replace 0-3 characters with one
    _load_or_scenario_error("".join(chars))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_load_or_raise_scenario_error(data):
    try:
        load(data, "fuzz.yaml")
    except ScenarioError:
        pass
