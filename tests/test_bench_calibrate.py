"""bench/calibrate.py without timing anything: its grid is seeded and apart from the sweep's; its fit recovers weights.

(Timing is the benchmark's job, never a test's; these check the fit's arithmetic on synthetic times.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import calibrate  # noqa: E402  (bench/ is in the repository, not the package)
import sweep  # noqa: E402

from handconv.methods import im2col  # noqa: E402


def test_grid_is_seeded_and_held_apart_from_the_sweep():
    cells = calibrate.draw_cells(calibrate.SEED, 40)
    assert cells == calibrate.draw_cells(calibrate.SEED, 40)
    assert cells != calibrate.draw_cells(calibrate.SEED + 1, 40)
    swept = {(c.input_shape, c.filter_shape) for c in sweep.grid()}
    for n, h, w, ci, co, k, *_ in cells:
        assert ((n, h, w, ci), (k, k, ci, co)) not in swept
        assert calibrate.MIN_MACS <= calibrate.plan_of((n, h, w, ci, co, k, *_)).macs <= calibrate.MAX_MACS


def test_terms_sum_to_the_estimate():
    plan = calibrate.plan_of((2, 30, 40, 8, 16, 3, 1, 1, "SAME", "float32"))
    terms = calibrate.terms("im2col", plan)
    assert len(terms) == len(im2col.COST_WEIGHTS) and np.all(terms >= 0)
    assert terms @ np.array(im2col.COST_WEIGHTS) == pytest.approx(im2col.estimate(plan, calibrate.cost.REFERENCE_RATES))


def test_fit_recovers_the_weights_that_made_the_times(monkeypatch):
    """Times made from known weights (and the terms) give those weights back, within the ridge's pull."""
    pytest.importorskip("scipy")
    known = (2.0, 0.5, 1.5, 0.8)
    records = []
    for cell in calibrate.draw_cells(5, 60):
        plan = calibrate.plan_of(cell)
        # A timed run of an NCHW cell includes the NHWC copy of its input; the fit carries it unweighted.
        seconds = float(calibrate.terms("im2col", plan) @ np.array(known)) + calibrate.copy_in_seconds("im2col", plan)
        records.append({"cell": list(cell), "seconds": {"im2col": seconds}})
    fitted = calibrate.fit(records)["im2col"]
    np.testing.assert_allclose(fitted, known, rtol=0.25)
    assert known != im2col.COST_WEIGHTS  # the fit reports weights; it does not change the module


def test_layout_copies_are_charged_where_the_method_does_not_read_or_write_nchw():
    nhwc = calibrate.plan_of((2, 30, 40, 8, 16, 3, 1, 1, "SAME", "float32", "NHWC"))
    nchw = calibrate.plan_of((2, 30, 40, 8, 16, 3, 1, 1, "SAME", "float32", "NCHW"))
    assert calibrate.copy_in_seconds("im2col", nhwc) == 0 == calibrate.copy_back_seconds("im2col", nhwc)
    assert calibrate.copy_in_seconds("im2col", nchw) > 0 and calibrate.copy_back_seconds("im2col", nchw) > 0
    # im2col_nchw reads and writes the planes as they lie: nothing to add.
    assert calibrate.copy_in_seconds("im2col_nchw", nchw) == 0 == calibrate.copy_back_seconds("im2col_nchw", nchw)


def test_ladder_holds_the_work_and_varies_the_row_width():
    cells = calibrate.ladder_cells()
    assert len(cells) == len(calibrate.LADDER_WIDTHS) * len(calibrate.LADDER_CHANNELS)
    for cell in cells:
        plan = calibrate.plan_of(cell)
        assert plan.batch == 1 and plan.output_hw[1] in calibrate.LADDER_WIDTHS
        assert 0.5 * calibrate.LADDER_MACS <= plan.macs <= 1.5 * calibrate.LADDER_MACS
