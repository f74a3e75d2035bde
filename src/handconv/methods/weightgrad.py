"""Filter gradients: the few output positions as GEMM columns, the long sum as bands of rows.

A filter gradient's plan (see :func:`handconv.plan.backprop_filter_plan`) has
the roles turned around: its "filter" is the whole output gradient (a window
as large as the image), its output only the filter's few taps. So lay the
problem out the other way from im2col: one matrix with a column per (output
position, batch entry) and a row per (feature, window offset), i.e. per
(forward image, output pixel), multiplied by the filter reshaped to
``(features * window, C_out)``:

    out[(p, b), o] = sum over rows r of A[r, (p, b)] * W[r, o]

The sum runs over millions of rows, so ``A`` is built and multiplied in bands
of a few MiB that stay in cache, accumulating ``A_band^T @ W_band``: TF's own
CPU filter gradient works this way (im2col in chunks, GEMM, accumulate). Rows
are ordered (feature, window) because that is how the forward input and output
gradient lie in memory, ``(N, H, W, C)``: each band's copy reads them in order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ..plan import ConvPlan

#: Bytes of the banded matrix ``A`` held at once (16 MiB measured 1.5-3x faster than 4 MiB on S7 and S9:
#: longer sums per GEMM call).
BAND_BYTES = 16 * 2**20


def _row_bytes(plan: ConvPlan) -> int:
    """Bytes of ``A`` for one feature and one offset along the window's first axis."""
    return (
        math.prod(plan.filter_spatial[1:]) * math.prod(plan.output_spatial) * plan.batch * plan.compute_dtype.itemsize
    )


def workspace_bytes(plan: ConvPlan) -> int:
    """One band of ``A``, plus the padded input when there are pads."""
    itemsize = plan.compute_dtype.itemsize
    band = max(BAND_BYTES, _row_bytes(plan))
    padded = plan.batch * math.prod(plan.padded_spatial) * plan.in_channels * itemsize
    return band + padded + math.prod(plan.output_shape) * itemsize


def _bands(features: int, first_axis: int, rows_per_band: int) -> Iterator[tuple[slice, slice]]:
    """(features, window offsets along the first axis) blocks of about ``rows_per_band`` rows."""
    if rows_per_band >= first_axis:
        step = rows_per_band // first_axis
        for f in range(0, features, step):
            yield slice(f, min(features, f + step)), slice(0, first_axis)
        return
    for f in range(features):
        for q in range(0, first_axis, rows_per_band):
            yield slice(f, f + 1), slice(q, min(first_axis, q + rows_per_band))


def conv_weightgrad(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Convolve a plan whose output is small and whose filter is large (a filter gradient).

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
    # Features first, batch last: (F, *spatial, B); pad only touches the spatial axes.
    padded = plan.pad(np.swapaxes(x, 0, -1))
    weights = np.moveaxis(filters, rank, 0)  # (F / groups, *K, C_out)
    positions = list(np.ndindex(*plan.output_spatial))
    windows = [plan.receptive_field(*p) for p in positions]
    batch = padded.shape[-1]
    out_batch = plan.output_shape[0]
    fg, og = plan.filter_in_channels, plan.out_channels_per_group
    # columns (p, b) -> output rows; accumulate in float64-free compute dtype like the other methods
    acc = np.zeros((len(positions), batch, plan.out_channels), dtype=x.dtype) if plan.batch_groups == 1 else None
    rows_per_band = max(1, BAND_BYTES // max(1, _row_bytes(plan)))
    for g in range(plan.groups):
        for features, offsets in _bands(fg, plan.filter_spatial[0], rows_per_band):
            feature_slice = slice(g * fg + features.start, g * fg + features.stop)
            shape = (features.stop - features.start, offsets.stop - offsets.start, *plan.filter_spatial[1:])
            band = np.empty((*shape, len(positions), batch), dtype=x.dtype)
            for i, window in enumerate(windows):
                first = window[0]
                rows = slice(
                    first.start + offsets.start * first.step, first.start + offsets.stop * first.step, first.step
                )
                band[..., i, :] = padded[(feature_slice, rows, *window[1:])]
            matrix = band.reshape(-1, len(positions), batch)
            w_band = weights[features, offsets].reshape(matrix.shape[0], plan.out_channels)
            for b in range(plan.batch_groups):
                block = b * plan.groups + g
                cols = slice(block * og, (block + 1) * og)
                if plan.batch_groups == 1:
                    acc[:, :, cols] += (matrix.reshape(matrix.shape[0], -1).T @ w_band[:, cols]).reshape(
                        len(positions), batch, og
                    )
                else:
                    part = matrix[:, :, b * out_batch : (b + 1) * out_batch].reshape(matrix.shape[0], -1)
                    result = (part.T @ w_band[:, cols]).reshape(len(positions), out_batch, og)
                    out[..., cols] += np.moveaxis(result, 0, 1).reshape(out_batch, *plan.output_spatial, og)
    if acc is not None:
        out[...] = np.moveaxis(acc, 0, 1).reshape(out.shape)
    return out
