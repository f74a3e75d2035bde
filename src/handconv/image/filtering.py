"""``handconv.image.filter``: any kernel over a photo, on :func:`handconv.conv2d`.

Pixels to numbers and back
--------------------------
* ``uint8`` and ``uint16`` pixels are converted to float64 *without scaling*:
  pixel 200 is the number 200.0, as in the article and in ``cv2.filter2D``.
  Results go back to the input's dtype by the ``output`` mapping and then
  ``np.rint`` (round to nearest, halves to even, as OpenCV's ``saturate_cast``).
* float images are computed in their own precision (float16 in float32) and
  are taken to hold values in [0, 1], the convention of scikit-image and
  matplotlib; the ``output`` mapping keeps them in [0, 1].

Output mappings (``output=``)
-----------------------------
``clip``     values below 0 become 0, above the peak (255, 65535 or 1.0) the peak
``abs``      ``|value|``, then clipped: the strength of a signed edge response
``rescale``  ``(value - min) / (max - min) * peak`` over the whole image (all colour channels together)
``raw``      the float result as computed, signed and unclipped (float64 for integer images)

The default depends on the kernel's family (``handconv.kernels.DEFAULT_OUTPUT``):
blurs, sharpening, emboss and the identity ``clip``; edge and single gradient
kernels ``abs``; gradient magnitudes (``sobel``, ``scharr``, ``prewitt``,
``roberts``) ``clip``; custom kernels ``abs`` when their weights sum to 0,
else ``clip``.

Channels
--------
``channels='each'`` applies the same 2-D kernel to every colour channel
(a depthwise convolution: filters of shape ``(KH, KW, 1, C)``, one group per
channel), so RGB stays RGB. ``channels='sum'`` builds the article's
``KH x KW x C`` filter, the kernel repeated on every channel, and sums across
channels to one gray output (a 3-D ``(KH, KW, C)`` kernel is used as it is).
Alpha (the last channel of 2- and 4-channel images) is never filtered: it is
passed through untouched, sampled at each window's centre when stride or
padding change the size.

Memory
------
:func:`filter` works in bands of output rows: each band's input rows are
converted to floats (and extended by the border mode) on their own, convolved,
and mapped straight into the result in the input's dtype. Peak memory is the
pixels, the result and about ``BAND_BYTES`` of floats, whatever the image size
or padding (``rescale`` and ``raw`` keep the whole float response, which they
return or need). Sizes that cannot fit are refused before anything is
allocated, with the arithmetic.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import kernels as kernel_registry
from ..borders import pad_border, resolve_mode
from ..conv import conv2d
from ..errors import HandconvError, HandconvMemoryError, HandconvTypeError, describe_value
from ..plan import ConvPlan, make_plan, parse_padding

__all__ = [
    "filter",
    "OUTPUTS",
    "CHANNELS",
    "GRAY_WEIGHTS",
    "prepare",
    "FilterSetup",
    "split_alpha",
    "to_gray",
    "map_output",
    "peak_value",
]

OUTPUTS = ("clip", "abs", "rescale", "raw")
#: Floats (band input and response) one band of output rows holds, in bytes.
BAND_BYTES = 32 * 2**20
CHANNELS = ("each", "sum")

#: ITU-R 601-2 luma, the weights of Pillow's ``convert('L')``: gray = 0.299 R + 0.587 G + 0.114 B.
GRAY_WEIGHTS = (0.299, 0.587, 0.114)

_PIXEL_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))


def peak_value(dtype: np.dtype) -> float:
    """The brightest value of a pixel dtype: 255, 65535, or 1.0 for floats.

    >>> peak_value(np.dtype(np.uint8)), peak_value(np.dtype(np.uint16)), peak_value(np.dtype(np.float32))
    (255.0, 65535.0, 1.0)
    """
    return float(np.iinfo(dtype).max) if dtype.kind == "u" else 1.0


def _as_image_array(image: Any) -> np.ndarray:
    array = np.asarray(image)
    if array.dtype not in _PIXEL_DTYPES and array.dtype.kind != "f":
        raise HandconvTypeError(
            f"image has dtype {array.dtype}; expected uint8 or uint16 pixels, or floats in [0, 1] "
            "(convert with .astype(np.uint8) or .astype(np.float64))"
        )
    if array.ndim not in (2, 3) or (array.ndim == 3 and not 1 <= array.shape[2] <= 4):
        raise HandconvError(
            f"image={describe_value(array)} is not an image; expected shape (H, W) or (H, W, C) with C in 1..4"
        )
    return array


def split_alpha(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Colour channels and alpha: the last channel of a 2- or 4-channel image is alpha.

    Returns
    -------
    colour : ndarray of shape (H, W) or (H, W, 3)
    alpha : ndarray of shape (H, W), or None
    """
    if pixels.ndim == 3 and pixels.shape[2] in (2, 4):
        colour = pixels[..., :-1]
        return (colour[..., 0] if colour.shape[2] == 1 else colour), pixels[..., -1]
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        return pixels[..., 0], None
    return pixels, None


