"""Image files in and out: formats, bit depths, alpha, EXIF, and untrusted files."""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest
from conftest import reference

from handconv.errors import HandconvError
from handconv.image import io as image_io
from handconv.image import read_image, safe_output_path, sample_photo, sample_photo_path, write_image


def _rng(seed=0):
    return np.random.default_rng(seed)


def _pixels(shape, dtype=np.uint8, seed=0):
    return _rng(seed).integers(0, np.iinfo(dtype).max + 1, size=shape).astype(dtype)


@pytest.fixture
def pil():
    return reference("PIL.Image")


@pytest.mark.parametrize(
    "suffix, shape",
    [
        (suffix, shape)
        for suffix in (".png", ".tif", ".bmp", ".webp")
        for shape in [(6, 7), (6, 7, 2), (6, 7, 3), (6, 7, 4)]
        if not (suffix in (".bmp", ".webp") and shape == (6, 7, 2)) and not (suffix == ".bmp" and shape == (6, 7, 4))
    ],
)
def test_lossless_8_bit_round_trips(tmp_path, pil, shape, suffix):
    pixels = _pixels(shape)
    path = write_image(tmp_path / f"a{suffix}", pixels)
    if suffix == ".webp" and pixels.ndim == 2:  # WebP has no gray: it comes back as R = G = B
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    assert np.array_equal(read_image(path), pixels)


def test_formats_without_alpha_refuse_it(tmp_path):
    for suffix in (".jpg", ".bmp"):
        with pytest.raises(HandconvError, match="no alpha"):
            write_image(tmp_path / f"a{suffix}", _pixels((3, 3, 4)))


def test_png_written_by_pillow_is_read_as_pillow_decodes_it(tmp_path, pil):
    pixels = _pixels((5, 6, 3), seed=1)
    pil.fromarray(pixels).save(tmp_path / "p.png")
    assert np.array_equal(read_image(tmp_path / "p.png"), pixels)


def test_jpeg_is_read_close_to_what_was_written(tmp_path, pil):
    smooth = np.linspace(0, 255, 16 * 16 * 3).reshape(16, 16, 3).astype(np.uint8)
    pil.fromarray(smooth).save(tmp_path / "p.jpg", quality=100)
    back = read_image(tmp_path / "p.jpg")
    assert back.shape == smooth.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - smooth).max() <= 8  # lossy, but not much at quality 100


def test_16_bit_gray_png_and_tiff_keep_every_bit(tmp_path, pil):
    pixels = _pixels((5, 9), np.uint16, seed=2)
    for suffix in (".png", ".tif"):
        path = write_image(tmp_path / f"g{suffix}", pixels)
        with pil.open(path) as image:  # an independent decoder agrees
            assert image.mode.startswith("I") and np.array_equal(np.asarray(image), pixels)
        back = read_image(path)
        assert back.dtype == np.uint16 and np.array_equal(back, pixels)


@pytest.mark.parametrize("channels", [3, 4])
def test_16_bit_colour_png_keeps_every_bit(tmp_path, channels):
    cv2 = reference("cv2")
    pixels = _pixels((5, 9, channels), np.uint16, seed=3)
    order = [2, 1, 0, 3][:channels]
    cv2.imwrite(str(tmp_path / "in.png"), pixels[..., order])  # written by OpenCV, BGR(A)
    back = read_image(tmp_path / "in.png")
    assert back.dtype == np.uint16 and np.array_equal(back, pixels)
    write_image(tmp_path / "out.png", pixels)
    assert np.array_equal(cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)[..., order], pixels)


