"""Adapters that ask other libraries for the same convolution handconv computes.

Each :class:`Reference` translates one :class:`~handconv.plan.ConvPlan` plus the
canonical arrays (input ``(N, H, W, C)``, filters ``(KH, KW, C / groups,
C_out)``, both in ``plan.dtype``) into the library's own call and returns the
result in canonical layout ``(N, OH, OW, C_out)``. Before running, it says how it
translated the call (layout, padding, kernel flip, cropping) or, when the
library's API has no way to say it, why not: :class:`CannotExpress`.

The translations use only what each library offers plus three bookkeeping steps
that change no arithmetic: transposing layouts, cropping a larger output, and
(where a library's own padding cannot be asymmetric) the library's own pad
function. They never emulate stride by subsampling or dilation by inserting
zeros into the kernel: a library without a ``stride`` argument "cannot express"
a strided convolution, and the row says so.

Libraries are imported only when a reference runs; a missing one raises
:class:`MissingLibrary`, which names the extra that installs it.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..plan import ConvPlan

__all__ = [
    "Reference",
    "CannotExpress",
    "MissingLibrary",
    "BackendCrashed",
    "REFERENCES",
    "TRANSPOSE_REFERENCES",
    "transposed_crops",
    "reference_names",
    "onednn_in_process",
    "tf_conv2d_raw",
    "clean_message",
    "load_tensorflow",
    "tensorflow_environment",
]


class CannotExpress(Exception):
    """The library's API has no way to state this configuration (the message says why)."""


class MissingLibrary(Exception):
    """The library is not installed; the message names the extra that installs it."""


class BackendCrashed(RuntimeError):
    """A reference run in a subprocess timed out or was killed (not a refusal)."""


@dataclass(frozen=True)
class Reference:
    """One library call that should reproduce ``handconv.conv2d``.

    Attributes
    ----------
    name : str
        Row label, e.g. ``"torch F.conv2d (padding='same')"``.
    module : str
        Import name of the library (``"torch"``).
    extra : str
        The handconv extra that installs it (``"torch"``).
    translate : callable
        ``translate(plan) -> str``: how the call is expressed, or raises
        :class:`CannotExpress` with the reason.
    run : callable
        ``run(x, filters, plan) -> ndarray of shape (N, OH, OW, C_out)``.
    transform : bool
        True when the library may use an FFT (``scipy.signal``'s ``method='auto'``).
    """

    name: str
    module: str
    extra: str
    translate: Callable[[ConvPlan], str]
    run: Callable[[np.ndarray, np.ndarray, ConvPlan], np.ndarray]
    #: It may compute through a transform (FFT): judged with the norm-wise tolerance.
    transform: bool = False

    def load(self):
        """Import the library, or raise :class:`MissingLibrary` naming the extra."""
        if self.module == "tensorflow":
            tensorflow_environment(reference_kernel=False)  # oneDNN as the caller set it: both are compared
        try:
            return importlib.import_module(self.module)
        except ImportError as error:
            raise MissingLibrary(
                f"{self.module} is not installed ({error.__class__.__name__}); pip install 'handconv[{self.extra}]'"
            ) from None

    def version(self) -> str:
        """The library's version string (imports it)."""
        module = self.load()
        return str(getattr(module, "__version__", "?"))


# ----------------------------------------------------------------- helpers
def clean_message(error: BaseException | str, limit: int = 300) -> str:
    """A library's error message on one line, without TF's ``{{function_node ...}}`` noise.

    >>> clean_message("tensorflow.python.framework.errors_impl.InvalidArgumentError: "
    ...               "{{function_node __wrapped__Conv2D_device_/job:localhost}} Nonzero padding")
    'InvalidArgumentError: Nonzero padding'
    """
    text = " ".join(str(error).split())
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
    text = re.sub(r"^(?:[A-Za-z_][\w]*\.)+(\w+(?:Error|Exception)):", r"\1:", text)
    text = re.sub(r"\s*\[Op:\w+\]( name:\s*\S*)?", "", text)
    text = re.sub(r"\s*;\s*NodeDef:.*$", "", text)  # the op's whole signature follows
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pads(plan: ConvPlan) -> tuple[int, int, int, int]:
    (top, bottom), (left, right) = plan.pad_amounts
    return top, bottom, left, right


