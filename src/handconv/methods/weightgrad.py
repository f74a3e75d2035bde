"""One GEMM per *output* position: the filter gradient's shape of convolution.

A filter gradient's plan (see :func:`handconv.plan.backprop_filter_plan`) has
the roles turned around: its "filter" is the whole output gradient, its
output only the filter's few taps. So loop over those few outputs: output
``p`` is the window ``padded[:, p*s : ... : d]`` contracted with the filter
over the window and the feature axis, one product ``(F * prod(K), B) ^T @
(F * prod(K), C_out)``, where B is the plan's batch (the forward channels) and
F its features (the forward batch). The window is flattened with F first
because that is how the forward input lies in memory, ``(N, H, W, C)``: the
copy reads it in order and BLAS takes the transpose for free.
"""

from __future__ import annotations

import math

import numpy as np

from ..plan import ConvPlan


def workspace_bytes(plan: ConvPlan) -> int:
    """One window's copy, plus the padded input when there are pads."""
    itemsize = plan.compute_dtype.itemsize
    window = plan.batch * plan.in_channels * math.prod(plan.filter_spatial) * itemsize
    padded = plan.batch * math.prod(plan.padded_spatial) * plan.in_channels * itemsize
    return window + padded


def conv_weightgrad(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Convolve output position by output position, each one GEMM over the window.

    Parameters
    ----------
    x : ndarray of shape (B, *spatial, F)
    filters : ndarray of shape (*K, F / groups, C_out)
    plan : ConvPlan

    Returns
    -------
    ndarray of shape (B / batch_groups, *out_spatial, C_out)
    """
    out = np.zeros(plan.output_shape, dtype=x.dtype)
    if plan.is_empty:
        return out
    rank = plan.spatial_rank
    # Features first, batch last: (F, *spatial, B), padded the same way (pad only touches spatial axes).
    padded = plan.pad(np.swapaxes(x, 0, -1))
    features, taps = padded.shape[0], math.prod(plan.filter_spatial)
    fg, og = plan.filter_in_channels, plan.out_channels_per_group
    weights = np.moveaxis(filters, rank, 0).reshape(fg * taps, plan.out_channels)
    out_batch = plan.output_shape[0]
    for position in np.ndindex(*plan.output_spatial):
        window = padded[(slice(None), *plan.receptive_field(*position))]
        columns = window.reshape(features * taps, -1)  # (F * prod(K), B): the copy
        for b in range(plan.batch_groups):
            for g in range(plan.groups):
                block = b * plan.groups + g
                rows = columns[g * fg * taps : (g + 1) * fg * taps, b * out_batch : (b + 1) * out_batch]
                out[(slice(None), *position, slice(block * og, (block + 1) * og))] = (
                    rows.T @ weights[:, block * og : (block + 1) * og]
                )
    return out
