"""The convolution family (handconv.family) against live TF, PyTorch autograd, jax.vjp and finite differences.

Tolerances: float64 everywhere the references allow it, with integer-valued
inputs where the comparison should be exact (sums of small integers are exact
in float64, whatever the summation order). Against TF in float32 the bound is
the usual normwise one: 8 * eps32 * sum |x| |w| over the contracted terms.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import reference
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import handconv
from handconv import HandconvError, HandconvTypeError
from handconv.methods import GENERAL, METHODS
from handconv.plan import general_plan, make_plan

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def ints(rng, shape, low=-3, high=4):
    return rng.integers(low, high, shape).astype(np.float64)


# ------------------------------------------------------------------ oracles
def torch_grads(x_nhwc, w_hwio, dy_nhwc, strides, pad_amounts, dilations, groups):
    """PyTorch autograd of conv2d: (dx, dw) in NHWC / HWIO, float64."""
    torch = reference("torch")
    # Contiguous copies: torch keeps NumPy's strides, and its slow_conv2d refuses a strided weight gradient.
    x = torch.tensor(np.ascontiguousarray(np.moveaxis(x_nhwc, -1, 1)), requires_grad=True)
    w = torch.tensor(np.ascontiguousarray(np.transpose(w_hwio, (3, 2, 0, 1))), requires_grad=True)
    (top, bottom), (left, right) = pad_amounts
    y = torch.nn.functional.conv2d(
        torch.nn.functional.pad(x, (left, right, top, bottom)),
        w,
        stride=tuple(strides),
        dilation=tuple(dilations),
        groups=groups,
    )
    dx, dw = torch.autograd.grad(y, [x, w], torch.tensor(np.ascontiguousarray(np.moveaxis(dy_nhwc, -1, 1))))
    return np.moveaxis(dx.numpy(), 1, -1), np.transpose(dw.numpy(), (2, 3, 1, 0))


def jax_grads(x, w, dy, strides, pad_amounts, dilations, groups, dimension_numbers):
    """jax.vjp of lax.conv_general_dilated: (dx, dw), float64."""
    jax = reference("jax")
    jax.config.update("jax_enable_x64", True)

    def forward(x, w):
        return jax.lax.conv_general_dilated(
            x,
            w,
            tuple(strides),
            [tuple(p) for p in pad_amounts],
            rhs_dilation=tuple(dilations),
            dimension_numbers=dimension_numbers,
            feature_group_count=groups,
            precision=jax.lax.Precision.HIGHEST,
        )

    _, vjp = jax.vjp(forward, x, w)
    dx, dw = vjp(dy)
    return np.asarray(dx), np.asarray(dw)


def tf_grads(x, w, dy, strides, padding, data_format, dilations):
    """tf.GradientTape through tf.nn.conv2d (the reference kernel: NHWC, no dilation)."""
    tf = reference("tensorflow")
    xv, wv = tf.Variable(x), tf.Variable(w)
    with tf.GradientTape() as tape:
        y = tf.nn.conv2d(xv, wv, strides, padding, data_format, dilations)
    dx, dw = tape.gradient(y, [xv, wv], output_gradients=tf.constant(dy))
    return dx.numpy(), dw.numpy()


# ------------------------------------------------------------- configurations
@st.composite
def conv_configs(draw, allow_groups=True, allow_dilation=True):
    data_format = draw(st.sampled_from(["NHWC", "NCHW"]))
    batch_shape = draw(st.sampled_from([(1,), (2,), (2, 1)]))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    groups = draw(st.sampled_from([1, 1, 2, 3])) if allow_groups else 1
    cg = draw(st.integers(1, 3))
    out_per_group = draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    strides = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
    dilations = [draw(st.integers(1, 2)), draw(st.integers(1, 2))] if allow_dilation else [1, 1]
    kind = draw(st.sampled_from(["SAME", "VALID", "EXPLICIT"]))
    if kind == "EXPLICIT":
        spatial = [[draw(st.integers(0, 4)), draw(st.integers(0, 4))] for _ in range(2)]
        padding = [[0, 0], *spatial, [0, 0]] if data_format == "NHWC" else [[0, 0], [0, 0], *spatial]
    else:
        padding = kind
    c = cg * groups
    shape = (*batch_shape, h, w, c) if data_format == "NHWC" else (*batch_shape, c, h, w)
    return shape, (kh, kw, cg, out_per_group * groups), strides, padding, data_format, dilations


def _to_nhwc(array, data_format):
    array = np.asarray(array)
    return np.moveaxis(array, -3, -1) if data_format == "NCHW" else array


def _flat(array):
    return array.reshape(int(np.prod(array.shape[:-3])), *array.shape[-3:])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_configs(), st.integers(0, 2**32 - 1))
def test_property_gradients_equal_torch_and_naive_exactly(config, seed):
    """Every argument form, groups, dilation, NCHW, batch dims: auto = naive = torch autograd, exactly."""
    shape, fshape, strides, padding, data_format, dilations = config
    try:
        plan = make_plan(shape, fshape, strides, padding, data_format, dilations, np.float64)
    except HandconvError:
        return
    rng = np.random.default_rng(seed)
    x, w = ints(rng, shape), ints(rng, fshape)
    dy = ints(rng, plan.user_output_shape)
    results = {
        method: (
            handconv.conv2d_backprop_input(shape, w, dy, strides, padding, data_format, dilations, method=method),
            handconv.conv2d_backprop_filter(x, fshape, dy, strides, padding, data_format, dilations, method=method),
        )
        for method in ("auto", "naive")
    }
    if plan.is_empty:  # no output: zero gradients (the references refuse empty outputs)
        assert not any(array.any() for pair in results.values() for array in pair)
        return
    dx_t, dw_t = torch_grads(
        _flat(_to_nhwc(x, data_format)),
        w,
        _flat(_to_nhwc(dy, data_format)),
        plan.strides,
        plan.pad_amounts,
        plan.dilations,
        plan.groups,
    )
    for dx, dw in results.values():
        assert dx.shape == shape and dw.shape == fshape and dx.dtype == dw.dtype == np.float64
        np.testing.assert_array_equal(_flat(_to_nhwc(dx, data_format)), dx_t)
        np.testing.assert_array_equal(dw, dw_t)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_configs(allow_groups=False, allow_dilation=False), st.integers(0, 2**32 - 1))
def test_property_gradients_equal_tf(config, seed):
    """Against TF's own gradient kernels (GradientTape), in float32 and float64.

    TF's CPU kernels compute only NHWC without dilation; NCHW calls are checked
    through the transposed NHWC problem, dilated ones are left to torch and JAX.
    """
    shape, fshape, strides, padding, data_format, dilations = config
    try:
        plan = make_plan(shape, fshape, strides, padding, data_format, dilations, np.float64)
    except HandconvError:
        return
    assume(not plan.is_empty)
    rng = np.random.default_rng(seed)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal(shape).astype(dtype)
        w = rng.standard_normal(fshape).astype(dtype)
        dy = rng.standard_normal(plan.user_output_shape).astype(dtype)
        x4, dy4 = _flat(_to_nhwc(x, data_format)), _flat(_to_nhwc(dy, data_format))
        nhwc_padding = padding if isinstance(padding, str) else [[0, 0], *plan.pad_amounts, [0, 0]]
        dx_tf, dw_tf = tf_grads(x4, w, dy4, list(plan.strides), nhwc_padding, "NHWC", None)
        dx = handconv.conv2d_backprop_input(shape, w, dy, strides, padding, data_format, dilations)
        dw = handconv.conv2d_backprop_filter(x, fshape, dy, strides, padding, data_format, dilations)
        assert dx.dtype == dw.dtype == dtype
        eps = np.finfo(dtype).eps
        # Each dx entry sums |w||dy| over at most KH*KW*C_out terms, each dw entry |x||dy| over N*OH*OW.
        bound_dx = 8 * eps * (np.abs(w).max() * np.abs(dy4).max() * w[..., 0, :].size + 1)
        bound_dw = 8 * eps * (np.abs(x4).max() * np.abs(dy4).max() * max(1, dy4[..., 0].size) + 1)
        np.testing.assert_allclose(_flat(_to_nhwc(dx, data_format)), dx_tf, rtol=0, atol=bound_dx)
        np.testing.assert_allclose(dw, dw_tf, rtol=0, atol=bound_dw)


def test_tf_raw_ops_with_explicit_padding_and_strides():
    tf = reference("tensorflow")
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 10, 9, 3)), rng.standard_normal((4, 3, 3, 5))
    pads = [[0, 0], [5, 1], [0, 4], [0, 0]]
    y = handconv.conv2d(x, w, 3, pads)
    dy = rng.standard_normal(y.shape)
    flat = [p for pair in pads for p in pair]
    dx_tf = tf.raw_ops.Conv2DBackpropInput(
        input_sizes=x.shape, filter=w, out_backprop=dy, strides=[1, 3, 3, 1], padding="EXPLICIT", explicit_paddings=flat
    ).numpy()
    dw_tf = tf.raw_ops.Conv2DBackpropFilter(
        input=x, filter_sizes=w.shape, out_backprop=dy, strides=[1, 3, 3, 1], padding="EXPLICIT", explicit_paddings=flat
    ).numpy()
    np.testing.assert_allclose(handconv.conv2d_backprop_input(x.shape, w, dy, 3, pads), dx_tf, atol=1e-12)
    np.testing.assert_allclose(handconv.conv2d_backprop_filter(x, w.shape, dy, 3, pads), dw_tf, atol=1e-12)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_configs(), st.integers(0, 2**32 - 1))
def test_property_gradients_equal_jax_vjp(config, seed):
    shape, fshape, strides, padding, data_format, dilations = config
    try:
        plan = make_plan(shape, fshape, strides, padding, data_format, dilations, np.float64)
    except HandconvError:
        return
    assume(not plan.is_empty)
    rng = np.random.default_rng(seed)
    x, w = ints(rng, shape), ints(rng, fshape)
    dy = ints(rng, plan.user_output_shape)
    x4, dy4 = _flat(x), _flat(dy)
    dx_j, dw_j = jax_grads(
        x4, w, dy4, plan.strides, plan.pad_amounts, plan.dilations, plan.groups, (data_format, "HWIO", data_format)
    )
    dx = handconv.conv2d_backprop_input(shape, w, dy, strides, padding, data_format, dilations)
    dw = handconv.conv2d_backprop_filter(x, fshape, dy, strides, padding, data_format, dilations)
    np.testing.assert_array_equal(_flat(dx), dx_j)
    np.testing.assert_array_equal(dw, dw_j)


def test_finite_differences_float64():
    """The loss sum(conv2d(x, w) * dy) is linear in x and in w: central differences are exact up to rounding."""
    rng = np.random.default_rng(4)
    shape, fshape = (2, 6, 7, 4), (3, 2, 2, 6)  # 2 groups
    strides, padding, dilations = [2, 1], [[0, 0], [1, 2], [0, 1], [0, 0]], [1, 2]
    x, w = rng.standard_normal(shape), rng.standard_normal(fshape)
    dy = rng.standard_normal(handconv.output_shape(shape, fshape, strides, padding, "NHWC", dilations))

    def loss(x, w):
        return float(np.sum(handconv.conv2d(x, w, strides, padding, "NHWC", dilations) * dy))

    dx = handconv.conv2d_backprop_input(shape, w, dy, strides, padding, dilations=dilations)
    dw = handconv.conv2d_backprop_filter(x, fshape, dy, strides, padding, dilations=dilations)
    eps = 1e-3
    for index in [tuple(rng.integers(0, s) for s in shape) for _ in range(12)] + [(0, 0, 0, 0), (1, 5, 6, 3)]:
        step = np.zeros(shape)
        step[index] = eps
        numeric = (loss(x + step, w) - loss(x - step, w)) / (2 * eps)
        assert abs(numeric - dx[index]) < 1e-8 * (1 + abs(numeric))
    for index in np.ndindex(*fshape):
        step = np.zeros(fshape)
        step[index] = eps
        numeric = (loss(x, w + step) - loss(x, w - step)) / (2 * eps)
        assert abs(numeric - dw[index]) < 1e-8 * (1 + abs(numeric))


# ----------------------------------------------------------- transposed
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(1, 5),
    st.integers(1, 5),
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(1, 3),
    st.sampled_from(["SAME", "VALID"]),
    st.integers(0, 3),
    st.integers(0, 2**32 - 1),
)
def test_property_conv2d_transpose_equals_tf(h, w, k, stride, channels, padding, pick, seed):
    tf = reference("tensorflow")
    sizes = handconv.shapes.transposed_sizes(h, k, stride, padding)
    assume(len(sizes) > 0)
    out_h = sizes[pick % len(sizes)]
    out_w = handconv.shapes.transposed_sizes(w, k, stride, padding)[0]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, h, w, channels)).astype(np.float32)
    filters = rng.standard_normal((k, k, 2, channels)).astype(np.float32)
    output_shape = (2, out_h, out_w, 2)
    expected = tf.nn.conv2d_transpose(x, filters, output_shape, stride, padding).numpy()
    out = handconv.conv2d_transpose(x, filters, output_shape, stride, padding)
    assert out.dtype == np.float32 and out.shape == output_shape
    np.testing.assert_allclose(out, expected, atol=1e-5 * (1 + np.abs(expected).max(initial=0)))
    naive = handconv.conv2d_transpose(x, filters, output_shape, stride, padding, method="naive")
    np.testing.assert_allclose(out, naive, atol=1e-5 * (1 + np.abs(expected).max(initial=0)))


def test_conv2d_transpose_is_conv2d_backprop_input():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((1, 3, 4, 6)), rng.standard_normal((3, 3, 2, 6))
    a = handconv.conv2d_transpose(x, w, (1, 5, 7, 2), 2, "SAME", dilations=[1, 1])
    b = handconv.conv2d_backprop_input((1, 5, 7, 2), w, x, 2, "SAME")
    np.testing.assert_array_equal(a, b)


def test_conv2d_transpose_nchw_and_dilated_against_jax():
    jax = reference("jax")
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(6)
    x, w = ints(rng, (2, 4, 3, 3)), ints(rng, (3, 2, 5, 4))  # NCHW input with 4 channels
    out_shape = (2, 5, 7, 6)
    out = handconv.conv2d_transpose(x, w, out_shape, [1, 2], "VALID", "NCHW", dilations=[2, 1])

    def forward(v):
        return jax.lax.conv_general_dilated(
            v, w, (1, 2), "VALID", rhs_dilation=(2, 1), dimension_numbers=("NCHW", "HWIO", "NCHW")
        )

    _, vjp = jax.vjp(forward, np.zeros(out_shape))
    np.testing.assert_array_equal(out, np.asarray(vjp(x)[0]))


# --------------------------------------------------------------- forward family
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(1, 3),
    st.sampled_from(["SAME", "VALID", "EXPLICIT"]),
    st.booleans(),
    st.integers(1, 2),
    st.integers(1, 2),
    st.integers(0, 2**32 - 1),
)
def test_property_convolution_1d_3d_equal_tf(rank, kind, channels_first, stride, dilation, seed):
    tf = reference("tensorflow")
    rng = np.random.default_rng(seed)
    spatial = tuple(int(v) for v in rng.integers(3, 8, rank))
    kernel = tuple(int(v) for v in rng.integers(1, 4, rank))
    c, o = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    x = rng.standard_normal((2, *spatial, c)).astype(np.float32)
    w = rng.standard_normal((*kernel, c, o)).astype(np.float32)
    if stride > 1 and dilation > 1:
        dilation = 1  # TF's convolution refuses both at once
    if kind == "EXPLICIT":
        pairs = [[int(a), int(b)] for a, b in rng.integers(0, 3, (rank, 2))]
        tf_x, tf_padding, padding = np.pad(x, [(0, 0), *pairs, (0, 0)]), "VALID", [[0, 0], *pairs, [0, 0]]
    else:
        tf_x, tf_padding, padding = x, kind, kind
    try:
        expected = tf.nn.convolution(tf_x, w, stride, tf_padding, dilations=dilation).numpy()
    except tf.errors.InvalidArgumentError:
        # The dilated filter does not fit: TF's space-to-batch path fails on a negative crop.
        assume(False)
    names = {1: ("NWC", "NCW"), 2: ("NHWC", "NCHW"), 3: ("NDHWC", "NCDHW")}[rank]
    data_format = names[1] if channels_first else names[0]
    user_x = np.moveaxis(x, -1, 1) if channels_first else x
    if channels_first and padding != kind:
        padding = [padding[0], padding[-1], *padding[1:-1]]
    out = handconv.convolution(user_x, w, stride, padding, data_format, dilation)
    out = np.moveaxis(out, 1, -1) if channels_first else out
    np.testing.assert_allclose(out, expected, atol=1e-5 * (1 + np.abs(expected).max(initial=0)))
    if rank == 1:
        np.testing.assert_array_equal(
            handconv.conv1d(user_x, w, stride, padding, data_format, dilation),
            handconv.convolution(user_x, w, stride, padding, data_format, dilation),
        )
    if rank == 3:
        direct = handconv.conv3d(user_x, w, stride, padding, data_format, dilation)
        np.testing.assert_allclose(
            np.moveaxis(direct, 1, -1) if channels_first else direct,
            expected,
            atol=1e-5 * (1 + np.abs(expected).max(initial=0)),
        )


def test_conv1d_and_conv3d_tf_functions_and_batch_dims():
    tf = reference("tensorflow")
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((2, 3, 11, 4)).astype(np.float32), rng.standard_normal((3, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(handconv.conv1d(x, w, 2, "SAME"), tf.nn.conv1d(x, w, 2, "SAME").numpy(), atol=1e-5)
    x3, w3 = rng.standard_normal((2, 5, 6, 4, 2)), rng.standard_normal((2, 3, 2, 2, 3))
    np.testing.assert_allclose(
        handconv.conv3d(x3, w3, [1, 2, 1, 2, 1], "VALID"),
        tf.nn.conv3d(x3, w3, [1, 2, 1, 2, 1], "VALID").numpy(),
        atol=1e-12,
    )


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 3),
    st.sampled_from(["SAME", "VALID"]),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_property_depthwise_equals_tf(channels, multiplier, stride, padding, dilate, seed):
    tf = reference("tensorflow")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 7, 6, channels)).astype(np.float32)
    w = rng.standard_normal((3, 2, channels, multiplier)).astype(np.float32)
    rate = [2, 2] if dilate else [1, 1]
    strides = [1, 1, 1, 1] if dilate else [1, stride, stride, 1]
    expected = tf.nn.depthwise_conv2d(x, w, strides, padding, dilations=rate).numpy()
    out = handconv.depthwise_conv2d(x, w, strides, padding, dilations=rate)
    np.testing.assert_allclose(out, expected, atol=1e-5 * (1 + np.abs(expected).max(initial=0)))
    nchw = handconv.depthwise_conv2d(np.moveaxis(x, -1, 1), w, [1, 1, *strides[1:3]], padding, "NCHW", rate)
    np.testing.assert_allclose(np.moveaxis(nchw, 1, -1), out, atol=1e-5 * (1 + np.abs(expected).max(initial=0)))


# ------------------------------------------------- every general method = naive
@st.composite
def general_plans(draw):
    rank = draw(st.integers(1, 3))
    batch_groups = draw(st.sampled_from([1, 1, 2]))
    groups = 1 if batch_groups > 1 else draw(st.sampled_from([1, 2]))
    n = draw(st.integers(1, 2)) * batch_groups
    cg = draw(st.integers(1, 2))
    o = draw(st.integers(1, 2)) * groups * batch_groups
    spatial = [draw(st.integers(1, 5)) for _ in range(rank)]
    kernel = [draw(st.integers(1, 3)) for _ in range(rank)]
    pads = [(draw(st.integers(-2, 3)), draw(st.integers(-2, 3))) for _ in range(rank)]
    plan = general_plan(
        (n, *spatial, cg * groups),
        (*kernel, cg, o),
        strides=[draw(st.integers(1, 2)) for _ in range(rank)],
        pad_amounts=pads,
        dilations=[draw(st.integers(1, 2)) for _ in range(rank)],
        lhs_dilations=[draw(st.integers(1, 3)) for _ in range(rank)],
        batch_groups=batch_groups,
        dtype=np.float64,
    )
    assume(min(plan.padded_spatial) >= 0)
    return plan


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    general_plans(),
    st.integers(0, 2**32 - 1),
    st.sampled_from([1, 16, 1 << 22]),
    st.sampled_from([0, 16]),
    st.sampled_from([-1, 64]),
)
def test_property_every_general_method_equals_naive(plan, seed, band_bytes, planar_below, flat_thin):
    """Input dilation, cropping, batch groups, 1-3 dimensions; small bands, both scatter layouts and
    weightgrad's three layouts (flat GEMMs in chunks of a few rows, im2col columns, bands) too."""
    from handconv.methods import col2im, weightgrad

    rng = np.random.default_rng(seed)
    x, w = ints(rng, plan.input_shape), ints(rng, plan.filter_shape)
    expected = METHODS["naive"].run(x, w, plan)
    names = ("BAND_BYTES", "FLAT_CHUNK_BYTES", "FLAT_THIN")
    old = [getattr(weightgrad, name) for name in names], col2im.WORKSPACE_BYTES, col2im.PLANAR_BELOW
    for name, value in zip(names, (band_bytes, band_bytes, flat_thin)):
        setattr(weightgrad, name, value)
    col2im.WORKSPACE_BYTES, col2im.PLANAR_BELOW = band_bytes, planar_below
    try:
        for name in GENERAL:
            if METHODS[name].supports(plan):
                np.testing.assert_array_equal(METHODS[name].run(x, w, plan), expected, err_msg=name)
    finally:
        for name, value in zip(names, old[0]):
            setattr(weightgrad, name, value)
        col2im.WORKSPACE_BYTES, col2im.PLANAR_BELOW = old[1:]


