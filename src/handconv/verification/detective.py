"""The convention detective: which convention made this output?

``diagnose(input, kernel, output)`` takes an input, a kernel and an output that
someone computed elsewhere, and searches the conventions libraries disagree on:

* cross-correlation (TF, PyTorch, JAX, ``cv2.filter2D``, ``scipy.*.correlate``)
  or true convolution with the kernel rotated 180 degrees (``scipy.*.convolve*``);
* layouts: input HWC/CHW (NHWC/NCHW), kernel HWIO/OIHW, a 2-D kernel summed
  over channels (the article) or applied per channel (OpenCV, SciPy on a stack);
* where the window starts, which covers TF's SAME split (odd pad bottom/right),
  the opposite split (top/left), symmetric padding, VALID, the input-sized
  centring of SciPy and OpenCV, and a stride that starts at an offset;
* the border mode, by every library's name (:mod:`handconv.borders`);
* stride and dilation (TF counts dilation from 1; numpy-ml from 0);
* a constant added per output channel (bias);
* float32 (or float16) summation order: agreement within the tolerance of
  :mod:`handconv.verification` (and, last, within its looser tolerance for
  FFT and Winograd computations).

Every candidate is a slice of one "full" correlation (the input extended by
``k_eff - 1 + EXTRA_PAD`` on every side), so the search computes one convolution
per (layout, kernel form, flip, dilation, border mode) and compares slices of it:
bounded (strides up to 4, dilations up to 3, pads up to ``k_eff - 1 + 2``, window
starts within the padding or a stride's offset) and fast on small images; a
few seconds for a few hundred pixels a side.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..borders import BORDER_MODES, pad_border
from ..conv import conv2d
from ..errors import HandconvError, HandconvTypeError, describe_value
from ..kernels import to_filters
from ..plan import ConvPlan, make_plan
from ..shapes import effective_filter_size, input_window, pad_amounts
from .report import tolerance

__all__ = ["diagnose", "diagnose_transpose", "Diagnosis", "Candidate", "TransposeCandidate", "residual_pattern"]

MAX_STRIDE = 4
MAX_DILATION = 3
#: Pads beyond the filter's reach (k_eff - 1 per side) that the search still tries.
EXTRA_PAD = 2
_MODES = ("zeros", "reflect", "symmetric", "edge", "wrap")
_CORRELATION = "cross-correlation, no flip (TF, PyTorch, JAX, cv2.filter2D, scipy correlate)"
_CONVOLUTION = "true convolution: kernel rotated 180 degrees (scipy.signal.convolve2d, scipy.ndimage.convolve)"


@dataclass
class Candidate:
    """One convention, how well it reproduces the output, and the handconv call that computes it."""

    input_layout: str
    kernel_form: str
    output_layout: str
    flip: bool
    mode: str
    strides: tuple[int, int]
    dilations: tuple[int, int]
    window_start: tuple[int, int]  # first row/column read, in input coordinates (negative: padding)
    pads: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))
    bias: np.ndarray | None = None
    max_abs_error: float = math.inf
    error_over_tolerance: float = math.inf
    precision: str = ""
    mismatched: float = 1.0  # fraction of elements outside tolerance
    names: list[str] = field(default_factory=list)
    call: str = ""
    residual: np.ndarray | None = field(default=None, repr=False)
    observed: np.ndarray | None = field(default=None, repr=False)
    context: tuple = field(default=(), repr=False)
    #: The convention as a plan: the input cropped by ``crops`` (rows, columns) where the first window
    #: starts inside it, then padded by ``pads``; ``output_hw`` is the output observed (the plan's may be longer).
    plan: ConvPlan | None = field(default=None, repr=False)
    crops: tuple[int, int] = (0, 0)
    input_hw: tuple[int, int] = (0, 0)
    output_hw: tuple[int, int] = (0, 0)

    @property
    def matches(self) -> bool:
        return self.error_over_tolerance <= 1

    def describe(self) -> str:
        """A few lines naming the convention."""
        lines = [
            f"  operation: {_CONVOLUTION if self.flip else _CORRELATION}",
            f"  layouts:   input {self.input_layout}, kernel {self.kernel_form}, output {self.output_layout}",
        ]
        (t, b), (left, r) = self.pads
        geometry = (
            f"  window:    stride {self.strides[0]}x{self.strides[1]}, dilation "
            f"{self.dilations[0]}x{self.dilations[1]}, pads top {t}, bottom {b}, left {left}, right {r}; "
            f"first window at input row {self.window_start[0]}, column {self.window_start[1]}"
        )
        lines.append(geometry)
        if self.names:
            lines.append("  pads as:   " + "; ".join(self.names))
        if self.dilations != (1, 1):
            lines.append(
                f"  dilation:  {self.dilations} as TF/PyTorch/JAX count it (1 = none); numpy-ml, counting "
                f"inserted zeros from 0, calls it {tuple(d - 1 for d in self.dilations)}"
            )
        if any(self.pads[0]) or any(self.pads[1]):
            mode = BORDER_MODES[self.mode]
            lines.append(
                f"  border:    {self.mode} ({mode.description}): NumPy '{mode.numpy}', scipy.ndimage "
                f"'{mode.scipy_ndimage}', scipy.signal {_quote(mode.scipy_signal)}, OpenCV {mode.opencv or '--'}, "
                f"PyTorch {_quote(mode.torch)}, tf.pad {_quote(mode.tf_pad)}"
            )
        if self.bias is not None:
            lines.append(f"  bias:      {_bias_text(self.bias)} added to every output")
        lines.append(f"  agreement: max abs error {self.max_abs_error:.3g}, {self.precision}")
        lines.append(f"  handconv:  {self.call}")
        return "\n".join(lines)


def _quote(word: str | None) -> str:
    return f"'{word}'" if word else "--"


def _bias_text(bias: np.ndarray) -> str:
    values = np.atleast_1d(bias)
    if np.all(values == values[0]):
        return f"{float(values[0]):.9g}"
    return "np.array([" + ", ".join(f"{float(v):.9g}" for v in values) + "])"


@dataclass
class Diagnosis:
    """What :func:`diagnose` found.

    Attributes
    ----------
    matches : list of Candidate
        Conventions that reproduce the output within tolerance, simplest first.
    closest : Candidate or None
        When nothing matches, the candidate with the fewest differing elements.
    pattern : str
        When nothing matches, what the closest candidate's residual looks like.
    notes : list of str
    """

    matches: Sequence[Candidate | TransposeCandidate]
    closest: Candidate | None
    pattern: str
    notes: list[str]
    searched: int

    @property
    def found(self) -> bool:
        return bool(self.matches)

    def report(self, limit: int = 3) -> str:
        """Human-readable findings."""
        lines = [f"searched {self.searched} conventions"] + [f"note: {n}" for n in self.notes]
        if self.matches:
            lines.append(
                f"{len(self.matches)} convention(s) reproduce the output; "
                + (f"the simplest {limit}:" if len(self.matches) > limit else "all:")
            )
            for number, candidate in enumerate(self.matches[:limit], 1):
                lines.append(f"[{number}]")
                lines.append(candidate.describe())
        elif self.closest is not None:
            lines.append("no convention reproduces the output. Closest:")
            lines.append(self.closest.describe())
            lines.append(f"  residual:  {self.pattern}")
        else:
            lines.append(self.pattern)
        return "\n".join(lines)


# ------------------------------------------------------------- interpretations
def _input_forms(x: np.ndarray):
    """(label, (N, H, W, C) array, expression turning ``x`` into it)."""
    if x.ndim == 2:
        return [("HW (one channel)", x[None, :, :, None], "x[None, :, :, None]")]
    if x.ndim == 3:
        forms = [("HWC", x[None], "x[None]")]
        if x.shape[0] != x.shape[2]:
            forms.append(("CHW", np.moveaxis(x, 0, -1)[None], "np.moveaxis(x, 0, -1)[None]"))
        return forms
    if x.ndim == 4:
        forms = [("NHWC", x, "x")]
        if x.shape[1] != x.shape[3]:
            forms.append(("NCHW", np.moveaxis(x, 1, -1), "np.moveaxis(x, 1, -1)"))
        return forms
    raise HandconvError(f"input has shape {x.shape}; expected (H, W), (H, W, C), (C, H, W) or a batch of those")


def _output_forms(o: np.ndarray):
    """(label, (N, OH, OW, C_out) array, format string turning a canonical result ``{}`` into ``o``'s form)."""
    if o.ndim == 2:
        return [("HW (one channel)", o[None, :, :, None], "{}[0, :, :, 0]")]
    if o.ndim == 3:
        forms = [("HWC", o[None], "{}[0]")]
        if o.shape[0] != o.shape[2]:
            forms.append(("CHW", np.moveaxis(o, 0, -1)[None], "np.moveaxis({}[0], -1, 0)"))
        return forms
    if o.ndim == 4:
        forms = [("NHWC", o, "{}")]
        if o.shape[1] != o.shape[3]:
            forms.append(("NCHW", np.moveaxis(o, 1, -1), "np.moveaxis({}, -1, 1)"))
        return forms
    raise HandconvError(f"output has shape {o.shape}; expected (OH, OW), (OH, OW, C), (C, OH, OW) or a batch")


def _kernel_forms(k: np.ndarray, channels: int):
    """(label, filters (KH, KW, C / groups, C_out), expression) for a kernel and ``channels`` input channels."""
    forms = []
    if k.ndim == 2 and channels == 1:
        forms.append(("2-D", k[:, :, None, None], "k[:, :, None, None]"))
    elif k.ndim == 2:
        forms.append(
            (
                "2-D, on every channel and summed (the article)",
                to_filters(k, channels),
                f"np.repeat(k[:, :, None, None], {channels}, axis=2)",
            )
        )
        forms.append(
            (
                "2-D, per channel (cv2.filter2D / SciPy on each channel)",
                np.repeat(k[:, :, None, None], channels, 3),
                f"np.repeat(k[:, :, None, None], {channels}, axis=3)",
            )
        )
    elif k.ndim == 3:
        if k.shape[2] == channels:
            forms.append(("(KH, KW, C), summed", k[..., None], "k[..., None]"))
            if channels > 1:
                forms.append(("(KH, KW, C), one per channel", k[:, :, None, :], "k[:, :, None, :]"))
        if k.shape[0] == channels and k.shape[0] != k.shape[2]:
            forms.append(("(C, KH, KW), summed", np.moveaxis(k, 0, -1)[..., None], "np.moveaxis(k, 0, -1)[..., None]"))
    elif k.ndim == 4:
        if k.shape[2] and channels % k.shape[2] == 0 and k.shape[3] % (channels // k.shape[2]) == 0:
            forms.append(("HWIO (TF, JAX)", k, "k"))
        if k.shape[1] and channels % k.shape[1] == 0 and k.shape[0] % (channels // k.shape[1]) == 0:
            forms.append(("OIHW (PyTorch)", np.transpose(k, (2, 3, 1, 0)), "np.transpose(k, (2, 3, 1, 0))"))
    return forms


# ------------------------------------------------------------- naming
def _axis_names(
    axis: int, candidate: Candidate, same: ConvPlan | None, valid: ConvPlan | None, symmetric: ConvPlan | None
) -> set[str]:
    """Named conventions that start the window where ``candidate`` does and give its output along ``axis``.

    ``same``, ``valid`` and ``symmetric`` are the plans of those conventions on the same shapes
    (None where the filter does not fit).
    """
    assert candidate.plan is not None
    names = set()
    first, out, size = candidate.window_start[axis], candidate.output_hw[axis], candidate.input_hw[axis]
    stride, k_eff = candidate.plan.strides[axis], candidate.plan.effective_filter_hw[axis]
    top = -first
    if same is not None and out == same.output_hw[axis]:
        before, after = same.pad_amounts[axis]
        if top == before:
            names.add("TF/JAX 'SAME' (odd pad after: bottom/right)")
        if top == after and before != after:
            names.add("'SAME' with the odd pad before (top/left: JAX 'SAME_LOWER', Caffe/ONNX SAME_LOWER)")
    if top == 0 and valid is not None and out == valid.output_hw[axis]:
        names.add("'VALID'")
    if top > 0 and symmetric is not None and out == symmetric.output_hw[axis]:
        names.add(f"symmetric padding {top} (PyTorch padding={top}, the article's P={top})")
    if stride == 1 and out == size and top == k_eff // 2:
        names.add("input-sized output centred at k//2 (scipy.ndimage, cv2.filter2D, scipy.signal mode='same')")
    if top < 0 and stride > 1:
        names.add(f"window starts {first} rows/columns in (stride offset)")
    return names


def _plan_or_none(x_shape, filter_shape, strides, padding, dilations) -> ConvPlan | None:
    """The plan of one convention on these shapes, or None where the filter does not fit."""
    try:
        return make_plan(x_shape, filter_shape, strides, padding, "NHWC", dilations)
    except HandconvError:
        return None


def _names(candidate: Candidate) -> list[str]:
    """Named conventions that explain both axes; per axis when no one name explains both."""
    plan = candidate.plan
    assert plan is not None
    x_shape = (plan.batch, *candidate.input_hw, plan.in_channels)
    tops = [max(-first, 0) for first in candidate.window_start]
    same, valid, symmetric = (
        _plan_or_none(x_shape, plan.filter_shape, plan.strides, padding, plan.dilations)
        for padding in ("SAME", "VALID", [[0, 0], [tops[0]] * 2, [tops[1]] * 2, [0, 0]])
    )
    per_axis = [_axis_names(axis, candidate, same, valid, symmetric) for axis in (0, 1)]
    both = per_axis[0] & per_axis[1]
    if both or not (per_axis[0] or per_axis[1]):
        return sorted(both)
    return [
        f"{axis}: {' or '.join(sorted(names)) or 'no named convention'}"
        for axis, names in zip(("rows", "columns"), per_axis)
    ]


def _window_reads(
    first: int, out: int, size: int, filter_size: int, stride: int, dilation: int
) -> tuple[int, int, int, int]:
    """Input rows ``[start, stop)`` that ``out`` windows starting at input row ``first`` read, and the pads."""
    return input_window(0, out, size, filter_size, stride, -first, dilation)


def _touches_border(first, strides, out_hw, filter_hw, dilation: int, hw) -> bool:
    """Whether any window reads outside the input (only then does the border mode matter)."""
    return any(
        sum(_window_reads(first[axis], out_hw[axis], hw[axis], filter_hw[axis], strides[axis], dilation)[2:])
        for axis in (0, 1)
    )


def _plan(candidate: Candidate, x_shape, w_shape, out_hw) -> None:
    """The candidate's :class:`ConvPlan`: the input cropped to where the first window starts, then padded."""
    crops, pads = [], []
    for axis in (0, 1):
        start, _, before, after = _window_reads(
            candidate.window_start[axis],
            out_hw[axis],
            x_shape[1 + axis],
            w_shape[axis],
            candidate.strides[axis],
            candidate.dilations[axis],
        )
        crops.append(start)
        pads.append((before, after))
    cropped = (x_shape[0], x_shape[1] - crops[0], x_shape[2] - crops[1], x_shape[3])
    candidate.plan = make_plan(
        cropped, w_shape, candidate.strides, [[0, 0], *pads, [0, 0]], "NHWC", candidate.dilations
    )
    candidate.crops, candidate.pads = (crops[0], crops[1]), (pads[0], pads[1])
    candidate.input_hw, candidate.output_hw = (x_shape[1], x_shape[2]), (out_hw[0], out_hw[1])


def _is_same(plan: ConvPlan) -> bool:
    """Whether ``plan`` pads as TF's SAME does on both axes."""
    same = make_plan(plan.input_shape, plan.filter_shape, plan.strides, "SAME", "NHWC", plan.dilations)
    return same.pad_amounts == plan.pad_amounts


def _call(candidate: Candidate, x_expr: str, w_expr: str, out_format: str) -> str:
    """The handconv call reproducing ``candidate`` (its plan as ``conv2d`` arguments)."""
    plan, crops, pads, out_hw = candidate.plan, candidate.crops, candidate.pads, candidate.output_hw
    assert plan is not None
    slice_needed = plan.output_hw != out_hw
    x_code = f"{x_expr}[:, {crops[0]}:, {crops[1]}:]" if any(crops) else x_expr
    w_code = f"{w_expr}[::-1, ::-1]" if candidate.flip else w_expr
    strides = candidate.strides[0] if candidate.strides[0] == candidate.strides[1] else candidate.strides
    dilations = candidate.dilations[0] if candidate.dilations[0] == candidate.dilations[1] else candidate.dilations
    extra = f", dilations={dilations}" if dilations != 1 else ""
    padded = any(p for pair in pads for p in pair)
    if candidate.mode != "zeros" and padded:
        inner = f"handconv.borders.pad_border({x_code}, {tuple(pads)}, {candidate.mode!r})"
        code = f"handconv.conv2d({inner}, {w_code}, strides={strides}, padding='VALID'{extra})"
    else:
        if not any(crops) and not slice_needed and _is_same(plan):
            padding = "'SAME'"
        elif not padded:
            padding = "'VALID'"
        else:
            padding = f"[[0, 0], {list(pads[0])}, {list(pads[1])}, [0, 0]]"
        code = f"handconv.conv2d({x_code}, {w_code}, strides={strides}, padding={padding}{extra})"
    if slice_needed:
        code = f"{code}[:, :{out_hw[0]}, :{out_hw[1]}]"
    if candidate.bias is not None:
        code = f"({code} + {_bias_text(candidate.bias)})"
    return out_format.format(code)


# ------------------------------------------------------------- search
def _float_levels(*dtypes) -> list[tuple[str, np.dtype, bool]]:
    """Precisions to accept, best first: float64 always, float32, float16 where an array is float16."""
    levels: list[tuple[str, np.dtype, bool]] = [
        ("agrees to float64 rounding", np.dtype(np.float64), False),
        ("agrees within float32 summation-order tolerance", np.dtype(np.float32), False),
    ]
    if any(np.dtype(d) == np.float16 for d in dtypes):
        levels.append(("agrees within float16 tolerance", np.dtype(np.float16), False))
    levels.append(("agrees within the tolerance of a float32 FFT or Winograd computation", np.dtype(np.float32), True))
    return levels


def _real_array(value: Any, name: str) -> np.ndarray:
    """``value`` as an array of real numbers (bool, int, uint, float), or a one-line error naming it."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:  # ragged lists
        raise HandconvTypeError(f"{name}={describe_value(value)} cannot be read as an array ({error})") from None
    if array.dtype.kind not in "biuf":
        raise HandconvTypeError(
            f"{name}={describe_value(value)} has dtype {array.dtype}; expected real numbers "
            "(int or float arrays; complex, object, string and datetime arrays are not convolution data)"
        )
    return array


def diagnose(input: Any, kernel: Any, output: Any, *, limit: int = 50) -> Diagnosis:
    """Find the convention(s) under which ``kernel`` applied to ``input`` gives ``output``.

    Parameters
    ----------
    input : array_like of shape (H, W), (H, W, C), (C, H, W), (N, H, W, C) or (N, C, H, W)
    kernel : array_like of shape (KH, KW), (KH, KW, C), (KH, KW, C_in, C_out) or (C_out, C_in, KH, KW)
    output : array_like
        What another library returned, in any of the input's layouts.
    limit : int
        Most matches kept.

    Returns
    -------
    Diagnosis
        ``diagnosis.matches`` (simplest first), each with the handconv call
        (``candidate.call``, Python code using ``x``, ``k``, ``np`` and
        ``handconv``); or the closest candidate and the pattern of its residual.

    Examples
    --------
    A 3x3 box filter run with SciPy's default border ('reflect', NumPy's 'symmetric'):

    >>> import numpy as np, scipy.ndimage, handconv
    >>> x = np.arange(30.0).reshape(5, 6)
    >>> k = np.ones((3, 3)); k[0, 0] = 2
    >>> found = handconv.diagnose(x, k, scipy.ndimage.correlate(x, k))
    >>> found.matches[0].mode, found.matches[0].flip
    ('symmetric', False)
    """
    x = _real_array(input, "input")
    k = _real_array(kernel, "kernel")
    o = _real_array(output, "output")
    notes = []
    if k.ndim in (2, 3) and np.array_equal(k, k[::-1, ::-1]):
        notes.append("the kernel is unchanged by a 180-degree rotation: correlation and convolution agree")
    if o.size == 0:
        return Diagnosis(
            [], None, f"the output {o.shape} is empty: every convention that gives this shape reproduces it", notes, 0
        )
    search = _Search(_float_levels(x.dtype, k.dtype, o.dtype))
    for setting in _settings(x, k, o):
        for mode in _MODES:
            search.try_mode(setting, mode)
    if search.closest is None and not search.matches:
        return Diagnosis(
            [],
            None,
            f"no layout and convention gives an output of shape {o.shape} from input {x.shape} "
            f"and kernel {k.shape} (strides up to {MAX_STRIDE}, dilations up to {MAX_DILATION})",
            notes,
            search.searched,
        )
    matches = sorted(search.matches, key=_simplicity)[:limit]
    for candidate in matches + ([search.closest] if search.closest is not None else []):
        _describe_call(candidate)
    if matches:
        return Diagnosis(matches, None, "", notes, search.searched)
    closest = search.closest
    assert closest is not None and closest.residual is not None and closest.observed is not None
    scale = float(np.abs(closest.observed).max())
    differing = float(np.mean(np.abs(closest.residual) > 1e-5 * scale + 1e-12))
    closest.precision = f"outside tolerance ({differing:.0%} of elements differ)"
    return Diagnosis([], closest, residual_pattern(closest.residual, closest.observed), notes, search.searched)


@dataclass
class _Setting:
    """One reading of the arrays: layouts, kernel form, flip and dilation (the border mode and window vary)."""

    input_layout: str
    x4: np.ndarray  # (N, H, W, C)
    x_expr: str
    kernel_form: str
    filters: np.ndarray  # (KH, KW, C_in / groups, C_out), flipped when ``flip``
    w_expr: str
    output_layout: str
    o4: np.ndarray  # (N, OH, OW, C_out)
    o_format: str
    flip: bool
    dilation: int


def _settings(x: np.ndarray, k: np.ndarray, o: np.ndarray) -> Iterator[_Setting]:
    """Every reading of input, kernel and output whose shapes fit together."""
    out_forms = _output_forms(o.astype(np.float64))
    for in_label, x4, x_expr in _input_forms(x.astype(np.float64)):
        for k_label, w, w_expr in _kernel_forms(k.astype(np.float64), x4.shape[3]):
            flips = (False,) if np.array_equal(w, w[::-1, ::-1]) else (False, True)
            for (o_label, o4, o_format), flip, dilation in itertools.product(
                out_forms, flips, range(1, MAX_DILATION + 1)
            ):
                if o4.shape[0] != x4.shape[0] or o4.shape[3] != w.shape[3]:
                    continue
                k_eff = [effective_filter_size(size, dilation) for size in w.shape[:2]]
                if dilation > 1 and (w.shape[0] == w.shape[1] == 1 or max(k_eff) > max(x4.shape[1:3]) + 1):
                    continue
                yield _Setting(
                    in_label,
                    x4,
                    x_expr,
                    k_label,
                    w[::-1, ::-1] if flip else w,
                    w_expr,
                    o_label,
                    o4,
                    o_format,
                    flip,
                    dilation,
                )


class _Search:
    """The matches, the closest miss and the count of conventions tried so far."""

    def __init__(self, levels: list) -> None:
        self.levels = levels
        self.matches: list[Candidate] = []
        self.closest: Candidate | None = None
        self.closest_key: tuple | None = None
        self.searched = 0

    def try_mode(self, setting: _Setting, mode: str) -> None:
        """Every window of one setting's full correlation under border ``mode``, graded."""
        x4, w, o4 = setting.x4, setting.filters, setting.o4
        filter_hw, dilation = w.shape[:2], setting.dilation
        extend = tuple(effective_filter_size(size, dilation) - 1 + EXTRA_PAD for size in filter_hw)
        try:
            padded = pad_border(x4, ((extend[0],) * 2, (extend[1],) * 2), mode)
        except HandconvError:
            return
        full = conv2d(padded, w, 1, "VALID", dilations=dilation)
        scale = max(float(np.abs(o4).max()), 1e-300)
        magnitude_full: list[np.ndarray] = []  # |x| * |w|, computed once a candidate comes close
        for (strides, first, offset), (error, bias, mismatched) in _scan(full, o4, extend, scale):
            self.searched += 1
            if mode != "zeros" and not _touches_border(
                first, strides, o4.shape[1:3], filter_hw, dilation, x4.shape[1:3]
            ):
                continue  # the border is never read: the same as the zeros candidate
            candidate = Candidate(
                setting.input_layout,
                setting.kernel_form,
                setting.output_layout,
                setting.flip,
                mode,
                strides,
                (dilation,) * 2,
                first,
                bias=bias,
                max_abs_error=error,
                mismatched=mismatched,
            )
            candidate.context = (setting.x_expr, setting.w_expr, setting.o_format, x4.shape, w.shape, o4.shape[1:3])
            residual = None
            if error <= 1e-2 * scale:  # close: measure against the real tolerance
                if not magnitude_full:
                    magnitude_full.append(conv2d(np.abs(padded), np.abs(w), 1, "VALID", dilations=dilation))
                residual = o4 - _window(full, offset, strides, o4.shape) - (0 if bias is None else bias)
                magnitude = _window(magnitude_full[0], offset, strides, o4.shape)
                if bias is not None:
                    magnitude = magnitude + np.abs(bias)
                _grade(candidate, residual, magnitude, int(np.prod(w.shape[:3])), self.levels)
                if candidate.matches:
                    self.matches.append(candidate)
                    continue
            key = (mismatched, error)
            if self.closest_key is None or key < self.closest_key:
                candidate.observed = o4
                candidate.residual = (
                    residual
                    if residual is not None
                    else (o4 - _window(full, offset, strides, o4.shape) - (0 if bias is None else bias))
                )
                self.closest, self.closest_key = candidate, key


def _describe_call(candidate: Candidate) -> None:
    """Give a kept candidate its plan, its names and the handconv call that reproduces it."""
    x_expr, w_expr, o_format, x_shape, w_shape, out_hw = candidate.context
    _plan(candidate, x_shape, w_shape, out_hw)
    candidate.names = _names(candidate)
    candidate.call = _call(candidate, x_expr, w_expr, o_format)


def _window(full: np.ndarray, offset, strides, shape) -> np.ndarray:
    (py, px), (sh, sw) = offset, strides
    return full[:, py : py + (shape[1] - 1) * sh + 1 : sh, px : px + (shape[2] - 1) * sw + 1 : sw]


def _grade(candidate: Candidate | TransposeCandidate, residual, magnitude, fan_in: int, levels) -> None:
    """Set the candidate's error/tolerance ratio at the finest precision that covers it."""
    ratio = math.inf
    for text, dtype, transform in levels:
        tol = tolerance(magnitude, fan_in, dtype, transform=transform)
        ratio = float(np.max(np.abs(residual) / np.maximum(tol, 1e-300)))
        if ratio <= 1:
            candidate.error_over_tolerance, candidate.precision = ratio, text
            return
    candidate.error_over_tolerance = ratio


def _scan(full: np.ndarray, o4: np.ndarray, extend, scale: float):
    """Every allowed window of ``full`` compared with ``o4``, vectorised over the column start.

    Yields ``((strides, first, offset), (max error, bias or None, fraction mismatched))``
    where ``first`` is the first input row/column read (negative inside the
    padding), ``offset`` the same in ``full``'s coordinates, and the bias a
    per-channel constant fitted when it explains the residual.
    """
    n, oh, ow, channels = o4.shape
    threshold = 1e-5 * scale + 1e-12
    observed = o4.reshape(-1)
    for sh, sw in itertools.product(range(1, MAX_STRIDE + 1), repeat=2):
        if (sh > 1 and oh == 1) or (sw > 1 and ow == 1):
            continue  # one output along an axis: every stride gives it; stride 1 stands for them
        starts_y = [py for py in range(0, extend[0] + sh) if py + (oh - 1) * sh < full.shape[1]]
        count_x = min(extend[1] + sw, full.shape[2] - (ow - 1) * sw)
        if count_x <= 0:
            continue
        for py in starts_y:
            rows = full[:, py : py + (oh - 1) * sh + 1 : sh]
            s_n, s_y, s_x, s_c = rows.strides
            view = as_strided(rows, (count_x, n, oh, ow, channels), (s_x, s_n, s_y, s_x * sw, s_c), writeable=False)
            residual = (o4[None] - view).reshape(count_x, -1, channels)
            error = np.abs(residual).max(axis=(1, 2))
            high, low = residual.max(axis=1), residual.min(axis=1)
            bias_error = ((high - low) / 2).max(axis=1)
            mismatched = (np.abs(residual) > threshold).mean(axis=(1, 2))
            flat = view.reshape(count_x, -1)
            energy = np.einsum("ij,ij->i", flat, flat)
            factor = (flat @ observed) / np.where(energy > 0, energy, 1)
            scaled = (np.abs(observed[None] - factor[:, None] * flat) > threshold).mean(axis=1)
            mismatched = np.minimum(mismatched, np.where(energy > 0, scaled, 1.0))
            for px in range(count_x):
                bias = None
                best = float(error[px])
                if best > 1e-3 * scale and bias_error[px] <= 1e-3 * scale:
                    middle = (high[px] + low[px]) / 2
                    if np.any(middle != 0):
                        bias, best = middle, float(bias_error[px])
                first = (py - extend[0], px - extend[1])
                yield ((sh, sw), first, (py, px)), (best, bias, float(mismatched[px]))


def _simplicity(candidate: Candidate) -> tuple:
    """Sort key: the most ordinary explanation first."""
    return (
        candidate.error_over_tolerance > 1,
        candidate.bias is not None,
        candidate.kernel_form.startswith("OIHW") or "CHW" in candidate.input_layout,
        0 if candidate.names else 1,
        candidate.dilations != (1, 1),
        candidate.flip,
        _MODES.index(candidate.mode),
        candidate.strides,
        candidate.max_abs_error,
    )


def residual_pattern(residual: np.ndarray, output: np.ndarray) -> str:
    """Describe where a residual ``(N, OH, OW, C)`` is non-zero, and what that usually means.

    ``output`` is the observed output, same shape.

    >>> r = np.zeros((1, 4, 4, 1)); r[0, -1, :, 0] = 1.0
    >>> print(residual_pattern(r, np.ones((1, 4, 4, 1))))  # doctest: +NORMALIZE_WHITESPACE
    differs only on the last row (4 elements): padding split
    (TF puts the odd pad at the bottom/right, others at the top/left)
    """
    scale = float(np.abs(output).max()) if np.size(output) else 1.0
    wrong = np.abs(residual) > 1e-5 * scale + 1e-12
    if not wrong.any():
        return "no difference"
    rows = np.flatnonzero(wrong.any(axis=(0, 2, 3)))
    cols = np.flatnonzero(wrong.any(axis=(0, 1, 3)))
    height, width = residual.shape[1:3]
    count = int(wrong.sum())
    split = "padding split (TF puts the odd pad at the bottom/right, others at the top/left)"
    edges = []
    if set(rows) <= {height - 1} and len(rows):
        edges.append("the last row")
    elif set(rows) <= {0} and len(rows):
        edges.append("the first row")
    if set(cols) <= {width - 1} and len(cols):
        edges.append("the last column")
    elif set(cols) <= {0} and len(cols):
        edges.append("the first column")
    if len(edges) == 1 and (len(rows) == 1) != (len(cols) == 1):
        return f"differs only on {edges[0]} ({count} elements): {split}"
    band_rows = all(r < 2 or r >= height - 2 for r in rows)
    band_cols = all(c < 2 or c >= width - 2 for c in cols)
    border = wrong.copy()
    border[:, 2 : height - 2, 2 : width - 2] = False
    if not (wrong & ~border).any():
        return (
            f"differs only near the border ({count} elements): border mode or padding amount "
            "(try another --mode: 'handconv modes' lists them)"
        )
    if band_rows or band_cols:
        return f"differs in border rows/columns only ({count} elements): padding amount or split"
    flat = residual.reshape(-1)
    target = np.asarray(output, dtype=np.float64).reshape(-1) - flat
    if np.dot(target, target) > 0:
        factor = float(np.dot(flat, target) / np.dot(target, target))
        if np.abs(flat - factor * target).max() <= 1e-5 * scale:
            return f"differs by a factor {1 + factor:.6g} everywhere: kernel normalisation (e.g. divided by its sum)"
    return (
        f"differs everywhere ({count} of {wrong.size} elements, max {float(np.abs(residual).max()):.3g}): "
        "not a convention handconv knows; check the kernel values, the input and the dtype"
    )


# ------------------------------------------------------------- transposed convolution
#: Strides and dilations the transposed search tries.
MAX_TRANSPOSE_STRIDE = 4
MAX_TRANSPOSE_DILATION = 2


@dataclass
class TransposeCandidate:
    """A transposed convolution (``conv2d_transpose``) that reproduces the output, named in each library's terms."""

    input_layout: str
    kernel_form: str
    output_layout: str
    flip: bool
    strides: tuple[int, int]
    dilations: tuple[int, int]
    crops: tuple[tuple[int, int], tuple[int, int]]  # (start, end) cut from the full result per axis
    full: tuple[int, int]
    max_abs_error: float = math.inf
    error_over_tolerance: float = math.inf
    precision: str = ""
    names: list[str] = field(default_factory=list)
    call: str = ""

    @property
    def matches(self) -> bool:
        return self.error_over_tolerance <= 1

    def describe(self) -> str:
        (b1, e1), (b2, e2) = self.crops
        lines = [
            "  operation: transposed convolution (tf.nn.conv2d_transpose, the input gradient of a convolution)"
            + (
                ", kernel rotated 180 degrees (as jax.lax.conv_transpose's default transpose_kernel=False)"
                if self.flip
                else ""
            ),
            f"  layouts:   input {self.input_layout}, kernel {self.kernel_form}, output {self.output_layout}",
            f"  window:    stride {self.strides[0]}x{self.strides[1]}, "
            f"dilation {self.dilations[0]}x{self.dilations[1]}; "
            f"full result {self.full[0]}x{self.full[1]} cropped rows ({b1} at the start, {e1} at the end), "
            f"columns ({b2}, {e2})" + ("  (negative: zeros added at the end)" if min(e1, e2) < 0 else ""),
        ]
        lines += [f"  as:        {name}" for name in self.names]
        lines.append(f"  agreement: max abs error {self.max_abs_error:.3g}, {self.precision}")
        lines.append(f"  handconv:  {self.call}")
        return "\n".join(lines)


def _transpose_kernel_forms(k: np.ndarray, channels: int):
    """(label, filters (KH, KW, C_result, C_in), expression) for a transposed convolution's kernel."""
    forms = []
    if k.ndim == 2:
        forms.append(
            (
                "2-D, from every input channel into one result channel" if channels > 1 else "2-D",
                np.repeat(k[:, :, None, None], channels, axis=3),
                f"np.repeat(k[:, :, None, None], {channels}, axis=3)",
            )
        )
    elif k.ndim == 4:
        if k.shape[3] == channels:
            forms.append(("HWOI (TF conv2d_transpose: KH, KW, C_out, C_in)", k, "k"))
        if k.shape[0] == channels:
            forms.append(
                (
                    "IOHW (PyTorch conv_transpose2d weight: C_in, C_out, KH, KW)",
                    np.transpose(k, (2, 3, 1, 0)),
                    "np.transpose(k, (2, 3, 1, 0))",
                )
            )
        if k.shape[2] == channels and k.shape[2] != k.shape[3]:
            forms.append(
                (
                    "HWIO (JAX conv_transpose rhs: KH, KW, C_in, C_out)",
                    np.transpose(k, (0, 1, 3, 2)),
                    "np.transpose(k, (0, 1, 3, 2))",
                )
            )
    return forms


def _transpose_axis_names(n: int, m: int, k: int, s: int, d: int, start: int, end: int) -> dict[str, str]:
    """Each library's words for this crop along one axis (absent: it cannot say it)."""
    from ..shapes import transposed_sizes

    names = {}
    k_eff = effective_filter_size(k, d)
    if m in transposed_sizes(n, k, s, "SAME", d) and pad_amounts(m, k, s, "SAME", d)[0] == start:
        names["tf"] = "'SAME'"
    elif start == 0 and m in transposed_sizes(n, k, s, "VALID", d):
        names["tf"] = "'VALID'"
    elif m in transposed_sizes(n, k, s, (start, max(end, 0)), d):
        names["tf"] = f"explicit ({start}, {max(end, 0)})"
    if 0 <= start - end < max(s, d):
        names["torch"] = f"padding={start}, output_padding={start - end}"
    names["jax"] = f"({k_eff - 1 - start}, {k_eff - 1 - end})"
    return names


def diagnose_transpose(input: Any, kernel: Any, output: Any, *, limit: int = 20) -> Diagnosis:
    """Find the transposed convolution (``conv2d_transpose``) under which ``kernel`` turns ``input`` into ``output``.

    Searches layouts (NHWC/NCHW, the kernel as TF's ``(KH, KW, C_out, C_in)``, PyTorch's ``(C_in, C_out, KH,
    KW)`` or JAX's ``(KH, KW, C_in, C_out)``), the kernel rotated or not (JAX's ``transpose_kernel=False``
    does not rotate it), strides up to 4, dilations up to 2 and every crop of the full result, and names
    each match in TensorFlow's (``output_shape`` + padding), PyTorch's (``padding`` + ``output_padding``)
    and JAX's (``conv_transpose`` padding pairs) terms, with the handconv call.

    Parameters
    ----------
    input : array_like of shape (H, W), (H, W, C), (C, H, W) or a batch of those
    kernel : array_like of shape (KH, KW) or 4-D
    output : array_like
        The transposed convolution's result.

    Returns
    -------
    Diagnosis

    Examples
    --------
    >>> import numpy as np, handconv
    >>> x = np.arange(9.0).reshape(3, 3); k = np.arange(9.0).reshape(3, 3)
    >>> y = handconv.conv2d_transpose(x[None, :, :, None], k[:, :, None, None], (1, 6, 6, 1), 2, "SAME")
    >>> found = diagnose_transpose(x, k, y[0, :, :, 0])
    >>> found.matches[0].strides, found.matches[0].crops
    ((2, 2), ((0, 1), (0, 1)))
    >>> found.matches[0].names[0]
    "TF: tf.nn.conv2d_transpose(x, w, output_shape=[1, 6, 6, 1], strides=2, padding='SAME')"
    """
    x = np.asarray(input)
    k = np.asarray(kernel)
    o = np.asarray(output)
    levels = _float_levels(x.dtype, k.dtype, o.dtype)
    matches: list[TransposeCandidate] = []
    searched = 0
    if o.size == 0:
        return Diagnosis([], None, "the output is empty", [], 0)
    for setting in _transpose_settings(x, k, o):
        for s, d in itertools.product(range(1, MAX_TRANSPOSE_STRIDE + 1), range(1, MAX_TRANSPOSE_DILATION + 1)):
            found, tried = _transpose_crops(setting, s, d, levels)
            matches += found
            searched += tried
    if not matches:
        return Diagnosis(
            [],
            None,
            f"no transposed convolution (strides up to {MAX_TRANSPOSE_STRIDE}, dilations up to "
            f"{MAX_TRANSPOSE_DILATION}, any crop) turns input {x.shape} and kernel {k.shape} into output "
            f"{o.shape}",
            [],
            searched,
        )
    matches.sort(key=_transpose_order)
    return Diagnosis(matches[:limit], None, "", [], searched)


@dataclass
class _TransposeSetting:
    """One reading of the arrays for a transposed convolution: layouts, kernel form and flip."""

    input_layout: str
    x4: np.ndarray  # (N, H, W, C_in)
    x_expr: str
    kernel_form: str
    filters: np.ndarray  # (KH, KW, C_result, C_in), rotated when ``flip``
    w_expr: str
    output_layout: str
    o4: np.ndarray  # (N, OH, OW, C_result)
    o_format: str
    flip: bool


def _transpose_settings(x: np.ndarray, k: np.ndarray, o: np.ndarray) -> Iterator[_TransposeSetting]:
    """Every reading of input, kernel and output whose batch and channels fit a transposed convolution."""
    for in_label, x4, x_expr in _input_forms(x.astype(np.float64)):
        for k_label, w, w_expr in _transpose_kernel_forms(k.astype(np.float64), x4.shape[3]):
            flips = (False,) if np.array_equal(w, w[::-1, ::-1]) else (False, True)
            for (o_label, o4, o_format), flip in itertools.product(_output_forms(o.astype(np.float64)), flips):
                if o4.shape[0] != x4.shape[0] or o4.shape[3] != w.shape[2]:
                    continue
                filters = np.ascontiguousarray(w[::-1, ::-1]) if flip else w
                yield _TransposeSetting(in_label, x4, x_expr, k_label, filters, w_expr, o_label, o4, o_format, flip)


def _transpose_crops(setting: _TransposeSetting, s: int, d: int, levels: list) -> tuple[list[TransposeCandidate], int]:
    """The crops of one setting's full transposed result (stride ``s``, dilation ``d``) that match; how many tried."""
    from ..family import conv2d_transpose

    x4, w, o4 = setting.x4, setting.filters, setting.o4
    kh, kw = w.shape[:2]
    n_hw, m_hw = x4.shape[1:3], o4.shape[1:3]
    full = tuple((n - 1) * s + (kk - 1) * d + 1 for n, kk in zip(n_hw, (kh, kw)))
    if d > 1 and kh == kw == 1:
        return [], 0
    if any(m > f + s - 1 for m, f in zip(m_hw, full)):
        return [], 0  # longer than the full result plus what output_padding can add
    # The full result plus s - 1 zero rows/columns no input reaches (VALID allows them).
    extended = (x4.shape[0], full[0] + s - 1, full[1] + s - 1, w.shape[2])
    values = conv2d_transpose(x4, w, extended, s, "VALID", dilations=d)
    fan_in = kh * kw * w.shape[3]
    magnitude = None
    matches, searched = [], 0
    for b1 in range(0, extended[1] - m_hw[0] + 1):
        for b2 in range(0, extended[2] - m_hw[1] + 1):
            searched += 1
            window = values[:, b1 : b1 + m_hw[0], b2 : b2 + m_hw[1]]
            residual = o4 - window
            error = float(np.abs(residual).max())
            scale = max(float(np.abs(o4).max()), 1e-300)
            if error > 1e-2 * scale:
                continue
            if magnitude is None:
                magnitude = conv2d_transpose(np.abs(x4), np.abs(w), extended, s, "VALID", dilations=d)
            crops = ((b1, full[0] - b1 - m_hw[0]), (b2, full[1] - b2 - m_hw[1]))
            candidate = TransposeCandidate(
                setting.input_layout,
                setting.kernel_form,
                setting.output_layout,
                setting.flip,
                (s, s),
                (d, d),
                crops,
                full,
                max_abs_error=error,
            )
            _grade(candidate, residual, magnitude[:, b1 : b1 + m_hw[0], b2 : b2 + m_hw[1]], fan_in, levels)
            if candidate.matches:
                candidate.names, candidate.call = _transpose_names(
                    candidate,
                    n_hw,
                    (kh, kw),
                    m_hw,
                    x4.shape[0],
                    w.shape[2],
                    setting.x_expr,
                    setting.w_expr,
                    setting.o_format,
                )
                matches.append(candidate)
    return matches, searched


def _transpose_order(candidate: TransposeCandidate) -> tuple:
    """Matches first, then TF's kernel layout, channels last, a TF name, no flip, the smallest dilation and stride."""
    return (
        candidate.error_over_tolerance > 1,
        "HWOI" not in candidate.kernel_form and "2-D" not in candidate.kernel_form,
        "CHW" in candidate.input_layout,
        not candidate.names or not candidate.names[0].startswith("TF"),
        candidate.flip,
        candidate.dilations,
        candidate.strides,
    )


def _transpose_names(
    candidate: TransposeCandidate, n_hw, k_hw, m_hw, batch: int, channels: int, x_expr: str, w_expr: str, o_format: str
) -> tuple[list[str], str]:
    s, d = candidate.strides[0], candidate.dilations[0]
    per_axis = [_transpose_axis_names(n_hw[a], m_hw[a], k_hw[a], s, d, *candidate.crops[a]) for a in (0, 1)]
    w_code = f"{w_expr}[::-1, ::-1]" if candidate.flip else w_expr
    shape = [batch, m_hw[0], m_hw[1], channels]
    dil = f", dilations={d}" if d > 1 else ""
    names = []
    tf = [axis.get("tf") or "" for axis in per_axis]
    if all(tf):
        if tf[0] == tf[1] and not tf[0].startswith("explicit"):
            padding = tf[0]
        else:
            pairs = [[c[0], max(c[1], 0)] for c in candidate.crops]
            padding = f"[[0, 0], {pairs[0]}, {pairs[1]}, [0, 0]]"
        names.append(f"TF: tf.nn.conv2d_transpose(x, w, output_shape={shape}, strides={s}, padding={padding}{dil})")
        call = f"handconv.conv2d_transpose({x_expr}, {w_code}, {shape}, {s}, {padding}{dil})"
    else:
        (b1, _), (b2, _) = candidate.crops
        full = [batch, candidate.full[0] + s - 1, candidate.full[1] + s - 1, channels]
        call = (
            f"handconv.conv2d_transpose({x_expr}, {w_code}, {full}, {s}, 'VALID'{dil})"
            f"[:, {b1}:{b1 + m_hw[0]}, {b2}:{b2 + m_hw[1]}]"
        )
    torch = [axis.get("torch") for axis in per_axis]
    if all(torch):
        text = torch[0] if torch[0] == torch[1] else f"rows {torch[0]}; columns {torch[1]}"
        names.append(f"PyTorch: F.conv_transpose2d(x, w, stride={s}, {text}{', dilation=' + str(d) if d > 1 else ''})")
    else:
        names.append(
            "PyTorch: no padding/output_padding says it (it crops more at the end than at the start): "
            "F.conv_transpose2d with padding=0, then crop"
        )
    names.append(
        f"JAX: jax.lax.conv_transpose(x, w, ({s}, {s}), padding=[{per_axis[0]['jax']}, {per_axis[1]['jax']}]"
        f"{', rhs_dilation=(' + str(d) + ', ' + str(d) + ')' if d > 1 else ''}, "
        f"transpose_kernel={not candidate.flip})"
    )
    return names, o_format.format(call)
