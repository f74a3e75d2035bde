"""The ``handconv`` command line: one subcommand per module.

The commands themselves live in :mod:`handconv.commands` (one module each, listed
in ``COMMANDS``); this module builds the parser from them and runs one, turning
bad arguments, Ctrl-C and SIGTERM into one line and an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .commands import COMMANDS
from .errors import HandconvError


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
    from .files import Terminated, restore_signals, stop_on_signals

    # Ctrl-C and SIGTERM as exceptions: writers' clean-up (temp files) runs, and the
    # process stops for sure even where Python swallows the exception.
    previous = stop_on_signals()
    name = "handconv"
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        name = f"handconv {args.command}"
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except HandconvError as error:
        # Bad arguments get one line, not a traceback.
        print(f"{name}: error: {error}", file=sys.stderr)
        return 2
    except Terminated:
        print(f"{name}: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    finally:
        restore_signals(previous)  # main() called from Python (tests, notebooks): leave no handler behind


def run() -> None:
    """The ``handconv`` program: :func:`main`, then exit with its code.

    After a stop signal the process leaves with ``os._exit`` once the output is
    flushed: the clean-up that matters (temp files, worker processes) has run while
    the exception unwound, and a library interrupted halfway through its import
    (TensorFlow, JAX) can crash in its own exit handlers.
    """
    code = main()
    if code in (130, 143):
        import os

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
