"""Reading and writing images safely, with Pillow.

Reading
-------
:func:`read_image` returns an array of shape ``(H, W)`` (gray), ``(H, W, 2)``
(gray + alpha), ``(H, W, 3)`` (RGB) or ``(H, W, 4)`` (RGBA), row 0 at the top:

* PNG, JPEG, TIFF, BMP, WebP (and anything else Pillow opens; the first frame
  of an animation). 8-bit files give ``uint8``, 16-bit files ``uint16``,
  32-bit float TIFFs ``float32``. Palette images become RGB, or RGBA when the
  palette has transparency; 1-bit images become ``uint8`` 0/255; CMYK and
  other colour spaces become RGB.
* The EXIF orientation tag is applied (``PIL.ImageOps.exif_transpose``), so a
  phone photo comes out the way it is shown.
* 16-bit colour (48/64-bit PNG or TIFF): Pillow would silently drop the low
  8 bits, so these are decoded with OpenCV (``pip install 'handconv[opencv]'``).
* ``.npy`` files are loaded with ``allow_pickle=False``: arrays of shape
  ``(H, W)`` or ``(H, W, C)`` with C in 1..4, dtype uint8, uint16, float32 or
  float64.

Untrusted files are refused rather than decoded when they claim more than
:data:`DEFAULT_MAX_PIXELS` pixels (a *decompression bomb*: a few kilobytes that
expand to gigabytes). Raise the limit with ``max_pixels=`` (the CLI's
``--max-pixels``) or the ``HANDCONV_MAX_PIXELS`` environment variable; ``0``
means no limit. A file that is not an image, or is truncated, raises a
:class:`~handconv.errors.HandconvError` whose one-line message names it.

Writing
-------
:func:`write_image` picks the format from the suffix and never writes in place:
it writes a temporary file in the destination folder and renames it over the
target with ``os.replace`` (atomic on POSIX and Windows), so a crash never
leaves half a file. It refuses to overwrite an existing file unless asked, and
always refuses to overwrite a file listed in ``protect`` (the inputs).

========== ===================================================================
suffix     what is written
========== ===================================================================
``.png``   uint8 as 8-bit; uint16 as 16-bit (colour through OpenCV); float
           in [0, 1] as 16-bit, ``round(v * 65535)``
``.tif``   as ``.png``, except float single-channel arrays are stored as
``.tiff``  32-bit float TIFF (any values, negatives included)
``.jpg``   8-bit only: uint16 becomes ``round(v / 257)``, float in [0, 1]
``.jpeg``  ``round(v * 255)``; no alpha (JPEG has none); quality 95
``.bmp``   8-bit, converted as for JPEG; no alpha
``.webp``  8-bit, converted as for JPEG, lossless (gray is stored as RGB)
``.npy``   the array exactly as it is, any dtype and values
========== ===================================================================

Rounding is NumPy's ``np.rint``: to the nearest integer, halves to even, as
OpenCV's ``saturate_cast`` does.
"""

from __future__ import annotations

import contextlib
import os
import struct
import warnings
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import HandconvError, HandconvMemoryError, HandconvTypeError
from ..files import atomic_path, npy_header, refuse_overwriting_inputs

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MAX_PIXELS_ENV",
    "READ_SUFFIXES",
    "WRITE_SUFFIXES",
    "read_image",
    "write_image",
    "resolve_max_pixels",
    "safe_output_path",
]

#: Largest image (width x height) read unless told otherwise: 100 megapixels,
#: about Pillow's own limit. Such an image already takes 2.4 GB as float64 RGB.
DEFAULT_MAX_PIXELS = 100_000_000

#: Environment variable that overrides :data:`DEFAULT_MAX_PIXELS` (0: no limit).
MAX_PIXELS_ENV = "HANDCONV_MAX_PIXELS"

#: Suffixes a folder input is searched for.
READ_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif", ".npy")

#: Suffixes :func:`write_image` writes.
WRITE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".npy")

_EIGHT_BIT_ONLY = (".jpg", ".jpeg", ".bmp", ".webp")
_PILLOW_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".webp": "WEBP",
}
_NPY_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32), np.dtype(np.float64))


