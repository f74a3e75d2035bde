"""Every registered method against the by-hand ``naive`` method and against live TensorFlow.

Tolerances (see also tests/test_conv.py). Any order of summing ``n`` products
satisfies ``|computed - exact| <= gamma_n * sum|x_i * w_i|`` with
``gamma_n = n * eps / (1 - n * eps)`` (Higham, section 3.1); ``n`` is the fan-in
``KH * KW * C / groups``. The truth here is ``naive`` in float64 on the same
numbers, whose own error is negligible against a float32 bound and within the
bound for float64, so a float32 result must be within ``gamma_n * sum|x w|`` plus
the float64 truth's own ``gamma_n`` (we allow 2x the bound). That is about
``n * 1.2e-7`` relative to the output scale for float32 and ``n * 2.2e-16`` for
float64.

Winograd F(4x4, 3x3) is not a plain sum of the products: its transforms scale
values by up to ~100 before they cancel, and mixes the numbers of a whole 6x6
tile, so its bound is normwise (the largest element bound, everywhere) and
``WINOGRAD_FACTOR`` times larger as a margin (measured worst case over 400
random plans: 0.7x the normwise bound itself; the module docstring of
handconv.methods.winograd gives the errors on the benchmark's layers).
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from oracles import tf_conv2d

import handconv
from handconv import HandconvError
from handconv.methods import METHODS, cost, direct, select_method, weightgrad
from handconv.plan import make_plan

WINOGRAD_FACTOR = 8

#: Method variants: registry name, plus the NumPy-only paths of the accelerated methods.
VARIANTS = [name for name in METHODS if name != "naive"] + ["direct-numpy", "weightgrad-columns"]


@pytest.fixture
def variant(request, monkeypatch):
    """Set up a variant: force the NumPy fallbacks where asked; return the registry name."""
    name = request.param
    if name == "direct-numpy":
        monkeypatch.setattr(direct, "FORCE_NUMPY", True)
    if name == "weightgrad-columns":  # small plans run weightgrad's flat GEMMs; its im2col columns too
        monkeypatch.setattr(weightgrad, "FLAT_THIN", -1)
    return name.split("-")[0]


def truth_and_bound(x, w, plan, method):
    """float64 ``naive`` result and the elementwise error bound for ``method`` in ``plan.compute_dtype``."""
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    truth = METHODS["naive"].run(x64, w64, plan)
    scale = METHODS["naive"].run(np.abs(x64), np.abs(w64), plan)
    n = plan.taps
    eps = np.finfo(plan.compute_dtype).eps
    bound = 2 * (n * eps / (1 - n * eps)) * scale
    if method == "winograd":  # transforms mix a whole tile: a normwise bound, not elementwise
        bound = WINOGRAD_FACTOR * np.full_like(bound, bound.max())
    return truth, bound + np.finfo(plan.compute_dtype).tiny


def check(out, truth, bound, plan):
    assert out.shape == plan.output_shape
    assert out.dtype == plan.compute_dtype
    excess = np.abs(out.astype(np.float64) - truth) - bound
    assert np.all(excess <= 0), f"max excess over the bound {excess.max():.3g}"


@st.composite
def plans(draw):
    """Random valid plans: batch 1-2, sizes 1-12, channels 1-6, kernels 1-5, strides 1-4, dilations 1-3."""
    batch = draw(st.integers(1, 2))
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cg = draw(st.integers(1, 6 // groups))
    out_per_group = draw(st.integers(1, 3))
    square = draw(st.booleans())  # make 3x3 stride 1 (Winograd's plans) common
    if square:
        kh = kw = 3
        strides, dilations = [1, 1], [1, 1]
    else:
        kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
        strides = [draw(st.integers(1, 4)), draw(st.integers(1, 4))]
        dilations = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
    kind = draw(st.sampled_from(["SAME", "VALID", "EXPLICIT"]))
    if kind == "EXPLICIT":
        padding = [
            [0, 0],
            [draw(st.integers(0, 3)), draw(st.integers(0, 3))],
            [draw(st.integers(0, 3)), draw(st.integers(0, 3))],
            [0, 0],
        ]
    else:
        padding = kind
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    # NCHW memory reaches the methods as a strided NHWC view (and im2col_nchw takes only that).
    data_format = draw(st.sampled_from(["NHWC", "NHWC", "NCHW"]))
    shape = (batch, h, w, cg * groups)
    if data_format == "NCHW":
        shape = (batch, cg * groups, h, w)
        padding = padding if isinstance(padding, str) else [padding[0], padding[3], padding[1], padding[2]]
    try:
        plan = make_plan(shape, (kh, kw, cg, out_per_group * groups), strides, padding, data_format, dilations, dtype)
    except HandconvError:
        assume(False)
    assume(not plan.is_empty)
    return plan, draw(st.integers(0, 2**32 - 1))


@pytest.mark.parametrize("variant", VARIANTS, indirect=True)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(plans())
def test_property_method_equals_naive(variant, case):
    plan, seed = case
    assume(METHODS[variant].supports(plan))
    rng = np.random.default_rng(seed)
    x = canonical_input(rng.standard_normal(plan.input_shape).astype(plan.compute_dtype), plan)
    w = rng.standard_normal(plan.filter_shape).astype(plan.compute_dtype)
    truth, bound = truth_and_bound(x, w, plan, variant)
    check(METHODS[variant].run(x, w, plan), truth, bound, plan)


def canonical_input(x_nhwc, plan):
    """``x_nhwc`` as :func:`handconv.conv2d` hands it to a method: for an NCHW plan, a view of NCHW memory."""
    if not plan.channels_first:
        return x_nhwc
    return np.ascontiguousarray(np.moveaxis(x_nhwc, -1, 1)).transpose(0, 2, 3, 1)


# (input NHWC, filters HWIO, strides, padding, dilations): a handful of cases every method sees against TF.
TF_CASES = [
    ((1, 5, 5, 3), (3, 3, 3, 1), 2, [[0, 0], [1, 1], [1, 1], [0, 0]], 1),  # the article
    ((2, 9, 11, 4), (3, 3, 4, 5), 1, "SAME", 1),
    ((1, 8, 8, 6), (1, 1, 6, 4), 1, "VALID", 1),
    ((1, 10, 9, 3), (3, 3, 3, 2), 1, "SAME", 2),
    ((1, 9, 9, 3), (3, 3, 1, 3), 1, "SAME", 1),  # depthwise 'each'
    ((1, 11, 13, 2), (5, 5, 2, 3), 2, "SAME", 1),
    ((1, 4, 5, 1), (7, 7, 1, 1), 1, "SAME", 1),  # kernel larger than the input
]


def _tf_plan(case, data_format="NHWC"):
    shape, fshape, strides, padding, dilations = case
    if data_format == "NCHW":
        shape = (shape[0], shape[3], shape[1], shape[2])
        padding = padding if isinstance(padding, str) else [padding[0], padding[3], padding[1], padding[2]]
    return make_plan(shape, fshape, strides, padding, data_format, dilations, np.float32)


#: Every (variant, case, layout) whose method claims the case's plan; NCHW: the input is NCHW memory.
TF_PAIRS = [
    (v, i, layout)
    for v in VARIANTS
    for i, case in enumerate(TF_CASES)
    for layout in ("NHWC", "NCHW")
    if METHODS[v.split("-")[0]].supports(_tf_plan(case, layout))
]


@pytest.mark.references
@pytest.mark.parametrize(
    "variant, index, layout", TF_PAIRS, ids=[f"{v}-tf{i}-{fmt}" for v, i, fmt in TF_PAIRS], indirect=["variant"]
)
def test_method_matches_live_tf(variant, index, layout):
    shape, fshape, strides, padding, dilations = case = TF_CASES[index]
    plan = _tf_plan(case, layout)
    rng = np.random.default_rng(len(shape) + sum(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal(fshape).astype(np.float32)
    expected = tf_conv2d(x, w, strides, padding, "NHWC", dilations)
    out = METHODS[variant].run(canonical_input(x, plan), w, plan)
    _, bound = truth_and_bound(x, w, plan, variant)
    # handconv and TF each within the bound of the truth: within twice it of each other.
    assert out.shape == expected.shape
    assert np.all(np.abs(out.astype(np.float64) - expected) <= 2 * bound)


@pytest.mark.parametrize("dilations", [(2, 2), (3, 1), (2, 3)])
@pytest.mark.parametrize("padding", ["SAME", "VALID", [[0, 0], [3, 1], [0, 2], [0, 0]]])
def test_winograd_dilated_through_phases(dilations, padding):
    """Dilated 3x3 runs as undilated Winograd on the input's phases: same numbers as naive (float64)."""
    plan = make_plan((2, 13, 11, 3), (3, 3, 3, 4), 1, padding, "NHWC", list(dilations), np.float64)
    rng = np.random.default_rng(11)
    x = rng.standard_normal(plan.input_shape)
    w = rng.standard_normal(plan.filter_shape)
    truth, bound = truth_and_bound(x, w, plan, "winograd")
    check(METHODS["winograd"].run(x, w, plan), truth, bound, plan)


