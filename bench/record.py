"""What a record cites about the run: time, versions, device, peak memory, the dataset fingerprint.

The record types themselves are :mod:`results.schema`, shared by the writer and the reader."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
import resource
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from bench import __version__

REPO_ROOT = Path(__file__).resolve().parent.parent


def now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def versions() -> dict[str, str | None]:
    from importlib.metadata import version

    import numpy
    import transformers

    return {
        "harness": __version__,
        "harness_git": git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "s3prl": version("s3prl"),
        "numpy": numpy.__version__,
    }


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{platform.processor() or platform.machine()} x{torch.get_num_threads()} threads"


def peak_memory_mb(device: torch.device) -> dict[str, float]:
    """Process peak RSS so far (Linux reports KiB) and, on CUDA, the peak allocated since the last reset."""
    peak = {"process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if device.type == "cuda":
        peak["cuda_peak_allocated_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
        torch.cuda.reset_peak_memory_stats(device)
    return peak


def dataset_fingerprint(
    data_root: Path, uids_and_sizes: Sequence[tuple[str, int]], metadata_files: Sequence[Path] = ()
) -> dict[str, Any]:
    """Cite the exact data: superb-mini's MANIFEST checksum when present, a hash of the audio files this run used
    (uid and size: hashing every byte of 150k files would take longer than some runs) and a hash of the *contents*
    of the label, list and trial files the reader read (small, and a one-label edit changes a number)."""
    digest = hashlib.sha256()
    for uid, size in sorted(uids_and_sizes):
        digest.update(f"{uid}\t{size}\n".encode())
    metadata_digest = hashlib.sha256()
    for path in sorted(set(metadata_files)):
        metadata_digest.update(f"{_relative(path, data_root)}\n".encode())
        metadata_digest.update(hashlib.sha256(path.read_bytes()).digest())
    manifest_checksum = None
    manifest = data_root / "MANIFEST.json"
    if manifest.is_file():
        try:
            content = json.loads(manifest.read_text())
            manifest_checksum = content.get("overall_sha256")
        except (json.JSONDecodeError, AttributeError):
            manifest_checksum = None
        if manifest_checksum is None:
            manifest_checksum = hashlib.sha256(manifest.read_bytes()).hexdigest()
    return {
        "root": str(data_root.resolve()),
        "files_sha256": digest.hexdigest(),
        "num_files": len(uids_and_sizes),
        "metadata_sha256": metadata_digest.hexdigest(),
        "num_metadata_files": len(set(metadata_files)),
        "manifest_checksum": manifest_checksum,
    }


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
