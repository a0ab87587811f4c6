"""Bundled lessons are ``NN-name.yaml``: NN the guide chapter that runs them, name their ``name:``."""

from __future__ import annotations

from pathlib import Path

from kafkasim.cli import main
from kafkasim.scenario import bundled
from kafkasim.scenario.load import load

ROOT = Path(__file__).parents[2]


def test_every_bundled_file_is_numbered_by_a_guide_chapter_and_named_as_its_scenario() -> None:
    guide = {int(p.name[:2]) for p in (ROOT / "docs" / "guide").glob("[0-9][0-9]-*.md")}
    for path in bundled.paths():
        chapter, name = bundled.split(path)
        assert chapter in guide, f"{path.name}: no docs/guide/{chapter:02d}-*.md chapter"
        assert load(path).name == name, path.name


def test_every_bundled_file_is_run_by_its_chapter() -> None:
    for path in bundled.paths():
        chapter = bundled.split(path)[0]
        [page] = (ROOT / "docs" / "guide").glob(f"{chapter:02d}-*.md")
        assert f"scenarios/{path.name}" in page.read_text(), f"{page.name} does not run {path.name}"


def test_find_by_name_with_or_without_chapter() -> None:
    p = bundled.find("acks-all-no-loss")
    assert p is not None and p.name == "07-acks-all-no-loss.yaml"
    assert bundled.find("07-acks-all-no-loss") == p
    assert bundled.find("acks-all") is None


def test_run_accepts_a_bundled_name(capsys) -> None:
    assert main(["validate", "acks-all-no-loss"]) == 0
    assert main(["validate", "no-such-lesson"]) == 2
    captured = capsys.readouterr()
    assert "no-such-lesson" in captured.out + captured.err
