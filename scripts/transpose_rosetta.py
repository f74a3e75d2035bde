"""Run TensorFlow, PyTorch, JAX and Keras on small transposed convolutions and record how each sizes them.

    python scripts/transpose_rosetta.py     # writes src/handconv/data/transpose_rosetta.json

A transposed convolution maps an ``n``-pixel input to an ``m``-pixel output, and for a stride above 1
several ``m`` are possible (the forward convolution of any of them gives back ``n``). Each library names
the choice differently: TensorFlow takes the ``output_shape`` itself, PyTorch ``padding`` plus
``output_padding``, JAX's ``conv_transpose`` a padding string or explicit pairs, Keras' ``Conv2DTranspose``
``padding`` plus ``output_padding``. For every case below the script asks TensorFlow which output sizes it
accepts, computes each, and then searches the other libraries' arguments for the ones that give *the same
numbers* (not only the same shape): a row with no match in a library means its arguments cannot say that
call (for example TF's SAME with an odd total padding crops one more pixel at the end than at the start,
which PyTorch's symmetric ``padding`` cannot). Nothing in the table is typed by hand; ``handconv modes
--transpose`` and ``docs/gradients.md`` render the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # TF's reference kernels
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

from handconv import shapes  # noqa: E402

OUTPUT = Path(__file__).resolve().parent.parent / "src" / "handconv" / "data" / "transpose_rosetta.json"

#: (input size n, kernel size k, stride s), the same along height and width.
CASES = [(3, 3, 2), (4, 4, 2), (5, 3, 1), (3, 2, 3), (2, 5, 2)]


def _data(n: int, k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, size=(1, n, n, 1)).astype(np.float64)
    w = rng.integers(-3, 4, size=(k, k, 1, 1)).astype(np.float64)  # HW(out)(in), TF's transpose layout
    return x, w


def _same(a, b) -> bool:
    return a is not None and a.shape == b.shape and np.array_equal(a, b)


def tf_rows(x, w, n, k, s):
    import tensorflow as tf

    rows = []
    for padding in ("SAME", "VALID"):
        for m in range(1, n * s + k + s + 1):
            try:
                y = tf.nn.conv2d_transpose(x, w, [1, m, m, 1], s, padding).numpy()
            except Exception:  # noqa: BLE001 - TF refuses sizes whose forward conv does not give n
                continue
            rows.append((padding, m, y))
    return rows


def torch_matches(x, w, s, k, y):
    import torch

    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    wt = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))  # (in, out, kh, kw)
    found = []
    for padding in range(0, k + 1):
        for output_padding in range(0, s):
            try:
                out = torch.nn.functional.conv_transpose2d(
                    xt, wt, stride=s, padding=padding, output_padding=output_padding
                )
            except Exception:  # noqa: BLE001 - torch refuses a padding larger than the output
                continue
            if _same(out.numpy().transpose(0, 2, 3, 1), y):
                found.append({"padding": padding, "output_padding": output_padding})
    return found


def jax_matches(x, w, n, s, k, y):
    import jax

    jax.config.update("jax_enable_x64", True)
    found = []

    def run(padding):
        return np.asarray(
            jax.lax.conv_transpose(
                x, w, (s, s), padding, dimension_numbers=("NHWC", "HWIO", "NHWC"), transpose_kernel=True
            )
        )

    for padding in ("SAME", "VALID"):
        if _same(run(padding), y):
            found.append({"padding": padding})
    # Explicit (lo, hi) pads the stride-dilated input: m = (n - 1)*s + 1 + lo + hi - k + 1.
    m = y.shape[1]
    total = m - (n - 1) * s - 1 + k - 1
    for lo in range(-k, total + k + 1):
        hi = total - lo
        try:
            out = run([(lo, hi), (lo, hi)])
        except Exception:  # noqa: BLE001
            continue
        if _same(out, y):
            found.append({"padding": [lo, hi]})
    return found


def keras_matches(x, w, s, k, y):
    import keras

    found = []
    for padding in ("same", "valid"):
        for output_padding in [None, *range(0, s)]:
            try:
                layer = keras.layers.Conv2DTranspose(
                    1, k, strides=s, padding=padding, output_padding=output_padding, use_bias=False, dtype="float64"
                )
                layer.build(x.shape)
                layer.set_weights([w])
                out = np.asarray(layer(x))
            except Exception:  # noqa: BLE001 - Keras refuses output_padding >= stride
                continue
            if _same(out, y):
                found.append({"padding": padding, "output_padding": output_padding})
    return found


def handconv_matches(x, w, m, s, padding, y) -> bool:
    """handconv.conv2d_transpose with TF's own arguments: the same numbers?"""
    import handconv

    return _same(handconv.conv2d_transpose(x, w, [1, m, m, 1], s, padding), y)


def versions() -> dict:
    import jax
    import keras
    import tensorflow as tf
    import torch

    return {
        "tensorflow": tf.__version__,
        "torch": torch.__version__,
        "jax": jax.__version__,
        "keras": keras.__version__,
    }


def build() -> dict:
    cases = []
    for n, k, s in CASES:
        x, w = _data(n, k)
        rows = []
        for padding, m, y in tf_rows(x, w, n, k, s):
            # The transposed convolution is the full (n - 1)*s + k result cropped by the forward
            # convolution's pads: 'before' at the start; whatever remains at the end.
            full = (n - 1) * s + k
            before = shapes.pad_amounts(m, k, s, padding)[0]
            rows.append(
                {
                    "output": m,
                    "full": full,
                    "crop": [before, full - before - m],
                    "tf": {"padding": padding, "output_shape": m},
                    "handconv": handconv_matches(x, w, m, s, padding, y),
                    "torch": torch_matches(x, w, s, k, y),
                    "jax": jax_matches(x, w, n, s, k, y),
                    "keras": keras_matches(x, w, s, k, y),
                }
            )
        # Sizes another library reaches that TF's output_shape does not accept are listed too.
        cases.append({"input": n, "kernel": k, "stride": s, "rows": rows})
        print(f"n={n} k={k} s={s}: {len(rows)} TF call(s)", file=sys.stderr)
    return {
        "generated_by": "scripts/transpose_rosetta.py",
        "generated": time.strftime("%Y-%m-%d"),
        "versions": versions(),
        "note": "one channel in and out, batch 1, the same size/kernel/stride along height and width, "
        "float64 integer-valued data: a match means the same numbers, not only the same shape",
        "cases": cases,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=str(OUTPUT), help=f"JSON to write (default {OUTPUT})")
    args = parser.parse_args(argv)
    data = build()
    from handconv.files import write_text

    write_text(args.output, json.dumps(data, indent=1) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
