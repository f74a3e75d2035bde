"""``handconv verify``: the agreement table, and ``--explain`` for the convention detective."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import numpy as np

from ..errors import HandconvError
from ..plan import parse_ints, parse_padding
from .args import add_seed

EPILOG = """\
examples:
  handconv verify --shape 6,6,3 --kernel edge --stride 2 --padding SAME
  handconv verify --shape 5,5,3 --padding 1 --stride 2            # the article: P=1, S=2
  handconv verify --input photo.jpg --kernel edge --json table.json
  handconv verify --input sample --kernel sobel_x --padding SAME --backends im2col,tf,scipy,cv2
  handconv verify --shape 8,8,4 --kernel w.npy --padding 0,1,1,2 --dilation 2 --dtype float64
  handconv verify --explain out.npy --input in.npy --kernel k.npy  # which convention made out.npy?
  handconv verify --op conv2d_transpose --shape 3,3,4 --kernel edge --stride 2 --padding SAME   # 3x3 -> 6x6
  handconv verify --op conv2d_transpose --shape 3,3,4 --stride 2 --padding SAME --output-shape 5,5

The float64 truth is handconv's by-hand loops. Tolerance per element (fan-in n,
unit roundoff u of the dtype, A = sum |x||w| over the receptive field):
gamma(n+1, u)*A + gamma(n, u64)*A + f*u*max(A), gamma(n, u) = n*u/(1 - n*u),
f = max(4, log2(OH*OW)) (a floor for FFT-like methods). See docs/verify.md.
With --op conv2d_transpose the input is the transposed convolution's input, a 2-D
kernel becomes filters (KH, KW, 1, C_in) (every input channel into one result
channel), and each library is asked in its own terms: TF's output_shape,
PyTorch's padding + output_padding (or a crop), JAX's conv_transpose padding,
Keras' Conv2DTranspose output_padding; a row says why when it cannot.
Exit status 1 when any backend FAILs (with --explain: when no convention
reproduces the output), 2 on bad arguments.
"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="run one convolution through handconv and every installed library, and compare",
        description="Compute one convolution with handconv's methods and TensorFlow (oneDNN on and off), "
        "PyTorch, JAX, SciPy and OpenCV; compare each with a float64 by-hand truth. "
        "With --explain, find the convention that produced someone's output.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_argument_group("input and kernel")
    source.add_argument(
        "--shape",
        default="6,6,3",
        help="random input shape in data-format order without or with batch, e.g. 6,6,3 (default)",
    )
    add_seed(source)
    source.add_argument(
        "--input",
        metavar="FILE",
        help=".npy array, image file or 'sample' (the sample photo) instead of a random input",
    )
    source.add_argument(
        "-k",
        "--kernel",
        default="edge",
        help="kernel: a name or spec ('handconv kernels' lists them: edge, sobel_x, box:5, "
        "[[0,1],[1,0]], ...) or a .npy file, 2-D (applied to every channel and summed), "
        "(KH, KW, C) or (KH, KW, C, C_out) (default: edge, the article's)",
    )
    source.add_argument(
        "--dtype",
        choices=["float16", "float32", "float64", "int32"],
        help="dtype of the input (default float32 for random input, the file's own otherwise)",
    )
    conv = parser.add_argument_group("convolution (as tf.nn.conv2d)")
    conv.add_argument("--stride", "--strides", dest="stride", default="1", help="S or SH,SW (default 1)")
    conv.add_argument(
        "--padding", default="VALID", help="SAME, VALID, P (P on every side) or TOP,BOTTOM,LEFT,RIGHT (default VALID)"
    )
    conv.add_argument("--dilation", "--dilations", dest="dilation", default="1", help="D or DH,DW (default 1)")
    conv.add_argument("--data-format", default="NHWC", choices=["NHWC", "NCHW"])
    conv.add_argument(
        "--op",
        default="conv2d",
        choices=["conv2d", "conv2d_transpose"],
        help="the operation (default conv2d); conv2d_transpose as tf.nn.conv2d_transpose",
    )
    conv.add_argument(
        "--output-shape",
        metavar="H,W[,C]",
        help="conv2d_transpose's result size (default: stride x input for SAME, the full "
        "(n - 1)*s + k_eff for VALID and explicit padding)",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--backends",
        help="comma-separated substrings: only these rows (e.g. handconv,torch); a method name picks that method alone",
    )
    out.add_argument("--json", metavar="PATH", help="also write the table as JSON")
    out.add_argument(
        "--explain", metavar="OUTPUT.npy", help="diagnose: which convention turns --input and --kernel into this output"
    )
    parser.set_defaults(func=run)


