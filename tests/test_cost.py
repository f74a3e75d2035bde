"""The cost model (handconv.methods.cost): robust choice among close estimates, per-machine rates, precision."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import handconv
from handconv import HandconvError, HandconvTypeError
from handconv.methods import METHODS, candidates, cost, im2col_nchw, select_method
from handconv.plan import make_plan

PLAN = make_plan((2, 16, 16, 8), (3, 3, 8, 8), 1, "SAME")
#: Estimated well above MEASURE_ABOVE_S: auto measures the machine before choosing.
BIG = make_plan((32, 64, 64, 64), (3, 3, 64, 64), 1, "SAME")


def _estimator(seconds_of):
    """An estimator computing seconds from the rates alone (the plan is fixed in these tests)."""
    return lambda plan, rates: seconds_of(rates)


def test_clear_winner_is_taken():
    estimators = {"slow": _estimator(lambda r: 1.0), "fast": _estimator(lambda r: 0.1)}
    assert cost.choose(PLAN, estimators, cost.REFERENCE_RATES) == "fast"


def test_close_call_goes_to_the_method_with_least_regret():
    """'fragile' is 5% faster with these rates but 2.4x slower when GEMMs run 1.6x slower (and no faster when
    they run faster); 'steady' never moves."""
    reference = cost.REFERENCE_RATES.gemm_flops
    estimators = {
        "fragile": _estimator(lambda r: 0.95 * max(1.0, reference / r.gemm_flops) ** 2),
        "steady": _estimator(lambda r: 1.0),
    }
    assert cost.choose(PLAN, estimators, cost.REFERENCE_RATES) == "steady"
    # Far apart (beyond CLOSE), the nominal estimate decides.
    estimators["fragile"] = _estimator(lambda r: 0.5 * (reference / r.gemm_flops) ** 2)
    assert cost.choose(PLAN, estimators, cost.REFERENCE_RATES) == "fragile"


def test_choose_refuses_when_nothing_is_finite():
    with pytest.raises(ValueError):
        cost.choose(PLAN, {"none": _estimator(lambda r: math.inf)}, cost.REFERENCE_RATES)


def test_scenarios_move_each_group_both_ways():
    shifted = cost.scenarios(cost.REFERENCE_RATES)
    assert shifted[0] == cost.REFERENCE_RATES
    assert len(shifted) == 1 + 2 * len(cost.RATE_GROUPS)
    gemm_rates = sorted(s.gemm_flops for s in shifted)
    assert gemm_rates[0] == pytest.approx(cost.REFERENCE_RATES.gemm_flops / cost.RATE_DOUBT)
    assert gemm_rates[-1] == pytest.approx(cost.REFERENCE_RATES.gemm_flops * cost.RATE_DOUBT)


def test_every_candidate_estimates_from_its_own_module():
    """Each method auto may pick brings a finite estimate on a plan it supports, and its flags.

    ``valid_taps`` is for auto only where padding is a large share of the receptive fields (its estimate is
    ``inf`` elsewhere, as the registry allows): an 11x11 filter on 8x8 maps is such a plan.
    """
    padded = make_plan((16, 8, 8, 64), (11, 11, 64, 8), 2, "SAME")
    finite = set()
    for plan in (PLAN, padded):
        finite |= {name for name, e in candidates(plan, "fast").items() if math.isfinite(e(plan, cost.REFERENCE_RATES))}
    assert finite == set(candidates(PLAN, "fast")) | set(candidates(padded, "fast"))
    assert math.isinf(METHODS["valid_taps"].estimate(PLAN, cost.REFERENCE_RATES))
    assert "naive" not in candidates(PLAN, "fast")
    assert METHODS["winograd"].transform and "winograd" not in candidates(PLAN, "accurate")


def test_channels_first_plans_charge_the_copy_back_to_nchw():
    """On NCHW memory, a method with NHWC output also pays the blocked copy back; im2col_nchw does not."""
    rates = cost.REFERENCE_RATES
    plan = make_plan((1, 1, 480, 640), (5, 5, 1, 32), 1, "SAME", "NCHW")
    estimators = candidates(plan)
    copy_back = cost.channels_first_seconds(plan, rates)
    assert copy_back > 0
    assert estimators["im2col"](plan, rates) == pytest.approx(METHODS["im2col"].estimate(plan, rates) + copy_back)
    assert estimators["im2col_nchw"](plan, rates) == METHODS["im2col_nchw"].estimate(plan, rates)
    # NHWC plans pay nothing extra, except im2col_nchw for moving its planes both ways.
    nhwc = make_plan((1, 480, 640, 3), (5, 5, 3, 32), 1, "SAME")
    assert candidates(nhwc)["im2col"] is METHODS["im2col"].estimate
    moved = sum(cost.channels_first_seconds(nhwc, rates, side) for side in ("input", "output"))
    planes = make_plan((1, 3, 480, 640), (5, 5, 3, 32), 1, "SAME", "NCHW")
    moves_weight = im2col_nchw.COST_WEIGHTS[-1]
    assert METHODS["im2col_nchw"].estimate(nhwc, rates) == pytest.approx(
        METHODS["im2col_nchw"].estimate(planes, rates) + moves_weight * moved
    )
    # One channel: both layouts are the same memory.
    single = make_plan((1, 1, 480, 640), (5, 5, 1, 1), 1, "SAME", "NCHW")
    assert cost.channels_first_seconds(single, rates) == 0.0


def test_gemm_efficiency_falls_for_thin_products():
    big = cost.gemm_efficiency(6400, 256)
    assert 0.9 <= big <= 1.0
    assert cost.gemm_efficiency(27, 3) < cost.gemm_efficiency(27, 16) < big
    assert cost.gemm_efficiency(9, 64) < cost.gemm_efficiency(144, 64) < cost.gemm_efficiency(1600, 64)
    assert cost.gemm_efficiency(400, 64, m=16) < cost.gemm_efficiency(400, 64)  # few rows


def test_gemm_efficiency_reads_the_hot_table_for_operands_in_cache_and_blends_towards_the_cold_one():
    for i, k in enumerate(cost.GEMM_K):
        for j, n in enumerate(cost.GEMM_N):
            in_cache = max(256, cost.HOT_OPERAND_BYTES // (4 * k))  # rows of a left operand that fits
            if in_cache * k * 4 <= cost.HOT_OPERAND_BYTES:
                assert cost.gemm_efficiency(k, n, m=in_cache) == pytest.approx(cost.GEMM_EFFICIENCY_HOT[i][j])
            from_memory = cost.COLD_OPERAND_BYTES // (4 * k) + 1
            assert cost.gemm_efficiency(k, n, m=from_memory) == pytest.approx(cost.GEMM_EFFICIENCY[i][j])
            assert cost.gemm_efficiency(k, n, m=from_memory, itemsize=8) == pytest.approx(
                cost.GEMM_EFFICIENCY_F64[i][j]
            )
    # Between the two sizes the rate moves monotonically from one table's value to the other's.
    rates = [cost.gemm_efficiency(400, 32, m=m) for m in (2048, 4096, 8192, 16384, 32768)]
    assert all(a >= b for a, b in zip(rates, rates[1:])) and rates[0] > rates[-1]


def test_gemm_efficiency_interpolates_between_and_clamps_beyond_the_table():
    for i, k in enumerate(cost.GEMM_K):
        for j, n in enumerate(cost.GEMM_N):
            assert cost.gemm_efficiency(k, n) == pytest.approx(cost.GEMM_EFFICIENCY[i][j])
    between = cost.gemm_efficiency(200, 48)
    corners = [cost.gemm_efficiency(k, n) for k in (144, 400) for n in (32, 64)]
    assert min(corners) <= between <= max(corners)
    assert cost.gemm_efficiency(10**6, 10**4) == cost.gemm_efficiency(cost.GEMM_K[-1], cost.GEMM_N[-1])
    assert cost.gemm_efficiency(1, 1) == cost.gemm_efficiency(cost.GEMM_K[0], cost.GEMM_N[0])


def test_strided_copies_are_slower_for_short_runs():
    r = cost.REFERENCE_RATES
    times = [cost.copy_seconds(r, 1e6, run) for run in (1, 3, 8, 32, 128, 1024)]
    assert times == sorted(times, reverse=True)
    assert times[-1] == pytest.approx(1e6 / (1.6 * r.bandwidth), rel=1e-6)  # long runs: a plain copy


def test_weighted_terms_need_one_weight_each():
    assert cost.weighted((2.0, 0.5), (1.0, 4.0)) == 4.0
    with pytest.raises(ValueError, match="3 cost terms but 2 weights"):
        cost.weighted((1.0, 1.0), (1.0, 2.0, 3.0))


def test_every_estimate_has_as_many_weights_as_terms():
    """Each candidate's estimate runs with its module's COST_WEIGHTS on plans of every regime."""
    plans = [
        make_plan((1, 5, 5, 3), (3, 3, 3, 1), 2, "SAME"),
        make_plan((8, 56, 56, 64), (3, 3, 64, 64)),
        make_plan((1, 480, 640, 3), (5, 5, 3, 8), 1, "SAME"),
        make_plan((2, 32, 32, 16), (1, 1, 16, 8)),
        make_plan((4, 64, 64, 8), (3, 3, 8, 8), 2, "VALID", dilations=2, dtype=np.float64),
    ]
    for plan in plans:
        for name, estimate in candidates(plan, "fast").items():
            assert estimate(plan, cost.REFERENCE_RATES) > 0, (name, plan)


# ------------------------------------------------------------- machine rates
@pytest.fixture
def rates_cache(tmp_path, monkeypatch):
    """A private cache folder, nothing measured yet in this process, measuring replaced by a fixed result."""
    monkeypatch.setenv("HANDCONV_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HANDCONV_RATES", "measure")
    monkeypatch.setattr(cost, "_measured", None)
    monkeypatch.setattr(cost, "_file_read", False)
    monkeypatch.setattr(cost, "_next_try", 0.0)
    calls = []

    def fake_measure():
        calls.append(1)
        return cost.REFERENCE_RATES.scaled(gemm_flops=0.5, bandwidth=2.0)

    monkeypatch.setattr(cost, "measure_rates", fake_measure)
    monkeypatch.setattr(cost, "machine_is_busy", lambda: False)
    return tmp_path, calls


def test_rates_are_measured_once_and_cached_on_disk(rates_cache, monkeypatch):
    folder, calls = rates_cache
    big = BIG
    rates = cost.current_rates(big)
    assert calls == [1] and rates.gemm_flops == cost.REFERENCE_RATES.gemm_flops * 0.5
    saved = json.loads((folder / "rates.json").read_text())
    assert saved[cost.fingerprint()]["bandwidth"] == cost.REFERENCE_RATES.bandwidth * 2.0
    # A new process (simulated): loads the file, measures nothing.
    monkeypatch.setattr(cost, "_measured", None)
    monkeypatch.setattr(cost, "_file_read", False)
    assert cost.current_rates(big) == rates and calls == [1]


def test_tiny_plans_never_wait_for_measuring(rates_cache):
    _, calls = rates_cache
    assert cost.current_rates(make_plan((1, 5, 5, 3), (3, 3, 3, 1), 2, "SAME")) == cost.REFERENCE_RATES
    assert calls == []


def test_reset_forgets_the_rates(rates_cache):
    folder, calls = rates_cache
    big = BIG
    cost.current_rates(big)
    cost.reset_rates()
    assert not (folder / "rates.json").exists()
    cost.current_rates(big)
    assert calls == [1, 1]


def test_a_busy_machine_is_not_measured(rates_cache, monkeypatch):
    """Other work on the cores would be measured instead of the machine: reference rates, nothing cached."""
    folder, calls = rates_cache
    monkeypatch.setattr(cost, "machine_is_busy", lambda: True)
    assert cost.current_rates(BIG) == cost.REFERENCE_RATES
    assert calls == [] and not (folder / "rates.json").exists()


def test_reference_setting_never_measures(rates_cache, monkeypatch):
    _, calls = rates_cache
    monkeypatch.setenv("HANDCONV_RATES", "reference")
    assert cost.current_rates(BIG) == cost.REFERENCE_RATES
    assert calls == []


def test_a_corrupt_cache_file_is_measured_again(rates_cache):
    folder, calls = rates_cache
    (folder / "rates.json").write_text("{not json")
    cost.current_rates(BIG)
    assert calls == [1]
    assert cost.fingerprint() in json.loads((folder / "rates.json").read_text())


def test_measure_rates_gives_positive_rates():
    """The real measurement (about a second): every rate positive and finite."""
    rates = cost.measure_rates()
    for name in ("gemm_flops", "bandwidth", "call", "lane_rate", "loop_rate", "vector_macs", "scalar_moves"):
        value = getattr(rates, name)
        assert 0 < value < math.inf, name
    assert rates.source.startswith("measured")


# ----------------------------------------------------------------- precision
def test_conv2d_validates_precision():
    x, w = np.ones((1, 5, 5, 1), np.float32), np.ones((3, 3, 1, 1), np.float32)
    with pytest.raises(HandconvError, match="precision='exact'.*'accurate', 'fast'"):
        handconv.conv2d(x, w, precision="exact")
    with pytest.raises(HandconvTypeError, match="precision=1"):
        handconv.conv2d(x, w, precision=1)


def test_fast_precision_may_use_winograd_and_stays_close(monkeypatch):
    """precision='fast' on a CNN layer runs Winograd: within 1e-4 of the float64 truth, further than the default."""
    monkeypatch.setenv("HANDCONV_RATES", "reference")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 28, 28, 128)).astype(np.float32)
    w = (rng.standard_normal((3, 3, 128, 128)) / math.sqrt(9 * 128)).astype(np.float32)
    plan = make_plan(x.shape, w.shape, 1, "SAME")
    assert select_method(plan, "fast") == "winograd"
    truth = METHODS["im2col"].run(x.astype(np.float64), w.astype(np.float64), plan)
    scale = np.abs(truth).max()
    fast = np.abs(handconv.conv2d(x, w, 1, "SAME", precision="fast") - truth).max() / scale
    accurate = np.abs(handconv.conv2d(x, w, 1, "SAME") - truth).max() / scale
    assert fast < 1e-4 and accurate < 2e-6
    assert accurate < fast


@pytest.mark.parametrize("input_shape", [(0, 8, 8, 3), (2, 2, 2, 3)], ids=["no images", "no output pixels"])
def test_every_estimate_of_an_empty_plan_is_a_number(input_shape):
    """No division by the output's size: an empty plan is estimated (and then computed) like any other."""
    plan = make_plan(input_shape, (3, 3, 3, 4), 1, "VALID")
    for name, estimate in candidates(plan).items():
        seconds = estimate(plan, cost.REFERENCE_RATES)
        assert seconds >= 0 and not math.isnan(seconds), name
