"""Shared look of every kafkasim figure: stable colours, sizes, titles, saving.

Colours are indexed by something stable (a broker's id, a partition's place in the sorted
list of the trace's partitions), never by dict or drawing order, so broker-1 is the same
blue in every figure of every run. Figures are built as plain ``matplotlib.figure.Figure``
and saved through ``FigureCanvasAgg``: no ``pyplot``, no GUI backend, safe headless.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from kafkasim.errors import KafkasimError
from kafkasim.sim.trace import Trace

if TYPE_CHECKING:  # matplotlib is imported when a figure is made, so the CLI starts fast
    from matplotlib.figure import Figure

# Qualitative palette for brokers (no red: red means "lost"; no black: black is the HW).
BROKER_COLORS: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b",
    "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#393b79",
)
# Qualitative palette for partitions (Tableau 10, then lighter tints).
PARTITION_COLORS: tuple[str, ...] = (
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2",
    "#ff9da7", "#9c755f", "#bab0ac", "#af7aa1", "#86bcb6", "#d4a6c8",
)
HW_COLOR = "black"
LOST_COLOR = "#d62728"
ACKED_COLOR = "#2ca02c"
DUPLICATE_COLOR = "#9467bd"
IN_FLIGHT_COLOR = "#c7c7c7"
FAILED_COLORS: tuple[str, ...] = ("#ff7f0e", "#8c510a", "#fdae6b", "#e6550d", "#bf812d")
DOWN_COLOR = "#9e9e9e"
CUT_COLOR = "#fdd49e"

WIDTH_IN = 11.0
DPI = 110
SUFFIXES: tuple[str, ...] = (".png", ".svg", ".pdf")


class PlotError(KafkasimError):
    """A plot that cannot be drawn from this trace (e.g. no such topic/partition)."""


def broker_color(broker: int) -> str:
    """The colour of a broker, by id (broker ids start at 1)."""
    return BROKER_COLORS[(broker - 1) % len(BROKER_COLORS)]


@cache
def broker_id(node: str) -> int | None:
    """``"broker-3"`` -> 3; anything else -> None."""
    prefix, _, num = node.partition("-")
    return int(num) if prefix == "broker" and num.isdigit() else None


def partitions(trace: Trace) -> list[tuple[str, int]]:
    """Every (topic, partition) of the trace, sorted: the stable order for partition colours."""
    return sorted({(e.data["topic"], e.data["partition"]) for e in trace.of("partition.created")})


def partition_color(trace: Trace, topic: str, partition: int) -> str:
    """The colour of a partition: its place in :func:`partitions` indexes the palette."""
    order = partitions(trace)
    key = (topic, partition)
    i = order.index(key) if key in order else len(order) + partition
    return PARTITION_COLORS[i % len(PARTITION_COLORS)]


def seconds(ms: float) -> float:
    """Simulated milliseconds -> seconds (the x unit of every time axis)."""
    return ms / 1000.0


def end_ms(trace: Trace) -> int:
    """When the run ended: ``run.end``'s time, else the last event's."""
    ends = trace.of("run.end")
    if ends:
        return ends[-1].t
    return trace.events[-1].t if trace.events else 0


def title(trace: Trace, what: str) -> str:
    """``what`` plus which run it shows: scenario name and seed."""
    name = trace.scenario or "(unnamed scenario)"
    return f"{what}\nscenario {name}, seed {trace.seed}"


def new_figure(height_in: float, width_in: float = WIDTH_IN) -> Figure:
    """A headless figure with constrained layout (legends placed outside fit in)."""
    from matplotlib.figure import Figure
    return Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")


def check_suffix(path: str | Path) -> str:
    """The output format from the file suffix; PlotError naming the allowed ones otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        allowed = ", ".join(SUFFIXES)
        raise PlotError(f"{path}: unknown output format {suffix or '(no suffix)'}; use one of {allowed}")
    return suffix[1:]


