"""Reading and writing images lazily: tiled TIFF (via ``tifffile``) and Zarr.

:func:`open_image` returns a ``dask.array`` whose chunks are read from the file
only when a task needs them: a TIFF through ``tifffile``'s Zarr view of its
tiles or strips (``aszarr``), a ``.zarr`` folder through Zarr. Other formats
(PNG, JPEG, ...) cannot be read in parts; they are read whole with
:func:`handconv.image.read_image` (and its pixel limit) and then chunked.

:func:`write_image` computes a lazy image into a tiled TIFF or a Zarr folder
without holding it whole: a TIFF is written band by band (one row of output
tiles computed in parallel, then its TIFF tiles written in order); a Zarr
folder chunk by chunk by the workers. Both are atomic, as
:func:`handconv.files.atomic_path` is: a TIFF goes to a temporary file beside
the target and a Zarr to a temporary folder beside it, renamed into place only
when complete, and removed on any failure or interruption.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import HandconvError, HandconvTypeError
from ..files import atomic_path

__all__ = ["LAZY_SUFFIXES", "WRITE_SUFFIXES", "is_zarr", "open_image", "tile_size", "write_image"]

#: Inputs read lazily, tile by tile.
LAZY_SUFFIXES = (".tif", ".tiff", ".zarr")
#: Outputs :func:`write_image` writes without holding the image.
WRITE_SUFFIXES = (".tif", ".tiff", ".zarr")
#: Default TIFF tile edge (pixels) and Dask chunk edge.
TIFF_TILE = 256
DEFAULT_CHUNK = 1024

_PIXEL_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32), np.dtype(np.float64))


def is_zarr(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() == ".zarr"


class _TiffSource:
    """A TIFF's first image as an array-like Dask can slice; picklable (holds only the path).

    Each thread opens its own Zarr view of the file (``tifffile.imread(aszarr=True)``),
    so reads never share a file position.
    """

    def __init__(self, path: str, shape: tuple[int, ...], dtype: np.dtype, planar: bool):
        self.path, self.shape, self.dtype, self.planar = path, shape, np.dtype(dtype), planar
        self.ndim = len(shape)
        self._local = threading.local()

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_local"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def _array(self):
        array = getattr(self._local, "array", None)
        if array is None:
            import tifffile
            import zarr

            store = tifffile.imread(self.path, aszarr=True, series=0, level=0)
            array = self._local.array = zarr.open(store, mode="r")
        return array

    def __getitem__(self, index: tuple[slice, ...]) -> np.ndarray:
        if self.planar:  # stored (C, H, W): read (C, rows, cols) and put channels last
            rows, cols, channels = (tuple(index) + (slice(None),) * 3)[:3]
            return np.moveaxis(np.asarray(self._array()[channels, rows, cols]), 0, -1)
        return np.asarray(self._array()[index])


def _check_pixels(path: Path, shape: tuple[int, ...], dtype: np.dtype) -> None:
    if len(shape) not in (2, 3) or (len(shape) == 3 and not 1 <= shape[2] <= 4):
        raise HandconvError(f"{path}: array of shape {shape} is not an image; expected (H, W) or (H, W, C), C <= 4")
    if np.dtype(dtype) not in _PIXEL_DTYPES:
        raise HandconvError(f"{path}: pixel dtype {dtype} is not supported; expected uint8, uint16, float32 or float64")


def open_image(path: str | os.PathLike, chunk: int | None = None, *, max_pixels: int | None = None):
    """Open an image lazily as a ``dask.array`` of shape (H, W) or (H, W, C).

    Parameters
    ----------
    path : str or path-like
        A TIFF (tiled or striped; the first series, full resolution) or a
        ``.zarr`` folder holding one array: read lazily, with no pixel limit
        (nothing is held whole). Any other format
        :func:`handconv.image.read_image` reads is read whole, under its limit.
    chunk : int, optional
        Chunk edge in pixels (rows and columns; channels stay whole); default
        :data:`DEFAULT_CHUNK`.
    max_pixels : int, optional
        The limit for formats read whole (see :func:`handconv.image.read_image`).

    Returns
    -------
    dask.array.Array of shape (H, W) or (H, W, C)

    Raises
    ------
    HandconvError
        Missing file, not an image, unsupported shape or dtype; the message starts with the path.
    """
    import dask.array as da

    path = Path(path)
    chunk = DEFAULT_CHUNK if chunk is None else int(chunk)
    if chunk < 1:
        raise HandconvError(f"chunk={chunk!r} must be a positive number of pixels")
    suffix = path.suffix.lower()
    if suffix == ".zarr":
        if not path.is_dir():
            raise HandconvError(f"{path}: no such Zarr folder")
        try:
            import zarr

            array = zarr.open_array(str(path), mode="r")
        except Exception as error:
            raise HandconvError(f"{path}: cannot open as a Zarr array: {str(error).splitlines()[0]}") from None
        _check_pixels(path, array.shape, array.dtype)
        lazy = da.from_zarr(array)
    elif suffix in (".tif", ".tiff"):
        if not path.is_file():
            raise HandconvError(f"{path}: no such file")
        import tifffile

        try:
            with tifffile.TiffFile(path) as tiff:
                series = tiff.series[0]
                axes, shape, dtype = series.axes, tuple(series.shape), series.dtype
        except Exception as error:
            raise HandconvError(f"{path}: cannot read this TIFF: {str(error).splitlines()[0]}") from None
        planar = axes in ("SYX", "CYX")
        if planar:
            shape = (*shape[1:], shape[0])
        elif axes not in ("YX", "YXS", "YXC"):
            raise HandconvError(
                f"{path}: TIFF axes {axes!r} (shape {shape}) are not one image; expected YX, YXS (RGB) or SYX"
            )
        _check_pixels(path, shape, dtype)
        source = _TiffSource(str(path), shape, dtype, planar)
        lazy = da.from_array(
            source,
            chunks=(chunk, chunk, -1)[: len(shape)],
            lock=False,
            asarray=True,
            name=f"handconv-tiff-{_token(path)}",
            meta=np.empty((0,) * len(shape), dtype),
        )
    else:
        from ..image.io import read_image

        pixels = read_image(path, max_pixels=max_pixels)
        lazy = da.from_array(pixels, chunks=(chunk, chunk, -1)[: pixels.ndim])
    return lazy.rechunk((chunk, chunk, -1)[: lazy.ndim])


def _token(path: Path) -> str:
    from dask.base import tokenize

    stat = path.stat()
    return tokenize(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def tile_size(chunk: int) -> int:
    """The TIFF tile edge for row chunks of ``chunk`` pixels: the largest multiple of 16 up to 256 dividing it.

    TIFF tiles are multiples of 16; a divisor of the chunk lets the writer
    compute every chunk once. Chunks that are not multiples of 16 get 16.

    >>> tile_size(1024), tile_size(400), tile_size(96), tile_size(100)
    (256, 80, 96, 16)
    """
    for edge in range(TIFF_TILE, 15, -16):
        if chunk % edge == 0:
            return edge
    return 16


def _storable_block(block: np.ndarray, path: Path, suffix: str) -> np.ndarray:
    from ..image.io import storable

    if block.ndim == 3 and block.shape[2] == 1:
        block = block[..., 0]
    return storable(path, suffix, block)


def _check_target(path: Path, overwrite: bool, protect: Iterable[str | os.PathLike]) -> None:
    for protected in protect:
        protected = Path(protected)
        if path.resolve() == protected.resolve() or (
            path.exists() and protected.exists() and os.path.samefile(path, protected)
        ):
            raise HandconvError(f"{path}: this is an input file; handconv never overwrites its inputs")
    if path.exists() and not overwrite:
        raise HandconvError(f"{path}: already exists; pass --overwrite (overwrite=True) to replace it")
    if not path.parent.exists():
        raise HandconvError(f"{path}: folder {str(path.parent)!r} does not exist")


def write_image(
    path: str | os.PathLike,
    image: Any,
    *,
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike] = (),
    progress: bool = False,
    client: Any = None,
    workers: int | None = None,
) -> Path:
    """Compute a lazy image into a tiled TIFF or a Zarr folder, atomically, without holding it whole.

    Parameters
    ----------
    path : str or path-like
        ``.tif``/``.tiff``: a tiled TIFF (tiles of :func:`tile_size` of the
        image's row chunks), values stored as :func:`handconv.image.write_image`
        stores them. ``.zarr``: a Zarr folder with the image's chunks and dtype, any values.
    image : dask.array.Array of shape (H, W) or (H, W, C), C <= 4
    overwrite, protect
        As in :func:`handconv.image.write_image`.
    progress : bool
        Show a progress bar (Dask's for Zarr; bands of rows for TIFF).
    client : distributed.Client, optional
        Compute on this cluster (a Zarr target must then be on storage the
        workers share); default threads on this machine.
    workers : int, optional
        Local threads (default: one per core).

    Returns
    -------
    Path
    """
    import dask.array as da

    path = Path(path)
    suffix = ".zarr" if is_zarr(path) else path.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise HandconvError(
            f"{path}: cannot write {suffix or 'files without a suffix'} lazily; expected one of "
            f"{', '.join(WRITE_SUFFIXES)}"
        )
    if not isinstance(image, da.Array):
        image = da.from_array(np.asarray(image), chunks=(DEFAULT_CHUNK, DEFAULT_CHUNK, -1)[: np.ndim(image)])
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] > 4):
        raise HandconvError(f"{path}: array of shape {image.shape} is not an image; expected (H, W) or (H, W, C<=4)")
    _check_target(path, overwrite, protect)
    if suffix == ".zarr":
        _write_zarr(path, image, progress, client, workers)
    else:
        _write_tiff(path, image, suffix, progress, client, workers)
    return path


@contextlib.contextmanager
def atomic_folder(path: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; put it in ``path``'s place when the block succeeds.

    An existing ``path`` is moved aside first and removed after, so a reader
    sees the old folder or the new one, and a failure leaves the old one intact.
    """
    try:
        temp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as error:
        raise HandconvError(f"cannot write {str(path)!r}: {error.strerror or error}") from None
    old = None
    try:
        yield temp
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(temp, path)
    finally:
        if temp.exists():
            shutil.rmtree(temp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _write_zarr(path: Path, image: Any, progress: bool, client: Any, workers: int | None) -> None:
    import dask.array as da

    with atomic_folder(path) as temp:
        stored = da.to_zarr(image, str(temp), compute=False, overwrite=True)
        _compute(stored, progress, client, workers)


def _compute(lazy: Any, progress: bool, client: Any, workers: int | None = None) -> Any:
    """Compute with Dask's progress bar: the local one, or ``distributed.progress`` on a cluster.

    Locally the threads are this call's own pool, shut down (pending tasks
    cancelled, running ones awaited) before it returns or raises: after an
    interruption no thread is left writing into a temporary file or folder
    that is about to be removed.
    """
    if client is not None:
        future = client.compute(lazy)
        try:
            if progress:
                from distributed import progress as cluster_progress

                cluster_progress(future)
            return future.result()
        finally:
            if not future.done():
                client.cancel(future)
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(workers or os.cpu_count() or 1, thread_name_prefix="handconv-dask")
    try:
        if progress:
            from dask.diagnostics import ProgressBar

            with ProgressBar(out=StderrAtWriteTime()):
                return lazy.compute(scheduler="threads", pool=pool)
        return lazy.compute(scheduler="threads", pool=pool)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class StderrAtWriteTime:
    """sys.stderr looked up at write time (tests swap it)."""

    def write(self, text: str) -> None:
        import sys

        sys.stderr.write(text)

    def flush(self) -> None:
        import sys

        sys.stderr.flush()


def _write_tiff(path: Path, image: Any, suffix: str, progress: bool, client: Any, workers: int | None) -> None:
    import tifffile

    pixels = image.map_blocks(
        _storable_block,
        path,
        suffix,
        dtype=_stored_dtype(image.dtype, image, suffix),
        drop_axis=[2] if image.ndim == 3 and image.shape[2] == 1 else [],
    )
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    height, width = pixels.shape[:2]
    edge = tile_size(max(pixels.chunks[0]))
    # Bands: runs of row chunks, a multiple of the tile height (the last excepted), so that
    # each chunk is computed once and tiles come out in the order the file stores them.
    bands: list[Any] = []
    start = 0
    for size in pixels.chunks[0]:
        stop = start + size
        if stop % edge == 0 or stop == height:
            bands.append((bands[-1][1] if bands else 0, stop))
        start = stop
    channels = pixels.shape[2] if pixels.ndim == 3 else 1
    photometric = "rgb" if channels in (3, 4) else "minisblack"
    extrasamples = ("unassalpha",) if channels in (2, 4) else None

    def tiles() -> Iterator[np.ndarray]:
        from tqdm import tqdm

        with tqdm(total=height, unit="row", disable=not progress, desc="filter", file=StderrAtWriteTime()) as bar:
            for first, last in bands:
                band = _compute(pixels[first:last], False, client, workers)
                for top in range(0, last - first, edge):
                    for left in range(0, width, edge):
                        tile = band[top : top + edge, left : left + edge]
                        if tile.shape[:2] != (edge, edge):  # edge tiles are stored full size, zero-filled
                            full = np.zeros((edge, edge, *tile.shape[2:]), dtype=tile.dtype)
                            full[: tile.shape[0], : tile.shape[1]] = tile
                            tile = full
                        yield tile
                bar.update(last - first)

    with atomic_path(path) as temp:
        tifffile.imwrite(
            temp,
            tiles(),
            shape=pixels.shape,
            dtype=pixels.dtype,
            tile=(edge, edge),
            photometric=photometric,
            extrasamples=extrasamples,
            bigtiff=pixels.nbytes >= 2**31,
            metadata=None,
        )


def _stored_dtype(dtype: np.dtype, image: Any, suffix: str) -> np.dtype:
    """What :func:`handconv.image.io.storable` turns ``dtype`` into for a TIFF."""
    if dtype.kind == "f":
        single = image.ndim == 2 or image.shape[2] == 1
        return np.dtype(np.float32) if single else np.dtype(np.uint16)
    if dtype in (np.dtype(np.uint8), np.dtype(np.uint16)):
        return dtype
    raise HandconvTypeError(f"cannot store dtype {dtype} as {suffix}; expected uint8, uint16 or float")
