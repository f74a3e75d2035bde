"""The trace as a picture, in the spirit of the CS231n convolution demo.

Columns: the padded input volume (one matrix per channel, padding grey), each
filter (one matrix per channel, its bias underneath), the output volume. For
the step shown, the taps of the receptive field are filled amber in every input
channel the filter reads (dilation gaps stay unfilled), the filter in use is
outlined, and the output cell being computed is filled green. Small matrices
carry their numbers; large ones (photos) are drawn as grey-level images with
the receptive field outlined.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot
state), so rendering works headless and in threads. Requires matplotlib
(``pip install 'handconv[plot]'``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import HandconvError
from ..files import atomic_path
from .trace import Step, Trace, format_number

__all__ = [
    "render_figure",
    "render_grad_figure",
    "render_feature_maps",
    "render_comparison",
    "save_figure",
    "FIELD_COLOR",
    "OUTPUT_COLOR",
    "PADDING_COLOR",
]

#: Fill of the receptive field's taps (amber).
FIELD_COLOR = "#ffc107"
#: Fill of the output cell being computed (green).
OUTPUT_COLOR = "#4caf50"
#: Fill of zero-padding cells (grey).
PADDING_COLOR = "#c8c8c8"
#: Outline of the filter in use and of the receptive field on large images.
OUTLINE_COLOR = "#1565c0"

#: Matrices with more rows or columns than this are drawn as images without numbers.
MAX_NUMBERED_SIDE = 16

_CELL_INCHES = 0.36

#: Most matrices (input channels + filter slices + output channels) one figure draws.
MAX_FIGURE_MATRICES = 200


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.colors import to_rgb
        from matplotlib.figure import Figure
        from matplotlib.patches import Rectangle
    except ImportError:  # pragma: no cover - depends on the environment
        raise HandconvError("figures need matplotlib; install it with: pip install 'handconv[plot]'") from None
    return Figure, FigureCanvasAgg, to_rgb, Rectangle


def _resolve_step(trace: Trace, step: Any) -> Step | None:
    if step is None:
        return trace.steps[0] if trace.steps else None
    if isinstance(step, Step):
        return step
    if isinstance(step, (int, np.integer)):
        return trace.steps[int(step)]
    if isinstance(step, (tuple, list)) and len(step) in (2, 3):
        try:
            return trace.step(*step)
        except KeyError as error:
            raise HandconvError(str(error.args[0])) from None
    raise HandconvError(f"step={step!r}: expected a Step, an index into trace.steps, or (oy, ox[, co])")


def is_numbered(shape: Sequence[int]) -> bool:
    return max(shape[0], shape[1]) <= MAX_NUMBERED_SIDE


def _font_size(values: np.ndarray, cell_points: float) -> float:
    longest = max((len(format_number(v)) for v in values.ravel()), default=1)
    return float(np.clip(cell_points / (0.65 * max(longest, 2)), 4, 10))


def _draw_matrix(
    ax: Any,
    values: np.ndarray,
    *,
    padding: np.ndarray | None = None,
    fills: Sequence[tuple[np.ndarray, str]] = (),
    outlines: Sequence[tuple[tuple[float, float, float, float], str]] = (),
    blank: np.ndarray | None = None,
    value_range: tuple[float, float] | None = None,
    cell_points: float = _CELL_INCHES * 72,
) -> None:
    """Draw one 2-D matrix; cell (r, c) occupies data coordinates [c-0.5, c+0.5] x [r-0.5, r+0.5].

    ``fills`` are (mask, colour) pairs painted over the cells; ``outlines`` are
    ((row0, col0, row1, col1), colour) rectangles around cell ranges (inclusive).
    """
    _, _, to_rgb, Rectangle = _matplotlib()
    height, width = values.shape
    numbered = is_numbered(values.shape)
    finite = np.where(np.isfinite(values), values, 0.0)
    if numbered:
        rgb = np.ones((height, width, 3))
    else:
        lo, hi = value_range if value_range is not None else (finite.min(), finite.max())
        grey = (finite - lo) / (hi - lo) if hi > lo else np.full(finite.shape, 0.5)
        rgb = np.repeat(np.clip(grey, 0, 1)[:, :, None], 3, axis=2)
    if padding is not None:
        rgb[padding] = to_rgb(PADDING_COLOR)
    if numbered:
        for mask, color in fills:
            # Taps on padding: the highlight tinted by the padding grey, so both still show.
            tint = np.multiply(to_rgb(color), to_rgb(PADDING_COLOR)) if padding is not None else to_rgb(color)
            rgb[mask] = to_rgb(color)
            if padding is not None:
                rgb[mask & padding] = tint
    ax.imshow(rgb, extent=(-0.5, width - 0.5, height - 0.5, -0.5), interpolation="nearest", aspect="equal")
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    if numbered:
        for edge in np.arange(-0.5, width, 1.0):
            ax.axvline(edge, color="#555555", linewidth=0.6)
        for edge in np.arange(-0.5, height, 1.0):
            ax.axhline(edge, color="#555555", linewidth=0.6)
        size = _font_size(values, cell_points)
        for r in range(height):
            for c in range(width):
                if blank is not None and blank[r, c]:
                    continue
                ax.text(c, r, format_number(values[r, c]), ha="center", va="center", fontsize=size)
    else:
        for mask, color in fills:
            rows, cols = np.nonzero(mask)
            if rows.size:
                outlines = [*outlines, ((rows.min(), cols.min(), rows.max(), cols.max()), color)]
    for (r0, c0, r1, c1), color in outlines:
        ax.add_patch(
            Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0 + 1, r1 - r0 + 1, fill=False, edgecolor=color, linewidth=2.5)
        )


def _title_inches(title: str, fontsize: float = 10) -> float:
    """About how wide ``title`` is drawn (its longest line), in inches."""
    return 0.6 * fontsize / 72 * max(len(line) for line in title.splitlines())


def _pixels(shape: Sequence[int]) -> float:
    """Inches per matrix cell: fixed for numbered matrices, shrinking for images."""
    side = max(shape[0], shape[1])
    return _CELL_INCHES if side <= MAX_NUMBERED_SIDE else max(4.0 / side, 0.005)


def render_figure(
    trace: Trace,
    path: str | os.PathLike[str] | None = None,
    *,
    step: Any = None,
    progressive: bool = False,
    highlight: bool = True,
    dpi: int = 100,
) -> Any:
    """Draw the input volume, filters and output, with one step highlighted.

    Parameters
    ----------
    trace : Trace
    path : str or path, optional
        Also save there (format from the suffix: ``.png``, ``.svg``, ``.pdf``).
    step : Step, int, or (oy, ox[, co]), optional
        The step to highlight; default the trace's first (none when the trace
        has no steps).
    progressive : bool
        Leave output cells after the highlighted position blank, as in an
        animation where the output fills in.
    highlight : bool
        False draws no highlight and no arithmetic line (the animation paints
        its own on a copy of this picture).
    dpi : int

    Returns
    -------
    matplotlib.figure.Figure
        Axes are labelled (``ax.get_label()``) ``"input:c"``, ``"filter:co:k"``
        and ``"output:co"``.
    """
    _check_matrix_count(trace)
    Figure, FigureCanvasAgg, _, _ = _matplotlib()
    chosen = _resolve_step(trace, step) if highlight else None
    plan = trace.plan
    hp, wp, channels = trace.padded_input.shape
    kh, kw, group_channels, out_channels = trace.filters.shape
    oh, ow = plan.output_hw
    rows = max(channels, group_channels, out_channels)
    input_cell, output_cell = _pixels((hp, wp)), _pixels((oh, ow))
    batch_note = f" (image {trace.batch_index} of {plan.batch})" if plan.batch > 1 else ""
    input_title = f"{trace.labels['input']}{batch_note}\npadded input {hp}x{wp}x{channels}"
    output_title = f"output {oh}x{ow}x{out_channels}" + ("" if oh and ow else "\n(empty: the filter does not fit)")
    # Each column at least as wide as its title, so small matrices do not push titles off the figure.
    column_widths = (
        [max(wp * input_cell, _title_inches(input_title))]
        + [max(kw * _CELL_INCHES, _title_inches(name)) for name in trace.labels["filters"][:out_channels]]
        + [max(ow * output_cell, 0.5, _title_inches(output_title))]
    )
    row_height = max(hp * input_cell, kh * _CELL_INCHES, oh * output_cell, 0.5)
    width = sum(column_widths) + 0.6 * len(column_widths) + 0.8
    height = row_height * rows + 0.55 * rows + 1.9
    fig = Figure(figsize=(max(width, 5.0), height), dpi=dpi)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(
        rows,
        len(column_widths),
        width_ratios=column_widths,
        left=0.04,
        right=0.98,
        top=1 - 1.25 / height,
        bottom=0.7 / height,
        wspace=0.25,
        hspace=0.35,
    )
    _draw_inputs(fig, grid, trace, chosen, input_cell, input_title)
    _draw_filters(fig, grid, trace, chosen)
    _draw_outputs(fig, grid, trace, chosen, progressive, output_cell, output_title)
    _captions(fig, trace, chosen, height)
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig


def _check_matrix_count(trace: Trace) -> None:
    """Refuse a figure of more matrices than anyone can read (and matplotlib can draw quickly)."""
    channels = trace.padded_input.shape[2]
    group_channels, out_channels = trace.filters.shape[2:]
    matrices = channels + out_channels * group_channels + out_channels
    if matrices > MAX_FIGURE_MATRICES:
        # Each matrix costs matplotlib ~0.05 s and the page would be unreadable: refuse, do not hang.
        raise HandconvError(
            f"too many matrices to draw: {channels} input channel(s) + {out_channels} filter(s) x "
            f"{group_channels} channel(s) + {out_channels} output channel(s) = {matrices}, more than "
            f"{MAX_FIGURE_MATRICES}; draw fewer filters or channels (slice them), or use the feature-map "
            "grid (--format maps) for photos"
        )


def _draw_inputs(fig: Any, grid: Any, trace: Trace, chosen: Any, input_cell: float, input_title: str) -> None:
    """The padded input, one matrix per channel, the chosen step's receptive field filled."""
    hp, wp, channels = trace.padded_input.shape
    field = np.zeros((hp, wp), bool)
    if chosen is not None:
        field[np.ix_(chosen.rows, chosen.cols)] = True
    finite_input = trace.input[np.isfinite(trace.input)]
    value_range = (float(finite_input.min()), float(finite_input.max())) if finite_input.size else None
    for c in range(channels):
        ax = fig.add_subplot(grid[c, 0], label=f"input:{c}")
        reads = chosen is not None and c in chosen.channels
        _draw_matrix(
            ax,
            trace.padded_input[:, :, c],
            padding=trace.is_padding,
            fills=[(field, FIELD_COLOR)] if reads else [],
            value_range=value_range,
            cell_points=input_cell * 72,
        )
        ax.set_ylabel(f"channel {c}", fontsize=9)
        if c == 0:
            ax.set_title(input_title, fontsize=10)