def test_float_output_as_16_bit_png_npy_and_float_tiff(tmp_path, pil):
    values = _rng(4).random((4, 5))
    write_image(tmp_path / "f.png", values)
    with pil.open(tmp_path / "f.png") as image:
        assert np.array_equal(np.asarray(image), np.rint(values * 65535).astype(np.uint16))
    signed = _rng(5).normal(size=(4, 5)) * 300
    write_image(tmp_path / "f.npy", signed)
    assert np.array_equal(np.load(tmp_path / "f.npy"), signed)
    write_image(tmp_path / "f.tiff", signed)
    with pil.open(tmp_path / "f.tiff") as image:
        assert image.mode == "F" and np.array_equal(np.asarray(image), signed.astype(np.float32))
    assert np.array_equal(read_image(tmp_path / "f.tiff"), signed.astype(np.float32))
    with pytest.raises(HandconvError, match=r"cannot be stored as \.png"):
        write_image(tmp_path / "g.png", signed)
    with pytest.raises(HandconvError, match="no alpha"):
        write_image(tmp_path / "g.jpg", _pixels((4, 5, 4)))
    write_image(tmp_path / "h.jpg", _pixels((4, 5), np.uint16))  # 8-bit formats take uint16 / 257


def test_palette_images_become_rgb_or_rgba(tmp_path, pil):
    rgb = _pixels((6, 6, 3), seed=6)
    paletted = pil.fromarray(rgb).quantize(8)
    paletted.save(tmp_path / "p.png")
    assert np.array_equal(read_image(tmp_path / "p.png"), np.asarray(paletted.convert("RGB")))
    paletted.info["transparency"] = 0
    paletted.save(tmp_path / "t.png", transparency=0)
    with pil.open(tmp_path / "t.png") as image:
        expected = np.asarray(image.convert("RGBA"))
    back = read_image(tmp_path / "t.png")
    assert back.shape == (6, 6, 4) and np.array_equal(back, expected)


def test_one_bit_images_become_0_or_255(tmp_path, pil):
    pil.fromarray(np.eye(4, dtype=bool)).save(tmp_path / "b.png")
    assert np.array_equal(read_image(tmp_path / "b.png"), np.eye(4, dtype=np.uint8) * 255)


def test_exif_orientation_is_applied(tmp_path, pil):
    stored = _pixels((2, 3, 3), seed=7)
    exif = pil.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    pil.fromarray(stored).save(tmp_path / "phone.jpg", exif=exif, quality=100)
    pil.fromarray(stored).save(tmp_path / "phone.png", exif=exif)
    shown = read_image(tmp_path / "phone.png")
    assert shown.shape == (3, 2, 3)
    assert np.array_equal(shown, np.rot90(stored, k=-1))
    assert read_image(tmp_path / "phone.jpg").shape == (3, 2, 3)


