"""The ``handconv filter`` command: photos (one, a folder, a glob) through any kernel."""

from __future__ import annotations

import argparse
import glob
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HandconvError
from ..files import Inputs, make_output_folder, remove_temps
from .args import positive_int

DESCRIPTION = """\
Filter images with a kernel, computed by handconv.conv2d (cross-correlation, as
tf.nn.conv2d, cv2.filter2D and scipy.ndimage.correlate compute it).

Inputs are files, folders (their PNG, JPEG, TIFF, BMP, WebP, GIF and .npy
files, not recursing) or glob patterns. Outputs are named after their inputs:
with --out-dir DIR, photos/cat.jpg becomes DIR/cat.jpg (DIR/cat.png with
--format png; DIR/cat.npy for --map raw unless --format says otherwise).
Existing outputs are skipped unless --overwrite; inputs are never overwritten;
every file is written to a temporary name and renamed into place. A bad file
is reported and skipped; the run ends with a summary, and exits 1 if any file
failed (2 for bad options).
"""

EPILOG = """\
examples:
  handconv filter photo.jpg -k sobel -o edges.png
  handconv filter photos/ -k gaussian:7:1.5 --out-dir blurred/
  handconv filter 'shots/*.png' -k edge --channels sum --out-dir edges/ --format png
  handconv filter photo.jpg -k sobel_x --map raw -o gx.npy          # signed floats
  handconv filter photo.jpg -k '[[0,-1,0],[-1,4,-1],[0,-1,0]]' --mode reflect -o ridge.png
  handconv filter photo.jpg -k edge --stride 2 --padding 1 -o small.png --compare
  handconv filter scan.tif -k box:5 --gray -o smooth.tif             # 16-bit stays 16-bit

bigger than memory, or than one machine (pip install 'handconv[dask]'):
  handconv filter big.tif -k gaussian:5:1.0 --dask -o out.tif        # tile by tile, tiled TIFF out
  handconv filter big.tif -k sobel --dask --chunk 2048 -o edges.zarr  # a Zarr folder out
  handconv filter big.zarr -k edge --dask --scheduler tcp://HOST:8786 -o out.zarr   # on a cluster
  handconv filter photos/ -k edge --dask --out-dir edges/ --scheduler tcp://HOST:8786  # one task per file
  TIFF and Zarr inputs are read lazily, with no pixel limit; other formats are read whole.

kernels (handconv kernels lists them with their numbers):
  identity edge (outline) ridge laplacian4 laplacian8 sobel sobel_x sobel_y
  scharr scharr_x scharr_y prewitt prewitt_x prewitt_y roberts roberts_pos_diag
  roberts_neg_diag sharpen emboss box:K gaussian:K[:SIGMA] unsharp:K:SIGMA:AMOUNT
  motion:K[:ANGLE], an inline list '[[...],[...]]', or a .npy/.csv/.txt file

border modes (--mode), by library (zeros is TensorFlow's):
BORDER_TABLE
  Any of these names is accepted; 'scipy:reflect' means SciPy's (= symmetric).

output mappings (--map), defaults by kernel family:
  clip     below 0 -> 0, above 255 (65535 for 16-bit) -> 255   blur, sharpen, emboss,
                                                                identity, magnitudes
  abs      |value|, then clipped                                edge, sobel_x, ... (signed)
  rescale  min..max of the image -> 0..255
  raw      the float result as it is (write .npy, or .tiff for one channel)
  8/16-bit pixels are used as numbers without scaling (200 -> 200.0); results are
  rounded half to even (np.rint), as OpenCV does. Float .npy images are taken as [0, 1].
"""


class _OutputOrOldMapping(argparse.Action):
    """``-o/--output OUT``; ``--output clip|abs|rescale|raw`` is the pixel mapping's old spelling.

    An output file needs a suffix to pick its format, so a bare mapping name is never
    a path: it is taken as ``--map NAME``, with a deprecation warning.
    """

    def __init__(self, option_strings: list[str], dest: str, mappings: tuple[str, ...] = (), **kwargs: Any):
        self.mappings = mappings
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if option_string == "--output" and values in self.mappings:
            print(
                f"{parser.prog}: warning: --output {values} (the pixel mapping) is deprecated; use --map {values}",
                file=sys.stderr,
            )
            namespace.mapping = values
        else:
            setattr(namespace, self.dest, values)


