"""The by-hand method: the article's arithmetic, written literally.

For every output position: take the receptive field, multiply it by the filter,
sum over filter height, filter width and channels. Nothing is vectorised beyond
that one product, so every number can be followed with a pencil. It is slow, and
it is the ground truth the tests hold every other method to.
"""

from __future__ import annotations

import numpy as np

from ..plan import ConvPlan


def conv2d_naive(x: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> np.ndarray:
    """Convolve by hand.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
        Canonical input, in ``plan.compute_dtype``.
    filters : ndarray of shape (KH, KW, C / groups, C_out)
    plan : ConvPlan

    Returns
    -------
    ndarray of shape (N, OH, OW, C_out)
    """
    padded = plan.pad(x)
    out = np.zeros(plan.output_shape, dtype=x.dtype)
    batch, out_height, out_width, out_channels = plan.output_shape
    group_size = plan.filter_in_channels
    for n in range(batch):
        for oy in range(out_height):
            for ox in range(out_width):
                rows, cols = plan.receptive_field(oy, ox)
                for co in range(out_channels):
                    # Output channel co sees only its group's input channels.
                    first = (co // plan.out_channels_per_group) * group_size
                    receptive_field = padded[n, rows, cols, first : first + group_size]
                    products = receptive_field * filters[:, :, :, co]
                    # Summed in the input's dtype: int32 wraps around as TF's does
                    # (NumPy would widen to int64 and then refuse to store it).
                    out[n, oy, ox, co] = products.sum(dtype=x.dtype)
    return out
