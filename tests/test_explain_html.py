"""The interactive HTML page: safe embedding, atomic writes, and the page itself in headless Chromium.

The browser tests drive Debian's ``/usr/bin/chromium`` through playwright for Python (never
``playwright install``). Expectations come from the trace steps and from NumPy sums computed here,
never from the page's own output.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REQUIRE_REFERENCES

import handconv
from handconv.errors import HandconvError, HandconvTypeError
from handconv.explain.html import embed_json, render_html

PADDING_1 = [[0, 0], [1, 1], [1, 1], [0, 0]]
XSS_LABELS = {
    "title": "<img src=x onerror=alert(1)>",
    "input": "</script><script>alert(1)</script>",
    "filters": ["<!-- <script>alert(2)</script>", "&lt;b&gt; \u2028 ]]> <svg onload=alert(3)>"],
}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def cs231n_volume(seed: int = 7):
    """The CS231n demo's numbers: 5x5x3 input of 0..2, two 3x3x3 filters of -1..1, biases 1 and 0."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=(1, 5, 5, 3)).astype(np.float64)
    w = rng.integers(-1, 2, size=(3, 3, 3, 2)).astype(np.float64)
    return x, w, np.array([1.0, 0.0])


@pytest.fixture(scope="module")
def demo():
    x, w, b = cs231n_volume()
    trace = handconv.explain(x, w, 2, PADDING_1, bias=b)
    return x, w, b, trace.to_dict()


# ------------------------------------------------------------------ without a browser
def test_embedded_json_cannot_close_the_script_element():
    text = embed_json({"a": "</script><!--<script>&", "b": [1.5, "NaN"]})
    assert not re.search(r"[<>&]", text)
    assert json.loads(text) == {"a": "</script><!--<script>&", "b": [1.5, "NaN"]}


def test_non_finite_numbers_must_come_as_schema_strings():
    with pytest.raises(HandconvError, match="NaN"):
        embed_json({"total": float("nan")})


def test_page_is_self_contained_and_user_text_only_in_the_json(demo, tmp_path):
    *_, data = demo
    data = dict(data, labels=XSS_LABELS)
    page = render_html(data)
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<script") == 2 and page.count("</script>") == 2
    assert "alert(1)" in page and "<img" not in page and "<svg" not in page
    before, rest = page.split('id="trace-data">', 1)
    embedded, after = rest.split("</script>", 1)
    assert json.loads(embedded) == data
    template = before + after
    assert not re.search(r"\b(src|href)\s*=|@import|url\(", template), "no external resources"
    assert "http://" not in template and "https://" not in template


def test_writes_atomically_and_accepts_a_trace(demo, tmp_path):
    x, w, b, data = demo
    trace = handconv.explain(x, w, 2, PADDING_1, bias=b)
    target = tmp_path / "out" / "page.html"
    text = render_html(trace, target)
    assert target.read_text(encoding="utf-8") == text == render_html(data)
    assert os.listdir(target.parent) == ["page.html"], "no temporary file left behind"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask, "readable like any file the user writes"
    target.write_text("old", encoding="utf-8")
    render_html(data, str(target))
    assert target.read_text(encoding="utf-8") == text


def test_refuses_what_is_not_a_trace(demo):
    *_, data = demo
    with pytest.raises(HandconvTypeError, match="Trace"):
        render_html([1, 2])
    with pytest.raises(HandconvError, match="steps"):
        render_html({k: v for k, v in data.items() if k != "steps"})
    with pytest.raises(HandconvError, match="version 2"):
        render_html(dict(data, version=2))


def test_the_page_assets_ship_with_the_package():
    from importlib import resources

    folder = resources.files("handconv.explain")
    for name in ("page.html", "page.css", "page.js"):
        assert folder.joinpath(name).read_text(encoding="utf-8")
    script = folder.joinpath("page.js").read_text(encoding="utf-8")
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "eval(" not in script


