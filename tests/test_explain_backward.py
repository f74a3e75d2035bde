"""The backward pass explained: each gradient element as its sum of products.

Truths: TensorFlow's own gradient ops (``tf.raw_ops.Conv2DBackpropFilter``/``Input``, reference CPU
kernel) and an independent sum written here with NumPy slicing; integer-valued float64 data makes
every sum exact, so the trace's total, its written-out sum and TF agree bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import reference
from hypothesis import given, settings
from hypothesis import strategies as st

import handconv
from handconv.errors import HandconvError, HandconvTypeError
from handconv.explain import GradTrace, render_grad_text

PADDING_1 = [[0, 0], [1, 1], [1, 1], [0, 0]]


def article(seed: int = 7):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=(2, 5, 5, 3)).astype(np.float64)
    w = rng.integers(-1, 2, size=(3, 3, 3, 2)).astype(np.float64)
    dy = rng.integers(-2, 3, size=(2, 3, 3, 2)).astype(np.float64)
    return x, w, dy


def tf_gradients(x, w, dy, strides, padding, dilations=(1, 1)):
    """TF's input and filter gradients (NHWC), through the raw ops."""
    tf = reference("tensorflow")
    args = dict(strides=[1, *strides, 1], dilations=[1, *dilations, 1])
    if isinstance(padding, str):
        args.update(padding=padding)
    else:
        args.update(padding="EXPLICIT", explicit_paddings=[v for pair in padding for v in pair])
    dw = tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=w.shape, out_backprop=dy, **args).numpy()
    dx = tf.raw_ops.Conv2DBackpropInput(input_sizes=x.shape, filter=w, out_backprop=dy, **args).numpy()
    return dx, dw


def by_slicing_filter_grad(x, dy, fy, fx, k, co, strides, pads, dilations=(1, 1)):
    """dL/dW[fy, fx, k, co] from NumPy slicing: the tap's strided sub-grid of the padded input times dy."""
    (t, b), (left, r) = pads
    padded = np.pad(x, ((0, 0), (t, b), (left, r), (0, 0)))
    oh, ow = dy.shape[1:3]
    rows = slice(fy * dilations[0], fy * dilations[0] + (oh - 1) * strides[0] + 1, strides[0])
    cols = slice(fx * dilations[1], fx * dilations[1] + (ow - 1) * strides[1] + 1, strides[1])
    return float((padded[:, rows, cols, k] * dy[:, :, :, co]).sum())


@pytest.mark.references
def test_article_filter_and_input_gradients_equal_tensorflow_exactly():
    x, w, dy = article()
    dx_tf, dw_tf = tf_gradients(x, w, dy, (2, 2), PADDING_1)
    for at in [(0, 0, 0, 0), (1, 1, 2, 1), (2, 0, 1, 0), (-1, -1, -1, -1)]:
        trace = handconv.explain(x, w, 2, PADDING_1, grad="filter", out_backprop=dy, at=at)
        assert isinstance(trace, GradTrace)
        assert trace.total == trace.sum_of_products == dw_tf[at]
        fy, fx, k, co = trace.at
        assert trace.total == by_slicing_filter_grad(x, dy, fy, fx, k, co, (2, 2), ((1, 1), (1, 1)))
        assert len(trace.terms) == 2 * 3 * 3, "every image and every output position"
        np.testing.assert_array_equal(trace.gradient, dw_tf)
    for n, at in [(0, (0, 0, 0)), (1, (2, 2, 1)), (1, (4, 3, 2)), (0, (1, 1, 0))]:
        trace = handconv.explain(x, w, 2, PADDING_1, grad="input", out_backprop=dy, at=at, batch_index=n)
        assert trace.total == trace.sum_of_products == dx_tf[(n, *at)]
        np.testing.assert_array_equal(trace.gradient, dx_tf[n])


def test_input_gradient_terms_are_exactly_the_outputs_the_pixel_fed():
    x, w, dy = article()
    trace = handconv.explain(x, w, 2, PADDING_1, grad="input", out_backprop=dy, at=(2, 2, 1), batch_index=1)
    # Padded (3, 3) is read by output row/col 1 (tap 1) only with stride 2, 3x3 filter, pad 1:
    # oy*2 + fy = 3 -> (oy, fy) in {(1, 1)}; (0, 3) is outside the filter.
    assert {(t.co, t.oy, t.ox, t.fy, t.fx) for t in trace.terms} == {(0, 1, 1, 1, 1), (1, 1, 1, 1, 1)}
    for t in trace.terms:
        assert t.value == w[t.fy, t.fx, 1, t.co] and t.out_grad == dy[1, t.oy, t.ox, t.co]
        assert t.product == t.value * t.out_grad
    corner = handconv.explain(x, w, 2, PADDING_1, grad="input", out_backprop=dy, at=(0, 0, 0))
    # Padded (1, 1): row 1 = oy*2 + fy -> (0, 1); so output (0, 0) with tap (1, 1), per channel.
    assert {(t.oy, t.ox, t.fy, t.fx) for t in corner.terms} == {(0, 0, 1, 1)}


