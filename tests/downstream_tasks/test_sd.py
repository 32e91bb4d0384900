"""SD (s3prl `downstream/diarization`): frame labels, chunks and the PIT loss against s3prl's own code and hand-computed
values, the Kaldi reader (relative and absolute wav.scp paths, its errors), and the scoring protocol (the recipe's
test-selected DER and the dev-selected one) on hand-made Libri2Mix folders."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from omegaconf import OmegaConf

from benchcore.errors import BenchError
from downstream_tasks.metrics.detection import read_rttm
from downstream_tasks.sd import (
    DER_GRID_DECIMALS,
    DiarizationData,
    DiarizationHead,
    DiarizationModel,
    SpeakerDiarization,
    chunk_ranges,
    decode_label,
    frame_accuracies,
    frame_labels,
    match_lengths,
    pit_loss,
)
from upstream.base import UpstreamInfo
from upstream.featurizer import WeightedSumFeaturizer

# speaker turns of one hand-made recording: (start s, end s, speaker)
TURNS = [(0.30, 1.00, "1089"), (0.75, 1.25, "2961"), (1.30, 1.42, "1089")]


def _config(**data):
    return OmegaConf.create(
        {
            "data": {"gain_db": 0.0, "chunk_size": 2000, "num_speakers": 2, **data},
            "scoring": {"median_filters": [1, 11], "thresholds": [0.3, 0.4, 0.5, 0.6, 0.7]},
            "head": {"rnn_layers": 1, "hidden_size": 8},
        }
    )


def _info(stride: int) -> UpstreamInfo:
    return UpstreamInfo("fake", "fake", 1, 2, stride, "batched")


def _write_split(librimix: Path, split: str, recordings: dict[str, tuple[float, list]], absolute: bool = False) -> None:
    """A Kaldi folder as prepare_diarization.py writes it, with noise wavs under wav16k/max/<split>/mix_both/."""
    folder = librimix / split
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    wav_lines, segments, utt2spk, rttm, reco2dur = [], [], [], [], []
    for recording, (duration, turns) in recordings.items():
        relative = Path("wav16k/max") / split / "mix_both" / f"{recording}.wav"
        (librimix / relative).parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(
            librimix / relative, (0.01 * rng.standard_normal(int(duration * 16000))).astype(np.float32), 16000
        )
        wav_lines.append(f"{recording} {librimix / relative if absolute else relative}")
        reco2dur.append(f"{recording} {duration}")
        for start, end, speaker in turns:
            utterance = f"{recording}_{int(start * 1000):06d}_{int(end * 1000):06d}"
            segments.append(f"{utterance} {recording} {start} {end}")
            utt2spk.append(f"{utterance} {speaker}")
            rttm.append(f"SPEAKER\t{recording}\t1\t{start}\t{round(end - start, 4)}\t<NA>\t<NA>\t{speaker}\t<NA>")
    for name, lines in {
        "wav.scp": wav_lines,
        "segments": segments,
        "utt2spk": utt2spk,
        "rttm": rttm,
        "reco2dur": reco2dur,
        "spk2utt": [],
    }.items():
        (folder / name).write_text("".join(line + "\n" for line in lines))


def _corpus(root: Path, absolute: bool = False, duration: float = 1.5) -> Path:
    for split in ("train", "dev", "test"):
        _write_split(root / "LibriMix", split, {f"{split}-a_{split}-b": (duration, TURNS)}, absolute)
    return root


def _load(root: Path, stride: int = 160, **data) -> DiarizationData:
    task = SpeakerDiarization()
    task.prepare(_info(stride))
    return task.load(root, None, _config(**data))


# ---- frame labels and chunks ---------------------------------------------------------------------------------------


def test_frame_labels_at_10_ms_follow_the_turns():
    turns = [(s, e, 0 if k == "1089" else 1) for s, e, k in TURNS]
    expected = np.zeros((150, 2), dtype=np.float32)
    expected[30:100, 0] = expected[130:142, 0] = 1
    expected[75:125, 1] = 1
    np.testing.assert_array_equal(frame_labels(turns, 0, 150, frame_shift=160), expected)


def test_frame_labels_at_20_ms_round_half_to_even_as_s3prl():
    turns = [(s, e, 0 if k == "1089" else 1) for s, e, k in TURNS]
    expected = np.zeros((75, 2), dtype=np.float32)
    expected[15:50, 0] = 1
    expected[65:71, 0] = 1
    expected[38:62, 1] = 1  # 0.75 s = frame 37.5 -> 38 and 1.25 s = 62.5 -> 62 (np.rint)
    np.testing.assert_array_equal(frame_labels(turns, 0, 75, frame_shift=320), expected)


def test_chunk_labels_are_relative_to_the_chunk_and_a_covering_turn_labels_all_of_it():
    turns = [(0.30, 1.00, 0), (0.75, 1.25, 1)]
    late = frame_labels(turns, 100, 150, frame_shift=160)
    assert late[:, 0].sum() == 0 and late[:25, 1].all() and not late[25:, 1].any()
    # s3prl leaves a turn that starts before a chunk and ends after it unlabelled; here it covers the chunk
    assert frame_labels(turns, 40, 60, frame_shift=160)[:, 0].all()


def test_chunks_match_s3prl_frame_indices():
    from upstream.s3prl_compat import import_s3prl_nn

    import_s3prl_nn()
    from s3prl.downstream.diarization.dataset import _gen_frame_indices

    assert chunk_ranges(4500, 2000) == [(0, 2000), (2000, 4000), (4000, 4500)]
    assert chunk_ranges(2000, 2000) == [(0, 2000)]
    assert chunk_ranges(0, 2000) == []
    for frames in (1, 999, 1999, 2000, 2001, 3999, 4000, 6123):
        assert chunk_ranges(frames, 2000) == list(_gen_frame_indices(frames, 2000, 2000, use_last_samples=True))


def test_loaded_chunks_carry_s3prl_labels_and_their_own_audio(tmp_path):
    """Chunks of 50 frames of a 1.5 s recording, labels compared with s3prl's own DiarizationDataset."""
    from upstream.s3prl_compat import import_s3prl_nn

    import_s3prl_nn()
    from s3prl.downstream.diarization.dataset import DiarizationDataset

    root = _corpus(tmp_path, absolute=True)
    data = _load(root, chunk_size=50)
    chunks = data.splits["train"]
    assert [u.segment for u in chunks] == [(0.0, 0.5), (0.5, 1.0), (1.0, 1.5)]
    assert len({u.uid for u in chunks}) == 3 and all("#" in u.uid for u in chunks)
    assert chunks[1].audio().shape[0] == 8000
    reference = DiarizationDataset(
        "train",
        str(root / "LibriMix" / "train"),
        chunk_size=50,
        frame_shift=160,
        subsampling=1,
        rate=16000,
        use_last_samples=True,
        label_delay=0,
        num_speakers=2,
    )
    assert len(reference) == len(chunks)
    for index, chunk in enumerate(chunks):
        waveform, labels = reference[index]
        np.testing.assert_array_equal(decode_label(chunk.label, 2), labels)
        np.testing.assert_allclose(chunk.audio().numpy(), waveform, atol=1e-4)  # 16-bit wav, read two ways
    assert data.recordings["train"] == [("train-a_train-b", [0, 1, 2])]


