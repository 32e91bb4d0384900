"""Hub ids resolve from the local cache first, and fail in seconds when the hub cannot be used.

Without this, a hub id on a machine with no network (and no ``HF_HUB_OFFLINE``) spends about a minute in
huggingface_hub's retries before failing. :func:`load_pretrained` tries the local hub cache, then checks
offline mode and whether the hub endpoint accepts a TCP connection at all, and only then downloads.
"""

from __future__ import annotations

import os
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# Seconds a TCP connect (DNS included) to the hub may take before it counts as unreachable.
CONNECT_TIMEOUT_S = 3.0
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_TRUE = {"1", "ON", "YES", "TRUE"}  # huggingface_hub's reading of a boolean variable


class HubUnavailable(Exception):
    """The source is not in the local cache and the hub cannot be used; ``reason`` says why, in a few words."""

    def __init__(self, reason: str, cached_error: Exception) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cached_error = cached_error


def load_pretrained(source: str, load: Callable[..., T]) -> T:
    """Return ``load(**hub_kwargs)`` for a local directory or hub id, going to the network only when it can work.

    ``load`` passes ``hub_kwargs`` on to every ``from_pretrained`` call. A local directory is loaded as is.
    A hub id is first loaded with ``local_files_only=True``; if that fails and the hub cannot be used (offline
    mode, or no TCP connection to the endpoint within :data:`CONNECT_TIMEOUT_S`), :class:`HubUnavailable` is
    raised at once; otherwise ``load()`` downloads as usual (and its errors propagate).
    """
    if Path(source).is_dir():
        return load()
    try:
        return load(local_files_only=True)
    except (OSError, ValueError) as error:
        cached_error = error
    reason = hub_unavailable_reason()
    if reason is not None:
        raise HubUnavailable(reason, cached_error) from cached_error
    return load()


def hub_unavailable_reason() -> str | None:
    """Why the hub cannot be used now (offline mode set, endpoint unreachable), or None when it can."""
    offline = offline_variable()
    if offline is not None:
        return f"offline mode is set: {offline}"
    endpoint = hub_endpoint()
    address = _connect_address(endpoint)
    if address is None:
        return f"hub endpoint {endpoint!r} has no host"
    failure = _connect_failure(*address, timeout=CONNECT_TIMEOUT_S)
    if failure is not None:
        via = "" if address == _endpoint_address(endpoint) else f" through the proxy {address[0]}:{address[1]}"
        return f"hub unreachable: no connection to {endpoint}{via} within {CONNECT_TIMEOUT_S:g} s ({failure})"
    return None


def offline_variable() -> str | None:
    """``NAME=value`` of the variable that puts huggingface_hub in offline mode, or None."""
    for name in _OFFLINE_VARIABLES:
        value = os.environ.get(name, "")
        if value.upper() in _TRUE:
            return f"{name}={value}"
    from huggingface_hub import constants

    # huggingface_hub reads the variables once, at import: offline then stays offline whatever the env says now.
    return "HF_HUB_OFFLINE (read when huggingface_hub was imported)" if constants.HF_HUB_OFFLINE else None


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def cached_file(source: str, filename: str = "config.json") -> str | None:
    """Path of ``filename`` of hub id ``source`` in the local hub cache, or None (also for an invalid id)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(source, filename)
    except ValueError:
        return None
    return found if isinstance(found, str) else None


def _endpoint_address(endpoint: str) -> tuple[str, int] | None:
    parsed = urllib.parse.urlsplit(endpoint)
    if not parsed.hostname:
        return None
    try:
        port = parsed.port
    except ValueError:
        return None
    return parsed.hostname, port or (443 if parsed.scheme == "https" else 80)


def _connect_address(endpoint: str) -> tuple[str, int] | None:
    """Where a request to ``endpoint`` first connects: the proxy from the environment if one applies, else the host."""
    direct = _endpoint_address(endpoint)
    if direct is None:
        return None
    scheme = urllib.parse.urlsplit(endpoint).scheme
    proxy = urllib.request.getproxies_environment().get(scheme)
    if proxy and not urllib.request.proxy_bypass_environment(direct[0]):
        return _endpoint_address(proxy if "://" in proxy else f"http://{proxy}") or direct
    return direct


def _connect_failure(host: str, port: int, timeout: float) -> str | None:
    """None if a TCP connection to ``host:port`` opens within ``timeout`` seconds, else what went wrong.

    The connect runs in a daemon thread because name resolution ignores socket timeouts and can hang.
    """
    outcome: list[str | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as error:
            outcome.append(f"{host}:{port}: {error.strerror or error}")

    worker = threading.Thread(target=connect, name="hub-connect-check", daemon=True)
    worker.start()
    worker.join(timeout)
    return outcome[0] if outcome else f"{host}:{port}: timed out"


def describe(error: BaseException) -> str:
    """The first line of an exception's message (transformers' messages run over several lines)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
