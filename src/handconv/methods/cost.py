"""The cost model behind ``method='auto'``: machine rates, and a choice that holds when estimates are close.

Every method module estimates its own run time, ``estimate(plan, rates) ->
seconds``, from the plan alone (shape, dtype, kernel, channels, strides); this
module holds what they share:

* :class:`Rates`, the handful of machine speeds the estimates are written in:
  a large GEMM's rate, the bandwidth of one NumPy pass, the cost of one
  NumPy/BLAS call, and the speeds of the numba kernels. The built-in values
  (:data:`REFERENCE_RATES`) are the 2-vCPU development VM's. Machines differ
  in their *balance* (the same VM type has run NumPy's GEMM at 150-400 GFLOP/s
  with 20-45 GB/s of bandwidth), so :func:`machine_rates` measures them once
  per machine (about a second) and caches them in the user's cache folder
  (``~/.cache/handconv/rates.json``; ``$XDG_CACHE_HOME`` and
  ``$HANDCONV_CACHE_DIR`` are honoured). Reset with :func:`reset_rates` or by
  deleting the file; ``HANDCONV_RATES=reference`` uses the built-in values and
  never measures.
* :func:`choose`: the candidates allowed at the requested precision, and among
  those whose estimate is within ``CLOSE`` of the best, the one with the least
  *regret* when the rates are off by ``RATE_DOUBT`` (NumPy's strided copies: ``GROUP_DOUBT``) in any
  direction. Close
  calls then go to the method that is never far from the best, not to the one
  a 5% difference in a constant happens to favour.

No timing happens when a plan is chosen: the choice depends on the plan, the
precision, whether numba is installed and the machine's cached rates, so the
same call on the same machine always runs the same arithmetic.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..plan import ConvPlan
from .scratch import MAX_KEPT_BYTES

#: Precisions ``conv2d(precision=...)`` accepts.
PRECISIONS = ("accurate", "fast")
#: Candidates within this factor of the best estimate are "close": the robust rule decides among them.
CLOSE = 1.3
#: How far each rate may be off on a machine (or a day) the model was not tuned on.
RATE_DOUBT = 1.6
#: Groups doubted more than ``RATE_DOUBT``. NumPy's strided copies with short runs ran 4x slower for stretches
#: of 10-30 s on the development VM while GEMMs lost ~25% and compiled kernels nothing (2026-11-30 monitor:
#: im2col's columns copy 8.7 -> 38 ms), and 6-10x for minutes (20:00: runs of 48 numbers 4.6 -> 44 ms); a close
#: call should not rest on them. 8x (with ``SHORT_RUN``) moved 32 of the 20:06 sweep's 318 picks (cells above 2x
#: TF: 11 -> 7, on the times that run measured) and the calibration grid's regret from 1.105 to 1.107.
GROUP_DOUBT = {"copies": 8.0}
#: Only plans estimated above this (with the reference rates) make auto measure the machine first.
MEASURE_ABOVE_S = 0.02


@dataclass(frozen=True)
class Rates:
    """Machine speeds the estimates are written in (all threads unless said)."""

    #: float32 floating-point operations per second of a large GEMM (float64: half).
    gemm_flops: float = 200e9
    #: Bytes per second of one plain (single-threaded) NumPy pass.
    bandwidth: float = 20e9
    #: Seconds per NumPy or BLAS call.
    call: float = 4e-6
    #: Seconds to start one parallel numba call (wake the workers, deal the rows).
    launch: float = 25e-6
    #: Lanes per second of numba's vectorised row kernel (``direct``).
    lane_rate: float = 20e9
    #: Multiply-adds per second of numba's general loop nest (``direct``).
    loop_rate: float = 4e9
    #: Multiply-adds per second of numba's planar kernel (``planar``), float32.
    vector_macs: float = 32e9
    #: Numbers per second numba's scalar copy loops move (buffers, transposes).
    scalar_moves: float = 2e9
    #: NumPy's strided copies: the rate at which the per-run work of short runs is paid (:func:`copy_seconds`);
    #: 1.6 plain passes, like a long-run copy, by default.
    strided_copy: float = 32e9
    #: Where the numbers come from: 'reference' or 'measured <date>'.
    source: str = "reference"

    def scaled(self, **factors: float) -> Rates:
        """These rates with some multiplied by factors (``scaled(gemm_flops=1.6)``)."""
        return dataclasses.replace(self, **{k: getattr(self, k) * v for k, v in factors.items()})


#: The development VM's rates (2 vCPUs, AVX-512, 2026-11-25): the model's defaults.
REFERENCE_RATES = Rates()

#: Groups of rates that move together when a machine differs (numba kernels share a compiler and cores).
RATE_GROUPS: dict[str, tuple[str, ...]] = {
    "gemm": ("gemm_flops",),
    "memory": ("bandwidth",),
    "numba": ("lane_rate", "loop_rate", "vector_macs", "scalar_moves"),
    "overhead": ("call", "launch"),
    "copies": ("strided_copy",),
}


# ------------------------------------------------------------ shared pieces
#: Fraction of the large-GEMM rate NumPy's ``(m, k) @ (k, n)`` product reaches, by inner dimension
#: ``k`` (rows of each table) and output columns ``n`` (columns); measured on the development VM (2
#: threads, OpenBLAS, m ~ 4e6 / k, quiet, 2026-11-30) in float32 (1.0 = 100 GMAC/s) and float64 (1.0 =
#: 50 GMAC/s). Thin products are memory- or latency-bound: few columns leave the multipliers idle, a
#: short ``k`` re-reads the output per few products (``k = 1``, an outer product, runs at ~1 GMAC/s);
#: ``n = 1`` is a matrix-vector product. ``bench/gemm_efficiency.py`` measures both tables on any machine. Run
#: twice on 2026-12-01 it agreed with them (within the 1.3x between its own runs on short ``k``) but for two parts,
#: replaced then: the ``n = 1`` column (0.05-0.11 from ``k = 9`` on, where the table had 0.08-0.34) and, in
#: float32, ``k = 1600`` and ``6400`` with ``n = 3-32`` (0.09-0.69 against 0.16-0.83). The old values had
#: ``im2col`` at 3.3 ms on g121 (16x8x8x256, 11x11 to 8 channels) where it takes 5.
GEMM_K = (1, 3, 9, 27, 75, 144, 400, 1600, 6400)
GEMM_N = (1, 3, 8, 16, 32, 64, 128, 256)
GEMM_EFFICIENCY = (
    (0.002, 0.003, 0.004, 0.005, 0.005, 0.009, 0.009, 0.009),
    (0.019, 0.039, 0.085, 0.14, 0.15, 0.12, 0.091, 0.082),
    (0.048, 0.14, 0.27, 0.37, 0.36, 0.35, 0.31, 0.29),
    (0.068, 0.2, 0.42, 0.66, 0.67, 0.6, 0.59, 0.64),
    (0.07, 0.16, 0.37, 0.57, 0.64, 0.68, 0.76, 0.81),
    (0.065, 0.08, 0.22, 0.41, 0.57, 0.7, 0.8, 0.87),
    (0.064, 0.1, 0.24, 0.42, 0.61, 0.77, 0.89, 0.96),
    (0.087, 0.093, 0.26, 0.49, 0.68, 0.82, 0.92, 0.98),
    (0.1, 0.11, 0.28, 0.5, 0.69, 0.82, 0.9, 0.96),
)
GEMM_EFFICIENCY_F64 = (
    (0.008, 0.014, 0.016, 0.018, 0.018, 0.018, 0.018, 0.018),
    (0.014, 0.046, 0.096, 0.12, 0.13, 0.11, 0.086, 0.098),
    (0.05, 0.1, 0.19, 0.26, 0.35, 0.29, 0.21, 0.22),
    (0.074, 0.19, 0.42, 0.56, 0.56, 0.5, 0.47, 0.5),
    (0.052, 0.08, 0.2, 0.33, 0.46, 0.56, 0.66, 0.72),
    (0.063, 0.08, 0.2, 0.32, 0.48, 0.61, 0.68, 0.81),
    (0.088, 0.07, 0.18, 0.29, 0.44, 0.6, 0.71, 0.81),
    (0.12, 0.11, 0.24, 0.4, 0.56, 0.69, 0.81, 0.89),
    (0.11, 0.09, 0.23, 0.39, 0.53, 0.68, 0.73, 0.87),
)


#: The same products with the left operand in cache (``bench/gemm_efficiency.py --hot``: 2 MiB of it, each product
#: timed several times in a row, 2026-12-01), as a band a method has just copied is when its GEMM reads it. Thin
#: products gain most: ``k = 75``, ``n = 32`` runs at 0.84 here and 0.64 from memory; from ``n = 128`` on the two
#: agree. The table above is the cold one: each product timed after the whole grid's others.
GEMM_EFFICIENCY_HOT = (
    (0.0046, 0.0065, 0.0078, 0.0084, 0.0087, 0.0083, 0.009, 0.009),
    (0.047, 0.073, 0.14, 0.26, 0.27, 0.12, 0.092, 0.089),
    (0.079, 0.14, 0.3, 0.53, 0.6, 0.6, 0.41, 0.32),
    (0.16, 0.19, 0.41, 0.68, 0.78, 0.86, 0.88, 0.8),
    (0.25, 0.2, 0.44, 0.72, 0.84, 0.95, 0.99, 0.97),
    (0.35, 0.2, 0.46, 0.76, 0.89, 0.97, 1.0, 1.0),
    (0.4, 0.2, 0.47, 0.78, 0.91, 0.98, 1.0, 1.0),
    (0.4, 0.17, 0.44, 0.75, 0.87, 0.94, 0.98, 0.99),
    (0.36, 0.19, 0.47, 0.77, 0.88, 0.94, 0.94, 0.96),
)
GEMM_EFFICIENCY_HOT_F64 = (
    (0.0091, 0.014, 0.016, 0.017, 0.018, 0.018, 0.018, 0.018),
    (0.031, 0.14, 0.2, 0.28, 0.26, 0.12, 0.086, 0.086),
    (0.077, 0.18, 0.34, 0.48, 0.6, 0.6, 0.31, 0.24),
    (0.13, 0.18, 0.45, 0.63, 0.76, 0.85, 0.86, 0.78),
    (0.15, 0.22, 0.46, 0.67, 0.81, 0.91, 0.96, 1.0),
    (0.17, 0.27, 0.46, 0.68, 0.82, 0.92, 0.97, 1.0),
    (0.2, 0.29, 0.46, 0.68, 0.83, 0.93, 0.98, 1.0),
    (0.18, 0.17, 0.46, 0.67, 0.81, 0.89, 0.94, 0.98),
    (0.26, 0.16, 0.44, 0.61, 0.73, 0.76, 0.8, 0.91),
)
#: A left operand up to ``HOT_OPERAND_BYTES`` is read at the hot rate, from ``COLD_OPERAND_BYTES`` (the L3 cache of
#: the development VM) at the cold one; in between the two blend in log(size). Measured (k = 704, n = 32): 0.88 with
#: 2.9 MB, 0.72 with 16 MB, 0.57 with 56 MB.
HOT_OPERAND_BYTES = 4 * 2**20
COLD_OPERAND_BYTES = 32 * 2**20


def _interpolate(axis: tuple[int, ...], value: float) -> tuple[int, int, float]:
    """Neighbouring indices on ``axis`` and the weight of the upper one, linear in log(value)."""
    value = min(max(value, axis[0]), axis[-1])
    upper = next(i for i, point in enumerate(axis) if point >= value)
    if upper == 0:
        return 0, 0, 0.0
    lower = upper - 1
    return lower, upper, math.log(value / axis[lower]) / math.log(axis[upper] / axis[lower])


def gemm_efficiency(k: int, n: int, m: int = 1 << 24, itemsize: int = 4, operand_bytes: float | None = None) -> float:
    """Fraction of the GEMM rate a ``(m, k) @ (k, n)`` product reaches (:data:`GEMM_EFFICIENCY`, float64: ``_F64``).

    Interpolated in ``log k`` and ``log n`` between the measured points (clamped
    at the table's edges), from the hot table where the left operand (``m * k``
    numbers, or ``operand_bytes``) fits in cache and the cold one where it does not
    (:data:`HOT_OPERAND_BYTES`); products with few rows (``m < 256``) lose in
    proportion to ``sqrt(m / 256)``. Only the *ratios* between shapes matter to
    the choice: the machine's own speed enters once, through ``Rates.gemm_flops``.

    >>> gemm_efficiency(6400, 256)
    0.96
    >>> round(gemm_efficiency(9, 32), 2), round(gemm_efficiency(400, 32), 2)
    (0.36, 0.61)
    >>> round(gemm_efficiency(400, 32, m=1024), 2)  # 1.6 MB of float32: in cache
    0.91
    """
    ki, kj, kw = _interpolate(GEMM_K, k)
    ni, nj, nw = _interpolate(GEMM_N, n)

    def read(table: tuple[tuple[float, ...], ...]) -> float:
        low = table[ki][ni] * (1 - nw) + table[ki][nj] * nw
        high = table[kj][ni] * (1 - nw) + table[kj][nj] * nw
        return low * (1 - kw) + high * kw

    wide = itemsize > 4
    cold = read(GEMM_EFFICIENCY_F64 if wide else GEMM_EFFICIENCY)
    hot = read(GEMM_EFFICIENCY_HOT_F64 if wide else GEMM_EFFICIENCY_HOT)
    operand = max(1, m) * k * itemsize if operand_bytes is None else operand_bytes
    share = min(1.0, max(0.0, math.log(operand / HOT_OPERAND_BYTES) / math.log(COLD_OPERAND_BYTES / HOT_OPERAND_BYTES)))
    return (hot * (1 - share) + cold * share) * min(1.0, m / 256) ** 0.5


def gemm_seconds(
    rates: Rates, macs: float, k: int, n: int, m: int, itemsize: int, operand_bytes: float | None = None
) -> float:
    """Seconds for ``macs`` multiply-adds in products of shape ``(m, k) @ (k, n)`` (``m``: one product's rows)."""
    peak = rates.gemm_flops * (1.0 if itemsize <= 4 else 0.5)
    return 2.0 * macs / (peak * max(gemm_efficiency(k, n, m, itemsize, operand_bytes), 1e-3))


#: Contiguous run (in numbers) at which a strided copy reaches ~63% of a plain copy's speed.
RUN_SCALE = 40
#: Runs from this many numbers (4 KiB of float32) on copy like memcpy, which the host's slow stretches leave alone.
SHORT_RUN = 1024
#: Blocks copied at once beyond this size leave the caches: the copy runs at memory speed.
CACHE_BYTES = 8 * 2**20
#: A copy to and from memory, against one in cache: im2col's columns copy (runs of 704 numbers, buffer reused)
#: moved 31-35 GB/s in blocks of 1.6-13 MiB and 18 GB/s in blocks of 25-200 MiB (2026-12-01). The 0.15 measured
#: before (5 GB/s) included the page faults of a fresh buffer per band, which im2col no longer allocates; it
#: charged g033's columns (97 MB) 14 ms where they take 5 and made auto pass over im2col on g158 (2.6x TF; 1.9x).
MEMORY_COPY = 0.5


def copy_seconds(rates: Rates, nbytes: float, run: int, block_bytes: float = 0) -> float:
    """Seconds to copy ``nbytes`` out of a strided view whose contiguous runs hold ``run`` numbers.

    NumPy copies run by run: measured on the development VM (2026-11-30), a
    copy with runs of 8 numbers moved 7 GB/s, 32: 19, 64: 29, 128 and longer
    30-35 GB/s (:attr:`Rates.strided_copy`; 1.6x one plain pass, :attr:`Rates.bandwidth`, which counts
    the read and the write apart). im2col's columns copy the receptive fields'
    runs (``KW * C`` numbers, ``C`` when dilated); the shifted GEMMs copy runs
    of ``C``. Copied in blocks of ``block_bytes`` larger than ``CACHE_BYTES``
    (im2col's bands when one band of 1024 receptive fields of 11x11x256 is
    127 MB), the copy runs at memory speed: 18 GB/s here, about ``MEMORY_COPY`` of the
    in-cache rate.

    >>> r = REFERENCE_RATES
    >>> round(4e6 / copy_seconds(r, 4e6, 8) / 1e9, 1), round(4e6 / copy_seconds(r, 4e6, 256) / 1e9, 1)
    (5.8, 31.9)
    """
    # Split in two: moving the bytes at the long-run rate (a memory cost), and the per-run work NumPy's loop adds
    # on top of it (the part the host's slow stretches multiply; its own rate, doubted more by ``choose``).
    # With the reference rates the sum is ``nbytes / (strided_copy * (1 - exp(-run / RUN_SCALE)))``.
    # Runs shorter than ``SHORT_RUN`` numbers move all their bytes at ``strided_copy`` (the same rate nominally),
    # so a doubt about NumPy's strided copies scales all of such a copy: the 18:36 and 20:06 sweeps caught
    # ``im2col``'s columns (runs of 16-48 numbers) and ``im2col_nchw``'s (256) at 3-10x their quiet time.
    long_run = rates.strided_copy if run < SHORT_RUN else 1.6 * rates.bandwidth
    per_run = 1.0 / (1.0 - math.exp(-max(run, 1) / RUN_SCALE)) - 1.0
    seconds = nbytes / long_run + nbytes * per_run / rates.strided_copy
    if block_bytes > CACHE_BYTES:
        seconds = max(seconds, nbytes / (MEMORY_COPY * long_run))
    return seconds


#: A first touch of a fresh 4 KiB page faults: ~3 us on the development VM (methods/scratch.py). NumPy asks for huge
#: pages on large arrays, which make the faults cheap when the kernel has some free, so the same call may pay
#: anything from nothing to all of it: g262's 74 MB ``planar`` buffer ran 21 ms alone and 35-105 ms in the sweep.
PAGE_FAULT_SECONDS = 3e-6


def fresh_pages_seconds(nbytes: float) -> float:
    """Page faults of a workspace of ``nbytes`` allocated afresh on every call (above ``scratch.MAX_KEPT_BYTES``).

    >>> fresh_pages_seconds(2**20), round(fresh_pages_seconds(80e6) * 1e3)
    (0.0, 59)
    """
    return 0.0 if nbytes <= MAX_KEPT_BYTES else nbytes / 4096 * PAGE_FAULT_SECONDS


def weighted(weights: tuple[float, ...], terms: tuple[float, ...]) -> float:
    """An estimate from its terms (seconds with unit weights) and the method's fitted ``COST_WEIGHTS``.

    Each method's estimate is a sum of terms it can name (calls, passes over
    memory, strided copies, GEMMs, vector multiply-adds); the weights scale
    each term to what the method's implementation really pays for it. They
    are fitted by ``bench/calibrate.py`` on a seeded grid of convolutions that
    the sweep does not contain, so the sweep stays a fair check.
    """
    if len(weights) != len(terms):
        raise ValueError(f"{len(terms)} cost terms but {len(weights)} weights")
    return sum(w * t for w, t in zip(weights, terms))


#: Passes over memory the blocked NHWC -> NCHW copy of an output costs (:mod:`handconv.layout`):
#: measured 2.6-4.7 GB/s of output here, against 20 GB/s for a plain pass.
CHANNELS_FIRST_PASSES = 6.0


def channels_first_seconds(plan: ConvPlan, rates: Rates, side: str = "output") -> float:
    """Seconds to move the channels of the output (or the input) between NHWC and NCHW memory.

    Free with one channel: both layouts are the same memory then.
    """
    itemsize, in_bytes, _, out_bytes, _ = sizes(plan)
    channels, nbytes = (plan.out_channels, out_bytes) if side == "output" else (plan.in_channels, in_bytes)
    return 0.0 if channels == 1 else CHANNELS_FIRST_PASSES * nbytes / rates.bandwidth


def sizes(plan: ConvPlan) -> tuple[int, int, int, int, int]:
    """(itemsize, input bytes, padded input bytes, output bytes, output pixels)."""
    itemsize = plan.compute_dtype.itemsize
    pixels = plan.batch * plan.output_hw[0] * plan.output_hw[1]
    in_bytes = plan.batch * plan.input_hw[0] * plan.input_hw[1] * plan.in_channels * itemsize
    padded = plan.batch * plan.padded_hw[0] * plan.padded_hw[1] * plan.in_channels * itemsize
    return itemsize, in_bytes, padded, pixels * plan.out_channels * itemsize, pixels


# ------------------------------------------------------------------ choice
Estimator = Callable[[ConvPlan, Rates], float]


def scenarios(rates: Rates) -> list[Rates]:
    """``rates`` and the same with each group of rates ``RATE_DOUBT`` (``GROUP_DOUBT``) times faster or slower."""
    result = [rates]
    for group, names in RATE_GROUPS.items():
        doubt = GROUP_DOUBT.get(group, RATE_DOUBT)
        for factor in (doubt, 1 / doubt):
            result.append(rates.scaled(**{name: factor for name in names}))
    return result


def choose(plan: ConvPlan, estimators: Mapping[str, Estimator], rates: Rates) -> str:
    """The candidate to run: the lowest estimate, or the least regret among close ones.

    ``estimators`` holds the allowed candidates only (the caller filters by
    ``supports`` and precision). Regret of a method in one scenario is its
    estimate over the best estimate there; a close call goes to the method
    whose worst regret over :func:`scenarios` is smallest (ties: the lower
    nominal estimate).
    """
    nominal = {name: estimate(plan, rates) for name, estimate in estimators.items()}
    finite = {name: t for name, t in nominal.items() if math.isfinite(t)}
    if not finite:
        raise ValueError(f"no method estimates a finite time for {plan}")
    best = min(finite.values())
    close = [name for name, t in finite.items() if t <= CLOSE * best]
    if len(close) == 1:
        return close[0]
    regret = {name: 1.0 for name in close}
    for shifted in scenarios(rates)[1:]:
        times = {name: estimators[name](plan, shifted) for name in close}
        floor = min(times.values())
        for name in close:
            regret[name] = max(regret[name], times[name] / floor)
    return min(close, key=lambda name: (round(regret[name], 2), finite[name]))


# ------------------------------------------------------- per-machine rates
_RATES_LOCK = threading.Lock()
_measured: Rates | None = None
#: Whether this process has looked for the cache file, and when to look at the load again after a busy one.
_file_read = False
_next_try = 0.0
#: Seconds between attempts to measure while the machine is busy.
RETRY_MEASURING_S = 30.0


def cache_path() -> Path:
    """The rates file: ``$HANDCONV_CACHE_DIR``, else ``$XDG_CACHE_HOME/handconv``, else ``~/.cache/handconv``."""
    folder = os.environ.get("HANDCONV_CACHE_DIR")
    if not folder:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(base, "handconv")
    return Path(folder) / "rates.json"


def fingerprint() -> str:
    """What the rates depend on: CPU model and count, NumPy and numba versions."""
    import platform

    import numpy as np

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        import numba

        numba_version = numba.__version__
    except ImportError:
        numba_version = "none"
    return f"{cpu} x{os.cpu_count()} numpy {np.__version__} numba {numba_version}"


def current_rates(plan: ConvPlan | None = None) -> Rates:
    """The rates ``auto`` uses now: measured ones when known (cached), else the reference.

    The machine is measured (once, cached on disk) the first time a plan
    estimated above ``MEASURE_ABOVE_S`` needs a choice while the machine is
    not busy (:func:`machine_is_busy`): tiny calls never wait for it.
    Only with ``HANDCONV_RATES=measure``; by default (``reference``) the built-in rates are used.
    """
    global _measured, _file_read, _next_try
    # Opt-in: on the 2026-11-30 VM the measured rates (a numba launch cost of 186 us from a cold thread pool)
    # sent few-channel 7x7 photos to im2col at 7.3x TF where planar ran at 1.5x; the reference rates chose right.
    if os.environ.get("HANDCONV_RATES", "reference").lower() != "measure":
        return REFERENCE_RATES
    if _measured is not None:
        return _measured
    if not _file_read:  # once per process: tiny calls must not pay a disk read each
        with _RATES_LOCK:
            if not _file_read:
                _measured, _file_read = _load(), True
        if _measured is not None:
            return _measured
    if (plan is not None and not _worth_measuring(plan)) or time.monotonic() < _next_try:
        return REFERENCE_RATES
    with _RATES_LOCK:
        if _measured is None:
            if machine_is_busy():
                _next_try = time.monotonic() + RETRY_MEASURING_S
            else:
                _measured = measure_rates()
                _store(_measured)
        return _measured or REFERENCE_RATES


def machine_is_busy() -> bool:
    """Whether other work holds the cores now (1-minute load average above half the cores).

    Rates measured then describe the other work, not the machine (on the
    development VM a busy minute measured the GEMM at 16 instead of 200
    GFLOP/s), so ``auto`` then keeps the reference rates and tries again in a
    later process.
    """
    try:
        return os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1)
    except OSError:  # no load average on this platform
        return False


