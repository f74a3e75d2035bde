"""The convolution family, with TensorFlow's names, arguments and semantics.

Every function here is a mapping onto the one general plan of
:mod:`handconv.plan`: it validates the user's arguments into the *forward*
convolution's plan (the same :func:`~handconv.plan.make_plan` rules as
``conv2d``), derives the plan of the convolution that computes the op
(:func:`~handconv.plan.backprop_input_plan`,
:func:`~handconv.plan.backprop_filter_plan`), rearranges the arrays the way the
mapping says (flip and swap the filter, swap batch and channels), and runs a
registered method on canonical arrays. ``method='naive'`` runs the by-hand
loops on the same plan: the ground truth the tests hold the fast paths to.

Shared parameters
-----------------
strides, dilations : int or sequence of int
    As for :func:`handconv.conv2d`: an int, or 1, N or N + 2 values (N spatial
    dimensions; N + 2 in ``data_format`` order with batch and channel entries 1).
padding : {'VALID', 'SAME'} or list of N + 2 pairs
    As for :func:`handconv.conv2d`: ``'SAME'`` gives ``ceil(n / stride)``
    outputs with the odd zero after, explicit pairs are in ``data_format`` order.
method : str
    ``'auto'`` or a name in ``handconv.METHODS`` that takes the plan.

dtypes: float16 (accumulated in float32), float32, float64 and int32; the
result has the dtype of the first array argument.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .conv import as_arrays, convolve_canonical, resolve_method
from .errors import HandconvError
from .plan import (
    ConvPlan,
    backprop_filter_plan,
    backprop_input_plan,
    check_out_backprop,
    check_size_vector,
    make_conv_plan,
    make_plan,
    transposed_plan,
)

__all__ = [
    "conv2d_backprop_input",
    "conv2d_backprop_filter",
    "conv2d_transpose",
    "depthwise_conv2d",
    "conv1d",
    "conv3d",
    "convolution",
    "convolution_backprop_input",
    "convolution_backprop_filter",
    "run_plan",
]


# ------------------------------------------------------------------ layouts
def _canonical(array: np.ndarray, channels_first: bool, rank: int, dtype: np.dtype) -> np.ndarray:
    """User layout ``batch_shape + spatial + (C,)`` (or channels first) to ``(N, *spatial, C)``."""
    if channels_first:
        array = np.moveaxis(array, -rank - 1, -1)
    batch = int(np.prod(array.shape[: -rank - 1], dtype=np.int64))
    return array.reshape(batch, *array.shape[-rank - 1 :]).astype(dtype, copy=False)


def _user(out: np.ndarray, plan: ConvPlan, shape: tuple[int, ...]) -> np.ndarray:
    """Canonical ``(N, *spatial, C)`` to the user's layout ``shape``, in ``plan.dtype``."""
    out = out.astype(plan.dtype, copy=False)
    if plan.channels_first:
        rank = plan.spatial_rank
        channels_last = (*shape[: -rank - 1], *shape[-rank:], shape[-rank - 1])
        return np.ascontiguousarray(np.moveaxis(out.reshape(channels_last), -1, -rank - 1))
    return out.reshape(shape)


def run_plan(x: np.ndarray, filters: np.ndarray, plan: ConvPlan, method: str = "auto") -> np.ndarray:
    """Run any plan, general ones included, on canonical arrays.

    A 1-D plan runs as the 2-D plan of height 1 it equals
    (:meth:`ConvPlan.as_2d`), so the 2-D methods and their cost model serve it.

    Parameters
    ----------
    x : ndarray of shape (N, *spatial, C)
    filters : ndarray of shape (*K, C / groups, C_out)
    plan : ConvPlan
    method : str
        ``'auto'`` or a registered name that takes the plan.

    Returns
    -------
    ndarray of shape (N / batch_groups, *out_spatial, C_out), in ``plan.dtype``
    """
    if plan.spatial_rank == 1 and method != "naive":
        flat = plan.as_2d()
        return run_plan(x[:, None], filters[None], flat, method)[:, 0]
    name = resolve_method(method, plan)
    return convolve_canonical(x, filters, plan, name)