def add_parser(subparsers: Any) -> None:
    from ..borders import border_table

    parser = subparsers.add_parser(
        "filter",
        help="put images through a kernel (edge, sobel, gaussian:7:1.5, your own ...)",
        description=DESCRIPTION,
        epilog=EPILOG.replace("BORDER_TABLE", border_table()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_file_options(parser)
    _add_convolution_options(parser)
    _add_result_options(parser)
    _add_run_options(parser)
    _add_dask_options(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    parser.set_defaults(func=run)


def _add_file_options(parser: argparse.ArgumentParser) -> None:
    """The inputs, the kernel, and where the outputs go."""
    from ..image.filtering import OUTPUTS

    parser.add_argument("inputs", nargs="+", metavar="IN", help="image files, folders or glob patterns")
    parser.add_argument(
        "-k",
        "--kernel",
        required=True,
        metavar="KERNEL",
        help="a kernel name, box:K, gaussian:K:SIGMA, an inline list or a .npy/.csv/.txt file",
    )
    # One of -o or --out-dir, checked in _check_options: '--output raw' (the mapping's old spelling) may
    # come with either, which an argparse exclusive group would refuse.
    parser.add_argument(
        "-o",
        "--output",
        "--output-file",
        dest="output_file",
        metavar="OUT",
        default=None,
        action=_OutputOrOldMapping,
        mappings=OUTPUTS,
        help="the output file, for a single input; its suffix picks the format",
    )
    parser.add_argument("--out-dir", metavar="DIR", help="folder for the outputs (created if missing)")


def _add_convolution_options(parser: argparse.ArgumentParser) -> None:
    """How the kernel meets the image: channels, stride, dilation, padding and what the padding holds."""
    from ..image.filtering import CHANNELS

    parser.add_argument(
        "--channels",
        choices=CHANNELS,
        default="each",
        help="each: the kernel on every colour channel (RGB stays RGB, default); "
        "sum: the article's KxKx3 filter summed over R, G, B to one gray channel",
    )
    parser.add_argument("--gray", action="store_true", help="convert to gray first (0.299 R + 0.587 G + 0.114 B)")
    parser.add_argument(
        "--stride",
        type=positive_int,
        default=1,
        metavar="S",
        help="step between windows (default 1); the output shrinks to about 1/S",
    )
    parser.add_argument(
        "--dilation", type=positive_int, default=1, metavar="D", help="gap between kernel taps (default 1 = none)"
    )
    parser.add_argument(
        "--padding",
        default="same",
        metavar="same|valid|N",
        help="same: TensorFlow's SAME, output ceil(H/S) (default); valid: no padding; N: N pixels on every side; "
        "PH,PW or TOP,BOTTOM,LEFT,RIGHT as in the other commands",
    )
    parser.add_argument(
        "--mode",
        default="zeros",
        metavar="MODE",
        help="what the padding holds: zeros (TensorFlow's, default), reflect, symmetric, "
        "edge, wrap, or any library's name for one (see below)",
    )


def _add_result_options(parser: argparse.ArgumentParser) -> None:
    """How results become pixels and files: mapping, method, format, overwriting, the comparison picture."""
    from ..image.filtering import OUTPUTS
    from ..image.io import WRITE_SUFFIXES

    parser.add_argument(
        "--map",
        choices=OUTPUTS,
        default=None,
        dest="mapping",
        help="how results become pixels (default: by kernel family, see below; "
        "formerly --output, still accepted with a warning)",
    )
    parser.add_argument(
        "--method",
        default="auto",
        help="handconv.conv2d method: auto (default), im2col, naive (the by-hand loops, slow)",
    )
    parser.add_argument(
        "--format",
        metavar="EXT",
        choices=[s.lstrip(".") for s in WRITE_SUFFIXES],
        help="output format for --out-dir: "
        + ", ".join(s.lstrip(".") for s in WRITE_SUFFIXES)
        + " (default: the input's; npy for --map raw)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs (never inputs)")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also write OUTSTEM_compare.png: input | output | TensorFlow's output | "
        "difference (TensorFlow's columns when it is installed and --mode zeros)",
    )


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """Workers and the decompression-bomb limit."""
    from ..image.io import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV

    parser.add_argument(
        "-j",
        "--jobs",
        type=positive_int,
        default=None,
        metavar="N",
        help="processes for many files (default: every CPU core)",
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        metavar="N",
        help=f"refuse images larger than N pixels (default {DEFAULT_MAX_PIXELS:,}, or "
        f"${MAX_PIXELS_ENV}; 0 = no limit): protection from decompression bombs",
    )


def _add_dask_options(parser: argparse.ArgumentParser) -> None:
    """--dask, --chunk, --scheduler, in a group of their own."""
    dask_group = parser.add_argument_group(
        "Dask (images bigger than memory, folders bigger than one machine; pip install 'handconv[dask]')"
    )
    dask_group.add_argument(
        "--dask",
        action="store_true",
        help="run on Dask: one image (-o OUT.tif or OUT.zarr) is read, filtered and written "
        "tile by tile, never whole; many files run one task per file",
    )
    dask_group.add_argument(
        "--chunk",
        type=positive_int,
        default=None,
        metavar="PIXELS",
        help="tile edge for --dask, rounded up to a multiple of 16 (default 1024)",
    )
    dask_group.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="a running dask.distributed scheduler (tcp://host:8786) for --dask; default: "
        "threads on this machine (-j N of them) for one image, processes for many files",
    )


# ---------------------------------------------------------------------------------------------

_GLOB_CHARS = set("*?[")


def expand_inputs(specs: list[str], lazy: bool = False) -> list[Path]:
    """Files named by ``specs``: files as given, folders' image files sorted, glob matches sorted.

    A spec that matches nothing is kept as a path, so that it is reported as
    missing rather than silently dropped. With ``lazy`` (``--dask``) a
    ``.zarr`` folder is one input, not a folder of inputs.
    """
    from ..image.io import READ_SUFFIXES

    files: list[Path] = []
    for spec in specs:
        path = Path(spec)
        if lazy and path.suffix.lower() == ".zarr":
            files.append(path)
        elif path.is_dir():
            files.extend(
                sorted(
                    p
                    for p in path.iterdir()
                    if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in READ_SUFFIXES
                )
            )
        elif not path.exists() and _GLOB_CHARS & set(spec):
            files.extend(sorted(Path(p) for p in glob.glob(spec) if Path(p).is_file()))
        else:
            files.append(path)
    unique: dict[Path, None] = {}
    for file in files:
        unique.setdefault(file, None)
    return list(unique)


def output_suffix(input_path: Path, fmt: str | None, mapping: str | None) -> str:
    """The output suffix: ``--format``, else ``.npy`` for raw output, else the input's (GIF -> PNG)."""
    if fmt:
        return "." + fmt.lower()
    if mapping == "raw":
        return ".npy"
    suffix = input_path.suffix.lower()
    return ".png" if suffix == ".gif" else suffix


@dataclass
class Job:
    """One input and where its output goes."""

    source: Path
    target: Path
    compare: Path | None = None


@dataclass
class Summary:
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    def record(self, job: Job, status: str, message: str, say: Any) -> None:
        """Count one file's outcome; ``say`` prints a failure (past any progress bar)."""
        if status == "written":
            self.written.append(job.target)
        elif status == "skipped":
            self.skipped.append(job.target)
        else:
            self.failed.append((job.source, message))
            say(f"FAILED {message}")


def plan_jobs(args: argparse.Namespace, files: list[Path]) -> tuple[list[Job], list[tuple[Path, str]]]:
    """Pair each input with its output path; inputs that cannot be paired are failures."""
    from ..image.io import safe_output_path

    jobs: list[Job] = []
    failures: list[tuple[Path, str]] = []
    inputs = Inputs(("IN", file) for file in files)
    if args.output_file:
        if len(files) != 1:
            raise HandconvError(f"-o names one output file but the inputs give {len(files)} files; use --out-dir DIR")
        target = Path(args.output_file)
        if args.format:
            raise HandconvError("--format applies to --out-dir; with -o the file's suffix picks the format")
        if target.is_dir():
            raise HandconvError(f"-o {str(target)!r} is a folder; name a file (edges.png) or use --out-dir")
        make_output_folder(target.parent, "-o")
        compare = target.with_name(target.stem + "_compare.png") if args.compare else None
        inputs.refuse("-o", target)
        inputs.refuse("--compare", compare)
        return [Job(files[0], target, compare)], failures
    out_dir = Path(args.out_dir)
    make_output_folder(out_dir, "--out-dir")
    taken: dict[Path, Path] = {}
    for source in files:
        try:
            suffix = output_suffix(source, args.format, args.mapping)
            target = safe_output_path(out_dir, source.stem + suffix)
            if target in taken:
                raise HandconvError(f"{source}: its output {target} is also {taken[target]}'s; rename one of them")
            taken[target] = source
            compare = safe_output_path(out_dir, source.stem + "_compare.png") if args.compare else None
            inputs.refuse(f"{source}: output", target)
            inputs.refuse(f"{source}: --compare", compare)
            jobs.append(Job(source, target, compare))
        except HandconvError as error:
            failures.append((source, str(error)))
    return jobs, failures


def filter_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options :func:`handconv.image.filter` takes besides the kernel, from the parsed command line.

    The in-memory filter and the Dask one (``--dask``) take the same ones.
    """
    return dict(
        channels=args.channels,
        gray=args.gray,
        stride=args.stride,
        dilation=args.dilation,
        padding=args.padding,
        mode=args.mode,
        output=args.mapping,
        method=args.method,
    )


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return dict(kernel=args.kernel, **filter_options(args), max_pixels=args.max_pixels)


#: In a worker process: whether a file is being filtered right now.
_busy = False


def process(job: Job, options: dict[str, Any], overwrite: bool, protect: list[str]) -> tuple[str, str]:
    """Filter one file; returns ``(status, message)`` with status 'written', 'skipped' or 'failed'.

    Runs in a worker process for batches, so it catches every error and
    reports it as text: one bad file must not stop the others.
    """
    from ..image.filtering import filter as filter_image
    from ..image.io import read_image, write_image

    global _busy
    _busy = True  # in a pool worker, SIGTERM now unwinds (see worker_signals)
    try:
        if job.target.exists() and not overwrite:
            return "skipped", f"{job.target} exists (pass --overwrite to replace it)"
        pixels = read_image(job.source, max_pixels=options["max_pixels"])
        filter_options = {k: v for k, v in options.items() if k != "max_pixels"}
        result = filter_image(pixels, **filter_options)
        write_image(job.target, result, overwrite=overwrite, protect=protect)
        if job.compare is not None:
            from ..image.compare import compare_figure

            compare_figure(pixels, result, job.compare, overwrite=True, protect=protect, **filter_options)
        return "written", str(job.target)
    except HandconvError as error:
        message = str(error)
        return "failed", message if message.startswith(str(job.source)) else f"{job.source}: {message}"
    except MemoryError:
        return "failed", f"{job.source}: out of memory"
    except Exception as error:  # noqa: BLE001 - a batch reports and goes on
        return "failed", f"{job.source}: {type(error).__name__}: {error}"
    finally:
        _busy = False


def _require(module: str, extra: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise HandconvError(f"this needs {module}, which is not installed: pip install 'handconv[{extra}]'")


def _check_options(args: argparse.Namespace) -> None:
    """Bad options fail once, up front (exit 2), not once per file."""
    if (args.output_file is None) == (args.out_dir is None):
        raise HandconvError("give exactly one of -o/--output OUT (one input) and --out-dir DIR")
    from .. import kernels

    _require("PIL", "image")
    _require("tqdm", "image")
    if args.compare:
        _require("matplotlib", "plot")
    from ..borders import resolve_mode
    from ..image.filtering import padding_for_conv2d, resolve_output

    kernel = kernels.get(args.kernel)
    resolve_mode(args.mode)
    padding_for_conv2d(args.padding)
    resolve_output(args.mapping, kernel)
    from ..methods import METHODS

    target_suffix = (
        Path(args.output_file).suffix.lower()
        if args.output_file
        else ("." + args.format.lower() if args.format else None)
    )
    if args.mapping == "raw" and target_suffix not in (None, ".npy", ".tif", ".tiff"):
        raise HandconvError(
            f"--map raw keeps signed, unclipped floats, which {target_suffix} cannot hold; "
            "write .npy (or single-channel .tiff), or use --map clip/abs/rescale"
        )
    if args.method != "auto" and args.method not in METHODS:
        raise HandconvError(f"--method {args.method!r} is not known; expected auto or one of {sorted(METHODS)}")
    if args.dask:
        _require("dask", "dask")
        if args.scheduler:
            _require("distributed", "dask")
        if args.compare:
            raise HandconvError("--compare draws the whole image in memory; it does not combine with --dask")
    elif args.chunk is not None or args.scheduler is not None:
        raise HandconvError("--chunk and --scheduler apply to --dask runs; add --dask")


def run(args: argparse.Namespace) -> int:
    from ..image.io import resolve_max_pixels

    _check_options(args)
    resolve_max_pixels(args.max_pixels)
    files = expand_inputs(args.inputs, lazy=args.dask)
    if not files:
        raise HandconvError(f"no input files found in {' '.join(args.inputs)}")
    if args.dask and args.output_file:
        from .filter_dask import filter_one

        return filter_one(args, files)
    jobs, failures = plan_jobs(args, files)
    summary = Summary(failed=list(failures))
    for _, message in failures:
        print(f"FAILED {message}", file=sys.stderr)
    protect = [str(path) for path in files]
    options = _options(args)
    try:
        _run_jobs(jobs, options, args, protect, summary)
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM: the pool is stopped; say what was written before the exit code.
        print(
            f"handconv filter: stopped: {len(summary.written)} written, "
            f"{len(jobs) - len(summary.written) - len(summary.skipped)} not done",
            file=sys.stderr,
        )
        raise
    if not args.quiet:
        parts = [f"{len(summary.written)} written"]
        if summary.skipped:
            parts.append(f"{len(summary.skipped)} skipped (output exists; --overwrite replaces)")
        parts.append(f"{len(summary.failed)} failed")
        print(f"handconv filter: {', '.join(parts)}", file=sys.stderr)
    if summary.failed:
        print("failed: " + ", ".join(str(path) for path, _ in summary.failed), file=sys.stderr)
        return 1
    return 0


def _run_jobs(
    jobs: list[Job], options: dict[str, Any], args: argparse.Namespace, protect: list[str], summary: Summary
) -> None:
    from tqdm import tqdm

    if args.dask:
        from .filter_dask import run_jobs

        run_jobs(jobs, options, args, protect, summary)
        return

    workers = min(args.jobs or os.cpu_count() or 1, len(jobs))
    with tqdm(total=len(jobs), unit="image", disable=args.quiet or len(jobs) < 2, file=sys.stderr) as bar:

        def record(job: Job, status: str, message: str) -> None:
            summary.record(job, status, message, lambda text: bar.write(text, file=sys.stderr))
            bar.update()

        if workers <= 1:
            for job in jobs:
                record(job, *process(job, options, args.overwrite, protect))
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # 'spawn', not fork: forking a process that has loaded TensorFlow (or any threaded
        # library) can deadlock the children.
        pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=worker_signals
        )
        try:
            futures = {pool.submit(process, job, options, args.overwrite, protect): job for job in jobs}
            for future in as_completed(futures):
                record(futures[future], *future.result())
        except BaseException:
            stop_pool(pool, jobs)
            raise
        pool.shutdown()


def worker_signals() -> None:
    """In a worker: Ctrl-C is the main process's to handle; SIGTERM unwinds a file being written."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _worker_terminated)


def _worker_terminated(signum: int, frame: Any) -> None:
    from ..files import Terminated

    if _busy:
        raise Terminated()  # unwinds through atomic_path: the temp file is removed
    os._exit(128 + signum)  # idle, waiting for work: nothing to clean up, and no traceback


#: Seconds stopped workers get to unwind (remove their temp files) before they are killed.
STOP_GRACE = 1.0


def stop_pool(pool: Any, jobs: list[Job]) -> None:
    """Cancel pending files, stop the workers within ``STOP_GRACE`` seconds, remove their temp files.

    Further Ctrl-Cs are ignored meanwhile, so the clean-up cannot be interrupted
    half-way (it takes at most about ``STOP_GRACE`` seconds).
    """
    import signal
    import time

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        # ProcessPoolExecutor has no public way to stop running work before Python 3.14:
        # its worker processes are terminated directly.
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()  # SIGTERM: the worker unwinds through atomic_path's clean-up
        deadline = time.monotonic() + STOP_GRACE
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join(1.0)
        for job in jobs:  # a killed worker cannot clean up after itself
            remove_temps(job.target)
            if job.compare is not None:
                remove_temps(job.compare)
    finally:
        signal.signal(signal.SIGINT, previous)