def test_not_an_image_gets_one_line_naming_it(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("these are not pixels\n")
    with pytest.raises(HandconvError) as error:
        read_image(path)
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_truncated_file_gets_one_line_naming_it(tmp_path, pil, suffix):
    path = tmp_path / f"cut{suffix}"
    pil.fromarray(_pixels((64, 64, 3), seed=8)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(HandconvError) as error:
        read_image(path)
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(HandconvError, match="no such file"):
        read_image(tmp_path / "nope.png")


def _png_claiming(width, height):
    """A tiny PNG whose header claims width x height gray pixels (a decompression bomb's shape)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    )


def test_decompression_bombs_are_refused_before_decoding(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_claiming(50_000, 50_000))  # 2.5 gigapixels in 100 bytes
    with pytest.raises(HandconvError, match="decompression bomb") as error:
        read_image(bomb)
    assert "2,500,000,000 pixels" in str(error.value) and "--max-pixels" in str(error.value)


def test_pixel_limit_is_overridable(tmp_path, pil, monkeypatch):
    path = tmp_path / "p.png"
    pil.fromarray(_pixels((10, 10))).save(path)
    with pytest.raises(HandconvError, match="more than the limit of 99"):
        read_image(path, max_pixels=99)
    assert read_image(path, max_pixels=100).shape == (10, 10)
    monkeypatch.setenv("HANDCONV_MAX_PIXELS", "50")
    with pytest.raises(HandconvError, match="limit of 50"):
        read_image(path)
    assert read_image(path, max_pixels=0).shape == (10, 10)  # 0: no limit
    monkeypatch.setenv("HANDCONV_MAX_PIXELS", "0")
    assert read_image(path).shape == (10, 10)


def test_npy_is_loaded_without_pickle_and_checked(tmp_path):
    pixels = _pixels((4, 5, 3), seed=9)
    np.save(tmp_path / "ok.npy", pixels)
    assert np.array_equal(read_image(tmp_path / "ok.npy"), pixels)
    np.save(tmp_path / "obj.npy", np.array([[object()]], dtype=object), allow_pickle=True)
    with pytest.raises(HandconvError, match="dtype object"):
        read_image(tmp_path / "obj.npy")
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2, 2), np.uint8))
    with pytest.raises(HandconvError, match="not an image"):
        read_image(tmp_path / "cube.npy")
    # A header claiming a huge array: refused from the header alone.
    huge = tmp_path / "huge.npy"
    with open(huge, "wb") as file:
        np.lib.format.write_array_header_1_0(
            file, {"descr": "|u1", "fortran_order": False, "shape": (100_000, 100_000)}
        )
    with pytest.raises(HandconvError, match="decompression bomb"):
        read_image(huge)


def test_output_names_cannot_escape_the_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for name in ["../x.png", "/etc/x.png", "a/b.png", "..", "", "x\0.png", "a\\b.png"]:
        with pytest.raises(HandconvError, match="output"):
            safe_output_path(out, name)
    (out / "link.png").symlink_to(tmp_path / "elsewhere.png")
    with pytest.raises(HandconvError, match="outside the output folder"):
        safe_output_path(out, "link.png")
    assert safe_output_path(out, "fine.png") == out / "fine.png"


def test_writes_never_overwrite_unless_asked_and_never_an_input(tmp_path):
    target = tmp_path / "a.png"
    write_image(target, _pixels((3, 3)))
    first = target.read_bytes()
    with pytest.raises(HandconvError, match="already exists"):
        write_image(target, _pixels((3, 3), seed=1))
    assert target.read_bytes() == first
    write_image(target, _pixels((3, 3), seed=1), overwrite=True)
    assert target.read_bytes() != first
    with pytest.raises(HandconvError, match="never overwrites its inputs"):
        write_image(target, _pixels((3, 3)), overwrite=True, protect=[str(target)])
    os.link(target, tmp_path / "hardlink.png")
    with pytest.raises(HandconvError, match="never overwrites its inputs"):
        write_image(tmp_path / "hardlink.png", _pixels((3, 3)), overwrite=True, protect=[str(target)])


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "a.png"
    write_image(target, _pixels((3, 3)))
    before = target.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(image_io, "_write_with_pillow", broken)
    with pytest.raises(OSError, match="disk full"):
        write_image(target, _pixels((3, 3), seed=1), overwrite=True)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_written_files_have_ordinary_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        path = write_image(tmp_path / "a.png", _pixels((3, 3)))
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_sample_photo_is_shipped_and_public_domain():
    photo = sample_photo()
    assert photo.shape == (320, 320, 3) and photo.dtype == np.uint8
    assert sample_photo_path().stat().st_size < 150_000
    notes = (sample_photo_path().parent / "README.md").read_text()
    assert "public domain" in notes and "astronaut.jpg" in notes


def test_negative_max_pixels_refused():
    """Issue 12.6: --max-pixels -5 used to mean 'no limit'."""
    from handconv.image.io import resolve_max_pixels

    with pytest.raises(HandconvError, match="must be >= 0"):
        resolve_max_pixels(-5)


def test_reading_checks_memory_from_the_header(tmp_path, monkeypatch):
    """Issue 12.6: the size check covered the convolution only, not the read."""
    import handconv.conv
    from handconv.errors import HandconvMemoryError

    write_image(tmp_path / "a.png", np.zeros((3000, 3000, 3), np.uint8))
    monkeypatch.setattr(handconv.conv, "available_memory", lambda: 64 * 2**20)
    with pytest.raises(HandconvMemoryError, match=r"decoding 3000x3000 pixels needs about"):
        read_image(tmp_path / "a.png")
