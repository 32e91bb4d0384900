"""`bench extract`: every hidden state of every utterance, to disk.

Layout of an extraction directory (format version 1)::

    OUT/extraction.json          what was extracted: upstream info, dtype, audio root, format version
    OUT/features/<rel>.npy       one array per utterance, shape (num_hidden_states, num_frames, hidden_size)
    OUT/index.json               written last: one entry per utterance (audio path, feature path, number of frames)

``<rel>`` is the audio file's path relative to ``--audio`` with its suffix replaced by ``.npy``.
Each .npy is written atomically, so a killed run resumes by skipping the arrays already on disk.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bench.encode import encode
from benchcore.atomic import write_json_atomic, write_npy_atomic
from benchcore.audio import list_audio_files, load_audio
from benchcore.errors import BenchError
from upstream.base import Upstream

FORMAT_VERSION = 1
SAVE_DTYPES = {"fp32": np.float32, "fp16": np.float16}


@dataclass(frozen=True)
class ExtractionSummary:
    out_dir: Path
    num_utterances: int
    num_extracted: int
    num_reused: int


def _length_sorted_batches(
    items: list[tuple[Path, torch.Tensor]], batch_size: int
) -> Iterable[list[tuple[Path, torch.Tensor]]]:
    """Batches of similar length, longest first, so padding is small and OOM shows up early."""
    ordered = sorted(items, key=lambda item: item[1].numel(), reverse=True)
    for start in range(0, len(ordered), batch_size):
        yield ordered[start : start + batch_size]


def extract_features(
    upstream: Upstream,
    audio: str | Path,
    out_dir: str | Path,
    batch_size: int = 8,
    save_dtype: str = "fp32",
    progress: bool = True,
) -> ExtractionSummary:
    if save_dtype not in SAVE_DTYPES:
        raise BenchError(f"unknown --save-dtype '{save_dtype}'; choose one of {', '.join(SAVE_DTYPES)}")
    if batch_size < 1:
        raise BenchError("--batch-size must be at least 1")
    root, files = list_audio_files(audio)
    out_dir = Path(out_dir)
    header = {
        "format_version": FORMAT_VERSION,
        "upstream": upstream.info().as_dict(),
        "save_dtype": save_dtype,
        "audio_root": str(root.resolve()),
        "array_layout": "(num_hidden_states, num_frames, hidden_size)",
    }
    header_path = out_dir / "extraction.json"
    if header_path.exists():
        import json

        previous = json.loads(header_path.read_text())
        if previous != header:
            raise BenchError(
                f"{out_dir} already holds an extraction with other settings (upstream, dtype or audio root); "
                "choose another --out or delete it"
            )
    else:
        write_json_atomic(header_path, header)

    def feature_path(audio_file: Path) -> Path:
        return out_dir / "features" / audio_file.relative_to(root).with_suffix(".npy")

    pending = [audio_file for audio_file in files if not feature_path(audio_file).exists()]
    index: list[dict] = []
    bar = tqdm(
        total=len(files),
        desc=f"extract {upstream.name}",
        unit="utt",
        disable=not progress,
        initial=len(files) - len(pending),
    )
    # Load in chunks so memory stays bounded on large directories, then batch by length inside each chunk.
    chunk_size = max(batch_size * 16, 64)
    for chunk_start in range(0, len(pending), chunk_size):
        chunk = [(audio_file, load_audio(audio_file)) for audio_file in pending[chunk_start : chunk_start + chunk_size]]
        for batch in _length_sorted_batches(chunk, batch_size):
            output = encode(upstream, [waveform for _, waveform in batch], [str(path) for path, _ in batch])
            stacked = torch.stack(output["hidden_states"]).cpu()  # (L, B, T, D)
            for position, (audio_file, _) in enumerate(batch):
                num_frames = int(output["hidden_states_lengths"][position])
                array = stacked[:, position, :num_frames].numpy().astype(SAVE_DTYPES[save_dtype])
                write_npy_atomic(feature_path(audio_file), array)
            bar.update(len(batch))
    bar.close()

    for audio_file in files:
        array = np.load(feature_path(audio_file), mmap_mode="r")
        index.append(
            {
                "audio": str(audio_file.relative_to(root)),
                "features": str(feature_path(audio_file).relative_to(out_dir)),
                "num_frames": int(array.shape[1]),
            }
        )
    write_json_atomic(out_dir / "index.json", {"format_version": FORMAT_VERSION, "utterances": index})
    return ExtractionSummary(out_dir, len(files), len(pending), len(files) - len(pending))