def _draw_filters(fig: Any, grid: Any, trace: Trace, chosen: Any) -> None:
    """One column per filter, one matrix per channel it reads; the chosen step's filter outlined."""
    kh, kw, group_channels, out_channels = trace.filters.shape
    for co in range(out_channels):
        in_use = chosen is not None and chosen.co == co
        for k in range(group_channels):
            ax = fig.add_subplot(grid[k, 1 + co], label=f"filter:{co}:{k}")
            _draw_matrix(
                ax,
                trace.filters[:, :, k, co],
                outlines=[((0, 0, kh - 1, kw - 1), OUTLINE_COLOR)] if in_use else [],
            )
            if k == 0:
                ax.set_title(f"{trace.labels['filters'][co]}\n{kh}x{kw}x{group_channels}", fontsize=10)
            if k == group_channels - 1:
                ax.set_xlabel(f"bias {format_number(trace.bias[co])}", fontsize=9)


def _draw_outputs(
    fig: Any, grid: Any, trace: Trace, chosen: Any, progressive: bool, output_cell: float, output_title: str
) -> None:
    """The output, one matrix per channel; with ``progressive`` the cells after the chosen one blank."""
    oh, ow = trace.plan.output_hw
    out_channels = trace.filters.shape[3]
    order = np.arange(oh)[:, None] * ow + np.arange(ow)[None, :]
    for co in range(out_channels):
        done = np.ones((oh, ow), bool)
        if progressive and chosen is not None:
            # Row-major over (oy, ox, co): channels before chosen.co are done at its position.
            current = chosen.oy * ow + chosen.ox
            done = (order < current) | ((order == current) & (co <= chosen.co))
        ax = fig.add_subplot(grid[co, -1], label=f"output:{co}")
        cell = np.zeros((oh, ow), bool)
        if chosen is not None and chosen.co == co:
            cell[chosen.oy, chosen.ox] = True
        if oh and ow:
            _draw_matrix(
                ax,
                np.where(done, trace.output[:, :, co], 0.0),
                fills=[(cell, OUTPUT_COLOR)],
                blank=~done,
                cell_points=output_cell * 72,
            )
        else:  # an empty output (TF's shape (N, 0, 0, C)): one blank cell, no made-up number
            _draw_matrix(ax, np.zeros((1, 1)), blank=np.ones((1, 1), bool), cell_points=output_cell * 72)
        ax.set_ylabel(f"channel {co}", fontsize=9)
        if co == 0:
            ax.set_title(output_title, fontsize=10)


