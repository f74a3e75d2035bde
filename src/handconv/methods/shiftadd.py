"""Shift-add: every tap's products from one GEMM, then the taps' shifted planes added.

For many input channels into few outputs (256 channels into 8 through a 5x5
filter on a 32x32 map) im2col copies a matrix of ``KH * KW * C`` numbers per
output pixel (6400 here: 26 MB for 1024 pixels) to feed a GEMM only 8 columns
wide, and the shifted GEMMs (:mod:`.gemm`) run 25 of those thin GEMMs. Here
the input is not copied at all: one GEMM multiplies every padded input pixel
by every tap's weights at once,

    products[pixel, tap, co] = sum over c of padded[pixel, c] * filters[tap, c, co]

``(pixels, C) @ (C, KH * KW * C_out)``: 200 columns wide for the example, so
BLAS runs near its peak. Output ``(oy, ox)`` is then the sum over taps of the
product its tap made at the input pixel it reads, ``(oy * sh + ky * dh, ox *
sw + kx * dw)``: for each tap, a strided plane of ``products`` added into the
output, ``KH * KW`` additions of ``C_out``-wide runs in all.

The GEMM computes every padded pixel's products, also those no output reads
(the margins, and with stride ``s`` all but one in ``s * s`` of them), so the
cost model offers it where that waste is small: stride 1, images larger than
the filter. Large images are cut into bands of output rows (with the rows of
halo each band reads) so the products stay in cache.

Every product TF forms is formed here, padding zeros included, and each output
is the sum over taps of the sums over channels BLAS computes: the same
numbers as :mod:`.gemm`'s (``Inf * 0 = NaN`` where TF has it, and nowhere
else, because only products an output reads are added).
"""

from __future__ import annotations

import numpy as np

from ..plan import ConvPlan
from . import cost
from .im2col import band_count, bands, padded_input
from .scratch import scratch

#: Bytes of products one band holds: a band's products stay in L2 between the GEMM and the additions.
BAND_BYTES = 4 * 2**20
#: A band's GEMM has at least this many rows (input pixels) when the image allows.
MIN_BAND_PIXELS = 512


def spatial_taps(plan: ConvPlan) -> int:
    """``KH * KW``: the filter positions, each a set of ``C_out`` product columns."""
    return plan.filter_hw[0] * plan.filter_hw[1]


def _band_input_rows(plan: ConvPlan, out_rows: int) -> int:
    """Padded input rows ``out_rows`` output rows read: their strided rows plus the filter's halo."""
    (kh, dh), sh = (plan.filter_hw[0], plan.dilations[0]), plan.strides[0]
    return (out_rows - 1) * sh + (kh - 1) * dh + 1


