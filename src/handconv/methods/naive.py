"""The by-hand method: the article's arithmetic, written literally, in any number of dimensions.

For every output position: take the receptive field, multiply it by the filter,
sum over the filter's taps and channels. Nothing is vectorised beyond that one
product, so every number can be followed with a pencil. It is slow, and it is
the ground truth the tests hold every other method to.

It runs every plan, the general ones too (see :mod:`handconv.plan`): the input
is dilated and padded once by ``plan.pad`` (zeros between samples for a
transposed convolution, a crop for a negative pad), and then it is the same
loop. Feature groups pick the input channels an output channel sees; batch
groups (the filter gradient of a grouped convolution) pick the images.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..plan import ConvPlan


def conv_naive(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Convolve by hand.

    Parameters
    ----------
    x : ndarray of shape (N, *spatial, C)
        Canonical input, e.g. (N, H, W, C), in ``plan.compute_dtype``.
    filters : ndarray of shape (*K, C / groups, C_out)
    plan : ConvPlan

    Returns
    -------
    ndarray of shape (N / batch_groups, *out_spatial, C_out)
    """
    padded = plan.pad(x)
    out = np.zeros(plan.output_shape, dtype=x.dtype)
    out_batch, out_channels = plan.output_shape[0], plan.out_channels
    group_size = plan.filter_in_channels
    for n in range(out_batch):
        for position in np.ndindex(*plan.output_spatial):  # (oy, ox) in 2-D
            window = plan.receptive_field(*position)
            for co in range(out_channels):
                # Output channel co sees only its group's input channels ...
                channel_group = co // (out_channels // plan.groups)
                first = channel_group * group_size
                # ... and, with batch groups, only its group's images.
                image = co // (out_channels // plan.batch_groups) * out_batch + n
                field: tuple[Any, ...] = (image, *window, slice(first, first + group_size))
                receptive_field = padded[field]
                products = receptive_field * filters[..., co]
                # Summed in the input's dtype: int32 wraps around as TF's does
                # (NumPy would widen to int64 and then refuse to store it).
                where = (n, *position, co)
                out[where] = products.sum(dtype=x.dtype)
    return out


#: The name the 2-D registry and older code use.
conv2d_naive = conv_naive
