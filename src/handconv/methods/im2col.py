"""im2col: every receptive field laid out as a row, then one matrix product.

A zero-copy window view of the padded input, shape ``(N, OH, OW, KH, KW, C)``,
is copied into a matrix of shape ``(rows, KH * KW * C)`` and multiplied by the
filters reshaped to ``(KH * KW * C, C_out)``. When that matrix would exceed
``WORKSPACE_BYTES`` it is built in bands of output rows, so a large image never
needs its full im2col matrix in memory.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..layout import channels_last_copy
from ..plan import ConvPlan
from . import cost
from .scratch import scratch

#: Upper bound on the im2col matrix held at once, in bytes (one band may exceed
#: it when a single output row alone is larger). A few MiB keeps a band in L2
#: between its copy and its GEMM: measured 10-30% faster than 32 MiB bands on
#: the strided benchmark layers.
WORKSPACE_BYTES = 4 * 2**20


def window_view(padded: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Every receptive field of ``padded`` as a read-only view ``(N, OH, OW, KH, KW, C)``."""
    sn, sy, sx, sc = padded.strides
    (sh, sw), (dh, dw) = plan.strides, plan.dilations
    shape = (padded.shape[0], *plan.output_hw, *plan.filter_hw, padded.shape[3])
    return as_strided(padded, shape, (sn, sy * sh, sx * sw, sy * dh, sx * dw, sc), writeable=False)


#: A band holds at least this many receptive fields: fewer make a GEMM too thin
#: for BLAS (measured: 227-row bands cost S9 15%).
MIN_BAND_PIXELS = 1024


