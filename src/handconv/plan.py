"""One normalisation step: user arguments in, a small frozen :class:`ConvPlan` out.

``conv2d``, ``explain``, the image filter and the benchmarks all call
:func:`make_plan`; nothing else in handconv interprets ``strides``,
``padding``, ``data_format`` or ``dilations``. Every algorithm then receives the
same canonical arrays, input ``(N, H, W, C)`` and filters ``(KH, KW, C/groups,
C_out)``, together with the plan.

The argument rules are TensorFlow's ``tf.nn.conv2d`` (TF 2.x), checked against
the live library by the test suite:

* ``strides``/``dilations``: an int, or a sequence of 1, 2 or 4 ints; 4 are
  given in ``data_format`` order and their batch and channel entries must be 1.
* ``padding``: ``'SAME'``, ``'VALID'`` (any letter case), or an explicit list of
  4 ``[before, after]`` pairs in ``data_format`` order whose batch and channel
  pairs are ``[0, 0]``.
* grouped convolution when the input's channels are a multiple of the filter's
  ``in_channels``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from . import shapes
from .errors import HandconvError, HandconvTypeError

__all__ = ["ConvPlan", "make_plan", "output_shape", "DATA_FORMATS"]

DATA_FORMATS = ("NHWC", "NCHW")
#: Largest stride, dilation or pad amount: index arithmetic stays far inside int64.
MAX_WINDOW = 2**31 - 1
_AXIS_NAMES = ("height", "width")


@dataclass(frozen=True)
class ConvPlan:
    """Everything about one convolution except the numbers in it.

    Attributes
    ----------
    data_format : {'NHWC', 'NCHW'}
        The user's layout; algorithms always see NHWC.
    batch_shape : tuple of int
        Leading batch dimensions of the user's input (``(N,)`` for 4-D input).
    input_hw : (int, int)
        Input height and width.
    in_channels : int
        Input channels ``C``.
    filter_hw : (int, int)
        Filter height and width ``(KH, KW)``.
    filter_in_channels : int
        The filter's input channels, ``C / groups``.
    out_channels : int
        Output channels ``C_out``.
    strides, dilations : (int, int)
        Along height and width.
    padding : {'SAME', 'VALID', 'EXPLICIT'}
        How the pad amounts were given.
    pad_amounts : ((int, int), (int, int))
        Zeros added ``((top, bottom), (left, right))``.
    output_hw : (int, int)
        Output height and width.
    dtype : numpy.dtype
        The result's dtype (the input's).
    """

    data_format: str
    batch_shape: tuple[int, ...]
    input_hw: tuple[int, int]
    in_channels: int
    filter_hw: tuple[int, int]
    filter_in_channels: int
    out_channels: int
    strides: tuple[int, int]
    dilations: tuple[int, int]
    padding: str
    pad_amounts: tuple[tuple[int, int], tuple[int, int]]
    output_hw: tuple[int, int]
    dtype: np.dtype

    # ----------------------------------------------------------- derived sizes
    @property
    def batch(self) -> int:
        """All batch dimensions flattened into one, ``N``."""
        return math.prod(self.batch_shape)

    @property
    def groups(self) -> int:
        """Number of channel groups (1 for an ordinary convolution)."""
        return self.in_channels // self.filter_in_channels

    @property
    def out_channels_per_group(self) -> int:
        return self.out_channels // self.groups

    @property
    def compute_dtype(self) -> np.dtype:
        """dtype the arithmetic runs in: float16 accumulates in float32, as in TF."""
        return np.dtype(np.float32) if self.dtype == np.float16 else self.dtype

    @property
    def effective_filter_hw(self) -> tuple[int, int]:
        """Filter footprint with dilation gaps, ``(KH - 1) * dh + 1`` etc."""
        (kh, kw), (dh, dw) = self.filter_hw, self.dilations
        return (kh - 1) * dh + 1, (kw - 1) * dw + 1

    @property
    def padded_hw(self) -> tuple[int, int]:
        (h, w), ((t, b), (left, r)) = self.input_hw, self.pad_amounts
        return h + t + b, w + left + r

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """Canonical input shape ``(N, H, W, C)`` the algorithms receive."""
        return (self.batch, *self.input_hw, self.in_channels)

    @property
    def filter_shape(self) -> tuple[int, int, int, int]:
        """Filter shape ``(KH, KW, C / groups, C_out)``."""
        return (*self.filter_hw, self.filter_in_channels, self.out_channels)

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        """Canonical output shape ``(N, OH, OW, C_out)`` the algorithms return."""
        return (self.batch, *self.output_hw, self.out_channels)

    @property
    def user_output_shape(self) -> tuple[int, ...]:
        """Output shape in the user's layout, with all batch dimensions."""
        oh, ow = self.output_hw
        if self.data_format == "NCHW":
            return (*self.batch_shape, self.out_channels, oh, ow)
        return (*self.batch_shape, oh, ow, self.out_channels)

    @property
    def taps(self) -> int:
        """Multiply-adds per output element: ``KH * KW * C / groups``."""
        return self.filter_hw[0] * self.filter_hw[1] * self.filter_in_channels

    @property
    def macs(self) -> int:
        """Multiply-adds in the whole convolution."""
        return math.prod(self.output_shape) * self.taps

    @property
    def is_empty(self) -> bool:
        return math.prod(self.output_shape) == 0

    # ------------------------------------------------------------ arithmetic
    def formula(self, axis: int) -> str:
        """The output-size arithmetic along ``axis`` (0 = height, 1 = width).

        >>> plan = make_plan((1, 5, 5, 3), (3, 3, 3, 1), 2, [[0, 0], [1, 1], [1, 1], [0, 0]])
        >>> plan.formula(0)
        '(5 - 3 + 2*1) / 2 + 1 = 3'
        """
        if axis not in (0, 1):
            raise HandconvError(f"axis={axis!r} must be 0 (height) or 1 (width)")
        padding = self.padding if self.padding != "EXPLICIT" else self.pad_amounts[axis]
        return shapes.output_size_formula(
            self.input_hw[axis],
            self.filter_hw[axis],
            self.strides[axis],
            padding,
            self.dilations[axis],
        )

    def describe(self) -> str:
        """A few lines a student would write down before computing anything."""
        (h, w), (kh, kw) = self.input_hw, self.filter_hw
        lines = [
            f"input  {'x'.join(map(str, self.batch_shape))} batch, {h}x{w} pixels, "
            f"{self.in_channels} channel(s), {self.data_format}",
            f"filter {kh}x{kw}x{self.filter_in_channels} -> {self.out_channels} output channel(s)"
            + (f", {self.groups} groups" if self.groups > 1 else ""),
            f"stride {self.strides[0]}x{self.strides[1]}, dilation "
            f"{self.dilations[0]}x{self.dilations[1]}, padding {self.padding}: "
            f"top {self.pad_amounts[0][0]}, bottom {self.pad_amounts[0][1]}, "
            f"left {self.pad_amounts[1][0]}, right {self.pad_amounts[1][1]}",
        ]
        for axis, name in enumerate(_AXIS_NAMES):
            lines.append(f"output {name}: {self.formula(axis)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.describe()

    # --------------------------------------------------------------- geometry
    def receptive_field(self, oy: int, ox: int) -> tuple[slice, slice]:
        """Rows and columns of the *padded* input that output ``(oy, ox)`` reads.

        The slices step by the dilation, so ``padded[rows, cols]`` has the
        filter's shape ``(KH, KW)``.

        >>> plan = make_plan((1, 5, 5, 3), (3, 3, 3, 1), 2, "SAME")
        >>> plan.receptive_field(1, 2)
        (slice(2, 5, 1), slice(4, 7, 1))
        """
        (sh, sw), (dh, dw) = self.strides, self.dilations
        (keh, kew) = self.effective_filter_hw
        return slice(oy * sh, oy * sh + keh, dh), slice(ox * sw, ox * sw + kew, dw)

    def pad(self, x: np.ndarray) -> np.ndarray:
        """Zero-pad canonical input ``(N, H, W, C)`` to ``(N, Hp, Wp, C)``.

        Rows and columns beyond what any output reads (possible with VALID or
        a large stride) are kept: the padded input is the one the article draws.
        """
        (t, b), (left, r) = self.pad_amounts
        if t == b == left == r == 0:
            return x
        padded = np.zeros((x.shape[0], *self.padded_hw, x.shape[3]), dtype=x.dtype)
        padded[:, t : t + x.shape[1], left : left + x.shape[2], :] = x
        return padded


# ----------------------------------------------------------------- normalising
def _freeze(value: Any) -> Any:
    """Make list-like arguments hashable so plans can be cached."""
    kind = type(value)
    if kind is int or kind is str or value is None:  # the common cases, fast
        return value
    if kind is tuple and all(type(v) is int for v in value):
        return value
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _kinds(value: Any) -> Any:
    """The types inside a frozen argument, for the cache key.

    ``True == 1 == 1.0`` and ``2.0 == 2`` hash alike, but only the int is a
    valid stride: keying on the types too means a value the validation refuses
    can never be served a plan cached for an equal valid one.

    >>> _kinds((1, (True, 2.0)))
    (<class 'int'>, (<class 'bool'>, <class 'float'>))
    """
    kind = type(value)
    if kind is not tuple:
        return kind
    return tuple([_kinds(v) for v in value])


def make_plan(
    input_shape: Sequence[int],
    filters_shape: Sequence[int],
    strides: Any = 1,
    padding: Any = "VALID",
    data_format: str = "NHWC",
    dilations: Any = None,
    dtype: Any = np.float32,
) -> ConvPlan:
    """Validate ``tf.nn.conv2d``-style arguments and resolve them into a :class:`ConvPlan`.

    Parameters
    ----------
    input_shape : sequence of int
        ``batch_shape + (H, W, C)`` for NHWC or ``batch_shape + (C, H, W)`` for NCHW.
    filters_shape : sequence of int
        ``(KH, KW, C / groups, C_out)``.
    strides, padding, data_format, dilations
        As in :func:`handconv.conv2d`.
    dtype : numpy dtype
        dtype of the input and result.

    Returns
    -------
    ConvPlan

    Raises
    ------
    HandconvError, HandconvTypeError
        Naming the argument, the value given and what was expected.

    Examples
    --------
    >>> print(make_plan((1, 5, 5, 3), (3, 3, 3, 1), strides=2, padding="SAME"))
    input  1 batch, 5x5 pixels, 3 channel(s), NHWC
    filter 3x3x3 -> 1 output channel(s)
    stride 2x2, dilation 1x1, padding SAME: top 1, bottom 1, left 1, right 1
    output height: ceil(5 / 2) = 3, padding 2 = 1 before + 1 after
    output width: ceil(5 / 2) = 3, padding 2 = 1 before + 1 after
    """
    try:
        key = (
            _freeze(input_shape),
            _freeze(filters_shape),
            _freeze(strides),
            _freeze(padding),
            data_format,
            _freeze(dilations),
            np.dtype(dtype),
        )
        hash(key)
    except TypeError:  # unhashable oddities: validate without the cache
        return _make_plan(input_shape, filters_shape, strides, padding, data_format, dilations, dtype)
    # Shapes are converted with int() whatever their type; the window arguments are validated by type.
    return _cached_plan(key, (_kinds(key[2]), _kinds(key[3]), _kinds(key[5])))


@functools.lru_cache(maxsize=1024)
def _cached_plan(key: tuple[Any, ...], kinds: Any) -> ConvPlan:
    return _make_plan(*key)


def _make_plan(
    input_shape: Any,
    filters_shape: Any,
    strides: Any,
    padding: Any,
    data_format: Any,
    dilations: Any,
    dtype: Any,
) -> ConvPlan:
    data_format = _check_data_format(data_format)
    input_shape = _check_shape(input_shape, "input", min_rank=4)
    filters_shape = _check_shape(filters_shape, "filters", min_rank=4, max_rank=4)
    if data_format == "NHWC":
        *batch_shape, h, w, c = input_shape
    else:
        *batch_shape, c, h, w = input_shape
    kh, kw, filter_in, out_channels = filters_shape
    if kh == 0 or kw == 0:
        raise HandconvError(
            f"filters has shape {filters_shape}; filter_height and filter_width must be >= 1"
        )
    if filter_in == 0 or c % filter_in != 0:
        raise HandconvError(
            f"input has {c} channel(s) but filters has in_channels={filter_in} "
            f"(filters shape {filters_shape}, input shape {input_shape}, {data_format}); "
            "expected the input's channels to equal the filter's in_channels, "
            "or to be a multiple of it (grouped convolution)"
        )
    groups = c // filter_in
    if out_channels % groups != 0:
        raise HandconvError(
            f"filters has out_channels={out_channels}, which is not divisible by the "
            f"{groups} groups implied by input channels {c} / filter in_channels {filter_in}"
        )
    strides_hw = _check_window_arg(strides, "strides", data_format)
    dilations_hw = _check_window_arg(dilations, "dilations", data_format)
    mode, explicit = _check_padding(padding, data_format)

    pads = []
    outs = []
    for axis, (size, k) in enumerate(((h, kh), (w, kw))):
        axis_padding = mode if mode != "EXPLICIT" else explicit[axis]
        try:
            pads.append(shapes.pad_amounts(size, k, strides_hw[axis], axis_padding, dilations_hw[axis]))
            outs.append(shapes.output_size(size, k, strides_hw[axis], axis_padding, dilations_hw[axis]))
        except HandconvError as error:
            raise HandconvError(
                f"{_AXIS_NAMES[axis]}: input {size}, filter {k}, stride {strides_hw[axis]}, "
                f"dilation {dilations_hw[axis]}, padding {axis_padding!r}: {error}"
            ) from None
    return ConvPlan(
        data_format=data_format,
        batch_shape=tuple(batch_shape),
        input_hw=(h, w),
        in_channels=c,
        filter_hw=(kh, kw),
        filter_in_channels=filter_in,
        out_channels=out_channels,
        strides=strides_hw,
        dilations=dilations_hw,
        padding=mode,
        pad_amounts=(pads[0], pads[1]),
        output_hw=(outs[0], outs[1]),
        dtype=np.dtype(dtype),
    )


def _check_data_format(data_format: Any) -> str:
    if not isinstance(data_format, str):
        raise HandconvTypeError(
            f"data_format={data_format!r} is not a string; expected 'NHWC' or 'NCHW'"
        )
    if data_format not in DATA_FORMATS:
        raise HandconvError(f"data_format={data_format!r} is not supported; expected 'NHWC' or 'NCHW'")
    return data_format


def _check_shape(shape: Any, name: str, min_rank: int, max_rank: int | None = None) -> tuple[int, ...]:
    shape = tuple(int(s) for s in shape)
    rank = len(shape)
    if rank < min_rank or (max_rank is not None and rank > max_rank):
        expected = f"exactly {min_rank}" if max_rank == min_rank else f"at least {min_rank}"
        layout = (
            "[filter_height, filter_width, in_channels, out_channels]"
            if name == "filters"
            else "batch_shape + [height, width, channels] (NHWC) or batch_shape + [channels, height, width] (NCHW)"
        )
        raise HandconvError(f"{name} has rank {rank} (shape {shape}); expected rank {expected}: {layout}")
    return shape


def _check_window_arg(value: Any, name: str, data_format: str) -> tuple[int, int]:
    """TF's ``_get_sequence`` rule: int or 1, 2 or 4 values; batch/channel entries 1."""
    if value is None:
        return (1, 1)
    if isinstance(value, (str, bytes)) or (not hasattr(value, "__len__") and not shapes._is_int(value)):
        raise HandconvTypeError(f"{name}={value!r} must be an int or a list of 1, 2 or 4 ints")
    values = list(value) if hasattr(value, "__len__") else [value]
    for v in values:
        if isinstance(v, bool) or not shapes._is_int(v):
            raise HandconvTypeError(f"{name}={value!r} must hold ints; got {v!r}")
    values = [int(v) for v in values]
    if len(values) == 4:
        channel_axis = 3 if data_format == "NHWC" else 1
        spatial = (1, 2) if data_format == "NHWC" else (2, 3)
        if values[0] != 1 or values[channel_axis] != 1:
            raise HandconvError(
                f"{name}={value!r}: entries for the batch and channel dimensions must be 1 "
                f"(order {data_format}); TensorFlow does not support {name} there either"
            )
        values = [values[spatial[0]], values[spatial[1]]]
    elif len(values) == 1:
        values = values * 2
    elif len(values) != 2:
        raise HandconvError(
            f"{name}={value!r} has length {len(values)}; expected an int or a list of length 1, 2 or 4"
        )
    if min(values) < 1:
        raise HandconvError(f"{name}={value!r} must be positive; every entry must be >= 1")
    if max(values) > MAX_WINDOW:
        raise HandconvError(f"{name}={value!r} is too large; every entry must be <= {MAX_WINDOW} (2**31 - 1)")
    return values[0], values[1]


def _check_padding(padding: Any, data_format: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    expected = (
        "expected 'SAME', 'VALID' or an explicit list of 4 [before, after] pairs in "
        f"{data_format} order, e.g. "
        + (
            "[[0, 0], [top, bottom], [left, right], [0, 0]]"
            if data_format == "NHWC"
            else "[[0, 0], [0, 0], [top, bottom], [left, right]]"
        )
    )
    if isinstance(padding, str):
        if padding.upper() in ("SAME", "VALID"):
            return padding.upper(), ()
        raise HandconvError(f"padding={padding!r} is not a padding; {expected}")
    if not isinstance(padding, (list, tuple)):
        raise HandconvTypeError(f"padding={padding!r} has type {type(padding).__name__}; {expected}")
    if len(padding) != 4 or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in padding):
        raise HandconvError(f"padding={padding!r} is not of the explicit form; {expected}")
    flat = [v for pair in padding for v in pair]
    if not all(shapes._is_int(v) and not isinstance(v, bool) for v in flat):
        raise HandconvTypeError(f"padding={padding!r} must hold ints; {expected}")
    pairs = [(int(a), int(b)) for a, b in padding]
    if any(v < 0 for pair in pairs for v in pair):
        raise HandconvError(f"padding={padding!r} must not be negative; {expected}")
    if any(v > MAX_WINDOW for pair in pairs for v in pair):
        raise HandconvError(f"padding={padding!r} is too large; every amount must be <= {MAX_WINDOW} (2**31 - 1)")
    spatial = (1, 2) if data_format == "NHWC" else (2, 3)
    other = [i for i in range(4) if i not in spatial]
    if any(pairs[i] != (0, 0) for i in other):
        raise HandconvError(
            f"padding={padding!r} pads the batch or channel dimension; only height and width "
            f"can be padded, {expected}"
        )
    return "EXPLICIT", (pairs[spatial[0]], pairs[spatial[1]])


def output_shape(
    input_shape: Sequence[int],
    filters_shape: Sequence[int],
    strides: Any = 1,
    padding: Any = "VALID",
    data_format: str = "NHWC",
    dilations: Any = None,
) -> tuple[int, ...]:
    """Shape ``tf.nn.conv2d`` returns for these arguments, without computing anything.

    Parameters
    ----------
    input_shape : sequence of int
        ``batch_shape + (H, W, C)`` (NHWC) or ``batch_shape + (C, H, W)`` (NCHW).
    filters_shape : sequence of int
        ``(KH, KW, C / groups, C_out)``.
    strides, padding, data_format, dilations
        As in :func:`handconv.conv2d`.

    Returns
    -------
    tuple of int
        ``batch_shape + (OH, OW, C_out)`` or ``batch_shape + (C_out, OH, OW)``.

    Examples
    --------
    >>> output_shape((1, 5, 5, 3), (3, 3, 3, 1), 2, [[0, 0], [1, 1], [1, 1], [0, 0]])
    (1, 3, 3, 1)
    >>> output_shape((8, 2, 3, 224, 224), (7, 7, 3, 64), 2, "SAME", "NCHW")
    (8, 2, 64, 112, 112)
    >>> output_shape((1, 2, 2, 1), (3, 3, 1, 1), 2, "VALID")   # the filter fits nowhere
    (1, 0, 0, 1)
    """
    return make_plan(input_shape, filters_shape, strides, padding, data_format, dilations).user_output_shape