def test_label_frames_follow_the_upstream_stride(tmp_path):
    root = _corpus(tmp_path)
    assert decode_label(_load(root, stride=160).splits["dev"][0].label, 2).shape == (150, 2)
    assert decode_label(_load(root, stride=320).splits["dev"][0].label, 2).shape == (75, 2)


# ---- loss, accuracy, lengths ---------------------------------------------------------------------------------------


def _pit_example():
    logits = torch.tensor([[[2.0, -2.0], [5.0, 5.0]], [[0.0, 0.0], [3.0, -1.0]]])
    labels = torch.tensor([[[0.0, 1.0], [0.0, 0.0]], [[1.0, 0.0], [1.0, 0.0]]])
    return logits, labels, torch.tensor([1, 2])


def test_pit_loss_picks_the_speaker_order_with_the_lower_loss():
    logits, labels, lengths = _pit_example()
    loss, order = pit_loss(logits, labels, lengths)
    # utterance 0 (1 valid frame): swapped order, mean(log(1+e^-2), log(1+e^-2)); utterance 1: identity order,
    # log 2 + mean(log(1+e^-3), log(1+e^-1)); divided by the 3 valid frames
    utterance0 = math.log1p(math.exp(-2))
    utterance1 = math.log(2) + (math.log1p(math.exp(-3)) + math.log1p(math.exp(-1))) / 2
    assert order.tolist() == [1, 0]
    assert loss.item() == pytest.approx((utterance0 + utterance1) / 3, abs=1e-6)


