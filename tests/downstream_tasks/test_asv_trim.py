"""ASV's silence trim (s3prl sv_voxceleb1/dataset.py): the 2-s rule on the trimmed length, checked against s3prl's own
``SpeakerVerifi_train``; trimmed utterances carry the chain; trimmed and untrimmed features never share a cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

import benchcore.sox_effects as sox_effects
from bench.cache import PooledCacheKey, audio_effects
from bench.config import load_task_config
from bench.runner import TaskRun
from downstream_tasks import get_task
from downstream_tasks.asv import SpeakerVerification
from downstream_tasks.base import Utterance

RATE = 16_000
pytestmark = pytest.mark.skipif(
    not any(Path(d, "sox").exists() for d in os.environ.get("PATH", "").split(os.pathsep)),
    reason="the sox command is not installed (setup.sh installs it)",
)


def _speech(rng: np.random.Generator, seconds: float) -> np.ndarray:
    n = int(seconds * RATE)
    return 0.3 * np.sin(np.pi * np.arange(n) / n) ** 0.5 * rng.standard_normal(n)


def _write(path: Path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.clip(np.round(samples * 32768), -32768, 32767).astype(np.int16), RATE, subtype="PCM_16")


@pytest.fixture
def voxceleb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A VoxCeleb1 layout: two dev speakers with four 3-s videos, plus two 2.5-s files of which one holds 1 s of silence
    (1.5 s after the trim: out of training) and one does not (in); two test speakers; the sox cache in tmp_path."""
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    root = tmp_path / "data" / "VoxCeleb1"
    for speaker in ("id10001", "id10002"):
        for video in ("v1", "v2", "v3", "v4"):
            _write(root / "dev" / "wav" / speaker / video / "00001.wav", _speech(rng, 3.0))
    _write(
        root / "dev" / "wav" / "id10001" / "v1" / "00002.wav",
        np.concatenate([_speech(rng, 0.75), np.zeros(RATE), _speech(rng, 0.75)]),
    )
    _write(root / "dev" / "wav" / "id10002" / "v1" / "00002.wav", _speech(rng, 2.5))
    for speaker in ("id10003", "id10004"):
        for video in ("v1", "v2"):
            _write(root / "test" / "wav" / speaker / video / "00001.wav", _speech(rng, 3.0))
    (root / "voxceleb1_test_v2.txt").write_text(
        "1 id10003/v1/00001.wav id10003/v2/00001.wav\n0 id10003/v1/00001.wav id10004/v1/00001.wav\n"
    )
    return tmp_path / "data"


def _train_and_dev(data) -> set[str]:
    return {u.path.relative_to(u.path.parents[2]).as_posix() for split in ("train", "dev") for u in data.splits[split]}


def test_the_two_second_rule_uses_the_trimmed_length(voxceleb):
    task = SpeakerVerification()
    trimmed = task.load(voxceleb, None, load_task_config("asv", "superb"))
    untrimmed = task.load(voxceleb, None, load_task_config("asv", "superb", ["data.trim_silence=false"]))
    assert "id10001/v1/00002.wav" not in _train_and_dev(trimmed) and "id10002/v1/00002.wav" in _train_and_dev(trimmed)
    assert _train_and_dev(untrimmed) == _train_and_dev(trimmed) | {"id10001/v1/00002.wav"}
    chain = trimmed.splits["test"][0].effects
    assert chain is not None and chain.signature == "channels 1 rate 16000 gain -3.0 silence 1 0.1 0.1% -1 0.1 0.1%"
    assert all(u.effects == chain for u in trimmed.all_utterances())  # train, dev and test all go through it
    assert all(u.effects is None for u in untrimmed.all_utterances())
    utterance = trimmed.splits["test"][0]
    assert torch.equal(utterance.audio(), torch.from_numpy(chain.samples(utterance.path)))


def test_a_second_load_reads_only_the_cache(voxceleb, monkeypatch):
    config = load_task_config("asv", "superb")
    first = SpeakerVerification().load(voxceleb, None, config)

    def no_sox(*args, **kwargs):
        raise AssertionError(f"sox ran again: {args}")

    monkeypatch.setattr(sox_effects.subprocess, "run", no_sox)
    again = SpeakerVerification().load(voxceleb, None, config)
    assert again.splits == first.splits and again.trials == first.trials


