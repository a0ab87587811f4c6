"""Rebalance timeline: which consumer owned which partition, when, read from a trace.

One row per consumer (join order): a header lane with its events (JoinGroup, assignment,
revoke, lost, leave, timeouts, crash, restart, close) and under it a lane per partition it
ever owned, with a bar, in the partition's colour, over each interval it owned it (from
``member.assigned`` until ``member.revoked``/``member.lost``, a crash, a fatal error, a
close or an assignment without it). Commits are ticks on the lanes. Rebalances (``group.rebalance`` ..
``group.stable``) are shaded, labelled with the generation they produced and the protocol;
short ones get zoom panels underneath. Hatched: partitions a consumer still held after the
coordinator had removed it. With many partitions, one row per partition coloured by owner.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from itertools import accumulate

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from kafkasim.plot import style
from kafkasim.sim.trace import Trace

TP = tuple[str, int]
Spans = list[tuple[float, float]]
UUID = re.compile(r"-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MAX_LANES, MAX_PARTITIONS = 40, 16  # above either: the per-partition owner view
ZOOM_MAX_FRACTION, MAX_ZOOMS = 0.15, 3
LEAVE_MARKS = {"leave": "leave", "session_timeout": "session_timeout", "poll_timeout": None}
ZOMBIE = {"facecolor": "none", "edgecolor": "#252525", "hatch": "////", "lw": 0}
STALL = {"facecolor": "#fee391", "edgecolor": "#8c510a", "hatch": "..", "lw": 0.5}
PAUSE = {"facecolor": "#d9d9d9", "edgecolor": "#525252", "hatch": "xx", "lw": 0.5}


@dataclass
class Episode:
    """One rebalance: from ``group.rebalance`` to ``group.stable`` (or the group emptied)."""

    start: float
    trigger: str
    end: float | None = None
    generation: int | None = None
    protocol: str | None = None
    emptied: bool = False  # ended because the group became Empty (its last member left)

    def label(self, detail: bool) -> str:
        if self.end is None:
            text = "rebalancing (unfinished)"
        else:
            text = f"gen {self.generation} {'(group empty)' if self.emptied else self.protocol or ''}"
        return f"{text}: {UUID.sub('', self.trigger)}" if detail and self.trigger else text


@dataclass
class Member:
    """One consumer of a group: owned intervals per partition and its events, in seconds."""

    name: str
    bars: dict[TP, Spans] = field(default_factory=dict)
    zombie: dict[TP, Spans] = field(default_factory=dict)  # held after the coordinator removed it
    marks: dict[str, list[float]] = field(default_factory=dict)
    commits: dict[TP, list[float]] = field(default_factory=dict)
    stalls: Spans = field(default_factory=list)
    pauses: Spans = field(default_factory=list)  # the whole process frozen (client.pause)
    owned: dict[TP, float] = field(default_factory=dict, repr=False)  # open intervals
    removed: float | None = field(default=None, repr=False)

    def mark(self, kind: str, t: float) -> None:
        self.marks.setdefault(kind, []).append(t)

    def close(self, tp: TP, t: float) -> None:
        start = self.owned.pop(tp)
        self.bars.setdefault(tp, []).append((start, t))
        if self.removed is not None and self.removed < t:
            self.zombie.setdefault(tp, []).append((max(start, self.removed), t))

    def own(self, parts: set[TP], t: float) -> None:
        for tp in sorted(set(self.owned) - parts):
            self.close(tp, t)
        for tp in sorted(parts - set(self.owned)):
            self.owned[tp] = t


@dataclass
class Group:
    """A consumer group's members (in join order), rebalances, protocols and assignors."""

    name: str
    members: dict[str, Member] = field(default_factory=dict)
    episodes: list[Episode] = field(default_factory=list)
    protocols: list[str] = field(default_factory=list)
    assignors: list[str] = field(default_factory=list)

    def partitions(self) -> list[TP]:
        return sorted({tp for m in self.members.values() for tp in m.bars})

    def protocol(self) -> str:
        return " then ".join(self.protocols) or "no assignment"

    def first_assignment(self) -> float | None:
        return min((s[0][0] for m in self.members.values() for s in m.bars.values()), default=None)


