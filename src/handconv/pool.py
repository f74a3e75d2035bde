"""2-D pooling and its gradients, with TensorFlow's semantics (``tf.nn.max_pool2d``, ``tf.nn.avg_pool2d``).

A pooling window is a depthwise convolution's window: the plan comes from
:func:`handconv.plan.pool_plan`, so SAME, VALID and explicit padding, strides
and output sizes follow exactly the rules ``conv2d`` follows. Only the
reduction differs:

* max: padding never wins (it counts as ``-inf``);
* average: padding is *not* counted: a SAME window at a corner that covers 4
  real pixels and 5 zeros is the mean of the 4, as in TensorFlow.

The gradients: max pooling sends each output's gradient to the input that won
its window (the first in row-major order on a tie, as TF's CPU kernel does);
average pooling spreads it evenly over the window's real pixels.

Shared parameters
-----------------
ksize, strides : int or sequence of 1, 2 or 4 ints
    Window size and step; 4 values follow ``data_format`` with batch and channel
    entries 1.
padding : {'VALID', 'SAME'} or list of 4 pairs
    As in :func:`handconv.conv2d`.
data_format : {'NHWC', 'NCHW'}
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .conv import SUPPORTED_DTYPES, as_array
from .errors import HandconvTypeError
from .plan import ConvPlan, check_out_backprop, check_size_vector, pool_plan

__all__ = ["max_pool2d", "avg_pool2d", "max_pool2d_grad", "avg_pool2d_grad"]


def _as_array(value: Any, name: str, average: bool) -> np.ndarray:
    array = as_array(value, name)
    if array.dtype not in SUPPORTED_DTYPES or (average and array.dtype.kind != "f"):
        kinds = "float16, float32 or float64" if average else "float16, float32, float64 or int32"
        raise HandconvTypeError(f"{name} has dtype {array.dtype}; expected {kinds}")
    return array


def _canonical(x: np.ndarray, plan: ConvPlan) -> np.ndarray:
    if plan.channels_first:
        x = np.moveaxis(x, -3, -1)
    return x.reshape(plan.input_shape).astype(plan.compute_dtype, copy=False)


def _user(out: np.ndarray, plan: ConvPlan, shape: tuple[int, ...]) -> np.ndarray:
    out = out.astype(plan.dtype, copy=False)
    if plan.channels_first:
        channels_last = (*shape[:-3], shape[-2], shape[-1], shape[-3])
        return np.ascontiguousarray(np.moveaxis(out.reshape(channels_last), -1, -3))
    return out.reshape(shape)


def _input_shape(plan: ConvPlan) -> tuple[int, ...]:
    if plan.channels_first:
        return (*plan.batch_shape, plan.in_channels, *plan.input_spatial)
    return (*plan.batch_shape, *plan.input_spatial, plan.in_channels)


def _windows(plan: ConvPlan, padded: np.ndarray):
    """Each window tap's view ``(N, OH, OW, C)`` of the padded input, in row-major tap order."""
    (oh, ow), (sh, sw) = plan.output_hw, plan.strides
    for ky in range(plan.filter_hw[0]):
        for kx in range(plan.filter_hw[1]):
            yield (ky, kx), padded[:, ky : ky + (oh - 1) * sh + 1 : sh, kx : kx + (ow - 1) * sw + 1 : sw]


def _real(plan: ConvPlan) -> np.ndarray:
    """1 where the padded input holds a real pixel, 0 where it holds padding: ``(1, Hp, Wp, 1)``."""
    return plan.pad(np.ones((1, *plan.input_hw, 1), dtype=bool))


