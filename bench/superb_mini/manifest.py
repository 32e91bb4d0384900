"""MANIFEST.json: what was generated, with which tools, and a sha256 of every file.

The manifest holds no timestamps and no absolute paths, so two runs with the same seed and size
on the same toolchain produce byte-identical manifests; ``overall_sha256`` is the one number to
compare. It is written last: its presence (with matching version, seed and size) means the corpus
is complete.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from .atomic import is_temp_name

MANIFEST_NAME = "MANIFEST.json"
STATE_DIR = ".superb_mini_state"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def list_files(root: Path, top_folders: Iterable[str]) -> list[str]:
    """Relative POSIX paths of every corpus file under ``top_folders``, sorted."""
    out: list[str] = []
    for folder in top_folders:
        base = root / folder
        if not base.exists():
            continue
        for path in base.rglob("*"):
            if path.is_file() and not is_temp_name(path.name):
                out.append(path.relative_to(root).as_posix())
    return sorted(out)


def overall_checksum(files: dict[str, dict]) -> str:
    """sha256 over ``"<sha256>  <path>\\n"`` lines in path order (sha256sum's layout)."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(f"{files[rel]['sha256']}  {rel}\n".encode())
    return digest.hexdigest()


def toolchain(espeak_version: str) -> dict[str, str]:
    """Versions that can change the bytes of the audio (resampler, encoder, synthesiser)."""

    def version(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "absent"

    import soundfile

    return {
        "espeak-ng": espeak_version,
        "libsndfile": soundfile.__libsndfile_version__,
        "numpy": version("numpy"),
        "scipy": version("scipy"),
        "soundfile": version("soundfile"),
        "python": platform.python_version(),
    }


def build_manifest(
    root: Path,
    *,
    generator_version: str,
    seed: int,
    size: str,
    espeak_version: str,
    datasets: dict[str, dict],
    top_folders: Iterable[str],
) -> dict:
    files: dict[str, dict] = {}
    for rel in list_files(root, top_folders):
        path = root / rel
        files[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return {
        "generator": "bench.superb_mini",
        "generator_version": generator_version,
        "seed": seed,
        "size": size,
        "espeak_ng_version": espeak_version,
        "toolchain": toolchain(espeak_version),
        "datasets": datasets,
        "num_files": len(files),
        "total_bytes": sum(f["bytes"] for f in files.values()),
        "overall_sha256": overall_checksum(files),
        "files": files,
    }


def dumps(manifest: dict) -> str:
    return json.dumps(manifest, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


def read_manifest(root: Path) -> dict | None:
    path = root / MANIFEST_NAME
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None


def manifest_matches(manifest: dict | None, *, generator_version: str, seed: int, size: str) -> bool:
    return bool(manifest) and (manifest.get("generator_version"), manifest.get("seed"), manifest.get("size")) == (
        generator_version,
        seed,
        size,
    )


def files_present(root: Path, manifest: dict) -> bool:
    """Cheap completeness check for reuse: every listed file exists with its recorded size."""
    for rel, info in manifest.get("files", {}).items():
        path = root / rel
        if not path.is_file() or path.stat().st_size != info["bytes"]:
            return False
    return True


def verify(root: Path, manifest: dict) -> list[str]:
    """Paths whose sha256 differs from the manifest (or that are missing); empty when intact."""
    bad = []
    for rel, info in manifest.get("files", {}).items():
        path = root / rel
        if not path.is_file() or sha256_file(path) != info["sha256"]:
            bad.append(rel)
    return bad
