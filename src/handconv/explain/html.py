"""The interactive HTML page of an explain trace: one self-contained file.

The page is a static template (``page.html``, ``page.css``, ``page.js`` shipped
beside this module) with the trace embedded as JSON in a
``<script type="application/json">`` element. Nothing is formatted into HTML on
the Python side: the page's script builds every element and writes user text
(labels, file names, kernel names) only through ``textContent``, and the JSON
has ``<``, ``>`` and ``&`` escaped as ``\\u003c`` etc., so a crafted label such as
``</script><script>alert(1)</script>`` stays text.

The page needs no network: no CDN, no fonts, no images.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import HandconvError, HandconvTypeError
from ..files import write_text

__all__ = ["render_html", "embed_json"]

#: Keys of ``Trace.to_dict()`` the page reads (see the trace schema).
REQUIRED_KEYS = (
    "version",
    "labels",
    "config",
    "padded_input",
    "is_padding",
    "filters",
    "bias",
    "output",
    "steps",
)
SCHEMA_VERSION = 1
#: Most numbers (padded input, padding mask, output, step products) one page embeds: about 40 MB of HTML.
MAX_PAGE_NUMBERS = 4_000_000

_JSON_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def embed_json(data: Any) -> str:
    """JSON text safe to place inside a ``<script>`` element.

    ``<``, ``>`` and ``&`` become ``\\u003c``, ``\\u003e`` and ``\\u0026`` (still the
    same JSON string values), so no ``</script>`` or ``<!--`` can appear.

    >>> embed_json({"label": "</script><!--&"})
    '{"label":"\\\\u003c/script\\\\u003e\\\\u003c!--\\\\u0026"}'
    """
    try:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as error:  # NaN/inf must arrive as the strings the schema names
        raise HandconvError(
            f"trace has a non-finite float as a number ({error}); the trace schema writes "
            'them as the strings "NaN", "Infinity", "-Infinity"'
        ) from None
    return text.translate(_JSON_ESCAPES)


def _as_trace_dict(trace_or_dict: Any) -> Mapping[str, Any]:
    data = trace_or_dict.to_dict() if hasattr(trace_or_dict, "to_dict") else trace_or_dict
    if not isinstance(data, Mapping):
        raise HandconvTypeError(
            f"render_html expects a Trace or the dict of Trace.to_dict(), got {type(trace_or_dict).__name__}"
        )
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise HandconvError(f"trace dict lacks {', '.join(missing)}; expected the keys of Trace.to_dict()")
    if data["version"] != SCHEMA_VERSION:
        raise HandconvError(f"trace dict has version {data['version']!r}; this page renders version {SCHEMA_VERSION}")
    return data


def _check_page_size(trace: Any) -> None:
    """Refuse, before any JSON is built, a page that would embed more than ``MAX_PAGE_NUMBERS`` numbers."""
    arrays = [getattr(trace, name, None) for name in ("padded_input", "is_padding", "output")]
    if any(a is None for a in arrays):
        return  # a dict: sized by its own lists
    numbers = sum(a.size for a in arrays if a is not None) + sum(3 * step.products.size for step in trace.steps)
    if numbers > MAX_PAGE_NUMBERS:
        (h, w), c = trace.plan.padded_hw, trace.plan.in_channels
        raise HandconvError(
            f"the page would embed {numbers:,} numbers (padded input {h}x{w}x{c}, its padding mask, "
            f"the output and {len(trace.steps)} step(s)), more than {MAX_PAGE_NUMBERS:,} (about 40 MB of HTML); "
            "explain a crop of the image, or draw it with --format png"
        )


def _grad_sizes(data: Mapping[str, Any], grad: str) -> tuple[int, ...]:
    """``(KH, KW, C/groups, C_out)`` or ``(H, W, C)`` from the trace dict's nested lists."""

    def shape(nested: Any, depth: int) -> tuple[int, ...]:
        sizes = []
        for _ in range(depth):
            sizes.append(len(nested))
            nested = nested[0] if len(nested) else []
        return tuple(sizes)

    return shape(data["filters"], 4) if grad == "filter" else shape(data["backward"]["grad_input"], 3)


def _normalise_at(at: Any, sizes: tuple[int, ...], grad: str) -> list[int]:
    """``at`` with negative indices counted from the end, checked against ``sizes``."""
    result = []
    for value, size in zip(at, sizes):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise HandconvTypeError(f"backward=({grad!r}, {at!r}): indices must be integers")
        if not -size <= int(value) < size:
            raise HandconvError(f"backward=({grad!r}, {at!r}): index {int(value)} is outside 0..{size - 1}")
        result.append(int(value) % size)
    return result


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _write_atomically(text: str, path: Path) -> None:
    """Write ``text`` to ``path`` atomically (the renderers' one writer: temp file + ``os.replace``)."""
    write_text(path, text)


def render_html(
    trace_or_dict: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    backward: tuple[str, Any] | None = None,
) -> str:
    """Render an explain trace as one self-contained interactive HTML page.

    Parameters
    ----------
    trace_or_dict : Trace or dict
        A :class:`handconv.explain.Trace` or the dict its ``to_dict()`` returns.
    path : str or path-like, optional
        Where to write the page (atomically: a temporary file in the same folder,
        then ``os.replace``). Parent folders are created.
    backward : (grad, at), optional
        Open the page on the backward pass, with ``grad='filter'`` and
        ``at=(fy, fx, k, co)`` or ``grad='input'`` and ``at=(y, x, c)`` selected
        (``at=None``: nothing selected). The trace must carry the backward pass
        (``explain(..., out_backprop=dy)``). Whenever it does, the page has a
        forward/backward toggle.

    Returns
    -------
    str
        The HTML text.

    Raises
    ------
    HandconvError, HandconvTypeError
        When the argument is not a trace (version 1 of the schema).

    Examples
    --------
    >>> page = render_html({"version": 1, "labels": {"title": "<b>", "input": "x", "filters": ["w"]},
    ...     "config": {}, "padded_input": [], "is_padding": [], "filters": [], "bias": [],
    ...     "output": [], "steps": []})
    >>> page.startswith("<!DOCTYPE html>"), "<b>" in page
    (True, False)
    """
    _check_page_size(trace_or_dict)
    data = _as_trace_dict(trace_or_dict)
    if backward is not None:
        if "backward" not in data:
            raise HandconvError("backward= needs a trace with the backward pass: explain(..., out_backprop=dy)")
        grad, at = backward
        if grad not in ("filter", "input"):
            raise HandconvError(f"backward=({grad!r}, ...): expected 'filter' or 'input'")
        size = 4 if grad == "filter" else 3
        if at is not None and (not isinstance(at, (tuple, list)) or len(at) != size):
            raise HandconvError(
                f"backward=({grad!r}, {at!r}): at must be " + ("(fy, fx, k, co)" if size == 4 else "(y, x, c)")
            )
        if at is not None:
            at = _normalise_at(at, _grad_sizes(data, grad), grad)
        data = dict(data, view={"mode": "backward", "grad": grad, "at": at})
    page = (
        _asset("page.html")
        .replace("/*__PAGE_CSS__*/", _asset("page.css"))
        .replace("/*__PAGE_JS__*/", _asset("page.js"))
    )
    # The data goes in last so nothing inside it is ever taken for a placeholder.
    before, marker, after = page.partition("__TRACE_JSON__")
    if not marker:  # pragma: no cover - the template ships with the package
        raise RuntimeError("page.html lacks the __TRACE_JSON__ placeholder")
    text = before + embed_json(data) + after
    if path is not None:
        _write_atomically(text, Path(path))
    return text
