"""The delivery figure: one stacked bar per producer whose parts add up to what it sent."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.text import Annotation, Text

from kafkasim.check.delivery import analyse
from kafkasim.plot import style
from kafkasim.plot.delivery import delivery_figure, outcomes
from kafkasim.scenario import bundled
from kafkasim.scenario.load import load
from kafkasim.scenario.run import run
from kafkasim.sim.trace import Trace

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
NAMES = ["acks-1-lost-on-failover", "min-isr-not-enough-replicas", "lost-response-duplicate", "acks-all-no-loss"]


@cache
def trace_of(name: str) -> Trace:
    return run(load(str(bundled.path_of(name)))).trace


def synthetic(n: int) -> Trace:
    """``n`` producers on one partition: some acked, lost, failed (two errors), in flight, duplicated."""
    tr = Trace(seed=9, scenario="synthetic")
    tr.append(0, "partition.created", "controller", {"topic": "t", "partition": 0, "replicas": [1]})
    batches: list[list] = []
    for i in range(n):
        p, sent = f"producer-{i}", 50 + 10 * i
        base = {"producer": p, "topic": "t", "partition": 0}
        tr.append(1, "produce.send", p, {**base, "rec": 0, "count": sent, "attempt": 1})
        tr.append(2, "produce.ack", p, {**base, "rec": 0, "count": sent - 15, "offset": len(batches)})
        error = "_MSG_TIMED_OUT" if i % 2 else "NOT_ENOUGH_REPLICAS"
        tr.append(3, "produce.fail", p, {**base, "rec": sent - 15, "count": 10, "error": error})
        lost = 5 if i % 3 == 0 else 0
        batches += [[len(batches), 1, p, r] for r in range(lost, sent - 15)]
        if i % 4 == 0:
            batches.append([len(batches), 1, p, 10])  # a second copy of record 10
    tr.append(4, "log.final", "controller", {
        "topic": "t", "partition": 0, "leader": 1, "leader_epoch": 0, "hw": len(batches), "leo": len(batches),
        "log_start": 0, "offline": False, "isr": [1], "replicas": [], "batches": batches})
    tr.append(5, "run.end", "controller", {})
    return tr


def segments(ax: Axes, producer: str, prefix: str = "seg:") -> dict[str, float]:
    return {p.get_gid().split(":", 2)[-1]: p.get_width() for p in ax.patches
            if (p.get_gid() or "").startswith(f"{prefix}{producer}")}


@pytest.mark.parametrize("name", NAMES)
def test_bars_sum_to_sent_per_producer(name: str) -> None:
    trace = trace_of(name)
    fig = delivery_figure(trace)
    [ax] = fig.axes
    outs = outcomes(trace)
    sent = {s: 0 for s in {e.data["producer"] for e in trace.of("produce.send")}}
    for e in trace.of("produce.send", "produce.ack", "produce.fail"):
        sent[e.data["producer"]] = max(sent[e.data["producer"]], e.data["rec"] + e.data["count"])
    assert {o.producer: o.sent for o in outs} == sent
    for o in outs:
        assert sum(segments(ax, o.producer).values()) == o.sent
    assert sum(o.sent for o in outs) == analyse(trace).stats["sent"]


def test_acks_1_shows_the_lost_records_in_red() -> None:
    [ax] = delivery_figure(trace_of("acks-1-lost-on-failover")).axes
    segs = segments(ax, "checkout")
    assert segs == {"acknowledged (still in the log)": 1701, "acknowledged, then lost": 299}
    [lost] = [p for p in ax.patches if p.get_gid() == "seg:checkout:acknowledged, then lost"]
    assert to_hex(lost.get_facecolor()) == style.LOST_COLOR
    assert {"1701", "299"} <= {t.get_text() for t in ax.texts}


def test_failures_by_error_and_duplicates_beside_the_bar() -> None:
    [ax] = delivery_figure(trace_of("min-isr-not-enough-replicas")).axes
    assert segments(ax, "billing") == {"acknowledged (still in the log)": 2643, "failed: _MSG_TIMED_OUT": 1357}
    [ax] = delivery_figure(trace_of("lost-response-duplicate")).axes
    assert segments(ax, "app") == {"acknowledged (still in the log)": 1000}
    [dup] = [p for p in ax.patches if p.get_gid() == "dup:app"]
    assert (dup.get_x(), dup.get_width()) == (1000, 1)  # after the sent records, not part of them
    assert any("+1 duplicate cop" in t.get_text() for t in ax.texts)


def test_ten_producers_every_category_counted_and_labelled() -> None:
    trace = synthetic(10)
    outs = outcomes(trace)
    stats = analyse(trace).stats
    assert [o.producer for o in outs] == [f"producer-{i}" for i in range(10)]
    assert sum(o.sent for o in outs) == stats["sent"]
    assert sum(o.lost for o in outs) == stats["lost_acknowledged"] == 5 * 4
    assert sum(o.duplicates for o in outs) == stats["duplicates"] == 3
    assert sum(sum(o.failed.values()) for o in outs) == stats["failed"] == 100
    assert sum(o.in_flight for o in outs) == stats["in_flight"] == 50
    fig = delivery_figure(trace)
    [ax] = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"producer-{i}" for i in reversed(range(10))]
    for y, o in enumerate(reversed(outs)):
        assert sum(segments(ax, o.producer).values()) == o.sent
        said = " ".join(t.get_text() for t in ax.texts if row_of(t) == y)
        for label, n, _ in o.segments():
            if n:  # inside the segment, or named in the note beside the bar
                assert re.search(rf"(^|[ :]){n}( {label.split(' (')[0].removeprefix('failed: ')}|$| )", said), \
                    (o.producer, label, n, said)
        assert said.count(f"{o.sent} sent") == 1
        if o.duplicates:
            assert f"+{o.duplicates} duplicate cop" in said
    assert fig.get_size_inches()[1] > delivery_figure(synthetic(1)).get_size_inches()[1]
    assert_legend_outside(fig)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"failed: _MSG_TIMED_OUT", "failed: NOT_ENOUGH_REPLICAS", "in flight (no outcome)"} <= set(labels)


def row_of(text: Text) -> float:
    """The bar a label belongs to: an annotation's anchor, else the text's own position."""
    return round(text.xy[1] if isinstance(text, Annotation) else text.get_position()[1], 6)


def assert_legend_outside(fig: Figure) -> None:
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    legend = fig.legends[0].get_window_extent(renderer)
    assert not any(legend.overlaps(ax.get_window_extent(renderer)) for ax in fig.axes)


def test_title_names_the_scenario_and_seed() -> None:
    fig = delivery_figure(trace_of("acks-1-lost-on-failover"))
    assert "acks-1-lost-on-failover" in fig.get_suptitle() and "seed 7" in fig.get_suptitle()
    assert_legend_outside(fig)


def test_round_trip_and_no_producers(tmp_path: Path) -> None:
    trace = trace_of("acks-1-lost-on-failover")
    trace.save(tmp_path / "t.jsonl")
    assert outcomes(Trace.load(tmp_path / "t.jsonl")) == outcomes(trace)
    with pytest.raises(style.PlotError, match="no produce events"):
        delivery_figure(Trace(scenario="empty"))