def working_dtype(dtype: np.dtype) -> np.dtype:
    if dtype.kind == "u":
        return np.dtype(np.float64)
    return np.dtype(np.float32) if dtype == np.float16 else dtype


def to_gray(values: np.ndarray) -> np.ndarray:
    """Gray from RGB floats by :data:`GRAY_WEIGHTS`, unrounded; gray input is returned as it is.

    >>> float(to_gray(np.array([[[255.0, 255.0, 255.0]]]))[0, 0])
    255.0
    """
    if values.ndim == 2:
        return values
    # Integer weights then one division, so white stays exactly white.
    weights = np.asarray([299, 587, 114], dtype=values.dtype)
    return (values @ weights) / values.dtype.type(1000)


def padding_for_conv2d(padding: Any) -> Any:
    """``padding`` in :func:`handconv.conv2d`'s terms: 'SAME', 'VALID' or 4 explicit pairs.

    Text is read by the one padding grammar every command shares (:func:`handconv.plan.parse_padding`):
    ``'same'``, ``'valid'``, ``'N'``, ``'PH,PW'`` or ``'TOP,BOTTOM,LEFT,RIGHT'``.

    >>> padding_for_conv2d("same"), padding_for_conv2d(1)
    ('SAME', [[0, 0], [1, 1], [1, 1], [0, 0]])
    >>> padding_for_conv2d("1,2") == padding_for_conv2d(((1, 1), (2, 2)))
    True
    """
    if isinstance(padding, str):
        return parse_padding(padding, "NHWC", option="padding")
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        if padding < 0:
            raise HandconvError(f"padding={padding!r} must not be negative")
        return [[0, 0], [int(padding)] * 2, [int(padding)] * 2, [0, 0]]
    if isinstance(padding, (tuple, list)) and len(padding) == 2:
        return [[0, 0], list(padding[0]), list(padding[1]), [0, 0]]
    raise HandconvError(
        f"padding={padding!r} is not a padding; expected 'same', 'valid', an int N, or ((top, bottom), (left, right))"
    )


def resolve_options(
    kernel: Any, channels: str, mode: str, output: str | None
) -> tuple[kernel_registry.Kernel, str, str]:
    """The kernel from its spec, the output mapping and the canonical border mode; unknown ``channels`` refused."""
    kernel = kernel_registry.get(kernel)
    mapping = resolve_output(output, kernel)
    if channels not in CHANNELS:
        raise HandconvError(f"channels={channels!r} is not known; expected one of {CHANNELS}")
    return kernel, mapping, resolve_mode(mode)


def filter_setup(
    shape: tuple[int, ...],
    dtype: np.dtype,
    kernel: kernel_registry.Kernel,
    channels: str,
    gray: bool,
    stride: int,
    dilation: int,
    padding: Any,
) -> tuple[np.dtype, np.ndarray, ConvPlan]:
    """The compute dtype, the filters and the plan for colour pixels of ``shape`` (H, W) or (H, W, C) and ``dtype``.

    Shared by the in-memory filter and the Dask one, so both convolve the same filters on the same plan.
    """
    compute_dtype = working_dtype(dtype)
    in_channels = 1 if gray or len(shape) == 2 else shape[2]
    filters = kernel_filters(kernel, channels, in_channels, compute_dtype)
    plan = filter_plan((1, *shape[:2], in_channels), filters.shape, stride, padding, dilation, compute_dtype)
    return compute_dtype, filters, plan


