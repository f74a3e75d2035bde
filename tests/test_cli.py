"""The command line's shared behaviour."""

from __future__ import annotations

import contextlib

import pytest

from handconv.cli import main


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert "demo" in capsys.readouterr().out


def test_no_command_prints_help():
    assert main([]) == 2


def test_bad_argument_is_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--seed", "x"])
    assert info.value.code == 2
    assert "invalid int value" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["explain", "--stride", "99999999999999999999999"],
    ["verify", "--stride", "99999999999999999999999", "--backends", "handconv"],
    ["filter", "x.png", "-k", "edge", "--stride", "99999999999999999999999", "-o", "y.png"],
])
def test_integers_beyond_int64_are_one_line_errors(argv, capsys):
    """Issue 12.7: --stride beyond int64 raised OverflowError deep inside."""
    with contextlib.suppress(SystemExit):
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and ("too large" in err or "must be <=" in err), err