def test_training_set_is_s3prls_speaker_verifi_train(voxceleb, tmp_path, monkeypatch):
    """s3prl's own dataset class on the same folder, its ``apply_effects_file`` (torchaudio's libsox, absent from our
    torchaudio) stood in for by the sox command on its own ``EFFECTS``, keeps the same files as our train + dev."""
    from upstream.s3prl_compat import import_s3prl_nn

    import_s3prl_nn()  # the torchaudio shims s3prl's imports need
    monkeypatch.setitem(sys.modules, "sox", types.ModuleType("sox"))  # pysox: imported by dataset.py, never used there
    sys.modules["sox"].Transformer = None
    import s3prl.downstream.sv_voxceleb1.dataset as s3prl_dataset

    def apply_effects_file(path, effects):
        words = [word for effect in effects for word in effect]
        out = subprocess.run(
            ["sox", "-D", str(path), "-t", "raw", "-e", "floating-point", "-b", "32", "-L", "-", *words],
            check=True,
            capture_output=True,
        ).stdout
        return torch.from_numpy(np.frombuffer(out, dtype="<f4").copy())[None], RATE

    monkeypatch.setattr(s3prl_dataset, "apply_effects_file", apply_effects_file)
    (tmp_path / "s3prl").mkdir()
    monkeypatch.setattr(s3prl_dataset, "__file__", str(tmp_path / "s3prl" / "dataset.py"))  # its .wav_lengths cache
    monkeypatch.setattr(s3prl_dataset, "Parallel", lambda n_jobs: lambda calls: [f(*a, **k) for f, a, k in calls])
    train_wav = voxceleb / "VoxCeleb1" / "dev" / "wav"
    theirs = s3prl_dataset.SpeakerVerifi_train({"min_sec": 32000}, ["Voxceleb1"], [train_wav], None)
    ours = SpeakerVerification().load(voxceleb, None, load_task_config("asv", "superb"))
    assert {Path(path).relative_to(train_wav).as_posix() for path in theirs.dataset} == _train_and_dev(ours)
    assert theirs.all_speakers == ours.label_names[0]
    effects = ours.splits["train"][0].effects.effects
    assert [list(effect) for effect in effects] == s3prl_dataset.EFFECTS


def test_trimmed_and_untrimmed_features_never_share_a_cache(voxceleb, tmp_path):
    from upstream.registry import load_upstream

    upstream = load_upstream("fbank_no_cmvn")
    keys = {}
    for trim in ("true", "false"):
        run = TaskRun.prepare(
            upstream,
            get_task("asv"),
            voxceleb,
            tmp_path / f"runs-{trim}",
            "mini",
            [f"data.trim_silence={trim}"],
            tmp_path / "features",
            False,
        )
        data = run.prepared.data[None]
        keys[trim] = (run.cache_for(data), run.prepared.loader_gain_db(data))
    (trimmed, trimmed_gain), (plain, plain_gain) = keys["true"], keys["false"]
    assert trimmed.directory != plain.directory and trimmed.key.digest() != plain.key.digest()
    assert trimmed.key.audio_effects == "channels 1 rate 16000 gain -3.0 silence 1 0.1 0.1% -1 0.1 0.1%"
    assert plain.key.audio_effects is None
    # the chain applied data.gain_db before the trim: the loaders must not attenuate a second time
    assert (trimmed_gain, trimmed.key.gain_db, plain_gain, plain.key.gain_db) == (0.0, 0.0, -3.0, -3.0)
    # the run's cache root (`bench run --cache-dir`) holds the trimmed audio too, not $BENCH_CACHE_DIR
    stored = list((tmp_path / "features" / "sox").glob("*/*/*.npy"))
    assert stored and not (tmp_path / "cache" / "sox").exists()
    from bench.cache import list_caches

    (listed,) = [entry for entry in list_caches(tmp_path / "features") if entry["kind"] == "sox"]  # `bench cache ls`
    assert listed["utterances"] == len(stored) and listed["upstream_name"].startswith(
        "sox channels 1 rate 16000 gain -3.0"
    )


def test_a_key_without_effects_keeps_its_digest_and_mixed_audio_is_refused():
    fields = ("up", "src", None, "voxceleb1", "/data", -3.0, None, "fp16")
    plain, trimmed = PooledCacheKey(*fields), PooledCacheKey(*fields, audio_effects="gain -3.0 silence 1 0.1 0.1%")
    assert plain.digest() != trimmed.digest()
    legacy = {k: v for k, v in dataclasses.asdict(plain).items() if k != "audio_effects"}  # a key from before the field
    assert plain.digest() == hashlib.sha256(json.dumps(legacy, sort_keys=True).encode()).hexdigest()[:16]
    chain = sox_effects.s3prl_sv_chain(-3.0, Path("/tmp/unused"))
    mixed = [Utterance("a", Path("a.wav"), ()), Utterance("b", Path("b.wav"), (), effects=chain)]
    assert audio_effects(mixed[1:]) == chain.signature and audio_effects(mixed[:1]) is None
    with pytest.raises(ValueError, match="mix"):
        audio_effects(mixed)
