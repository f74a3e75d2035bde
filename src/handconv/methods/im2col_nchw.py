"""im2col on channels-first memory: input planes in, output planes out (Caffe's layout).

For an NCHW call, :mod:`.im2col` works on an NHWC copy of the input and its
output must be transposed back to NCHW: two passes that read or write numbers
a whole plane apart, at a fraction of memory speed (the output alone was 50 ms
of the 72 ms a 480x640 photo through 32 5x5 filters took, TF: 15 ms). Here
the matrix is laid the other way round. Row ``(ky, kx, c)`` of the columns
holds, for every output pixel of a band of output rows, the input number that
tap multiplies: a shifted, strided copy of input plane ``c``, copied a whole
output row at a time. Then ``weights (C_out, C * KH * KW) @ columns`` is the
band of every output plane, written by the GEMM straight into the NCHW
output, which is returned as the NHWC view :func:`handconv.conv2d` expects
(turning it back into NCHW costs nothing).

Each output is the same sum of the same ``KH * KW * C`` products as in
:mod:`.im2col`, padding zeros included, in BLAS's order, with long chains cut
as :func:`.im2col.chain_parts` says.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..layout import channels_first_copy, channels_last_copy
from ..plan import ConvPlan
from . import cost
from .im2col import chain_parts, chained_matmul
from .scratch import scratch

#: Upper bound on one band's columns, in bytes (a band is at least one output row).
WORKSPACE_BYTES = 4 * 2**20
#: A band gives the GEMM at least this many output pixels (as :data:`.im2col.MIN_BAND_PIXELS`): 11x11x64
#: filters made 2-row bands of 108 pixels, 1.5x slower than im2col.
MIN_BAND_PIXELS = 1024


def output_channels_first(plan: ConvPlan) -> bool:
    """On channels-first plans: the output is computed in NCHW memory (NHWC plans get an NHWC copy)."""
    return plan.channels_first


def _rows_per_band(plan: ConvPlan) -> int:
    """Output rows per band: the columns fit ``WORKSPACE_BYTES``, but give the GEMM ``MIN_BAND_PIXELS`` columns."""
    row_bytes = plan.taps * plan.output_hw[1] * plan.compute_dtype.itemsize
    rows = max(WORKSPACE_BYTES // max(row_bytes, 1), -(-MIN_BAND_PIXELS // max(plan.output_hw[1], 1)))
    return max(1, min(plan.output_hw[0], rows))


def workspace_bytes(plan: ConvPlan) -> int:
    """One band's columns and the padded input planes."""
    itemsize = plan.compute_dtype.itemsize
    columns = _rows_per_band(plan) * plan.output_hw[1] * plan.taps * itemsize
    padded = plan.batch * plan.in_channels * plan.padded_hw[0] * plan.padded_hw[1] * itemsize
    return columns + padded


#: Weights of :func:`estimate`'s terms (calls, passes, columns copy, GEMM, NHWC <-> NCHW moves):
#: ``bench/calibrate.py``
#: (fitted 2026-11-30, quiet machine, 239 cells, a quarter NCHW).
COST_WEIGHTS = (1.48, 0.732, 0.656, 1.14, 0.946)


