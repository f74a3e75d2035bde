"""``handconv explain``: any convolution, every output number traced to its arithmetic.

With no arguments it explains the article's example: a seeded random 5x5x3
volume, zero-padding 1, stride 2, the edge filter on every channel. Output as
text (default), a figure (png/svg), an animation (gif/mp4) or the interactive
page (html).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import HandconvError
from ..explain.compare import compare_padding
from ..explain.renderers import FORMATS, render
from ..plan import parse_ints, parse_padding
from .args import add_deprecated_alias, add_seed, non_negative_int

EXAMPLES = """\
examples:
  handconv explain                                   # the article: 5x5x3, P=1, stride 2, edge filter
  handconv explain --at 0,0                          # only the top-left output, its sums written out
  handconv explain --shape 7,7,3 --filters 2 --bias 1,0 --stride 2 --padding 1   # CS231n's demo
  handconv explain --kernel '[[0,1],[2,3]]' --shape 4,4,1 --padding SAME --dilation 1
  handconv explain --input photo.png --at 100,120 --format png -o field.png
  handconv explain --format gif -o slide.gif         # the filter sliding by the stride
  handconv explain --format html -o explain.html     # interactive page, works offline
  handconv explain --compare-padding --shape 6,6,3   # article P=1 vs TF SAME: (1,1) vs (0,1)
  handconv explain --input photo.jpg --stride 1 --filters 4 --format maps -o maps.png   # feature maps
  handconv explain --grad filter --at 0,0,0,0        # backward: dL/dW of one weight, as its sum
  handconv explain --grad input --at 2,2,0 --format png -o grad.png   # dL/dx of one pixel, drawn
  handconv explain --grad filter --at 1,1,0,0 --out-backprop dy.npy   # your own dL/d(output)

--padding takes SAME, VALID, P (P zeros on every side), PH,PW, or TOP,BOTTOM,LEFT,RIGHT.
--at takes ROW,COL (negative counts from the end, A:B is a range), several separated by ';'.
With --grad filter it takes FY,FX,K,CO (a filter weight), with --grad input Y,X,C (an input pixel).
Without --out-backprop the output gradient dL/d(output) is random integers -2..2 (seeded by --seed).
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="trace every output number of a convolution to its arithmetic (text, figure, GIF, HTML)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXAMPLES,
    )
    # '--at -1,-1', '--bias -1,2', '--values -1,1': argparse takes only plain '-1' for a number and
    # refuses these as unknown options; no option of this command looks like a number, so widen it.
    if hasattr(parser, "_negative_number_matcher"):
        parser._negative_number_matcher = re.compile(r"^-[\d.][\d.,:;-]*$")
    source = parser.add_argument_group("input (default: the article's seeded 5x5x3 volume)")
    source.add_argument("--input", "-i", metavar="PATH", help=".npy, .csv or image file")
    source.add_argument("--shape", default="5,5,3", metavar="H,W,C", help="random input shape (default 5,5,3)")
    add_seed(source, "seed of the random input and filters (default 0)")
    source.add_argument("--values", default="0,2", metavar="LOW,HIGH", help="random integers range (default 0,2)")
    source.add_argument(
        "--batch-index",
        type=non_negative_int,
        default=0,
        metavar="I",
        help="which image of an (N, H, W, C) .npy batch to explain (default 0)",
    )
    filt = parser.add_argument_group("filter (default: edge on every input channel)")
    filt.add_argument(
        "-k",
        "--kernel",
        default="edge",
        metavar="SPEC",
        help="kernel name (edge, sobel_x, ...), inline numbers '[[...]]', or a .npy/.csv file",
    )
    add_deprecated_alias(filt, "--filter", "--kernel", "kernel")
    filt.add_argument("--filters", type=int, metavar="N", help="N random filters with weights -1..1 instead")
    filt.add_argument("--filter-size", default="3,3", metavar="KH,KW", help="size of random filters (default 3,3)")
    filt.add_argument("--bias", metavar="B[,B...]", help="bias per output channel")
    conv = parser.add_argument_group("convolution (tf.nn.conv2d arguments)")
    conv.add_argument("--padding", "-p", default="1", help="SAME, VALID, P, PH,PW or T,B,L,R (default 1)")
    conv.add_argument("--stride", "-s", default="2", metavar="S[,S]", help="stride (default 2)")
    conv.add_argument("--dilation", "-d", default="1", metavar="D[,D]", help="dilation (default 1)")
    out = parser.add_argument_group("output")
    out.add_argument("--at", action="append", metavar="ROW,COL", help="output position(s) to explain")
    back = parser.add_argument_group("backward pass")
    back.add_argument(
        "--grad",
        choices=("filter", "input"),
        help="explain one gradient element: filter (--at FY,FX,K,CO) or input (--at Y,X,C)",
    )
    back.add_argument(
        "--out-backprop",
        metavar="PATH",
        help=".npy of dL/d(output), the output's shape (default: seeded random integers -2..2)",
    )
    out.add_argument(
        "--format",
        "-f",
        choices=FORMATS,
        help="text (default), png, svg, gif, mp4, html, or maps (grid of feature maps, PNG)",
    )
    out.add_argument("--output", "-o", metavar="PATH", help="file to write (default handconv-explain.FORMAT)")
    out.add_argument("--title", help="title shown on figures and the page")
    out.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="colour in text output")
    out.add_argument(
        "--compare-padding",
        action="store_true",
        help="show explicit padding P (default 1) beside TF's SAME on this input",
    )
    parser.set_defaults(func=run)


