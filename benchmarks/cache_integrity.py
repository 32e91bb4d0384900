"""What checking feature-cache shards costs: checksum throughput, and verification as a fraction of reading the cache.

A run checks every shard's size whenever it reads the cache index, and its xxh3_128 checksum the first time the process
reads the shard (bench/cache.py, benchcore/integrity.py). This script builds a pooled cache and a frame cache of
realistic row sizes with the cache's own fill (a stand-in encoder returning HuBERT-Base-shaped hidden states: 13 x 768),
then times, in one process on this machine:

* checksum throughput: xxh3_128 (used) against sha256 and crc32 (stdlib) on 256 MiB;
* the first read of the index (sizes + checksums) against a later one (sizes only): the verification's cost;
* reading the cache once: ``load`` plus every row through the reader a head uses (``CachedFeatures.batch`` for pooled
  rows, ``frames`` for frame batches), i.e. one epoch;

and prints verification / one epoch. A unit reads many epochs (KS's recipe: 200,000 steps x 32 = 6.4 M row reads of a
51k-utterance train set, 125 epochs), so its share of a unit's reads is that ratio divided by the epochs; the ratio is
printed both ways. Files are freshly written, so both sides read from the page cache; from a cold disk both pay the same
disk read (the checksum's pass leaves the pages cached for the epoch that follows).

    python benchmarks/cache_integrity.py [--pooled-utterances 20000] [--frame-utterances 100] [--throughput-mib 256]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import soundfile
import torch
import xxhash

from bench.cache import PooledCache, PooledCacheKey
from benchcore import integrity
from downstream_tasks.base import Utterance
from upstream.base import SAMPLE_RATE, Upstream

LAYERS, WIDTH, STRIDE = 13, 768, 320


class HubertShapedStates(Upstream):
    """Random hidden states shaped as HuBERT Base's (13 x 768 at a 320-sample stride), cheap to make."""

    def __init__(self) -> None:
        super().__init__("hubert-shaped", "benchmark")
        self.generator = torch.Generator().manual_seed(0)

    def _encode(self, wavs: list[torch.Tensor]):
        lengths = torch.tensor([max(1, wav.numel() // STRIDE) for wav in wavs])
        frames = int(lengths.max())
        states = [
            torch.randn(len(wavs), 1, WIDTH, generator=self.generator).expand(len(wavs), frames, WIDTH).clone()
            for _ in range(LAYERS)
        ]
        return states, lengths


def throughput(size_mib: int) -> dict[str, float]:
    data = np.random.default_rng(0).integers(0, 255, size_mib * 2**20, dtype=np.uint8).tobytes()
    rates = {}
    for name, digest in [
        ("xxh3_128", xxhash.xxh3_128_hexdigest),
        ("sha256", lambda b: hashlib.sha256(b).hexdigest()),
        ("crc32", zlib.crc32),
    ]:
        started = time.perf_counter()
        digest(data)
        rates[name] = len(data) / (time.perf_counter() - started) / 1e9
    return rates


def build(root: Path, layout: str, count: int, seconds: float) -> tuple[PooledCache, list[Utterance]]:
    audio = root / f"{layout}.wav"
    soundfile.write(audio, np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16), SAMPLE_RATE, subtype="PCM_16")
    utterances = [Utterance(f"{layout}/{index:06d}", audio, 0) for index in range(count)]  # one file, many ids
    key = PooledCacheKey(
        "hubert-shaped",
        "benchmark",
        None,
        layout,
        str(root),
        0.0,
        None,
        "fp16" if layout == "frames" else "fp32",
        layout=layout,
    )
    cache = PooledCache(key, root / "cache")
    cache.fill(utterances, HubertShapedStates, progress=False)
    return cache, utterances


def measure(cache: PooledCache, utterances: list[Utterance], frames: bool) -> tuple[float, float, float, int]:
    """(verification s, size-only index read s, one epoch s, bytes)."""
    integrity._verified.clear()  # as a new process: nothing verified yet
    started = time.perf_counter()
    cache._index()
    first = time.perf_counter() - started
    started = time.perf_counter()
    cache._index()
    later = time.perf_counter() - started
    started = time.perf_counter()
    features = cache.load(utterances)
    batch = 8 if frames else 32
    for start in range(0, len(features), batch):
        indices = list(range(start, min(start + batch, len(features))))
        features.frames(indices) if frames else features.batch(indices)
    epoch = time.perf_counter() - started
    size = sum(path.stat().st_size for path in cache.directory.glob("shards/*.npy"))
    return first - later, later, epoch, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pooled-utterances", type=int, default=20_000)
    parser.add_argument("--frame-utterances", type=int, default=100)
    parser.add_argument("--frame-seconds", type=float, default=10.0)
    parser.add_argument("--throughput-mib", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rates = throughput(args.throughput_mib)
    print(
        f"checksum throughput, {args.throughput_mib} MiB in memory: "
        + ", ".join(f"{name} {rate:.2f} GB/s" for name, rate in rates.items())
    )
    with tempfile.TemporaryDirectory(prefix="cache-integrity-") as folder:
        root = Path(folder)
        for layout, count, seconds, epochs in [
            ("pooled", args.pooled_utterances, 0.1, 125),
            ("frames", args.frame_utterances, args.frame_seconds, 20),
        ]:
            cache, utterances = build(root, layout, count, seconds)
            verify, index, epoch, size = measure(cache, utterances, layout == "frames")
            print(
                f"{layout}: {count} utterances, {size / 1e9:.2f} GB in "
                f"{len(list(cache.directory.glob('shards/*.json')))} shards; "
                f"checksums {verify:.3f} s ({size / verify / 1e9:.1f} GB/s), size checks {index * 1e3:.1f} ms, "
                f"one epoch of reads {epoch:.3f} s"
            )
            print(
                f"  verification / one epoch = {verify / epoch:.1%}; / a unit reading {epochs} epochs = "
                f"{verify / (epoch * epochs):.2%}"
            )


if __name__ == "__main__":
    main()
