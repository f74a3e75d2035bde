"""Shifted GEMMs in any number of dimensions: the general plan's fast fallback.

For every filter tap ``k`` the outputs read one strided slice of the dilated,
padded input, ``padded[:, k*d : k*d + (out - 1)*s + 1 : s]``, shape
``(N, *out, C)``: one matrix product ``(N * prod(out), C/groups) @
(C/groups, C_out/groups)`` per tap and group, accumulated into the output.
This serves ``conv3d`` and any plan the 2-D methods refuse; it is the
tap-by-tap form of :mod:`.gemm` without its banding and polyphase tricks.
"""

from __future__ import annotations

import numpy as np

from ..plan import ConvPlan


def workspace_bytes(plan: ConvPlan) -> int:
    """One tap's slice of the input and its product, plus the dilated input when there is one."""
    itemsize = plan.compute_dtype.itemsize
    rows = int(np.prod(plan.output_shape[:-1], dtype=np.int64))
    dilated = 0
    if any(d != 1 for d in plan.lhs_dilations):
        dilated = plan.batch * int(np.prod(plan.padded_spatial, dtype=np.int64)) * plan.in_channels * itemsize
    return rows * (plan.filter_in_channels + plan.out_channels) * itemsize + dilated


def conv_shifted(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Convolve with one GEMM per filter tap (and group) on strided slices of the padded input.

    Parameters
    ----------
    x : ndarray of shape (N, *spatial, C)
    filters : ndarray of shape (*K, C / groups, C_out)
    plan : ConvPlan

    Returns
    -------
    ndarray of shape (N / batch_groups, *out_spatial, C_out)
    """
    out = np.zeros(plan.output_shape, dtype=x.dtype)
    if plan.is_empty:
        return out
    padded = plan.pad(x)
    out_batch = plan.output_shape[0]
    cg, og = plan.filter_in_channels, plan.out_channels_per_group
    flat_out = out.reshape(-1, plan.out_channels)
    for tap in np.ndindex(*plan.filter_spatial):
        window = tuple(
            slice(k * d, k * d + (o - 1) * s + 1, s)
            for k, d, o, s in zip(tap, plan.dilations, plan.output_spatial, plan.strides)
        )
        taps = (slice(None), *window)
        part = padded[taps]
        weights = filters[tap]
        for b in range(plan.batch_groups):
            images = part[b * out_batch : (b + 1) * out_batch]
            for g in range(plan.groups):
                block = b * plan.groups + g
                columns = images[..., g * cg : (g + 1) * cg].reshape(-1, cg)
                flat_out[:, block * og : (block + 1) * og] += columns @ weights[:, block * og : (block + 1) * og]
    return out