def test_pit_loss_and_accuracy_equal_s3prl():
    from upstream.s3prl_compat import import_s3prl_nn

    import_s3prl_nn()
    from s3prl.downstream.diarization.utils import calc_diarization_error, get_label_perm
    from s3prl.downstream.diarization.utils import pit_loss as s3prl_pit_loss

    logits, labels, lengths = _pit_example()
    loss, order = pit_loss(logits, labels, lengths)
    reference, reference_order, permutations = s3prl_pit_loss(logits, labels, lengths)
    assert loss.item() == pytest.approx(reference.item(), abs=1e-6)
    assert order.tolist() == reference_order.tolist()
    accuracies = frame_accuracies(logits, labels, lengths, order)
    assert accuracies == [1.0, 0.75]
    for row in range(2):  # s3prl evaluates dev with batch size 1: per utterance
        permuted = get_label_perm(labels[row : row + 1], reference_order[row : row + 1], permutations)
        counts = calc_diarization_error(logits[row : row + 1], permuted, lengths[row : row + 1])
        assert accuracies[row] == pytest.approx(counts[0] / counts[1])
    # a chunk without reference speech: s3prl's expert records ACC 0 (speech_scored == 0), however right the decisions
    silent = torch.zeros_like(labels[:1])
    assert calc_diarization_error(-logits[:1].abs() - 1, silent, lengths[:1])[2] == 0  # nothing scored
    assert frame_accuracies(-logits[:1].abs() - 1, silent, lengths[:1], torch.zeros(1, dtype=torch.long)) == [0.0]


def test_match_lengths_tiles_truncates_and_repeats_the_last_frame_per_row():
    features = torch.tensor([[[1.0], [2.0], [3.0], [4.0]], [[5.0], [6.0], [7.0], [0.0]]])
    lengths = torch.tensor([4, 3])
    assert match_lengths(features[1:], lengths[1:], [5])[0, :, 0].tolist() == [5, 5, 6, 6, 7]  # round(5/3) = 2: tile
    assert match_lengths(features[1:], lengths[1:], [4])[0, :, 0].tolist() == [5, 6, 7, 7]
    assert match_lengths(features[:1], lengths[:1], [2])[0, :, 0].tolist() == [1, 2]
    matched = match_lengths(features, lengths, [4, 4])
    assert matched[1, :, 0].tolist() == [5, 6, 7, 7]  # the row's own last frame, not the batch padding


def test_the_head_trains_through_the_deferred_logits():
    model = DiarizationModel(WeightedSumFeaturizer(3), DiarizationHead(4, 2, hidden_size=8, rnn_layers=1))
    hidden = [torch.randn(2, 6, 4) for _ in range(3)]
    outputs = model((hidden, torch.tensor([6, 5])))
    labels = torch.zeros(2, 7, 2)
    loss, _ = pit_loss(outputs.logits(torch.tensor([7, 4])), labels, torch.tensor([7, 4]))
    loss.backward()
    assert model.featurizer.weights.grad is not None and model.head.rnn.weight_ih_l0.grad.abs().sum() > 0


# ---- the Kaldi reader ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("absolute", [False, True])
def test_reader_resolves_relative_and_absolute_wav_scp_paths(tmp_path, absolute):
    root = _corpus(tmp_path, absolute=absolute)
    data = _load(root)
    utterance = data.splits["test"][0]
    assert utterance.path == root / "LibriMix" / "wav16k/max/test/mix_both/test-a_test-b.wav"
    assert utterance.uid == "LibriMix/wav16k/max/test/mix_both/test-a_test-b.wav#0.0000-1.5000"
    assert data.references["test"] == read_rttm(root / "LibriMix" / "test" / "rttm")


def test_reader_errors_are_one_line_and_name_the_layout(tmp_path):
    with pytest.raises(BenchError, match=r"LibriMix/\{train,dev,test\}/.*wav.scp, segments, utt2spk, reco2dur"):
        _load(tmp_path)
    root = _corpus(tmp_path / "c")
    (root / "LibriMix" / "dev" / "segments").unlink()
    with pytest.raises(BenchError, match=r"missing .*dev/segments; expected LibriMix/"):
        _load(root)


