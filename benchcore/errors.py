"""The one exception type the CLI turns into a one-line message and a non-zero exit."""

from __future__ import annotations


class BenchError(Exception):
    """A user-facing error: bad input, missing data, an unloadable model.

    The CLI prints ``error: <message>`` on one line and exits with status 2, no traceback.
    Internal bugs stay ordinary exceptions so their tracebacks remain visible.
    """
