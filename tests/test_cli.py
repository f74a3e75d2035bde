"""The command line's shared behaviour."""

from __future__ import annotations

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
