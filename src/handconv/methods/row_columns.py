"""Row columns: im2col over one filter row, shared by the ``KH`` filter rows.

im2col copies every receptive field, ``KH * KW * C`` numbers per output: an
11x11 filter on 64 channels copies each input number 121 times, and for a
layer like 2x48x64x64 -> 32 that is a 127 MB matrix before the GEMM starts.
But the fields of output rows ``oy`` and ``oy + 1`` overlap in ``KH - 1``
input rows. So this method copies, for every padded input row, the windows of
*one filter row*: ``rows[n, i, ox] = padded[n, i, ox * sw + (0..KW-1) * dw, :]``,
``KW * C`` numbers per output column, each input number ``KW`` times. Filter
row ``ky`` of output row ``oy`` reads ``rows[n, oy * sh + ky * dh]``, so::

    out[n, oy] = sum over ky of rows[n, oy * sh + ky * dh] @ filters[ky]    # (OW, KW * C) @ (KW * C, C_out)

and for a band of output rows the ``KH`` terms are ``KH`` GEMMs on contiguous
slices of the copied rows, ``OW`` rows apart: ``KH`` times less copying than
im2col for the same multiply-adds, in GEMMs ``KH`` times shorter.

Strides use a polyphase split of the rows (filter row ``ky`` reads phase
``(ky * dh) % sh`` at offset ``(ky * dh) // sh``), so every slice stays
contiguous. Images are laid one after another in a band; grid rows that
straddle two images are computed and dropped (``KH - 1`` rows per image).

Every product TF forms is formed here (padding zeros included), and no others
reach an output: NaN and Inf land where TF has them. Each output is ``KH``
BLAS sums of ``KW * C`` products, added one after another: chains no longer
than im2col's.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..plan import ConvPlan
from . import cost
from .im2col import band_count, bands, largest_band, padded_input
from .scratch import scratch

#: A band's copied window rows, grid of sums and product: stays in cache between its copy, its ``KH`` GEMMs and
#: their sums (as im2col's bands). Counting the grid matters when ``C_out`` outweighs ``KW * C``: 64x56x56x3 -> 64
#: spent 14 of 59 ms adding 20 MB grids from memory.
BAND_BYTES = 4 * 2**20
#: A band holds at least this many output pixels (thinner GEMMs are mostly call overhead).
MIN_BAND_PIXELS = 1024


def supports(plan: ConvPlan) -> bool:
    """One channel group, floating point, a filter more than one row high (one row is im2col)."""
    return plan.groups == 1 and plan.compute_dtype.kind == "f" and plan.filter_hw[0] > 1


def phases(plan: ConvPlan) -> list[tuple[int, list[tuple[int, int]]]]:
    """(row phase, [(ky, offset), ...]) for every stride phase some filter row reads.

    Filter row ``ky`` of output row ``oy`` reads padded row ``oy * sh + ky * dh``:
    row ``oy + offset`` of phase ``(ky * dh) % sh``.

    >>> from handconv.plan import make_plan
    >>> phases(make_plan((1, 9, 9, 1), (3, 3, 1, 1), 2, "VALID"))
    [(0, [(0, 0), (2, 1)]), (1, [(1, 0)])]
    """
    (kh, _), sh, dh = plan.filter_hw, plan.strides[0], plan.dilations[0]
    found: dict[int, list[tuple[int, int]]] = {}
    for ky in range(kh):
        found.setdefault(ky * dh % sh, []).append((ky, ky * dh // sh))
    return sorted(found.items())


def _span(plan: ConvPlan) -> int:
    """Extra rows a band copies per image beyond its output rows: the widest spread of offsets in a phase."""
    return max(ks[-1][1] - ks[0][1] for _, ks in phases(plan))


def _row_numbers(plan: ConvPlan) -> int:
    """Numbers a band holds per row: ``OW`` windows of ``KW * C``, and ``OW`` pixels of the grid and the product."""
    return plan.output_hw[1] * (plan.filter_hw[1] * plan.in_channels + 2 * plan.out_channels)


def _rows_per_band(plan: ConvPlan) -> int:
    row_bytes = _row_numbers(plan) * plan.compute_dtype.itemsize
    ow = max(1, plan.output_hw[1])
    return max(1, BAND_BYTES // max(1, row_bytes) - _span(plan), -(-MIN_BAND_PIXELS // ow))


def _band_shape(plan: ConvPlan) -> tuple[int, int]:
    """(images, output rows) of the largest band (:func:`.im2col.bands`)."""
    return largest_band(plan.batch, plan.output_hw[0], _rows_per_band(plan))


def workspace_bytes(plan: ConvPlan) -> int:
    """One band's copied rows, its grid of sums and one GEMM's product."""
    if not supports(plan):
        return 0
    images, rows = _band_shape(plan)
    grid_rows = images * (rows + _span(plan)) * plan.output_hw[1]
    return grid_rows * _row_numbers(plan) // max(1, plan.output_hw[1]) * plan.compute_dtype.itemsize


#: Weights of :func:`estimate`'s terms (calls, passes over the grid and output, rows copy, GEMMs):
#: ``bench/calibrate.py`` on its grid with this method timed beside im2col (2026-12-01). Fitted again after the
#: GEMM model's hot table, they came out at (0.905, 0.926, 1.53, 2.02) and raised the grid's regret (1.076 ->
#: 1.10): the grid's small products pay overheads the GEMM term does not name, and on the sweep's large layers
#: these weights already overestimate it (g228 16 ms for 10, g131 13 for 8).
COST_WEIGHTS = (0.899, 1.33, 1.51, 1.09)


def estimate(plan: ConvPlan, rates) -> float:
    """Seconds (see :mod:`.cost`): the padded copy, the window rows copied, ``KH`` GEMMs per band, the sums."""
    if not supports(plan):
        return math.inf
    itemsize, _, padded, out_bytes, pixels = cost.sizes(plan)
    (kh, kw), c, c_out = plan.filter_hw, plan.in_channels, plan.out_channels
    images, rows = (max(1, size) for size in _band_shape(plan))  # an empty plan: no division by zero
    span, phase_count = _span(plan), len(phases(plan))
    count = band_count(plan.batch, plan.output_hw[0], _rows_per_band(plan))
    # Per band, every image's rows plus ``span`` are copied; the GEMMs compute all but the last ``span`` of them
    # (rows straddling two images are computed and dropped).
    copy_share = (rows + span) / rows
    grid_share = (images * (rows + span) - span) / (images * rows)
    copied = pixels * copy_share * kw * c * itemsize * phase_count
    run = kw * c if plan.dilations[1] == 1 else c
    pads = padded if plan.pad_amounts != ((0, 0), (0, 0)) else 0
    grid_pixels = (images * (rows + span) - span) * plan.output_hw[1]
    return cost.weighted(
        COST_WEIGHTS,
        (
            (5 + count * (phase_count * 2 + 3 * kh)) * rates.call,
            (pads + out_bytes * grid_share * (2 * kh + 1)) / rates.bandwidth,
            cost.copy_seconds(rates, copied, run),
            cost.gemm_seconds(rates, plan.macs * grid_share, kw * c, c_out, grid_pixels, itemsize),
        ),
    )


def window_rows(padded: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """One filter row's windows on every padded row, a read-only view ``(N, Hp, OW, KW, C)``."""
    sn, sy, sx, sc = padded.strides
    sw, dw = plan.strides[1], plan.dilations[1]
    shape = (padded.shape[0], padded.shape[1], plan.output_hw[1], plan.filter_hw[1], padded.shape[3])
    return as_strided(padded, shape, (sn, sy, sx * sw, sx * dw, sc), writeable=False)


