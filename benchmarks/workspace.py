"""What several benchmark scripts start from: a scratch folder deleted at exit, and superb-mini (a given root, or the
tiny corpus generated into the folder)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path


def scratch(prefix: str) -> Path:
    """A temporary folder removed when the script exits (benchmarks must not fill the shared disk)."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, work, True)
    return work


def superb_mini(work: Path, data_root: Path | None = None, size: str = "tiny") -> Path:
    """``data_root`` when given, else superb-mini of ``size`` generated under ``work``."""
    if data_root is not None:
        return data_root
    from bench.superb_mini.corpus import generate_corpus

    generate_corpus(work / "superb-mini", size=size, progress=False)
    return work / "superb-mini"
