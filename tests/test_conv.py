"""``handconv.conv2d`` against the live ``tf.nn.conv2d``, PyTorch and JAX.

Tolerances. For a sum of n products computed in floating point in any order,
``|computed - exact| <= gamma_n * sum|x_i * w_i|`` with ``gamma_n = n*eps / (1 - n*eps)``
(Higham, *Accuracy and Stability of Numerical Algorithms*, section 3.1). Two
implementations that each meet this bound differ by at most twice it. We use
that bound with ``n`` = the fan-in (KH*KW*C/groups), ``eps`` of the compute dtype,
and ``sum|x_i w_i|`` computed exactly enough in float64. For float64 this is
about 1e-15 relative; for float32 about 1e-6 * fan-in relative to the output's
scale: the float32 differences TF users report as "bugs" are this, summation
order.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import reference
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from oracles import jax_conv2d, tf_conv2d, torch_conv2d

import handconv
from handconv import HandconvError, HandconvMemoryError, HandconvTypeError


def error_bound(x, w, plan_dtype, strides, padding, data_format="NHWC", dilations=None):
    """gamma_n * sum|x*w| per output element (see module docstring)."""
    scale = handconv.conv2d(
        np.abs(np.asarray(x, np.float64)),
        np.abs(np.asarray(w, np.float64)),
        strides,
        padding,
        data_format,
        dilations,
        method="naive",
    )
    n = np.prod(np.shape(w)[:3])
    eps = np.finfo(np.float32 if plan_dtype == np.float16 else plan_dtype).eps
    return 2 * (n * eps / (1 - n * eps)) * scale + np.finfo(plan_dtype).tiny


def assert_close(actual, expected, bound):
    assert actual.shape == expected.shape
    excess = np.abs(actual.astype(np.float64) - expected.astype(np.float64)) - bound
    assert np.all(excess <= 0), f"max excess over the bound {excess.max():.3g}"


# ----------------------------------------------------------------- the article
def test_article_example_matches_tf():
    """5x5x3, P=1, S=2, 3x3x3 edge filter: a 3x3 output equal to TF's, exactly."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, (1, 5, 5, 3)).astype(np.float32)
    edge = np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], np.float32)
    w = np.repeat(edge[:, :, None, None], 3, axis=2)
    pad = [[0, 0], [1, 1], [1, 1], [0, 0]]
    assert handconv.output_size(5, 3, 2, 1) == 3
    expected = tf_conv2d(x, w, 2, pad)
    for method in ("naive", "auto"):
        out = handconv.conv2d(x, w, 2, pad, method=method)
        assert out.shape == (1, 3, 3, 1)
        np.testing.assert_array_equal(out, expected)  # integer-valued: exact
    # On 5x5 with stride 2 the article's P=1 is TF's SAME.
    np.testing.assert_array_equal(handconv.conv2d(x, w, 2, "SAME"), expected)


