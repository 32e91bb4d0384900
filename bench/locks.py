"""Advisory file locks between `bench` processes that share a feature cache or an output directory.

A lock is ``fcntl.flock`` on a small lock file that is never deleted (deleting it would let a newcomer lock a fresh
file while an older process still holds the unlinked one). The kernel drops the lock when its holder exits, however
it exits (``kill -9`` included), so a crash never leaves a stale lock behind. The locks are advisory: they order
`bench` processes, nothing else. On Linux, ``flock`` on NFS is emulated with whole-file POSIX locks, which work
across clients only where the server runs a lock manager (not with a ``nolock`` mount) and then do not exclude two
descriptors of one process; other network filesystems may ignore locks altogether.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

from benchcore.errors import BenchError


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, shared: bool = False, waiting_note: str | None = None) -> Iterator[Path]:
    """Hold an exclusive (or, with ``shared``, a shared) lock on ``path`` for the ``with`` block; wait for it if needed.

    ``waiting_note`` is printed to stderr when another process holds the lock, so a waiting run does not look hung.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # mode 0o666 under the umask: a lock file gets the permissions any new file of the run gets
    fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        operation = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting_note:
                print(waiting_note, file=sys.stderr, flush=True)
            _flock(fd, operation, target)
        except OSError as error:
            _raise_unlockable(error, target)
        yield target
    finally:
        os.close(fd)  # releases the lock


def _flock(fd: int, operation: int, target: Path) -> None:
    try:
        fcntl.flock(fd, operation)
    except OSError as error:
        _raise_unlockable(error, target)


def _raise_unlockable(error: OSError, target: Path) -> NoReturn:
    if error.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
        raise BenchError(
            f"cannot lock {target}: {error.strerror} (this filesystem has no file locks; "
            "see the feature cache section of docs/running.md)"
        ) from None
    raise error


def unit_lock(run_dir: Path, progress: bool = True) -> contextlib.AbstractContextManager[Path]:
    """The lock of one unit's directory, held while a process decides to train or reuse the unit and while it trains."""
    note = f"waiting for another process training the unit {run_dir}" if progress else None
    return file_lock(run_dir / "unit.lock", waiting_note=note)
