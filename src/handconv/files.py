"""Writing outputs atomically: a temp file in the same folder, then ``os.replace``.

Every writer in handconv (images, figures, animations, pages, reports) goes
through :func:`atomic_path`, so a reader never sees a half-written file and a
failure leaves any old file intact.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

from .errors import HandconvError


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as an exception so ``finally`` blocks (temp-file clean-up) run.

    A :class:`KeyboardInterrupt`, so code that stops cleanly on Ctrl-C stops
    the same way on SIGTERM; the command line exits 143 for it (130 for Ctrl-C).
    """


#: Seconds a stop signal's exception gets to unwind before the process exits anyway.
STOP_GRACE = 4.0
#: Temporary files being written right now, removed by the last-resort exit.
_live_temps: set[Path] = set()
_live_temps_lock = threading.Lock()
_stop_requested = threading.Event()


#: Modules whose Python code runs inside C callbacks (JIT compilers, gc hooks): an
#: exception raised there is dropped, or worse, leaves the compiler half-done.
_CALLBACK_MODULES = ("llvmlite", "numba", "jax", "jaxlib")


def _raise_terminated(signum: int, frame: Any) -> None:
    _exit_after_grace(128 + signum)
    if not _in_callback(frame, signum):
        raise Terminated()


def _raise_interrupted(signum: int, frame: Any) -> None:
    _exit_after_grace(128 + signum)
    if not _in_callback(frame, signum):
        raise KeyboardInterrupt()


def _in_callback(frame: Any, signum: int) -> bool:
    """Whether the signal landed in a JIT compiler's or gc hook's Python code; if so, deliver it again shortly."""
    module = getattr(frame, "f_globals", {}).get("__name__", "") if frame is not None else ""
    if module.split(".")[0] not in _CALLBACK_MODULES:
        return False
    threading.Timer(0.05, _interrupt_main_if_stopping, (signum,)).start()
    return True


def _exit_after_grace(code: int) -> None:
    """Make sure a stop signal stops the process, even if its exception is swallowed.

    Python cannot deliver an exception everywhere: raised inside a garbage-collection
    callback (JAX registers one), a ``__del__`` or a C callback it is printed and
    dropped, and the command would run on. The first signal starts a daemon thread
    that, if the process is still alive ``STOP_GRACE`` seconds later (also when the
    interpreter hangs at exit on a non-daemon thread), removes the temp files being
    written and exits with ``code`` (130 for Ctrl-C, 143 for SIGTERM).
    """
    if _stop_requested.is_set():
        return
    _stop_requested.set()

    def exit_anyway() -> None:
        time.sleep(STOP_GRACE)
        with _live_temps_lock:
            for temp in list(_live_temps):
                with contextlib.suppress(OSError):
                    temp.unlink()
        os._exit(code)

    threading.Thread(target=exit_anyway, name="handconv-stop", daemon=True).start()


def raise_on_sigterm() -> object:
    """Turn SIGTERM into :class:`Terminated` in this process; returns the previous handler.

    Only the main thread may set handlers: from another thread this does nothing
    (and returns None).
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


def stop_on_signals() -> tuple[Any, Any, Any] | None:
    """The commands' signal handling: Ctrl-C and SIGTERM raise once, and stop the process for sure.

    SIGINT raises :class:`KeyboardInterrupt` and SIGTERM :class:`Terminated`, so
    ``finally`` blocks (temp-file clean-up) run; either also arms a last-resort exit
    (see :func:`_exit_after_grace`). Returns the previous ``(SIGINT, SIGTERM, unraisable hook)``
    handlers for :func:`restore_signals`, or None outside the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    previous_int = signal.signal(signal.SIGINT, _raise_interrupted)
    previous_term = signal.signal(signal.SIGTERM, _raise_terminated)
    previous_hook = sys.unraisablehook
    sys.unraisablehook = functools.partial(_redeliver_stop, previous_hook)
    return previous_int, previous_term, previous_hook


