"""The command line's shared behaviour."""

from __future__ import annotations

import contextlib
import re

import pytest

from handconv.cli import main

#: The commands the README documents.
DOCUMENTED_COMMANDS = ["demo", "explain", "kernels", "filter", "verify", "modes", "train-digits"]


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


@pytest.mark.parametrize(
    "argv",
    [
        ["explain", "--stride", "99999999999999999999999"],
        ["verify", "--stride", "99999999999999999999999", "--backends", "handconv"],
        ["filter", "x.png", "-k", "edge", "--stride", "99999999999999999999999", "-o", "y.png"],
    ],
)
def test_integers_beyond_int64_are_one_line_errors(argv, capsys):
    """Issue 12.7: --stride beyond int64 raised OverflowError deep inside."""
    with contextlib.suppress(SystemExit):
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and ("too large" in err or "must be <=" in err), err


@pytest.mark.parametrize("command", DOCUMENTED_COMMANDS)
def test_each_command_help_has_examples(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and f"handconv {command}" in text.split("examples:", 1)[1]


@pytest.mark.parametrize("command", ["demo", "explain", "verify", "train-digits"])
def test_seed_is_non_negative_everywhere(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--seed", "-1"])
    assert info.value.code == 2
    assert "must be >= 0" in capsys.readouterr().err


def test_one_vocabulary_for_kernel_and_output():
    """-k/--kernel is the kernel and -o/--output an output path in every command that has them."""
    from handconv.cli import build_parser

    subparsers = next(a for a in build_parser()._actions if a.dest == "command").choices
    for name, parser in subparsers.items():
        by_option = {option: action for action in parser._actions for option in action.option_strings}
        if "--kernel" in by_option:
            assert "-k" in by_option["--kernel"].option_strings, name
        if "-k" in by_option:
            assert "--kernel" in by_option["-k"].option_strings, name
        if "-o" in by_option:
            assert "--output" in by_option["-o"].option_strings, name
            assert by_option["-o"].dest in ("output", "output_file"), name


def test_deprecated_spellings_still_work_and_warn(tmp_path, capsys):
    target = tmp_path / "modes.md"
    assert main(["modes", "--write", str(target)]) == 0
    assert target.read_text().startswith("#")
    assert "--write is deprecated; use --output" in capsys.readouterr().err
    assert main(["explain", "--filter", "[[1,0],[0,-1]]", "--shape", "3,3,1", "--padding", "VALID"]) == 0
    assert "--filter is deprecated; use --kernel" in capsys.readouterr().err


def test_filter_mapping_old_spelling_warns(tmp_path, capsys):
    import numpy as np

    source = tmp_path / "in.npy"
    np.save(source, np.arange(16, dtype=np.float64).reshape(4, 4) / 16)
    output = tmp_path / "out.npy"
    assert main(["filter", str(source), "-k", "sobel_x", "--output", "raw", "-o", str(output), "-q"]) == 0
    assert "--output raw (the pixel mapping) is deprecated; use --map raw" in capsys.readouterr().err
    assert np.load(output).dtype.kind == "f"  # raw floats: the mapping was applied, not taken as a path
    with contextlib.suppress(SystemExit):
        assert main(["filter", str(source), "-k", "edge"]) == 2
    assert "exactly one of -o/--output" in capsys.readouterr().err