def magnitude(response: np.ndarray) -> np.ndarray:
    """``sqrt(gx**2 + gy**2)`` of a response whose channels alternate the two components ``(..., 2 * C)``."""
    return np.hypot(response[..., 0::2], response[..., 1::2])


def filter_plan(
    input_shape: tuple[int, ...], filters_shape: tuple[int, ...], stride: int, padding: Any, dilation: int, dtype: Any
) -> ConvPlan:
    """The plan of one filtering (``padding`` as :func:`filter` takes it), refused when its output is empty."""
    plan = make_plan(input_shape, filters_shape, stride, padding_for_conv2d(padding), "NHWC", dilation, dtype)
    if plan.is_empty:
        raise HandconvError(
            f"the output would be empty: height {plan.formula(0)}, width {plan.formula(1)}; "
            "the kernel does not fit the image (use padding='same' or a smaller kernel)"
        )
    return plan


@dataclass(frozen=True)
class FilterSetup:
    """One filtering job reduced to a ``conv2d`` call and what to do with its result.

    Attributes
    ----------
    x : ndarray of shape (1, H, W, C)
        The colour channels as floats (gray already applied).
    filters : ndarray of shape (KH, KW, 1, C * n) or (KH, KW, C, n)
        Depthwise for ``each``, summed for ``sum``; ``n`` is 2 for a gradient pair.
    components : int
        ``n``: 1, or 2 for a magnitude ``sqrt(gx**2 + gy**2)``.
    padding : str or list
        The padding given to ``conv2d`` (``'VALID'`` once a border was added).
    border : str
        Canonical border mode.
    plan : ConvPlan
        The plan of the convolution on the unextended image: pad amounts, output size.
    """

    x: np.ndarray
    filters: np.ndarray
    components: int
    padding: Any
    border: str
    stride: int
    dilation: int
    plan: ConvPlan

    def conv_input(self) -> np.ndarray:
        """The input ``conv2d`` receives: the image, extended by the border mode unless it is zeros."""
        if self.border == "zeros":
            return self.x
        return pad_border(self.x, self.plan.pad_amounts, self.border)

    def conv_padding(self) -> Any:
        return self.padding if self.border == "zeros" else "VALID"

    def respond(self, conv: Callable[..., np.ndarray] | None = None, method: str = "auto") -> np.ndarray:
        """The filter's float response, shape ``(OH, OW, C_out)``, magnitudes combined.

        ``conv`` defaults to :func:`handconv.conv2d`; pass ``tf.nn.conv2d``-like
        callables ``conv(x, filters, strides, padding, dilations=...)`` to get a
        reference's answer to the same question.
        """
        if conv is None:
            out = conv2d(
                self.conv_input(),
                self.filters,
                self.stride,
                self.conv_padding(),
                dilations=self.dilation,
                method=method,
            )
        else:
            out = np.asarray(
                conv(self.conv_input(), self.filters, self.stride, self.conv_padding(), dilations=self.dilation)
            )
        out = out[0]
        return magnitude(out) if self.components == 2 else out


def kernel_filters(kernel: kernel_registry.Kernel, channels: str, in_channels: int, dtype: np.dtype) -> np.ndarray:
    components = kernel.components
    if channels == "each":
        if kernel.weights.ndim == 3:
            raise HandconvError(
                f"kernel {kernel.name!r} has shape {kernel.shape}, one 2-D kernel per channel; "
                "use channels='sum' (--channels sum) for a 3-D kernel"
            )
        # Output channel c * n + j is component j on input channel c (groups = C).
        stacked = [w for _ in range(in_channels) for w in components]
        return np.stack(stacked, axis=-1)[:, :, None, :].astype(dtype)
    volumes = []
    for w in components:
        w = kernel_registry.to_filters(w, in_channels)[:, :, :, 0]  # a 2-D kernel on every channel, summed
        if w.shape[2] != in_channels:
            raise HandconvError(
                f"kernel {kernel.name!r} has shape {kernel.shape}: {w.shape[2]} channels, but the image "
                f"has {in_channels} colour channels"
            )
        volumes.append(w)
    return np.stack(volumes, axis=-1).astype(dtype)


