"""Every picture the docs show exists, and is drawn by docs/make_images.py."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_referenced_images_exist_and_are_generated() -> None:
    generator = (ROOT / "docs" / "make_images.py").read_text()
    refs = []
    for md in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]:
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", md.read_text()):
            path = (md.parent / target).resolve()
            refs.append(path)
            assert path.exists(), f"{md.relative_to(ROOT)} shows missing {target}"
            assert f'"{path.name}"' in generator, f"{path.name} is not drawn by docs/make_images.py"
    assert refs


def test_relative_links_resolve() -> None:
    """Every relative link in README and docs points at a file that exists (anchors ignored)."""
    broken = []
    for md in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]:
        for target in re.findall(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)", md.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            if not (md.parent / target.split("#")[0]).exists():
                broken.append(f"{md.relative_to(ROOT)} -> {target}")
    assert not broken, broken
