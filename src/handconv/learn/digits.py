"""The digits experiment behind ``handconv train-digits``: train, score, draw, record.

>>> import numpy as np
>>> run = train_digits(epochs=1, subset=100, progress=False)   # a quick look; the defaults train properly
>>> run.history.test_accuracy[-1] == run.test_accuracy
True
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import HandconvError
from ..files import make_output_folder, write_text
from .data import Split, load_digits
from .layers import Sequential
from .optim import cosine_decay
from .train import DEFAULTS, History, digits_model, evaluate, fit, make_optimizer

__all__ = ["DigitsRun", "train_digits", "PICTURES"]

#: What ``train_digits`` writes into ``out_dir``, besides ``metrics.json``.
PICTURES = ("learning_curve.png", "kernels.png", "feature_maps.png")


@dataclass
class DigitsRun:
    """One training run on the digits.

    Attributes
    ----------
    model : Sequential
        The trained network.
    history : History
        Loss and accuracy per epoch.
    split : Split
        The data it was trained and scored on.
    test_accuracy, test_loss : float
        On the held-out 20 %.
    seconds : float
        Wall time of the training loop.
    metrics : dict
        What ``metrics.json`` holds.
    files : list of Path
        What was written (empty without ``out_dir``).
    """

    model: Sequential
    history: History
    split: Split
    test_accuracy: float
    test_loss: float
    seconds: float
    metrics: dict
    files: list[Path] = field(default_factory=list)


def train_digits(
    out_dir: str | os.PathLike[str] | None = None,
    *,
    epochs: int = DEFAULTS["epochs"],
    seed: int = 0,
    batch_size: int = DEFAULTS["batch_size"],
    learning_rate: float = DEFAULTS["learning_rate"],
    optimizer: str = DEFAULTS["optimizer"],
    weight_decay: float = DEFAULTS["weight_decay"],
    subset: int | None = None,
    progress: bool = True,
) -> DigitsRun:
    """Train :func:`~handconv.learn.digits_model` on scikit-learn's digits; optionally write pictures and metrics.

    Parameters
    ----------
    out_dir : path, optional
        Where ``learning_curve.png``, ``kernels.png``, ``feature_maps.png``
        and ``metrics.json`` go (created if missing; each written atomically).
    epochs, batch_size : int
    seed : int
        Seeds the initial weights and the shuffles; the 80/20 split is fixed
        (split seed 0) whatever ``seed`` is.
    learning_rate : float
        The starting rate; it follows a cosine from there down to 0 over the
        run (:func:`~handconv.learn.cosine_decay`).
    optimizer : {'adam', 'sgd'}
        ``'sgd'`` uses momentum 0.9.
    weight_decay : float
        Keras' decoupled weight decay (every weight shrinks by
        ``weight_decay * learning_rate`` of itself per step); 0 turns it off.
    subset : int, optional
        Train on the first ``subset`` training images only (quick checks); the
        test set stays whole.
    progress : bool
        A tqdm bar per epoch.
    """
    if subset is not None and (not isinstance(subset, (int, np.integer)) or subset < 1):
        raise HandconvError(f"subset={subset!r} must be an integer >= 1 (or None for every training image)")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise HandconvError(f"seed={seed!r} must be an integer >= 0")
    folder = make_output_folder(out_dir, "out_dir") if out_dir is not None else None
    split = load_digits()
    if subset is not None:
        split = Split(split.x_train[:subset], split.y_train[:subset], split.x_test, split.y_test)
    model = digits_model(seed)
    optimiser = make_optimizer(optimizer, model, learning_rate, weight_decay=weight_decay)
    steps_per_epoch = -(-len(split.x_train) // batch_size) if isinstance(batch_size, int) and batch_size > 0 else 1
    total_steps = epochs * steps_per_epoch if isinstance(epochs, int) else 1

    started = time.perf_counter()
    history = fit(
        model,
        optimiser,
        split.x_train,
        split.y_train,
        split.x_test,
        split.y_test,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        progress=progress,
        schedule=lambda step: cosine_decay(learning_rate, step, total_steps),
    )
    seconds = time.perf_counter() - started
    test_loss, test_accuracy = evaluate(model, split.x_test, split.y_test)
    settings = {
        "seed": int(seed),
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "optimizer": optimizer,
        "learning_rate": float(learning_rate),
        "weight_decay": float(weight_decay),
    }
    metrics = _metrics(model, history, split, test_loss, test_accuracy, settings, seconds)
    run = DigitsRun(model, history, split, test_accuracy, test_loss, seconds, metrics)
    if folder is not None:
        run.files = write_outputs(run, folder)
    return run


def _metrics(
    model: Sequential,
    history: History,
    split: Split,
    test_loss: float,
    test_accuracy: float,
    settings: dict,
    seconds: float,
) -> dict:
    """``metrics.json``: the scores, the run's settings, the history and the test set's confusion matrix."""
    from .. import __version__

    predicted = model.predict(split.x_test).argmax(axis=1)
    confusion = np.zeros((model.classes, model.classes), dtype=int)
    np.add.at(confusion, (split.y_test, predicted), 1)
    return {
        "test_accuracy": test_accuracy,
        "test_loss": test_loss,
        "train_accuracy": history.train_accuracy[-1],
        "train_loss": history.train_loss[-1],
        "train_images": int(len(split.x_train)),
        "test_images": int(len(split.x_test)),
        **settings,
        "schedule": "cosine decay to 0 over all steps",
        "training_seconds": round(seconds, 3),
        "model": repr(model),
        "history": history.as_dict(),
        "confusion_matrix": confusion.tolist(),
        "confusion_matrix_axes": "rows: true class, columns: predicted class",
        "handconv_version": __version__,
    }


def write_outputs(run: DigitsRun, folder: Path) -> list[Path]:
    """The three pictures and ``metrics.json``, each written atomically into ``folder``."""
    from .plots import feature_maps_figure, kernels_figure, learning_curve

    paths = [folder / name for name in (*PICTURES, "metrics.json")]
    learning_curve(run.history, paths[0])
    kernels_figure(
        run.model.layers[0].kernel.value,  # type: ignore[attr-defined]  # layer 0 is the Conv2D
        paths[1],
        title=f"first-layer kernels after {run.metrics['epochs']} epochs (test accuracy {run.test_accuracy:.3f}), "
        "beside hand-made edge filters",
    )
    # The first test image the network gets right: the figure shows how it sees a digit, not a failure.
    predicted = run.model.predict(run.split.x_test).argmax(axis=1)
    right = np.flatnonzero(predicted == run.split.y_test)
    index = int(right[0]) if len(right) else 0
    feature_maps_figure(run.model, run.split.x_test[index], int(run.split.y_test[index]), paths[2])
    write_text(paths[3], json.dumps(run.metrics, indent=2) + "\n")
    return paths
