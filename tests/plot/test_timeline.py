"""The rebalance timeline draws the trace's data: ownership bars, rebalance spans, marks, colours."""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from kafkasim.plot import style
from kafkasim.plot.timeline import compare_timelines, timeline_figure
from kafkasim.scenario import bundled
from kafkasim.scenario.load import load, loads
from kafkasim.scenario.run import run
from kafkasim.sim.trace import Trace

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
TP = tuple[str, int]
WIDE = """
name: wide-group
description: 50 partitions, six cooperative members; one joins late, one crashes, one closes.
seed: 5
duration_ms: 30000
cluster: {brokers: 3}
topics: [{name: clicks, partitions: 50, replication_factor: 1}]
producers:
  - {name: web, workload: {topic: clicks, count: 500, rate_per_s: 50, key: {pattern: "u-{n}", cardinality: 200}}}
consumers:
  - name: agg
    members: 5
    topics: [clicks]
    config: {group.id: agg, auto.offset.reset: earliest, partition.assignment.strategy: [cooperative-sticky]}
  - name: agg-late
    start_ms: 8000
    topics: [clicks]
    config: {group.id: agg, auto.offset.reset: earliest, partition.assignment.strategy: [cooperative-sticky]}
faults:
  - {at_ms: 14000, action: crash, target: agg-2}
  - {at_ms: 20000, action: close, target: agg-4}
"""


@cache
def trace_of(name: str) -> Trace:
    if name == "wide":
        return run(loads(WIDE)).trace
    return run(load(str(bundled.path_of(name)))).trace


@cache
def figure_of(name: str) -> Figure:
    return timeline_figure(trace_of(name))


def ownership(trace: Trace) -> dict[tuple[str, TP], list[tuple[float, float]]]:
    """Independent derivation: (consumer, partition) -> owned intervals in seconds."""
    owned: dict[str, dict[TP, int]] = defaultdict(dict)
    out: dict[tuple[str, TP], list[tuple[float, float]]] = defaultdict(list)

    def close(c: str, tp: TP, t: int) -> None:
        out[(c, tp)].append((owned[c].pop(tp) / 1000, t / 1000))

    for ev in trace:
        c, parts = ev.node, {(t, p) for t, p in ev.data.get("partitions", ())}
        if ev.kind == "member.assigned":
            for tp in set(owned[c]) - parts:
                close(c, tp, ev.t)
            owned[c].update({tp: ev.t for tp in parts if tp not in owned[c]})
        elif ev.kind in ("member.revoked", "member.lost"):
            for tp in parts & set(owned[c]):
                close(c, tp, ev.t)
        elif ev.kind in ("app.crash", "app.fatal", "app.close"):
            for tp in list(owned[c]):
                close(c, tp, ev.t)
    for c in owned:
        for tp in list(owned[c]):
            close(c, tp, style.end_ms(trace))
    return {k: sorted(v) for k, v in out.items()}


def episodes(trace: Trace, group: str) -> list[tuple[float, float | None]]:
    """group.rebalance .. group.stable (or the group going Empty), in seconds."""
    out: list[list[float | None]] = []
    for ev in trace.of("group.rebalance", "group.stable", "group.state"):
        if ev.data["group"] != group:
            continue
        is_open = bool(out) and out[-1][1] is None
        if ev.kind == "group.rebalance" and not is_open:
            out.append([ev.t / 1000, None])
        elif is_open and (ev.kind == "group.stable" or ev.data.get("state") == "Empty"):
            out[-1][1] = ev.t / 1000
    return [(a, z) for a, z in out]  # type: ignore[misc]


def main_axes(fig: Figure) -> list[Axes]:
    return [ax for ax in fig.axes if (ax.get_gid() or "").startswith("timeline:")]


def zoom_axes(fig: Figure) -> list[Axes]:
    return [ax for ax in fig.axes if (ax.get_gid() or "").startswith("zoom:")]


def drawn_bars(ax: Axes) -> dict[tuple[str, TP], list[tuple[float, float]]]:
    out = {}
    for coll in ax.collections:
        gid = coll.get_gid() or ""
        if gid.startswith("own:"):
            _, consumer, topic, p = gid.split(":")
            xs = [(min(path.vertices[:, 0]), max(path.vertices[:, 0])) for path in coll.get_paths()]
            out[(consumer, (topic, int(p)))] = sorted((float(a), float(z)) for a, z in xs)
    return out


