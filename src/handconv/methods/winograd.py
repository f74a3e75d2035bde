"""Winograd F(4x4, 3x3): 3x3 stride-1 convolution with 4x fewer multiplications.

Lavin & Gray (2015). Dilated 3x3 filters run as one undilated convolution per
phase of the input (see :func:`_conv2d_dilated`). The output is cut into 4x4 tiles; each reads a 6x6 input
tile ``d``. With the constant matrices ``B``, ``G`` and ``A`` below, the tile's
output is ``A^T [(G g G^T) * (B^T d B)] A`` where ``*`` is elementwise: the
36 elementwise products, summed over input channels, are 36 GEMMs of shape
``(tiles, C) @ (C, C_out)`` instead of 9 of shape ``(16 * tiles, C) @ (C,
C_out)``: 36 / (9 * 16) = 1/4 of the multiplications. The transforms are small
GEMMs with ``K = 6`` on contiguous buffers, done in bands of tiles so the
workspace stays bounded.

Error: the transforms multiply by up to 8 (and ~25 in 2-D) before values
cancel again, so float32 rounding error grows. Measured by the benchmark
against a float64 truth on N(0, 1) data, max error relative to the output's
largest value: ~1.3e-5 for the 3x3 layers with 64-128 channels, where
TF's own float32 error is ~1.1e-6 and im2col's ~7e-7: about 10x worse, the
price of 4x fewer multiplications (``cost.WINOGRAD_PREMIUM`` makes ``auto``
take it only where it clearly pays). float64 results stay within ~2e-14.
Choose ``method='im2col'`` or ``'gemm'`` for TF-level float32 accuracy.

NaN and Inf: the transforms mix a whole 6x6 tile (and the filter transform all
nine weights), so one NaN or Inf would spread to outputs TF keeps finite. A
result holding any non-finite value is recomputed by im2col, which multiplies
exactly TF's taps.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..plan import ConvPlan
from . import cost
from .im2col import exact_where_non_finite

#: Transformed tiles held at once, in bytes (each of a few buffers).
BAND_BYTES = 4 * 2**20

B_T = np.array(
    [
        [4, 0, -5, 0, 1, 0],
        [0, -4, -4, 1, 1, 0],
        [0, 4, -4, -1, 1, 0],
        [0, -2, -1, 2, 1, 0],
        [0, 2, -1, -2, 1, 0],
        [0, 4, 0, -5, 0, 1],
    ],
    dtype=np.float64,
)
G = np.array(
    [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ],
    dtype=np.float64,
)
A_T = np.array(
    [
        [1, 1, 1, 1, 1, 0],
        [0, 1, -1, 2, -2, 0],
        [0, 1, 1, 4, 4, 0],
        [0, 1, -1, 8, -8, 1],
    ],
    dtype=np.float64,
)


def supports(plan: ConvPlan) -> bool:
    """3x3 filters, stride 1, floating point; any dilation (through the input's phases)."""
    return plan.filter_hw == (3, 3) and plan.strides == (1, 1) and plan.compute_dtype.kind == "f"


def _conv2d_dilated(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """A dilation-(dh, dw) convolution as dh * dw undilated ones on the input's phases.

    Output rows ``a, a + dh, a + 2 dh, ...`` only read padded rows ``a + k * dh``:
    the phase ``padded[:, a::dh, b::dw]`` convolved (VALID, undilated) with the
    same filter gives exactly ``out[:, a::dh, b::dw]``.
    """
    from ..plan import make_plan

    padded = plan.pad(x)
    out = np.empty(plan.output_shape, dtype=x.dtype)
    (dh, dw), (oh, ow) = plan.dilations, plan.output_hw
    for a in range(min(dh, oh)):
        for b in range(min(dw, ow)):
            target = out[:, a::dh, b::dw]
            phase = padded[:, a::dh, b::dw]
            sub = make_plan(phase.shape, filters.shape, 1, "VALID", "NHWC", 1, x.dtype)
            target[...] = _winograd(phase, filters, sub)[:, : target.shape[1], : target.shape[2]]
    return out


def _tiles(plan: ConvPlan) -> tuple[int, int]:
    oh, ow = plan.output_hw
    return -(-oh // 4), -(-ow // 4)


def _band_tile_rows(plan: ConvPlan) -> int:
    """Tile rows per band so one transformed band is about ``BAND_BYTES``."""
    th, tw = _tiles(plan)
    per_row = 36 * tw * max(plan.in_channels, plan.out_channels) * plan.compute_dtype.itemsize
    return max(1, min(th, BAND_BYTES // per_row))


def workspace_bytes(plan: ConvPlan) -> int:
    """Padded input on the tile grid, four band buffers, the transformed filters, a tiled output."""
    th, tw = _tiles(plan)
    itemsize = plan.compute_dtype.itemsize
    c, cout = plan.in_channels, plan.out_channels
    padded = plan.batch * (4 * th + 2) * (4 * tw + 2) * c * itemsize
    band_tiles = _band_tile_rows(plan) * tw
    bands = 36 * band_tiles * (3 * c + 2 * cout) * itemsize
    oh, ow = plan.output_hw
    tiled_out = 0 if (oh % 4 == 0 and ow % 4 == 0) else plan.batch * 16 * th * tw * cout * itemsize
    return padded + bands + 36 * plan.filter_in_channels * cout * itemsize + tiled_out


def estimate(plan: ConvPlan, rates) -> float:
    """Seconds (see :mod:`.cost`): 36 GEMMs per band of tiles, transforms as memory passes."""
    if not supports(plan):
        return math.inf
    itemsize, _, padded, _, _ = cost.sizes(plan)
    th, tw = _tiles(plan)
    tiles = plan.batch * th * tw
    cg, og = plan.filter_in_channels, plan.out_channels_per_group
    wino_macs = 36 * tiles * cg * og * plan.groups
    # Transforms: ~3 passes over 36/16 of the input and output, plus the filter transform.
    transform = 3 * 36 * tiles * (plan.in_channels + plan.out_channels) * itemsize
    filters = 36 * cg * plan.out_channels * 8 * 3
    band_m = max(1, min(tiles, _band_tile_rows(plan) * tw))
    return (
        15 * rates.call
        + 20 * rates.call * math.ceil(tiles / band_m)
        + (transform + filters + padded) / rates.bandwidth
        + cost.gemm_seconds(rates, wino_macs, cg, og, band_m, itemsize)
    )


def _pad_to_tiles(x: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Zero-padded input of shape (N, 4 * TH + 2, 4 * TW + 2, C): plan padding, then zeros to fill the tiles."""
    th, tw = _tiles(plan)
    (top, _), (left, _) = plan.pad_amounts
    n, h, w, c = x.shape
    rows, cols = 4 * th + 2, 4 * tw + 2
    padded = np.zeros((n, rows, cols, c), dtype=x.dtype)
    # VALID may leave input rows no output reads: they are simply not copied.
    h_used, w_used = min(h, rows - top), min(w, cols - left)
    padded[:, top : top + h_used, left : left + w_used] = x[:, :h_used, :w_used]
    return padded


def transformed_filters(filters: np.ndarray) -> np.ndarray:
    """``G g G^T`` for every (input, output) channel pair: shape (36, C / groups, C_out), float64 math."""
    cg, cout = filters.shape[2:]
    rows = G @ filters.astype(np.float64).reshape(3, 3 * cg * cout)  # (6, 3 * Cg * Cout): G g
    u = np.matmul(G, rows.reshape(6, 3, cg * cout))  # (6, 6, Cg * Cout): (G g) G^T
    return u.reshape(36, cg, cout).astype(filters.dtype)


def _bands(n: int, th: int, band_rows: int):
    """(image slice, tile-row slice) blocks of about ``band_rows`` tile rows, across images when small."""
    if th <= band_rows:
        per = max(1, band_rows // th)
        for first in range(0, n, per):
            yield slice(first, min(n, first + per)), slice(0, th)
        return
    for image in range(n):
        for start in range(0, th, band_rows):
            yield slice(image, image + 1), slice(start, min(th, start + band_rows))


def conv2d_winograd(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Convolve a 3x3 stride-1 plan with Winograd F(4x4, 3x3).

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
    filters : ndarray of shape (3, 3, C / groups, C_out)
    plan : ConvPlan

    Returns
    -------
    ndarray of shape (N, OH, OW, C_out)
    """
    if plan.is_empty:
        return np.zeros(plan.output_shape, dtype=x.dtype)
    out = _conv2d_dilated(x, filters, plan) if plan.dilations != (1, 1) else _winograd(x, filters, plan)
    return exact_where_non_finite(out, x, filters, plan)


def _winograd(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Undilated F(4x4, 3x3) on ``plan``, no check for non-finite values."""
    dtype = x.dtype
    n, oh, ow, cout = plan.output_shape
    c, cg, og = plan.in_channels, plan.filter_in_channels, plan.out_channels_per_group
    th, tw = _tiles(plan)
    padded = _pad_to_tiles(x, plan)
    s_n, s_r, s_c, s_ch = padded.strides
    tiles = as_strided(padded, (n, th, tw, 6, 6, c), (s_n, 4 * s_r, 4 * s_c, s_r, s_c, s_ch), writeable=False)
    u = transformed_filters(filters)
    b_t, a_t = B_T.astype(dtype), A_T.astype(dtype)
    exact = oh == 4 * th and ow == 4 * tw
    out = np.empty((n, 4 * th, 4 * tw, cout) if not exact else plan.output_shape, dtype=dtype)
    most = _band_tile_rows(plan) * tw
    d = np.empty(36 * most * c, dtype=dtype)
    v = np.empty(36 * most * c, dtype=dtype)
    m = np.empty(36 * most * cout, dtype=dtype)
    y = np.empty(24 * most * cout, dtype=dtype)
    for images, rows in _bands(n, th, _band_tile_rows(plan)):
        band_tiles = tiles[images, rows]  # (images, rows, TW, 6, 6, C)
        ni, nr = band_tiles.shape[:2]
        p = ni * nr * tw
        # d[k, l, tile, c]: the 6x6 input tiles with the tile index between.
        dk = d[: 36 * p * c].reshape(6, 6, ni, nr, tw, c)
        dk[...] = band_tiles.transpose(3, 4, 0, 1, 2, 5)
        # V = B^T d B: rows (one GEMM), then columns (six GEMMs).
        vk = v[: 36 * p * c].reshape(6, 6 * p * c)
        np.matmul(b_t, dk.reshape(6, 6 * p * c), out=vk)
        dv = d[: 36 * p * c].reshape(6, 6, p * c)
        np.matmul(b_t, vk.reshape(6, 6, p * c), out=dv)
        # 36 GEMMs (tiles, C) @ (C, C_out), one group at a time.
        mv = m[: 36 * p * cout].reshape(36, p, cout)
        vv = dv.reshape(36, p, c)
        for g in range(plan.groups):
            np.matmul(
                vv[:, :, g * cg : (g + 1) * cg], u[:, :, g * og : (g + 1) * og], out=mv[:, :, g * og : (g + 1) * og]
            )
        # Y = A^T M A: rows, then columns.
        yv = y[: 24 * p * cout].reshape(4, 6 * p * cout)
        np.matmul(a_t, mv.reshape(6, 6 * p * cout), out=yv)
        final = m[: 16 * p * cout].reshape(4, 4, p * cout)
        np.matmul(a_t, yv.reshape(4, 6, p * cout), out=final)
        # (4a, 4b, images, rows, TW, C_out) -> out[image, 4 * row + a, 4 * col + b]
        block = out[images, 4 * rows.start : 4 * rows.stop].reshape(ni, nr, 4, tw, 4, cout)
        block[...] = final.reshape(4, 4, ni, nr, tw, cout).transpose(2, 3, 0, 4, 1, 5)
    return out if exact else np.ascontiguousarray(out[:, :oh, :ow])
