"""col2im: the input gradient (transposed convolution) as a scatter of GEMM results.

An input gradient's plan dilates its input (the output gradient) by the
forward stride and slides the flipped filter over it with stride 1. Most of
the dilated input is zeros, so instead of materialising it: every input sample
times every filter tap is one GEMM, ``(N * prod(spatial), C/groups) @
(C/groups, prod(K) * C_out/groups)``, and tap ``k``'s share of it is added into
the outputs it lands on, a strided slice given by ``plan.scatter_ranges(k)``.
That is the ``col2im`` half of im2col run backwards: exactly the multiply-adds
of the forward pass, none spent on the inserted zeros.

With few output channels (an RGB input's gradient) the scatter runs on
channel-planar copies, ``(N, C, *spatial)``: NumPy's strided adds are then long
rows, not loops of three numbers.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..plan import ConvPlan
from .shifted import conv_shifted

#: Largest GEMM result held at once: a few images, or bands of rows of a large one.
WORKSPACE_BYTES = 32 * 2**20
#: Below this many output channels per group the scatter runs channel-planar.
PLANAR_BELOW = 16


def supports(plan: ConvPlan) -> bool:
    """Plans with window stride 1 and no batch groups (input gradients, transposed convolutions)."""
    return all(s == 1 for s in plan.strides) and plan.batch_groups == 1


def _row_bytes(plan: ConvPlan) -> int:
    """GEMM result for one input row (along the first spatial axis) of one image."""
    return (
        math.prod(plan.input_spatial[1:])
        * math.prod(plan.filter_spatial)
        * plan.out_channels_per_group
        * plan.compute_dtype.itemsize
    )


#: One tap's index and its (input, output) slices per spatial axis.
TapRanges = tuple[tuple[int, ...], tuple[tuple[slice, slice], ...]]


@functools.lru_cache(maxsize=256)
def _tap_ranges(plan: ConvPlan) -> tuple[TapRanges, ...]:
    """(tap, its scatter ranges) for every tap that sends anything, cached per plan (small calls: S1)."""
    taps = ((tap, plan.scatter_ranges(tap)) for tap in np.ndindex(*plan.filter_spatial))
    return tuple((tap, ranges) for tap, ranges in taps if ranges is not None)


def _blocks(plan: ConvPlan) -> list[tuple[slice, list[slice]]]:
    """(images, [row bands]) whose GEMM results stay under ``WORKSPACE_BYTES``.

    Small images go several at a time; a large one is cut into bands of rows
    along its first spatial axis.
    """
    rows = plan.input_spatial[0]
    rows_per_band = max(1, WORKSPACE_BYTES // max(1, _row_bytes(plan)))
    if rows_per_band >= rows:
        step = rows_per_band // max(1, rows)
        return [(slice(n, min(plan.batch, n + step)), [slice(0, rows)]) for n in range(0, plan.batch, step)]
    bands = [slice(r, min(rows, r + rows_per_band)) for r in range(0, rows, rows_per_band)]
    return [(slice(n, n + 1), bands) for n in range(plan.batch)]


def workspace_bytes(plan: ConvPlan) -> int:
    """One block's GEMM result, plus a channel-planar copy of the output when the scatter runs planar."""
    block = min(max(WORKSPACE_BYTES, _row_bytes(plan)), _row_bytes(plan) * plan.input_spatial[0] * plan.batch)
    planar_scatter = plan.out_channels_per_group < PLANAR_BELOW
    planar = math.prod(plan.output_shape) * plan.compute_dtype.itemsize if planar_scatter else 0
    return block + planar


def _clip_rows(ranges: tuple[tuple[slice, slice], ...], band: slice) -> tuple[slice, slice] | None:
    """A tap's first-axis (input, output) slices cut to the input rows of ``band``.

    Returns (rows of the band's products, output rows), or None when the tap sends none of them.
    """
    inputs, outputs = ranges[0]
    first, last = max(inputs.start, band.start), min(inputs.stop, band.stop)
    if first >= last:
        return None
    step = outputs.step
    start = outputs.start + (first - inputs.start) * step
    return slice(first - band.start, last - band.start), slice(start, start + (last - first - 1) * step + 1, step)


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
    taps = _tap_ranges(plan)
    planar = og < PLANAR_BELOW
    for g in range(plan.groups):
        # (C/groups, *K, C_out/groups) flattened: one product covers every tap.
        weights = np.moveaxis(filters[..., g * og : (g + 1) * og], rank, 0).reshape(cg, -1)
        for images, bands in _blocks(plan):
            target = out[images, ..., g * og : (g + 1) * og]
            if planar:  # scatter into (n, og, *out): long strided rows, not loops of og numbers
                target = np.zeros((target.shape[0], og, *plan.output_spatial), dtype=x.dtype)
            for band in bands:
                block = x[images, band, ..., g * cg : (g + 1) * cg]
                products = (block.reshape(-1, cg) @ weights).reshape(*block.shape[:-1], *kernel, og)
                if planar:  # (n, *K, og, *spatial)
                    products = np.moveaxis(products, tuple(range(1, rank + 1)), tuple(range(-rank, 0)))
                    products = np.ascontiguousarray(products)
                for tap, ranges in taps:
                    clipped = _clip_rows(ranges, band)
                    if clipped is None:
                        continue
                    source_rows, target_rows = clipped
                    sources = (source_rows, *(r[0] for r in ranges[1:]))
                    targets = (target_rows, *(r[1] for r in ranges[1:]))
                    if planar:
                        into, out_of = (slice(None), slice(None), *targets), (slice(None), *tap, slice(None), *sources)
                    else:
                        into, out_of = (slice(None), *targets), (slice(None), *sources, *tap)
                    target[into] += products[out_of]
            if planar:
                out[images, ..., g * og : (g + 1) * og] = np.moveaxis(target, 1, -1)
    if out.dtype.kind == "f" and not np.isfinite(out.sum()):
        # The scatter never multiplies the padding zeros TF multiplies (Inf * 0 = NaN):
        # a NaN or Inf anywhere means recomputing with every tap, as the naive loops do.
        return conv_shifted(x, filters, plan)
    return out
