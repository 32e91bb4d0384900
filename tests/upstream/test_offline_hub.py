"""Hub ids: the local cache first, and one line within seconds when the hub cannot be used (upstream/hub.py).

huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE when it is imported, so the end-to-end checks run in a
subprocess with an environment of their own. The hub endpoint is made unreachable on purpose (a local port
that is bound but never listens), so nothing here depends on whether this machine has a network.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from upstream import hub
from upstream.testing import build_tiny_hf

ROOT = Path(__file__).resolve().parents[2]
FAIL_FAST_S = 20.0  # before upstream/hub.py this took about 51 s (huggingface_hub's five retries)


@contextlib.contextmanager
def _closed_port() -> Iterator[int]:
    """A local TCP port that refuses connections: bound (so no one else takes it) but not listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@contextlib.contextmanager
def _listening_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        yield sock.getsockname()[1]


def _clean_env(hf_home: Path, endpoint: str, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")
        and "PROXY" not in key.upper()
    }
    env.update(HF_HOME=str(hf_home), HF_ENDPOINT=endpoint, PYTHONPATH=str(ROOT), **extra)
    return env


def _python(code: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    return done, time.monotonic() - start


# --- end to end: `bench upstreams --probe` and load_upstream in a fresh process ---------------------------------


@pytest.mark.parametrize("offline", [None, "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
def test_uncached_hub_id_fails_fast_with_one_line(tmp_path, offline):
    with _closed_port() as port:
        env = _clean_env(tmp_path / "hf_home", f"http://127.0.0.1:{port}", **({offline: "1"} if offline else {}))
        done, seconds = _python(
            "import sys; from bench.cli import main; "
            "sys.exit(main(['upstreams', '--probe', 'hf:someorg/not-cached-model']))",
            env,
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr and "Retrying" not in done.stderr, (
        done.stderr
    )
    assert "cannot fetch 'someorg/not-cached-model' from the Hugging Face hub" in done.stderr
    assert "not in the local cache" in done.stderr and "hf:/path/to/model" in done.stderr
    expected = (
        f"offline mode is set: {offline}=1" if offline else f"hub unreachable: no connection to http://127.0.0.1:{port}"
    )
    assert expected in done.stderr
    assert seconds < FAIL_FAST_S, f"took {seconds:.1f} s"


def _as_hub_cache(model_dir: Path, hf_home: Path, repo_id: str) -> Path:
    """Lay ``model_dir`` out as huggingface_hub's cache does: snapshots/<commit>/<files> and refs/main."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(model_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return repo / "snapshots" / commit


LOAD = (
    "from upstream.registry import load_upstream; u = load_upstream('hf:org/name'); "
    "print(u.source, u.num_hidden_states, u.hidden_size, u.get_downsample_rates())"
)


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory) -> Path:
    hf_home = tmp_path_factory.mktemp("hf_home")
    _as_hub_cache(build_tiny_hf("hubert-layer", tmp_path_factory.mktemp("tiny") / "model"), hf_home, "org/name")
    return hf_home


@pytest.mark.parametrize("offline", [False, True], ids=["hub-unreachable", "HF_HUB_OFFLINE"])
def test_a_cached_hub_id_loads_without_the_hub(hub_cache, offline):
    with _closed_port() as port:
        env = _clean_env(hub_cache, f"http://127.0.0.1:{port}", **({"HF_HUB_OFFLINE": "1"} if offline else {}))
        done, seconds = _python(LOAD, env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["org/name", "3", "32", "320"]
    # The cache answers before any network is tried: no retries (before, they took about a minute here).
    assert "Retrying" not in done.stderr and "127.0.0.1" not in done.stderr, done.stderr
    assert seconds < 2 * FAIL_FAST_S, f"took {seconds:.1f} s"


def test_a_cached_model_that_does_not_load_says_so(tmp_path):
    snapshot = _as_hub_cache(build_tiny_hf("hubert-layer", tmp_path / "model"), tmp_path / "hf_home", "org/name")
    next(snapshot.glob("*.safetensors")).unlink()  # config cached, weights not: an interrupted download
    with _closed_port() as port:
        done, _ = _python(LOAD, _clean_env(tmp_path / "hf_home", f"http://127.0.0.1:{port}"))
    assert done.returncode != 0 and "cannot fetch 'org/name'" in done.stderr
    assert "its copy in the local cache does not load" in done.stderr and "hub unreachable" in done.stderr


# --- upstream.hub.load_pretrained in this process -----------------------------------------------------------------


class _Loader:
    """Records the kwargs of every call; fails the calls with local_files_only=True when ``cached`` is False."""

    def __init__(self, cached: bool) -> None:
        self.cached = cached
        self.calls: list[dict] = []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        if kwargs.get("local_files_only") and not self.cached:
            raise OSError("not in the cache\nsecond line")
        return "model"


@pytest.fixture()
def online(monkeypatch):
    """Offline mode off, whatever conftest and huggingface_hub's import-time reading say."""
    from huggingface_hub import constants

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    for name in [key for key in os.environ if "PROXY" in key.upper()]:
        monkeypatch.delenv(name)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    return monkeypatch


def test_a_local_directory_is_loaded_as_is(tmp_path):
    loader = _Loader(cached=False)
    assert hub.load_pretrained(str(tmp_path), loader) == "model" and loader.calls == [{}]


def test_the_cache_is_tried_first(online):
    online.setattr(hub, "hub_endpoint", lambda: pytest.fail("a cached id must not look at the network"))
    loader = _Loader(cached=True)
    assert hub.load_pretrained("org/name", loader) == "model" and loader.calls == [{"local_files_only": True}]


def test_offline_mode_fails_without_a_download(online):
    online.setenv("TRANSFORMERS_OFFLINE", "1")
    loader = _Loader(cached=False)
    with pytest.raises(hub.HubUnavailable, match="offline mode is set: TRANSFORMERS_OFFLINE=1") as caught:
        hub.load_pretrained("org/name", loader)
    assert loader.calls == [{"local_files_only": True}] and "second line" in str(caught.value.cached_error)


def test_an_unreachable_hub_fails_within_the_connect_timeout(online):
    loader = _Loader(cached=False)
    with _closed_port() as port:
        online.setattr(hub, "hub_endpoint", lambda: f"http://127.0.0.1:{port}")
        start = time.monotonic()
        with pytest.raises(hub.HubUnavailable, match="hub unreachable.*Connection refused"):
            hub.load_pretrained("org/name", loader)
    assert time.monotonic() - start < hub.CONNECT_TIMEOUT_S + 1 and loader.calls == [{"local_files_only": True}]


def test_a_hanging_endpoint_counts_as_unreachable(online):
    # a DNS lookup or SYN that never answers: the thread-and-join wait gives up at the timeout
    # (what the hanging call finally returns must have a close(): the abandoned thread calls it after the test)
    online.setattr(
        socket, "create_connection", lambda *args, **kwargs: time.sleep(5) or SimpleNamespace(close=lambda: None)
    )
    online.setattr(hub, "CONNECT_TIMEOUT_S", 0.2)
    online.setattr(hub, "hub_endpoint", lambda: "https://hub.example")
    start = time.monotonic()
    assert "hub.example:443: timed out" in hub.hub_unavailable_reason()
    assert time.monotonic() - start < 1


def test_a_reachable_hub_downloads(online):
    loader = _Loader(cached=False)
    with _listening_port() as port:
        online.setattr(hub, "hub_endpoint", lambda: f"http://127.0.0.1:{port}")
        assert hub.load_pretrained("org/name", loader) == "model"
    assert loader.calls == [{"local_files_only": True}, {}]


def test_the_connect_check_goes_through_the_proxy(online):
    with _listening_port() as port:
        online.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
        online.setattr(hub, "hub_endpoint", lambda: "https://hub.invalid")
        assert hub.hub_unavailable_reason() is None
    with _closed_port() as port:
        online.setenv("HTTPS_PROXY", f"127.0.0.1:{port}")
        assert "through the proxy 127.0.0.1" in hub.hub_unavailable_reason()
