"""The feature cache: each utterance goes through the encoder once, for every run, seed, sweep point and task.

For the utterance-level tasks (KS, SID, ER, IC) the head is linear up to mean pooling, so what a run needs
from an utterance is the time-mean of each hidden state: an L x D matrix. The recipes' random crops (SID's 8 s
training crops, KS's 1 s `_silence_` crops) are encoded alone in the loop (``data.crop_mode=waveform``, see
bench.crops) through the same arithmetic (:func:`pooled_row`), and what is only ever cropped is not cached. The
opt-in approximation ``data.crop_mode=block_mean`` stores means of fixed time blocks with their frame counts instead,
and averages a random block-aligned window of them: sum(mean_b * count_b) / sum(count_b).

Frame-level tasks (PR, ASR, SF) use the same store with one block per frame (``layout="frames"``, usually fp16
and only the selected layers), memory-mapped when read.

Layout: ``<cache-root>/<layout>/<key>/`` with ``meta.json`` (what the key stands for) and shards written
atomically, each as ``<id>.means.npy`` (blocks, L, D), ``<id>.counts.npy`` (blocks,) and ``<id>.json``
(utterance ids, file sizes, block offsets), the JSON last: a shard without its JSON was never committed and is ignored,
so a killed extraction resumes with the utterances it had not finished. The JSON records each array file's byte size and
xxh3_128 checksum (:mod:`benchcore.integrity`): sizes are checked whenever the index is read, checksums the first time a
process reads a shard, and a damaged shard is moved aside to ``damaged/`` with one warning line, its utterances then
missing, so the same run encodes them again (:meth:`PooledCache._checked_shard`). Fills of one cache by several
processes are ordered by file locks under ``locks/`` (see :meth:`PooledCache._fill_lock`): an utterance is encoded once
and stored in one shard (only two suites that split the cache different ways can encode a batch twice, and it is still
committed once).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bench.encode import encode
from bench.locks import file_lock
from benchcore.atomic import write_json_atomic, write_npy_atomic
from benchcore.cache_root import default_cache_root
from benchcore.errors import BenchError
from benchcore.integrity import check_file, file_facts, warn
from downstream_tasks.base import Utterance
from upstream.base import SAMPLE_RATE, Upstream

CACHE_FORMAT_VERSION = 1
CACHE_DTYPES = {"fp32": np.float32, "fp16": np.float16}


@dataclass(frozen=True)
class PooledCacheKey:
    """Everything that changes the cached numbers. Two runs with equal keys share the cache."""

    upstream_name: str
    upstream_source: str
    weights_hash: str | None
    corpus: str
    corpus_root: str
    gain_db: float
    block_seconds: float | None
    dtype: str
    layout: str = "pooled"  # "pooled": block means; "frames": every frame (a block of one frame)
    layers: tuple[int, ...] | None = None  # hidden states kept (None: all)
    format_version: int = CACHE_FORMAT_VERSION
    #: the sox chain the audio went through (:func:`audio_effects`), None for the files as they are
    audio_effects: str | None = None

    def digest(self) -> str:
        fields = asdict(self)
        if fields["audio_effects"] is None:  # untrimmed audio keeps the digests its caches had before the field existed
            del fields["audio_effects"]
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def audio_effects(utterances: Sequence[Utterance]) -> str | None:
    """The sox chain all ``utterances`` go through (``Utterance.effects``), or None when they are read as they are.

    It enters the cache key, so features of trimmed and untrimmed audio never share a cache."""
    signatures = {u.effects.signature if u.effects is not None else None for u in utterances}
    if len(signatures) > 1:
        raise ValueError(
            f"one feature cache holds audio of one kind; these utterances mix {sorted(map(str, signatures))}"
        )
    return next(iter(signatures), None)


def loader_gain_db(gain_db: float, effects: str | None) -> float:
    """The gain the feature loaders apply to ``Utterance.audio()``: ``data.gain_db``, except for audio that came out of
    a sox chain, which applied ``data.gain_db`` itself before trimming (sox's order) and must not be attenuated
    twice."""
    return 0.0 if effects is not None else gain_db


def apply_gain(waveform: torch.Tensor, gain_db: float) -> torch.Tensor:
    """sox's `gain` effect (s3prl's KS applies -3 dB): a plain scale of the waveform."""
    return waveform if gain_db == 0 else waveform * (10.0 ** (gain_db / 20.0))


def encoder_input(utterance: Utterance, gain_db: float) -> torch.Tensor:
    """The waveform the encoder sees for an utterance: the cache fill, the encoder in the loop and the random crops
    all read audio through here, so a crop is cut from exactly the audio the cache encodes."""
    return apply_gain(utterance.audio(), gain_db)


def block_means(hidden_states: torch.Tensor, block_frames: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(L, T, D) valid frames -> per-block means (blocks, L, D) and frame counts (blocks,)."""
    num_frames = hidden_states.shape[1]
    if block_frames == 1:  # a frame cache: every frame is its own block
        return hidden_states.transpose(0, 1).float().numpy(), np.ones(num_frames, dtype=np.int64)
    size = num_frames if block_frames is None else block_frames
    means, counts = [], []
    for start in range(0, max(num_frames, 1), max(size, 1)):
        block = hidden_states[:, start : start + size]
        means.append(block.double().mean(dim=1).float().numpy())
        counts.append(block.shape[1])
    return np.stack(means), np.asarray(counts, dtype=np.int64)


