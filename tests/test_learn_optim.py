"""handconv.learn's optimisers and schedule against Keras' own, and against the formulas in float64."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import reference

from handconv.errors import HandconvError
from handconv.learn import SGD, Adam, Parameter, cosine_decay


@pytest.fixture(scope="module")
def keras():
    reference("tensorflow")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    return reference("keras")


def run_both(keras, ours_cls, keras_optimizer, steps=12, **kwargs):
    """The same gradient sequence through handconv's optimiser and Keras'; weights after each step."""
    rng = np.random.default_rng(0)
    start = [rng.standard_normal((3, 3, 1, 2)).astype(np.float32), rng.standard_normal(5).astype(np.float32)]
    params = [Parameter(f"p{i}", value.copy()) for i, value in enumerate(start)]
    ours = ours_cls(params, **kwargs)
    variables = [keras.Variable(value.copy()) for value in start]
    ours_after, keras_after = [], []
    for step in range(steps):
        # Gradients spanning magnitudes, some exactly 0: where epsilon's placement shows.
        grads = [
            (rng.standard_normal(v.shape) * 10.0 ** rng.integers(-6, 2, v.shape)).astype(np.float32) for v in start
        ]
        grads[0].reshape(-1)[step % 18] = 0.0
        for param, grad in zip(params, grads):
            param.grad = grad
        ours.step()
        keras_optimizer.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], variables))
        ours_after.append([p.value.copy() for p in params])
        keras_after.append([np.asarray(v.numpy()) for v in variables])
    return ours_after, keras_after


@pytest.mark.references
@pytest.mark.parametrize(
    "kwargs",
    [
        {"learning_rate": 0.01},
        {"learning_rate": 0.003, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3},
        {"learning_rate": 0.01, "weight_decay": 0.1},
    ],
)
def test_adam_equals_keras_adam(keras, kwargs):
    ours, theirs = run_both(keras, Adam, keras.optimizers.Adam(**kwargs), **kwargs)
    for step, (mine, keras_values) in enumerate(zip(ours, theirs)):
        for a, b in zip(mine, keras_values):
            # The same float32 formulas in the same order; float32 powers beta**t (and TF's fused kernels) may
            # round differently by an ulp, and the weights (|w| ~ 1, ulp 1.2e-7) collect that over the steps.
            np.testing.assert_allclose(a, b, rtol=2e-6, atol=5e-7, err_msg=f"step {step}")


@pytest.mark.references
@pytest.mark.parametrize(
    "kwargs",
    [{"learning_rate": 0.1}, {"learning_rate": 0.05, "momentum": 0.9}, {"learning_rate": 0.1, "weight_decay": 0.01}],
)
def test_sgd_equals_keras_sgd(keras, kwargs):
    ours, theirs = run_both(keras, SGD, keras.optimizers.SGD(**kwargs), **kwargs)
    for mine, keras_values in zip(ours, theirs):
        for a, b in zip(mine, keras_values):
            np.testing.assert_allclose(a, b, rtol=2e-6, atol=5e-7)


def test_adam_follows_the_formulas_in_float64():
    """Three steps of the paper's algorithm, written out with the bias-corrected moments."""
    g = [np.array([0.5, -2.0, 0.0]), np.array([0.1, -1.0, 3.0]), np.array([-0.4, 0.2, 0.0])]
    param = Parameter("w", np.array([1.0, 2.0, 3.0]))
    adam = Adam([param], learning_rate=0.1, beta_1=0.9, beta_2=0.99, epsilon=1e-3)
    w, m, v = np.array([1.0, 2.0, 3.0]), np.zeros(3), np.zeros(3)
    for t, grad in enumerate(g, start=1):
        param.grad = grad
        adam.step()
        m = 0.9 * m + 0.1 * grad
        v = 0.99 * v + 0.01 * grad**2
        # Keras' epsilon sits on the uncorrected sqrt(v): against the corrected sqrt(v_hat) it is
        # eps_hat = eps / sqrt(1 - beta_2**t), 10x eps at t = 1 here (PyTorch would use eps itself).
        w = w - 0.1 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.99**t)) + 1e-3 / np.sqrt(1 - 0.99**t))
        np.testing.assert_allclose(param.value, w, rtol=1e-14)
    assert adam.iterations == 3


@pytest.mark.references
def test_cosine_decay_equals_keras_schedule(keras):
    schedule = keras.optimizers.schedules.CosineDecay(0.01, decay_steps=50, alpha=0.1)
    for step in (0, 1, 17, 49, 50, 80):
        assert cosine_decay(0.01, step, 50, alpha=0.1) == pytest.approx(float(schedule(step)), rel=1e-6)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: SGD(p, learning_rate=0), r"SGD: learning_rate=0 must be a finite number > 0"),
        (lambda p: SGD(p, momentum=1.0), r"momentum=1.0 must be a number in \[0, 1\)"),
        (lambda p: Adam(p, learning_rate=float("nan")), r"learning_rate=nan"),
        (lambda p: Adam(p, beta_2=-0.1), r"beta_2=-0.1"),
        (lambda p: Adam(p, epsilon=-1), r"epsilon=-1"),
        (lambda p: Adam(p, weight_decay=-1), r"weight_decay=-1"),
    ],
)
def test_bad_settings_are_refused(make, message):
    with pytest.raises(HandconvError, match=message):
        make([Parameter("w", np.zeros(2))])
