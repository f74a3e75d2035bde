"""Banded Toeplitz GEMM: a tile of output columns from one matrix product.

In NHWC an image row is one contiguous run of ``W * C`` numbers. A tile of
``B`` neighbouring outputs in one output row reads, from each of the ``KH``
input rows under it, a contiguous run of ``B_in * C`` numbers (``B_in = (B - 1)
* sw + (KW - 1) * dw + 1`` columns). Every tile applies the same linear map to
those ``KH * B_in * C`` numbers, a banded block-Toeplitz matrix ``T`` of shape
``(KH * B_in * C, B * C_out)`` built once from the filters (zeros off the band
and between channel groups). So the convolution is: gather the runs of a band
of output rows into a cache-sized matrix, multiply by ``T``, and the product
*is* the NHWC output of those rows.

It pays for few channels and large kernels (photos, a 15x15 blur), where a
per-tap method pays one memory pass per tap: ``T`` multiplies ``B_in / KW``
times more numbers than there are taps, but in one efficient GEMM that stays in
cache. With many channels its zeros make it wasteful; the cost model then
picks another method.

NaN and Inf: ``T``'s zeros multiply every input of a tile, so one NaN or Inf
would reach outputs TF keeps finite (``Inf * 0 = NaN``). A result holding any
non-finite value is recomputed by im2col, which multiplies exactly TF's taps.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..plan import ConvPlan
from . import cost
from .im2col import band_count, bands, exact_where_non_finite, zero_padded

#: Gathered columns held at once (stays in L2).
BAND_BYTES = 1 * 2**20
#: Largest Toeplitz matrix this method builds.
MAX_MATRIX_BYTES = 32 * 2**20


def tile_width(plan: ConvPlan) -> int:
    """Output columns per tile ``B``: wide enough for an efficient GEMM, narrow for few wasted zeros.

    Prefer a width that divides the output width, so no partial tile is computed.
    """
    ow = plan.output_hw[1]
    keff = plan.effective_filter_hw[1]
    target = int(min(ow, max(8, min(64, 4 * keff, -(-256 // max(1, plan.out_channels))))))
    while target > 1 and _matrix_bytes(plan, target) > MAX_MATRIX_BYTES:
        target //= 2
    for width in range(target, max(1, target // 2) - 1, -1):
        if ow % width == 0:
            return width
    return max(1, target)


def _input_width(plan: ConvPlan, b: int) -> int:
    return (b - 1) * plan.strides[1] + plan.effective_filter_hw[1]


def _matrix_bytes(plan: ConvPlan, b: int) -> int:
    kh = plan.filter_hw[0]
    return kh * _input_width(plan, b) * plan.in_channels * b * plan.out_channels * plan.compute_dtype.itemsize


def supports(plan: ConvPlan) -> bool:
    """Plans whose Toeplitz matrix fits ``MAX_MATRIX_BYTES`` (always true at tile width 1 unless huge)."""
    return _matrix_bytes(plan, 1) <= MAX_MATRIX_BYTES


def _layout(plan: ConvPlan) -> tuple[int, int, int, int]:
    """(tile width, tiles per row, input columns per tile, padded width covering all tiles)."""
    b = tile_width(plan)
    tiles = -(-plan.output_hw[1] // b)
    b_in = _input_width(plan, b)
    width = max(plan.padded_hw[1], (tiles - 1) * b * plan.strides[1] + b_in)
    return b, tiles, b_in, width


def workspace_bytes(plan: ConvPlan) -> int:
    """Padded copy of the input, the Toeplitz matrix, one band of columns and of output."""
    b, tiles, b_in, width = _layout(plan)
    itemsize = plan.compute_dtype.itemsize
    padded = plan.batch * plan.padded_hw[0] * width * plan.in_channels * itemsize
    row_cols = tiles * plan.filter_hw[0] * b_in * plan.in_channels * itemsize
    band = min(plan.output_hw[0], _band_rows(plan)) * row_cols
    partial = (
        0
        if tiles * b == plan.output_hw[1]
        else plan.batch * plan.output_hw[0] * tiles * b * plan.out_channels * itemsize
    )
    return padded + _matrix_bytes(plan, b) + band + partial


#: Weights of :func:`estimate`'s terms (calls, passes, banded GEMM, building ``T``): ``bench/calibrate.py``
#: (fitted 2026-11-30, quiet machine, 239 cells, a quarter NCHW; building ``T``, added at 21:15, at 1).
COST_WEIGHTS = (3.49, 1.17, 1.27, 1.0)
#: Building ``T`` (fresh zeros, then the filters scattered into its band), in plain passes over its bytes:
#: 8.7 MB took 2.5 ms on the development VM (2026-11-30), for 11x11 filters on 64 channels (g177, g121).
MATRIX_PASSES = 6


def estimate(plan: ConvPlan, rates) -> float:
    """Seconds (see :mod:`.cost`): the gathered runs and one GEMM with the band's zeros."""
    if not supports(plan):
        return math.inf
    itemsize, _, padded, out_bytes, _ = cost.sizes(plan)
    b, tiles, b_in, _ = _layout(plan)
    k = plan.filter_hw[0] * b_in * plan.in_channels
    rows = plan.batch * plan.output_hw[0] * tiles
    macs = rows * k * b * plan.out_channels
    return cost.weighted(
        COST_WEIGHTS,
        (
            (7.5 + 2 * band_count(plan.batch, plan.output_hw[0], _band_rows(plan))) * rates.call,
            (padded + 2 * rows * k * itemsize + out_bytes) / rates.bandwidth,
            cost.gemm_seconds(rates, macs, k, b * plan.out_channels, min(rows, _band_rows(plan) * tiles), itemsize),
            MATRIX_PASSES * k * b * plan.out_channels * itemsize / rates.bandwidth,
        ),
    )