def bar_colors(fig: Figure) -> dict[TP, set[str]]:
    out: dict[TP, set[str]] = defaultdict(set)
    for ax in main_axes(fig):
        for coll in ax.collections:
            gid = coll.get_gid() or ""
            if gid.startswith("own:"):
                _, _, topic, p = gid.split(":")
                out[(topic, int(p))].update(to_hex(c) for c in coll.get_facecolors())
    return out


def spans(ax: Axes) -> list[tuple[float, float]]:
    return [(p.get_x(), p.get_x() + p.get_width()) for p in ax.patches if (p.get_gid() or "").startswith("rebalance:")]


def flat(intervals: list[tuple[float, float]]) -> list[float]:
    """[(a, b), ...] -> [a, b, ...] for pytest.approx, which does not nest."""
    return [x for iv in intervals for x in iv]


def overlaps(bars: list[tuple[float, float]], lo: float, hi: float) -> bool:
    return any(a < hi and z > lo for a, z in bars)


@pytest.mark.parametrize("name", ["group-join-eager", "group-join-cooperative", "poll-timeout-eviction",
                                  "distribution-more-consumers-than-partitions", "wide"])
def test_bars_are_the_ownership_intervals_of_the_trace(name: str) -> None:
    [ax] = main_axes(figure_of(name))
    want = ownership(trace_of(name))
    assert drawn_bars(ax).keys() == want.keys()
    for key, intervals in want.items():
        assert flat(drawn_bars(ax)[key]) == pytest.approx(flat(intervals)), key
    per_consumer: dict[str, int] = defaultdict(int)
    for (consumer, _), intervals in want.items():
        per_consumer[consumer] += len(intervals)
    drawn: dict[str, int] = defaultdict(int)
    for (consumer, _), intervals in drawn_bars(ax).items():
        drawn[consumer] += len(intervals)
    assert drawn == per_consumer


def test_rows_are_consumers_in_join_order_with_a_lane_per_owned_partition() -> None:
    trace = trace_of("group-join-eager")
    [ax] = main_axes(figure_of("group-join-eager"))
    labels = [t.get_text() for t in ax.get_yticklabels()]  # top to bottom
    joined = list(dict.fromkeys(e.data["member"].rsplit("-", 5)[0] for e in trace.of("group.join")))
    assert [label for label in labels if not label.startswith("orders-")] == joined == [
        "billing-1", "billing-2", "billing-late"]
    assert labels[:4] == ["billing-1", "orders-0", "orders-1", "orders-2"]
    assert labels[-3:] == ["billing-late", "orders-4", "orders-5"]


def test_every_partition_keeps_its_colour_across_figures() -> None:
    eager, coop = trace_of("group-join-eager"), trace_of("group-join-cooperative")
    a, b = bar_colors(figure_of("group-join-eager")), bar_colors(compare_timelines([eager, coop]))
    assert all(len(colors) == 1 for colors in a.values())
    assert {tp: c.pop() for tp, c in a.items()} == {tp: style.partition_color(eager, *tp) for tp in a}
    assert all(colors == {style.partition_color(coop, *tp)} for tp, colors in b.items())
    assert len({style.partition_color(eager, *tp) for tp in a}) == 6


@pytest.mark.parametrize("name,group", [("group-join-eager", "billing"), ("group-join-cooperative", "billing"),
                                        ("poll-timeout-eviction", "renderers"), ("wide", "agg")])
def test_rebalance_spans_are_rebalance_to_stable(name: str, group: str) -> None:
    trace = trace_of(name)
    [ax] = main_axes(figure_of(name))
    end = style.end_ms(trace) / 1000
    assert flat(spans(ax)) == pytest.approx(flat([(a, end if z is None else z) for a, z in episodes(trace, group)]))