def read(trace: Trace) -> tuple[dict[str, Group], float]:
    """Every group's timeline, and the run's end (s)."""
    groups: dict[str, Group] = {}
    ids: dict[str, str] = {}  # member id -> consumer
    group_of: dict[str, str] = {}  # consumer -> group

    def member(group: str, consumer: str) -> Member:
        group_of.setdefault(consumer, group)
        grp = groups.setdefault(group, Group(group))
        return grp.members.setdefault(consumer, Member(consumer))

    closed: dict[str, dict[int | None, Episode]] = {}  # group -> generation -> its latest ended episode
    kinds = [k for k in trace.by_kind() if k.startswith(("group.", "member.", "commit.", "app.", "client.pause"))]
    for ev in trace.of(*kinds, "consumer.poll_timeout"):
        k, d, t = ev.kind, ev.data, style.seconds(ev.t)
        g = d.get("group") or group_of.get(ev.node)
        if g is None:
            continue
        grp = groups.setdefault(g, Group(g))
        if k in ("group.join", "member.leave") and d.get("member"):
            m = member(g, ids.get(d["member"]) or UUID.sub("", d["member"]))
            if k == "group.join":
                m.mark("join", t)
            else:
                m.removed = t if m.owned else None
                if mark := LEAVE_MARKS.get(d.get("reason", ""), "removed"):
                    m.mark(mark, t)
        elif k == "group.rebalance" and not (grp.episodes and grp.episodes[-1].end is None):
            grp.episodes.append(Episode(t, d.get("trigger", "")))
        elif k == "group.stable" or (k == "group.state" and d.get("state") == "Empty"):
            if grp.episodes and grp.episodes[-1].end is None:
                ep = grp.episodes[-1]
                ep.end, ep.generation, ep.emptied = t, d.get("generation"), k == "group.state"
                closed.setdefault(g, {})[ep.generation] = ep
            if k == "group.stable" and d.get("protocol") and d["protocol"] not in grp.assignors:
                grp.assignors.append(d["protocol"])  # group.stable's protocol is the assignor's name
        elif k == "member.assigned":
            ids[d["member"]] = ev.node
            m = member(g, ev.node)
            m.removed = None
            m.own({(tp[0], tp[1]) for tp in d["partitions"]}, t)
            m.mark("assigned", t)
            if d.get("protocol") and d["protocol"] not in grp.protocols:  # eager | cooperative
                grp.protocols.append(d["protocol"])
            ep = _episode_of(grp, closed.get(g, {}), d.get("generation"))
            if ep is not None and ep.protocol is None:
                ep.protocol = d.get("protocol")
        elif k in ("member.revoked", "member.lost"):
            m = member(g, ev.node)
            for tp in sorted({(tp[0], tp[1]) for tp in d["partitions"]} & set(m.owned)):
                m.close(tp, t)
            m.mark(k.split(".")[1], t)
        elif k in ("commit.ok", "commit.fail"):
            m = member(g, ev.node)
            if k == "commit.fail":
                m.mark("commit_fail", t)
            for topic, p, *_ in d.get("offsets", ()) if k == "commit.ok" else ():
                m.commits.setdefault((topic, p), []).append(t)
        elif k == "client.pause":
            member(g, ev.node).pauses.append((t, t + style.seconds(d.get("duration_ms", 0))))
        elif k in ("app.crash", "app.fatal", "app.close", "app.restart", "app.stall", "consumer.poll_timeout"):
            m = member(g, ev.node)
            for tp in sorted(m.owned) if k in ("app.crash", "app.fatal", "app.close") else ():
                m.close(tp, t)
            if k == "app.stall":
                m.stalls.append((t, t + style.seconds(d.get("duration_ms", 0))))
            else:
                m.mark(k.split(".")[1], t)
    end = style.seconds(style.end_ms(trace))
    for grp in groups.values():
        for m in grp.members.values():
            for tp in sorted(m.owned):
                m.close(tp, end)
        for ep in grp.episodes:
            ep.protocol = ep.protocol or (grp.protocols[-1] if grp.protocols else None)
    return groups, end


def _episode_of(grp: Group, closed: dict[int | None, Episode], generation: int | None) -> Episode | None:
    """The latest episode of ``grp`` for ``generation``: only the last episode can still be
    open (a rebalance starts after the previous one ended), every earlier one is in ``closed``."""
    if grp.episodes and grp.episodes[-1].generation == generation:
        return grp.episodes[-1]
    return closed.get(generation)


def select(groups: dict[str, Group], group: str | None) -> list[Group]:
    """The groups to draw: ``group`` alone, or every group; PlotError naming them otherwise."""
    if group is None and groups:
        return [groups[g] for g in sorted(groups)]
    if group in groups:
        return [groups[group]]
    if not groups:
        raise style.PlotError("no consumer-group events in this trace: nothing to plot for the timeline")
    raise style.PlotError(f"no consumer group {group} in this trace (it has: {', '.join(sorted(groups))})")