def _rows_per_band(plan: ConvPlan) -> int:
    """Output rows per band (several images' worth for small images, as :func:`.im2col.bands` deals them):
    products within ``BAND_BYTES``, and at least ``MIN_BAND_PIXELS`` GEMM rows."""
    wp, width = plan.padded_hw[1], spatial_taps(plan) * plan.out_channels_per_group * plan.compute_dtype.itemsize
    per_row = max(1, plan.strides[0] * wp)
    return max(1, BAND_BYTES // (per_row * width), -(-MIN_BAND_PIXELS // per_row))


def _band_pixels(plan: ConvPlan) -> int:
    """Input pixels (GEMM rows) of the largest band."""
    rows, oh = _rows_per_band(plan), plan.output_hw[0]
    images = min(plan.batch, rows // oh) if oh <= rows else 1
    return images * _band_input_rows(plan, min(rows, oh)) * plan.padded_hw[1]


def workspace_bytes(plan: ConvPlan) -> int:
    """The padded input and the largest band's products."""
    itemsize = plan.compute_dtype.itemsize
    padded = plan.batch * plan.padded_hw[0] * plan.padded_hw[1] * plan.in_channels * itemsize
    return padded + _band_pixels(plan) * spatial_taps(plan) * plan.out_channels_per_group * itemsize


def grid_waste(plan: ConvPlan) -> float:
    """GEMM rows per output pixel (>= 1 at stride 1): every band multiplies all the padded pixels it reads.

    An image's ``b`` bands read ``OH * sh + b * ((KH - 1) * dh + 1 - sh)`` padded rows of ``Wp`` pixels.

    >>> from handconv.plan import make_plan
    >>> round(grid_waste(make_plan((1, 32, 32, 256), (5, 5, 256, 8), 1, "SAME")), 3)  # 36 x 36 / (32 x 32)
    1.266
    """
    (kh, dh), sh, (oh, ow) = (plan.filter_hw[0], plan.dilations[0]), plan.strides[0], plan.output_hw
    per_image = band_count(1, oh, _rows_per_band(plan))
    rows_read = oh * sh + per_image * ((kh - 1) * dh + 1 - sh)
    return rows_read * plan.padded_hw[1] / max(1, oh * ow)


#: Weights of :func:`estimate`'s terms (calls, passes, tap additions, GEMM): ``bench/calibrate.py``
#: (fitted 2026-11-30, quiet machine, 239 cells, a quarter NCHW).
COST_WEIGHTS = (1.29, 3.79, 0.22, 0.936)


def estimate(plan: ConvPlan, rates) -> float:
    """Seconds (see :mod:`.cost`): the padded copy, the GEMM over every padded pixel, the taps' additions."""
    itemsize, _, padded, out_bytes, pixels = cost.sizes(plan)
    pads = padded if plan.pad_amounts != ((0, 0), (0, 0)) else 0
    og, taps = plan.out_channels_per_group, spatial_taps(plan)
    blocks = plan.groups * band_count(plan.batch, plan.output_hw[0], _rows_per_band(plan))
    # Each tap reads a strided plane of products (runs of C_out / groups numbers) and adds it to the output.
    additions = cost.copy_seconds(rates, 2 * taps * out_bytes, og, _band_pixels(plan) * taps * og * itemsize)
    return cost.weighted(
        COST_WEIGHTS,
        (
            blocks * (3 + taps) * rates.call,
            (pads + out_bytes) / rates.bandwidth,
            additions,
            cost.gemm_seconds(
                rates,
                plan.macs * grid_waste(plan),
                plan.filter_in_channels,
                taps * og,
                _band_pixels(plan),
                itemsize,
            ),
        ),
    )


def conv2d_shiftadd(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Convolve with one GEMM for all taps' products per band, then one shifted addition per tap.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
    filters : ndarray of shape (KH, KW, C / groups, C_out)
    plan : ConvPlan

    Returns
    -------
    ndarray of shape (N, OH, OW, C_out)
    """
    out = np.empty(plan.output_shape, dtype=x.dtype)
    if plan.is_empty:
        return out
    padded = padded_input(x, plan)
    n, hp, wp, _ = padded.shape
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = plan.filter_hw, plan.strides, plan.dilations, plan.output_hw
    cg, og, taps = plan.filter_in_channels, plan.out_channels_per_group, spatial_taps(plan)
    step = _rows_per_band(plan)
    buffer = scratch((_band_pixels(plan) * taps * og,), x.dtype, "shiftadd")
    for g in range(plan.groups):
        # (KH, KW, Cg, og) -> (Cg, KH * KW * og): column (tap, co) holds tap's weights for output co.
        weights = np.ascontiguousarray(filters[..., g * og : (g + 1) * og].transpose(2, 0, 1, 3)).reshape(cg, -1)
        for images, rows in bands(n, oh, step):
            first, stop, _ = rows.indices(oh)
            out_rows = stop - first
            in_rows = slice(first * sh, first * sh + _band_input_rows(plan, out_rows))
            pixels = padded[images, in_rows, :, g * cg : (g + 1) * cg]  # (b, rows read, Wp, Cg)
            b, r = pixels.shape[:2]
            products = buffer[: b * r * wp * taps * og].reshape(b * r * wp, taps * og)
            np.matmul(pixels.reshape(-1, cg), weights, out=products)
            grid = products.reshape(b, r, wp, kh, kw, og)
            target = out[images, rows, :, g * og : (g + 1) * og]
            for ky in range(kh):
                for kx in range(kw):
                    plane = grid[
                        :,
                        ky * dh : ky * dh + (out_rows - 1) * sh + 1 : sh,
                        kx * dw : kx * dw + (ow - 1) * sw + 1 : sw,
                        ky,
                        kx,
                    ]
                    if ky == 0 and kx == 0:
                        target[...] = plane
                    else:
                        target += plane
    return out