def max_pool2d(input: Any, ksize: Any, strides: Any, padding: Any, data_format: str = "NHWC") -> np.ndarray:
    """Max pooling (``tf.nn.max_pool2d``).

    Parameters
    ----------
    input : array_like of shape batch_shape + (H, W, C) or batch_shape + (C, H, W)
        float16, float32, float64 or int32.
    ksize, strides, padding, data_format
        See the module's shared parameters.

    Returns
    -------
    ndarray of shape batch_shape + (OH, OW, C) (or channels first), in ``input``'s dtype
        The largest value in each window; padding never wins.

    Examples
    --------
    >>> import numpy as np, handconv
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> handconv.max_pool2d(x, 2, 2, "VALID")[0, :, :, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    >>> handconv.max_pool2d(-x - 1, 3, 2, "SAME")[0, :, :, 0]   # padding is -inf, not 0
    array([[ -1.,  -3.],
           [ -9., -11.]])
    """
    x = _as_array(input, "input", average=False)
    plan = pool_plan(x.shape, ksize, strides, padding, data_format, x.dtype, op="max_pool2d")
    out = np.zeros(plan.output_shape, dtype=plan.compute_dtype)
    if not plan.is_empty:
        padded, real = plan.pad(_canonical(x, plan)), _real(plan)
        low = np.finfo(padded.dtype).min if padded.dtype.kind == "f" else np.iinfo(padded.dtype).min
        padded = np.where(real, padded, -np.inf if padded.dtype.kind == "f" else low)
        out = _max_over_windows(plan, padded)
    return _user(out, plan, plan.user_output_shape)


def _max_over_windows(plan: ConvPlan, padded: np.ndarray) -> np.ndarray:
    best = None
    for _, view in _windows(plan, padded):
        best = view.copy() if best is None else np.maximum(best, view, out=best)
    assert best is not None  # a window has at least one tap
    return best


def avg_pool2d(input: Any, ksize: Any, strides: Any, padding: Any, data_format: str = "NHWC") -> np.ndarray:
    """Average pooling (``tf.nn.avg_pool2d``); SAME windows average their real pixels only.

    Parameters
    ----------
    input : array_like of shape batch_shape + (H, W, C) or batch_shape + (C, H, W)
        float16 (averaged in float32), float32 or float64.
    ksize, strides, padding, data_format
        See the module's shared parameters.

    Returns
    -------
    ndarray of shape batch_shape + (OH, OW, C) (or channels first), in ``input``'s dtype

    Examples
    --------
    The corner window of a SAME 3x3 average covers 4 real pixels: their mean,
    not their sum over 9.

    >>> import numpy as np, handconv
    >>> handconv.avg_pool2d(np.ones((1, 4, 4, 1)), 3, 1, "SAME")[0, :, :, 0]
    array([[1., 1., 1., 1.],
           [1., 1., 1., 1.],
           [1., 1., 1., 1.],
           [1., 1., 1., 1.]])
    """
    x = _as_array(input, "input", average=True)
    plan = pool_plan(x.shape, ksize, strides, padding, data_format, x.dtype, op="avg_pool2d")
    out = np.zeros(plan.output_shape, dtype=plan.compute_dtype)
    if not plan.is_empty:
        padded = plan.pad(_canonical(x, plan))
        for _, view in _windows(plan, padded):
            out += view
        out /= _counts(plan)
    return _user(out, plan, plan.user_output_shape)


def _counts(plan: ConvPlan) -> np.ndarray:
    """Real pixels in each window ``(1, OH, OW, 1)``: the divisor TF's average uses."""
    counts = np.zeros((1, *plan.output_hw, 1), dtype=np.int64)
    for _, view in _windows(plan, _real(plan)):
        counts += view
    return np.maximum(counts, 1)


