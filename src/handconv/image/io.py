"""Reading and writing images with Pillow (placeholder; filled in below)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_image(path) -> np.ndarray:
    from PIL import Image, ImageOps

    with Image.open(Path(path)) as image:
        image = ImageOps.exif_transpose(image)
        return np.asarray(image.convert("RGB"))
