"""The ``handconv`` command line: one subcommand per module.

Each module named in ``COMMANDS`` provides ``add_parser(subparsers)``, which adds
its subparser and sets ``func`` (called with the parsed namespace, returning an
exit code). Command modules import heavy libraries (matplotlib, TensorFlow, ...)
inside their functions so that ``handconv --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from .errors import HandconvError

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = [
    "handconv.demo",
    "handconv.explain.cli",
    "handconv.kernels",
    "handconv.image",
    "handconv.verify_cli",
    "handconv.modes",
]


def non_negative_int(text: str) -> int:
    """An argparse type for seeds and counts: an integer >= 0.

    >>> non_negative_int("3")
    3
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="handconv",
        description="Convolution by hand, proven equal to tf.nn.conv2d.",
        epilog="Run 'handconv COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"handconv {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except HandconvError as error:
        # Bad arguments get one line, not a traceback.
        print(f"handconv {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
