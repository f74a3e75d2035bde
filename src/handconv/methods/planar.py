"""Planar rows: direct sums for few input channels into several output channels.

The regime between the photo filters (``direct``) and the CNN layers (GEMMs):
1 to ~16 input channels into 2 to ~64 outputs, on photos, HD frames or batches
of small images. There a GEMM is thin (OpenBLAS reaches a few % of its peak
with K = 9-150 and N = 2-64) and im2col pays full memory passes, while one
output channel at a time re-reads the input once per output.

This numba kernel (the ``fast`` extra) works on one output row at a time, as
the arithmetic on paper does, but lays the input the other way round:

1. The input is copied once (one parallel pass) from NHWC into a *planar*
   array ``(padded rows, C, sw, Q)``: per padded row, one zero-padded run of
   ``Q`` numbers per input channel and per **stride phase** (columns ``b, b +
   sw, b + 2 sw, ...``), the padding rows as rows of zeros. Tap ``(ky, kx, c)``
   of output ``(oy, ox)`` then reads ``planar[oy * sh + ky * dh, c, (kx * dw) %
   sw, ox + (kx * dw) // sw]``: a contiguous run for every stride and
   dilation, so the inner loop vectorises.
2. Every output channel keeps a row of accumulators ``acc[co, lanes]``, and
   for four output channels at a time every tap is added into their four rows
   (which stay in L1), four taps per vectorised pass: the input runs are
   loaded once per four outputs and the accumulators once per four taps (more
   of either and LLVM's overlap checks give up vectorising). Lanes are
   computed in whole vectors. Taking all taps for four channels, rather than
   all channels for four taps, was 0-25% faster (2026-12-01; the accumulators
   of 64 channels leave L1).
3. The tile is written back once, to NHWC (or, for an NCHW call, straight into NCHW memory).

Small images are laid side by side in the buffer (each with its own zero
border), so a batch of 28x28 digits gives rows of a few hundred lanes instead
of 28; the lanes between images compute numbers that are thrown away.

Every multiplication TF performs happens here too, the padding zeros
included (they are zeros in the buffer, not skipped taps), and nothing else is
mixed in: ``Inf * 0 = NaN`` appears exactly where TF has it. Each output is a
plain sum of its ``KH * KW * C`` products: blocks of ``TAP_BLOCK`` taps are
summed on their own and then added, so no chain of additions is longer than
~32 and the float32 error stays at or below TF's (bench/accuracy.py: median
0.43x TF's error, worst 1.1x on the sweep's named cells).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..layout import channels_last_copy
from ..plan import ConvPlan
from . import cost, direct
from .scratch import scratch

#: Accumulator tile, in numbers (``C_out * lanes``): 64 KiB of float32 (with the partial sums 128 KiB) stays in
#: L2; against 8192 it made the kernel 5-12% faster on 3x3 CNN layers with 8-16 input channels (fewer tiles per
#: output row, so fewer loop starts), the same on photos.
TILE_NUMBERS = 16384
#: Taps summed in one chain before the partial sum joins the total (a multiple of 4).
TAP_BLOCK = 32
#: float32 lanes of one vector register (AVX-512); lanes are computed in whole vectors.
VECTOR = 16
#: Lanes per buffer row worth batching small images for.
MIN_LANES = 256
#: From this many input channels on, the fill walks each input row in NHWC order.
WIDE_CHANNELS = 8
#: Jobs (rows of output) per thread chunk target.
CHUNKS = 64
#: numba's 'workqueue' threading layer aborts the process when two Python threads
#: enter a parallel region at once: one parallel call at a time, shared with
#: ``direct`` (calls already use every core).
PARALLEL_LOCK = direct.PARALLEL_LOCK


def supports(plan: ConvPlan) -> bool:
    """Floating-point plans with one channel group, when numba is installed."""
    return plan.groups == 1 and plan.compute_dtype.kind == "f" and direct.has_accelerator()


def accumulated_channels(plan: ConvPlan) -> int:
    """Output channels the kernel accumulates: ``C_out``, padded to a multiple of four when that is cheaper.

    Four output channels share a vectorised pass; a channel left over runs a
    pass of its own at about a third of the rate. So two or three left over
    are padded to four with zero filters (their sums are never written out),
    and one left over runs alone (four would cost more than it does).

    >>> from handconv.plan import make_plan
    >>> [accumulated_channels(make_plan((1, 8, 8, 1), (3, 3, 1, co))) for co in (1, 2, 3, 4, 5, 6)]
    [1, 4, 4, 4, 5, 8]
    """
    co = plan.out_channels
    return co if co % 4 in (0, 1) else co + 4 - co % 4


def layout(plan: ConvPlan) -> tuple[int, int, int, int]:
    """(phase width Q, images per job, largest tap offset, lanes per tile).

    Lanes per job are ``images per job * Q`` rounded up to a multiple of
    ``VECTOR`` (:func:`job_lanes`), and tiles are multiples of it too, so the
    vectorised loops never end in a scalar remainder (which would cost as
    much per lane as a whole vector).

    >>> from handconv.plan import make_plan
    >>> layout(make_plan((64, 28, 28, 1), (3, 3, 1, 32), 1, "SAME"))
    (30, 9, 2, 272)
    """
    (kw, dw, sw), ow = (plan.filter_hw[1], plan.dilations[1], plan.strides[1]), plan.output_hw[1]
    max_offset = ((kw - 1) * dw) // sw
    q = ow + max_offset
    per_job = max(1, min(plan.batch, -(-MIN_LANES // q)))
    lanes = -(-per_job * q // VECTOR) * VECTOR
    widest = max(VECTOR, min(lanes, TILE_NUMBERS // accumulated_channels(plan)))
    tiles = -(-lanes // widest)  # tiles of equal width: no short last tile
    tile = -(-lanes // tiles // VECTOR) * VECTOR
    return q, per_job, max_offset, tile


def job_lanes(plan: ConvPlan) -> int:
    """Lanes one job computes: its images' ``Q`` columns each, rounded up to a multiple of ``VECTOR``.

    >>> from handconv.plan import make_plan
    >>> job_lanes(make_plan((64, 28, 28, 1), (3, 3, 1, 32), 1, "SAME"))
    272
    """
    q, per_job, _, _ = layout(plan)
    return -(-per_job * q // VECTOR) * VECTOR


def planar_shape(plan: ConvPlan) -> tuple[int, int, int, int, int]:
    """Shape of the planar copy: (image blocks, padded rows, C, sw, lanes + largest offset)."""
    q, per_job, max_offset, _ = layout(plan)
    blocks = -(-plan.batch // per_job)
    return blocks, plan.padded_hw[0], plan.in_channels, plan.strides[1], job_lanes(plan) + max_offset


def workspace_bytes(plan: ConvPlan) -> int:
    """The planar copy of the input, accumulator and partial-sum tiles (four threads' worth), the padded weights."""
    _, _, _, tile = layout(plan)
    itemsize = plan.compute_dtype.itemsize
    return (
        math.prod(planar_shape(plan)) + 8 * accumulated_channels(plan) * tile + plan.taps * accumulated_channels(plan)
    ) * itemsize


#: Weights of :func:`estimate`'s terms (launches, per-job overhead, per-loop overhead, vector multiply-adds four
#: outputs at a time, those of a channel left over, the fill by runs, the fill by NHWC walk, the write-back):
#: ``bench/calibrate.py`` (2026-11-30 21:56, quiet machine, 268 cells with the row-width ladder, every method
#: timed away from OpenBLAS's spinning workers). The per-loop overhead came out at ~13 ns, as a ladder of row
#: widths measures it; the earlier fit (one term for jobs and loops, numba timed right after GEMMs at up to 1.9x
#: its speed) charged 32 ns and overrated ``planar`` 1.3-2x on CNN layers.
COST_WEIGHTS = (7.56, 0.0791, 0.67, 0.415, 0.416, 3.23, 1.2, 0.882)


def estimate(plan: ConvPlan, rates) -> float:
    """Seconds: vector multiply-adds at the kernel's rate, the buffer copies, the output write."""
    q, per_job, _, tile = layout(plan)
    jobs = math.ceil(plan.batch / per_job) * plan.output_hw[0]
    lanes = jobs * job_lanes(plan)
    # Four output channels share a pass; a channel left over runs a pass of its own (its own weight).
    co = accumulated_channels(plan)
    shared, alone = lanes * plan.taps * 4 * (co // 4), lanes * plan.taps * (co % 4)
    # Every vectorised loop starts with slicing, overlap checks and weight loads (~13 ns).
    loops = jobs * math.ceil(job_lanes(plan) / tile) * math.ceil(plan.taps / 4) * math.ceil(co / 4)
    copies = math.prod(planar_shape(plan))
    out = math.prod(plan.output_shape)
    vector_rate = rates.vector_macs * (1.0 if plan.compute_dtype.itemsize <= 4 else 0.5)
    # A planar copy too large to keep between calls is fresh pages every call (cost.fresh_pages_seconds).
    faults = cost.fresh_pages_seconds(copies * plan.compute_dtype.itemsize)
    return faults + cost.weighted(
        COST_WEIGHTS,
        (
            2 * rates.launch + 5 * rates.call,
            jobs * rates.call / 20,
            loops * rates.call / 200,
            shared / vector_rate,
            alone / vector_rate,
            # The fill: whole strided runs per channel, or (many channels) a scattered NHWC walk.
            (0 if plan.in_channels >= WIDE_CHANNELS else copies) / rates.scalar_moves,
            (copies if plan.in_channels >= WIDE_CHANNELS else 0) / rates.scalar_moves,
            out / rates.scalar_moves,
        ),
    )


def tap_tables(plan: ConvPlan) -> np.ndarray:
    """For each tap, ordered ``(ky, c, kx)``: row below the output row's first, channel, stride phase, lane offset.

    >>> from handconv.plan import make_plan
    >>> tap_tables(make_plan((1, 9, 9, 2), (2, 3, 2, 1), 2, "VALID", dilations=[2, 1])).tolist()[:4]
    [[0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 1, 0, 0]]
    """
    (kh, kw), c = plan.filter_hw, plan.in_channels
    (dh, dw), sw = plan.dilations, plan.strides[1]
    ky, ci, kx = np.meshgrid(np.arange(kh), np.arange(c), np.arange(kw), indexing="ij")
    table = np.stack([ky * dh, ci, (kx * dw) % sw, (kx * dw) // sw], axis=-1)
    return np.ascontiguousarray(table.reshape(-1, 4), dtype=np.int64)


def conv2d_planar(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Convolve by direct sums over planar, phase-split input rows (numba).

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
    out = output_array(plan, x.dtype)
    if plan.is_empty:
        return out
    import numba

    fill, kernel = _kernels()
    x = channels_last_copy(x)  # NCHW memory: one blocked copy (layout.py: 3.7x faster than NumPy's)
    # (KH, KW, C, C_out) -> taps ordered (ky, c, kx), as tap_tables lists them.
    # Output channels padded with zero filters where that is cheaper (accumulated_channels).
    weights = np.zeros((plan.taps, accumulated_channels(plan)), dtype=x.dtype)
    weights[:, : plan.out_channels] = filters.astype(x.dtype, copy=False).transpose(0, 2, 1, 3).reshape(plan.taps, -1)
    taps = tap_tables(plan)
    q, per_job, max_offset, tile = layout(plan)
    (top, _), (left, _) = plan.pad_amounts
    planar = scratch(planar_shape(plan), x.dtype, "planar")  # fill() writes every number
    rows = planar.shape[0] * planar.shape[1]
    jobs = planar.shape[0] * plan.output_hw[0]
    with PARALLEL_LOCK:
        with numba.parallel_chunksize(max(1, rows // CHUNKS)):
            fill(x, planar, top, left, q, per_job)
        with numba.parallel_chunksize(max(1, jobs // CHUNKS)):
            kernel(planar, weights, taps, out, plan.strides[0], q, per_job, job_lanes(plan), tile, TAP_BLOCK)
    return out


def output_channels_first(plan: ConvPlan) -> bool:
    """On channels-first plans the tiles are written straight into NCHW memory (no copy back)."""
    return plan.channels_first


def output_array(plan: ConvPlan, dtype: np.dtype) -> np.ndarray:
    """The ``(N, OH, OW, C_out)`` array the kernel writes: a view of NCHW memory for channels-first plans."""
    if output_channels_first(plan):
        n, (oh, ow), co = plan.output_shape[0], plan.output_hw, plan.out_channels
        return np.empty((n, co, oh, ow), dtype=dtype).transpose(0, 2, 3, 1)
    return np.empty(plan.output_shape, dtype=dtype)


@functools.lru_cache(maxsize=1)
def _kernels():
    import numba

    direct.numba_kernels()  # chooses numba's threading layer before the first parallel call
    return _build(numba)


def _build(numba):
    njit, prange = numba.njit, numba.prange

    @njit(inline="always")
    def _run(rows, tap, first_row, start, n):  # pragma: no cover - compiled
        """The ``n`` input numbers tap ``(dy, c, phase, offset)`` multiplies, from lane ``start`` on."""
        offset = start + tap[3]
        return rows[first_row + tap[0], tap[1], tap[2], offset : offset + n]

    @njit(parallel=True, cache=True, nogil=True)
    def fill(x, planar, top, left, q, per_job):  # pragma: no cover - compiled
        n_images, height, width, channels = x.shape
        blocks, padded_rows, _, sw, _ = planar.shape
        for job in prange(blocks * padded_rows):
            block = job // padded_rows
            r = job - block * padded_rows
            target = planar[block, r]
            iy = r - top
            if iy < 0 or iy >= height:
                target[...] = 0  # a padding row: zeros, multiplied like any other row
                continue
            if channels >= WIDE_CHANNELS:
                # Many channels: walk the row once, as NHWC stores it (a strided read per channel
                # would leave the cache lines of the other channels behind).
                target[...] = 0
                for b in range(per_job):
                    image = block * per_job + b
                    if image >= n_images:
                        break
                    row = x[image, iy]
                    first_col = max(0, -left)
                    p = first_col + left
                    lane, phase = b * q + p // sw, p % sw
                    for col in range(first_col, min(width, q * sw - left)):
                        for c in range(channels):
                            target[c, phase, lane] = row[col, c]
                        phase += 1
                        if phase == sw:
                            phase, lane = 0, lane + 1
                continue
            for b in range(per_job):
                image = block * per_job + b
                for c in range(channels):
                    for phase in range(sw):
                        run = target[c, phase, b * q : (b + 1) * q]
                        if image >= n_images:
                            run[:] = 0
                            continue
                        # Lane j holds padded column j * sw + phase, input column j * sw + phase - left:
                        # zeros left of the image, the strided run of its columns, zeros right of it.
                        first = min(q, max(0, -((phase - left) // sw)))
                        stop = max(first, min(q, -((phase - left - width) // sw)))
                        run[:first] = 0
                        source = x[image, iy, first * sw + phase - left :: sw, c]
                        for j in range(stop - first):
                            run[first + j] = source[j]
                        run[stop:] = 0
            target[:, :, per_job * q :] = 0  # lanes past the last image (vector rounding, tap offsets)

    # 'contract' lets LLVM fuse a * b + c into one FMA (one rounding instead of two); no
    # other fast-math flag: NaN and Inf must behave as IEEE says.
    @njit(parallel=True, cache=True, nogil=True, fastmath={"contract"})
    def kernel(planar, weights, taps_table, out, sh, q, per_job, lanes, tile, tap_block):  # pragma: no cover - compiled
        n_images, out_h, out_w, written = out.shape
        out_channels = weights.shape[1]  # accumulated_channels: the first ``written`` are outputs
        blocks = planar.shape[0]
        taps = weights.shape[0]
        for job in prange(blocks * out_h):
            block = job // out_h
            oy = job - block * out_h
            first = block * per_job
            rows = planar[block]
            acc = np.empty((out_channels, tile), dtype=out.dtype)
            part = np.empty((out_channels, tile), dtype=out.dtype)
            # 2. Tiles of lanes; per four output channels, every tap (their accumulators stay in L1).
            for start in range(0, lanes, tile):
                n = min(tile, lanes - start)
                co = 0
                while co < out_channels:
                    width = 4 if co + 4 <= out_channels else 1
                    # Taps in blocks of ``tap_block``, each summed on its own and then added: the
                    # rounding error of a long sum grows with its chain of additions, and a 15x15
                    # blur would otherwise add 225 products one after another.
                    for chunk in range(0, taps, tap_block):
                        stop = min(taps, chunk + tap_block)
                        target = acc if chunk == 0 else part
                        for c in range(co, co + width):
                            target[c, :n] = 0
                        t = chunk
                        if width == 4:
                            a0, a1, a2, a3 = target[co, :n], target[co + 1, :n], target[co + 2, :n], target[co + 3, :n]
                            while t + 4 <= stop:
                                s0 = _run(rows, taps_table[t], oy * sh, start, n)
                                s1 = _run(rows, taps_table[t + 1], oy * sh, start, n)
                                s2 = _run(rows, taps_table[t + 2], oy * sh, start, n)
                                s3 = _run(rows, taps_table[t + 3], oy * sh, start, n)
                                w0, w1, w2, w3 = (
                                    weights[t, co],
                                    weights[t + 1, co],
                                    weights[t + 2, co],
                                    weights[t + 3, co],
                                )
                                v0, v1, v2, v3 = (
                                    weights[t, co + 1],
                                    weights[t + 1, co + 1],
                                    weights[t + 2, co + 1],
                                    weights[t + 3, co + 1],
                                )
                                y0, y1, y2, y3 = (
                                    weights[t, co + 2],
                                    weights[t + 1, co + 2],
                                    weights[t + 2, co + 2],
                                    weights[t + 3, co + 2],
                                )
                                z0, z1, z2, z3 = (
                                    weights[t, co + 3],
                                    weights[t + 1, co + 3],
                                    weights[t + 2, co + 3],
                                    weights[t + 3, co + 3],
                                )
                                for j in range(n):  # four taps' products summed in pairs: shorter chains of latency
                                    e0, e1, e2, e3 = s0[j], s1[j], s2[j], s3[j]
                                    a0[j] = (a0[j] + (w0 * e0 + w1 * e1)) + (w2 * e2 + w3 * e3)
                                    a1[j] = (a1[j] + (v0 * e0 + v1 * e1)) + (v2 * e2 + v3 * e3)
                                    a2[j] = (a2[j] + (y0 * e0 + y1 * e1)) + (y2 * e2 + y3 * e3)
                                    a3[j] = (a3[j] + (z0 * e0 + z1 * e1)) + (z2 * e2 + z3 * e3)
                                t += 4
                            while t < stop:  # the last one to three taps: one at a time
                                s0 = _run(rows, taps_table[t], oy * sh, start, n)
                                w0, w1, w2, w3 = (
                                    weights[t, co],
                                    weights[t, co + 1],
                                    weights[t, co + 2],
                                    weights[t, co + 3],
                                )
                                for j in range(n):
                                    e0 = s0[j]
                                    a0[j] += w0 * e0
                                    a1[j] += w1 * e0
                                    a2[j] += w2 * e0
                                    a3[j] += w3 * e0
                                t += 1
                        else:  # one channel left over (see accumulated_channels)
                            a0 = target[co, :n]
                            while t + 4 <= stop:
                                s0 = _run(rows, taps_table[t], oy * sh, start, n)
                                s1 = _run(rows, taps_table[t + 1], oy * sh, start, n)
                                s2 = _run(rows, taps_table[t + 2], oy * sh, start, n)
                                s3 = _run(rows, taps_table[t + 3], oy * sh, start, n)
                                w0, w1, w2, w3 = (
                                    weights[t, co],
                                    weights[t + 1, co],
                                    weights[t + 2, co],
                                    weights[t + 3, co],
                                )
                                for j in range(n):
                                    a0[j] = (((a0[j] + w0 * s0[j]) + w1 * s1[j]) + w2 * s2[j]) + w3 * s3[j]
                                t += 4
                            while t < stop:
                                s0 = _run(rows, taps_table[t], oy * sh, start, n)
                                w0 = weights[t, co]
                                for j in range(n):
                                    a0[j] += w0 * s0[j]
                                t += 1
                        if chunk > 0:
                            for c in range(co, co + width):
                                a0, p0 = acc[c, :n], part[c, :n]
                                for j in range(n):
                                    a0[j] += p0[j]
                    co += width
                # 3. Back to the output, image by image of the tile; lanes past an image's width belong to
                # no output. NHWC: each pixel's channels in turn (a division per lane cost a third of the
                # kernel's time on 720x1280 -> 8); NCHW: each channel's run of pixels.
                for b in range(start // q, min(per_job, (start + n - 1) // q + 1)):
                    image = first + b
                    if image >= n_images:
                        break
                    lo, hi = max(start, b * q), min(start + n, b * q + out_w)
                    out_row = out[image, oy]
                    if out_row.strides[0] > out_row.strides[1]:
                        for lane in range(lo, hi):
                            for co in range(written):
                                out_row[lane - b * q, co] = acc[co, lane - start]
                    else:
                        for co in range(written):
                            for lane in range(lo, hi):
                                out_row[lane - b * q, co] = acc[co, lane - start]

    return fill, kernel