# ------------------------------------------------------------------ in headless Chromium
def _chromium_path() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if path is None:
        message = "Debian chromium is not installed (apt-get install -y chromium)"
        if REQUIRE_REFERENCES:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def browser():
    if REQUIRE_REFERENCES:
        from playwright.sync_api import sync_playwright
    else:
        sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    executable = _chromium_path()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Page:
    """One loaded page with its console errors, page errors, dialogs and outside requests recorded."""

    def __init__(self, browser, data, folder: Path):
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.context.route(re.compile(r"^(?!file:|data:)"), self._refuse)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", self._record)
        self.page.on("dialog", self._dialog)
        self.page.add_init_script(
            "window.alert = (m) => { window.__alerts = (window.__alerts || []).concat([String(m)]); };"
        )
        path = folder / "page.html"
        render_html(data, path)
        started = time.perf_counter()
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_selector("body[data-ready='1']", timeout=10_000)
        self.load_seconds = time.perf_counter() - started

    def _refuse(self, route):
        self.requests.append(route.request.url)
        route.abort()

    def _record(self, request):
        if not request.url.startswith(("file:", "data:")):
            self.requests.append(request.url)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def cells(self, grid: str, cls: str, **attrs) -> set[tuple[int, ...]]:
        """``(key attrs..., r, c)`` of the cells with class ``cls`` in grids of kind ``grid``."""
        selector = f"[data-grid={grid}]" + "".join(f"[data-{k}='{v}']" for k, v in attrs.items())
        found = self.page.eval_on_selector_all(
            f"{selector} .cell.{cls}",
            "cells => cells.map(c => [c.parentElement.dataset.ch, c.parentElement.dataset.co,"
            " +c.dataset.r, +c.dataset.c])",
        )
        return {tuple(int(v) for v in item if v is not None) for item in found}

    def text(self, selector: str) -> str:
        return self.page.text_content(selector)

    def close(self):
        assert self.errors == [], self.errors
        assert self.requests == [], self.requests
        self.context.close()


@pytest.fixture
def open_page(browser, tmp_path):
    pages = []

    def opener(data):
        page = Page(browser, data, tmp_path)
        pages.append(page)
        return page

    yield opener
    for page in pages:
        page.close()


def output_cell(co: int, oy: int, ox: int) -> str:
    return f"[data-grid=output][data-co='{co}'] .cell[data-r='{oy}'][data-c='{ox}']"


def receptive_field(step) -> set[tuple[int, int, int]]:
    return {(ch, r, c) for ch in step["channels"] for r in step["rows"] for c in step["cols"]}


@pytest.mark.browser
def test_page_loads_labelled_without_errors_or_network(open_page, demo):
    x, w, b, data = demo
    view = open_page(data)
    hp, wp = np.shape(data["is_padding"])
    assert view.page.locator("[data-grid=input] .cell").count() == 3 * hp * wp
    assert view.page.locator("[data-grid=input] .cell.pad").count() == 3 * (hp * wp - 25)
    assert view.page.locator("[data-grid=filter] .cell").count() == w.size
    assert view.page.locator("[data-grid=output] .cell").count() == 3 * 3 * 2
    for heading in ("Input volume", "Filters and biases", "Output volume", "(5 - 3 + 2*1) / 2 + 1 = 3"):
        assert heading in view.text("body")
    assert view.text(".bias[data-co='0']") == "b0 = 1" and view.text(".bias[data-co='1']") == "b1 = 0"
    assert view.load_seconds < 5


@pytest.mark.browser
def test_clicking_an_output_cell_shows_the_trace_arithmetic_and_total(open_page, demo):
    x, w, b, data = demo
    view = open_page(data)
    padded = np.pad(x[0], ((1, 1), (1, 1), (0, 0)))
    for oy, ox, co in [(0, 0, 0), (1, 2, 1), (2, 1, 0), (2, 2, 1)]:
        view.page.click(output_cell(co, oy, ox))
        step = next(s for s in data["steps"] if (s["oy"], s["ox"], s["co"]) == (oy, ox, co))
        assert view.text("#arithmetic") == step["arithmetic"]
        shown_total = float(view.text("#total"))
        assert shown_total == step["total"]
        # Independent of the trace: the sum over the receptive field, by NumPy, plus the bias.
        window = padded[2 * oy : 2 * oy + 3, 2 * ox : 2 * ox + 3, :]
        assert shown_total == float((window * w[:, :, :, co]).sum() + b[co])
        assert view.cells("output", "cur") == {(co, oy, ox)}
        assert view.cells("input", "rf") == receptive_field(step)