def load_array(path: str) -> np.ndarray:
    """A ``.npy`` array as stored, or an image as float32 ``(H, W, C)`` (0..255 for 8-bit files).

    ``sample`` is handconv's sample photo (320x320x3).
    """
    if path == "sample":
        from ..image import sample_photo

        return sample_photo().astype(np.float32)
    if path.lower().endswith(".npy"):
        from ..files import load_npy

        return load_npy(path, "file")
    from ..image import read_image  # Pillow, with the project's size and format checks

    array = read_image(path).astype(np.float32)
    return array[..., None] if array.ndim == 2 else array


def load_kernel(text: str) -> np.ndarray:
    from ..verification import named_kernel

    if text.lower().endswith(".npy"):
        return load_array(text)  # any rank: 3-D and 4-D filters too
    return named_kernel(text)


def build_input(args) -> np.ndarray:
    """The input of rank >= 4 in the chosen data format."""
    if args.input:
        x = load_array(args.input)
        if x.ndim == 2:
            x = x[..., None] if args.data_format == "NHWC" else x[None]
        if x.ndim == 3:
            x = x[None]
    else:
        shape = parse_ints(args.shape, "--shape")
        if len(shape) == 3:
            shape = [1, *shape]
        if len(shape) < 4:
            raise HandconvError(f"--shape {args.shape!r}: expected H,W,C (or N,H,W,C; C,H,W for NCHW)")
        rng = np.random.default_rng(args.seed)
        dtype = args.dtype or "float32"
        x = rng.integers(-9, 10, size=shape) if dtype == "int32" else rng.standard_normal(shape)
        return x.astype(dtype)
    return x.astype(args.dtype) if args.dtype else x


def transpose_output_shape(args, x: np.ndarray, filters: np.ndarray, strides, padding, dilations) -> tuple[int, ...]:
    """``--output-shape`` completed to the result's full shape, or the default size per axis.

    The default is the size users usually mean: ``n * s`` for SAME (the largest SAME allows), the full
    ``(n - 1) * s + k_eff`` for VALID and explicit padding (the smallest), from
    :func:`handconv.shapes.transposed_sizes`.
    """
    from .. import shapes

    nchw = args.data_format == "NCHW"
    spatial = x.shape[-2:] if nchw else x.shape[-3:-1]
    batch = x.shape[:-3]
    channels = filters.shape[2]
    if args.output_shape:
        values = parse_ints(args.output_shape, "--output-shape")
        if len(values) not in (2, 3):
            raise HandconvError(f"--output-shape {args.output_shape!r}: expected H,W or H,W,C")
        if len(values) == 3:
            channels = values[2]
        hw = values[:2]
    else:
        strides = list(strides) * 2 if len(strides) == 1 else list(strides)
        dilations = list(dilations) * 2 if len(dilations) == 1 else list(dilations)
        hw = []
        for axis in (0, 1):
            axis_padding: Any = padding
            if not isinstance(padding, str):
                pair = padding[2 + axis] if nchw else padding[1 + axis]
                axis_padding = tuple(pair)
            sizes = shapes.transposed_sizes(
                spatial[axis], filters.shape[axis], strides[axis], axis_padding, dilations[axis]
            )
            if not len(sizes):
                raise HandconvError(f"no result size maps back to {spatial[axis]} with these arguments")
            hw.append(sizes[-1] if axis_padding == "SAME" else sizes[0])
    return (*batch, channels, *hw) if nchw else (*batch, *hw, channels)


