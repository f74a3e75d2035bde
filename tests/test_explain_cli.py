"""``handconv explain``: the article by default, every format, one-line errors."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from PIL import Image

from handconv.cli import main

EDGE = np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=np.float64)


def article_top_left() -> float:
    x = np.random.default_rng(0).integers(0, 3, size=(5, 5, 3)).astype(float)
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    return float(sum((padded[0:3, 0:3, c] * EDGE).sum() for c in range(3)))


def run(capsys, *argv):
    code = main(["explain", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_default_is_the_article_example(capsys):
    code, out, _ = run(capsys, "--at", "0,0", "--color", "never")
    assert code == 0
    assert "(5 - 3 + 2*1) / 2 + 1 = 3" in out
    assert f"total: 13 + 5 + 7 + 0 (bias) = {article_top_left():g}" in out
    assert "\x1b[" not in out


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "--compare-padding" in out


def test_compare_padding_equal_on_5x5_different_on_6x6(capsys):
    code, out, _ = run(capsys, "--compare-padding", "--shape", "5,5,3")
    assert code == 0 and "the outputs are equal" in out
    code, out, _ = run(capsys, "--compare-padding", "--shape", "6,6,3")
    assert code == 0
    assert "pad (top, bottom)  (1, 1)" in out and "(0, 1)" in out
    assert "the outputs differ" in out


def test_cs231n_two_filters_with_bias(capsys):
    code, out, _ = run(capsys, "--shape", "5,5,3", "--filters", "2", "--bias", "1,0", "--at", "1,1", "--color", "never")
    assert code == 0
    assert "output[1, 1, 0] (W0)" in out and "output[1, 1, 1] (W1)" in out
    assert "+ 1 (bias) =" in out


def test_inline_filter_npy_and_csv_inputs(capsys, tmp_path):
    volume = np.arange(16.0).reshape(4, 4)
    np.save(tmp_path / "x.npy", volume)
    np.savetxt(tmp_path / "x.csv", volume, delimiter=",")
    for name in ("x.npy", "x.csv"):
        code, out, _ = run(
            capsys,
            "--input",
            str(tmp_path / name),
            "--kernel",
            "[[1,0],[0,-1]]",
            "--padding",
            "VALID",
            "--stride",
            "1",
            "--at",
            "0,0",
            "--color",
            "never",
        )
        assert code == 0
        # By hand: x[0,0]*1 + x[1,1]*(-1) = 0 - 5.
        assert "channel 0: 0*1 + 1*0 + 4*0 + 5*(-1) = -5" in out


def test_figure_gif_and_image_input(capsys, tmp_path):
    for fmt in ("png", "svg", "gif"):
        path = tmp_path / f"out.{fmt}"
        code, out, _ = run(capsys, "--format", fmt, "-o", str(path))
        assert code == 0 and path.stat().st_size > 0 and str(path) in out
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(photo)
    code, _, _ = run(capsys, "--input", str(photo), "--stride", "1", "-o", str(tmp_path / "photo-field.png"))
    assert code == 0
    with Image.open(tmp_path / "photo-field.png") as figure:
        assert figure.size[0] > 300
    code, _, _ = run(
        capsys,
        "--input",
        str(photo),
        "--stride",
        "1",
        "--filters",
        "2",
        "--format",
        "maps",
        "-o",
        str(tmp_path / "m.png"),
    )
    assert code == 0 and (tmp_path / "m.png").stat().st_size > 1000
    code, _, err = run(capsys, "--input", str(photo), "--stride", "1")
    assert code == 2 and "--at ROW,COL" in err and len(err.strip().splitlines()) == 1


def test_html_format(capsys, tmp_path):
    path = tmp_path / "page.html"
    code, _, err = run(capsys, "--format", "html", "-o", str(path))
    if importlib.util.find_spec("handconv.explain.html") is None:
        assert code == 2 and "handconv.explain.html" in err
    else:
        assert code == 0 and "<html" in path.read_text().lower()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--padding", "x"], "--padding"),
        (["--at", "7,0"], "outside the output"),
        (["--at", "a,b"], "--at"),
        (["--kernel", "nonsense"], "nonsense"),
        (["--shape", "5,5,0"], "--shape"),
        (["--bias", "1,2"], "bias"),
        (["--stride", "0"], "stride"),
        (["-o", "out.xyz"], "format"),
    ],
)
def test_bad_arguments_get_one_line_errors(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err, err


def _bad_files(folder):
    (folder / "empty.npy").write_bytes(b"")
    (folder / "ragged.csv").write_text("1,2,3\n4,5\n")
    (folder / "words.txt").write_text("hello world\n")
    np.save(folder / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(folder / "strings.npy", np.array([["a", "b"], ["c", "d"]]))
    np.save(folder / "complex.npy", np.ones((3, 3), complex))
    return ["empty.npy", "ragged.csv", "words.txt", "pickled.npy", "strings.npy", "complex.npy"]


def test_bad_filter_files_get_one_line_errors(capsys, tmp_path):
    for name in _bad_files(tmp_path):
        code, _, err = run(capsys, "--kernel", str(tmp_path / name), "--at", "0,0")
        assert code == 2, (name, err)
        assert len(err.strip().splitlines()) == 1 and name in err, err


def test_bad_input_files_get_one_line_errors(capsys, tmp_path):
    for name in _bad_files(tmp_path):
        code, _, err = run(capsys, "--input", str(tmp_path / name), "--at", "0,0")
        assert code == 2, (name, err)
        assert len(err.strip().splitlines()) == 1 and name in err, err


def test_compare_padding_writes_its_text_to_output_and_refuses_pictures(capsys, tmp_path):
    # -o and --format used to be ignored silently: the user got no file and no word why.
    path = tmp_path / "padding.txt"
    code, out, _ = run(capsys, "--compare-padding", "--shape", "6,6,3", "-o", str(path))
    assert code == 0 and "the outputs differ" in path.read_text() and str(path) in out
    code, _, err = run(capsys, "--compare-padding", "--format", "png", "-o", str(tmp_path / "p.png"))
    assert code == 2 and "--compare-padding" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "--compare-padding", "-o", str(tmp_path / "p.png"))
    assert code == 2 and "not png" in err
    assert not (tmp_path / "p.png").exists()


def test_an_output_path_that_cannot_be_written_gets_a_one_line_error(capsys, tmp_path):
    a_file = tmp_path / "a-file.txt"
    a_file.write_text("not a folder")
    for fmt in ("text", "png", "gif", "html"):
        code, _, err = run(capsys, "--format", fmt, "-o", str(a_file / f"x.{fmt}"))
        assert code == 2, (fmt, err)
        assert len(err.strip().splitlines()) == 1 and "cannot write" in err, err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--filters", "1", "--filter-size", "-1"], "--filter-size"),
        (["--shape", "100000,100000,3", "--at", "0,0"], "--shape"),
    ],
)
def test_impossible_random_inputs_get_one_line_errors(capsys, argv, message):
    # Used to end in NumPy tracebacks (negative dimensions; a 224 GiB random volume).
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_batch_index_picks_the_image_and_the_text_says_which(capsys, tmp_path):
    # A batch of two: image 1 is image 0 plus 1 everywhere, so its top-left total differs by hand.
    first = np.random.default_rng(2).integers(0, 3, (5, 5, 3)).astype(float)
    np.save(tmp_path / "batch.npy", np.stack([first, first + 1]))
    padded = np.pad(first + 1, ((1, 1), (1, 1), (0, 0)))
    expected = sum((padded[0:3, 0:3, c] * EDGE).sum() for c in range(3))
    code, out, _ = run(
        capsys, "--input", str(tmp_path / "batch.npy"), "--batch-index", "1", "--at", "0,0", "--color", "never"
    )
    assert code == 0 and "batch image 1 of 2" in out
    assert f"= {expected:g}\n" in out
    code, out, _ = run(capsys, "--input", str(tmp_path / "batch.npy"), "--at", "0,0", "--color", "never")
    assert "batch image 0 of 2" in out
    code, _, err = run(capsys, "--input", str(tmp_path / "batch.npy"), "--batch-index", "2")
    assert code == 2 and "batch" in err


def test_text_written_to_a_file_has_no_colour_codes_even_from_a_terminal(capsys, tmp_path, monkeypatch):
    # --color auto looked at the terminal, so 'handconv explain -o trace.txt' typed in one filled the file with
    # ANSI codes.
    import sys

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    path = tmp_path / "trace.txt"
    code, _, _ = run(capsys, "--at", "0,0", "-o", str(path))
    assert code == 0 and "total:" in path.read_text() and "\x1b[" not in path.read_text()
    code, _, _ = run(capsys, "--at", "0,0", "-o", str(path), "--color", "always")
    assert "\x1b[" in path.read_text()  # asked for explicitly


def test_negative_numbers_are_values_not_options(capsys):
    # --help promises negative --at positions; argparse took '-1,-1' for an option and refused it.
    code, out, err = run(capsys, "--at", "-1,-1", "--color", "never")
    assert code == 0, err
    assert "output[2, 2, 0]" in out
    code, out, err = run(
        capsys, "--filters", "2", "--bias", "-1,2", "--values", "-1,1", "--at", "0,-1:", "--color", "never"
    )
    assert code == 0, err
    assert "+ (-1) (bias)" in out and "+ 2 (bias)" in out


def test_a_gradient_pair_is_explained_as_its_two_convolutions(capsys):
    # '-k sobel' means sqrt(gx^2 + gy^2) elsewhere; explain used to show only gx, labelled 'sobel'.
    gx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float)
    x = np.random.default_rng(0).integers(0, 3, size=(5, 5, 3)).astype(float)
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    code, out, err = run(capsys, "--kernel", "sobel", "--at", "0,1", "--color", "never")
    assert code == 0, err
    for name, kernel in [("sobel gx", gx), ("sobel gy", gx.T)]:
        expected = sum((padded[0:3, 2:5, c] * kernel).sum() for c in range(3))
        block = out.split(f"({name}): rows")[1]
        assert f"(bias) = {expected:g}\n" in block, (name, expected)


# ------------------------------------------------------------------ the backward pass
def test_grad_filter_writes_the_sum_of_one_weight(capsys, tmp_path):
    x = np.random.default_rng(0).integers(0, 3, size=(5, 5, 3)).astype(float)
    dy = np.random.default_rng(1).integers(-2, 3, size=(3, 3, 1)).astype(float)  # the CLI's default dy
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    expected = float((padded[0:6:2, 1:7:2, 2] * dy[:, :, 0]).sum())  # tap (0, 1) of channel 2, stride 2
    code, out, _ = run(capsys, "--grad", "filter", "--at", "0,1,2,0", "--color", "never")
    assert code == 0
    assert out.splitlines()[0] == "backward pass: dL/dW[0, 1, 2, 0]"
    assert f" = {expected:g}\n" in out.split("whole gradient")[0]
    np.save(tmp_path / "dy.npy", dy * 3)
    code, out, _ = run(
        capsys, "--grad", "filter", "--at", "0,1,2,0", "--out-backprop", str(tmp_path / "dy.npy"), "--color", "never"
    )
    assert code == 0 and f" = {3 * expected:g}\n" in out.split("whole gradient")[0]


def test_grad_input_text_png_and_html(capsys, tmp_path):
    code, out, _ = run(capsys, "--grad", "input", "--at", "2,2,0", "--color", "never")
    assert code == 0 and "dL/dx[0, 2, 2, 0] = " in out
    code, out, _ = run(capsys, "--grad", "input", "--at", "2,2,0", "-o", str(tmp_path / "g.png"))
    assert code == 0 and Image.open(tmp_path / "g.png").size[0] > 300
    code, out, _ = run(capsys, "--grad", "filter", "--at", "0,0,0,0", "-o", str(tmp_path / "page.html"))
    page = (tmp_path / "page.html").read_text()
    assert code == 0 and '"view":{"mode":"backward","grad":"filter","at":[0,0,0,0]}' in page


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--grad", "filter", "--at", "0,0"], "expected 4 integer"),
        (["--grad", "input"], "one --at Y,X,C"),
        (["--grad", "input", "--at", "9,0,0"], "row 9 is outside 0..4"),
        (["--grad", "filter", "--at", "0,0,0,0", "--format", "gif"], "not gif"),
        (["--grad", "filter", "--at", "0,0,0,0", "--out-backprop", "nope.npy"], "no such file"),
        (["--grad", "filter", "--at", "0,0,0,0", "--bias", "1"], "--bias does not enter"),
    ],
)
def test_grad_errors_are_one_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err
