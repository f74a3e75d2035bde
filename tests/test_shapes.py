"""The integer arithmetic of output sizes and pads, against conv_arithmetic's relationships."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handconv import HandconvError
from handconv.shapes import effective_filter_size, output_size, output_size_formula, pad_amounts

sizes = st.integers(0, 40)
filters = st.integers(1, 7)
strides = st.integers(1, 5)
dilations = st.integers(1, 4)


def test_article_example():
    # W=5, F=3, P=1, S=2: (5 - 3 + 2)/2 + 1 = 3
    assert output_size(5, 3, 2, 1) == 3
    assert output_size_formula(5, 3, 2, 1) == "(5 - 3 + 2*1) / 2 + 1 = 3"


def test_same_split_puts_odd_pixel_after():
    assert pad_amounts(5, 3, 2, "SAME") == (1, 1)
    assert pad_amounts(6, 3, 2, "SAME") == (0, 1)  # the article's P=1 and SAME differ here
    assert pad_amounts(224, 7, 2, "SAME") == (2, 3)  # ResNet stem
    assert pad_amounts(4, 2, 1, "SAME") == (0, 1)  # even kernel


def test_cs231n_non_integer_output_is_floored_like_tf():
    # CS231n: W=10, F=3, S=2, P=0 gives 4.5 -- TF truncates to 4.
    assert output_size(10, 3, 2, 0) == 4
    assert "4.5, truncated to 4" in output_size_formula(10, 3, 2, 0)


def test_filter_that_does_not_fit():
    assert output_size(2, 3, 2, "VALID") == 0  # (2 - 3 + 2)/2 = 0.5 -> 0: empty
    assert output_size(1, 6, 4, "VALID") == 0  # (1 - 6 + 4)/4 = -0.25 truncates to 0
    with pytest.raises(HandconvError, match="negative"):
        output_size(2, 5, 1, "VALID")  # (2 - 5 + 1)/1 = -2


@given(sizes, filters, strides, dilations, st.integers(0, 4))
def test_relationship_general(n, k, s, d, p):
    """Dumoulin & Visin relationship 15: o = floor((i + 2p - k - (k-1)(d-1)) / s) + 1."""
    k_eff = effective_filter_size(k, d)
    assert k_eff == k + (k - 1) * (d - 1)
    if n + 2 * p >= k_eff:
        assert output_size(n, k, s, p, d) == (n + 2 * p - k_eff) // s + 1
    else:
        # TF truncates (n + 2p - k_eff) / s + 1 toward zero; exact with fractions.
        raw = math.trunc(Fraction(n + 2 * p - k_eff, s) + 1)
        if raw < 0:
            with pytest.raises(HandconvError):
                output_size(n, k, s, p, d)
        else:
            assert output_size(n, k, s, p, d) == raw == 0


@given(st.integers(1, 40), filters, strides, dilations)
def test_same(n, k, s, d):
    out = output_size(n, k, s, "SAME", d)
    before, after = pad_amounts(n, k, s, "SAME", d)
    assert out == math.ceil(n / s)
    assert before <= after <= before + 1
    # The pads make exactly `out` windows fit: the explicit form agrees.
    assert output_size(n, k, s, (before, after), d) == out
    # Minimal: one zero fewer and the last window no longer fits (unless no padding was needed).
    if after:
        assert (n + before + after - 1 - effective_filter_size(k, d)) // s + 1 < out


@given(sizes, filters, strides, dilations)
def test_valid_is_ceil_form(n, k, s, d):
    k_eff = effective_filter_size(k, d)
    if n >= k_eff:
        assert output_size(n, k, s, "VALID", d) == math.ceil((n - k_eff + 1) / s)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: output_size(5, 3, 0), "stride"),
        (lambda: output_size(5, 0, 1), "filter_size"),
        (lambda: output_size(5, 3, 1, "FULL"), "padding"),
        (lambda: output_size(5, 3, 1, (-1, 1)), "padding"),
        (lambda: output_size(-1, 3, 1), "size"),
        (lambda: output_size(5, 3, 1, dilation=0), "dilation"),
        (lambda: output_size(5.0, 3, 1), "size"),
    ],
)
def test_errors_name_the_argument(call, name):
    with pytest.raises((ValueError, TypeError), match=name):
        call()


# ------------------------------------------------------------------ tiles of outputs (handconv.dask)
from handconv.shapes import input_window, output_chunks  # noqa: E402


@given(
    n=st.integers(0, 30),
    k=st.integers(1, 6),
    s=st.integers(1, 4),
    d=st.integers(1, 3),
    before=st.integers(0, 6),
    after=st.integers(0, 6),
    data=st.data(),
)
def test_input_window_is_exactly_what_the_outputs_read(n, k, s, d, before, after, data):
    """Against brute force: the span of rows the taps of the tile's outputs read (dilation gaps included)."""
    try:
        out = output_size(n, k, s, (before, after), d)
    except HandconvError:
        return
    if out == 0:
        return
    first = data.draw(st.integers(0, out - 1))
    last = data.draw(st.integers(first + 1, out))
    start, stop, zeros_before, zeros_after = input_window(first, last, n, k, s, before, d)
    read = {o * s + t * d - before for o in range(first, last) for t in range(k)}
    span = range(min(read), max(read) + 1)
    assert list(range(start, stop)) == [r for r in span if 0 <= r < n]
    assert zeros_before == len([r for r in span if r < 0])
    assert zeros_after == len([r for r in span if r >= n])
    # The run, padded by its zeros, gives exactly the tile's outputs.
    assert output_size(stop - start, k, s, (zeros_before, zeros_after), d) == last - first


@given(
    chunks=st.lists(st.integers(1, 9), min_size=1, max_size=6),
    k=st.integers(1, 5),
    s=st.integers(1, 4),
    before=st.integers(0, 4),
)
def test_output_chunks_cover_the_output_once(chunks, k, s, before):
    n = sum(chunks)
    try:
        out = output_size(n, k, s, (before, before))
    except HandconvError:
        return
    tiles = output_chunks(tuple(chunks), out, s, before)
    assert sum(tiles) == out and all(t > 0 for t in tiles) or tiles == (0,) and out == 0
    assert len(tiles) <= len(chunks)