def pooled_mean(means: np.ndarray, counts: np.ndarray) -> torch.Tensor:
    """(blocks, L, D) block means and their frame counts -> the (L, D) float32 frame-weighted mean: the row a pooled
    head reads, over the whole utterance or over a block-aligned crop (a slice of the blocks)."""
    weights = torch.from_numpy(np.asarray(counts, dtype=np.float32))
    block = torch.from_numpy(np.asarray(means, dtype=np.float32))
    return torch.einsum("b,bld->ld", weights, block) / weights.sum()


def pooled_row(hidden_states: torch.Tensor, dtype: str) -> torch.Tensor:
    """(L, T, D) valid frames -> (L, D): the per-layer time-mean exactly as a pooled cache without blocks stores and
    reads it (one block, stored at ``dtype``). A crop encoded in the loop goes through here, so a crop that is the
    whole utterance gives the cached row bit for bit."""
    means, counts = block_means(hidden_states, None)
    return pooled_mean(means.astype(CACHE_DTYPES[dtype]), counts)


def frame_rows(hidden_states: torch.Tensor, dtype: str) -> torch.Tensor:
    """(L, T, D) valid frames -> (L, T, D) float32, rounded through ``dtype`` as a frame cache stores them."""
    frames, _ = block_means(hidden_states, 1)
    return torch.from_numpy(frames.astype(CACHE_DTYPES[dtype]).astype(np.float32)).permute(1, 0, 2)


def crop_block_count(crop_seconds: float | None, block_seconds: float | None) -> int | None:
    """How many whole blocks a random crop of `crop_seconds` spans (None: no crop). The cache and the
    encoder-in-the-loop source must agree on it, or training from them would differ."""
    if not crop_seconds or not block_seconds:
        return None
    return max(1, math.floor(crop_seconds / block_seconds + 1e-9))


def crop_block_range(num_blocks: int, crop_blocks: int | None, generator: torch.Generator) -> tuple[int, int]:
    """A random block-aligned window of `crop_blocks` blocks (the whole utterance if it is shorter)."""
    if crop_blocks is None or num_blocks <= crop_blocks:
        return 0, num_blocks
    start = int(torch.randint(0, num_blocks - crop_blocks + 1, (1,), generator=generator))
    return start, start + crop_blocks


