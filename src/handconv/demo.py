"""``handconv demo``: the whole article, end to end.

First the numeric example in the terminal: a seeded random 5x5x3 volume,
zero-padding P=1 (7x7x3), stride 2, and a 3x3x3 edge-detection filter (the
outline kernel on every channel, summed across channels); the output-size
formula with those numbers, the first receptive field by hand, the whole 3x3
output, and ``tf.nn.conv2d``'s answer beside it.

Then everything written into one folder (default ``./handconv-demo/``): the
example as figures (the receptive field at the top left, then moved by the
stride), an animated GIF of the filter sliding, the interactive page, the text
trace, the padding comparison (P=1 vs TF's SAME on 5x5 and 6x6), and a photo
through the same edge filter at stride 1, by hand (handconv's fast method) and
by TensorFlow, side by side with their difference; an ``index.html`` links it all.
"""

from __future__ import annotations

import html as html_text
import sys
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .conv import conv2d
from .kernels import to_filters
from .plan import ConvPlan, make_plan

#: The article's edge-detection kernel: the 8-neighbour outline filter.
EDGE_KERNEL = np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=np.float64)

#: ``[[0, 0], [P, P], [P, P], [0, 0]]`` with the article's P = 1.
ARTICLE_PADDING = [[0, 0], [1, 1], [1, 1], [0, 0]]
ARTICLE_STRIDE = 2