def _pad_text(plan: ConvPlan) -> str:
    top, bottom, left, right = _pads(plan)
    return f"top {top}, bottom {bottom}, left {left}, right {right}"


def _group_pairs(plan: ConvPlan):
    """(output channel, input channel, channel inside the filter) for every 2-D product summed."""
    per_group, group_size = plan.out_channels_per_group, plan.filter_in_channels
    for out_channel in range(plan.out_channels):
        first = (out_channel // per_group) * group_size
        for inner in range(group_size):
            yield out_channel, first + inner, inner


def _per_channel_2d(x: np.ndarray, filters: np.ndarray, plan: ConvPlan, filter_2d) -> np.ndarray:
    """Sum 2-D filterings over input channels, one output channel at a time.

    ``filter_2d(image, kernel) -> (OH, OW)`` is one library call on one channel
    with one 2-D kernel; the channel sum is the article's "applied to every
    channel and summed".
    """
    out = None
    for n in range(plan.batch):
        for out_channel, channel, inner in _group_pairs(plan):
            plane = filter_2d(x[n, :, :, channel], filters[:, :, inner, out_channel])
            if out is None:
                out = np.zeros(plan.output_shape, dtype=np.result_type(plane.dtype, x.dtype))
            out[n, :, :, out_channel] += plane
    assert out is not None  # a plan has at least one output channel
    return out


# ----------------------------------------------------------------- TensorFlow
def tensorflow_environment(reference_kernel: bool) -> None:
    """Set TensorFlow's environment before it loads; settings the user made win.

    No start-up banner (``TF_CPP_MIN_LOG_LEVEL=2``); with ``reference_kernel``, TF's
    reference convolution rather than its default oneDNN CPU path, which reorders
    sums (``TF_ENABLE_ONEDNN_OPTS=0``): the one handconv compares a picture against.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if reference_kernel:
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def load_tensorflow() -> Any | None:
    """TensorFlow with :func:`tensorflow_environment` (reference kernel), or None when it is not installed."""
    tensorflow_environment(reference_kernel=True)
    try:
        import tensorflow as tf
    except ImportError:
        return None
    return tf


def onednn_in_process() -> bool:
    """Whether TensorFlow in this process runs (or will run) with oneDNN.

    TF reads ``TF_ENABLE_ONEDNN_OPTS`` once, when it loads; on x86 Linux it is on
    unless the variable says ``0``.
    """
    return os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").strip().lower() not in ("0", "false", "off")


def _tf_arguments(plan: ConvPlan) -> dict:
    (sh, sw), (dh, dw) = plan.strides, plan.dilations
    padding: Any = plan.padding
    if plan.padding == "EXPLICIT":
        padding = [[0, 0], list(plan.pad_amounts[0]), list(plan.pad_amounts[1]), [0, 0]]
    return {"strides": [1, sh, sw, 1], "padding": padding, "dilations": [1, dh, dw, 1]}


def _tf_translate(plan: ConvPlan, onednn: bool) -> str:
    arguments = _tf_arguments(plan)
    where = "this process" if onednn == onednn_in_process() else "a subprocess"
    layout = "NHWC/HWIO" + (
        " (NCHW input transposed: TF's CPU kernel computes NHWC only)" if plan.data_format == "NCHW" else ""
    )
    return (
        f"{layout}, padding={arguments['padding']!r}, strides {arguments['strides']}, "
        f"dilations {arguments['dilations']}; TF_ENABLE_ONEDNN_OPTS={int(onednn)} in {where}"
    )


def tf_conv2d_raw(x: np.ndarray, filters: np.ndarray, arguments: dict, onednn: bool) -> np.ndarray:
    """``tf.nn.conv2d(x, filters, **arguments)`` with oneDNN on or off.

    Runs in this process when its oneDNN setting is the one asked for, else in
    a fresh interpreter with ``TF_ENABLE_ONEDNN_OPTS`` set (arrays travel through
    a temporary ``.npz``; the subprocess is killed after
    ``TF_SUBPROCESS_TIMEOUT`` seconds). TensorFlow's own errors are re-raised as
    ``RuntimeError`` with its message; a timeout or a crash as
    :class:`BackendCrashed`.
    """
    if onednn == onednn_in_process():
        tensorflow_environment(reference_kernel=False)
        tf = importlib.import_module("tensorflow")
        return tf.nn.conv2d(x, filters, **arguments).numpy()
    return _tf_run_subprocess(x, filters, arguments, onednn)


#: Runs one tf.nn.conv2d in a fresh interpreter: arrays in and out through .npz files.
_TF_SUBPROCESS = r"""
import json, sys
import numpy as np
import tensorflow as tf
data = np.load(sys.argv[1])
arguments = json.loads(sys.argv[2])
try:
    out = tf.nn.conv2d(data["x"], data["filters"], **arguments)
except Exception as error:
    print("HANDCONV-ERROR " + type(error).__name__ + ": " + " ".join(str(error).split()), file=sys.stderr)
    sys.exit(3)
np.save(sys.argv[3], out.numpy())
"""

#: Seconds the oneDNN-variant subprocess may take (importing TF takes a few).
TF_SUBPROCESS_TIMEOUT = 180


def _tf_run_subprocess(x: np.ndarray, filters: np.ndarray, arguments: dict, onednn: bool) -> np.ndarray:
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1" if onednn else "0", TF_CPP_MIN_LOG_LEVEL="2")
    with tempfile.TemporaryDirectory(prefix="handconv-tf-") as folder:
        inputs = os.path.join(folder, "inputs.npz")
        output = os.path.join(folder, "output.npy")
        np.savez(inputs, x=x, filters=filters)
        try:
            done = subprocess.run(
                [sys.executable, "-c", _TF_SUBPROCESS, inputs, json.dumps(arguments), output],
                env=env,
                capture_output=True,
                text=True,
                timeout=TF_SUBPROCESS_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise BackendCrashed(f"TensorFlow subprocess took more than {TF_SUBPROCESS_TIMEOUT} s") from None
        if done.returncode != 0:
            lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
            reported = [line.removeprefix("HANDCONV-ERROR ") for line in lines if line.startswith("HANDCONV-ERROR ")]
            message = (reported or lines or [f"exit status {done.returncode}"])[-1]
            if done.returncode < 0:
                raise BackendCrashed(f"TensorFlow process killed by signal {-done.returncode} ({message})")
            raise RuntimeError(message)
        return np.load(output)


def _tf_reference(onednn: bool) -> Reference:
    def run(x, filters, plan):
        return tf_conv2d_raw(x, filters, dict(_tf_arguments(plan), data_format="NHWC"), onednn)

    return Reference(
        name=f"tf.nn.conv2d (oneDNN {'on' if onednn else 'off'})",
        module="tensorflow",
        extra="tf",
        translate=lambda plan: _tf_translate(plan, onednn),
        run=run,
    )


# ----------------------------------------------------------------- PyTorch
def _torch_arrays(x: np.ndarray, filters: np.ndarray):
    torch = importlib.import_module("torch")
    # Copies: torch wants writable arrays, and handconv's inputs are read-only views.
    x_nchw = torch.from_numpy(np.array(np.moveaxis(x, -1, 1), order="C"))
    w_oihw = torch.from_numpy(np.array(np.transpose(filters, (3, 2, 0, 1)), order="C"))
    return torch, x_nchw, w_oihw


def _torch_string_padding(plan: ConvPlan):
    """PyTorch's own ``padding=`` for this plan, or :class:`CannotExpress`."""
    top, bottom, left, right = _pads(plan)
    if plan.padding == "SAME":
        # PyTorch's 'same' is TF's SAME for stride 1; it refuses strides > 1 (it raises, see run).
        return "same"
    if plan.padding == "VALID":
        return "valid"
    if top != bottom or left != right:
        raise CannotExpress(
            f"padding= takes one amount per side pair, applied to both sides; explicit "
            f"{_pad_text(plan)} is asymmetric (use F.pad first: next row)"
        )
    return (top, left)


def _torch_translate_string(plan: ConvPlan) -> str:
    padding = _torch_string_padding(plan)
    return f"NCHW/OIHW, padding={padding!r}, stride={plan.strides}, dilation={plan.dilations}, groups={plan.groups}"


def _torch_run_string(x, filters, plan):
    torch, x_nchw, w_oihw = _torch_arrays(x, filters)
    with warnings.catch_warnings():  # 'same' with an even kernel warns that it copies the input
        warnings.simplefilter("ignore", UserWarning)
        out = torch.nn.functional.conv2d(
            x_nchw,
            w_oihw,
            stride=plan.strides,
            padding=_torch_string_padding(plan),
            dilation=plan.dilations,
            groups=plan.groups,
        )
    return np.moveaxis(out.numpy(), 1, -1)


def _torch_translate_pad(plan: ConvPlan) -> str:
    top, bottom, left, right = _pads(plan)
    return (
        f"NCHW/OIHW, F.pad(x, ({left}, {right}, {top}, {bottom})) then padding=0, "
        f"stride={plan.strides}, dilation={plan.dilations}, groups={plan.groups}"
    )


def _torch_run_pad(x, filters, plan):
    torch, x_nchw, w_oihw = _torch_arrays(x, filters)
    top, bottom, left, right = _pads(plan)
    padded = torch.nn.functional.pad(x_nchw, (left, right, top, bottom))
    out = torch.nn.functional.conv2d(
        padded, w_oihw, stride=plan.strides, padding=0, dilation=plan.dilations, groups=plan.groups
    )
    return np.moveaxis(out.numpy(), 1, -1)


# ----------------------------------------------------------------- JAX
def _jax_x64() -> Any:
    """JAX, with float64 enabled (otherwise float64 is silently computed in float32)."""
    jax = importlib.import_module("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


def _jax_padding(plan: ConvPlan):
    if plan.padding in ("SAME", "VALID"):
        return plan.padding
    return [tuple(plan.pad_amounts[0]), tuple(plan.pad_amounts[1])]


def _jax_translate(plan: ConvPlan) -> str:
    return (
        f"dimension_numbers ('NHWC', 'HWIO', 'NHWC'), padding={_jax_padding(plan)!r}, "
        f"window_strides={plan.strides}, rhs_dilation={plan.dilations}, "
        f"feature_group_count={plan.groups}, precision HIGHEST, x64 enabled"
    )


def _jax_run(x, filters, plan):
    jax = _jax_x64()
    out = jax.lax.conv_general_dilated(
        x,
        filters,
        window_strides=plan.strides,
        padding=_jax_padding(plan),
        rhs_dilation=plan.dilations,
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=plan.groups,
        precision=jax.lax.Precision.HIGHEST,
    )
    return np.asarray(out)


# ----------------------------------------------------------------- SciPy and OpenCV
def _no_stride_or_dilation(plan: ConvPlan, library: str, stride: bool = True, dilation: bool = True) -> None:
    if stride and plan.strides != (1, 1):
        raise CannotExpress(f"{library} has no stride (strides={plan.strides})")
    if dilation and plan.dilations != (1, 1):
        raise CannotExpress(f"{library} has no dilation (dilations={plan.dilations})")


def _full_crop(plan: ConvPlan) -> tuple[slice, slice]:
    """Rows and columns of a 'full' correlation (pad k - 1 everywhere) that the plan's output is."""
    (kh, kw), (top, bottom, left, right) = plan.filter_hw, _pads(plan)
    if top > kh - 1 or bottom > kh - 1 or left > kw - 1 or right > kw - 1:
        raise CannotExpress(
            f"padding ({_pad_text(plan)}) reaches beyond mode='full' (at most filter size - 1 "
            f"= {kh - 1}x{kw - 1} zeros per side)"
        )
    first_row, first_col = kh - 1 - top, kw - 1 - left
    (oh, ow) = plan.output_hw
    return slice(first_row, first_row + oh), slice(first_col, first_col + ow)


def _signal_translate(plan: ConvPlan) -> str:
    _no_stride_or_dilation(plan, "scipy.signal.correlate")
    rows, cols = _full_crop(plan)
    return (
        f"correlate(channel, kernel, mode='full', method='auto': FFT for large arrays) per (input, output) "
        f"channel pair, summed; "
        f"rows {rows.start}:{rows.stop}, cols {cols.start}:{cols.stop} of it ({_pad_text(plan)})"
    )


def _signal_run(x, filters, plan):
    signal = importlib.import_module("scipy.signal")
    rows, cols = _full_crop(plan)
    return _per_channel_2d(
        x, filters, plan, lambda image, kernel: signal.correlate(image, kernel, mode="full")[rows, cols]
    )


def _same_size_window(
    plan: ConvPlan, centre: tuple[int, int], shift_range
) -> tuple[tuple[int, int], tuple[slice, slice]]:
    """For a same-size filter (SciPy ndimage, OpenCV): the anchor shift and the output crop.

    Such a filter's output ``i`` reads input rows ``i - anchor ... i - anchor + k - 1``;
    the plan's output ``oy`` reads rows ``oy - top ...``. So ``i = oy - top + anchor``
    must stay inside the image for every output row; the anchor is moved (inside
    the library's allowed range) when the centred one does not fit.
    """
    anchors, crops = [], []
    for axis in (0, 1):
        size, out = plan.input_hw[axis], plan.output_hw[axis]
        before = plan.pad_amounts[axis][0]
        low, high = shift_range(plan.filter_hw[axis])
        for anchor in sorted(range(low, high + 1), key=lambda a: abs(a - centre[axis])):
            first = -before + anchor
            if first >= 0 and first + out - 1 <= size - 1:
                break
        else:
            raise CannotExpress(
                f"its output is input-sized and no anchor puts the {('height', 'width')[axis]} "
                f"window ({_pad_text(plan)}) inside it"
            )
        anchors.append(anchor)
        crops.append(slice(first, first + out))
    return (anchors[0], anchors[1]), (crops[0], crops[1])


def _ndimage_window(plan: ConvPlan):
    kh, kw = plan.filter_hw
    # ndimage: window starts at i - (k // 2 + origin); origin in [-(k // 2), (k - 1) // 2],
    # so the anchor k // 2 + origin ranges over 0 .. k - 1, as OpenCV's does.
    anchors, crops = _same_size_window(plan, (kh // 2, kw // 2), lambda k: (0, k - 1))
    origins = (anchors[0] - kh // 2, anchors[1] - kw // 2)
    return origins, crops


def _ndimage_translate(plan: ConvPlan) -> str:
    _no_stride_or_dilation(plan, "scipy.ndimage.correlate")
    origins, (rows, cols) = _ndimage_window(plan)
    return (
        f"correlate(channel, kernel, mode='constant', cval=0, origin={origins}) per channel pair, "
        f"summed; rows {rows.start}:{rows.stop}, cols {cols.start}:{cols.stop} of the input-sized output"
    )


def _ndimage_run(x, filters, plan):
    ndimage = importlib.import_module("scipy.ndimage")
    origins, (rows, cols) = _ndimage_window(plan)
    return _per_channel_2d(
        x,
        filters,
        plan,
        lambda image, kernel: ndimage.correlate(image, kernel, mode="constant", cval=0.0, origin=origins)[rows, cols],
    )


def _opencv_window(plan: ConvPlan):
    kh, kw = plan.filter_hw
    return _same_size_window(plan, (kh // 2, kw // 2), lambda k: (0, k - 1))


def _opencv_translate(plan: ConvPlan) -> str:
    _no_stride_or_dilation(plan, "cv2.filter2D")
    (ay, ax), (rows, cols) = _opencv_window(plan)
    return (
        f"filter2D(channel, -1, kernel, anchor=({ax}, {ay}), borderType=BORDER_CONSTANT) per channel "
        f"pair, summed; rows {rows.start}:{rows.stop}, cols {cols.start}:{cols.stop} (no flip: it correlates)"
    )


def _opencv_run(x, filters, plan):
    cv2 = importlib.import_module("cv2")
    (ay, ax), (rows, cols) = _opencv_window(plan)

    def filter_2d(image, kernel):
        out = cv2.filter2D(
            np.ascontiguousarray(image),
            -1,
            np.ascontiguousarray(kernel),
            anchor=(ax, ay),
            borderType=cv2.BORDER_CONSTANT,
        )
        return out[rows, cols]

    return _per_channel_2d(x, filters, plan, filter_2d)


# ----------------------------------------------------------------- the table
REFERENCES: dict[str, Reference] = {
    ref.name: ref
    for ref in (
        _tf_reference(onednn=False),
        _tf_reference(onednn=True),
        Reference("torch F.conv2d (padding string/int)", "torch", "torch", _torch_translate_string, _torch_run_string),
        Reference("torch F.pad + F.conv2d", "torch", "torch", _torch_translate_pad, _torch_run_pad),
        Reference("jax.lax.conv_general_dilated", "jax", "jax", _jax_translate, _jax_run),
        Reference("scipy.signal.correlate", "scipy", "scipy", _signal_translate, _signal_run, transform=True),
        Reference("scipy.ndimage.correlate", "scipy", "scipy", _ndimage_translate, _ndimage_run),
        Reference("cv2.filter2D", "cv2", "opencv", _opencv_translate, _opencv_run),
    )
}


def reference_names() -> list[str]:
    """Names of every reference, in table order."""
    return list(REFERENCES)


# ----------------------------------------------------------------- transposed convolution
# A transposed convolution is the input gradient of a forward convolution: the plan these references
# receive is that *forward* plan (handconv.plan.transposed_plan), ``x`` the transposed convolution's
# input (N, OH, OW, C_out), ``filters`` the forward filters (KH, KW, C / groups, C_out), and the result
# is (N, H, W, C). The full result, ``(OH - 1)*s + (K - 1)*d + 1`` pixels per axis, is cropped by the
# forward convolution's pads: ``before`` at the start and whatever remains at the end (negative: zeros
# no input reaches are added there).
def transposed_crops(plan: ConvPlan) -> tuple[tuple[int, int], ...]:
    """``(start, end)`` crop of the full transposed result, per spatial axis.

    >>> from handconv.plan import transposed_plan
    >>> transposed_crops(transposed_plan((1, 3, 3, 1), (3, 3, 1, 1), (1, 6, 6, 1), 2, "SAME"))
    ((0, 1), (0, 1))
    """
    crops = []
    for n, m, k, s, d, (before, _) in zip(
        plan.output_hw, plan.input_hw, plan.filter_hw, plan.strides, plan.dilations, plan.pad_amounts
    ):
        full = (n - 1) * s + (k - 1) * d + 1
        crops.append((before, full - before - m))
    return tuple(crops)


def _tf_transpose_translate(plan: ConvPlan) -> str:
    arguments = _tf_arguments(plan)
    return (
        f"tf.nn.conv2d_transpose(x, filters, output_shape={list(plan.input_shape)}, NHWC, "
        f"padding={arguments['padding']!r}, strides {arguments['strides']}, dilations {arguments['dilations']}; "
        f"TF_ENABLE_ONEDNN_OPTS={int(onednn_in_process())} in this process"
    )


def _tf_transpose_run(x, filters, plan):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tf = importlib.import_module("tensorflow")
    return tf.nn.conv2d_transpose(x, filters, list(plan.input_shape), data_format="NHWC", **_tf_arguments(plan)).numpy()


def _torch_output_padding(plan: ConvPlan) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """PyTorch's ``padding`` and ``output_padding`` for this crop, or :class:`CannotExpress`."""
    padding, output_padding = [], []
    for axis, (start, end) in enumerate(transposed_crops(plan)):
        limit = max(plan.strides[axis], plan.dilations[axis])
        extra = start - end
        if not 0 <= extra < limit:
            raise CannotExpress(
                f"the result is cropped {start} at the start and {end} at the end of the "
                f"{('height', 'width')[axis]}; padding= crops both ends alike and output_padding "
                f"(0..{limit - 1}) gives back only at the end (it would need output_padding={extra}; "
                "crop a padding=0 result instead: next row)"
            )
        padding.append(start)
        output_padding.append(extra)
    return tuple(padding), tuple(output_padding)


def _torch_transpose_arrays(x, filters):
    torch = importlib.import_module("torch")
    x_nchw = torch.from_numpy(np.array(np.moveaxis(x, -1, 1), order="C"))
    # conv_transpose2d's weight is (in_channels, out_channels / groups, KH, KW): the forward OIHW's I and O.
    w = torch.from_numpy(np.array(np.transpose(filters, (3, 2, 0, 1)), order="C"))
    return torch, x_nchw, w


def _torch_transpose_translate(plan: ConvPlan) -> str:
    padding, output_padding = _torch_output_padding(plan)
    return (
        f"F.conv_transpose2d NCHW, weight (C_in, C_out/groups, KH, KW), stride={plan.strides}, "
        f"padding={padding}, output_padding={output_padding}, dilation={plan.dilations}, groups={plan.groups}"
    )


def _torch_transpose_run(x, filters, plan):
    torch, x_nchw, w = _torch_transpose_arrays(x, filters)
    padding, output_padding = _torch_output_padding(plan)
    out = torch.nn.functional.conv_transpose2d(
        x_nchw,
        w,
        stride=plan.strides,
        padding=padding,
        output_padding=output_padding,
        groups=plan.groups,
        dilation=plan.dilations,
    )
    return np.moveaxis(out.numpy(), 1, -1)


def _torch_crop_arguments(plan: ConvPlan):
    extras = []
    for axis, (_start, end) in enumerate(transposed_crops(plan)):
        limit = max(plan.strides[axis], plan.dilations[axis])
        extra = max(-end, 0)
        if extra >= limit:
            raise CannotExpress(
                f"{extra} zero rows/columns would be added at the end; output_padding takes 0..{limit - 1}"
            )
        extras.append(extra)
    return tuple(extras)


def _torch_transpose_crop_translate(plan: ConvPlan) -> str:
    extras = _torch_crop_arguments(plan)
    (t, _), (left, _) = transposed_crops(plan)
    (h, w) = plan.input_hw
    return (
        f"F.conv_transpose2d with padding=0, output_padding={extras}, stride={plan.strides}, "
        f"dilation={plan.dilations}, groups={plan.groups}, then rows {t}:{t + h}, cols {left}:{left + w}"
    )


def _torch_transpose_crop_run(x, filters, plan):
    torch, x_nchw, w = _torch_transpose_arrays(x, filters)
    extras = _torch_crop_arguments(plan)
    out = torch.nn.functional.conv_transpose2d(
        x_nchw, w, stride=plan.strides, padding=0, output_padding=extras, groups=plan.groups, dilation=plan.dilations
    )
    (t, _), (left, _) = transposed_crops(plan)
    (h, wd) = plan.input_hw
    return np.moveaxis(out.numpy()[:, :, t : t + h, left : left + wd], 1, -1)


def _jax_transpose_padding(plan: ConvPlan):
    if plan.groups > 1:
        raise CannotExpress(f"jax.lax.conv_transpose has no feature_group_count (groups={plan.groups})")
    pads = []
    for (start, end), k, d in zip(transposed_crops(plan), plan.filter_hw, plan.dilations):
        reach = (k - 1) * d
        pads.append((reach - start, reach - end))
    return pads


def _jax_transpose_translate(plan: ConvPlan) -> str:
    return (
        f"jax.lax.conv_transpose NHWC/HWIO, transpose_kernel=True, padding={_jax_transpose_padding(plan)} "
        f"(pads of the stride-dilated input: (K-1)*d minus the crop), strides={plan.strides}, "
        f"rhs_dilation={plan.dilations}, precision HIGHEST, x64 enabled"
    )


def _jax_transpose_run(x, filters, plan):
    jax = _jax_x64()
    out = jax.lax.conv_transpose(
        x,
        filters,
        plan.strides,
        _jax_transpose_padding(plan),
        rhs_dilation=plan.dilations,
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        transpose_kernel=True,
        precision=jax.lax.Precision.HIGHEST,
    )
    return np.asarray(out)


def _keras_arguments(plan: ConvPlan):
    """Keras Conv2DTranspose's ``padding`` and ``output_padding`` giving TF's call, or :class:`CannotExpress`."""
    if plan.padding not in ("SAME", "VALID"):
        raise CannotExpress("Conv2DTranspose takes padding 'same' or 'valid' only, not explicit amounts")
    if plan.groups > 1:
        raise CannotExpress(f"Conv2DTranspose has no groups (groups={plan.groups})")
    defaults, output_padding = [], []
    for n, m, k, s, d in zip(plan.output_hw, plan.input_hw, plan.filter_hw, plan.strides, plan.dilations):
        k_eff = (k - 1) * d + 1
        # keras.src.utils.conv_utils.deconv_output_length, without and with output_padding.
        default = n * s if plan.padding == "SAME" else n * s + max(k_eff - s, 0)
        base = (n - 1) * s + k_eff - (2 * (k_eff // 2) if plan.padding == "SAME" else 0)
        extra = m - base
        if m != default and not 0 <= extra < s:
            raise CannotExpress(f"output size {m} needs output_padding={extra}; Keras takes 0..{s - 1}")
        defaults.append(m == default)
        output_padding.append(extra)
    return plan.padding.lower(), (None if all(defaults) else tuple(output_padding))


def _keras_translate(plan: ConvPlan) -> str:
    padding, output_padding = _keras_arguments(plan)
    return (
        f"keras.layers.Conv2DTranspose({plan.in_channels}, {plan.filter_hw}, strides={plan.strides}, "
        f"padding={padding!r}, output_padding={output_padding}, dilation_rate={plan.dilations}, use_bias=False), "
        "kernel = the filters (KH, KW, C_out, C_in)"
    )


def _keras_run(x, filters, plan):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    keras = importlib.import_module("keras")
    padding, output_padding = _keras_arguments(plan)
    layer = keras.layers.Conv2DTranspose(
        plan.in_channels,
        plan.filter_hw,
        strides=plan.strides,
        padding=padding,
        output_padding=output_padding,
        dilation_rate=plan.dilations,
        use_bias=False,
        dtype=str(x.dtype),
    )
    layer.build(x.shape)
    layer.set_weights([filters])
    return np.asarray(layer(x))


TRANSPOSE_REFERENCES: dict[str, Reference] = {
    ref.name: ref
    for ref in (
        Reference("tf.nn.conv2d_transpose", "tensorflow", "tf", _tf_transpose_translate, _tf_transpose_run),
        Reference(
            "torch F.conv_transpose2d (padding, output_padding)",
            "torch",
            "torch",
            _torch_transpose_translate,
            _torch_transpose_run,
        ),
        Reference(
            "torch F.conv_transpose2d + crop",
            "torch",
            "torch",
            _torch_transpose_crop_translate,
            _torch_transpose_crop_run,
        ),
        Reference("jax.lax.conv_transpose", "jax", "jax", _jax_transpose_translate, _jax_transpose_run),
        Reference("keras Conv2DTranspose", "keras", "keras", _keras_translate, _keras_run),
    )
}
