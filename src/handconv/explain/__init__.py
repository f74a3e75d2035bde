"""``handconv.explain``: every output number of a convolution traced to its arithmetic.

The package is itself callable: ``handconv.explain(x, w, ...)`` is
:func:`handconv.explain.trace.explain`, and the renderers live beside it
(``handconv.explain.text``, ``.figure``, ``.animation``, ``.html``), so both
``handconv.explain(...)`` and ``handconv.explain.render_text(...)`` work.

>>> import numpy as np, handconv
>>> trace = handconv.explain(np.ones((1, 3, 3, 1)), np.ones((2, 2, 1, 1)), at=(0, 0))
>>> trace.steps[0].total
4.0
"""

from __future__ import annotations

import sys
import types

from .html import render_html
from .text import render_text
from .trace import MAX_PRODUCTS, Step, Trace, explain, format_number, select_positions

__all__ = ["explain", "Trace", "Step", "render_text", "render_html", "format_number", "select_positions", "MAX_PRODUCTS"]


class _CallableModule(types.ModuleType):
    """Lets ``handconv.explain`` be both this package and the function."""

    def __call__(self, *args, **kwargs) -> Trace:
        return explain(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
