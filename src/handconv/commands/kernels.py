"""``handconv kernels``: the named kernels with their numbers."""

from __future__ import annotations

import argparse
from typing import Any

from .. import kernels


def add_parser(subparsers: Any) -> None:
    """Add ``handconv kernels``: list the named kernels with their numbers."""
    parser = subparsers.add_parser(
        "kernels",
        help="list the named kernels (edge, sobel, gaussian:K:SIGMA, ...) with their numbers",
        description="List the kernels 'handconv filter -k' accepts, each with its family, default "
        "output mapping, description and weights.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  handconv kernels                    # every named kernel\n"
        "  handconv kernels sobel gaussian:7:1.5\n"
        "  handconv kernels '[[0,-1,0],[-1,4,-1],[0,-1,0]]'\n"
        "  handconv kernels my_kernel.csv\n\n"
        "custom kernels: an inline list of rows, or a .npy / .csv / .txt file.\n"
        "parameterised: " + "; ".join(usage for _, usage in kernels.PARAMETRISED.values()),
    )
    parser.add_argument("specs", nargs="*", metavar="KERNEL", help="kernels to show (default: all)")
    parser.set_defaults(func=run)


def run(args: Any) -> int:
    chosen = [kernels.get(spec) for spec in args.specs] if args.specs else kernels.table()
    print("\n\n".join(kernels.describe(kernel) for kernel in chosen))
    if not args.specs:
        print("\naliases: " + ", ".join(f"{a} = {b}" for a, b in kernels.ALIASES.items()))
    return 0
