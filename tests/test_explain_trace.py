"""handconv.explain: the trace's totals are conv2d's numbers, its arithmetic adds up."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import handconv
from handconv import HandconvError, HandconvTypeError
from handconv.explain import Trace, explain

EDGE = np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=np.float64)


def article_volume() -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(0).integers(0, 3, size=(1, 5, 5, 3)).astype(np.float64)
    w = np.repeat(EDGE[:, :, None, None], 3, axis=2)
    return x, w


@st.composite
def configurations(draw):
    data_format = draw(st.sampled_from(["NHWC", "NCHW"]))
    groups = draw(st.sampled_from([1, 1, 2]))
    group_channels = draw(st.integers(1, 2))
    channels = groups * group_channels
    out_channels = groups * draw(st.integers(1, 2))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    strides = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
    dilations = [draw(st.integers(1, 2)), draw(st.integers(1, 2))]
    padding_kind = draw(st.sampled_from(["SAME", "VALID", "EXPLICIT"]))
    if padding_kind == "EXPLICIT":
        pairs = [[draw(st.integers(0, 2)), draw(st.integers(0, 2))] for _ in range(2)]
        padding = [[0, 0], *pairs, [0, 0]] if data_format == "NHWC" else [[0, 0], [0, 0], *pairs]
    else:
        padding = padding_kind
    batch = draw(st.integers(1, 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    shape = (batch, h, w, channels) if data_format == "NHWC" else (batch, channels, h, w)
    x = rng.integers(-3, 4, size=shape).astype(np.float64)
    filters = rng.integers(-2, 3, size=(kh, kw, group_channels, out_channels)).astype(np.float64)
    bias = rng.integers(-2, 3, size=out_channels).astype(np.float64)
    batch_index = draw(st.integers(0, batch - 1))
    return x, filters, strides, padding, data_format, dilations, bias, batch_index


@settings(max_examples=60, deadline=None)
@given(configurations())
def test_totals_equal_conv2d_plus_bias_exactly(config):
    x, w, strides, padding, data_format, dilations, bias, batch_index = config
    try:
        handconv.make_plan(x.shape, w.shape, strides, padding, data_format, dilations)
    except HandconvError:
        assume(False)
    trace = explain(x, w, strides, padding, data_format, dilations, bias=bias, batch_index=batch_index)
    for method in ("naive", "auto"):
        expected = handconv.conv2d(x, w, strides, padding, data_format, dilations, method=method)
        if data_format == "NCHW":
            expected = np.moveaxis(expected, 1, -1)
        expected = expected[batch_index] + bias
        np.testing.assert_array_equal(trace.output, expected)
        assert len(trace.steps) == expected.size
        for step in trace.steps:
            assert step.total == expected[step.oy, step.ox, step.co]
    for step in trace.steps:
        # The products really are receptive field x weights, read back by coordinates.
        field = trace.padded_input[np.ix_(step.rows, step.cols, step.channels)]
        np.testing.assert_array_equal(step.receptive_field, field)
        np.testing.assert_array_equal(step.weights, w[:, :, :, step.co])
        np.testing.assert_array_equal(step.products, field * w[:, :, :, step.co])
        assert step.products.sum() + step.bias == step.total
        assert step.channel_sums.sum() + step.bias == step.total


@settings(max_examples=40, deadline=None)
@given(configurations(), st.integers(0, 2**16))
def test_totals_equal_default_conv2d_exactly_for_any_float64(config, seed):
    """Not only integer-valued data: the default trace total is conv2d's own number, bit for bit."""
    x, w, strides, padding, data_format, dilations, bias, batch_index = config
    try:
        handconv.make_plan(x.shape, w.shape, strides, padding, data_format, dilations)
    except HandconvError:
        assume(False)
    rng = np.random.default_rng(seed)
    x = x + rng.standard_normal(x.shape) / 7
    w = w + rng.standard_normal(w.shape) / 3
    expected = handconv.conv2d(x, w, strides, padding, data_format, dilations)
    if data_format == "NCHW":
        expected = np.moveaxis(expected, 1, -1)
    trace = explain(x, w, strides, padding, data_format, dilations, bias=bias, batch_index=batch_index)
    np.testing.assert_array_equal(trace.output, expected[batch_index] + bias)
    by_hand = explain(
        x, w, strides, padding, data_format, dilations, bias=bias, batch_index=batch_index, method="naive"
    )
    for step in by_hand.steps:
        assert step.products.sum() + step.bias == step.total


@settings(max_examples=25, deadline=None)
@given(configurations())
def test_padded_input_holds_the_image_and_marks_padding(config):
    x, w, strides, padding, data_format, dilations, bias, batch_index = config
    try:
        plan = handconv.make_plan(x.shape, w.shape, strides, padding, data_format, dilations)
    except HandconvError:
        assume(False)
    trace = explain(x, w, strides, padding, data_format, dilations, at=[], batch_index=batch_index)
    image = x[batch_index] if data_format == "NHWC" else np.moveaxis(x[batch_index], 0, -1)
    inside = ~trace.is_padding
    assert inside.sum() == image.shape[0] * image.shape[1]
    np.testing.assert_array_equal(trace.padded_input[inside], image.reshape(-1, image.shape[-1]))
    assert (trace.padded_input[trace.is_padding] == 0).all()
    assert trace.is_padding.shape == plan.padded_hw