# --------------------------------------------------------- table-driven vs TF
CASES = [
    # (input shape, filter shape, strides, padding, data_format, dilations)
    ((1, 5, 5, 3), (3, 3, 3, 1), 2, "SAME", "NHWC", None),
    ((1, 6, 6, 3), (3, 3, 3, 2), 2, "SAME", "NHWC", None),
    ((2, 7, 9, 2), (2, 4, 2, 3), [1, 2], "SAME", "NHWC", None),
    ((1, 7, 9, 2), (3, 2, 2, 3), [1, 3, 2, 1], "VALID", "NHWC", [1, 1, 1, 1]),
    ((1, 8, 8, 1), (3, 3, 1, 1), 1, "SAME", "NHWC", 2),
    ((1, 9, 9, 2), (3, 3, 2, 2), 2, "VALID", "NHWC", 2),  # stride and dilation together
    ((1, 9, 10, 2), (3, 2, 2, 1), [2, 3], "SAME", "NHWC", [2, 3]),
    ((1, 5, 6, 2), (3, 3, 2, 2), 1, [[0, 0], [2, 0], [1, 3], [0, 0]], "NHWC", None),
    ((1, 5, 6, 2), (2, 2, 2, 2), [3], [[0, 0], [0, 1], [4, 0], [0, 0]], "NHWC", [2]),
    ((1, 5, 5, 4), (3, 3, 2, 4), 1, "SAME", "NHWC", None),  # 2 groups
    ((1, 5, 5, 6), (2, 2, 1, 6), 1, "VALID", "NHWC", None),  # depthwise, 6 groups
    ((2, 3, 5, 5, 3), (3, 3, 3, 2), 1, "SAME", "NHWC", None),  # extra batch dim
    ((1, 3, 5, 5), (3, 3, 3, 2), 2, "SAME", "NCHW", None),
    ((2, 3, 6, 7), (3, 2, 3, 2), [1, 1, 2, 1], "VALID", "NCHW", [1, 1, 1, 2]),
    ((2, 2, 3, 6, 7), (3, 3, 3, 1), 1, [[0, 0], [0, 0], [1, 2], [0, 1]], "NCHW", None),
    ((1, 3, 3, 1), (5, 5, 1, 1), 1, "SAME", "NHWC", None),  # filter larger than input
    ((1, 1, 1, 1), (1, 1, 1, 1), 1, "VALID", "NHWC", None),
    ((1, 2, 2, 1), (3, 3, 1, 1), 2, "VALID", "NHWC", None),  # empty output (1, 0, 0, 1)
    ((1, 1, 1, 1), (6, 6, 1, 1), 4, "VALID", "NHWC", None),  # (1-6+4)/4 truncates to 0
    ((0, 4, 4, 1), (3, 3, 1, 2), 1, "SAME", "NHWC", None),  # empty batch
    ((1, 4, 4, 1), (3, 3, 1, 0), 1, "SAME", "NHWC", None),  # no output channels
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method", ["naive", "auto"])
@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_matches_tf(case, method, dtype):
    shape, fshape, strides, padding, data_format, dilations = case
    rng = np.random.default_rng(abs(hash(str(case))) % 2**32)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(fshape).astype(dtype)
    expected = tf_conv2d(x, w, strides, padding, data_format, dilations)
    out = handconv.conv2d(x, w, strides, padding, data_format, dilations, method=method)
    assert out.dtype == dtype
    assert out.shape == expected.shape == handconv.output_shape(shape, fshape, strides, padding, data_format, dilations)
    assert_close(out, expected, error_bound(x, w, dtype, strides, padding, data_format, dilations))


# ------------------------------------------------------- property tests vs TF
@st.composite
def configurations(draw):
    data_format = draw(st.sampled_from(["NHWC", "NCHW"]))
    batch = draw(st.integers(1, 2))
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    groups = draw(st.sampled_from([1, 1, 1, 2, 3]))
    cg = draw(st.integers(1, 6 // groups))
    out_per_group = draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    strides = [draw(st.integers(1, 4)), draw(st.integers(1, 4))]
    dilations = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
    kind = draw(st.sampled_from(["SAME", "VALID", "EXPLICIT"]))
    if kind == "EXPLICIT":
        spatial = [[draw(st.integers(0, 3)), draw(st.integers(0, 3))] for _ in range(2)]
        padding = [[0, 0], *spatial, [0, 0]] if data_format == "NHWC" else [[0, 0], [0, 0], *spatial]
    else:
        padding = kind
    c = cg * groups
    shape = (batch, h, w, c) if data_format == "NHWC" else (batch, c, h, w)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    return shape, (kh, kw, cg, out_per_group * groups), strides, padding, data_format, dilations, dtype, seed


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configurations())
def test_property_naive_and_auto_equal_tf(config):
    shape, fshape, strides, padding, data_format, dilations, dtype, seed = config
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(fshape).astype(dtype)
    tf = reference("tensorflow")
    try:
        expected = tf_conv2d(x, w, strides, padding, data_format, dilations)
    except tf.errors.InvalidArgumentError as error:
        # TF rejects (e.g. negative output size): so must handconv, naming the problem.
        assert "negative" in str(error)
        with pytest.raises(HandconvError, match="negative"):
            handconv.conv2d(x, w, strides, padding, data_format, dilations)
        return
    bound = error_bound(x, w, dtype, strides, padding, data_format, dilations)
    for method in ("naive", "auto"):
        out = handconv.conv2d(x, w, strides, padding, data_format, dilations, method=method)
        assert out.dtype == dtype
        assert_close(out, expected, bound)


# ------------------------------------------------- twin oracles: torch and JAX
@settings(max_examples=60, deadline=None)
@given(configurations())
def test_property_torch_and_jax(config):
    shape, fshape, strides, padding, data_format, dilations, _, seed = config
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    w = rng.standard_normal(fshape)
    try:
        plan = handconv.make_plan(shape, fshape, strides, padding, data_format, dilations, np.float64)
    except HandconvError:
        return
    assume(not plan.is_empty)
    out = handconv.conv2d(x, w, strides, padding, data_format, dilations)
    x_nhwc = np.moveaxis(x, 1, -1) if data_format == "NCHW" else x
    out_nhwc = np.moveaxis(out, 1, -1) if data_format == "NCHW" else out
    explicit = [[0, 0], *plan.pad_amounts, [0, 0]]
    bound = error_bound(x_nhwc, w, np.float64, plan.strides, explicit, "NHWC", plan.dilations)
    by_torch = torch_conv2d(x_nhwc, w, plan.strides, plan.pad_amounts, plan.dilations, plan.groups)
    assert_close(out_nhwc, by_torch, bound)
    jax_padding = padding if isinstance(padding, str) else plan.pad_amounts
    by_jax = jax_conv2d(x_nhwc, w, plan.strides, jax_padding, plan.dilations, plan.groups)
    assert_close(out_nhwc, by_jax, bound)


# ------------------------------------------------------------------- dtypes
def test_float16_accumulates_in_float32_like_tf():
    rng = np.random.default_rng(1)
    x = rng.random((1, 8, 8, 64)).astype(np.float16)
    w = rng.random((3, 3, 64, 2)).astype(np.float16)
    out = handconv.conv2d(x, w, 1, "SAME")
    assert out.dtype == np.float16
    expected = tf_conv2d(x, w, 1, "SAME")
    # Both round the float32 sum once: at most one float16 ulp apart.
    ulp = np.spacing(np.abs(expected).astype(np.float16)).astype(np.float64)
    assert np.all(np.abs(out.astype(np.float64) - expected.astype(np.float64)) <= ulp)


def test_int32_wraps_around_like_tf():
    x = np.full((1, 3, 3, 1), 2**20 + 3, np.int32)
    w = np.full((3, 3, 1, 1), 2**12 + 1, np.int32)
    expected = tf_conv2d(x, w)
    for method in ("naive", "auto"):
        out = handconv.conv2d(x, w, method=method)
        assert out.dtype == np.int32
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("wdtype", [np.float64, np.int64, np.float16])
def test_filters_cast_to_input_dtype_like_tf(wdtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 5, 5, 2)).astype(np.float32)
    w = rng.integers(-3, 4, (3, 3, 2, 1)).astype(wdtype)
    out = handconv.conv2d(x, w, 1, "SAME")
    expected = tf_conv2d(x, w, 1, "SAME")
    assert out.dtype == expected.dtype == np.float32
    assert_close(out, expected, error_bound(x, w, np.float32, 1, "SAME"))


def test_list_filters_convert_straight_to_the_input_dtype_like_tf():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 5, 5, 2))
    w = rng.standard_normal((3, 3, 2, 1))
    out = handconv.conv2d(x, w.tolist(), 1, "SAME")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, handconv.conv2d(x, w, 1, "SAME"))  # no detour through float32
    assert_close(out, tf_conv2d(x, w.tolist(), 1, "SAME"), error_bound(x, w, np.float64, 1, "SAME"))


