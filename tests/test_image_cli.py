"""``handconv filter`` as a user runs it: one file, folders, globs, bad files, reruns."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import reference

from handconv.cli import main
from handconv.image import filter as image_filter
from handconv.image import read_image, write_image


def _pixels(shape=(12, 14, 3), seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=shape).astype(np.uint8)


@pytest.fixture
def photos(tmp_path):
    """A folder with three good images and one broken one."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for index, name in enumerate(["a.png", "b.png", "c.bmp"]):
        write_image(folder / name, _pixels(seed=index))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (folder / "notes.txt").write_text("not an image suffix: ignored")
    return folder


def test_one_file_to_one_output(tmp_path, capsys):
    source = tmp_path / "photo.png"
    write_image(source, _pixels())
    assert main(["filter", str(source), "-k", "sobel", "-o", str(tmp_path / "edges.png")]) == 0
    assert np.array_equal(read_image(tmp_path / "edges.png"), image_filter(_pixels(), "sobel"))
    assert "1 written, 0 failed" in capsys.readouterr().err


def test_every_option_reaches_the_filter(tmp_path):
    source = tmp_path / "photo.png"
    write_image(source, _pixels())
    argv = [
        "filter",
        str(source),
        "-k",
        "gaussian:5:1",
        "-o",
        str(tmp_path / "out.npy"),
        "--channels",
        "sum",
        "--gray",
        "--stride",
        "2",
        "--dilation",
        "2",
        "--padding",
        "3",
        "--mode",
        "BORDER_REFLECT",
        "--map",
        "raw",
        "--method",
        "naive",
        "--max-pixels",
        "1000",
    ]
    assert main(argv) == 0
    expected = image_filter(
        _pixels(),
        "gaussian:5:1",
        channels="sum",
        gray=True,
        stride=2,
        dilation=2,
        padding=3,
        mode="symmetric",
        output="raw",
    )
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-12)


def test_a_folder_with_one_bad_file_goes_on_and_exits_1(photos, tmp_path, capsys):
    out = tmp_path / "blurred"
    assert main(["filter", str(photos), "-k", "gaussian:7:1.5", "--out-dir", str(out), "-j", "2"]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.bmp"]
    for index, name in enumerate(["a.png", "b.png", "c.bmp"]):
        assert np.array_equal(read_image(out / name), image_filter(_pixels(seed=index), "gaussian:7:1.5"))
    err = capsys.readouterr().err
    assert f"FAILED {photos / 'broken.png'}" in err
    assert "3 written, 1 failed" in err and "failed: " in err


def test_existing_outputs_are_skipped_unless_overwrite(photos, tmp_path, capsys):
    out = tmp_path / "out"
    (photos / "broken.png").unlink()
    assert main(["filter", str(photos), "-k", "edge", "--out-dir", str(out), "--format", "png", "-j", "1"]) == 0
    stamp = (out / "a.png").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["filter", str(photos), "-k", "box:3", "--out-dir", str(out), "--format", "png", "-j", "1"]) == 0
    assert "0 written, 3 skipped" in capsys.readouterr().err
    assert (out / "a.png").stat().st_mtime_ns == stamp
    assert (
        main(["filter", str(photos), "-k", "box:3", "--out-dir", str(out), "--format", "png", "--overwrite", "-j", "1"])
        == 0
    )
    assert np.array_equal(read_image(out / "a.png"), image_filter(_pixels(seed=0), "box:3"))


def test_inputs_are_never_overwritten(tmp_path, capsys):
    source = tmp_path / "photo.png"
    write_image(source, _pixels())
    before = source.read_bytes()
    # -o naming an input is refused before any work (exit 2); in a batch it is that file's failure (exit 1).
    assert main(["filter", str(source), "-k", "edge", "-o", str(source), "--overwrite"]) == 2
    assert main(["filter", str(source), "-k", "edge", "--out-dir", str(tmp_path), "--overwrite"]) == 1
    assert source.read_bytes() == before
    assert "never overwrites its inputs" in capsys.readouterr().err