# ------------------------------------------------------------ the mappings
def _input_gradient(forward: ConvPlan, dy: np.ndarray, filters: np.ndarray, method: str, op: str) -> np.ndarray:
    """``dx`` of ``forward`` from canonical ``dy`` ``(N, *out, C_out)``: see :func:`backprop_input_plan`."""
    if forward.is_empty or 0 in forward.input_shape:  # no output read any input: the gradient is zero
        return np.zeros(forward.input_shape, dtype=forward.compute_dtype)
    plan = backprop_input_plan(forward, op)
    rank, groups = forward.spatial_rank, forward.groups
    # Flip every spatial axis, then swap in/out channels within each group:
    # (*K, C/g, g, O/g) -> (*K, O/g, g, C/g) -> (*K, O/g, C).
    flipped = filters[(slice(None, None, -1),) * rank]
    cg, og = forward.filter_in_channels, forward.out_channels_per_group
    swapped = flipped.reshape(*forward.filter_spatial, cg, groups, og)
    swapped = np.swapaxes(swapped, rank, rank + 2).reshape(*forward.filter_spatial, og, groups * cg)
    w = swapped.astype(plan.compute_dtype, copy=False)
    return run_plan(dy, w, plan, method)


def _filter_gradient(forward: ConvPlan, x: np.ndarray, dy: np.ndarray, method: str) -> np.ndarray:
    """``dw`` of ``forward`` from canonical ``x`` and ``dy``: see :func:`backprop_filter_plan`."""
    if forward.is_empty or 0 in forward.input_shape:
        return np.zeros(forward.filter_shape, dtype=forward.compute_dtype)
    plan = backprop_filter_plan(forward)
    lhs = np.swapaxes(x, 0, -1)  # (C, *spatial, N): channels as batch, batch as features
    rhs = np.moveaxis(dy, 0, -2)  # (*out, N, C_out): the output gradient as the filter
    out = run_plan(lhs, rhs, plan, method)  # (C / groups, *K, C_out)
    return np.moveaxis(out, 0, -2)


# --------------------------------------------------------------- 2-D gradients
def conv2d_backprop_input(
    input_sizes: Any,
    filters: Any,
    out_backprop: Any,
    strides: Any,
    padding: Any,
    data_format: str = "NHWC",
    dilations: Any = None,
    *,
    method: str = "auto",
) -> np.ndarray:
    """Gradient of ``conv2d`` with respect to its input (``tf.raw_ops.Conv2DBackpropInput``).

    Parameters
    ----------
    input_sizes : sequence of int
        The forward input's shape, ``batch_shape + (H, W, C)`` (or
        ``(C, H, W)`` last for NCHW); as many entries as ``out_backprop`` has
        dimensions.
    filters : array_like of shape (KH, KW, C / groups, C_out)
        The forward filters.
    out_backprop : array_like of shape batch_shape + (OH, OW, C_out) or batch_shape + (C_out, OH, OW)
        Gradient of the loss with respect to the forward output; its shape must
        be the forward convolution's output shape.
    strides, padding, data_format, dilations
        The forward convolution's, as in :func:`handconv.conv2d`.
    method : str
        See the module's shared parameters.

    Returns
    -------
    ndarray of shape ``input_sizes``
        In ``out_backprop``'s dtype: ``dx[n, y, x, c] = sum over every output
        (oy, ox, o) the pixel fed, of filters[ky, kx, c, o] * out_backprop[n, oy, ox, o]``.

    Raises
    ------
    HandconvError
        ``input_sizes`` of the wrong length, an ``out_backprop`` whose shape is
        not the forward output's (with the arithmetic), and every error
        ``conv2d`` raises for the forward arguments.

    Examples
    --------
    A 3x3 filter of ones, stride 1, VALID: each input pixel's gradient counts
    the windows it lies in.

    >>> import numpy as np, handconv
    >>> dx = handconv.conv2d_backprop_input((1, 4, 4, 1), np.ones((3, 3, 1, 1)), np.ones((1, 2, 2, 1)), 1, "VALID")
    >>> dx[0, :, :, 0]
    array([[1., 2., 2., 1.],
           [2., 4., 4., 2.],
           [2., 4., 4., 2.],
           [1., 2., 2., 1.]])
    """
    plan_args = (strides, padding, data_format, dilations)
    return _backprop_input(make_plan, input_sizes, filters, out_backprop, plan_args, method, "conv2d_backprop_input")