def resolve_max_pixels(max_pixels: int | None = None) -> int | None:
    """The pixel limit in force: ``max_pixels``, else ``$HANDCONV_MAX_PIXELS``, else the default.

    Returns ``None`` for no limit (0). A negative value is refused: it used to
    mean "no limit" silently, which a typo should not.

    >>> resolve_max_pixels(10), resolve_max_pixels(0)
    (10, None)
    """
    if max_pixels is None:
        text = os.environ.get(MAX_PIXELS_ENV, "").strip()
        if text:
            try:
                max_pixels = int(float(text))
            except ValueError:
                raise HandconvError(f"{MAX_PIXELS_ENV}={text!r} is not a number of pixels") from None
        else:
            max_pixels = DEFAULT_MAX_PIXELS
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)):
        raise HandconvTypeError(f"max_pixels={max_pixels!r} must be an int (0 for no limit)")
    if max_pixels < 0:
        raise HandconvError(
            f"max_pixels={max_pixels!r} (--max-pixels, ${MAX_PIXELS_ENV}) must be >= 0 (0 for no limit)"
        )
    return int(max_pixels) if max_pixels > 0 else None


#: Bytes per pixel reading an image may hold at once (decoder buffer plus array, 16-bit colour).
DECODE_BYTES_PER_PIXEL = 16


def _check_pixels(path: Path, height: int, width: int, limit: int | None) -> None:
    if limit is not None and height * width > limit:
        raise HandconvError(
            f"{path}: {width}x{height} = {width * height:,} pixels is more than the limit of {limit:,} "
            "(refused as a possible decompression bomb); if you trust the file, raise the limit with "
            f"--max-pixels N or {MAX_PIXELS_ENV}=N (0 = no limit)"
        )
    # Decoding holds Pillow's buffer (up to 4 bytes per pixel, 8 for 16-bit) and the array: checked from the
    # header, before decoding, so a large image is refused in one line instead of by the OS.
    needed = height * width * DECODE_BYTES_PER_PIXEL
    if needed > 64 * 2**20:
        from ..conv import available_memory

        available = available_memory()
        if available is not None and needed > available:
            raise HandconvMemoryError(
                f"{path}: decoding {width}x{height} pixels needs about {needed / 2**30:.1f} GiB "
                f"({DECODE_BYTES_PER_PIXEL} bytes per pixel: the decoder's buffer and the array), but only "
                f"{available / 2**30:.1f} GiB is available"
            )


def _unreadable(path: Path, error: BaseException) -> HandconvError:
    reason = str(error).splitlines()[0].strip() if str(error).strip() else type(error).__name__
    return HandconvError(f"{path}: cannot read this image: {reason}")


def read_image(path: str | os.PathLike, *, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file (or a ``.npy`` array) as an array, safely.

    Parameters
    ----------
    path : str or path-like
    max_pixels : int, optional
        Refuse images with more pixels (width x height) than this; default
        ``$HANDCONV_MAX_PIXELS`` or :data:`DEFAULT_MAX_PIXELS`; 0 for no limit.

    Returns
    -------
    ndarray of shape (H, W), (H, W, 2), (H, W, 3) or (H, W, 4)
        uint8, uint16 or float32 for image files; as stored for ``.npy``. The
        last channel of 2- and 4-channel arrays is alpha.

    Raises
    ------
    HandconvError
        The file is missing, not an image, truncated, or too large; the
        message starts with the path.
    """
    path = Path(path)
    if not path.is_file():
        raise HandconvError(f"{path}: no such file")
    limit = resolve_max_pixels(max_pixels)
    if path.suffix.lower() == ".npy":
        return _read_npy(path, limit)
    return _read_with_pillow(path, limit)


def _read_npy(path: Path, limit: int | None) -> np.ndarray:
    shape, dtype, _ = npy_header(path)  # the header only: bad files refused before reading any data
    if len(shape) not in (2, 3) or (len(shape) == 3 and not 1 <= shape[2] <= 4):
        raise HandconvError(f"{path}: array of shape {shape} is not an image; expected (H, W) or (H, W, C), C <= 4")
    if dtype not in _NPY_DTYPES:
        raise HandconvError(
            f"{path}: array dtype {dtype} is not an image dtype; expected uint8, uint16, float32 or float64"
        )
    _check_pixels(path, shape[0], shape[1], limit)
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise _unreadable(path, error) from None
    return array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array


@contextlib.contextmanager
def _pillow_limit(limit: int | None) -> Iterator[None]:
    """Set Pillow's own bomb limit to ours while a file is opened (Pillow refuses at twice it)."""
    from PIL import Image

    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = limit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, struct.error, zlib.error)


