"""The shared indexes the readers use give exactly what the naive scans they replace gave.

Each fast path here (the trace's kind index and memo, interval clipping and adding, the
pipeline's output lookup, the timeline's span widening, the trace loader's fast parse) is
compared with the plain loop it replaced, on generated input.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kafkasim.check import index
from kafkasim.check import intervals as iv
from kafkasim.check.delivery import analyse
from kafkasim.check.pipeline import _Outputs
from kafkasim.plot.timeline import _Widen
from kafkasim.sim.trace import Trace, TraceEvent, TraceFormatError, _parse

KINDS = ["consume", "log.append", "log.final", "lag", "member.assigned"]
kinds = st.lists(st.sampled_from(KINDS), max_size=60)


def _trace(names: list[str]) -> Trace:
    tr = Trace(strict=False)
    for i, k in enumerate(names):
        tr.append(i, k, "n", {"i": i})
    return tr


@settings(max_examples=150, deadline=None)
@given(kinds, kinds, st.lists(st.sampled_from([*KINDS, "nope"]), max_size=4))
def test_of_and_by_kind_are_the_naive_filter_also_after_appends(first: list[str], more: list[str],
                                                                  wanted: list[str]) -> None:
    tr = _trace(first)
    for step in (first, more):
        if step is more:
            for i, k in enumerate(more):  # appended after the index was built: it must extend
                tr.append(100 + i, k, "n", {})
        assert tr.of(*wanted) == [e for e in tr.events if e.kind in set(wanted)]
        assert {k: v for k, v in tr.by_kind().items()} == {
            k: [e for e in tr.events if e.kind == k] for k in dict.fromkeys(e.kind for e in tr.events)}
    tr.events = list(reversed(tr.events))  # a new events list: indexed from scratch
    assert tr.of(*wanted) == [e for e in tr.events if e.kind in set(wanted)]


def test_memo_is_kept_until_the_trace_grows() -> None:
    tr = _trace(["lag", "lag"])
    calls = []

    def build(t: Trace) -> int:
        calls.append(1)
        return len(t)

    assert tr.memo("n", build) == 2 and tr.memo("n", build) == 2 and len(calls) == 1
    tr.append(5, "lag", "n", {})
    assert tr.memo("n", build) == 3 and len(calls) == 2
    fresh = _trace(["lag", "lag"])
    fresh.append(5, "lag", "n", {})
    assert tr == fresh  # the caches are not part of a trace's equality


def test_analyse_hands_out_copies_of_the_shared_report() -> None:
    tr = Trace(strict=False)
    tr.append(1, "produce.send", "p", {"producer": "p", "topic": "t", "partition": 0, "rec": 0, "count": 3})
    first = analyse(tr)
    first.anomalies.append({"kind": "mine"})
    first.stats["sent"] = -1
    again = analyse(tr)
    assert again.anomalies == [] and again.stats["sent"] == 3


merged = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 8)), max_size=12).map(
    lambda xs: iv.merge((lo, lo + n) for lo, n in xs))


@settings(max_examples=300, deadline=None)
@given(merged, st.integers(-5, 70), st.integers(-3, 20))
def test_clip_is_intersect_with_one_range(a: list[tuple[int, int]], lo: int, n: int) -> None:
    assert iv.clip(a, lo, lo + n) == iv.intersect([(lo, lo + n)], a)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(-2, 8)), max_size=20))
def test_add_keeps_the_merge_of_everything_added(ranges: list[tuple[int, int]]) -> None:
    acc: list[tuple[int, int]] = []
    for i, (lo, n) in enumerate(ranges):
        iv.add(acc, lo, lo + n)
        assert acc == iv.merge((a, a + m) for a, m in ranges[:i + 1])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 6)), max_size=15), st.integers(-5, 60),
       st.integers(0, 10))
def test_pipeline_outputs_lookup_misses_no_overlapping_entry(entries: list[tuple[int, int]], lo: int, n: int) -> None:
    outs = _Outputs([(a, c, ("p", "t", 0, i), "x") for i, (a, c) in enumerate(entries)])
    found = outs.overlapping(lo, lo + n)
    assert all(e in outs.entries for e in found)
    assert {e[2] for e in outs.entries if max(e[0], lo) < min(e[0] + e[1], lo + n)} <= {e[2] for e in found}


def _widen_naive(spans: list[tuple[float, float]], a: float, z: float, tol: float) -> tuple[float, float]:
    """The loop zoom_windows used: take in touching spans that stick out until none does."""
    while touching := [(x, y) for x, y in spans if x <= z + tol and y >= a and (x < a or y > z)]:
        a, z = min(a, *(x for x, _ in touching)), max(z, *(y for _, y in touching))
    return a, z


span = st.tuples(st.integers(0, 100), st.integers(0, 30)).map(lambda s: (s[0] / 10, (s[0] + s[1]) / 10))


@settings(max_examples=300, deadline=None)
@given(st.lists(span, max_size=12), span, st.sampled_from([0.0, 0.5, 1.0]))
def test_widen_is_the_naive_fixpoint(spans: list[tuple[float, float]], start: tuple[float, float], tol: float) -> None:
    assert _Widen(spans, tol)(*start) == _widen_naive(spans, *start, tol)


def _loads_naive(text: str) -> list[TraceEvent]:
    """Trace.from_lines as it was: json.loads per non-blank line."""
    events = []
    for lineno, line in enumerate(text.splitlines()[1:], start=2):
        if not line.strip():
            continue
        obj = _parse(line, "<trace>", lineno)  # json.loads and its errors, as the loader had
        try:
            t, seq, kind, node = obj.pop("t"), obj.pop("seq"), obj.pop("kind"), obj.pop("node")
        except KeyError as exc:
            raise TraceFormatError(f"<trace>:{lineno}: event without {exc.args[0]!r}") from None
        events.append(TraceEvent(t, seq, kind, node, obj))
    return events


HEADER = json.dumps({"schema_version": 1, "type": "kafkasim-trace", "seed": 1})
LINES = ['{"t":1,"seq":0,"kind":"a","node":"n","x":[1,{"y":null}]}', "", "  ", "\x0c", ' {"t":1,"seq":0,"kind":"a","node":"n"}',
         '{"t":1,"seq":0,"kind":"a","node":"n"} {"t":2}', '{"t":1,"seq":0,"kind":"a","node":"n"}x', "[1, 2]", "3",
         '{"t":1,"kind":"a","node":"n"}', '{"t":1,', "NaN", '{"t":NaN,"seq":0,"kind":"a","node":"n"}',
         '\ufeff{"t":1,"seq":0,"kind":"a","node":"n"}', '{"t":1,"seq":0,"kind":"a","node":"n"}\t \r',
         '{"t":1,"seq":0,"kind":"a","node":"n","t":5}', "{}"]


@pytest.mark.parametrize("second", LINES)
@pytest.mark.parametrize("first", LINES)
def test_fast_loader_accepts_and_refuses_what_json_loads_did(first: str, second: str) -> None:
    text = "\n".join([HEADER, first, second]) + "\n"
    try:
        want: object = _loads_naive(text)
    except TraceFormatError as exc:
        want = str(exc)
    try:
        got: object = Trace.loads(text).events
    except TraceFormatError as exc:
        got = str(exc)
    assert got == want


def test_finals_and_visible_are_shared_and_follow_the_last_final_log() -> None:
    tr = Trace(strict=False)
    for hw in (1, 2):
        tr.append(9, "log.final", "b", {"topic": "t", "partition": 0, "leader": 1, "leader_epoch": 0, "hw": hw,
                                        "leo": 2, "log_start": 0, "offline": False, "isr": [1], "replicas": [],
                                        "batches": [[0, 2, "p", 0]]})
    assert index.finals(tr) is index.finals(tr) and index.finals(tr)[("t", 0)].hw == 2
    assert index.visible(tr) == {("t", 0): [(0, 2, "p", 0, "visible")]}