def test_two_d_methods_refuse_general_plans_and_auto_picks_a_fast_one():
    plan = general_plan((1, 4, 4, 2), (3, 3, 2, 2), 1, [(2, 2), (2, 2)], lhs_dilations=2)
    for name, method in METHODS.items():
        assert method.supports(plan) == (name in GENERAL and name != "weightgrad" or name == "weightgrad"), name
    assert handconv.methods.select_method(plan) == "col2im"
    with pytest.raises(HandconvError, match="cannot compute"):
        handconv.conv2d_backprop_input(
            (1, 7, 7, 2), np.ones((3, 3, 2, 2)), np.ones((1, 4, 4, 2)), 2, "SAME", method="winograd"
        )
    forward = make_plan((2, 8, 8, 3), (3, 3, 3, 4), 1, "VALID")
    assert handconv.methods.select_method(handconv.plan.backprop_filter_plan(forward)) in ("weightgrad", "direct")


# ------------------------------------------------------- dtypes and layouts
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dtypes_follow_the_input_like_tf(dtype):
    tf = reference("tensorflow")
    rng = np.random.default_rng(8)
    x = rng.standard_normal((1, 6, 5, 2)).astype(dtype)
    w = rng.standard_normal((3, 3, 2, 3)).astype(dtype)
    dy = rng.standard_normal((1, 3, 3, 3)).astype(dtype)
    dx = handconv.conv2d_backprop_input(x.shape, w, dy, 2, "SAME")
    dw = handconv.conv2d_backprop_filter(x, w.shape, dy, 2, "SAME")
    dx_tf = tf.raw_ops.Conv2DBackpropInput(
        input_sizes=x.shape, filter=w, out_backprop=dy, strides=[1, 2, 2, 1], padding="SAME"
    ).numpy()
    dw_tf = tf.raw_ops.Conv2DBackpropFilter(
        input=x, filter_sizes=w.shape, out_backprop=dy, strides=[1, 2, 2, 1], padding="SAME"
    ).numpy()
    assert dx.dtype == dw.dtype == dx_tf.dtype == dtype
    tol = {np.float16: 2e-2, np.float32: 1e-5, np.float64: 1e-12}[dtype]
    np.testing.assert_allclose(dx.astype(float), dx_tf.astype(float), atol=tol * 10, rtol=tol)
    np.testing.assert_allclose(dw.astype(float), dw_tf.astype(float), atol=tol * 10, rtol=tol)