def estimate(plan: ConvPlan, rates) -> float:
    """Seconds (see :mod:`.cost`): the padded planes, the columns copied an output row at a time, the GEMMs."""
    itemsize, _, padded, out_bytes, pixels = cost.sizes(plan)
    pads = padded if plan.pad_amounts != ((0, 0), (0, 0)) else 0
    columns = pixels * plan.taps * plan.groups * itemsize
    bands = plan.batch * plan.groups * -(-plan.output_hw[0] // _rows_per_band(plan))
    band_pixels = _rows_per_band(plan) * plan.output_hw[1]
    # NumPy copies an output row per inner loop; strided along the row it moves half as many bytes a second.
    strided = 2.0 if plan.strides[1] > 1 else 1.0
    # An NHWC call pays for its channels moved both ways (a photo with one channel only for the output).
    moves = (
        0.0 if plan.channels_first else sum(cost.channels_first_seconds(plan, rates, s) for s in ("input", "output"))
    )
    return cost.weighted(
        COST_WEIGHTS,
        (
            (5 + 3 * bands) * rates.call,
            (pads + out_bytes * (2 * chain_parts(plan) - 1)) / rates.bandwidth,
            cost.copy_seconds(rates, strided * columns, plan.output_hw[1], band_pixels * plan.taps * itemsize),
            # Laid (C_out, K) @ (K, pixels), the transpose of what the tables time: their hot twin (an operand of
            # thin products in cache) does not carry over, and read hot it had auto pick this method at 1.6-1.8x
            # the time of im2col or row_columns (g046, g106 in the 2026-12-01 02:49 sweep).
            cost.gemm_seconds(
                rates, plan.macs, plan.taps, plan.out_channels_per_group, band_pixels, itemsize, math.inf
            ),
            moves,
        ),
    )


def padded_planes(x: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """The zero-padded input planes ``(N, C, Hp, Wp)``, in this thread's scratch buffer."""
    planes = channels_first_copy(x)  # NCHW memory: a view of it; NHWC memory: one blocked copy
    (top, bottom), (left, right) = plan.pad_amounts
    if (top, bottom, left, right) == (0, 0, 0, 0):
        return planes
    n, c, h, w = planes.shape
    padded = scratch((n, c, h + top + bottom, w + left + right), x.dtype, "im2col_nchw")
    # The buffer holds the last call's numbers: zero the borders, copy the interior.
    padded[:, :, :top] = 0
    padded[:, :, top + h :] = 0
    padded[:, :, top : top + h, :left] = 0
    padded[:, :, top : top + h, left + w :] = 0
    padded[:, :, top : top + h, left : left + w] = planes
    return padded


def conv2d_im2col_nchw(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Convolve channels-first memory with planar im2col bands and one GEMM per band and channel group.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
        Best a view of NCHW memory (what :func:`handconv.conv2d` passes for ``data_format="NCHW"``);
        NHWC memory is copied to planes first.
    filters : ndarray of shape (KH, KW, C / groups, C_out)
    plan : ConvPlan

    Returns
    -------
    ndarray of shape (N, OH, OW, C_out)
        For channels-first plans a view of C-contiguous ``(N, C_out, OH, OW)`` memory; else C-contiguous.
    """
    n, (oh, ow), c_out = plan.batch, plan.output_hw, plan.out_channels
    out = np.empty((n, c_out, oh, ow), dtype=x.dtype)
    if plan.is_empty:
        return out.transpose(0, 2, 3, 1)
    padded = padded_planes(x, plan)
    (kh, kw), (sh, sw), (dh, dw) = plan.filter_hw, plan.strides, plan.dilations
    cg, og = plan.filter_in_channels, plan.out_channels_per_group
    step = _rows_per_band(plan)
    buffer = scratch((step * ow * plan.taps,), x.dtype, "im2col_nchw columns")
    s_image, s_channel, s_row, s_col = padded.strides
    out_planes = out.reshape(n, c_out, oh * ow)  # each band below is a plain slice of it: a view, never a copy
    for g in range(plan.groups):
        # (KH, KW, Cg, og) -> (og, KH * KW * Cg) as a transposed view: BLAS reads it as it lies (a copy of
        # 11x11x64x256 filters into (c, ky, kx) order cost ~9 ms a call).
        weights = filters[..., g * og : (g + 1) * og].reshape(plan.taps, og).T
        for image in range(n):
            planes = padded[image, g * cg : (g + 1) * cg]
            for first in range(0, oh, step):
                rows = min(step, oh - first)
                band = as_strided(
                    planes[:, first * sh :],
                    (kh, kw, cg, rows, ow),
                    (s_row * dh, s_col * dw, s_channel, s_row * sh, s_col * sw),
                    writeable=False,
                )
                columns = buffer[: band.size].reshape(band.shape)
                np.copyto(columns, band)
                target = out_planes[image, g * og : (g + 1) * og, first * ow : (first + rows) * ow]
                chained_matmul(weights, columns.reshape(plan.taps, rows * ow), target, chain_parts(plan))
    if not plan.channels_first:
        return channels_last_copy(out.transpose(0, 2, 3, 1))
    return out.transpose(0, 2, 3, 1)