@pytest.mark.parametrize("batch_shape", [(2,), (2, 3)])
def test_pointwise_nchw_needs_no_transpose(batch_shape):
    """1x1 on NCHW input: one GEMM per image on the planar memory, result contiguous NCHW, equal to naive."""
    import handconv

    rng = np.random.default_rng(5)
    x = rng.standard_normal((*batch_shape, 6, 5, 7))
    w = rng.standard_normal((1, 1, 6, 4))
    out = handconv.conv2d(x, w, 1, "VALID", "NCHW", method="gemm")
    expected = handconv.conv2d(x, w, 1, "VALID", "NCHW", method="naive")
    assert out.flags.c_contiguous and out.shape == (*batch_shape, 4, 5, 7)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12 * 6 * np.abs(expected).max())


#: The banded methods and the module constant that sizes their bands.
BANDED = [("im2col", "WORKSPACE_BYTES"), ("im2col_nchw", "WORKSPACE_BYTES"), ("shiftadd", "BAND_BYTES")]


@pytest.mark.parametrize("method, size_name", BANDED, ids=[m for m, _ in BANDED])
@pytest.mark.parametrize("workspace, min_pixels", [(1, 1), (2000, 1), (10**9, 1), (1, 40)])
@pytest.mark.parametrize(
    "strides, dilations, groups, data_format",
    [(1, 1, 1, "NHWC"), ((2, 1), (1, 2), 1, "NCHW"), (1, (2, 1), 2, "NHWC"), (2, 1, 2, "NCHW")],
)
def test_bands_across_and_within_images(
    monkeypatch, method, size_name, workspace, min_pixels, strides, dilations, groups, data_format
):
    """Whole batch, several images per band, and row bands within an image give the same numbers."""
    module = importlib.import_module(f"handconv.methods.{method}")
    monkeypatch.setattr(module, size_name, workspace)
    monkeypatch.setattr(module, "MIN_BAND_PIXELS", min_pixels)
    shape = (5, 9, 8, 2 * groups) if data_format == "NHWC" else (5, 2 * groups, 9, 8)
    plan = make_plan(shape, (3, 2, 2, 3 * groups), strides, "SAME", data_format, dilations, np.float64)
    rng = np.random.default_rng(2)
    x = canonical_input(rng.standard_normal(plan.input_shape), plan)
    w = rng.standard_normal(plan.filter_shape)
    truth, bound = truth_and_bound(x, w, plan, method)
    check(METHODS[method].run(x, w, plan), truth, bound, plan)