def _read_with_pillow(path: Path, limit: int | None) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    with _pillow_limit(limit):
        try:
            image = Image.open(path)
        except Image.DecompressionBombError:
            width, height = _header_size(path)
            _check_pixels(path, height, width, limit)
            raise  # pragma: no cover - _check_pixels raises, Pillow refuses only above our limit
        except UnidentifiedImageError:
            raise HandconvError(f"{path}: not an image file Pillow can read") from None
        except _DECODE_ERRORS as error:
            raise _unreadable(path, error) from None
        with image:
            _check_pixels(path, image.height, image.width, limit)
            try:
                if _is_16_bit_colour(image):
                    return _read_16_bit_colour(path)
                return _to_array(ImageOps.exif_transpose(image))
            except _DECODE_ERRORS as error:
                raise _unreadable(path, error) from None


def _header_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(path) as image:
            return image.size
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _is_16_bit_colour(image: Any) -> bool:
    return image.mode in ("RGB", "RGBA", "LA") and any(";16" in str(tile.args) for tile in image.tile)


def _read_16_bit_colour(path: Path) -> np.ndarray:
    try:
        import cv2
    except ImportError:
        raise HandconvError(
            f"{path}: 16-bit colour image; Pillow would drop its low 8 bits, so handconv reads these "
            "with OpenCV: pip install 'handconv[opencv]'"
        ) from None
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise HandconvError(f"{path}: OpenCV cannot read this 16-bit image")
    if array.ndim == 3 and array.shape[2] == 3:
        return np.ascontiguousarray(array[..., ::-1])
    if array.ndim == 3 and array.shape[2] == 4:
        return np.ascontiguousarray(array[..., [2, 1, 0, 3]])
    return array


def _to_array(image: Any) -> np.ndarray:
    """A Pillow image (any mode) as uint8/uint16/float32 gray, gray+alpha, RGB or RGBA."""
    mode = image.mode
    if mode == "P" or mode == "PA":
        has_alpha = mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    elif mode == "1":
        image = image.convert("L")
    elif mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(image).astype(np.uint16)
    elif mode == "I":
        array = np.asarray(image)
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise HandconvError(f"32-bit integer pixels outside 0..65535 (mode {mode}); expected 8- or 16-bit")
        return array.astype(np.uint16)
    elif mode == "F":
        return np.asarray(image, dtype=np.float32)
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in mode else "RGB")
    return np.asarray(image)


# ---------------------------------------------------------------------------------------------
# Writing.


def safe_output_path(out_dir: str | os.PathLike, name: str) -> Path:
    """``out_dir / name``, refusing any name that would land outside ``out_dir``.

    ``name`` must be a plain file name: no folder separators, no ``..``, not
    absolute; and the result, symbolic links followed, must lie in ``out_dir``.

    >>> safe_output_path("out", "a.png").as_posix()
    'out/a.png'
    >>> safe_output_path("out", "../a.png")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    handconv.errors.HandconvError: output name '../a.png' would leave the output folder 'out'; expected a plain ...
    """
    folder = Path(out_dir)
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\0" in name
        or Path(name).is_absolute()
        or Path(name).name != name
    ):
        raise HandconvError(
            f"output name {name!r} would leave the output folder {str(folder)!r}; expected a plain file name"
        )
    target = folder / name
    resolved_folder = folder.resolve()
    if not target.resolve().is_relative_to(resolved_folder):
        raise HandconvError(
            f"output {str(target)!r} resolves to {str(target.resolve())!r}, outside the output folder "
            f"{str(folder)!r} (a symbolic link?); refusing to write there"
        )
    return target


