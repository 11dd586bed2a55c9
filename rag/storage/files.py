"""Files and locks of the embedded store: atomic replacement, the writer lock, and one clear line for write failures.

Every file the store writes besides SQLite (the manifest, the FAISS file) goes through `atomic_replace`, so a kill
leaves the old file or the new one, never half of either.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import IndexLockedError, RagError

LOCK_NAME = "write.lock"
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG,
                          errno.EIO})


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_replace(path: Path, write: Callable[[Path], None]) -> None:
    """Have `write` fill a temporary file beside `path`, flush it to disk, then move it into place in one step:
    a crash leaves the old file or the new one, never half of either."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_replace(path, lambda tmp: tmp.write_bytes(data))


def write_failed(root: Path, reason: str) -> RagError:
    with contextlib.suppress(OSError):
        if shutil.disk_usage(root).free < (1 << 20):
            reason = f"no space left on the device: {reason}"
    return RagError(f"cannot write to the index at {root} ({reason}); everything committed before is kept — "
                    "free disk space or fix permissions, then run the command again")


@contextlib.contextmanager
def write_lock(root: Path, timeout: float) -> Iterator[None]:
    """The exclusive writer lock (`write.lock`): a second writer waits up to `timeout` seconds, then fails with
    IndexLockedError. Readers never take it."""
    path = root / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise RagError(f"cannot write to the index directory {root}: {e.strerror}; check its permissions") from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise IndexLockedError(
                        f"another process is writing to the index at {root} (waited {timeout:.0f} s); "
                        "try again when it has finished"
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)  # closing releases the lock
