"""Seeded weight initialisation, with Keras' rules.

>>> import numpy as np
>>> fans((3, 3, 1, 8))
(9, 72)
>>> w = glorot_uniform((64, 10), np.random.default_rng(0))
>>> w.dtype, bool(np.abs(w).max() <= np.sqrt(6 / (64 + 10)))
(dtype('float32'), True)
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["fans", "glorot_uniform"]


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight array, as Keras computes them.

    A Dense kernel ``(in, out)`` has fans ``in`` and ``out``; a convolution
    kernel ``(KH, KW, C_in, C_out)`` has ``KH*KW*C_in`` and ``KH*KW*C_out``: each
    output value sees ``KH*KW*C_in`` inputs, each input feeds ``KH*KW*C_out``
    outputs.
    """
    if len(shape) < 2:
        raise ValueError(f"fans: a weight array has rank 2 or more, got shape {shape}")
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def glorot_uniform(shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """Uniform on ``[-limit, limit]`` with ``limit = sqrt(6 / (fan_in + fan_out))`` (Keras' default).

    Glorot and Bengio (2010) chose the limit so that the variance of the
    activations and of the gradients stays about the same from layer to layer.
    The draws come from ``rng`` (``numpy.random.default_rng(seed)``): the
    same seed gives the same weights, but not the numbers Keras' own seeded
    generator would draw; the step-match test copies handconv's weights into
    Keras instead.
    """
    fan_in, fan_out = fans(tuple(shape))
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)
