"""docs/gradients.md is what scripts/gradients_doc.py computes with handconv, and its numbers are TF's."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from conftest import reference

ROOT = Path(__file__).parent.parent


def load_script():
    spec = importlib.util.spec_from_file_location("gradients_doc", ROOT / "scripts" / "gradients_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_page_is_current_and_its_figures_exist():
    script = load_script()
    assert (ROOT / "docs" / "gradients.md").read_text() == script.build(None), (
        "regenerate: python scripts/gradients_doc.py"
    )
    for name in ("gradients-article-filter.png", "gradients-article-input.png"):
        assert (ROOT / "docs" / "img" / name).stat().st_size > 10_000


@pytest.mark.references
def test_the_pages_gradients_are_tensorflows():
    tf = reference("tensorflow")
    from handconv.demo import article_example

    x, w = article_example(0)
    padding = load_script().PADDING
    out = tf.nn.conv2d(x, w, 2, padding).numpy()
    xt, wt = tf.constant(x), tf.constant(w)
    with tf.GradientTape() as tape:
        tape.watch([xt, wt])
        loss = 0.5 * tf.reduce_sum(tf.nn.conv2d(xt, wt, 2, padding) ** 2)
    dx, dw = tape.gradient(loss, [xt, wt])
    page = (ROOT / "docs" / "gradients.md").read_text()
    assert f"`L = {0.5 * float((out**2).sum()):g}`" in page
    assert f"= {dw.numpy()[1, 1, 0, 0]:g}\n" in page and f"= {dx.numpy()[0, 2, 2, 0]:g}\n" in page
    assert f"`dL/db = sum(dy) = {out.sum():g}`" in page
    # The whole filter gradient printed on the page, row by row, is TF's.
    block = page.split("\ndL/dW[:, :, 0, 0]\n", 1)[1].split("\n\n")[0].splitlines()
    assert np.array_equal(np.array([[float(v) for v in row.split()] for row in block]), dw.numpy()[:, :, 0, 0])
