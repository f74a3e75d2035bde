"""One normalisation step: user arguments in, a small frozen :class:`ConvPlan` out.

``conv2d``, the whole convolution family, ``explain``, the image filter and the
benchmarks all get their plan here; nothing else in handconv interprets
``strides``, ``padding``, ``data_format`` or ``dilations``. Every algorithm then
receives the same canonical arrays, input ``(N, *spatial, C)`` and filters
``(*K, C / groups, C_out)``, together with the plan.

One plan for the whole family
-----------------------------
A :class:`ConvPlan` is XLA's general convolution (``ConvGeneralDilated``,
``jax.lax.conv_general_dilated``) on 1, 2 or 3 spatial dimensions: the input is
dilated by ``lhs_dilations`` (zeros between samples), padded by
``pad_amounts`` (a negative amount crops), and a filter dilated by
``dilations`` slides over it with ``strides``; channels split into
``groups`` (feature groups), and the batch into ``batch_groups``. Every op is
a mapping onto it:

=========================  =====================================================
op                         the plan it runs (built by)
=========================  =====================================================
``conv2d``                 rank 2, TF's padding rules (:func:`make_plan`)
``conv1d``, ``conv3d``,    rank 1 or 3, the same rules (:func:`make_conv_plan`)
``convolution``
``depthwise_conv2d``       rank 2, ``groups = C``, filter ``(KH, KW, 1, C*M)``
``conv2d_backprop_input``  out_backprop dilated by the forward strides, padded by
                           ``k_eff - 1 - before`` (and the rest after), convolved
                           with the flipped, in/out-swapped filter
                           (:func:`backprop_input_plan`)
``conv2d_transpose``       the same plan as ``conv2d_backprop_input``
``conv2d_backprop_filter`` the input, batch and channels swapped, convolved with
                           out_backprop as the filter, dilated by the strides;
                           groups become batch groups (:func:`backprop_filter_plan`)
``max_pool2d``,            the same windows as a depthwise ``conv2d``
``avg_pool2d``             (:func:`pool_plan`), reduced by max or mean
=========================  =====================================================

The argument rules are TensorFlow's (``tf.nn.conv2d``, ``tf.nn.convolution``,
TF 2.x), checked against the live library by the test suite:

* ``strides``/``dilations``: an int, or a sequence of 1, N or N + 2 ints; N + 2
  are given in ``data_format`` order and their batch and channel entries must be 1.
* ``padding``: ``'SAME'``, ``'VALID'`` (any letter case), or an explicit list of
  N + 2 ``[before, after]`` pairs in ``data_format`` order whose batch and
  channel pairs are ``[0, 0]``.
* grouped convolution when the input's channels are a multiple of the filter's
  ``in_channels``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, overload

import numpy as np

from . import shapes
from .errors import HandconvError, HandconvTypeError

__all__ = [
    "ConvPlan",
    "make_plan",
    "make_conv_plan",
    "general_plan",
    "backprop_input_plan",
    "backprop_filter_plan",
    "transposed_plan",
    "pool_plan",
    "output_shape",
    "check_size_vector",
    "DATA_FORMATS",
    "DATA_FORMATS_BY_RANK",
]

#: ``conv2d``'s layouts.
DATA_FORMATS = ("NHWC", "NCHW")
#: Largest stride, dilation or pad amount: index arithmetic stays far inside int64.
MAX_WINDOW = 2**31 - 1
#: Layouts by number of spatial dimensions, channels-last first (TF's default).
DATA_FORMATS_BY_RANK = {1: ("NWC", "NCW"), 2: ("NHWC", "NCHW"), 3: ("NDHWC", "NCDHW")}
_AXIS_NAMES_BY_RANK = {1: ("width",), 2: ("height", "width"), 3: ("depth", "height", "width")}
_AXIS_NAMES = _AXIS_NAMES_BY_RANK[2]


class _Alias:
    """A second, read-only name for a spatial tuple of :class:`ConvPlan` (its 2-D name: ``input_hw``, ...)."""

    def __init__(self, target: str, doc: str) -> None:
        self.target = target
        self.__doc__ = doc

    @overload
    def __get__(self, plan: None, owner: type | None = None) -> _Alias: ...

    @overload
    def __get__(self, plan: ConvPlan, owner: type | None = None) -> tuple[int, ...]: ...

    def __get__(self, plan: ConvPlan | None, owner: type | None = None) -> _Alias | tuple[int, ...]:
        return self if plan is None else getattr(plan, self.target)


@dataclass(frozen=True)
class ConvPlan:
    """Everything about one convolution except the numbers in it.

    Spatial attributes are tuples with one entry per spatial dimension
    (``(H, W)`` for a 2-D convolution, ``(D, H, W)`` for 3-D). The 2-D names
    (``input_hw``, ``filter_hw``, ``output_hw``, ``padded_hw``,
    ``effective_filter_hw``) are the same tuples under the names ``conv2d``
    code reads.

    Attributes
    ----------
    data_format : str
        The user's layout (``'NHWC'``, ``'NCHW'``, ``'NWC'``, ``'NCDHW'``, ...);
        algorithms always see channels last.
    batch_shape : tuple of int
        Leading batch dimensions of the user's input (``(N,)`` for 4-D input).
    input_spatial : tuple of int
        Input sizes, e.g. ``(H, W)``.
    in_channels : int
        Input channels ``C``.
    filter_spatial : tuple of int
        Filter sizes, e.g. ``(KH, KW)``.
    filter_in_channels : int
        The filter's input channels, ``C / groups``.
    out_channels : int
        Output channels ``C_out``.
    strides : tuple of int
        Window strides.
    dilations : tuple of int
        Filter (rhs) dilations: gaps between filter taps.
    padding : {'SAME', 'VALID', 'EXPLICIT', 'GENERAL'}
        How the pad amounts were given (``'GENERAL'``: derived by a mapping).
    pad_amounts : tuple of (int, int)
        Zeros added ``(before, after)`` per dimension, e.g.
        ``((top, bottom), (left, right))``; negative amounts crop.
    output_spatial : tuple of int
        Output sizes, e.g. ``(OH, OW)``.
    dtype : numpy.dtype
        The result's dtype (the input's).
    lhs_dilations : tuple of int
        Input (lhs) dilations: ``d - 1`` zeros between input samples. All 1
        except for transposed convolutions and input gradients.
    batch_groups : int
        XLA's ``batch_group_count``: the batch splits into this many groups and
        output channel group ``g`` sums over batch group ``g`` only (the filter
        gradient of a grouped convolution). The output batch is
        ``batch / batch_groups``.
    op : str
        The op the plan computes, for descriptions (``'conv2d'``,
        ``'conv2d_backprop_input'``, ...).
    """

    data_format: str
    batch_shape: tuple[int, ...]
    input_spatial: tuple[int, ...]
    in_channels: int
    filter_spatial: tuple[int, ...]
    filter_in_channels: int
    out_channels: int
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    padding: str
    pad_amounts: tuple[tuple[int, int], ...]
    output_spatial: tuple[int, ...]
    dtype: np.dtype
    lhs_dilations: tuple[int, ...] = ()
    batch_groups: int = 1
    op: str = "conv2d"

    def __post_init__(self) -> None:
        if not self.lhs_dilations:
            object.__setattr__(self, "lhs_dilations", (1,) * len(self.input_spatial))

    # ----------------------------------------------------------- 2-D names
    input_hw = _Alias("input_spatial", "``input_spatial``: ``(H, W)`` for a 2-D plan.")
    filter_hw = _Alias("filter_spatial", "``filter_spatial``: ``(KH, KW)`` for a 2-D plan.")
    output_hw = _Alias("output_spatial", "``output_spatial``: ``(OH, OW)`` for a 2-D plan.")
    effective_filter_hw = _Alias(
        "effective_filter_spatial", "``effective_filter_spatial``: ``((KH - 1) * dh + 1, ...)``."
    )
    padded_hw = _Alias("padded_spatial", "``padded_spatial``: the size of :meth:`pad`'s result.")

    # ----------------------------------------------------------- derived sizes
    @property
    def spatial_rank(self) -> int:
        """Number of spatial dimensions (1, 2 or 3)."""
        return len(self.input_spatial)

    @property
    def channels_first(self) -> bool:
        """Whether the user's layout puts channels before the spatial dimensions."""
        return self.data_format[1] == "C"

    @property
    def is_plain_2d(self) -> bool:
        """A ``conv2d`` as the registered 2-D methods compute it.

        Two spatial dimensions, no input dilation, no batch groups, no
        cropping. Every other plan runs on the methods that say they take
        general plans (see :mod:`handconv.methods`).
        """
        return (
            self.spatial_rank == 2
            and self.lhs_dilations == (1, 1)
            and self.batch_groups == 1
            and all(p >= 0 for pair in self.pad_amounts for p in pair)
        )

    @property
    def batch(self) -> int:
        """All batch dimensions flattened into one, ``N``."""
        return math.prod(self.batch_shape)

    @property
    def groups(self) -> int:
        """Number of channel (feature) groups (1 for an ordinary convolution)."""
        return self.in_channels // self.filter_in_channels

    @property
    def out_channels_per_group(self) -> int:
        return self.out_channels // (self.groups * self.batch_groups)

    @property
    def compute_dtype(self) -> np.dtype:
        """dtype the arithmetic runs in: float16 accumulates in float32, as in TF."""
        return np.dtype(np.float32) if self.dtype == np.float16 else self.dtype

    @property
    def effective_filter_spatial(self) -> tuple[int, ...]:
        """Filter footprint with dilation gaps, ``(K - 1) * d + 1`` per dimension."""
        return tuple(shapes.dilated_size(k, d) for k, d in zip(self.filter_spatial, self.dilations))

    @property
    def padded_spatial(self) -> tuple[int, ...]:
        """Input sizes once dilated by ``lhs_dilations`` and padded (or cropped)."""
        return tuple(
            shapes.dilated_size(n, ld) + before + after
            for n, ld, (before, after) in zip(self.input_spatial, self.lhs_dilations, self.pad_amounts)
        )

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Canonical input shape ``(N, *spatial, C)`` the algorithms receive."""
        return (self.batch, *self.input_spatial, self.in_channels)

    @property
    def filter_shape(self) -> tuple[int, ...]:
        """Filter shape ``(*K, C / groups, C_out)``."""
        return (*self.filter_spatial, self.filter_in_channels, self.out_channels)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Canonical output shape ``(N / batch_groups, *out_spatial, C_out)`` the algorithms return."""
        return (self.batch // self.batch_groups, *self.output_spatial, self.out_channels)

    @property
    def user_output_shape(self) -> tuple[int, ...]:
        """Output shape in the user's layout, with all batch dimensions."""
        if self.batch_groups != 1:
            return self.output_shape
        if self.channels_first:
            return (*self.batch_shape, self.out_channels, *self.output_spatial)
        return (*self.batch_shape, *self.output_spatial, self.out_channels)

    @property
    def taps(self) -> int:
        """Multiply-adds per output element: ``prod(K) * C / groups``."""
        return math.prod(self.filter_spatial) * self.filter_in_channels

    @property
    def macs(self) -> int:
        """Multiply-adds in the whole convolution (zeros of a dilated input included)."""
        return math.prod(self.output_shape) * self.taps

    @property
    def is_empty(self) -> bool:
        return math.prod(self.output_shape) == 0

    # ------------------------------------------------------------ arithmetic
    def formula(self, axis: int) -> str:
        """The output-size arithmetic along ``axis`` (0 = height, 1 = width for 2-D).

        >>> plan = make_plan((1, 5, 5, 3), (3, 3, 3, 1), 2, [[0, 0], [1, 1], [1, 1], [0, 0]])
        >>> plan.formula(0)
        '(5 - 3 + 2*1) / 2 + 1 = 3'
        """
        names = _AXIS_NAMES_BY_RANK[self.spatial_rank]
        if not shapes.is_int(axis) or not 0 <= axis < self.spatial_rank:
            expected = " or ".join(f"{i} ({name})" for i, name in enumerate(names))
            raise HandconvError(f"axis={axis!r} must be {expected}")
        if self.padding == "GENERAL":
            return shapes.general_output_size_formula(
                self.input_spatial[axis],
                self.filter_spatial[axis],
                self.strides[axis],
                self.pad_amounts[axis],
                self.dilations[axis],
                self.lhs_dilations[axis],
            )
        padding = self.padding if self.padding != "EXPLICIT" else self.pad_amounts[axis]
        return shapes.output_size_formula(
            self.input_spatial[axis],
            self.filter_spatial[axis],
            self.strides[axis],
            padding,
            self.dilations[axis],
        )

    def describe(self) -> str:
        """A few lines a student would write down before computing anything."""
        names = _AXIS_NAMES_BY_RANK[self.spatial_rank]

        def by(values: Sequence[int]) -> str:
            return "x".join(map(str, values))

        pads = ", ".join(f"{name} {before}+{after}" for name, (before, after) in zip(names, self.pad_amounts))
        if self.spatial_rank == 2:
            (t, b), (left, r) = self.pad_amounts
            pads = f"top {t}, bottom {b}, left {left}, right {r}"
        unit = "pixels" if self.spatial_rank == 2 else "samples" if self.spatial_rank == 1 else "voxels"
        lines = []
        if self.op not in ("conv2d",):
            lines.append(f"{self.op}, computed as one convolution:")
        lines += [
            f"input  {by(self.batch_shape)} batch, {by(self.input_spatial)} {unit}, "
            f"{self.in_channels} channel(s), {self.data_format}",
            f"filter {by(self.filter_spatial)}x{self.filter_in_channels} -> {self.out_channels} output channel(s)"
            + (f", {self.groups} groups" if self.groups > 1 else "")
            + (f", {self.batch_groups} batch groups" if self.batch_groups > 1 else ""),
            f"stride {by(self.strides)}, dilation {by(self.dilations)}, padding {self.padding}: {pads}",
        ]
        if any(d != 1 for d in self.lhs_dilations):
            lines.append(f"input dilation {by(self.lhs_dilations)} (zeros between input samples)")
        for axis, name in enumerate(names):
            lines.append(f"output {name}: {self.formula(axis)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.describe()

    def as_2d(self) -> ConvPlan:
        """A 1-D plan as the 2-D plan of height 1 it equals (TF's ``conv1d`` does the same).

        The 2-D methods and their cost model then serve it; arrays gain a unit
        axis before the spatial one: ``x[:, None]``, ``filters[None]``.

        >>> make_conv_plan((2, 9, 3), (3, 3, 4), 2, "SAME").as_2d().output_hw
        (1, 5)
        """
        if self.spatial_rank != 1:
            raise HandconvError(f"as_2d() lifts 1-D plans; this one has {self.spatial_rank} spatial dimensions")
        return replace(
            self,
            data_format="NHWC",
            input_spatial=(1, *self.input_spatial),
            filter_spatial=(1, *self.filter_spatial),
            strides=(1, *self.strides),
            dilations=(1, *self.dilations),
            pad_amounts=((0, 0), *self.pad_amounts),
            output_spatial=(1, *self.output_spatial),
            lhs_dilations=(1, *self.lhs_dilations),
            padding="EXPLICIT" if self.padding != "GENERAL" else "GENERAL",
        )

    # --------------------------------------------------------------- geometry
    def receptive_field(self, *out_index: int) -> tuple[slice, ...]:
        """Slices of the *padded* input that output ``(oy, ox)`` (one index per dimension) reads.

        The slices step by the dilation, so ``padded[rows, cols]`` has the
        filter's shape ``(KH, KW)``.

        >>> plan = make_plan((1, 5, 5, 3), (3, 3, 3, 1), 2, "SAME")
        >>> plan.receptive_field(1, 2)
        (slice(2, 5, 1), slice(4, 7, 1))
        """
        return tuple(
            slice(o * s, o * s + k_eff, d)
            for o, s, d, k_eff in zip(out_index, self.strides, self.dilations, self.effective_filter_spatial)
        )

    def pad(self, x: np.ndarray) -> np.ndarray:
        """Dilate and zero-pad canonical input ``(N, *spatial, C)`` to ``(N, *padded_spatial, C)``.

        ``lhs_dilations - 1`` zeros go between input samples, then the pad
        amounts around them; a negative amount crops instead. Rows and
        columns beyond what any output reads (possible with VALID or a large
        stride) are kept: the padded input is the one the article draws.
        """
        if all(d == 1 for d in self.lhs_dilations):
            if all(p == 0 for pair in self.pad_amounts for p in pair):
                return x
            source = x
        else:
            dilated = tuple(shapes.dilated_size(n, d) for n, d in zip(x.shape[1:-1], self.lhs_dilations))
            source = np.zeros((x.shape[0], *dilated, x.shape[-1]), dtype=x.dtype)
            samples = (slice(None), *(slice(None, None, d) for d in self.lhs_dilations))
            source[samples] = x
        # Cropping first (negative pads), then zeros around what is left.
        crop = tuple(
            slice(max(-before, 0), n - max(-after, 0))
            for n, (before, after) in zip(source.shape[1:-1], self.pad_amounts)
        )
        kept = (slice(None), *crop)
        source = source[kept]
        if all(p <= 0 for pair in self.pad_amounts for p in pair):
            return source
        padded = np.zeros((x.shape[0], *self.padded_spatial, x.shape[-1]), dtype=x.dtype)
        inner = tuple(
            slice(max(before, 0), max(before, 0) + n) for n, (before, _) in zip(source.shape[1:-1], self.pad_amounts)
        )
        interior = (slice(None), *inner)
        padded[interior] = source
        return padded

    def scatter_ranges(self, tap: Sequence[int]) -> tuple[tuple[slice, slice], ...] | None:
        """Where filter tap ``tap`` sends each input sample, for a plan with window stride 1.

        With stride 1, output ``p`` reads the dilated, padded input at ``p + k
        * d``, and input sample ``i`` sits there at ``i * lhs_dilation +
        before``; so tap ``k`` adds input ``i`` times its weight into output
        ``i * lhs_dilation + before - k * d``. Returns, per dimension,
        ``(input slice, output slice)`` of the samples that land inside the
        output, or ``None`` when none does.

        >>> plan = general_plan((1, 3, 1), (3, 1, 1), strides=1, pad_amounts=[(1, 2)], lhs_dilations=2)
        >>> plan.output_spatial, plan.scatter_ranges((0,)), plan.scatter_ranges((2,))
        ((6,), ((slice(0, 3, None), slice(1, 6, 2)),), ((slice(1, 3, None), slice(1, 4, 2)),))
        """
        ranges = []
        for n, k, d, ld, (before, _), out in zip(
            self.input_spatial, tap, self.dilations, self.lhs_dilations, self.pad_amounts, self.output_spatial
        ):
            offset = before - k * d  # output index of input sample 0
            first = 0 if offset >= 0 else -(offset // ld)  # ceil(-offset / ld)
            last = min(n - 1, (out - 1 - offset) // ld) if out - 1 >= offset else -1
            if last < first:
                return None
            ranges.append((slice(first, last + 1), slice(offset + first * ld, offset + last * ld + 1, ld)))
        return tuple(ranges)


# ----------------------------------------------------------------- normalising
def _freeze(value: Any) -> Any:
    """A hashable cache key for an argument that is equal only for arguments that validate alike.

    Python has ``True == 1`` and ``2.0 == 2`` (with equal hashes), so a key of
    bare values would let ``strides=True`` hit the cache entry of
    ``strides=1`` and skip the type check a fresh call makes. Every scalar but
    a plain int or string is therefore keyed with its type; lists, tuples and
    arrays become tuples of such keys (a list and a tuple of the same ints
    validate alike and share an entry).
    """
    kind = type(value)
    if kind is int or kind is str or value is None:  # the common cases, fast
        return value
    if kind is tuple and all(type(v) is int for v in value):
        return value
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):  # a list and a tuple of the same ints validate alike
        return tuple(_freeze(v) for v in value)
    return (kind, value)


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
    return _plan_cached(2, "conv2d", input_shape, filters_shape, strides, padding, data_format, dilations, dtype)


def make_conv_plan(
    input_shape: Sequence[int],
    filters_shape: Sequence[int],
    strides: Any = 1,
    padding: Any = "VALID",
    data_format: str | None = None,
    dilations: Any = None,
    dtype: Any = np.float32,
    op: str = "convolution",
) -> ConvPlan:
    """:func:`make_plan` for 1, 2 or 3 spatial dimensions (``tf.nn.convolution``'s rules).

    The number of spatial dimensions is the filter's rank minus 2;
    ``data_format=None`` means channels last (``'NWC'``, ``'NHWC'``, ``'NDHWC'``).

    Examples
    --------
    >>> make_conv_plan((2, 7, 4), (3, 4, 8), strides=2, padding="SAME").user_output_shape
    (2, 4, 8)
    >>> make_conv_plan((1, 2, 8, 8, 8), (3, 3, 3, 2, 4), 1, "VALID", "NCDHW").user_output_shape
    (1, 4, 6, 6, 6)
    """
    try:
        rank = len(filters_shape) - 2
    except TypeError:
        raise HandconvTypeError(f"filters shape {filters_shape!r} is not a sequence of ints") from None
    if rank not in DATA_FORMATS_BY_RANK:
        raise HandconvError(
            f"filters has rank {rank + 2} (shape {tuple(filters_shape)}); expected rank 3, 4 or 5: "
            "spatial sizes + [in_channels, out_channels] for a 1-, 2- or 3-D convolution"
        )
    if data_format is None:
        data_format = DATA_FORMATS_BY_RANK[rank][0]
    return _plan_cached(rank, op, input_shape, filters_shape, strides, padding, data_format, dilations, dtype)


def _plan_cached(rank: int, op: str, *args: Any) -> ConvPlan:
    """Validate through the plan cache, keyed so that only arguments that validate alike share an entry."""
    *values, dtype = args
    try:
        key = (rank, op, *(_freeze(v) for v in values), np.dtype(dtype))
        hash(key)
    except TypeError:  # unhashable oddities: validate without the cache
        return _make_plan(rank, op, *args)
    return _cached_plan(key, _Passenger(args))


class _Passenger:
    """The caller's own arguments, carried through ``lru_cache`` without being part of its key.

    The key is the frozen, type-tagged arguments; equal keys validate alike, so
    the first caller's arguments stand for all of them.
    """

    __slots__ = ("args",)

    def __init__(self, args: tuple) -> None:
        self.args = args

    def __hash__(self) -> int:
        return 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Passenger)


@functools.lru_cache(maxsize=1024)
def _cached_plan(key: Any, passenger: _Passenger) -> ConvPlan:
    rank, op = key[:2]
    return _make_plan(rank, op, *passenger.args)


def _make_plan(
    rank: int,
    op: str,
    input_shape: Any,
    filters_shape: Any,
    strides: Any,
    padding: Any,
    data_format: Any,
    dilations: Any,
    dtype: Any,
) -> ConvPlan:
    data_format = _check_data_format(data_format, rank)
    input_shape = _check_shape(input_shape, "input", rank, min_rank=rank + 2)
    filters_shape = _check_shape(filters_shape, "filters", rank, min_rank=rank + 2, max_rank=rank + 2)
    shape: tuple[int, ...] = input_shape
    if data_format[1] == "C":
        *batch_shape, c = shape[:-rank]
        spatial = shape[-rank:]
    else:
        *batch_shape, c = (*shape[: -rank - 1], shape[-1])
        spatial = shape[-rank - 1 : -1]
    *kernel, filter_in, out_channels = filters_shape
    if min(kernel) == 0:
        names = "_".join(_AXIS_NAMES_BY_RANK[rank])
        raise HandconvError(
            f"filters has shape {filters_shape}; filter sizes ({names.replace('_', ', ')}) must be >= 1"
            if rank != 2
            else f"filters has shape {filters_shape}; filter_height and filter_width must be >= 1"
        )
    if filter_in == 0 or c == 0 or c % filter_in != 0:
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
    window_strides = _check_window_arg(strides, "strides", data_format)
    filter_dilations = _check_window_arg(dilations, "dilations", data_format)
    mode, explicit = _check_padding(padding, data_format)

    pads = []
    outs = []
    for axis, (size, k) in enumerate(zip(spatial, kernel)):
        axis_padding = mode if mode != "EXPLICIT" else explicit[axis]
        try:
            pads.append(shapes.pad_amounts(size, k, window_strides[axis], axis_padding, filter_dilations[axis]))
            outs.append(shapes.output_size(size, k, window_strides[axis], axis_padding, filter_dilations[axis]))
        except HandconvError as error:
            raise HandconvError(
                f"{_AXIS_NAMES_BY_RANK[rank][axis]}: input {size}, filter {k}, stride {window_strides[axis]}, "
                f"dilation {filter_dilations[axis]}, padding {axis_padding!r}: {error}"
            ) from None
    return ConvPlan(
        data_format=data_format,
        batch_shape=tuple(batch_shape),
        input_spatial=tuple(spatial),
        in_channels=c,
        filter_spatial=tuple(kernel),
        filter_in_channels=filter_in,
        out_channels=out_channels,
        strides=window_strides,
        dilations=filter_dilations,
        padding=mode,
        pad_amounts=tuple(pads),
        output_spatial=tuple(outs),
        dtype=np.dtype(dtype),
        op=op,
    )


def _check_data_format(data_format: Any, rank: int = 2) -> str:
    formats = DATA_FORMATS_BY_RANK[rank]
    expected = f"expected {formats[0]!r} or {formats[1]!r}"
    if not isinstance(data_format, str):
        raise HandconvTypeError(f"data_format={data_format!r} is not a string; {expected}")
    if data_format not in formats:
        raise HandconvError(f"data_format={data_format!r} is not supported; {expected}")
    return data_format


def _check_shape(
    shape: Any, name: str, spatial_rank: int, min_rank: int, max_rank: int | None = None
) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise HandconvTypeError(f"{name} shape {shape!r} is not a sequence of ints") from None
    rank = len(shape)
    if rank < min_rank or (max_rank is not None and rank > max_rank):
        expected = f"exactly {min_rank}" if max_rank == min_rank else f"at least {min_rank}"
        first, last = DATA_FORMATS_BY_RANK[spatial_rank]
        names = ", ".join(_AXIS_NAMES_BY_RANK[spatial_rank])
        filter_names = ", ".join(f"filter_{n}" for n in _AXIS_NAMES_BY_RANK[spatial_rank])
        layout = (
            f"[{filter_names}, in_channels, out_channels]"
            if name == "filters"
            else f"batch_shape + [{names}, channels] ({first}) or batch_shape + [channels, {names}] ({last})"
        )
        raise HandconvError(f"{name} has rank {rank} (shape {shape}); expected rank {expected}: {layout}")
    if any(s < 0 for s in shape):
        raise HandconvError(f"{name} has shape {shape}; sizes must not be negative")
    return shape


def _spatial_axes(data_format: str) -> tuple[int, ...]:
    rank = len(data_format) - 2
    return tuple(range(2, 2 + rank)) if data_format[1] == "C" else tuple(range(1, 1 + rank))


def _check_window_arg(value: Any, name: str, data_format: str) -> tuple[int, ...]:
    """TF's ``_get_sequence`` rule: int or 1, N or N + 2 values; batch/channel entries 1."""
    rank = len(data_format) - 2
    if value is None:
        return (1,) * rank
    lengths = "1, 2 or 4" if rank == 2 else f"1, {rank} or {rank + 2}" if rank != 1 else "1 or 3"
    if isinstance(value, (str, bytes)) or (not hasattr(value, "__len__") and not shapes.is_int(value)):
        raise HandconvTypeError(f"{name}={value!r} must be an int or a list of {lengths} ints")
    values = list(value) if hasattr(value, "__len__") else [value]
    for v in values:
        if isinstance(v, bool) or not shapes.is_int(v):
            raise HandconvTypeError(f"{name}={value!r} must hold ints; got {v!r}")
    values = [int(v) for v in values]
    if len(values) == rank + 2:
        channel_axis = 1 if data_format[1] == "C" else rank + 1
        if values[0] != 1 or values[channel_axis] != 1:
            raise HandconvError(
                f"{name}={value!r}: entries for the batch and channel dimensions must be 1 "
                f"(order {data_format}); TensorFlow does not support {name} there either"
            )
        values = [values[axis] for axis in _spatial_axes(data_format)]
    elif len(values) == 1:
        values = values * rank
    elif len(values) != rank:
        raise HandconvError(f"{name}={value!r} has length {len(values)}; expected an int or a list of length {lengths}")
    if min(values) < 1:
        raise HandconvError(f"{name}={value!r} must be positive; every entry must be >= 1")
    if max(values) > MAX_WINDOW:
        raise HandconvError(f"{name}={value!r} is too large; every entry must be <= {MAX_WINDOW} (2**31 - 1)")
    return tuple(values)


def _check_padding(padding: Any, data_format: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    rank = len(data_format) - 2
    spatial = _spatial_axes(data_format)
    pair_names = {
        1: ["[left, right]"],
        2: ["[top, bottom]", "[left, right]"],
        3: ["[front, back]", "[top, bottom]", "[left, right]"],
    }[rank]
    entries = ["[0, 0]"] * (rank + 2)
    for axis, name in zip(spatial, pair_names):
        entries[axis] = name
    example = "[" + ", ".join(entries) + "]"
    expected = (
        f"expected 'SAME', 'VALID' or an explicit list of {rank + 2} [before, after] pairs in "
        f"{data_format} order, e.g. {example}"
    )
    if isinstance(padding, str):
        if padding.upper() in ("SAME", "VALID"):
            return padding.upper(), ()
        raise HandconvError(f"padding={padding!r} is not a padding; {expected}")
    if not isinstance(padding, (list, tuple)):
        raise HandconvTypeError(f"padding={padding!r} has type {type(padding).__name__}; {expected}")
    if len(padding) != rank + 2 or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in padding):
        raise HandconvError(f"padding={padding!r} is not of the explicit form; {expected}")
    flat = [v for pair in padding for v in pair]
    if not all(shapes.is_int(v) and not isinstance(v, bool) for v in flat):
        raise HandconvTypeError(f"padding={padding!r} must hold ints; {expected}")
    pairs = [(int(a), int(b)) for a, b in padding]
    if any(v < 0 for pair in pairs for v in pair):
        raise HandconvError(f"padding={padding!r} must not be negative; {expected}")
    if any(v > MAX_WINDOW for pair in pairs for v in pair):
        raise HandconvError(f"padding={padding!r} is too large; every amount must be <= {MAX_WINDOW} (2**31 - 1)")
    if any(pairs[i] != (0, 0) for i in range(rank + 2) if i not in spatial):
        raise HandconvError(
            f"padding={padding!r} pads the batch or channel dimension; only the spatial dimensions "
            f"can be padded, {expected}"
        )
    return "EXPLICIT", tuple(pairs[i] for i in spatial)


# ------------------------------------------------ the general plan and the mappings
def general_plan(
    input_shape: Sequence[int],
    filters_shape: Sequence[int],
    strides: Any = 1,
    pad_amounts: Sequence[tuple[int, int]] | None = None,
    dilations: Any = 1,
    lhs_dilations: Any = 1,
    batch_groups: int = 1,
    dtype: Any = np.float32,
    op: str = "conv_general_dilated",
) -> ConvPlan:
    """XLA's general convolution on canonical shapes, the way ``jax.lax.conv_general_dilated`` takes it.

    Parameters
    ----------
    input_shape : sequence of int
        ``(N, *spatial, C)``.
    filters_shape : sequence of int
        ``(*K, C / groups, C_out)``.
    strides, dilations, lhs_dilations : int or sequence of int
        Window strides, filter (rhs) dilation, input (lhs) dilation; one per
        spatial dimension (an int means the same everywhere).
    pad_amounts : sequence of (int, int), optional
        ``(before, after)`` per spatial dimension; negative crops. Default none.
    batch_groups : int
        XLA's ``batch_group_count`` (at most one of it and the feature groups
        implied by the channels may exceed 1).

    Examples
    --------
    >>> plan = general_plan((1, 3, 3, 2), (3, 3, 2, 4), 1, [(2, 2), (2, 2)], lhs_dilations=2)
    >>> plan.output_spatial, plan.is_plain_2d
    ((7, 7), False)
    """
    input_shape = tuple(int(s) for s in input_shape)
    filters_shape = tuple(int(s) for s in filters_shape)
    rank = len(input_shape) - 2

    def per_axis(value: Any) -> tuple[int, ...]:
        return (int(value),) * rank if shapes.is_int(value) else tuple(int(v) for v in value)

    strides, dilations, lhs_dilations = per_axis(strides), per_axis(dilations), per_axis(lhs_dilations)
    pads = tuple((int(a), int(b)) for a, b in pad_amounts) if pad_amounts is not None else ((0, 0),) * rank
    n, *spatial, c = input_shape
    *kernel, filter_in, out_channels = filters_shape
    groups = c // filter_in
    if c % filter_in or n % batch_groups or out_channels % (groups * batch_groups) or (groups > 1 and batch_groups > 1):
        raise HandconvError(
            f"general convolution: input {input_shape}, filters {filters_shape} and batch_groups="
            f"{batch_groups} do not split into groups (channels {c} / {filter_in}, batch {n} / "
            f"{batch_groups}, out_channels {out_channels})"
        )
    outs = tuple(
        shapes.general_output_size(size, k, s, pad, d, ld)
        for size, k, s, pad, d, ld in zip(spatial, kernel, strides, pads, dilations, lhs_dilations)
    )
    return ConvPlan(
        data_format=DATA_FORMATS_BY_RANK[rank][0],
        batch_shape=(n,),
        input_spatial=tuple(spatial),
        in_channels=c,
        filter_spatial=tuple(kernel),
        filter_in_channels=filter_in,
        out_channels=out_channels,
        strides=strides,
        dilations=dilations,
        padding="GENERAL",
        pad_amounts=pads,
        output_spatial=outs,
        dtype=np.dtype(dtype),
        lhs_dilations=lhs_dilations,
        batch_groups=batch_groups,
        op=op,
    )


def _forward_axes(forward: ConvPlan) -> Iterator[tuple[int, int, int, tuple[int, int], int, int]]:
    """Per spatial axis of ``forward``: input size, input dilation, stride, pad amounts, k_eff, output size."""
    return zip(
        forward.input_spatial,
        forward.lhs_dilations,
        forward.strides,
        forward.pad_amounts,
        forward.effective_filter_spatial,
        forward.output_spatial,
    )


@functools.lru_cache(maxsize=256)
def backprop_input_plan(forward: ConvPlan, op: str = "conv2d_backprop_input") -> ConvPlan:
    """The input gradient of ``forward`` as one general convolution (XLA's ``transpose_lhs``).

    ``dx = conv(dy, w')`` where

    * ``dy``, the out_backprop ``(N, *out, C_out)``, is dilated by the forward
      strides (``s - 1`` zeros between outputs: each output came from a window
      ``s`` apart) and slid over with stride 1;
    * ``w'`` is the filter flipped in every spatial dimension with input and
      output channels swapped, ``(*K, C_out / groups, C)``: tap ``k`` of the
      forward pass sent ``x[p*s + k*d]`` to ``y[p]``, so the gradient comes back
      along the same edge, met from the other side;
    * the dilated ``dy`` is padded by ``k_eff - 1 - before`` before, and after by
      whatever makes the result the input's size (rows the forward pass never
      read, VALID's leftovers, get zero gradient; a negative amount crops).

    Examples
    --------
    >>> forward = make_plan((1, 5, 5, 3), (3, 3, 3, 1), 2, [[0, 0], [1, 1], [1, 1], [0, 0]])
    >>> print(backprop_input_plan(forward).formula(0))
    ((3 - 1)*2 + 1 + 1 + 1 - 3) // 1 + 1 = 5
    """
    pads = []
    for n, ld, s, (before, _), k_eff, out in _forward_axes(forward):
        pad_before = k_eff - 1 - before
        pad_after = shapes.dilated_size(n, ld) + k_eff - 1 - shapes.dilated_size(out, s) - pad_before
        pads.append((pad_before, pad_after))
    return general_plan(
        (forward.batch, *forward.output_spatial, forward.out_channels),
        (*forward.filter_spatial, forward.out_channels_per_group, forward.in_channels),
        strides=forward.lhs_dilations,
        pad_amounts=pads,
        dilations=forward.dilations,
        lhs_dilations=forward.strides,
        dtype=forward.dtype,
        op=op,
    )


@functools.lru_cache(maxsize=256)
def backprop_filter_plan(forward: ConvPlan) -> ConvPlan:
    """The filter gradient of ``forward`` as one general convolution (XLA's ``transpose_rhs``).

    ``dw[k, c, o] = sum over n, p of x_padded[n, p*s + k*d, c] * dy[n, p, o]``,
    which is a convolution with the roles swapped:

    * the input, read as ``(C, *spatial, N)``: channels as the batch, the batch
      as the channels it sums over;
    * out_backprop, read as a filter ``(*out, N, C_out)``, dilated by the
      forward strides;
    * window stride = the forward filter dilation; the forward padding before,
      and after whatever makes the result the filter's size;
    * a grouped forward convolution becomes batch groups (channel group ``g`` of
      the input meets only output-channel group ``g``).

    The result ``(C / groups, *K, C_out)`` is the filter gradient with its
    first axis moved last but one.

    Examples
    --------
    >>> forward = make_plan((2, 6, 6, 3), (3, 3, 3, 4), 2, "VALID")
    >>> plan = backprop_filter_plan(forward)
    >>> plan.output_shape, plan.pad_amounts
    ((3, 3, 3, 4), ((0, -1), (0, -1)))
    """
    pads = []
    for n, ld, s, (before, _), k_eff, out in _forward_axes(forward):
        pad_after = shapes.dilated_size(out, s) - shapes.dilated_size(n, ld) + k_eff - before - 1
        pads.append((before, pad_after))
    return general_plan(
        (forward.in_channels, *forward.input_spatial, forward.batch),
        (*forward.output_spatial, forward.batch, forward.out_channels),
        strides=forward.dilations,
        pad_amounts=pads,
        dilations=forward.strides,
        lhs_dilations=forward.lhs_dilations,
        batch_groups=forward.groups,
        dtype=forward.dtype,
        op="conv2d_backprop_filter" if forward.spatial_rank == 2 else "convolution_backprop_filter",
    )


def transposed_plan(
    input_shape: Sequence[int],
    filters_shape: Sequence[int],
    output_shape: Any,
    strides: Any,
    padding: Any,
    data_format: str | None = None,
    dilations: Any = None,
    dtype: Any = np.float32,
    *,
    op: str = "conv2d_transpose",
    input_name: str = "input",
    output_name: str = "output_shape",
) -> ConvPlan:
    """The *forward* plan whose input gradient a transposed convolution computes, validated.

    ``conv2d_transpose(input, filters, output_shape, ...)`` and
    ``conv2d_backprop_input(input_sizes, filters, out_backprop, ...)`` are the
    same computation: the forward convolution takes ``output_shape`` (or
    ``input_sizes``) to the shape of ``input`` (``out_backprop``). Both give
    the result's shape because it is ambiguous with a stride (see
    :func:`handconv.shapes.transposed_sizes`); this checks the two agree and
    says, with the arithmetic, which sizes would.

    Parameters
    ----------
    input_shape : sequence of int
        The transposed convolution's input (the forward output gradient).
    filters_shape : sequence of int
        ``(*K, C_result, C_input)``: the forward filter.
    output_shape : sequence of int
        The result's full shape (the forward input shape) in ``data_format``.

    Returns
    -------
    ConvPlan
        The forward plan; :func:`backprop_input_plan` of it is what runs.

    Examples
    --------
    >>> transposed_plan((1, 3, 3, 8), (3, 3, 4, 8), (1, 6, 6, 4), 2, "SAME").input_spatial
    (6, 6)
    >>> transposed_plan((1, 3, 3, 8), (3, 3, 4, 8), (1, 7, 6, 4), 2, "SAME")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    handconv.errors.HandconvError: output_shape=(1, 7, 6, 4) does not fit input ...must be in 5..6
    """
    shape = check_size_vector(output_shape, output_name, len(input_shape))
    rank = len(filters_shape) - 2
    if rank not in DATA_FORMATS_BY_RANK:
        raise HandconvError(
            f"filters has rank {len(filters_shape)} (shape {tuple(filters_shape)}); expected rank 3, 4 or 5"
        )
    if data_format is None:
        data_format = DATA_FORMATS_BY_RANK[rank][0]
    data_format = _check_data_format(data_format, rank)
    kernel, result_channels, input_channels = tuple(filters_shape[:-2]), filters_shape[-2], filters_shape[-1]
    channel_axis = -rank - 1 if data_format[1] == "C" else -1
    if len(input_shape) >= rank + 2 and input_shape[channel_axis] != input_channels:
        raise HandconvError(
            f"{input_name} has {input_shape[channel_axis]} channel(s) (shape {tuple(input_shape)}, {data_format}) "
            f"but filters {tuple(filters_shape)} has out_channels={input_channels} in its last axis; "
            "the filters are the forward convolution's [*K, in_channels, out_channels]"
        )
    forward = _plan_cached(
        rank,
        "conv2d" if rank == 2 else "convolution",
        shape,
        (*kernel, result_channels, input_channels),
        strides,
        padding,
        data_format,
        dilations,
        dtype,
    )
    if forward.groups != 1 or forward.in_channels != result_channels:
        raise HandconvError(
            f"{output_name}={shape} has {forward.in_channels} channel(s) but filters "
            f"{tuple(filters_shape)} produce {result_channels}"
        )
    if forward.user_output_shape != tuple(input_shape):
        raise HandconvError(_transposed_misfit(forward, tuple(input_shape), shape, input_name, output_name))
    return forward


def _transposed_misfit(
    forward: ConvPlan, input_shape: tuple[int, ...], shape: tuple[int, ...], input_name: str, output_name: str
) -> str:
    """Why ``forward`` does not take ``shape`` to ``input_shape``: per axis, the arithmetic and the sizes that fit."""
    given = _spatial_of(input_shape, forward)
    problems = []
    for axis, name in enumerate(_AXIS_NAMES_BY_RANK[forward.spatial_rank]):
        if forward.output_spatial[axis] == given[axis]:
            continue
        axis_padding = forward.padding if forward.padding != "EXPLICIT" else forward.pad_amounts[axis]
        fits = shapes.transposed_sizes(
            given[axis], forward.filter_spatial[axis], forward.strides[axis], axis_padding, forward.dilations[axis]
        )
        allowed = f"{fits.start}..{fits.stop - 1}" if len(fits) > 1 else (str(fits.start) if fits else "none")
        problems.append(
            f"{name}: {forward.formula(axis)}, but {input_name} has {given[axis]}; with stride "
            f"{forward.strides[axis]}, padding {axis_padding!r} the {name} must be in {allowed}"
        )
    if not problems:
        problems.append(f"the forward convolution gives {forward.user_output_shape}")
    return f"{output_name}={shape} does not fit {input_name} of shape {input_shape}: " + "; ".join(problems)


def _spatial_of(shape: tuple[int, ...], plan: ConvPlan) -> tuple[int, ...]:
    rank = plan.spatial_rank
    return shape[-rank:] if plan.channels_first else shape[-rank - 1 : -1]


def check_size_vector(value: Any, name: str, rank: int) -> tuple[int, ...]:
    """Read a shape given as data (``output_shape``, ``input_sizes``): ``rank`` ints >= 0.

    Accepts a list, a tuple or a 1-D array; ``name`` is the argument's name in
    the error it raises otherwise (HandconvTypeError for what is not a list of
    ints, HandconvError for the wrong length or a negative size).

    >>> check_size_vector([1, 5, 5, 3], "input_sizes", 4)
    (1, 5, 5, 3)
    """
    array = np.asarray(value) if not isinstance(value, (list, tuple)) else None
    items = list(value) if array is None else (array.tolist() if array.ndim == 1 else None)
    if items is None or not all(shapes.is_int(v) and not isinstance(v, bool) for v in items):
        raise HandconvTypeError(f"{name}={value!r} must be a 1-D list of {rank} ints (a shape)")
    if len(items) != rank:
        raise HandconvError(
            f"{name}={tuple(items)} has length {len(items)}; expected {rank} ints, the full shape of "
            f"the result (as many as the other array has dimensions)"
        )
    if any(v < 0 for v in items):
        raise HandconvError(f"{name}={tuple(items)} must not hold negative sizes")
    return tuple(int(v) for v in items)


def check_out_backprop(forward: ConvPlan, out_backprop_shape: Sequence[int], name: str = "out_backprop") -> None:
    """Refuse an output gradient whose shape is not the forward convolution's output shape.

    >>> check_out_backprop(make_plan((1, 5, 5, 3), (3, 3, 3, 2), 2, "SAME"), (1, 3, 4, 2))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    handconv.errors.HandconvError: out_backprop has shape (1, 3, 4, 2) but the convolution gives (1, 3, 3, 2): ...
    """
    if tuple(out_backprop_shape) == forward.user_output_shape:
        return
    shape = tuple(out_backprop_shape)
    details = []
    if len(shape) == len(forward.user_output_shape):
        spatial = _spatial_of(shape, forward)
        names = _AXIS_NAMES_BY_RANK[forward.spatial_rank]
        details = [
            f"{names[a]}: {forward.formula(a)}"
            for a in range(forward.spatial_rank)
            if spatial[a] != forward.output_spatial[a]
        ]
    raise HandconvError(
        f"{name} has shape {shape} but the convolution gives {forward.user_output_shape}"
        + (": " + "; ".join(details) if details else "")
    )


def pool_plan(
    input_shape: Sequence[int],
    ksize: Any,
    strides: Any,
    padding: Any,
    data_format: str = "NHWC",
    dtype: Any = np.float32,
    op: str = "max_pool2d",
) -> ConvPlan:
    """The windows of a 2-D pooling: the plan of a depthwise ``conv2d`` with a ``ksize`` filter.

    ``ksize`` follows the ``strides`` rules (an int, or 1, 2 or 4 ints whose
    batch and channel entries are 1); the padding rules are conv2d's.

    >>> pool_plan((1, 5, 5, 3), 2, 2, "SAME").user_output_shape
    (1, 3, 3, 3)
    """
    data_format = _check_data_format(data_format, 2)
    shape = _check_shape(input_shape, "input", 2, min_rank=4)
    kh, kw = _check_window_arg(ksize, "ksize", data_format)
    channels = shape[-3] if data_format == "NCHW" else shape[-1]
    if channels == 0:
        raise HandconvError(f"input has shape {shape}: no channels to pool")
    return _plan_cached(2, op, shape, (kh, kw, 1, channels), strides, padding, data_format, None, dtype)


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


def parse_ints(text: str, option: str, counts: tuple[int, ...] | None = None) -> list[int]:
    """Integers separated by commas, as a command-line option writes them.

    >>> parse_ints("2, 3", "--stride", (1, 2))
    [2, 3]
    >>> parse_ints("2,3,4", "--stride", (1, 2))
    Traceback (most recent call last):
    ...
    handconv.errors.HandconvError: --stride '2,3,4': expected 1 or 2 integer(s)
    """
    try:
        values = [int(part) for part in str(text).replace(" ", "").split(",") if part]
    except ValueError:
        raise HandconvError(f"{option} {text!r}: expected integers separated by commas") from None
    if not values or (counts is not None and len(values) not in counts):
        expected = " or ".join(map(str, counts)) if counts else "1 or more"
        raise HandconvError(f"{option} {text!r}: expected {expected} integer(s)")
    return values


def parse_padding(text: str, data_format: str = "NHWC", option: str = "--padding") -> Any:
    """The padding text grammar every command shares, as :func:`make_plan` takes padding.

    ``SAME`` / ``VALID`` (any case), ``P`` (P zeros on every side), ``PH,PW``
    (rows, columns) or ``TOP,BOTTOM,LEFT,RIGHT``.

    >>> parse_padding("same"), parse_padding("1")
    ('SAME', [[0, 0], [1, 1], [1, 1], [0, 0]])
    >>> parse_padding("1,2"), parse_padding("0,1,2,3", "NCHW")
    ([[0, 0], [1, 1], [2, 2], [0, 0]], [[0, 0], [0, 0], [0, 1], [2, 3]])
    """
    if str(text).strip().upper() in ("SAME", "VALID"):
        return str(text).strip().upper()
    try:
        values = parse_ints(text, option, (1, 2, 4))
    except HandconvError as error:
        raise HandconvError(f"{error}; or SAME or VALID") from None
    if min(values) < 0:
        raise HandconvError(f"{option} {text!r}: padding amounts must be >= 0")
    if len(values) == 1:
        values = values * 4
    elif len(values) == 2:
        values = [values[0], values[0], values[1], values[1]]
    rows, cols = values[:2], values[2:]
    return [[0, 0], rows, cols, [0, 0]] if data_format == "NHWC" else [[0, 0], [0, 0], rows, cols]
