"""2-D pooling and its gradients (handconv.pool) against live TF.

float32 throughout against TF: its float64 max_pool2d on CPU was seen to
return values off by ~1e-7 after the first call in a process (TF's issue, not
a tolerance handconv needs). Max pooling is exact (it picks an input value),
the average within float32 rounding of a sum of at most KH*KW terms.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import handconv
from handconv import HandconvError, HandconvTypeError


@st.composite
def pool_configs(draw, explicit=False):
    data_format = draw(st.sampled_from(["NHWC", "NCHW"]))
    h, w, c = draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.integers(1, 3))
    ksize = [draw(st.integers(1, 4)), draw(st.integers(1, 4))]
    strides = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
    kinds = ["SAME", "VALID", "EXPLICIT"] if explicit else ["SAME", "VALID"]
    kind = draw(st.sampled_from(kinds))
    padding = kind
    if kind == "EXPLICIT":  # TF wants each pad smaller than the window
        pairs = [[draw(st.integers(0, k - 1)), draw(st.integers(0, k - 1))] for k in ksize]
        padding = [[0, 0], *pairs, [0, 0]]
    return (2, h, w, c), ksize, strides, padding, data_format, draw(st.integers(0, 2**32 - 1))


def _tf_pool(tf, op, x, ksize, strides, padding, data_format):
    """TF's reference kernels compute NHWC on CPU: NCHW through the transposed problem."""
    if data_format == "NCHW":
        x = np.moveaxis(x, 1, -1)
    xv = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = op(xv, ksize, strides, padding)
    return xv, y, tape


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool_configs(explicit=True))
def test_property_max_pool_and_gradient_equal_tf(config):
    tf = reference("tensorflow")
    shape, ksize, strides, padding, data_format, seed = config
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)  # distinct values: no ties
    try:
        xv, y, tape = _tf_pool(tf, tf.nn.max_pool2d, x, ksize, strides, padding, "NHWC")
    except tf.errors.InvalidArgumentError:
        with pytest.raises(HandconvError):
            handconv.max_pool2d(x, ksize, strides, padding)
        return
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = tape.gradient(y, xv, output_gradients=tf.constant(dy)).numpy()
    user_x = np.moveaxis(x, -1, 1) if data_format == "NCHW" else x
    user_dy = np.moveaxis(dy, -1, 1) if data_format == "NCHW" else dy
    user_padding = (
        padding if isinstance(padding, str) or data_format == "NHWC" else [padding[0], padding[3], *padding[1:3]]
    )
    out = handconv.max_pool2d(user_x, ksize, strides, user_padding, data_format)
    grad = handconv.max_pool2d_grad(user_x, user_dy, ksize, strides, user_padding, data_format)
    if data_format == "NCHW":
        out, grad = np.moveaxis(out, 1, -1), np.moveaxis(grad, 1, -1)
    assert out.dtype == grad.dtype == np.float32
    np.testing.assert_array_equal(out, y.numpy())
    if y.shape.num_elements() == 0:  # TF returns uninitialised memory here; nothing was read: zeros
        assert not grad.any()
        return
    np.testing.assert_allclose(grad, dx, rtol=1e-6, atol=1e-6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool_configs())
def test_property_avg_pool_and_gradient_equal_tf(config):
    tf = reference("tensorflow")
    shape, ksize, strides, padding, data_format, seed = config
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    try:
        xv, y, tape = _tf_pool(tf, tf.nn.avg_pool2d, x, ksize, strides, padding, "NHWC")
    except tf.errors.InvalidArgumentError:  # a window that does not fit: negative output size
        with pytest.raises(HandconvError, match="negative"):
            handconv.avg_pool2d(x, ksize, strides, padding)
        return
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = tape.gradient(y, xv, output_gradients=tf.constant(dy)).numpy()
    user_x = np.moveaxis(x, -1, 1) if data_format == "NCHW" else x
    user_dy = np.moveaxis(dy, -1, 1) if data_format == "NCHW" else dy
    out = handconv.avg_pool2d(user_x, ksize, strides, padding, data_format)
    grad = handconv.avg_pool2d_grad(user_x.shape, user_dy, ksize, strides, padding, data_format)
    if data_format == "NCHW":
        out, grad = np.moveaxis(out, 1, -1), np.moveaxis(grad, 1, -1)
    np.testing.assert_allclose(out, y.numpy(), rtol=1e-5, atol=1e-6)
    if y.shape.num_elements() == 0:  # TF returns uninitialised memory here; nothing was read: zeros
        assert not grad.any()
        return
    np.testing.assert_allclose(grad, dx, rtol=1e-5, atol=1e-6)