@pytest.mark.parametrize("method", ["im2col", "im2col_nchw"])
@pytest.mark.parametrize("part", [1, 5, 7])
def test_long_chains_cut_into_parts_give_the_same_sums(monkeypatch, method, part):
    """With every chain cut (parts of 1, 5 or 7 products) the results stay within the summation bound."""
    from handconv.methods import im2col

    monkeypatch.setattr(im2col, "LONG_CHAIN", 0)
    monkeypatch.setattr(im2col, "CHAIN_PART", part)
    plan = make_plan((2, 9, 8, 3), (3, 5, 3, 4), 1, "SAME", "NHWC", 1, np.float32)
    assert im2col.chain_parts(plan) == -(-45 // part)
    rng = np.random.default_rng(5)
    x = rng.standard_normal(plan.input_shape).astype(np.float32)
    w = rng.standard_normal(plan.filter_shape).astype(np.float32)
    truth, bound = truth_and_bound(x, w, plan, method)
    check(METHODS[method].run(x, w, plan), truth, bound, plan)


def test_every_method_claims_the_plans_of_its_kind():
    """Winograd claims 3x3 stride 1 only (any dilation); the others claim the suite's plans."""
    three = make_plan((1, 8, 8, 2), (3, 3, 2, 2), 1, "SAME", "NHWC", 2)
    strided = make_plan((1, 8, 8, 2), (3, 3, 2, 2), 2, "SAME")
    assert METHODS["winograd"].supports(three) and not METHODS["winograd"].supports(strided)
    for name in ("naive", "im2col", "gemm", "direct", "gather", "toeplitz"):
        assert METHODS[name].supports(three) and METHODS[name].supports(strided)


def test_winograd_error_is_measured_against_float64():
    """Winograd's float32 error on a CNN-like layer: within 1e-4 of the output scale, and larger than im2col's."""
    rng = np.random.default_rng(7)
    plan = make_plan((2, 12, 12, 64), (3, 3, 64, 32), 1, "SAME")
    x = rng.standard_normal(plan.input_shape).astype(np.float32)
    w = (rng.standard_normal(plan.filter_shape) / math.sqrt(plan.taps)).astype(np.float32)
    truth = METHODS["im2col"].run(x.astype(np.float64), w.astype(np.float64), plan)
    scale = np.abs(truth).max()
    wino = np.abs(METHODS["winograd"].run(x, w, plan) - truth).max() / scale
    plain = np.abs(METHODS["im2col"].run(x, w, plan) - truth).max() / scale
    assert wino < 1e-4
    assert plain < 1e-5
    assert wino > plain  # the price of 4x fewer multiplications


def test_direct_lane_kernel_covers_photo_shapes():
    """'sum' and 'each' photo plans take the vectorised row kernel; others the general one."""
    assert direct.lane_shape(make_plan((1, 9, 9, 3), (3, 3, 3, 1), 1, "SAME")) == "sum"
    assert direct.lane_shape(make_plan((1, 9, 9, 3), (3, 3, 1, 3), 1, "SAME")) == "each"
    assert direct.lane_shape(make_plan((1, 9, 9, 3), (3, 3, 3, 2), 1, "SAME")) is None
    assert direct.lane_shape(make_plan((1, 9, 9, 3), (3, 3, 3, 1), [1, 2], "SAME")) is None


# ----------------------------------------------------------------- selection
def test_select_method_picks_by_cost_model(monkeypatch):
    monkeypatch.setenv("HANDCONV_RATES", "reference")
    assert select_method(make_plan((1, 5, 5, 3), (3, 3, 3, 1), 2, "SAME")) == "gather"
    assert select_method(make_plan((8, 56, 56, 256), (1, 1, 256, 64))) == "gemm"
    photo = make_plan((1, 512, 512, 3), (3, 3, 3, 1), 1, "SAME")
    if direct.has_accelerator():  # numba is in the test extra
        assert select_method(photo) == "direct"
    monkeypatch.setattr(direct, "FORCE_NUMPY", True)
    assert select_method(photo) != "direct"  # one NumPy pass per tap: never on a photo


@settings(max_examples=60, deadline=None)
@given(plans(), st.sampled_from(["accurate", "fast"]))
def test_auto_always_picks_a_method_that_supports_the_plan(case, precision):
    plan, _ = case
    name = select_method(plan, precision)
    assert name != "naive"
    assert METHODS[name].supports(plan)
    assert precision == "fast" or not METHODS[name].transform  # accurate: never a fast transform
    assert math.isfinite(METHODS[name].estimate(plan, cost.REFERENCE_RATES))  # chosen by the cost model


def test_filter_gradients_go_to_weightgrad_and_small_forward_outputs_to_the_cost_model():
    """Fewer outputs than taps: by rule weightgrad for a filter gradient, the 2-D cost model for a forward call."""
    from handconv.plan import backprop_filter_plan

    forward = make_plan((4, 13, 13, 256), (11, 11, 256, 3), 2, "VALID")
    assert cost.filter_gradient_shaped(forward)
    assert select_method(forward) not in ("weightgrad", "shifted", "col2im")
    gradient = backprop_filter_plan(make_plan((4, 28, 28, 8), (3, 3, 8, 16), 1, "SAME"))
    assert cost.filter_gradient_shaped(gradient) and select_method(gradient) == "weightgrad"


BENCH_PLANS = [
    ((1, 5, 5, 3), (3, 3, 3, 1), 2, [[0, 0], [1, 1], [1, 1], [0, 0]], 1),
    ((1, 2048, 2048, 3), (3, 3, 3, 1), 1, "SAME", 1),
    ((1, 2048, 2048, 3), (3, 3, 1, 3), 1, "SAME", 1),
    ((1, 1024, 1024, 1), (15, 15, 1, 1), 1, "SAME", 1),
    ((1, 224, 224, 3), (7, 7, 3, 64), 2, "SAME", 1),
    ((8, 56, 56, 64), (3, 3, 64, 64), 1, "SAME", 1),
    ((32, 28, 28, 128), (3, 3, 128, 128), 1, "SAME", 1),
    ((1, 14, 14, 256), (3, 3, 256, 256), 1, "SAME", 1),
    ((16, 7, 7, 512), (3, 3, 512, 512), 1, "SAME", 1),
    ((8, 56, 56, 256), (1, 1, 256, 64), 1, "VALID", 1),
    ((4, 64, 64, 32), (3, 3, 32, 32), 1, "SAME", 2),
]


@pytest.mark.parametrize("accelerated", [True, False])
@pytest.mark.parametrize("case", BENCH_PLANS, ids=[f"S{i}" for i in range(1, len(BENCH_PLANS) + 1)])
def test_auto_workspace_within_budget(case, accelerated, monkeypatch):
    """auto's extra memory stays under max(64 MiB, 2x the output) on the benchmark's shapes."""
    monkeypatch.setattr(direct, "FORCE_NUMPY", not accelerated)
    monkeypatch.setenv("HANDCONV_RATES", "reference")
    shape, fshape, strides, padding, dilations = case
    plan = make_plan(shape, fshape, strides, padding, "NHWC", dilations, np.float32)
    output = math.prod(plan.output_shape) * 4
    for precision in ("accurate", "fast"):
        assert METHODS[select_method(plan, precision)].workspace_bytes(plan) <= max(64 * 2**20, 2 * output)


def test_precision_decides_whether_auto_may_take_winograd(monkeypatch):
    """A 3x3 layer with many channels: Winograd only with precision='fast'; the default is a direct sum."""
    monkeypatch.setenv("HANDCONV_RATES", "reference")
    plan = make_plan((32, 28, 28, 128), (3, 3, 128, 128), 1, "SAME")
    assert select_method(plan, "fast") == "winograd"
    assert not METHODS[select_method(plan)].transform


@pytest.mark.parametrize(
    "shape, fshape, strides, padding, dilations",
    [
        ((2, 7, 9, 3), (3, 3, 3, 4), 1, "SAME", 1),
        ((3, 8, 6, 2), (5, 5, 2, 3), 2, "SAME", 1),
        ((1, 9, 9, 1), (3, 3, 1, 5), [2, 1], [[0, 0], [2, 1], [0, 3], [0, 0]], [1, 2]),
    ],
)
def test_planar_non_finite_values_where_naive_has_them(shape, fshape, strides, padding, dilations):
    """Inf and NaN in the input and in the weights: NaN/Inf exactly where the by-hand sums put them.

    A padding tap is a real product (0 * Inf = NaN), so an Inf weight turns
    the border NaN while the interior stays Inf or finite.
    """
    if not METHODS["planar"].supports(make_plan(shape, fshape, strides, padding, "NHWC", dilations)):
        pytest.skip("numba is not installed")  # the 'fast' extra; CI installs it
    plan = make_plan(shape, fshape, strides, padding, "NHWC", dilations, np.float64)
    rng = np.random.default_rng(3)
    x = rng.standard_normal(plan.input_shape)
    w = rng.standard_normal(plan.filter_shape)
    x[0, 1, 1, 0] = np.inf
    x[-1, -1, 0, -1] = np.nan
    w[0, -1, 0, 0] = np.inf
    with np.errstate(invalid="ignore"):  # Inf * 0 and Inf - Inf: NaN on purpose
        expected = METHODS["naive"].run(x, w, plan)
    out = METHODS["planar"].run(x, w, plan)
    assert np.isnan(expected).any() and np.isinf(expected).any()  # the case exercises both
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(out), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(out), np.isneginf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(out[finite], expected[finite], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "shape, fshape, strides, padding, dilations",
    [
        ((2, 9, 11, 8), (3, 3, 8, 3), 1, "SAME", 1),  # the fill's NHWC walk (C >= WIDE_CHANNELS), 3 outputs
        ((3, 10, 7, 9), (3, 2, 9, 5), [1, 2], [[0, 0], [1, 2], [3, 0], [0, 0]], 1),
        ((1, 13, 12, 16), (5, 3, 16, 6), [2, 3], "SAME", [1, 2]),
        ((5, 6, 6, 1), (3, 3, 1, 7), 2, [[0, 0], [0, 2], [2, 1], [0, 0]], 1),  # images side by side, strided runs
        ((4, 5, 9, 3), (2, 4, 3, 1), [1, 3], "VALID", [2, 1]),
    ],
)
def test_planar_fill_and_padded_outputs_match_the_by_hand_sums(shape, fshape, strides, padding, dilations):
    """Both fill orders (few and many channels) and output channels that are not a multiple of four."""
    plan = make_plan(shape, fshape, strides, padding, "NHWC", dilations, np.float64)
    if not METHODS["planar"].supports(plan):
        pytest.skip("numba is not installed")  # the 'fast' extra; CI installs it
    rng = np.random.default_rng(11)
    x, w = rng.standard_normal(plan.input_shape), rng.standard_normal(plan.filter_shape)
    truth, bound = truth_and_bound(x, w, plan, "planar")
    check(METHODS["planar"].run(x, w, plan), truth, bound, plan)


def test_planar_from_many_threads_gives_the_single_threaded_result():
    """Eight threads calling the numba kernel at once: no abort, every result equal to one call's."""
    from concurrent.futures import ThreadPoolExecutor

    plan = make_plan((4, 20, 24, 3), (3, 3, 3, 8), 2, "SAME")
    if not METHODS["planar"].supports(plan):
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(9)
    x = rng.standard_normal(plan.input_shape).astype(np.float32)
    w = rng.standard_normal(plan.filter_shape).astype(np.float32)
    single = METHODS["planar"].run(x, w, plan)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: METHODS["planar"].run(x, w, plan), range(32)))
    for out in results:
        np.testing.assert_array_equal(out, single)


