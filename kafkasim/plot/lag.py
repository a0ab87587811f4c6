"""Consumer lag over time, per group and partition, read from a trace's ``lag`` samples.

Lag is what ``kafka-consumer-groups.sh`` shows: the partition's high watermark minus the
group's committed offset (the whole HW while nothing is committed), sampled every second.
One panel per group, a step line per partition in the partition's colour (the same as in
the rebalance timeline), rebalances shaded, and vertical lines where a member crashed,
restarted, closed or was removed by a timeout: the moments lag starts or stops growing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from kafkasim.plot import style
from kafkasim.plot.timeline import Group, read
from kafkasim.sim.trace import Trace

TP = tuple[str, int]
EVENT_MARKS = ("crash", "fatal", "restart", "close", "session_timeout", "poll_timeout")  # vertical lines
EVENT_WORDS = {"crash": "crashed", "fatal": "stopped (fatal error)", "restart": "restarted", "close": "closed",
               "session_timeout": "session timeout", "poll_timeout": "poll timeout"}
MAX_LEGEND = 12  # partitions named in a panel's legend; more are drawn but not listed


@dataclass
class Lag:
    """One group's lag samples: (seconds, lag) per partition, in trace order."""

    group: str
    series: dict[TP, list[tuple[float, int]]] = field(default_factory=dict)

    def peak(self) -> tuple[int, float, TP | None]:
        """The largest sampled lag, when, and on which partition."""
        best: tuple[int, float, TP | None] = (0, 0.0, None)
        for tp, points in sorted(self.series.items()):
            for t, lag in points:
                if lag > best[0]:
                    best = (lag, t, tp)
        return best


def lags(trace: Trace) -> dict[str, Lag]:
    """Every group's lag series, from the ``lag`` events."""
    out: dict[str, Lag] = {}
    for ev in trace.of("lag"):
        d = ev.data
        lag = out.setdefault(d["group"], Lag(d["group"]))
        lag.series.setdefault((d["topic"], d["partition"]), []).append((style.seconds(ev.t), d["lag"]))
    return out


def _events(ax: Axes, grp: Group | None) -> None:
    """Rebalances shaded; crashes, restarts, closes and timeouts as labelled vertical lines."""
    if grp is None:
        return
    for i, ep in enumerate(grp.episodes):
        stop = ep.end if ep.end is not None else ax.get_xlim()[1]
        ax.add_patch(Rectangle((ep.start, 0), stop - ep.start, 1, transform=ax.get_xaxis_transform(), lw=0,
                               facecolor=style.rebalance_color(ep.protocol), alpha=0.55, zorder=0,
                               gid=f"rebalance:{grp.name}:{i}"))
    for m in grp.members.values():
        for kind in EVENT_MARKS:
            marker, color, _, label = style.GROUP_MARKS[kind]
            for t in m.marks.get(kind, ()):
                ax.axvline(t, color=color, lw=1.1, ls="--", zorder=3, gid=f"event:{kind}:{m.name}")
                ax.plot([t], [1.0], marker=marker, ms=8, color=color, ls="none", clip_on=False, zorder=6,
                        transform=ax.get_xaxis_transform(), label=label)
                ax.text(t, 0.97, f" {m.name} {EVENT_WORDS[kind]}", rotation=90, va="top", ha="left", fontsize=7,
                        color=color, transform=ax.get_xaxis_transform(), zorder=7,
                        bbox={"facecolor": "white", "alpha": 0.75, "lw": 0, "pad": 1})


def _panel(ax: Axes, lag: Lag, grp: Group | None, colors: dict[TP, str], end: float) -> None:
    many = len(lag.series) > MAX_LEGEND
    for rank, (tp, points) in enumerate(sorted(lag.series.items())):  # thick to thin: equal lines stay visible
        xs, ys = zip(*points, strict=True)
        lw = 1.0 if many else max(1.2, 4.0 - 2.8 * rank / max(1, len(lag.series) - 1))
        ax.step(xs, ys, where="post", color=colors.get(tp, "#888888"), lw=lw, alpha=0.6 if many else 0.9,
                zorder=4 + rank / 100,
                label=f"{tp[0]}-{tp[1]}", gid=f"lag:{lag.group}:{tp[0]}:{tp[1]}")
    if many:  # fifty thin lines are a texture; the worst partition at each sample is the story
        worst: dict[float, int] = {}
        for points in lag.series.values():
            for t, v in points:
                worst[t] = max(worst.get(t, 0), v)
        ax.step(sorted(worst), [worst[t] for t in sorted(worst)], where="post", color="black", lw=1.8, zorder=5,
                label=f"largest of the {len(lag.series)} partitions", gid=f"lag-max:{lag.group}")
    ax.set_xlim(0, end or 1)
    ax.set_ylim(0, max(1, lag.peak()[0]) * 1.12)
    _events(ax, grp)
    peak, when, tp = lag.peak()
    where = f"; peak {peak} records on {tp[0]}-{tp[1]} at {when:.0f} s" if tp else "; never behind"
    protocol = f" ({grp.protocol()})" if grp else ""
    ax.set_title(f"group {lag.group}{protocol}{where}", loc="left", fontsize=9)
    ax.set_ylabel("lag (records)")
    ax.set_xlabel("simulated time (s)", fontsize=8)
    ax.grid(True, alpha=0.3)
    lines = [h for h in ax.get_lines() if (h.get_gid() or "").startswith("lag:")]
    if not many:
        ax.legend(lines, [h.get_label() for h in lines], loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  fontsize=8, title="partition", title_fontsize=8, frameon=False)
    else:
        top = [h for h in ax.get_lines() if h.get_gid() == f"lag-max:{lag.group}"]
        ax.legend(top, [f"largest of the\n{len(lines)} partitions\n(thin: each one,\ncoloured as in\nthe timeline)"],
                  loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def lag_figure(trace: Trace, group: str | None = None) -> Figure:
    """Lag (HW - committed offset) per partition over time, per group; rebalances and crashes marked."""
    all_lags = lags(trace)
    if not all_lags:
        raise style.PlotError("no lag samples in this trace (lag is sampled for consumer groups): nothing to plot")
    if group is not None and group not in all_lags:
        raise style.PlotError(f"no lag samples for group {group} in this trace (it has: {', '.join(sorted(all_lags))})")
    chosen = [all_lags[group]] if group is not None else [all_lags[g] for g in sorted(all_lags)]
    groups, end = read(trace)
    colors = style.partition_colors(trace)
    fig = style.new_figure(2.6 * len(chosen) + 1.5)
    first: Axes | None = None
    for i, lag in enumerate(chosen):
        ax = fig.add_subplot(len(chosen), 1, i + 1, sharex=first)
        first = first or ax
        ax.set_gid(f"lag:{lag.group}")
        _panel(ax, lag, groups.get(lag.group), colors, end)
    fig.suptitle(style.title(trace, "Consumer lag per partition: high watermark minus the group's committed "
                                    "offset, sampled every second"), fontsize=11)
    protocols = {ep.protocol for lag in chosen if lag.group in groups for ep in groups[lag.group].episodes}
    handles = {f"rebalance ({p or 'protocol unknown'})": Patch(facecolor=style.rebalance_color(p), alpha=0.55)
               for p in sorted(protocols, key=str)}
    handles.update({label: h for label, h in style.figure_handles(fig).items()
                    if not isinstance(h, Line2D) or not (h.get_gid() or "").startswith(("lag:", "lag-max:"))})
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=4, fontsize=8,
                   frameon=False)
    return fig