def _owner_view(grp: Group, view: str) -> bool:
    lanes = sum(1 + len(m.bars) for m in grp.members.values())
    return view == "owners" or (view == "auto" and (lanes > MAX_LANES or len(grp.partitions()) > MAX_PARTITIONS))


def _slots(grp: Group, owners: bool) -> list[tuple[str, TP | None]]:
    """The rows, top to bottom: (consumer, None) is a header lane, (consumer, tp) a lane."""
    if owners:
        return [(m, None) for m in grp.members] + [("", tp) for tp in grp.partitions()]
    return [row for m in grp.members.values() for row in [(m.name, None), *((m.name, tp) for tp in sorted(m.bars))]]


def _bars(ax: Axes, m: Member, tp: TP, y: float, color: str, label: str) -> None:
    ax.broken_barh([(a, z - a) for a, z in m.bars[tp]], (y - 0.36, 0.72), facecolors=color, edgecolor="white",
                   lw=0.8, zorder=2, label=label, gid=f"own:{m.name}:{tp[0]}:{tp[1]}")
    if m.zombie.get(tp):
        ax.broken_barh([(a, z - a) for a, z in m.zombie[tp]], (y - 0.36, 0.72), zorder=3, **ZOMBIE,
                       label="held after the coordinator removed it", gid=f"zombie:{m.name}:{tp[0]}:{tp[1]}")
    if m.commits.get(tp):
        ax.plot(m.commits[tp], [y] * len(m.commits[tp]), ls="none", marker="|", ms=5, mew=0.9,
                color=style.COMMIT_COLOR, zorder=4, label="offset commit", gid=f"commit:{m.name}:{tp[0]}:{tp[1]}")


def _marks(ax: Axes, m: Member, y: float) -> None:
    if m.stalls:
        ax.broken_barh([(a, z - a) for a, z in m.stalls], (y - 0.3, 0.6), zorder=2, **STALL,
                       label="application stalled (no poll)", gid=f"stall:{m.name}")
    if m.pauses:
        ax.broken_barh([(a, z - a) for a, z in m.pauses], (y - 0.3, 0.6), zorder=2, **PAUSE,
                       label="process paused (nothing runs)", gid=f"pause:{m.name}")
    for kind, ts in sorted(m.marks.items()):
        marker, color, size, label = style.GROUP_MARKS[kind]
        ax.plot(ts, [y] * len(ts), ls="none", marker=marker, ms=size, color=color, mec=color, mew=1.2,
                zorder=6, label=label, gid=f"mark:{kind}:{m.name}")


def _draw(ax: Axes, grp: Group, owners: bool, colors: dict[TP, str], end: float,
          window: tuple[float, float] | None = None, columns: int = 1) -> None:
    """Draw a group's rows and rebalances on ``ax`` (a zoom if ``window``, 1 of ``columns``)."""
    slots = _slots(grp, owners)
    n = len(slots)
    index = {name: i for i, name in enumerate(grp.members)}
    for i, (name, tp) in enumerate(slots):
        y = n - 1 - i
        if tp is None:
            _marks(ax, grp.members[name], y)
            if i and not owners:
                ax.axhline(y + 0.5, color="#9e9e9e", lw=0.7, zorder=1)
        elif not owners:
            _bars(ax, grp.members[name], tp, y, colors.get(tp, "#888888"), "owned (colour: partition)")
        else:
            for m in grp.members.values():
                if tp in m.bars:
                    _bars(ax, m, tp, y, style.consumer_color(index[m.name]), f"owned by {m.name}")
    if owners and grp.members:
        ax.axhline(n - len(grp.members) - 0.5, color="#9e9e9e", lw=0.7, zorder=1)
    lo, hi = window or (-0.01 * end, end or 1)
    char = (hi - lo) * columns / 190  # about 190 characters of 7 pt text across the full width
    levels = [-1e18] * (1 + (len(grp.episodes) > 1))  # label rows; each value: where the row is free again
    for i, ep in enumerate(grp.episodes):
        stop = end if ep.end is None else ep.end
        color = style.rebalance_color(ep.protocol)  # the edge keeps a 0 ms span (group emptied) visible
        ax.add_patch(Rectangle((ep.start, 0), stop - ep.start, 1, transform=ax.get_xaxis_transform(), facecolor=color,
                               edgecolor=color, alpha=0.55, lw=0.8, zorder=0, gid=f"rebalance:{grp.name}:{i}"))
        if stop < lo or ep.start > hi:
            continue
        text = ep.label(detail=window is not None)
        x = max(lo, min(ep.start, hi - len(text) * char))  # a label near the right edge moves left
        level = next((j for j, free in enumerate(levels) if x >= free), min(range(len(levels)), key=levels.__getitem__))
        levels[level] = x + (len(text) + 2) * char
        ax.text(x, n - 0.25 + 0.85 * level, text, fontsize=7, va="bottom", ha="left", clip_on=True,
                color="#404040", zorder=7)
    ticks = [(n - 1 - i, name if tp is None else f"{tp[0]}-{tp[1]}") for i, (name, tp) in enumerate(slots)]
    ax.set_yticks([y for y, _ in ticks], [label for _, label in ticks], fontsize=6 if n > 30 else 7)
    for (name, tp), label in zip(slots, ax.get_yticklabels(), strict=True):
        if tp is None:
            label.set_fontweight("bold")
            label.set_fontsize(8)
            label.set_color(style.consumer_color(index[name]) if owners else "black")
    ax.set_ylim(-0.6, n + 0.85 * len(levels) - 0.05)
    ax.set_xlim(lo, hi)
    ax.tick_params(axis="y", length=0)
    ax.grid(True, axis="x", alpha=0.3)


