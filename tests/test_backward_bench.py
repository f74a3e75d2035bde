"""bench/backward_bench.py's arithmetic (the timing itself is never asserted): targets and the truth."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import reference

BENCH = Path(__file__).parent.parent / "bench"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("backward_bench", BENCH / "backward_bench.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCH))


def result(name, dx, dw):
    return {"case": {"name": name}, "ratios": {"input": {"over_tf": dx}, "filter": {"over_tf": dw}}}


def test_targets_are_judged_over_both_gradients(bench):
    met = bench.targets([result("S1", 0.5, 2.0), result("S2", 1.0, 1.0)])
    assert [m for _, m, _ in met] == [True, True, False]
    assert "S1:filter" in met[2][2]
    missed = bench.targets([result("S1", 1.0, 3.5), result("S2", 1.0, 1.0)])
    assert [m for _, m, _ in missed][:2] == [True, False] and "S1:filter 3.50" in missed[1][2]


@pytest.mark.references
def test_the_truth_and_every_runner_agree_on_a_small_asymmetric_case(bench):
    reference("tensorflow")
    reference("torch")
    case = bench.Case("T", (2, 9, 9, 3), (3, 3, 3, 4), 2, "SAME")  # SAME pads (0, 1): asymmetric
    x64, w64 = bench.make_data(case)
    dy64 = bench.make_out_backprop(case)
    expected = bench.truth(case, x64, w64, dy64)
    for grad in bench.GRADS:
        for factory in bench.RUNNERS.values():
            call, fetch = factory(case, x64, w64, dy64, grad)
            np.testing.assert_allclose(fetch(call()), expected[grad], rtol=1e-4, atol=1e-4)