def test_glob_input_and_raw_output_default_to_npy(photos, tmp_path):
    out = tmp_path / "raw"
    assert main(["filter", str(photos / "[ab].png"), "-k", "sobel_x", "--map", "raw", "--out-dir", str(out), "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.npy", "b.npy"]
    np.testing.assert_array_equal(np.load(out / "a.npy"), image_filter(_pixels(seed=0), "sobel_x", output="raw"))


def test_two_inputs_with_one_output_name_are_not_mixed_up(tmp_path, capsys):
    for suffix in (".png", ".bmp"):
        write_image(tmp_path / f"same{suffix}", _pixels())
    out = tmp_path / "out"
    code = main(
        [
            "filter",
            str(tmp_path / "same.png"),
            str(tmp_path / "same.bmp"),
            "-k",
            "edge",
            "--out-dir",
            str(out),
            "--format",
            "png",
        ]
    )
    assert code == 1 and "also" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["same.png"]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["-k", "nonsense"], "not known"),
        (["-k", "gaussian:4"], "odd"),
        (["-k", "edge", "--mode", "bogus"], "border mode"),
        (["-k", "edge", "--padding", "half"], "padding"),
        (["-k", "edge", "--method", "magic"], "method"),
        (["-k", "sobel_x", "--map", "raw"], "write .npy"),
    ],
)
def test_bad_options_fail_once_with_exit_2(tmp_path, capsys, argv, words):
    source = tmp_path / "photo.png"
    write_image(source, _pixels())
    assert main(["filter", str(source), "-o", str(tmp_path / "o.png"), *argv]) == 2
    assert words in capsys.readouterr().err


def test_o_needs_exactly_one_input(photos, tmp_path, capsys):
    assert main(["filter", str(photos), "-k", "edge", "-o", str(tmp_path / "o.png")]) == 2
    assert "--out-dir" in capsys.readouterr().err


def test_missing_input_is_a_failure_not_a_crash(tmp_path, capsys):
    assert main(["filter", str(tmp_path / "nope.png"), "-k", "edge", "--out-dir", str(tmp_path / "o")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_compare_writes_a_figure(tmp_path):
    reference("matplotlib")
    reference("tensorflow")
    source = tmp_path / "photo.png"
    write_image(source, _pixels((20, 24, 3)))
    assert main(["filter", str(source), "-k", "sobel", "-o", str(tmp_path / "edges.png"), "--compare"]) == 0
    figure = read_image(tmp_path / "edges_compare.png")
    assert figure.ndim == 3 and figure.shape[1] > 3 * figure.shape[0]  # four panels side by side


def test_help_explains_every_option_with_examples(capsys):
    with pytest.raises(SystemExit):
        main(["filter", "--help"])
    text = capsys.readouterr().out
    for option in [
        "--kernel",
        "--out-dir",
        "--channels",
        "--gray",
        "--stride",
        "--dilation",
        "--padding",
        "--mode",
        "--output",
        "--method",
        "--format",
        "--overwrite",
        "--compare",
        "--jobs",
        "--max-pixels",
        "examples:",
        "handconv filter photo.jpg -k sobel -o edges.png",
        "BORDER_REFLECT_101",
        "rounded half to even",
    ]:
        assert option in text, option


def test_building_the_cli_imports_no_heavy_library():
    import subprocess
    import sys

    code = (
        "import sys, handconv.cli; handconv.cli.build_parser(); "
        "print(sorted(m for m in ('PIL', 'matplotlib', 'tqdm', 'tensorflow', 'cv2', 'scipy') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_unusable_output_places_fail_once_with_exit_2(tmp_path, capsys):
    source = tmp_path / "photo.png"
    write_image(source, _pixels())
    a_file = tmp_path / "a-file.txt"
    a_file.write_text("not a folder")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    for where, words in [
        (["--out-dir", str(a_file)], "--out-dir"),
        (["--out-dir", str(a_file / "sub")], "--out-dir"),
        (["-o", str(a_file / "edges.png")], "-o"),
        (["-o", str(folder)], "folder"),
    ]:
        # Used to end in a mkdir traceback, or to report a folder given to -o as an existing output 'skipped'.
        assert main(["filter", str(source), "-k", "sobel", *where]) == 2, where
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert list(folder.iterdir()) == []


def test_compare_figure_labels_the_output_size(tmp_path, monkeypatch):
    # With --stride 2 the output is half the input; the figure must say so, not show both at one size unlabelled.
    reference("matplotlib")
    import matplotlib.axes

    from handconv.image.compare import compare_figure

    titles = []
    original = matplotlib.axes.Axes.set_title
    monkeypatch.setattr(
        matplotlib.axes.Axes,
        "set_title",
        lambda self, label, *a, **k: (titles.append(label), original(self, label, *a, **k))[1],
    )
    pixels = _pixels((12, 14, 3))
    result = image_filter(pixels, "edge", stride=2)
    assert result.shape[:2] == (6, 7)
    compare_figure(pixels, result, tmp_path / "c.png", kernel="edge", stride=2, mode="reflect")
    assert "input 14x12 uint8" in titles[0]
    assert "output 7x6" in titles[1], titles


def test_negative_max_pixels_is_a_bad_option(tmp_path, capsys):
    """Issue 12.6: --max-pixels -5 was taken as 'no limit'."""
    source = tmp_path / "photo.png"
    write_image(source, _pixels())
    assert main(["filter", str(source), "-k", "edge", "-o", str(tmp_path / "out.png"), "--max-pixels", "-5"]) == 2
    assert "must be >= 0" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()