# ------------------------------------------------------------------- parsing
def _coordinate(text: str) -> Any:
    text = text.strip()
    if ":" in text:
        parts = text.split(":")
        if len(parts) > 3:
            raise ValueError(text)
        return slice(*(int(p) if p.strip() else None for p in parts))
    return int(text)


def parse_at(items: list[str] | None, output_hw: tuple[int, int]) -> list[tuple[int, int]] | None:
    """``--at`` values as a list of output positions (None when not given).

    >>> parse_at(["0,0;1,-1"], (3, 3))
    [(0, 0), (1, 2)]
    >>> parse_at(["0:2,0"], (3, 3))
    [(0, 0), (1, 0)]
    """
    if not items:
        return None
    from ..explain.trace import select_positions

    positions: set[tuple[int, int]] = set()
    for item in items:
        for part in item.split(";"):
            if not part.strip():
                continue
            pieces = part.split(",")
            try:
                if len(pieces) != 2:
                    raise ValueError(part)
                pair = (_coordinate(pieces[0]), _coordinate(pieces[1]))
            except ValueError:
                raise HandconvError(f"--at {part!r}: expected ROW,COL such as 0,1 or 0:2,1") from None
            positions.update(select_positions(pair, output_hw))
    return sorted(positions)


def _load(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, str, list[str]]:
    from ..explain.inputs import expand_filters, filter_weights, random_filters, random_volume, read_input

    if args.input:
        x = read_input(args.input)
        input_label = Path(args.input).name
    else:
        low, high = parse_ints(args.values, "--values", (2,))
        shape = tuple(parse_ints(args.shape, "--shape", (2, 3)))
        x = random_volume(shape, args.seed, low, high)
        input_label = f"random {'x'.join(map(str, x.shape[1:]))} (seed {args.seed})"
    channels = x.shape[-1]
    if args.filters is not None:
        size = tuple(parse_ints(args.filter_size, "--filter-size", (1, 2)))
        size = size * 2 if len(size) == 1 else size
        w = random_filters(args.filters, size, channels, args.seed)
        names = [f"W{co}" for co in range(args.filters)]
    else:
        weights, name = filter_weights(args.kernel)
        if name.endswith(" gx,gy"):  # a gradient pair, explained as its two convolutions
            w = np.concatenate([expand_filters(weights[:, :, 0, k], channels) for k in range(2)], axis=3)
            names = [name.replace("gx,gy", "gx"), name.replace("gx,gy", "gy")]
        else:
            w = expand_filters(weights, channels)
            names = [name] if w.shape[3] == 1 else [f"{name} {co}" for co in range(w.shape[3])]
    return x, w, input_label, names