def test_article_example_by_hand():
    x, w = article_volume()
    trace = explain(x, w, strides=2, padding=[[0, 0], [1, 1], [1, 1], [0, 0]])
    assert trace.formulas == ("(5 - 3 + 2*1) / 2 + 1 = 3", "(5 - 3 + 2*1) / 2 + 1 = 3")
    top_left = trace.step(0, 0)
    # Written out by hand: the 3x3 window at padded (0..2, 0..2) sees x[0, 0:2, 0:2].
    expected = sum(float((x[0, 0:2, 0:2, c] * EDGE[1:, 1:]).sum()) for c in range(3))
    assert top_left.total == expected
    assert top_left.rows == (0, 1, 2) and top_left.cols == (0, 1, 2)
    lines = top_left.arithmetic.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("channel 0: 0*(-1) + 0*(-1) + 0*(-1) + 0*(-1) + ")
    assert lines[-1].endswith(f"= {int(expected)}")


def test_dilation_gaps_in_coordinates():
    x = np.zeros((1, 7, 7, 1))
    w = np.ones((3, 3, 1, 1))
    trace = explain(x, w, strides=2, dilations=2, at=(1, 0))
    step = trace.step(1, 0)
    assert step.rows == (2, 4, 6) and step.cols == (0, 2, 4)


def test_at_selection_forms():
    x, w = article_volume()
    pad = [[0, 0], [1, 1], [1, 1], [0, 0]]
    assert [(s.oy, s.ox) for s in explain(x, w, 2, pad, at=(2, 1)).steps] == [(2, 1)]
    assert [(s.oy, s.ox) for s in explain(x, w, 2, pad, at=[(2, 1), (0, 0)]).steps] == [(0, 0), (2, 1)]
    sliced = explain(x, w, 2, pad, at=(slice(0, 2), slice(None))).steps
    assert [(s.oy, s.ox) for s in sliced] == [(r, c) for r in range(2) for c in range(3)]
    assert explain(x, w, 2, pad, at=(-1, -1)).steps[0].oy == 2
    with pytest.raises(HandconvError, match="outside the output"):
        explain(x, w, 2, pad, at=(3, 0))
    with pytest.raises(HandconvTypeError, match="not understood"):
        explain(x, w, 2, pad, at="middle")


def test_every_output_channel_is_explained_in_row_major_order():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, (1, 5, 5, 3)).astype(float)
    w = rng.integers(-1, 2, (3, 3, 3, 2)).astype(float)
    trace = explain(x, w, 2, "SAME", bias=[1, 0], at=[(1, 1), (0, 2)])
    assert [(s.oy, s.ox, s.co) for s in trace.steps] == [(0, 2, 0), (0, 2, 1), (1, 1, 0), (1, 1, 1)]
    assert trace.positions == [(0, 2), (1, 1)]


def test_too_large_trace_is_refused_with_advice():
    x = np.zeros((1, 40, 40, 3))
    w = np.zeros((3, 3, 3, 1))
    with pytest.raises(HandconvError, match=r"narrow it with at=\(row, col\)"):
        explain(x, w, padding="SAME")
    assert len(explain(x, w, padding="SAME", at=(5, 5)).steps) == 1
    assert explain(x, w, padding="SAME", at=[]).output.shape == (40, 40, 1)


def test_bias_and_labels_are_checked():
    x, w = article_volume()
    with pytest.raises(HandconvError, match=r"expected \(1,\)"):
        explain(x, w, bias=[1, 2])
    with pytest.raises(HandconvError, match="one per output channel"):
        explain(x, w, labels={"filters": ["a", "b"]})
    with pytest.raises(HandconvError, match="unknown key"):
        explain(x, w, labels={"colour": "red"})
    trace = explain(x, w, bias=2.0, labels={"title": "<b>", "filters": ["edge"]})
    assert trace.labels == {"title": "<b>", "input": "input", "filters": ["edge"]}
    assert (trace.bias == 2.0).all()


