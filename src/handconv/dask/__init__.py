"""handconv on Dask: images bigger than memory, folders bigger than one machine.

:func:`conv2d` is :func:`handconv.conv2d` on a ``dask.array``: the output is
cut into tiles planned from the shared :class:`~handconv.plan.ConvPlan`, and
each tile reads exactly the input rows and columns its receptive fields cover
(see :func:`handconv.shapes.input_window`). :func:`filter` is
:func:`handconv.image.filter` on a lazy image, border modes included;
:func:`open_image` and :func:`write_image` read and write tiled TIFF and Zarr
lazily. The ``handconv filter --dask`` command runs on all of them.

Needs the ``dask`` extra: ``pip install 'handconv[dask]'``.
"""

from __future__ import annotations

try:
    import dask.array  # noqa: F401
except ImportError:  # pragma: no cover - the extra is installed in tests
    raise ImportError("handconv.dask needs Dask, which is not installed: pip install 'handconv[dask]'") from None

from .conv import conv2d
from .image import filter
from .io import open_image, write_image

__all__ = ["conv2d", "filter", "open_image", "write_image"]
