"""Glorot-uniform initialisation: Keras' fans and limits, seeded."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import reference

from handconv.learn import digits_model, fans, glorot_uniform


@pytest.mark.parametrize(
    "shape, expected", [((64, 10), (64, 10)), ((3, 3, 1, 8), (9, 72)), ((5, 3, 8, 16), (120, 240))]
)
def test_fans(shape, expected):
    assert fans(shape) == expected


@pytest.mark.references
@pytest.mark.parametrize("shape", [(3, 3, 1, 8), (3, 3, 8, 16), (64, 10)])
def test_same_range_as_keras_glorot_uniform(shape):
    reference("tensorflow")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    keras = reference("keras")
    # Many draws of each: both fill [-limit, limit] uniformly, so their extremes and spreads agree.
    ours = np.concatenate([glorot_uniform(shape, np.random.default_rng(seed)).ravel() for seed in range(200)])
    theirs = np.concatenate(
        [np.asarray(keras.initializers.GlorotUniform(seed=seed)(shape)).ravel() for seed in range(200)]
    )
    limit = np.sqrt(6 / sum(fans(shape)))
    assert np.abs(theirs).max() <= limit * (1 + 1e-6)
    assert np.abs(ours).max() <= limit
    assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=0.01)
    assert ours.std() == pytest.approx(theirs.std(), rel=0.05)
    assert ours.std() == pytest.approx(limit / np.sqrt(3), rel=0.05)  # the uniform's standard deviation


def test_seeded():
    a, b, c = digits_model(seed=1), digits_model(seed=1), digits_model(seed=2)
    for pa, pb, pc in zip(a.parameters, b.parameters, c.parameters):
        np.testing.assert_array_equal(pa.value, pb.value)
        assert pa.value.dtype == np.float32
        if pa.name.endswith("kernel"):
            assert not np.array_equal(pa.value, pc.value)
        else:
            assert not pa.value.any()  # biases start at zero, as Keras'
