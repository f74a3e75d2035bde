"""``handconv.verify``: one convolution through every library, against a float64 truth (the agreement table).

The article's claim is that the by-hand result equals TensorFlow's. ``verify``
checks it for any configuration: handconv's own methods and every installed
reference library (:mod:`handconv.verification.references`) compute the same call, and each
result is compared with the by-hand loops run in float64.

Tolerance policy
----------------
Every output element is a dot product of ``n = KH * KW * C / groups`` products
(the fan-in). Whatever order a library sums them in (sequential, pairwise,
blocked, with or without fused multiply-add), the computed value differs from the
exact one by at most ``gamma(n) * A`` (Higham, *Accuracy and Stability of
Numerical Algorithms*, section 3.1), where ``A = sum |x| * |w|`` over the
receptive field and ``gamma(n) = n * u / (1 - n * u)`` with ``u`` the unit
roundoff of the dtype computed in (2**-24 for float32). Rounding the result to
the output dtype adds ``u * |result|`` at most, so one more ``u * A``. The truth
itself is a float64 sum, off by at most ``gamma(n)`` in float64. Methods that do
not form the dot products directly (FFT, Winograd) have a norm-wise rather than
elementwise error that grows with the logarithm of the transform size, so a
small floor ``f * u * max(A)`` is added, ``f = max(4, log2(OH * OW))``. Per
element::

    tol = gamma(n + 1, u) * A + gamma(n, u_float64) * A + f * u * max(A)

An element passes when ``|result - truth| <= tol``. The bound is rigorous for
direct summation, so a FAIL means a different convention (padding, flip, layout)
or a bug, never "float32 rounding". int32 results must be exact (both wrap
around on overflow). The table also shows the largest absolute error, the
relative error ``max|error| / max|truth|``, the distance in units in the last
place of the output dtype to the correctly rounded truth, and ``err/tol``, the
largest ratio of error to its element's tolerance (PASS when at most 1).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..conv import as_arrays, conv2d, to_canonical
from ..errors import HandconvError
from ..files import write_text
from ..kernels import to_filters
from ..methods import METHODS
from ..plan import ConvPlan, make_plan

__all__ = [
    "verify",
    "verify_transpose",
    "VerifyReport",
    "Row",
    "tolerance",
    "TRANSFORM_METHODS",
    "unit_roundoff",
    "ulp_distance",
    "named_kernel",
]

PASS, FAIL, CANNOT, MISSING, ERROR = "PASS", "FAIL", "CANNOT", "MISSING", "ERROR"

#: Above this many output elements the float64 truth uses im2col (same sums,
#: vectorised) instead of the slow by-hand loops.
NAIVE_TRUTH_LIMIT = 20_000


# ------------------------------------------------------------- tolerance
def unit_roundoff(dtype: Any) -> float:
    """Unit roundoff ``u`` of a float dtype (half its machine epsilon); 0 for integers.

    >>> unit_roundoff(np.float32) == 2.0**-24, unit_roundoff(np.int32)
    (True, 0.0)
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        return 0.0
    return float(np.finfo(dtype).eps) / 2


def gamma(n: int, u: float) -> float:
    """Higham's ``gamma_n = n u / (1 - n u)``: relative error bound of an n-term sum.

    >>> round(gamma(27, 2.0**-24) / 2.0**-24, 3)
    27.0
    """
    if n * u >= 1:
        return math.inf
    return n * u / (1 - n * u)


#: Methods that compute through a transform (Winograd, FFT) rather than the dot
#: products themselves; their rows get the norm-wise allowance
#: ``TRANSFORM_FACTOR * floor_factor * u * max(A)`` on top of the direct bound.
TRANSFORM_METHODS = frozenset({"winograd", "fft"})
#: Measured on random float32 inputs, handconv's Winograd F(4x4, 3x3) errs by up
#: to about 40 u max(A) (for a few channels, beyond the direct bound); 16 x
#: max(4, log2(OH*OW)) leaves a margin of 1.5 to 4 on small images.
TRANSFORM_FACTOR = 16


