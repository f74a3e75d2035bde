"""Valid taps: one GEMM per filter tap over the outputs whose tap reads the image, padding left out.

Filter tap ``(ky, kx)`` of output ``(oy, ox)`` reads input pixel ``(oy * sh + ky
* dh - top, ox * sw + kx * dw - left)``. For a given tap, the outputs where that
pixel lies inside the image form one rectangle, and the pixels they read one
strided slice of the (unpadded) input. So each tap is one matrix product::

    out[:, oy0:oy1, ox0:ox1] += x[:, rows, cols] @ filters[ky, kx]     # (pixels, C) @ (C, C_out)

and a tap whose rectangle is empty costs nothing. Where the padding outweighs
the image (an 11x11 filter on 8x8 maps: 57% of the receptive fields' numbers are
padding zeros) this does the multiplications that matter only, where every
other method multiplies the zeros too.

Leaving the zeros out changes nothing while the filters are finite (``0 * w``
adds a zero), but TF multiplies them: an Inf or NaN weight over the padding
gives NaN there (``Inf * 0``). A filter bank holding one is computed by
:func:`.im2col.conv2d_im2col`, which multiplies exactly TF's taps.
"""

from __future__ import annotations

import math

import numpy as np

from ..layout import channels_last_copy
from ..plan import ConvPlan
from . import cost
from .im2col import band_count, bands, conv2d_im2col
from .scratch import scratch


def supports(plan: ConvPlan) -> bool:
    """One channel group, floating point."""
    return plan.groups == 1 and plan.compute_dtype.kind == "f"


