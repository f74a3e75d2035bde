"""The sample photo shipped with handconv (public domain, see ``handconv/data/README.md``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["sample_photo", "sample_photo_path"]

_SAMPLE_NAME = "astronaut.jpg"


def sample_photo_path() -> Path:
    """Path of the bundled sample photo, a 320 x 320 RGB JPEG.

    The photo is NASA's portrait of astronaut Eileen Collins (public domain), as
    bundled by scikit-image, resized.

    >>> sample_photo_path().name
    'astronaut.jpg'
    """
    return Path(__file__).resolve().parent.parent / "data" / _SAMPLE_NAME


def sample_photo() -> np.ndarray:
    """The bundled sample photo as an array.

    Returns
    -------
    ndarray of shape (320, 320, 3), dtype uint8
        RGB pixels, row 0 at the top.

    >>> photo = sample_photo()
    >>> photo.shape, photo.dtype
    ((320, 320, 3), dtype('uint8'))
    """
    from .io import read_image

    return read_image(sample_photo_path())
