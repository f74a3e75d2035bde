"""Named image kernels, and custom kernels from text, arrays and files.

Every kernel is a plain 2-D array of weights applied by cross-correlation, as
``tf.nn.conv2d``, ``cv2.filter2D`` and ``scipy.ndimage.correlate`` apply them:
output pixel = sum over the window of ``weights[fy, fx] * pixel``, with no flip.
Row 0 of a kernel is its top row, column 0 its left column.

Each kernel has a *family* that sets how its signed float result becomes pixels
by default (see :data:`DEFAULT_OUTPUT`): blurs, sharpening and emboss keep the
image's brightness and are clipped to the pixel range; edge and gradient
kernels sum to zero and give signed responses, so their absolute value is
shown; gradient pairs (``sobel``, ``scharr``, ``prewitt``, ``roberts``) give the
magnitude ``sqrt(gx**2 + gy**2)``, which is clipped.

A kernel *spec* (what ``-k`` takes on the command line) is one of

* a name from :data:`KERNELS`: ``edge``, ``sobel_x``, ``sharpen``, ... (letter
  case, ``-`` and ``_`` do not matter);
* a parameterised name: ``box:K``, ``gaussian:K:SIGMA``, ``gaussian:K``,
  ``unsharp:K:SIGMA:AMOUNT``, ``motion:K`` or ``motion:K:ANGLE``;
* an inline list of rows, ``'[[0,-1,0],[-1,4,-1],[0,-1,0]]'`` (read as JSON, or
  as a Python literal; never evaluated as code);
* a file: ``.npy`` (loaded without pickle), ``.csv`` (comma-separated rows) or
  ``.txt`` (whitespace-separated rows); ``#`` starts a comment in text files.

>>> get("edge").weights
array([[-1., -1., -1.],
       [-1.,  8., -1.],
       [-1., -1., -1.]])
>>> float(get("box:3").weights.sum())
1.0
>>> get("[[1, 2], [3, 4]]").weights.shape
(2, 2)
"""

from __future__ import annotations

import ast
import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import HandconvError, HandconvTypeError, describe_value

__all__ = [
    "Kernel",
    "KERNELS",
    "PARAMETRISED",
    "DEFAULT_OUTPUT",
    "FAMILIES",
    "get",
    "from_array",
    "box",
    "gaussian",
    "unsharp",
    "motion",
    "table",
    "to_filters",
    "parse_inline",
    "load_file",
    "describe",
    "format_weights",
]

#: Kernel families and what each means.
FAMILIES = {
    "identity": "leaves the image as it is",
    "blur": "weights >= 0 summing to 1: a weighted average, brightness kept",
    "sharpen": "weights summing to 1 with a negative surround: contrast boosted",
    "emboss": "weights summing to 1, signed along one diagonal: a relief effect",
    "edge": "weights summing to 0: a signed response at edges, zero on flat areas",
    "gradient": "one directional derivative (x or y): signed, zero on flat areas",
    "magnitude": "a gradient pair combined as sqrt(gx**2 + gy**2): >= 0",
    "custom": "a user's kernel: treated as 'edge' if its weights sum to 0, else as 'blur'",
}

#: The ``output`` mapping each family uses unless one is given.
DEFAULT_OUTPUT = {
    "identity": "clip",
    "blur": "clip",
    "sharpen": "clip",
    "emboss": "clip",
    "edge": "abs",
    "gradient": "abs",
    "magnitude": "clip",
    "custom": "clip",
}

_MAX_SIZE = 1001  # largest K a parameterised kernel accepts; keeps typos from allocating GBs


@dataclass(frozen=True, eq=False)
class Kernel:
    """A named kernel.

    Attributes
    ----------
    name : str
        The spec it was made from (``'sobel_x'``, ``'gaussian:5:1'``, ``'custom'``).
    weights : ndarray of shape (KH, KW), float64
        The weights, read-only. For a gradient pair, the x component.
    family : str
        One of :data:`FAMILIES`; sets the default output mapping.
    description : str
        One line.
    pair : ndarray of shape (KH, KW), float64, or None
        For gradient pairs, the y component; the filter result is then
        ``sqrt(gx**2 + gy**2)`` with ``gx`` from ``weights`` and ``gy`` from ``pair``.
    """

    name: str
    weights: np.ndarray
    family: str
    description: str
    pair: np.ndarray | None = field(default=None)

    @property
    def shape(self) -> tuple[int, ...]:
        """``(KH, KW)``."""
        return tuple(self.weights.shape)

    @property
    def default_output(self) -> str:
        """The output mapping this kernel's family uses by default."""
        if self.family == "custom":
            return "abs" if math.isclose(float(self.weights.sum()), 0.0, abs_tol=1e-9) else "clip"
        return DEFAULT_OUTPUT[self.family]

    @property
    def components(self) -> tuple[np.ndarray, ...]:
        """``(weights,)``, or ``(gx_weights, gy_weights)`` for a pair."""
        return (self.weights,) if self.pair is None else (self.weights, self.pair)

    def __repr__(self) -> str:
        return f"Kernel({self.name!r}, family={self.family!r}, shape={self.shape})"