def test_to_dict_follows_the_schema_and_is_json():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 3, (1, 5, 5, 3)).astype(float)
    w = rng.integers(-1, 2, (3, 3, 3, 2)).astype(float)
    trace = explain(x, w, 2, [[0, 0], [1, 1], [1, 1], [0, 0]], bias=[1, 0], at=[(0, 0), (2, 2)])
    data = json.loads(json.dumps(trace.to_dict(), allow_nan=False))
    assert data["version"] == 1
    assert data["config"]["output_hw"] == [3, 3]
    assert data["config"]["pad_amounts"] == [[1, 1], [1, 1]]
    assert np.asarray(data["padded_input"]).shape == (7, 7, 3)
    assert np.asarray(data["is_padding"]).shape == (7, 7)
    assert np.asarray(data["filters"]).shape == (3, 3, 3, 2)
    assert np.asarray(data["output"]).shape == (3, 3, 2)
    assert len(data["steps"]) == 4
    padded = np.asarray(data["padded_input"])
    filters = np.asarray(data["filters"])
    for step in data["steps"]:
        field = padded[np.ix_(step["rows"], step["cols"], step["channels"])]
        products = field * filters[:, :, step["channels"], step["co"]]
        assert np.asarray(step["products"]).tolist() == products.tolist()
        assert step["total"] == data["output"][step["oy"]][step["ox"]][step["co"]]
        assert step["total"] == products.sum() + data["bias"][step["co"]]


def test_to_dict_spells_non_finite_numbers():
    x = np.array([np.nan, np.inf, -np.inf, 1.0]).reshape(1, 2, 2, 1)
    trace = explain(x, np.ones((1, 1, 1, 1)))
    data = trace.to_dict()
    json.dumps(data, allow_nan=False)
    assert data["output"] == [[["NaN"], ["Infinity"]], [["-Infinity"], [1.0]]]
    assert data["steps"][0]["total"] == "NaN"


def test_float32_and_int32_inputs():
    x, w = article_volume()
    for dtype in (np.float32, np.int32):
        trace = explain(x.astype(dtype), w, 2, "SAME")
        expected = handconv.conv2d(x.astype(dtype), w, 2, "SAME")[0]
        assert trace.output.dtype == dtype
        np.testing.assert_array_equal(trace.output, expected)


def test_package_is_callable_and_exported():
    x, w = article_volume()
    assert isinstance(handconv.explain(x, w, at=(0, 0)), Trace)
    assert handconv.explain.explain is explain


def test_explaining_the_whole_article_volume_is_quick():
    import time

    x, w = article_volume()
    started = time.perf_counter()
    trace = explain(x, w, 2, [[0, 0], [1, 1], [1, 1], [0, 0]])
    trace.to_dict()
    assert len(trace.steps) == 9
    # Well under a second (typically ~20 ms); the bound leaves room for a busy machine.
    assert time.perf_counter() - started < 1.0


def test_a_trace_that_cannot_fit_in_memory_is_refused_before_allocating():
    # 1x1 input padded by a million on each side: the padded image alone would be ~30 TiB.
    huge = [[0, 0], [10**6, 10**6], [10**6, 10**6], [0, 0]]
    with pytest.raises(handconv.HandconvMemoryError, match="GiB"):
        explain(np.ones((1, 1, 1, 1)), np.ones((1, 1, 1, 1)), padding=huge, at=(0, 0))


def test_asking_for_a_position_of_an_empty_output_says_it_is_empty():
    # A 3x3 filter on a 2x2 input with VALID padding has a (0, 0) output, as in TF.
    with pytest.raises(HandconvError, match="the output is empty") as caught:
        explain(np.ones((1, 2, 2, 1)), np.ones((3, 3, 1, 1)), at=(0, 0))
    assert "0..-1" not in str(caught.value)


def test_one_position_too_large_is_not_told_to_narrow_at():
    # 10,000 channels: even at=(0, 0) is 90,000 products; advising at=(0, 0) again would go in circles.
    with pytest.raises(HandconvError, match="one output position") as caught:
        explain(np.ones((1, 3, 3, 10_000)), np.ones((3, 3, 10_000, 1)), at=(0, 0))
    assert "e.g. at=(0, 0)" not in str(caught.value)


def test_nan_and_inf_are_traced_without_warnings():
    """As conv2d: 0 * inf = nan at the padding, silently, and the totals still equal conv2d's."""
    import warnings

    x = np.ones((1, 4, 4, 1))
    x[0, 1, 1, 0] = np.nan
    w = np.ones((3, 3, 1, 1))
    w[0, 0, 0, 0] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trace = explain(x, w, 1, "SAME")
    expected = handconv.conv2d(x, w, 1, "SAME")[0]
    np.testing.assert_array_equal(np.isnan(trace.output), np.isnan(expected))
    np.testing.assert_array_equal(trace.output[~np.isnan(expected)], expected[~np.isnan(expected)])


def test_explain_checks_memory_before_copying(monkeypatch):
    """Issue 12.6: a broadcast (1, 10000, 10000, 3) input ran 25 s and 9.9 GB before refusing."""
    import time

    import handconv.conv

    monkeypatch.setattr(handconv.conv, "available_memory", lambda: 2**30)  # a 1 GiB machine
    x = np.broadcast_to(np.float64(1), (1, 10000, 10000, 3))
    started = time.perf_counter()
    with pytest.raises(handconv.HandconvMemoryError, match="GiB"):
        explain(x, np.ones((3, 3, 3, 1)), 1, "SAME", at=(0, 0))
    assert time.perf_counter() - started < 2