def conv2d_backprop_filter(
    input: Any,
    filter_sizes: Any,
    out_backprop: Any,
    strides: Any,
    padding: Any,
    data_format: str = "NHWC",
    dilations: Any = None,
    *,
    method: str = "auto",
) -> np.ndarray:
    """Gradient of ``conv2d`` with respect to its filters (``tf.raw_ops.Conv2DBackpropFilter``).

    Parameters
    ----------
    input : array_like of shape batch_shape + (H, W, C) or batch_shape + (C, H, W)
        The forward input.
    filter_sizes : sequence of 4 int
        The filters' shape ``(KH, KW, C / groups, C_out)``.
    out_backprop : array_like of shape batch_shape + (OH, OW, C_out) or batch_shape + (C_out, OH, OW)
        Gradient of the loss with respect to the forward output.
    strides, padding, data_format, dilations
        The forward convolution's, as in :func:`handconv.conv2d`.
    method : str
        See the module's shared parameters.

    Returns
    -------
    ndarray of shape ``filter_sizes``
        In ``input``'s dtype: ``dw[ky, kx, c, o] = sum over n, oy, ox of
        padded_input[n, oy*sh + ky*dh, ox*sw + kx*dw, c] * out_backprop[n, oy, ox, o]``.

    Raises
    ------
    HandconvError
        ``filter_sizes`` not of length 4, an ``out_backprop`` whose shape is
        not the forward output's, and every error ``conv2d`` raises.

    Examples
    --------
    With an output gradient of ones, a weight's gradient is the sum of the
    input pixels it touched:

    >>> import numpy as np, handconv
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> dw = handconv.conv2d_backprop_filter(x, (3, 3, 1, 1), np.ones((1, 2, 2, 1)), 1, "VALID")
    >>> dw[:, :, 0, 0]
    array([[10., 14., 18.],
           [26., 30., 34.],
           [42., 46., 50.]])
    """
    plan_args = (strides, padding, data_format, dilations)
    return _backprop_filter(make_plan, input, filter_sizes, out_backprop, plan_args, method, any_rank=False)


def conv2d_transpose(
    input: Any,
    filters: Any,
    output_shape: Any,
    strides: Any,
    padding: Any = "SAME",
    data_format: str = "NHWC",
    dilations: Any = None,
    *,
    method: str = "auto",
) -> np.ndarray:
    """Transposed 2-D convolution (``tf.nn.conv2d_transpose``): ``conv2d_backprop_input`` by another name.

    The result is what ``conv2d_backprop_input`` returns for an output
    gradient ``input``: every input pixel, times the filter, is added into the
    window of the result that a forward ``conv2d`` would have read it from.

    Parameters
    ----------
    input : array_like of shape batch_shape + (H, W, C_in) or batch_shape + (C_in, H, W)
    filters : array_like of shape (KH, KW, C_result, C_in)
        Note the order: the forward convolution's filters, whose output
        channels are this op's input channels.
    output_shape : sequence of int
        The result's full shape, in ``data_format``. With a stride it is
        ambiguous, so it is required; it must be a shape a forward ``conv2d``
        with these arguments maps to ``input``'s shape
        (:func:`handconv.shapes.transposed_sizes`).
    strides, padding, data_format, dilations
        The forward convolution's, as in :func:`handconv.conv2d` (padding
        defaults to ``'SAME'`` as in TF).
    method : str
        See the module's shared parameters.

    Returns
    -------
    ndarray of shape ``output_shape``, in ``input``'s dtype

    Raises
    ------
    HandconvError
        An ``output_shape`` of the wrong length, or one no forward convolution
        maps to ``input``'s shape (the message shows the arithmetic and the
        sizes that would fit).

    Examples
    --------
    Stride 2 spreads each pixel over a 2x2 block of the result:

    >>> import numpy as np, handconv
    >>> x = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    >>> handconv.conv2d_transpose(x, np.ones((2, 2, 1, 1)), (1, 4, 4, 1), 2)[0, :, :, 0]
    array([[1., 1., 2., 2.],
           [1., 1., 2., 2.],
           [3., 3., 4., 4.],
           [3., 3., 4., 4.]])
    """
    x, w = as_arrays(input, filters)
    if w.ndim != 4:
        raise HandconvError(
            f"filters has shape {w.shape}; expected rank 4: [height, width, output_channels, in_channels]"
        )
    forward = transposed_plan(x.shape, w.shape, output_shape, strides, padding, data_format, dilations, x.dtype)
    x_c = _canonical(x, forward.channels_first, 2, forward.compute_dtype)
    return _user(_input_gradient(forward, x_c, w, method, "conv2d_transpose"), forward, forward_shape(forward))


