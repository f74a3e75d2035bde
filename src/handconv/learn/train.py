"""The mini-batch training loop, and the digits network of ``handconv train-digits``.

One training step, in full (:func:`train_step`)::

    logits = model.forward(x)                  # conv -> relu -> pool -> ... -> dense
    loss = loss_fn.forward(logits, y)          # mean softmax cross-entropy
    model.backward(loss_fn.backward())         # every layer fills param.grad
    optimizer.step()                           # every param.value moves

Nothing here imports a deep-learning framework: the convolutions and their
gradients are handconv's own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import HandconvError
from .data import DIGITS_CLASSES, DIGITS_SHAPE, check_dataset
from .layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, SoftmaxCrossEntropy
from .optim import OPTIMIZERS

__all__ = [
    "DEFAULTS",
    "digits_model",
    "make_optimizer",
    "batches",
    "train_step",
    "evaluate",
    "History",
    "fit",
]

#: ``handconv train-digits``' defaults. Picked by measurement (README, "Learning the kernels"): seeds 0-9 all
#: pass 0.97 test accuracy (lowest 0.975). Without weight decay the network fits the training set exactly
#: (loss ~0.002) and a few seeds end at 0.967-0.969; the cosine decay lets the last epochs settle instead of
#: jumping around.
DEFAULTS: dict[str, Any] = {
    "epochs": 40,
    "batch_size": 32,
    "learning_rate": 0.01,
    "optimizer": "adam",
    "weight_decay": 0.1,
}


def digits_model(seed: int = 0, dtype: np.dtype | type = np.float32) -> Sequential:
    """conv(8, 3x3, SAME) -> ReLU -> maxpool 2 -> conv(16, 3x3, SAME) -> ReLU -> maxpool 2 -> dense(10).

    Takes (N, 8, 8, 1) images and returns (N, 10) logits (softmax is applied by
    the loss and by :meth:`Sequential.predict`). Shapes through the network:
    8x8x1 -> 8x8x8 -> 4x4x8 -> 4x4x16 -> 2x2x16 -> 64 -> 10. Kernels are
    Glorot-uniform from ``numpy.random.default_rng(seed)``, biases zero.
    """
    rng = np.random.default_rng(seed)
    return Sequential(
        [
            Conv2D(1, 8, 3, "SAME", rng=rng, dtype=dtype, name="conv1"),
            ReLU("relu1"),
            MaxPool2D(2, "pool1"),
            Conv2D(8, 16, 3, "SAME", rng=rng, dtype=dtype, name="conv2"),
            ReLU("relu2"),
            MaxPool2D(2, "pool2"),
            Flatten("flatten"),
            Dense(2 * 2 * 16, DIGITS_CLASSES, rng=rng, dtype=dtype, name="dense"),
        ],
        input_shape=DIGITS_SHAPE,
        classes=DIGITS_CLASSES,
    )


def make_optimizer(
    name: str, model: Sequential, learning_rate: float, *, momentum: float = 0.9, weight_decay: float = 0.0
):
    """``'adam'`` or ``'sgd'`` (with ``momentum``) over all of ``model``'s parameters."""
    if name not in OPTIMIZERS:
        raise HandconvError(f"optimizer={name!r} is not known; expected one of {sorted(OPTIMIZERS)}")
    if name == "sgd":
        return OPTIMIZERS[name](model.parameters, learning_rate, momentum=momentum, weight_decay=weight_decay)
    return OPTIMIZERS[name](model.parameters, learning_rate, weight_decay=weight_decay)


def batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Indices of one epoch's mini-batches: a fresh shuffle, cut into ``batch_size`` pieces (the last may be short).

    >>> parts = batches(5, 2, np.random.default_rng(0))
    >>> [len(part) for part in parts], sorted(np.concatenate(parts).tolist())
    ([2, 2, 1], [0, 1, 2, 3, 4])
    """
    order = rng.permutation(n)
    return [order[start : start + batch_size] for start in range(0, n, batch_size)]


def train_step(model: Sequential, loss_fn: SoftmaxCrossEntropy, optimizer: Any, x: np.ndarray, y: np.ndarray) -> float:
    """One update on one mini-batch; returns the batch's loss before the update."""
    loss = loss_fn.forward(model.forward(x), y)
    model.backward(loss_fn.backward())
    optimizer.step()
    return float(loss)


def evaluate(model: Sequential, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> tuple[float, float]:
    """``(mean cross-entropy, accuracy)`` of ``model`` on images ``x`` (N, H, W, C) with labels ``y`` (N,)."""
    x, y = check_dataset(x, y, model.input_shape, model.classes, "evaluation")
    probabilities = model.predict(x, batch_size)
    picked = probabilities[np.arange(len(y)), y]
    loss = float(-np.log(np.maximum(picked, np.finfo(picked.dtype).tiny)).mean())
    accuracy = float((probabilities.argmax(axis=1) == y).mean())
    return loss, accuracy


@dataclass
class History:
    """Per-epoch numbers: lists indexed by epoch (0 = after the first epoch).

    ``train_loss``/``train_accuracy`` are measured on the whole training set
    after each epoch (not averaged over the epoch's changing weights), as
    ``test_loss``/``test_accuracy`` are on the test set.
    """

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    step_losses: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[float]]:
        return {
            "train_loss": self.train_loss,
            "train_accuracy": self.train_accuracy,
            "test_loss": self.test_loss,
            "test_accuracy": self.test_accuracy,
        }


