"""``handconv demo``: the article's numeric example, end to end, in the terminal.

A seeded random 5x5x3 volume, zero-padding P=1 (7x7x3), stride 2, and a 3x3x3
edge-detection filter (the outline kernel on every channel, summed across
channels); the output-size formula with those numbers, the first receptive
field by hand, the whole 3x3 output, and ``tf.nn.conv2d``'s answer beside it.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TextIO

import numpy as np

from .conv import conv2d
from .plan import ConvPlan, make_plan

#: The article's edge-detection kernel: the 8-neighbour outline filter.
EDGE_KERNEL = np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=np.float64)

#: ``[[0, 0], [P, P], [P, P], [0, 0]]`` with the article's P = 1.
ARTICLE_PADDING = [[0, 0], [1, 1], [1, 1], [0, 0]]
ARTICLE_STRIDE = 2


def article_example(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The article's input volume and filter.

    Returns
    -------
    input : ndarray of shape (1, 5, 5, 3)
        Random integers 0..2 (as in the CS231n demo the article's pictures
        follow), float64.
    filters : ndarray of shape (3, 3, 3, 1)
        The edge kernel on each of the 3 channels.
    """
    rng = np.random.default_rng(seed)
    volume = rng.integers(0, 3, size=(1, 5, 5, 3)).astype(np.float64)
    filters = np.repeat(EDGE_KERNEL[:, :, None, None], 3, axis=2)
    return volume, filters


def _matrix(values: np.ndarray, width: int = 3) -> list[str]:
    return [" ".join(f"{v:>{width}g}" for v in row) for row in values]


def _side_by_side(blocks: list[list[str]], titles: list[str], gap: str = "    ") -> str:
    widths = [max(len(line) for line in block + [title]) for block, title in zip(blocks, titles)]
    lines = [gap.join(t.ljust(w) for t, w in zip(titles, widths))]
    for row in zip(*blocks):
        lines.append(gap.join(cell.ljust(w) for cell, w in zip(row, widths)))
    return "\n".join(lines)


def first_field_arithmetic(padded: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> list[str]:
    """The by-hand sum for output (0, 0): one line per channel, then the total."""
    rows, cols = plan.receptive_field(0, 0)
    lines, total = [], 0.0
    for c in range(plan.in_channels):
        field = padded[0, rows, cols, c]
        weights = filters[:, :, c, 0]
        terms = " + ".join(f"{v:g}*{w:g}" if w >= 0 else f"{v:g}*({w:g})" for v, w in zip(field.ravel(), weights.ravel()))
        channel_sum = float((field * weights).sum())
        total += channel_sum
        lines.append(f"  channel {c}: {terms} = {channel_sum:g}")
    lines.append(f"  total: {' + '.join(f'({float((padded[0, rows, cols, c] * filters[:, :, c, 0]).sum()):g})' for c in range(plan.in_channels))} = {total:g}")
    return lines


def tensorflow_conv2d(x: np.ndarray, filters: np.ndarray, strides, padding) -> np.ndarray | None:
    """``tf.nn.conv2d`` on the same arguments, or None when TensorFlow is not installed."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # TF's reference kernel; its default oneDNN path is not trustworthy at the edges.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    try:
        import tensorflow as tf
    except ImportError:
        return None
    return tf.nn.conv2d(x, filters, strides, padding).numpy()


def run_numeric(seed: int = 0, out: TextIO = sys.stdout) -> dict[str, np.ndarray | float | None]:
    """Print the article's numeric example; return the arrays for tests."""
    x, filters = article_example(seed)
    plan = make_plan(x.shape, filters.shape, ARTICLE_STRIDE, ARTICLE_PADDING, dtype=x.dtype)
    padded = plan.pad(x)
    by_hand = conv2d(x, filters, ARTICLE_STRIDE, ARTICLE_PADDING, method="naive")
    fast = conv2d(x, filters, ARTICLE_STRIDE, ARTICLE_PADDING)

    def say(text: str = "") -> None:
        print(text, file=out)

    say("handconv demo: the article's example, by hand and by TensorFlow")
    say("=" * 64)
    say(f"Input volume 5x5x3 (seed {seed}), one 5x5 slice per channel:")
    say(_side_by_side([_matrix(x[0, :, :, c]) for c in range(3)], [f"x[:, :, {c}]" for c in range(3)]))
    say()
    say("Zero-padding P=1 gives a 7x7x3 volume:")
    say(_side_by_side([_matrix(padded[0, :, :, c]) for c in range(3)], [f"padded[:, :, {c}]" for c in range(3)]))
    say()
    say("Filter 3x3x3: the edge-detection kernel on every channel:")
    say(_side_by_side([_matrix(filters[:, :, c, 0]) for c in range(3)], [f"w[:, :, {c}]" for c in range(3)]))
    say()
    say("Output size, (W - F + 2P) / S + 1:")
    say(f"  height: {plan.formula(0)}")
    say(f"  width:  {plan.formula(1)}")
    say()
    say("By hand, the receptive field at the top left (rows 0-2, columns 0-2 of the padded volume):")
    for line in first_field_arithmetic(padded, filters, plan):
        say(line)
    say()
    say("Sliding by the stride S=2 over the whole volume gives the 3x3 output:")
    blocks, titles = [_matrix(by_hand[0, :, :, 0], 4)], ["by hand (naive)"]
    reference = tensorflow_conv2d(x, filters, ARTICLE_STRIDE, ARTICLE_PADDING)
    difference = None
    if reference is not None:
        difference = float(np.abs(by_hand - reference).max())
        blocks.append(_matrix(reference[0, :, :, 0], 4))
        titles.append("tf.nn.conv2d")
    say(_side_by_side(blocks, titles))
    say()
    say(f"handconv's fast method ('auto') agrees with the by-hand loops: max |diff| = "
        f"{float(np.abs(fast - by_hand).max()):.3g}")
    if reference is None:
        say("TensorFlow is not installed, so there is nothing to compare with here.")
        say("Install the reference extra to see tf.nn.conv2d's answer: pip install 'handconv[tf]'")
    else:
        verdict = "match" if difference is not None and difference < 1e-6 else "DO NOT match"
        say(f"By hand vs tf.nn.conv2d: max |difference| = {difference:.3g}  ->  they {verdict}.")
    return {"input": x, "filters": filters, "by_hand": by_hand, "tensorflow": reference, "difference": difference}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="reproduce the article's example, by hand and by TensorFlow",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  handconv demo\n  handconv demo --seed 3\n  python -m handconv demo",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random input volume (default 0)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    result = run_numeric(seed=args.seed)
    difference = result["difference"]
    return 1 if difference is not None and difference >= 1e-6 else 0
