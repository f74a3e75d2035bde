"""Gather: im2col through precomputed indices, for tiny convolutions.

On a call as small as the article's (5x5x3 input, 3x3x3 filter) the arithmetic
takes a microsecond and everything else is overhead: ``np.pad`` alone costs
more than that. This method computes, once per plan, the index of every input
number each receptive field reads, in the flattened input with one extra zero
at the end standing for every padded position. A call is then one
``np.take`` (padding included), and one matrix product per channel group.
The index table is cached per plan, so it only pays on plans that repeat, and
is bounded by ``MAX_INDICES``.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..plan import ConvPlan
from . import cost

#: Largest index table (entries) this method builds; beyond it ``supports`` is False.
MAX_INDICES = 1 << 20


def supports(plan: ConvPlan) -> bool:
    """Plans whose index table has at most ``MAX_INDICES`` entries."""
    return plan.batch * plan.output_hw[0] * plan.output_hw[1] * plan.taps * plan.groups <= MAX_INDICES


def workspace_bytes(plan: ConvPlan) -> int:
    """The index table (cached) plus the gathered matrix and the flattened input."""
    entries = plan.batch * plan.output_hw[0] * plan.output_hw[1] * plan.taps * plan.groups
    flat = plan.batch * plan.input_hw[0] * plan.input_hw[1] * plan.in_channels + 1
    return entries * (np.dtype(np.intp).itemsize + plan.compute_dtype.itemsize) + flat * plan.compute_dtype.itemsize


#: Weights of :func:`estimate`'s terms (calls, the gather, GEMM): ``bench/calibrate.py``
#: (refitted 2026-11-30 20:10, quiet machine, 236 cells, a quarter NCHW).
COST_WEIGHTS = (2.49, 1.49, 1.04)


def estimate(plan: ConvPlan, rates) -> float:
    """Seconds (see :mod:`.cost`): tiny calls only; beyond them the index table is traffic for nothing."""
    entries = plan.batch * plan.output_hw[0] * plan.output_hw[1] * plan.taps * plan.groups
    if not supports(plan) or entries > 1 << 16:
        return math.inf
    itemsize, _, _, _, pixels = cost.sizes(plan)
    return cost.weighted(
        COST_WEIGHTS,
        (
            2.5 * rates.call,
            entries * (8 + itemsize) / rates.bandwidth,
            cost.gemm_seconds(rates, plan.macs, plan.taps, plan.out_channels_per_group, pixels, itemsize),
        ),
    )


@functools.lru_cache(maxsize=64)
def gather_indices(plan: ConvPlan) -> np.ndarray:
    """Indices of shape (N * OH * OW, groups, KH * KW * C / groups) into the flattened input + one zero.

    Position ``N * H * W * C`` (one past the input) is the zero every padded
    position reads.
    """
    n, oh, ow, _ = plan.output_shape
    h, w = plan.input_hw
    c, cg, groups = plan.in_channels, plan.filter_in_channels, plan.groups
    (kh, kw), (sh, sw), (dh, dw) = plan.filter_hw, plan.strides, plan.dilations
    (top, _), (left, _) = plan.pad_amounts
    iy = (np.arange(oh) * sh - top)[:, None] + np.arange(kh) * dh  # (OH, KH)
    ix = (np.arange(ow) * sw - left)[:, None] + np.arange(kw) * dw  # (OW, KW)
    inside = ((iy >= 0) & (iy < h))[:, None, :, None] & ((ix >= 0) & (ix < w))[None, :, None, :]
    pixel = iy[:, None, :, None] * w + ix[None, :, None, :]  # (OH, OW, KH, KW)
    channel = np.arange(groups)[:, None] * cg + np.arange(cg)  # (groups, Cg)
    index = (
        np.arange(n)[:, None, None, None, None, None, None] * (h * w * c)
        + pixel[None, :, :, None, :, :, None] * c
        + channel[None, None, None, :, None, None, :]
    )  # (N, OH, OW, groups, KH, KW, Cg)
    zero = n * h * w * c
    index = np.where(inside[None, :, :, None, :, :, None], index, zero)
    index = index.reshape(n * oh * ow, groups, kh * kw * cg).astype(np.intp)
    index.flags.writeable = False
    return index


def conv2d_gather(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Convolve with cached gather indices and one product per group.

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
    index = gather_indices(plan)
    flat = np.empty(x.size + 1, dtype=x.dtype)
    flat[:-1].reshape(x.shape)[...] = x  # one copy, whatever x's strides
    flat[-1] = 0
    columns = flat[index]  # (rows, groups, taps per group)
    groups, og = plan.groups, plan.out_channels_per_group
    if groups == 1:
        out = columns[:, 0] @ filters.reshape(-1, og)
    else:
        # (groups, taps, Og) weights against (groups, rows, taps) columns.
        weights = filters.reshape(-1, groups, og).transpose(1, 0, 2)
        out = np.matmul(columns.transpose(1, 0, 2), weights).transpose(1, 0, 2)
    return out.reshape(plan.output_shape)
