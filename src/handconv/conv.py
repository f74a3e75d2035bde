"""``handconv.conv2d``: the public entry point with ``tf.nn.conv2d``'s semantics.

This module is the boundary. It turns user arguments into arrays and a
:class:`~handconv.plan.ConvPlan`, converts layout and dtype once on the way in
and once on the way out, and hands canonical arrays to one of the algorithms in
:mod:`handconv.methods`.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from . import shapes
from .errors import HandconvError, HandconvMemoryError, HandconvTypeError, describe_value
from .layout import channels_first_copy
from .methods import METHODS, cost, direct, select_method
from .methods.cost import PRECISIONS
from .plan import ConvPlan, make_plan

__all__ = [
    "conv2d",
    "convolve_canonical",
    "SUPPORTED_DTYPES",
    "as_array",
    "as_arrays",
    "to_canonical",
    "from_canonical",
    "available_memory",
]

#: dtypes ``tf.nn.conv2d`` computes on CPU that NumPy has (bfloat16 aside).
SUPPORTED_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int32))


def _from_python(value: Any, name: str, dtype: np.dtype | None = None) -> np.ndarray:
    """Convert a value without a dtype (nested lists, scalars) the way TF does.

    With ``dtype`` (the input's, when converting filters) the numbers convert
    straight to it, as TF converts a list argument to the other tensor's dtype;
    otherwise Python floats become float32 and Python ints int32, as
    ``tf.convert_to_tensor`` makes them.
    """
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:  # ragged lists and the like
        raise HandconvTypeError(
            f"{name}={describe_value(value)} cannot be read as an array ({error}); "
            "expected a numeric array-like of rank 4 or more"
        ) from None
    if dtype is not None and array.dtype.kind in "fiub":
        return array
    if array.dtype.kind == "f":
        return array.astype(np.float32)
    if array.dtype.kind in "iub":
        if array.size and (array.min() < np.iinfo(np.int32).min or array.max() > np.iinfo(np.int32).max):
            raise HandconvTypeError(f"{name} holds integers that do not fit int32")
        return array.astype(np.int32)
    raise HandconvTypeError(
        f"{name}={describe_value(value)} has no numeric dtype (got {array.dtype}); "
        "expected numbers (float16, float32, float64 or int32)"
    )


def as_array(value: Any, name: str, dtype: np.dtype | None = None) -> np.ndarray:
    """Read one argument as an array, as ``tf.convert_to_tensor`` would.

    Arrays (anything with a ``dtype``) keep theirs; Python lists and scalars
    convert as TF converts them (see :func:`_from_python`): to ``dtype`` when
    given (the other tensor's), else floats to float32 and ints to int32.
    ``name`` is the argument's name in error messages. Checks no dtype: the
    caller knows which ones it accepts.
    """
    return np.asarray(value) if _has_dtype(value) else _from_python(value, name, dtype)


def as_arrays(input: Any, filters: Any, names: tuple[str, str] = ("input", "filters")) -> tuple[np.ndarray, np.ndarray]:
    """Read ``input`` and ``filters`` as arrays of one dtype, as ``tf.nn.conv2d`` does.

    The result dtype is the input's; the filters are cast to it, as TF casts a
    NumPy filter array to the input tensor's dtype. Unlike TF, handconv refuses
    to truncate non-integral filter values to int32 silently.

    Returns read-only views (or new arrays); the caller's arrays are never
    written to. ``names`` are the two arguments' names in error messages
    (the family's functions call them ``out_backprop``, ``filter``, ...).
    """
    first, second = names
    x = as_array(input, first)
    if x.dtype not in SUPPORTED_DTYPES:
        raise HandconvTypeError(
            f"{first} has dtype {x.dtype}; tf.nn.conv2d computes float16, float32, float64 and "
            f"int32 on CPU, and so does handconv (convert with {first}.astype(np.float32))"
        )
    w = as_array(filters, second, x.dtype)
    if w.dtype.kind not in "fiub":
        raise HandconvTypeError(f"{second} has dtype {w.dtype}; expected a real numeric dtype")
    if w.dtype != x.dtype:
        if x.dtype.kind == "i" and w.dtype.kind == "f" and not np.array_equal(w, np.trunc(w)):
            raise HandconvTypeError(
                f"{second} has dtype {w.dtype} with non-integer values but {first} has dtype int32; "
                "TensorFlow would silently truncate the filters, handconv refuses: "
                "make both float (input.astype(np.float32))"
            )
        w = w.astype(x.dtype)
    return _read_only(x), _read_only(w)


def _has_dtype(value: Any) -> bool:
    return isinstance(value, np.ndarray) or (hasattr(value, "dtype") and hasattr(value, "__array__"))


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def to_canonical(x: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """User-layout input to canonical ``(N, *spatial, C)`` (``(N, H, W, C)``) in ``plan.compute_dtype``.

    Copies only when it must (layout change with batch dims, dtype change).
    """
    if plan.channels_first:
        x = np.moveaxis(x, -plan.spatial_rank - 1, -1)
    x = x.reshape(plan.input_shape)
    return x.astype(plan.compute_dtype, copy=False)


def from_canonical(out: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Canonical output ``(N, *out_spatial, C_out)`` back to the user's layout and dtype."""
    out = out.astype(plan.dtype, copy=False)
    if plan.channels_first:
        out = channels_first_copy(out)  # (N, C_out, *out_spatial)
    return out.reshape(*plan.batch_shape, *out.shape[1:])


def available_memory() -> int | None:
    """Bytes the OS says a new allocation can get (Linux ``MemAvailable``); None where it does not say.

    Every memory check (convolution, image filter, image reading) asks this one function, so a test can
    pretend to be a small machine by patching it.
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


#: Calls needing less than this are not checked against the OS: reading
#: /proc/meminfo costs more than a small convolution.
UNCHECKED_BYTES = 16 * 2**20


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.1f} GiB"


def check_memory(plan: ConvPlan, method: str, extra_bytes: int = 0) -> None:
    """Refuse, before allocating, a call whose arrays would not fit in memory.

    Counts the output, the (read part of the) padded input, the method's
    workspace and ``extra_bytes`` (the caller's conversions), and shows the
    arithmetic when it refuses.
    """
    needed = _needed_bytes(plan, method) + extra_bytes
    if needed < UNCHECKED_BYTES:
        return
    available = available_memory()
    if available is not None and needed > available:
        run = execution_plan(plan, method)
        itemsize = plan.compute_dtype.itemsize
        output = math.prod(plan.output_shape) * itemsize
        read = run.batch * run.padded_hw[0] * run.padded_hw[1] * run.in_channels * itemsize
        shape = " x ".join(map(str, plan.output_shape))
        raise HandconvMemoryError(
            f"this convolution needs about {_gib(needed)}: output {shape} x {itemsize} bytes = "
            f"{_gib(output)}, padded input read {_gib(read)}, '{method}' workspace "
            f"{_gib(METHODS[method].workspace_bytes(run))}, conversions {_gib(extra_bytes)}; "
            f"only {_gib(available)} is available; use a smaller batch, a smaller image, less padding "
            "or fewer output channels, or split the work"
        )


@functools.lru_cache(maxsize=256)
def _needed_bytes(plan: ConvPlan, method: str) -> int:
    """Output, padded input and the method's workspace, in bytes (cached per plan).

    Sized on :func:`execution_plan`: what is computed and read, never a raw
    stride, dilation or padding number.
    """
    run = execution_plan(plan, method)
    itemsize = plan.compute_dtype.itemsize
    output = math.prod(plan.output_shape) * itemsize
    padded = run.batch * math.prod(run.padded_spatial) * run.in_channels * itemsize
    gathered = 0 if run is plan else math.prod(run.input_shape) * itemsize
    return output + gathered + padded + METHODS[method].workspace_bytes(run)


def conversion_bytes(x: np.ndarray, plan: ConvPlan) -> int:
    """Bytes :func:`to_canonical` and :func:`from_canonical` may copy for ``x``.

    A dtype change (float16 is computed in float32) or a layout change copies
    the input; float16 and NCHW results are copied once on the way out.
    """
    nhwc = plan.data_format == "NHWC"
    if nhwc and x.dtype == plan.compute_dtype == plan.dtype and x.flags.c_contiguous:
        return 0  # the common case, fast: views in, the result out as it is
    total = 0
    if x.dtype != plan.compute_dtype or not nhwc or not x.flags.c_contiguous:
        total += math.prod(plan.input_shape) * plan.compute_dtype.itemsize
    output = math.prod(plan.output_shape)
    if plan.dtype != plan.compute_dtype:
        total += output * plan.dtype.itemsize
    if plan.data_format == "NCHW":
        total += output * plan.dtype.itemsize
    return total


# ------------------------------------------------------- reading only what is read
#: An axis is gathered when its padded length is more than this many times the
#: number of (output, tap) reads along it.
GATHER_FACTOR = 4


@functools.lru_cache(maxsize=256)
def compact_plan(plan: ConvPlan) -> ConvPlan:
    """An equivalent plan on only the input rows/columns some output reads.

    A huge stride, dilation or padding makes the padded input enormous while
    the output reads a few of its rows: along such an axis (padded length over
    ``GATHER_FACTOR`` times ``OH * KH``) the rows output ``oy`` reads through
    taps ``ky`` are laid out at ``oy * KH + ky`` (a padding row as a real zero, so
    ``Inf * 0`` is still NaN), and the axis becomes a VALID convolution with
    stride ``KH`` and no dilation. Other axes and ordinary plans are unchanged
    (the same plan object is returned). Workspace then scales with what is
    computed, not with the stride, dilation or padding numbers.
    """
    axes = _gathered_axes(plan)
    if not any(axes):
        return plan
    sizes, strides, dilations, pads = [], [], [], []
    for axis, gathered in enumerate(axes):
        if gathered:
            sizes.append(plan.output_hw[axis] * plan.filter_hw[axis])
            strides.append(plan.filter_hw[axis])
            dilations.append(1)
            pads.append([0, 0])
        else:
            sizes.append(plan.input_hw[axis])
            strides.append(plan.strides[axis])
            dilations.append(plan.dilations[axis])
            pads.append(list(plan.pad_amounts[axis]))
    run = make_plan(
        (plan.batch, *sizes, plan.in_channels),
        plan.filter_shape,
        strides,
        [[0, 0], *pads, [0, 0]],
        "NHWC",
        dilations,
        plan.dtype,
    )
    assert run.output_shape == plan.output_shape, (run, plan)
    return run


def _gathered_axes(plan: ConvPlan) -> tuple[bool, bool]:
    if plan.is_empty or not plan.is_plain_2d:  # the family's general plans read what they read
        return False, False
    return tuple(  # type: ignore[return-value]
        plan.padded_hw[axis] > GATHER_FACTOR * plan.output_hw[axis] * plan.filter_hw[axis] for axis in (0, 1)
    )


def _read_rows(plan: ConvPlan, axis: int) -> np.ndarray:
    """Input index of each gathered row along ``axis`` (``-1`` for padding), in ``oy * KH + ky`` order."""
    out_index = np.arange(plan.output_hw[axis], dtype=np.int64)[:, None]
    tap = np.arange(plan.filter_hw[axis], dtype=np.int64)[None, :]
    index = shapes.input_coordinate(
        out_index, tap, plan.strides[axis], plan.dilations[axis], plan.pad_amounts[axis][0]
    ).ravel()
    return np.where((index >= 0) & (index < plan.input_hw[axis]), index, -1)


def gather_reads(x: np.ndarray, plan: ConvPlan, run: ConvPlan) -> np.ndarray:
    """Canonical input ``x`` of ``plan`` laid out for ``run = compact_plan(plan)``."""
    if run is plan:
        return x
    rows, cols = (_read_rows(plan, axis) if gathered else None for axis, gathered in enumerate(_gathered_axes(plan)))
    out = np.zeros(run.input_shape, dtype=x.dtype)
    row_to = np.arange(run.input_hw[0]) if rows is None else np.flatnonzero(rows >= 0)
    row_from = row_to if rows is None else rows[row_to]
    col_to = np.arange(run.input_hw[1]) if cols is None else np.flatnonzero(cols >= 0)
    col_from = col_to if cols is None else cols[col_to]
    out[:, row_to[:, None], col_to[None, :]] = x[:, row_from[:, None], col_from[None, :]]
    return out


@functools.lru_cache(maxsize=256)
def execution_plan(plan: ConvPlan, method: str) -> ConvPlan:
    """The plan ``method`` runs: :func:`compact_plan` when the method supports it, else ``plan``."""
    run = compact_plan(plan)
    return run if run is plan or METHODS[method].supports(run) else plan


def conv2d(
    input: Any,
    filters: Any,
    strides: Any = 1,
    padding: Any = "VALID",
    data_format: str = "NHWC",
    dilations: Any = None,
    *,
    method: str = "auto",
    precision: str = "accurate",
) -> np.ndarray:
    """2-D convolution (cross-correlation) with the semantics of ``tf.nn.conv2d``.

    Parameters
    ----------
    input : array_like of shape batch_shape + (H, W, C) or batch_shape + (C, H, W)
        Rank 4 or more; every leading dimension is a batch dimension. dtype
        float16, float32, float64 or int32; nested lists convert as TF converts
        them (Python floats to float32, ints to int32).
    filters : array_like of shape (KH, KW, C / groups, C_out)
        Cast to the input's dtype, as TF does. When ``C`` is a multiple of the
        filters' ``in_channels`` the convolution is grouped: output channel
        ``o`` sees input channels of group ``o // (C_out / groups)``.
    strides : int or sequence of 1, 2 or 4 ints
        Step of the window. Four values follow ``data_format`` and their batch
        and channel entries must be 1.
    padding : {'VALID', 'SAME'} or list of 4 pairs
        ``'VALID'``: no padding. ``'SAME'``: output size ``ceil(n / stride)``
        with TF's split, the odd zero at the bottom/right. Explicit:
        ``[[0, 0], [top, bottom], [left, right], [0, 0]]`` in ``data_format``
        order. Letter case of the strings does not matter (TF wants upper case).
    data_format : {'NHWC', 'NCHW'}
        Layout of ``input`` and of the result.
    dilations : int or sequence of 1, 2 or 4 ints, optional
        Gap between filter taps (1 = none). May be combined with strides > 1.
    method : str
        ``'auto'`` (default), ``'naive'`` (the by-hand loops) or another name in
        ``handconv.METHODS``. All give the same numbers up to float rounding.
    precision : {'accurate', 'fast'}
        What ``method='auto'`` may trade. ``'accurate'`` (default): only
        methods whose float32 error is that of a direct sum, as TF's is.
        ``'fast'``: also fast transforms (Winograd F(4x4, 3x3)), about 10x
        TF's float32 error on 3x3 layers with many channels. An explicitly
        named ``method`` runs whatever the precision.

    Returns
    -------
    ndarray of shape batch_shape + (OH, OW, C_out) or batch_shape + (C_out, OH, OW)
        In the input's dtype. float16 is accumulated in float32; int32 wraps
        around on overflow as TF's does.

    Raises
    ------
    HandconvError (a ValueError)
        Bad shapes, strides, padding, dilations or data_format; a filter that
        does not fit (negative output size).
    HandconvTypeError (a TypeError)
        Unsupported dtypes and argument types.
    HandconvMemoryError (a MemoryError)
        When the output and workspace would not fit in available memory.

    Examples
    --------
    The article: a 5x5x3 volume, zero-padding 1, stride 2, a 3x3x3 filter.

    >>> import numpy as np, handconv
    >>> x = np.arange(75.0).reshape(1, 5, 5, 3)
    >>> w = np.ones((3, 3, 3, 1))
    >>> handconv.conv2d(x, w, strides=2, padding=[[0, 0], [1, 1], [1, 1], [0, 0]]).shape
    (1, 3, 3, 1)
    >>> handconv.conv2d(x, w, 2, "SAME")[0, :, :, 0]  # equal to tf.nn.conv2d's
    array([[ 120.,  261.,  228.],
           [ 585.,  999.,  747.],
           [ 660., 1071.,  768.]])
    """
    x, w = as_arrays(input, filters)
    plan = make_plan(x.shape, w.shape, strides, padding, data_format, dilations, x.dtype)
    name = resolve_method(method, plan, precision)
    if plan.is_empty:
        return np.zeros(plan.user_output_shape, dtype=plan.dtype)
    # Before any copy: the float16 -> float32 and layout conversions count too.
    check_memory(plan, name, conversion_bytes(x, plan))
    return from_canonical(convolve_canonical(to_canonical(x, plan), w, plan, name, memory_checked=True), plan)


def convolve_canonical(
    x: np.ndarray, filters: np.ndarray, plan: ConvPlan, method: str, *, memory_checked: bool = False
) -> np.ndarray:
    """conv2d's core on validated arguments: canonical in, canonical out.

    Runs every plan, the general ones of the family too (:mod:`handconv.plan`).

    Parameters
    ----------
    x : ndarray of shape (N, *spatial, C), e.g. (N, H, W, C)
        From :func:`to_canonical`.
    filters : ndarray of shape (*K, C / groups, C_out)
    plan : ConvPlan
    method : str
        A name :func:`resolve_method` returned for ``plan``.
    memory_checked : bool
        The caller already ran :func:`check_memory` (with its own conversions).

    Returns
    -------
    ndarray of shape (N / batch_groups, *out_spatial, C_out)
        In ``plan.dtype``.
    """
    if plan.is_empty:
        return np.zeros(plan.output_shape, dtype=plan.dtype)
    if not memory_checked:
        check_memory(plan, method)
    run = execution_plan(plan, method)
    # NaN and Inf propagate silently, as in TF; int32 wraps around as in TF.
    with np.errstate(invalid="ignore", over="ignore"):
        out = METHODS[method].run(gather_reads(x, plan, run), filters.astype(plan.compute_dtype, copy=False), run)
    return out.astype(plan.dtype, copy=False)


def check_precision(precision: Any) -> str:
    """``precision`` validated: one of ``PRECISIONS``."""
    if not isinstance(precision, str):
        raise HandconvTypeError(f"precision={precision!r} must be a string; expected one of {list(PRECISIONS)}")
    if precision not in PRECISIONS:
        raise HandconvError(f"precision={precision!r} is not known; expected one of {list(PRECISIONS)}")
    return precision


@functools.lru_cache(maxsize=1024)
def _auto_method(plan: ConvPlan, accelerator: bool, precision: str, rates: cost.Rates) -> str:
    """``method='auto'``: chosen on the plan that will run (only the rows outputs read), per numba's
    presence, the precision asked for and the machine's rates."""
    return select_method(compact_plan(plan), precision)


def resolve_method(method: Any, plan: ConvPlan, precision: Any = "accurate") -> str:
    """The registered method name ``method`` stands for on this plan (``precision`` matters for 'auto')."""
    precision = check_precision(precision)
    if not isinstance(method, str):
        raise HandconvTypeError(f"method={method!r} must be a string; expected 'auto' or one of {sorted(METHODS)}")
    if method == "auto":
        return _auto_method(plan, direct.has_accelerator(), precision, cost.current_rates(plan))
    if method not in METHODS:
        raise HandconvError(f"method={method!r} is not known; expected 'auto' or one of {sorted(METHODS)}")
    supports = METHODS[method].supports
    if not supports(plan):
        # Never run a method outside what it computes correctly: that would be a silently wrong result.
        limits = (supports.__doc__ or "").strip().splitlines()[0] if supports.__doc__ else "a narrower set of plans"
        usable = [name for name, m in METHODS.items() if m.supports(plan)]
        raise HandconvError(
            f"method={method!r} cannot compute this convolution ({plan.op}: filter {plan.filter_hw}, strides "
            f"{plan.strides}, dilations {plan.dilations}, input dilations {plan.lhs_dilations}, "
            f"dtype {plan.dtype}); it handles: {limits} "
            f"Use 'auto' or one of {usable}"
        )
    return method
