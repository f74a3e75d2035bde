"""handconv.files: atomic writes that leave no temp file, and the one rule that outputs are never inputs."""

from __future__ import annotations

import os

import numpy as np
import pytest

from handconv import HandconvError
from handconv.cli import main
from handconv.files import atomic_path, refuse_overwriting_inputs, same_file


def _links(tmp_path):
    original = tmp_path / "x.npy"
    np.save(original, np.arange(36.0).reshape(6, 6, 1))
    os.symlink(original, tmp_path / "soft.npy")
    os.link(original, tmp_path / "hard.npy")
    return original, tmp_path / "soft.npy", tmp_path / "hard.npy"


def test_same_file_through_symbolic_and_hard_links(tmp_path):
    original, soft, hard = _links(tmp_path)
    assert same_file(original, soft) and same_file(original, hard) and same_file(soft, hard)
    assert not same_file(original, tmp_path / "other.npy")


def test_refuse_names_both_options(tmp_path):
    original, _, hard = _links(tmp_path)
    with pytest.raises(HandconvError, match=r"--json .*hard\.npy.* is the input --input .*x\.npy"):
        refuse_overwriting_inputs([("--json", hard)], [("--input", original)])
    refuse_overwriting_inputs([("--json", tmp_path / "report.json"), ("-o", None)], [("--input", original)])


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, RuntimeError])
def test_atomic_path_leaves_no_temp_and_keeps_the_old_file(tmp_path, interrupt):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(interrupt):
        with atomic_path(target) as temp:
            temp.write_text("half")
            raise interrupt()
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


@pytest.mark.parametrize("link", ["x.npy", "soft.npy", "hard.npy"])
def test_commands_refuse_to_overwrite_their_input(tmp_path, link, capsys):
    """Issue 12.3: explain and verify replaced their input; every command refuses before any work."""
    original, *_ = _links(tmp_path)
    before = original.read_bytes()
    output = str(tmp_path / link)
    commands = [
        ["explain", "--input", str(original), "--at", "0,0", "--format", "png", "-o", output],
        ["verify", "--input", str(original), "--kernel", "edge", "--backends", "handconv", "--json", output],
        ["verify", "--explain", str(original), "--input", str(tmp_path / "hard.npy"), "--json", output],
        ["filter", str(original), "-k", "box:3", "--output", "raw", "-o", output],
    ]
    for argv in commands:
        assert main(argv) == 2, argv
        assert "never overwrites its inputs" in capsys.readouterr().err
        assert original.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
