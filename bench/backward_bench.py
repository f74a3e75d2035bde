"""Benchmark: handconv's backward pass against TensorFlow and PyTorch, on the forward suite's shapes S1-S11.

For each case of ``bench/conv_bench.py`` (the same shapes, data and arguments) it times the two gradients
a training step needs, given an output gradient ``dy`` of the forward output's shape:

* the input gradient: ``handconv.conv2d_backprop_input`` vs ``tf.raw_ops.Conv2DBackpropInput`` (what
  ``tf.GradientTape`` runs for ``tf.nn.conv2d``) vs ``torch.nn.grad.conv2d_input``;
* the filter gradient: ``handconv.conv2d_backprop_filter`` vs ``tf.raw_ops.Conv2DBackpropFilter`` vs
  ``torch.nn.grad.conv2d_weight``.

Timing, the GEMM canary that re-measures a cell when the host takes the CPU away, the repeat policy and the
JSON/reporting style are ``conv_bench``'s own (imported, not copied). TensorFlow runs with oneDNN on, as users
get it (its reference CPU kernels refuse dilated gradients). Each result is checked against a float64 truth
from PyTorch autograd (``F.pad`` then ``F.conv2d``, so asymmetric SAME padding is exact), independent of
handconv; the table shows handconv's and TF's relative errors.

Usage::

    python bench/backward_bench.py                 # S1-S11
    python bench/backward_bench.py --quick         # fewer repeats: a smoke test
    python bench/backward_bench.py --shapes S1,S6
    python bench/backward_bench.py --report bench/results/backward_bench-<time>.json   # Markdown table

Targets (issue 9): must: geometric mean handconv/TF <= 1.5 over the suite (both gradients), no shape above
3x; goal: <= 1.0x TF on every shape.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import conv_bench  # noqa: E402  (sets TF_CPP_MIN_LOG_LEVEL and the Agg backend first)
import numpy as np  # noqa: E402
from conv_bench import CASES, Canary, Case, gemm_peak, machine, make_data, run_cell, write_atomic  # noqa: E402

import handconv  # noqa: E402
from handconv.plan import make_plan  # noqa: E402

RESULTS_DIR = conv_bench.RESULTS_DIR
GRADS = ("input", "filter")
MUST_GEOMEAN, MUST_WORST, GOAL = 1.5, 3.0, 1.0


def make_out_backprop(case: Case, seed: int = 3) -> np.ndarray:
    """A float64 output gradient of the forward output's shape (NHWC), standard normal."""
    plan = make_plan(case.input_shape, case.filter_shape, case.strides, case.padding, "NHWC", case.dilations)
    return np.random.default_rng(seed).standard_normal(plan.output_shape)


def _to_user(case: Case, array: np.ndarray) -> np.ndarray:
    array = array.astype(case.dtype)
    return np.ascontiguousarray(np.moveaxis(array, 3, 1)) if case.data_format == "NCHW" else array


def truth(case: Case, x64: np.ndarray, w64: np.ndarray, dy64: np.ndarray) -> dict[str, np.ndarray]:
    """Both gradients in float64 from PyTorch autograd (independent of handconv), input in the case's layout."""
    import torch
    import torch.nn.functional as F

    (pt, pb), (pl, pr) = conv_bench._pads(case)[0]
    groups = conv_bench._pads(case)[1]
    x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x64, 3, 1))).requires_grad_(True)
    w = torch.from_numpy(np.ascontiguousarray(np.transpose(w64, (3, 2, 0, 1)))).requires_grad_(True)
    out = F.conv2d(F.pad(x, (pl, pr, pt, pb)), w, None, case.strides, 0, case.dilations, groups)
    out.backward(torch.from_numpy(np.ascontiguousarray(np.moveaxis(dy64, 3, 1))))
    dx = x.grad.numpy()
    return {
        "input": dx if case.data_format == "NCHW" else np.moveaxis(dx, 1, 3),
        "filter": np.transpose(w.grad.numpy(), (2, 3, 1, 0)),
    }