def save(fig: Figure, path: str | Path) -> Path:
    """Render ``fig`` with the Agg canvas to ``path`` (format from the suffix).

    For PNG the layout is computed first and switched off for the save: with a layout engine,
    ``savefig`` draws the whole figure once into a renderer that discards it, only to run the
    layout, then draws it again for real. The Agg renderer at ``DPI`` is the one that pass would
    lay out with, so the picture is the same, without the discarded drawing. (SVG and PDF lay
    out with their own renderer's text metrics: those keep savefig's way.)
    """
    import matplotlib as mpl
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fmt = check_suffix(path)
    FigureCanvasAgg(fig)
    engine = fig.get_layout_engine()
    default_layout = not (mpl.rcParams["figure.autolayout"] or mpl.rcParams["figure.constrained_layout.use"])
    if fmt != "png" or engine is None or fig.dpi != DPI or not default_layout:
        fig.savefig(path, format=fmt, dpi=DPI)
        return Path(path)
    engine.execute(fig)
    fig.set_layout_engine(None)  # (with those rcParams off: no engine at all)
    try:
        fig.savefig(path, format=fmt, dpi=DPI)
    finally:
        fig.set_layout_engine(engine)
    return Path(path)


# Consumer groups: consumer colours (owner view), rebalance spans, and marks on consumer rows.
CONSUMER_COLORS: tuple[str, ...] = (
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02",
    "#a6761d", "#1f78b4", "#b15928", "#6a3d9a", "#33a02c", "#666666",
)
REBALANCE_COLORS: dict[str, str] = {"eager": "#f6c1bd", "cooperative": "#c6dbef"}
REBALANCE_DEFAULT_COLOR = "#d9d9d9"
GROUP_MARKS: dict[str, tuple[str, str, float, str]] = {  # mark -> (marker, colour, size, legend label)
    "join": (">", "#1a9850", 6, "JoinGroup sent"),
    "assigned": ("v", "#2166ac", 6, "assignment received"),
    "revoked": ("^", "#e08214", 7, "revoked (on_revoke)"),
    "lost": ("x", LOST_COLOR, 7, "lost without handover (on_lost)"),
    "leave": ("<", "#4d4d4d", 7, "LeaveGroup (left)"),
    "session_timeout": ("d", "#762a83", 8, "session timeout: coordinator removed it"),
    "poll_timeout": ("p", "#8c510a", 8, "poll timeout (max.poll.interval.ms)"),
    "removed": ("D", "#4d4d4d", 6, "removed by coordinator (other reason)"),
    "commit_fail": ("$!$", LOST_COLOR, 8, "commit failed"),
    "crash": ("X", "#b2182b", 10, "application crash"),
    "fatal": ("h", "#67001f", 9, "application stopped on a fatal error"),
    "restart": ("P", "#1a9850", 9, "application restart"),
    "close": ("s", "#252525", 7, "closed gracefully"),
}
COMMIT_COLOR = "#252525"


def partition_colors(trace: Trace) -> dict[tuple[str, int], str]:
    """Every partition's :func:`partition_color`, computed in one pass over the trace."""
    return {key: PARTITION_COLORS[i % len(PARTITION_COLORS)] for i, key in enumerate(partitions(trace))}


def consumer_color(index: int) -> str:
    """The colour of a consumer, by its place among the group's members (join order)."""
    return CONSUMER_COLORS[index % len(CONSUMER_COLORS)]


def rebalance_color(protocol: str | None) -> str:
    """Shading of a rebalance span: reddish for eager (stop-the-world), bluish for cooperative."""
    return REBALANCE_COLORS.get(protocol or "", REBALANCE_DEFAULT_COLOR)


def figure_handles(fig: Figure) -> dict[str, object]:
    """The first legend handle of each label over all of ``fig``'s axes, in drawing order."""
    handles: dict[str, object] = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    return handles
