"""``handconv.explain``: every output number of a convolution traced to its arithmetic.

The package is itself callable: ``handconv.explain(x, w, ...)`` is
:func:`handconv.explain.trace.explain`, and the renderers live beside it
(``handconv.explain.text``, ``.figure``, ``.animation``, ``.html``), so both
``handconv.explain(...)`` and ``handconv.explain.render_text(...)`` work.

>>> import numpy as np, handconv
>>> trace = handconv.explain(np.ones((1, 3, 3, 1)), np.ones((2, 2, 1, 1)), at=(0, 0))
>>> trace.steps[0].total
4.0

The backward pass: ``handconv.explain(x, w, ..., grad='filter', out_backprop=dy,
at=(fy, fx, k, co))`` returns a :class:`GradTrace`, one weight's gradient as the
sum of input x output-gradient products (``grad='input'``, ``at=(y, x, c)``: one
pixel's gradient as the sum of weight x output-gradient products).
"""

from __future__ import annotations

import sys
import types

from .backward import GradTrace, Term, explain_gradient
from .html import render_html
from .text import render_grad_text, render_text
from .trace import MAX_PRODUCTS, Step, Trace, explain, format_number, select_positions

__all__ = [
    "explain",
    "Trace",
    "Step",
    "render_text",
    "render_html",
    "format_number",
    "select_positions",
    "MAX_PRODUCTS",
    "explain_gradient",
    "GradTrace",
    "Term",
    "render_grad_text",
]


class _CallableModule(types.ModuleType):
    """Lets ``handconv.explain`` be both this package and the function."""

    def __call__(self, *args, **kwargs) -> Trace:
        return explain(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
