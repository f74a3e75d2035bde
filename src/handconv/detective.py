"""Moved to :mod:`handconv.verification.detective`; this name stays so existing imports keep working."""

from .verification.detective import *  # noqa: F403
from .verification.detective import __all__ as __all__