class CachedFeatures:
    """The cached blocks of a list of utterances, read lazily from memory-mapped shards."""

    def __init__(self, views: list[tuple[np.ndarray, np.ndarray]], crop_blocks: list[int | None]) -> None:
        self.views = views  # per utterance: (block means (blocks, L, D), frame counts (blocks,))
        self.crop_blocks = crop_blocks

    def __len__(self) -> int:
        return len(self.views)

    def batch(self, indices: Sequence[int], generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, L, D): each utterance's per-layer mean over a random crop (training) or all of it."""
        rows = []
        for index in indices:
            means, counts = self.views[index]
            crop = self.crop_blocks[index] if generator is not None else None
            start, stop = crop_block_range(len(counts), crop, generator)
            rows.append(pooled_mean(means[start:stop], counts[start:stop]))
        return torch.stack(rows)

    def frames(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame caches: the hidden states stacked, ``(L, B, T, D)`` float32 zero-padded, and lengths ``(B,)``; indexing
        the first axis gives each layer's ``(B, T, D)`` as the encoder returns them. Each utterance's memory-mapped
        ``(T, L, D)`` frames are converted and copied once, straight into place (no per-layer copies: at a batch of 16
        HuBERT-Base utterances this array is hundreds of MB, and copying it several times was most of a training
        step)."""
        views = [self.views[index][0] for index in indices]  # (T, L, D) each
        lengths = torch.tensor([view.shape[0] for view in views])
        num_layers, dim = views[0].shape[1:]
        stacked = torch.empty((num_layers, len(views), int(lengths.max()), dim), dtype=torch.float32)
        for row, view in enumerate(views):  # torch's strided converting copy: 3-4x numpy's here
            stacked[:, row, : view.shape[0]] = torch.from_numpy(view).permute(1, 0, 2)
            stacked[:, row, view.shape[0] :] = 0.0  # the padding (writing each page once: no zero-fill first)
        return stacked, lengths


def worker_part(
    utterances: Sequence[Utterance], worker_index: int, num_workers: int, batch_size: int = 8
) -> list[Utterance]:
    """Worker `worker_index`'s share of an extraction split `num_workers` ways (`bench suite`).

    The utterances are length-sorted and cut into encoder batches exactly as one :meth:`PooledCache.fill` call
    batches them, and worker i takes batches i, i+n, i+2n, ...: every utterance is encoded in the same padded
    batch whatever the number of workers (so the cached numbers are identical), and the workers get similar
    amounts of audio. The split depends only on the list, not on what is already cached.
    """
    if not 0 <= worker_index < num_workers:
        raise ValueError(f"worker_index {worker_index} is not in [0, {num_workers})")
    ordered = sorted(utterances, key=lambda u: u.path.stat().st_size, reverse=True)
    batches = [ordered[start : start + batch_size] for start in range(0, len(ordered), batch_size)]
    return [utterance for batch in batches[worker_index::num_workers] for utterance in batch]


ARRAY_SUFFIXES = (".means.npy", ".counts.npy")


class PooledCache:
    def __init__(self, key: PooledCacheKey, root: Path | None = None, repairs: list[dict] | None = None) -> None:
        self.key = key
        self.root = root or default_cache_root()
        self.directory = self.root / key.layout / key.digest()
        #: what this object's fills encoded: seconds of audio, and wall seconds spent encoding them (the extraction
        #: throughput a result record states)
        self.encoded_audio_seconds = 0.0
        self.encoding_seconds = 0.0
        #: the damaged shards this object moved aside (a run passes its own list, and its record lists them)
        self.repairs: list[dict] = [] if repairs is None else repairs

    # ---- index ----------------------------------------------------------------------------------
    def _shard_jsons(self) -> list[Path]:
        return sorted(self.directory.glob("shards/*.json"))

    def _index(self, shard_jsons: Sequence[Path] | None = None) -> dict[str, tuple[str, int, int, int]]:
        """uid -> (shard id, first block, number of blocks, audio file size), from all shards or the given ones."""
        index: dict[str, tuple[str, int, int, int]] = {}
        for shard_json in self._shard_jsons() if shard_jsons is None else shard_jsons:
            shard = self._checked_shard(shard_json)
            if shard is None:
                continue
            for uid, size, first, count in zip(
                shard["uids"], shard["sizes"], shard["first_block"], shard["num_blocks"]
            ):
                index[uid] = (shard_json.stem, first, count, size)
        return index

    def _checked_shard(self, shard_json: Path) -> dict | None:
        """The shard's index when its files are intact, else None after moving it aside (its utterances are then
        missing, and the next fill encodes them again). None too when another process moved it aside first."""
        try:
            shard, damage = read_shard(shard_json)
        except FileNotFoundError:
            return None
        if damage is None:
            return shard
        self._move_aside(shard_json, damage, len(shard.get("uids", [])))
        return None

    def _move_aside(self, shard_json: Path, damage: str, num_utterances: int) -> None:
        destination = move_shard_aside(shard_json, damage, self.root)
        if destination is None:
            return
        warn(
            f"feature cache shard {shard_json} is damaged ({damage}); moved aside to {destination}; its "
            f"{num_utterances} utterances are encoded again"
        )
        self.repairs.append(
            {
                "shard": shard_json.stem,
                "cache": self.directory.name,
                "damage": damage,
                "utterances": num_utterances,
                "moved_to": str(destination),
            }
        )

    def missing(self, utterances: Sequence[Utterance]) -> list[Utterance]:
        return _not_in(self._index(), utterances)

    # ---- filling --------------------------------------------------------------------------------
    def fill(
        self,
        utterances: Sequence[Utterance],
        get_upstream: Callable[[], Upstream],
        batch_size: int = 8,
        shard_size: int | None = None,
        progress: bool = True,
        worker_index: int = 0,
        num_workers: int = 1,
    ) -> int:
        """Encode every utterance not yet cached; return how many were encoded. Loads the upstream only if needed.

        Each shard (`shard_size` utterances, default $BENCH_CACHE_SHARD_UTTERANCES or 256) is committed on its own,
        so a killed extraction loses at most one shard of work. With `num_workers` > 1 this call encodes only
        worker `worker_index`'s part (:func:`worker_part`); parallel workers write disjoint shards.

        Concurrent fills of one cache (see :meth:`_fill_lock`) never encode an utterance twice: what is missing is
        computed again once the lock is held, so a process that waited for another finds only what is still missing.
        """
        shard_size = shard_size or int(os.environ.get("BENCH_CACHE_SHARD_UTTERANCES", 256))
        if num_workers > 1:
            utterances = worker_part(utterances, worker_index, num_workers, batch_size)
        if not self.missing(utterances):  # a complete cache is only read: no lock, so it may be read-only
            return 0
        with self._fill_lock(worker_index, num_workers, progress):
            listed = self._shard_jsons()
            todo = _not_in(self._index(listed), utterances)
            if not todo:
                return 0
            return self._encode(todo, get_upstream, batch_size, shard_size, progress, {path.name for path in listed})

    @contextlib.contextmanager
    def _fill_lock(self, worker_index: int, num_workers: int, progress: bool) -> Iterator[None]:
        """A whole fill (`bench run`) locks the cache exclusively. The workers of a sharded fill (`bench suite`) hold
        it shared, so they run in parallel but never beside a whole fill, and each holds its own part exclusively, so
        a retried or second suite's worker of the same part waits instead of encoding it twice."""
        locks = self.directory / "locks"
        note = f"waiting for another process filling the feature cache {self.directory}" if progress else None
        with contextlib.ExitStack() as stack:
            stack.enter_context(file_lock(locks / "fill.lock", shared=num_workers > 1, waiting_note=note))
            if num_workers > 1:
                stack.enter_context(
                    file_lock(locks / f"fill-{worker_index + 1}of{num_workers}.lock", waiting_note=note)
                )
            yield

    def _encode(
        self,
        todo: list[Utterance],
        get_upstream: Callable[[], Upstream],
        batch_size: int,
        shard_size: int,
        progress: bool,
        known_shards: set[str],
    ) -> int:
        upstream = get_upstream()
        info = upstream.info()
        if info.weights_hash != self.key.weights_hash:
            raise RuntimeError("the upstream's weights do not match the cache key")
        write_json_atomic(
            self.directory / "meta.json",
            {
                **asdict(self.key),
                "num_hidden_states": info.num_hidden_states,
                "hidden_size": info.hidden_size,
                "stride_samples": info.stride_samples,
            },
        )
        stride = info.stride_samples
        if self.key.layout == "frames":
            block_frames = 1
        else:
            block_frames = (
                None if self.key.block_seconds is None else max(1, round(self.key.block_seconds * SAMPLE_RATE / stride))
            )
        layers = list(self.key.layers) if self.key.layers is not None else None
        dtype = CACHE_DTYPES[self.key.dtype]
        todo = sorted(todo, key=lambda u: u.path.stat().st_size, reverse=True)  # length-sorted batches
        bar = tqdm(
            total=len(todo),
            desc=f"encode {self.key.corpus} with {self.key.upstream_name}",
            unit="utt",
            disable=not progress,
        )
        started = time.perf_counter()
        for shard_start in range(0, len(todo), shard_size):
            shard = todo[shard_start : shard_start + shard_size]
            means, counts, first_block, num_blocks = [], [], [], []
            total = 0
            for batch_start in range(0, len(shard), batch_size):
                batch = shard[batch_start : batch_start + batch_size]
                waveforms = [encoder_input(u, self.key.gain_db) for u in batch]
                self.encoded_audio_seconds += sum(waveform.numel() for waveform in waveforms) / SAMPLE_RATE
                output = encode(upstream, waveforms, [str(u.path) for u in batch], [u.segment is None for u in batch])
                stacked = torch.stack(output["hidden_states"]).cpu()
                if layers is not None:
                    stacked = stacked[layers]
                for row, _ in enumerate(batch):
                    frames = int(output["hidden_states_lengths"][row])
                    utterance_means, utterance_counts = block_means(stacked[:, row, :frames], block_frames)
                    means.append(utterance_means.astype(dtype))
                    counts.append(utterance_counts)
                    first_block.append(total)
                    num_blocks.append(len(utterance_counts))
                    total += len(utterance_counts)
                bar.update(len(batch))
            shard_id = f"{time.time_ns()}-{os.getpid()}"
            files = {}
            for suffix, arrays in zip(ARRAY_SUFFIXES, (means, counts)):
                path = write_npy_atomic(self.directory / "shards" / f"{shard_id}{suffix}", np.concatenate(arrays))
                files[suffix.lstrip(".")] = file_facts(path)
            self._commit_shard(shard_id, shard, first_block, num_blocks, known_shards, files)
        bar.close()
        self.encoding_seconds += time.perf_counter() - started
        return len(todo)

    def _commit_shard(
        self,
        shard_id: str,
        shard: list[Utterance],
        first_block: list[int],
        num_blocks: list[int],
        known_shards: set[str],
        files: dict[str, dict],
    ) -> None:
        """Write the shard's JSON (which commits it), leaving out utterances another process committed since
        `known_shards` were listed: the locks of :meth:`_fill_lock` already prevent that, except between sharded
        fills split different ways, and this keeps every utterance in one shard even then. Blocks left out stay in
        the shard's arrays, unreferenced."""
        base = self.directory / "shards" / shard_id
        with file_lock(self.directory / "locks" / "commit.lock"):
            fresh = [path for path in self._shard_jsons() if path.name not in known_shards]
            still_missing = {u.uid for u in _not_in(self._index(fresh), shard)}
            known_shards.update(path.name for path in fresh)
            keep = [row for row, utterance in enumerate(shard) if utterance.uid in still_missing]
            if not keep:  # all of it was committed meanwhile: the arrays are an uncommitted leftover
                for suffix in ARRAY_SUFFIXES:
                    Path(f"{base}{suffix}").unlink(missing_ok=True)
                return
            write_json_atomic(
                f"{base}.json",
                {
                    "uids": [shard[row].uid for row in keep],
                    "sizes": [shard[row].path.stat().st_size for row in keep],
                    "first_block": [first_block[row] for row in keep],
                    "num_blocks": [num_blocks[row] for row in keep],
                    "files": files,
                },
            )
            known_shards.add(f"{shard_id}.json")

    # ---- reading --------------------------------------------------------------------------------
    def load(self, utterances: Sequence[Utterance]) -> CachedFeatures:
        index = self._index()
        absent = [u.uid for u in utterances if u.uid not in index]
        if absent and self.repairs:  # a shard found damaged here, after this run's fill (a `bench suite` unit job)
            raise BenchError(
                f"{len(absent)} utterances of a damaged feature-cache shard were moved aside (first: "
                f"{absent[0]}); rerun the same command to encode them again"
            )
        if absent:
            raise RuntimeError(f"{len(absent)} utterances are not in the cache (first: {absent[0]}); fill it first")
        block_seconds = self.key.block_seconds
        shards: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        views, crop_blocks = [], []
        for utterance in utterances:
            shard_id, first, count, _ = index[utterance.uid]
            if shard_id not in shards:
                base = self.directory / "shards" / shard_id
                # copy-on-write maps: writable arrays to torch (no "not writable" warning), and nothing is ever written
                shards[shard_id] = (
                    np.load(f"{base}.means.npy", mmap_mode="c"),
                    np.load(f"{base}.counts.npy", mmap_mode="c"),
                )
            shard_means, shard_counts = shards[shard_id]
            views.append((shard_means[first : first + count], shard_counts[first : first + count]))
            pooled = self.key.layout == "pooled"
            crop_blocks.append(crop_block_count(utterance.random_crop_seconds, block_seconds) if pooled else None)
        return CachedFeatures(views, crop_blocks)