def _bias(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise HandconvError(f"--bias {text!r}: expected numbers separated by commas, one per filter") from None


def _window(text: str, option: str) -> list[int]:
    values = parse_ints(text, option, (1, 2))
    return values * 2 if len(values) == 1 else values


# ------------------------------------------------------------------- running
def run(args: argparse.Namespace) -> int:
    from ..explain.trace import explain
    from ..files import refuse_overwriting_inputs
    from ..plan import make_plan

    fmt = args.format or (Path(args.output).suffix.lstrip(".").lower() if args.output else "text")
    fmt = {"txt": "text", "htm": "html"}.get(fmt, fmt)
    # Before any work: the output (given or default) must not be an input file.
    output = args.output or (None if fmt == "text" or args.compare_padding else _default_output(fmt))
    refuse_overwriting_inputs([("-o", output)], [("--input", args.input), ("--kernel", _existing(args.kernel))])
    x, w, input_label, names = _load(args)
    padding = parse_padding(args.padding)
    strides = _window(args.stride, "--stride")
    dilations = _window(args.dilation, "--dilation")
    if args.compare_padding:
        return _run_compare_padding(args, fmt, x, w, strides, dilations)
    if fmt not in FORMATS:
        raise HandconvError(f"cannot tell the format of {args.output!r}; pass --format {'|'.join(FORMATS)}")
    bias = _bias(args.bias)
    if bias is not None and len(bias) == 1:
        bias = bias * w.shape[3]
    plan = make_plan(x.shape, w.shape, strides, padding, "NHWC", dilations, x.dtype)
    labels = {"title": args.title or "handconv explain", "input": input_label, "filters": names}
    if args.batch_index >= x.shape[0]:
        raise HandconvError(
            f"--batch-index {args.batch_index}: the input holds {x.shape[0]} image(s) (0..{x.shape[0] - 1})"
        )
    if args.grad or args.out_backprop:
        if bias is not None and fmt != "html":
            raise HandconvError("--bias does not enter dL/dW or dL/dx; drop it with --grad")
        return run_backward(args, x, w, strides, padding, dilations, plan, labels, fmt, bias)
    trace = explain(
        x,
        w,
        strides,
        padding,
        dilations=dilations,
        bias=bias,
        at=_positions(args, plan, fmt),
        labels=labels,
        batch_index=args.batch_index,
    )
    return _write(trace, fmt, args)


def _run_compare_padding(
    args: argparse.Namespace, fmt: str, x: np.ndarray, w: np.ndarray, strides: list[int], dilations: list[int]
) -> int:
    """``--compare-padding``: explicit P beside TF's SAME, as text."""
    if fmt in FORMATS and fmt != "text":
        raise HandconvError(f"--compare-padding writes text, not {fmt}; drop --format or use -o FILE.txt")
    text = compare_padding(x, w, strides, dilations, args.padding)
    if not args.input and args.shape == "5,5,3":
        # The teaching moment: one more row and column and the two part ways.
        from ..explain.inputs import random_volume

        low, high = parse_ints(args.values, "--values", (2,))
        six = random_volume((6, 6, 3), args.seed, low, high)
        text += "\n" + compare_padding(six, w, strides, dilations, args.padding)
    return _emit_text(text, args.output)


def _positions(args: argparse.Namespace, plan: Any, fmt: str) -> Any:
    """The output positions to explain: ``--at``, or what the format needs when the output is large."""
    from ..explain.trace import MAX_PRODUCTS

    at: Any = parse_at(args.at, plan.output_hw)
    if at is not None:
        return at
    too_big = plan.output_hw[0] * plan.output_hw[1] * plan.out_channels * plan.taps > MAX_PRODUCTS
    if fmt == "maps" or (too_big and fmt in ("gif", "mp4")):
        return []  # feature maps need only the output; the animation computes the positions it shows
    if too_big and fmt in ("png", "svg"):
        return [(plan.output_hw[0] // 2, plan.output_hw[1] // 2)]  # one position, the centre
    if too_big and plan.out_channels * plan.taps <= MAX_PRODUCTS:
        # (When one position alone is too big, explain() says so; --at would not help.)
        oh, ow = plan.output_hw
        raise HandconvError(
            f"the output is {oh}x{ow}x{plan.out_channels} with {plan.taps} taps each: too many numbers to "
            f"explain one by one; pick positions with --at ROW,COL (e.g. --at {oh // 2},{ow // 2}) "
            "or ranges (--at 0:3,0:3), or draw it with --format png"
        )
    return None


def _write(trace: Any, fmt: str, args: argparse.Namespace) -> int:
    """Print the trace as text, or write it with the format's renderer."""
    if fmt == "text":
        from ..explain.text import render_text

        color = {"always": True, "never": False}.get(args.color)
        if color is None and args.output:
            color = False  # 'auto' for a file: no escape codes, whatever the terminal is
        return _emit_text(render_text(trace, color=color, stream=sys.stdout), args.output)
    path = args.output or _default_output(fmt)
    render(trace, fmt, path)
    print(f"wrote {path}")
    return 0


def out_backprop_for(args: argparse.Namespace, plan: Any) -> np.ndarray:
    """``--out-backprop`` loaded and checked, or seeded random integers -2..2 of the output's shape."""
    if args.out_backprop:
        path = Path(args.out_backprop)
        if path.suffix.lower() != ".npy":
            raise HandconvError(f"--out-backprop {args.out_backprop!r}: expected a .npy file")
        if not path.is_file():
            raise HandconvError(f"--out-backprop {args.out_backprop!r}: no such file")
        dy = np.load(path, allow_pickle=False)
        if dy.ndim == 3:
            dy = dy[None]
        return dy.astype(np.float64)
    rng = np.random.default_rng(args.seed + 1)  # not the input's stream
    return rng.integers(-2, 3, size=plan.user_output_shape).astype(np.float64)


def parse_grad_at(items: list[str] | None, grad: str) -> tuple[int, ...]:
    """``--at`` for ``--grad``: one FY,FX,K,CO (filter) or Y,X,C (input).

    >>> parse_grad_at(["1,-1,0,0"], "filter"), parse_grad_at(["2,2,1"], "input")
    ((1, -1, 0, 0), (2, 2, 1))
    """
    count, form = (4, "FY,FX,K,CO") if grad == "filter" else (3, "Y,X,C")
    if not items or len(items) != 1 or ";" in items[0]:
        raise HandconvError(f"--grad {grad} explains one element: give one --at {form}")
    return tuple(parse_ints(items[0], "--at", (count,)))


def run_backward(args, x, w, strides, padding, dilations, plan, labels, fmt, bias=None) -> int:
    """``--grad``: one gradient element as text, a figure, or the page opened on the backward pass."""
    from ..explain.backward import check_at
    from ..explain.trace import explain

    dy = out_backprop_for(args, plan)
    if fmt in ("gif", "mp4", "maps"):
        raise HandconvError(f"--grad draws text, png, svg or html, not {fmt}")
    if fmt == "html":
        at = None
        if args.grad and args.at:
            sizes = plan.filter_shape if args.grad == "filter" else (*plan.input_hw, plan.in_channels)
            at = check_at(parse_grad_at(args.at, args.grad), sizes, ("index",) * len(sizes), args.grad)
        too_big = plan.output_hw[0] * plan.output_hw[1] * plan.out_channels * plan.taps > MAX_PRODUCTS_FOR_PAGE
        positions: list[tuple[int, int]] | None = [] if too_big else None
        trace = explain(
            x,
            w,
            strides,
            padding,
            dilations=dilations,
            at=positions,
            labels=labels,
            bias=bias,
            batch_index=args.batch_index,
            out_backprop=dy,
        )
        from ..explain import html

        path = args.output or "handconv-explain.html"
        html.render_html(trace, path, backward=(args.grad, at) if args.grad else ("filter", None))
        print(f"wrote {path}")
        return 0
    if not args.grad:
        raise HandconvError("--out-backprop needs --grad filter|input (or --format html for the page)")
    trace = explain(
        x,
        w,
        strides,
        padding,
        dilations=dilations,
        labels=labels,
        batch_index=args.batch_index,
        grad=args.grad,
        out_backprop=dy,
        at=parse_grad_at(args.at, args.grad),
    )
    if fmt == "text":
        from ..explain.text import render_grad_text

        color = {"always": True, "never": False}.get(args.color)
        if color is None and args.output:
            color = False
        return _emit_text(render_grad_text(trace, color=color, stream=sys.stdout), args.output)
    from ..explain.figure import render_grad_figure

    path = args.output or f"handconv-explain-grad.{fmt}"
    render_grad_figure(trace, path)
    print(f"wrote {path}")
    return 0


#: The page with the backward pass explains every output position up to this many products.
MAX_PRODUCTS_FOR_PAGE = 10_000


def _default_output(fmt: str) -> str:
    return f"handconv-explain.{fmt}" if fmt != "maps" else "handconv-explain-maps.png"


def _existing(path: str | None) -> str | None:
    """``path`` when it names an existing file (a filter given as a file), else None."""
    return path if path and Path(path).is_file() else None


def _emit_text(text: str, output: str | None) -> int:
    """Print ``text``, or write it atomically to ``output`` when given."""
    if output:
        from ..files import write_text

        write_text(output, text)
        print(f"wrote {output}")
    else:
        print(text, end="")
    return 0
