"""Atomic file writes: a crash leaves either the old file or the new one, never half of one."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np


TMP_PREFIX = ".tmp-"
TMP_SUFFIX = ".part"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; on success rename it over ``path``.

    ``durable`` also fsyncs the file and its directory, so the rename survives a power cut. A killed
    *process* can never leave a half file either way; bulk writers of thousands of re-creatable files
    (the superb-mini audio) skip the fsync and verify checksums instead.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=TMP_SUFFIX, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
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
    finally:
        if tmp.exists():
            tmp.unlink()


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


def write_atomic(path: str | os.PathLike, writer: Callable[[Path], None], durable: bool = True) -> Path:
    """Call ``writer(tmp_path)`` and move the result to ``path`` atomically."""
    with atomic_path(path, durable=durable) as tmp:
        writer(tmp)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str, durable: bool = True) -> Path:
    """UTF-8 text with ``\\n`` line ends."""
    return write_atomic(path, lambda tmp: tmp.write_bytes(text.encode("utf-8")), durable)


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_npy_atomic(path: str | os.PathLike, array: np.ndarray) -> Path:
    def _write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.save(handle, array, allow_pickle=False)

    return write_atomic(path, _write)
