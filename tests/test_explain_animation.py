"""Animation: bounded frame count, the highlight moving by the stride, a readable GIF."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

import handconv
from handconv.explain.animation import frame_elements, render_animation, render_frames
from handconv.explain.figure import FIELD_COLOR, OUTPUT_COLOR, render_figure

ARTICLE_PADDING = [[0, 0], [1, 1], [1, 1], [0, 0]]


def article_trace():
    x = np.random.default_rng(0).integers(0, 3, (1, 5, 5, 3)).astype(float)
    w = np.random.default_rng(1).integers(-1, 2, (3, 3, 3, 1)).astype(float)
    return handconv.explain(x, w, 2, ARTICLE_PADDING)


def test_frame_elements_are_bounded_and_row_major():
    trace = handconv.explain(np.zeros((1, 64, 64, 1)), np.ones((3, 3, 1, 2)), padding="SAME", at=[])
    elements = frame_elements(trace, max_frames=20)
    assert len(elements) == 20
    assert elements[0] == (0, 0, 0) and elements[-1] == (63, 63, 1)
    assert elements == sorted(elements)
    with pytest.raises(handconv.HandconvError):
        frame_elements(trace, max_frames=0)


def test_gif_has_one_frame_per_position_plus_the_finished_output(tmp_path):
    trace = article_trace()
    path = tmp_path / "slide.gif"
    frames = render_animation(trace, path, dpi=50)
    assert len(frames) == 9 + 1
    assert len({frame.size for frame in frames}) == 1
    with Image.open(path) as gif:
        assert gif.n_frames == 10
        assert gif.size == frames[0].size


def test_highlight_moves_by_the_stride():
    trace = article_trace()
    dpi = 60
    frames = render_frames(trace, dpi=dpi)
    layout = render_figure(trace, highlight=False, dpi=dpi)
    layout.canvas.draw()
    height = layout.canvas.get_width_height()[1]
    axes = {ax.get_label(): ax for ax in layout.axes}

    def colour(frame, label, row, col):
        x, y = axes[label].transData.transform((col - 0.35, row - 0.35))
        return np.asarray(frame)[int(round(height - y)), int(round(x))] / 255

    for index, (oy, ox, _) in enumerate(frame_elements(trace)):
        frame = frames[index]
        for r in range(7):
            for c in range(7):
                in_field = 2 * oy <= r < 2 * oy + 3 and 2 * ox <= c < 2 * ox + 3
                got = colour(frame, "input:1", r, c)
                hit = np.allclose(got, to_rgb(FIELD_COLOR), atol=0.03) or np.allclose(
                    got, np.multiply(to_rgb(FIELD_COLOR), 200 / 255), atol=0.03
                )  # amber over white, or over grey padding
                assert hit == in_field, (oy, ox, r, c, got)
        np.testing.assert_allclose(colour(frame, "output:0", oy, ox), to_rgb(OUTPUT_COLOR), atol=0.03)


def test_mp4_needs_ffmpeg(tmp_path, monkeypatch):
    trace = article_trace()
    if shutil.which("ffmpeg"):
        render_animation(trace, tmp_path / "slide.mp4", max_frames=3, dpi=40)
        assert (tmp_path / "slide.mp4").stat().st_size > 0
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(handconv.HandconvError, match="ffmpeg"):
        render_animation(trace, tmp_path / "other.mp4")
    with pytest.raises(handconv.HandconvError, match=".gif or .mp4"):
        render_animation(trace, tmp_path / "slide.avi")
