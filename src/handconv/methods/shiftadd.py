"""Shift-add: every tap's products from one GEMM, then the taps' shifted planes added.

For many input channels into few outputs (256 channels into 8 through a 5x5
filter on a 32x32 map) im2col copies a matrix of ``KH * KW * C`` numbers per
output pixel (6400 here: 26 MB for 1024 pixels) to feed a GEMM only 8 columns
wide, and the shifted GEMMs (:mod:`.gemm`) run 25 of those thin GEMMs. Here
the input is not copied into columns at all: one GEMM multiplies every padded
input pixel by every tap's weights at once,

    products[pixel, tap, co] = sum over c of padded[pixel, c] * filters[tap, c, co]

``(pixels, C) @ (C, KH * KW * C_out)``: 200 columns wide for the example, so
BLAS runs near its peak. Output ``(oy, ox)`` is then the sum over taps of the
product its tap made at the input pixel it reads, ``(oy * sh + ky * dh, ox *
sw + kx * dw)``: for each tap, a plane of ``products`` added into the output,
``KH * KW`` additions in all.

**Stride phases.** With stride ``s`` an output reads one padded pixel in ``s``
along each axis, and which one depends on the tap: tap ``ky`` reads rows
``ky * dh (mod sh)``. So the padded input is split into its ``sh * sw`` stride
phases (rows ``r, r + sh, ...``), and each phase is multiplied only by the
taps that read it: no product is formed that no output reads, beyond the
bands' halos, and in a phase tap ``ky`` is a shift of ``ky * dh // sh`` rows.
At stride 1 there is one phase, the padded input itself.

**Layouts.** On NHWC memory a product row is one pixel's ``taps x C_out``
numbers, ``(pixels, C) @ (C, taps * C_out)``. On NCHW memory (``data_format=
"NCHW"``) the GEMM is laid the other way round, ``(taps * C_out, C) @ (C,
pixels)``, as in Caffe: the input planes are read as they lie, the products are
planes, each tap's addition runs along whole output rows, and the result is
NCHW memory (returned as the NHWC view :func:`handconv.conv2d` expects). On a
16x256x32x32 NCHW layer into 32 filters (3x3) that is 15 ms against 27 for
the NHWC form with its layout copies, and 23 for :mod:`.im2col_nchw` (TF: 14).

Large images are cut into bands of output rows (with the rows of halo each
band reads) so the products stay in cache.

Every product TF forms is formed here, padding zeros included, and each output
is the sum over taps of the sums over channels BLAS computes: the same
numbers as :mod:`.gemm`'s (``Inf * 0 = NaN`` where TF has it, and nowhere
else, because only products an output reads are added).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

from ..plan import ConvPlan
from . import cost
from .im2col import band_count, bands, largest_band, padded_input
from .im2col_nchw import padded_planes
from .scratch import scratch

#: Bytes of products one band holds: a band's products stay in L2 between the GEMM and the additions.
BAND_BYTES = 4 * 2**20
#: A band's GEMM has at least this many rows (input pixels) when the image allows.
MIN_BAND_PIXELS = 512


class Phase(NamedTuple):
    """One stride phase: padded rows ``row + k * sh``, columns ``col + k * sw``, and the taps that read them."""

    row: int
    col: int
    #: ``(ky, kx, qy, qx)``: tap ``(ky, kx)`` reads the phase ``qy`` rows and ``qx`` columns below an output.
    taps: tuple[tuple[int, int, int, int], ...]
    #: The smallest and largest shifts among the taps: the phase rows and columns a band needs.
    row_shifts: tuple[int, int]
    col_shifts: tuple[int, int]


@functools.lru_cache(maxsize=256)
def phases(plan: ConvPlan) -> tuple[Phase, ...]:
    """The stride phases that some tap reads, with their taps, in the order taps are summed.

    >>> from handconv.plan import make_plan
    >>> [(p.row, p.col, len(p.taps)) for p in phases(make_plan((1, 9, 9, 1), (3, 3, 1, 1), 2))]
    [(0, 0, 4), (0, 1, 2), (1, 0, 2), (1, 1, 1)]
    >>> len(phases(make_plan((1, 9, 9, 1), (3, 3, 1, 1), 1)))
    1
    """
    (kh, kw), (sh, sw), (dh, dw) = plan.filter_hw, plan.strides, plan.dilations
    found: dict[tuple[int, int], list[tuple[int, int, int, int]]] = {}
    for ky in range(kh):
        for kx in range(kw):
            (qy, ry), (qx, rx) = divmod(ky * dh, sh), divmod(kx * dw, sw)
            found.setdefault((ry, rx), []).append((ky, kx, qy, qx))
    return tuple(
        Phase(ry, rx, tuple(taps), (taps[0][2], taps[-1][2]), (min(t[3] for t in taps), max(t[3] for t in taps)))
        for (ry, rx), taps in sorted(found.items())
    )


def spatial_taps(plan: ConvPlan) -> int:
    """``KH * KW``: the filter positions, each a set of ``C_out`` product columns."""
    return plan.filter_hw[0] * plan.filter_hw[1]


def _widest_row(plan: ConvPlan) -> int:
    """Products one output row makes in the widest phase: its columns times its taps' ``C_out`` columns."""
    return max(_phase_cols(p, plan) * len(p.taps) * plan.out_channels_per_group for p in phases(plan))