def run_transpose(args) -> int:
    from ..verification import verify_transpose

    x = build_input(args)
    channels = x.shape[-1] if args.data_format == "NHWC" else x.shape[-3]
    kernel = load_kernel(args.kernel)
    if kernel.ndim == 2:
        filters = np.repeat(kernel[:, :, None, None], channels, axis=3)  # every input channel into one
    elif kernel.ndim == 4:
        filters = kernel
    else:
        raise HandconvError(
            f"--kernel has shape {kernel.shape}; conv2d_transpose takes a 2-D kernel or "
            "4-D filters (KH, KW, C_result, C_in)"
        )
    filters = filters.astype(x.dtype)
    strides, dilations = parse_ints(args.stride, "--stride"), parse_ints(args.dilation, "--dilation")
    padding = parse_padding(args.padding, args.data_format)
    output_shape = transpose_output_shape(args, x, filters, strides, padding, dilations)
    backends = [b.strip() for b in args.backends.split(",")] if args.backends else None
    progress = (lambda name: print(f"  running {name} ...", file=sys.stderr)) if sys.stderr.isatty() else None
    report = verify_transpose(
        x, filters, output_shape, strides, padding, args.data_format, dilations, backends=backends, progress=progress
    )
    report.source = {
        "op": f"conv2d_transpose to output_shape {list(output_shape)}",
        "input": args.input or f"random normal, seed {args.seed}",
        "kernel": f"{args.kernel} {kernel.shape}" + (" from every input channel into one" if kernel.ndim == 2 else ""),
    }
    return _print_report(report, args)


def run(args) -> int:
    from ..files import refuse_overwriting_inputs

    # Before any work: the JSON report must not replace an input.
    refuse_overwriting_inputs(
        [("--json", args.json)],
        [
            ("--input", args.input),
            ("--kernel", args.kernel if os.path.isfile(args.kernel) else None),
            ("--explain", args.explain),
        ],
    )
    if args.explain:
        return run_explain(args)
    if args.op == "conv2d_transpose":
        return run_transpose(args)
    if args.output_shape:
        raise HandconvError("--output-shape is for --op conv2d_transpose")
    from ..verification import kernel_to_filters, verify

    x = build_input(args)
    channels = x.shape[-1] if args.data_format == "NHWC" else x.shape[-3]
    kernel = load_kernel(args.kernel)
    filters = kernel_to_filters(kernel, channels)
    if x.dtype.kind == "i" and not np.array_equal(filters, np.trunc(filters)):
        raise HandconvError(f"--kernel {args.kernel!r} has fractional values; use a float --dtype with int kernels")
    filters = filters.astype(x.dtype)
    backends = [b.strip() for b in args.backends.split(",")] if args.backends else None
    progress = (lambda name: print(f"  running {name} ...", file=sys.stderr)) if sys.stderr.isatty() else None
    report = verify(
        x,
        filters,
        parse_ints(args.stride, "--stride"),
        parse_padding(args.padding, args.data_format),
        args.data_format,
        parse_ints(args.dilation, "--dilation"),
        backends=backends,
        progress=progress,
    )
    report.source = {
        "input": args.input or f"random normal, seed {args.seed}",
        "kernel": f"{args.kernel} {kernel.shape}" + (" on every channel, summed" if kernel.ndim == 2 else ""),
    }
    return _print_report(report, args)


def _print_report(report: Any, args: argparse.Namespace) -> int:
    """The agreement table on stdout (and as JSON with --json); exit 1 when a backend disagrees."""
    print(report.table())
    if args.json:
        report.write_json(args.json)
        print(f"wrote {args.json}")
    return 0 if report.ok else 1


def run_explain(args) -> int:
    from ..verification.detective import diagnose, diagnose_transpose

    if not args.input:
        raise HandconvError("--explain needs --input (the input that produced the output)")
    output = load_array(args.explain)
    x = load_array(args.input)
    kernel = load_kernel(args.kernel)
    if args.op == "conv2d_transpose":
        diagnosis = diagnose_transpose(x, kernel, output)
    else:
        diagnosis = diagnose(x, kernel, output)
        if not diagnosis.found and output.size > x.size:
            # Larger than the input: perhaps a transposed convolution (an upsampling layer).
            transposed = diagnose_transpose(x, kernel, output)
            if transposed.found:
                diagnosis = transposed
    print(f"input {x.shape} {x.dtype}, kernel {kernel.shape}, output {output.shape} {output.dtype}")
    print(diagnosis.report())
    print("(in the call: x is the input array, k the kernel array, as loaded)")
    return 0 if diagnosis.found else 1