def test_reader_lists_missing_audio_and_names_what_it_read(tmp_path):
    root = _corpus(tmp_path)
    scp = root / "LibriMix" / "train" / "wav.scp"
    scp.write_text("train-a_train-b wav16k/max/train/mix_both/absent.wav\n")
    data = _load(root)  # whether the audio exists is the runner's check (one line for every split, or allow_missing)
    assert {u.path for u in data.splits["train"]} == {root / "LibriMix" / "wav16k/max/train/mix_both/absent.wav"}
    assert data.recordings["train"] == [("train-a_train-b", [0])]
    folders = {split: root / "LibriMix" / split for split in ("train", "dev", "test")}
    assert sorted(data.metadata_files) == sorted(
        [folder / name for folder in folders.values() for name in ("wav.scp", "segments", "utt2spk", "reco2dur")]
        + [folders["dev"] / "rttm", folders["test"] / "rttm"]
    )


def test_without_files_drops_a_recording_its_chunks_and_its_reference(tmp_path):
    librimix = tmp_path / "LibriMix"
    for split in ("train", "dev", "test"):
        _write_split(
            librimix,
            split,
            {f"{split}-a": (1.5, TURNS), f"{split}-b": (1.0, TURNS[:2]), f"{split}-c": (0.7, TURNS[:1])},
        )
    data = _load(tmp_path, chunk_size=50)  # 3, 2 and 2 chunks
    gone = librimix / "wav16k/max/test/mix_both/test-b.wav"
    kept = SpeakerDiarization().without_files(data, lambda path: path == gone)
    assert [name for name, _ in kept.recordings["test"]] == ["test-a", "test-c"]
    assert kept.recordings["test"] == [("test-a", [0, 1, 2]), ("test-c", [3, 4])]  # renumbered into the kept chunks
    by_recording = dict(data.recordings["test"])
    assert kept.splits["test"] == [data.splits["test"][i] for i in by_recording["test-a"] + by_recording["test-c"]]
    assert set(kept.references["test"]) == {"test-a", "test-c"} == set(data.references["test"]) - {"test-b"}
    assert kept.splits["train"] == data.splits["train"] and kept.references["dev"] == data.references["dev"]
    assert kept.frame_shift == data.frame_shift and len(data.splits["test"]) == 7  # the input is not modified
    with pytest.raises(BenchError, match="no dev recording is left"):
        SpeakerDiarization().without_files(data, lambda path: "/dev/" in path.as_posix())


def test_reader_rejects_pipes_unknown_recordings_and_extra_speakers(tmp_path):
    root = _corpus(tmp_path)
    scp = root / "LibriMix" / "train" / "wav.scp"
    scp.write_text("train-a_train-b sox in.flac -t wav - |\n")
    with pytest.raises(BenchError, match="piped"):
        _load(root)

    root = _corpus(tmp_path / "b")
    with (root / "LibriMix" / "test" / "rttm").open("a") as rttm:
        rttm.write("SPEAKER\tother\t1\t0.1\t0.2\t<NA>\t<NA>\t7\t<NA>\n")
    with pytest.raises(BenchError, match="not in wav.scp"):
        _load(root)

    root = _corpus(tmp_path / "c")
    with (
        (root / "LibriMix" / "dev" / "utt2spk").open("a") as utt2spk,
        (root / "LibriMix" / "dev" / "segments").open("a") as seg,
    ):
        seg.write("dev-a_dev-b_x dev-a_dev-b 0.1 0.2\n")
        utt2spk.write("dev-a_dev-b_x 3000\n")
    with pytest.raises(BenchError, match="3 speakers"):
        _load(root)


def test_load_needs_the_upstream_stride(tmp_path):
    with pytest.raises(RuntimeError, match="prepare"):
        SpeakerDiarization().load(_corpus(tmp_path), None, _config())


# ---- scoring -------------------------------------------------------------------------------------------------------


class _LabelSource:
    """Frames whose two features are posteriors derived from each chunk's labels: ``active`` where a speaker talks,
    ``inactive`` elsewhere, per split; with an identity linear head (logit = feature) the model outputs their logits."""

    def __init__(self, data: DiarizationData, levels: dict[str, tuple[float, float]]) -> None:
        self.data, self.levels = data, levels

    def batch(self, split, indices, generator):
        active, inactive = self.levels[split]
        rows = []
        for index in indices:
            labels = torch.from_numpy(decode_label(self.data.splits[split][index].label, 2))
            posterior = labels * active + (1 - labels) * inactive
            rows.append(torch.log(posterior / (1 - posterior)))
        return [torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)], torch.tensor([len(r) for r in rows])


def _identity_model() -> DiarizationModel:
    head = DiarizationHead(2, 2, rnn_layers=0)
    with torch.no_grad():
        head.linear.weight.copy_(torch.eye(2))
        head.linear.bias.zero_()
    return DiarizationModel(WeightedSumFeaturizer(1), head)