def prepare(
    pixels: np.ndarray,
    kernel: kernel_registry.Kernel,
    *,
    channels: str = "each",
    gray: bool = False,
    stride: int = 1,
    dilation: int = 1,
    padding: Any = "same",
    mode: str = "zeros",
) -> tuple[FilterSetup, np.ndarray | None]:
    """Turn validated pixels and options into a :class:`FilterSetup`, plus the alpha channel.

    Padding rules are not re-derived here: the pad amounts come from
    :func:`handconv.plan.make_plan`.
    """
    if channels not in CHANNELS:
        raise HandconvError(f"channels={channels!r} is not known; expected one of {CHANNELS}")
    border = resolve_mode(mode)
    colour, alpha = split_alpha(pixels)
    dtype, filters, plan = filter_setup(colour.shape, colour.dtype, kernel, channels, gray, stride, dilation, padding)
    values = colour.astype(dtype)
    if gray:
        values = to_gray(values)
    x = (values[..., None] if values.ndim == 2 else values)[None]
    setup = FilterSetup(
        x,
        filters,
        len(kernel.components),
        padding_for_conv2d(padding),
        border,
        plan.strides[0],
        plan.dilations[0],
        plan,
    )
    return setup, alpha


def map_output(
    response: np.ndarray, output: str, dtype: np.dtype, bounds: tuple[float, float] | None = None
) -> np.ndarray:
    """Float results to pixels of ``dtype`` by an output mapping (see the module docstring).

    ``bounds``: the ``(min, max)`` that ``rescale`` maps to ``0 .. peak``; default
    ``response``'s own (a tile of a larger image passes the whole image's).

    >>> map_output(np.array([-3.0, 100.4, 300.0]), "clip", np.dtype(np.uint8))
    array([  0, 100, 255], dtype=uint8)
    >>> map_output(np.array([-3.0, 100.5, 300.0]), "abs", np.dtype(np.uint8))
    array([  3, 100, 255], dtype=uint8)
    >>> map_output(np.array([-1.0, 0.0, 1.0]), "rescale", np.dtype(np.uint8))
    array([  0, 128, 255], dtype=uint8)
    """
    if output == "raw":
        return response
    peak = peak_value(dtype)
    if output == "abs":
        values = np.abs(response)
    elif output == "rescale":
        if bounds is None:
            bounds = (float(response.min()), float(response.max())) if response.size else (0.0, 0.0)
        low, high = bounds
        values = (response - low) * (peak / (high - low)) if high > low else np.zeros_like(response)
    else:
        values = response
    values = np.clip(values, 0, peak)
    if dtype.kind == "u":
        return np.rint(values).astype(dtype)
    return values.astype(dtype, copy=False)


def alpha_positions(plan: ConvPlan) -> tuple[np.ndarray, np.ndarray]:
    """Input rows and columns under each window's centre tap (clipped to the image)."""
    index = []
    for axis in (0, 1):
        centre = (plan.filter_hw[axis] - 1) // 2 * plan.dilations[axis] - plan.pad_amounts[axis][0]
        positions = np.arange(plan.output_hw[axis]) * plan.strides[axis] + centre
        index.append(positions.clip(0, plan.input_hw[axis] - 1))
    return index[0], index[1]