def read_shard(shard_json: Path, full: bool = False) -> tuple[dict, str | None]:
    """(a committed shard's index, what is wrong with it or None: :func:`shard_damage`). An index that is not readable
    JSON is damage too ({} then); a shard JSON that is gone (moved aside meanwhile) raises FileNotFoundError."""
    try:
        shard = json.loads(shard_json.read_text())
        return shard, shard_damage(shard_json, shard, full)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, TypeError, KeyError) as error:
        return {}, f"its index is unreadable ({type(error).__name__})"


def shard_damage(shard_json: Path, shard: dict, full: bool = False) -> str | None:
    """What is wrong with a committed shard's array files, or None. Shards record each file's size and checksum
    (:func:`benchcore.integrity.check_file`: the size always, the checksum once per process or every time with
    ``full``); shards written before checksums existed are only checked for being cut short (their .npy header against
    the size)."""
    base = shard_json.with_suffix("")
    files = shard.get("files")
    if files is None:
        for suffix in ARRAY_SUFFIXES:
            try:
                np.load(f"{base}{suffix}", mmap_mode="r")
            except FileNotFoundError:
                return f"{base.name}{suffix} is missing"
            except (ValueError, OSError, EOFError):
                return f"{base.name}{suffix} is cut short"
        return None
    for suffix in ARRAY_SUFFIXES:
        damage = check_file(f"{base}{suffix}", files[suffix.lstrip(".")], full=full)
        if damage is not None:
            return damage
    return None


