"""The published loaders (s3prl's corpus parsers, torchaudio's datasets) read the tiny corpus as is.

Only file listing and label parsing run here (no audio decoding: torchaudio's decoders need
torchcodec). s3prl's corpus package imports ``librosa.util.find_files`` at import time; librosa is
not a harness dependency, so a stand-in with the same behaviour is installed when it is missing.
"""

from __future__ import annotations

import os
import sys
import types
from collections import Counter
from pathlib import Path

import pytest
from mini_helpers import SNIPS_SPEAKERS, tiny_corpus


@pytest.fixture(scope="module")
def root() -> Path:
    return tiny_corpus()


@pytest.fixture(scope="module")
def corpus_module():
    pytest.importorskip("s3prl")
    pytest.importorskip("joblib")
    stubbed = []
    try:
        import librosa  # noqa: F401
    except ImportError:

        def find_files(directory, ext=None, recurse=True, case_sensitive=False, limit=None, offset=0):
            exts = (
                {"aac", "au", "flac", "m4a", "mp3", "ogg", "wav"}
                if ext is None
                else ({ext} if isinstance(ext, str) else set(ext))
            )
            found = [
                os.path.join(d, f)
                for d, _, files in os.walk(directory)
                for f in files
                if f.rsplit(".", 1)[-1].lower() in exts
            ]
            return sorted(found)

        util = types.ModuleType("librosa.util")
        util.find_files = find_files
        stub = types.ModuleType("librosa")
        stub.util = util
        sys.modules["librosa"], sys.modules["librosa.util"] = stub, util
        stubbed = ["librosa", "librosa.util"]
    import s3prl.dataio.corpus as corpus

    yield corpus
    for name in stubbed:  # leave no fake librosa behind for other tests
        sys.modules.pop(name, None)


def test_s3prl_librispeech(root: Path, corpus_module) -> None:
    ls = corpus_module.LibriSpeech(str(root / "LibriSpeech"), n_jobs=1)
    train, valid, test = ls.data_split_ids
    assert train and valid and test
    item = ls.all_data[train[0]]
    assert item["transcription"] and item["gender"] in {"M", "F"}


def test_s3prl_speech_commands(root: Path, corpus_module) -> None:
    sc = corpus_module.SpeechCommandsV1(
        str(root / "speech_commands_v0.01"), str(root / "speech_commands_test_set_v0.01"), n_jobs=1
    )
    train, valid, test = sc.data_split_ids
    labels = {
        split: Counter(sc.all_data[i]["class_name"] for i in ids)
        for split, ids in (("train", train), ("valid", valid), ("test", test))
    }
    assert len(labels["train"]) == len(labels["valid"]) == len(labels["test"]) == 12


def test_s3prl_quesst14(root: Path, corpus_module) -> None:
    q = corpus_module.Quesst14(str(root / "quesst14Database"))
    assert q.n_dev_queries > 0 and q.n_eval_queries > 0
    assert all(Path(p).is_file() for p in q.doc_paths + q.valid_queries + q.test_queries)


def test_s3prl_voxceleb1_sid(root: Path, corpus_module) -> None:
    # cache_root holds iden_split.txt, so s3prl uses ours instead of downloading the real one.
    vox = corpus_module.VoxCeleb1SID(str(root / "VoxCeleb1"), n_jobs=1, cache_root=root / "VoxCeleb1")
    train, valid, test = vox.data_split_ids
    assert train and valid and test
    assert {vox.all_data[i]["label"] for i in test} <= {vox.all_data[i]["label"] for i in train}


def test_s3prl_iemocap(root: Path, corpus_module) -> None:
    iemocap = corpus_module.IEMOCAP(str(root / "IEMOCAP_full_release"), n_jobs=1)
    emotions = Counter(v["emotion"] for v in iemocap.all_data.values())
    assert {"neu", "hap", "exc", "ang", "sad"} <= set(emotions)
    assert all(iemocap.get_whole_session(k) for k in range(1, 6))


def test_s3prl_snips(root: Path, corpus_module) -> None:
    snips = corpus_module.SNIPS(
        str(root / "SNIPS"), SNIPS_SPEAKERS["train"], SNIPS_SPEAKERS["valid"], SNIPS_SPEAKERS["test"]
    )
    assert all(snips.data_split_ids)
    item = next(iter(snips.all_data.values()))
    assert len(item["transcription"].split()) == len(item["iob"].split())


def test_torchaudio_datasets(root: Path) -> None:
    datasets = pytest.importorskip("torchaudio.datasets")
    assert len(datasets.LIBRISPEECH(root, url="dev-clean", folder_in_archive="LibriSpeech")) > 0
    assert (
        len(datasets.SPEECHCOMMANDS(root, url="speech_commands_v0.01", folder_in_archive="", subset="validation")) > 0
    )
    docs = datasets.QUESST14(root, subset="docs")
    assert len(docs) > 0 and docs.get_metadata(0)[1] == 8000
    assert len(datasets.QUESST14(root, subset="dev")) > 0
    assert len(datasets.FluentSpeechCommands(root, subset="test")) > 0
    snips = datasets.Snips(root, subset="valid", speakers=SNIPS_SPEAKERS["valid"], audio_format="wav")
    assert len(snips) > 0 and snips.get_metadata(0)[-1]