@pytest.mark.browser
def test_stepping_moves_the_highlight(open_page, demo):
    *_, data = demo
    steps = data["steps"]
    view = open_page(data)

    def assert_at(index):
        step = steps[index]
        assert view.cells("input", "rf") == receptive_field(step)
        assert view.cells("output", "cur") == {(step["co"], step["oy"], step["ox"])}
        assert view.text("#arithmetic") == step["arithmetic"]

    assert_at(0)
    view.page.keyboard.press("ArrowRight")
    assert_at(1)
    view.page.click("#next")
    assert_at(2)
    view.page.keyboard.press("ArrowLeft")
    assert_at(1)
    view.page.keyboard.press("ArrowLeft")
    view.page.keyboard.press("ArrowLeft")
    assert_at(len(steps) - 1)  # wraps around
    view.page.keyboard.press("Home")
    view.page.click("#play")
    view.page.wait_for_function("() => document.getElementById('position').textContent.startsWith('step 2/')")
    view.page.click("#play")
    assert view.text("#play") == "Play"


@pytest.mark.browser
def test_hovering_an_input_cell_highlights_exactly_the_outputs_it_feeds(open_page, demo):
    *_, data = demo
    view = open_page(data)
    for ch, r, c in [(0, 0, 0), (1, 2, 2), (2, 3, 4), (0, 6, 6), (1, 1, 5)]:
        view.page.hover(f"[data-grid=input][data-ch='{ch}'] .cell[data-r='{r}'][data-c='{c}']")
        expected = {
            (s["co"], s["oy"], s["ox"])
            for s in data["steps"]
            if r in s["rows"] and c in s["cols"] and ch in s["channels"]
        }
        assert view.cells("output", "dep") == expected, (ch, r, c)
        assert view.cells("input", "hover") == {(ch, r, c)}


@pytest.mark.browser
def test_hovering_a_weight_highlights_every_product_it_takes_part_in(open_page, demo):
    *_, data = demo
    view = open_page(data)
    for co, k, i, j in [(0, 0, 0, 0), (1, 2, 1, 2)]:
        view.page.hover(f"[data-grid=filter][data-co='{co}'][data-k='{k}'] .cell[data-r='{i}'][data-c='{j}']")
        mine = [s for s in data["steps"] if s["co"] == co]
        assert view.cells("input", "dep") == {(s["channels"][k], s["rows"][i], s["cols"][j]) for s in mine}
        assert view.cells("output", "dep") == {(co, s["oy"], s["ox"]) for s in mine}


@pytest.mark.browser
def test_channel_selector_shows_one_channel_or_all(open_page, demo):
    *_, data = demo
    view = open_page(data)
    view.page.select_option("#channel", "1")
    visible = view.page.eval_on_selector_all(
        "[data-grid=input]", "grids => grids.filter(g => g.offsetParent !== null).map(g => g.dataset.ch)"
    )
    assert visible == ["1"]
    view.page.select_option("#channel", "all")
    assert view.page.locator("[data-grid=input]:visible").count() == 3


@pytest.mark.browser
def test_crafted_labels_stay_text_and_run_no_script(open_page, demo):
    *_, data = demo
    view = open_page(dict(data, labels=XSS_LABELS))
    assert view.text("#title") == XSS_LABELS["title"]
    assert XSS_LABELS["input"] in view.text("#input-column")
    for name in XSS_LABELS["filters"]:
        assert name in view.text("#filter-column")
    assert view.page.evaluate("window.__alerts || []") == []
    assert view.dialogs == []
    assert view.page.locator("img, svg, iframe").count() == 0
    assert view.page.locator("script").count() == 2