def forward_shape(forward: ConvPlan) -> tuple[int, ...]:
    """The forward input's shape in the user's layout (a transposed convolution's result)."""
    if forward.channels_first:
        return (*forward.batch_shape, forward.in_channels, *forward.input_spatial)
    return (*forward.batch_shape, *forward.input_spatial, forward.in_channels)


# ------------------------------------------------------------- forward family
def _forward(x: np.ndarray, w: np.ndarray, plan: ConvPlan, method: str) -> np.ndarray:
    if plan.is_empty:
        return np.zeros(plan.user_output_shape, dtype=plan.dtype)
    x_c = _canonical(x, plan.channels_first, plan.spatial_rank, plan.compute_dtype)
    out = run_plan(x_c, w.astype(plan.compute_dtype, copy=False), plan, method)
    return _user(out, plan, plan.user_output_shape)


def depthwise_conv2d(
    input: Any,
    filter: Any,
    strides: Any,
    padding: Any,
    data_format: str | None = None,
    dilations: Any = None,
    *,
    method: str = "auto",
) -> np.ndarray:
    """Depthwise 2-D convolution (``tf.nn.depthwise_conv2d``): each channel convolved on its own.

    Parameters
    ----------
    input : array_like of shape batch_shape + (H, W, C) or batch_shape + (C, H, W)
    filter : array_like of shape (KH, KW, C, M)
        ``M`` filters (the channel multiplier) per input channel.
    strides, padding, dilations
        As in :func:`handconv.conv2d`.
    data_format : {'NHWC', 'NCHW'}, optional
        Default ``'NHWC'``.
    method : str
        See the module's shared parameters.

    Returns
    -------
    ndarray of shape batch_shape + (OH, OW, C * M) (or channels first)
        Output channel ``c * M + m`` is input channel ``c`` convolved with
        ``filter[:, :, c, m]``: a grouped ``conv2d`` with ``C`` groups and the
        filter reshaped to ``(KH, KW, 1, C * M)``.

    Examples
    --------
    >>> import numpy as np, handconv
    >>> x = np.stack([np.ones((3, 3)), 2 * np.ones((3, 3))], axis=-1)[None]   # (1, 3, 3, 2)
    >>> w = np.ones((3, 3, 2, 1))
    >>> handconv.depthwise_conv2d(x, w, 1, "VALID")[0, 0, 0]
    array([ 9., 18.])
    """
    x, w = as_arrays(input, filter, ("input", "filter"))
    data_format = "NHWC" if data_format is None else data_format
    if w.ndim != 4:
        raise HandconvError(
            f"filter has shape {w.shape}; expected rank 4: [filter_height, filter_width, in_channels, "
            "channel_multiplier]"
        )
    channels = x.shape[-3] if data_format == "NCHW" and x.ndim >= 4 else x.shape[-1] if x.ndim else 0
    if x.ndim >= 4 and w.shape[2] != channels:
        raise HandconvError(
            f"filter has shape {w.shape} with in_channels={w.shape[2]}, but input has {channels} "
            f"channel(s) (shape {x.shape}, {data_format}); a depthwise filter has one slice per input channel"
        )
    kh, kw, c, m = w.shape
    grouped = w.reshape(kh, kw, 1, c * m)
    plan = make_plan(x.shape, grouped.shape, strides, padding, data_format, dilations, x.dtype)
    return _forward(x, grouped, plan, method)


