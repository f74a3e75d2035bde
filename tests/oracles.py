"""Live references, called as directly as each library allows.

These adapters hold no handconv code: each translates tf.nn.conv2d-style
arguments to the library's own API in the plainest way, so that a test
comparing handconv to them is an independent check.
"""

from __future__ import annotations

import numpy as np
from conftest import reference


def tf_conv2d(x, w, strides=1, padding="VALID", data_format="NHWC", dilations=None):
    """``tf.nn.conv2d`` with its reference CPU kernel; NCHW through the NHWC problem.

    The reference kernel only computes NHWC on CPU, so an NCHW call is made on
    the transposed input (and its 4-value strides/dilations/padding permuted)
    and the result transposed back.
    """
    tf = reference("tensorflow")
    if data_format == "NCHW":
        x = np.moveaxis(np.asarray(x), -3, -1)
        strides, dilations = _nchw_to_nhwc(strides), _nchw_to_nhwc(dilations)
        if isinstance(padding, (list, tuple)):
            padding = [padding[0], padding[2], padding[3], padding[1]]
        out = tf.nn.conv2d(x, w, strides, padding, "NHWC", dilations).numpy()
        return np.moveaxis(out, -1, -3)
    return tf.nn.conv2d(x, w, strides, padding, data_format, dilations).numpy()


def _nchw_to_nhwc(value):
    if isinstance(value, (list, tuple)) and len(value) == 4:
        return [value[0], value[2], value[3], value[1]]
    return value


def torch_conv2d(x_nhwc, w_hwio, strides, pad_amounts, dilations, groups=1):
    """``torch.nn.functional.conv2d`` on NHWC/HWIO arrays with explicit (possibly asymmetric) pads.

    PyTorch pads symmetrically only, so asymmetric pads go through ``F.pad`` first.
    """
    torch = reference("torch")
    x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x_nhwc, -1, 1)))
    w = torch.from_numpy(np.ascontiguousarray(np.transpose(w_hwio, (3, 2, 0, 1))))
    (top, bottom), (left, right) = pad_amounts
    x = torch.nn.functional.pad(x, (left, right, top, bottom))
    out = torch.nn.functional.conv2d(x, w, stride=tuple(strides), dilation=tuple(dilations), groups=groups)
    return np.moveaxis(out.numpy(), 1, -1)


def jax_conv2d(x_nhwc, w_hwio, strides, padding, dilations, groups=1):
    """``jax.lax.conv_general_dilated`` in NHWC/HWIO at highest precision, float64 enabled."""
    jax = reference("jax")
    jax.config.update("jax_enable_x64", True)
    if not isinstance(padding, str):
        padding = [tuple(p) for p in padding]
    out = jax.lax.conv_general_dilated(
        x_nhwc,
        w_hwio,
        window_strides=tuple(strides),
        padding=padding,
        rhs_dilation=tuple(dilations),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=groups,
        precision=jax.lax.Precision.HIGHEST,
    )
    return np.asarray(out)
