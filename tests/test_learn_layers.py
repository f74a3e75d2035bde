"""Every layer's backward pass against central finite differences of its forward pass, in float64.

For a layer ``f`` and a fixed random "upstream gradient" ``r``, the scalar
``L(x) = sum(f(x) * r)`` has ``dL/dx = backward(r)``. Central differences
``(L(x + h e) - L(x - h e)) / 2h`` with ``h = 1e-6`` are accurate to about
``h**2 * L''' + eps * |L| / h``, about 1e-9 relative here, so the bound
``1e-6`` relative leaves room for rounding and none for a wrong index, a
missing sum or a flipped kernel (those are off by O(1)). Inputs to ReLU and
max pooling stay at least 1e-3 away from their kinks (0, ties) so ``h`` never
crosses one.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import reference
from hypothesis import given, settings
from hypothesis import strategies as st

from handconv.learn import Conv2D, Dense, Flatten, MaxPool2D, ReLU, SoftmaxCrossEntropy, digits_model

H = 1e-6
RTOL = 1e-6


def numeric_gradient(loss, array):
    """d loss / d array by central differences, perturbing ``array`` in place one entry at a time."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + H
        up = loss()
        array[index] = saved - H
        down = loss()
        array[index] = saved
        grad[index] = (up - down) / (2 * H)
    return grad


def assert_close(analytic, numeric):
    scale = max(np.abs(numeric).max(), 1e-12)
    assert np.abs(analytic - numeric).max() <= RTOL * scale, np.abs(analytic - numeric).max() / scale


def away_from_kinks(rng, shape, gap=1e-3):
    """Random values, none within ``gap`` of 0 and no two within ``gap`` of each other."""
    values = rng.permutation(np.arange(np.prod(shape)) - np.prod(shape) / 2 + 0.5) * 2 * gap
    return (values + rng.uniform(-0.2, 0.2) * gap).reshape(shape)


def check_layer(layer, x, rng):
    upstream = rng.standard_normal(layer.forward(x).shape)

    def loss():
        return float((layer.forward(x) * upstream).sum())

    layer.forward(x)
    grad_x = layer.backward(upstream)
    for param in layer.parameters:
        assert param.grad.shape == param.value.shape
        assert_close(param.grad, numeric_gradient(loss, param.value))
    if grad_x is not None:
        assert grad_x.shape == x.shape
        assert_close(grad_x, numeric_gradient(loss, x))
    return grad_x


@settings(max_examples=8, deadline=None)
@given(
    size=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    channels=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    kernel=st.sampled_from([1, 2, 3]),
    padding=st.sampled_from(["SAME", "VALID"]),
    seed=st.integers(0, 2**16),
)
def test_conv2d_backward_equals_finite_differences(size, channels, kernel, padding, seed):
    rng = np.random.default_rng(seed)
    if padding == "VALID" and min(size) < kernel:
        size = (kernel, kernel)
    layer = Conv2D(channels[0], channels[1], kernel, padding, rng=rng, dtype=np.float64)
    layer.bias.value[:] = rng.standard_normal(channels[1])
    check_layer(layer, rng.standard_normal((2, *size, channels[0])), rng)


def test_first_conv_layer_skips_its_input_gradient_but_not_its_weights():
    model = digits_model(seed=0, dtype=np.float64)
    first = model.layers[0]
    assert first.input_gradient is False and model.layers[3].input_gradient is True
    rng = np.random.default_rng(1)
    first.forward(rng.standard_normal((2, 8, 8, 1)))
    assert first.backward(rng.standard_normal((2, 8, 8, 8))) is None
    assert np.abs(first.kernel.grad).max() > 0


def test_relu_backward_equals_finite_differences():
    rng = np.random.default_rng(2)
    check_layer(ReLU(), away_from_kinks(rng, (2, 3, 3, 2)), rng)


def test_relu_gradient_at_zero_is_zero_as_tf():
    relu = ReLU()
    relu.forward(np.array([[-1.0, 0.0, 1.0]]))
    np.testing.assert_array_equal(relu.backward(np.ones((1, 3))), [[0.0, 0.0, 1.0]])


