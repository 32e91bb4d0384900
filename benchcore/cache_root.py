"""Where every cache lives: ``--cache-dir`` (while a run reads its data, :func:`using_cache_root`), else
``$BENCH_CACHE_DIR``, else ``~/.cache/superb-bench``.

The feature cache (``bench.cache``) and the per-file sox cache (:mod:`benchcore.sox_effects`) share this root, so
``bench cache list`` and one environment variable cover both.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

_override: list[Path] = []


def default_cache_root() -> Path:
    if _override:
        return _override[-1]
    return Path(os.environ.get("BENCH_CACHE_DIR", Path.home() / ".cache" / "superb-bench"))


@contextlib.contextmanager
def using_cache_root(root: Path | None) -> Iterator[None]:
    """Within the block, :func:`default_cache_root` is ``root`` (None: unchanged). A task's reader binds the root of
    the caches it makes while loading (ASV's sox chain), so `bench run --cache-dir` reaches them too."""
    if root is None:
        yield
        return
    _override.append(Path(root))
    try:
        yield
    finally:
        _override.pop()
