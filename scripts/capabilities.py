"""Run every backend on small probes and write the capability matrix.

    python scripts/capabilities.py            # writes docs/capabilities.md and docs/capabilities.json

Nothing in the matrix is typed by hand: each cell is the status ``handconv.verify``
gave that backend on that probe (PASS, FAIL, CANNOT with the reason, ...), and the
TensorFlow quirks section records what ``tf.nn.conv2d`` returned for calls that
handconv rejects or that TF's two CPU paths treat differently.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import handconv  # noqa: E402
from handconv.files import write_text  # noqa: E402
from handconv.verification import references  # noqa: E402

#: (probe name, input shape NHWC, filter shape HWIO, strides, padding, dilations, dtype)
PROBES = [
    ("VALID, stride 1", (1, 6, 6, 3), (3, 3, 3, 2), 1, "VALID", 1, "float32"),
    ("SAME, stride 1, 3x3", (1, 6, 6, 3), (3, 3, 3, 2), 1, "SAME", 1, "float32"),
    ("SAME, stride 1, 2x2 (even)", (1, 6, 6, 3), (2, 2, 3, 2), 1, "SAME", 1, "float32"),
    ("SAME, stride 2 (pads 0,1)", (1, 6, 6, 3), (3, 3, 3, 2), 2, "SAME", 1, "float32"),
    ("explicit symmetric pad 1", (1, 6, 6, 3), (3, 3, 3, 2), 1, [[0, 0], [1, 1], [1, 1], [0, 0]], 1, "float32"),
    ("explicit asymmetric pad", (1, 6, 6, 3), (3, 3, 3, 2), 1, [[0, 0], [0, 1], [2, 0], [0, 0]], 1, "float32"),
    ("dilation 2", (1, 7, 7, 3), (3, 3, 3, 2), 1, "VALID", 2, "float32"),
    ("dilation 2 with stride 2", (1, 9, 9, 3), (3, 3, 3, 2), 2, "SAME", 2, "float32"),
    ("groups 2", (1, 6, 6, 4), (3, 3, 2, 4), 1, "VALID", 1, "float32"),
    ("depthwise (groups = C)", (1, 6, 6, 3), (3, 3, 1, 3), 1, "SAME", 1, "float32"),
    ("float16", (1, 6, 6, 3), (3, 3, 3, 2), 1, "VALID", 1, "float16"),
    ("float64", (1, 6, 6, 3), (3, 3, 3, 2), 1, "VALID", 1, "float64"),
    ("int32", (1, 6, 6, 3), (3, 3, 3, 2), 1, "VALID", 1, "int32"),
    ("zero-size output (filter > input)", (1, 2, 2, 1), (3, 3, 1, 1), 1, "VALID", 1, "float32"),
    ("batch of 2, NCHW input", (2, 3, 6, 6), (3, 3, 3, 2), 1, "SAME", 1, "float32"),
]


def probe_arrays(shape, filter_shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == "int32":
        return rng.integers(-3, 4, shape).astype(dtype), rng.integers(-3, 4, filter_shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype), rng.standard_normal(filter_shape).astype(dtype)


def run_probes() -> list[dict]:
    results = []
    for name, shape, filter_shape, strides, padding, dilations, dtype in PROBES:
        x, w = probe_arrays(shape, filter_shape, dtype)
        data_format = "NCHW" if "NCHW" in name else "NHWC"
        start = time.perf_counter()
        report = handconv.verify(x, w, strides, padding, data_format, dilations)
        print(
            f"{name:40s} {time.perf_counter() - start:5.1f} s  " + " ".join(f"{r.status}" for r in report.rows),
            file=sys.stderr,
        )
        results.append(
            {
                "probe": name,
                "input_shape": list(shape),
                "filter_shape": list(filter_shape),
                "strides": strides,
                "padding": padding,
                "dilations": dilations,
                "dtype": dtype,
                "data_format": data_format,
                "rows": [
                    {
                        "backend": r.backend,
                        "version": r.version,
                        "status": r.status,
                        "detail": r.translation,
                        "error_over_tolerance": r.error_over_tolerance,
                    }
                    for r in report.rows
                ],
            }
        )
    return results


def tf_quirks() -> list[dict]:
    """Direct tf.nn.conv2d calls on both CPU paths, recording what TF returns."""
    x, w = probe_arrays((1, 5, 5, 2), (3, 3, 2, 1), "float32")
    calls = [
        (
            "zero-size output: 2x2 input, 3x3 filter, VALID (expected shape (1, 0, 0, 1))",
            x[:, :2, :2],
            w,
            dict(strides=1, padding="VALID"),
        ),
        (
            "explicit padding of the batch dimension [[1, 1], [0, 0], [0, 0], [0, 0]] (handconv and the "
            "reference kernel reject it)",
            x,
            w,
            dict(strides=1, padding=[[1, 1], [0, 0], [0, 0], [0, 0]]),
        ),
        (
            "explicit padding of the channel dimension [[0, 0], [0, 0], [0, 0], [1, 1]]",
            x,
            w,
            dict(strides=1, padding=[[0, 0], [0, 0], [0, 0], [1, 1]]),
        ),
        (
            "NCHW input (data_format='NCHW')",
            np.ascontiguousarray(np.moveaxis(x, -1, 1)),
            w,
            dict(strides=1, padding="VALID", data_format="NCHW"),
        ),
        ("non-integer strides=1.5", x, w, dict(strides=1.5, padding="VALID")),
        (
            "grouped: input 2 channels, filter in_channels 1 (2 groups)",
            x,
            w[:, :, :1, :].repeat(2, axis=3),
            dict(strides=1, padding="VALID"),
        ),
    ]
    out = []
    for description, xi, wi, arguments in calls:
        row = {"call": description, "arguments": arguments}
        for onednn in (False, True):
            key = f"oneDNN {'on' if onednn else 'off'}"
            try:
                result = references.tf_conv2d_raw(xi, wi, arguments, onednn)
                try:
                    expected = handconv.conv2d(xi.astype(np.float64), wi.astype(np.float64), **arguments)
                    if result.shape != expected.shape:
                        verdict = f"handconv gives {expected.shape}"
                    else:
                        largest = float(np.abs(expected).max()) if expected.size else 1.0
                        agree = np.allclose(result, expected, rtol=1e-5, atol=1e-5 * max(1.0, largest))
                        verdict = "same as handconv" if agree else "VALUES DIFFER from handconv"
                except handconv.HandconvError as error:
                    verdict = f"handconv rejects it ({references.clean_message(error, 80)})"
                row[key] = f"returned shape {result.shape}; {verdict}"
            except Exception as error:  # TF's own refusal, recorded verbatim (shortened)
                row[key] = f"raises {references.clean_message(error, 160)}"
        print(f"quirk: {description[:60]:60s} done", file=sys.stderr)
        out.append(row)
    return out


def markdown(results: list[dict], quirks: list[dict], versions: dict) -> str:
    backends = [row["backend"] for row in results[0]["rows"]]
    short = {b: f"[{i + 1}]" for i, b in enumerate(backends)}
    lines = [
        "# Capability matrix: who can compute what, on CPU",
        "",
        "<!-- generated by `python scripts/capabilities.py`; do not edit by hand -->",
        "",
        "Each cell is the status `handconv verify` gave that backend on a small random probe: **PASS** (within",
        "the fan-in tolerance of the float64 by-hand truth, see `docs/verify.md`), **FAIL** (wrong numbers or",
        "shape), **CANNOT** (the library's API cannot state the call, or it refused: the reason is below),",
        "**MISSING** (not installed). Translations never emulate stride or dilation, so a library without",
        "those arguments shows CANNOT.",
        "",
        "Backends: " + "; ".join(f"{short[b]} {b} {versions.get(b, '')}" for b in backends),
        "",
        "| probe | " + " | ".join(short[b] for b in backends) + " |",
        "|---|" + "---|" * len(backends),
    ]
    for result in results:
        cells = []
        for row in result["rows"]:
            cells.append(
                {"PASS": "PASS", "FAIL": "**FAIL**", "CANNOT": "no", "MISSING": "-", "ERROR": "error"}.get(
                    row["status"], row["status"]
                )
            )
        lines.append(f"| {result['probe']} | " + " | ".join(cells) + " |")
    lines += ["", "## Why not", ""]
    for result in results:
        for row in result["rows"]:
            if row["status"] not in ("PASS",):
                lines.append(f"- {result['probe']}, {row['backend']}: {row['status']}: {row['detail']}")
    lines += [
        "",
        "## tf.nn.conv2d quirks on CPU, oneDNN off and on",
        "",
        "| call | oneDNN off (reference kernel) | oneDNN on |",
        "|---|---|---|",
    ]
    for quirk in quirks:
        lines.append(f"| {quirk['call']} | {quirk['oneDNN off']} | {quirk['oneDNN on']} |")
    lines.append("")
    return "\n".join(lines).replace("\u2019", "'")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--out",
        default=os.path.join(os.path.dirname(__file__), "..", "docs"),
        help="folder for capabilities.md and capabilities.json (default docs/)",
    )
    args = parser.parse_args(argv)
    results = run_probes()
    quirks = tf_quirks()
    versions = {row["backend"]: row["version"] for row in results[0]["rows"]}
    os.makedirs(args.out, exist_ok=True)
    write_text(
        os.path.join(args.out, "capabilities.json"),
        json.dumps({"probes": results, "tf_quirks": quirks}, indent=2) + "\n",
    )
    write_text(os.path.join(args.out, "capabilities.md"), markdown(results, quirks, versions))
    print(f"wrote {os.path.join(args.out, 'capabilities.md')} and capabilities.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