def write_image(
    path: str | os.PathLike,
    array: np.ndarray,
    *,
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike] = (),
) -> Path:
    """Write ``array`` to ``path`` atomically, in the format its suffix names.

    Parameters
    ----------
    path : str or path-like
        The suffix picks the format; see the module docstring for what each
        stores and how values are converted.
    array : ndarray of shape (H, W) or (H, W, C), C in 1..4
        uint8, uint16 or float; the last channel of 2 and 4 channels is alpha.
    overwrite : bool
        Replace an existing file. Without it an existing file is an error.
    protect : iterable of path-like
        Files never to overwrite, even with ``overwrite=True`` (the inputs).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    HandconvError
        Unknown suffix, values the format cannot hold, an existing or
        protected target.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise HandconvError(
            f"{path}: cannot write {suffix or 'files without a suffix'}; expected one of {', '.join(WRITE_SUFFIXES)}"
        )
    refuse_overwriting_inputs([("output", path)], [("input", protected) for protected in protect])
    if path.exists() and not overwrite:
        raise HandconvError(f"{path}: already exists; pass --overwrite (overwrite=True) to replace it")
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] > 4):
        raise HandconvError(f"{path}: array of shape {array.shape} is not an image; expected (H, W) or (H, W, C<=4)")
    if suffix != ".npy":
        array = storable(path, suffix, array)
    if not path.parent.exists():
        raise HandconvError(f"{path}: folder {str(path.parent)!r} does not exist")
    with atomic_path(path) as temp:
        if suffix == ".npy":
            with open(temp, "wb") as file:
                np.save(file, array, allow_pickle=False)
        elif array.dtype == np.uint16 and array.ndim == 3:
            _write_16_bit_colour(temp, suffix, array, path)
        else:
            _write_with_pillow(temp, suffix, array)
    return path


def storable(path: Path, suffix: str, array: np.ndarray) -> np.ndarray:
    """``array`` converted to what the format holds, or an error saying why it cannot be."""
    kind = array.dtype.kind
    if kind == "f":
        if suffix in (".tif", ".tiff") and array.ndim == 2:
            return array.astype(np.float32)
        finite = np.isfinite(array).all()
        low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
        if not finite or low < 0 or high > 1:
            raise HandconvError(
                f"{path}: float values in [{low:g}, {high:g}] cannot be stored as {suffix} pixels, which "
                "take floats in [0, 1]; write .npy (or single-channel .tiff) to keep them, or use "
                "--map clip/abs/rescale"
            )
        if suffix in _EIGHT_BIT_ONLY:
            return np.rint(array * 255).astype(np.uint8)
        return np.rint(array * 65535).astype(np.uint16)
    if array.dtype == np.uint16:
        return np.rint(array / 257).astype(np.uint8) if suffix in _EIGHT_BIT_ONLY else array
    if array.dtype == np.uint8:
        return array
    raise HandconvTypeError(f"{path}: cannot store dtype {array.dtype} as {suffix}; expected uint8, uint16 or float")


def _write_with_pillow(temp: Path, suffix: str, array: np.ndarray) -> None:
    from PIL import Image

    if suffix in (".jpg", ".jpeg", ".bmp") and array.ndim == 3 and array.shape[2] in (2, 4):
        kind = "JPEG" if suffix != ".bmp" else "BMP (as Pillow reads it back)"
        raise HandconvError(f"{kind} has no alpha channel; write .png, .webp or .tiff to keep it")
    image = Image.fromarray(np.ascontiguousarray(array))  # L, LA, RGB, RGBA or I;16 from shape and dtype
    options: dict[str, Any] = {}
    if suffix in (".jpg", ".jpeg"):
        options["quality"] = 95
    elif suffix == ".webp":
        options.update(lossless=True, exact=True)  # exact: keep colour under transparent pixels
    image.save(temp, format=_PILLOW_FORMATS[suffix], **options)


def _write_16_bit_colour(temp: Path, suffix: str, array: np.ndarray, path: Path) -> None:
    if array.shape[2] == 2:
        raise HandconvError(f"{path}: 16-bit gray+alpha cannot be written as {suffix}; write .npy")
    try:
        import cv2
    except ImportError:
        raise HandconvError(
            f"{path}: Pillow cannot write 16-bit colour; handconv writes it with OpenCV: "
            "pip install 'handconv[opencv]' (or write .npy)"
        ) from None
    order = [2, 1, 0] if array.shape[2] == 3 else [2, 1, 0, 3]
    extension = ".png" if suffix == ".png" else ".tiff"
    ok, encoded = cv2.imencode(extension, np.ascontiguousarray(array[..., order]))
    if not ok:  # pragma: no cover
        raise HandconvError(f"{path}: OpenCV could not encode this image")
    temp.write_bytes(encoded.tobytes())
