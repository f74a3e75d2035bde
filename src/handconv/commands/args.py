"""The argument types and options every ``handconv`` command shares.

One vocabulary across commands: ``-o/--output`` is always a file to write,
``--out-dir`` a folder to write into, ``-k/--kernel`` always the kernel,
``-j/--jobs`` workers, ``--seed`` a non-negative integer, ``--overwrite`` the
permission to replace outputs. A renamed option keeps its old spelling for a
release as a :class:`DeprecatedAlias`, which warns on stderr and stores the value
under the new name.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any

#: Largest integer option value: handconv's index arithmetic stays inside int64.
MAX_OPTION_INT = 2**31 - 1

__all__ = [
    "MAX_OPTION_INT",
    "DeprecatedAlias",
    "add_deprecated_alias",
    "add_seed",
    "int_at_least",
    "float_where",
    "non_negative_int",
    "positive_int",
    "positive_float",
    "non_negative_float",
    "padding_text",
]


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type accepting integers from ``minimum`` to ``MAX_OPTION_INT``.

    >>> int_at_least(1)("2")
    2
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be >= {minimum}")
        if value > MAX_OPTION_INT:
            raise argparse.ArgumentTypeError(f"{text!r} must be <= {MAX_OPTION_INT}")
        return value

    return parse


#: argparse types: an integer >= 0 (seeds, indices) and >= 1 (strides, counts).
non_negative_int = int_at_least(0)
positive_int = int_at_least(1)


def float_where(accept: Callable[[float], bool], rule: str) -> Callable[[str], float]:
    """An argparse type accepting finite numbers for which ``accept(value)`` holds (``rule`` says which).

    >>> float_where(lambda v: v > 0, "> 0")("0.5")
    0.5
    """

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} must be a finite number")
        if not accept(value):
            raise argparse.ArgumentTypeError(f"{text!r} must be a finite number {rule}")
        return value

    return parse


#: argparse types: a finite number > 0 (learning rates) and >= 0 (weight decay).
positive_float = float_where(lambda value: value > 0, "> 0")
non_negative_float = float_where(lambda value: value >= 0, ">= 0")


def padding_text(text: str) -> str:
    """An argparse type: ``--padding`` checked against the one grammar (:func:`handconv.plan.parse_padding`).

    The text itself is kept (commands parse it again with their data format);
    a wrong one is refused while parsing, with the grammar in the message.

    >>> padding_text("same"), padding_text("0,1,2,3")
    ('same', '0,1,2,3')
    """
    from ..errors import HandconvError
    from ..plan import parse_padding

    try:
        parse_padding(text)
    except HandconvError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


class DeprecatedAlias(argparse.Action):
    """An old option spelling: warns on stderr, then stores like the option it was renamed to."""

    def __init__(self, option_strings: list[str], dest: str, new: str = "", store: Any = None, **kwargs: Any):
        self.new = new
        self.store = store  # an action to run instead of storing the value (for aliases that pick a destination)
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(f"{parser.prog}: warning: {option_string} is deprecated; use {self.new}", file=sys.stderr)
        if self.store is not None:
            self.store(namespace, values)
        else:
            setattr(namespace, self.dest, values)


def add_deprecated_alias(parser: Any, old: str, new: str, dest: str, **kwargs: Any) -> None:
    """Accept ``old`` (hidden from ``--help``) as a deprecated spelling of ``new``, stored in ``dest``."""
    parser.add_argument(
        old, dest=dest, action=DeprecatedAlias, new=new, help=argparse.SUPPRESS, default=argparse.SUPPRESS, **kwargs
    )


def add_seed(parser: Any, help: str = "seed of the random input (default 0)") -> None:
    """``--seed``: a non-negative integer, default 0, the same in every command."""
    parser.add_argument("--seed", type=non_negative_int, default=0, metavar="S", help=help)
