"""Figures: sizes as asked, highlights painted on exactly the cells the trace names."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgb

import handconv
from handconv.explain.figure import (
    FIELD_COLOR,
    OUTPUT_COLOR,
    PADDING_COLOR,
    render_comparison,
    render_feature_maps,
    render_figure,
)

ARTICLE_PADDING = [[0, 0], [1, 1], [1, 1], [0, 0]]


def two_filter_trace(**kwargs):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, (1, 5, 5, 3)).astype(float)
    w = rng.integers(-1, 2, (3, 3, 3, 2)).astype(float)
    return handconv.explain(x, w, 2, ARTICLE_PADDING, bias=[1, 0], **kwargs)


def pixels(fig):
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[:, :, :3].astype(float) / 255


def axes_by_label(fig, label):
    (ax,) = [ax for ax in fig.axes if ax.get_label() == label]
    return ax


def cell_colour(fig, image, ax, row, col):
    """Colour near the top-left corner inside cell (row, col), clear of the number and grid lines."""
    x, y = ax.transData.transform((col - 0.3, row - 0.3))
    return image[int(round(image.shape[0] - y)), int(round(x))]


def test_receptive_field_and_output_cell_are_filled_where_the_trace_says():
    trace = two_filter_trace()
    step = trace.step(1, 2, 1)
    fig = render_figure(trace, step=step)
    image = pixels(fig)
    field = {(r, c) for r in step.rows for c in step.cols}
    for channel in range(3):
        ax = axes_by_label(fig, f"input:{channel}")
        for r in range(7):
            for c in range(7):
                colour = cell_colour(fig, image, ax, r, c)
                if (r, c) in field and trace.is_padding[r, c]:
                    expected = np.multiply(to_rgb(FIELD_COLOR), to_rgb(PADDING_COLOR))
                elif (r, c) in field:
                    expected = FIELD_COLOR
                elif trace.is_padding[r, c]:
                    expected = PADDING_COLOR
                else:
                    expected = "white"
                np.testing.assert_allclose(colour, to_rgb(expected), atol=0.02, err_msg=f"{channel} {r} {c}")
    out = axes_by_label(fig, "output:1")
    for r in range(3):
        for c in range(3):
            expected = OUTPUT_COLOR if (r, c) == (1, 2) else "white"
            np.testing.assert_allclose(cell_colour(fig, image, out, r, c), to_rgb(expected), atol=0.02)
    # Output channel 0 is not being computed: no green there.
    other = axes_by_label(fig, "output:0")
    assert not np.allclose(cell_colour(fig, image, other, 1, 2), to_rgb(OUTPUT_COLOR), atol=0.05)


def test_dilation_gaps_are_not_filled():
    x = np.zeros((1, 7, 7, 1))
    trace = handconv.explain(x, np.ones((3, 3, 1, 1)), dilations=2, at=(0, 0))
    fig = render_figure(trace)
    image = pixels(fig)
    ax = axes_by_label(fig, "input:0")
    np.testing.assert_allclose(cell_colour(fig, image, ax, 2, 2), to_rgb(FIELD_COLOR), atol=0.02)
    np.testing.assert_allclose(cell_colour(fig, image, ax, 1, 1), to_rgb("white"), atol=0.02)


def test_png_and_svg_files(tmp_path):
    trace = two_filter_trace(at=(0, 0))
    png = tmp_path / "figure.png"
    fig = render_figure(trace, png, dpi=80)
    from PIL import Image

    with Image.open(png) as saved:
        width, height = fig.get_size_inches() * 80
        assert abs(saved.size[0] - width) <= 1 and abs(saved.size[1] - height) <= 1
    svg = tmp_path / "figure.svg"
    render_figure(trace, svg)
    assert svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()[:2000]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.png", "figure.svg"]  # no temp files left
    with pytest.raises(handconv.HandconvError, match="png, .svg"):
        render_figure(trace, tmp_path / "figure.bmp")


def test_progressive_leaves_later_outputs_blank():
    trace = two_filter_trace(at=(0, 1))
    fig = render_figure(trace, progressive=True)
    out = axes_by_label(fig, "output:0")
    numbers = {(round(t.get_position()[1]), round(t.get_position()[0])) for t in out.texts}
    assert numbers == {(0, 0), (0, 1)}


def test_large_image_is_drawn_as_pixels_with_outline():
    x = np.random.default_rng(3).random((1, 40, 50, 1))
    trace = handconv.explain(x, np.ones((3, 3, 1, 1)), padding="SAME", at=(20, 30))
    fig = render_figure(trace)
    ax = axes_by_label(fig, "input:0")
    assert not ax.texts
    (outline,) = [p for p in ax.patches]
    assert outline.get_xy() == (30 - 0.5, 20 - 0.5) and outline.get_width() == 3


def test_feature_maps_and_comparison(tmp_path):
    x = np.random.default_rng(4).random((1, 30, 40, 3))
    trace = handconv.explain(x, np.ones((3, 3, 3, 2)), padding="SAME", at=[])
    fig = render_feature_maps(trace, tmp_path / "maps.png")
    assert len(fig.axes) == 1 + 3 + 2
    fig = render_comparison([("a", x[0]), ("b", trace.output[:, :, 0])], tmp_path / "cmp.png", title="t")
    assert len(fig.axes) == 2 and (tmp_path / "cmp.png").stat().st_size > 1000


def test_written_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    trace = two_filter_trace(at=(0, 0))
    render_figure(trace, tmp_path / "figure.png", dpi=40)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "figure.png").stat().st_mode) == 0o666 & ~umask


@pytest.mark.parametrize(
    "x, w, kwargs",
    [
        (np.ones((1, 2, 2, 1)), np.ones((3, 3, 1, 1)), {"padding": "VALID"}),  # empty output
        (np.ones((1, 1, 1, 1)), np.ones((1, 1, 1, 1)), {}),
        (np.ones((1, 5, 5, 4)), np.ones((3, 3, 2, 4)), {"padding": "SAME"}),  # 2 groups
        (np.ones((2, 3, 5, 5)), np.ones((2, 2, 3, 1)), {"data_format": "NCHW", "strides": 2, "padding": "SAME"}),
        (np.full((1, 4, 4, 1), np.nan), np.ones((2, 2, 1, 1)), {}),
        (np.ones((1, 6, 6, 1), np.int32), np.ones((3, 3, 1, 1), np.int32), {"dilations": 2}),
    ],
)
def test_unusual_configurations_render(x, w, kwargs):
    import warnings

    from handconv.explain.animation import render_frames
    from handconv.explain.text import render_text

    trace = handconv.explain(x, w, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        render_text(trace, color=True)
        render_figure(trace, dpi=30).canvas.draw()
        frames = render_frames(trace, dpi=30, max_frames=3)
        if trace.output.size:
            render_feature_maps(trace, dpi=30).canvas.draw()
    assert len({frame.size for frame in frames}) == 1


def test_feature_map_titles_clear_the_images_above_them():
    # A photo-shaped grid of two rows: each second-row title must sit below the first row's images.
    x = np.random.default_rng(5).random((1, 64, 64, 3))
    trace = handconv.explain(x, np.ones((3, 3, 3, 4)), padding="SAME", at=[])
    fig = render_feature_maps(trace)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    panels = sorted(fig.axes, key=lambda ax: int(ax.get_label().split(":")[1]))
    columns = 4
    for below, above in zip(panels[columns:], panels):
        title_top = below.title.get_window_extent(renderer).y1
        image_bottom = above.get_window_extent(renderer).y0
        assert title_top + 2 <= image_bottom, (below.get_title(), title_top, image_bottom)


def test_an_empty_output_is_drawn_without_a_made_up_number():
    # 3x3 filter, 2x2 input, VALID: TF's output is (1, 0, 0, 1); the figure must not show a "0" cell.
    trace = handconv.explain(np.full((1, 2, 2, 1), 7.0), np.ones((3, 3, 1, 1)))
    fig = render_figure(trace)
    output_ax = axes_by_label(fig, "output:0")
    assert [t.get_text() for t in output_ax.texts] == []
    assert "empty" in output_ax.get_title()


def test_titles_stay_inside_a_small_figure():
    # A 2x2 input makes a narrow first column; its title must not be cut at the figure's left edge.
    trace = handconv.explain(
        np.ones((1, 2, 2, 1)), np.ones((1, 1, 1, 1)), labels={"input": "a rather long input name.npy"}
    )
    fig = render_figure(trace)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width = fig.bbox.width
    for ax in fig.axes:
        box = ax.title.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= width, (ax.get_title(), box.x0, box.x1, width)


def test_a_figure_with_too_many_matrices_is_refused_quickly():
    # 200 filters on 3 channels would be 803 small matrices: over a minute of drawing, unreadable.
    import time

    rng = np.random.default_rng(1)
    trace = handconv.explain(rng.random((1, 5, 5, 3)), rng.random((3, 3, 3, 200)), at=(0, 0))
    started = time.perf_counter()
    with pytest.raises(handconv.HandconvError, match="too many matrices"):
        render_figure(trace)
    assert time.perf_counter() - started < 1.0


def test_figure_says_which_batch_image_it_draws():
    trace = handconv.explain(np.ones((2, 4, 4, 1)), np.ones((3, 3, 1, 1)), batch_index=1, at=(0, 0))
    fig = render_figure(trace)
    assert "image 1 of 2" in axes_by_label(fig, "input:0").get_title()


# ------------------------------------------------------------------ the backward pass
def grad_trace(grad, at, batch=2):
    from handconv.explain.figure import render_grad_figure  # noqa: F401 - imported where used

    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, (batch, 5, 5, 3)).astype(float)
    w = rng.integers(-1, 2, (3, 3, 3, 2)).astype(float)
    dy = rng.integers(-2, 3, (batch, 3, 3, 2)).astype(float)
    return handconv.explain(x, w, 2, ARTICLE_PADDING, grad=grad, out_backprop=dy, at=at)


def test_filter_gradient_figure_fills_the_cells_each_image_read(tmp_path):
    from handconv.explain.figure import render_grad_figure

    trace = grad_trace("filter", (0, 2, 1, 1))
    fig = render_grad_figure(trace, tmp_path / "grad.png")
    assert (tmp_path / "grad.png").stat().st_size > 0
    image = pixels(fig)
    for n in (0, 1):
        read = {(t.row, t.col) for t in trace.terms if t.n == n}
        assert len(read) == 9
        ax = axes_by_label(fig, f"input:{n}")
        for r in range(7):
            for c in range(7):
                colour = cell_colour(fig, image, ax, r, c)
                field_on_padding = np.multiply(to_rgb(FIELD_COLOR), to_rgb(PADDING_COLOR))
                filled = np.allclose(colour, to_rgb(FIELD_COLOR), atol=0.02) or np.allclose(
                    colour, field_on_padding, atol=0.02
                )
                assert filled == ((r, c) in read), (n, r, c)
    gradient = axes_by_label(fig, "gradient")
    for r in range(3):
        for c in range(3):
            expected = OUTPUT_COLOR if (r, c) == (0, 2) else "white"
            np.testing.assert_allclose(cell_colour(fig, image, gradient, r, c), to_rgb(expected), atol=0.02)
    assert fig.texts[-1].get_text().startswith("dL/dW[0, 2, 1, 1] = ")


def test_input_gradient_figure_marks_taps_and_outputs_per_channel():
    from handconv.explain.figure import render_grad_figure

    trace = grad_trace("input", (2, 3, 0), batch=1)
    fig = render_grad_figure(trace)
    image = pixels(fig)
    for co in (0, 1):
        taps = {(t.fy, t.fx) for t in trace.terms if t.co == co}
        fed = {(t.oy, t.ox) for t in trace.terms if t.co == co}
        assert taps and fed
        for label, cells in ((f"filter:{co}", taps), (f"dy:{co}", fed)):
            ax = axes_by_label(fig, label)
            for r in range(3):
                for c in range(3):
                    expected = FIELD_COLOR if (r, c) in cells else "white"
                    np.testing.assert_allclose(cell_colour(fig, image, ax, r, c), to_rgb(expected), atol=0.02)
    assert f"= {trace.total:g}" in fig.texts[-1].get_text()