def test_empty_and_degenerate_shapes_give_zeros():
    # The filter fits nowhere: no output, so every input gets zero gradient.
    dx = handconv.conv2d_backprop_input((1, 2, 2, 1), np.ones((3, 3, 1, 1)), np.zeros((1, 0, 0, 1)), 2, "VALID")
    assert dx.shape == (1, 2, 2, 1) and not dx.any()
    dw = handconv.conv2d_backprop_filter(np.ones((1, 2, 2, 1)), (3, 3, 1, 1), np.zeros((1, 0, 0, 1)), 2, "VALID")
    assert dw.shape == (3, 3, 1, 1) and not dw.any()
    # VALID with leftover rows: the rows no window reads get zero gradient.
    dx = handconv.conv2d_backprop_input((1, 6, 6, 1), np.ones((3, 3, 1, 1)), np.ones((1, 2, 2, 1)), 2, "VALID")
    assert not dx[0, 5].any() and not dx[0, :, 5].any()


# --------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: handconv.conv2d_backprop_input((1, 5, 5), np.ones((3, 3, 1, 1)), np.ones((1, 3, 3, 1)), 1, "SAME"),
            r"input_sizes=\(1, 5, 5\) has length 3; expected 4",
        ),
        (
            lambda: handconv.conv2d_backprop_input(
                (1, 5, 5, 1), np.ones((3, 3, 1, 1)), np.ones((1, 4, 3, 1)), 2, "SAME"
            ),
            r"out_backprop has shape \(1, 4, 3, 1\) but the convolution gives \(1, 3, 3, 1\): "
            r"height: ceil\(5 / 2\) = 3",
        ),
        (
            lambda: handconv.conv2d_backprop_filter(
                np.ones((1, 5, 5, 1)), (3, 3, 1), np.ones((1, 3, 3, 1)), 1, "VALID"
            ),
            r"filter_sizes=\(3, 3, 1\) has length 3; expected 4",
        ),
        (
            lambda: handconv.conv2d_backprop_filter(
                np.ones((1, 5, 5, 1)), (3, 3, 1, 2), np.ones((1, 3, 3, 1)), 1, "VALID"
            ),
            r"out_backprop has shape \(1, 3, 3, 1\) but the convolution gives \(1, 3, 3, 2\)",
        ),
        (
            lambda: handconv.conv2d_transpose(np.ones((1, 3, 3, 2)), np.ones((3, 3, 1, 2)), (1, 8, 6, 1), 2, "SAME"),
            r"output_shape=\(1, 8, 6, 1\) does not fit input .* height: ceil\(8 / 2\) = 4.* must be in 5\.\.6",
        ),
        (
            lambda: handconv.conv2d_transpose(np.ones((1, 3, 3, 2)), np.ones((3, 3, 1, 5)), (1, 6, 6, 1), 2, "SAME"),
            r"input has 2 channel\(s\).*out_channels=5",
        ),
        (
            lambda: handconv.conv2d_transpose(np.ones((1, 3, 3, 2)), np.ones((3, 3, 1, 2)), (1, 6, 6), 2, "SAME"),
            r"output_shape=\(1, 6, 6\) has length 3; expected 4",
        ),
        (
            lambda: handconv.depthwise_conv2d(np.ones((1, 5, 5, 3)), np.ones((3, 3, 2, 1)), 1, "SAME"),
            r"filter has shape \(3, 3, 2, 1\) with in_channels=2, but input has 3",
        ),
        (
            lambda: handconv.conv1d(np.ones((1, 5, 2)), np.ones((3, 2, 1)), 1, "SAME", "NHWC"),
            r"data_format='NHWC' is not supported; expected 'NWC' or 'NCW'",
        ),
        (
            lambda: handconv.conv3d(np.ones((1, 5, 5, 5, 2)), np.ones((3, 3, 3, 2, 1)), [1, 2, 2], "FULL"),
            r"padding='FULL' is not a padding",
        ),
    ],
)
def test_bad_input_names_the_argument_and_the_arithmetic(call, match):
    with pytest.raises(HandconvError, match=match):
        call()