def tolerance(magnitude: np.ndarray, fan_in: int, dtype: Any, *, transform: bool = False) -> np.ndarray:
    """Per-element tolerance for a result in ``dtype`` (see the module docstring).

    Parameters
    ----------
    magnitude : ndarray of shape (N, OH, OW, C_out)
        ``A = sum |x| * |w|`` per output element, in float64.
    fan_in : int
        Products per output element, ``KH * KW * C / groups``.
    dtype : numpy dtype
        dtype the result was computed and stored in.
    transform : bool
        The result comes from a transform method (Winograd, FFT): the norm-wise
        floor is ``TRANSFORM_FACTOR`` times larger.

    Returns
    -------
    ndarray of shape (N, OH, OW, C_out), float64

    Examples
    --------
    >>> tol = tolerance(np.array([[[[10.0]]]]), fan_in=27, dtype=np.float32)
    >>> bool(27 * 2**-24 * 10 < tol.item() < 40 * 2**-24 * 10)
    True
    """
    u = unit_roundoff(dtype)
    if u == 0.0:
        return np.zeros_like(magnitude)
    factor = floor_factor(magnitude.shape) * (TRANSFORM_FACTOR if transform else 1)
    floor = factor * u * float(magnitude.max()) if magnitude.size else 0.0
    return (gamma(fan_in + 1, u) + gamma(fan_in, unit_roundoff(np.float64))) * magnitude + floor


def floor_factor(output_shape: Sequence[int]) -> float:
    """``max(4, log2(OH * OW))``: the norm-wise floor for FFT-like methods, in units of ``u * max(A)``.

    >>> floor_factor((1, 4, 4, 1)), floor_factor((1, 320, 320, 3)) > 16
    (4.0, True)
    """
    pixels = int(output_shape[1]) * int(output_shape[2]) if len(output_shape) == 4 else 1
    return max(4.0, math.log2(max(pixels, 1)))


def _ordered_integers(values: np.ndarray) -> np.ndarray:
    """Floats mapped to integers whose differences count representable values between them."""
    int_type = {2: np.int16, 4: np.int32, 8: np.int64}[values.dtype.itemsize]
    bits = values.view(int_type).astype(np.int64)
    return np.where(bits < 0, np.iinfo(int_type).min - bits, bits)


def ulp_distance(result: np.ndarray, truth: np.ndarray, dtype: Any) -> np.ndarray:
    """Units in the last place of ``dtype`` between ``result`` and the correctly rounded truth.

    >>> one = np.float32(1)
    >>> int(ulp_distance(np.array([np.nextafter(one, np.float32(2))]), np.array([1.0]), np.float32)[0])
    1
    """
    dtype = np.dtype(dtype)
    a = _ordered_integers(np.ascontiguousarray(result, dtype=dtype))
    b = _ordered_integers(np.ascontiguousarray(truth, dtype=dtype))
    return np.abs(a - b)


# ------------------------------------------------------------- the report
@dataclass
class Row:
    """One backend's line in the agreement table."""

    backend: str
    version: str
    status: str
    translation: str
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    max_ulp: int | None = None
    error_over_tolerance: float | None = None
    seconds: float | None = None


