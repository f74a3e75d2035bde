"""Moved to :mod:`handconv.verification.references`; this name stays so existing imports keep working.

The tables (``REFERENCES``, ``TRANSPOSE_REFERENCES``) are the same objects the agreement table reads.
"""

from .verification.references import *  # noqa: F403
from .verification.references import __all__ as __all__