def move_shard_aside(shard_json: Path, damage: str, root: Path) -> Path | None:
    """Uncommit a damaged shard (its JSON moves first, atomically) and keep its files in ``<cache>/damaged/<shard>/``
    for inspection; return where they went, or None when another process moved it first."""
    destination = shard_json.parent.parent / "damaged" / shard_json.stem
    try:
        destination.mkdir(parents=True, exist_ok=True)
        shard_json.rename(destination / shard_json.name)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise BenchError(
            f"feature cache shard {shard_json} is damaged ({damage}) and cannot be moved aside "
            f"({error.strerror}); run `bench cache verify --repair --cache-dir {root}` with write access, "
            "or give another --cache-dir"
        ) from None
    for suffix in ARRAY_SUFFIXES:
        with contextlib.suppress(FileNotFoundError):
            shard_json.with_name(shard_json.stem + suffix).rename(destination / (shard_json.stem + suffix))
    return destination


def verify_caches(root: Path | None = None, repair: bool = False) -> list[dict]:
    """Check every shard of every feature cache under ``root`` in full (sizes and checksums, whatever this process read
    before); with ``repair``, move the damaged ones aside (the next run encodes their utterances again). One entry per
    cache: its key, kind, shard counts, and each damaged shard with what is wrong."""
    root = root or default_cache_root()
    report = []
    for directory in sorted(root.glob("*/*")):
        shard_jsons = sorted(directory.glob("shards/*.json"))
        if not shard_jsons:
            continue
        entry = {
            "key": directory.name,
            "kind": directory.parent.name,
            "path": str(directory),
            "shards": len(shard_jsons),
            "without_checksums": 0,
            "damaged": [],
        }
        for shard_json in shard_jsons:
            try:
                shard, damage = read_shard(shard_json, full=True)
            except FileNotFoundError as error:  # moved aside by a run meanwhile: reported, as any unreadable index
                shard, damage = {}, f"its index is unreadable ({type(error).__name__})"
            entry["without_checksums"] += bool(shard) and "files" not in shard
            if damage is None:
                continue
            moved = move_shard_aside(shard_json, damage, root) if repair else None
            entry["damaged"].append(
                {
                    "shard": str(shard_json),
                    "damage": damage,
                    "utterances": len(shard.get("uids", [])),
                    "moved_to": None if moved is None else str(moved),
                }
            )
        report.append(entry)
    return report