def conv1d(
    input: Any,
    filters: Any,
    stride: Any,
    padding: Any,
    data_format: str = "NWC",
    dilations: Any = None,
    *,
    method: str = "auto",
) -> np.ndarray:
    """1-D convolution (``tf.nn.conv1d``).

    Parameters
    ----------
    input : array_like of shape batch_shape + (W, C) or batch_shape + (C, W)
    filters : array_like of shape (K, C / groups, C_out)
    stride : int or sequence of 1 or 3 ints
    padding : {'VALID', 'SAME'} or list of 3 pairs
    data_format : {'NWC', 'NCW'}
    dilations : int or sequence of 1 or 3 ints, optional
    method : str
        See the module's shared parameters.

    Returns
    -------
    ndarray of shape batch_shape + (OW, C_out) or batch_shape + (C_out, OW)

    Examples
    --------
    A moving sum of 3:

    >>> import numpy as np, handconv
    >>> handconv.conv1d(np.arange(6.0).reshape(1, 6, 1), np.ones((3, 1, 1)), 1, "VALID")[0, :, 0]
    array([ 3.,  6.,  9., 12.])
    """
    x, w = as_arrays(input, filters)
    plan = make_conv_plan(x.shape, w.shape, stride, padding, data_format, dilations, x.dtype, op="conv1d")
    _check_rank(plan, 1, w)
    return _forward(x, w, plan, method)


def conv3d(
    input: Any,
    filters: Any,
    strides: Any,
    padding: Any,
    data_format: str = "NDHWC",
    dilations: Any = None,
    *,
    method: str = "auto",
) -> np.ndarray:
    """3-D convolution (``tf.nn.conv3d``).

    Parameters
    ----------
    input : array_like of shape batch_shape + (D, H, W, C) or batch_shape + (C, D, H, W)
    filters : array_like of shape (KD, KH, KW, C / groups, C_out)
    strides : int or sequence of 1, 3 or 5 ints
    padding : {'VALID', 'SAME'} or list of 5 pairs
        (TF's ``conv3d`` takes only the strings; explicit pairs are an extension.)
    data_format : {'NDHWC', 'NCDHW'}
    dilations : int or sequence of 1, 3 or 5 ints, optional
    method : str
        See the module's shared parameters.

    Returns
    -------
    ndarray of shape batch_shape + (OD, OH, OW, C_out) or batch_shape + (C_out, OD, OH, OW)

    Examples
    --------
    >>> import numpy as np, handconv
    >>> handconv.conv3d(np.ones((1, 4, 4, 4, 1)), np.ones((2, 2, 2, 1, 1)), 2, "VALID")[0, ..., 0]
    array([[[8., 8.],
            [8., 8.]],
    <BLANKLINE>
           [[8., 8.],
            [8., 8.]]])
    """
    x, w = as_arrays(input, filters)
    plan = make_conv_plan(x.shape, w.shape, strides, padding, data_format, dilations, x.dtype, op="conv3d")
    _check_rank(plan, 3, w)
    return _forward(x, w, plan, method)


def convolution(
    input: Any,
    filters: Any,
    strides: Any = None,
    padding: Any = "VALID",
    data_format: str | None = None,
    dilations: Any = None,
    *,
    method: str = "auto",
) -> np.ndarray:
    """N-D convolution, N = 1, 2 or 3 (``tf.nn.convolution``, TF 2 argument order).

    The number of spatial dimensions is the filters' rank minus 2.

    Parameters
    ----------
    input : array_like of shape batch_shape + spatial + (C,) or batch_shape + (C,) + spatial
    filters : array_like of shape spatial_filter_shape + (C / groups, C_out)
    strides, dilations : int or sequence of 1, N or N + 2 ints, optional
    padding : {'VALID', 'SAME'} or list of N + 2 pairs
    data_format : str, optional
        ``'NWC'``/``'NCW'``, ``'NHWC'``/``'NCHW'`` or ``'NDHWC'``/``'NCDHW'``;
        default channels last.
    method : str
        See the module's shared parameters.

    Returns
    -------
    ndarray, in ``input``'s dtype

    Examples
    --------
    >>> import numpy as np, handconv
    >>> handconv.convolution(np.ones((1, 5, 5, 2)), np.ones((3, 3, 2, 1)), padding="SAME")[0, :, :, 0]
    array([[ 8., 12., 12., 12.,  8.],
           [12., 18., 18., 18., 12.],
           [12., 18., 18., 18., 12.],
           [12., 18., 18., 18., 12.],
           [ 8., 12., 12., 12.,  8.]])
    """
    x, w = as_arrays(input, filters)
    plan = make_conv_plan(x.shape, w.shape, strides, padding, data_format, dilations, x.dtype)
    return _forward(x, w, plan, method)


