"""ASV (s3prl `sv_voxceleb1`): the x-vector head and AM-softmax against s3prl's own modules, the trial readers, the
held-out dev trials, the frame crop and the two test protocols."""

from __future__ import annotations

import math
import random
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from bench.config import load_task_config
from benchcore.errors import BenchError
from downstream_tasks import get_task
from downstream_tasks.asv import (
    TDNN_SHRINK,
    AMSoftmax,
    SpeakerVerification,
    Trial,
    VerificationData,
    XVectorHead,
    am_softmax_loss,
    hold_out_dev_trials,
    random_frame_crop,
    read_trials,
    statistics_pooling,
)
from downstream_tasks.base import Utterance


def _s3prl_sv_model():
    from upstream.s3prl_compat import import_s3prl_nn

    import_s3prl_nn()  # the torchaudio shims s3prl's package import needs
    import s3prl.downstream.sv_voxceleb1.model as sv_model

    return sv_model


def _task(stride: int = 160) -> SpeakerVerification:
    task = get_task("asv")
    task.prepare(SimpleNamespace(stride_samples=stride))
    return task


# ---- the head --------------------------------------------------------------------------------------------------------


def test_xvector_shapes_and_receptive_field():
    torch.manual_seed(0)
    head = XVectorHead(input_dim=12, connector_dim=16, tdnn_dims=[16, 16, 16, 16, 24], embedding_dim=8)
    features = torch.randn(2, 40, 12, requires_grad=True)
    frames = head.tdnn(head.connector(features).transpose(1, 2))
    assert TDNN_SHRINK == 14 and frames.shape == (2, 24, 40 - 14)
    assert head.embed(features, torch.tensor([40, 30])).shape == (2, 8)
    assert head(features, torch.tensor([40, 30])).shape == (2, 8)
    # output frame t sees input frames t .. t+14 exactly (context 5/1, 3/2, 3/3, 1/1, 1/1: 4 + 4 + 6 = 14)
    for t in (0, 7, 25):
        (gradient,) = torch.autograd.grad(frames[0, :, t].sum(), features, retain_graph=True)
        touched = gradient[0].abs().sum(dim=-1).nonzero().flatten().tolist()
        assert touched == list(range(t, t + 15))
        assert gradient[1].abs().sum() == 0


def test_xvector_matches_s3prls_model_with_the_same_weights():
    sv_model = _s3prl_sv_model()
    torch.manual_seed(0)
    ours = XVectorHead(input_dim=12, connector_dim=16, tdnn_dims=[16, 16, 16, 16, 24], embedding_dim=16)
    theirs = sv_model.Model(
        input_dim=16,
        agg_dim=24,
        agg_module_name="SP",
        module_name="XVector",
        utterance_module_name="UtteranceExtractor",
        hparams={"agg_dim": 24, "dropout_p": 0.0, "batch_norm": False},
    )
    parameters = ("weight", "bias")
    mapping = {
        f"framelevel_feature_extractor.module.{i}.kernel.{p}": f"tdnn.{i}.kernel.{p}"
        for i in range(5)
        for p in parameters
    }
    mapping.update(
        {
            f"utterancelevel_feature_extractor.{name}.{p}": f"{name}.{p}"
            for name in ("linear1", "linear2")
            for p in parameters
        }
    )
    assert set(mapping) == set(theirs.state_dict())
    theirs.load_state_dict({key: ours.state_dict()[value] for key, value in mapping.items()})
    features = torch.randn(3, 50, 12)
    lengths = torch.full((3,), 50)
    mask = torch.zeros(3, 50 - TDNN_SHRINK)  # no padding: s3prl's attention mask is all zeros
    connected = ours.connector(features)
    torch.testing.assert_close(ours.embed(features, lengths), theirs.inference(connected, mask), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours(features, lengths), theirs(connected, mask), rtol=1e-5, atol=1e-5)


