"""Replication over time, per partition, read from a trace.

Each replica's log end offset (LEO) as a step line in its broker's colour, the leader's high
watermark (HW) as a black dashed line, leader changes as labelled vertical lines, and under
it a strip per broker: in the ISR, leader, down, plus fault marks. Records acknowledged and
later gone (``analyse``'s lost-write anomalies) are shaded at the offsets and times they were
acknowledged. The picture of why acks=1 loses data on failover and acks=all does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from kafkasim.check import intervals as iv
from kafkasim.check.delivery import analyse
from kafkasim.plot import style
from kafkasim.sim.trace import Trace

TP = tuple[str, int]
Steps = list[tuple[float, int]]  # (seconds, value), drawn as a post-step line
Spans = list[tuple[float, float]]  # [start, end) in seconds
MAX_ALL, MAX_SHOWN = 4, 6  # show every partition up to MAX_ALL, else the eventful ones
MARKS = {  # fault kind -> (marker, colour, legend label), drawn on the affected brokers' rows
    "broker.crash": ("X", "#b2182b", "broker crash"),
    "broker.restart": ("P", "#1a9850", "broker restart"),
    "net.cut": ("$\u2702$", "#b35806", "network cut"),
    "net.heal": ("o", "#1a9850", "network heal"),
    "net.drop": ("s", "#762a83", "messages dropped"),
    "net.slow": ("d", "#762a83", "link slowed"),
}
LEGEND_ORDER = ("broker-", "high watermark", "leader change", "log truncation", "acknowledged",
                "network cut (", "partition offline", "in ISR", "leader", "broker down")
BBOX = {"facecolor": "white", "alpha": 0.8, "lw": 0, "pad": 1.5}


@dataclass
class History:
    """What happened to one partition, in seconds: the data behind one panel."""

    topic: str
    partition: int
    replicas: list[int]
    start: float
    leo: dict[int, Steps] = field(default_factory=dict)
    hw: Steps = field(default_factory=list)
    isr: list[tuple[float, tuple[int, ...]]] = field(default_factory=list)
    leaders: list[tuple[float, int | None, int, str]] = field(default_factory=list)  # None: offline
    truncations: list[tuple[float, int, int, int]] = field(default_factory=list)  # t, broker, leo, dropped
    lost: list[tuple[float, float, int, int]] = field(default_factory=list)  # t0, t1, offsets [lo, hi)
    lost_count: int = 0
    known_hw: dict[int, int] = field(default_factory=dict, repr=False)  # each broker's last own HW

    def rows(self) -> list[int]:
        """Brokers with a log of this partition: the replicas in preference order, then others."""
        return self.replicas + sorted(b for b in self.leo if b not in self.replicas)

    def top(self) -> int:
        return max((v for s in self.leo.values() for _, v in s), default=0) or 1

    def score(self) -> int:
        """How much happened: loss > leader change or truncation > ISR change > nothing."""
        changes = len(self.leaders) > 1 or bool(self.truncations)
        return 4 * bool(self.lost_count) + 2 * changes + (len(self.isr) > len(self.leaders))

    def set_leo(self, broker: int, t: float, leo: int) -> None:
        _step(self.leo.setdefault(broker, [(self.start, 0)]), t, leo)


@dataclass
class Faults:
    """Cluster-wide faults: broker down spans, cut links, and point marks per broker."""

    down: dict[int, Spans] = field(default_factory=dict)
    cuts: list[tuple[float, float, set[int]]] = field(default_factory=list)  # brokers involved
    marks: list[tuple[float, str, int]] = field(default_factory=list)  # t, kind, broker


def _step(series: Steps, t: float, y: int) -> None:
    if not series or series[-1][1] != y:
        series.append((t, y))


PARTITION_KINDS = ("leader.elected", "partition.offline", "isr.change", "log.append", "replica.leo", "hw.advance",
                   "log.truncate")  # what _partition_event reads


def histories(trace: Trace) -> tuple[dict[TP, History], Faults, float]:
    """One pass over the events the figure uses: per-partition histories, faults, and the end time (s)."""
    hists: dict[TP, History] = {}
    faults = Faults()
    open_cuts: dict[frozenset[str], float] = {}
    for ev in trace.of("partition.created", *PARTITION_KINDS):
        k, d, t = ev.kind, ev.data, style.seconds(ev.t)
        if k == "partition.created":
            h = hists[(d["topic"], d["partition"])] = History(d["topic"], d["partition"], list(d["replicas"]), t)
            h.leo, h.hw = {b: [(t, 0)] for b in h.replicas}, [(t, 0)]
        elif (h := hists.get((d.get("topic"), d.get("partition")))) is not None:  # type: ignore[arg-type]
            _partition_event(h, k, ev.node, d, t)
    for ev in trace.of("broker.crash", "broker.restart", *MARKS):
        k, d, t = ev.kind, ev.data, style.seconds(ev.t)
        if k in ("broker.crash", "broker.restart"):
            faults.marks.append((t, k, d["broker"]))
            spans = faults.down.setdefault(d["broker"], [])
            if k == "broker.crash":
                spans.append((t, -1.0))
            elif spans and spans[-1][1] < 0:
                spans[-1] = (spans[-1][0], t)
        else:
            ends = {b for b in (style.broker_id(ev.node), style.broker_id(d.get("peer", ""))) if b}
            faults.marks.extend((t, k, b) for b in sorted(ends))
            link = frozenset((ev.node, d.get("peer", "")))
            if k == "net.cut":
                open_cuts.setdefault(link, t)
            elif k == "net.heal" and link in open_cuts:
                faults.cuts.append((open_cuts.pop(link), t, ends))
    end = style.seconds(style.end_ms(trace))
    for spans in faults.down.values():
        spans[:] = [(a, end if z < 0 else z) for a, z in spans]
    faults.cuts += [(t0, end, {b for b in map(style.broker_id, link) if b}) for link, t0 in open_cuts.items()]
    _add_lost(trace, hists)
    return hists, faults, end


def _partition_event(h: History, k: str, node: str, d: dict, t: float) -> None:
    if k == "leader.elected":
        h.leaders.append((t, d["leader"], d["leader_epoch"], d["election"]))
        h.isr.append((t, tuple(d["isr"])))
        new = d["leader"]
        if d["election"] != "initial" and new in h.leo:  # the HW is now the new leader's own
            _step(h.hw, t, min(h.known_hw.get(new, h.hw[-1][1]), h.leo[new][-1][1]))
    elif k == "partition.offline":
        h.leaders.append((t, None, d["leader_epoch"], "offline"))
        h.isr.append((t, tuple(d["isr"])))
    elif k == "isr.change":
        h.isr.append((t, tuple(d["isr"])))
    elif k == "log.append":
        if (b := style.broker_id(node)) is not None:
            h.set_leo(b, t, d["offset"] + d["count"])
    elif k == "replica.leo":
        h.set_leo(d["broker"], t, d["leo"])
        h.known_hw[d["broker"]] = d["hw"]
    elif k == "hw.advance" and (b := style.broker_id(node)) is not None:
        h.known_hw[b] = d["hw"]
        if h.leaders and h.leaders[-1][1] == b:
            _step(h.hw, t, d["hw"])
    elif k == "log.truncate":
        h.truncations.append((t, d["broker"], d["offset"], d.get("dropped", 0)))
        h.set_leo(d["broker"], t, d["offset"])


def _add_lost(trace: Trace, hists: dict[TP, History]) -> None:
    """Where (offset bands) and when (ack times) the acknowledged-then-lost records were acked.

    Offsets come from ``produce.ack`` (base offset + index in the batch); for acks=0 (offset
    -1) from the leader's ``log.append``. All producers' bands in a partition are merged,
    bridging gaps under 1% of its offsets, so interleaved producers give one band.
    """
    lost = [a for a in analyse(trace).anomalies if a["kind"] == "lost-write" and (a["topic"], a["partition"]) in hists]
    if not lost:
        return
    acks: dict[tuple[str, str, int], list[tuple[float, int, int, int]]] = {}
    for ev in trace.of("produce.ack"):
        d = ev.data
        acks.setdefault((d["producer"], d["topic"], d["partition"]), []).append(
            (style.seconds(ev.t), d["rec"], d["count"], d["offset"]))
    appended: dict[tuple[str, str, int], dict[int, int]] | None = None  # built only if an acks=0 record was lost
    hits: dict[TP, list[tuple[int, float]]] = {}  # (offset, ack time); offset -1 when unknown
    for a in lost:
        key = (a["topic"], a["partition"])
        hists[key].lost_count += a["count"]
        records = [(lo, hi + 1) for lo, hi in a["records"]]  # inclusive ranges -> merged half-open ones
        for t, rec, n, off in acks.get((a["producer"], *key), ()):
            pieces = iv.clip(records, rec, rec + n)
            where: dict[int, int] = {}
            if pieces and off < 0:
                appended = appended if appended is not None else _appended(trace)
                where = appended.get((a["producer"], *key), {})
            for lo, hi in pieces:
                hits.setdefault(key, []).extend((off + r - rec if off >= 0 else where.get(r, -1), t)
                                                for r in range(lo, hi))
    for key, points in hits.items():
        gap = max(1, hists[key].top() // 100)
        runs: list[list[float]] = []  # [t0, t1, lo, hi)
        for o, t in sorted(points):
            last = runs[-1] if runs else None
            if last and ((o >= 0 and last[2] >= 0 and o <= last[3] + gap) or (o < 0 and last[2] < 0)):
                last[0], last[1], last[3] = min(last[0], t), max(last[1], t), (o + 1 if o >= 0 else -1)
            else:
                runs.append([t, t, o, o + 1 if o >= 0 else -1])
        hists[key].lost = [(t0, t1, int(lo), int(hi)) for t0, t1, lo, hi in runs]


def _appended(trace: Trace) -> dict[tuple[str, str, int], dict[int, int]]:
    """(producer, topic, partition) -> rec -> offset, from the ``log.append`` events of partitions
    created before them (the last append of a record wins)."""
    out: dict[tuple[str, str, int], dict[int, int]] = {}
    created: set[TP] = set()
    for ev in trace.of("partition.created", "log.append"):
        d = ev.data
        if ev.kind == "partition.created":
            created.add((d["topic"], d["partition"]))
        elif (d.get("topic"), d.get("partition")) in created:
            recs = out.setdefault((d.get("producer"), d["topic"], d["partition"]), {})  # type: ignore[arg-type]
            for i in range(d["count"]):
                recs[d.get("rec", 0) + i] = d["offset"] + i
    return out


def _spans(changes: list[tuple[float, object]], member: Callable[[object], bool], end: float) -> Spans:
    """Merged [start, end) spans during which ``member(value)`` held, from a change series."""
    nexts = [t for t, _ in changes[1:]] + [end]
    return iv.merge((t, z) for (t, value), z in zip(changes, nexts, strict=False) if member(value))


def _draw_main(ax: Axes, h: History, faults: Faults, end: float) -> None:
    for t0, t1 in iv.merge((t0, t1) for t0, t1, brokers in faults.cuts if brokers & set(h.leo)):
        ax.axvspan(t0, t1, color=style.CUT_COLOR, alpha=0.7, lw=0, zorder=0, label="network cut (until healed)")
    for t0, t1 in _spans([(t, leader is None) for t, leader, _, _ in h.leaders], bool, end):
        ax.axvspan(t0, t1, facecolor="none", edgecolor=style.DOWN_COLOR, hatch="\\\\", lw=0, zorder=0,
                   label="partition offline (no leader)")
    for rank, b in enumerate(h.rows()):  # thick-to-thin so overlapping replicas stay visible
        xs, ys = zip(*(h.leo[b] + [(end, h.leo[b][-1][1])]), strict=True)
        ax.step(xs, ys, where="post", color=style.broker_color(b), lw=max(1.5, 7.0 - 2.2 * rank),
                alpha=0.9, zorder=2 + rank, label=f"broker-{b} LEO", gid=f"leo:{b}")
    xs, ys = zip(*(h.hw + [(end, h.hw[-1][1])]), strict=True)
    ax.step(xs, ys, where="post", color=style.HW_COLOR, ls="--", lw=1.2, zorder=8,
            label="high watermark (leader)", gid="hw")
    for t, leader, epoch, election in h.leaders[1:]:
        text = "offline: no leader" if leader is None else f"leader broker-{leader}, epoch {epoch}"
        ax.axvline(t, color="#444444", lw=1.1, zorder=9, label="leader change", gid=f"leader:{epoch}")
        ax.text(t, 0.98, text + (" (unclean)" if election == "unclean" else ""), rotation=90, va="top",
                ha="right", fontsize=8, zorder=10, bbox=BBOX, transform=ax.get_xaxis_transform())
    for t, b, leo, dropped in h.truncations:
        ax.plot([t], [leo], ls="none", marker="v", ms=9, color=style.broker_color(b), mec="black",
                zorder=11, label="log truncation", gid=f"truncate:{b}")
        low = leo < 0.5 * h.top()
        ax.annotate(f"broker-{b} truncated to {leo}\n({dropped} dropped)", (t, leo), xytext=(7, 6 if low else -6),
                    textcoords="offset points", fontsize=8, va="bottom" if low else "top", bbox=BBOX, zorder=12)
    for i, (t0, t1, lo, hi) in enumerate(h.lost):
        y0, y1 = (lo, hi) if lo >= 0 else (0, h.top())
        ax.add_patch(Rectangle((t0, y0), max(t1 - t0, end / 400), y1 - y0, facecolor=style.LOST_COLOR,
                               alpha=0.3, edgecolor=style.LOST_COLOR, hatch="//", lw=1, zorder=7, gid="lost",
                               label=f"acknowledged, then lost ({h.lost_count})" if i == 0 else None))
    if h.lost_count:
        ax.set_title(f"{h.lost_count} records acknowledged, then lost", loc="right", fontsize=10,
                     color=style.LOST_COLOR)
    first = f"first leader broker-{h.leaders[0][1]}" if h.leaders and h.leaders[0][1] else "no leader elected"
    ax.set_title(f"{h.topic}-{h.partition}   replicas {h.replicas}, {first}", loc="left", fontsize=10)
    ax.set_ylim(0, h.top() * 1.08)
    ax.set_ylabel("offset")
    ax.grid(True, alpha=0.3)
    ax.tick_params(labelbottom=False)


def _draw_strip(ax: Axes, h: History, faults: Faults, end: float) -> None:
    rows = h.rows()
    for i, b in enumerate(rows):
        y, color = len(rows) - 1 - i, style.broker_color(b)
        isr = _spans([(t, b in members) for t, members in h.isr], bool, end)
        lead = _spans([(t, leader == b) for t, leader, _, _ in h.leaders], bool, end)
        ax.broken_barh([(a, z - a) for a, z in isr], (y - 0.28, 0.56), facecolors=color, alpha=0.45,
                       label="in ISR", gid=f"isr:{b}")
        ax.broken_barh([(a, z - a) for a, z in lead], (y - 0.28, 0.56), facecolors=color, edgecolor="black",
                       lw=1.2, label="leader", gid=f"leader-span:{b}")
        ax.broken_barh([(a, z - a) for a, z in faults.down.get(b, [])], (y - 0.4, 0.8), facecolors="none",
                       edgecolor=style.DOWN_COLOR, hatch="xx", lw=0.8, label="broker down", gid=f"down:{b}")
        for t, kind, who in faults.marks:
            if who == b:
                marker, mcolor, label = MARKS[kind]
                ax.plot([t], [y], ls="none", marker=marker, ms=10, color=mcolor, mec=mcolor, mew=0.5,
                        zorder=5, clip_on=False, label=label, gid=f"fault:{kind}")
    ax.set_yticks(range(len(rows)), [f"broker-{b}" for b in reversed(rows)], fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlim(0, end or 1)
    ax.set_xlabel("simulated time (s)")
    ax.grid(True, axis="x", alpha=0.3)


def _legend(fig: Figure, lost_total: int) -> None:
    """One legend for all panels, below them; entries grouped, colour-free for per-broker ones."""
    handles: dict[str, object] = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label.startswith("acknowledged, then lost"):
                label = f"acknowledged, then lost ({lost_total})"
            handles.setdefault(label, handle)
    handles.update({label: proxy for label, proxy in {
        "log truncation": Line2D([], [], ls="none", marker="v", ms=8, color="white", mec="black"),
        "in ISR": Patch(facecolor="#bbbbbb"),
        "leader": Patch(facecolor="#888888", edgecolor="black", lw=1.2),
    }.items() if label in handles})

    def rank(label: str) -> tuple[int, str]:
        r = next((i for i, p in enumerate(LEGEND_ORDER) if label.startswith(p)), len(LEGEND_ORDER))
        return r, label if r == 0 else ""

    labels = sorted(handles, key=rank)
    fig.legend([handles[k] for k in labels], labels, loc="outside lower center", ncol=5, fontsize=8,
               frameon=False)


def _select(hists: dict[TP, History], topic: str | None, partition: int | None) -> tuple[list[TP], list[TP]]:
    """The partitions to draw (all if few, else the most eventful) and those left out."""
    keys = [k for k in sorted(hists) if topic in (None, k[0]) and partition in (None, k[1])]
    if not keys:
        have = ", ".join(f"{t}-{p}" for t, p in sorted(hists)) or "none"
        want = f"{topic or '*'}-{'*' if partition is None else partition}"
        raise style.PlotError(f"no partition {want} in this trace (it has: {have})")
    if len(keys) <= MAX_ALL:
        return keys, []
    ranked = sorted((k for k in keys if hists[k].score()), key=lambda k: -hists[k].score())
    shown = sorted(ranked[:MAX_SHOWN]) or keys[:MAX_ALL]
    return shown, [k for k in keys if k not in shown]


def replication_figure(trace: Trace, topic: str | None = None, partition: int | None = None) -> Figure:
    """LEO per replica, HW, ISR, leader changes, faults and lost acked records, per partition."""
    hists, faults, end = histories(trace)
    shown, omitted = _select(hists, topic, partition)
    heights = [r for k in shown for r in (3.2, 0.3 * len(hists[k].rows()) + 0.45)]
    fig = style.new_figure(sum(heights) + 2.0)
    gs = fig.add_gridspec(len(heights), 1, height_ratios=heights)
    for i, key in enumerate(shown):
        ax = fig.add_subplot(gs[2 * i])
        _draw_main(ax, hists[key], faults, end)
        _draw_strip(fig.add_subplot(gs[2 * i + 1], sharex=ax), hists[key], faults, end)
    what = "Replication: each replica's log end offset (LEO), the leader's high watermark, the ISR"
    if omitted:
        names = ", ".join(f"{t}-{p}" for t, p in omitted[:6]) + (", ..." if len(omitted) > 6 else "")
        what += f"\n{len(shown)} of {len(shown) + len(omitted)} partitions shown; omitted (less happened): {names}"
    fig.suptitle(style.title(trace, what), fontsize=11)
    _legend(fig, sum(hists[k].lost_count for k in shown))
    return fig
