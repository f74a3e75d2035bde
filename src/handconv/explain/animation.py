"""The filter sliding by the stride over the padded input while the output fills in.

Each frame is a :func:`~handconv.explain.figure.render_figure` picture with one
output element highlighted and the later outputs still blank. Frames go
row-major over ``(oy, ox, co)``; when there are more than ``max_frames`` of
them, evenly spaced ones are kept (the first and last always), so a photo gives
a short GIF instead of thousands of frames. GIFs are written with Pillow, MP4
with the ``ffmpeg`` program when it is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

import numpy as np

from ..errors import HandconvError
from ..files import atomic_path
from .figure import FIELD_COLOR, OUTLINE_COLOR, OUTPUT_COLOR, is_numbered, render_figure
from .trace import Step, Trace

__all__ = ["frame_elements", "render_frames", "render_animation", "MAX_FRAMES"]

#: Default bound on the number of frames of an animation.
MAX_FRAMES = 36


def frame_elements(trace: Trace, max_frames: int = MAX_FRAMES) -> list[tuple[int, int, int]]:
    """Output elements ``(oy, ox, co)`` the frames highlight, row-major, at most ``max_frames``.

    >>> import numpy as np, handconv
    >>> trace = handconv.explain(np.zeros((1, 5, 5, 1)), np.ones((3, 3, 1, 1)), at=[])
    >>> frame_elements(trace)
    [(0, 0, 0), (0, 1, 0), (0, 2, 0), (1, 0, 0), (1, 1, 0), (1, 2, 0), (2, 0, 0), (2, 1, 0), (2, 2, 0)]
    >>> len(frame_elements(handconv.explain(np.zeros((1, 50, 50, 1)), np.ones((3, 3, 1, 1)), at=[])))
    36
    """
    if max_frames < 1:
        raise HandconvError(f"max_frames={max_frames} must be at least 1")
    oh, ow = trace.plan.output_hw
    channels = trace.plan.out_channels
    total = oh * ow * channels
    if total == 0:
        return []
    indices = np.unique(np.linspace(0, total - 1, min(max_frames, total)).round().astype(int))
    return [(int(i // (ow * channels)), int(i // channels % ow), int(i % channels)) for i in indices]


def _figure_pixels(fig: Any) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[:, :, :3].astype(np.float32) / 255


class _Painter:
    """Paints one frame's highlights onto pixels of a figure drawn once without any.

    Drawing a matplotlib figure with hundreds of numbers takes most of a second
    on a slow machine; painting a few rectangles into a copy of its pixels takes
    microseconds, so frames cost almost nothing beyond the first picture.
    """

    def __init__(self, trace: Trace, dpi: int) -> None:
        from matplotlib.colors import to_rgb

        self.trace = trace
        self.fig = render_figure(trace, highlight=False, dpi=dpi)
        self.base = _figure_pixels(self.fig)
        self.axes = {ax.get_label(): ax for ax in self.fig.axes}
        self.rgb = {
            name: np.array(to_rgb(color), np.float32)
            for name, color in (
                ("field", FIELD_COLOR),
                ("output", OUTPUT_COLOR),
                ("outline", OUTLINE_COLOR),
                ("white", "white"),
            )
        }

    def box(self, label: str, r0: int, c0: int, r1: int, c1: int, inset: int = 0) -> tuple[int, int, int, int]:
        """Pixel rows/columns ``(y0, x0, y1, x1)`` covering cells ``r0..r1`` x ``c0..c1`` of an axes."""
        transform = self.axes[label].transData
        height = self.base.shape[0]
        (xa, ya), (xb, yb) = transform.transform([(c0 - 0.5, r0 - 0.5), (c1 + 0.5, r1 + 0.5)])
        y0, y1 = sorted((height - ya, height - yb))
        x0, x1 = sorted((xa, xb))
        return (int(round(y0)) + inset, int(round(x0)) + inset, int(round(y1)) - inset, int(round(x1)) - inset)

    def multiply(self, image: np.ndarray, box: tuple[int, int, int, int], color: str) -> None:
        y0, x0, y1, x1 = box
        image[y0:y1, x0:x1] *= self.rgb[color]

    def fill(self, image: np.ndarray, box: tuple[int, int, int, int], color: str) -> None:
        y0, x0, y1, x1 = box
        image[y0:y1, x0:x1] = self.rgb[color]

    def outline(self, image: np.ndarray, box: tuple[int, int, int, int], color: str, width: int = 3) -> None:
        y0, x0, y1, x1 = box
        y0, x0 = max(y0 - 1, 0), max(x0 - 1, 0)
        for rows, cols in (
            (slice(y0, y0 + width), slice(x0, x1 + 1)),
            (slice(y1 - width + 1, y1 + 1), slice(x0, x1 + 1)),
            (slice(y0, y1 + 1), slice(x0, x0 + width)),
            (slice(y0, y1 + 1), slice(x1 - width + 1, x1 + 1)),
        ):
            image[rows, cols] = self.rgb[color]

    def frame(self, step: Step) -> Any:
        from PIL import Image

        trace, image = self.trace, self.base.copy()
        numbered_input = is_numbered(trace.padded_input.shape)
        for channel in step.channels:
            label = f"input:{channel}"
            if numbered_input:
                for r in step.rows:
                    for c in step.cols:
                        self.multiply(image, self.box(label, r, c, r, c, inset=1), "field")
            else:
                self.outline(image, self.box(label, step.rows[0], step.cols[0], step.rows[-1], step.cols[-1]), "field")
        kh, kw, group_channels, _ = trace.filters.shape
        for k in range(group_channels):
            self.outline(image, self.box(f"filter:{step.co}:{k}", 0, 0, kh - 1, kw - 1), "outline", 2)
        oh, ow = trace.plan.output_hw
        numbered_output = is_numbered((oh, ow))
        current = step.oy * ow + step.ox
        for co in range(trace.plan.out_channels):
            label = f"output:{co}"
            for oy in range(oh):
                for ox in range(ow):
                    position = oy * ow + ox
                    if position > current or (position == current and co > step.co):
                        # Not computed yet: blank the cell (or, on an image, the rest of the row).
                        if numbered_output:
                            self.fill(image, self.box(label, oy, ox, oy, ox, inset=1), "white")
                        else:
                            self.fill(image, self.box(label, oy, ox, oy, ow - 1), "white")
                            if oy + 1 < oh:
                                self.fill(image, self.box(label, oy + 1, 0, oh - 1, ow - 1), "white")
                            break
                else:
                    continue
                if not numbered_output:
                    break
        cell = self.box(f"output:{step.co}", step.oy, step.ox, step.oy, step.ox, inset=1 if numbered_output else 0)
        if numbered_output:
            self.multiply(image, cell, "output")
        else:
            self.outline(image, cell, "output")
        frame = Image.fromarray((np.clip(image, 0, 1) * 255).round().astype(np.uint8))
        self.caption(frame, step)
        return frame

    def caption(self, frame: Any, step: Step) -> None:
        from matplotlib import font_manager
        from PIL import ImageDraw, ImageFont

        sums = step.arithmetic.splitlines()[-1].replace("total: ", "")
        text = f"output[{step.oy}, {step.ox}, {step.co}] = {sums}"
        size = max(10, int(self.fig.dpi * 10 / 72))
        font = ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)
        draw = ImageDraw.Draw(frame)
        width = draw.textlength(text, font=font)
        draw.text(((frame.width - width) / 2, frame.height - 1.6 * size), text, fill=(0, 0, 0), font=font)


def render_frames(trace: Trace, *, max_frames: int = MAX_FRAMES, dpi: int = 72) -> list[Any]:
    """The animation's frames as PIL images, all the same size.

    One figure is drawn without highlights; each frame paints onto a copy of
    its pixels the receptive field (amber, multiplied so the numbers stay
    readable), the filter in use (blue outline), the output cell (green) and
    blanks over outputs not computed yet. The last frame shows the whole output.
    """
    try:
        import PIL  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        raise HandconvError("animations need Pillow; install it with: pip install 'handconv[plot]'") from None
    painter = _Painter(trace, dpi)
    frames = [painter.frame(trace.compute_step(*element)) for element in frame_elements(trace, max_frames)]
    from PIL import Image

    frames.append(Image.fromarray((painter.base * 255).round().astype(np.uint8)))
    return frames


def render_animation(
    trace: Trace,
    path: str | os.PathLike[str],
    *,
    max_frames: int = MAX_FRAMES,
    frame_ms: int = 700,
    dpi: int = 72,
) -> list[Any]:
    """Write the animation to ``path`` (``.gif``, or ``.mp4`` when ffmpeg is installed).

    Parameters
    ----------
    trace : Trace
    path : str or path
    max_frames : int
        Frame bound; positions are subsampled evenly beyond it.
    frame_ms : int
        Milliseconds per frame; the last frame holds three times as long.
    dpi : int

    Returns
    -------
    list of PIL.Image.Image
        The frames written.
    """
    suffix = os.fspath(path).lower().rsplit(".", 1)[-1]
    if suffix not in ("gif", "mp4"):
        raise HandconvError(f"cannot write an animation to {os.fspath(path)!r}; expected a .gif or .mp4 path")
    ffmpeg = shutil.which("ffmpeg") if suffix == "mp4" else None
    if suffix == "mp4" and ffmpeg is None:
        raise HandconvError("writing .mp4 needs the ffmpeg program, which is not installed; write a .gif instead")
    frames = render_frames(trace, max_frames=max_frames, dpi=dpi)
    with atomic_path(path) as temp:
        if suffix == "gif":
            durations = [frame_ms] * (len(frames) - 1) + [frame_ms * 3]
            frames[0].save(
                temp,
                format="GIF",
                save_all=True,
                append_images=frames[1:],
                duration=durations,
                loop=0,
                optimize=False,
            )
        else:
            assert ffmpeg is not None  # checked above for .mp4
            _write_mp4(ffmpeg, frames, temp, frame_ms)
    return frames


def _write_mp4(ffmpeg: str, frames: list[Any], path: Any, frame_ms: int) -> None:
    width, height = frames[0].size
    command = [
        ffmpeg,
        "-y",
        "-loglevel",
        "error",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{width}x{height}",
        "-r",
        f"{1000 / frame_ms:.4f}",
        "-i",
        "-",
        "-vf",
        "pad=ceil(iw/2)*2:ceil(ih/2)*2:color=white",
        "-pix_fmt",
        "yuv420p",
        "-f",
        "mp4",
        os.fspath(path),
    ]
    data = b"".join(np.asarray(frame.convert("RGB")).tobytes() for frame in frames)
    result = subprocess.run(command, input=data, capture_output=True, check=False)
    if result.returncode != 0:
        raise HandconvError(f"ffmpeg failed: {result.stderr.decode(errors='replace').strip()[:300]}")