def test_statistics_pooling_ignores_padding():
    torch.manual_seed(0)
    frames = torch.randn(2, 5, 30)
    padded = frames.clone()
    padded[1, :, 17:] = 100.0  # garbage where the second row is padding
    pooled = statistics_pooling(padded, torch.tensor([30, 17]))
    torch.testing.assert_close(pooled[1], torch.cat([frames[1, :, :17].mean(-1), frames[1, :, :17].std(-1)]))
    torch.testing.assert_close(pooled[0], torch.cat([frames[0].mean(-1), frames[0].std(-1)]))
    # a channel that never fires has std 0: its gradient must be finite (torch.std's is NaN, which skips whole updates)
    dead = torch.zeros(1, 2, 10, requires_grad=True)
    statistics_pooling(dead, torch.tensor([10])).sum().backward()
    assert torch.isfinite(dead.grad).all()


def test_am_softmax_loss_hand_computed_and_equal_to_s3prls():
    # one embedding at 0.6/0.8/0 cosine with three unit class vectors, label 0, s = 2, m = 0.4
    cosine = torch.tensor([[0.6, 0.8, 0.0]])
    s, m = 2.0, 0.4
    by_hand = -(s * (0.6 - m)) + math.log(math.exp(s * (0.6 - m)) + math.exp(s * 0.8) + math.exp(0.0))
    assert am_softmax_loss(cosine, torch.tensor([0]), s, m).item() == pytest.approx(by_hand, rel=1e-6)

    sv_model = _s3prl_sv_model()
    torch.manual_seed(0)
    ours = AMSoftmax(hidden_dim=8, num_speakers=5, scale=30.0, margin=0.4)
    theirs = sv_model.AMSoftmaxLoss(hidden_dim=8, speaker_num=5, s=30.0, m=0.4)
    theirs.W.data.copy_(ours.W.data)
    embeddings, labels = torch.randn(6, 8), torch.tensor([0, 1, 2, 3, 4, 0])
    expected = theirs(embeddings, labels)
    assert am_softmax_loss(ours.cosine(embeddings), labels, 30.0, 0.4).item() == pytest.approx(
        expected.item(), rel=1e-5
    )


def test_random_frame_crop_is_a_deterministic_window():
    frames = torch.arange(2 * 20 * 3, dtype=torch.float32).view(2, 20, 3)
    layers, lengths = [frames, frames + 1000], torch.tensor([20, 6])
    first = random_frame_crop(layers, lengths, 8, torch.Generator().manual_seed(5))
    second = random_frame_crop(layers, lengths, 8, torch.Generator().manual_seed(5))
    assert first[1].tolist() == [8, 6]  # the short row is kept whole
    for a, b in zip(first[0], second[0]):
        assert torch.equal(a, b)
    cropped = first[0][0]
    start = int(cropped[0, 0, 0].item()) // 3
    assert torch.equal(cropped[0], frames[0, start : start + 8]) and 0 <= start <= 12
    assert torch.equal(cropped[1, :6], frames[1, :6])
    assert torch.equal(first[0][1], cropped + 1000)  # every layer gets the same window
    starts = {
        int(random_frame_crop(layers, lengths, 8, torch.Generator().manual_seed(seed))[0][0][0, 0, 0]) // 3
        for seed in range(30)
    }
    assert len(starts) > 5  # the window moves


def test_model_crops_only_when_training_with_a_generator():
    task = _task(stride=160)
    data = VerificationData("voxceleb1", Path("."), {"train": [], "dev": [], "test": []}, [["a", "b", "c"]])
    recipe = load_task_config("asv", "mini", ["data.train_crop_seconds=0.5"])
    assert task.build_model(1, 12, data, recipe).crop_frames is None  # the source cuts waveform crops instead
    config = load_task_config("asv", "mini", ["data.train_crop_seconds=0.5", "data.crop_mode=frames"])
    torch.manual_seed(0)
    model = task.build_model(1, 12, data, config)
    assert model.crop_frames == 50  # 0.5 s * 16000 / 160
    features = ([torch.randn(2, 120, 12)], torch.tensor([120, 90]))
    outputs = model(features, torch.Generator().manual_seed(0))
    loss = task.loss(
        outputs, task.collate_labels([Utterance("x", Path("x"), (2,)), Utterance("y", Path("y"), (0,))]), data
    )
    assert outputs.cosine.shape == (2, 3) and torch.isfinite(loss)
    model.eval()
    embeddings = model(features)
    torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(2))
    alone = model(([features[0][0][1:, :90]], torch.tensor([90])))
    torch.testing.assert_close(embeddings[1:], alone, rtol=1e-5, atol=1e-6)  # whole utterance, independent of batching


