"""The one exception family handconv raises for bad arguments.

Every message names the argument, shows the value that was given and says what
was expected; where arithmetic is what fails, the message shows it with the
user's numbers.
"""

from __future__ import annotations


class HandconvError(ValueError):
    """An argument has the right type but a value handconv cannot use."""


class HandconvTypeError(HandconvError, TypeError):
    """An argument has a type (or dtype) handconv cannot use.

    It is both a :class:`HandconvError` and a :class:`TypeError`, so
    ``except TypeError`` and ``except handconv.HandconvError`` both catch it.
    """


class HandconvMemoryError(HandconvError, MemoryError):
    """A request would need more memory than the machine has available.

    Raised before anything large is allocated.
    """


def describe_value(value: object, limit: int = 60) -> str:
    """Return a short ``repr`` of *value* for an error message.

    >>> describe_value([1, 2])
    '[1, 2]'
    >>> describe_value("x" * 100)[-3:]
    '...'
    """
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None and getattr(value, "ndim", 0) > 1:
        return f"array of shape {tuple(shape)} and dtype {dtype}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
