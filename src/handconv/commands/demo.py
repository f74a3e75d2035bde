"""``handconv demo``: the article end to end (the work is :mod:`handconv.demo`'s)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..demo import __doc__ as DESCRIPTION
from ..demo import run_numeric, run_photo, write_article, write_index
from ..files import make_output_folder
from .args import add_deprecated_alias, add_seed


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="reproduce the article: its example by hand and by TensorFlow, figures, GIF, page, photo",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n  handconv demo\n  handconv demo --out-dir /tmp/article\n  handconv demo --seed 3\n"
            "  handconv demo --numbers-only      # just the terminal part\n  python -m handconv demo"
        ),
    )
    add_seed(parser, "seed of the random input volume (default 0)")
    parser.add_argument(
        "--out-dir",
        default="handconv-demo",
        metavar="DIR",
        help="folder for figures, GIF, page and photo (default ./handconv-demo)",
    )
    add_deprecated_alias(parser, "--out", "--out-dir", "out_dir")
    parser.add_argument("--numbers-only", action="store_true", help="print the numeric example and stop")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    if not args.numbers_only:
        from ..files import refuse_overwriting_inputs
        from ..image.sample import sample_photo_path

        # The demo's one input file is the packaged photo: its folder is no place for outputs.
        photo = Path(sample_photo_path())
        refuse_overwriting_inputs([("--out-dir", args.out_dir)], [("the sample photo's folder", photo.parent)])
        make_output_folder(Path(args.out_dir), "--out-dir")
    result = run_numeric(seed=args.seed)
    difference = result["difference"]
    failed = difference is not None and difference >= 1e-6
    if args.numbers_only:
        return 1 if failed else 0

    def say(text: str = "") -> None:
        print(text)

    folder = Path(args.out_dir)
    say()
    say(f"Writing the article into {folder}/ ...")
    article = write_article(folder, args.seed, say)
    photo_run = run_photo(folder, say)
    photo_difference = photo_run["difference"]
    notes = [
        "The article's example: a 5x5x3 volume, zero-padding P=1, stride 2, the edge filter on every channel.",
        f"By hand vs tf.nn.conv2d on the example: max |difference| = "
        f"{'not compared (TensorFlow missing)' if difference is None else f'{difference:.3g}'}.",
        f"Photo: {photo_run['caption']}; max |difference| by hand vs TensorFlow = "
        f"{'not compared' if photo_difference is None else f'{photo_difference:.3g}'}.",
    ]
    index = write_index(folder, [("The article's example", article["paths"]), ("The photo", photo_run["paths"])], notes)
    say()
    for name, path in [*article["paths"].items(), *photo_run["paths"].items(), ("index", index)]:
        say(f"  {name:34s} {path}")
    say(f"Done in {time.perf_counter() - started:.1f} s. Open {index} in a browser.")
    return 1 if failed else 0