# ---- trials ----------------------------------------------------------------------------------------------------------


def _touch(root: Path, relatives: list[str]) -> None:
    for relative in relatives:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(b"")


def test_read_trials_and_its_errors(tmp_path):
    trials = tmp_path / "trials.txt"
    trials.write_text("1 id1/v1/00001.wav id1/v2/00001.wav\n\n0 id1/v1/00001.wav id2/v1/00001.wav\n")
    assert read_trials(trials) == [
        (1, "id1/v1/00001.wav", "id1/v2/00001.wav"),
        (0, "id1/v1/00001.wav", "id2/v1/00001.wav"),
    ]
    # no audio is looked at: a missing file is the runner's one-line error over every split (or data.allow_missing)
    trials.write_text("1 id1/v1/00001.wav id1/v2/00001.wav\n0 id1/v1/00001.wav id3/v9/00004.wav\n")
    assert read_trials(trials)[1] == (0, "id1/v1/00001.wav", "id3/v9/00004.wav")
    trials.write_text("yes id1/v1/00001.wav id1/v2/00001.wav\n")
    with pytest.raises(BenchError, match=r"trials.txt:1: expected '<1\|0> <path> <path>'"):
        read_trials(trials)
    with pytest.raises(BenchError, match="missing"):
        read_trials(tmp_path / "absent.txt")
    trials.write_text("\n")
    with pytest.raises(BenchError, match="has no trials"):
        read_trials(trials)


def _pool(speakers: int = 6, videos: int = 4, per_video: int = 3) -> list[str]:
    return [
        f"id{s:05d}/vid{v}/{u:05d}.wav" for s in range(speakers) for v in range(videos) for u in range(1, per_video + 1)
    ]


def test_dev_trials_are_deterministic_balanced_and_cross_video():
    pool = _pool()
    held, trials = hold_out_dev_trials(pool, videos_per_speaker=3, seed=0)
    shuffled = list(pool)
    random.Random(1).shuffle(shuffled)
    assert hold_out_dev_trials(shuffled, 3, 0) == (held, trials)  # independent of listing order
    assert hold_out_dev_trials(pool, 3, 1) != (held, trials)  # the seed matters
    assert len(held) == 6 * 3 and set(held) <= set(pool)
    for speaker in {path.split("/")[0] for path in pool}:
        mine = [path for path in held if path.startswith(speaker)]
        assert len({path.split("/")[1] for path in mine}) == 3  # one utterance from each of three videos
    labels = [label for label, _, _ in trials]
    assert labels.count(1) == labels.count(0) == 6 * 3  # C(3, 2) target pairs per speaker, as many non-targets
    for label, first, second in trials:
        assert first in held and second in held
        same_speaker = first.split("/")[0] == second.split("/")[0]
        assert same_speaker == bool(label)
        if label:
            assert first.split("/")[1] != second.split("/")[1]


def test_dev_trials_keep_every_speaker_trainable_and_need_two_speakers():
    # id00000 has two one-utterance videos: holding both out would leave it nothing to train on, so it is skipped
    pool = ["id00000/a/00001.wav", "id00000/b/00001.wav", *_pool(speakers=3)[12:]]
    held, _ = hold_out_dev_trials(pool, 3, 0)
    assert not any(path.startswith("id00000/") for path in held)
    with pytest.raises(BenchError, match="at least two"):
        hold_out_dev_trials(_pool(speakers=1), 3, 0)
    with pytest.raises(BenchError, match="at least 2"):
        hold_out_dev_trials(_pool(), 1, 0)


