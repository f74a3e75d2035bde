"""Convolution algorithms, side by side, registered by name.

Every method has one signature::

    method(x, filters, plan) -> out

with ``x`` of shape ``(N, H, W, C)``, ``filters`` of shape
``(KH, KW, C / groups, C_out)``, both in ``plan.compute_dtype`` (C-contiguous
is not guaranteed), and ``out`` of shape ``plan.output_shape``,
``(N, OH, OW, C_out)``. Layout conversions, dtype casts and validation happen
in :func:`handconv.conv2d`, never here. Adding a method means adding one module
and one line to ``METHODS``.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import numpy as np

from ..plan import ConvPlan
from . import cost, direct, gather, gemm, im2col, naive, toeplitz, winograd


def _no_workspace(plan: ConvPlan) -> int:
    return 0


def _all_plans(plan: ConvPlan) -> bool:
    return True


class Method(NamedTuple):
    """A registered algorithm."""

    #: ``run(x, filters, plan) -> out``, shapes as above.
    run: Callable[[np.ndarray, np.ndarray, ConvPlan], np.ndarray]
    #: Largest temporary ``run`` allocates besides the padded input and output, in
    #: bytes; checked against available memory before running.
    workspace_bytes: Callable[[ConvPlan], int]
    #: One line for listings.
    summary: str
    #: ``supports(plan) -> bool``: whether ``run`` handles this plan (default: every plan).
    supports: Callable[[ConvPlan], bool] = _all_plans




METHODS: dict[str, Method] = {
    "naive": Method(naive.conv2d_naive, _no_workspace, "the by-hand loops: receptive field x filter, summed"),
    "im2col": Method(im2col.conv2d_im2col, im2col.workspace_bytes, "receptive fields as matrix rows, one GEMM"),
    "gather": Method(gather.conv2d_gather, gather.workspace_bytes, "im2col through cached per-plan indices (tiny calls)", gather.supports),
    "gemm": Method(gemm.conv2d_gemm, gemm.workspace_bytes, "one GEMM per tap on shifted input slices, accumulated in place"),
    "toeplitz": Method(toeplitz.conv2d_toeplitz, toeplitz.workspace_bytes, "tiles of outputs from a banded Toeplitz GEMM", toeplitz.supports),
    "direct": Method(direct.conv2d_direct, direct.workspace_bytes, "direct sums on NHWC, compiled by numba when installed (few channels)"),
    "winograd": Method(winograd.conv2d_winograd, winograd.workspace_bytes, "Winograd F(4x4, 3x3): 3x3 stride 1 with 4x fewer multiplications", winograd.supports),
}


def select_method(plan: ConvPlan) -> str:
    """The method ``method='auto'`` uses for ``plan``.

    Chosen by the cost model in :mod:`handconv.methods.cost` (estimates from
    the plan's shape, dtype, kernel size and channels, and whether numba is
    installed; never by timing at run time), cached per plan. The by-hand
    method is never chosen: it is slow by design.

    >>> from handconv.plan import make_plan
    >>> select_method(make_plan((1, 5, 5, 3), (3, 3, 3, 1), 2, "SAME"))
    'gather'
    >>> select_method(make_plan((8, 56, 56, 256), (1, 1, 256, 64)))
    'gemm'
    """
    return _select(plan, direct.has_accelerator())


@functools.lru_cache(maxsize=1024)
def _select(plan: ConvPlan, accelerator: bool) -> str:
    return cost.choose(plan)