def test_lists_convert_like_tf():
    x = [[[[0.5], [1.0]], [[2.0], [3.0]]]]
    out = handconv.conv2d(x, [[[[2.0]]]])
    assert out.dtype == np.float32  # Python floats become float32, as in TF
    np.testing.assert_array_equal(out[0, :, :, 0], [[1.0, 2.0], [4.0, 6.0]])
    ints = handconv.conv2d([[[[1], [2]], [[3], [4]]]], [[[[1]], [[1]]]])
    assert ints.dtype == np.int32 and ints.ravel().tolist() == [3, 7]


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.complex64, np.bool_])
def test_unsupported_dtypes_rejected_like_tf(dtype):
    x = np.ones((1, 3, 3, 1), dtype)
    with pytest.raises(TypeError, match="input has dtype"):
        handconv.conv2d(x, np.ones((1, 1, 1, 1), np.float32))
    tf = reference("tensorflow")
    if dtype != np.bool_:
        with pytest.raises(tf.errors.InvalidArgumentError):
            tf_conv2d(x, np.ones((1, 1, 1, 1), dtype))


def test_non_integral_filters_for_int32_input_refused():
    with pytest.raises(TypeError, match="truncate"):
        handconv.conv2d(np.ones((1, 3, 3, 1), np.int32), np.full((1, 1, 1, 1), 0.5))