@dataclass
class VerifyReport:
    """The agreement table for one configuration.

    Attributes
    ----------
    plan : ConvPlan
    truth_method : str
        How the float64 truth was computed.
    rows : list of Row
    """

    plan: ConvPlan
    truth_method: str
    rows: list[Row] = field(default_factory=list)
    #: Where the arrays came from (the CLI records input file or seed and kernel spec).
    source: dict = field(default_factory=dict)
    #: The operation: 'conv2d', or 'conv2d_transpose' (then ``plan`` is the forward plan whose input
    #: gradient the transposed convolution is).
    op: str = "conv2d"

    @property
    def fan_in(self) -> int:
        """Products per result element (at most): the forward taps, or for a transposed convolution
        ``KH * KW * C_in / groups`` (each result pixel collects from every input channel of its group)."""
        plan = self.plan
        if self.op == "conv2d_transpose":
            return plan.filter_hw[0] * plan.filter_hw[1] * plan.out_channels_per_group
        return plan.taps

    @property
    def ok(self) -> bool:
        """True when no backend FAILed."""
        return not any(row.status == FAIL for row in self.rows)

    def row(self, backend: str) -> Row:
        """The row of ``backend`` (exact name)."""
        for row in self.rows:
            if row.backend == backend:
                return row
        raise KeyError(backend)

    def statuses(self) -> dict[str, str]:
        """``{backend: status}``."""
        return {row.backend: row.status for row in self.rows}

    def to_dict(self) -> dict:
        """JSON-ready description: configuration, tolerance policy and rows."""
        plan = self.plan
        if self.op == "conv2d_transpose":
            configuration = {
                "op": self.op,
                "input_shape": [plan.batch, *plan.output_hw, plan.out_channels],
                "filters_shape": list(plan.filter_shape),
                "output_shape": [plan.batch, *plan.input_hw, plan.in_channels],
                "strides": list(plan.strides),
                "dilations": list(plan.dilations),
                "padding": plan.padding,
                "forward_pad_amounts": [list(p) for p in plan.pad_amounts],
                "dtype": str(plan.dtype),
                "fan_in": self.fan_in,
            }
            return {
                "configuration": configuration,
                "source": self.source,
                "truth": self.truth_method,
                "tolerance": "as conv2d's, with n = KH*KW*C_in/groups",
                "ok": self.ok,
                "rows": [asdict(row) for row in self.rows],
            }
        return {
            "configuration": {
                "input_shape": list(plan.batch_shape)
                + (
                    [*plan.input_hw, plan.in_channels]
                    if plan.data_format == "NHWC"
                    else [plan.in_channels, *plan.input_hw]
                ),
                "filters_shape": list(plan.filter_shape),
                "strides": list(plan.strides),
                "dilations": list(plan.dilations),
                "padding": plan.padding,
                "pad_amounts": [list(p) for p in plan.pad_amounts],
                "data_format": plan.data_format,
                "dtype": str(plan.dtype),
                "output_shape": list(plan.user_output_shape),
                "fan_in": plan.taps,
            },
            "source": self.source,
            "truth": self.truth_method,
            "tolerance": "|result - truth| <= gamma(n+1, u)*A + gamma(n, u64)*A + f*u*max(A), f = max(4, log2(OH*OW)), "
            "A = sum|x||w|, n = fan_in, gamma(n, u) = n*u/(1 - n*u)",
            "ok": self.ok,
            "rows": [asdict(row) for row in self.rows],
        }

    def table(self) -> str:
        """The agreement table as text."""
        plan = self.plan
        header = [
            "backend",
            "version",
            "status",
            "max abs err",
            "max rel err",
            "ULP",
            "err/tol",
            "translation / reason",
        ]
        lines = [
            [
                row.backend,
                row.version,
                row.status,
                _number(row.max_abs_error),
                _number(row.max_rel_error),
                "" if row.max_ulp is None else str(row.max_ulp),
                _number(row.error_over_tolerance, 2),
                row.translation,
            ]
            for row in self.rows
        ]
        widths = [max(len(r[i]) for r in [header] + lines) for i in range(len(header) - 1)]

        def render(cells):
            return "  ".join(c.ljust(w) for c, w in zip(cells, widths)) + "  " + cells[-1]

        u = unit_roundoff(plan.dtype)
        policy = (
            "tolerance per element: gamma(n+1, u)*A + gamma(n, u64)*A + "
            f"{floor_factor(plan.output_shape):.3g}*u*max(A), "
            f"n = fan-in {self.fan_in}, "
            f"u = {u:.3g} ({plan.dtype}), A = sum|x||w|"
            if u
            else "int32: results must be exact"
        )
        origin = ["; ".join(f"{key}: {value}" for key, value in self.source.items())] if self.source else []
        describe = plan.describe()
        if self.op == "conv2d_transpose":
            describe = (
                "conv2d_transpose: the input gradient of this forward convolution (its output is the "
                "transposed convolution's input):\n" + describe
            )
        out = [
            *origin,
            describe,
            f"truth: {self.truth_method}",
            policy,
            "",
            render(header),
            render(["-" * w for w in widths] + ["-" * 20]),
        ]
        out += [render(line) for line in lines]
        counts = {
            status: sum(row.status == status for row in self.rows) for status in (PASS, FAIL, CANNOT, MISSING, ERROR)
        }
        out += [
            "",
            ", ".join(f"{n} {s}" for s, n in counts.items() if n) + (" - all agree" if self.ok else " - DISAGREEMENT"),
        ]
        return "\n".join(out)

    def write_json(self, path: str) -> None:
        """Write :meth:`to_dict` to ``path`` atomically."""
        write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")


