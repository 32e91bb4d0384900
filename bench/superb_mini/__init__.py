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

from .corpus import DATASETS, GENERATOR_VERSION, TOP_FOLDERS, generate_corpus
from .errors import MiniCorpusError
from .manifest import MANIFEST_NAME, read_manifest, verify
from .sizes import SIZES

__all__ = [
    "DATASETS", "GENERATOR_VERSION", "MANIFEST_NAME", "MiniCorpusError", "SIZES", "TOP_FOLDERS",
    "generate_corpus", "read_manifest", "verify",
]