def _sample_alpha(alpha: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Alpha at the input pixel under each window's centre tap; untouched when sizes agree."""
    if plan.output_hw == tuple(alpha.shape):
        return alpha
    return alpha[np.ix_(*alpha_positions(plan))]


def resolve_output(output: str | None, kernel: kernel_registry.Kernel) -> str:
    """``output``, or the kernel family's default when None."""
    if output is None:
        return kernel.default_output
    if output not in OUTPUTS:
        raise HandconvError(f"output={output!r} is not an output mapping; expected one of {OUTPUTS}")
    return output


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
    max_pixels: int | None = None,
) -> np.ndarray:
    """Filter an image with a kernel, by :func:`handconv.conv2d` (cross-correlation, no flip).

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C), C in 1..4, or a path
        uint8 or uint16 pixels, or floats in [0, 1]. The last channel of 2- and
        4-channel images is alpha, passed through untouched. A path is read
        with :func:`handconv.image.read_image` (EXIF orientation applied).
    kernel : str or array_like or Kernel
        A spec :func:`handconv.kernels.get` accepts: ``'edge'``, ``'sobel'``,
        ``'gaussian:7:1.5'``, ``'[[0,-1,0],[-1,4,-1],[0,-1,0]]'``, a file, an array.
    channels : {'each', 'sum'}
        ``'each'``: the kernel on every colour channel separately (depthwise);
        ``'sum'``: the article's ``KH x KW x C`` filter, one channel out.
    gray : bool
        Convert colour to gray first (0.299 R + 0.587 G + 0.114 B, unrounded).
    stride, dilation : int
        Step between windows and gap between taps, as in ``tf.nn.conv2d``.
    padding : {'same', 'valid'} or int or ((top, bottom), (left, right)) or str
        ``'same'`` is TensorFlow's SAME (output ``ceil(H / stride)``, the odd
        pixel of padding at the bottom/right); ``'valid'`` none; ``N`` on every side;
        text as the commands take it (``'2'``, ``'1,2'``, ``'0,1,2,3'``, see
        :func:`handconv.plan.parse_padding`).
    mode : str
        What the padding holds: ``'zeros'`` (TensorFlow's, the default),
        ``'reflect'``, ``'symmetric'``, ``'edge'``, ``'wrap'``, or any
        library's name for one (``'mirror'``, ``'nearest'``, ``'BORDER_REFLECT_101'``,
        ``'circular'``, ``'scipy:reflect'``, see :mod:`handconv.borders`).
    output : {'clip', 'abs', 'rescale', 'raw'}, optional
        How results become pixels; default by kernel family (module docstring).
    method : str
        The :func:`handconv.conv2d` method (``'auto'``, ``'naive'``, ``'im2col'``).
    max_pixels : int, optional
        Pixel limit when ``image`` is a path (see :func:`read_image`).

    Returns
    -------
    ndarray of shape (OH, OW), (OH, OW, 2), (OH, OW, 3) or (OH, OW, 4)
        The input's dtype (float64 for integer images with ``output='raw'``).
        Gray (or ``channels='sum'``) results are 2-D, with alpha appended as a
        second channel when the input had alpha.

    Examples
    --------
    >>> import numpy as np
    >>> from handconv.image import filter
    >>> square = np.zeros((5, 5), np.uint8); square[1:4, 1:4] = 10
    >>> filter(square, "edge")
    array([[10, 20, 30, 20, 10],
           [20, 50, 30, 50, 20],
           [30, 30,  0, 30, 30],
           [20, 50, 30, 50, 20],
           [10, 20, 30, 20, 10]], dtype=uint8)
    >>> filter(square, "box:3", padding="valid", output="raw")
    array([[ 4.44444444,  6.66666667,  4.44444444],
           [ 6.66666667, 10.        ,  6.66666667],
           [ 4.44444444,  6.66666667,  4.44444444]])
    """
    from .io import read_image

    if isinstance(image, (str, os.PathLike)):
        pixels = read_image(image, max_pixels=max_pixels)
    else:
        pixels = _as_image_array(image)
    kernel, mapping, border = resolve_options(kernel, channels, mode, output)
    colour, alpha = split_alpha(pixels)
    dtype, filters, plan = filter_setup(colour.shape, colour.dtype, kernel, channels, gray, stride, dilation, padding)
    components = len(kernel.components)
    (oh, ow), channels_out = plan.output_hw, plan.out_channels // components
    keep_floats = mapping in ("raw", "rescale")  # raw returns them, rescale needs the global range
    result_dtype = dtype if keep_floats else pixels.dtype
    _check_filter_memory(plan, pixels, result_dtype, channels_out, alpha is not None)
    response = np.empty((oh, ow, channels_out), dtype=result_dtype)
    # Source row/column of every padded position (-1: a zero), by the border mode's own rule.
    sources = [_source_index(plan.input_hw[axis], plan.pad_amounts[axis], border) for axis in (0, 1)]
    for first, last in _row_bands(plan, colour.itemsize):
        rows = slice(plan.receptive_field(first, 0)[0].start, plan.receptive_field(last - 1, 0)[0].stop)
        x = _band_values(colour, sources[0][rows], sources[1], dtype, gray)
        out = conv2d(x[None], filters, plan.strides, "VALID", dilations=plan.dilations, method=method)[0]
        if components == 2:
            out = magnitude(out)
        response[first:last] = out if keep_floats else map_output(out, mapping, pixels.dtype)
    result = map_output(response, mapping, pixels.dtype) if mapping == "rescale" else response
    if alpha is not None:
        alpha = _sample_alpha(alpha, plan).astype(result.dtype, copy=False)
        result = np.concatenate([result, alpha[..., None]], axis=-1)
    elif result.shape[-1] == 1:
        result = result[..., 0]
    return result