# ----------------------------------------------------------------- NaN and Inf, as TF (issue 12.4)
# TF multiplies every tap, padding included, so an Inf weight on a padding zero
# gives NaN (Inf * 0), and a NaN or Inf reaches exactly the outputs that read it.
NON_FINITE_FILTERS = [(3, 3, 2, 1), (3, 3, 1, 2), (3, 3, 2, 3)]  # direct's 'sum', 'each' and general kernels
NON_FINITE_SPOTS = {
    "input-corner": ("x", (0, 0, 0, 0)),
    "input-edge": ("x", (0, 0, 4, 1)),
    "input-interior": ("x", (0, 4, 5, 0)),
    "filter-corner": ("w", (0, 0, 0, 0)),
    "filter-edge": ("w", (0, 1, 0, 0)),
    "filter-centre": ("w", (1, 1, 0, 0)),
}


def _non_finite_case(fshape, spot, value):
    """Integer-valued float32 data (exact sums) with one NaN or Inf at ``spot``."""
    rng = np.random.default_rng(3)
    x = rng.integers(-4, 5, (1, 9, 10, fshape[2] * (2 if fshape[2] == 1 else 1))).astype(np.float32)
    w = rng.integers(-3, 4, fshape).astype(np.float32)
    where, index = NON_FINITE_SPOTS[spot]
    target = x if where == "x" else w
    target[tuple(min(i, s - 1) for i, s in zip(index, target.shape))] = value
    return x, w