def test_bad_types_are_type_errors():
    with pytest.raises(HandconvTypeError, match="input_sizes"):
        handconv.conv2d_backprop_input([1.5, 5, 5, 1], np.ones((3, 3, 1, 1)), np.ones((1, 5, 5, 1)), 1, "SAME")
    with pytest.raises(HandconvTypeError, match="out_backprop has dtype"):
        handconv.conv2d_backprop_filter(np.ones((1, 5, 5, 1)), (3, 3, 1, 1), np.ones((1, 5, 5, 1), complex), 1, "SAME")


def test_thread_safe_under_concurrent_calls():
    rng = np.random.default_rng(9)
    cases = []
    for k in range(6):
        shape, fshape = (2, 6 + k, 7, 2), (3, 2, 2, 3)
        x, w = rng.standard_normal(shape), rng.standard_normal(fshape)
        dy = rng.standard_normal(handconv.output_shape(shape, fshape, 1 + k % 3, "SAME"))
        cases.append((shape, fshape, 1 + k % 3, x, w, dy))
    expected = [
        (handconv.conv2d_backprop_input(s, w, dy, st_, "SAME"), handconv.conv2d_backprop_filter(x, f, dy, st_, "SAME"))
        for s, f, st_, x, w, dy in cases
    ]
    failures = []

    def work(worker):
        for i in range(20):
            s, f, st_, x, w, dy = cases[(i + worker) % len(cases)]
            dx = handconv.conv2d_backprop_input(s, w, dy, st_, "SAME")
            dw = handconv.conv2d_backprop_filter(x, f, dy, st_, "SAME")
            ex, ew = expected[(i + worker) % len(cases)]
            if not (np.array_equal(dx, ex) and np.array_equal(dw, ew)):
                failures.append(worker)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures


