"""Shifted GEMMs: one matrix product per filter tap, accumulated in place.

Flatten the padded input ``(N, Hp, Wp, C)`` to a matrix of ``N * Hp * Wp`` rows
of ``C`` numbers. Output pixel ``(n, oy, ox)`` sits at row ``(n * Hp + oy) * Wp
+ ox`` of an output matrix on the same grid, and filter tap ``(ky, kx)`` reads
the input row a fixed distance ``ky * dh * Wp + kx * dw`` further on. So tap
``t`` contributes ``input[rows + offset_t] @ weights_t``: a *contiguous slice*
of the input matrix, no window view, no gather of scattered pixels. The taps'
products are accumulated inside one GEMM: for a band of output rows that fits
in L2, the taps' slices are laid side by side (``K = taps * C``) and multiplied
by all the weights at once, so the output is written once, not once per tap.
Grid points that are not outputs (the right and bottom margins) are computed
and dropped: ``(Hp * Wp) / (OH * OW)`` extra work.

Only NumPy's BLAS is used. Accumulating tap by tap with BLAS ``beta = 1``
through SciPy's BLAS was measured too: no faster than the banded product here,
and SciPy ships a second OpenBLAS whose worker threads spin after each call and
starve NumPy's (perf-notes: ~8 ms per switch), which a network alternating
methods would pay on every layer.

Strides use a polyphase split: the padded input is cut into ``sh * sw``
phases (rows ``a::sh``, columns ``b::sw``), each tap reads one phase at a fixed
offset, and the same shifted products run at stride 1 on the phases.

A 1x1 filter with stride 1 and no padding is a single GEMM on the input
itself, with no copy at all.
"""

from __future__ import annotations

import math

import numpy as np

from ..plan import ConvPlan
from . import cost

#: Rows per band in the NumPy-only path: columns of ``taps`` numbers stay in L2.
BAND_BYTES = 2 * 2**20


def is_pointwise(plan: ConvPlan) -> bool:
    """1x1 filter, stride 1, no padding, one group: the convolution is one GEMM."""
    return (
        plan.filter_hw == (1, 1)
        and plan.strides == (1, 1)
        and plan.pad_amounts == ((0, 0), (0, 0))
        and plan.groups == 1
    )


def output_channels_first(plan: ConvPlan) -> bool:
    """The pointwise product on NCHW memory is computed as ``W^T @ (C, H * W)``: NCHW out, no transpose."""
    return plan.channels_first and is_pointwise(plan)