# ------------------------------------------------------------ NaN and Inf
def test_nan_and_inf_propagate_like_tf():
    x = np.ones((1, 4, 4, 1), np.float32)
    x[0, 1, 2, 0] = np.nan
    w = np.ones((3, 3, 1, 1), np.float32)
    w[0, 0, 0, 0] = np.inf  # meets padding zeros: 0 * inf = nan, as in TF
    expected = tf_conv2d(x, w, 1, "SAME")
    for method in ("naive", "auto"):
        out = handconv.conv2d(x, w, 1, "SAME", method=method)
        np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
        np.testing.assert_array_equal(np.isposinf(out), np.isposinf(expected))


# ------------------------------------------------------------ array-likes
def test_views_read_only_and_never_mutated():
    rng = np.random.default_rng(3)
    big = rng.standard_normal((2, 10, 12, 6))
    x = big[:, ::2, 1::2, ::2]  # non-contiguous view
    w = np.asfortranarray(rng.standard_normal((3, 3, 3, 2)))
    x_copy, w_copy = x.copy(), w.copy()
    big.flags.writeable = False
    for method in ("naive", "auto"):
        out = handconv.conv2d(x, w, 1, "SAME", method=method)
        np.testing.assert_allclose(out, tf_conv2d(np.ascontiguousarray(x), w, 1, "SAME"), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(w, w_copy)


def test_nchw_result_is_contiguous_and_transposed():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 6, 5))
    w = rng.standard_normal((3, 3, 3, 4))
    out = handconv.conv2d(x, w, 1, "SAME", "NCHW")
    assert out.flags.c_contiguous and out.shape == (2, 4, 6, 5)
    nhwc = handconv.conv2d(np.moveaxis(x, 1, -1), w, 1, "SAME")
    np.testing.assert_array_equal(out, np.moveaxis(nhwc, -1, 1))


# ------------------------------------------------------------------ errors
X = np.ones((1, 5, 5, 3), np.float32)
W = np.ones((3, 3, 3, 1), np.float32)

