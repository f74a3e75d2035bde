"""Every output number of a convolution, traced back to its arithmetic.

:func:`explain` runs the same normalisation as :func:`handconv.conv2d`
(:func:`~handconv.plan.make_plan`, :func:`~handconv.conv.as_arrays`,
:func:`~handconv.conv.to_canonical`) and records, for the output elements asked
for, what a student writes down: the receptive field per input channel (with
dilation gaps), the element-wise products, the per-channel sums, the bias and
the total. Renderers (text, figures, animation, the interactive page) read the
resulting :class:`Trace`; its JSON form (:meth:`Trace.to_dict`) is documented
in ``docs/explain.md``.

Exactness: the ``output`` of a trace *is* ``conv2d(..., method=method)`` (plus
the bias, added in the input's dtype), by the same method ``conv2d`` uses, so
with the default ``method='auto'`` every total equals ``conv2d(...)``'s number
bit for bit, whatever the data. Each step's ``products`` and ``channel_sums``
are recomputed here in the compute dtype with the naive method's own
operations: for integer-valued data (and always with ``method='naive'``)
``sum(products) + bias`` equals ``total`` bit for bit; for general floats with
a fast method the written-out sum can differ from the total in the last bits,
which is the summation order, not an error. The tests check these claims.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..conv import as_arrays, check_memory, conversion_bytes, convolve_canonical, resolve_method, to_canonical
from ..errors import HandconvError, HandconvTypeError, describe_value
from ..plan import ConvPlan, make_plan
from .numbers import format_number, term_text

__all__ = ["explain", "Trace", "Step", "MAX_PRODUCTS", "format_number", "padding_mask"]

#: A trace refuses to record more products than this (explained output
#: positions x output channels x taps per output) unless ``max_products`` is raised.
MAX_PRODUCTS = 10_000


@dataclass(frozen=True)
class Step:
    """How one output element ``output[oy, ox, co]`` is computed.

    Attributes
    ----------
    oy, ox, co : int
        Output row, column and channel.
    rows, cols : tuple of int
        Padded-input coordinates of the taps, ``KH`` rows and ``KW`` columns,
        stepping by the dilation.
    channels : tuple of int
        Input channels output channel ``co`` reads (its group), ``Cg`` of them.
    receptive_field : ndarray of shape (KH, KW, Cg)
        The padded input at ``rows x cols x channels``.
    weights : ndarray of shape (KH, KW, Cg)
        ``filters[:, :, :, co]``.
    products : ndarray of shape (KH, KW, Cg)
        ``receptive_field * weights``.
    channel_sums : ndarray of shape (Cg,)
        ``products`` summed over the filter's height and width.
    bias : float
        The bias of output channel ``co``.
    total : float
        ``conv2d(...)[oy, ox, co] + bias``.
    """

    oy: int
    ox: int
    co: int
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    channels: tuple[int, ...]
    receptive_field: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)
    products: np.ndarray = field(repr=False)
    channel_sums: np.ndarray = field(repr=False)
    bias: float
    total: float

    @property
    def arithmetic(self) -> str:
        """The sums written out, one line per input channel and one for the total.

        ``channel 0: 0*1 + 2*(-1) + ... = -3`` for each channel, then
        ``total: -3 + 2 + 1 + 0 (bias) = 0``.
        """
        lines = []
        for k, channel in enumerate(self.channels):
            terms = " + ".join(
                f"{term_text(a)}*{term_text(b)}"
                for a, b in zip(self.receptive_field[:, :, k].ravel(), self.weights[:, :, k].ravel())
            )
            lines.append(f"channel {channel}: {terms} = {format_number(self.channel_sums[k])}")
        sums = " + ".join(term_text(s) for s in self.channel_sums)
        lines.append(f"total: {sums} + {term_text(self.bias)} (bias) = {format_number(self.total)}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "oy": self.oy,
            "ox": self.ox,
            "co": self.co,
            "rows": list(self.rows),
            "cols": list(self.cols),
            "channels": list(self.channels),
            "products": json_floats(self.products),
            "channel_sums": json_floats(self.channel_sums),
            "bias": json_float(self.bias),
            "total": json_float(self.total),
            "arithmetic": self.arithmetic,
        }


@dataclass(frozen=True)
class Trace:
    """A convolution of one image with the arithmetic of the chosen output elements.

    Attributes
    ----------
    plan : ConvPlan
        The resolved arguments (padding amounts, output size, formulas).
    input : ndarray of shape (H, W, C)
        Image ``batch_index`` of the input, canonical layout, compute dtype.
    padded_input : ndarray of shape (Hp, Wp, C)
        The same image zero-padded as the plan says.
    is_padding : ndarray of bool, shape (Hp, Wp)
        True where a cell of ``padded_input`` is padding.
    filters : ndarray of shape (KH, KW, Cg, C_out)
    bias : ndarray of shape (C_out,)
        Zeros when no bias was given.
    output : ndarray of shape (OH, OW, C_out)
        ``conv2d(...)`` for image ``batch_index``, plus ``bias``, in the input's dtype.
    steps : tuple of Step
        One per explained output element, in ``(oy, ox, co)`` row-major order.
    labels : dict
        ``title`` (str), ``input`` (str), ``filters`` (list of C_out str).
    batch_index : int
        Which image of the batch is traced.
    method : str
        The conv2d method that computed ``output``.
    backward : dict or None
        Given ``out_backprop``: ``out_backprop`` ``(OH, OW, C_out)`` of image
        ``batch_index``, and that image's gradients from handconv's backprop
        functions, ``grad_filters`` ``(KH, KW, C/groups, C_out)`` (this image's
        share: the batch's gradient is the sum over images) and ``grad_input``
        ``(H, W, C)``.
    """

    plan: ConvPlan
    input: np.ndarray = field(repr=False)
    padded_input: np.ndarray = field(repr=False)
    is_padding: np.ndarray = field(repr=False)
    filters: np.ndarray = field(repr=False)
    bias: np.ndarray = field(repr=False)
    output: np.ndarray = field(repr=False)
    steps: tuple[Step, ...] = field(repr=False)
    labels: dict[str, Any]
    batch_index: int = 0
    method: str = "naive"
    #: With ``out_backprop``: the backward pass of image ``batch_index`` for the page (see :func:`explain`).
    backward: dict[str, np.ndarray] | None = field(default=None, repr=False)

    @property
    def positions(self) -> list[tuple[int, int]]:
        """Distinct explained output positions ``(oy, ox)``, in row-major order."""
        seen: dict[tuple[int, int], None] = {}
        for step in self.steps:
            seen.setdefault((step.oy, step.ox), None)
        return list(seen)

    def step(self, oy: int, ox: int, co: int = 0) -> Step:
        """The step of output element ``(oy, ox, co)``; KeyError when it was not explained."""
        for candidate in self.steps:
            if (candidate.oy, candidate.ox, candidate.co) == (oy, ox, co):
                return candidate
        raise KeyError(f"output element ({oy}, {ox}, {co}) is not in this trace; explain it with at=({oy}, {ox})")

    def compute_step(self, oy: int, ox: int, co: int = 0) -> Step:
        """The step of ``(oy, ox, co)``, from the trace when explained, else computed now.

        Renderers use this to animate positions a large trace did not record.
        """
        for candidate in self.steps:
            if (candidate.oy, candidate.ox, candidate.co) == (oy, ox, co):
                return candidate
        ((oy, ox),) = select_positions((oy, ox), self.plan.output_hw)
        if not 0 <= co < self.plan.out_channels:
            raise HandconvError(f"output channel {co} is outside 0..{self.plan.out_channels - 1}")
        weights = self.filters.astype(self.plan.compute_dtype, copy=False)
        for step in _steps(self.plan, self.padded_input, weights, self.bias, self.output, [(oy, ox)]):
            if step.co == co:
                return step
        raise AssertionError("unreachable")  # pragma: no cover

    @property
    def formulas(self) -> tuple[str, str]:
        """Output-size arithmetic for height and width, with the user's numbers."""
        return self.plan.formula(0), self.plan.formula(1)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data, the form the interactive page reads.

        Non-finite floats become the strings ``"NaN"``, ``"Infinity"`` and
        ``"-Infinity"``. The schema (version 1) is in ``docs/explain.md``.
        """
        plan = self.plan
        return {
            "version": 1,
            "labels": {
                "title": self.labels["title"],
                "input": self.labels["input"],
                "filters": list(self.labels["filters"]),
            },
            "config": {
                "input_shape": [int(s) for s in _user_input_shape(plan)],
                "filters_shape": list(plan.filter_shape),
                "data_format": plan.data_format,
                "strides": list(plan.strides),
                "dilations": list(plan.dilations),
                "padding": plan.padding,
                "pad_amounts": [list(plan.pad_amounts[0]), list(plan.pad_amounts[1])],
                "groups": plan.groups,
                "output_hw": list(plan.output_hw),
                "out_channels": plan.out_channels,
                "in_channels": plan.in_channels,
                "formulas": list(self.formulas),
                "describe": plan.describe(),
            },
            "padded_input": json_floats(self.padded_input),
            "is_padding": self.is_padding.tolist(),
            "filters": json_floats(self.filters),
            "bias": json_floats(self.bias),
            "output": json_floats(self.output),
            "steps": [step.to_dict() for step in self.steps],
            **(
                {
                    "backward": {
                        "batch_index": self.batch_index,
                        **{key: json_floats(value) for key, value in self.backward.items()},
                    }
                }
                if self.backward is not None
                else {}
            ),
        }

    def __str__(self) -> str:
        from .text import render_text

        return render_text(self, color=False)


def _user_input_shape(plan: ConvPlan) -> tuple[int, ...]:
    h, w = plan.input_hw
    if plan.data_format == "NCHW":
        return (*plan.batch_shape, plan.in_channels, h, w)
    return (*plan.batch_shape, h, w, plan.in_channels)


def json_float(value: Any) -> float | str:
    value = float(value)
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def json_floats(array: np.ndarray) -> Any:
    array = np.asarray(array, dtype=np.float64)
    if np.isfinite(array).all():
        return array.tolist()
    return np.vectorize(json_float, otypes=[object])(array).tolist() if array.ndim else json_float(array)


# ------------------------------------------------------------------ selection
def _check_index(value: Any, size: int, axis: str, at: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise HandconvTypeError(
            f"at={describe_value(at)}: the {axis} {describe_value(value)} is not an integer; "
            "expected at=(row, col), a list of (row, col) pairs, or a pair of slices"
        )
    index = int(value)
    if size == 0:
        raise HandconvError(
            f"at={describe_value(at)}: the output is empty (it has no {axis}s: the filter does not fit "
            "the padded input, as in TF), so there is no position to explain"
        )
    if not -size <= index < size:
        raise HandconvError(
            f"at={describe_value(at)}: output {axis} {index} is outside the output, "
            f"which has {size} {axis}s (0..{size - 1})"
        )
    return index % size


def _axis_indices(value: Any, size: int, axis: str, at: Any) -> list[int]:
    if isinstance(value, slice):
        return list(range(size))[value]
    if isinstance(value, range):
        value = list(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_check_index(v, size, axis, at) for v in value]
    return [_check_index(value, size, axis, at)]


def _is_pair(value: Any) -> bool:
    return (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and not any(isinstance(v, (tuple, list, np.ndarray)) for v in value)
    )


def select_positions(at: Any, output_hw: tuple[int, ...]) -> list[tuple[int, int]]:
    """Output positions ``at`` names, sorted row-major, without repeats.

    >>> select_positions(None, (2, 2))
    [(0, 0), (0, 1), (1, 0), (1, 1)]
    >>> select_positions((1, -1), (3, 3))
    [(1, 2)]
    >>> select_positions([(2, 0), (0, 1), (2, 0)], (3, 3))
    [(0, 1), (2, 0)]
    >>> select_positions((slice(0, 2), 1), (3, 3))
    [(0, 1), (1, 1)]
    """
    out_h, out_w = output_hw
    if at is None:
        return [(oy, ox) for oy in range(out_h) for ox in range(out_w)]
    if isinstance(at, np.ndarray):
        at = at.tolist()
    if _is_pair(at):
        rows = _axis_indices(at[0], out_h, "row", at)
        cols = _axis_indices(at[1], out_w, "column", at)
        positions = {(r, c) for r in rows for c in cols}
    elif isinstance(at, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in at):
        positions = {(_check_index(p[0], out_h, "row", at), _check_index(p[1], out_w, "column", at)) for p in at}
    else:
        raise HandconvTypeError(
            f"at={describe_value(at)} is not understood; expected at=(row, col), "
            "a list of (row, col) pairs, or a pair of slices such as at=(slice(0, 2), slice(None))"
        )
    return sorted(positions)


# --------------------------------------------------------------------- inputs
def _check_bias(bias: Any, out_channels: int, dtype: np.dtype) -> np.ndarray:
    if bias is None:
        return np.zeros(out_channels, dtype=dtype)
    try:
        values = np.asarray(bias, dtype=np.float64)
    except (TypeError, ValueError):
        raise HandconvTypeError(
            f"bias={describe_value(bias)} is not numeric; expected {out_channels} number(s), one per output channel"
        ) from None
    if values.ndim == 0:
        values = np.full(out_channels, float(values))
    if values.shape != (out_channels,):
        raise HandconvError(f"bias has shape {values.shape}; expected ({out_channels},), one number per output channel")
    if dtype.kind == "i" and not np.array_equal(values, np.trunc(values)):
        raise HandconvTypeError("bias has non-integer values but the input is int32; make the input float")
    return values.astype(dtype)


def check_labels(labels: Mapping[str, Any] | None, out_channels: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "title": "convolution",
        "input": "input",
        "filters": [f"filter {co}" for co in range(out_channels)],
    }
    if labels is None:
        return result
    if not isinstance(labels, Mapping):
        raise HandconvTypeError(f"labels={describe_value(labels)} must be a dict with keys 'title', 'input', 'filters'")
    unknown = set(labels) - set(result)
    if unknown:
        raise HandconvError(f"labels has unknown key(s) {sorted(unknown)}; expected 'title', 'input', 'filters'")
    for key in ("title", "input"):
        if key in labels:
            result[key] = str(labels[key])
    if "filters" in labels:
        names = labels["filters"]
        names = [names] if isinstance(names, str) else [str(n) for n in names]
        if len(names) != out_channels:
            raise HandconvError(
                f"labels['filters'] has {len(names)} name(s); expected {out_channels}, one per output channel"
            )
        result["filters"] = names
    return result


# ------------------------------------------------------------------- explain
def explain(
    input: Any,
    filters: Any,
    strides: Any = 1,
    padding: Any = "VALID",
    data_format: str = "NHWC",
    dilations: Any = None,
    *,
    bias: Any = None,
    at: Any = None,
    batch_index: int = 0,
    labels: Mapping[str, Any] | None = None,
    max_products: int = MAX_PRODUCTS,
    method: str = "auto",
    grad: str | None = None,
    out_backprop: Any = None,
) -> Any:
    """Convolve like :func:`handconv.conv2d` and keep the arithmetic of each output number.

    With ``grad='filter'`` or ``grad='input'`` it explains the backward pass
    instead: one element of a gradient as the sum of products it is (see
    :func:`handconv.explain.backward.explain_gradient`, which takes ``at`` as
    ``(fy, fx, k, co)`` or ``(y, x, c)`` and returns a ``GradTrace``).

    Parameters
    ----------
    input, filters, strides, padding, data_format, dilations
        As in :func:`handconv.conv2d` (``tf.nn.conv2d`` semantics).
    bias : float or array_like of shape (C_out,), optional
        Added to each output channel, as a convolution layer does.
    at : None, (row, col), list of (row, col), or pair of slices/ints
        Output positions to explain; all output channels are explained at each.
        None explains every position. Negative indices count from the end.
    batch_index : int
        Which image of the batch to trace.
    labels : dict, optional
        ``title``, ``input`` and ``filters`` (one name per output channel) for
        the renderers.
    max_products : int
        Refuse traces that would record more products than this.
    method : str
        The ``conv2d`` method that computes the output (default ``'auto'``, as
        ``conv2d``); ``'naive'`` makes every total the literal by-hand sum.
    grad : {None, 'filter', 'input'}
        None (default) explains the forward pass; ``'filter'``/``'input'`` one
        gradient element (needs ``out_backprop`` and ``at``).
    out_backprop : array_like, optional
        ``dL/d(output)``, shaped like the output. With ``grad=None`` the trace
        also carries the backward pass for the interactive page
        (:attr:`Trace.backward`).

    Returns
    -------
    Trace, or GradTrace when ``grad`` is given

    Raises
    ------
    HandconvError
        Bad convolution arguments (as ``conv2d``), bad ``at``/``bias``/``labels``,
        or a trace larger than ``max_products`` (the message says how to narrow it).

    Examples
    --------
    >>> import numpy as np, handconv
    >>> x = np.arange(9.0).reshape(1, 3, 3, 1)
    >>> w = np.array([[1.0, 0.0], [0.0, -1.0]]).reshape(2, 2, 1, 1)
    >>> trace = handconv.explain(x, w, at=(0, 1), bias=10)
    >>> print(trace.steps[0].arithmetic)
    channel 0: 1*1 + 2*0 + 4*0 + 5*(-1) = -4
    total: (-4) + 10 (bias) = 6
    >>> trace.output[:, :, 0]
    array([[6., 6.],
           [6., 6.]])
    """
    if grad is not None:
        from .backward import explain_gradient

        if bias is not None:
            raise HandconvError(
                "bias does not enter dL/dW or dL/dx (its own gradient is out_backprop summed over "
                "every axis but the channel); drop bias= when grad= is given"
            )
        return explain_gradient(
            input,
            filters,
            strides,
            padding,
            data_format,
            dilations,
            grad=grad,
            out_backprop=out_backprop,
            at=at,
            batch_index=batch_index,
            labels=labels,
        )
    x, w = as_arrays(input, filters)
    plan = make_plan(x.shape, w.shape, strides, padding, data_format, dilations, x.dtype)
    positions = _positions_within_budget(plan, at, batch_index, max_products)
    bias_values = _check_bias(bias, plan.out_channels, plan.dtype)
    names = check_labels(labels, plan.out_channels)

    method = resolve_method(method, plan)
    check_memory(plan, method, conversion_bytes(x, plan) + _trace_bytes(plan))
    canonical = to_canonical(x, plan)
    weights = w.astype(plan.compute_dtype, copy=False)
    # conv2d's own core: its memory guard, its method, its dtype handling.
    convolved = convolve_canonical(canonical, weights, plan, method, memory_checked=True)
    output = convolved[batch_index] + bias_values

    padded = plan.pad(canonical[batch_index : batch_index + 1])[0]
    is_padding = padding_mask(plan)

    with np.errstate(invalid="ignore", over="ignore"):  # 0 * inf = nan, as in conv2d and TF: no warning
        steps = tuple(_steps(plan, padded, weights, bias_values, output, positions))
    backward = None if out_backprop is None else _backward(out_backprop, canonical, w, plan, batch_index)
    return Trace(
        plan=plan,
        input=np.ascontiguousarray(canonical[batch_index]),
        padded_input=padded,
        is_padding=is_padding,
        filters=np.asarray(w),
        bias=bias_values,
        output=output,
        steps=steps,
        labels=names,
        batch_index=int(batch_index),
        method=method,
        backward=backward,
    )


def _positions_within_budget(plan: ConvPlan, at: Any, batch_index: Any, max_products: int) -> list[tuple[int, int]]:
    """The output positions to explain, checked against the batch and the products budget."""
    if isinstance(batch_index, bool) or not isinstance(batch_index, (int, np.integer)):
        raise HandconvTypeError(f"batch_index={batch_index!r} must be an integer")
    if not 0 <= batch_index < plan.batch:
        raise HandconvError(f"batch_index={batch_index} is outside the batch of {plan.batch} image(s)")
    positions = select_positions(at, plan.output_hw)
    products = len(positions) * plan.out_channels * plan.taps
    per_position = plan.out_channels * plan.taps
    if positions and per_position > max_products:
        raise HandconvError(
            f"one output position alone is {plan.out_channels} channel(s) x {plan.taps} taps "
            f"({plan.filter_hw[0]}x{plan.filter_hw[1]}x{plan.filter_in_channels}) = {per_position:,} products, "
            f"more than max_products={max_products:,}; explain fewer filters, fewer input channels or a "
            "smaller filter (or raise max_products)"
        )
    if products > max_products:
        raise HandconvError(
            f"explaining {len(positions)} output position(s) x {plan.out_channels} channel(s) x "
            f"{plan.taps} taps = {products:,} products is more than max_products={max_products:,}; "
            f"narrow it with at=(row, col), a list of positions, or slices "
            f"(the output is {plan.output_hw[0]}x{plan.output_hw[1]}), e.g. at=(0, 0)"
        )
    return positions


def _trace_bytes(plan: ConvPlan) -> int:
    """The trace's own arrays beside the convolution's: one image, padded, its padding mask and the output."""
    itemsize = plan.compute_dtype.itemsize
    padded_pixels = plan.padded_hw[0] * plan.padded_hw[1]
    return (
        math.prod(plan.input_hw) * plan.in_channels * itemsize
        + padded_pixels * (plan.in_channels * itemsize + 1)
        + math.prod(plan.output_hw) * plan.out_channels * itemsize
    )


def padding_mask(plan: ConvPlan) -> np.ndarray:
    """True where the padded input is padding, shape ``plan.padded_hw``."""
    (top, _), (left, _) = plan.pad_amounts
    is_padding = np.ones(plan.padded_hw, dtype=bool)
    is_padding[top : top + plan.input_hw[0], left : left + plan.input_hw[1]] = False
    return is_padding


def _backward(out_backprop: Any, canonical: np.ndarray, w: np.ndarray, plan: ConvPlan, batch_index: int) -> dict:
    """The backward pass of one image for the page's toggle: dL/d(output), dL/dW and dL/dx."""
    from .backward import canonical_out_backprop, gradients

    dy = canonical_out_backprop(out_backprop, plan)[batch_index : batch_index + 1]
    one = canonical[batch_index : batch_index + 1].astype(plan.dtype, copy=False)
    one_plan = make_plan(one.shape, w.shape, plan.strides, _canonical_padding(plan), "NHWC", plan.dilations, plan.dtype)
    dy_user = dy.astype(plan.dtype)
    return {
        "out_backprop": dy[0],
        "grad_filters": gradients(one, w, dy_user, one_plan, "filter").astype(plan.compute_dtype, copy=False),
        "grad_input": gradients(one, w, dy_user, one_plan, "input")[0].astype(plan.compute_dtype, copy=False),
    }


def _canonical_padding(plan: ConvPlan) -> Any:
    """The plan's padding as an NHWC ``padding`` argument (the resolved amounts when explicit)."""
    if plan.padding != "EXPLICIT":
        return plan.padding
    return [[0, 0], list(plan.pad_amounts[0]), list(plan.pad_amounts[1]), [0, 0]]


def _steps(
    plan: ConvPlan,
    padded: np.ndarray,
    weights: np.ndarray,
    bias: np.ndarray,
    output: np.ndarray,
    positions: Iterable[tuple[int, int]],
) -> Iterable[Step]:
    group_size = plan.filter_in_channels
    for oy, ox in positions:
        row_slice, col_slice = plan.receptive_field(oy, ox)
        rows = tuple(range(row_slice.start, row_slice.stop, row_slice.step))
        cols = tuple(range(col_slice.start, col_slice.stop, col_slice.step))
        for co in range(plan.out_channels):
            # As in the naive method: output channel co reads only its group.
            first = (co // plan.out_channels_per_group) * group_size
            receptive_field = padded[row_slice, col_slice, first : first + group_size]
            kernel = weights[:, :, :, co]
            products = receptive_field * kernel
            yield Step(
                oy=oy,
                ox=ox,
                co=co,
                rows=rows,
                cols=cols,
                channels=tuple(range(first, first + group_size)),
                receptive_field=receptive_field,
                weights=kernel,
                products=products,
                channel_sums=products.sum(axis=(0, 1)),
                bias=float(bias[co]),
                total=float(output[oy, ox, co]),
            )