def test_load_on_superb_mini(mini_tiny):
    import soundfile

    task = _task()
    config = load_task_config("asv", "mini")
    data = task.load(mini_tiny, None, config)
    again = task.load(mini_tiny, None, config)
    assert data.trials == again.trials and data.splits == again.splits
    root = mini_tiny / "VoxCeleb1"
    train, dev, test = (data.splits[name] for name in ("train", "dev", "test"))
    dev_folder = sorted(p.relative_to(mini_tiny).as_posix() for p in (root / "dev" / "wav").glob("*/*/*.wav"))
    long_enough = [uid for uid in dev_folder if soundfile.info(str(mini_tiny / uid)).duration > 2.0]
    assert len(long_enough) < len(dev_folder)  # superb-mini has clips of 2 s or less, which the recipe drops
    assert sorted(u.uid for u in train + dev) == long_enough and not {u.uid for u in train} & {u.uid for u in dev}
    assert data.label_names[0] == sorted(p.name for p in (root / "dev" / "wav").iterdir())
    assert all(u.label == (data.label_names[0].index(u.speaker),) for u in train + dev)
    # dev speakers are training speakers (seen classes, unseen utterances); test speakers are disjoint from both
    assert {u.speaker for u in dev} <= {u.speaker for u in train}
    assert not {u.speaker for u in test} & {u.speaker for u in train + dev}
    listed = [line.split() for line in (root / "voxceleb1_test_v2.txt").read_text().splitlines()]
    assert [(t.label, t.enrollment, t.test) for t in data.trials["test"]] == [
        (int(label), f"VoxCeleb1/test/wav/{a}", f"VoxCeleb1/test/wav/{b}") for label, a, b in listed
    ]
    assert {u.uid for u in test} == {uid for t in data.trials["test"] for uid in (t.enrollment, t.test)}
    assert {u.uid for u in dev} == {uid for t in data.trials["dev"] for uid in (t.enrollment, t.test)}
    assert data.metadata_files == [root / "voxceleb1_test_v2.txt"]  # the train and dev sets are a glob of dev/wav
    assert task.split_counts(data) == {"dev_trials": len(data.trials["dev"]), "test_trials": len(listed)}


def test_load_lists_test_files_that_are_not_on_disk(tmp_path, mini_tiny):
    root = Path(shutil.copytree(mini_tiny / "VoxCeleb1", tmp_path / "VoxCeleb1"))  # the shared corpus stays whole
    first = (root / "voxceleb1_test_v2.txt").read_text().split()[1]
    (root / "test" / "wav" / first).unlink()
    data = _task().load(tmp_path, None, load_task_config("asv", "mini"))
    assert root / "test" / "wav" / first in {u.path for u in data.splits["test"]}  # the runner decides, not the reader


def _verification_data() -> VerificationData:
    names = {
        "test": ["a/v1/1.wav", "a/v2/1.wav", "b/v1/1.wav", "c/v1/1.wav"],
        "dev": ["d/v1/1.wav", "d/v2/1.wav", "e/v1/1.wav"],
        "train": ["d/v3/1.wav", "e/v2/1.wav"],
    }
    splits = {
        split: [Utterance(f"VoxCeleb1/{split}/{n}", Path("/data/VoxCeleb1") / split / n, ()) for n in files]
        for split, files in names.items()
    }
    uid = {split: [u.uid for u in utterances] for split, utterances in splits.items()}
    trials = {
        "test": [
            Trial(1, uid["test"][0], uid["test"][1]),
            Trial(0, uid["test"][0], uid["test"][2]),
            Trial(0, uid["test"][2], uid["test"][3]),
        ],
        "dev": [Trial(1, uid["dev"][0], uid["dev"][1]), Trial(0, uid["dev"][0], uid["dev"][2])],
    }
    return VerificationData("voxceleb1", Path("/data"), splits, [["d", "e"]], trials=trials)