ERRORS = [
    # (kwargs, exception, argument the message must name)
    (dict(input=np.ones((5, 5, 3))), HandconvError, "input"),
    (dict(filters=np.ones((3, 3, 3))), HandconvError, "filters"),
    (dict(filters=np.ones((3, 3, 2, 1))), HandconvError, "in_channels"),
    (dict(filters=np.ones((3, 3, 3, 3)), input=np.ones((1, 5, 5, 6))), HandconvError, "out_channels"),
    (dict(filters=np.ones((0, 3, 3, 1))), HandconvError, "filters"),
    (dict(strides=0), HandconvError, "strides"),
    (dict(strides=-1), HandconvError, "strides"),
    (dict(strides=[1, 1, 1]), HandconvError, "strides"),
    (dict(strides=[2, 1, 1, 1]), HandconvError, "strides"),
    (dict(strides=1.5), HandconvTypeError, "strides"),
    (dict(strides="2"), HandconvTypeError, "strides"),
    (dict(dilations=0), HandconvError, "dilations"),
    (dict(dilations=[1, 1, 1, 2]), HandconvError, "dilations"),
    (dict(padding="FULL"), HandconvError, "padding"),
    (dict(padding="EXPLICIT"), HandconvError, "padding"),
    (dict(padding=[[0, 0], [1, 1], [1, 1]]), HandconvError, "padding"),
    (dict(padding=[[0, 0], [1, 1, 1], [1, 1], [0, 0]]), HandconvError, "padding"),
    (dict(padding=[[0, 0], [-1, 1], [1, 1], [0, 0]]), HandconvError, "padding"),
    (dict(padding=[[1, 0], [1, 1], [1, 1], [0, 0]]), HandconvError, "padding"),
    (dict(padding=[[0, 0], [1, 1], [1, 1], [0, 2]]), HandconvError, "padding"),
    (dict(padding=3), HandconvTypeError, "padding"),
    (dict(data_format="NWHC"), HandconvError, "data_format"),
    (dict(data_format=None), HandconvTypeError, "data_format"),
    (dict(filters=np.ones((7, 7, 3, 1))), HandconvError, "negative"),
    (dict(method="fastest"), HandconvError, "method"),
    (dict(input=np.ones((1, 5, 5, 3), np.int64)), HandconvTypeError, "input"),
    (dict(input=[[[[1.0], [2.0]], [[3.0]]]]), HandconvTypeError, "input"),  # ragged
    (dict(input="image.png"), HandconvTypeError, "input"),
]


@pytest.mark.parametrize("kwargs, exception, name", ERRORS, ids=[f"{e[2]}-{i}" for i, e in enumerate(ERRORS)])
def test_invalid_arguments(kwargs, exception, name):
    arguments = dict(input=X, filters=W, strides=1, padding="VALID", data_format="NHWC", dilations=None)
    method = kwargs.pop("method", "auto")
    arguments.update(kwargs)
    with pytest.raises(exception, match=name) as info:
        handconv.conv2d(**arguments, method=method)
    assert isinstance(info.value, (ValueError, TypeError))


def test_negative_output_message_shows_arithmetic():
    with pytest.raises(HandconvError, match=r"\(2 - 5 \+ 2\*0\) / 1 \+ 1 = -2"):
        handconv.conv2d(np.ones((1, 2, 2, 1)), np.ones((5, 5, 1, 1)))


def test_memory_is_checked_before_allocating(monkeypatch):
    from handconv import conv

    monkeypatch.setattr(conv, "available_memory", lambda: 10 * 2**20)
    with pytest.raises(HandconvMemoryError, match="GiB") as info:
        conv.conv2d(np.zeros((1, 64, 64, 1), np.float32), np.zeros((3, 3, 1, 4096), np.float32), 1, "SAME")
    assert isinstance(info.value, MemoryError)


def test_lowercase_padding_accepted():
    np.testing.assert_array_equal(handconv.conv2d(X, W, 1, "same"), handconv.conv2d(X, W, 1, "SAME"))


def test_explicit_method_outside_its_plans_is_refused_not_run():
    """A method asked for by name on a plan it cannot compute raises instead of returning wrong numbers."""
    from handconv.methods import METHODS

    x = np.random.default_rng(6).standard_normal((1, 6, 6, 3))
    w = np.ones((3, 3, 3, 1))
    plan = handconv.make_plan(x.shape, w.shape, 2, "SAME", dtype=x.dtype)
    refused = [name for name, m in METHODS.items() if not m.supports(plan)]
    assert refused, "some method is restricted (e.g. Winograd: stride 1)"
    for name in refused:
        with pytest.raises(HandconvError, match="cannot compute"):
            handconv.conv2d(x, w, 2, "SAME", method=name)


