"""Figures drawn from a trace alone (never from the model): replication, delivery, the
consumer-group rebalance timeline and consumer lag.

Headless: figures are ``matplotlib.figure.Figure`` saved through the Agg canvas; nothing
here imports ``matplotlib.pyplot``. ``replication_figure``, ``delivery_figure``,
``timeline_figure``, ``compare_timelines``, ``lag_figure`` and ``write_all`` are importable from here (loaded on first use, so ``import kafkasim.plot``
stays cheap); ``kafkasim.plot.cli`` is the ``kafkasim plot`` subcommand.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

KINDS: tuple[str, ...] = ("replication", "delivery", "timeline", "lag")
"""The plot kinds, in the order ``write_all`` writes them."""

_LAZY = {"replication_figure": "replication", "delivery_figure": "delivery", "timeline_figure": "timeline",
         "compare_timelines": "timeline", "lag_figure": "lag", "write_all": "cli"}
__all__ = ["KINDS", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
