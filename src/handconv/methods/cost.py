"""The cost model behind ``method='auto'``: estimated seconds per method, from the plan alone.

No timing happens at run time: the choice depends only on the plan (shape,
dtype, kernel size, channels, strides) and on whether numba is installed, so
the same call always runs the same arithmetic. Each estimate adds three terms,
with constants measured on the 2-vCPU development VM (docs/performance.md):

* **arithmetic**: multiply-adds the method really does (including Winograd's
  savings and the Toeplitz/grid methods' waste) over ``GEMM_FLOPS`` times a
  GEMM efficiency that drops for thin matrices (:func:`gemm_efficiency`:
  OpenBLAS reaches ~1-5% of peak with 1-16 output columns);
* **memory**: bytes every NumPy pass reads and writes over ``BANDWIDTH``
  (one NumPy pass is single-threaded and does not stay in cache);
* **overhead**: a fixed cost per NumPy/BLAS call and per method.

Winograd's float32 results are ~10x further from the float64 truth than a
direct sum (see :mod:`.winograd`), so it must be estimated ``WINOGRAD_PREMIUM``
times faster than the best alternative before ``auto`` takes it.
"""

from __future__ import annotations

import math

from ..plan import ConvPlan
from . import col2im, direct, gather, gemm, toeplitz, winograd

#: float32 multiply-add pairs per second a large GEMM reaches (2 threads).
GEMM_FLOPS = 350e9
#: Bytes per second of a plain single-threaded NumPy pass.
BANDWIDTH = 20e9
#: Seconds per NumPy or BLAS call.
CALL = 4e-6
#: Lanes per second of the numba row kernel (vectorised, 2 threads).
LANE_RATE = 20e9
#: Multiply-adds per second of the numba general loop nest.
LOOP_RATE = 2e9
#: How much faster Winograd must be estimated to be taken (its float32 error is larger).
WINOGRAD_PREMIUM = 1.1


def gemm_efficiency(k: int, n: int, m: int = 1 << 20) -> float:
    """Fraction of ``GEMM_FLOPS`` a ``(m, k) @ (k, n)`` product reaches.

    Thin products are memory-bound: few columns (``n``) or a short inner
    dimension (``k``) leave the multipliers idle; NumPy's ``n = 1`` product
    is a matrix-vector product at memory speed.
    """
    return min(1.0, k / 128) ** 0.5 * min(1.0, n / 64) * min(1.0, m / 256) ** 0.5


def _flops_seconds(macs: float, k: int, n: int, m: int, itemsize: int) -> float:
    rate = GEMM_FLOPS * (1.0 if itemsize <= 4 else 0.5) * max(gemm_efficiency(k, n, m), 1e-3)
    return 2.0 * macs / rate


def _sizes(plan: ConvPlan) -> tuple[int, int, int, int]:
    """(itemsize, input bytes, output bytes, output pixels)."""
    itemsize = plan.compute_dtype.itemsize
    pixels = plan.batch * plan.output_hw[0] * plan.output_hw[1]
    in_bytes = plan.batch * plan.input_hw[0] * plan.input_hw[1] * plan.in_channels * itemsize
    return itemsize, in_bytes, pixels * plan.out_channels * itemsize, pixels


