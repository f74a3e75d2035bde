"""``handconv.conv2d``: the public entry point with ``tf.nn.conv2d``'s semantics.

This module is the boundary. It turns user arguments into arrays and a
:class:`~handconv.plan.ConvPlan`, converts layout and dtype once on the way in
and once on the way out, and hands canonical arrays to one of the algorithms in
:mod:`handconv.methods`.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .errors import HandconvError, HandconvMemoryError, HandconvTypeError, describe_value
from .methods import METHODS, select_method
from .methods.cost import PRECISIONS
from .plan import ConvPlan, make_plan

__all__ = ["conv2d", "convolve_canonical", "SUPPORTED_DTYPES", "as_arrays", "to_canonical", "from_canonical"]

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


def as_arrays(input: Any, filters: Any) -> tuple[np.ndarray, np.ndarray]:
    """Read ``input`` and ``filters`` as arrays of one dtype, as ``tf.nn.conv2d`` does.

    The result dtype is the input's; the filters are cast to it, as TF casts a
    NumPy filter array to the input tensor's dtype. Unlike TF, handconv refuses
    to truncate non-integral filter values to int32 silently.

    Returns read-only views (or new arrays); the caller's arrays are never
    written to.
    """
    x = input if _has_dtype(input) else _from_python(input, "input")
    x = np.asarray(x)
    if x.dtype not in SUPPORTED_DTYPES:
        raise HandconvTypeError(
            f"input has dtype {x.dtype}; tf.nn.conv2d computes float16, float32, float64 and "
            "int32 on CPU, and so does handconv (convert with input.astype(np.float32))"
        )
    w = np.asarray(filters) if _has_dtype(filters) else _from_python(filters, "filters", x.dtype)
    if w.dtype.kind not in "fiub":
        raise HandconvTypeError(f"filters has dtype {w.dtype}; expected a real numeric dtype")
    if w.dtype != x.dtype:
        if x.dtype.kind == "i" and w.dtype.kind == "f" and not np.array_equal(w, np.trunc(w)):
            raise HandconvTypeError(
                f"filters has dtype {w.dtype} with non-integer values but input has dtype int32; "
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
    """User-layout input to canonical ``(N, H, W, C)`` in ``plan.compute_dtype``.

    Copies only when it must (layout change with batch dims, dtype change).
    """
    if plan.data_format == "NCHW":
        x = np.moveaxis(x, -3, -1)
    x = x.reshape(plan.input_shape)
    return x.astype(plan.compute_dtype, copy=False)


def from_canonical(out: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Canonical output ``(N, OH, OW, C_out)`` back to the user's layout and dtype."""
    out = out.astype(plan.dtype, copy=False).reshape(*plan.batch_shape, *out.shape[1:])
    if plan.data_format == "NCHW":
        out = np.ascontiguousarray(np.moveaxis(out, -1, -3))
    return out


def _available_memory() -> int | None:
    """Bytes the OS says a new allocation can get (Linux ``MemAvailable``)."""
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


def check_memory(plan: ConvPlan, method: str) -> None:
    """Refuse, before allocating, a call whose arrays would not fit in memory."""
    needed = _needed_bytes(plan, method)
    if needed < UNCHECKED_BYTES:
        return
    itemsize = plan.compute_dtype.itemsize
    output = int(np.prod(plan.output_shape, dtype=np.float64)) * itemsize
    available = _available_memory()
    if available is not None and needed > available:
        raise HandconvMemoryError(
            f"this convolution needs about {needed / 2**30:.1f} GiB (output "
            f"{plan.user_output_shape} = {output / 2**30:.1f} GiB, padded input and "
            f"'{method}' workspace), but only {available / 2**30:.1f} GiB is available; "
            "use a smaller batch, a smaller image or fewer output channels, or split the work"
        )


@functools.lru_cache(maxsize=256)
def _needed_bytes(plan: ConvPlan, method: str) -> int:
    """Output, padded input and the method's workspace, in bytes (cached per plan)."""
    itemsize = plan.compute_dtype.itemsize
    output = int(np.prod(plan.output_shape, dtype=np.float64)) * itemsize
    padded = plan.batch * plan.padded_hw[0] * plan.padded_hw[1] * plan.in_channels * itemsize
    return output + padded + METHODS[method].workspace_bytes(plan)


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
    return from_canonical(convolve_canonical(to_canonical(x, plan), w, plan, name), plan)


def convolve_canonical(x: np.ndarray, filters: np.ndarray, plan: ConvPlan, method: str) -> np.ndarray:
    """conv2d's core on validated arguments: canonical in, canonical out.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
        From :func:`to_canonical`.
    filters : ndarray of shape (KH, KW, C / groups, C_out)
    plan : ConvPlan
    method : str
        A name :func:`resolve_method` returned for ``plan``.

    Returns
    -------
    ndarray of shape (N, OH, OW, C_out)
        In ``plan.dtype``.
    """
    if plan.is_empty:
        return np.zeros(plan.output_shape, dtype=plan.dtype)
    check_memory(plan, method)
    # NaN and Inf propagate silently, as in TF; int32 wraps around as in TF.
    with np.errstate(invalid="ignore", over="ignore"):
        out = METHODS[method].run(x, filters.astype(plan.compute_dtype, copy=False), plan)
    return out.astype(plan.dtype, copy=False)


def check_precision(precision: Any) -> str:
    """``precision`` validated: one of ``PRECISIONS``."""
    if not isinstance(precision, str):
        raise HandconvTypeError(f"precision={precision!r} must be a string; expected one of {list(PRECISIONS)}")
    if precision not in PRECISIONS:
        raise HandconvError(f"precision={precision!r} is not known; expected one of {list(PRECISIONS)}")
    return precision


def resolve_method(method: Any, plan: ConvPlan, precision: Any = "accurate") -> str:
    """The registered method name ``method`` stands for on this plan (``precision`` matters for 'auto')."""
    precision = check_precision(precision)
    if not isinstance(method, str):
        raise HandconvTypeError(f"method={method!r} must be a string; expected 'auto' or one of {sorted(METHODS)}")
    if method == "auto":
        return select_method(plan, precision)
    if method not in METHODS:
        raise HandconvError(f"method={method!r} is not known; expected 'auto' or one of {sorted(METHODS)}")
    supports = METHODS[method].supports
    if not supports(plan):
        # Never run a method outside what it computes correctly: that would be a silently wrong result.
        limits = (supports.__doc__ or "").strip().splitlines()[0] if supports.__doc__ else "a narrower set of plans"
        usable = [name for name, m in METHODS.items() if m.supports(plan)]
        raise HandconvError(
            f"method={method!r} cannot compute this convolution (filter {plan.filter_hw}, strides "
            f"{plan.strides}, dilations {plan.dilations}, dtype {plan.dtype}); it handles: {limits} "
            f"Use 'auto' or one of {usable}"
        )
    return method
