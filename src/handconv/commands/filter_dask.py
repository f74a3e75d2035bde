"""``handconv filter --dask``: one image tile by tile, or many files one task each, on Dask.

Called by :mod:`handconv.commands.filter`, which parses and checks the options and
prints the summary. One image (``-o OUT.tif`` or ``-o OUT.zarr``) is read
lazily, filtered tile by tile and written band by band
(:mod:`handconv.dask.io`), on local threads or on the cluster at
``--scheduler``. Many files become a Dask bag with one task per file, each
running the same per-file function as the process pool
(:func:`handconv.commands.filter.process`), on local processes or on the cluster.

Ctrl-C and SIGTERM (which :func:`handconv.cli.main` raises as
:class:`handconv.files.Terminated`, a KeyboardInterrupt) stop cleanly: pending
tasks are cancelled, running ones finish, temporary files and folders are
removed, and the command exits 130 (143 for SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import HandconvError
from ..files import make_output_folder

__all__ = ["filter_one", "round_chunk", "run_jobs"]


def round_chunk(chunk: int | None) -> int:
    """``--chunk`` rounded up to a multiple of 16 (TIFF tiles are), default 1024.

    >>> round_chunk(None), round_chunk(1000), round_chunk(1)
    (1024, 1008, 16)
    """
    from ..dask.io import DEFAULT_CHUNK

    chunk = DEFAULT_CHUNK if chunk is None else chunk
    return -(-chunk // 16) * 16


@contextlib.contextmanager
def _client(address: str | None) -> Iterator[Any]:
    """A ``distributed.Client`` connected to ``address``, or None for local work."""
    if not address:
        yield None
        return
    import dask
    from distributed import Client

    try:
        client = Client(address, timeout=dask.config.get("distributed.comm.timeouts.connect"), set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        raise HandconvError(f"--scheduler {address!r}: cannot connect to a Dask scheduler there ({error})") from None
    try:
        yield client
    finally:
        client.close()


def filter_one(args: argparse.Namespace, files: list[Path]) -> int:
    """``handconv filter BIG -o OUT.tif|OUT.zarr --dask``: read, filter and write tile by tile."""
    from ..dask.image import filter as filter_lazy
    from ..dask.io import WRITE_SUFFIXES, is_zarr, open_image, write_image
    from .filter import filter_options

    if len(files) != 1:
        raise HandconvError(f"-o names one output but the inputs give {len(files)} files; use --out-dir DIR")
    source, target = files[0], Path(args.output_file)
    suffix = ".zarr" if is_zarr(target) else target.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise HandconvError(
            f"-o {str(target)!r}: --dask writes one image as a tiled TIFF or a Zarr folder "
            f"(expected one of {', '.join(WRITE_SUFFIXES)}); for other formats drop --dask"
        )
    if args.format:
        raise HandconvError("--format applies to --out-dir; with -o the file's suffix picks the format")
    make_output_folder(target.parent, "-o")
    chunk = round_chunk(args.chunk)
    status, message = "written", str(target)
    with _client(args.scheduler) as client:
        try:
            if target.exists() and not args.overwrite and target.resolve() != source.resolve():
                status, message = "skipped", f"{target} exists (pass --overwrite to replace it)"
            else:
                image = open_image(source, chunk, max_pixels=args.max_pixels)
                result = filter_lazy(image, args.kernel, tile=chunk, **filter_options(args))
                write_image(
                    target,
                    result,
                    overwrite=args.overwrite,
                    protect=[source],
                    progress=not args.quiet,
                    client=client,
                    workers=args.jobs,
                )
        except HandconvError as error:
            text = str(error)
            status, message = "failed", text if text.startswith(str(source)) else f"{source}: {text}"
        except MemoryError:
            status, message = "failed", f"{source}: out of memory"
    return _report(args, status, message, source, target)


def _report(args: argparse.Namespace, status: str, message: str, source: Path, target: Path) -> int:
    if status == "failed":
        print(f"FAILED {message}", file=sys.stderr)
    if not args.quiet:
        parts = [f"{int(status == 'written')} written"]
        if status == "skipped":
            parts.append("1 skipped (output exists; --overwrite replaces)")
        parts.append(f"{int(status == 'failed')} failed")
        print(f"handconv filter: {', '.join(parts)}", file=sys.stderr)
    if status == "failed":
        print(f"failed: {source}", file=sys.stderr)
        return 1
    return 0


def run_jobs(jobs: list, options: dict[str, Any], args: argparse.Namespace, protect: list[str], summary: Any) -> None:
    """Many files: a Dask bag of one task per file, each :func:`handconv.commands.filter.process`.

    Locally the bag runs on a pool of ``-j`` processes (spawned, as the
    process pool's are); with ``--scheduler`` on the cluster. Results are
    recorded into ``summary`` exactly as the process pool records them.
    """
    import dask.bag as db

    from .filter import process

    if not jobs:
        return
    bag = db.from_sequence(jobs, partition_size=1).map(process, options, args.overwrite, protect)

    def record(job: Any, status: str, message: str) -> None:
        summary.record(job, status, message, lambda text: print(text, file=sys.stderr))

    with _client(args.scheduler) as client:
        if client is not None:
            from distributed import as_completed

            parts = bag.to_delayed()
            futures = client.compute(parts)
            owner = {future.key: index for index, future in enumerate(futures)}
            try:
                from tqdm import tqdm

                with tqdm(total=len(jobs), unit="image", disable=args.quiet, file=sys.stderr) as bar:
                    for future in as_completed(futures, loop=client.loop):
                        results = future.result()
                        job = jobs[owner[future.key]]
                        for status, message in results:
                            record(job, status, message)
                        bar.update(len(results))
            finally:
                client.cancel([f for f in futures if not f.done()])
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from .filter import stop_pool, worker_signals

        workers = min(args.jobs or os.cpu_count() or 1, len(jobs))
        # The process pool's workers and stop: Ctrl-C is the main process's, SIGTERM unwinds a
        # worker's temp files; on a stop, pending files are cancelled and workers' temps removed.
        pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=worker_signals
        )
        try:
            if args.quiet:
                results = bag.compute(scheduler="processes", pool=pool)
            else:
                from dask.diagnostics import ProgressBar

                from ..dask.io import StderrAtWriteTime

                with ProgressBar(out=StderrAtWriteTime()):
                    results = bag.compute(scheduler="processes", pool=pool)
        except BaseException:
            stop_pool(pool, jobs)
            raise
        pool.shutdown()
        for job, (status, message) in zip(jobs, results):
            record(job, status, message)