def _frozen(rows: Any) -> np.ndarray:
    array = np.array(rows, dtype=np.float64)
    array.flags.writeable = False
    return array


def _make(name: str, rows: Any, family: str, description: str, pair: Any = None) -> Kernel:
    for weights in (rows, pair):
        if weights is not None and not np.isfinite(np.asarray(weights, dtype=np.float64)).all():
            # e.g. a sigma whose arithmetic overflowed: a NaN kernel would write a black image silently.
            raise HandconvError(f"kernel {name!r} has weights that are not finite numbers (NaN or Inf)")
    return Kernel(name, _frozen(rows), family, description, None if pair is None else _frozen(pair))


_SOBEL_X = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
_SCHARR_X = [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]]
_PREWITT_X = [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]
_ROBERTS_POS = [[1, 0], [0, -1]]
_ROBERTS_NEG = [[0, 1], [-1, 0]]


def _t(rows: list) -> list:
    return np.array(rows).T.tolist()


#: The named kernels, by canonical name.
KERNELS: dict[str, Kernel] = {
    kernel.name: kernel
    for kernel in (
        _make("identity", [[0, 0, 0], [0, 1, 0], [0, 0, 0]], "identity", "the pixel itself: output = input"),
        _make(
            "edge",
            [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
            "edge",
            "the article's edge detection (outline): 8 x centre minus its 8 neighbours",
        ),
        _make(
            "ridge",
            [[0, -1, 0], [-1, 4, -1], [0, -1, 0]],
            "edge",
            "4 x centre minus its 4 neighbours (minus laplacian4; skimage.filters.laplace's kernel)",
        ),
        _make(
            "laplacian4",
            [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
            "edge",
            "discrete Laplacian, 4 neighbours (scipy.ndimage.laplace, cv2.Laplacian ksize=1)",
        ),
        _make(
            "laplacian8",
            [[1, 1, 1], [1, -8, 1], [1, 1, 1]],
            "edge",
            "discrete Laplacian, 8 neighbours (minus the edge kernel)",
        ),
        _make("sobel_x", _SOBEL_X, "gradient", "Sobel d/dx: right minus left, smoothed [1,2,1] down"),
        _make("sobel_y", _t(_SOBEL_X), "gradient", "Sobel d/dy: bottom minus top, smoothed [1,2,1] across"),
        _make("sobel", _SOBEL_X, "magnitude", "Sobel gradient magnitude sqrt(sobel_x**2 + sobel_y**2)", _t(_SOBEL_X)),
        _make("scharr_x", _SCHARR_X, "gradient", "Scharr d/dx: right minus left, smoothed [3,10,3] down"),
        _make("scharr_y", _t(_SCHARR_X), "gradient", "Scharr d/dy: bottom minus top, smoothed [3,10,3] across"),
        _make(
            "scharr", _SCHARR_X, "magnitude", "Scharr gradient magnitude sqrt(scharr_x**2 + scharr_y**2)", _t(_SCHARR_X)
        ),
        _make("prewitt_x", _PREWITT_X, "gradient", "Prewitt d/dx: right minus left, unweighted"),
        _make("prewitt_y", _t(_PREWITT_X), "gradient", "Prewitt d/dy: bottom minus top, unweighted"),
        _make(
            "prewitt",
            _PREWITT_X,
            "magnitude",
            "Prewitt gradient magnitude sqrt(prewitt_x**2 + prewitt_y**2)",
            _t(_PREWITT_X),
        ),
        _make("roberts_pos_diag", _ROBERTS_POS, "gradient", "Roberts cross, top-left minus bottom-right (2x2)"),
        _make("roberts_neg_diag", _ROBERTS_NEG, "gradient", "Roberts cross, top-right minus bottom-left (2x2)"),
        _make("roberts", _ROBERTS_POS, "magnitude", "Roberts cross magnitude (2x2 pair)", _ROBERTS_NEG),
        _make(
            "sharpen",
            [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
            "sharpen",
            "the centre boosted against its 4 neighbours (identity + ridge)",
        ),
        _make(
            "emboss",
            [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
            "emboss",
            "relief: the pixel plus its bottom-right minus its top-left neighbours",
        ),
    )
}

#: Other spellings accepted for named kernels.
ALIASES = {
    "outline": "edge",
    "laplace": "laplacian4",
    "laplacian": "laplacian4",
    "sobel_h": "sobel_y",
    "sobel_v": "sobel_x",
    "box": "box:3",
    "blur": "box:3",
    "gaussian": "gaussian:5",
    "unsharp": "unsharp:5:1:1",
    "motion": "motion:9",
}


def _positive_odd(value: str, what: str, spec: str) -> int:
    try:
        size = int(value)
    except ValueError:
        raise HandconvError(f"kernel {spec!r}: {what}={value!r} is not an integer") from None
    if size < 1 or size % 2 == 0:
        raise HandconvError(
            f"kernel {spec!r}: {what}={size} must be a positive odd integer (1, 3, 5, ...) so the "
            "kernel has a centre pixel"
        )
    if size > _MAX_SIZE:
        raise HandconvError(f"kernel {spec!r}: {what}={size} is larger than the {_MAX_SIZE} allowed")
    return size


def _real(value: str, what: str, spec: str, *, positive: bool) -> float:
    try:
        number = float(value)
    except ValueError:
        raise HandconvError(f"kernel {spec!r}: {what}={value!r} is not a number") from None
    if not math.isfinite(number) or (positive and number <= 0):
        expected = "a finite number > 0" if positive else "a finite number"
        raise HandconvError(f"kernel {spec!r}: {what}={value!r} must be {expected}")
    return number


def box(size: int = 3) -> Kernel:
    """Box blur: the mean of a ``size`` x ``size`` window.

    >>> box(3).weights * 9
    array([[1., 1., 1.],
           [1., 1., 1.],
           [1., 1., 1.]])
    """
    spec = f"box:{size}"
    size = _positive_odd(str(size), "K", spec)
    return _make(spec, np.full((size, size), 1.0 / size**2), "blur", f"mean of a {size}x{size} window")


def _gaussian_1d(size: int, sigma: float) -> np.ndarray:
    offsets = np.arange(size) - (size - 1) / 2
    # (offset / sigma)^2, not offset^2 / sigma^2: sigma = 1e308 must not overflow to inf / inf.
    with np.errstate(over="ignore", under="ignore"):
        samples = np.exp(-((offsets / sigma) ** 2) / 2)
    return samples / samples.sum()


def _default_sigma(size: int) -> float:
    # OpenCV's rule for sigma from the size (cv2.getGaussianKernel with sigma <= 0).
    return 0.3 * ((size - 1) * 0.5 - 1) + 0.8


def gaussian(size: int = 5, sigma: float | None = None) -> Kernel:
    """Gaussian blur: ``exp(-(dy**2 + dx**2) / (2 sigma**2))`` sampled at the taps, normalised to sum 1.

    Parameters
    ----------
    size : int
        Odd kernel size ``K``.
    sigma : float, optional
        Standard deviation in pixels, > 0. Default: OpenCV's formula
        ``0.3 * ((K - 1) / 2 - 1) + 0.8`` (1.1 for K = 5). (For K <= 9 without
        a sigma, OpenCV itself uses fixed binomial tables instead.)

    The kernel is the outer product of the 1-D sampled Gaussian with itself,
    equal to ``cv2.getGaussianKernel(K, sigma)`` times its transpose.

    >>> k = gaussian(3, 1.0).weights
    >>> round(float(k.sum()), 12), bool(k[1, 1] == k.max())
    (1.0, True)
    """
    spec = f"gaussian:{size}" + ("" if sigma is None else f":{sigma:g}")
    size = _positive_odd(str(size), "K", spec)
    sigma = _default_sigma(size) if sigma is None else _real(str(sigma), "SIGMA", spec, positive=True)
    if sigma * sigma == 0.0:
        raise HandconvError(
            f"kernel {spec!r}: SIGMA={sigma:g} underflows (sigma^2 is 0 in float64); expected SIGMA >= 1e-150 "
            "(any SIGMA below ~0.2 already gives the identity kernel)"
        )
    row = _gaussian_1d(size, sigma)
    return _make(spec, np.outer(row, row), "blur", f"Gaussian {size}x{size}, sigma={sigma:g}, normalised")


def unsharp(size: int = 5, sigma: float = 1.0, amount: float = 1.0) -> Kernel:
    """Unsharp mask: ``identity + amount * (identity - gaussian(size, sigma))``.

    The weights sum to 1, so flat areas keep their brightness; edges gain
    ``amount`` times their difference from the blurred image.

    >>> round(float(unsharp(5, 1.0, 1.0).weights.sum()), 12)
    1.0
    """
    spec = f"unsharp:{size}:{sigma:g}:{amount:g}"
    blur = gaussian(size, sigma).weights
    amount = _real(str(amount), "AMOUNT", spec, positive=False)
    identity = np.zeros_like(blur)
    identity[blur.shape[0] // 2, blur.shape[1] // 2] = 1.0
    weights = identity + amount * (identity - blur)
    return _make(spec, weights, "sharpen", f"unsharp mask {size}x{size}, sigma={sigma:g}, amount={amount:g}")


def motion(size: int = 9, angle: float = 0.0) -> Kernel:
    """Motion blur: the mean along a line of ``size`` pixels through the centre.

    ``angle`` is in degrees, counter-clockwise from the positive x axis (so 0 is
    horizontal, 90 vertical, 45 rising to the right). Each tap the line passes
    through (sampled every 1/4 pixel, rounded to the nearest tap) gets equal weight.

    >>> motion(3).weights * 3
    array([[0., 0., 0.],
           [1., 1., 1.],
           [0., 0., 0.]])
    >>> (motion(3, 90).weights * 3)[:, 1]
    array([1., 1., 1.])
    """
    spec = f"motion:{size}" + ("" if angle == 0 else f":{angle:g}")
    size = _positive_odd(str(size), "K", spec)
    angle = _real(str(angle), "ANGLE", spec, positive=False)
    centre = (size - 1) / 2
    radians = math.radians(angle)
    steps = np.linspace(-centre, centre, 4 * size + 1)
    rows = np.rint(centre - steps * math.sin(radians)).astype(int).clip(0, size - 1)
    cols = np.rint(centre + steps * math.cos(radians)).astype(int).clip(0, size - 1)
    weights = np.zeros((size, size))
    weights[rows, cols] = 1.0
    weights /= weights.sum()
    return _make(spec, weights, "blur", f"motion blur along {size} pixels at {angle:g} degrees")


#: Parameterised kernels: prefix -> (maker, usage, parameter parsers).
PARAMETRISED: dict[str, tuple[Callable[..., Kernel], str]] = {
    "box": (box, "box:K  (K odd)"),
    "gaussian": (gaussian, "gaussian:K or gaussian:K:SIGMA  (K odd, SIGMA > 0)"),
    "unsharp": (unsharp, "unsharp:K:SIGMA:AMOUNT  (K odd, SIGMA > 0)"),
    "motion": (motion, "motion:K or motion:K:ANGLE  (K odd, ANGLE in degrees)"),
}


def _parametrised(spec: str) -> Kernel:
    prefix, *params = spec.split(":")
    maker, usage = PARAMETRISED[prefix]
    max_params = {"box": 1, "gaussian": 2, "unsharp": 3, "motion": 2}[prefix]
    if not params or len(params) > max_params or any(not p.strip() for p in params):
        raise HandconvError(f"kernel {spec!r} has the wrong parameters; expected {usage}")
    size = _positive_odd(params[0].strip(), "K", spec)
    rest = [
        _real(p.strip(), name, spec, positive=name == "SIGMA")
        for p, name in zip(
            params[1:], {"gaussian": ["SIGMA"], "unsharp": ["SIGMA", "AMOUNT"], "motion": ["ANGLE"], "box": []}[prefix]
        )
    ]
    kernel = maker(size, *rest)
    return Kernel(spec, kernel.weights, kernel.family, kernel.description)


def from_array(values: Any, name: str = "custom", source: str | None = None) -> Kernel:
    """A custom kernel from nested lists or an array, validated.

    Parameters
    ----------
    values : array_like of shape (KH, KW), or (KH, KW, C) for ``channels='sum'``
        Finite real numbers; at least one row and one column; rows of equal length.
    name : str
        Name shown in messages and listings.
    source : str, optional
        Where the values came from (an inline spec, a file), for messages.

    Raises
    ------
    HandconvError
        Ragged rows, no values, non-numeric or non-finite values, wrong rank.

    >>> from_array([[0, 1], [2, 3]]).weights.dtype
    dtype('float64')
    >>> from_array([[1, 2], [3]])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    handconv.errors.HandconvError: kernel [[1, 2], [3]] is ragged: its rows have different lengths; expected a ...
    """
    where = source if source is not None else describe_value(values)
    try:
        array = np.array(values)
    except (ValueError, TypeError):
        raise HandconvError(
            f"kernel {where} is ragged: its rows have different lengths; expected a rectangular array of numbers"
        ) from None
    if array.dtype == object:
        raise HandconvError(f"kernel {where} is ragged or holds non-numbers; expected a rectangular array of numbers")
    if array.dtype.kind not in "iuf":
        raise HandconvTypeError(f"kernel {where} holds {array.dtype} values, not numbers; expected ints or floats")
    if array.ndim not in (2, 3):
        raise HandconvError(
            f"kernel {where} has shape {array.shape}; expected rows of numbers (KH, KW), "
            "e.g. [[0,-1,0],[-1,4,-1],[0,-1,0]], or (KH, KW, C) for --channels sum"
        )
    if array.size == 0:
        raise HandconvError(f"kernel {where} is empty (shape {array.shape}); expected at least one weight")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise HandconvError(f"kernel {where} holds inf or nan; expected finite numbers")
    total = float(array.sum())
    family = "custom"
    description = f"custom {'x'.join(map(str, array.shape))} kernel, weights sum to {total:g}"
    return Kernel(name, _frozen(array), family, description)


#: Deepest list nesting an inline kernel may have (a kernel is 2-D, a filter bank 4-D).
_MAX_NESTING = 8


def parse_inline(spec: str) -> Any:
    """An inline kernel, ``'[[0,-1,0],[-1,4,-1],[0,-1,0]]'``, as nested lists (JSON or a Python literal, never code)."""
    depth = deepest = 0
    for char in spec:  # refuse deep nesting before a recursive parser sees it
        depth += char in "[("
        depth -= char in "])"
        deepest = max(deepest, depth)
    if deepest > _MAX_NESTING:
        raise HandconvError(
            f"kernel {spec[:40]!r}... nests lists {deepest} deep; expected rows of numbers, "
            "e.g. '[[0,-1,0],[-1,4,-1],[0,-1,0]]'"
        )
    try:
        return json.loads(spec)
    except (ValueError, RecursionError):
        pass
    try:
        # literal_eval evaluates literals only (numbers, lists, tuples); never code.
        return ast.literal_eval(spec)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise HandconvError(
            f"kernel {spec!r} is not a list of rows of numbers; expected e.g. '[[0,-1,0],[-1,4,-1],[0,-1,0]]'"
        ) from None


def load_file(path: Path) -> Any:
    """A kernel file's numbers: ``.npy`` without pickle, ``.csv`` or whitespace-separated ``.txt`` rows."""
    if not path.is_file():
        raise HandconvError(f"kernel file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        delimiter = "," if suffix == ".csv" else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # loadtxt warns on empty files; we raise instead
            return np.loadtxt(path, delimiter=delimiter, ndmin=2, comments="#")
    except (ValueError, OSError, EOFError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise HandconvError(f"kernel file {str(path)!r} cannot be read as numbers: {reason}") from None


_FILE_SUFFIXES = (".npy", ".csv", ".txt")


def _canonical_name(spec: str) -> str:
    # '-' and '_' are the same in names, not in parameters (negative angles).
    name, colon, params = spec.strip().lower().partition(":")
    return name.replace("-", "_") + colon + params


def get(spec: Any) -> Kernel:
    """The kernel a spec names: a name, ``box:K``, an inline list, a file, or an array.

    Parameters
    ----------
    spec : str or path-like or array_like or Kernel
        See the module docstring.

    Returns
    -------
    Kernel

    Raises
    ------
    HandconvError
        Unknown names (the message lists the known ones), bad parameters (even
        sizes, ``sigma <= 0``), ragged, empty, non-numeric or non-finite
        kernels, unreadable files.

    >>> get("outline") is get("edge")
    True
    >>> get("gaussian:4:1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    handconv.errors.HandconvError: kernel 'gaussian:4:1': K=4 must be a positive odd integer (1, 3, 5, ...) so ...
    """
    if isinstance(spec, Kernel):
        return spec
    if isinstance(spec, Path):
        return from_array(load_file(spec), spec.name, repr(str(spec)))
    if not isinstance(spec, str):
        return from_array(spec)
    text = spec.strip()
    if not text:
        raise HandconvError("kernel '' is empty; expected a name such as 'edge' or 'sobel' (see 'handconv kernels')")
    if text[0] in "[(":
        return from_array(parse_inline(text), "custom", repr(text))
    name = _canonical_name(text)
    name = ALIASES.get(name, name)
    if name in KERNELS:
        return KERNELS[name]
    prefix = name.split(":")[0]
    if prefix in PARAMETRISED:
        return _parametrised(name)
    path = Path(text).expanduser()
    if path.suffix.lower() in _FILE_SUFFIXES or path.is_file():
        return from_array(load_file(path), path.name, repr(text))
    import difflib

    close = difflib.get_close_matches(name, [*KERNELS, *ALIASES], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise HandconvError(
        f"kernel {spec!r} is not known{hint}; expected a name ({', '.join(KERNELS)}), box:K, "
        "gaussian:K[:SIGMA], unsharp:K:SIGMA:AMOUNT, motion:K[:ANGLE], an inline list of rows "
        "or a .npy/.csv/.txt file; 'handconv kernels' lists them"
    )


def format_weights(weights: np.ndarray, indent: str = "    ") -> str:
    """Weights as aligned text rows, integers shown without decimals.

    >>> print(format_weights(get("sobel_x").weights, ""))
    -1  0  1
    -2  0  2
    -1  0  1
    """
    if np.all(weights == np.round(weights)):
        cells = [[f"{int(v)}" for v in row] for row in weights]
    else:
        cells = [[f"{v:.4g}" for v in row] for row in weights]
    width = max(len(cell) for row in cells for cell in row)
    return "\n".join(indent + " ".join(cell.rjust(width) for cell in row) for row in cells)


def table() -> list[Kernel]:
    """Every named kernel plus one example of each parameterised kind, in listing order."""
    examples = [get(spec) for spec in ("box:3", "gaussian:5:1", "unsharp:5:1:1", "motion:5", "motion:5:45")]
    return list(KERNELS.values()) + examples


# ---------------------------------------------------------------------------------------------
# The ``handconv kernels`` command.


def describe(kernel: Kernel) -> str:
    """A kernel's listing: name, family, default output, description, weights."""
    head = f"{kernel.name}  [{kernel.family}, output={kernel.default_output}]  {kernel.description}"
    if kernel.weights.ndim == 3:  # a (KH, KW, C) kernel for --channels sum: one block per channel
        return head + "".join(
            f"\n    channel {c}:\n" + format_weights(kernel.weights[:, :, c], "      ")
            for c in range(kernel.weights.shape[2])
        )
    if kernel.pair is None:
        return head + "\n" + format_weights(kernel.weights)
    return (
        head
        + "\n    x:\n"
        + format_weights(kernel.weights, "      ")
        + "\n    y:\n"
        + format_weights(kernel.pair, "      ")
    )


def to_filters(kernel: Any, in_channels: int) -> np.ndarray:
    """A kernel as ``tf.nn.conv2d`` filters of shape (KH, KW, C, C_out): the one conversion every caller uses.

    A 2-D kernel is applied to every input channel and summed (the article's
    filter, ``(KH, KW, C, 1)``); a 3-D one ``(KH, KW, C)`` gives one output
    channel; a 4-D one is taken as it is.

    >>> to_filters(np.ones((3, 3)), 3).shape
    (3, 3, 3, 1)
    >>> to_filters(np.ones((2, 2, 4)), 4).shape
    (2, 2, 4, 1)
    """
    weights = np.asarray(kernel)
    if weights.ndim == 2:
        return np.repeat(weights[:, :, None, None], in_channels, axis=2)
    if weights.ndim == 3:
        return weights[:, :, :, None]
    if weights.ndim == 4:
        return weights
    raise HandconvError(f"kernel has shape {weights.shape}; expected (KH, KW), (KH, KW, C) or (KH, KW, C, C_out)")