def test_a_pixel_no_output_reads_has_gradient_zero_and_says_so():
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    w = np.ones((2, 2, 1, 1))
    # Stride 3, VALID: one output, reading rows and columns 0-1; pixel (3, 3) feeds nothing.
    trace = handconv.explain(x, w, 3, "VALID", grad="input", out_backprop=np.ones((1, 1, 1, 1)), at=(3, 3, 0))
    assert trace.terms == () and trace.total == 0.0
    assert "no output reads it" in trace.arithmetic


@pytest.mark.references
@settings(max_examples=12, deadline=None)
@given(
    size=st.integers(3, 7),
    k=st.integers(1, 3),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
    padding=st.sampled_from(["SAME", "VALID", "explicit"]),
    groups=st.sampled_from([1, 2]),
    seed=st.integers(0, 10**6),
)
def test_totals_equal_tensorflow_and_the_written_sum_for_random_configurations(
    size, k, stride, dilation, padding, groups, seed
):
    rng = np.random.default_rng(seed)
    channels = 2 * groups
    x = rng.integers(-3, 4, size=(2, size, size, channels)).astype(np.float64)
    w = rng.integers(-3, 4, size=(k, k, channels // groups, 2 * groups)).astype(np.float64)
    if padding == "explicit":
        padding = [[0, 0], [int(rng.integers(0, 3)), int(rng.integers(0, 3))], [int(rng.integers(0, 3)), 1], [0, 0]]
    if (k - 1) * dilation + 1 > size + (0 if isinstance(padding, str) else 1):
        return
    plan = handconv.make_plan(x.shape, w.shape, stride, padding, "NHWC", dilation, x.dtype)
    if plan.is_empty:
        return
    dy = rng.integers(-3, 4, size=plan.output_shape).astype(np.float64)
    trace = handconv.explain(
        x,
        w,
        stride,
        padding,
        dilations=dilation,
        grad="filter",
        out_backprop=dy,
        at=tuple(int(rng.integers(0, s)) for s in w.shape),
    )
    assert trace.total == trace.sum_of_products
    fy, fx, kk, co = trace.at
    channel = (co // 2) * (channels // groups) + kk
    assert trace.total == by_slicing_filter_grad(
        x[..., channel : channel + 1], dy, fy, fx, 0, co, plan.strides, plan.pad_amounts, plan.dilations
    )
    pixel = (int(rng.integers(0, size)), int(rng.integers(0, size)), int(rng.integers(0, channels)))
    trace = handconv.explain(
        x, w, stride, padding, dilations=dilation, grad="input", out_backprop=dy, at=pixel, batch_index=1
    )
    assert trace.total == trace.sum_of_products
    if groups == 1 and dilation == 1:  # TF's CPU gradient kernels refuse groups and dilation
        dx_tf, _ = tf_gradients(
            x, w, dy, plan.strides, padding if isinstance(padding, str) else padding, plan.dilations
        )
        assert trace.total == dx_tf[(1, *pixel)]


def test_nchw_and_extra_batch_dims_give_the_nhwc_numbers():
    x, w, dy = article()
    nhwc = handconv.explain(x, w, 2, PADDING_1, grad="filter", out_backprop=dy, at=(1, 2, 0, 1))
    nchw = handconv.explain(
        np.moveaxis(x, -1, 1),
        w,
        2,
        [[0, 0], [0, 0], [1, 1], [1, 1]],
        "NCHW",
        grad="filter",
        out_backprop=np.moveaxis(dy, -1, 1),
        at=(1, 2, 0, 1),
    )
    assert nchw.total == nhwc.total and nchw.terms == nhwc.terms
    batched = handconv.explain(
        x.reshape(1, 2, 5, 5, 3),
        w,
        2,
        PADDING_1,
        grad="input",
        out_backprop=dy.reshape(1, 2, 3, 3, 2),
        at=(3, 1, 2),
        batch_index=1,
    )
    flat = handconv.explain(x, w, 2, PADDING_1, grad="input", out_backprop=dy, at=(3, 1, 2), batch_index=1)
    assert batched.total == flat.total and batched.terms == flat.terms


def test_text_writes_the_sum_and_marks_the_cells():
    x, w, dy = article()
    trace = handconv.explain(x[:1], w, 2, PADDING_1, grad="filter", out_backprop=dy[:1], at=(0, 0, 1, 1))
    text = render_grad_text(trace, color=False)
    products = " + ".join(
        f"{t.value:g}*{t.out_grad:g}".replace("*-", "*(-") + (")" if t.out_grad < 0 else "") for t in trace.terms
    )
    assert f"dL/dW[0, 0, 1, 1] = {products} = {trace.total:g}" in text
    assert text.count("[") >= 9, "the nine cells the tap read are bracketed"
    assert str(trace) == text
    batch = handconv.explain(x, w, 2, PADDING_1, grad="filter", out_backprop=dy, at=(0, 0, 1, 1))
    last = batch.arithmetic.splitlines()[-1]
    subtotals = [sum(t.product for t in batch.terms if t.n == n) for n in (0, 1)]
    assert (
        last
        == "dL/dW[0, 0, 1, 1] = "
        + " + ".join(f"({s:g})" if s < 0 else f"{s:g}" for s in subtotals)
        + f" = {batch.total:g}"
    )
    pixel = render_grad_text(
        handconv.explain(x, w, 2, PADDING_1, grad="input", out_backprop=dy, at=(2, 2, 0)), color=True
    )
    assert "\x1b[" in pixel and "dL/dx[0, 2, 2, 0] = " in pixel


def test_bad_arguments_name_what_was_expected():
    x, w, dy = article()
    with pytest.raises(HandconvError, match=r"out_backprop has shape \(2, 3, 3, 1\); expected .*\(2, 3, 3, 2\)"):
        handconv.explain(x, w, 2, PADDING_1, grad="filter", out_backprop=dy[..., :1], at=(0, 0, 0, 0))
    with pytest.raises(HandconvError, match="needs out_backprop"):
        handconv.explain(x, w, 2, PADDING_1, grad="filter", at=(0, 0, 0, 0))
    with pytest.raises(HandconvError, match="grad='weights'"):
        handconv.explain(x, w, 2, PADDING_1, grad="weights", out_backprop=dy, at=(0, 0, 0, 0))
    with pytest.raises(HandconvTypeError, match=r"at=\(fy, fx, k, co\)"):
        handconv.explain(x, w, 2, PADDING_1, grad="filter", out_backprop=dy, at=(0, 0))
    with pytest.raises(HandconvError, match="output channel 2 is outside 0..1"):
        handconv.explain(x, w, 2, PADDING_1, grad="filter", out_backprop=dy, at=(0, 0, 0, 2))
    with pytest.raises(HandconvError, match="row 5 is outside 0..4"):
        handconv.explain(x, w, 2, PADDING_1, grad="input", out_backprop=dy, at=(5, 0, 0))
    with pytest.raises(HandconvError, match="bias does not enter"):
        handconv.explain(x, w, 2, PADDING_1, grad="input", out_backprop=dy, at=(0, 0, 0), bias=1.0)
    with pytest.raises(HandconvError, match="max_terms"):
        handconv.explain.explain_gradient(
            x, w, 2, PADDING_1, grad="filter", out_backprop=dy, at=(0, 0, 0, 0), max_terms=5
        )


def test_many_threads_at_once_get_the_same_traces():
    from concurrent.futures import ThreadPoolExecutor

    x, w, dy = article()
    ats = [(fy, fx, k, co) for fy in range(3) for fx in range(3) for k in range(3) for co in range(2)]

    def one(at):
        trace = handconv.explain(x, w, 2, PADDING_1, grad="filter", out_backprop=dy, at=at)
        return trace.total, trace.sum_of_products, trace.arithmetic

    expected = [one(at) for at in ats]
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(one, ats)) == expected
    dw = handconv.conv2d_backprop_filter(x, w.shape, dy, 2, PADDING_1)
    assert [total for total, _, _ in expected] == [dw[at] for at in ats]


def test_one_weight_update_for_a_training_notebook():
    x, w, dy = article()
    trace = handconv.explain(x, w, 2, PADDING_1, grad="filter", out_backprop=dy, at=(1, 1, 2, 0))
    new, text = trace.update(0.1)
    assert trace.weight == w[1, 1, 2, 0] and new == w[1, 1, 2, 0] - 0.1 * trace.total
    assert text.startswith("W[1, 1, 2, 0] <- ") and text.endswith(f"= {new:g}")
    pixel = handconv.explain(x, w, 2, PADDING_1, grad="input", out_backprop=dy, at=(0, 0, 0))
    with pytest.raises(HandconvError, match="no single weight"):
        pixel.update(0.1)
    with pytest.raises(HandconvTypeError, match="learning_rate"):
        trace.update("fast")
