"""Direct convolution for few channels: photos through a small filter.

With 1 to 4 channels there is almost no arithmetic per pixel, so speed is
memory traffic. A GEMM-based method pays at least one pass over a large
buffer; the NumPy loop below pays a full pass per tap. The fast path is a
numba kernel (the optional ``fast`` extra, ``pip install 'handconv[fast]'``)
that reads the NHWC input where it lies (no transpose, no padded copy: borders
are skipped by index bounds), accumulates one output row in a small buffer
that stays in L1, and writes it once; rows run in parallel on all cores.

For stride 1 along the width and the two photo shapes, "sum" (one output
channel summed over C, the article's filter) and "each" (depthwise: the same
channel in and out), an image row is one contiguous run of ``W * C`` numbers and
every tap is ``acc[j] += weight[j] * row[j + shift]`` over that run: a loop the
compiler vectorises. Everything else goes through a general loop nest.

Without numba the same arithmetic runs as one NumPy pass per filter tap on
strided views of the padded input: correct everywhere, slow on large filters.

NaN and Inf: the numba kernels skip taps that fall on padding rows. TF
multiplies them (by zero), which only matters for a NaN or Inf weight
(``Inf * 0 = NaN``); filters holding one (a cheap check: filters are small)
take the NumPy path, which multiplies every tap as TF does.
"""

from __future__ import annotations

import functools
import threading

import numpy as np

from ..layout import channels_last_copy
from ..plan import ConvPlan
from . import cost

#: Set by tests to force the NumPy path (otherwise numba is used when importable).
FORCE_NUMPY = False
#: Output rows are dealt to threads in about this many chunks.
CHUNKS = 64
#: One parallel numba call at a time per process. numba's 'workqueue' layer
#: (chosen below for its speed) aborts the whole process when two Python
#: threads enter a parallel region at once; a call already uses every core, so
#: serialising calls from a thread pool costs no throughput.
PARALLEL_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def numba_kernels():
    """The compiled kernels, or None when numba is not installed."""
    try:
        import numba
    except ImportError:
        return None
    _prefer_workqueue(numba)
    return _build_kernels(numba)


def _prefer_workqueue(numba) -> None:
    """Use numba's own 'workqueue' thread pool unless the user chose a threading layer.

    Measured on the 2-vCPU VM: with the OpenMP layer every parallel call waited
    ~4-8 ms for a sleeping worker to wake (S2 took 8 ms instead of 1.4 ms); the
    workqueue layer does not. The setting only has an effect if numba has not
    started a thread pool yet in this process; ``NUMBA_THREADING_LAYER`` wins.
    The workqueue layer is not thread-safe: every parallel call holds
    ``PARALLEL_LOCK`` (calls from many threads run one after another).
    """
    import os

    if "NUMBA_THREADING_LAYER" not in os.environ and numba.config.THREADING_LAYER == "default":
        numba.config.THREADING_LAYER = "workqueue"


def has_accelerator() -> bool:
    """Whether the numba kernels are available (and not disabled by ``FORCE_NUMPY``)."""
    return not FORCE_NUMPY and numba_kernels() is not None


def lane_shape(plan: ConvPlan) -> str | None:
    """'sum', 'each' or None: whether the vectorised row kernel applies."""
    if plan.strides[1] != 1:
        return None
    if plan.groups == 1 and plan.out_channels == 1:
        return "sum"
    if plan.filter_in_channels == 1 and plan.out_channels == plan.in_channels:
        return "each"
    return None


def workspace_bytes(plan: ConvPlan) -> int:
    """numba: per-tap weight rows plus a row buffer per thread. NumPy: the padded input and one tap's product."""
    itemsize = plan.compute_dtype.itemsize
    if has_accelerator():
        kh, kw = plan.filter_hw
        row = plan.output_hw[1] * max(plan.in_channels, plan.out_channels) * itemsize
        weights = kh * kw * row if lane_shape(plan) else 0
        return weights + 4 * row
    padded = plan.batch * plan.padded_hw[0] * plan.padded_hw[1] * plan.in_channels * itemsize
    return padded + int(np.prod(plan.output_shape)) * itemsize


#: Weights of :func:`estimate`'s numba terms (call overhead, row-kernel lanes, row-kernel passes,
#: loop-nest multiply-adds, memory passes): ``bench/calibrate.py``
#: (fitted 2026-11-30, quiet machine, 239 cells, a quarter NCHW).
COST_WEIGHTS = (4.05, 3.22, 0.128, 0.613, 4.61)