@pytest.mark.parametrize("shape", [(2, 4, 4, 3), (1, 5, 7, 2)])  # 5x7: VALID drops the last row and column
def test_maxpool_backward_equals_finite_differences(shape):
    rng = np.random.default_rng(3)
    grad = check_layer(MaxPool2D(2), away_from_kinks(rng, shape), rng)
    if shape[1] % 2:
        assert not grad[:, -1].any() and not grad[:, :, -1].any()


@pytest.mark.references
def test_maxpool_routes_ties_as_tensorflow():
    tf = reference("tensorflow")
    rng = np.random.default_rng(4)
    # Small integers: windows full of equal maxima, and zeros as after a ReLU.
    x = rng.integers(0, 3, size=(3, 6, 6, 2)).astype(np.float32)
    upstream = rng.standard_normal((3, 3, 3, 2)).astype(np.float32)
    layer = MaxPool2D(2)
    ours = layer.forward(x)
    grad = layer.backward(upstream)
    x_tf = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_tf)
        out = tf.nn.max_pool2d(x_tf, 2, 2, "VALID")
    np.testing.assert_array_equal(ours, out.numpy())
    np.testing.assert_array_equal(grad, tape.gradient(out, x_tf, output_gradients=tf.constant(upstream)).numpy())


def test_flatten_and_dense_backward_equal_finite_differences():
    rng = np.random.default_rng(5)
    check_layer(Flatten(), rng.standard_normal((2, 2, 3, 4)), rng)
    layer = Dense(6, 4, rng=rng, dtype=np.float64)
    layer.bias.value[:] = rng.standard_normal(4)
    check_layer(layer, rng.standard_normal((3, 6)), rng)


def test_flatten_keeps_keras_row_major_order():
    x = np.arange(24.0).reshape(1, 2, 3, 4)
    np.testing.assert_array_equal(Flatten().forward(x)[0], np.arange(24.0))


def test_softmax_cross_entropy_backward_equals_finite_differences():
    rng = np.random.default_rng(6)
    logits = rng.standard_normal((5, 4)) * 3
    labels = rng.integers(0, 4, 5)
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(logits, labels)
    analytic = loss_fn.backward()
    assert_close(analytic, numeric_gradient(lambda: float(loss_fn.forward(logits, labels)), logits))


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    loss = SoftmaxCrossEntropy().forward(np.array([[1000.0, 0.0], [0.0, 1000.0]]), np.array([0, 0]))
    assert loss == pytest.approx(500.0)


def test_whole_network_backward_equals_finite_differences():
    """All layers chained: the gradient of the mean loss for every weight of a small digits network."""
    rng = np.random.default_rng(7)
    model = digits_model(seed=3, dtype=np.float64)
    for param in model.parameters:
        param.value += rng.uniform(-0.05, 0.05, param.value.shape)  # non-zero biases too
    x = rng.uniform(0, 1, (3, 8, 8, 1))
    labels = np.array([1, 7, 3])
    loss_fn = SoftmaxCrossEntropy()

    def loss():
        return float(loss_fn.forward(model.forward(x), labels))

    loss()
    model.backward(loss_fn.backward())
    analytic = [param.grad.copy() for param in model.parameters]
    # Every weight of the small layers, and a sample of 40 of the larger ones, keep the check quick.
    for param, grad in zip(model.parameters, analytic):
        flat = param.value.reshape(-1)
        picks = rng.choice(flat.size, min(flat.size, 40), replace=False)
        numeric = np.empty(len(picks))
        for i, pick in enumerate(picks):
            saved = flat[pick]
            flat[pick] = saved + H
            up = loss()
            flat[pick] = saved - H
            down = loss()
            flat[pick] = saved
            numeric[i] = (up - down) / (2 * H)
        # Looser than RTOL: a ReLU or a max may sit close to a kink for some sampled weight.
        scale = np.abs(grad).max()
        assert np.abs(grad.reshape(-1)[picks] - numeric).max() <= 1e-5 * scale, param.name