def estimate_seconds(plan: ConvPlan, method: str) -> float:
    """Estimated run time of ``method`` on ``plan`` (``inf`` where it does not apply or should not run).

    The numbers only need to rank the methods, not predict wall time.
    """
    itemsize, in_bytes, out_bytes, pixels = _sizes(plan)
    padded = plan.batch * plan.padded_hw[0] * plan.padded_hw[1] * plan.in_channels * itemsize
    taps, cg, og, groups = plan.taps, plan.filter_in_channels, plan.out_channels_per_group, plan.groups
    spatial = plan.filter_hw[0] * plan.filter_hw[1]
    if method == "gather":
        if not gather.supports(plan) or pixels * taps * groups > 1 << 16:
            return math.inf  # beyond tiny calls its index table is memory traffic for nothing
        entries = pixels * taps * groups
        return 10e-6 + entries * (8 + itemsize) / BANDWIDTH + _flops_seconds(plan.macs, taps, og, pixels, itemsize)
    if method == "im2col":
        columns = pixels * taps * groups * itemsize
        return (20e-6 + groups * CALL + (padded + 2 * columns + out_bytes) / BANDWIDTH
                + _flops_seconds(plan.macs, taps, og, pixels, itemsize))
    if method == "gemm":
        if gemm.is_pointwise(plan):
            return 10e-6 + _flops_seconds(plan.macs, cg, og, pixels, itemsize) + out_bytes / BANDWIDTH
        grid_macs = plan.macs * gemm.grid_overhead(plan)
        phases = in_bytes * (2 if plan.strides != (1, 1) else 0)
        extra = phases + padded + 2 * out_bytes * gemm.grid_overhead(plan)
        extra += 2 * pixels * taps * groups * itemsize * gemm.grid_overhead(plan)  # the banded columns
        k = taps
        return 20e-6 + spatial * groups * CALL + extra / BANDWIDTH + _flops_seconds(grid_macs, k, og, pixels, itemsize)
    if method == "winograd":
        if not winograd.supports(plan):
            return math.inf
        th, tw = winograd._tiles(plan)
        tiles = plan.batch * th * tw
        wino_macs = 36 * tiles * cg * og * groups
        # Transforms: ~3 passes over 36/16 of the input and output, plus the filter transform.
        transform = 3 * 36 * tiles * (plan.in_channels + plan.out_channels) * itemsize
        filters = 36 * cg * plan.out_channels * 8 * 3
        band_m = max(1, min(tiles, winograd._band_tile_rows(plan) * tw))
        return (60e-6 + 20 * CALL * math.ceil(tiles / band_m) + (transform + filters + padded) / BANDWIDTH
                + _flops_seconds(wino_macs, cg, og, band_m, itemsize))
    if method == "toeplitz":
        if not toeplitz.supports(plan):
            return math.inf
        b, tiles, b_in, _ = toeplitz._layout(plan)
        k = plan.filter_hw[0] * b_in * plan.in_channels
        rows = plan.batch * plan.output_hw[0] * tiles
        macs = rows * k * b * plan.out_channels
        return 30e-6 + (padded + 2 * rows * k * itemsize + out_bytes) / BANDWIDTH + _flops_seconds(macs, k, b * plan.out_channels, rows, itemsize)
    if method == "direct":
        if direct.has_accelerator():
            if direct.lane_shape(plan):
                lanes = pixels * spatial * plan.in_channels
                return 20e-6 + lanes / LANE_RATE + (in_bytes + out_bytes) / (2 * BANDWIDTH)
            return 20e-6 + plan.macs / LOOP_RATE * (4.0 if og < 8 else 1.0) + (in_bytes + out_bytes) / BANDWIDTH
        # NumPy: one einsum pass per tap over a strided view (the einsum loop is slow per element).
        per_tap = pixels * (plan.in_channels + plan.out_channels) * itemsize * 3 + pixels * cg * og * groups * 4
        return 20e-6 + spatial * (CALL + per_tap / BANDWIDTH) + padded / BANDWIDTH
    if method == "weightgrad":  # filter gradients only (choose_general); one pass over the input, long-sum GEMMs
        window_bytes = math.prod(plan.filter_spatial) * plan.filter_in_channels * plan.out_channels * itemsize
        return 20e-6 + (padded + window_bytes) / BANDWIDTH + _flops_seconds(plan.macs, pixels, og, taps, itemsize)
    return math.inf


#: Methods ``auto`` chooses among (naive is the by-hand truth, never chosen).
CANDIDATES = ("gather", "im2col", "gemm", "winograd", "toeplitz", "direct")


def choose(plan: ConvPlan) -> str:
    """The candidate with the lowest estimate (Winograd only with its premium)."""
    if not plan.is_plain_2d or _filter_gradient_shaped(plan):
        return choose_general(plan)
    if plan.is_empty:  # nothing to compute: any method returns the empty array
        return "im2col"
    estimates = {name: estimate_seconds(plan, name) for name in CANDIDATES}
    winograd_time = estimates.pop("winograd")
    best = min(estimates, key=estimates.__getitem__)
    if winograd_time * WINOGRAD_PREMIUM < estimates[best]:
        return "winograd"
    return best


def _filter_gradient_shaped(plan: ConvPlan) -> bool:
    """Fewer output positions than filter taps: a filter gradient (its output is the filter).

    The 2-D methods' estimates assume a small filter over a large output;
    turned around, their per-tap loops and Toeplitz bands grow with the image.
    """
    return math.prod(plan.output_spatial) < math.prod(plan.filter_spatial)


def choose_general(plan: ConvPlan) -> str:
    """The method for a plan the 2-D methods do not take (gradients, transposed, 3-D).

    * window stride 1 over a dilated input (an input gradient with a stride, a
      transposed convolution): ``col2im``, which never multiplies the zeros;
    * fewer output positions than filter taps (a filter gradient: its output is
      the filter): ``weightgrad``, long-sum GEMMs whose columns are the few
      output positions;
    * otherwise ``shifted``, one GEMM per filter tap.
    """
    if col2im.supports(plan) and any(d != 1 for d in plan.lhs_dilations):
        return "col2im"
    if _filter_gradient_shaped(plan):
        # weightgrad picks its own layout: flat per-offset GEMMs for a few channels over a
        # large image (S2-S4) or a 1x1 window, channel-planar im2col columns otherwise.
        return "weightgrad"
    return "shifted"
