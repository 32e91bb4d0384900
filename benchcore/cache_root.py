"""Where every cache lives: ``$BENCH_CACHE_DIR``, else ``~/.cache/superb-bench``.

The feature cache (``bench.cache``) and the per-file sox cache (:mod:`benchcore.sox_effects`) share this root, so
``bench cache list`` and one environment variable cover both.
"""
from __future__ import annotations

import os
from pathlib import Path


def default_cache_root() -> Path:
    return Path(os.environ.get("BENCH_CACHE_DIR", Path.home() / ".cache" / "superb-bench"))
