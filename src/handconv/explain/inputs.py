"""Inputs and filters for the ``explain`` command: seeded volumes, files, images, kernels.

Named kernels, inline numbers and kernel files are read by :mod:`handconv.kernels`
(one parser); images by :func:`handconv.image.read_image`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import kernels
from ..errors import HandconvError
from ..kernels import to_filters

__all__ = ["random_volume", "read_input", "filter_weights", "expand_filters", "random_filters"]

#: Largest random volume (H * W * C) ``--shape`` makes: a 4096x4096x3 photo is about 50 million.
MAX_RANDOM_VALUES = 64_000_000

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def random_volume(shape: tuple[int, ...], seed: int = 0, low: int = 0, high: int = 2) -> np.ndarray:
    """Seeded random integers ``low..high`` (inclusive) as float64, shape ``(1, H, W, C)``.

    Like the CS231n demo's volumes, small integers keep the arithmetic checkable by hand.

    >>> random_volume((2, 2, 1), seed=0).shape
    (1, 2, 2, 1)
    """
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3 or min(shape) < 1:
        raise HandconvError(f"--shape {','.join(map(str, shape))}: expected H,W,C with positive sizes, e.g. 5,5,3")
    if high < low:
        raise HandconvError(f"random values {low}..{high}: the high end must be at least the low end")
    if np.prod(shape, dtype=np.float64) > MAX_RANDOM_VALUES:
        raise HandconvError(
            f"--shape {','.join(map(str, shape))}: {np.prod(shape, dtype=np.float64):,.0f} random values is more than "
            f"{MAX_RANDOM_VALUES:,}; random volumes are for learning, give a real image or array with --input"
        )
    rng = np.random.default_rng(seed)
    return rng.integers(low, high + 1, size=(1, *shape)).astype(np.float64)


def _as_volume(array: np.ndarray, source: str) -> np.ndarray:
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4:
        raise HandconvError(
            f"{source} holds an array of shape {array.shape}; expected (H, W), (H, W, C) or (N, H, W, C)"
        )
    if array.dtype.kind not in "fiub":
        raise HandconvError(f"{source} holds {array.dtype} values; expected numbers")
    return array.astype(np.float64)


def read_input(path: str | Path) -> np.ndarray:
    """An input volume from a ``.npy``/``.csv`` file or an image, as float64 ``(N, H, W, C)``.

    Images keep their pixel values (0..255 for 8-bit); a grey image has one channel.
    """
    path = Path(path)
    if not path.is_file():
        raise HandconvError(f"input file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            from ..files import load_npy

            return _as_volume(load_npy(path, "--input"), repr(str(path)))
        if suffix in (".csv", ".txt"):
            delimiter = "," if suffix == ".csv" else None
            return _as_volume(np.loadtxt(path, delimiter=delimiter, ndmin=2), repr(str(path)))
    except (ValueError, OSError, EOFError) as error:  # EOFError: an empty or cut-off .npy
        raise HandconvError(f"cannot read {str(path)!r}: {error}") from None
    if suffix in _IMAGE_SUFFIXES:
        return _as_volume(_read_image(path), repr(str(path)))
    raise HandconvError(f"input file {str(path)!r}: expected a .npy, .csv or image file (.png, .jpg, ...)")


def _read_image(path: Path) -> np.ndarray:
    from ..image import read_image  # Pillow, with the project's size and format checks

    pixels = np.asarray(read_image(path))
    if pixels.ndim == 3 and pixels.shape[2] in (2, 4):  # drop alpha: it is not convolved
        pixels = pixels[:, :, :-1]
    return pixels


def _parse_numbers(text: str) -> np.ndarray:
    try:
        array = np.asarray(kernels.parse_inline(text), dtype=np.float64)
    except (TypeError, ValueError):
        raise HandconvError(f"filter {text!r} is not a rectangular list of numbers") from None
    if array.ndim < 2 or array.size == 0:
        raise HandconvError(f"filter {text!r} must have at least 2 dimensions (rows of numbers)")
    return array


def filter_weights(spec: str) -> tuple[np.ndarray, str]:
    """Weights and a display name for a filter spec: a kernel name, inline numbers, or a file.

    Returns
    -------
    weights : ndarray of shape (KH, KW), (KH, KW, C) or (KH, KW, C, C_out)
    name : str
    """
    text = spec.strip()
    if text.startswith(("[", "(")):
        return _parse_numbers(text), "custom"
    path = Path(text)
    if path.suffix.lower() in (".npy", ".csv", ".txt"):
        if not path.is_file():
            raise HandconvError(f"filter file {text!r} does not exist")
        weights = np.asarray(kernels.load_file(path))  # one reader for kernel files: no pickle, one-line errors
        if weights.dtype.kind not in "iuf":
            raise HandconvError(f"filter file {text!r} holds {weights.dtype} values; expected real numbers")
        return weights.astype(np.float64), path.name
    kernel = kernels.get(text)
    if kernel.pair is not None:
        # A gradient pair (sobel, scharr, ...) is sqrt(gx**2 + gy**2): not one convolution, so
        # explain its two convolutions as two filters: (KH, KW, 1, 2), each 2-D kernel to be put
        # on every input channel by the caller (the name ends in ' gx,gy' to say so).
        return np.stack(kernel.components, axis=-1)[:, :, None, :], f"{kernel.name} gx,gy"
    return np.array(kernel.weights, dtype=np.float64), kernel.name


#: Kept under its old name: :func:`handconv.kernels.to_filters`.
expand_filters = to_filters


def random_filters(count: int, size: tuple[int, ...], in_channels: int, seed: int = 0) -> np.ndarray:
    """``count`` random filters with weights -1, 0, 1 (as the CS231n demo), ``(KH, KW, C, count)``.

    >>> random_filters(2, (3, 3), 3).shape
    (3, 3, 3, 2)
    """
    if count < 1:
        raise HandconvError(f"--filters {count}: expected at least 1 filter")
    if min(size) < 1:
        raise HandconvError(f"--filter-size {','.join(map(str, size))}: expected sizes >= 1, e.g. 3,3")
    rng = np.random.default_rng([seed, 1])
    return rng.integers(-1, 2, size=(*size, in_channels, count)).astype(np.float64)