def _band_rows(plan: ConvPlan) -> int:
    b = tile_width(plan)
    tiles = -(-plan.output_hw[1] // b)
    row_bytes = tiles * plan.filter_hw[0] * _input_width(plan, b) * plan.in_channels * plan.compute_dtype.itemsize
    return max(1, BAND_BYTES // max(1, row_bytes))


def toeplitz_matrix(filters: np.ndarray, plan: ConvPlan, b: int) -> np.ndarray:
    """``T`` of shape ``(KH * B_in * C, B * C_out)`` mapping a tile's input runs to its outputs."""
    kh, kw = plan.filter_hw
    c, cout = plan.in_channels, plan.out_channels
    cg, og = plan.filter_in_channels, plan.out_channels_per_group
    b_in = _input_width(plan, b)
    sw, dw = plan.strides[1], plan.dilations[1]
    matrix = np.zeros((kh, b_in, c, b, cout), dtype=filters.dtype)
    for g in range(plan.groups):
        block = filters[:, :, :, g * og : (g + 1) * og]  # (KH, KW, Cg, Og)
        for j in range(b):
            for kx in range(kw):
                matrix[:, j * sw + kx * dw, g * cg : (g + 1) * cg, j, g * og : (g + 1) * og] = block[:, kx]
    return matrix.reshape(kh * b_in * c, b * cout)


def _pad_wide(x: np.ndarray, plan: ConvPlan, width: int) -> np.ndarray:
    """Zero-pad to ``(N, Hp, width, C)``: the plan's padding plus right columns for a partial last tile.

    In this thread's scratch buffer (see :func:`.im2col.padded_input`): the caller must not keep it.
    """
    (top, bottom), (left, _) = plan.pad_amounts
    n, h, w, c = x.shape
    if width == w and plan.padded_hw[0] == h and x.flags.c_contiguous:
        return x
    return zero_padded(x, (top, bottom), (left, width - left - w), "toeplitz input")


def conv2d_toeplitz(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Convolve tile by tile with a banded Toeplitz matrix.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
    filters : ndarray of shape (KH, KW, C / groups, C_out)
    plan : ConvPlan

    Returns
    -------
    ndarray of shape (N, OH, OW, C_out)
    """
    if plan.is_empty:
        return np.zeros(plan.output_shape, dtype=x.dtype)
    return exact_where_non_finite(_toeplitz(x, filters, plan), x, filters, plan)


def _toeplitz(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    b, tiles, b_in, width = _layout(plan)
    padded = _pad_wide(x, plan, width)
    matrix = toeplitz_matrix(filters, plan, b)
    n, oh, ow, cout = plan.output_shape
    kh, c = plan.filter_hw[0], plan.in_channels
    (sh, sw), dh = plan.strides, plan.dilations[0]
    exact = tiles * b == ow
    out = np.empty((n, oh, tiles * b, cout), dtype=x.dtype)
    itemsize = padded.itemsize
    row_stride = width * c * itemsize
    # (N, OH, tiles, KH, B_in * C): every tile's runs, a read-only view of the padded input.
    runs = as_strided(
        padded,
        (n, oh, tiles, kh, b_in * c),
        (padded.strides[0], sh * row_stride, b * sw * c * itemsize, dh * row_stride, itemsize),
        writeable=False,
    )
    band = _band_rows(plan)
    columns = np.empty((min(n * oh, band) * tiles, kh * b_in * c), dtype=x.dtype)
    # Bands of output rows, several small images to a band: one GEMM per image of 13 rows ran at a
    # third of the rate of one over 26 images' rows (64 images of 13x13 under 11x11, g203).
    for images, rows in bands(n, oh, band):
        window = runs[images, rows]  # (images, rows, tiles, KH, B_in * C), a view
        block = columns[: window.shape[0] * window.shape[1] * tiles]
        block.reshape(window.shape)[...] = window
        np.matmul(block, matrix, out=out[images, rows].reshape(block.shape[0], b * cout))
    return out if exact else np.ascontiguousarray(out[:, :, :ow])
