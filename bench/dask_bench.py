"""Benchmark: handconv on Dask, against dask-image, on this machine.

Three measurements, each printed as a table and saved as JSON under
``bench/results/``:

* **throughput**: a Gaussian 5x5 blur (sigma 1) of an RGB float64 image,
  ``handconv.dask.conv2d`` (depthwise, SAME) with 1 and 2 workers, threads and
  processes (a ``distributed.LocalCluster``), against
  ``dask_image.ndfilters.correlate`` (scipy.ndimage per chunk, ``map_overlap``,
  mode constant: the same numbers) on the same chunks and the same schedulers.
* **memory**: peak resident memory (``ru_maxrss`` of a child process) of
  ``handconv filter IMAGE -k gaussian:5:1.0 --dask -o OUT.tif`` against the
  chunk size.
* **big** (``--big N``): the same command on an N x N RGB tiled TIFF
  (generated tile by tile once), its peak memory and time, and a crop of the
  output compared with the in-memory filter of the same crop.

Usage::

    python bench/dask_bench.py                    # throughput + memory (a few minutes)
    python bench/dask_bench.py --quick            # small sizes: a smoke test
    python bench/dask_bench.py --big 20000        # the 20000 x 20000 RGB run (slow)

Absolute times on a shared 2-core machine are noise: compare the ratios measured in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"
KERNEL = "gaussian:5:1.0"
MIB = 2**20


def gaussian_weights() -> np.ndarray:
    from handconv import kernels

    return kernels.get(KERNEL).weights.astype(np.float64)


def timed(call, repeats: int) -> float:
    """Best of ``repeats`` wall times (the machine is shared: the best is the least disturbed)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def throughput(size: int, chunk: int, repeats: int) -> list[dict]:
    import dask
    import dask.array as da
    from dask_image import ndfilters
    from distributed import Client, LocalCluster

    import handconv.dask as hd

    rng = np.random.default_rng(0)
    image = rng.random((size, size, 3))
    weights = gaussian_weights()
    filters = np.repeat(weights[:, :, None, None], 3, axis=3)  # depthwise: (5, 5, 1, 3)
    source = da.from_array(image, chunks=(chunk, chunk, 3))
    lazy = source

    def handconv_call():
        return hd.conv2d(lazy[None], filters, 1, "SAME", method="direct").sum().compute()

    def dask_image_call():
        return ndfilters.correlate(lazy, weights[:, :, None], mode="constant").sum().compute()

    # The same numbers, so the comparison is fair (correlate in float64 differs by rounding only).
    with dask.config.set(scheduler="synchronous"):
        ours = hd.conv2d(lazy[None], filters, 1, "SAME", method="direct")[0].compute()
        theirs = ndfilters.correlate(lazy, weights[:, :, None], mode="constant").compute()
    difference = float(np.abs(ours - theirs).max())
    rows = []
    megapixels = size * size / 1e6
    for workers in (1, 2):
        with dask.config.set(scheduler="threads", num_workers=workers):
            for name, call in (("handconv", handconv_call), ("dask-image", dask_image_call)):
                seconds = timed(call, repeats)
                rows.append(
                    dict(
                        library=name,
                        scheduler="threads",
                        workers=workers,
                        seconds=seconds,
                        megapixels_per_s=megapixels / seconds,
                    )
                )
        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, memory_limit="2GiB"
            ) as cluster,
            Client(cluster) as client,
        ):
            from distributed import wait

            # The image lives on the workers (as it would, read there from storage): the
            # timings are the filters', not the transfer of a graph holding the array.
            lazy = client.persist(source)
            wait(lazy)
            handconv_call()  # warm the workers (imports, numba's cached kernels)
            for name, call in (("handconv", handconv_call), ("dask-image", dask_image_call)):
                seconds = timed(call, repeats)
                rows.append(
                    dict(
                        library=name,
                        scheduler="processes",
                        workers=workers,
                        seconds=seconds,
                        megapixels_per_s=megapixels / seconds,
                    )
                )
            lazy = source
    for row in rows:
        row.update(size=size, chunk=chunk, max_abs_difference=difference)
    return rows


def make_tiff(path: Path, size: int, chunk: int = 1024) -> None:
    """An RGB tiled TIFF of size x size, written tile by tile from a lazy random image."""
    import dask.array as da

    from handconv.dask import write_image

    if path.exists():
        return
    image = da.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8, chunks=(chunk, chunk, 3))
    write_image(path, image)


