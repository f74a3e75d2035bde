"""col2im: the input gradient (transposed convolution) as a scatter of GEMM results.

An input gradient's plan dilates its input (the output gradient) by the
forward stride and slides the flipped filter over it with stride 1. Most of
the dilated input is zeros, so instead of materialising it: every input sample
times every filter tap is one GEMM, ``(N * prod(spatial), C/groups) @
(C/groups, prod(K) * C_out/groups)``, and tap ``k``'s share of it is added into
the outputs it lands on, a strided slice given by ``plan.scatter_ranges(k)``.
That is the ``col2im`` half of im2col run backwards: exactly the multiply-adds
of the forward pass, none spent on the inserted zeros.
"""

from __future__ import annotations

import math

import numpy as np

from ..plan import ConvPlan

#: Largest GEMM result held at once; bigger batches are done a few images at a time.
WORKSPACE_BYTES = 32 * 2**20


def supports(plan: ConvPlan) -> bool:
    """Plans with window stride 1 and no batch groups (input gradients, transposed convolutions)."""
    return all(s == 1 for s in plan.strides) and plan.batch_groups == 1


def _images_per_chunk(plan: ConvPlan) -> int:
    per_image = math.prod(plan.input_spatial) * math.prod(plan.filter_spatial) * plan.out_channels_per_group
    return max(1, WORKSPACE_BYTES // max(1, per_image * plan.compute_dtype.itemsize))


def workspace_bytes(plan: ConvPlan) -> int:
    per_image = math.prod(plan.input_spatial) * math.prod(plan.filter_spatial) * plan.out_channels_per_group
    return min(plan.batch, _images_per_chunk(plan)) * per_image * plan.compute_dtype.itemsize


def conv_col2im(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Scatter every input sample's products with every tap into the output.

    Parameters
    ----------
    x : ndarray of shape (N, *spatial, C)
    filters : ndarray of shape (*K, C / groups, C_out)
    plan : ConvPlan
        Window stride 1 (see :func:`supports`).

    Returns
    -------
    ndarray of shape (N, *out_spatial, C_out)
    """
    out = np.zeros(plan.output_shape, dtype=x.dtype)
    if plan.is_empty or x.size == 0:
        return out
    rank, kernel = plan.spatial_rank, plan.filter_spatial
    cg, og = plan.filter_in_channels, plan.out_channels_per_group
    taps = [(tap, plan.scatter_ranges(tap)) for tap in np.ndindex(*kernel)]
    taps = [(tap, ranges) for tap, ranges in taps if ranges is not None]
    chunk = _images_per_chunk(plan)
    for g in range(plan.groups):
        # (C/groups, *K, C_out/groups) flattened: one product covers every tap.
        weights = np.moveaxis(filters[..., g * og : (g + 1) * og], rank, 0).reshape(cg, -1)
        for first in range(0, plan.batch, chunk):
            images = x[first : first + chunk, ..., g * cg : (g + 1) * cg]
            products = (images.reshape(-1, cg) @ weights).reshape(*images.shape[:-1], *kernel, og)
            target = out[first : first + chunk, ..., g * og : (g + 1) * og]
            for tap, ranges in taps:
                source = products[(slice(None), *(r[0] for r in ranges), *tap)]
                target[(slice(None), *(r[1] for r in ranges))] += source
    return out