def conv2d_row_columns(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Convolve with the windows of one filter row, copied once and read by every filter row.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
    filters : ndarray of shape (KH, KW, C, C_out)
    plan : ConvPlan
        One channel group, floating point.

    Returns
    -------
    ndarray of shape (N, OH, OW, C_out)
    """
    out = np.empty(plan.output_shape, dtype=x.dtype)
    if plan.is_empty:
        return out
    windows = window_rows(padded_input(x, plan), plan)
    (_, kw), c, c_out = plan.filter_hw, plan.in_channels, plan.out_channels
    ow, sh, k = plan.output_hw[1], plan.strides[0], kw * plan.in_channels
    weights = filters.reshape(filters.shape[0], k, c_out)
    row_phases = phases(plan)
    for images, band in bands(plan.batch, plan.output_hw[0], _rows_per_band(plan)):
        b0, b1, _ = band.indices(plan.output_hw[0])
        target = out[images, b0:b1]  # (n, rows, OW, C_out)
        n, rows = target.shape[0], b1 - b0
        for number, (phase, taps) in enumerate(row_phases):
            first, span = taps[0][1], taps[-1][1] - taps[0][1]
            # Phase rows b0 + first ... b1 + last offset - 1 of each image: padded rows phase + sh * j.
            start = phase + sh * (b0 + first)
            source = windows[images, start : start + sh * (rows + span - 1) + 1 : sh]
            copied = scratch((n, rows + span, ow, kw, c), x.dtype, "row columns")
            np.copyto(copied, source)
            flat = copied.reshape(-1, k)
            length = flat.shape[0] - span * ow  # grid rows every filter row of the phase has input for
            grid = scratch((flat.shape[0], c_out), x.dtype, "row columns grid")
            product = scratch((length, c_out), x.dtype, "row columns product")
            for i, (ky, offset) in enumerate(taps):
                shift = (offset - first) * ow
                np.matmul(flat[shift : shift + length], weights[ky], out=grid[:length] if i == 0 else product)
                if i:
                    grid[:length] += product
            # Grid row (image, r, ox) is output row b0 + r for r < rows; the rest straddle two images.
            sums = grid.reshape(n, rows + span, ow, c_out)[:, :rows]
            if number == 0:
                target[...] = sums
            else:
                target += sums
    return out
