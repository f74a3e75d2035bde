"""Measure the GEMM efficiency tables the cost model charges products by (``cost.GEMM_EFFICIENCY``).

Every GEMM method's estimate prices its products as ``2 * macs / (gemm_flops *
efficiency(k, n, m))``, where ``efficiency`` is read from a table of NumPy's
``(m, k) @ (k, n)`` rate against a large square product, by inner dimension
``k`` (rows) and output columns ``n`` (columns). This script times that grid
on this machine and prints both tables (float32, float64) as Python literals,
beside the tables in ``methods/cost.py`` and the largest ratio between them.

Usage::

    python bench/gemm_efficiency.py            # ~1 min on 2 cores; run it on a quiet machine
    python bench/gemm_efficiency.py --rounds 9

``m`` is ``4e6 / k`` rows (at least 256, at most what keeps the output under
64 MiB), so every product moves a similar amount of data. Each cell is the
minimum of ``--rounds`` calls, the rounds interleaved over the grid so that a
stolen CPU slows one round of a cell, not all of them.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from handconv.methods import cost

#: float32 and float64 units: the large-GEMM rates (multiply-adds per second) that 1.0 stands for.
UNITS = {np.float32: 100e9, np.float64: 50e9}
OUTPUT_BYTES = 64 * 2**20


#: ``--hot``: the left operand's size, as a method's band of columns is when its GEMM reads it (in cache).
HOT_BYTES = 2 * 2**20


def rows_for(k: int, n: int, itemsize: int, hot: bool = False) -> int:
    """Rows ``m`` of the timed product: ``4e6 / k`` (hot: ``HOT_BYTES`` of it), at least 256, output at most
    ``OUTPUT_BYTES``."""
    rows = HOT_BYTES // (k * itemsize) if hot else int(4e6 / k)
    return max(256, min(rows, OUTPUT_BYTES // (n * itemsize)))


def measure(dtype: type, rounds: int, seed: int = 0, hot: bool = False) -> list[list[float]]:
    """Efficiency per ``(k, n)`` of :data:`cost.GEMM_K` x :data:`cost.GEMM_N` for ``dtype``.

    Cold (default): the rounds go over the whole grid, so each product finds its operands out of cache. Hot: each
    product is timed ``rounds`` times in a row, its ``HOT_BYTES`` left operand in cache from the call before.
    """
    rng = np.random.default_rng(seed)
    itemsize = np.dtype(dtype).itemsize
    cells = []
    for k in cost.GEMM_K:
        for n in cost.GEMM_N:
            m = rows_for(k, n, itemsize, hot)
            a = rng.standard_normal((m, k)).astype(dtype)
            b = rng.standard_normal((k, n)).astype(dtype)
            out = np.empty((m, n), dtype)
            np.matmul(a, b, out=out)  # first call: page faults, thread start-up
            cells.append((k, n, m, a, b, out))
    best = [float("inf")] * len(cells)
    order = [i for i in range(len(cells)) for _ in range(rounds)] if hot else list(range(len(cells))) * rounds
    for i in order:
        _k, _n, _m, a, b, out = cells[i]
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        best[i] = min(best[i], time.perf_counter() - start)
    table = []
    for row in range(len(cost.GEMM_K)):
        line = []
        for col in range(len(cost.GEMM_N)):
            k, n, m, *_ = cells[row * len(cost.GEMM_N) + col]
            rate = m * k * n / best[row * len(cost.GEMM_N) + col]
            line.append(float(f"{rate / UNITS[dtype]:.2g}"))
        table.append(line)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--hot", action="store_true", help="operands in cache, as in a band (GEMM_EFFICIENCY_HOT)")
    args = parser.parse_args()
    for dtype, name, current in (
        (np.float32, "GEMM_EFFICIENCY", cost.GEMM_EFFICIENCY),
        (np.float64, "GEMM_EFFICIENCY_F64", cost.GEMM_EFFICIENCY_F64),
    ):
        table = measure(dtype, args.rounds, hot=args.hot)
        print(f"{name} = (  # k = {cost.GEMM_K}, n = {cost.GEMM_N}")
        for k, line in zip(cost.GEMM_K, table):
            print(f"    ({', '.join(str(v) for v in line)}),  # k = {k}")
        print(")")
        ratios = [new / old for nl, ol in zip(table, current) for new, old in zip(nl, ol)]
        print(f"# against methods/cost.py: measured / table from {min(ratios):.2f} to {max(ratios):.2f}\n")


if __name__ == "__main__":
    main()
