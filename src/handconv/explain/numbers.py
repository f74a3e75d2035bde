"""Numbers as a student writes them, shared by the trace and every renderer."""

from __future__ import annotations

import math

__all__ = ["format_number", "term_text"]


def format_number(value: float, digits: int = 4) -> str:
    """A number the way a student writes it: integers without ``.0``.

    >>> format_number(2.0), format_number(-1.0), format_number(0.125), format_number(1/3)
    ('2', '-1', '0.125', '0.3333')
    >>> format_number(float("nan")), format_number(float("-inf"))
    ('nan', '-inf')
    """
    value = float(value)
    if not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.{digits}g}"


def term_text(value: float) -> str:
    """A number inside a sum or product: negatives in parentheses."""
    text = format_number(value)
    return f"({text})" if text.startswith("-") else text
