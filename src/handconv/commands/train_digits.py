"""``handconv train-digits``: train a small CNN by hand on scikit-learn's 8x8 digits.

The network, conv(8, 3x3, SAME) -> ReLU -> maxpool 2 -> conv(16, 3x3, SAME) ->
ReLU -> maxpool 2 -> dense(10) -> softmax, is trained with handconv's own
convolutions and gradients (no deep-learning framework) on a fixed stratified
80/20 split. It writes learning_curve.png, kernels.png (the 8 learned
first-layer kernels beside the article's edge kernel and Sobel),
feature_maps.png and metrics.json, and prints the test accuracy last.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Iterator

from ..learn.train import DEFAULTS
from .args import add_seed, non_negative_float, positive_float, positive_int


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train-digits",
        help="train a small CNN by hand on the 8x8 digits; draw its learned kernels beside the edge filter",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n  handconv train-digits\n  handconv train-digits --out-dir /tmp/digits --seed 3\n"
            "  handconv train-digits --epochs 5          # a quicker, less accurate run"
        ),
    )
    parser.add_argument(
        "--out-dir",
        default="handconv-digits",
        metavar="DIR",
        help="folder for the pictures and metrics.json (default ./handconv-digits)",
    )
    _add_training_default(parser, "--epochs", "passes over the training images", type=positive_int, metavar="N")
    add_seed(parser, "seed of the initial weights and the shuffles (default 0; the split is fixed)")
    _add_training_default(parser, "--batch-size", "images per update", type=positive_int, metavar="B")
    _add_training_default(
        parser,
        "--learning-rate",
        "starting learning rate, decayed along a cosine to 0",
        type=positive_float,
        metavar="LR",
    )
    _add_training_default(parser, "--optimizer", "Adam, or SGD with momentum 0.9", choices=("adam", "sgd"))
    _add_training_default(
        parser,
        "--weight-decay",
        "decoupled weight decay, as Keras'",
        "; 0 = none",
        type=non_negative_float,
        metavar="WD",
    )
    parser.add_argument(
        "--subset",
        type=positive_int,
        default=None,
        metavar="N",
        help="train on the first N training images only (quick checks; the test set stays whole)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def _add_training_default(parser: argparse.ArgumentParser, option: str, help: str, note: str = "", **kwargs) -> None:
    """An option whose default is the library's (``learn.train.DEFAULTS``), said in its help."""
    default = DEFAULTS[option.lstrip("-").replace("-", "_")]
    parser.add_argument(option, default=default, help=f"{help} (default {default}{note})", **kwargs)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside the block, SIGTERM stops the work as Ctrl-C does (KeyboardInterrupt), so cleanup runs."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace) -> int:
    from ..files import make_output_folder
    from ..learn.digits import train_digits

    folder = make_output_folder(args.out_dir, "--out-dir")
    with sigterm_as_interrupt():
        result = train_digits(
            folder,
            epochs=args.epochs,
            seed=args.seed,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            optimizer=args.optimizer,
            weight_decay=args.weight_decay,
            subset=args.subset,
            progress=not args.no_progress,
        )
    print(
        f"trained {result.metrics['train_images']} images x {args.epochs} epochs in {result.seconds:.1f} s; "
        f"train accuracy {result.metrics['train_accuracy']:.3f}"
    )
    for path in result.files:
        print(f"wrote {path}")
    print(f"test accuracy: {result.test_accuracy:.3f}")
    return 0
