"""``handconv modes``: the Rosetta stone on the command line and in docs/modes.md."""

from __future__ import annotations

from pathlib import Path

from handconv.cli import main
from handconv.modes import rosetta_markdown


def test_modes_table(capsys):
    assert main(["modes"]) == 0
    out = capsys.readouterr().out
    assert "BORDER_REFLECT_101" in out and "c b | a b c d | c b" in out


def test_mode_accepts_every_alias(capsys):
    assert main(["modes", "--mode", "cv2.BORDER_REFLECT"]) == 0
    assert "'symmetric': b a | a b c d | d c" in capsys.readouterr().out
    assert main(["modes", "--mode", "nope"]) == 2


def test_write_and_committed_page_is_current(tmp_path):
    target = tmp_path / "modes.md"
    assert main(["modes", "--write", str(target)]) == 0
    assert target.read_text() == rosetta_markdown()
    committed = Path(__file__).parent.parent / "docs" / "modes.md"
    assert committed.read_text() == rosetta_markdown(), "regenerate: handconv modes --write docs/modes.md"
