"""The trace as terminal text: matrices per channel, the receptive field marked, sums written out.

Colour (ANSI) is used when the output stream is a terminal and ``NO_COLOR`` is
not set (https://no-color.org); otherwise the receptive field is marked with
plain ASCII brackets ``[ 2]`` and padding cells with a dot ``0.``, so the text
reads the same in a log file or a pipe.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING

import numpy as np

from .numbers import format_number

if TYPE_CHECKING:  # a trace does not import its renderers at run time, nor they it
    from .trace import Step, Trace

__all__ = ["render_text", "use_color", "matrix_block", "side_by_side"]

#: Matrices larger than this (rows or columns) are cropped around the receptive field.
MAX_MATRIX_SIDE = 11

_RESET = "\x1b[0m"
_FIELD = "\x1b[1;30;43m"  # bold black on yellow: the receptive field
_OUTPUT = "\x1b[1;30;42m"  # bold black on green: the output cell being computed
_PADDING = "\x1b[2m"  # dim: zero padding
_HEADING = "\x1b[1m"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def use_color(stream: IO[str] | None = None) -> bool:
    """Whether to colour text for ``stream`` (default stdout): a TTY and no ``NO_COLOR``."""
    stream = sys.stdout if stream is None else stream
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _visible_len(text: str) -> int:
    return len(_ANSI.sub("", text))


def side_by_side(blocks: Sequence[list[str]], gap: int = 4) -> list[str]:
    """Blocks of lines next to each other, each padded to its visible width."""
    widths = [max((_visible_len(line) for line in block), default=0) for block in blocks]
    height = max(len(block) for block in blocks)
    lines = []
    for i in range(height):
        parts = []
        for block, width in zip(blocks, widths):
            line = block[i] if i < len(block) else ""
            parts.append(line + " " * (width - _visible_len(line)))
        lines.append((" " * gap).join(parts).rstrip())
    return lines


def _window(size: int, lo: int, hi: int) -> tuple[int, int]:
    """Index range to show along an axis of ``size``, keeping ``lo..hi`` (inclusive) visible."""
    if size <= MAX_MATRIX_SIDE:
        return 0, size
    start = max(0, min(lo - 2, size - MAX_MATRIX_SIDE))
    stop = max(min(size, hi + 3), start + min(MAX_MATRIX_SIDE, size))
    return start, min(stop, size)


def matrix_block(
    values: np.ndarray,
    *,
    marked: np.ndarray | None = None,
    padding: np.ndarray | None = None,
    color: bool,
    mark_code: str = _FIELD,
    title: str = "",
) -> list[str]:
    """A 2-D array as aligned text, cropped around ``marked`` when large.

    ``marked`` and ``padding`` are boolean arrays of ``values``' shape.
    """
    marked = np.zeros(values.shape, bool) if marked is None else marked
    padding = np.zeros(values.shape, bool) if padding is None else padding
    if marked.any():
        rows, cols = np.nonzero(marked)
        r0, r1 = _window(values.shape[0], rows.min(), rows.max())
        c0, c1 = _window(values.shape[1], cols.min(), cols.max())
    else:
        r0, r1 = _window(values.shape[0], 0, 0)
        c0, c1 = _window(values.shape[1], 0, 0)
    texts = [[format_number(v) for v in row[c0:c1]] for row in values[r0:r1]]
    width = max((len(t) for row in texts for t in row), default=1)
    lines = [title] if title else []
    if r0 > 0:
        lines.append(f"  ... rows 0..{r0 - 1} not shown")
    for i, row in enumerate(texts):
        cells = []
        for j, text in enumerate(row):
            y, x = r0 + i, c0 + j
            cell = text.rjust(width)
            # Without colour a marked cell is bracketed and a padding cell ends in a dot.
            if marked[y, x]:
                cell = f" {mark_code}{cell}{_RESET} " if color else f"[{cell}]"
            elif padding[y, x]:
                cell = f" {_PADDING}{cell}{_RESET} " if color else f" {cell}."
            else:
                cell = f" {cell} "
            cells.append(cell)
        prefix = "... " if c0 > 0 else ""
        suffix = " ..." if c1 < values.shape[1] else ""
        lines.append((prefix + ("" if color else " ").join(cells) + suffix).rstrip())
    if r1 < values.shape[0]:
        lines.append(f"  ... rows {r1}..{values.shape[0] - 1} not shown")
    return lines


def _heading(text: str, color: bool) -> str:
    return f"{_HEADING}{text}{_RESET}" if color else text


def _header(trace: Trace) -> list[str]:
    plan = trace.plan
    (top, bottom), (left, right) = plan.pad_amounts
    lines = [
        f"{trace.labels['title']}: {trace.labels['input']} through " + ", ".join(trace.labels["filters"]),
        plan.describe(),
        f"padded input {plan.padded_hw[0]}x{plan.padded_hw[1]}"
        f" (padding top {top}, bottom {bottom}, left {left}, right {right}); "
        f"output {plan.output_hw[0]}x{plan.output_hw[1]}x{plan.out_channels}",
    ]
    if plan.batch > 1:
        lines.append(f"explaining batch image {trace.batch_index} of {plan.batch}")
    if trace.method != "naive":
        lines.append(f"(output computed by conv2d method '{trace.method}')")
    return lines


def _step_lines(trace: Trace, step: Step, color: bool) -> list[str]:
    name = trace.labels["filters"][step.co]
    lines = [
        _heading(
            f"output[{step.oy}, {step.ox}, {step.co}] ({name}): rows {list(step.rows)}, "
            f"columns {list(step.cols)} of the padded input",
            color,
        )
    ]
    field = np.zeros(trace.is_padding.shape, bool)
    field[np.ix_(step.rows, step.cols)] = True
    arithmetic = step.arithmetic.splitlines()
    for k, channel in enumerate(step.channels):
        blocks = [
            matrix_block(
                trace.padded_input[:, :, channel],
                marked=field,
                padding=trace.is_padding,
                color=color,
                title=f"input channel {channel} (padded)",
            ),
            matrix_block(step.weights[:, :, k], color=color, title=f"{name}, channel {k}"),
            matrix_block(step.products[:, :, k], color=color, title="products"),
        ]
        lines.extend(side_by_side(blocks))
        lines.append(arithmetic[k])
        lines.append("")
    lines.append(arithmetic[-1])
    cell = np.zeros(trace.output.shape[:2], bool)
    cell[step.oy, step.ox] = True
    lines.extend(
        matrix_block(
            trace.output[:, :, step.co],
            marked=cell,
            color=color,
            mark_code=_OUTPUT,
            title=f"output channel {step.co} ({name})",
        )
    )
    return lines


def render_text(trace: Trace, color: bool | None = None, *, stream: IO[str] | None = None) -> str:
    """The trace as text for a terminal.

    Parameters
    ----------
    trace : Trace
    color : bool, optional
        ANSI colours; by default when ``stream`` (stdout) is a terminal and
        ``NO_COLOR`` is unset. Without colour the receptive field is bracketed
        ``[ 2]`` and padding cells end in a dot ``0.``.
    stream : file, optional
        Where the text will go, for the colour decision.

    Returns
    -------
    str

    Examples
    --------
    >>> import numpy as np, handconv
    >>> x = np.arange(4.0).reshape(1, 2, 2, 1)
    >>> trace = handconv.explain(x, np.ones((2, 2, 1, 1)), padding="SAME", at=(1, 1))
    >>> print(render_text(trace, color=False).split("output[1, 1, 0]")[1])
     (filter 0): rows [1, 2], columns [1, 2] of the padded input
    input channel 0 (padded)    filter 0, channel 0    products
     0   1   0.                  1   1                  3   0
     2  [3] [0]                  1   1                  0   0
     0. [0] [0]
    channel 0: 3*1 + 0*1 + 0*1 + 0*1 = 3
    <BLANKLINE>
    total: 3 + 0 (bias) = 3
    output channel 0 (filter 0)
     6   4
     5  [3]
    <BLANKLINE>
    """
    if color is None:
        color = use_color(stream)
    lines = _header(trace)
    lines.append("")
    lines.append(_heading("padded input (padding marked with '.')" if not color else "padded input", color))
    for channel in range(trace.padded_input.shape[2]):
        lines.extend(
            matrix_block(
                trace.padded_input[:, :, channel],
                padding=trace.is_padding,
                color=color,
                title=f"channel {channel}",
            )
        )
    lines.append("")
    for step in trace.steps:
        lines.extend(_step_lines(trace, step, color))
        lines.append("")
    if not trace.steps:
        lines.append("(no output positions explained; pass at=(row, col))")
    return "\n".join(lines).rstrip() + "\n"


# ------------------------------------------------------------------ the backward pass
#: Images of a filter gradient drawn as matrices (the arithmetic lists every image).
MAX_GRAD_IMAGES = 3


def render_grad_text(trace, color: bool | None = None, *, stream: IO[str] | None = None) -> str:
    """A :class:`~handconv.explain.backward.GradTrace` as text for a terminal.

    Filter gradient: for each image, the padded input channel with the cells the
    tap read marked, ``dy`` of the output channel, and the products (one per
    output position); then the sum. Input gradient: for each output channel the
    pixel fed, the filter with the taps that read it marked, ``dy`` with the
    outputs it fed marked, and the products; then the sum.

    Examples
    --------
    >>> import numpy as np, handconv
    >>> x = np.arange(9.0).reshape(1, 3, 3, 1)
    >>> dy = np.array([[1.0, 0.0], [0.0, 2.0]]).reshape(1, 2, 2, 1)
    >>> t = handconv.explain(x, np.ones((2, 2, 1, 1)), grad="filter", out_backprop=dy, at=(0, 1, 0, 0))
    >>> print(render_grad_text(t, color=False).partition("image 0")[2][1:])
    (input channel 0, padded)    dy[0, :, :, 0]    products x*dy
     0  [1] [2]                   1   0              1    0
     3  [4] [5]                   0   2              0   10
     6   7   8
    dL/dW[0, 1, 0, 0] = 1*1 + 2*0 + 4*0 + 5*2 = 11
    <BLANKLINE>
    whole gradient dL/dW[:, :, 0, 0] (filter 0, channel 0)
      8  [11]
     17   20
    <BLANKLINE>
    """
    if color is None:
        color = use_color(stream)
    lines = [_heading(f"backward pass: {trace.name}", color), trace.plan.describe()]
    if trace.grad == "filter":
        lines += _filter_grad_lines(trace, color)
    else:
        lines += _input_grad_lines(trace, color)
    return "\n".join(lines).rstrip() + "\n"


def _filter_grad_lines(trace, color: bool) -> list[str]:
    """dL/dW[fy, fx, k, co]: per image the input under the tap, dy and the products; the sum; the whole gradient."""
    fy, fx, k, co = trace.at
    name = trace.labels["filters"][co]
    channel = trace.channel
    lines = [
        f"{trace.name} is the gradient of weight ({fy}, {fx}) of {name}, channel {k} (it reads input "
        f"channel {channel}): the sum over every image and output position of the input value under "
        f"that tap times the output's gradient dy",
        "",
    ]
    arithmetic = trace.arithmetic_lines()
    by_image = trace.groups_of_terms()
    for index, (label, terms) in enumerate(by_image):
        if index >= MAX_GRAD_IMAGES:
            lines.append(f"(images {index}..{len(by_image) - 1}: their sums are below)")
            break
        n = terms[0].n
        field = np.zeros(trace.is_padding.shape, bool)
        products = np.zeros(trace.plan.output_hw)
        for t in terms:
            field[t.row, t.col] = True
            products[t.oy, t.ox] = t.product
        lines.append(_heading(label, color))
        lines.extend(
            side_by_side(
                [
                    matrix_block(
                        trace.padded_input[n, :, :, channel],
                        marked=field,
                        padding=trace.is_padding,
                        color=color,
                        title=f"(input channel {channel}, padded)",
                    ),
                    matrix_block(trace.out_backprop[n, :, :, co], color=color, title=f"dy[{n}, :, :, {co}]"),
                    matrix_block(products, color=color, title="products x*dy"),
                ]
            )
        )
        if len(by_image) > 1:
            lines += [arithmetic[index], ""]
    lines.append(arithmetic[-1])
    title = f"whole gradient dL/dW[:, :, {k}, {co}] ({name}, channel {k})"
    return lines + _whole_gradient_lines(trace.gradient[:, :, k, co], (fy, fx), color, title)


def _input_grad_lines(trace, color: bool) -> list[str]:
    """dL/dx[n, y, x, c]: the pixel; per output channel the taps, dy and the products; the sum; the whole gradient."""
    plan = trace.plan
    y, x, channel = trace.at
    n = trace.batch_index
    (top, _), (left, _) = plan.pad_amounts
    lines = [
        f"{trace.name} is the gradient of input pixel ({y}, {x}), channel {channel}, of image {n}: the sum "
        "over every output it fed of the weight that read it times that output's gradient dy",
        "",
    ]
    pixel = np.zeros(trace.is_padding.shape, bool)
    pixel[y + top, x + left] = True
    lines.extend(
        matrix_block(
            trace.padded_input[n, :, :, channel],
            marked=pixel,
            padding=trace.is_padding,
            color=color,
            title=f"input channel {channel} of image {n} (padded)",
        )
    )
    lines.append("")
    arithmetic = trace.arithmetic_lines()
    groups = trace.groups_of_terms()
    for index, (label, terms) in enumerate(groups):
        co = terms[0].co
        k = channel - (co // plan.out_channels_per_group) * plan.filter_in_channels
        taps = np.zeros(plan.filter_hw, bool)
        fed = np.zeros(plan.output_hw, bool)
        products = np.zeros(plan.output_hw)
        for t in terms:
            taps[t.fy, t.fx] = True
            fed[t.oy, t.ox] = True
            products[t.oy, t.ox] = t.product
        lines.append(_heading(f"{label} ({trace.labels['filters'][co]})", color))
        lines.extend(
            side_by_side(
                [
                    matrix_block(
                        trace.filters[:, :, k, co].astype(float), marked=taps, color=color, title=f"W[:, :, {k}, {co}]"
                    ),
                    matrix_block(
                        trace.out_backprop[n, :, :, co], marked=fed, color=color, title=f"dy[{n}, :, :, {co}]"
                    ),
                    matrix_block(products, marked=fed, color=color, title="products W*dy"),
                ]
            )
        )
        if len(groups) > 1:
            lines += [arithmetic[index], ""]
    lines.append(arithmetic[-1])
    title = f"whole gradient dL/dx[{n}, :, :, {channel}]"
    return lines + _whole_gradient_lines(trace.gradient[:, :, channel], (y, x), color, title)


def _whole_gradient_lines(gradient: np.ndarray, at: tuple[int, int], color: bool, title: str) -> list[str]:
    """The whole 2-D gradient slice with the explained element marked, after a blank line."""
    cell = np.zeros(gradient.shape, bool)
    cell[at] = True
    return ["", *matrix_block(gradient, marked=cell, color=color, mark_code=_OUTPUT, title=title)]
