"""Whether progress bars drawn below the runner (a task reader's sox pass, QbE's DTW) may show.

The runner knows `--quiet`; a reader or a scorer deep in a task does not take it as an argument, so the runner binds
it here for the block it calls them in (:func:`progress_bars`), and they ask :func:`tqdm_disable`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

_enabled: list[bool] = []


@contextlib.contextmanager
def progress_bars(enabled: bool) -> Iterator[None]:
    """Within the block, bars drawn by :func:`tqdm_disable`'s callers show only when ``enabled`` (and on a terminal)."""
    _enabled.append(bool(enabled))
    try:
        yield
    finally:
        _enabled.pop()


def tqdm_disable() -> bool | None:
    """tqdm's ``disable``: True under `--quiet`, else None (tqdm then shows the bar on a terminal only)."""
    return None if not _enabled or _enabled[-1] else True
