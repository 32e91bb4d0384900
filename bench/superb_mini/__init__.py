"""superb-mini: a small synthetic corpus in the exact layouts of the ten SUPERB datasets, plus FLEURS.

The real SUPERB datasets cannot be downloaded everywhere (CI, offline machines), so the harness
generates its own corpus with espeak-ng, laid out file for file like LibriSpeech, Speech Commands
v0.01, QUESST 2014, VoxCeleb1, Libri2Mix, IEMOCAP, Fluent Speech Commands and Audio SNIPS, and
like seven languages of FLEURS (multilingual ASR and language identification). Task
loaders read the official layouts; a smoke run and a paper run differ only in the data root.

    from bench.superb_mini import generate_corpus
    generate_corpus(Path("data/superb-mini"), seed=0, size="small")
"""

from __future__ import annotations

import importlib
from typing import Any

#: name -> submodule. Loaded on first use (PEP 562): `bench --help` and `bench data mini --help` import this package for
#: its parser, and the generator's modules pull in scipy (about 1.5 s).
_LAZY = {
    "DATASETS": "corpus",
    "GENERATOR_VERSION": "corpus",
    "TOP_FOLDERS": "corpus",
    "generate_corpus": "corpus",
    "MiniCorpusError": "errors",
    "MANIFEST_NAME": "manifest",
    "read_manifest": "manifest",
    "verify": "manifest",
    "SIZES": "sizes",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value
