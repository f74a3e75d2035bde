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
    assert make_plan((1, 5, 5, 3), (3, 3, 3, 1), [2, 2], "SAME") is make_plan(
        (1, 5, 5, 3), (3, 3, 3, 1), (2, 2), "SAME"
    )


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


# ------------------------------------------------ validation does not depend on the cache
@pytest.mark.parametrize("bad", [True, 2.0, [1, True], np.array([2.0, 2.0])])
def test_validation_does_not_depend_on_the_plan_cache(bad):
    """strides=True (== 1) or 2.0 (== 2) must be refused even right after the equal valid call was cached."""
    from handconv import HandconvTypeError

    good = 1 if bad is True else [1, 1] if isinstance(bad, list) else 2
    make_plan((1, 5, 5, 3), (3, 3, 3, 1), good, "SAME")
    make_plan((1, 5, 5, 3), (3, 3, 3, 1), 1, "SAME", dilations=good)
    with pytest.raises(HandconvTypeError):
        make_plan((1, 5, 5, 3), (3, 3, 3, 1), bad, "SAME")
    with pytest.raises(HandconvTypeError):
        make_plan((1, 5, 5, 3), (3, 3, 3, 1), 1, "SAME", dilations=bad)


def test_padding_pairs_with_bools_are_refused_after_the_int_call():
    from handconv import HandconvTypeError

    make_plan((1, 5, 5, 1), (3, 3, 1, 1), 1, [[0, 0], [1, 1], [1, 1], [0, 0]])
    with pytest.raises(HandconvTypeError):
        make_plan((1, 5, 5, 1), (3, 3, 1, 1), 1, [[0, 0], [True, 1], [1, 1], [0, 0]])


# ------------------------------------------------------------ the N-d general plan
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from handconv import HandconvError, shapes  # noqa: E402
from handconv.plan import (  # noqa: E402
    backprop_filter_plan,
    backprop_input_plan,
    general_plan,
    make_conv_plan,
    transposed_plan,
)


def test_two_d_names_are_the_spatial_tuples():
    plan = make_plan((2, 7, 9, 3), (3, 2, 3, 4), [2, 1], "SAME", dilations=[1, 2])
    assert plan.input_hw == plan.input_spatial == (7, 9)
    assert plan.filter_hw == plan.filter_spatial == (3, 2)
    assert plan.output_hw == plan.output_spatial
    assert plan.effective_filter_hw == (3, 3) and plan.padded_hw == plan.padded_spatial
    assert plan.is_plain_2d and plan.lhs_dilations == (1, 1) and plan.batch_groups == 1


def test_nd_plans_follow_tf_rules_per_axis():
    plan = make_conv_plan((2, 5, 8, 9, 3), (3, 3, 2, 3, 4), [1, 2, 1, 3, 1], "SAME", "NDHWC")
    assert plan.spatial_rank == 3 and plan.strides == (2, 1, 3)
    assert plan.output_spatial == (3, 8, 3)  # ceil(5/2), ceil(8/1), ceil(9/3)
    assert plan.user_output_shape == (2, 3, 8, 3, 4)
    for axis in range(3):
        assert plan.formula(axis).startswith(f"ceil({plan.input_spatial[axis]} / {plan.strides[axis]})")
    assert "depth" in plan.describe()
    one = make_conv_plan((4, 10, 2), (3, 2, 5), 3, [[0, 0], [2, 1], [0, 0]], "NWC")
    assert one.output_spatial == ((10 + 3 - 3) // 3 + 1,) and one.as_2d().output_hw == (1, 4)
    with pytest.raises(
        HandconvError, match=r"strides=\[1, 2\] has length 2; expected an int or a list of length 1 or 3"
    ):
        make_conv_plan((4, 10, 2), (3, 2, 5), [1, 2], "SAME")


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 30),
    st.integers(1, 6),
    st.integers(1, 4),
    st.integers(1, 3),
    st.sampled_from(["SAME", "VALID", (0, 0), (1, 2), (3, 0)]),
)
def test_property_transposed_sizes_are_exactly_the_sizes_the_forward_maps_back(size, k, stride, dilation, padding):
    """transposed_sizes(size) = {n : output_size(n) == size}, checked over every n near it."""
    fits = shapes.transposed_sizes(size, k, stride, padding, dilation)
    for n in range(0, (size + 2) * stride + k * dilation + 8):
        try:
            out = shapes.output_size(n, k, stride, padding, dilation)
        except HandconvError:
            out = None
        assert (out == size) == (n in fits), (n, out)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 12),
    st.integers(1, 4),
    st.integers(1, 3),
    st.tuples(st.integers(-3, 4), st.integers(-3, 4)),
    st.integers(1, 3),
    st.integers(1, 3),
)
def test_property_general_output_size_matches_jax(size, k, stride, pad, dilation, lhs_dilation):
    from conftest import reference

    jax = reference("jax")
    padded = shapes.dilated_size(size, lhs_dilation) + pad[0] + pad[1]
    if padded < 0 or size == 0:
        return
    out = shapes.general_output_size(size, k, stride, pad, dilation, lhs_dilation)
    shape = jax.eval_shape(
        lambda x, w: jax.lax.conv_general_dilated(
            x, w, (stride,), [pad], (lhs_dilation,), (dilation,), dimension_numbers=("NWC", "WIO", "NWC")
        ),
        jax.ShapeDtypeStruct((1, size, 1), np.float32),
        jax.ShapeDtypeStruct((k, 1, 1), np.float32),
    ).shape
    assert out == max(shape[1], 0)


def test_backprop_plans_give_the_input_and_filter_shapes():
    for args in [
        ((2, 7, 8, 6), (3, 2, 3, 4), 2, "SAME", "NHWC", None),
        ((1, 9, 9, 2), (3, 3, 2, 2), 3, "VALID", "NHWC", 2),
        ((1, 2, 10, 6), (2, 4, 1, 6), [1, 3], [[0, 0], [0, 0], [5, 0], [0, 4]], "NCHW", None),
    ]:
        forward = make_plan(*args)
        dx_plan, dw_plan = backprop_input_plan(forward), backprop_filter_plan(forward)
        assert dx_plan.output_shape == forward.input_shape
        assert dx_plan.lhs_dilations == forward.strides and dx_plan.strides == (1, 1)
        assert dw_plan.output_shape == (forward.filter_in_channels, *forward.filter_hw, forward.out_channels)
        assert dw_plan.batch_groups == forward.groups and dw_plan.dilations == forward.strides
        assert "conv2d_backprop_input" in dx_plan.describe() and "input dilation" in dx_plan.describe()


def test_general_plan_pads_dilate_and_crop():
    plan = general_plan((1, 3, 1), (1, 1, 1), 1, [(1, -2)], lhs_dilations=3)
    x = np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1)
    # dilated: 1 0 0 2 0 0 3; one zero before; the last two samples cropped.
    np.testing.assert_array_equal(plan.pad(x)[0, :, 0], [0, 1, 0, 0, 2, 0])
    assert plan.output_spatial == (6,) and not plan.is_plain_2d


def test_transposed_plan_names_the_fitting_sizes():
    with pytest.raises(HandconvError, match=r"width: \(9 - 3 \+ 2\*0\) / 2 \+ 1 = 4.*must be in 7\.\.8"):
        transposed_plan((1, 3, 3, 1), (3, 3, 1, 1), (1, 7, 9, 1), 2, "VALID")
    assert transposed_plan((1, 3, 3, 1), (3, 3, 1, 1), (1, 8, 7, 1), 2, "VALID").input_spatial == (8, 7)