def estimate(plan: ConvPlan, rates) -> float:
    """Seconds (see :mod:`.cost`): vector lanes or loop multiply-adds with numba; NumPy passes per tap without."""
    itemsize, in_bytes, padded, out_bytes, pixels = cost.sizes(plan)
    spatial = plan.filter_hw[0] * plan.filter_hw[1]
    if has_accelerator():
        overhead = rates.launch + 5 * rates.call
        if lane_shape(plan):
            lanes = pixels * spatial * plan.in_channels * itemsize / 4  # float64: half the lanes per vector
            passes = (in_bytes + out_bytes) / (2 * rates.bandwidth)
            # One vectorised pass per output row and tap; each starts with slicing and a weight load.
            loops = plan.batch * plan.output_hw[0] * spatial * rates.call / 200
            return cost.weighted(COST_WEIGHTS, (overhead, lanes / rates.lane_rate, loops, 0.0, passes))
        slow = 4.0 if plan.out_channels_per_group < 8 else 1.0
        passes = (in_bytes + out_bytes) / rates.bandwidth
        return cost.weighted(COST_WEIGHTS, (overhead, 0.0, 0.0, plan.macs / rates.loop_rate * slow, passes))
    # NumPy: one einsum pass per tap over a strided view (the einsum loop is slow per element).
    cg, og = plan.filter_in_channels, plan.out_channels_per_group
    per_tap = pixels * (plan.in_channels + plan.out_channels) * itemsize * 3 + pixels * cg * og * plan.groups * 4
    return 5 * rates.call + spatial * (rates.call + per_tap / rates.bandwidth) + padded / rates.bandwidth


