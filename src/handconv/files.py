"""Writing outputs atomically: a temp file in the same folder, then ``os.replace``.

Every writer in handconv (images, figures, animations, pages, reports) goes
through :func:`atomic_path`, so a reader never sees a half-written file and a
failure leaves any old file intact.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import HandconvError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` when the block succeeds.

    A reader never sees a half-written file, and a failure leaves any old file intact.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent)
    except OSError as error:  # a read-only folder, a file in the way: one line, not a traceback
        raise HandconvError(f"cannot write {str(target)!r}: {error.strerror or error}") from None
    os.close(handle)
    temp = Path(temp_name)
    # mkstemp makes the file private (0600); give it the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, 0o666 & ~umask)
    try:
        yield temp
        try:
            os.replace(temp, target)
        except OSError as error:
            raise HandconvError(f"cannot write {str(target)!r}: {error.strerror or error}") from None
    finally:
        if temp.exists():
            temp.unlink()


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