def _worth_measuring(plan: ConvPlan) -> bool:
    itemsize, _, padded, out_bytes, _ = sizes(plan)
    rough = (padded + out_bytes) / REFERENCE_RATES.bandwidth + 2.0 * plan.macs / REFERENCE_RATES.gemm_flops
    return rough > MEASURE_ABOVE_S


def reset_rates() -> None:
    """Forget the measured rates (memory and cache file): the next large ``auto`` call measures again."""
    global _measured, _file_read, _next_try
    with _RATES_LOCK:
        _measured, _file_read, _next_try = None, False, 0.0
        with contextlib.suppress(FileNotFoundError):
            cache_path().unlink()


def _load() -> Rates | None:
    try:
        saved = json.loads(cache_path().read_text(encoding="utf-8"))
        entry = saved.get(fingerprint())
        if not entry:
            return None
        fields = {f.name for f in dataclasses.fields(Rates)}
        return Rates(**{k: v for k, v in entry.items() if k in fields})
    except (OSError, ValueError, TypeError):
        return None  # no file, or an unreadable one: measure again


def _store(rates: Rates) -> None:
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(saved, dict):
                saved = {}
        except (OSError, ValueError):
            saved = {}
        saved[fingerprint()] = dataclasses.asdict(rates)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_text(json.dumps(saved, indent=1), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only home folder: keep the rates for this process only


def _best_seconds(call: Callable[[], object], repeats: int) -> float:
    call()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def measure_rates() -> Rates:
    """Measure this machine's rates (about a second; best of a few runs each).

    GEMM: a 1024^3 float32 product. Bandwidth: a 32 MiB copy. Call: a tiny
    ``np.add``. numba kernels (when installed): ``direct``'s row kernel and
    ``planar`` on fixed plans, scaled against their reference estimates.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((1024, 1024), dtype=np.float32)
    b = rng.standard_normal((1024, 1024), dtype=np.float32)
    gemm = 2.0 * 1024**3 / _best_seconds(lambda: a @ b, 5)
    big = np.ones(8 * 2**20, dtype=np.float32)
    target = np.empty_like(big)
    bandwidth = 2.0 * big.nbytes / _best_seconds(lambda: np.copyto(target, big), 5)
    tiny = np.ones(4, dtype=np.float32)
    call = _best_seconds(lambda: [np.add(tiny, tiny) for _ in range(100)], 5) / 100 * 4  # a BLAS call costs more
    rates = Rates(
        gemm_flops=gemm,
        bandwidth=bandwidth,
        call=call,
        strided_copy=1.6 * bandwidth,  # the reference ratio: long-run copies at 1.6 plain passes
        source=f"measured {time.strftime('%Y-%m-%d')}",
    )
    numba_factor = _numba_factor(rates)
    if numba_factor is not None:
        rates = rates.scaled(**{name: numba_factor for name in RATE_GROUPS["numba"]})
        rates = dataclasses.replace(rates, launch=_launch_seconds())
    return rates


def _launch_seconds() -> float:
    """The fixed cost of one parallel numba call: ``planar`` on a one-pixel problem."""
    import numpy as np

    from ..plan import make_plan
    from . import planar

    plan = make_plan((1, 1, 1, 1), (1, 1, 1, 1))
    x, w = np.ones((1, 1, 1, 1), np.float32), np.ones((1, 1, 1, 1), np.float32)
    return _best_seconds(lambda: planar.conv2d_planar(x, w, plan), 20)


def _numba_factor(rates: Rates) -> float | None:
    """How much faster (>1) or slower the numba kernels run here than their reference estimates say,
    *relative to the GEMM methods*.

    The numba kernels are timed on fixed plans, and so is ``im2col`` on the
    plan where it competes with ``planar`` (photo rows, 3 -> 16). Scaling the
    numba rates by their own error alone would tilt close calls towards the
    GEMM methods whenever the GEMM model is the more optimistic one (a thin
    GEMM runs far below the large one measured above); folding in ``im2col``'s
    error on the same plan keeps the *ratio* of the two estimates equal to the
    ratio measured here, back to back.
    """
    import numpy as np

    from ..plan import make_plan
    from . import direct, im2col, planar

    if not direct.has_accelerator():
        return None
    rng = np.random.default_rng(1)

    def seconds(plan, run):
        x = rng.standard_normal(plan.input_shape, dtype=np.float32)
        w = rng.standard_normal(plan.filter_shape, dtype=np.float32)
        return _best_seconds(lambda: run(x, w, plan), 5)

    lane_plan = make_plan((1, 256, 256, 3), (3, 3, 3, 1), 1, "SAME")
    planar_plan = make_plan((1, 128, 256, 3), (3, 3, 3, 16), 1, "SAME")
    factors = [
        direct.estimate(lane_plan, REFERENCE_RATES) / seconds(lane_plan, direct.conv2d_direct),
        planar.estimate(planar_plan, REFERENCE_RATES) / seconds(planar_plan, planar.conv2d_planar),
    ]
    gemm_error = seconds(planar_plan, im2col.conv2d_im2col) / im2col.estimate(planar_plan, rates)
    factor = math.exp(sum(math.log(f) for f in factors) / len(factors)) * gemm_error
    # A busy machine distorts these few timings (measured: 0.45 and 10 within an hour on the development
    # VM); beyond RATE_DOUBT^2 either way the measurement is not believed.
    return min(RATE_DOUBT**2, max(RATE_DOUBT**-2, factor))


# ----------------------------------------------- general plans (gradients)
def filter_gradient_shaped(plan: ConvPlan) -> bool:
    """Fewer output positions than filter taps: a filter gradient (its output is the filter).

    The 2-D methods' estimates assume a small filter over a large output;
    turned around, their per-tap loops and Toeplitz bands grow with the image.
    """
    return math.prod(plan.output_spatial) < math.prod(plan.filter_spatial)


def choose_general(plan: ConvPlan) -> str:
    """The method for a plan the 2-D methods do not take (gradients, transposed, 3-D).

    * window stride 1 over a dilated input (an input gradient with a stride, a
      transposed convolution): ``col2im``, which never multiplies the zeros;
    * fewer output positions than filter taps (a filter gradient: its output is
      the filter): ``weightgrad``, long-sum GEMMs whose columns are the few
      output positions;
    * otherwise ``shifted``, one GEMM per filter tap.
    """
    from . import col2im  # the method modules import this one

    if col2im.supports(plan) and any(d != 1 for d in plan.lhs_dilations):
        return "col2im"
    if filter_gradient_shaped(plan):
        # weightgrad picks its own layout: flat per-offset GEMMs for a few channels over a
        # large image (S2-S4) or a 1x1 window, channel-planar im2col columns otherwise.
        return "weightgrad"
    return "shifted"