@pytest.mark.browser
def test_a_trace_at_the_size_limit_renders_quickly_and_explains_canvas_cells(open_page):
    rng = np.random.default_rng(1)
    x = rng.integers(-3, 4, size=(1, 35, 35, 1)).astype(np.float64)
    w = rng.integers(-2, 3, size=(3, 3, 1, 1)).astype(np.float64)
    data = handconv.explain(x, w, 1, "VALID").to_dict()  # 33*33 positions x 9 taps = 9801 products
    view = open_page(data)
    assert view.load_seconds < 5
    box = view.page.locator("[data-grid=output][data-co='0'] canvas").first.bounding_box()
    size = box["width"] / 33
    oy, ox = 20, 7
    view.page.mouse.click(box["x"] + (ox + 0.5) * size, box["y"] + (oy + 0.5) * size)
    step = next(s for s in data["steps"] if (s["oy"], s["ox"]) == (oy, ox))
    assert view.text("#arithmetic") == step["arithmetic"]
    assert float(view.text("#total")) == float((x[0, oy : oy + 3, ox : ox + 3, 0] * w[:, :, 0, 0]).sum())


@pytest.mark.browser
def test_dependency_maps_respect_groups(open_page):
    # Two groups: output channel 0 reads input channels 0-1, output channel 1 reads 2-3.
    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, size=(1, 4, 4, 4)).astype(np.float64)
    w = rng.integers(-1, 2, size=(2, 2, 2, 2)).astype(np.float64)
    data = handconv.explain(x, w, 1, "SAME").to_dict()
    assert data["config"]["groups"] == 2
    view = open_page(data)
    for ch, r, c in [(0, 1, 1), (3, 2, 3)]:
        view.page.hover(f"[data-grid=input][data-ch='{ch}'] .cell[data-r='{r}'][data-c='{c}']")
        expected = {(ch // 2, oy, ox) for oy in (r - 1, r) for ox in (c - 1, c) if 0 <= oy < 4 and 0 <= ox < 4}
        assert view.cells("output", "dep") == expected
    view.page.hover("[data-grid=filter][data-co='1'][data-k='1'] .cell[data-r='0'][data-c='1']")
    assert {ch for ch, *_ in view.cells("input", "dep")} == {3}


@pytest.mark.browser
def test_empty_outputs_and_non_finite_values_render_without_errors(open_page):
    empty = handconv.explain(np.ones((1, 2, 2, 1)), np.ones((3, 3, 1, 1))).to_dict()
    view = open_page(empty)
    assert view.text("#position") == "no output explained"
    x = np.array([[np.nan, 1.0], [np.inf, -np.inf]]).reshape(1, 2, 2, 1)
    data = handconv.explain(x, np.full((1, 1, 1, 1), 2.0)).to_dict()
    view = open_page(data)
    cells = view.page.eval_on_selector_all("[data-grid=output] .cell", "cells => cells.map(c => c.textContent)")
    assert cells == ["nan", "2", "inf", "-inf"]  # as the trace text writes them
    view.page.keyboard.press("End")
    assert view.text("#total") == "-Infinity" and view.text("#arithmetic") == data["steps"][-1]["arithmetic"]


def test_page_size_is_bounded_with_a_clear_message(tmp_path):
    """Issue 12.6: a 4000x4000 photo made a 431 MB page."""
    import numpy as np

    import handconv
    from handconv.explain.html import MAX_PAGE_NUMBERS, render_html

    side = int((MAX_PAGE_NUMBERS / 4) ** 0.5) + 8
    trace = handconv.explain(np.zeros((1, side, side, 3)), np.ones((3, 3, 3, 1)), 1, "SAME", at=(0, 0))
    with pytest.raises(handconv.HandconvError, match="crop .* --format png"):
        render_html(trace, tmp_path / "page.html")
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------ the backward pass
@pytest.fixture(scope="module")
def backward_demo():
    x, w, b = cs231n_volume()
    dy = np.random.default_rng(11).integers(-2, 3, size=(1, 3, 3, 2)).astype(np.float64)
    trace = handconv.explain(x, w, 2, PADDING_1, bias=b, out_backprop=dy)
    return x, w, dy, trace.to_dict()


def test_the_trace_carries_the_backward_pass_only_when_asked(backward_demo, demo):
    x, w, dy, data = backward_demo
    assert "backward" not in demo[3]
    back = data["backward"]
    assert np.shape(back["out_backprop"]) == (3, 3, 2) and np.shape(back["grad_input"]) == (5, 5, 3)
    np.testing.assert_array_equal(
        back["grad_filters"], handconv.conv2d_backprop_filter(x, w.shape, dy, [1, 2, 2, 1], PADDING_1)
    )
    with pytest.raises(HandconvError, match="out_backprop=dy"):
        render_html(demo[3], backward=("filter", (0, 0, 0, 0)))
    with pytest.raises(HandconvError, match=r"\(y, x, c\)"):
        render_html(data, backward=("input", (0, 0, 0, 0)))
    with pytest.raises(HandconvError, match=r"index 5 is outside 0..4"):
        render_html(data, backward=("input", (5, 0, 0)))
    page = render_html(data, backward=("filter", (-1, -1, -1, -1)))
    assert '"view":{"mode":"backward","grad":"filter","at":[2,2,2,1]}' in page


def dw_cell(co, k, i, j):
    return f"[data-grid=dw][data-co='{co}'][data-k='{k}'] .cell[data-r='{i}'][data-c='{j}']"


@pytest.mark.browser
def test_backward_toggle_writes_each_weight_gradient_as_the_python_trace_does(open_page, backward_demo):
    x, w, dy, data = backward_demo
    view = open_page(data)
    assert view.page.locator("[data-grid=dw]:visible").count() == 0, "forward first"
    view.page.click("#mode-backward")
    assert view.page.get_attribute("body", "data-mode") == "backward"
    assert view.page.locator("[data-grid=output]:visible").count() == 0
    assert view.page.locator("[data-grid=dy]:visible").count() == 2
    for fy, fx, k, co in [(0, 0, 0, 0), (1, 2, 2, 1), (2, 1, 1, 0)]:
        view.page.click(dw_cell(co, k, fy, fx))
        trace = handconv.explain(x, w, 2, PADDING_1, grad="filter", out_backprop=dy, at=(fy, fx, k, co))
        assert view.text("#arithmetic") == trace.arithmetic
        assert float(view.text("#total")) == trace.total
        # Independent of both: the tap's strided sub-grid of the padded input times dy, by NumPy.
        padded = np.pad(x[0], ((1, 1), (1, 1), (0, 0)))
        assert trace.total == float((padded[fy : fy + 5 : 2, fx : fx + 5 : 2, k] * dy[0, :, :, co]).sum())
        assert view.cells("input", "rf") == {(k, t.row, t.col) for t in trace.terms}
        assert view.cells("dy", "dep") == {(co, t.oy, t.ox) for t in trace.terms}
    view.page.click("#mode-forward")
    assert view.page.locator("[data-grid=output]:visible").count() == 2
    assert view.text("#arithmetic") == data["steps"][0]["arithmetic"]


@pytest.mark.browser
def test_backward_page_writes_each_pixel_gradient_and_opens_where_asked(open_page, backward_demo):
    x, w, dy, data = backward_demo
    view = open_page(
        json.loads(
            render_html(data, backward=("input", (2, 2, 1))).split('id="trace-data">', 1)[1].split("</script>", 1)[0]
        )
    )
    assert view.page.get_attribute("body", "data-mode") == "backward"
    for y, xx, c in [(2, 2, 1), (0, 0, 0), (4, 3, 2), (1, 4, 0)]:
        if (y, xx, c) != (2, 2, 1):
            view.page.click(f"[data-grid=dx][data-ch='{c}'] .cell[data-r='{y}'][data-c='{xx}']")
        trace = handconv.explain(x, w, 2, PADDING_1, grad="input", out_backprop=dy, at=(y, xx, c))
        assert view.text("#arithmetic") == trace.arithmetic, (y, xx, c)
        assert float(view.text("#total")) == trace.total
        assert view.cells("dy", "dep") == {(t.co, t.oy, t.ox) for t in trace.terms}
        assert view.cells("dx", "cur") == {(c, y, xx)}
    # Clicking the input itself selects its pixel too.
    view.page.click("[data-grid=input][data-ch='2'] .cell[data-r='3'][data-c='2']")
    assert view.cells("dx", "cur") == {(2, 2, 1)}
