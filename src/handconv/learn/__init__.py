"""``handconv.learn``: a small CNN trained by hand, in NumPy a reader can follow.

Layers (:mod:`~handconv.learn.layers`) keep each forward pass beside its
backward pass; the convolutions and their gradients are handconv's own
(:func:`handconv.conv2d`, :func:`handconv.conv2d_backprop_filter`,
:func:`handconv.conv2d_backprop_input`). Optimisers
(:mod:`~handconv.learn.optim`) follow Keras' update formulas, the initialiser
(:mod:`~handconv.learn.init`) Keras' Glorot-uniform rule, so the same network in
Keras, started from the same weights and fed the same batches, takes the same
steps (``tests/test_learn_train.py`` checks this).

No deep-learning framework is imported here. ``import handconv`` does not import
this package; ``import handconv.learn`` does.

>>> import numpy as np
>>> from handconv.learn import digits_model
>>> digits_model(seed=0)  # doctest: +NORMALIZE_WHITESPACE
Sequential(Conv2D(1 -> 8, 3x3, SAME) -> ReLU() -> MaxPool2D(2)
 -> Conv2D(8 -> 16, 3x3, SAME) -> ReLU() -> MaxPool2D(2)
 -> Flatten() -> Dense(64 -> 10))
"""

from .data import Split, check_dataset, load_digits
from .init import fans, glorot_uniform
from .layers import Conv2D, Dense, Flatten, Layer, MaxPool2D, Parameter, ReLU, Sequential, SoftmaxCrossEntropy, softmax
from .optim import OPTIMIZERS, SGD, Adam, cosine_decay
from .train import DEFAULTS, History, batches, digits_model, evaluate, fit, make_optimizer, train_step

__all__ = [
    "Conv2D",
    "ReLU",
    "MaxPool2D",
    "Flatten",
    "Dense",
    "SoftmaxCrossEntropy",
    "softmax",
    "Sequential",
    "Layer",
    "Parameter",
    "SGD",
    "Adam",
    "OPTIMIZERS",
    "cosine_decay",
    "fans",
    "glorot_uniform",
    "Split",
    "load_digits",
    "check_dataset",
    "DEFAULTS",
    "History",
    "digits_model",
    "make_optimizer",
    "batches",
    "train_step",
    "evaluate",
    "fit",
]