def _captions(fig: Any, trace: Trace, chosen: Any, height: float) -> None:
    """The title with the output-size arithmetic, and the chosen step's sum under the picture."""
    formulas = trace.formulas
    size_line = (
        f"output size: {formulas[0]}"
        if formulas[0] == formulas[1]
        else f"output height: {formulas[0]}     width: {formulas[1]}"
    )
    fig.suptitle(f"{trace.labels['title']}\n{size_line}", fontsize=11)
    if chosen is not None:
        sums = chosen.arithmetic.splitlines()[-1].replace("total: ", "")
        fig.text(
            0.5,
            0.25 / height,
            f"output[{chosen.oy}, {chosen.ox}, {chosen.co}] = {sums}",
            ha="center",
            va="bottom",
            fontsize=10,
        )


def save_figure(fig: Any, path: str | os.PathLike[str], *, dpi: int = 100) -> None:
    """Save ``fig`` atomically; the format comes from the suffix (png, svg, pdf)."""
    suffix = os.fspath(path).rsplit(".", 1)[-1].lower() if "." in os.fspath(path) else ""
    if suffix not in ("png", "svg", "pdf"):
        raise HandconvError(f"cannot save a figure as {os.fspath(path)!r}; expected a .png, .svg or .pdf path")
    with atomic_path(path) as temp:
        fig.savefig(temp, format=suffix, dpi=dpi)