def conv2d_direct(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Convolve by direct summation, compiled when numba is present.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
    filters : ndarray of shape (KH, KW, C / groups, C_out)
    plan : ConvPlan

    Returns
    -------
    ndarray of shape (N, OH, OW, C_out)
    """
    if plan.is_empty:
        return np.zeros(plan.output_shape, dtype=x.dtype)
    if has_accelerator() and (filters.dtype.kind != "f" or np.isfinite(filters).all()):
        return _direct_numba(x, filters, plan)
    return _direct_numpy(x, filters, plan)


def _direct_numba(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    lane_kernel, general_kernel = numba_kernels()
    x = channels_last_copy(x)  # NCHW memory: one blocked copy (layout.py: 3.7x faster than NumPy's)
    filters = np.ascontiguousarray(filters)
    out = np.empty(plan.output_shape, dtype=x.dtype)
    (top, _), (left, _) = plan.pad_amounts
    (sh, sw), (dh, dw) = plan.strides, plan.dilations
    shape = lane_shape(plan)
    import numba

    # Rows are handed out in small chunks, not split in halves up front: on a
    # busy machine a descheduled thread then delays the call by one chunk, not
    # by half the work.
    rows = plan.batch * plan.output_hw[0]
    with PARALLEL_LOCK, numba.parallel_chunksize(max(1, rows // CHUNKS)):
        _run_kernels(lane_kernel, general_kernel, x, filters, out, plan, shape, top, left, sh, sw, dh, dw)
    return out


def _run_kernels(lane_kernel, general_kernel, x, filters, out, plan, shape, top, left, sh, sw, dh, dw) -> None:
    if shape is not None:
        n, h, w, c = x.shape
        ow = plan.output_hw[1]
        kh, kw = plan.filter_hw
        per_channel = filters[:, :, :, 0] if shape == "sum" else filters[:, :, 0, :]  # (KH, KW, C)
        weights = np.ascontiguousarray(np.broadcast_to(per_channel[:, :, None, :], (kh, kw, ow, c)))
        lane_kernel(
            x.reshape(n, h, w * c), weights.reshape(kh, kw, ow * c), out, c, sh, dh, dw, top, left, shape == "sum"
        )
    else:
        general_kernel(x, filters, out, sh, sw, dh, dw, top, left)


def _build_kernels(numba):
    njit, prange = numba.njit, numba.prange

    @njit(parallel=True, cache=True, nogil=True)
    def lane_kernel(rows, weights, out, channels, sh, dh, dw, top, left, summed):  # pragma: no cover - compiled
        n_images, height, run = rows.shape
        _, out_h, out_w, _ = out.shape
        kh, kw, lanes = weights.shape
        width = run // channels
        # A zero-bordered copy of one input row: every tap then reads a full,
        # in-bounds run, and taps go four at a time (fewer passes over acc).
        padded_width = max(out_w + (kw - 1) * dw, left + width)
        for job in prange(n_images * out_h):
            image = job // out_h
            oy = job - image * out_h
            acc = np.zeros(lanes, dtype=out.dtype)
            padded = np.zeros(padded_width * channels, dtype=out.dtype)
            inner = padded[left * channels : (left + width) * channels]
            for ky in range(kh):
                iy = oy * sh + ky * dh - top
                if iy < 0 or iy >= height:
                    continue
                inner[:] = rows[image, iy]
                step = dw * channels
                kx = 0
                if channels == 1:  # one channel: each tap's weight is a scalar, eight taps per pass
                    while kx + 8 <= kw:
                        o = kx * step
                        w0, w1, w2, w3 = (
                            weights[ky, kx, 0],
                            weights[ky, kx + 1, 0],
                            weights[ky, kx + 2, 0],
                            weights[ky, kx + 3, 0],
                        )
                        w4, w5, w6, w7 = (
                            weights[ky, kx + 4, 0],
                            weights[ky, kx + 5, 0],
                            weights[ky, kx + 6, 0],
                            weights[ky, kx + 7, 0],
                        )
                        # Separate slices: indices from 0, so no wrap-around checks and the loop vectorises.
                        s0, s1 = padded[o : o + lanes], padded[o + step : o + step + lanes]
                        s2, s3 = (
                            padded[o + 2 * step : o + 2 * step + lanes],
                            padded[o + 3 * step : o + 3 * step + lanes],
                        )
                        s4, s5 = (
                            padded[o + 4 * step : o + 4 * step + lanes],
                            padded[o + 5 * step : o + 5 * step + lanes],
                        )
                        s6, s7 = (
                            padded[o + 6 * step : o + 6 * step + lanes],
                            padded[o + 7 * step : o + 7 * step + lanes],
                        )
                        for j in range(lanes):
                            acc[j] += ((w0 * s0[j] + w1 * s1[j]) + (w2 * s2[j] + w3 * s3[j])) + (
                                (w4 * s4[j] + w5 * s5[j]) + (w6 * s6[j] + w7 * s7[j])
                            )
                        kx += 8
                while kx + 4 <= kw:
                    o = kx * step
                    s0, s1 = padded[o : o + lanes], padded[o + step : o + step + lanes]
                    s2, s3 = padded[o + 2 * step : o + 2 * step + lanes], padded[o + 3 * step : o + 3 * step + lanes]
                    t0, t1, t2, t3 = weights[ky, kx], weights[ky, kx + 1], weights[ky, kx + 2], weights[ky, kx + 3]
                    for j in range(lanes):
                        acc[j] += (t0[j] * s0[j] + t1[j] * s1[j]) + (t2[j] * s2[j] + t3[j] * s3[j])
                    kx += 4
                if kx + 2 <= kw:
                    o = kx * step
                    s0, s1 = padded[o : o + lanes], padded[o + step : o + step + lanes]
                    t0, t1 = weights[ky, kx], weights[ky, kx + 1]
                    for j in range(lanes):
                        acc[j] += t0[j] * s0[j] + t1[j] * s1[j]
                    kx += 2
                if kx < kw:
                    o = kx * step
                    s0 = padded[o : o + lanes]
                    t0 = weights[ky, kx]
                    for j in range(lanes):
                        acc[j] += t0[j] * s0[j]
            if summed:
                for ox in range(out_w):
                    total = acc[ox * channels]
                    for c in range(1, channels):
                        total += acc[ox * channels + c]
                    out[image, oy, ox, 0] = total
            else:
                for ox in range(out_w):
                    for c in range(channels):
                        out[image, oy, ox, c] = acc[ox * channels + c]

    @njit(parallel=True, cache=True, nogil=True)
    def general_kernel(x, filters, out, sh, sw, dh, dw, top, left):  # pragma: no cover - compiled
        n_images, height, width, channels = x.shape
        kh, kw, group_in, out_channels = filters.shape
        _, out_h, out_w, _ = out.shape
        groups = channels // group_in
        group_out = out_channels // groups
        for job in prange(n_images * out_h):
            image = job // out_h
            oy = job - image * out_h
            acc = np.zeros((out_w, out_channels), dtype=out.dtype)
            for ky in range(kh):
                iy = oy * sh + ky * dh - top
                if iy < 0 or iy >= height:
                    continue
                for kx in range(kw):
                    for ox in range(out_w):
                        ix = ox * sw + kx * dw - left
                        if ix < 0 or ix >= width:
                            continue
                        pixel = x[image, iy, ix]
                        for g in range(groups):
                            target = acc[ox, g * group_out : (g + 1) * group_out]
                            for ci in range(group_in):
                                value = pixel[g * group_in + ci]
                                weights = filters[ky, kx, ci, g * group_out : (g + 1) * group_out]
                                for o in range(group_out):
                                    target[o] += value * weights[o]
            out[image, oy] = acc

    return lane_kernel, general_kernel


def _direct_numpy(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """One NumPy pass per tap over a strided view of the padded input."""
    from .im2col import window_view

    windows = window_view(plan.pad(x), plan)  # (N, OH, OW, KH, KW, C), a view
    n, oh, ow, cout = plan.output_shape
    groups, cg, og = plan.groups, plan.filter_in_channels, plan.out_channels_per_group
    out = np.zeros((n, oh, ow, groups, og), dtype=x.dtype)
    kh, kw = plan.filter_hw
    for ky in range(kh):
        for kx in range(kw):
            tap = windows[:, :, :, ky, kx, :].reshape(n, oh, ow, groups, cg)
            weights = filters[ky, kx].reshape(cg, groups, og)
            out += np.einsum("nhwgc,cgo->nhwgo", tap, weights)
    return out.reshape(plan.output_shape)
