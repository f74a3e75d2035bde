"""Pictures of a training run: learning curve, learned kernels, feature maps.

Figures are plain :class:`matplotlib.figure.Figure` objects (no pyplot, so no
global state shared between threads) and every file is written through
:func:`handconv.files.atomic_path`: an interrupted run leaves the old picture
or none, never half of one.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import HandconvError
from ..files import atomic_path
from ..kernels import KERNELS
from .layers import Sequential, softmax
from .train import History

__all__ = ["REFERENCE_KERNELS", "learning_curve", "kernels_figure", "feature_maps_figure", "save"]

#: Hand-designed kernels the learned ones are drawn beside: the article's edge filter and Sobel's pair.
REFERENCE_KERNELS = ("edge", "sobel_x", "sobel_y")


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise HandconvError("pictures need matplotlib: pip install 'handconv[learn]'") from None
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def save(fig: Any, path: str | os.PathLike[str], dpi: int = 100) -> None:
    """Write ``fig`` as PNG at ``path`` atomically."""
    with atomic_path(path) as temp:
        fig.savefig(temp, format="png", dpi=dpi)


def learning_curve(history: History, path: str | os.PathLike[str] | None = None) -> Any:
    """Train and test loss (left) and accuracy (right) after each epoch."""
    fig = _figure(10, 4)
    epochs = np.arange(1, len(history.train_loss) + 1)
    loss_ax, accuracy_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, history.train_loss, "o-", ms=3, label="train")
    accuracy_ax.plot(epochs, history.train_accuracy, "o-", ms=3, label="train")
    if history.test_loss:
        loss_ax.plot(epochs, history.test_loss, "s-", ms=3, label="test")
        accuracy_ax.plot(epochs, history.test_accuracy, "s-", ms=3, label="test")
    loss_ax.set(xlabel="epoch", ylabel="mean cross-entropy", title="loss", yscale="log")
    accuracy_ax.set(xlabel="epoch", ylabel="fraction correct", title="accuracy")
    for ax in (loss_ax, accuracy_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    if history.test_accuracy:
        fig.suptitle(f"final test accuracy {history.test_accuracy[-1]:.3f}")
    fig.tight_layout()
    if path is not None:
        save(fig, path)
    return fig


def kernels_figure(kernel: np.ndarray, path: str | os.PathLike[str] | None = None, title: str = "") -> Any:
    """The first layer's kernels beside the article's edge kernel and Sobel's, on one colour scale.

    Parameters
    ----------
    kernel : ndarray of shape (KH, KW, 1, C_out)
        A first-layer kernel on one-channel images (``model.layers[0].kernel.value``).

    Learned weights are a few tenths, the hand-made ones up to 8: each kernel
    is divided by its own largest ``|weight|`` so all share one colour scale
    from -1 (blue) to +1 (red), and the cells print the actual weights. What
    the colours compare is the *pattern*: where a kernel adds, where it
    subtracts.
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 4 or kernel.shape[2] != 1:
        raise HandconvError(f"kernel has shape {kernel.shape}; expected (KH, KW, 1, C_out), a first-layer kernel")
    learned = [(f"learned {i + 1}", kernel[:, :, 0, i]) for i in range(kernel.shape[3])]
    references = [(f"{name}\n(hand-made)", np.asarray(KERNELS[name].weights)) for name in REFERENCE_KERNELS]
    columns = 4
    rows = -(-len(learned) // columns) + 1
    fig = _figure(2.1 * columns + 1.2, 2.4 * rows + 0.6)
    grid = fig.add_gridspec(rows, columns + 1, width_ratios=[1] * columns + [0.08])
    image = None
    for index, (label, weights) in enumerate(learned + references):
        row, column = (index // columns, index % columns) if index < len(learned) else (rows - 1, index - len(learned))
        ax = fig.add_subplot(grid[row, column])
        scale = float(np.abs(weights).max()) or 1.0
        image = ax.imshow(weights / scale, cmap="RdBu_r", vmin=-1, vmax=1)
        integer = np.array_equal(weights, np.round(weights))
        for (fy, fx), value in np.ndenumerate(weights):
            text = f"{value:.0f}" if integer else f"{value:.2f}"
            ax.text(
                fx,
                fy,
                text,
                ha="center",
                va="center",
                fontsize=8,
                color="white" if abs(value) / scale > 0.6 else "black",
            )
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    colorbar_ax = fig.add_subplot(grid[:, columns])
    fig.colorbar(image, cax=colorbar_ax, label="weight / largest |weight| of its kernel")
    fig.suptitle(title or "first-layer kernels learned on the digits, beside hand-made edge filters")
    if path is not None:
        save(fig, path)
    return fig


def feature_maps_figure(
    model: Sequential, image: np.ndarray, label: int | None = None, path: str | os.PathLike[str] | None = None
) -> Any:
    """One image through the network: input, each ReLU and pooling output, and the class probabilities.

    Parameters
    ----------
    model : Sequential
    image : ndarray of shape (H, W, C)
        One image, no batch axis.
    label : int, optional
        Its true class, for the title.
    """
    image = np.asarray(image)
    if image.shape != model.input_shape:
        raise HandconvError(f"image has shape {image.shape}; expected one image of shape {model.input_shape}")
    activations = dict(model.activations(image[None].astype(model.parameters[0].value.dtype)))
    shown = [("input", image[None])] + [(name, activations[name]) for name in ("relu1", "pool1", "relu2", "pool2")]
    columns = max(maps.shape[-1] for _, maps in shown)
    fig = _figure(0.9 * columns, 1.05 * (len(shown) + 1.6))
    grid = fig.add_gridspec(len(shown) + 1, columns, height_ratios=[1] * len(shown) + [1.6])
    for row, (name, maps) in enumerate(shown):
        maps = maps[0]
        # One grey scale per row, so maps of one layer compare with each other.
        top = float(maps.max()) or 1.0
        for channel in range(maps.shape[-1]):
            ax = fig.add_subplot(grid[row, channel])
            ax.imshow(maps[:, :, channel], cmap="gray", vmin=0, vmax=top)
            ax.set_xticks([])
            ax.set_yticks([])
            if channel == 0:
                height, width = maps.shape[:2]
                ax.set_ylabel(f"{name}\n{height}x{width}", fontsize=8, rotation=0, ha="right", va="center")
    probabilities = softmax(activations["dense"])[0]
    ax = fig.add_subplot(grid[len(shown), :])
    bars = ax.bar(np.arange(len(probabilities)), probabilities, color="tab:gray")
    bars[int(probabilities.argmax())].set_color("tab:blue")
    ax.set(xticks=np.arange(len(probabilities)), ylim=(0, 1), ylabel="softmax", xlabel="class")
    predicted = int(probabilities.argmax())
    truth = "" if label is None else f", true class {label}"
    fig.suptitle(f"one digit through the network: predicted {predicted} (p = {probabilities[predicted]:.2f}){truth}")
    fig.tight_layout()
    if path is not None:
        save(fig, path)
    return fig
