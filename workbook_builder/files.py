"""Atomic file output: write beside the target under a temporary name, then rename into place."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path in ``target``'s folder; on success it replaces ``target``.

    On any error the temporary file is removed and ``target`` is left as it was, so an
    existing file is never half-overwritten.
    """
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_whole(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, the file closed however the write ends (a full disk, a
    file-size limit): nothing is left open for a finalizer to fail on later.

    XlsxWriter writes its zip to a file object it never closes when a write fails; the
    interpreter's finalizer then printed a second error ("Exception ignored in ZipFile.__del__").
    So workbooks are assembled in memory and written here.
    """
    with open(path, "wb") as f:
        f.write(data)