def _number(value: float | None, digits: int = 3) -> str:
    """A table cell: blank for None, ``0`` for zero, else ``digits`` significant digits."""
    if value is None:
        return ""
    return "0" if value == 0 else f"{value:.{digits}g}"


# ------------------------------------------------------------- verify
def float64_truth(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> tuple[np.ndarray, str]:
    """The by-hand loops in float64 on canonical arrays; int32 results wrap as int32 does.

    Returns the truth of shape ``(N, OH, OW, C_out)`` and a description.
    """
    x64, w64 = x.astype(np.float64), filters.astype(np.float64)
    plan64 = _plan_in(plan, np.float64)
    if plan.is_empty:
        return np.zeros(plan.output_shape), "empty output"
    if math.prod(plan.output_shape) <= NAIVE_TRUTH_LIMIT:
        truth, how = METHODS["naive"].run(x64, w64, plan64), "handconv naive (by-hand loops) in float64"
    else:
        truth = METHODS["im2col"].run(x64, w64, plan64)
        how = f"handconv im2col in float64 (more than {NAIVE_TRUTH_LIMIT} outputs: the loops would be slow)"
    if plan.dtype.kind == "i":
        wrapped = (truth.astype(np.int64) + 2**31) % 2**32 - 2**31
        return wrapped.astype(np.float64), how + ", wrapped to int32"
    return truth, how


def _plan_in(plan: ConvPlan, dtype: Any) -> ConvPlan:
    return make_plan(
        plan.input_shape,
        plan.filter_shape,
        plan.strides,
        [[0, 0], list(plan.pad_amounts[0]), list(plan.pad_amounts[1]), [0, 0]],
        "NHWC",
        plan.dilations,
        dtype,
    )


def compare(
    result: Any,
    truth: np.ndarray,
    magnitude: np.ndarray,
    plan: ConvPlan,
    *,
    transform: bool = False,
    fan_in: int | None = None,
) -> dict:
    """Errors of ``result`` against ``truth``; ``status`` PASS or FAIL and the numbers.

    ``transform`` selects the transform methods' tolerance (see :func:`tolerance`).
    """
    result = np.asarray(result)
    if result.shape != truth.shape:
        return {"status": FAIL, "note": f"returned shape {result.shape}, expected {truth.shape}"}
    if result.size == 0:
        return {
            "status": PASS,
            "max_abs_error": 0.0,
            "max_rel_error": 0.0,
            "error_over_tolerance": 0.0,
            "max_ulp": 0 if plan.dtype.kind == "f" else None,
        }
    got = result.astype(np.float64)
    if not np.all(np.isfinite(got)):
        return {"status": FAIL, "note": f"{int(np.sum(~np.isfinite(got)))} non-finite values"}
    error = np.abs(got - truth)
    tol = tolerance(magnitude, plan.taps if fan_in is None else fan_in, plan.dtype, transform=transform)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(tol > 0, error / np.where(tol > 0, tol, 1), np.where(error > 0, np.inf, 0.0))
    scale = float(np.abs(truth).max())
    numbers: dict[str, Any] = {
        "max_abs_error": float(error.max()),
        "max_rel_error": float(error.max() / scale) if scale else float(error.max()),
        "error_over_tolerance": float(ratio.max()),
        "max_ulp": int(ulp_distance(result, truth, plan.dtype).max()) if plan.dtype.kind == "f" else None,
    }
    numbers["status"] = PASS if float(ratio.max()) <= 1 else FAIL
    return numbers


def _canonical_result(out: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """handconv.conv2d's user-layout result as ``(N, OH, OW, C_out)``."""
    if plan.data_format == "NCHW":
        out = np.moveaxis(out, -3, -1)
    return out.reshape(plan.output_shape)


def verify(
    input: Any,
    filters: Any,
    strides: Any = 1,
    padding: Any = "VALID",
    data_format: str = "NHWC",
    dilations: Any = None,
    *,
    backends: Sequence[str] | None = None,
    progress: Any = None,
) -> VerifyReport:
    """Compute one convolution with every handconv method and every reference library.

    Parameters
    ----------
    input, filters, strides, padding, data_format, dilations
        As in :func:`handconv.conv2d` (the same forms, the same rules).
    backends : sequence of str, optional
        Only rows whose name contains one of these strings (case-insensitive),
        e.g. ``["handconv", "torch"]``. Default: all.
    progress : callable, optional
        Called with each backend's name before it runs.

    Returns
    -------
    VerifyReport
        ``report.ok`` is False when any backend disagrees beyond tolerance;
        ``print(report.table())`` shows the table.

    Examples
    --------
    >>> import numpy as np, handconv
    >>> x = np.arange(75.0).reshape(1, 5, 5, 3)
    >>> report = handconv.verify(x, np.ones((3, 3, 3, 1)), 2, "SAME", backends=["handconv"])
    >>> report.ok, report.statuses()["handconv:naive"]
    (True, 'PASS')
    """
    from . import references

    x, w = as_arrays(input, filters)
    plan = make_plan(x.shape, w.shape, strides, padding, data_format, dilations, x.dtype)
    x_canonical = to_canonical(x, plan).astype(plan.dtype, copy=False)
    w_typed = np.asarray(w, dtype=plan.dtype)
    truth, how = float64_truth(x_canonical, w_typed, plan)
    magnitude = (
        np.zeros(plan.output_shape)
        if plan.is_empty
        else METHODS["im2col"].run(
            np.abs(x_canonical.astype(np.float64)), np.abs(w_typed.astype(np.float64)), _plan_in(plan, np.float64)
        )
    )
    report = VerifyReport(plan, how)

    def run(method: str) -> np.ndarray:
        return _canonical_result(conv2d(x, w, strides, padding, data_format, dilations, method=method), plan)

    _add_rows(report, run, references.REFERENCES, x_canonical, w_typed, truth, magnitude, backends, progress)
    return report


def _selects(backend: str, name: str) -> bool:
    """Whether ``--backends`` entry ``backend`` asks for row ``name``: a substring of it, except that a
    method's exact name (``im2col`` or ``handconv:im2col``) picks that method alone, not ``im2col_nchw`` too.

    >>> [_selects("im2col", "handconv:im2col"), _selects("im2col", "handconv:im2col_nchw")]
    [True, False]
    >>> [_selects("handconv", "handconv:gemm"), _selects("scipy", "scipy.ndimage.correlate")]
    [True, True]
    """
    backend, name = backend.lower(), name.lower()
    method = backend.removeprefix("handconv:")
    if method in METHODS:
        return name == f"handconv:{method}"
    return backend in name


def _add_rows(
    report: VerifyReport,
    run: Callable[[str], np.ndarray],
    reference_table: dict,
    x_canonical: np.ndarray,
    w_typed: np.ndarray,
    truth: np.ndarray,
    magnitude: np.ndarray,
    backends: Sequence[str] | None,
    progress: Any,
    *,
    fan_in: int | None = None,
    transform_note: bool = True,
) -> None:
    """One row per handconv method (``run(method)`` gives its canonical result) and per library in the table.

    Rows whose name contains none of ``backends`` are skipped; ``progress(name)`` is called before each.
    With ``transform_note`` a transform method's row says its tolerance is norm-wise.
    """
    from .. import __version__

    plan = report.plan

    def wanted(name: str) -> bool:
        return backends is None or any(_selects(b, name) for b in backends)

    for method in METHODS:
        name = f"handconv:{method}"
        if not wanted(name):
            continue
        if progress:
            progress(name)
        start = time.perf_counter()
        try:
            out = run(method)
        except HandconvError as refusal:  # a method restricted to some plans (or to available memory)
            report.rows.append(Row(name, __version__, CANNOT, f"refused: {refusal}"))
            continue
        seconds = time.perf_counter() - start
        transform = method in TRANSFORM_METHODS
        numbers = compare(out, truth, magnitude, plan, transform=transform, fan_in=fan_in)
        note = numbers.pop("note", None)
        summary = METHODS[method].summary + (
            " [transform: norm-wise tolerance]" if transform and transform_note else ""
        )
        report.rows.append(Row(name, __version__, translation=note or summary, seconds=seconds, **numbers))

    for name, reference in reference_table.items():
        if not wanted(name):
            continue
        if progress:
            progress(name)
        report.rows.append(_reference_row(reference, x_canonical, w_typed, plan, truth, magnitude, fan_in))


def _reference_row(reference, x, w, plan, truth, magnitude, fan_in=None) -> Row:
    from .references import BackendCrashed, CannotExpress, MissingLibrary, clean_message

    try:
        version = reference.version()
    except MissingLibrary as missing:
        return Row(reference.name, "-", MISSING, str(missing))
    try:
        translation = reference.translate(plan)
    except CannotExpress as reason:
        return Row(reference.name, version, CANNOT, f"cannot: {reason}")
    start = time.perf_counter()
    try:
        out = reference.run(x, w, plan)
    except Exception as error:  # the library refused: report its own words
        message = clean_message(error)
        status = ERROR if isinstance(error, BackendCrashed) else CANNOT
        return Row(
            reference.name, version, status, f"refused: {type(error).__name__}: {message}  [tried: {translation}]"
        )
    seconds = time.perf_counter() - start
    numbers = compare(out, truth, magnitude, plan, transform=reference.transform, fan_in=fan_in)
    note = numbers.pop("note", None)
    if reference.transform:
        translation += " [transform: norm-wise tolerance]"
    return Row(
        reference.name,
        version,
        translation=f"{note}; {translation}" if note else translation,
        seconds=seconds,
        **numbers,
    )


def verify_transpose(
    input: Any,
    filters: Any,
    output_shape: Any,
    strides: Any,
    padding: Any = "SAME",
    data_format: str = "NHWC",
    dilations: Any = None,
    *,
    backends: Sequence[str] | None = None,
    progress: Any = None,
) -> VerifyReport:
    """:func:`verify` for ``conv2d_transpose``: handconv's methods and each library's transposed convolution.

    Each library is asked in its own terms (:data:`handconv.verification.references.TRANSPOSE_REFERENCES`): TF's
    ``output_shape``, PyTorch's ``padding`` + ``output_padding`` (or a crop of ``padding=0``), JAX's
    ``conv_transpose`` padding pairs, Keras' ``Conv2DTranspose`` ``padding`` + ``output_padding``; a row
    says CANNOT, with the reason, when the library's arguments cannot state the call. The truth is
    handconv's by-hand loops (``method='naive'``) in float64; the tolerance is :func:`verify`'s with the
    fan-in ``KH * KW * C_in / groups``.

    Parameters
    ----------
    input, filters, output_shape, strides, padding, data_format, dilations
        As in :func:`handconv.conv2d_transpose` (``tf.nn.conv2d_transpose``).
    backends, progress
        As in :func:`verify`.

    Returns
    -------
    VerifyReport
        ``report.op == 'conv2d_transpose'``; ``report.plan`` is the forward plan.

    Examples
    --------
    >>> import numpy as np, handconv
    >>> x = np.arange(9.0).reshape(1, 3, 3, 1)
    >>> report = verify_transpose(x, np.ones((3, 3, 1, 1)), (1, 6, 6, 1), 2, "SAME", backends=["handconv"])
    >>> report.ok, report.statuses()["handconv:naive"]
    (True, 'PASS')
    """
    from ..family import conv2d_transpose
    from ..plan import transposed_plan
    from . import references

    x, w = as_arrays(input, filters)
    plan = transposed_plan(x.shape, w.shape, output_shape, strides, padding, data_format, dilations, x.dtype)
    if plan.spatial_rank != 2:
        raise HandconvError("verify_transpose checks 2-D transposed convolutions (conv2d_transpose)")
    args = (tuple(output_shape), strides, padding, data_format, dilations)
    # Canonical arrays for the references: x (N, OH, OW, C_out), result (N, H, W, C).
    x_canonical = np.moveaxis(x, -3, -1) if plan.channels_first else x
    x_canonical = np.ascontiguousarray(x_canonical.reshape(plan.output_shape)).astype(plan.dtype, copy=False)
    w_typed = np.asarray(w, dtype=plan.dtype)

    def canonical(out: np.ndarray) -> np.ndarray:
        out = np.moveaxis(out, -3, -1) if plan.channels_first else out
        return out.reshape(plan.input_shape)

    if plan.is_empty or math.prod(plan.input_shape) == 0:
        truth = np.zeros(plan.input_shape)
        magnitude = np.zeros(plan.input_shape)
    else:
        truth = canonical(conv2d_transpose(x.astype(np.float64), w.astype(np.float64), *args, method="naive"))
        magnitude = canonical(
            conv2d_transpose(np.abs(x.astype(np.float64)), np.abs(w.astype(np.float64)), *args, method="naive")
        )
    how = "handconv naive (the by-hand loops of the input gradient) in float64"
    if plan.dtype.kind == "i":
        truth = ((truth.astype(np.int64) + 2**31) % 2**32 - 2**31).astype(np.float64)
        how += ", wrapped to int32"
    report = VerifyReport(plan, how, op="conv2d_transpose")

    def run(method: str) -> np.ndarray:
        return canonical(conv2d_transpose(x, w, *args, method=method))

    _add_rows(
        report,
        run,
        references.TRANSPOSE_REFERENCES,
        x_canonical,
        w_typed,
        truth,
        magnitude,
        backends,
        progress,
        fan_in=report.fan_in,
        transform_note=False,
    )
    return report


# ------------------------------------------------------------- kernels
def named_kernel(spec: str) -> np.ndarray:
    """A 2-D kernel from :func:`handconv.kernels.get`'s specs (``edge``, ``box:5``, ``[[0,1],[1,0]]``, ...).

    Gradient-magnitude kernels (``sobel``) are two convolutions, not one; name
    a component (``sobel_x``) instead.

    >>> named_kernel("edge")
    array([[-1., -1., -1.],
           [-1.,  8., -1.],
           [-1., -1., -1.]])
    """
    from .. import kernels

    kernel = kernels.get(spec)
    if kernel.pair is not None:
        raise HandconvError(
            f"kernel {spec!r} is a gradient magnitude, sqrt(gx**2 + gy**2) of two convolutions; "
            f"verify one component, e.g. {kernel.name}_x"
        )
    return np.array(kernel.weights, dtype=np.float64)


#: Kept under its old name: :func:`handconv.kernels.to_filters`.
kernel_to_filters = to_filters
