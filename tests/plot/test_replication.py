"""The replication figure draws the trace's data: LEO per replica, HW, leader changes, losses."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from kafkasim.plot import style
from kafkasim.plot.replication import histories, replication_figure
from kafkasim.scenario import bundled
from kafkasim.scenario.load import load
from kafkasim.scenario.run import run
from kafkasim.sim.trace import Trace

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@cache
def trace_of(name: str) -> Trace:
    return run(load(str(bundled.path_of(name)))).trace


@cache
def figure_of(name: str) -> Figure:
    return replication_figure(trace_of(name))


def main_axes(fig: Figure) -> list[Axes]:
    return [ax for ax in fig.axes if any(line.get_gid() == "hw" for line in ax.get_lines())]


def lines(ax: Axes, prefix: str) -> list[Line2D]:
    return [line for line in ax.get_lines() if (line.get_gid() or "").startswith(prefix)]


def lost_patches(fig: Figure) -> list:
    return [p for ax in fig.axes for p in ax.patches if p.get_gid() == "lost"]


def test_one_leo_line_per_replica_in_its_broker_colour() -> None:
    trace = trace_of("acks-1-lost-on-failover")
    [created] = trace.of("partition.created")
    [ax] = main_axes(figure_of("acks-1-lost-on-failover"))
    leo = lines(ax, "leo:")
    assert sorted(line.get_gid() for line in leo) == [f"leo:{b}" for b in sorted(created.data["replicas"])]
    for line in leo:
        broker = int(line.get_gid().split(":")[1])
        assert to_hex(line.get_color()) == style.broker_color(broker)
        assert line.get_label() == f"broker-{broker} LEO"


def test_leader_leo_follows_its_appends_and_drops_at_truncation() -> None:
    trace = trace_of("acks-1-lost-on-failover")
    [ax] = main_axes(figure_of("acks-1-lost-on-failover"))
    [b1] = lines(ax, "leo:1")
    [trunc] = trace.of("log.truncate")
    points = list(zip(b1.get_xdata(), b1.get_ydata(), strict=True))
    top = max(e.data["offset"] + e.data["count"] for e in trace.of("log.append") if e.node == "broker-1")
    assert max(y for x, y in points if x < trunc.t / 1000) == top == 800  # broker-1 led until the crash
    assert (trunc.t / 1000, trunc.data["offset"]) in points  # then dropped to the new leader's 500
    assert points[-1][1] == trace.of("log.final")[0].data["replicas"][0]["leo"]  # and caught up
    [marker] = lines(ax, "truncate:1")
    assert list(marker.get_xdata()) == [trunc.t / 1000]


@pytest.mark.parametrize("name", ["acks-1-lost-on-failover", "acks-all-no-loss", "unclean-election-enabled"])
def test_hw_line_ends_at_the_final_high_watermark(name: str) -> None:
    trace = trace_of(name)
    [final] = trace.of("log.final")
    [ax] = main_axes(figure_of(name))
    [hw] = lines(ax, "hw")
    assert hw.get_ydata()[-1] == final.data["hw"]
    assert hw.get_xdata()[-1] == style.end_ms(trace) / 1000
    assert hw.get_linestyle() == "--"


def test_hw_drops_to_the_new_leaders_own_after_an_unclean_election() -> None:
    trace = trace_of("unclean-election-enabled")
    [ax] = main_axes(figure_of("unclean-election-enabled"))
    [hw] = lines(ax, "hw")
    [elected] = [e for e in trace.of("leader.elected") if e.data["election"] == "unclean"]
    ys = [y for x, y in zip(hw.get_xdata(), hw.get_ydata(), strict=True) if x == elected.t / 1000]
    assert ys and ys[-1] <= 100  # the unclean leader had only the first 100 records


@pytest.mark.parametrize("name,unclean", [("acks-1-lost-on-failover", False), ("unclean-election-enabled", True)])
def test_leader_change_marked_at_election_time(name: str, unclean: bool) -> None:
    [ax] = main_axes(figure_of(name))
    changes = [e for e in trace_of(name).of("leader.elected") if e.data["election"] != "initial"]
    assert len(changes) == 1
    ev = changes[0]
    [vline] = lines(ax, "leader:")
    assert vline.get_gid() == f"leader:{ev.data['leader_epoch']}"
    assert list(vline.get_xdata()) == [ev.t / 1000] * 2
    label = f"leader broker-{ev.data['leader']}, epoch {ev.data['leader_epoch']}"
    texts = [t.get_text() for t in ax.texts]
    assert any(t.startswith(label) for t in texts)
    assert any("(unclean)" in t for t in texts) == unclean


def test_lost_records_shaded_at_their_acked_offsets_and_times() -> None:
    trace = trace_of("acks-1-lost-on-failover")
    fig = figure_of("acks-1-lost-on-failover")
    [rect] = lost_patches(fig)
    assert rect.get_label() == "acknowledged, then lost (299)"
    acked = [e for e in trace.of("produce.ack") if 501 <= e.data["rec"] < 800]  # the lost records
    assert rect.get_y() == min(e.data["offset"] for e in acked) == 501
    assert rect.get_height() == 299
    assert rect.get_x() == pytest.approx(min(e.t for e in acked) / 1000)
    assert rect.get_x() + rect.get_width() == pytest.approx(max(e.t for e in acked) / 1000)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "acknowledged, then lost (299)" in labels


@pytest.mark.parametrize("name", ["acks-all-no-loss", "min-isr-not-enough-replicas", "lost-response-duplicate"])
def test_no_lost_highlight_without_a_lost_write(name: str) -> None:
    assert lost_patches(figure_of(name)) == []


def test_faults_and_isr_in_the_strip() -> None:
    hists, faults, end = histories(trace_of("acks-1-lost-on-failover"))
    assert faults.down == {1: [(8.0, 30.0)]}
    assert [(t0, t1) for t0, t1, _ in faults.cuts] == [(5.0, 9.0), (5.0, 9.0)]
    kinds = {(t, kind) for t, kind, b in faults.marks if b == 1}
    assert {(5.0, "net.cut"), (8.0, "broker.crash"), (9.0, "net.heal"), (30.0, "broker.restart")} <= kinds
    [h] = hists.values()
    assert h.isr[-1] == (30.51, (1, 2, 3))  # back in the ISR at its first fetch after it is unfenced
    strip = [ax for ax in figure_of("acks-1-lost-on-failover").axes if ax.get_xlabel()]
    [ax] = strip
    assert {c.get_gid() for c in ax.collections} >= {"isr:1", "down:1", "leader-span:2"}
    assert [t.get_text() for t in ax.get_yticklabels()] == ["broker-3", "broker-2", "broker-1"]


def test_broker_colour_is_the_same_across_figures() -> None:
    colours = {name: {line.get_gid(): to_hex(line.get_color()) for line in lines(main_axes(figure_of(name))[0], "leo:")}
               for name in ("acks-1-lost-on-failover", "min-isr-not-enough-replicas")}
    assert colours["acks-1-lost-on-failover"]["leo:1"] == colours["min-isr-not-enough-replicas"]["leo:1"]
    assert colours["acks-1-lost-on-failover"] == colours["min-isr-not-enough-replicas"]


def test_partition_colours_follow_sorted_partitions_not_dict_order() -> None:
    a, b = Trace(), Trace()
    for topic, p in [("z", 0), ("a", 1), ("a", 0)]:
        a.append(0, "partition.created", "controller", {"topic": topic, "partition": p, "replicas": [1]})
    for topic, p in [("a", 0), ("z", 0), ("a", 1)]:
        b.append(0, "partition.created", "controller", {"topic": topic, "partition": p, "replicas": [1]})
    for key in [("a", 0), ("a", 1), ("z", 0)]:
        assert style.partition_color(a, *key) == style.partition_color(b, *key)
    assert len({style.partition_color(a, *k) for k in style.partitions(a)}) == 3


def test_round_trip_through_a_saved_trace(tmp_path: Path) -> None:
    trace = trace_of("acks-1-lost-on-failover")
    trace.save(tmp_path / "trace.jsonl")
    loaded = Trace.load(tmp_path / "trace.jsonl")
    [mem] = main_axes(figure_of("acks-1-lost-on-failover"))
    [disk] = main_axes(replication_figure(loaded))
    for gid in ("hw", "leo:1", "leo:2", "leo:3", "leader:"):
        [x], [y] = lines(mem, gid), lines(disk, gid)
        assert list(x.get_xdata()) == list(y.get_xdata()) and list(x.get_ydata()) == list(y.get_ydata())
    assert [p.get_bbox().bounds for p in lost_patches(replication_figure(loaded))] == \
        [p.get_bbox().bounds for p in lost_patches(figure_of("acks-1-lost-on-failover"))]


def test_legend_sits_outside_every_axes() -> None:
    fig = figure_of("unclean-election-enabled")
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    legend = fig.legends[0].get_window_extent(renderer)
    for ax in fig.axes:
        assert not legend.overlaps(ax.get_window_extent(renderer))
    assert "unclean-election-enabled" in fig.get_suptitle() and "seed 3" in fig.get_suptitle()


MANY = """\
name: many-partitions
seed: 1
duration_ms: 20000
cluster: {brokers: 3}
topics:
  - {name: orders, partitions: 6, replication_factor: 2}
