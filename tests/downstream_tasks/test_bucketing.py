"""s3prl's length bucketing: ASR's fixed buckets equal s3prl's own `SequenceDataset`, PR/SF's windows follow
`ctc/corpus/*.py`, and the trainer draws every bucket once per epoch."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from bench.config import load_task_config
from bench.trainer import SampleOrder
from downstream_tasks import get_task
from downstream_tasks.bucketing import fixed_length_buckets, num_samples, sliding_label_buckets


def test_asr_buckets_equal_s3prl_sequence_dataset(mini_tiny, tmp_path):
    """Same files, same lengths: our buckets are s3prl 0.4.18's `self.X`, file for file."""
    from upstream.s3prl_compat import import_s3prl_nn

    import_s3prl_nn()  # the torchaudio shims s3prl needs
    from s3prl.downstream.asr.dataset import SequenceDataset
    from s3prl.downstream.asr.dictionary import Dictionary

    task = get_task("asr")
    config = load_task_config("asr", "mini")
    utterances = task.load(mini_tiny, None, config).splits["train"]
    libri = mini_tiny / "LibriSpeech"
    lengths = [num_samples(u) for u in utterances]
    assert len(set(lengths)) == len(lengths)  # pandas' sort is not stable: distinct lengths make the order unique
    files = [str(u.path.relative_to(libri)) for u in utterances]
    (tmp_path / "len_for_bucket").mkdir()
    pd.DataFrame({"file_path": files, "length": lengths}).to_csv(tmp_path / "len_for_bucket" / "train-clean-100.csv")
    dictionary = Dictionary()
    for symbol in "|ABCDEFGHIJKLMNOPQRSTUVWXYZ'":
        dictionary.add_symbol(symbol)
    for bucket_size in (4, 5):
        theirs = SequenceDataset(
            "train", bucket_size, dictionary, str(libri), str(tmp_path / "len_for_bucket"), train=["train-clean-100"]
        ).X
        ours = fixed_length_buckets(lengths, bucket_size)
        assert [[files[i] for i in bucket] for bucket in ours] == theirs
        full = len(lengths) // bucket_size
        assert [len(bucket) for bucket in ours[: 2 * full]] == [bucket_size // 2, bucket_size - bucket_size // 2] * full


def test_fixed_buckets_keep_short_buckets_whole_and_drop_a_lone_leftover():
    lengths = [1000, 1500, 900, 1200, 800, 50_000, 1100]
    assert fixed_length_buckets(lengths, 2) == [[5], [1], [3, 6], [0, 2]]  # only the pair over 2000 samples is halved
    assert fixed_length_buckets([100, 300, 200, 400, 50], 2) == [[3, 1], [2, 0]]  # none long: whole, 50 dropped
    assert fixed_length_buckets([100, 300, 200], 4) == [[1, 2, 0]]  # a last partial bucket of 2+ files is kept


def test_sliding_buckets_follow_the_ctc_corpus_getitem():
    label_lengths = [3, 9, 5, 7, 1]  # sorted longest first: 1, 3, 2, 0, 4
    samples = [16000] * 5
    assert sliding_label_buckets(label_lengths, samples, 3) == [[1, 3, 2], [3, 2, 0], [2, 0, 4], [2, 0, 4], [2, 0, 4]]
    samples[3] = 400_000  # a bucket whose first file is over 18.75 s keeps its first half
    assert sliding_label_buckets(label_lengths, samples, 3)[1] == [3]
    assert sliding_label_buckets([2, 2, 2], [1, 1, 1], 3) == [[0, 1, 2]] * 3  # ties keep the listing order


def test_pr_and_sf_use_label_windows_and_the_switch_turns_bucketing_off(mini_tiny):
    for name in ("pr", "sf"):
        task = get_task(name)
        config = load_task_config(name, "mini")
        utterances = task.load(mini_tiny, None, config).splits["train"]
        buckets = task.train_batches(utterances, config)
        assert len(buckets) == len(utterances)
        assert all(len(bucket) == min(int(config.batch_size), len(utterances)) for bucket in buckets)
        first = buckets[0]
        assert [len(utterances[i].label) for i in first] == sorted((len(u.label) for u in utterances), reverse=True)[
            : len(first)
        ]
        assert task.train_batches(utterances, load_task_config(name, "mini", ["data.bucketing=false"])) is None


def test_sampler_draws_each_bucket_once_per_epoch_and_resumes():
    buckets = [[0, 1], [2, 3], [4], [5, 6]]
    sampler = SampleOrder(7, 2, None, torch.Generator().manual_seed(0), buckets)
    epoch = [tuple(sampler.next_batch()) for _ in range(4)]
    assert sorted(epoch) == sorted(map(tuple, buckets))
    sampler.next_batch()
    state = sampler.state()
    resumed = SampleOrder(7, 2, None, torch.Generator(), buckets)
    resumed.load_state(state)
    assert [resumed.next_batch() for _ in range(6)] == [sampler.next_batch() for _ in range(6)]
    with pytest.raises(ValueError, match="weights or length buckets"):
        SampleOrder(7, 2, [1.0] * 7, torch.Generator(), buckets)