def assert_same_non_finite(out, expected):
    """NaN, +Inf and -Inf at exactly the same positions; finite values equal (integer data)."""
    assert out.shape == expected.shape
    for test in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(test(out), test(expected), err_msg=test.__name__)
    finite = np.isfinite(expected)
    np.testing.assert_allclose(out[finite], expected[finite], rtol=1e-5, atol=1e-4)


NON_FINITE_CASES = [
    (fshape, spot, value, strides)
    for fshape in NON_FINITE_FILTERS
    for spot in NON_FINITE_SPOTS
    for value in (np.nan, np.inf, -np.inf)
    for strides in (1, 2)
]


@pytest.mark.references
@pytest.mark.parametrize("fshape, spot, value, strides", NON_FINITE_CASES)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_naive_non_finite_matches_live_tf(fshape, spot, value, strides):
    x, w = _non_finite_case(fshape, spot, value)
    expected = tf_conv2d(x, w, strides, "SAME")
    plan = make_plan(x.shape, w.shape, strides, "SAME", "NHWC", 1, np.float32)
    assert_same_non_finite(METHODS["naive"].run(x, w, plan), expected)


@pytest.mark.parametrize("variant", VARIANTS, indirect=True)
@pytest.mark.parametrize("dilations", [1, 2])
@pytest.mark.parametrize("data_format", ["NHWC", "NCHW"])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_every_method_non_finite_equals_naive(variant, dilations, data_format):
    """NaN and Inf land where the by-hand loops put them, also on NCHW memory (planes-first methods' own paths)."""
    for fshape, spot, value, strides in NON_FINITE_CASES:
        x, w = _non_finite_case(fshape, spot, value)
        shape = x.shape if data_format == "NHWC" else (x.shape[0], x.shape[3], x.shape[1], x.shape[2])
        plan = make_plan(shape, w.shape, strides, "SAME", data_format, dilations, np.float32)
        if not METHODS[variant].supports(plan):
            continue
        x = canonical_input(x, plan)
        expected = METHODS["naive"].run(x, w, plan)
        try:
            assert_same_non_finite(METHODS[variant].run(x, w, plan), expected)
        except AssertionError as error:
            raise AssertionError(f"{variant} on {fshape}, {spot}={value}, strides {strides}: {error}") from None