def _phase_grid(plan: ConvPlan) -> tuple[int, int]:
    """Height and width of each polyphase component, ``ceil(Hp / sh)`` x ``ceil(Wp / sw)``."""
    (hp, wp), (sh, sw) = plan.padded_hw, plan.strides
    return -(-hp // sh), -(-wp // sw)


def workspace_bytes(plan: ConvPlan) -> int:
    """Grid-sized output matrix, plus the phase copy for strides, plus a band of columns."""
    itemsize = plan.compute_dtype.itemsize
    if is_pointwise(plan):
        return 0
    hq, wq = _phase_grid(plan)
    grid = plan.batch * hq * wq
    total = grid * plan.out_channels * itemsize
    if plan.strides != (1, 1):
        total += grid * plan.strides[0] * plan.strides[1] * plan.in_channels * itemsize
    total += min(grid, _band_rows(plan)) * plan.taps * itemsize
    return total


#: Weights of :func:`estimate`'s terms (calls, passes, strided copies, banded GEMM, pointwise GEMM):
#: ``bench/calibrate.py``
#: (fitted 2026-11-30, quiet machine, 239 cells, a quarter NCHW).
COST_WEIGHTS = (0.722, 2.53, 0.606, 1.04, 0.98)


def estimate(plan: ConvPlan, rates) -> float:
    """Seconds (see :mod:`.cost`): the grid's extra rows, the phase copy for strides, the band copies, the GEMMs."""
    itemsize, in_bytes, padded, out_bytes, pixels = cost.sizes(plan)
    og = plan.out_channels_per_group
    if is_pointwise(plan):
        product = cost.gemm_seconds(rates, plan.macs, plan.in_channels, og, pixels, itemsize)
        return cost.weighted(COST_WEIGHTS, (2.5 * rates.call, 0.0, 0.0, 0.0, product))
    overhead = grid_overhead(plan)
    grid_rows = pixels * overhead
    pads = padded if plan.pad_amounts != ((0, 0), (0, 0)) else 0
    phases = cost.copy_seconds(rates, padded, plan.in_channels) if plan.strides != (1, 1) else 0.0
    # Each band copies every tap's slice: runs of C (or C / groups) numbers into the band's columns.
    columns = cost.copy_seconds(rates, grid_rows * plan.taps * plan.groups * itemsize, plan.filter_in_channels)
    bands = plan.groups * math.ceil(grid_rows / _band_rows(plan))
    spatial = plan.filter_hw[0] * plan.filter_hw[1]
    return cost.weighted(
        COST_WEIGHTS,
        (
            (5 + bands * (spatial + 2)) * rates.call,
            (pads + out_bytes * (1 + overhead)) / rates.bandwidth,
            phases + columns,
            cost.gemm_seconds(
                rates, plan.macs * overhead, plan.taps, og, int(min(grid_rows, _band_rows(plan))), itemsize
            ),
            0.0,
        ),
    )


def _band_rows(plan: ConvPlan) -> int:
    return max(64, BAND_BYTES // (plan.taps * plan.compute_dtype.itemsize))


def _phases(padded: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Polyphase components ``(sh, sw, N, Hq, Wq, C)``; a view when the stride is 1."""
    sh, sw = plan.strides
    if (sh, sw) == (1, 1):
        return np.ascontiguousarray(padded)[None, None]
    hq, wq = _phase_grid(plan)
    n, _, _, c = padded.shape
    phases = np.zeros((sh, sw, n, hq, wq, c), dtype=padded.dtype)
    for a in range(sh):
        for b in range(sw):
            part = padded[:, a::sh, b::sw]
            phases[a, b, :, : part.shape[1], : part.shape[2]] = part
    return phases


def _taps(plan: ConvPlan, wq: int) -> list[tuple[int, int, int, int, int]]:
    """For each tap: (ky, kx, phase row, phase column, offset in flattened phase rows)."""
    (kh, kw), (dh, dw), (sh, sw) = plan.filter_hw, plan.dilations, plan.strides
    taps = []
    for ky in range(kh):
        for kx in range(kw):
            r, c = ky * dh, kx * dw
            taps.append((ky, kx, r % sh, c % sw, (r // sh) * wq + c // sw))
    return taps


def conv2d_gemm(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Convolve with one GEMM per filter tap over shifted slices of the flattened input.

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
    if is_pointwise(plan):
        weights = filters.reshape(plan.in_channels, plan.out_channels)
        planar = x.transpose(0, 3, 1, 2)
        if planar.flags.c_contiguous and not x.flags.c_contiguous:
            # NCHW memory seen through the NHWC view: W^T @ (C, H*W) per image, no
            # transpose on either side; the result is returned as an NHWC view of
            # NCHW memory, which is what from_canonical turns back into NCHW for free.
            n, c, h, w = planar.shape
            out = np.matmul(weights.T, planar.reshape(n, c, h * w))
            return out.reshape(n, plan.out_channels, h, w).transpose(0, 2, 3, 1)
        flat = np.ascontiguousarray(x).reshape(-1, plan.in_channels)
        return (flat @ weights).reshape(plan.output_shape)

    phases = _phases(plan.pad(x), plan)
    n, hq, wq, c = phases.shape[2:]
    rows = n * hq * wq
    flat_phases = phases.reshape(phases.shape[0], phases.shape[1], rows, c)
    taps = _taps(plan, wq)
    used = rows - max(t[4] for t in taps)  # grid rows every tap can read
    grid = np.empty((rows, plan.out_channels), dtype=x.dtype)
    grid[used:] = 0
    cg, og = plan.filter_in_channels, plan.out_channels_per_group
    for g in range(plan.groups):
        inputs = flat_phases[..., g * cg : (g + 1) * cg]
        weights = filters[..., g * og : (g + 1) * og]
        target = grid[:used, g * og : (g + 1) * og]
        _accumulate_bands(inputs, weights, taps, target, _band_rows(plan))
    out = grid.reshape(n, hq, wq, plan.out_channels)[:, : plan.output_hw[0], : plan.output_hw[1]]
    return np.ascontiguousarray(out)


def _accumulate_bands(inputs, weights, taps, target, band_rows: int) -> None:
    """target = sum over taps of shifted slices @ tap weights, one product per band of rows.

    The band's columns ``(rows, taps, Cg)`` are contiguous copies of the taps'
    slices; ``band_rows`` keeps them in L2.
    """
    m, cg = target.shape[0], inputs.shape[-1]
    matrix = weights.reshape(len(taps) * cg, -1)
    columns = np.empty((min(m, band_rows), len(taps), cg), dtype=inputs.dtype)
    for start in range(0, m, band_rows):
        stop = min(m, start + band_rows)
        band = columns[: stop - start]
        for i, (_, _, a, b, offset) in enumerate(taps):
            band[:, i, :] = inputs[a, b, start + offset : stop + offset]
        target[start:stop] = band.reshape(stop - start, -1) @ matrix


def supports(plan: ConvPlan) -> bool:
    """Every plan; the grid overhead makes it a poor choice when a stride leaves most rows unused."""
    return True


def grid_overhead(plan: ConvPlan) -> float:
    """Grid rows computed per output pixel (>= 1)."""
    hq, wq = _phase_grid(plan)
    return (hq * wq) / max(1, math.prod(plan.output_hw))