def _rows_per_band(plan: ConvPlan) -> int:
    row_bytes = plan.output_hw[1] * plan.taps * plan.compute_dtype.itemsize
    return max(1, WORKSPACE_BYTES // max(row_bytes, 1), -(-MIN_BAND_PIXELS // max(plan.output_hw[1], 1)))


def _band_numbers(plan: ConvPlan) -> int:
    """Numbers in the largest band's columns: its receptive fields times ``KH * KW * C / groups``."""
    return min(plan.batch * plan.output_hw[0], _rows_per_band(plan)) * plan.output_hw[1] * plan.taps


def _columns_are_input(plan: ConvPlan) -> bool:
    """1x1, stride 1, one group: the receptive fields are the (padded) input's pixels, reshaped without a copy."""
    return plan.filter_hw == (1, 1) and plan.strides == (1, 1) and plan.groups == 1


def workspace_bytes(plan: ConvPlan) -> int:
    """Largest temporary this method allocates besides the padded input and the output."""
    return _band_numbers(plan) * plan.compute_dtype.itemsize


#: Weights of :func:`estimate`'s terms (calls, passes, columns copy, GEMM): ``bench/calibrate.py``
#: (fitted 2026-11-30, quiet machine, 239 cells, a quarter NCHW).
COST_WEIGHTS = (3.16, 0.604, 0.703, 1.13)


def column_run(plan: ConvPlan) -> int:
    """Numbers in each contiguous run the columns copy reads: a receptive field row's ``KW * C`` when undilated.

    >>> from handconv.plan import make_plan
    >>> plain, dilated = make_plan((1, 8, 8, 3), (3, 3, 3, 4)), make_plan((1, 8, 8, 3), (3, 3, 3, 4), dilations=2)
    >>> column_run(plain), column_run(dilated)
    (9, 3)
    """
    if plan.dilations[1] == 1 and plan.groups == 1:
        return plan.filter_hw[1] * plan.in_channels
    return plan.filter_in_channels


def estimate(plan: ConvPlan, rates) -> float:
    """Seconds (see :mod:`.cost`): the padded copy, the columns copied run by run, one GEMM per group, the output."""
    itemsize, _, padded, out_bytes, pixels = cost.sizes(plan)
    pads = padded if plan.pad_amounts != ((0, 0), (0, 0)) else 0
    columns = 0 if _columns_are_input(plan) else pixels * plan.taps * plan.groups * itemsize
    products = plan.groups * band_count(plan.batch, plan.output_hw[0], _rows_per_band(plan))
    # One product's rows: a band of columns just copied (in cache), or the input itself (not copied: from memory).
    band_pixels = pixels if _columns_are_input(plan) else _band_numbers(plan) // max(1, plan.taps)
    return cost.weighted(
        COST_WEIGHTS,
        (
            (5 + 3 * products) * rates.call,
            (pads + out_bytes * (2 * chain_parts(plan) - 1)) / rates.bandwidth,
            cost.copy_seconds(rates, columns, column_run(plan), workspace_bytes(plan)),
            cost.gemm_seconds(rates, plan.macs, plan.taps, plan.out_channels_per_group, band_pixels, itemsize),
        ),
    )


def band_count(batch: int, out_height: int, rows_per_band: int) -> int:
    """How many blocks :func:`bands` yields, by arithmetic (a plan may have billions of rows).

    >>> cases = [(n, h, r) for n in (1, 3, 8) for h in (1, 5, 9) for r in (1, 4, 10)]
    >>> all(band_count(*case) == len(list(bands(*case))) for case in cases)
    True
    """
    if batch * out_height <= rows_per_band:
        return 1
    if out_height <= rows_per_band:
        return -(-batch // (rows_per_band // out_height))
    return batch * -(-out_height // rows_per_band)


def largest_band(batch: int, out_height: int, rows_per_band: int) -> tuple[int, int]:
    """(images, output rows) of the largest block :func:`bands` yields.

    >>> largest_band(64, 14, 100), largest_band(3, 5, 100), largest_band(2, 48, 20)
    ((7, 14), (3, 5), (1, 20))
    """
    if out_height <= rows_per_band:
        return min(batch, rows_per_band // max(1, out_height)), out_height
    return 1, rows_per_band


def bands(batch: int, out_height: int, rows_per_band: int) -> Iterator[tuple[slice, slice]]:
    """(images, output rows) blocks whose im2col matrices fit the workspace.

    Small images are grouped several to a band, so a batch of 7x7 maps still
    gives the GEMM enough rows; large ones are cut into bands of rows.
    """
    if batch * out_height <= rows_per_band:
        yield slice(None), slice(None)
        return
    if out_height <= rows_per_band:
        per_band = rows_per_band // out_height
        for first in range(0, batch, per_band):
            yield slice(first, min(batch, first + per_band)), slice(None)
        return
    for image in range(batch):
        for start in range(0, out_height, rows_per_band):
            yield slice(image, image + 1), slice(start, start + rows_per_band)


def padded_input(x: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """The zero-padded input ``(N, Hp, Wp, C)``, C-contiguous; this thread's scratch buffer when padded.

    NCHW memory arrives as a strided NHWC view and VALID padding does not copy it: without one
    contiguous (blocked) copy the methods reading runs of it read single numbers a row apart (10x TF
    on the sweep). A padded copy goes to a buffer kept between calls, only its border zeroed: a fresh
    array above glibc's 32 MiB mmap threshold is fresh pages on every call, and their faults doubled
    the copy (2x480x640x16 under a 1x1 filter with one row and column of padding: 6.3 -> 2.8 ms).
    The caller must not keep it past its own return.
    """
    x = channels_last_copy(x)
    (top, bottom), (left, right) = plan.pad_amounts
    if min(top, bottom, left, right) < 0 or not plan.is_plain_2d:  # cropping, input dilation: the general path
        return np.ascontiguousarray(plan.pad(x))
    if top == bottom == left == right == 0:
        return np.ascontiguousarray(x)
    return zero_padded(x, (top, bottom), (left, right), "padded input")


def zero_padded(x: np.ndarray, rows: tuple[int, int], cols: tuple[int, int], slot: str) -> np.ndarray:
    """``x`` ``(N, H, W, C)`` with ``rows`` (top, bottom) and ``cols`` (left, right) of zeros, in scratch ``slot``."""
    (top, bottom), (left, right) = rows, cols
    n, h, w, c = x.shape
    padded = scratch((n, h + top + bottom, w + left + right, c), x.dtype, slot)
    padded[:, :top] = 0
    padded[:, top + h :] = 0
    padded[:, top : top + h, :left] = 0
    padded[:, top : top + h, left + w :] = 0
    padded[:, top : top + h, left : left + w] = x
    return padded


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
    padded = padded_input(x, plan)
    windows = window_view(padded, plan)
    cg, og = plan.filter_in_channels, plan.out_channels_per_group
    blocks = list(bands(plan.batch, plan.output_hw[0], _rows_per_band(plan)))
    # One buffer for every band's columns, kept by the thread (fresh memory costs a page fault per 4 KiB).
    buffer = None if _columns_are_input(plan) else scratch((_band_numbers(plan),), x.dtype, "im2col")
    for g in range(plan.groups):
        weights = filters[:, :, :, g * og : (g + 1) * og].reshape(plan.taps, og)
        group_windows = windows[..., g * cg : (g + 1) * cg]
        for images, rows in blocks:
            window = group_windows[images, rows]  # (n, rows, OW, KH, KW, Cg), a view
            if buffer is None:
                columns = window.reshape(-1, plan.taps)  # the input itself: no copy
            else:
                columns = buffer[: window.size].reshape(-1, plan.taps)
                np.copyto(columns.reshape(window.shape), window)  # the copy
            target = out[images, rows, :, g * og : (g + 1) * og]
            if target.flags.c_contiguous:  # one group: the product lands in the output directly
                chained_matmul(columns, weights, target.reshape(columns.shape[0], og), chain_parts(plan))
            else:
                product = np.empty((columns.shape[0], og), dtype=x.dtype)
                chained_matmul(columns, weights, product, chain_parts(plan))
                target[...] = product.reshape(target.shape)
    return out


#: OpenBLAS adds a dot product's ``K`` products one after another, so its float32 error grows with ``K``. With
#: many input channels TF's sums are as long (the GEMM methods are at 0.2-0.6x its error on S6-S9), but few
#: channels under a large filter give long chains TF does not have: 11x11x8 = 968 products (g154) came out at
#: 2.65x TF's error, and cut into parts of at most ``CHAIN_PART`` products, added afterwards, at 1.17x
#: (256-product parts: 1.95x), for ~15% more time there.
LONG_CHAIN = 256
CHAIN_PART = 128
#: Input channels (per group) up to which chains longer than ``LONG_CHAIN`` are cut.
FEW_CHANNELS = 16


def chain_parts(plan: ConvPlan) -> int:
    """How many parts :func:`chained_matmul` cuts the ``KH * KW * C / groups`` products of each output into.

    >>> from handconv.plan import make_plan
    >>> [chain_parts(make_plan((1, 32, 32, c), (k, k, c, 8))) for c, k in ((8, 11), (8, 5), (64, 3), (64, 11))]
    [8, 1, 1, 1]
    """
    if plan.taps <= LONG_CHAIN or plan.filter_in_channels > FEW_CHANNELS:
        return 1
    return -(-plan.taps // CHAIN_PART)


def chained_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray, parts: int = 1) -> np.ndarray:
    """``out = a @ b`` for 2-D arrays, the inner dimension cut into ``parts`` near-equal chains added afterwards.

    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.standard_normal((3, 600)), rng.standard_normal((600, 2))
    >>> bool(np.allclose(chained_matmul(a, b, np.empty((3, 2)), parts=5), a @ b))
    True
    """
    k = a.shape[1]
    if parts <= 1:
        return np.matmul(a, b, out=out)
    step = -(-k // parts)
    np.matmul(a[:, :step], b[:step], out=out)
    partial = scratch(out.shape, out.dtype, "im2col chain")
    for start in range(step, k, step):
        np.matmul(a[:, start : start + step], b[start : start + step], out=partial)
        out += partial
    return out


def exact_where_non_finite(out: np.ndarray, x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """``out``, or the im2col result when ``out`` holds a NaN or Inf.

    For methods whose arithmetic mixes numbers no output of TF's reads
    together (Toeplitz zeros, Winograd transforms): one NaN or Inf there
    spreads to outputs TF keeps finite (``Inf * 0 = NaN``). A NaN or Inf
    never turns finite again under ``+`` and ``*``, so a finite ``out`` is
    exact; otherwise the call is recomputed by im2col, which multiplies
    exactly TF's taps (padding zeros included). The check is one summing pass
    over the output; overflow to Inf also triggers it, harmlessly.
    """
    if out.dtype.kind != "f" or np.isfinite(out.sum()):
        return out
    return conv2d_im2col(x, filters, plan)