def tap_range(tap: int, size: int, outputs: int, stride: int, dilation: int, before: int) -> tuple[int, int, int]:
    """(first output, stop, first input) of the outputs whose tap ``tap`` reads inside ``size`` input samples.

    Output ``o`` reads input ``o * stride + tap * dilation - before``.

    >>> tap_range(0, 8, 4, 2, 1, 4)  # SAME: 11 taps on 8 samples, stride 2, 4 zeros before
    (2, 4, 0)
    >>> tap_range(10, 8, 4, 2, 1, 4)
    (0, 1, 6)
    >>> tap_range(0, 3, 3, 1, 1, 5)[:2]  # only padding under this tap: no output
    (3, 3)
    """
    offset = tap * dilation - before
    first = min(outputs, max(0, -(offset // stride)))  # ceil(-offset / stride)
    stop = max(first, min(outputs, (size - 1 - offset) // stride + 1))
    return first, stop, first * stride + offset


def _ranges(plan: ConvPlan) -> list[tuple[tuple[int, int], tuple[int, int, int], tuple[int, int, int]]]:
    """For every tap with some output: ((ky, kx), row range, column range), as :func:`tap_range` gives them."""
    (kh, kw), (h, w), (oh, ow) = plan.filter_hw, plan.input_hw, plan.output_hw
    (sh, sw), (dh, dw) = plan.strides, plan.dilations
    (top, _), (left, _) = plan.pad_amounts
    rows = [tap_range(ky, h, oh, sh, dh, top) for ky in range(kh)]
    cols = [tap_range(kx, w, ow, sw, dw, left) for kx in range(kw)]
    return [
        ((ky, kx), rows[ky], cols[kx])
        for ky in range(kh)
        for kx in range(kw)
        if rows[ky][1] > rows[ky][0] and cols[kx][1] > cols[kx][0]
    ]


def valid_fraction(plan: ConvPlan) -> float:
    """The share of the receptive fields' pixels that lie inside the image (1.0 for VALID padding).

    >>> from handconv.plan import make_plan
    >>> round(valid_fraction(make_plan((16, 8, 8, 256), (11, 11, 256, 8), 2, "SAME")), 2)
    0.43
    """
    return _valid_share(plan, _ranges(plan))


def _valid_share(plan: ConvPlan, found) -> float:
    pixels = sum((r[1] - r[0]) * (c[1] - c[0]) for _, r, c in found)
    return pixels / max(1, plan.output_hw[0] * plan.output_hw[1] * math.prod(plan.filter_hw))


#: Input slice and product of one band of output rows: bounds the workspace on large images. Bands of 1 MiB, to
#: keep them in L2 while every tap adds into them, were no faster (S6, g055) or 10% slower (g158, g177).
BAND_BYTES = 8 * 2**20
#: A band holds at least this many output pixels (a thinner GEMM is mostly call overhead).
MIN_BAND_PIXELS = 256


def _rows_per_band(plan: ConvPlan) -> int:
    pixel_bytes = (plan.in_channels + plan.out_channels) * plan.compute_dtype.itemsize
    ow = max(1, plan.output_hw[1])
    return max(1, BAND_BYTES // (ow * pixel_bytes), -(-MIN_BAND_PIXELS // ow))


def workspace_bytes(plan: ConvPlan) -> int:
    """One tap's slice of the input over a band, and its product."""
    if not supports(plan):
        return 0
    return _band_pixels(plan) * (plan.in_channels + plan.out_channels) * plan.compute_dtype.itemsize


def _band_pixels(plan: ConvPlan) -> int:
    """Output pixels in the largest band (:func:`.im2col.bands`: whole images, or rows of one)."""
    return min(plan.batch * plan.output_hw[0], _rows_per_band(plan)) * plan.output_hw[1]


#: ``auto`` considers this method only where at most this share of the receptive fields' pixels lies inside the
#: image, the plans it is for. Elsewhere it is a per-tap GEMM with a pass over the output per tap: given every
#: cell it estimated cheaper (18 sweep cells, 2026-12-01), it lost to ``im2col`` on most (S8 2.8 against 2.2 ms,
#: g033 20 against 16, g175 21 against 14) and won four (g158 36 against 48, g177 28 against 31, S9, g176): the
#: calibration grid's small cells, where its weights come from, do not show its memory passes.
AUTO_BELOW = 0.75

#: Weights of :func:`estimate`'s terms (calls, output passes, slice copies, GEMMs): ``bench/calibrate.py``, refitted
#: after the GEMM table's thin long products were re-measured (2026-12-01).
COST_WEIGHTS = (0.901, 0.618, 0.869, 0.676)


def estimate(plan: ConvPlan, rates) -> float:
    """Seconds (see :mod:`.cost`): per band and tap a copy of its input slice, a GEMM, an addition into the output."""
    if not supports(plan):
        return math.inf
    found = _ranges(plan)
    if _valid_share(plan, found) > AUTO_BELOW:
        return math.inf
    itemsize, _, _, out_bytes, _ = cost.sizes(plan)
    c, c_out, n = plan.in_channels, plan.out_channels, plan.batch
    band_pixels = _band_pixels(plan)
    # A tap's slice: runs of C numbers (whole rows of the slice when the columns are contiguous).
    run = c * (plan.output_hw[1] if plan.strides[1] == 1 else 1)
    copies = gemms = adds = 0.0
    for _, (r0, r1, _), (c0, c1, _) in found:
        pixels = n * (r1 - r0) * (c1 - c0)
        copies += pixels * c * itemsize
        gemms += cost.gemm_seconds(rates, pixels * c * c_out, c, c_out, min(pixels, band_pixels), itemsize)
        adds += 3 * pixels * c_out * itemsize
    return cost.weighted(
        COST_WEIGHTS,
        (
            (5 + 4 * len(found) * band_count(plan.batch, plan.output_hw[0], _rows_per_band(plan))) * rates.call,
            (out_bytes + adds) / rates.bandwidth,
            cost.copy_seconds(rates, copies, run),
            gemms,
        ),
    )


def conv2d_valid_taps(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Convolve with one GEMM per filter tap over the outputs it reads the image for.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
    filters : ndarray of shape (KH, KW, C, C_out)
    plan : ConvPlan
        One channel group, floating point.

    Returns
    -------
    ndarray of shape (N, OH, OW, C_out)
    """
    if not np.isfinite(filters).all():  # TF's Inf * 0 over the padding: multiply every tap
        return conv2d_im2col(x, filters, plan)
    out = np.zeros(plan.output_shape, dtype=x.dtype)
    if plan.is_empty:
        return out
    x = channels_last_copy(x)
    (sh, sw), c, c_out = plan.strides, plan.in_channels, plan.out_channels
    found = _ranges(plan)
    for images, band in bands(plan.batch, plan.output_hw[0], _rows_per_band(plan)):
        b0, b1, _ = band.indices(plan.output_hw[0])
        for (ky, kx), (r0, r1, i0), (c0, c1, j0) in found:
            first, stop = max(r0, b0), min(r1, b1)  # this tap's outputs within the band
            if first >= stop:
                continue
            top = i0 + (first - r0) * sh
            rows, cols = stop - first, c1 - c0
            source = x[images, top : top + (rows - 1) * sh + 1 : sh, j0 : j0 + (cols - 1) * sw + 1 : sw]
            pixels = scratch(source.shape, x.dtype, "valid_taps input")
            np.copyto(pixels, source)
            product = scratch((source.shape[0] * rows * cols, c_out), x.dtype, "valid_taps product")
            np.matmul(pixels.reshape(-1, c), filters[ky, kx], out=product)
            out[images, first:stop, c0:c1] += product.reshape(source.shape[0], rows, cols, c_out)
    return out
