"""The ``--compare`` figure: input | handconv's output | TensorFlow's output | difference."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .. import kernels as kernel_registry
from ..errors import HandconvError
from ..files import atomic_path, refuse_overwriting_inputs
from .filtering import map_output, prepare, resolve_output


def _tensorflow_conv() -> Any | None:
    """``tf.nn.conv2d`` when TensorFlow is installed, else None."""
    from ..verification.references import load_tensorflow

    tf = load_tensorflow()
    if tf is None:
        return None

    def conv(x: np.ndarray, filters: np.ndarray, strides: int, padding: Any, dilations: int) -> np.ndarray:
        return tf.nn.conv2d(x, filters, strides, padding, dilations=dilations).numpy()

    return conv


def _shown(array: np.ndarray) -> tuple[np.ndarray, str | None]:
    """An array as matplotlib shows it, and the colour map for gray ones."""
    if array.dtype.kind == "f":
        array = np.clip(array, 0, 1)
    if array.ndim == 3 and array.shape[2] in (1, 2):  # gray (+ alpha): show the gray
        array = array[..., 0]
    return array, ("gray" if array.ndim == 2 else None)


def _panels(
    pixels: np.ndarray, result: np.ndarray, setup: Any, kernel_name: str, mapping: str, method: str
) -> tuple[list[tuple[np.ndarray, str]], np.ndarray | None, str]:
    """The pictures with their titles (input, handconv's, TF's when it can run), ``|ours - TF's|``, and a note."""
    panels: list[tuple[np.ndarray, str]] = [
        (pixels, f"input {pixels.shape[1]}x{pixels.shape[0]} {pixels.dtype}"),
        (result, f"handconv: {kernel_name}, {mapping}\noutput {result.shape[1]}x{result.shape[0]} {result.dtype}"),
    ]
    conv = _tensorflow_conv() if setup.border == "zeros" else None
    difference = None
    if conv is not None:
        ours = setup.respond(method=method)
        theirs = setup.respond(conv)
        panels.append(
            (
                map_output(theirs, mapping, pixels.dtype),
                f"tf.nn.conv2d, same mapping\noutput {theirs.shape[1]}x{theirs.shape[0]}",
            )
        )
        difference = np.abs(ours - theirs).max(axis=-1)
    note = (
        ""
        if conv is not None
        else "  (TensorFlow: not installed)"
        if setup.border == "zeros"
        else f"  (TensorFlow compared for --mode zeros only; this is {setup.border})"
    )
    return panels, difference, note


def _figure(panels: list[tuple[np.ndarray, str]], difference: np.ndarray | None) -> Any:
    """One row: the panels, then the difference with its colour bar."""
    # The object-oriented Figure, not pyplot: pyplot's global figure list is not thread-safe.
    from matplotlib.figure import Figure

    columns = len(panels) + (difference is not None)
    # Constrained layout leaves room for the suptitle above the two-line panel titles.
    figure = Figure(figsize=(3.4 * columns, 3.8), layout="constrained")
    axes = figure.subplots(1, columns, squeeze=False)
    for axis, (array, title) in zip(axes[0], panels):
        shown, cmap = _shown(array)
        axis.imshow(
            shown,
            cmap=cmap,
            vmin=0 if cmap else None,
            vmax=(np.iinfo(shown.dtype).max if shown.dtype.kind == "u" else 1) if cmap else None,
        )
        axis.set_title(title, fontsize=9)
    if difference is not None:
        axis = axes[0][-1]
        largest = float(difference.max())
        image = axis.imshow(difference, cmap="magma", vmin=0, vmax=largest if largest > 0 else 1e-12)
        figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04)
        verdict = "0: bit-identical" if largest == 0 else f"{largest:.2g}"
        axis.set_title(f"|handconv - TF| before mapping\nmax {verdict}", fontsize=9)
    for axis in axes[0]:
        axis.set_xticks([])
        axis.set_yticks([])
    return figure


def compare_figure(
    pixels: np.ndarray,
    result: np.ndarray,
    path: str | os.PathLike,
    *,
    kernel: Any,
    channels: str = "each",
    gray: bool = False,
    stride: int = 1,
    dilation: int = 1,
    padding: Any = "same",
    mode: str = "zeros",
    output: str | None = None,
    method: str = "auto",
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike] = (),
) -> Path:
    """Write a side-by-side PNG of ``pixels`` and ``result`` (and TensorFlow's result).

    With TensorFlow installed and ``mode='zeros'`` (TensorFlow's own padding),
    the same convolution is run by ``tf.nn.conv2d`` on the same float input
    and filters, mapped to pixels the same way, and the last panel shows
    ``|handconv - TensorFlow|`` on the unmapped float results.
    """
    path = Path(path)
    refuse_overwriting_inputs([("--compare", path)], [("input", protected) for protected in protect])
    if path.exists() and not overwrite:
        raise HandconvError(f"{path}: already exists; pass --overwrite to replace it")
    kernel = kernel_registry.get(kernel)
    mapping = resolve_output(output, kernel)
    setup, _ = prepare(
        pixels, kernel, channels=channels, gray=gray, stride=stride, dilation=dilation, padding=padding, mode=mode
    )
    panels, difference, note = _panels(pixels, result, setup, kernel.name, mapping, method)
    figure = _figure(panels, difference)
    plan = setup.plan
    figure.suptitle(
        f"-k {kernel.name}  --channels {channels}  stride {plan.strides[0]}  dilation {plan.dilations[0]}  "
        f"padding {padding} -> {plan.pad_amounts}  mode {setup.border}{note}",
        fontsize=9,
    )
    with atomic_path(path) as temp:
        figure.savefig(temp, format="png", dpi=90)
    return path
