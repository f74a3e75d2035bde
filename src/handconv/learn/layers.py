"""The layers of a small CNN, each forward pass right beside its backward pass.

Every layer has ``forward(x)``, which remembers what its backward pass needs,
and ``backward(grad_out)``, which takes the gradient of the loss with respect
to the layer's output and returns the gradient with respect to its input,
filling ``param.grad`` for each of its :class:`Parameter` objects on the way.
The convolution runs through handconv's own public functions:
:func:`handconv.conv2d` forward, and :func:`handconv.conv2d_backprop_filter`
and :func:`handconv.conv2d_backprop_input` backward, so the one plan that
fixes pad amounts and output sizes also fixes them for the gradients.

Images are ``(N, H, W, C)`` (TensorFlow's and Keras' default layout), filters
``(KH, KW, C_in, C_out)``, Dense weights ``(features_in, features_out)``: the
shapes Keras stores, so weights move between the two unchanged.

>>> import numpy as np
>>> relu = ReLU()
>>> relu.forward(np.array([[-1.0, 2.0]]))
array([[0., 2.]])
>>> relu.backward(np.array([[5.0, 5.0]]))
array([[0., 5.]])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import handconv

from ..errors import HandconvError
from .init import glorot_uniform

__all__ = [
    "Parameter",
    "Layer",
    "Conv2D",
    "ReLU",
    "MaxPool2D",
    "Flatten",
    "Dense",
    "SoftmaxCrossEntropy",
    "Sequential",
    "softmax",
]


class Parameter:
    """A trainable array and the gradient of the loss with respect to it.

    Attributes
    ----------
    name : str
        ``'conv1.kernel'``, ``'dense.bias'``, ...
    value : ndarray
        Updated in place by the optimisers.
    grad : ndarray of value's shape
        Written by the owning layer's ``backward``.
    """

    def __init__(self, name: str, value: np.ndarray) -> None:
        self.name = name
        self.value = value
        self.grad = np.zeros_like(value)

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, shape={self.value.shape}, dtype={self.value.dtype})"


class Layer:
    """Base class: no parameters, identity shapes."""

    name = "layer"

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        return ()

    def forward(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - every layer overrides
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Conv2D(Layer):
    """``out = conv2d(x, kernel, stride 1, padding) + bias``, as ``keras.layers.Conv2D``.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int
        Square filters ``kernel_size`` x ``kernel_size``.
    padding : {'SAME', 'VALID'}
    rng : numpy.random.Generator
        Draws the Glorot-uniform kernel; the bias starts at zero (Keras' defaults).
    dtype : numpy dtype
    name : str

    Shapes: ``x`` (N, H, W, in_channels) -> (N, OH, OW, out_channels); kernel
    (kernel_size, kernel_size, in_channels, out_channels); bias (out_channels,).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        padding: str = "SAME",
        *,
        rng: np.random.Generator,
        dtype: np.dtype | type = np.float32,
        name: str = "conv",
    ) -> None:
        self.name = name
        self.padding = padding
        shape = (kernel_size, kernel_size, in_channels, out_channels)
        self.kernel = Parameter(f"{name}.kernel", glorot_uniform(shape, rng, dtype))
        self.bias = Parameter(f"{name}.bias", np.zeros(out_channels, dtype))
        #: The first layer of a network needs no input gradient: nothing upstream learns from it.
        self.input_gradient = True

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        return (self.kernel, self.bias)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return handconv.conv2d(x, self.kernel.value, 1, self.padding) + self.bias.value

    # None for the first layer, which needs no input gradient: the one layer that returns it.
    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:  # type: ignore[override]
        self.out_backprop = grad_out  # kept for handconv.explain(..., grad="filter", out_backprop=...)
        # dL/dkernel[fy, fx, c, o] = sum over n, oy, ox of x_padded[n, oy + fy, ox + fx, c] * grad_out[n, oy, ox, o]
        self.kernel.grad = handconv.conv2d_backprop_filter(self.x, self.kernel.value.shape, grad_out, 1, self.padding)
        # Each output value got bias[o] once: its gradient is the sum of grad_out over n, oy, ox.
        self.bias.grad = grad_out.sum(axis=(0, 1, 2))
        if not self.input_gradient:
            return None
        # dL/dx: every input pixel collects grad_out times the weights of each window it sat in.
        return handconv.conv2d_backprop_input(self.x.shape, self.kernel.value, grad_out, 1, self.padding)

    def __repr__(self) -> str:
        kh, kw, ci, co = self.kernel.value.shape
        return f"Conv2D({ci} -> {co}, {kh}x{kw}, {self.padding})"


class ReLU(Layer):
    """``max(x, 0)``; the gradient passes where ``x > 0`` and is 0 elsewhere (at 0 too, as TF's ReluGrad)."""

    def __init__(self, name: str = "relu") -> None:
        self.name = name

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.positive = x > 0
        return np.where(self.positive, x, np.zeros((), x.dtype))

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return np.where(self.positive, grad_out, np.zeros((), grad_out.dtype))