# --------------------------------------------------------------- the runners
def handconv_runner(case: Case, x64, w64, dy64, grad: str) -> conv_bench.Runner:
    x, w = _to_user(case, x64), w64.astype(case.dtype)
    dy = _to_user(case, dy64)
    padding = conv_bench._user_padding(case)
    args = (case.strides, padding, case.data_format, case.dilations)
    if grad == "input":
        return (lambda: handconv.conv2d_backprop_input(x.shape, w, dy, *args)), np.asarray
    return (lambda: handconv.conv2d_backprop_filter(x, w.shape, dy, *args)), np.asarray


def _tf_padding(case: Case) -> dict:
    if isinstance(case.padding, str):
        return {"padding": case.padding}
    return {"padding": "EXPLICIT", "explicit_paddings": [v for pair in case.padding for v in pair]}


def tf_runner(case: Case, x64, w64, dy64, grad: str) -> conv_bench.Runner:
    """TF's gradient ops, NHWC (its CPU kernels' layout; NCHW cases are transposed as a user would)."""
    import tensorflow as tf

    x, w, dy = (
        tf.constant(x64.astype(case.dtype)),
        tf.constant(w64.astype(case.dtype)),
        tf.constant(dy64.astype(case.dtype)),
    )
    s, d = case.strides, case.dilations
    common = dict(strides=[1, s, s, 1], dilations=[1, d, d, 1], **_tf_padding(case))
    to_user = (lambda a: np.moveaxis(a, 3, 1)) if case.data_format == "NCHW" else (lambda a: a)
    if grad == "input":

        def call():
            return tf.raw_ops.Conv2DBackpropInput(input_sizes=x.shape, filter=w, out_backprop=dy, **common).numpy()

        return call, lambda out: to_user(np.asarray(out))

    def call():  # noqa: F811
        return tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=w.shape, out_backprop=dy, **common).numpy()

    return call, np.asarray


def torch_runner(case: Case, x64, w64, dy64, grad: str) -> conv_bench.Runner:
    """``torch.nn.grad.conv2d_input``/``conv2d_weight`` (NCHW); asymmetric pads through F.pad and a crop."""
    import torch
    import torch.nn.functional as F

    (pt, pb), (pl, pr) = conv_bench._pads(case)[0]
    groups = conv_bench._pads(case)[1]
    x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x64, 3, 1).astype(case.dtype)))
    w = torch.from_numpy(np.ascontiguousarray(np.transpose(w64, (3, 2, 0, 1)).astype(case.dtype)))
    dy = torch.from_numpy(np.ascontiguousarray(np.moveaxis(dy64, 3, 1).astype(case.dtype)))
    symmetric = pt == pb and pl == pr
    to_user = (lambda a: a) if case.data_format == "NCHW" else (lambda a: np.moveaxis(a, 1, 3))
    n, c, h, wd = x.shape
    if grad == "input":
        if symmetric:

            def call():
                return torch.nn.grad.conv2d_input(x.shape, w, dy, case.strides, (pt, pl), case.dilations, groups)
        else:
            padded = (n, c, h + pt + pb, wd + pl + pr)

            def call():  # noqa: F811
                full = torch.nn.grad.conv2d_input(padded, w, dy, case.strides, 0, case.dilations, groups)
                return full[:, :, pt : pt + h, pl : pl + wd]

        return call, lambda out: to_user(out.numpy())
    if symmetric:

        def call():  # noqa: F811
            return torch.nn.grad.conv2d_weight(x, w.shape, dy, case.strides, (pt, pl), case.dilations, groups)
    else:

        def call():  # noqa: F811
            return torch.nn.grad.conv2d_weight(
                F.pad(x, (pl, pr, pt, pb)), w.shape, dy, case.strides, 0, case.dilations, groups
            )

    return call, lambda out: np.transpose(out.numpy(), (2, 3, 1, 0))