def article_example(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The article's input volume and filter.

    Returns
    -------
    input : ndarray of shape (1, 5, 5, 3)
        Random integers 0..2 (as in the CS231n demo the article's pictures
        follow), float64.
    filters : ndarray of shape (3, 3, 3, 1)
        The edge kernel on each of the 3 channels.
    """
    rng = np.random.default_rng(seed)
    volume = rng.integers(0, 3, size=(1, 5, 5, 3)).astype(np.float64)
    filters = to_filters(EDGE_KERNEL, 3)
    return volume, filters


def _matrix(values: np.ndarray, width: int = 3) -> list[str]:
    return [" ".join(f"{v:>{width}g}" for v in row) for row in values]


def _side_by_side(blocks: list[list[str]], titles: list[str], gap: str = "    ") -> str:
    widths = [max(len(line) for line in block + [title]) for block, title in zip(blocks, titles)]
    lines = [gap.join(t.ljust(w) for t, w in zip(titles, widths))]
    for row in zip(*blocks):
        lines.append(gap.join(cell.ljust(w) for cell, w in zip(row, widths)))
    return "\n".join(lines)


def first_field_arithmetic(padded: np.ndarray, filters: np.ndarray, plan: ConvPlan) -> list[str]:
    """The by-hand sum for output (0, 0): one line per channel, then the total."""
    rows, cols = plan.receptive_field(0, 0)
    lines, channel_sums = [], []
    for c in range(plan.in_channels):
        field = padded[0, rows, cols, c]
        weights = filters[:, :, c, 0]
        terms = " + ".join(
            f"{v:g}*{w:g}" if w >= 0 else f"{v:g}*({w:g})" for v, w in zip(field.ravel(), weights.ravel())
        )
        channel_sums.append(float((field * weights).sum()))
        lines.append(f"  channel {c}: {terms} = {channel_sums[-1]:g}")
    total = sum(channel_sums)
    lines.append(f"  total: {' + '.join(f'({value:g})' for value in channel_sums)} = {total:g}")
    return lines


def tensorflow_conv2d(x: np.ndarray, filters: np.ndarray, strides, padding) -> np.ndarray | None:
    """``tf.nn.conv2d`` on the same arguments, or None when TensorFlow is not installed."""
    from .verification.references import load_tensorflow

    tf = load_tensorflow()
    if tf is None:
        return None
    return tf.nn.conv2d(x, filters, strides, padding).numpy()


def run_numeric(seed: int = 0, out: TextIO = sys.stdout) -> dict[str, np.ndarray | float | None]:
    """Print the article's numeric example; return the arrays for tests."""
    x, filters = article_example(seed)
    plan = make_plan(x.shape, filters.shape, ARTICLE_STRIDE, ARTICLE_PADDING, dtype=x.dtype)
    padded = plan.pad(x)
    by_hand = conv2d(x, filters, ARTICLE_STRIDE, ARTICLE_PADDING, method="naive")
    fast = conv2d(x, filters, ARTICLE_STRIDE, ARTICLE_PADDING)

    def say(text: str = "") -> None:
        print(text, file=out)

    say("handconv demo: the article's example, by hand and by TensorFlow")
    say("=" * 64)
    say(f"Input volume 5x5x3 (seed {seed}), one 5x5 slice per channel:")
    say(_side_by_side([_matrix(x[0, :, :, c]) for c in range(3)], [f"x[:, :, {c}]" for c in range(3)]))
    say()
    say("Zero-padding P=1 gives a 7x7x3 volume:")
    say(_side_by_side([_matrix(padded[0, :, :, c]) for c in range(3)], [f"padded[:, :, {c}]" for c in range(3)]))
    say()
    say("Filter 3x3x3: the edge-detection kernel on every channel:")
    say(_side_by_side([_matrix(filters[:, :, c, 0]) for c in range(3)], [f"w[:, :, {c}]" for c in range(3)]))
    say()
    say("Output size, (W - F + 2P) / S + 1:")
    say(f"  height: {plan.formula(0)}")
    say(f"  width:  {plan.formula(1)}")
    say()
    say("By hand, the receptive field at the top left (rows 0-2, columns 0-2 of the padded volume):")
    for line in first_field_arithmetic(padded, filters, plan):
        say(line)
    say()
    say("Sliding by the stride S=2 over the whole volume gives the 3x3 output:")
    blocks, titles = [_matrix(by_hand[0, :, :, 0], 4)], ["by hand (naive)"]
    reference = tensorflow_conv2d(x, filters, ARTICLE_STRIDE, ARTICLE_PADDING)
    difference = None
    if reference is not None:
        difference = float(np.abs(by_hand - reference).max())
        blocks.append(_matrix(reference[0, :, :, 0], 4))
        titles.append("tf.nn.conv2d")
    say(_side_by_side(blocks, titles))
    say()
    say(
        f"handconv's fast method ('auto') agrees with the by-hand loops: max |diff| = "
        f"{float(np.abs(fast - by_hand).max()):.3g}"
    )
    if reference is None:
        say("TensorFlow is not installed, so there is nothing to compare with here.")
        say("Install the reference extra to see tf.nn.conv2d's answer: pip install 'handconv[tf]'")
    else:
        verdict = "match" if difference is not None and difference < 1e-6 else "DO NOT match"
        say(f"By hand vs tf.nn.conv2d: max |difference| = {difference:.3g}  ->  they {verdict}.")
    return {"input": x, "filters": filters, "by_hand": by_hand, "tensorflow": reference, "difference": difference}


def _explain_article(seed: int) -> Any:
    from .explain import explain

    x, filters = article_example(seed)
    labels = {
        "title": "The article: 5x5x3, P=1, stride 2, edge filter",
        "input": f"random 5x5x3 (seed {seed})",
        "filters": ["edge filter"],
    }
    return explain(x, filters, ARTICLE_STRIDE, ARTICLE_PADDING, labels=labels)


def load_photo() -> tuple[np.ndarray, str]:
    """The sample photo as uint8 ``(H, W, 3)``, and a caption."""
    from .image import sample_photo

    photo = np.asarray(sample_photo())
    if photo.ndim == 2:
        photo = np.repeat(photo[:, :, None], 3, axis=2)
    return photo[:, :, :3], "sample photo (public domain, see handconv/data/README.md)"


def _edges_for_display(values: np.ndarray, scale: float) -> np.ndarray:
    """Edge responses as grey levels: |response| / scale, clipped to [0, 1]."""
    return np.clip(np.abs(values) / scale, 0, 1)


def run_photo(folder: Path, say: Any) -> dict[str, Any]:
    """The photo through the edge filter at stride 1, by hand (fast method) and by TensorFlow."""
    from .explain import explain
    from .explain.figure import render_comparison, render_feature_maps, render_figure

    photo, caption = load_photo()
    # float32, as the article's TensorFlow code and most images in deep learning use.
    x = (photo.astype(np.float32) / 255)[None]
    filters = to_filters(EDGE_KERNEL, 3).astype(np.float32)
    by_hand = conv2d(x, filters, 1, ARTICLE_PADDING)
    reference = tensorflow_conv2d(x, filters, 1, ARTICLE_PADDING)
    say(f"Photo: {caption}, {photo.shape[0]}x{photo.shape[1]}x3, stride 1, P=1, the same edge filter:")
    paths: dict[str, Path] = {}
    scale = float(np.percentile(np.abs(by_hand), 99)) or 1.0
    panels = [("original", photo), ("handconv (fast method)", _edges_for_display(by_hand[0, :, :, 0], scale))]
    difference = None
    if reference is not None:
        difference = float(np.abs(by_hand - reference).max())
        say(
            f"  by hand vs tf.nn.conv2d: max |difference| = {difference:.3g} "
            f"(float32; sums in a different order differ in the last bits)"
        )
        panels.append(("tf.nn.conv2d", _edges_for_display(reference[0, :, :, 0], scale)))
        panels.append((f"|difference|, max {difference:.2g}", np.abs(by_hand - reference)[0, :, :, 0]))
    else:
        say("  TensorFlow is not installed: pip install 'handconv[tf]' to compare")
    paths["photo comparison"] = folder / "photo-comparison.png"
    render_comparison(panels, paths["photo comparison"], title="The photo through the edge filter, stride 1")
    trace = explain(
        x,
        filters,
        1,
        ARTICLE_PADDING,
        at=[],
        labels={"title": "Photo through the edge filter", "input": "photo", "filters": ["edge"]},
    )
    paths["photo feature maps"] = folder / "photo-feature-maps.png"
    render_feature_maps(trace, paths["photo feature maps"])
    centre = (photo.shape[0] // 2, photo.shape[1] // 2)
    paths["photo receptive field"] = folder / "photo-receptive-field.png"
    render_figure(trace, paths["photo receptive field"], step=trace.compute_step(*centre, 0))
    return {"paths": paths, "difference": difference, "caption": caption}


def write_article(folder: Path, seed: int, say: Any) -> dict[str, Any]:
    """Write the article's pictures, animation, page and text into ``folder``."""
    from .explain.animation import render_animation
    from .explain.compare import compare_padding
    from .explain.figure import render_figure
    from .explain.text import render_text
    from .files import write_text

    folder.mkdir(parents=True, exist_ok=True)
    trace = _explain_article(seed)
    paths: dict[str, Path] = {}
    paths["receptive field at the top left"] = folder / "article-top-left.png"
    render_figure(trace, paths["receptive field at the top left"], step=(0, 0, 0))
    paths["moved by the stride S=2"] = folder / "article-moved-by-stride.png"
    render_figure(trace, paths["moved by the stride S=2"], step=(0, 1, 0))
    paths["the whole output"] = folder / "article-whole-output.svg"
    render_figure(trace, paths["the whole output"], step=(2, 2, 0))
    paths["animation"] = folder / "article-sliding.gif"
    render_animation(trace, paths["animation"])
    paths["text trace"] = folder / "article-trace.txt"
    write_text(paths["text trace"], render_text(trace, color=False))
    x, filters = article_example(seed)
    six = np.random.default_rng(seed).integers(0, 3, size=(1, 6, 6, 3)).astype(np.float64)
    comparison = "\n".join(compare_padding(volume, filters, [2, 2], [1, 1], "1") for volume in (x, six))
    paths["padding: P=1 vs TF SAME"] = folder / "padding-comparison.txt"
    write_text(paths["padding: P=1 vs TF SAME"], comparison)
    from .explain import html

    paths["interactive page"] = folder / "article-interactive.html"
    html.render_html(trace, paths["interactive page"])
    return {"paths": paths, "trace": trace}


def write_index(folder: Path, sections: list[tuple[str, dict[str, Path]]], notes: list[str]) -> Path:
    """``index.html`` linking (and showing) everything the demo wrote."""
    from .files import write_text

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>handconv demo</title>',
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
        "img{max-width:100%;border:1px solid #ddd;margin:.5em 0}li{margin:.3em 0}</style></head><body>",
        "<h1>handconv demo: convolutions by hand vs TensorFlow</h1>",
    ]
    parts.extend(f"<p>{html_text.escape(note)}</p>" for note in notes)
    for heading, paths in sections:
        parts.append(f"<h2>{html_text.escape(heading)}</h2><ul>")
        for name, path in paths.items():
            link = html_text.escape(path.name, quote=True)
            parts.append(f'<li><a href="{link}">{html_text.escape(name)}</a>')
            if path.suffix in (".png", ".svg", ".gif"):
                parts.append(f'<br><img src="{link}" alt="{html_text.escape(name, quote=True)}">')
            parts.append("</li>")
        parts.append("</ul>")
    parts.append("</body></html>")
    return write_text(folder / "index.html", "\n".join(parts) + "\n")
