"""The explain formats: one table from a format's name to the function that writes a trace in it.

A new format is one renderer module and one line in :data:`RENDERERS`. Text is
the one format that is also printed, so it is rendered by
:func:`handconv.explain.text.render_text` and written by the caller.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from .trace import Trace

Path = Union[str, "os.PathLike[str]"]

__all__ = ["RENDERERS", "FORMATS", "render"]


def _figure(trace: Trace, path: Path) -> None:
    from .figure import render_figure

    render_figure(trace, path)


def _feature_maps(trace: Trace, path: Path) -> None:
    from .figure import render_feature_maps

    render_feature_maps(trace, path)


def _animation(trace: Trace, path: Path) -> None:
    from .animation import render_animation

    render_animation(trace, path)


def _page(trace: Trace, path: Path) -> None:
    from .html import render_html

    render_html(trace, path)


#: Format name -> renderer writing a trace to a file (heavy libraries load inside each).
RENDERERS: dict[str, Callable[[Trace, Path], None]] = {
    "png": _figure,
    "svg": _figure,
    "gif": _animation,
    "mp4": _animation,
    "html": _page,
    "maps": _feature_maps,
}

#: Every format ``handconv explain --format`` takes.
FORMATS = ("text", *RENDERERS)


def render(trace: Trace, fmt: str, path: Path) -> None:
    """Write ``trace`` to ``path`` in format ``fmt`` (a key of :data:`RENDERERS`)."""
    RENDERERS[fmt](trace, path)
