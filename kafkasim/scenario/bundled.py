"""The bundled lessons in ``scenarios/``: ``NN-name.yaml``, where NN is the guide chapter
(``docs/guide/NN-*.md``) that runs it and ``name`` is the scenario's name."""

from __future__ import annotations

import re
from pathlib import Path

import kafkasim

_CHAPTER = re.compile(r"^(\d{2})-(.+)$")


def bundled_dir() -> Path:
    """The ``scenarios/`` directory next to the package (in a checkout or an editable install)."""
    return Path(kafkasim.__file__).resolve().parents[1] / "scenarios"


def paths(directory: Path | None = None) -> list[Path]:
    """The scenario files of ``directory`` (the bundled ones by default), in chapter order."""
    d = directory or bundled_dir()
    return sorted([*d.glob("*.yaml"), *d.glob("*.yml")])


def split(path: Path) -> tuple[int | None, str]:
    """(chapter, name) of a bundled file: ``07-acks-all-no-loss.yaml`` -> (7, "acks-all-no-loss")."""
    m = _CHAPTER.match(path.stem)
    return (int(m.group(1)), m.group(2)) if m else (None, path.stem)


def find(name: str, directory: Path | None = None) -> Path | None:
    """The bundled file of scenario ``name`` (with or without its chapter number), if any."""
    for p in paths(directory):
        if name in (p.stem, split(p)[1]):
            return p
    return None


def path_of(name: str) -> Path:
    """Like :func:`find`, for names that must exist (lint rules, tests)."""
    p = find(name)
    if p is None:
        raise KeyError(f"no bundled scenario named {name!r}")
    return p