def _rows_per_band(plan: ConvPlan) -> int:
    """Output rows per band (several images' worth for small images, as :func:`.im2col.bands` deals them):
    products within ``BAND_BYTES``, and at least ``MIN_BAND_PIXELS`` GEMM rows."""
    per_row = _widest_row(plan) * plan.compute_dtype.itemsize
    return max(1, BAND_BYTES // per_row, -(-MIN_BAND_PIXELS // max(1, plan.output_hw[1])))


def _band_shape(plan: ConvPlan) -> tuple[int, int]:
    """Images and output rows in the largest band."""
    return largest_band(plan.batch, plan.output_hw[0], _rows_per_band(plan))


def _phase_rows(phase: Phase, out_rows: int) -> int:
    return out_rows + phase.row_shifts[1] - phase.row_shifts[0]


def _phase_cols(phase: Phase, plan: ConvPlan) -> int:
    return plan.output_hw[1] + phase.col_shifts[1] - phase.col_shifts[0]


def _band_numbers(plan: ConvPlan, per_pixel: Callable[[Phase], int]) -> int:
    """The most numbers one band holds over the phases, ``per_pixel(phase)`` for each of its phase pixels."""
    images, rows = _band_shape(plan)
    return max(images * _phase_rows(p, rows) * _phase_cols(p, plan) * per_pixel(p) for p in phases(plan))


def _band_products(plan: ConvPlan) -> int:
    """Products (numbers) of the largest band: its phase pixels times their taps' ``C_out / groups`` columns."""
    return _band_numbers(plan, lambda p: len(p.taps) * plan.out_channels_per_group)


def workspace_bytes(plan: ConvPlan) -> int:
    """The padded input, the largest band's products and one phase of a band's input."""
    itemsize = plan.compute_dtype.itemsize
    padded = plan.batch * plan.padded_hw[0] * plan.padded_hw[1] * plan.in_channels * itemsize
    cg = plan.filter_in_channels
    return padded + _band_numbers(plan, lambda p: len(p.taps) * plan.out_channels_per_group + cg) * itemsize


def _image_phase_pixels(plan: ConvPlan) -> list[tuple[Phase, int]]:
    """Each phase with the pixels its GEMMs multiply for one image and channel group (every band's rows and halo)."""
    oh = plan.output_hw[0]
    per_image = band_count(1, oh, _rows_per_band(plan))
    return [(p, (oh + per_image * (p.row_shifts[1] - p.row_shifts[0])) * _phase_cols(p, plan)) for p in phases(plan)]


def _phase_pixels(plan: ConvPlan) -> int:
    """Phase pixels the GEMMs multiply for one image and channel group."""
    return sum(pixels for _, pixels in _image_phase_pixels(plan))


def grid_waste(plan: ConvPlan) -> float:
    """Products formed per product an output uses (>= 1): the halos the bands and phases multiply besides.

    A band of ``r`` output rows multiplies ``r + shift span`` phase rows of ``OW + shift span`` pixels.

    >>> from handconv.plan import make_plan
    >>> round(grid_waste(make_plan((1, 32, 32, 256), (5, 5, 256, 8), 1, "SAME")), 3)  # 36 x 36 / (32 x 32)
    1.266
    >>> # stride 2: phases of 18 x 18 (9 taps), 18 x 17 (6 taps, twice) and 17 x 17 pixels (4) for 16 x 16 outputs
    >>> round(grid_waste(make_plan((1, 32, 32, 256), (5, 5, 256, 8), 2, "SAME")), 3)
    1.21
    """
    formed = sum(pixels * len(p.taps) for p, pixels in _image_phase_pixels(plan))
    return formed / max(1, plan.output_hw[0] * plan.output_hw[1] * spatial_taps(plan))


#: A strided copy of single numbers (a phase of NCHW planes) moves like runs of this many numbers: NumPy's
#: element loop wrote 6-10 GB/s on the development VM (2026-11-30), contiguous rows 37-43.
ELEMENT_RUN = 8


def _phase_copy_seconds(plan: ConvPlan, rates) -> float:
    """The copies of the bands' phases into contiguous GEMM operands (none where a phase is a plain view)."""
    sw, cg, itemsize = plan.strides[1], plan.filter_in_channels, plan.compute_dtype.itemsize
    banded_planes = plan.channels_first and plan.output_hw[0] > _rows_per_band(plan)
    if plan.strides == (1, 1) and plan.groups == 1 and not banded_planes:
        return 0.0
    nbytes = plan.batch * plan.groups * cg * _phase_pixels(plan) * itemsize
    if plan.channels_first:
        run = plan.output_hw[1] if sw == 1 else ELEMENT_RUN
    else:
        run = cg * (plan.output_hw[1] if sw == 1 and plan.groups == 1 else 1)
    return cost.copy_seconds(rates, nbytes, run)


#: Weights of :func:`estimate`'s terms (calls, passes, tap additions, GEMM, phase copies): ``bench/calibrate.py``
#: (fitted 2026-11-30, quiet machine, 239 cells, a quarter NCHW; the phase copies, new at 20:10, at 1: the refit
#: on 236 cells moved the pick's regret from 1.104 to 1.112 and was not taken).
COST_WEIGHTS = (1.29, 3.79, 0.22, 0.936, 1.0)


def output_channels_first(plan: ConvPlan) -> bool:
    """On channels-first plans the products are planes and the output NCHW memory."""
    return plan.channels_first


def estimate(plan: ConvPlan, rates) -> float:
    """Seconds (see :mod:`.cost`): the padded copy and phases, the GEMMs over every phase pixel, the additions."""
    itemsize, _, padded, out_bytes, _ = cost.sizes(plan)
    pads = padded if plan.pad_amounts != ((0, 0), (0, 0)) else 0
    og, taps, found = plan.out_channels_per_group, spatial_taps(plan), phases(plan)
    blocks = plan.groups * band_count(plan.batch, plan.output_hw[0], _rows_per_band(plan))
    # Products as planes (NCHW calls): each tap adds runs of OW numbers; as pixels: runs of C_out / groups.
    add_run = plan.output_hw[1] if plan.channels_first else og
    additions = cost.copy_seconds(rates, 2 * taps * out_bytes, add_run, _band_products(plan) * itemsize)
    widest = max(len(p.taps) for p in found) * og
    images, rows = _band_shape(plan)
    return cost.weighted(
        COST_WEIGHTS,
        (
            blocks * (3 + len(found) + taps) * rates.call,
            (pads + out_bytes) / rates.bandwidth,
            additions,
            cost.gemm_seconds(
                rates,
                plan.macs * grid_waste(plan),
                plan.filter_in_channels,
                widest,
                images * rows * plan.output_hw[1],
                itemsize,
            ),
            _phase_copy_seconds(plan, rates),
        ),
    )


def _band_phases(plan: ConvPlan, rows: slice) -> Iterator[tuple[Phase, slice, slice]]:
    """For a band of output ``rows``: each phase with the padded rows and columns it reads (strided slices)."""
    first, stop, _ = rows.indices(plan.output_hw[0])
    sh, sw = plan.strides
    for p in phases(plan):
        top, left = (first + p.row_shifts[0]) * sh + p.row, p.col_shifts[0] * sw + p.col
        height, width = _phase_rows(p, stop - first), _phase_cols(p, plan)
        yield p, slice(top, top + (height - 1) * sh + 1, sh), slice(left, left + (width - 1) * sw + 1, sw)


def _contiguous(view: np.ndarray, slot: str) -> np.ndarray:
    """``view`` itself when C-contiguous, else its copy in this thread's scratch buffer ``slot``."""
    if view.flags.c_contiguous:
        return view
    copy = scratch(view.shape, view.dtype, slot)
    np.copyto(copy, view)
    return copy


def _tap_weights(filters: np.ndarray, phase: Phase, outputs: slice, planar: bool) -> np.ndarray:
    """The phase's taps' weights: ``(C / groups, taps * og)``, or ``(taps * og, C / groups)`` for planes."""
    kys, kxs = [t[0] for t in phase.taps], [t[1] for t in phase.taps]
    chosen = filters[kys, kxs][..., outputs]  # (taps, Cg, og)
    if planar:
        return np.ascontiguousarray(chosen.transpose(0, 2, 1)).reshape(-1, chosen.shape[1])
    return np.ascontiguousarray(chosen.transpose(1, 0, 2)).reshape(chosen.shape[1], -1)


def conv2d_shiftadd(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Convolve with one GEMM per band and stride phase for all its taps' products, then one addition per tap.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
        On channels-first plans best a view of NCHW memory (what :func:`handconv.conv2d` passes).
    filters : ndarray of shape (KH, KW, C / groups, C_out)
    plan : ConvPlan

    Returns
    -------
    ndarray of shape (N, OH, OW, C_out)
        For channels-first plans a view of C-contiguous ``(N, C_out, OH, OW)`` memory; else C-contiguous.
    """
    planar = plan.channels_first
    n, (oh, ow), c_out = plan.batch, plan.output_hw, plan.out_channels
    out = np.empty((n, c_out, oh, ow) if planar else (n, oh, ow, c_out), dtype=x.dtype)
    if plan.is_empty:
        return out.transpose(0, 2, 3, 1) if planar else out
    padded = padded_planes(x, plan) if planar else padded_input(x, plan)
    cg, og = plan.filter_in_channels, plan.out_channels_per_group
    found = phases(plan)
    buffer = scratch((_band_products(plan),), x.dtype, "shiftadd")
    for g in range(plan.groups):
        channels, outputs = slice(g * cg, (g + 1) * cg), slice(g * og, (g + 1) * og)
        weights = [_tap_weights(filters, p, outputs, planar) for p in found]
        for images, rows in bands(n, oh, _rows_per_band(plan)):
            first, stop, _ = rows.indices(oh)
            out_rows, started = stop - first, False
            target = out[images, outputs, rows] if planar else out[images, rows, :, outputs]
            for (p, in_rows, in_cols), w in zip(_band_phases(plan, rows), weights):
                products: np.ndarray
                if planar:  # (b, Cg, R, Wc) planes -> products (b, taps * og, R * Wc)
                    pixels = _contiguous(padded[images, channels, in_rows, in_cols], "shiftadd phase")
                    b, _, r, wc = pixels.shape
                    products = buffer[: b * len(p.taps) * og * r * wc].reshape(b, len(p.taps) * og, r * wc)
                    np.matmul(w, pixels.reshape(b, cg, r * wc), out=products)
                    grid = products.reshape(b, len(p.taps), og, r, wc)
                else:  # (b, R, Wc, Cg) pixels -> products (b * R * Wc, taps * og)
                    pixels = _contiguous(padded[images, in_rows, in_cols, channels], "shiftadd phase")
                    b, r, wc, _ = pixels.shape
                    products = buffer[: b * r * wc * len(p.taps) * og].reshape(b * r * wc, len(p.taps) * og)
                    np.matmul(pixels.reshape(-1, cg), w, out=products)
                    grid = products.reshape(b, r, wc, len(p.taps), og)
                for t, (_, _, qy, qx) in enumerate(p.taps):
                    y, x0 = qy - p.row_shifts[0], qx - p.col_shifts[0]
                    if planar:
                        plane = grid[:, t, :, y : y + out_rows, x0 : x0 + ow]
                    else:
                        plane = grid[:, y : y + out_rows, x0 : x0 + ow, t]
                    if started:
                        target += plane
                    else:
                        target[...], started = plane, True
    return out.transpose(0, 2, 3, 1) if planar else out
