"""Optimisers: SGD with momentum and Adam, with Keras' update formulas.

Each optimiser holds the parameters it updates and one state array per
parameter; ``step()`` applies one update from the gradients the backward pass
left in ``param.grad``. The arithmetic runs in each parameter's dtype, as
Keras runs it in the variable's dtype, so a float32 model follows Keras'
float32 updates.

>>> import numpy as np
>>> from handconv.learn.layers import Parameter
>>> p = Parameter("w", np.array([1.0]))
>>> p.grad = np.array([0.5])
>>> sgd = SGD([p], learning_rate=0.1, momentum=0.9)
>>> sgd.step(); p.value                      # velocity = -0.1 * 0.5
array([0.95])
>>> sgd.step(); p.value                      # velocity = 0.9 * -0.05 - 0.05
array([0.855])
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ..errors import HandconvError
from .layers import Parameter

__all__ = ["SGD", "Adam", "OPTIMIZERS", "cosine_decay"]


def _positive(value: float, name: str, owner: str) -> float:
    if not (isinstance(value, (int, float, np.floating)) and np.isfinite(value) and value > 0):
        raise HandconvError(f"{owner}: {name}={value!r} must be a finite number > 0")
    return float(value)


def _fraction(value: float, name: str, owner: str) -> float:
    if not (isinstance(value, (int, float, np.floating)) and 0 <= value < 1):
        raise HandconvError(f"{owner}: {name}={value!r} must be a number in [0, 1)")
    return float(value)


def _decay(parameters: list[Parameter], weight_decay: float, learning_rate: float) -> None:
    """Keras' decoupled weight decay, before the update: ``w = w - w * weight_decay * learning_rate``."""
    if weight_decay:
        for param in parameters:
            dtype = param.value.dtype.type
            param.value -= param.value * dtype(weight_decay) * dtype(learning_rate)


def _non_negative(value: float, name: str, owner: str) -> float:
    if not (isinstance(value, (int, float, np.floating)) and np.isfinite(value) and value >= 0):
        raise HandconvError(f"{owner}: {name}={value!r} must be a finite number >= 0")
    return float(value)


class SGD:
    """Stochastic gradient descent with momentum (``keras.optimizers.SGD``, ``nesterov=False``).

    Per parameter ``w`` with gradient ``g`` and velocity ``v`` (starting at 0)::

        v = momentum * v - learning_rate * g
        w = w + v

    With ``momentum=0`` this is plain ``w -= learning_rate * g``. A
    ``weight_decay`` first shrinks every weight as Keras does (see :class:`Adam`).
    """

    def __init__(
        self,
        parameters: Iterable[Parameter],
        learning_rate: float = 0.01,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        self.parameters = list(parameters)
        self.learning_rate = _positive(learning_rate, "learning_rate", "SGD")
        self.momentum = _fraction(momentum, "momentum", "SGD")
        self.weight_decay = _non_negative(weight_decay, "weight_decay", "SGD")
        self.velocities = [np.zeros_like(p.value) for p in self.parameters]
        self.iterations = 0

    def step(self) -> None:
        _decay(self.parameters, self.weight_decay, self.learning_rate)
        for param, velocity in zip(self.parameters, self.velocities):
            dtype = param.value.dtype.type
            velocity *= dtype(self.momentum)
            velocity -= dtype(self.learning_rate) * param.grad
            param.value += velocity
        self.iterations += 1


class Adam:
    """Adam (Kingma and Ba, 2015) exactly as ``keras.optimizers.Adam`` updates.

    Per parameter ``w`` with gradient ``g``, at step ``t = 1, 2, ...``, with
    ``m`` and ``v`` starting at 0::

        m = m + (g - m) * (1 - beta_1)          # = beta_1 * m + (1 - beta_1) * g
        v = v + (g**2 - v) * (1 - beta_2)
        alpha = learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        w = w - alpha * m / (sqrt(v) + epsilon)

    The bias corrections are folded into ``alpha`` and ``epsilon`` is added to
    ``sqrt(v)`` *uncorrected* (the paper's "epsilon hat" form, Keras' and TF's
    choice); PyTorch adds it to the corrected ``sqrt(v / (1 - beta_2**t))``,
    which differs while ``v`` is tiny.

    With ``weight_decay`` > 0 every parameter first shrinks by
    ``w = w - w * weight_decay * learning_rate`` (decoupled weight decay,
    Loshchilov and Hutter's AdamW, as ``keras.optimizers.Adam(weight_decay=...)``
    applies it, biases included).

    >>> import numpy as np
    >>> p = Parameter("w", np.array([1.0]))
    >>> p.grad = np.array([2.0])
    >>> adam = Adam([p], learning_rate=0.1, epsilon=0.0)
    >>> adam.step(); p.value    # the first step moves every weight by learning_rate * sign(g)
    array([0.9])
    """

    def __init__(
        self,
        parameters: Iterable[Parameter],
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float = 0.0,
    ) -> None:
        self.parameters = list(parameters)
        self.learning_rate = _positive(learning_rate, "learning_rate", "Adam")
        self.beta_1 = _fraction(beta_1, "beta_1", "Adam")
        self.beta_2 = _fraction(beta_2, "beta_2", "Adam")
        if not (isinstance(epsilon, (int, float, np.floating)) and 0 <= epsilon < np.inf):
            raise HandconvError(f"Adam: epsilon={epsilon!r} must be a finite number >= 0")
        self.epsilon = float(epsilon)
        self.weight_decay = _non_negative(weight_decay, "weight_decay", "Adam")
        self.m = [np.zeros_like(p.value) for p in self.parameters]
        self.v = [np.zeros_like(p.value) for p in self.parameters]
        self.iterations = 0

    def step(self) -> None:
        _decay(self.parameters, self.weight_decay, self.learning_rate)
        t = self.iterations + 1
        for param, m, v in zip(self.parameters, self.m, self.v):
            dtype = param.value.dtype.type
            beta_1, beta_2 = dtype(self.beta_1), dtype(self.beta_2)
            alpha = dtype(self.learning_rate) * np.sqrt(1 - beta_2 ** dtype(t)) / (1 - beta_1 ** dtype(t))
            g = param.grad
            m += (g - m) * (1 - beta_1)
            v += (g * g - v) * (1 - beta_2)
            param.value -= alpha * m / (np.sqrt(v) + dtype(self.epsilon))
        self.iterations = t


#: Optimisers by the name ``handconv train-digits --optimizer`` takes.
OPTIMIZERS = {"adam": Adam, "sgd": SGD}


def cosine_decay(initial_rate: float, step: int, total_steps: int, alpha: float = 0.0) -> float:
    """Learning rate at ``step`` (0-based) of ``total_steps``.

    Half a cosine from ``initial_rate`` down to ``alpha * initial_rate``.

    ``keras.optimizers.schedules.CosineDecay``'s formula (Loshchilov and Hutter's
    SGDR without restarts). Large steps early, small ones at the end, so the
    last epochs settle instead of jumping around a minimum.

    >>> [round(cosine_decay(0.01, s, 4), 5) for s in range(5)]
    [0.01, 0.00854, 0.005, 0.00146, 0.0]
    """
    progress = min(step, total_steps) / total_steps
    decayed = 0.5 * (1 + math.cos(math.pi * progress))
    return initial_rate * ((1 - alpha) * decayed + alpha)