def test_eager_rebalance_stops_every_member_that_revoked() -> None:
    """Eager: a member revokes everything when it learns of the rebalance (its next heartbeat) and
    owns nothing from then until the new assignment, even partitions it gets back."""
    trace = trace_of("group-join-eager")
    [ax] = main_axes(figure_of("group-join-eager"))
    bars = drawn_bars(ax)
    start, stable = episodes(trace, "billing")[1]
    assert spans(ax)[1] == pytest.approx((start, stable))  # type: ignore[comparison-overlap]
    revoked = [e for e in trace.of("member.revoked") if start <= e.t / 1000 <= stable]
    assert {e.node for e in revoked} == {"billing-1", "billing-2"}
    assigned = min(e.t for e in trace.of("member.assigned") if e.t / 1000 >= stable) / 1000
    for ev in revoked:
        mine = [iv for (c, _), ivs in bars.items() if c == ev.node for iv in ivs]
        assert not overlaps(mine, ev.t / 1000, stable), ev.node
        assert not overlaps(mine, ev.t / 1000, assigned)
        kept = {tp for (c, tp), ivs in bars.items() if c == ev.node and overlaps(ivs, start, start + 1e-6)}
        assert kept == {(t, p) for t, p in ev.data["partitions"]}  # everything it owned
    everyone = [iv for ivs in bars.values() for iv in ivs]
    assert not overlaps(everyone, max(e.t for e in revoked) / 1000, assigned)  # the whole group stopped


def test_cooperative_rebalance_keeps_the_kept_partitions_running() -> None:
    trace = trace_of("group-join-cooperative")
    [ax] = main_axes(figure_of("group-join-cooperative"))
    bars = drawn_bars(ax)
    (_, _), (start, _), (_, stable) = episodes(trace, "billing")
    moved = {(t, p) for e in trace.of("member.revoked") for t, p in e.data["partitions"]}
    assert moved == {("orders", 4), ("orders", 5)}
    for (consumer, tp), ivs in bars.items():
        if consumer != "billing-late" and tp not in moved:  # one bar, straight through both rebalances
            assert len(ivs) == 1 and ivs[0][0] < start and ivs[0][1] > stable, (consumer, tp)
    for tp in moved:
        old = [iv for (c, t), ivs in bars.items() if t == tp and c != "billing-late" for iv in ivs]
        new = bars[("billing-late", tp)]
        assert start < old[-1][1] < stable and new[0][0] >= stable  # idle in between


def test_marks_commits_and_the_zombie_overlay_follow_the_trace() -> None:
    trace = trace_of("poll-timeout-eviction")
    [ax] = main_axes(figure_of("poll-timeout-eviction"))
    lines = {line.get_gid(): list(line.get_xdata()) for line in ax.get_lines() if line.get_gid()}
    secs = [e.t / 1000 for e in trace.of("consumer.poll_timeout")]
    assert lines["mark:poll_timeout:renderer"] == pytest.approx(secs) and len(secs) == 4
    assert lines["mark:lost:renderer"] == pytest.approx([e.t / 1000 for e in trace.of("member.lost")])
    assert lines["mark:commit_fail:renderer"] == pytest.approx([e.t / 1000 for e in trace.of("commit.fail")])
    assert not trace.of("commit.ok") and not any(k.startswith("commit:") for k in lines)
    [zombie] = [c for c in ax.collections if c.get_gid() == "zombie:renderer:reports:0"]
    held = sorted((min(p.vertices[:, 0]), max(p.vertices[:, 0])) for p in zombie.get_paths())
    leaves = [e.t / 1000 for e in trace.of("member.leave")]
    lost = [e.t / 1000 for e in trace.of("member.lost")]
    assert flat(held) == pytest.approx(flat(list(zip(leaves, lost + [style.end_ms(trace) / 1000], strict=True))))


def test_commit_ticks_on_the_lanes_at_every_commit() -> None:
    trace = trace_of("group-join-eager")
    [ax] = main_axes(figure_of("group-join-eager"))
    want: dict[str, list[float]] = defaultdict(list)
    for e in trace.of("commit.ok"):
        for topic, p, _ in e.data["offsets"]:
            want[f"commit:{e.node}:{topic}:{p}"].append(e.t / 1000)
    drawn = {line.get_gid(): list(line.get_xdata()) for line in ax.get_lines()
             if (line.get_gid() or "").startswith("commit:")}
    assert drawn.keys() == want.keys() and len(want) == 9
    assert all(drawn[k] == pytest.approx(v) for k, v in want.items())


