"""The text renderer: receptive field marked where the trace says, sums written out, colour only on a TTY."""

from __future__ import annotations

import io
import re

import numpy as np

import handconv
from handconv.explain.text import render_text, use_color

EDGE = np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=np.float64)
ARTICLE_PADDING = [[0, 0], [1, 1], [1, 1], [0, 0]]


def article_trace(**kwargs):
    x = np.random.default_rng(0).integers(0, 3, size=(1, 5, 5, 3)).astype(np.float64)
    w = np.repeat(EDGE[:, :, None, None], 3, axis=2)
    return x, w, handconv.explain(x, w, 2, ARTICLE_PADDING, **kwargs)


def test_plain_text_brackets_exactly_the_receptive_field():
    x, w, trace = article_trace(at=(1, 2))
    text = render_text(trace, color=False)
    assert "\x1b[" not in text
    assert "(5 - 3 + 2*1) / 2 + 1 = 3" in text
    block = text.split("input channel 1 (padded)")[1].split("channel 1:")[0]
    matrix_lines = [line for line in block.splitlines()[1:] if line.strip()][:7]
    # Padded row r, column c of channel 1 is x[r-1, c-1, 1]; output (1, 2) reads rows 2..4, columns 4..6.
    for r, line in enumerate(matrix_lines):
        cells = re.findall(r"\[\s*(-?\d+)\]|\s(-?\d+)\.?(?=\s|$)", line.split("    ")[0] + " ")
        bracketed = [i for i, (inside, _) in enumerate(cells) if inside]
        assert bracketed == ([4, 5, 6] if 2 <= r <= 4 else []), (r, line)
    expected_total = sum(float((np.pad(x[0], ((1, 1), (1, 1), (0, 0)))[2:5, 4:7, c] * EDGE).sum()) for c in range(3))
    assert f"= {int(expected_total)}\n" in text


def test_arithmetic_shows_negative_weights_in_parentheses():
    _, _, trace = article_trace(at=(0, 0))
    text = render_text(trace, color=False)
    assert "channel 0: 0*(-1) + 0*(-1)" in text
    assert "(bias) =" in text


def test_colour_marks_cells_with_ansi_and_no_brackets():
    _, _, trace = article_trace(at=(0, 0))
    text = render_text(trace, color=True)
    assert "\x1b[1;30;43m" in text and "\x1b[1;30;42m" in text
    assert "[" not in re.sub(r"\x1b\[[0-9;]*m", "", text).split("products\n")[1].split("channel 0:")[0]


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_colour_only_for_a_tty_without_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(_Tty()) is True
    assert use_color(io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color(_Tty()) is False
    _, _, trace = article_trace(at=(0, 0))
    assert "\x1b[" not in render_text(trace, stream=_Tty())


def test_large_input_is_cropped_around_the_field():
    x = np.arange(60 * 60, dtype=np.float64).reshape(1, 60, 60, 1)
    trace = handconv.explain(x, np.ones((3, 3, 1, 1)), padding="SAME", at=(30, 40))
    text = render_text(trace, color=False)
    assert "not shown" in text
    assert len(text.splitlines()) < 120
    # The field's centre, input pixel (30, 40), is bracketed.
    assert f"[{30 * 60 + 40}]" in text
