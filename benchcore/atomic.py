"""Atomic file writes: a crash leaves either the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from benchcore.errors import BenchError

TMP_PREFIX = ".tmp-"
TMP_SUFFIX = ".part"


# Tries at a fresh temporary name before giving up (as tempfile.TMP_MAX); a clash needs 64 random bits to repeat.
_NAME_TRIES = 100


class StorageError(BenchError):
    """A write failed (a full disk, a quota, a file-size limit): one line naming the path and what was asked."""


#: What a full or failing filesystem raises; numpy's short writes raise an OSError without errno ("N requested and M
#: written"). Other errors (a missing file the writer reads) keep their own traceback.
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO, errno.EROFS, None}


def _storage_error(target: Path, error: OSError, requested_bytes: int | None) -> StorageError:
    reason = error.strerror or "the write was cut short (no space left, or a file-size limit)"
    asked = f", {requested_bytes:,} bytes requested" if requested_bytes is not None else ""
    return StorageError(
        f"cannot write {target}: {reason}{asked}; nothing was half-written. Free space there or write "
        "elsewhere: --cache-dir for the feature cache, --output for checkpoints, records and reports"
    )


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, durable: bool = True, requested_bytes: int | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; on success rename it over ``path``.

    ``durable`` also fsyncs the file and its directory, so the rename survives a power cut. A killed
    *process* can never leave a half file either way; bulk writers of thousands of re-creatable files
    (the superb-mini audio) skip the fsync and verify checksums instead.

    Permissions are those a plain ``open(path, "w")`` gives: a new file gets ``0666`` less the umask
    (0644 under umask 022, 0600 under 077) or the directory's default ACL, because the kernel applies
    them when the temporary file is created (``tempfile.mkstemp`` would force 0600, unreadable to the
    group and a web server on a shared filesystem). An existing ``path`` keeps its mode, as ``open``
    keeps it when it truncates a file; only its owner and group cannot be kept (the rename makes the
    writer the owner).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temp(target.parent)
    try:
        try:
            yield tmp
        except OSError as error:  # the writer could not write the temporary file: the target is untouched
            if error.errno not in _STORAGE_ERRNOS:
                raise
            raise _storage_error(target, error, requested_bytes) from error
        try:
            _keep_existing_mode(target, tmp)
            if durable:
                with open(tmp, "rb") as handle:
                    os.fsync(handle.fileno())
            os.replace(tmp, target)
            if durable:
                dir_fd = os.open(target.parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        except OSError as error:
            if error.errno not in _STORAGE_ERRNOS:
                raise
            raise _storage_error(target, error, requested_bytes) from error
    finally:
        if tmp.exists():
            tmp.unlink()


def _create_temp(folder: Path) -> Path:
    """Create an empty, uniquely named temporary file in ``folder`` with the mode ``open()`` would give it.

    Mode 0o666 goes through the kernel's umask / default-ACL step, so nothing reads or sets the process
    umask (``os.umask`` has no getter, and setting it to read it races with other threads' file creation).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(_NAME_TRIES):
        tmp = folder / f"{TMP_PREFIX}{secrets.token_hex(8)}{TMP_SUFFIX}"
        try:
            os.close(os.open(tmp, flags, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"no free temporary file name in {folder} after {_NAME_TRIES} tries")


def _keep_existing_mode(target: Path, tmp: Path) -> None:
    """Give ``tmp`` the mode of the file it replaces, as ``open(target, "w")`` would leave it."""
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        return
    if mode != stat.S_IMODE(os.stat(tmp).st_mode):
        os.chmod(tmp, mode)


def is_temp_name(name: str) -> bool:
    """True for the names :func:`atomic_path` gives its temporary files."""
    return name.startswith(TMP_PREFIX) and name.endswith(TMP_SUFFIX)


def remove_stale_temps(root: Path) -> int:
    """Delete temporary files a killed writer left under ``root``; return how many were removed."""
    removed = 0
    if not root.exists():
        return 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            if is_temp_name(name):
                Path(dirpath, name).unlink(missing_ok=True)
                removed += 1
    return removed


def write_atomic(
    path: str | os.PathLike, writer: Callable[[Path], None], durable: bool = True, requested_bytes: int | None = None
) -> Path:
    """Call ``writer(tmp_path)`` and move the result to ``path`` atomically."""
    with atomic_path(path, durable=durable, requested_bytes=requested_bytes) as tmp:
        writer(tmp)
    return Path(path)


def write_bytes_atomic(path: str | os.PathLike, data: bytes, durable: bool = True) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_bytes(data), durable, len(data))


def write_text_atomic(path: str | os.PathLike, text: str, durable: bool = True) -> Path:
    """UTF-8 text with ``\\n`` line ends."""
    return write_bytes_atomic(path, text.encode("utf-8"), durable)


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_npy_atomic(path: str | os.PathLike, array: np.ndarray) -> Path:
    def _write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.save(handle, array, allow_pickle=False)

    return write_atomic(path, _write, requested_bytes=array.nbytes + 128)  # 128: the .npy header