def run_cli(source: Path, target: Path, chunk: int, extra: list[str] = ()) -> dict:
    """Run ``handconv filter --dask`` in a child; its wall time and peak RSS.

    Through ``/usr/bin/time -f %M``: Linux keeps a process's peak RSS across exec,
    so a child forked straight from this (large) process would report this
    process's peak; ``time`` is small when it forks the command.
    """
    command = [
        sys.executable,
        "-m",
        "handconv",
        "filter",
        str(source),
        "-k",
        KERNEL,
        "--dask",
        "--chunk",
        str(chunk),
        "-o",
        str(target),
        "--overwrite",
        "-q",
        *extra,
    ]
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "peak-rss-kib %M", *command], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed with {done.returncode}: {done.stderr[-2000:]}")
    peak_kib = int(done.stderr.rsplit("peak-rss-kib", 1)[1].split()[0])
    return dict(seconds=seconds, peak_rss_mib=peak_kib / 1024)


def memory(size: int, chunks: list[int], folder: Path) -> list[dict]:
    source = folder / f"rgb-{size}.tif"
    make_tiff(source, size)
    rows = []
    for chunk in chunks:
        result = run_cli(source, folder / "out.tif", chunk)
        rows.append(dict(size=size, chunk=chunk, **result))
    return rows


def big(size: int, chunk: int, folder: Path) -> dict:
    import tifffile

    from handconv.image import filter as filter_in_memory
    from handconv.methods import select_method
    from handconv.plan import make_plan

    source = folder / f"rgb-{size}.tif"
    start = time.perf_counter()
    make_tiff(source, size)
    generate_s = time.perf_counter() - start
    result = run_cli(source, folder / "out.tif", chunk)
    # A crop: the in-memory filter of the top-left corner (its bottom and right edges excluded,
    # where the crop's zeros would stand in for pixels) with the method auto chose for the whole image.
    method = select_method(make_plan((1, size, size, 3), (5, 5, 1, 3), 1, "SAME", dtype=np.float64))
    crop = 600
    pixels = tifffile.imread(source, aszarr=True)
    import zarr

    corner = np.asarray(zarr.open(pixels, mode="r")[: crop + 8, : crop + 8])
    expected = filter_in_memory(corner, KERNEL, method=method)[:crop, :crop]
    written = np.asarray(zarr.open(tifffile.imread(folder / "out.tif", aszarr=True), mode="r")[:crop, :crop])
    return dict(
        size=size,
        chunk=chunk,
        generate_s=generate_s,
        method=method,
        crop_equal=bool(np.array_equal(written, expected)),
        crop_max_difference=int(np.abs(written.astype(int) - expected).max()),
        **result,
    )


def table(rows: list[dict], columns: list[str]) -> str:
    lines = [" | ".join(columns), " | ".join("---" for _ in columns)]
    for row in rows:
        lines.append(" | ".join(f"{row[c]:.3g}" if isinstance(row[c], float) else str(row[c]) for c in columns))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat: a smoke test")
    parser.add_argument("--big", type=int, metavar="N", help="only the N x N RGB run (peak memory, crop check)")
    parser.add_argument("--only", choices=["throughput", "memory"], help="one of the two measurements")
    parser.add_argument("--chunk", type=int, default=1024, help="chunk edge for --big (default 1024)")
    parser.add_argument("--folder", type=Path, default=None, help="where the test images go (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for the JSON (default: %(default)s)")
    args = parser.parse_args(argv)
    folder = args.folder or Path(tempfile.mkdtemp(prefix="handconv-dask-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    report: dict = dict(machine=dict(platform=platform.platform(), cpus=os.cpu_count(), load=os.getloadavg()[0]))
    if args.big:
        report["big"] = big(args.big, args.chunk, folder)
        print(table([report["big"]], ["size", "chunk", "method", "seconds", "peak_rss_mib", "crop_equal"]))
    size, chunk = (512, 128) if args.quick else (2048, 512)
    if not args.big and args.only != "memory":
        report["throughput"] = throughput(size, chunk, 1 if args.quick else 3)
        print("\nThroughput (Gaussian 5x5, RGB float64, SAME zeros)")
        print(table(report["throughput"], ["library", "scheduler", "workers", "seconds", "megapixels_per_s"]))
        print(f"handconv vs dask-image max |difference|: {report['throughput'][0]['max_abs_difference']:.3g}")
    if not args.big and args.only != "throughput":
        memory_size = 1024 if args.quick else 6144
        chunks = [256, 512] if args.quick else [256, 512, 1024, 2048]
        report["memory"] = memory(memory_size, chunks, folder)
        print(f"\nPeak memory of handconv filter --dask on a {memory_size}x{memory_size} RGB TIFF")
        print(table(report["memory"], ["chunk", "seconds", "peak_rss_mib"]))
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"dask_bench-{'big-' if args.big else ''}{time.strftime('%Y%m%d-%H%M%S')}.json"
    (args.out / name).write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