def test_inputs_are_never_written():
    rng = np.random.default_rng(10)
    x, w, dy = rng.standard_normal((1, 5, 5, 2)), rng.standard_normal((3, 3, 2, 2)), rng.standard_normal((1, 3, 3, 2))
    copies = x.copy(), w.copy(), dy.copy()
    for array in (x, w, dy):
        array.flags.writeable = False
    handconv.conv2d_backprop_input(x.shape, w, dy, 2, "SAME")
    handconv.conv2d_backprop_filter(x, w.shape, dy, 2, "SAME")
    handconv.conv2d_transpose(dy, w, x.shape, 2, "SAME")
    for array, copy in zip((x, w, dy), copies):
        np.testing.assert_array_equal(array, copy)


def test_nd_gradients_against_jax():
    jax = reference("jax")
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(11)
    for shape, fshape, fmt in [((2, 9, 2), (3, 2, 3), "NWC"), ((1, 5, 4, 6, 2), (2, 3, 2, 2, 2), "NDHWC")]:
        x, w = ints(rng, shape), ints(rng, fshape)
        y = handconv.convolution(x, w, 2, "SAME", dilations=None)
        dy = ints(rng, y.shape)
        kernel = "WIO" if len(shape) == 3 else "DHWIO"

        def forward(x, w, shape=shape, fmt=fmt, kernel=kernel):
            return jax.lax.conv_general_dilated(
                x, w, (2,) * (len(shape) - 2), "SAME", dimension_numbers=(fmt, kernel, fmt)
            )

        _, vjp = jax.vjp(forward, x, w)
        dx_j, dw_j = vjp(dy)
        np.testing.assert_array_equal(handconv.convolution_backprop_input(shape, w, dy, 2, "SAME"), dx_j)
        np.testing.assert_array_equal(handconv.convolution_backprop_filter(x, fshape, dy, 2, "SAME"), dw_j)
