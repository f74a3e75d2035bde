"""bench/sweep.py without timing anything: the grid is fixed and covers what issue 13 asks; targets judge correctly.

(Timing is the benchmark's job, never a test's; these check the sweep's bookkeeping.)
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import sweep  # noqa: E402  (bench/ is in the repository, not the package)

from handconv.plan import make_plan  # noqa: E402


def test_grid_is_the_same_every_time_and_fits_the_budget():
    first, second = sweep.grid(), sweep.grid()
    assert first == second and len(first) == sweep.GRID_SIZE
    assert len({c.name for c in first}) == len(first)
    for case in first:
        plan = make_plan(
            case.input_shape, case.filter_shape, case.strides, case.padding, "NHWC", case.dilations, case.dtype
        )
        assert not plan.is_empty and plan.macs <= sweep.MAX_MACS


def test_grid_covers_the_issue_axes():
    cells = sweep.grid()
    assert {c.input_shape[3] for c in cells} == set(sweep.C_IN)
    assert {c.filter_shape[3] for c in cells} == set(sweep.C_OUT)
    assert {c.filter_shape[0] for c in cells} == set(sweep.KERNELS)
    assert {c.strides for c in cells} == {1, 2} and {c.dilations for c in cells} == {1, 2}
    assert {c.padding if isinstance(c.padding, str) else "EXPLICIT" for c in cells} == {"SAME", "VALID", "EXPLICIT"}
    assert {c.dtype for c in cells} == {"float32", "float64"} and {c.data_format for c in cells} == {"NHWC", "NCHW"}
    batches = {c.input_shape[0] for c in cells}
    assert min(batches) == 1 and max(batches) >= 32
    sizes = {c.input_shape[1:3] for c in cells}
    assert (8, 8) in sizes and any(h * w >= 720 * 1280 for h, w in sizes) and any(h != w for h, w in sizes)


def test_quick_grid_is_a_subset():
    quick = {c.name for c in sweep.all_cells(quick=True)}
    full = {c.name for c in sweep.all_cells(quick=False)}
    assert quick < full and {c.name for c in sweep.NAMED} <= quick


def _result(name, ratio, err=1e-7, tf_err=1e-7, core=False):
    case = {
        "name": name,
        "core": core,
        "dtype": "float32",
        "input_shape": (1, 8, 8, 1),
        "filter_shape": (3, 3, 1, 1),
        "padding": "SAME",
        "strides": 1,
        "dilations": 1,
        "data_format": "NHWC",
    }
    return {
        "case": case,
        "auto_over_tf": ratio,
        "auto_over_peer": ratio,
        "auto_over_best": 1.0,
        "auto": "im2col",
        "best_method": "im2col",
        "errors": {"hc:auto": err, "tf": tf_err, "torch": tf_err},
        "clean": True,
        "macs": 9,
        "best_over_tf": ratio,
        "ms": {"hc:auto": ratio, "tf": 1.0, "torch": 1.0},
    }


def _met(checks, prefix):
    return next(met for label, met, _ in checks if label.startswith(prefix))


def test_targets_judge_speed_and_accuracy():
    good = [_result("a", 0.5), _result("b", 1.3), _result("S1", 0.3, core=True)]
    checks = sweep.targets(good)
    assert _met(checks, "must: geomean") and _met(checks, "must: no cell above 2.0")
    assert not _met(checks, "goal: no cell above 1.25")
    assert _met(checks, "must: default's error")
    bad = good + [_result("c", 2.5, err=1e-5, tf_err=1e-6)]
    checks = sweep.targets(bad)
    assert not _met(checks, "must: no cell above 2.0") and not _met(checks, "must: default's error")
    assert math.isclose(sweep.geomean([0.5, 2.0]), 1.0)


def test_report_writes_table_and_heatmap(tmp_path):
    results = [_result("a", 0.5), _result("b", 2.2, core=True)]
    sweep.report(results, tmp_path / "run", {"loadavg_start": (0.0,), "gemm_peak": 100.0}, quick=True)
    assert (tmp_path / "run.png").stat().st_size > 1000
    table = (tmp_path / "run.md").read_text()
    assert table.index("| b |") < table.index("| a |")  # slowest first


def test_rounds_keep_every_library_away_from_spinning_workers():
    """numba's methods first, TF next, handconv's GEMM methods, PyTorch last; long pauses after OpenBLAS and PyTorch."""
    labels = {"hc:auto": "planar", "hc:im2col": "im2col", "tf": None, "torch": None, "hc:direct": "direct"}
    methods = {label: sweep._method_of(label, "planar", None) for label in labels}
    assert methods == labels
    order = sweep.cb.round_order(methods)
    assert [label for label, _ in order] == ["hc:auto", "hc:direct", "tf", "hc:im2col", "torch"]
    pauses = dict(order)
    # The round's first call follows the last round's PyTorch call; PyTorch follows a GEMM.
    assert pauses["hc:auto"] == pauses["torch"] == sweep.cb.BLAS_SPIN_S
    assert pauses["hc:direct"] == pauses["tf"] == pauses["hc:im2col"] == sweep.cb.SETTLE_SHORT_S
    assert sweep._method_of("before", "planar", "gemm") == "gemm"
    # Two GEMM methods in a row share OpenBLAS's ready workers: no long pause between them.
    gemms = sweep.cb.round_order({"hc:im2col": "im2col", "hc:gemm": "gemm"}, short=0.002)
    assert gemms == [("hc:im2col", 0.002), ("hc:gemm", 0.002)]


def test_confirmation_keeps_the_median_pass_and_says_what_it_changed():
    first, slow, quick = _result("a", 2.6), _result("a", 3.1), _result("a", 1.4)
    kept = sweep.confirmed([first, slow, quick])
    assert kept["auto_over_tf"] == 2.6 and kept["passes_over_tf"] == [2.6, 3.1, 1.4]  # the median can be the first
    kept = sweep.confirmed([_result("a", 2.6), _result("a", 1.3), _result("a", 1.5)])
    assert kept["auto_over_tf"] == 1.5 and kept["ms"]["hc:auto"] == 1.5 and kept["first_over_tf"] == 2.6
    assert sweep.confirmed([_result("a", 2.6), _result("a", 1.3)])["auto_over_tf"] == 2.6  # two passes: the slower
    results = [_result("a", 1.1), _result("b", 1.3), kept]
    assert sweep.to_confirm(results) == ["b"]  # a confirmed cell is not timed again (--resume)
    checks = sweep.targets(results)
    detail = next(d for label, _, d in checks if label.startswith("info: cells timed"))
    assert "1 above 2x" in detail  # the first passes alone are reported too
    table = sweep.markdown(results)
    assert "2.60, 1.30, 1.50" in table