def _redeliver_stop(previous_hook: Any, unraisable: Any) -> None:
    """A stop exception Python had to drop (raised in a gc or C callback): deliver the signal again.

    The main thread then raises it at its next step, where it can unwind; any
    other unraisable exception goes to the previous hook as before.
    """
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        signum = signal.SIGTERM if isinstance(unraisable.exc_value, Terminated) else signal.SIGINT
        # From another thread, a moment later: raised here it would be dropped again.
        threading.Timer(0.05, _interrupt_main_if_stopping, (signum,)).start()
        return
    previous_hook(unraisable)


def _interrupt_main_if_stopping(signum: int) -> None:
    # Only while the command's handlers are in place: once main() has returned, the
    # default handler would turn this into a traceback at exit.
    if signal.getsignal(signum) in (_raise_interrupted, _raise_terminated):
        # A real signal to the main thread: it also wakes a blocking call (sleep, wait).
        signal.pthread_kill(threading.main_thread().ident, signum)  # type: ignore[arg-type]


def restore_signals(previous: tuple[Any, Any, Any] | None) -> None:
    """Put back the handlers :func:`stop_on_signals` replaced."""
    if previous is not None:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
        sys.unraisablehook = previous[2]


def register_temp(path: str | os.PathLike[str]) -> None:
    """Note a temporary file or folder being written, for the last-resort exit to remove."""
    with _live_temps_lock:
        _live_temps.add(Path(path))