def test_two_partitions_and_idle_members_stay_readable() -> None:
    fig = figure_of("distribution-more-consumers-than-partitions")
    [ax] = main_axes(fig)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["worker-1", "tasks-0", "worker-2", "tasks-1", "worker-3", "worker-4"]
    assert {c for c, _ in drawn_bars(ax)} == {"worker-1", "worker-2"}
    assert ax.get_title(loc="right") == "a lane per partition a consumer owned"


def test_fifty_partitions_switch_to_one_row_per_partition_coloured_by_owner() -> None:
    trace = trace_of("wide")
    [ax] = main_axes(figure_of("wide"))
    assert ax.get_title(loc="right") == "one row per partition, colour = owner"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    members = ["agg-1", "agg-2", "agg-3", "agg-4", "agg-5", "agg-late"]
    assert labels == members + [f"clicks-{p}" for p in range(50)]
    for coll in ax.collections:
        if (coll.get_gid() or "").startswith("own:"):
            consumer = coll.get_gid().split(":")[1]
            assert {to_hex(c) for c in coll.get_facecolors()} == {style.consumer_color(members.index(consumer))}
    crash = trace.of("app.crash")[0].t / 1000
    assert all(z <= crash for (c, _), ivs in drawn_bars(ax).items() if c == "agg-2" for _, z in ivs)
    lanes = timeline_figure(trace, view="lanes")
    assert drawn_bars(main_axes(lanes)[0]) == drawn_bars(ax)


def test_short_rebalances_get_a_zoom_on_the_same_data() -> None:
    fig = figure_of("group-join-eager")
    [ax], [zoom] = main_axes(fig), zoom_axes(fig)
    start, stable = episodes(trace_of("group-join-eager"), "billing")[1]
    lo, hi = zoom.get_xlim()
    assert lo < start and stable < hi and hi - lo < 0.1 * ax.get_xlim()[1]
    assert drawn_bars(zoom) == drawn_bars(ax)
    assert not zoom_axes(figure_of("poll-timeout-eviction"))  # rebalances there are wide enough


def test_side_by_side_shares_the_time_axis_and_the_zoom() -> None:
    eager, coop = trace_of("group-join-eager"), trace_of("group-join-cooperative")
    fig = compare_timelines([eager, coop])
    a, b = main_axes(fig)
    assert a.get_xlim() == b.get_xlim()
    assert a.get_title(loc="left").startswith("group-join-eager, seed 21: group billing, eager")
    assert b.get_title(loc="left").startswith("group-join-cooperative, seed 21: group billing, cooperative")
    za, zb = zoom_axes(fig)
    assert za.get_xlim() == zb.get_xlim()
    assert drawn_bars(a) == drawn_bars(main_axes(figure_of("group-join-eager"))[0])
    assert "group-join-eager (seed 21) vs group-join-cooperative (seed 21)" in fig.get_suptitle()


def test_title_says_scenario_seed_group_and_protocol() -> None:
    title = figure_of("group-join-cooperative").get_suptitle()
    assert "scenario group-join-cooperative, seed 21" in title and "group billing (cooperative)" in title


def test_one_panel_per_group_and_the_group_filter() -> None:
    trace = trace_of("broadcast")
    assert [ax.get_gid() for ax in main_axes(timeline_figure(trace))] == ["timeline:0:bar", "timeline:1:foo"]
    assert [ax.get_gid() for ax in main_axes(timeline_figure(trace, "foo"))] == ["timeline:0:foo"]
    with pytest.raises(style.PlotError, match="no consumer group nope in this trace \\(it has: bar, foo\\)"):
        timeline_figure(trace, "nope")
    with pytest.raises(style.PlotError, match="no consumer-group events"):
        timeline_figure(Trace(scenario="empty"))


def test_a_paused_process_is_drawn_for_its_whole_pause() -> None:
    trace = trace_of("consumer-paused-zombie")
    (p,) = trace.of("client.pause")
    [ax] = main_axes(figure_of("consumer-paused-zombie"))
    (bars,) = [c for c in ax.collections if c.get_gid() == f"pause:{p.node}"]
    ((x0, y0), (x1, _)) = bars.get_paths()[0].vertices[[0, 2]]
    assert (min(x0, x1), max(x0, x1)) == (p.t / 1000, (p.t + p.data["duration_ms"]) / 1000)