# --------------------------------------- workspace scales with what is computed (issue 12.8)
@pytest.mark.references
@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_huge_stride_computes_tf_one_pixel_with_every_method(padding):
    rng = np.random.default_rng(5)
    x = rng.integers(-3, 4, (1, 40, 50, 3)).astype(np.float32)
    w = rng.integers(-3, 4, (3, 3, 3, 2)).astype(np.float32)
    expected = tf_conv2d(x, w, 10**6, padding)
    assert expected.shape == (1, 1, 1, 2)
    plan = handconv.make_plan(x.shape, w.shape, 10**6, padding)
    ran = []
    for method, registered in handconv.METHODS.items():
        if not registered.supports(plan):  # winograd (stride 1), the family's general methods: refuse, as they should
            continue
        np.testing.assert_array_equal(handconv.conv2d(x, w, 10**6, padding, method=method), expected)
        ran.append(method)
    assert {"naive", "im2col", "gather", "gemm", "toeplitz", "direct"} <= set(ran)


@pytest.mark.references
def test_same_with_huge_dilation_matches_tf():
    rng = np.random.default_rng(6)
    x = rng.integers(1, 4, (1, 3, 3, 3)).astype(np.float32)
    w = rng.integers(-3, 4, (3, 3, 3, 2)).astype(np.float32)
    expected = tf_conv2d(x, w, 1, "SAME", "NHWC", 10**9)
    np.testing.assert_array_equal(handconv.conv2d(x, w, 1, "SAME", dilations=10**9), expected)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 60),
    st.integers(1, 60),
    st.integers(1, 30),
    st.integers(1, 30),
    st.integers(0, 80),
    st.integers(0, 80),
    st.sampled_from(sorted(handconv.METHODS)),
    st.integers(0, 2**16),
)
def test_reading_only_what_is_read_equals_naive(sh, sw, dh, dw, top, left, method, seed):
    """Axes gathered down to the rows outputs read give naive's numbers on the full padded input."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-4, 5, (1, 7, 9, 2)).astype(np.float64)
    w = rng.integers(-3, 4, (2, 3, 2, 2)).astype(np.float64)
    padding = [[0, 0], [top, 3], [left, 1], [0, 0]]
    try:
        plan = handconv.make_plan(x.shape, w.shape, [sh, sw], padding, "NHWC", [dh, dw], np.float64)
    except HandconvError:  # the dilated filter does not fit
        assume(False)
    assume(not plan.is_empty and handconv.METHODS[method].supports(plan))
    expected = handconv.METHODS["naive"].run(x, w, plan)
    np.testing.assert_array_equal(handconv.conv2d(x, w, [sh, sw], padding, dilations=[dh, dw], method=method), expected)


@pytest.mark.parametrize(
    "shape, fshape, padding",
    [
        ((1, 1000, 1000, 3), (3, 3, 3, 2), [[0, 0], [10**9, 10**9], [10**9, 10**9], [0, 0]]),
        ((1, 1000, 1000, 3), (3, 3, 3, 10**6), "SAME"),
    ],
)
def test_impossible_sizes_refused_with_arithmetic_before_allocating(shape, fshape, padding):
    x = np.broadcast_to(np.float32(1), shape)
    w = np.broadcast_to(np.float32(1), fshape)  # 1e6 output channels without allocating them
    with pytest.raises(HandconvMemoryError, match=r"output 1 x \d+ x \d+ x \d+ x 4 bytes = [\d.]+ GiB"):
        handconv.conv2d(x, w, 1, padding)


def test_float16_size_checked_before_the_float32_cast():
    x = np.broadcast_to(np.float16(1), (1, 60000, 60000, 3))
    with pytest.raises(HandconvMemoryError, match="conversions"):
        handconv.conv2d(x, np.ones((3, 3, 3, 1), np.float16), 1, "SAME")


@pytest.mark.references
def test_naive_int32_wraps_like_tf():
    """Issue 12.9: naive raised OverflowError where TF (and every other method) wraps."""
    x = np.full((1, 4, 4, 1), 2**31 - 1, np.int32)
    w = np.ones((3, 3, 1, 1), np.int32)
    expected = tf_conv2d(x, w, 1, "SAME")
    for method in ("naive", "im2col", "auto"):
        np.testing.assert_array_equal(handconv.conv2d(x, w, 1, "SAME", method=method), expected)
