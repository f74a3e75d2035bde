"""The plan: one normalisation of tf.nn.conv2d's arguments."""

from __future__ import annotations

import numpy as np
import pytest

import handconv
from handconv.plan import make_plan


def test_argument_forms_resolve_alike():
    base = make_plan((1, 9, 9, 2), (3, 3, 2, 1), 2, "SAME", dilations=2)
    for strides, dilations in [([2], [2]), ([2, 2], (2, 2)), ([1, 2, 2, 1], [1, 2, 2, 1]), (np.array([2, 2]), 2)]:
        plan = make_plan((1, 9, 9, 2), (3, 3, 2, 1), strides, "SAME", dilations=dilations)
        assert (plan.strides, plan.dilations, plan.pad_amounts) == (base.strides, base.dilations, base.pad_amounts)


def test_nchw_four_value_forms_follow_data_format():
    plan = make_plan((1, 2, 9, 10), (3, 3, 2, 1), [1, 1, 2, 3], [[0, 0], [0, 0], [1, 2], [3, 4]], "NCHW", [1, 1, 1, 2])
    assert plan.strides == (2, 3)
    assert plan.dilations == (1, 2)
    assert plan.pad_amounts == ((1, 2), (3, 4))
    assert plan.user_output_shape == (1, 1, *plan.output_hw)


def test_article_plan_reads_like_the_article():
    plan = make_plan((1, 5, 5, 3), (3, 3, 3, 1), 2, [[0, 0], [1, 1], [1, 1], [0, 0]])
    assert plan.padded_hw == (7, 7)
    assert plan.output_hw == (3, 3)
    assert "(5 - 3 + 2*1) / 2 + 1 = 3" in plan.describe()
    assert plan.taps == 27 and plan.macs == 9 * 27


def test_receptive_field_includes_dilation_gaps():
    plan = make_plan((1, 9, 9, 1), (3, 3, 1, 1), 2, "VALID", dilations=2)
    rows, cols = plan.receptive_field(1, 2)
    assert list(range(9))[rows] == [2, 4, 6]
    assert list(range(9))[cols] == [4, 6, 8]


def test_plans_are_cached():
    assert make_plan((1, 5, 5, 3), (3, 3, 3, 1), [2, 2], "SAME") is make_plan((1, 5, 5, 3), (3, 3, 3, 1), (2, 2), "SAME")


def test_pad_keeps_input_and_marks_nothing_else():
    plan = make_plan((1, 2, 3, 1), (3, 3, 1, 1), 1, [[0, 0], [1, 2], [0, 1], [0, 0]])
    x = np.arange(1.0, 7.0).reshape(1, 2, 3, 1)
    padded = plan.pad(x)
    assert padded.shape == (1, 5, 4, 1)
    np.testing.assert_array_equal(padded[0, 1:3, 0:3, 0], x[0, :, :, 0])
    assert padded.sum() == x.sum()


def test_output_shape_matches_conv2d():
    x, w = np.ones((2, 1, 3, 7, 8)), np.ones((3, 2, 3, 4))
    for padding in ("SAME", "VALID"):
        shape = handconv.output_shape(x.shape, w.shape, [2, 1], padding, "NCHW")
        assert handconv.conv2d(x, w, [2, 1], padding, "NCHW").shape == shape


def test_formula_axis_checked():
    with pytest.raises(handconv.HandconvError, match="axis"):
        make_plan((1, 5, 5, 3), (3, 3, 3, 1)).formula(2)


@pytest.mark.parametrize(
    "arguments",
    [
        dict(strides=True),
        dict(strides=2.0),
        dict(strides=1.0),
        dict(strides=[1, True]),
        dict(strides=1, dilations=True),
        dict(strides=1, dilations=[2.0, 1]),
    ],
)
def test_validation_does_not_depend_on_earlier_calls(arguments):
    """Issue 12.5: the plan cache once served True/2.0 the plan cached for 1/2."""
    x, w = np.ones((1, 5, 5, 1), np.float32), np.ones((3, 3, 1, 1), np.float32)
    for warm in (1, 2, [1, 1], [2, 2]):  # every int spelling the bad value is equal to
        handconv.conv2d(x, w, warm, "SAME", dilations=warm)
        handconv.conv2d(x, w, warm, "SAME")
    with pytest.raises(handconv.HandconvTypeError, match="int"):
        handconv.conv2d(x, w, padding="SAME", **arguments)