def zoom_windows(groups: list[Group], end: float) -> list[tuple[float, float]]:
    """Windows around rebalances whose ownership changes are too close together to see at full
    scale (under 0.5% of the run apart), e.g. an eager revoke and the reassignment just after it;
    widened to the other groups' (traces') rebalances they overlap, so panels compare."""
    found: Spans = []
    spans: Spans = []
    for g in groups:
        first = g.first_assignment()
        changes = sorted({t for m in g.members.values() for s in m.bars.values() for a, z in s for t in (a, z)
                          if t < end})
        for ep in (e for e in g.episodes if first is not None and e.start >= first):
            stop = end if ep.end is None else ep.end
            near = changes[bisect_left(changes, ep.start):bisect_right(changes, stop + 0.01 * end)]
            spans.append((ep.start, max([stop, *near])))
            if any(b - a < 0.005 * end for a, b in zip(near, near[1:], strict=False)):
                found.append(spans[-1])
    widen = _Widen(spans, 0.01 * end)
    merged: Spans = []
    for a, z in sorted(found):
        a, z = widen(a, z)
        if merged and a - merged[-1][1] < 0.03 * end:
            merged[-1] = (merged[-1][0], max(z, merged[-1][1]))
        else:
            merged.append((a, z))
    pads = [(a, z, max(0.3 * (z - a), 0.003 * end)) for a, z in merged]
    return [(max(0.0, a - p), min(end, z + p)) for a, z, p in pads if z - a + 2 * p <= ZOOM_MAX_FRACTION * end][:MAX_ZOOMS]


class _Widen:
    """Widens a span [a, z] to take in every span that touches it (starts by ``tol`` after z,
    ends at or after a) and sticks out, again and again until none does. Spans sticking out on
    the right start before z (+ tol) and end after it, those on the left end after a and start
    before it, so each side widens on its own: by bisection over the spans sorted by start
    (running maximum of their ends) and by end (running minimum of their starts)."""

    def __init__(self, spans: Spans, tol: float) -> None:
        self.tol = tol
        by_start = sorted(spans)
        self.starts = [x for x, _ in by_start]
        self.max_end = list(accumulate((y for _, y in by_start), max))
        by_end = sorted(spans, key=lambda s: s[1], reverse=True)
        self.ends = [-y for _, y in by_end]  # ascending, for bisect
        self.min_start = list(accumulate((x for x, _ in by_end), min))

    def __call__(self, a: float, z: float) -> tuple[float, float]:
        while (i := bisect_right(self.starts, z + self.tol)) and self.max_end[i - 1] > z:
            z = self.max_end[i - 1]
        while (i := bisect_right(self.ends, -a)) and self.min_start[i - 1] < a:
            a = self.min_start[i - 1]
        return a, z


