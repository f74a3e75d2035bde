"""``handconv.dask.io``: lazy tiled TIFF and Zarr, read and written tile by tile, atomically."""

from __future__ import annotations

import os

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
tifffile = pytest.importorskip("tifffile")
zarr = pytest.importorskip("zarr")

from handconv import HandconvError
from handconv.dask import open_image, write_image
from handconv.image import write_image as write_in_memory

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("suffix", [".tif", ".zarr"])
@pytest.mark.parametrize(
    "image",
    [
        RNG.integers(0, 256, (70, 45, 3), dtype=np.uint8),
        RNG.integers(0, 65536, (33, 50), dtype=np.uint16),
        RNG.integers(0, 256, (20, 30, 4), dtype=np.uint8),
        RNG.integers(0, 256, (20, 30, 2), dtype=np.uint8),
        RNG.standard_normal((21, 17)).astype(np.float32),
    ],
)
def test_round_trip_without_holding_the_image(tmp_path, image, suffix):
    path = tmp_path / f"image{suffix}"
    write_image(path, da.from_array(image, chunks=(16, 32, -1)[: image.ndim]))
    lazy = open_image(path, chunk=16)
    assert lazy.chunks[0][0] == 16 and lazy.chunks[1][0] == 16
    assert lazy.dtype == image.dtype and np.array_equal(lazy.compute(), image)
    assert sorted(os.listdir(tmp_path)) == [path.name]  # no temporary left beside it


def test_tiff_written_tiled_and_readable_by_tifffile(tmp_path):
    image = RNG.integers(0, 256, (300, 200, 3), dtype=np.uint8)
    write_image(tmp_path / "t.tif", da.from_array(image, chunks=(64, 64, 3)))
    with tifffile.TiffFile(tmp_path / "t.tif") as tiff:
        page = tiff.pages[0]
        assert page.is_tiled and (page.tilelength, page.tilewidth) == (64, 64)
        assert np.array_equal(page.asarray(), image)


def test_striped_and_planar_tiffs_and_other_formats_open(tmp_path):
    image = RNG.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "strips.tif", image, photometric="rgb", rowsperstrip=7)
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(image, -1, 0), photometric="rgb", planarconfig="separate")
    write_in_memory(tmp_path / "photo.png", image)
    for name in ("strips.tif", "planar.tif", "photo.png"):
        assert np.array_equal(open_image(tmp_path / name, chunk=8).compute(), image), name


def test_values_a_tiff_cannot_hold_fail_and_leave_nothing(tmp_path):
    signed = da.from_array(RNG.standard_normal((40, 40, 3)), chunks=16)
    with pytest.raises(HandconvError, match=r"\[0, 1\]"):
        write_image(tmp_path / "signed.tif", signed)
    assert os.listdir(tmp_path) == []


def test_existing_outputs_and_inputs_are_protected(tmp_path):
    image = da.zeros((8, 8), dtype=np.uint8, chunks=4)
    write_image(tmp_path / "a.zarr", image)
    with pytest.raises(HandconvError, match="already exists"):
        write_image(tmp_path / "a.zarr", image + 1)
    write_image(tmp_path / "a.zarr", image + 1, overwrite=True)
    assert open_image(tmp_path / "a.zarr").compute().max() == 1
    assert sorted(os.listdir(tmp_path)) == ["a.zarr"]
    with pytest.raises(HandconvError, match="never overwrites its inputs"):
        write_image(tmp_path / "a.zarr", image, overwrite=True, protect=[tmp_path / "a.zarr"])
    with pytest.raises(HandconvError, match="expected one of"):
        write_image(tmp_path / "a.png", image)


def test_bad_inputs_name_the_file(tmp_path):
    (tmp_path / "bad.tif").write_bytes(b"not a tiff")
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2, 2)))
    zarr.open_array(str(tmp_path / "cube.zarr"), mode="w", shape=(4, 4, 4, 4), dtype="u1")
    for name, message in [
        ("bad.tif", "cannot read"),
        ("missing.tif", "no such file"),
        ("cube.zarr", "not an image"),
        ("missing.zarr", "no such"),
    ]:
        with pytest.raises(HandconvError, match=message) as error:
            open_image(tmp_path / name)
        assert str(error.value).startswith(str(tmp_path / name))