RUNNERS = {"hc": handconv_runner, "tf": tf_runner, "torch": torch_runner}


# ---------------------------------------------------------------- a case
def run_case(case: Case, canary: Canary, args) -> dict:
    x64, w64 = make_data(case)
    dy64 = make_out_backprop(case)
    expected = truth(case, x64, w64, dy64)
    budget, min_rep = (0.05, 3) if args.quick else (0.4, 7)
    cells: dict[str, Any] = {}
    for grad in GRADS:
        for library, factory in RUNNERS.items():
            name = f"{library}:{grad}"
            try:
                cells[name] = run_cell(
                    name, factory(case, x64, w64, dy64, grad), expected[grad], canary, budget, min_rep
                ).__dict__
            except Exception as error:  # noqa: BLE001 - a library that cannot do it is reported, not fatal
                print(f"  {case.name}: {name} failed: {type(error).__name__}: {str(error)[:160]}", file=sys.stderr)
    plan = make_plan(case.input_shape, case.filter_shape, case.strides, case.padding, "NHWC", case.dilations)
    ratios = {}
    for grad in GRADS:
        hc, tf = cells.get(f"hc:{grad}"), cells.get(f"tf:{grad}")
        torch_cell = cells.get(f"torch:{grad}")
        ratios[grad] = {
            "over_tf": hc["ms"] / tf["ms"] if hc and tf else float("nan"),
            "over_torch": hc["ms"] / torch_cell["ms"] if hc and torch_cell else float("nan"),
        }
    return {
        "case": case.__dict__ | {"padding": case.padding},
        "flops": 2.0 * plan.macs,
        "cells": cells,
        "ratios": ratios,
    }


def print_case(result: dict) -> None:
    case, cells = result["case"], result["cells"]
    print(
        f"\n{case['name']}: {case['input_shape']} * {case['filter_shape']} stride {case['strides']} "
        f"dil {case['dilations']} {case['padding'] if isinstance(case['padding'], str) else 'explicit'}  "
        f"{case['note']}"
    )
    print(f"  {'cell':<14}{'ms':>10}{'GFLOP/s':>9}{'/TF':>7}{'rel err':>10}  reps")
    for grad in GRADS:
        tf_ms = cells.get(f"tf:{grad}", {}).get("ms", float("nan"))
        for library in RUNNERS:
            cell = cells.get(f"{library}:{grad}")
            if cell is None:
                continue
            gflops = result["flops"] / (cell["ms"] * 1e-3) / 1e9
            flag = "" if cell["clean"] else "  (CPU stolen: canary low)"
            print(
                f"  {library + ':' + grad:<14}{cell['ms']:>10.3f}{gflops:>9.1f}{cell['ms'] / tf_ms:>7.2f}"
                f"{cell['rel_error']:>10.1e}  {cell['repeats']}{flag}"
            )


def geomean(values: list[float]) -> float:
    """Geometric mean of positive ratios.

    >>> round(geomean([1.0, 4.0]), 6)
    2.0
    """
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def targets(results: list[dict]) -> list[tuple[str, bool, str]]:
    """Issue 9's speed targets as (description, met, the numbers)."""
    pairs = [
        (r["case"]["name"], grad, r["ratios"][grad]["over_tf"])
        for r in results
        for grad in GRADS
        if math.isfinite(r["ratios"][grad]["over_tf"])
    ]
    if not pairs:
        return []
    geo = geomean([v for _, _, v in pairs])
    worst = max(pairs, key=lambda p: p[2])
    per_grad = {grad: geomean([v for _, g, v in pairs if g == grad]) for grad in GRADS}
    above_goal = [f"{n}:{g}" for n, g, v in pairs if v > GOAL]
    suite = "S1-S11" if len(results) == 11 else f"{len(results)} shape(s)"
    return [
        (
            f"must: geomean handconv/TF <= {MUST_GEOMEAN} over {suite} (both gradients)",
            geo <= MUST_GEOMEAN,
            f"{geo:.2f} (input {per_grad['input']:.2f}, filter {per_grad['filter']:.2f})",
        ),
        (
            f"must: no shape above {MUST_WORST:g}x TF",
            worst[2] <= MUST_WORST,
            f"worst {worst[0]}:{worst[1]} {worst[2]:.2f}",
        ),
        (f"goal: <= {GOAL:g}x TF on every shape", not above_goal, f"above: {', '.join(above_goal) or '-'}"),
    ]


