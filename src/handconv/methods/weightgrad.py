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

Two faster layouts of the same sums serve the plans they fit
(:func:`conv_weightgrad` picks): with few channel pairs or a 1x1 window, flat
GEMMs per window offset on the input as it lies in memory (no copies,
:func:`_conv_flat`); otherwise channel-planar im2col columns, one GEMM per band
(:func:`_conv_columns`, TF's own scheme). The bands above remain for input
dilation and groups.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ..plan import ConvPlan

#: Rows of the flat GEMMs (:func:`_conv_flat`) per call: a chunk of the input and of the filter
#: stays in cache while every tap reads it.
FLAT_CHUNK_BYTES = 2**20
#: Up to this many (B, C_out) pairs (a filter gradient's channels x output channels) the flat GEMMs
#: run: their per-offset products are then matrix-vector-like and stream the input once (S2-S4);
#: with more pairs one GEMM over im2col columns wastes less (a 1x1 window, one offset, always runs flat).
FLAT_THIN = 64

#: Bytes of the banded matrix ``A`` held at once (16 MiB measured 1.5-3x faster than 4 MiB on S7 and S9:
#: longer sums per GEMM call).
BAND_BYTES = 16 * 2**20


def _row_bytes(plan: ConvPlan) -> int:
    """Bytes of ``A`` for one feature and one offset along the window's first axis."""
    return (
        math.prod(plan.filter_spatial[1:]) * math.prod(plan.output_spatial) * plan.batch * plan.compute_dtype.itemsize
    )


def workspace_bytes(plan: ConvPlan) -> int:
    """One band of ``A`` (or of the columns), the padded input, and the filter padded to the
    input's size (the flat GEMMs' zero-filled copy)."""
    itemsize = plan.compute_dtype.itemsize
    band = max(BAND_BYTES, _row_bytes(plan))
    padded = plan.batch * math.prod(plan.padded_spatial) * plan.in_channels * itemsize
    flat_filter = plan.in_channels * math.prod(plan.padded_spatial) * plan.out_channels * itemsize
    return band + padded + flat_filter + math.prod(plan.output_shape) * itemsize


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
    if plan.is_empty:
        return np.zeros(plan.output_shape, dtype=x.dtype)
    thin = plan.batch * plan.out_channels <= FLAT_THIN or math.prod(plan.output_spatial) == 1
    if thin and flat_supports(plan):
        out = _conv_flat(x, filters, plan)
        if out.dtype.kind != "f" or np.isfinite(out).all():
            return out
        # The flat GEMMs multiply input samples no window reads by zeros (Inf * 0 = NaN):
        # a NaN or Inf in the result means recomputing with only the products the loops take.
        return _conv_banded(x, filters, plan)
    if columns_supports(plan):
        return _conv_columns(x, filters, plan)
    return _conv_banded(x, filters, plan)


def flat_supports(plan: ConvPlan) -> bool:
    """Plans :func:`_conv_flat` takes: filter dilation 1 (a stride-1 forward pass), no input dilation, no groups."""
    return (
        all(d == 1 for d in plan.dilations)
        and all(d == 1 for d in plan.lhs_dilations)
        and plan.groups == 1
        and plan.batch_groups == 1
    )


def _conv_flat(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """One GEMM per window offset on flat, contiguous views (filter dilation 1).

    With the padded input laid out ``(F, *padded, B)`` and flattened to rows
    ``i`` (one per feature and padded position), window offset ``k`` reads
    rows ``i + offset(k)``: a contiguous ``(L, B)`` block of the same buffer,
    no copy. The filter, padded with zeros to the padded input's spatial size
    and flattened the same way, zeroes the rows no window position reads. So
    ``out[:, k, :] = block(k)^T @ filter_rows``, a long-sum GEMM per offset, run
    in chunks of rows that stay in cache while every offset reads them, and
    summed in float64 across chunks. For a filter gradient (``F`` = the
    forward batch, ``B`` = its channels) the padded input is the forward input,
    ``(N, *padded, C)``, read in place when there is no padding.

    Parameters
    ----------
    x : ndarray of shape (B, *spatial, F)
    filters : ndarray of shape (*P, F, C_out)
    plan : ConvPlan
        Filter dilation 1, no input dilation, no groups (see :func:`flat_supports`).

    Returns
    -------
    ndarray of shape (B, *K, C_out)
    """
    rank = plan.spatial_rank
    lhs = np.ascontiguousarray(plan.pad(np.swapaxes(x, 0, -1)))  # (F, *padded, B)
    padded, window, kernel = lhs.shape[1:-1], plan.filter_spatial, plan.output_spatial
    features, batch, out_channels = lhs.shape[0], lhs.shape[-1], plan.out_channels
    rhs = np.zeros((features, *padded, out_channels), dtype=x.dtype)
    used = (slice(None), *(slice(0, p) for p in window))
    rhs[used] = np.moveaxis(filters, rank, 0)
    # Row strides of the flat (F * prod(padded)) index.
    row_strides = [math.prod(padded[axis + 1 :]) for axis in range(rank)]
    size = math.prod(padded)
    length = (features - 1) * size + sum((p - 1) * r for p, r in zip(window, row_strides)) + 1
    offsets = [sum(k * s * r for k, s, r in zip(tap, plan.strides, row_strides)) for tap in np.ndindex(*kernel)]
    flat_lhs, flat_rhs = lhs.reshape(-1), rhs.reshape(-1, out_channels)
    acc = np.zeros((len(offsets), batch, out_channels), dtype=np.float64 if x.dtype.itemsize <= 4 else x.dtype)
    # One offset reads each chunk once: nothing to keep in cache, so one GEMM (a 1x1 window).
    chunk = length if len(offsets) == 1 else max(1, FLAT_CHUNK_BYTES // ((batch + out_channels) * x.dtype.itemsize))
    for start in range(0, length, chunk):
        stop = min(length, start + chunk)
        part = flat_rhs[start:stop]
        for t, offset in enumerate(offsets):
            block = flat_lhs[(offset + start) * batch : (offset + stop) * batch].reshape(stop - start, batch)
            acc[t] += block.T @ part
    out = np.moveaxis(acc.reshape(*kernel, batch, out_channels), rank, 0)
    return np.ascontiguousarray(out, dtype=x.dtype)


def columns_supports(plan: ConvPlan) -> bool:
    """Plans :func:`_conv_columns` takes: no input dilation, no groups."""
    return all(d == 1 for d in plan.lhs_dilations) and plan.groups == 1 and plan.batch_groups == 1


def _conv_columns(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Channel-planar im2col: one GEMM per band of filter positions, ``(B * taps, M) @ (M, C_out)``.

    ``out[b, k, o] = sum over f, p of padded[b, k*stride + p*dilation, f] * filters[p, f, o]``.
    The padded input is copied once to ``(B, F, *padded)``, so each window
    offset's strided slice ``(B, F, *P)`` copies whole rows into the columns
    matrix ``(B, taps, F, *P)``; the filter, read as ``(F, *P, C_out)``, is a
    plain ``(M, C_out)`` matrix (for a filter gradient: the output gradient as
    it lies in memory). Bands of ``(f, first filter axis)`` keep the columns
    matrix near ``BAND_BYTES``; the bands' sums add up in float64.

    Parameters
    ----------
    x : ndarray of shape (B, *spatial, F)
    filters : ndarray of shape (*P, F, C_out)
    plan : ConvPlan
        No input dilation, no groups (see :func:`columns_supports`).

    Returns
    -------
    ndarray of shape (B, *K, C_out)
    """
    rank = plan.spatial_rank
    planar = _planar_padded(x, plan)  # (B, F, *padded)
    rhs = np.moveaxis(filters, rank, 0)  # (F, *P, C_out)
    batch, features = planar.shape[:2]
    window, kernel, out_channels = plan.filter_spatial, plan.output_spatial, plan.out_channels
    taps = list(np.ndindex(*kernel))
    per_row = batch * len(taps) * math.prod(window[1:]) * x.dtype.itemsize
    rows_per_band = max(1, BAND_BYTES // max(1, per_row))
    bands = list(_bands(features, window[0], rows_per_band))
    acc = np.zeros((batch * len(taps), out_channels), dtype=np.float64 if len(bands) > 1 else x.dtype)
    largest = max((f.stop - f.start) * (p.stop - p.start) for f, p in bands)
    buffer = np.empty(batch * len(taps) * largest * math.prod(window[1:]), dtype=x.dtype)  # one for every band
    for f_slice, p_slice in bands:
        f_count, p_count = f_slice.stop - f_slice.start, p_slice.stop - p_slice.start
        shape = (batch, len(taps), f_count, p_count, *window[1:])
        cols = buffer[: math.prod(shape)].reshape(shape)
        for t, tap in enumerate(taps):
            first = slice(
                tap[0] * plan.strides[0] + p_slice.start * plan.dilations[0],
                tap[0] * plan.strides[0] + (p_slice.stop - 1) * plan.dilations[0] + 1,
                plan.dilations[0],
            )
            rest = tuple(
                slice(k * s, k * s + (p - 1) * d + 1, d)
                for k, s, p, d in zip(tap[1:], plan.strides[1:], window[1:], plan.dilations[1:])
            )
            reads = (slice(None), f_slice, first, *rest)
            cols[:, t] = planar[reads]
        part = rhs[f_slice, p_slice].reshape(-1, out_channels)
        acc += cols.reshape(batch * len(taps), -1) @ part
    return np.ascontiguousarray(acc.reshape(batch, *kernel, out_channels), dtype=x.dtype)


def _planar_padded(x: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """``plan.pad(x)`` (no input dilation) with its last axis moved second, ``(B, F, *padded)``, in one copy."""
    planar = np.zeros((x.shape[0], x.shape[-1], *plan.padded_spatial), dtype=x.dtype)
    source, target = [], []
    for n, (before, after) in zip(plan.input_spatial, plan.pad_amounts):
        first, last = max(0, -before), n - max(0, -after)  # a negative amount crops
        source.append(slice(first, max(first, last)))
        target.append(slice(max(0, before), max(0, before) + max(0, last - first)))
    inside, kept = (slice(None), slice(None), *target), (slice(None), *source)
    planar[inside] = np.moveaxis(x[kept], -1, 1)
    return planar


def _conv_banded(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Bands of an im2col-like matrix (any plan): see the module docstring."""
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
                reads = (feature_slice, rows, *window[1:])
                band[..., i, :] = padded[reads]
            matrix = band.reshape(-1, len(positions), batch)
            w_band = weights[features, offsets].reshape(matrix.shape[0], plan.out_channels)
            for b in range(plan.batch_groups):
                block = b * plan.groups + g
                cols = slice(block * og, (block + 1) * og)
                if acc is not None:
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
