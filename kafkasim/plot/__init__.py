"""Figures drawn from a trace alone (never from the model): replication and delivery.

Headless: figures are ``matplotlib.figure.Figure`` saved through the Agg canvas; nothing
here imports ``matplotlib.pyplot``. ``replication_figure``, ``delivery_figure`` and
``write_all`` are importable from here (loaded on first use, so ``import kafkasim.plot``
stays cheap); ``kafkasim.plot.cli`` is the ``kafkasim plot`` subcommand.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

KINDS: tuple[str, ...] = ("replication", "delivery")
"""The plot kinds, in the order ``write_all`` writes them."""

_LAZY = {"replication_figure": "replication", "delivery_figure": "delivery", "write_all": "cli"}
__all__ = ["KINDS", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
