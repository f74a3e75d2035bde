"""Text rendering of a :class:`~handconv.explain.trace.Trace` (placeholder, filled in next)."""

from __future__ import annotations


def render_text(trace, color=None) -> str:
    return "\n\n".join(step.arithmetic for step in trace.steps)