def unregister_temp(path: str | os.PathLike[str]) -> None:
    with _live_temps_lock:
        _live_temps.discard(Path(path))


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether ``a`` and ``b`` name one file: equal after resolving symbolic links, or one inode (hard links).

    >>> same_file("a.png", "./a.png")
    True
    """
    a, b = Path(a), Path(b)
    identity = _identity(a)  # st_dev and st_ino: hard links too
    return a.resolve() == b.resolve() or (identity is not None and identity == _identity(b))


class Inputs:
    """The files a command reads, to refuse any output that is one of them (by path, link or inode).

    Building it stats every input once; each :meth:`refuse` is one more stat.
    """

    def __init__(self, inputs: Iterable[tuple[str, str | os.PathLike[str] | None]]) -> None:
        self._by_path: dict[Path, tuple[str, str]] = {}
        self._by_inode: dict[tuple[int, int], tuple[str, str]] = {}
        for option, path in inputs:
            if path is None:
                continue
            label = (option, str(path))
            self._by_path.setdefault(Path(path).resolve(), label)
            identity = _identity(Path(path))
            if identity is not None:
                self._by_inode.setdefault(identity, label)

    def refuse(self, option: str, output: str | os.PathLike[str] | None) -> None:
        """Raise :class:`HandconvError` when ``output`` is one of the inputs."""
        if output is None:
            return
        found = self._by_path.get(Path(output).resolve())
        identity = _identity(Path(output))
        if found is None and identity is not None:
            found = self._by_inode.get(identity)
        if found is not None:
            raise HandconvError(
                f"{option} {str(output)!r} is the input {found[0]} {found[1]!r} (the same file); "
                "handconv never overwrites its inputs: write somewhere else"
            )


def refuse_overwriting_inputs(
    outputs: Iterable[tuple[str, str | os.PathLike[str] | None]],
    inputs: Iterable[tuple[str, str | os.PathLike[str] | None]],
) -> None:
    """The one rule for every command that writes: no output may be one of its inputs.

    ``outputs`` and ``inputs`` are ``(option, path)`` pairs (``None`` paths are
    skipped); the same file through symbolic or hard links counts. Commands
    call it before any work, so nothing is computed for a run that would
    overwrite what it reads.

    Raises
    ------
    HandconvError
        Naming both options and paths.
    """
    guard = Inputs(inputs)
    for option, output in outputs:
        guard.refuse(option, output)


def temp_pattern(path: str | os.PathLike[str]) -> str:
    """Glob pattern of the temporary files :func:`atomic_path` makes for ``path`` (in its folder)."""
    target = Path(path)
    return f".{glob.escape(target.name)}.{'?' * 8}{glob.escape(target.suffix)}"


def remove_temps(path: str | os.PathLike[str]) -> None:
    """Remove temporary files left for ``path`` by a writer that was killed."""
    target = Path(path)
    for temp in target.parent.glob(temp_pattern(target)):
        with contextlib.suppress(OSError):
            temp.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` when the block succeeds.

    A reader never sees a half-written file, and a failure leaves any old file intact.
    Any exception, Ctrl-C and SIGTERM included (see :func:`raise_on_sigterm`),
    removes the temporary file.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # a read-only folder, a file in the way: one line, not a traceback
        raise HandconvError(f"cannot write {str(target)!r}: {error.strerror or error}") from None
    temp: Path | None = None
    try:
        try:
            handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent)
        except OSError as error:
            raise HandconvError(f"cannot write {str(target)!r}: {error.strerror or error}") from None
        temp = Path(temp_name)
        register_temp(temp)
        os.close(handle)
        # mkstemp makes the file private (0600); give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        yield temp
        try:
            os.replace(temp, target)
        except OSError as error:
            raise HandconvError(f"cannot write {str(target)!r}: {error.strerror or error}") from None
    finally:
        if temp is not None:
            if temp.exists():
                temp.unlink()
            unregister_temp(temp)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as temp:
        temp.write_text(text, encoding="utf-8")
    return Path(path)


def make_output_folder(folder: str | os.PathLike[str], option: str) -> Path:
    """Create an output folder up front, or fail once in one line naming ``option``.

    A file in the way, a read-only place: the command stops before doing any work.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise HandconvError(f"{option}: cannot create the folder {str(folder)!r}: {error.strerror or error}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise HandconvError(f"{option}: the folder {str(folder)!r} is not writable")
    return folder


#: Largest .npy header read (NumPy's own default limit; a real header is ~100 bytes).
MAX_NPY_HEADER = 10_000


def npy_header(path: str | os.PathLike[str], option: str = "") -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and data offset of a ``.npy`` file, from its header only, before any data is read.

    Refuses headers over ``MAX_NPY_HEADER`` bytes, garbage headers, and object,
    string, structured and complex dtypes, in one line starting with ``option``
    and the path.
    """
    import numpy as np

    path = Path(path)
    where = f"{option} {str(path)!r}" if option else str(path)
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(handle, max_header_size=MAX_NPY_HEADER)
            data_start = handle.tell()
    except FileNotFoundError:
        raise HandconvError(f"{where}: no such file") from None
    except OSError as error:
        raise HandconvError(f"{where}: cannot read it: {error.strerror or error}") from None
    except Exception as error:  # noqa: BLE001 - a hostile header may make NumPy's parser raise anything
        raise HandconvError(f"{where} is not a readable .npy file ({_one_line(error)})") from None
    if dtype.fields is not None or dtype.kind not in "biuf":
        raise HandconvError(
            f"{where} holds dtype {dtype} ({'structured' if dtype.fields else dtype.kind!r}); "
            "expected real numbers (bool, int, uint or float)"
        )
    return shape, dtype, data_start


def load_npy(path: str | os.PathLike[str], option: str = "") -> np.ndarray:
    """A real-numbered ``.npy`` array (checked by :func:`npy_header` first), or one line saying why not.

    Never unpickles; a file shorter than its header says is refused before reading.
    """
    import numpy as np

    shape, dtype, data_start = npy_header(path, option)
    where = f"{option} {str(path)!r}" if option else str(path)
    expected = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if data_start + expected > Path(path).stat().st_size:
        raise HandconvError(f"{where}: its header says shape {shape} ({expected:,} bytes) but the file is shorter")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise HandconvError(f"{where} is not a readable .npy file ({_one_line(error)})") from None


def _one_line(error: BaseException, limit: int = 120) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