def test_same_average_excludes_padding_like_tf():
    tf = reference("tensorflow")
    x = np.arange(1.0, 17.0, dtype=np.float32).reshape(1, 4, 4, 1)
    out = handconv.avg_pool2d(x, 3, 2, "SAME")
    np.testing.assert_allclose(out, tf.nn.avg_pool2d(x, 3, 2, "SAME").numpy(), rtol=1e-6)
    # The bottom-right window covers rows 2-3, columns 2-3 only: mean of 11, 12, 15, 16.
    assert out[0, 1, 1, 0] == pytest.approx((11 + 12 + 15 + 16) / 4)


def test_max_pool_gradient_ties_go_to_the_first_like_tf():
    tf = reference("tensorflow")
    x = np.array([[3.0, 3.0, 1.0], [3.0, 2.0, 3.0], [0.0, 3.0, 3.0]], dtype=np.float32).reshape(1, 3, 3, 1)
    dy = np.array([[1.0, 10.0], [100.0, 1000.0]], dtype=np.float32).reshape(1, 2, 2, 1)
    xv = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = tf.nn.max_pool2d(xv, 2, 1, "VALID")
    expected = tape.gradient(y, xv, output_gradients=tf.constant(dy)).numpy()
    np.testing.assert_array_equal(handconv.max_pool2d_grad(x, dy, 2, 1, "VALID"), expected)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dtype_and_batch_dims(dtype):
    x = np.arange(2 * 3 * 4 * 4 * 2, dtype=dtype).reshape(2, 3, 4, 4, 2)
    out = handconv.max_pool2d(x, 2, 2, "VALID")
    assert out.dtype == dtype and out.shape == (2, 3, 2, 2, 2)
    np.testing.assert_array_equal(out[1, 2], handconv.max_pool2d(x[1, 2][None], 2, 2, "VALID")[0])
    avg = handconv.avg_pool2d(x, [1, 2, 2, 1], [1, 2, 2, 1], "SAME")
    assert avg.dtype == dtype


def test_int32_max_pool_pads_with_the_smallest_int():
    x = -np.arange(1, 10, dtype=np.int32).reshape(1, 3, 3, 1)
    out = handconv.max_pool2d(x, 3, 2, "SAME")
    assert out.dtype == np.int32 and out[0, 1, 1, 0] == -5  # max of -5, -6, -8, -9; padding (0) never wins


def test_bad_input():
    with pytest.raises(HandconvError, match=r"ksize=\[1, 2, 2, 2\]: entries for the batch and channel"):
        handconv.max_pool2d(np.ones((1, 4, 4, 2)), [1, 2, 2, 2], 1, "VALID")
    with pytest.raises(
        HandconvError, match=r"out_backprop has shape \(1, 3, 3, 1\) but the convolution gives \(1, 2, 2, 1\)"
    ):
        handconv.max_pool2d_grad(np.ones((1, 4, 4, 1)), np.ones((1, 3, 3, 1)), 2, 2, "VALID")
    with pytest.raises(HandconvError, match=r"input_sizes=\(4, 4, 1\) has length 3; expected 4"):
        handconv.avg_pool2d_grad((4, 4, 1), np.ones((1, 2, 2, 1)), 2, 2, "VALID")
    with pytest.raises(HandconvTypeError, match="int32; expected float16, float32 or float64"):
        handconv.avg_pool2d(np.ones((1, 4, 4, 1), np.int32), 2, 2, "VALID")