def _check_rank(plan: ConvPlan, rank: int, w: np.ndarray) -> None:
    if plan.spatial_rank != rank:  # pragma: no cover - make_conv_plan reads the rank from the filters
        raise HandconvError(f"filters has shape {w.shape}; expected rank {rank + 2}")


# ----------------------------------------------------------- N-d gradients
def convolution_backprop_input(
    input_sizes: Any,
    filters: Any,
    out_backprop: Any,
    strides: Any = None,
    padding: Any = "VALID",
    data_format: str | None = None,
    dilations: Any = None,
    *,
    method: str = "auto",
) -> np.ndarray:
    """:func:`conv2d_backprop_input` for :func:`convolution` in 1, 2 or 3 dimensions.

    >>> import numpy as np, handconv
    >>> handconv.convolution_backprop_input((1, 4, 1), np.ones((3, 1, 1)), np.ones((1, 2, 1)))[0, :, 0]
    array([1., 2., 2., 1.])
    """
    plan_args = (strides, padding, data_format, dilations)
    return _backprop_input(
        make_conv_plan, input_sizes, filters, out_backprop, plan_args, method, "convolution_backprop_input"
    )


def convolution_backprop_filter(
    input: Any,
    filter_sizes: Any,
    out_backprop: Any,
    strides: Any = None,
    padding: Any = "VALID",
    data_format: str | None = None,
    dilations: Any = None,
    *,
    method: str = "auto",
) -> np.ndarray:
    """:func:`conv2d_backprop_filter` for :func:`convolution` in 1, 2 or 3 dimensions.

    >>> import numpy as np, handconv
    >>> x = np.arange(4.0).reshape(1, 4, 1)
    >>> handconv.convolution_backprop_filter(x, (3, 1, 1), np.ones((1, 2, 1)))[:, 0, 0]
    array([1., 3., 5.])
    """
    plan_args = (strides, padding, data_format, dilations)
    return _backprop_filter(make_conv_plan, input, filter_sizes, out_backprop, plan_args, method, any_rank=True)


def _backprop_input(
    make: Callable[..., ConvPlan],
    input_sizes: Any,
    filters: Any,
    out_backprop: Any,
    plan_args: tuple,
    method: str,
    op: str,
) -> np.ndarray:
    """The input gradient of the forward convolution ``make(input_sizes, filters.shape, *plan_args, dtype)``."""
    dy, w = as_arrays(out_backprop, filters, ("out_backprop", "filters"))
    sizes = check_size_vector(input_sizes, "input_sizes", dy.ndim)
    forward = make(sizes, w.shape, *plan_args, dy.dtype)
    check_out_backprop(forward, dy.shape)
    dy_c = _canonical(dy, forward.channels_first, forward.spatial_rank, forward.compute_dtype)
    return _user(_input_gradient(forward, dy_c, w, method, op), forward, sizes)


def _backprop_filter(
    make: Callable[..., ConvPlan],
    input: Any,
    filter_sizes: Any,
    out_backprop: Any,
    plan_args: tuple,
    method: str,
    *,
    any_rank: bool,
) -> np.ndarray:
    """The filter gradient of the forward convolution ``make(input.shape, filter_sizes, *plan_args, dtype)``.

    ``filter_sizes`` has 4 entries, or with ``any_rank`` 3, 4 or 5 (1-, 2- or 3-D).
    """
    x, dy = as_arrays(input, out_backprop, ("input", "out_backprop"))
    rank = 4
    if any_rank:
        if not isinstance(filter_sizes, (list, tuple)):
            filter_sizes = np.asarray(filter_sizes).tolist()
        length = len(filter_sizes) if isinstance(filter_sizes, (list, tuple)) else 0
        rank = length if length in (3, 4, 5) else 4
    sizes = check_size_vector(filter_sizes, "filter_sizes", rank)
    forward = make(x.shape, sizes, *plan_args, x.dtype)
    check_out_backprop(forward, dy.shape)
    x_c = _canonical(x, forward.channels_first, forward.spatial_rank, forward.compute_dtype)
    dy_c = _canonical(dy, forward.channels_first, forward.spatial_rank, forward.compute_dtype)
    return _filter_gradient(forward, x_c, dy_c, method).astype(forward.dtype, copy=False)