def test_without_files_drops_the_trials_naming_a_file_and_the_files_only_they_named():
    data = _verification_data()
    # c/v1 is named by one trial only; b/v1 by that one and another: dropping c leaves b, a
    kept = _task().without_files(data, lambda path: path.as_posix().endswith("test/c/v1/1.wav"))
    assert [(t.enrollment, t.test) for t in kept.trials["test"]] == [
        (t.enrollment, t.test) for t in data.trials["test"][:2]
    ]
    assert [u.uid for u in kept.splits["test"]] == [u.uid for u in data.splits["test"][:3]]
    assert kept.trials["dev"] == data.trials["dev"] and kept.splits["dev"] == data.splits["dev"]
    # dropping b/v1 takes two trials, and c/v1 goes with them (no trial left names it)
    kept = _task().without_files(data, lambda path: path.as_posix().endswith("test/b/v1/1.wav"))
    assert [u.uid for u in kept.splits["test"]] == [u.uid for u in data.splits["test"][:2]] and len(
        kept.trials["test"]
    ) == 1
    # a training file is dropped as a plain utterance
    kept = _task().without_files(data, lambda path: path.as_posix().endswith("train/d/v3/1.wav"))
    assert [u.uid for u in kept.splits["train"]] == [data.splits["train"][1].uid] and kept.trials == data.trials
    assert data.trials["test"] and len(data.splits["test"]) == 4  # the input is not modified
    with pytest.raises(BenchError, match="no test trial is left"):
        _task().without_files(data, lambda path: "/test/a/" in path.as_posix() or "/test/b/" in path.as_posix())


def test_missing_trial_list_is_a_one_line_error(tmp_path):
    (tmp_path / "VoxCeleb1" / "dev" / "wav").mkdir(parents=True)
    (tmp_path / "VoxCeleb1" / "test" / "wav").mkdir(parents=True)
    with pytest.raises(BenchError, match="voxceleb1_test_v2.txt"):
        _task().load(tmp_path, None, load_task_config("asv", "mini"))
    with pytest.raises(BenchError, match="VoxCeleb1 not found"):
        _task().load(tmp_path / "elsewhere", None, load_task_config("asv", "mini"))


# ---- scoring and the two protocols -----------------------------------------------------------------------------------


class _OneHotSpeakers(torch.nn.Module):
    """A stand-in model whose embedding is the one-hot speaker (read from the fake features): perfect verification."""

    def forward(self, features, generator=None):
        return features


class _Source:
    def __init__(self, utterances, speakers):
        self.rows = {
            i: torch.nn.functional.one_hot(torch.tensor(speakers.index(u.speaker)), len(speakers)).float()
            for i, u in enumerate(utterances)
        }

    def batch(self, split, indices, generator):
        return torch.stack([self.rows[i] for i in indices])


def test_score_split_writes_trial_scores(tmp_path):
    wav = tmp_path / "VoxCeleb1" / "test" / "wav"
    names = ["a/v1/00001.wav", "a/v2/00001.wav", "b/v1/00001.wav", "c/v1/00001.wav"]
    _touch(wav, names)
    utterances = [Utterance(f"VoxCeleb1/test/wav/{n}", wav / n, (), n.split("/")[0]) for n in names]
    uid = [u.uid for u in utterances]
    trials = [Trial(1, uid[0], uid[1]), Trial(0, uid[0], uid[2]), Trial(0, uid[1], uid[3]), Trial(1, uid[1], uid[0])]
    data = VerificationData("voxceleb1", tmp_path, {"test": utterances}, [[]], trials={"test": trials})
    score = _task().score_split(_OneHotSpeakers(), data, _Source(utterances, ["a", "b", "c"]), "test", 3, tmp_path)
    assert score.metrics == {"eer": pytest.approx(0.0, abs=1e-9)}
    written = (tmp_path / "test_trial_scores.txt").read_text().splitlines()
    assert written[0] == f"1 {uid[0]} {uid[1]} 1.000000" and written[1] == f"0 {uid[0]} {uid[2]} 0.000000"
    assert len(written) == len(score.lines) == 4 and score.lines[1] == f"{uid[0]} {uid[2]}\t0.000000\t0"


