"""Photos through any kernel: Pillow I/O and :func:`filter` (the command is :mod:`handconv.commands.filter`).

>>> import handconv.image as image
>>> photo = image.sample_photo()                      # (320, 320, 3) uint8, public domain
>>> edges = image.filter(photo, "sobel", gray=True)   # gradient magnitude, uint8
>>> edges.shape, edges.dtype
((320, 320), dtype('uint8'))

Nothing heavy is imported here (Pillow, tqdm and matplotlib load where they are
used), so ``import handconv.image`` and ``handconv --help`` stay fast.
"""

from __future__ import annotations

from .filtering import CHANNELS, OUTPUTS, filter, map_output
from .io import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV, read_image, safe_output_path, write_image
from .sample import sample_photo, sample_photo_path

__all__ = [
    "filter",
    "read_image",
    "write_image",
    "safe_output_path",
    "map_output",
    "sample_photo",
    "sample_photo_path",
    "OUTPUTS",
    "CHANNELS",
    "DEFAULT_MAX_PIXELS",
    "MAX_PIXELS_ENV",
]
