"""The backward pass, one number at a time: a gradient as the sum it is.

Training a convolution layer needs two gradients of the loss ``L`` given
``out_backprop = dL/d(output)`` (``dy``, the shape of the forward output):

* the gradient of one filter weight ``W[fy, fx, k, co]`` is the sum, over
  every image ``n`` and every output position ``(oy, ox)`` the weight touched,
  of ``input value under that tap x dy[n, oy, ox, co]``::

      dL/dW[fy, fx, k, co] = sum_{n, oy, ox} x_padded[n, oy*s + fy*d, ox*s + fx*d, c] * dy[n, oy, ox, co]

  (``c`` is the input channel the tap reads: channel ``k`` of the filter's group);

* the gradient of one input pixel ``x[n, y, x, c]`` is the sum, over every
  output ``(oy, ox, co)`` it fed and the tap ``(fy, fx)`` that read it, of
  ``weight x dy``::

      dL/dx[n, y, x, c] = sum_{co, oy, ox} W[fy, fx, k, co] * dy[n, oy, ox, co]

:func:`explain_gradient` (also ``handconv.explain(..., grad='filter'|'input',
out_backprop=dy, at=...)``) records every term of that sum as a :class:`Term`.
Which positions a tap touched is asked of the forward plan
(:meth:`~handconv.plan.ConvPlan.receptive_field`), the one place that knows the
padding, stride and dilation.

Exactness: ``GradTrace.total`` *is* ``handconv.conv2d_backprop_filter`` (or
``conv2d_backprop_input``) at that element, computed for the whole call; the
terms are recomputed here. For integer-valued data every product and sum is
exact, so ``sum_of_products == total`` bit for bit (the tests check this and
that both equal TensorFlow's gradient); for general floats the two differ only
by summation order. :attr:`GradTrace.sum_of_products` is the correctly rounded
sum of the terms (:func:`math.fsum`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..conv import as_arrays, to_canonical
from ..errors import HandconvError, HandconvTypeError, describe_value
from ..plan import ConvPlan, make_plan
from .trace import format_number, json_float, json_floats, term_text

__all__ = ["explain_gradient", "GradTrace", "Term", "GRADS", "MAX_TERMS", "canonical_out_backprop", "gradients"]

#: The two gradients a backward pass explains.
GRADS = ("filter", "input")

#: A gradient trace refuses to record more terms than this unless ``max_terms`` is raised.
MAX_TERMS = 200_000


@dataclass(frozen=True)
class Term:
    """One product of a gradient's sum.

    Attributes
    ----------
    n, oy, ox, co : int
        The output element (image, row, column, channel) whose gradient
        ``dy[n, oy, ox, co]`` the product uses.
    fy, fx : int
        The filter tap (row, column) that connects the input to that output.
    channel : int
        The input channel read.
    row, col : int
        The padded-input cell read (``row - top``, ``col - left`` in the input).
    value : float
        For a filter gradient the padded input value ``x[n, row, col, channel]``
        (0 on padding); for an input gradient the weight ``W[fy, fx, k, co]``.
    out_grad : float
        ``dy[n, oy, ox, co]``.
    product : float
        ``value * out_grad``, in the compute dtype.
    """

    n: int
    oy: int
    ox: int
    co: int
    fy: int
    fx: int
    channel: int
    row: int
    col: int
    value: float
    out_grad: float
    product: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "oy": self.oy,
            "ox": self.ox,
            "co": self.co,
            "fy": self.fy,
            "fx": self.fx,
            "channel": self.channel,
            "row": self.row,
            "col": self.col,
            "value": json_float(self.value),
            "out_grad": json_float(self.out_grad),
            "product": json_float(self.product),
        }


@dataclass(frozen=True)
class GradTrace:
    """One element of a gradient with every product that sums to it.

    Attributes
    ----------
    grad : {'filter', 'input'}
        Which gradient.
    at : tuple of int
        ``(fy, fx, k, co)``, an index into the filters ``(KH, KW, C/groups, C_out)``,
        for ``grad='filter'``; ``(y, x, c)``, an input pixel of image
        ``batch_index`` (unpadded coordinates, canonical (H, W, C) order), for
        ``grad='input'``.
    plan : ConvPlan
        The forward convolution.
    terms : tuple of Term
        Filter gradient: one per (image, output position), row-major. Input
        gradient: one per (output channel, output position) the pixel fed.
    total : float
        The backprop function's value at ``at``.
    gradient : ndarray
        The whole gradient: ``(KH, KW, C/groups, C_out)`` for the filter, the
        input gradient of image ``batch_index`` ``(H, W, C)`` for the input.
    padded_input : ndarray of shape (N, Hp, Wp, C)
        The forward input, canonical layout, zero-padded as the plan says.
    is_padding : ndarray of bool, shape (Hp, Wp)
    filters : ndarray of shape (KH, KW, C/groups, C_out)
    out_backprop : ndarray of shape (N, OH, OW, C_out)
        ``dL/d(output)``, canonical layout.
    batch_index : int
        The image of an input gradient (0 for a filter gradient, which sums the batch).
    labels : dict
        ``title``, ``input`` and ``filters`` (one name per output channel).

    Examples
    --------
    >>> import numpy as np, handconv
    >>> x = np.arange(9.0).reshape(1, 3, 3, 1)
    >>> dy = np.array([[1.0, 0.0], [0.0, 2.0]]).reshape(1, 2, 2, 1)
    >>> t = handconv.explain(x, np.ones((2, 2, 1, 1)), grad="filter", out_backprop=dy, at=(0, 1, 0, 0))
    >>> t.arithmetic.splitlines()[-1]
    'dL/dW[0, 1, 0, 0] = 1*1 + 2*0 + 4*0 + 5*2 = 11'
    >>> t.total, t.sum_of_products
    (11.0, 11.0)
    """

    grad: str
    at: tuple[int, ...]
    plan: ConvPlan
    terms: tuple[Term, ...] = field(repr=False)
    total: float
    gradient: np.ndarray = field(repr=False)
    padded_input: np.ndarray = field(repr=False)
    is_padding: np.ndarray = field(repr=False)
    filters: np.ndarray = field(repr=False)
    out_backprop: np.ndarray = field(repr=False)
    batch_index: int = 0
    labels: dict[str, Any] = field(default_factory=dict)

    @property
    def sum_of_products(self) -> float:
        """The terms summed by hand (correctly rounded, :func:`math.fsum`)."""
        return math.fsum(term.product for term in self.terms)

    @property
    def name(self) -> str:
        """``dL/dW[fy, fx, k, co]`` or ``dL/dx[n, y, x, c]``."""
        if self.grad == "filter":
            return "dL/dW[" + ", ".join(map(str, self.at)) + "]"
        return f"dL/dx[{self.batch_index}, " + ", ".join(map(str, self.at)) + "]"

    @property
    def channel(self) -> int:
        """The input channel involved: the one the weight reads, or the pixel's."""
        if self.grad == "input":
            return self.at[2]
        fy, fx, k, co = self.at
        return (co // self.plan.out_channels_per_group) * self.plan.filter_in_channels + k

    @property
    def weight(self) -> float:
        """The weight ``W[fy, fx, k, co]`` this filter gradient belongs to (``grad='filter'`` only)."""
        if self.grad != "filter":
            raise HandconvError("weight: an input gradient (grad='input') belongs to no single weight")
        return float(self.filters[self.at])

    def update(self, learning_rate: float) -> tuple[float, str]:
        """One step of gradient descent on this weight: the new value and its arithmetic.

        Examples
        --------
        >>> import numpy as np, handconv
        >>> x = np.arange(9.0).reshape(1, 3, 3, 1)
        >>> dy = np.ones((1, 2, 2, 1))
        >>> t = handconv.explain(x, np.ones((2, 2, 1, 1)), grad="filter", out_backprop=dy, at=(0, 0, 0, 0))
        >>> t.update(0.01)
        (0.92, 'W[0, 0, 0, 0] <- 1 - 0.01 * 8 = 0.92')
        """
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float, np.floating, np.integer)):
            raise HandconvTypeError(f"learning_rate={learning_rate!r} must be a number")
        new = self.weight - float(learning_rate) * self.total
        index = ", ".join(map(str, self.at))
        return new, (
            f"W[{index}] <- {format_number(self.weight)} - {format_number(learning_rate)} * "
            f"{term_text(self.total)} = {format_number(new)}"
        )

    def term_line(self, term: Term) -> str:
        """``x[n, r, c, ch] * dy[n, oy, ox, co]`` (or ``W[...] * dy[...]``) for one term."""
        dy = f"dy[{term.n}, {term.oy}, {term.ox}, {term.co}]"
        if self.grad == "filter":
            return f"x[{term.n}, {term.row}, {term.col}, {term.channel}] * {dy}"
        k = term.channel - (term.co // self.plan.out_channels_per_group) * self.plan.filter_in_channels
        return f"W[{term.fy}, {term.fx}, {k}, {term.co}] * {dy}"

    def groups_of_terms(self) -> list[tuple[str, list[Term]]]:
        """Terms grouped as the text writes them: per image (filter) or per output channel (input)."""
        groups: dict[int, list[Term]] = {}
        for term in self.terms:
            groups.setdefault(term.n if self.grad == "filter" else term.co, []).append(term)
        word = "image" if self.grad == "filter" else "output channel"
        return [(f"{word} {key}", terms) for key, terms in groups.items()]

    def arithmetic_lines(self, max_terms: int = 64) -> list[str]:
        """The sum written out: one line per group, then the total.

        Each group line lists at most ``max_terms`` products (``value*out_grad``),
        then ``... (+N more)``, and its subtotal.
        """
        groups = self.groups_of_terms()
        lines = []
        subtotals = []
        for label, terms in groups:
            subtotal = math.fsum(t.product for t in terms)
            subtotals.append(subtotal)
            shown = " + ".join(f"{term_text(t.value)}*{term_text(t.out_grad)}" for t in terms[:max_terms])
            more = f" + ... ({len(terms) - max_terms} more)" if len(terms) > max_terms else ""
            lines.append(f"{label}: {shown}{more} = {format_number(subtotal)}")
        if len(groups) == 1:
            body = lines[0].split(": ", 1)[1]
            return [f"{self.name} = {body}"]
        if not groups:
            return [f"{self.name} = 0 (no output reads it)"]
        sums = " + ".join(term_text(s) for s in subtotals)
        return lines + [f"{self.name} = {sums} = {format_number(self.total)}"]

    @property
    def arithmetic(self) -> str:
        """The whole sum written out (see :meth:`arithmetic_lines`)."""
        return "\n".join(self.arithmetic_lines())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (non-finite floats as the strings ``"NaN"``, ``"Infinity"``)."""
        return {
            "grad": self.grad,
            "at": list(self.at),
            "name": self.name,
            "batch_index": self.batch_index,
            "total": json_float(self.total),
            "sum_of_products": json_float(self.sum_of_products),
            "terms": [term.to_dict() for term in self.terms],
            "arithmetic": self.arithmetic,
            "gradient": json_floats(self.gradient),
        }

    def __str__(self) -> str:
        from .text import render_grad_text

        return render_grad_text(self, color=False)


# ------------------------------------------------------------------ helpers
def canonical_out_backprop(out_backprop: Any, plan: ConvPlan) -> np.ndarray:
    """``out_backprop`` checked against the forward output and made ``(N, OH, OW, C_out)``.

    Raises
    ------
    HandconvError
        When its shape is not the forward output's (the message shows both).
    """
    try:
        dy = np.asarray(out_backprop)
    except (TypeError, ValueError):
        raise HandconvTypeError(
            f"out_backprop={describe_value(out_backprop)} cannot be read as an array; expected "
            f"the gradient of the output, shape {plan.user_output_shape}"
        ) from None
    if dy.dtype.kind not in "fiub":
        raise HandconvTypeError(f"out_backprop has dtype {dy.dtype}; expected numbers, like the input ({plan.dtype})")
    if tuple(dy.shape) != tuple(plan.user_output_shape):
        raise HandconvError(
            f"out_backprop has shape {tuple(dy.shape)}; expected the forward output's shape "
            f"{tuple(plan.user_output_shape)} ({plan.data_format}; output height {plan.formula(0)}, "
            f"width {plan.formula(1)})"
        )
    if plan.data_format == "NCHW":
        dy = np.moveaxis(dy, -3, -1)
    return dy.reshape(plan.output_shape).astype(plan.compute_dtype, copy=False)


def _user_padding(plan: ConvPlan) -> Any:
    if plan.padding != "EXPLICIT":
        return plan.padding
    (t, b), (left, r) = plan.pad_amounts
    if plan.data_format == "NCHW":
        return [[0, 0], [0, 0], [t, b], [left, r]]
    return [[0, 0], [t, b], [left, r], [0, 0]]


def gradients(x: np.ndarray, w: np.ndarray, dy_user: np.ndarray, plan: ConvPlan, grad: str) -> np.ndarray:
    """The whole gradient from handconv's backprop functions, in canonical layout.

    ``'filter'``: ``(KH, KW, C/groups, C_out)``; ``'input'``: ``(N, H, W, C)``.
    """
    import handconv

    common = dict(
        strides=list(plan.strides),
        padding=_user_padding(plan),
        data_format=plan.data_format,
        dilations=list(plan.dilations),
    )
    if grad == "filter":
        return np.asarray(handconv.conv2d_backprop_filter(x, list(plan.filter_shape), dy_user, **common))
    dx = np.asarray(handconv.conv2d_backprop_input(list(x.shape), w, dy_user, **common))
    if plan.data_format == "NCHW":
        dx = np.moveaxis(dx, -3, -1)
    return dx.reshape(plan.input_shape)


def check_at(at: Any, sizes: tuple[int, ...], names: tuple[str, ...], grad: str) -> tuple[int, ...]:
    example = "(fy, fx, k, co)" if grad == "filter" else "(y, x, c)"
    if isinstance(at, np.ndarray):
        at = at.tolist()
    if not isinstance(at, (tuple, list)) or len(at) != len(sizes):
        raise HandconvTypeError(
            f"at={describe_value(at)}: grad={grad!r} explains one element, at={example} ({', '.join(names)})"
        )
    result = []
    for value, size, name in zip(at, sizes, names):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise HandconvTypeError(
                f"at={describe_value(at)}: the {name} {value!r} is not an integer; expected at={example}"
            )
        if not -size <= int(value) < size:
            raise HandconvError(f"at={describe_value(at)}: {name} {int(value)} is outside 0..{size - 1}")
        result.append(int(value) % size)
    return tuple(result)


# ------------------------------------------------------------------ explain
def explain_gradient(
    input: Any,
    filters: Any,
    strides: Any = 1,
    padding: Any = "VALID",
    data_format: str = "NHWC",
    dilations: Any = None,
    *,
    grad: str,
    out_backprop: Any,
    at: Any,
    batch_index: int = 0,
    labels: Mapping[str, Any] | None = None,
    max_terms: int = MAX_TERMS,
) -> GradTrace:
    """One element of a convolution's gradient, written out as the sum it is.

    Parameters
    ----------
    input : array_like of shape (N, H, W, C) (or NCHW, or extra batch dims)
        The forward input (for ``grad='input'`` only its shape matters).
    filters : array_like of shape (KH, KW, C / groups, C_out)
    strides, padding, data_format, dilations
        As in :func:`handconv.conv2d`.
    grad : {'filter', 'input'}
        The gradient with respect to the filters or to the input.
    out_backprop : array_like
        ``dL/d(output)``, the forward output's shape and layout.
    at : tuple of int
        ``(fy, fx, k, co)`` for ``grad='filter'`` (an index into ``filters``);
        ``(y, x, c)`` for ``grad='input'`` (a pixel of image ``batch_index``,
        row, column, channel). Negative indices count from the end.
    batch_index : int
        The image whose input gradient is explained (``grad='input'``). The
        filter gradient sums over the whole batch, as training does.
    labels : dict, optional
        ``title``, ``input``, ``filters`` for the renderers.
    max_terms : int
        Refuse a trace with more terms than this.

    Returns
    -------
    GradTrace
        ``.total`` (the backprop function's value), ``.terms``, ``.arithmetic``;
        ``print(trace)`` shows the text.

    Raises
    ------
    HandconvError, HandconvTypeError
        Bad convolution arguments (as ``conv2d``), an ``out_backprop`` whose shape
        is not the output's, a bad ``at``, or more than ``max_terms`` terms.

    Examples
    --------
    >>> import numpy as np, handconv
    >>> x = np.zeros((1, 3, 3, 1))
    >>> w = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 2, 1, 1)
    >>> dy = np.array([[1.0, 10.0], [100.0, 1000.0]]).reshape(1, 2, 2, 1)
    >>> t = handconv.explain(x, w, grad="input", out_backprop=dy, at=(1, 1, 0))
    >>> print(t.arithmetic)
    dL/dx[0, 1, 1, 0] = 4*1 + 3*10 + 2*100 + 1*1000 = 1234
    """
    _check_gradient_request(grad, out_backprop)
    from .trace import check_labels, padding_mask

    x, w = as_arrays(input, filters)
    plan = make_plan(x.shape, w.shape, strides, padding, data_format, dilations, x.dtype)
    dy = canonical_out_backprop(out_backprop, plan)
    dy_user = np.asarray(out_backprop).astype(x.dtype, copy=False)
    _check_batch_index(batch_index, plan)
    names = check_labels(labels, plan.out_channels)
    at = _check_element(at, plan, grad, max_terms)

    canonical = to_canonical(x, plan)
    padded = plan.pad(canonical)
    with np.errstate(invalid="ignore", over="ignore"):
        if grad == "filter":
            terms = _filter_terms(padded, dy, plan, at)
            gradient = gradients(x, w, dy_user, plan, grad).astype(plan.compute_dtype, copy=False)
        else:
            terms = _input_terms(w.astype(plan.compute_dtype, copy=False), dy, plan, at, batch_index)
            gradient = gradients(x, w, dy_user, plan, grad)[batch_index].astype(plan.compute_dtype, copy=False)
        total = float(gradient[at])
    return GradTrace(
        grad=grad,
        at=at,
        plan=plan,
        terms=tuple(terms),
        total=total,
        gradient=gradient,
        padded_input=padded,
        is_padding=padding_mask(plan),
        filters=np.asarray(w),
        out_backprop=dy,
        batch_index=int(batch_index) if grad == "input" else 0,
        labels=names,
    )


def _check_gradient_request(grad: str, out_backprop: Any) -> None:
    if grad not in GRADS:
        raise HandconvError(f"grad={grad!r}: expected 'filter' (dL/dW) or 'input' (dL/dx)")
    if out_backprop is None:
        raise HandconvError(
            f"grad={grad!r} needs out_backprop, the gradient of the loss with respect to the output "
            "(the forward output's shape); e.g. np.ones_like(handconv.conv2d(...)) for L = sum(output)"
        )


def _check_batch_index(batch_index: Any, plan: ConvPlan) -> None:
    if isinstance(batch_index, bool) or not isinstance(batch_index, (int, np.integer)):
        raise HandconvTypeError(f"batch_index={batch_index!r} must be an integer")
    if not 0 <= batch_index < plan.batch:
        raise HandconvError(f"batch_index={batch_index} is outside the batch of {plan.batch} image(s)")


def _check_element(at: Any, plan: ConvPlan, grad: str, max_terms: int) -> tuple[int, ...]:
    """``at`` as non-negative indices into the gradient, refusing a filter gradient of more than ``max_terms`` terms."""
    if grad == "input":  # at most one term per output of the pixel's group: never more than the output itself
        return check_at(at, (*plan.input_hw, plan.in_channels), ("row", "column", "channel"), grad)
    at = check_at(at, plan.filter_shape, ("filter row", "filter column", "filter channel", "output channel"), grad)
    count = plan.batch * plan.output_hw[0] * plan.output_hw[1]
    if count > max_terms:
        raise HandconvError(
            f"dL/dW sums {plan.batch} image(s) x {plan.output_hw[0]}x{plan.output_hw[1]} output positions = "
            f"{count:,} terms, more than max_terms={max_terms:,}; explain fewer images (slice the batch) "
            "or a smaller crop of the image, or raise max_terms"
        )
    return at


def _read_ranges(plan: ConvPlan) -> tuple[list[range], list[range]]:
    """The padded rows each output row reads, and the padded columns each output column reads (asked of the plan)."""
    rows_of = [range(*plan.receptive_field(oy, 0)[0].indices(10**9)) for oy in range(plan.output_hw[0])]
    cols_of = [range(*plan.receptive_field(0, ox)[1].indices(10**9)) for ox in range(plan.output_hw[1])]
    return rows_of, cols_of


def _filter_terms(padded: np.ndarray, dy: np.ndarray, plan: ConvPlan, at: tuple[int, ...]) -> list[Term]:
    """dL/dW[fy, fx, k, co]: one term per image and output position, the input under the tap times dy."""
    fy, fx, k, co = at
    channel = (co // plan.out_channels_per_group) * plan.filter_in_channels + k
    rows_of, cols_of = _read_ranges(plan)
    terms = []
    for n in range(plan.batch):
        for oy, rows in enumerate(rows_of):
            for ox, cols in enumerate(cols_of):
                value, g = padded[n, rows[fy], cols[fx], channel], dy[n, oy, ox, co]
                terms.append(
                    Term(n, oy, ox, co, fy, fx, channel, rows[fy], cols[fx], float(value), float(g), float(value * g))
                )
    return terms


def _input_terms(
    weights: np.ndarray, dy: np.ndarray, plan: ConvPlan, at: tuple[int, ...], batch_index: int
) -> list[Term]:
    """dL/dx[batch_index, y, x, c]: one term per output the pixel fed, the weight of the tap that read it times dy."""
    y, xx, channel = at
    (top, _), (left, _) = plan.pad_amounts
    row, col = y + top, xx + left
    per_group, group_size = plan.out_channels_per_group, plan.filter_in_channels
    group = channel // group_size
    k = channel - group * group_size
    rows_of, cols_of = _read_ranges(plan)
    terms = []
    for co in range(group * per_group, (group + 1) * per_group):
        for oy, rows in enumerate(rows_of):
            if row not in rows:
                continue
            fy = rows.index(row)
            for ox, cols in enumerate(cols_of):
                if col not in cols:
                    continue
                fx = cols.index(col)
                value, g = weights[fy, fx, k, co], dy[batch_index, oy, ox, co]
                terms.append(
                    Term(batch_index, oy, ox, co, fy, fx, channel, row, col, float(value), float(g), float(value * g))
                )
    return terms