def _legend(fig: Figure, protocols: set[str | None]) -> None:
    """One legend under the panels: ownership, rebalances, then the marks in a fixed order."""
    handles = style.figure_handles(fig)
    proxies = {"owned (colour: partition)": Patch(facecolor="#bdbdbd", edgecolor="white"),
               "held after the coordinator removed it": Patch(**{**ZOMBIE, "facecolor": "#eeeeee", "lw": 0.5})}
    handles.update({k: v for k, v in proxies.items() if k in handles})
    for p in sorted(protocols, key=str):
        handles[f"rebalance ({p or 'protocol unknown'})"] = Patch(facecolor=style.rebalance_color(p), alpha=0.55)
    order = ["owned", "held after", "rebalance (", "application stalled", "process paused", "offset commit",
             *(label for *_, label in style.GROUP_MARKS.values())]
    labels = sorted(handles, key=lambda k: next((i for i, p in enumerate(order) if k.startswith(p)), 0))
    fig.legend([handles[k] for k in labels], labels, loc="outside lower center", ncol=4, fontsize=8, frameon=False)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _figure(panels: list[tuple[Trace, Group]], end: float, view: str, heading: str, label_traces: bool) -> Figure:
    if view not in ("auto", "lanes", "owners") or not panels:
        raise style.PlotError(f"view {view!r}: use auto, lanes or owners" if panels else "no trace to draw")
    groups = [g for _, g in panels]
    windows = zoom_windows(groups, end)
    rows = [len(_slots(g, _owner_view(g, view))) + 0.85 * (1 + (len(g.episodes) > 1)) + 0.6 for g in groups]
    heights = [h for r in rows for h in ((r, 0.8 * r) if windows else (r,))]
    inch = 0.17 if max(rows) > 30 else 0.21
    fig = style.new_figure(inch * sum(heights) + 0.75 * len(heights) + 1.3)
    gs = fig.add_gridspec(len(heights), 1, height_ratios=heights)
    first: Axes | None = None
    colors: dict[int, dict[TP, str]] = {}
    for i, (trace, grp) in enumerate(panels):
        owners = _owner_view(grp, view)
        pc = colors.setdefault(id(trace), style.partition_colors(trace))
        ax = fig.add_subplot(gs[i * (1 + bool(windows))], sharex=first)
        first = first or ax
        ax.set_gid(f"timeline:{i}:{grp.name}")
        _draw(ax, grp, owners, pc, end)
        ax.set_xlabel("simulated time (s)", fontsize=8)
        who = f"{trace.scenario or '(unnamed)'}, seed {trace.seed}: " if label_traces else ""
        ax.set_title(f"{who}group {grp.name}, {grp.protocol()} ({', '.join(grp.assignors) or 'no'} assignor), "
                     f"{_plural(len(grp.members), 'member')}, {_plural(len(grp.episodes), 'rebalance')}",
                     loc="left", fontsize=9)
        ax.set_title("one row per partition, colour = owner" if owners else "a lane per partition a consumer owned",
                     loc="right", fontsize=8, color="#555555")
        sub = gs[i * 2 + 1].subgridspec(1, len(windows)) if windows else None
        for j, window in enumerate(windows):
            zx = fig.add_subplot(sub[0, j], sharey=ax)  # type: ignore[index]
            zx.set_gid(f"zoom:{i}:{grp.name}:{j}")
            _draw(zx, grp, owners, pc, end, window, len(windows))
            zx.tick_params(labelleft=j == 0, labelsize=7)
            zx.set_title(f"zoom: {window[0]:.2f} s to {window[1]:.2f} s", fontsize=8, loc="left")
    fig.suptitle(heading, fontsize=11)
    _legend(fig, {ep.protocol for g in groups for ep in g.episodes})
    return fig


def timeline_figure(trace: Trace, group: str | None = None, view: str = "auto") -> Figure:
    """Who owned which partition when, per consumer; rebalances shaded. ``view``: auto|lanes|owners."""
    groups, end = read(trace)
    chosen = select(groups, group)
    names = ", ".join(f"{g.name} ({g.protocol()})" for g in chosen)
    what = f"Rebalance timeline: which consumer owned which partition, when; group{'s' * (len(chosen) > 1)} {names}"
    heading = style.title(trace, what)
    return _figure([(trace, g) for g in chosen], end, view, heading, False)


def compare_timelines(traces: list[Trace], group: str | None = None, view: str = "auto") -> Figure:
    """Several traces' timelines stacked on one shared time axis (eager vs cooperative, same seed)."""
    panels: list[tuple[Trace, Group]] = []
    end = 0.0
    for trace in traces:
        groups, t_end = read(trace)
        panels += [(trace, g) for g in select(groups, group)]
        end = max(end, t_end)
    runs = " vs ".join(f"{t.scenario or '(unnamed)'} (seed {t.seed})" for t in traces)
    return _figure(panels, end, view, f"Rebalance timelines side by side, one time axis\n{runs}", True)
