"""Border modes: how an image is extended past its edges, by every library's name.

The same word means different things in different libraries: ``reflect`` in
NumPy, PyTorch and TensorFlow repeats no edge pixel, ``reflect`` in SciPy's
ndimage repeats it. handconv has five canonical modes, named as in NumPy's
``np.pad`` (``constant`` is called ``zeros`` here because handconv pads with
zeros, as TensorFlow does), and accepts every library's name for them. A bare
``reflect`` means NumPy's (edge not repeated); prefix a library to mean its
word: ``scipy:reflect`` is ``symmetric``.

========== ====================== ========= ============== ====================== ========== =========
handconv   extension of a b c d   NumPy     SciPy ndimage  OpenCV                 PyTorch    tf.pad
========== ====================== ========= ============== ====================== ========== =========
zeros      ``0 0 | a b c d | 0 0``  constant  constant       BORDER_CONSTANT        zeros      CONSTANT
reflect    ``c b | a b c d | c b``  reflect   mirror         BORDER_REFLECT_101     reflect    REFLECT
symmetric  ``b a | a b c d | d c``  symmetric reflect        BORDER_REFLECT         --         SYMMETRIC
edge       ``a a | a b c d | d d``  edge      nearest        BORDER_REPLICATE       replicate  --
wrap       ``c d | a b c d | a b``  wrap      wrap           BORDER_WRAP            circular   --
========== ====================== ========= ============== ====================== ========== =========

SciPy's ``scipy.signal.convolve2d`` calls them ``fill``, ``symm`` and ``wrap``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .errors import HandconvError, HandconvTypeError

__all__ = ["BorderMode", "BORDER_MODES", "ALIASES", "resolve_mode", "pad_border", "extension"]


class BorderMode(NamedTuple):
    """One way of extending an image, with its name in each library."""

    name: str
    numpy: str
    scipy_ndimage: str
    scipy_signal: str | None
    opencv: str | None
    torch: str | None
    tf_pad: str | None
    description: str


BORDER_MODES: dict[str, BorderMode] = {
    mode.name: mode
    for mode in (
        BorderMode(
            "zeros",
            "constant",
            "constant",
            "fill",
            "BORDER_CONSTANT",
            "zeros",
            "CONSTANT",
            "zeros beyond the edge (TensorFlow's and the article's padding)",
        ),
        BorderMode(
            "reflect",
            "reflect",
            "mirror",
            None,
            "BORDER_REFLECT_101",
            "reflect",
            "REFLECT",
            "mirror about the edge pixel, which is not repeated",
        ),
        BorderMode(
            "symmetric",
            "symmetric",
            "reflect",
            "symm",
            "BORDER_REFLECT",
            None,
            "SYMMETRIC",
            "mirror about the edge, the edge pixel repeated",
        ),
        BorderMode("edge", "edge", "nearest", None, "BORDER_REPLICATE", "replicate", None, "the edge pixel repeated"),
        BorderMode("wrap", "wrap", "wrap", "wrap", "BORDER_WRAP", "circular", None, "the image tiled periodically"),
    )
}


def _build_aliases() -> dict[str, str]:
    aliases: dict[str, str] = {}
    libraries = {
        "numpy": "numpy",
        "np": "numpy",
        "scipy": "scipy_ndimage",
        "ndimage": "scipy_ndimage",
        "scipy.ndimage": "scipy_ndimage",
        "signal": "scipy_signal",
        "scipy.signal": "scipy_signal",
        "cv2": "opencv",
        "opencv": "opencv",
        "torch": "torch",
        "pytorch": "torch",
        "tf": "tf_pad",
        "tensorflow": "tf_pad",
    }
    for mode in BORDER_MODES.values():
        aliases[mode.name] = mode.name
        for prefix, field in libraries.items():
            word = getattr(mode, field)
            if word is None:
                continue
            aliases[f"{prefix}:{word.lower()}"] = mode.name
            if field == "opencv":
                aliases[f"{prefix}:{word.lower().removeprefix('border_')}"] = mode.name
    # Unqualified names that mean one thing everywhere they are used.
    unambiguous = {
        "constant": "zeros",
        "zero": "zeros",
        "fill": "zeros",
        "grid-constant": "zeros",
        "border_constant": "zeros",
        "mirror": "reflect",
        "reflect_101": "reflect",
        "reflect101": "reflect",
        "border_reflect_101": "reflect",
        "border_reflect101": "reflect",
        "border_default": "reflect",
        "symm": "symmetric",
        "grid-mirror": "symmetric",
        "border_reflect": "symmetric",
        "half-sample": "symmetric",
        "nearest": "edge",
        "replicate": "edge",
        "border_replicate": "edge",
        "clamp": "edge",
        "circular": "wrap",
        "periodic": "wrap",
        "grid-wrap": "wrap",
        "border_wrap": "wrap",
        # torch.nn.functional.pad calls zeros 'constant' (nn.Conv2d's padding_mode calls them 'zeros').
        "torch:constant": "zeros",
        "pytorch:constant": "zeros",
    }
    aliases.update(unambiguous)
    return aliases


#: Every accepted spelling (lower case) -> canonical mode name.
ALIASES: dict[str, str] = _build_aliases()


def resolve_mode(mode: str) -> str:
    """Canonical name of a border mode given in any library's spelling.

    Letter case does not matter. An unqualified ``reflect`` is NumPy's (and
    PyTorch's and TensorFlow's); qualify it to mean SciPy's.

    >>> resolve_mode("reflect"), resolve_mode("scipy:reflect"), resolve_mode("BORDER_REFLECT_101")
    ('reflect', 'symmetric', 'reflect')
    >>> resolve_mode("nearest"), resolve_mode("circular"), resolve_mode("constant")
    ('edge', 'wrap', 'zeros')
    """
    if not isinstance(mode, str):
        raise HandconvTypeError(f"mode={mode!r} must be a string naming a border mode")
    key = mode.strip().lower()
    if key.startswith("cv2.") or key.startswith("cv."):
        key = "cv2:" + key.split(".", 1)[1]
    try:
        return ALIASES[key]
    except KeyError:
        raise HandconvError(
            f"mode={mode!r} is not a border mode; expected one of {sorted(BORDER_MODES)} "
            "or a library's name for one (e.g. 'mirror', 'nearest', 'BORDER_REFLECT_101', "
            "'circular', 'scipy:reflect'); 'handconv modes' lists them all"
        ) from None


def pad_border(x: np.ndarray, pad_amounts: tuple[tuple[int, int], ...], mode: str) -> np.ndarray:
    """Extend canonical ``(N, H, W, C)`` input by ``pad_amounts`` using a border mode.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
    pad_amounts : ((top, bottom), (left, right))
    mode : str
        Any name :func:`resolve_mode` accepts.

    Returns
    -------
    ndarray of shape (N, H + top + bottom, W + left + right, C)
    """
    name = resolve_mode(mode)
    (top, bottom), (left, right) = pad_amounts
    # NumPy's reflect needs size > pad per reflection; it repeats it for larger pads.
    if name == "reflect" and ((x.shape[1] < 2 and (top or bottom)) or (x.shape[2] < 2 and (left or right))):
        raise HandconvError(
            f"mode='reflect' needs at least 2 pixels along a padded axis; input is {x.shape[1]}x{x.shape[2]}"
        )
    width = ((0, 0), (top, bottom), (left, right), (0, 0))
    return np.pad(x, width, mode=BORDER_MODES[name].numpy)  # type: ignore[call-overload]  # mode: str, not Literal


def extension(mode: str, values: str = "a b c d", pad: int = 2) -> str:
    """How ``mode`` extends a short row, as text: ``'c b | a b c d | c b'``.

    >>> extension("symmetric")
    'b a | a b c d | d c'
    >>> extension("zeros")
    '0 0 | a b c d | 0 0'
    """
    name = resolve_mode(mode)
    row = values.split()
    if name == "zeros":
        padded = ["0"] * pad + row + ["0"] * pad
    else:
        index = np.pad(np.arange(len(row)), pad, mode=BORDER_MODES[name].numpy)  # type: ignore[call-overload]
        padded = [row[i] for i in index]
    return f"{' '.join(padded[:pad])} | {' '.join(row)} | {' '.join(padded[pad + len(row) :])}"


def border_table(indent: str = "  ") -> str:
    """The border modes by library, as text rendered from :data:`BORDER_MODES` (``--help`` pages use it).

    >>> print(border_table().splitlines()[1])
      zeros      constant   constant       BORDER_CONSTANT     zeros
    """
    rows = [["handconv", "NumPy", "SciPy ndimage", "OpenCV", "PyTorch"]]
    rows += [[m.name, m.numpy, m.scipy_ndimage, m.opencv or "--", m.torch or "--"] for m in BORDER_MODES.values()]
    widths = [max(len(row[i]) for row in rows) + 2 for i in range(len(rows[0]))]
    return "\n".join(indent + "".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)