def render_feature_maps(
    trace: Trace,
    path: str | os.PathLike[str] | None = None,
    *,
    max_maps: int = 16,
    columns: int = 4,
    dpi: int = 100,
) -> Any:
    """A grid of the input's channels and every output channel (feature map) as images.

    Parameters
    ----------
    trace : Trace
        Typically of a photo, explained with ``at=[]``.
    path : str or path, optional
        Also save there.
    max_maps : int
        At most this many panels (input channels first, then feature maps).
    columns : int
    dpi : int

    Returns
    -------
    matplotlib.figure.Figure
    """
    Figure, FigureCanvasAgg, _, _ = _matplotlib()
    panels: list[tuple[str, np.ndarray, str]] = []
    image = trace.input
    if image.shape[2] == 3:
        lo, hi = float(np.nanmin(image)), float(np.nanmax(image))
        rgb = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)
        panels.append((f"{trace.labels['input']} (RGB)", rgb, ""))
    for c in range(image.shape[2]):
        panels.append((f"input channel {c}", image[:, :, c], "gray"))
    for co in range(trace.output.shape[2]):
        panels.append((f"feature map {co}: {trace.labels['filters'][co]}", trace.output[:, :, co], "gray"))
    panels = [panel for panel in panels if panel[1].size][:max_maps]
    if not panels:
        raise HandconvError("nothing to draw: the input and the output are empty")
    columns = min(columns, len(panels))
    rows = -(-len(panels) // columns)
    # Constrained layout keeps each title clear of the images above it; tight_layout let
    # square images grow into the next row's titles.
    fig = Figure(figsize=(3.2 * columns, 3.2 * rows + 0.6), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    for index, (title, values, cmap) in enumerate(panels):
        ax = fig.add_subplot(rows, columns, index + 1, label=f"panel:{index}")
        ax.imshow(values, cmap=cmap or None, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{trace.labels['title']}: feature maps", fontsize=11)
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig


def render_comparison(
    panels: Sequence[tuple[str, np.ndarray]],
    path: str | os.PathLike[str] | None = None,
    *,
    title: str = "",
    dpi: int = 100,
) -> Any:
    """Images side by side with titles, e.g. original | handconv | TensorFlow | difference.

    Parameters
    ----------
    panels : sequence of (title, ndarray of shape (H, W) or (H, W, 3))
        2-D arrays are drawn in grey levels scaled to their own range, RGB
        arrays as they are (floats in [0, 1] or uint8).
    path : str or path, optional
    title : str
    dpi : int

    Returns
    -------
    matplotlib.figure.Figure
    """
    Figure, FigureCanvasAgg, _, _ = _matplotlib()
    fig = Figure(figsize=(3.4 * len(panels), 3.9), dpi=dpi)
    FigureCanvasAgg(fig)
    for index, (name, values) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), index + 1, label=f"panel:{index}")
        ax.imshow(values, cmap="gray" if np.ndim(values) == 2 else None, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig


# ------------------------------------------------------------------ the backward pass
#: Images of a filter gradient drawn as rows of the figure (the sum covers them all).
MAX_GRAD_FIGURE_ROWS = 3


def _wrap(text: str, width: int = 110) -> str:
    """A long sum cut after ``width`` characters, keeping its result."""
    if len(text) <= width:
        return text
    head, _, result = text.rpartition(" = ")
    return head[: width - len(result) - 8] + " ... = " + result


def render_grad_figure(trace: Any, path: str | os.PathLike[str] | None = None, *, dpi: int = 100) -> Any:
    """Draw one gradient element of a :class:`~handconv.explain.backward.GradTrace` as its sum.

    Filter gradient ``dL/dW[fy, fx, k, co]``: one row per image (at most
    ``MAX_GRAD_FIGURE_ROWS``): the padded input channel with the cells the tap
    read filled amber, ``dy[n, :, :, co]``, the products ``x * dy`` at each output
    position, and the whole ``dL/dW[:, :, k, co]`` with the element filled green.
    Input gradient ``dL/dx[n, y, x, c]``: the padded input with the pixel filled and
    the whole ``dL/dx[n, :, :, c]``, then one row per output channel the pixel fed:
    the filter with the taps that read it filled, ``dy`` with the outputs it fed
    filled, and the products there.

    Parameters
    ----------
    trace : GradTrace
    path : str or path, optional
        Also save there (``.png``, ``.svg``, ``.pdf``).
    dpi : int

    Returns
    -------
    matplotlib.figure.Figure
        Axes are labelled ``"input:n"``, ``"dy:n"`` / ``"dy:co"``, ``"products:n"`` /
        ``"products:co"``, ``"filter:co"``, ``"gradient"``.
    """
    groups = trace.groups_of_terms()
    if trace.grad == "filter":
        shown = groups[:MAX_GRAD_FIGURE_ROWS]
        fig, grid = _grad_figure(trace, max(len(shown), 1), 4, dpi)
        _draw_filter_grad(fig, grid, trace, shown)
        if len(groups) > len(shown):
            fig.text(
                0.5,
                0.35 / fig.get_figheight(),
                f"(images {len(shown)}..{len(groups) - 1} not drawn; their sums are in the total)",
                ha="center",
                fontsize=8,
            )
    else:
        fig, grid = _grad_figure(trace, 1 + len(groups), 3, dpi)
        _draw_input_grad(fig, grid, trace, groups)
    arithmetic = trace.arithmetic_lines(max_terms=12)
    fig.suptitle(f"{trace.labels['title']}: backward pass, {trace.name}", fontsize=11)
    fig.text(0.5, 0.12 / fig.get_figheight(), _wrap(arithmetic[-1]), ha="center", va="bottom", fontsize=9)
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig


def _grad_figure(trace: Any, rows: int, columns: int, dpi: int) -> tuple[Any, Any]:
    """An empty figure and its ``rows x columns`` grid, sized for the trace's largest matrix."""
    Figure, FigureCanvasAgg, _, _ = _matplotlib()
    if rows * columns > MAX_FIGURE_MATRICES:
        raise HandconvError(f"too many matrices to draw ({rows * columns}); explain a smaller convolution")
    oh, ow = trace.plan.output_hw
    hp, wp = trace.is_padding.shape
    cell = max(_pixels((hp, wp)), _pixels((oh, ow)))
    side = max(hp, wp, oh, ow, *trace.plan.filter_hw) * cell
    fig = Figure(figsize=(max(columns * (side + 0.9) + 0.6, 6.0), rows * (side + 0.9) + 1.6), dpi=dpi)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(
        rows,
        columns,
        left=0.04,
        right=0.98,
        top=1 - 1.1 / fig.get_figheight(),
        bottom=0.6 / fig.get_figheight(),
        wspace=0.3,
        hspace=0.45,
    )
    return fig, grid


def _products_grid(terms: Any, output_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The terms' products at their output positions, and where there is one."""
    values, where = np.zeros(output_hw), np.zeros(output_hw, bool)
    for t in terms:
        values[t.oy, t.ox], where[t.oy, t.ox] = t.product, True
    return values, where


def _draw_gradient(ax: Any, gradient: np.ndarray, at: tuple[int, int], **options: Any) -> None:
    """The whole 2-D gradient slice with the explained element filled green."""
    mark = np.zeros(gradient.shape, bool)
    mark[at] = True
    _draw_matrix(ax, gradient, fills=[(mark, OUTPUT_COLOR)], **options)


def _draw_padded_input(ax: Any, trace: Any, n: int, channel: int, filled: np.ndarray) -> None:
    """Channel ``channel`` of padded image ``n``, padding marked, the cells in ``filled`` amber."""
    _draw_matrix(
        ax,
        trace.padded_input[n, :, :, channel],
        padding=trace.is_padding,
        fills=[(filled, FIELD_COLOR)],
        cell_points=_pixels(trace.is_padding.shape) * 72,
    )


def _draw_filter_grad(fig: Any, grid: Any, trace: Any, shown: Any) -> None:
    """dL/dW: per image the cells the tap read, dy and the products; the whole gradient top right."""
    fy, fx, k, co = trace.at
    channel = trace.channel
    output_points = _pixels(trace.plan.output_hw) * 72
    for index, (_label, terms) in enumerate(shown):
        n = terms[0].n
        field = np.zeros(trace.is_padding.shape, bool)
        for t in terms:
            field[t.row, t.col] = True
        ax = fig.add_subplot(grid[index, 0], label=f"input:{n}")
        _draw_padded_input(ax, trace, n, channel, field)
        ax.set_title(f"x[{n}, :, :, {channel}] padded\ncells tap ({fy}, {fx}) read", fontsize=9)
        ax = fig.add_subplot(grid[index, 1], label=f"dy:{n}")
        _draw_matrix(ax, trace.out_backprop[n, :, :, co], cell_points=output_points)
        ax.set_title(f"dy[{n}, :, :, {co}]", fontsize=9)
        values, _ = _products_grid(terms, trace.plan.output_hw)
        ax = fig.add_subplot(grid[index, 2], label=f"products:{n}")
        _draw_matrix(ax, values, cell_points=output_points)
        ax.set_title(f"products x*dy\nsum {format_number(sum(t.product for t in terms))}", fontsize=9)
    ax = fig.add_subplot(grid[0, 3], label="gradient")
    _draw_gradient(ax, trace.gradient[:, :, k, co], (fy, fx))
    ax.set_title(f"dL/dW[:, :, {k}, {co}]", fontsize=9)


def _draw_input_grad(fig: Any, grid: Any, trace: Any, shown: Any) -> None:
    """dL/dx: the pixel and the whole gradient on top; per output channel the taps, dy and the products."""
    plan = trace.plan
    y, x, channel = trace.at
    n = trace.batch_index
    (top, _), (left, _) = plan.pad_amounts
    pixel = np.zeros(trace.is_padding.shape, bool)
    pixel[y + top, x + left] = True
    ax = fig.add_subplot(grid[0, 0], label=f"input:{n}")
    _draw_padded_input(ax, trace, n, channel, pixel)
    ax.set_title(f"x[{n}, :, :, {channel}] padded", fontsize=9)
    ax = fig.add_subplot(grid[0, 1], label="gradient")
    gradient = trace.gradient[:, :, channel]
    _draw_gradient(ax, gradient, (y, x), cell_points=_pixels(trace.gradient.shape) * 72)
    ax.set_title(f"dL/dx[{n}, :, :, {channel}]", fontsize=9)
    output_points = _pixels(plan.output_hw) * 72
    for index, (_label, terms) in enumerate(shown, start=1):
        out_channel = terms[0].co
        k = channel - (out_channel // plan.out_channels_per_group) * plan.filter_in_channels
        taps = np.zeros(plan.filter_hw, bool)
        for t in terms:
            taps[t.fy, t.fx] = True
        values, where = _products_grid(terms, plan.output_hw)
        ax = fig.add_subplot(grid[index, 0], label=f"filter:{out_channel}")
        _draw_matrix(ax, trace.filters[:, :, k, out_channel].astype(float), fills=[(taps, FIELD_COLOR)])
        ax.set_title(f"W[:, :, {k}, {out_channel}]\ntaps that read it", fontsize=9)
        ax = fig.add_subplot(grid[index, 1], label=f"dy:{out_channel}")
        _draw_matrix(
            ax, trace.out_backprop[n, :, :, out_channel], fills=[(where, FIELD_COLOR)], cell_points=output_points
        )
        ax.set_title(f"dy[{n}, :, :, {out_channel}]\noutputs it fed", fontsize=9)
        ax = fig.add_subplot(grid[index, 2], label=f"products:{out_channel}")
        _draw_matrix(ax, values, blank=~where, cell_points=output_points)
        ax.set_title(f"products W*dy\nsum {format_number(sum(t.product for t in terms))}", fontsize=9)
