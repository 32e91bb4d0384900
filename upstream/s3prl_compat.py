"""The one place that knows how to import s3prl 0.4.18 next to a current torchaudio.

s3prl's hub imports every upstream eagerly; two of them use torchaudio APIs removed in
torchaudio 2.9 (``set_audio_backend`` and ``sox_effects``), which breaks ``import s3prl.nn``.
We restore harmless stand-ins before importing it. Nothing else in the harness imports s3prl.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import types
import warnings
from types import ModuleType

from benchcore.errors import BenchError

TORCHAUDIO_FIX = (
    "reinstall the pinned pair with `bash setup.sh` (torch==2.14.1 + torchaudio==2.11.0); "
    "if you must keep a CPU-only torch, delete the CUDA-linked extension: "
    "rm .venv/lib/python3*/site-packages/torchaudio/lib/*.so"
)


def check_torchaudio() -> ModuleType:
    """Import torchaudio, turning the CUDA/CPU build mismatch into a one-line, actionable error."""
    try:
        import torchaudio
    except OSError as error:  # e.g. "libc10_cuda.so: cannot open shared object file"
        raise BenchError(f"torchaudio cannot load its compiled extension ({error}); {TORCHAUDIO_FIX}") from error
    return torchaudio


def _apply_torchaudio_shims() -> None:
    torchaudio = check_torchaudio()
    if not hasattr(torchaudio, "set_audio_backend"):
        torchaudio.set_audio_backend = lambda *args, **kwargs: None
    try:
        import torchaudio.sox_effects  # noqa: F401
    except ImportError:
        stub = types.ModuleType("torchaudio.sox_effects")

        def _unavailable(*args, **kwargs):
            raise RuntimeError(
                "torchaudio.sox_effects was removed in torchaudio>=2.9; the harness reads audio with soundfile"
            )

        stub.apply_effects_tensor = _unavailable
        stub.apply_effects_file = _unavailable
        sys.modules["torchaudio.sox_effects"] = stub
        torchaudio.sox_effects = stub


def import_s3prl_nn() -> ModuleType:
    """Return ``s3prl.nn`` (S3PRLUpstream, Featurizer), importing it quietly with the shims in place."""
    if "s3prl.nn" in sys.modules:
        return sys.modules["s3prl.nn"]
    _apply_torchaudio_shims()
    # Importing the hub warns about optional toolkits (ESPnet, fairseq) we never use; keep the console clean.
    quiet = logging.getLogger("s3prl")
    previous_level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script_method deprecation in old upstreams
            import s3prl.nn
    finally:
        quiet.setLevel(previous_level)
    return s3prl.nn


def import_s3prl_hub() -> ModuleType:
    import_s3prl_nn()
    import s3prl.hub

    return s3prl.hub
