"""``handconv modes``: the Rosetta stone on the command line and in docs/modes.md."""

from __future__ import annotations

from pathlib import Path

from handconv.cli import main
from handconv.commands.modes import rosetta_markdown


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
    assert main(["modes", "-o", str(target)]) == 0
    assert target.read_text() == rosetta_markdown()
    committed = Path(__file__).parent.parent / "docs" / "modes.md"
    assert committed.read_text() == rosetta_markdown(), "regenerate: handconv modes --write docs/modes.md"


# ------------------------------------------------------------ the transposed-convolution table
import importlib.util  # noqa: E402

import pytest  # noqa: E402
from conftest import reference  # noqa: E402

from handconv import shapes  # noqa: E402
from handconv.commands.modes import transpose_data, transpose_markdown, transpose_rows  # noqa: E402
from handconv.errors import HandconvError  # noqa: E402

SCRIPT = Path(__file__).parent.parent / "scripts" / "transpose_rosetta.py"


def test_transpose_table_is_shown_by_the_command(capsys):
    assert main(["modes", "--transpose"]) == 0
    out = capsys.readouterr().out
    assert "PyTorch conv_transpose2d" in out and "output_shape 6, 'SAME'" in out and "keras" in out
    assert main(["modes"]) == 0
    both = capsys.readouterr().out
    assert "BORDER_REFLECT_101" in both and "Keras Conv2DTranspose" in both
    assert transpose_markdown() in rosetta_markdown()


def forward_size(m: int, k: int, s: int, padding: str) -> int | None:
    try:
        return shapes.output_size(m, k, s, padding)
    except HandconvError:  # the kernel does not fit m: TF refuses that output_shape too
        return None


def test_measured_sizes_follow_the_documented_rules():
    """Every cell the script recorded obeys the formula docs/modes.md states for its library."""
    for case in transpose_data()["cases"]:
        n, k, s = case["input"], case["kernel"], case["stride"]
        accepted = {(row["tf"]["padding"], row["output"]) for row in case["rows"]}
        # TF accepts exactly the sizes whose forward conv2d gives n (handconv's shapes.output_size).
        rule = {(p, m) for p in ("SAME", "VALID") for m in range(1, n * s + k + s + 1) if forward_size(m, k, s, p) == n}
        assert rule == {(p, m) for p in ("SAME", "VALID") for m in shapes.transposed_sizes(n, k, s, p)}
        assert accepted == rule, (n, k, s)
        for row in case["rows"]:
            m = row["output"]
            assert row["full"] == (n - 1) * s + k and sum(row["crop"]) == row["full"] - m
            assert row["handconv"] is True, "handconv.conv2d_transpose gave TF's numbers"
            for match in row["torch"]:
                assert m == (n - 1) * s - 2 * match["padding"] + k + match["output_padding"]
                assert row["crop"] == [match["padding"], match["padding"] - match["output_padding"]]
            if not row["torch"]:
                assert row["crop"][0] < row["crop"][1], "PyTorch fails only where TF crops more at the end"
            for match in row["jax"]:
                padding = match["padding"]
                if padding == "SAME":
                    assert m == n * s
                elif padding == "VALID":
                    assert m == n * s + max(k - s, 0)
                else:
                    assert padding == [k - 1 - row["crop"][0], k - 1 - row["crop"][1]]
            for match in row["keras"]:
                op, padding = match["output_padding"], match["padding"]
                if op is None:
                    assert m == (n * s if padding == "same" else n * s + max(k - s, 0))
                else:
                    assert m == (n - 1) * s + k + op - (2 * (k // 2) if padding == "same" else 0)
    assert sum(1 for row in transpose_rows() if row[3].startswith("--")) >= 3


@pytest.mark.references
def test_the_committed_table_is_what_the_libraries_say_now():
    """Re-run the script's search on one case; the committed JSON must say the same."""
    for module in ("tensorflow", "torch", "jax", "keras"):
        reference(module)
    spec = importlib.util.spec_from_file_location("transpose_rosetta", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    committed = next(c for c in transpose_data()["cases"] if (c["input"], c["kernel"], c["stride"]) == (3, 3, 2))
    x, w = script._data(3, 3)
    rows = script.tf_rows(x, w, 3, 3, 2)
    assert [(p, m) for p, m, _ in rows] == [(r["tf"]["padding"], r["output"]) for r in committed["rows"]]
    for (padding, m, y), row in zip(rows, committed["rows"]):
        assert script.handconv_matches(x, w, m, 2, padding, y) is row["handconv"] is True
        assert script.torch_matches(x, w, 2, 3, y) == row["torch"]
        assert script.keras_matches(x, w, 2, 3, y) == row["keras"]
        assert script.jax_matches(x, w, 3, 2, 3, y) == row["jax"]


def test_readme_rosetta_rows_are_the_generated_ones():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| 3, 3, 2 |")]
    assert len(rows) == 4 and all(row in transpose_markdown() for row in rows)
