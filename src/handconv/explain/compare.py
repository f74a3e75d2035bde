"""Explicit padding P beside TF's SAME on one input: the article's P=1 against what the stride needs."""

from __future__ import annotations

import numpy as np

from ..conv import conv2d
from ..plan import make_plan, parse_padding
from .text import matrix_block, side_by_side

__all__ = ["compare_padding"]


def compare_padding(
    x: np.ndarray,
    w: np.ndarray,
    strides: list[int],
    dilations: list[int],
    padding_text: str,
) -> str:
    """Explicit padding P beside TF's SAME on the same input: amounts, formulas, outputs.

    The article pads P=1 on every side; TF's SAME pads what the stride needs,
    the odd zero at the bottom/right. On 5x5 with a 3x3 filter and stride 2 they
    agree; on 6x6 SAME pads (0, 1) and the outputs differ.
    """
    explicit = parse_padding(padding_text if padding_text.upper() not in ("SAME", "VALID") else "1")
    lines: list[str] = []
    plans = {}
    outputs = {}
    for name, padding in ((f"explicit {_pad_name(explicit)}", explicit), ("TF SAME", "SAME")):
        plans[name] = make_plan(x.shape, w.shape, strides, padding, "NHWC", dilations, x.dtype)
        outputs[name] = conv2d(x, w, strides, padding, dilations=dilations)[0]
    (a, pa), (b, pb) = plans.items()
    h, wd = x.shape[1:3]
    lines.append(
        f"padding on a {h}x{wd} input, filter {w.shape[0]}x{w.shape[1]}, stride {strides[0]}x{strides[1]}"
        f"{'' if dilations == [1, 1] else f', dilation {dilations[0]}x{dilations[1]}'}"
    )
    rows = [
        ("", a, b),
        ("pad (top, bottom)", str(pa.pad_amounts[0]), str(pb.pad_amounts[0])),
        ("pad (left, right)", str(pa.pad_amounts[1]), str(pb.pad_amounts[1])),
        ("output height", pa.formula(0), pb.formula(0)),
        ("output width", pa.formula(1), pb.formula(1)),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines.extend("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)
    oa, ob = outputs[a], outputs[b]
    if oa.shape != ob.shape:
        verdict = f"the outputs differ in shape: {oa.shape[:2]} vs {ob.shape[:2]}"
    elif np.array_equal(oa, ob):
        verdict = "the outputs are equal: here the two paddings are the same convolution"
    else:
        count = int((oa != ob).sum())
        verdict = f"the outputs differ in {count} of {oa.size} numbers (max |diff| {float(np.abs(oa - ob).max()):g})"
    lines.append(verdict)
    for co in range(w.shape[3]):
        lines.extend(
            side_by_side(
                [
                    matrix_block(oa[:, :, co], color=False, title=f"{a}, channel {co}"),
                    matrix_block(ob[:, :, co], color=False, title=f"{b}, channel {co}"),
                ]
            )
        )
    return "\n".join(lines) + "\n"


def _pad_name(explicit: list[list[int]]) -> str:
    (top, bottom), (left, right) = explicit[1], explicit[2]
    if top == bottom == left == right:
        return f"P={top}"
    return f"pads {top},{bottom},{left},{right}"
