"""Delivery outcome per producer, read from a trace: one horizontal stacked bar each.

Every record a producer was asked to send (``sent``) ends up in exactly one segment:
acknowledged (and still in the log), acknowledged-then-lost, failed (one segment per final
error), or in flight (no outcome by the end of the run). Extra copies in the log
(duplicates) are not sent records, so they hang off the end of the bar, hatched.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from kafkasim.check import intervals as iv
from kafkasim.check.delivery import analyse
from kafkasim.plot import style
from kafkasim.sim.trace import Trace

Stream = tuple[str, str, int]  # (producer, topic, partition)


@dataclass
class Outcome:
    """Record counts of one producer; ``acknowledged + lost + sum(failed) + in_flight == sent``."""

    producer: str
    sent: int = 0
    acknowledged: int = 0  # acknowledged and not lost
    lost: int = 0  # acknowledged, then gone from the final log
    failed: dict[str, int] = field(default_factory=dict)  # final error -> records
    in_flight: int = 0
    duplicates: int = 0  # extra copies in the log (not part of sent)

    def segments(self, errors: list[str] | None = None) -> list[tuple[str, int, str]]:
        """(label, count, colour) of the bar's parts, left to right; zero counts included.

        A failure's colour is its error's place in ``errors`` (every error in the figure,
        sorted), so one error has one colour across all bars and two errors never share one.
        """
        errors = errors or sorted(self.failed)
        parts = [("acknowledged (still in the log)", self.acknowledged, style.ACKED_COLOR),
                 ("acknowledged, then lost", self.lost, style.LOST_COLOR)]
        parts += [(f"failed: {err}", n, style.FAILED_COLORS[errors.index(err) % len(style.FAILED_COLORS)])
                  for err, n in sorted(self.failed.items())]
        return parts + [("in flight (no outcome)", self.in_flight, style.IN_FLIGHT_COLOR)]


def outcomes(trace: Trace) -> list[Outcome]:
    """Per producer (sorted by name) record counts, from ``produce.*`` events and ``analyse``."""
    sent_hi: dict[Stream, int] = defaultdict(int)
    acked: dict[Stream, list[tuple[int, int]]] = defaultdict(list)
    failed: dict[Stream, dict[str, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
    for ev in trace.of("produce.send", "produce.unsent", "produce.ack", "produce.fail"):
        d = ev.data
        s, span = (d["producer"], d["topic"], d["partition"]), (d["rec"], d["rec"] + d["count"])
        sent_hi[s] = max(sent_hi[s], span[1])
        if ev.kind == "produce.ack":
            acked[s].append(span)
        elif ev.kind == "produce.fail":
            failed[s][d["error"]].append(span)
    out: dict[str, Outcome] = {}
    for s in sorted(sent_hi):
        o = out.setdefault(s[0], Outcome(s[0]))
        a = iv.merge(acked[s])
        o.sent += sent_hi[s]
        o.acknowledged += iv.total(a)
        seen = a
        for err, spans in sorted(failed[s].items()):  # a record counts once: ack wins, then by name
            f = iv.subtract(iv.merge(spans), seen)
            if f:
                o.failed[err] = o.failed.get(err, 0) + iv.total(f)
                seen = iv.merge(seen + f)
        o.in_flight += max(0, sent_hi[s] - iv.total(seen))
    for a in analyse(trace).anomalies:
        o = out.setdefault(a["producer"], Outcome(a["producer"]))
        if a["kind"] == "lost-write":
            o.lost += a["count"]
            o.acknowledged -= a["count"]
        elif a["kind"] == "duplicate":
            o.duplicates += a["count"]
    return [out[p] for p in sorted(out)]


def _draw_bar(ax: Axes, y: float, o: Outcome, xmax: float, errors: list[str]) -> int:
    """One producer's bar and its note; returns the note's length (to make room for it)."""
    left, small = 0, []
    for label, n, color in o.segments(errors):
        if n:
            ax.barh(y, n, left=left, height=0.6, color=color, edgecolor="white", lw=0.5, label=label,
                    gid=f"seg:{o.producer}:{label}")
            if n >= 0.07 * xmax:
                r, g, b = to_rgb(color)
                ax.text(left + n / 2, y, f"{n}", ha="center", va="center", fontsize=8,
                        color="white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black")
            else:
                small.append(f"{n} {label.split(' (')[0].removeprefix('failed: ')}")
        left += n
    if o.duplicates:
        ax.barh(y, o.duplicates, left=left, height=0.6, facecolor="white", edgecolor=style.DUPLICATE_COLOR,
                hatch="///", lw=1, label="duplicates (extra copies in the log)", gid=f"dup:{o.producer}")
        small.append(f"+{o.duplicates} duplicate cop{'y' if o.duplicates == 1 else 'ies'}")
    note = f"{o.sent} sent" + (": " + ", ".join(small) if small else "")
    ax.annotate(note, (left + o.duplicates, y), xytext=(5, 0), textcoords="offset points", va="center",
                fontsize=8)
    return len(note)


def delivery_figure(trace: Trace) -> Figure:
    """Per producer: acknowledged / acknowledged-then-lost / failed / in flight / duplicates."""
    outs = outcomes(trace)
    if not outs:
        raise style.PlotError("no produce events in this trace: nothing to plot for delivery")
    fig = style.new_figure(2.3 + 0.45 * len(outs))
    ax = fig.add_subplot()
    xmax = max(o.sent + o.duplicates for o in outs) or 1
    errors = sorted({err for o in outs for err in o.failed})
    note = max(_draw_bar(ax, len(outs) - 1 - i, o, xmax, errors) for i, o in enumerate(outs))
    ax.set_yticks(range(len(outs)), [o.producer for o in reversed(outs)])
    ax.set_ylim(-0.6, len(outs) - 0.4)
    ax.set_xlim(0, xmax / max(0.45, 1 - 0.0062 * (note + 3)))  # room for the notes on the right
    ax.set_xticks([x for x in ax.get_xticks() if 0 <= x <= xmax])
    ax.set_xlabel("records (each produce() call is one record)")
    ax.set_ylabel("producer")
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)
    sent = sum(o.sent for o in outs)
    fig.suptitle(style.title(trace, f"Delivery per producer: what became of the {sent} records sent"),
                 fontsize=11)
    handles: dict[str, object] = {}
    for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
        handles.setdefault(label, handle)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=min(4, len(handles)),
               fontsize=8, frameon=False)
    return fig