def markdown(results: list[dict]) -> str:
    """ms per library and gradient, handconv/TF and handconv/PyTorch, relative errors."""
    head = [
        "case",
        "shape",
        "dx hc",
        "dx TF",
        "dx torch",
        "dx hc/TF",
        "dx hc/torch",
        "dW hc",
        "dW TF",
        "dW torch",
        "dW hc/TF",
        "dW hc/torch",
        "hc err (dx, dW)",
        "TF err (dx, dW)",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        c, cells = r["case"], r["cells"]

        def ms(name, cells=cells):
            return f"{cells[name]['ms']:.3g}" + ("" if cells[name]["clean"] else "*") if name in cells else "-"

        def err(library, cells=cells):
            return ", ".join(
                f"{cells[f'{library}:{g}']['rel_error']:.0e}" if f"{library}:{g}" in cells else "-" for g in GRADS
            )

        shape = f"{tuple(c['input_shape'])} * {tuple(c['filter_shape'])}"
        row = [c["name"], shape]
        for grad in GRADS:
            row += [
                ms(f"hc:{grad}"),
                ms(f"tf:{grad}"),
                ms(f"torch:{grad}"),
                f"{r['ratios'][grad]['over_tf']:.2f}",
                f"{r['ratios'][grad]['over_torch']:.2f}",
            ]
        row += [err("hc"), err("tf")]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke test, not a measurement)")
    parser.add_argument("--shapes", help="comma-separated case names among S1-S11 (default: all)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for the JSON (default: %(default)s)")
    parser.add_argument(
        "--report", type=Path, metavar="JSON", help="print a saved run as a Markdown table and its targets, then exit"
    )
    args = parser.parse_args(argv)
    if args.report:
        saved = json.loads(args.report.read_text())
        print(markdown(saved["results"]))
        for target in saved["targets"]:
            print(f"- {'met' if target['met'] else 'MISSED'}: {target['target']}: {target['detail']}")
        return 0
    core = [case for case in CASES if case.core]
    cases = core
    if args.shapes:
        wanted = [s.strip() for s in args.shapes.split(",") if s.strip()]
        known = {c.name: c for c in core}
        unknown = [s for s in wanted if s not in known]
        if unknown:
            parser.error(f"unknown shapes {unknown}; known: {', '.join(known)}")
        cases = [known[s] for s in wanted]

    info = machine()
    print(f"machine: {info.get('cpu')} x{info['cpus']}, numpy {info['numpy']}, load {info['loadavg_start'][0]:.2f}")
    canary = Canary()
    peak = gemm_peak()
    print(f"float32 GEMM peak (2048^3): {peak:.0f} GFLOP/s; canary {canary():.0f} GFLOP/s")
    results = []
    for case in cases:
        result = run_case(case, canary, args)
        print_case(result)
        results.append(result)
        sys.stdout.flush()
    checks = targets(results)
    print("\nTargets (issue 9):")
    for label, met, detail in checks:
        print(f"  [{'met' if met else 'MISSED':>6}] {label}: {detail}")
    info["loadavg_end"] = os.getloadavg()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    payload = {
        "machine": info,
        "gemm_peak": peak,
        "quick": args.quick,
        "results": results,
        "targets": [{"target": t, "met": m, "detail": d} for t, m, d in checks],
    }
    path = args.out / f"backward_bench-{stamp}.json"
    write_atomic(path, json.dumps(payload, indent=1, default=str).encode())
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
