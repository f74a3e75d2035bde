"""``handconv.dask.filter``: :func:`handconv.image.filter` on an image bigger than memory.

The same steps as in memory (:mod:`handconv.image.filtering`): pixels to
floats, optional gray, the kernel as depthwise or summed filters, the plan,
the border mode, the output mapping, alpha passed through. Each tile's task
receives the raw pixel chunks it overlaps (uint8 stays uint8 until then) and
converts only its own window, so the float copy of the image never exists
whole. Border modes other than zeros are gathered by index from the chunks
that hold the mirrored or wrapped pixels, as ``np.pad`` extends the image in
memory, and every tile is convolved VALID: the result equals the in-memory
filter's for every mode and chunking (bit for bit with an explicit method
outside :data:`handconv.dask.conv.TILE_DEPENDENT`).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..errors import HandconvError, HandconvTypeError, describe_value
from ..image.filtering import (
    alpha_positions,
    filter_setup,
    magnitude,
    map_output,
    resolve_options,
    split_alpha,
    to_gray,
)
from .conv import check_tile, tiled_conv

__all__ = ["filter", "prepare_window"]

_PIXEL_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))


def prepare_window(window: np.ndarray, dtype: np.dtype, gray: bool) -> np.ndarray:
    """A window of raw pixels ``(1, h, w, C)`` as the in-memory filter converts the whole image."""
    values = window.astype(dtype)
    if gray and values.shape[-1] != 1:
        values = to_gray(values[0])[None, ..., None]
    return values


def filter(
    image: Any,
    kernel: Any,
    *,
    channels: str = "each",
    gray: bool = False,
    stride: int = 1,
    dilation: int = 1,
    padding: Any = "same",
    mode: str = "zeros",
    output: str | None = None,
    method: str = "auto",
    tile: Any = None,
):
    """Filter a lazy image, tile by tile: :func:`handconv.image.filter` on Dask.

    Parameters
    ----------
    image : dask.array.Array of shape (H, W) or (H, W, C), C in 1..4
        uint8 or uint16 pixels, or floats in [0, 1]; chunked in any way along
        H and W (channels are gathered whole). The last channel of 2- and
        4-channel images is alpha, passed through.
    kernel, channels, gray, stride, dilation, padding, mode, output, method
        As in :func:`handconv.image.filter`.
    tile : int or (int, int), optional
        Output tile size; default one tile per input chunk.

    Returns
    -------
    dask.array.Array of shape (OH, OW) or (OH, OW, C)
        Lazy. ``output='rescale'`` needs the whole response's minimum and
        maximum first: they are computed when this function is called (one
        pass over the image), and the tiles are computed again when the result is.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from handconv.image import filter as filter_in_memory
    >>> photo = np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    >>> lazy = filter(da.from_array(photo, chunks=(7, 9, 3)), "gaussian:5:1.0", mode="reflect", method="naive")
    >>> bool((lazy.compute() == filter_in_memory(photo, "gaussian:5:1.0", mode="reflect", method="naive")).all())
    True
    """
    import dask
    import dask.array as da

    if not isinstance(image, da.Array):
        raise HandconvTypeError(
            f"image={describe_value(image)} is not a dask array; use handconv.image.filter "
            "for arrays in memory, or dask.array.from_array(image, chunks=...)"
        )
    if image.dtype not in _PIXEL_DTYPES and image.dtype.kind != "f":
        raise HandconvTypeError(f"image has dtype {image.dtype}; expected uint8 or uint16 pixels, or floats in [0, 1]")
    if image.ndim not in (2, 3) or (image.ndim == 3 and not 1 <= image.shape[2] <= 4):
        raise HandconvError(
            f"image of shape {image.shape} is not an image; expected shape (H, W) or (H, W, C) with C in 1..4"
        )
    kernel, mapping, border = resolve_options(kernel, channels, mode, output)
    tile = check_tile(tile)

    parts: Any = split_alpha(image)  # type: ignore[arg-type]  # slicing only: works on dask arrays too
    colour, alpha = parts
    if colour.ndim == 2:
        colour = colour[..., None]
    compute_dtype, filters, plan = filter_setup(
        colour.shape, colour.dtype, kernel, channels, gray, stride, dilation, padding
    )
    x = colour.rechunk({2: -1})[None]
    prepare = functools.partial(prepare_window, dtype=compute_dtype, gray=gray)
    response = tiled_conv(
        x, filters, plan, method, border=None if border == "zeros" else border, prepare=prepare, tile=tile
    )[0]
    if len(kernel.components) == 2:
        response = response.map_blocks(
            magnitude, chunks=(*response.chunks[:2], (response.shape[2] // 2,)), dtype=response.dtype
        )
    bounds = None
    if mapping == "rescale":
        low, high = dask.compute(response.min(), response.max())
        bounds = (float(low), float(high))
    pixel_dtype = image.dtype if mapping != "raw" else response.dtype
    result = response.map_blocks(map_output, mapping, image.dtype, bounds, dtype=pixel_dtype)
    if alpha is not None:
        if plan.output_hw != tuple(alpha.shape):
            rows, cols = alpha_positions(plan)
            alpha = alpha[rows][:, cols]
        alpha = alpha.astype(result.dtype).rechunk(result.chunks[:2])
        result = da.concatenate([result, alpha[..., None]], axis=-1)
    elif result.shape[-1] == 1:
        result = result[..., 0]
    return result