@pytest.mark.references
@pytest.mark.parametrize("method", sorted(METHODS) + ["auto"])
def test_inf_weight_on_padding_is_nan_as_in_tf(method):
    """The issue's reproduction: TF gives NaN where the Inf weight meets a padding zero."""
    x = np.ones((1, 64, 64, 3), np.float32)
    w = np.ones((3, 3, 3, 1), np.float32)
    w[0, 0, 0, 0] = np.inf
    expected = tf_conv2d(x, w, 1, "SAME")
    assert_same_non_finite(handconv.conv2d(x, w, 1, "SAME", method=method), expected)
    assert np.isnan(expected[0, 0, 0, 0]) and np.isposinf(expected[0, 5, 5, 0])


@given(
    kernel=st.tuples(st.integers(1, 7), st.integers(1, 7)),
    strides=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    dilations=st.tuples(st.integers(1, 3), st.integers(1, 3)),
)
def test_shiftadd_phases_hold_every_tap_once_where_it_reads(kernel, strides, dilations):
    """Each tap is in exactly one stride phase, and its shift there lands on the padded pixel it multiplies."""
    from handconv.methods.shiftadd import phases

    plan = make_plan((1, 30, 30, 1), (*kernel, 1, 1), strides, "VALID", "NHWC", dilations)
    found = phases(plan)
    taps = [(ky, kx) for p in found for ky, kx, _, _ in p.taps]
    assert sorted(taps) == [(ky, kx) for ky in range(kernel[0]) for kx in range(kernel[1])]
    assert len(found) <= strides[0] * strides[1]
    for p in found:
        for ky, kx, qy, qx in p.taps:
            # Output (oy, ox) reads padded pixel (oy * sh + ky * dh, ox * sw + kx * dw), which the phase holds
            # at (oy + qy, ox + qx).
            for oy, ox in ((0, 0), (3, 5)):
                assert (oy + qy) * strides[0] + p.row == oy * strides[0] + ky * dilations[0]
                assert (ox + qx) * strides[1] + p.col == ox * strides[1] + kx * dilations[1]
            assert p.row_shifts[0] <= qy <= p.row_shifts[1] and p.col_shifts[0] <= qx <= p.col_shifts[1]


@settings(max_examples=40, deadline=None)
@given(
    st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9), st.integers(1, 4)),
    st.lists(st.integers(0, 3), min_size=4, max_size=4),
)
def test_padded_input_from_a_kept_buffer_equals_the_plans_padding(shape, pads):
    """The scratch-backed padded copy zeroes its border every call, whatever the last call left there."""
    from handconv.methods.im2col import padded_input
    from handconv.methods.scratch import scratch

    top, bottom, left, right = pads
    plan = make_plan(shape, (1, 1, shape[3], 1), 1, [[0, 0], [top, bottom], [left, right], [0, 0]])
    scratch((4096,), np.float32, "padded input")[:] = np.nan  # what an earlier, larger call might leave
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    padded = padded_input(x, plan)
    np.testing.assert_array_equal(padded, plan.pad(x))
    assert padded.flags.c_contiguous
