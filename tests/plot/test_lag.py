"""The lag figure draws the trace's ``lag`` samples, its rebalances and its crash/close moments."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from kafkasim.plot import style
from kafkasim.plot.lag import lag_figure
from kafkasim.scenario import bundled
from kafkasim.scenario.load import load, loads
from kafkasim.scenario.run import run
from kafkasim.sim.trace import Trace

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
CRASH_AND_CLOSE = """
name: lag-crash-and-close
description: Four members on 16 partitions; one crashes, one closes; a slow producer keeps lag moving.
seed: 3
duration_ms: 25000
cluster: {brokers: 3}
topics: [{name: events, partitions: 16, replication_factor: 1}]
producers:
  - {name: src, workload: {topic: events, count: 600, rate_per_s: 30, key: {pattern: "k-{n}", cardinality: 64}}}
consumers:
  - {name: sink, members: 4, topics: [events], config: {group.id: sinks, auto.offset.reset: earliest}}
faults:
  - {at_ms: 8000, action: crash, target: sink-2}
  - {at_ms: 12000, action: close, target: sink-3}
"""


@cache
def trace_of(name: str) -> Trace:
    if name == "crash-and-close":
        return run(loads(CRASH_AND_CLOSE)).trace
    return run(load(str(bundled.path_of(name)))).trace


@cache
def figure_of(name: str) -> Figure:
    return lag_figure(trace_of(name))


def panels(fig: Figure) -> dict[str, Axes]:
    return {ax.get_gid().split(":", 1)[1]: ax for ax in fig.axes if (ax.get_gid() or "").startswith("lag:")}


def lag_lines(ax: Axes) -> dict[tuple[str, int], Line2D]:
    out = {}
    for line in ax.get_lines():
        gid = line.get_gid() or ""
        if gid.startswith("lag:"):
            _, _, topic, p = gid.split(":")
            out[(topic, int(p))] = line
    return out


@pytest.mark.parametrize("name", ["poll-timeout-eviction", "broadcast", "crash-and-close"])
def test_one_line_per_group_and_partition_ending_at_the_last_sample(name: str) -> None:
    trace = trace_of(name)
    fig = figure_of(name)
    samples: dict[tuple[str, str, int], list[tuple[float, int]]] = {}
    for e in trace.of("lag"):
        samples.setdefault((e.data["group"], e.data["topic"], e.data["partition"]), []).append((e.t / 1000, e.data["lag"]))
    drawn = {(g, *tp): line for g, ax in panels(fig).items() for tp, line in lag_lines(ax).items()}
    assert drawn.keys() == samples.keys()
    for key, points in samples.items():
        line = drawn[key]
        assert list(line.get_ydata()) == [v for _, v in points]
        assert list(line.get_xdata()) == pytest.approx([t for t, _ in points])
        assert line.get_ydata()[-1] == points[-1][1]
        assert to_hex(line.get_color()) == style.partition_color(trace, key[1], key[2])


def test_rebalances_are_shaded_from_rebalance_to_stable() -> None:
    trace = trace_of("poll-timeout-eviction")
    ax = panels(figure_of("poll-timeout-eviction"))["renderers"]
    shaded = [(p.get_x(), p.get_x() + p.get_width()) for p in ax.patches if (p.get_gid() or "").startswith("rebalance:")]
    starts = []
    for e in trace.of("group.rebalance", "group.stable", "group.state"):
        if e.kind == "group.rebalance" and (not starts or starts[-1][1] is not None):
            starts.append([e.t / 1000, None])
        elif starts and starts[-1][1] is None and (e.kind == "group.stable" or e.data.get("state") == "Empty"):
            starts[-1][1] = e.t / 1000
    end = style.end_ms(trace) / 1000
    want = [(a, end if z is None else z) for a, z in starts]
    assert [x for iv in shaded for x in iv] == pytest.approx([x for iv in want for x in iv])
    marks = [line for line in ax.get_lines() if line.get_gid() == "event:poll_timeout:renderer"]
    assert [line.get_xdata()[0] for line in marks] == pytest.approx([e.t / 1000 for e in trace.of("consumer.poll_timeout")])


def test_crash_and_close_are_marked_where_they_happened() -> None:
    trace = trace_of("crash-and-close")
    ax = panels(figure_of("crash-and-close"))["sinks"]
    gids = {line.get_gid(): line.get_xdata()[0] for line in ax.get_lines() if (line.get_gid() or "").startswith("event:")}
    [crash], [close] = trace.of("app.crash"), trace.of("app.close")
    assert gids["event:crash:sink-2"] == pytest.approx(crash.t / 1000)
    assert gids["event:close:sink-3"] == pytest.approx(close.t / 1000)
    texts = [t.get_text() for t in ax.texts]
    assert " sink-2 crashed" in texts and " sink-3 closed" in texts


def test_many_partitions_add_the_largest_lag_per_sample() -> None:
    trace = trace_of("crash-and-close")
    ax = panels(figure_of("crash-and-close"))["sinks"]
    [top] = [line for line in ax.get_lines() if line.get_gid() == "lag-max:sinks"]
    worst: dict[float, int] = {}
    for e in trace.of("lag"):
        worst[e.t / 1000] = max(worst.get(e.t / 1000, 0), e.data["lag"])
    assert list(top.get_ydata()) == [worst[t] for t in sorted(worst)]


def test_title_group_filter_and_errors() -> None:
    trace = trace_of("broadcast")
    fig = figure_of("broadcast")
    assert list(panels(fig)) == ["bar", "foo"]
    assert "scenario broadcast, seed 1" in fig.get_suptitle()
    assert all(ax.get_ylabel() == "lag (records)" and ax.get_xlabel() == "simulated time (s)" for ax in panels(fig).values())
    assert list(panels(lag_figure(trace, "foo"))) == ["foo"]
    with pytest.raises(style.PlotError, match="no lag samples for group nope in this trace \\(it has: bar, foo\\)"):
        lag_figure(trace, "nope")
    with pytest.raises(style.PlotError, match="no lag samples in this trace"):
        lag_figure(Trace(scenario="empty"))
