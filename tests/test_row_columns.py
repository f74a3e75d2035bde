"""row_columns: the stride phases of the filter rows, and bands of rows, of images and across images.

(That it equals the by-hand sums on random plans, live TF, and NaN/Inf placement is covered for every registered
method in test_methods.py and test_conv.py; these check what is particular to this method.)
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_methods import check, truth_and_bound

from handconv.conv import to_canonical
from handconv.methods import METHODS, row_columns
from handconv.plan import make_plan


@given(st.integers(1, 11), st.integers(1, 4), st.integers(1, 3))
def test_phases_read_every_filter_row_once_at_its_padded_row(kh, sh, dh):
    plan = make_plan((1, 40, 6, 1), (kh, 1, 1, 1), (sh, 1), "VALID", dilations=(dh, 1))
    found = [(phase, ky, offset) for phase, taps in row_columns.phases(plan) for ky, offset in taps]
    assert sorted(ky for _, ky, _ in found) == list(range(kh))
    for phase, ky, offset in found:
        assert 0 <= phase < sh and offset * sh + phase == ky * dh  # output row oy reads padded oy * sh + ky * dh


@pytest.mark.parametrize("band_bytes, min_pixels", [(1, 1), (3000, 1), (10**9, 1), (1, 40)])
@pytest.mark.parametrize(
    "strides, dilations, padding, data_format",
    [
        (1, 1, "SAME", "NHWC"),
        ((2, 1), (1, 2), "SAME", "NCHW"),
        ((3, 2), (2, 1), "VALID", "NHWC"),
        (2, 3, [[0, 0], [4, 1], [0, 2], [0, 0]], "NHWC"),
    ],
)
def test_bands_across_and_within_images(monkeypatch, band_bytes, min_pixels, strides, dilations, padding, data_format):
    """One band, several images per band (grid rows between images dropped) and row bands give the same sums."""
    monkeypatch.setattr(row_columns, "BAND_BYTES", band_bytes)
    monkeypatch.setattr(row_columns, "MIN_BAND_PIXELS", min_pixels)
    shape = (5, 13, 9, 3) if data_format == "NHWC" else (5, 3, 13, 9)
    plan = make_plan(shape, (4, 3, 3, 5), strides, padding, data_format, dilations, np.float64)
    rng = np.random.default_rng(3)
    x = to_canonical(rng.standard_normal(shape), plan)
    w = rng.standard_normal(plan.filter_shape)
    truth, bound = truth_and_bound(x, w, plan, "row_columns")
    check(METHODS["row_columns"].run(x, w, plan), truth, bound, plan)


def test_float32_sums_are_as_close_to_float64_as_im2col():
    """Each output is KH BLAS sums of KW * C products: no longer chains than im2col's."""
    plan = make_plan((2, 20, 24, 64), (11, 11, 64, 8), 1, "VALID")
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal(plan.input_shape), rng.standard_normal(plan.filter_shape)
    truth = METHODS["naive"].run(x, w, plan)
    errors = {
        name: np.abs(METHODS[name].run(x.astype(np.float32), w.astype(np.float32), plan) - truth).max()
        for name in ("row_columns", "im2col")
    }
    assert errors["row_columns"] <= 2 * errors["im2col"]


def test_workspace_covers_the_largest_band():
    plan = make_plan((3, 50, 40, 16), (5, 5, 16, 32), 1, "SAME")
    images, rows = row_columns._band_shape(plan)
    span = row_columns._span(plan)
    copied = images * (rows + span) * plan.output_hw[1] * 5 * 16 * 4
    assert row_columns.workspace_bytes(plan) >= copied
    assert row_columns.workspace_bytes(make_plan((1, 8, 8, 2), (3, 3, 1, 2))) == 0


def test_one_row_filters_and_channel_groups_are_not_its_plans():
    assert not row_columns.supports(make_plan((1, 8, 8, 2), (1, 3, 2, 2)))
    assert not row_columns.supports(make_plan((1, 8, 8, 2), (3, 3, 1, 2)))  # two groups
    assert row_columns.supports(make_plan((1, 8, 8, 2), (3, 1, 2, 2)))
