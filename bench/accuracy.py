"""Float32 error of every handconv method and of TF, against a float64 truth, on the sweep's named cells.

Errors do not depend on the machine's load, so this runs apart from the timed
sweep (and single-threaded, to stay out of its way). For each cell and each
method that supports it: max |result - truth| / max |truth|, truth from PyTorch
in float64 (independent of handconv), and the same for ``tf.nn.conv2d`` in float32.

    python bench/accuracy.py                 # the named cells of bench/sweep.py
    python bench/accuracy.py --cells S6,S11  # some of them

Prints a Markdown table per cell and a summary per method (median and worst
error relative to TF's), and writes ``bench/results/accuracy-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import conv_bench as cb  # noqa: E402
import numpy as np  # noqa: E402
import sweep  # noqa: E402

import handconv  # noqa: E402
from handconv.methods import METHODS  # noqa: E402
from handconv.plan import make_plan  # noqa: E402


def cell_errors(case: cb.Case) -> dict[str, float]:
    x64, w64 = cb.make_data(case)
    expected = cb.truth(case, x64, w64)
    x, w = cb._user_arrays(case, x64, w64)
    padding = cb._user_padding(case)
    plan = make_plan(x.shape, w.shape, case.strides, padding, case.data_format, case.dilations, case.dtype)
    errors = {}
    for name, method in METHODS.items():
        if name == "naive" or not method.supports(plan):
            continue
        out = handconv.conv2d(x, w, case.strides, padding, case.data_format, case.dilations, method=name)
        errors[name] = sweep._error(out, expected)
    for precision in ("accurate", "fast"):
        out = handconv.conv2d(x, w, case.strides, padding, case.data_format, case.dilations, precision=precision)
        errors[f"auto ({precision})"] = sweep._error(out, expected)
    call, fetch = cb.tf_runner(case, x64, w64)
    errors["tf"] = sweep._error(fetch(call()), expected)
    return errors


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", help="comma-separated names (default: the sweep's named cells)")
    parser.add_argument("--out", type=Path, default=cb.RESULTS_DIR)
    args = parser.parse_args(argv)
    cells = [c for c in sweep.NAMED if c.dtype == "float32"]
    if args.cells:
        wanted = set(args.cells.split(","))
        cells = [c for c in cells if c.name in wanted]
    results = {}
    for case in cells:
        results[case.name] = errors = cell_errors(case)
        print(
            f"{case.name:>16} {sweep.describe(case.__dict__):<36} TF {errors['tf']:.1e}  "
            + "  ".join(f"{k} {v:.1e}" for k, v in errors.items() if k != "tf"),
            flush=True,
        )
    floor = float(np.finfo(np.float32).eps)
    per: dict[str, list[float]] = {}
    for errors in results.values():
        for name, e in errors.items():
            if name != "tf":
                per.setdefault(name, []).append((e + floor) / (errors["tf"] + floor))
    print("\n| method | cells | median error / TF's | worst error / TF's |\n|---|---|---|---|")
    for name, values in sorted(per.items()):
        print(f"| {name} | {len(values)} | {statistics.median(values):.2f} | {max(values):.2f} |")
    path = args.out / f"accuracy-{time.strftime('%Y%m%d-%H%M%S')}.json"
    cb.write_atomic(path, json.dumps(results, indent=1).encode())
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