def max_pool2d_grad(
    input: Any, out_backprop: Any, ksize: Any, strides: Any, padding: Any, data_format: str = "NHWC"
) -> np.ndarray:
    """Gradient of :func:`max_pool2d` with respect to its input (``tf.raw_ops.MaxPoolGrad``).

    Parameters
    ----------
    input : array_like of shape batch_shape + (H, W, C) or batch_shape + (C, H, W)
        The forward input (the winners are found again from it).
    out_backprop : array_like of the forward output's shape
    ksize, strides, padding, data_format
        The forward pooling's; see the module's shared parameters.

    Returns
    -------
    ndarray of ``input``'s shape and dtype
        Each output's gradient added to the input that won its window (the
        first in row-major order on a tie, as TF's CPU kernel does).

    Examples
    --------
    >>> import numpy as np, handconv
    >>> x = np.array([[1.0, 5.0], [3.0, 2.0]]).reshape(1, 2, 2, 1)
    >>> handconv.max_pool2d_grad(x, np.full((1, 1, 1, 1), 7.0), 2, 2, "VALID")[0, :, :, 0]
    array([[0., 7.],
           [0., 0.]])
    """
    x = _as_array(input, "input", average=False)
    dy = _as_array(out_backprop, "out_backprop", average=False)
    plan = pool_plan(x.shape, ksize, strides, padding, data_format, x.dtype, op="max_pool2d")
    check_out_backprop(plan, dy.shape)
    grad = np.zeros((plan.batch, *plan.padded_hw, plan.in_channels), dtype=plan.compute_dtype)
    if not plan.is_empty:
        padded = plan.pad(_canonical(x, plan))
        padded = np.where(_real(plan), padded, -np.inf if padded.dtype.kind == "f" else np.iinfo(padded.dtype).min)
        dy_c = _canonical_out(dy, plan)
        best = np.full(plan.output_shape, -np.inf, dtype=np.float64)
        winner = np.zeros(plan.output_shape, dtype=np.int64)
        for index, (_, view) in enumerate(_windows(plan, padded)):
            better = view > best  # strictly: the first of equal values keeps the win
            best = np.where(better, view, best)
            winner[better] = index
        taps = list(_windows(plan, grad))
        for index, (_, view) in enumerate(taps):
            view += np.where(winner == index, dy_c, 0)
    return _user(_crop(grad, plan), plan, _input_shape(plan))


def avg_pool2d_grad(
    input_sizes: Any, out_backprop: Any, ksize: Any, strides: Any, padding: Any, data_format: str = "NHWC"
) -> np.ndarray:
    """Gradient of :func:`avg_pool2d` with respect to its input (``tf.raw_ops.AvgPoolGrad``).

    Parameters
    ----------
    input_sizes : sequence of int
        The forward input's shape.
    out_backprop : array_like of the forward output's shape
        float16, float32 or float64.
    ksize, strides, padding, data_format
        The forward pooling's; see the module's shared parameters.

    Returns
    -------
    ndarray of shape ``input_sizes``, in ``out_backprop``'s dtype
        Each output's gradient divided by its window's real-pixel count and
        added to each of those pixels.

    Examples
    --------
    >>> import numpy as np, handconv
    >>> handconv.avg_pool2d_grad((1, 2, 2, 1), np.full((1, 1, 1, 1), 8.0), 2, 2, "VALID")[0, :, :, 0]
    array([[2., 2.],
           [2., 2.]])
    """
    dy = _as_array(out_backprop, "out_backprop", average=True)
    sizes = check_size_vector(input_sizes, "input_sizes", dy.ndim)
    plan = pool_plan(sizes, ksize, strides, padding, data_format, dy.dtype, op="avg_pool2d")
    check_out_backprop(plan, dy.shape)
    grad = np.zeros((plan.batch, *plan.padded_hw, plan.in_channels), dtype=plan.compute_dtype)
    if not plan.is_empty:
        share = _canonical_out(dy, plan) / _counts(plan)
        for _, view in _windows(plan, grad):
            view += share
    return _user(_crop(grad, plan), plan, sizes)


def _canonical_out(dy: np.ndarray, plan: ConvPlan) -> np.ndarray:
    if plan.channels_first:
        dy = np.moveaxis(dy, -3, -1)
    return dy.reshape(plan.output_shape).astype(plan.compute_dtype, copy=False)


def _crop(grad: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """The real pixels of a padded-input-shaped gradient."""
    (top, _), (left, _) = plan.pad_amounts
    h, w = plan.input_hw
    return grad[:, top : top + h, left : left + w]