def _source_index(size: int, pads: tuple[int, int], border: str) -> np.ndarray:
    """For each position of the padded axis, the input index it holds (``-1``: a zero).

    The border mode's own extension (:func:`handconv.borders.pad_border`)
    applied to the indices ``0 .. size - 1``; a few bytes per padded position.
    """
    index = np.arange(size, dtype=np.int64)
    if border == "zeros":
        return np.concatenate([np.full(pads[0], -1, np.int64), index, np.full(pads[1], -1, np.int64)])
    return pad_border(index[None, :, None, None], (pads, (0, 0)), border)[0, :, 0, 0]


def _row_bands(plan: ConvPlan, pixel_bytes: int):
    """(first, stop) output rows per band: a band's float input and response about ``BAND_BYTES``."""
    itemsize = plan.compute_dtype.itemsize
    padded_width = plan.padded_hw[1]
    per_row = (
        plan.strides[0] * padded_width * plan.in_channels * (itemsize + pixel_bytes)
        + 2 * plan.output_hw[1] * plan.out_channels * itemsize
    )
    window = plan.effective_filter_hw[0] * padded_width * plan.in_channels * (itemsize + pixel_bytes)
    rows = max(1, (BAND_BYTES - window) // max(per_row, 1))
    for first in range(0, plan.output_hw[0], rows):
        yield first, min(plan.output_hw[0], first + rows)


def _band_values(colour: np.ndarray, rows: np.ndarray, cols: np.ndarray, dtype: np.dtype, gray: bool) -> np.ndarray:
    """Padded rows ``rows`` and columns ``cols`` of the image as floats ``(rows, cols, C)``; ``-1`` reads 0."""
    block = colour[np.maximum(rows, 0)][:, np.maximum(cols, 0)]
    values = block.astype(dtype)
    if gray:
        values = to_gray(values)
    if values.ndim == 2:
        values = values[..., None]
    values[rows < 0] = 0
    values[:, cols < 0] = 0
    return values


def _check_filter_memory(
    plan: ConvPlan, pixels: np.ndarray, result_dtype: np.dtype, channels_out: int, has_alpha: bool
) -> None:
    """Refuse, before allocating, a result (plus one band of floats) that cannot fit in memory."""
    from ..conv import available_memory

    oh, ow = plan.output_hw
    result = oh * ow * (channels_out + has_alpha) * np.dtype(result_dtype).itemsize
    index = 8 * (plan.padded_hw[0] + plan.padded_hw[1])
    needed = result * (1 + has_alpha) + index + 2 * BAND_BYTES
    if needed < 64 * 2**20:
        return
    available = available_memory()
    if available is not None and needed > available:
        raise HandconvMemoryError(
            f"filtering needs about {needed / 2**30:.1f} GiB: the result {oh} x {ow} x "
            f"{channels_out + has_alpha} x {np.dtype(result_dtype).itemsize} bytes = {result / 2**30:.1f} GiB "
            f"(height {plan.formula(0)}, width {plan.formula(1)}) and bands of {BAND_BYTES / 2**20:.0f} MiB; "
            f"only {available / 2**30:.1f} GiB is available; use less padding, a stride, or a smaller image"
        )
