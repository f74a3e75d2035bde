"""bench/gemm_efficiency.py's bookkeeping: the grid it times is the cost model's, the products it builds are sane.

(How fast the products run is the benchmark's business; these only check what it times and how it reports.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import gemm_efficiency  # noqa: E402  (bench/ is in the repository, not the package)

from handconv.methods import cost  # noqa: E402


@pytest.mark.parametrize("itemsize", [4, 8])
def test_rows_keep_every_product_small_and_tall_enough(itemsize):
    for k in cost.GEMM_K:
        for n in cost.GEMM_N:
            m = gemm_efficiency.rows_for(k, n, itemsize)
            assert m >= 256
            assert m * n * itemsize <= gemm_efficiency.OUTPUT_BYTES or m == 256
            assert m * k <= max(4e6, 256 * k)


def test_measure_gives_one_fraction_per_table_cell(monkeypatch):
    monkeypatch.setattr(cost, "GEMM_K", (3, 64))
    monkeypatch.setattr(cost, "GEMM_N", (1, 8, 32))
    table = gemm_efficiency.measure(np.float32, rounds=1)
    assert len(table) == 2 and all(len(row) == 3 for row in table)
    assert all(0 < value < 10 for row in table for value in row)


def test_the_tables_it_replaces_have_the_models_shape():
    for table in (cost.GEMM_EFFICIENCY, cost.GEMM_EFFICIENCY_F64):
        assert len(table) == len(cost.GEMM_K)
        assert all(len(row) == len(cost.GEMM_N) for row in table)
