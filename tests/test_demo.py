"""The article's example as the demo prints it."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
from conftest import reference

from handconv.demo import EDGE_KERNEL, article_example, run_numeric


def test_article_example_by_hand_equals_tf():
    reference("tensorflow")
    out = io.StringIO()
    result = run_numeric(seed=0, out=out)
    text = out.getvalue()
    assert result["by_hand"].shape == (1, 3, 3, 1)
    assert "(5 - 3 + 2*1) / 2 + 1 = 3" in text
    assert result["difference"] is not None and result["difference"] < 1e-6
    assert "they match" in text


def test_first_receptive_field_is_summed_by_hand():
    x, w = article_example(0)
    padded = np.pad(x[0], ((1, 1), (1, 1), (0, 0)))
    # Independent arithmetic: top-left 3x3x3 window times the filter.
    expected = float((padded[0:3, 0:3, :] * w[:, :, :, 0]).sum())
    out = io.StringIO()
    result = run_numeric(seed=0, out=out)
    assert result["by_hand"][0, 0, 0, 0] == expected
    assert f"= {expected:g}" in out.getvalue().split("total:")[1].splitlines()[0]


def test_filter_is_the_edge_kernel_on_every_channel():
    # The article's edge-detection kernel, typed from the article's picture (not from handconv).
    article_kernel = np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])
    _, w = article_example()
    assert w.shape == (3, 3, 3, 1)
    for c in range(3):
        np.testing.assert_array_equal(w[:, :, c, 0], article_kernel)
    np.testing.assert_array_equal(EDGE_KERNEL, article_kernel)


def test_python_dash_m_runs_the_demo(tmp_path):
    reference("tensorflow")
    # Run in an empty folder: the demo writes ./handconv-demo/ there.
    done = subprocess.run(
        [sys.executable, "-m", "handconv", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == 0, done.stderr
    assert "tf.nn.conv2d" in done.stdout
    folder = tmp_path / "handconv-demo"
    index = (folder / "index.html").read_text()
    written = {path.name for path in folder.iterdir()}
    for name in (
        "article-top-left.png",
        "article-moved-by-stride.png",
        "article-sliding.gif",
        "photo-comparison.png",
        "photo-feature-maps.png",
        "padding-comparison.txt",
    ):
        assert name in written and f'href="{name}"' in index
        assert (folder / name).stat().st_size > 100
    assert "handconv-demo/index.html" in done.stdout
    # The photo's max difference against TF is printed, and small (float32 rounding).
    line = next(line for line in done.stdout.splitlines() if "by hand vs tf.nn.conv2d: max |difference|" in line)
    assert float(line.split("=")[1].split()[0]) < 1e-4


def test_demo_folder_option_and_gif_frames(tmp_path):
    from PIL import Image

    from handconv.cli import main

    assert main(["demo", "--out-dir", str(tmp_path / "out")]) == 0
    with Image.open(tmp_path / "out" / "article-sliding.gif") as gif:
        assert gif.n_frames == 3 * 3 + 1  # one per output position, then the finished output


def test_unusable_out_folder_and_negative_seed_get_one_line_errors(tmp_path, capsys):
    from handconv.cli import main

    a_file = tmp_path / "a-file.txt"
    a_file.write_text("not a folder")
    # Refused up front, before the numbers and TensorFlow's import, not with a traceback at the end.
    assert main(["demo", "--out-dir", str(a_file)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1 and "--out" in captured.err
    assert main(["demo", "--out-dir", str(a_file / "sub")]) == 2
    capsys.readouterr()
    for command in (["demo", "--numbers-only"], ["explain"]):
        try:
            code = main([*command, "--seed", "-1"])
        except SystemExit as exit:  # argparse's own one-line error
            code = exit.code
        assert code == 2 and "--seed" in capsys.readouterr().err
