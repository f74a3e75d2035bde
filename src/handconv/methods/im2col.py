"""im2col: every receptive field laid out as a row, then one matrix product.

A zero-copy window view of the padded input, shape ``(N, OH, OW, KH, KW, C)``,
is copied into a matrix of shape ``(rows, KH * KW * C)`` and multiplied by the
filters reshaped to ``(KH * KW * C, C_out)``. When that matrix would exceed
``WORKSPACE_BYTES`` it is built in bands of output rows, so a large image never
needs its full im2col matrix in memory.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..plan import ConvPlan

#: Upper bound on the im2col matrix held at once, in bytes (one band may exceed
#: it when a single output row alone is larger).
WORKSPACE_BYTES = 32 * 2**20


def window_view(padded: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Every receptive field of ``padded`` as a read-only view ``(N, OH, OW, KH, KW, C)``."""
    sn, sy, sx, sc = padded.strides
    (sh, sw), (dh, dw) = plan.strides, plan.dilations
    shape = (padded.shape[0], *plan.output_hw, *plan.filter_hw, padded.shape[3])
    return as_strided(padded, shape, (sn, sy * sh, sx * sw, sy * dh, sx * dw, sc), writeable=False)


def _rows_per_band(plan: ConvPlan) -> int:
    row_bytes = plan.output_hw[1] * plan.taps * plan.compute_dtype.itemsize
    return max(1, WORKSPACE_BYTES // max(row_bytes, 1))


def workspace_bytes(plan: ConvPlan) -> int:
    """Largest temporary this method allocates besides the padded input and the output."""
    row_bytes = plan.output_hw[1] * plan.taps * plan.compute_dtype.itemsize
    return min(plan.batch * plan.output_hw[0], _rows_per_band(plan)) * row_bytes


def _bands(batch: int, out_height: int, rows_per_band: int) -> Iterator[tuple[slice, slice]]:
    """(images, output rows) blocks whose im2col matrices fit the workspace."""
    if batch * out_height <= rows_per_band:
        yield slice(None), slice(None)
        return
    for image in range(batch):
        for start in range(0, out_height, rows_per_band):
            yield slice(image, image + 1), slice(start, start + rows_per_band)


def conv2d_im2col(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Convolve with an im2col matrix and a matrix product per channel group.

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
    windows = window_view(plan.pad(x), plan)
    cg, og = plan.filter_in_channels, plan.out_channels_per_group
    bands = list(_bands(plan.batch, plan.output_hw[0], _rows_per_band(plan)))
    for g in range(plan.groups):
        weights = filters[:, :, :, g * og : (g + 1) * og].reshape(plan.taps, og)
        group_windows = windows[..., g * cg : (g + 1) * cg]
        for images, rows in bands:
            columns = group_windows[images, rows].reshape(-1, plan.taps)  # the copy
            target = out[images, rows, :, g * og : (g + 1) * og]
            target[...] = (columns @ weights).reshape(target.shape)
    return out