def _scoring_corpus(root: Path) -> Path:
    recordings = {
        "dev": {
            "d1_d2": (3.0, [(0.20, 1.50, "1"), (1.00, 2.70, "2")]),
            "d3_d4": (2.0, [(0.10, 0.90, "3"), (1.20, 1.90, "4")]),
        },
        "test": {
            "t1_t2": (3.0, [(0.30, 1.80, "5"), (1.50, 2.80, "6")]),
            "t3_t4": (2.5, [(0.25, 1.00, "7"), (0.90, 2.20, "8")]),
        },
        "train": {"r1_r2": (2.0, [(0.2, 1.0, "9"), (0.8, 1.8, "10")])},
    }
    for split, content in recordings.items():
        _write_split(root / "LibriMix", split, content)
    return root


def test_scoring_reports_the_test_selected_and_the_dev_selected_der(tmp_path):
    """Dev posteriors (0.45 active, 0.2 silent) are perfect at thresholds 0.3 and 0.4; test ones (0.65 / 0.35) are
    perfect at 0.4-0.6 and say "everyone talks" at 0.3. The recipe's number takes the best test point (about 0); the
    dev-selected one applies dev's first best point, threshold 0.3 without median, to test."""
    data = _load(_scoring_corpus(tmp_path), chunk_size=120)
    task = SpeakerDiarization()
    task.prepare(_info(160))
    task.num_speakers = 2
    source = _LabelSource(data, {"dev": (0.45, 0.2), "test": (0.65, 0.35)})
    model = _identity_model()
    output = tmp_path / "unit"
    dev = task.score_split(model, data, source, "dev", 2, output)
    test = task.score_split(model, data, source, "test", 2, output)
    assert dev.metrics["der"] < 0.02 and test.metrics["der"] < 0.02  # frame rounding only
    # frame accuracy decides at posterior 0.5: every test chunk is right, but t3_t4's last chunk (2.4-2.5 s) holds no
    # reference speech and counts 0, as in s3prl's expert: 5 of 6 chunks
    assert test.metrics["acc"] == pytest.approx(5 / 6) and dev.metrics["acc"] < 0.9
    grid = [line.split("\t") for line in (output / "test_der_grid.tsv").read_text().splitlines()[1:]]
    assert len(grid) == 10
    at_dev_choice = next(float(row[2]) for row in grid if row[:2] == ["1", "0.3"])
    # the grid file holds DERs rounded to DER_GRID_DECIMALS, the metrics are unrounded: round them the same way
    assert round(test.metrics["der_dev_selected"], DER_GRID_DECIMALS) == at_dev_choice
    assert test.metrics["der_dev_selected"] > 0.5  # everyone talks all the time
    summary = json.loads((output / "test_der_summary.json").read_text())
    assert summary["chosen"]["der_dev_selected"]["threshold"] == 0.3 and summary["chosen"]["der"]["threshold"] == 0.4
    hypothesis = read_rttm(output / summary["chosen"]["der"]["rttm"])
    assert set(hypothesis) == {"t1_t2", "t3_t4"} and {k for _, _, k in hypothesis["t1_t2"]} == {"t1_t2_0", "t1_t2_1"}
    posteriors = np.load(output / "test_posteriors.npz")
    assert posteriors["t1_t2"].shape == (300, 2) and posteriors["t3_t4"].shape == (250, 2)  # chunks of 120 rejoined
    assert [line.split("\t")[0] for line in test.lines] == ["t1_t2", "t3_t4"]


def test_test_scoring_recomputes_the_dev_grid_for_another_model(tmp_path):
    data = _load(_scoring_corpus(tmp_path), chunk_size=120)
    task = SpeakerDiarization()
    task.prepare(_info(160))
    source = _LabelSource(data, {"dev": (0.45, 0.2), "test": (0.65, 0.35)})
    first = _identity_model()
    assert task.score_split(first, data, source, "dev", 2).metrics["der"] < 0.02
    second = _identity_model()
    with torch.no_grad():
        second.head.linear.bias.fill_(-0.9)  # dev posteriors drop below 0.3: nobody is detected on dev
    task.score_split(second, data, source, "test", 2)
    used = [point.der for point in task._dev_grid[1]]
    assert used == [1.0] * 10
    assert task.score_split(second, data, source, "dev", 2).metrics["der"] == 1.0
