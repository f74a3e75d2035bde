"""``handconv filter --dask``: one image tile by tile, folders as a bag, on threads, processes and a real cluster.

The cluster is a ``distributed.LocalCluster`` of 2 worker processes started by
the fixture and shut down after the module. Signals are real: the command runs
in a child process that gets SIGTERM or SIGINT mid-run.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
tifffile = pytest.importorskip("tifffile")
zarr = pytest.importorskip("zarr")
distributed = pytest.importorskip("distributed")

import handconv.dask as hd
from handconv.cli import main
from handconv.image import filter as filter_in_memory
from handconv.image import read_image, write_image

SRC = Path(__file__).resolve().parents[1] / "src"
PHOTO = np.random.default_rng(3).integers(0, 256, (150, 110, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        memory_limit="1GiB",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as local:
        yield local


@pytest.fixture
def big_tif(tmp_path):
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, PHOTO, tile=(32, 32), photometric="rgb")
    return path


@pytest.mark.parametrize("target, mode", [("out.tif", "zeros"), ("out.zarr", "reflect")])
def test_one_image_tile_by_tile_equals_the_in_memory_filter(big_tif, tmp_path, capsys, target, mode):
    argv = [
        "filter",
        str(big_tif),
        "-k",
        "gaussian:5:1.0",
        "--dask",
        "--chunk",
        "40",
        "--mode",
        mode,
        "--method",
        "direct",
        "-o",
        str(tmp_path / target),
    ]
    assert main(argv) == 0
    assert "1 written, 0 failed" in capsys.readouterr().err
    written = np.asarray(hd.open_image(tmp_path / target).compute())
    assert np.array_equal(written, filter_in_memory(PHOTO, "gaussian:5:1.0", mode=mode, method="direct"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["big.tif", target])
    assert np.array_equal(tifffile.imread(big_tif), PHOTO)  # the input is untouched


def test_existing_output_skipped_input_protected_bad_options(big_tif, tmp_path, capsys):
    out = tmp_path / "out.tif"
    out.write_bytes(b"old")
    assert main(["filter", str(big_tif), "-k", "edge", "--dask", "-o", str(out)]) == 0
    assert "1 skipped" in capsys.readouterr().err and out.read_bytes() == b"old"
    assert main(["filter", str(big_tif), "-k", "edge", "--dask", "-o", str(big_tif), "--overwrite"]) == 1
    assert "never overwrites its inputs" in capsys.readouterr().err
    assert main(["filter", str(big_tif), "-k", "edge", "--dask", "-o", str(tmp_path / "out.png")]) == 2
    assert "tiled TIFF or a Zarr" in capsys.readouterr().err
    assert main(["filter", str(big_tif), "-k", "edge", "--chunk", "64", "-o", str(tmp_path / "o.tif")]) == 2
    assert "add --dask" in capsys.readouterr().err
    assert main(["filter", str(tmp_path / "missing.tif"), "-k", "edge", "--dask", "-o", str(tmp_path / "o.tif")]) == 1
    assert "missing.tif: no such file" in capsys.readouterr().err
    assert not (tmp_path / "o.tif").exists()


def photos(folder: Path, count: int, bad: int = 1) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(count):
        write_image(folder / f"p{index:03d}.png", rng.integers(0, 256, (6, 5, 3), dtype=np.uint8))
    for index in range(bad):
        (folder / f"bad{index}.png").write_bytes(b"not a png")
    return folder


def test_folder_on_local_processes_same_summary_as_the_process_pool(tmp_path, capsys):
    source = photos(tmp_path / "photos", 3)
    assert main(["filter", str(source), "-k", "edge", "--out-dir", str(tmp_path / "pool"), "-j", "1"]) == 1
    pool_err = capsys.readouterr().err
    assert main(["filter", str(source), "-k", "edge", "--out-dir", str(tmp_path / "bag"), "-j", "2", "--dask"]) == 1
    bag_err = capsys.readouterr().err
    for err in (pool_err, bag_err):
        assert "3 written, 1 failed" in err and "FAILED" in err and "bad0.png" in err
    for name in sorted(os.listdir(tmp_path / "pool")):
        assert np.array_equal(read_image(tmp_path / "bag" / name), read_image(tmp_path / "pool" / name))


def test_conv2d_on_a_local_cluster_is_bit_identical(cluster):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 33, 27, 3)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 5)).astype(np.float32)
    with distributed.Client(cluster) as client:
        lazy = hd.conv2d(da.from_array(x, chunks=(1, 7, 10, 2)), w, (2, 1), "SAME", dilations=2, method="naive")
        got = client.compute(lazy).result()
    import handconv

    assert got.tobytes() == handconv.conv2d(x, w, (2, 1), "SAME", dilations=2, method="naive").tobytes()


def test_one_image_and_a_folder_of_hundreds_on_the_cluster(cluster, big_tif, tmp_path, capsys):
    address = cluster.scheduler_address
    out = tmp_path / "out.tif"
    argv = [
        "filter",
        str(big_tif),
        "-k",
        "sobel",
        "--dask",
        "--chunk",
        "48",
        "--method",
        "gemm",
        "--scheduler",
        address,
        "-o",
        str(out),
    ]
    assert main(argv) == 0
    expected = filter_in_memory(PHOTO, "sobel", method="gemm")
    assert np.abs(tifffile.imread(out).astype(int) - expected).max() <= 1  # gemm rounds per tile size

    source = photos(tmp_path / "photos", 300, bad=2)
    argv = [
        "filter",
        str(source),
        "-k",
        "box:3",
        "--out-dir",
        str(tmp_path / "out"),
        "--dask",
        "--scheduler",
        address,
        "--method",
        "gemm",
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "300 written, 2 failed" in err and "bad1.png" in err
    assert len(os.listdir(tmp_path / "out")) == 300
    assert np.array_equal(
        read_image(tmp_path / "out" / "p123.png"),
        filter_in_memory(read_image(source / "p123.png"), "box:3", method="gemm"),
    )


def test_unreachable_scheduler_is_a_clear_error(big_tif, tmp_path, capsys):
    import dask

    argv = [
        "filter",
        str(big_tif),
        "-k",
        "edge",
        "--dask",
        "--scheduler",
        "tcp://127.0.0.1:9",
        "-o",
        str(tmp_path / "o.tif"),
    ]
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        assert main(argv) == 2
    assert "cannot connect" in capsys.readouterr().err


@pytest.mark.parametrize("target, signum", [("out.tif", signal.SIGTERM), ("out.zarr", signal.SIGINT)])
def test_signals_stop_cleanly_with_no_temporary_left(tmp_path, target, signum):
    source = tmp_path / "in.tif"
    # Big enough that the by-hand loops take minutes: the signal always lands mid-run.
    tifffile.imwrite(source, np.zeros((960, 960, 3), np.uint8), tile=(64, 64), photometric="rgb")
    command = [
        sys.executable,
        "-m",
        "handconv",
        "filter",
        str(source),
        "-k",
        "box:7",
        "--dask",
        "--chunk",
        "32",
        "--method",
        "naive",
        "-j",
        "1",
        "-o",
        str(tmp_path / target),
    ]
    env = dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    # SIGINT back to its default in the child: a shell without job control starts background
    # jobs (this suite, say) with it ignored, and Python then leaves it ignored.
    child = subprocess.Popen(
        command,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(f".{target}.") for p in tmp_path.iterdir()):  # the write has begun
        assert child.poll() is None and time.monotonic() < deadline, "the command never started writing"
        time.sleep(0.05)
    time.sleep(0.2)
    child.send_signal(signum)
    _, err = child.communicate(timeout=60)
    if signum == signal.SIGTERM:
        assert child.returncode == 143, err
        assert "terminated" in err
    else:
        # main() catches the interrupt and returns 130; the program then leaves with os._exit, so a
        # second KeyboardInterrupt at interpreter exit (zarr's event-loop thread) cannot turn it into -2.
        assert child.returncode == 130, err
        assert "interrupted" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif"]


def test_folder_on_processes_stops_cleanly_on_sigterm(tmp_path):
    """Mid-batch SIGTERM: exit 143, the pending files cancelled, no temporary file left by any worker."""
    source = tmp_path / "photos"
    source.mkdir()
    rng = np.random.default_rng(0)
    for index in range(40):
        write_image(source / f"p{index:02d}.png", rng.integers(0, 256, (300, 300, 3), dtype=np.uint8))
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "handconv",
        "filter",
        str(source),
        "-k",
        "gaussian:15:3",
        "--method",
        "im2col",
        "--dask",
        "-j",
        "2",
        "--out-dir",
        str(out),
    ]
    env = dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    child = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out.exists() and any(p.suffix == ".png" and not p.name.startswith(".") for p in out.iterdir())):
        assert child.poll() is None and time.monotonic() < deadline, "no file was ever written"
        time.sleep(0.02)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    written = [p for p in out.iterdir() if not p.name.startswith(".")]
    assert child.returncode == 143 or len(written) == 40, err  # 40: all done before the signal landed
    assert len(written) < 40 or child.returncode == 0
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]
