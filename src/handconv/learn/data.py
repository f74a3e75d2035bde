"""The digits data set, its fixed split, and the checks every training set passes.

scikit-learn's ``load_digits`` holds 1797 handwritten digits as 8x8 images of
integers 0..16 (bundled with scikit-learn: nothing is downloaded). handconv
scales them to [0, 1] and adds the channel axis, so images are
``(N, 8, 8, 1)`` float32 as a Keras ``Conv2D`` takes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import HandconvError, HandconvTypeError, describe_value

__all__ = ["Split", "load_digits", "check_dataset", "DIGITS_SHAPE", "DIGITS_CLASSES"]

DIGITS_SHAPE = (8, 8, 1)
DIGITS_CLASSES = 10


@dataclass(frozen=True)
class Split:
    """Training and test images with their labels.

    Attributes
    ----------
    x_train : ndarray of shape (N_train, H, W, C), float32
    y_train : ndarray of shape (N_train,), int64
    x_test : ndarray of shape (N_test, H, W, C), float32
    y_test : ndarray of shape (N_test,), int64
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits(test_fraction: float = 0.2, split_seed: int = 0) -> Split:
    """scikit-learn's digits, split ``1 - test_fraction`` / ``test_fraction``, stratified by class.

    The split depends on ``split_seed`` only (default 0), never on the
    training seed, so every run is scored on the same test images: 1437
    training and 360 test images for the default 80/20 split.
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
        from sklearn.model_selection import train_test_split
    except ImportError:  # pragma: no cover - depends on the environment
        raise HandconvError("the digits data comes with scikit-learn: pip install 'handconv[learn]'") from None
    digits = sklearn_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, stratify=labels, random_state=split_seed
    )
    return Split(x_train, y_train, x_test, y_test)


def check_dataset(
    x: Any, y: Any, input_shape: tuple[int, ...], classes: int, name: str = "training"
) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels as arrays, or a :class:`HandconvError` saying what is wrong with them.

    Parameters
    ----------
    x : array_like of shape (N, H, W, C)
        Finite real numbers; ``(H, W, C)`` must equal ``input_shape``.
    y : array_like of shape (N,)
        Integer class labels in ``[0, classes)``.
    name : str
        Which set, for the messages (``'training'``, ``'test'``).

    Returns
    -------
    x : ndarray, float
    y : ndarray, int64

    >>> check_dataset(np.zeros((2, 8, 8, 1)), [0, 9], (8, 8, 1), 10)[1]
    array([0, 9])
    >>> check_dataset(np.zeros((2, 8, 8, 1)), [0, 10], (8, 8, 1), 10)
    Traceback (most recent call last):
    ...
    handconv.errors.HandconvError: training labels must be integers in [0, 10) (one per class); got values from 0 to 10
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if x.dtype.kind not in "fiub":
        raise HandconvTypeError(f"{name} images have dtype {x.dtype}; expected real numbers")
    if x.ndim == 0 or x.shape[0] == 0:
        raise HandconvError(f"the {name} set is empty (images of shape {x.shape}); expected at least one image")
    if x.shape[1:] != tuple(input_shape):
        hint = ""
        if x.shape[1:] == tuple(input_shape[:-1]) and input_shape[-1] == 1:
            hint = " (add the channel axis: x[..., None])"
        raise HandconvError(
            f"{name} images have shape {x.shape}; the network takes (N, {', '.join(map(str, input_shape))}){hint}"
        )
    if not np.isfinite(x).all():
        raise HandconvError(f"{name} images hold NaN or infinite values; expected finite numbers")
    if y.ndim != 1 or len(y) != len(x):
        raise HandconvError(f"{name} labels have shape {y.shape}; expected one label per image, shape ({len(x)},)")
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.array_equal(y, np.trunc(y)):
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu":
        raise HandconvTypeError(
            f"{name} labels={describe_value(y)} have dtype {y.dtype}; expected integer class labels"
        )
    if y.min() < 0 or y.max() >= classes:
        raise HandconvError(
            f"{name} labels must be integers in [0, {classes}) (one per class); got values from {y.min()} to {y.max()}"
        )
    return x.astype(np.float32, copy=False) if x.dtype.kind != "f" else x, y.astype(np.int64, copy=False)
