"""Write the CS231n-style example page and its screenshot, docs/img/explain-page.png.

Run from the repository root (needs playwright and Debian's chromium):
    python docs/screenshot_explain_page.py [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import handconv
from handconv.explain.html import render_html

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def cs231n_example() -> handconv.explain.Trace:
    """The CS231n demo's setting: 5x5x3 input of 0..2, two 3x3x3 filters of -1..1, biases 1 and 0, P=1, S=2."""
    rng = np.random.default_rng(7)
    x = rng.integers(0, 3, size=(1, 5, 5, 3)).astype(np.float64)
    w = rng.integers(-1, 2, size=(3, 3, 3, 2)).astype(np.float64)
    return handconv.explain(
        x, w, strides=2, padding=[[0, 0], [1, 1], [1, 1], [0, 0]], bias=[1.0, 0.0],
        labels={"title": "Two filters over a 5x5x3 volume (CS231n demo)", "input": "random 0..2",
                "filters": ["random -1..1", "random -1..1"]},
    )


def main(out_dir: str = "docs/img") -> None:
    from playwright.sync_api import sync_playwright

    out = Path(out_dir)
    page_path = out / "explain-page.html"
    render_html(cs231n_example(), page_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 820})
        page.goto(page_path.resolve().as_uri())
        page.wait_for_selector("body[data-ready='1']")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        page.screenshot(path=str(out / "explain-page.png"), full_page=True)
        browser.close()
    page_path.unlink()
    print(out / "explain-page.png")


if __name__ == "__main__":
    main(*sys.argv[1:])
