"""Convolution algorithms, side by side, registered by name.

Every method has one signature::

    method(x, filters, plan) -> out

with ``x`` of shape ``(N, H, W, C)``, ``filters`` of shape
``(KH, KW, C / groups, C_out)``, both in ``plan.compute_dtype`` (C-contiguous
is not guaranteed), and ``out`` of shape ``plan.output_shape``,
``(N, OH, OW, C_out)``. Layout conversions, dtype casts and validation happen
in :func:`handconv.conv2d`, never here. Adding a method means adding one module
and one line to ``METHODS``: the module brings its ``run``, ``workspace_bytes``,
and where it applies ``supports`` and ``estimate`` (its cost for ``auto``).

General plans (:mod:`handconv.plan`: 1 or 3 spatial dimensions, input
dilation, batch groups, cropping; the gradients and transposed convolutions
map onto them) have the same signature with ``(N, *spatial, C)`` arrays. The
methods in ``GENERAL`` take them; every other method is refused them here, in
one place (:func:`_plain_2d_only`), so its own ``supports`` only speaks of
2-D convolutions.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..plan import ConvPlan
from . import (
    col2im,
    cost,
    direct,
    gather,
    gemm,
    im2col,
    im2col_nchw,
    naive,
    planar,
    row_columns,
    shiftadd,
    shifted,
    toeplitz,
    valid_taps,
    weightgrad,
    winograd,
)


def _no_workspace(plan: ConvPlan) -> int:
    return 0


def _all_plans(plan: ConvPlan) -> bool:
    return True


def _never(plan: ConvPlan) -> bool:
    return False


def _never_chosen(plan: ConvPlan, rates: cost.Rates) -> float:
    return math.inf


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
    #: ``estimate(plan, rates) -> seconds`` for ``auto`` (:mod:`.cost`); ``inf``: never chosen.
    estimate: Callable[[ConvPlan, cost.Rates], float] = _never_chosen
    #: True for fast transforms (Winograd) whose float32 error exceeds a direct sum's:
    #: ``auto`` takes them only with ``precision="fast"``.
    transform: bool = False
    #: ``output_channels_first(plan) -> bool``: whether ``run`` returns an NHWC *view* of NCHW memory.
    #: ``auto`` charges every other method the copy back to NCHW on channels-first plans.
    output_channels_first: Callable[[ConvPlan], bool] = _never
    #: ``reads_channels_first(plan) -> bool``: whether ``run`` reads NCHW memory as it lies. ``auto`` charges
    #: every other method the NHWC copy of the input on channels-first plans.
    reads_channels_first: Callable[[ConvPlan], bool] = _never


# fmt: off
METHODS: dict[str, Method] = {
    "naive": Method(naive.conv_naive, _no_workspace, "the by-hand loops: receptive field x filter, summed (every plan)"),
    "im2col": Method(im2col.conv2d_im2col, im2col.workspace_bytes, "receptive fields as matrix rows, one GEMM", estimate=im2col.estimate),
    "im2col_nchw": Method(im2col_nchw.conv2d_im2col_nchw, im2col_nchw.workspace_bytes, "im2col on NCHW planes: output planes straight from the GEMM", estimate=im2col_nchw.estimate, output_channels_first=im2col_nchw.output_channels_first, reads_channels_first=im2col_nchw.output_channels_first),
    "gather": Method(gather.conv2d_gather, gather.workspace_bytes, "im2col through cached per-plan indices (tiny calls)", gather.supports, gather.estimate),
    "gemm": Method(gemm.conv2d_gemm, gemm.workspace_bytes, "one GEMM per tap on shifted input slices, accumulated in place", estimate=gemm.estimate, output_channels_first=gemm.output_channels_first, reads_channels_first=gemm.output_channels_first),
    "shiftadd": Method(shiftadd.conv2d_shiftadd, shiftadd.workspace_bytes, "one GEMM per stride phase for every tap's products, then the taps' shifted planes added (many channels into few)", estimate=shiftadd.estimate, output_channels_first=shiftadd.output_channels_first, reads_channels_first=shiftadd.output_channels_first),
    "toeplitz": Method(toeplitz.conv2d_toeplitz, toeplitz.workspace_bytes, "tiles of outputs from a banded Toeplitz GEMM", toeplitz.supports, toeplitz.estimate),
    "row_columns": Method(row_columns.conv2d_row_columns, row_columns.workspace_bytes, "im2col over one filter row, copied once and read by all KH filter rows: KH GEMMs on contiguous slices", row_columns.supports, row_columns.estimate),
    "valid_taps": Method(valid_taps.conv2d_valid_taps, valid_taps.workspace_bytes, "one GEMM per tap over the outputs it reads the image for: padding never multiplied (finite filters)", valid_taps.supports, valid_taps.estimate),
    "direct": Method(direct.conv2d_direct, direct.workspace_bytes, "direct sums on NHWC, compiled by numba when installed (few channels)", estimate=direct.estimate),
    "planar": Method(planar.conv2d_planar, planar.workspace_bytes, "direct sums on planar stride-phase rows, four outputs per pass (numba; few input channels)", planar.supports, planar.estimate, output_channels_first=planar.output_channels_first),
    "winograd": Method(winograd.conv2d_winograd, winograd.workspace_bytes, "Winograd F(4x4, 3x3): 3x3 stride 1 with 4x fewer multiplications", winograd.supports, winograd.estimate, transform=True),
    "shifted": Method(shifted.conv_shifted, shifted.workspace_bytes, "one GEMM per tap on strided slices, any plan in 1-3 dimensions"),
    "col2im": Method(col2im.conv_col2im, col2im.workspace_bytes, "input gradients: one GEMM, its taps scattered into the output (no dilated zeros)", col2im.supports),
    "weightgrad": Method(weightgrad.conv_weightgrad, weightgrad.workspace_bytes, "filter gradients: one GEMM per output position over the whole window"),
}

#: Methods that compute general plans; the others compute plain 2-D convolutions only.
GENERAL = ("naive", "shifted", "col2im", "weightgrad")


def _plain_2d_only(supports: Callable[[ConvPlan], bool]) -> Callable[[ConvPlan], bool]:
    """Refuse every plan but a plain 2-D convolution, then ask the method."""

    def plain_2d_supports(plan: ConvPlan) -> bool:
        return plan.is_plain_2d and supports(plan)

    own = (supports.__doc__ or "").strip()
    plain_2d_supports.__doc__ = "Plain 2-D convolutions (no input dilation, batch groups or cropping). " + own
    return plain_2d_supports


METHODS = {
    name: method if name in GENERAL else method._replace(supports=_plain_2d_only(method.supports))
    for name, method in METHODS.items()
}
# fmt: on


def candidates(plan: ConvPlan, precision: str = "accurate") -> dict[str, Callable[[ConvPlan, cost.Rates], float]]:
    """Estimators of the methods ``auto`` may pick for ``plan`` at ``precision``.

    On a channels-first plan, a method whose output is NHWC memory also pays the copy back to NCHW
    (:func:`handconv.conv.from_canonical`), which costs as much as a convolution on large images, and one
    that reads NHWC memory pays the NHWC copy of the input.
    """
    return {
        name: _with_layout(method) if plan.channels_first else method.estimate
        for name, method in METHODS.items()
        if method.estimate is not _never_chosen
        and method.supports(plan)
        and (precision == "fast" or not method.transform)
    }


def layout_seconds(method: Method, plan: ConvPlan, rates: cost.Rates) -> tuple[float, float]:
    """(the NHWC copy of the input, the copy of the output back to NCHW) a channels-first call pays around ``method``.

    Nothing on NHWC plans, nor where the method reads (writes) NCHW memory as it lies.
    """
    if not plan.channels_first:
        return 0.0, 0.0
    copy_in = 0.0 if method.reads_channels_first(plan) else cost.channels_first_seconds(plan, rates, "input")
    copy_back = 0.0 if method.output_channels_first(plan) else cost.channels_first_seconds(plan, rates)
    return copy_in, copy_back


def _with_layout(method: Method) -> Callable[[ConvPlan, cost.Rates], float]:
    def estimate(plan: ConvPlan, rates: cost.Rates) -> float:
        return method.estimate(plan, rates) + sum(layout_seconds(method, plan, rates))

    return estimate


def select_method(plan: ConvPlan, precision: str = "accurate") -> str:
    """The method ``method='auto'`` uses for ``plan``.

    Chosen by the cost model (:mod:`handconv.methods.cost`): every method's own
    ``estimate(plan, rates)`` with this machine's rates, robust when two are
    close; never by timing at run time. Cached per plan. The by-hand method is
    never chosen (it is slow by design), and fast transforms (Winograd) only
    with ``precision="fast"``: the default is as accurate as TF. General plans (gradients,
    transposed, 3-D) and 2-D filter gradients go to a general method
    (:func:`handconv.methods.cost.choose_general`). A forward convolution with
    fewer outputs than taps (11x11 stride 2 on 13x13) stays with the 2-D
    methods: the sweep timed ``weightgrad`` there at 1.8x ``im2col``'s time and
    2.9x TF's float32 error.

    >>> from handconv.plan import make_plan
    >>> select_method(make_plan((1, 5, 5, 3), (3, 3, 3, 1), 2, "SAME"))
    'gather'
    >>> select_method(make_plan((8, 56, 56, 256), (1, 1, 256, 64)))
    'gemm'
    """
    if not plan.is_plain_2d or (cost.filter_gradient_shaped(plan) and "backprop_filter" in plan.op):
        return cost.choose_general(plan)
    if plan.is_empty:  # nothing to compute: any method returns the empty array
        return "im2col"
    return _select(plan, precision, direct.has_accelerator(), cost.current_rates(plan))


@functools.lru_cache(maxsize=1024)
def _select(plan: ConvPlan, precision: str, accelerator: bool, rates: cost.Rates) -> str:
    return cost.choose(plan, candidates(plan, precision), rates)
