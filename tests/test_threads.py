"""Every public entry point called from many threads at once gives the single-threaded result.

numba's 'workqueue' threading layer, which :mod:`handconv.methods.direct`
prefers for speed, aborts the whole process when two threads enter a parallel
region at once; handconv serialises its parallel calls. An abort would take the
test process down, so a regression here fails loudly.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import handconv
import handconv.image
from handconv.methods import METHODS

THREADS = 4
CALLS = 16


def _in_threads(function):
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(lambda _: function(), range(CALLS)))


@pytest.mark.parametrize("method", sorted(METHODS))
def test_conv2d_from_many_threads_equals_one_thread(method):
    rng = np.random.default_rng(0)
    # 3x3 stride 1 float32: a plan every registered method supports (winograd included).
    size = 12 if method == "naive" else 96
    x = rng.standard_normal((1, size, size, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 2)).astype(np.float32)
    one = handconv.conv2d(x, w, 1, "SAME", method=method)
    for out in _in_threads(lambda: handconv.conv2d(x, w, 1, "SAME", method=method)):
        np.testing.assert_array_equal(out, one)


def test_auto_photo_shape_from_many_threads():
    """The hook's smoke check: auto picks the numba 'direct' kernel on a photo shape."""
    x = np.random.default_rng(1).standard_normal((1, 256, 256, 3)).astype(np.float32)
    w = np.ones((3, 3, 3, 1), np.float32)
    one = handconv.conv2d(x, w, 1, "SAME")
    for out in _in_threads(lambda: handconv.conv2d(x, w, 1, "SAME")):
        np.testing.assert_array_equal(out, one)


def test_image_filter_from_many_threads():
    photo = handconv.image.sample_photo()
    one = handconv.image.filter(photo, "gaussian:7:1.5")
    for out in _in_threads(lambda: handconv.image.filter(photo, "gaussian:7:1.5")):
        np.testing.assert_array_equal(out, one)


def test_explain_from_many_threads():
    x = np.arange(75.0).reshape(1, 5, 5, 3)
    w = np.ones((3, 3, 3, 1))
    one = handconv.explain(x, w, 2, "SAME").output
    values = _in_threads(lambda: handconv.explain(x, w, 2, "SAME").output)
    assert all(np.array_equal(v, one) for v in values)


def test_figures_from_many_threads(tmp_path):
    """Renderers use matplotlib's Figure objects, not pyplot's global state: threads do not mix them up."""
    pytest.importorskip("matplotlib")
    from handconv.explain.figure import render_figure
    from handconv.image.compare import compare_figure

    x = np.arange(75.0).reshape(1, 5, 5, 3)
    trace = handconv.explain(x, np.ones((3, 3, 3, 1)), 2, "SAME", at=(1, 1))
    photo = handconv.image.sample_photo()[:64, :64]
    edges = handconv.image.filter(photo, "edge", mode="edge")  # not zeros: no TensorFlow panel, fast
    render_figure(trace, tmp_path / "one.png")
    compare_figure(photo, edges, tmp_path / "one-compare.png", kernel="edge", mode="edge")

    def render(i):
        render_figure(trace, tmp_path / f"t{i}.png")
        compare_figure(photo, edges, tmp_path / f"t{i}-compare.png", kernel="edge", mode="edge")
        return i

    with ThreadPoolExecutor(THREADS) as pool:
        done = list(pool.map(render, range(THREADS)))
    assert done == list(range(THREADS))
    for i in range(THREADS):
        assert (tmp_path / f"t{i}.png").read_bytes() == (tmp_path / "one.png").read_bytes()
        assert (tmp_path / f"t{i}-compare.png").read_bytes() == (tmp_path / "one-compare.png").read_bytes()