def test_checkpoint_rules_follow_the_recipe_and_the_held_out_option():
    from bench.config import load_task_config

    superb = _task().checkpoint_rules(load_task_config("asv", "superb"))
    # test_expdir.sh scores states-20000 ... states-200000 on test: one rule, on test, every 20,000 updates
    assert [(r.name, r.metric, r.split, r.every, r.higher_is_better) for r in superb] == [
        ("superb", "eer", "test", 20000, False)
    ]
    mini = _task().checkpoint_rules(load_task_config("asv", "mini"))
    assert [(r.name, r.split, r.every) for r in mini] == [("superb", "test", 50), ("dev", "dev", None)]


def test_report_test_gives_both_protocols():
    selected = {"superb": {"steps": [20], "values": [0.22]}, "dev": {"steps": [30], "values": [0.10]}}
    reported = _task().report_test({"superb": {"eer": 0.22}, "dev": {"eer": 0.24}}, selected)
    assert reported == {"eer": 0.22, "superb_step": 20.0, "eer_dev_selected": 0.24}
    # the superb profile holds no dev trials out: the SUPERB number alone
    assert _task().report_test({"superb": {"eer": 0.3}}, {"superb": {"steps": [40]}}) == {
        "eer": 0.3,
        "superb_step": 40.0,
    }


class _FrameSource:
    """Fixed random frames per utterance, served as the frame cache serves them: ([(B, T, D)], lengths)."""

    def __init__(self, data: VerificationData, dim: int = 6) -> None:
        generator = torch.Generator().manual_seed(0)
        self.frames = {
            split: [
                torch.randn(40 + 7 * (i % 5), dim, generator=generator) + (hash(u.speaker) % 7)
                for i, u in enumerate(utterances)
            ]
            for split, utterances in data.splits.items()
        }

    def batch(self, split, indices, generator):
        rows = [self.frames[split][i] for i in indices]
        return [torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)], torch.tensor([len(r) for r in rows])


def test_training_with_frame_crops_resumes_to_the_same_result(tmp_path):
    from bench.trainer import train

    speakers = ["s0", "s1", "s2"]
    utterances = {
        split: [
            Utterance(f"{split}/{s}/{i}", tmp_path / f"{split}{s}{i}", (speakers.index(s),), s)
            for s in speakers
            for i in range(3)
        ]
        for split in ("train", "dev", "test")
    }
    trials = {
        split: [
            Trial(int(a.speaker == b.speaker), a.uid, b.uid) for a, b in zip(utterances[split], utterances[split][1:])
        ]
        for split in ("dev", "test")
    }
    data = VerificationData("voxceleb1", tmp_path, utterances, [speakers], trials=trials)
    for utterance in data.all_utterances():
        utterance.path.write_bytes(b"x" * len(utterance.uid))
    overrides = [
        "head.connector_dim=8",
        "head.tdnn_dims=[8,8,8,8,12]",
        "head.embedding_dim=8",
        "batch_size=4",
        "data.train_crop_seconds=0.2",
        "data.crop_mode=frames",
        "eval_step=2",
        "save_step=2",
        "test_eval_step=2",
        "total_steps=4",
    ]
    task, source = _task(stride=160), _FrameSource(data)

    def run(directory: Path, steps: list[int]) -> dict:
        directory.mkdir()
        for total in steps:
            config = load_task_config("asv", "mini", [*overrides[:-1], f"total_steps={total}"])
            torch.manual_seed(0)
            model = task.build_model(1, 6, data, config)
            outcome = train(task, data, source, model, config, 1e-3, 0, directory, progress=False)
        return {"state": model.state_dict(), "history": outcome.dev_history}

    straight = run(tmp_path / "straight", [4])
    resumed = run(tmp_path / "resumed", [2, 4])  # stops after step 2, then resumes from checkpoint.pt
    assert straight["history"] == resumed["history"] and len(straight["history"]) == 2
    for name, value in straight["state"].items():
        assert torch.equal(value, resumed["state"][name]), name
