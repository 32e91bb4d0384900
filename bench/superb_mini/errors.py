"""The user-facing error of the generator: a BenchError, so the CLI prints it as a one-line message."""

from __future__ import annotations

from benchcore.errors import BenchError


class MiniCorpusError(BenchError):
    """Bad arguments, a missing espeak-ng, or an output directory holding a different corpus."""