producers:
  - name: p
    config: {acks: "1", enable.idempotence: false}
    workload: {topic: orders, count: 600, rate_per_s: 60, key: {cardinality: 60}}
faults:
  - {at_ms: 4000, action: crash, target: broker-1}
  - {at_ms: 12000, action: restart, target: broker-1}
"""


def test_many_partitions_show_the_eventful_ones_and_say_what_was_left_out(tmp_path: Path) -> None:
    (tmp_path / "many.yaml").write_text(MANY)
    trace = run(load(str(tmp_path / "many.yaml"))).trace
    hists, _, _ = histories(trace)
    fig = replication_figure(trace)
    shown = main_axes(fig)
    assert 1 <= len(shown) < len(hists) == 6
    titles = [ax.get_title(loc="left").split()[0] for ax in shown]
    omitted = [f"orders-{p}" for p in range(6) if f"orders-{p}" not in titles]
    assert all(hists[("orders", int(t.split("-")[1]))].score() > 0 for t in titles)
    assert f"{len(shown)} of 6 partitions shown" in fig.get_suptitle()
    assert all(name in fig.get_suptitle() for name in omitted)
    [one] = main_axes(replication_figure(trace, topic="orders", partition=5))
    assert one.get_title(loc="left").startswith("orders-5")
    with pytest.raises(style.PlotError, match="no partition orders-9"):
        replication_figure(trace, topic="orders", partition=9)
