"""The command line's shared behaviour."""

from __future__ import annotations

import contextlib
import re

import pytest

from handconv.cli import main


#: The commands the README documents.
DOCUMENTED_COMMANDS = ["demo", "explain", "kernels", "filter", "verify", "modes"]


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    listed = capsys.readouterr().out
    for command in DOCUMENTED_COMMANDS:
        assert re.search(rf"^\s+{command}\s", listed, re.MULTILINE), f"{command!r} missing from --help"


@pytest.mark.parametrize("command", DOCUMENTED_COMMANDS)
def test_each_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: handconv {command}")


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