def fit(
    model: Sequential,
    optimizer: Any,
    x_train: Any,
    y_train: Any,
    x_test: Any = None,
    y_test: Any = None,
    *,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    progress: bool = True,
    schedule: Callable[[int], float] | None = None,
    on_epoch: Callable[[int, History], None] | None = None,
) -> History:
    """Train ``model`` with mini-batches of shuffled training images; score it after every epoch.

    Parameters
    ----------
    model : Sequential
    optimizer : SGD or Adam
        Built over ``model.parameters``.
    x_train : array_like of shape (N, H, W, C)
    y_train : array_like of shape (N,)
        Integer labels in ``[0, model.classes)``.
    x_test, y_test : optional
        Scored after every epoch (the training set always is).
    epochs, batch_size : int
        At least 1.
    seed : int
        Seeds the shuffle of each epoch (the weights were seeded when the
        model was made).
    progress : bool
        A tqdm bar per epoch on stderr.
    schedule : callable, optional
        ``schedule(step)`` gives the learning rate for step ``step`` (0-based,
        counted over all epochs), e.g. ``lambda s: cosine_decay(0.01, s,
        total_steps)``; without it the optimiser's rate stays as it is.
    on_epoch : callable, optional
        Called as ``on_epoch(epoch, history)`` after each epoch.

    Raises
    ------
    HandconvError
        Bad images or labels (shape, range, empty set, NaN), bad counts, or a
        loss that stops being finite (the run stops there rather than go on
        with a NaN model).
    """
    x_train, y_train, x_test, y_test = _check_fit_data(model, x_train, y_train, x_test, y_test, epochs, batch_size)
    rng = np.random.default_rng(seed)
    loss_fn = SoftmaxCrossEntropy()
    history = History()
    tqdm = _tqdm() if progress else None
    for epoch in range(epochs):
        epoch_batches = batches(len(x_train), batch_size, rng)
        # Updated by hand rather than iterated: iterating closes the bar before the epoch's scores are shown.
        bar = tqdm(total=len(epoch_batches), desc=f"epoch {epoch + 1}/{epochs}", unit="batch") if tqdm else None
        try:
            for step, indices in enumerate(epoch_batches):
                if schedule is not None:
                    optimizer.learning_rate = schedule(len(history.step_losses))
                loss = _checked_step(model, loss_fn, optimizer, x_train[indices], y_train[indices], epoch, step)
                history.step_losses.append(loss)
                if bar is not None:
                    if step % 10 == 0:
                        bar.set_postfix(batch_loss=f"{loss:.3f}", refresh=False)
                    bar.update(1)
            postfix = _score_epoch(model, history, x_train, y_train, x_test, y_test)
            if bar is not None:
                bar.set_postfix(postfix)
        finally:
            if bar is not None:
                bar.close()
        if on_epoch is not None:
            on_epoch(epoch, history)
    return history


def _check_fit_data(
    model: Sequential, x_train: Any, y_train: Any, x_test: Any, y_test: Any, epochs: Any, batch_size: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """:func:`fit`'s counts and data checked, the images in the model's dtype."""
    for value, name in ((epochs, "epochs"), (batch_size, "batch_size")):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise HandconvError(f"{name}={value!r} must be an integer >= 1")
    x_train, y_train = check_dataset(x_train, y_train, model.input_shape, model.classes, "training")
    if (x_test is None) != (y_test is None):
        raise HandconvError("give both x_test and y_test, or neither")
    if x_test is not None:
        x_test, y_test = check_dataset(x_test, y_test, model.input_shape, model.classes, "test")
    dtype = model.parameters[0].value.dtype
    x_train = x_train.astype(dtype, copy=False)
    if x_test is not None:
        x_test = x_test.astype(dtype, copy=False)
    return x_train, y_train, x_test, y_test


def _checked_step(
    model: Sequential, loss_fn: SoftmaxCrossEntropy, optimizer: Any, x: np.ndarray, y: np.ndarray, epoch: int, step: int
) -> float:
    """One :func:`train_step`, refusing to go on once the loss is no longer finite."""
    # A diverging run overflows on its way to a NaN loss: the check below reports it, not NumPy.
    with np.errstate(over="ignore", invalid="ignore"):
        loss = train_step(model, loss_fn, optimizer, x, y)
    if not math.isfinite(loss):
        raise HandconvError(
            f"the training loss became {loss} at epoch {epoch + 1}, step {step + 1}: the weights "
            f"diverged; try a smaller learning rate (now {optimizer.learning_rate:g})"
        )
    return loss


def _score_epoch(
    model: Sequential, history: History, x_train: np.ndarray, y_train: np.ndarray, x_test: Any, y_test: Any
) -> dict[str, str]:
    """Score the model on the training (and test) set into ``history``; returns the progress bar's postfix."""
    train_loss, train_accuracy = evaluate(model, x_train, y_train)
    history.train_loss.append(train_loss)
    history.train_accuracy.append(train_accuracy)
    postfix = {"train_loss": f"{train_loss:.3f}", "train_acc": f"{train_accuracy:.3f}"}
    if x_test is not None:
        test_loss, test_accuracy = evaluate(model, x_test, y_test)
        history.test_loss.append(test_loss)
        history.test_accuracy.append(test_accuracy)
        postfix["test_acc"] = f"{test_accuracy:.3f}"
    return postfix


def _tqdm():
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - depends on the environment
        raise HandconvError("progress bars need tqdm: pip install 'handconv[learn]' (or pass progress=False)") from None
    return tqdm