class MaxPool2D(Layer):
    """Largest value of each ``pool`` x ``pool`` window, stride ``pool``, VALID (``keras.layers.MaxPooling2D``).

    Shapes: (N, H, W, C) -> (N, H // pool, W // pool, C); rows and columns that
    do not fill a window are dropped, as VALID pooling drops them.

    Forward is :func:`handconv.max_pool2d`; backward is
    :func:`handconv.max_pool2d_grad`: each window's gradient goes to the one
    input that was its maximum (on a tie, the first in row-major order, as
    TF's CPU ``MaxPoolGrad`` routes it).
    """

    def __init__(self, pool: int = 2, name: str = "maxpool") -> None:
        self.pool = pool
        self.name = name

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return handconv.max_pool2d(x, self.pool, self.pool, "VALID")

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return handconv.max_pool2d_grad(self.x, grad_out, self.pool, self.pool, "VALID")

    def __repr__(self) -> str:
        return f"MaxPool2D({self.pool})"


class Flatten(Layer):
    """(N, H, W, C) -> (N, H*W*C) in row-major order, as ``keras.layers.Flatten`` on NHWC."""

    def __init__(self, name: str = "flatten") -> None:
        self.name = name

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.input_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out.reshape(self.input_shape)


class Dense(Layer):
    """``out = x @ weights + bias``, as ``keras.layers.Dense`` without activation.

    Shapes: x (N, in_features) -> (N, out_features); weights (in_features,
    out_features); bias (out_features,).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        rng: np.random.Generator,
        dtype: np.dtype | type = np.float32,
        name: str = "dense",
    ) -> None:
        self.name = name
        self.weights = Parameter(f"{name}.kernel", glorot_uniform((in_features, out_features), rng, dtype))
        self.bias = Parameter(f"{name}.bias", np.zeros(out_features, dtype))

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        return (self.weights, self.bias)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return x @ self.weights.value + self.bias.value

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        self.weights.grad = self.x.T @ grad_out
        self.bias.grad = grad_out.sum(axis=0)
        return grad_out @ self.weights.value.T

    def __repr__(self) -> str:
        return f"Dense({self.weights.value.shape[0]} -> {self.weights.value.shape[1]})"


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, K) logits; subtracting the row maximum keeps ``exp`` from overflowing.

    >>> softmax(np.array([[0.0, 0.0], [1000.0, 1000.0]]))
    array([[0.5, 0.5],
           [0.5, 0.5]])
    """
    shifted = logits - logits.max(axis=1, keepdims=True)
    exps = np.exp(shifted)
    return exps / exps.sum(axis=1, keepdims=True)


class SoftmaxCrossEntropy:
    """Mean over the batch of ``-log softmax(logits)[label]``.

    Keras' ``SparseCategoricalCrossentropy(from_logits=True)`` with its default
    mean reduction. Its gradient with respect to the logits is
    ``(softmax(logits) - one_hot(labels)) / N``.

    >>> loss = SoftmaxCrossEntropy()
    >>> round(float(loss.forward(np.zeros((2, 4)), np.array([0, 3]))), 6)  # log(4)
    1.386294
    >>> loss.backward()
    array([[-0.375,  0.125,  0.125,  0.125],
           [ 0.125,  0.125,  0.125, -0.375]])
    """

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.probabilities = np.exp(log_probs)
        self.labels = labels
        rows = np.arange(len(labels))
        return -log_probs[rows, labels].mean()

    def backward(self) -> np.ndarray:
        grad = self.probabilities.copy()
        grad[np.arange(len(self.labels)), self.labels] -= 1
        return grad / len(self.labels)


class Sequential:
    """Layers applied one after another; ``backward`` runs them in reverse.

    Each layer keeps what its last ``forward`` saw for the ``backward`` that
    follows, so one model trains in one thread at a time; separate models (as
    separate :func:`handconv.learn.digits.train_digits` calls make) train in
    parallel threads safely.

    Attributes
    ----------
    layers : list of Layer
    input_shape : tuple (H, W, C)
        The image shape the network expects (checked by :func:`handconv.learn.fit`).
    classes : int
        Number of outputs (logits).
    """

    def __init__(self, layers: Sequence[Layer], input_shape: tuple[int, int, int], classes: int) -> None:
        self.layers = list(layers)
        self.input_shape = tuple(input_shape)
        self.classes = classes
        # The first layer's input gradient would go nowhere: skip computing it.
        first = self.layers[0]
        if isinstance(first, Conv2D):
            first.input_gradient = False

    @property
    def parameters(self) -> list[Parameter]:
        return [param for layer in self.layers for param in layer.parameters]

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Logits (N, classes) of images (N, H, W, C)."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_logits: np.ndarray) -> None:
        """Fill every parameter's ``grad`` from dL/dlogits (N, classes)."""
        grad = grad_logits
        for layer in reversed(self.layers):
            grad = layer.backward(grad)

    def activations(self, x: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """Each layer's output for ``x``, named ``'conv1'``, ``'relu1'``, ...: what the feature-map figure draws."""
        outputs = []
        for layer in self.layers:
            x = layer.forward(x)
            outputs.append((layer.name, x))
        return outputs

    def predict(self, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """Class probabilities (N, classes), computed ``batch_size`` images at a time."""
        if len(x) == 0:
            raise HandconvError("predict: x holds no images")
        return np.concatenate([softmax(self.forward(x[i : i + batch_size])) for i in range(0, len(x), batch_size)])

    def __repr__(self) -> str:
        return "Sequential(" + " -> ".join(map(repr, self.layers)) + ")"