def _not_in(index: dict[str, tuple[str, int, int, int]], utterances: Sequence[Utterance]) -> list[Utterance]:
    """The utterances the index lacks, or holds for an audio file of another size."""
    return [u for u in utterances if u.uid not in index or index[u.uid][3] != u.path.stat().st_size]


def list_caches(root: Path | None = None) -> list[dict]:
    """One entry per cache directory: its key, number of utterances and size on disk."""
    entries = []
    for directory in sorted((root or default_cache_root()).glob("*/*")):
        if not directory.is_dir():  # cost/<upstream>.json (upstream.cost): a counted fact, not a cache
            continue
        meta_path = directory / "meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        utterances = sum(len(json.loads(p.read_text())["uids"]) for p in directory.glob("shards/*.json"))
        if (directory / "chain.json").exists():  # a sox chain's per-file audio (benchcore.sox_effects): one file each
            chain = json.loads((directory / "chain.json").read_text())
            meta = {
                "upstream_name": "sox " + " ".join(" ".join(effect) for effect in chain.get("effects", [])),
                "corpus": "audio files",
            }
            utterances = sum(1 for _ in directory.glob("*/*.npy"))
        size = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
        entries.append(
            {
                "key": directory.name,
                "kind": directory.parent.name,
                "path": str(directory),
                "utterances": utterances,
                "bytes": size,
                **{k: meta.get(k) for k in ("upstream_name", "corpus", "block_seconds", "dtype")},
            }
        )
    return entries


def remove_cache(key: str, root: Path | None = None) -> Path:
    matches = [d for d in (root or default_cache_root()).glob(f"*/{key}") if d.is_dir()]
    if not matches:
        raise FileNotFoundError(key)
    for directory in matches:
        shutil.rmtree(directory)
    return matches[0]
