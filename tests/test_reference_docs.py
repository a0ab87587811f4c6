"""The generated reference pages match the code they are generated from."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
spec = importlib.util.spec_from_file_location("make_reference", ROOT / "docs" / "make_reference.py")
make_reference = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_reference)  # type: ignore[union-attr]


@pytest.mark.parametrize("name", sorted(make_reference.PAGES))
def test_reference_page_is_fresh(name: str) -> None:
    page = ROOT / "docs" / "reference" / name
    assert page.read_text(encoding="utf-8") == make_reference.PAGES[name](), (
        f"docs/reference/{name} is stale: run python docs/make_reference.py")
