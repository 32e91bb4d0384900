"""ASV: speaker verification on VoxCeleb1 (s3prl `downstream/sv_voxceleb1`, `configs/amsoftmax.yaml`).

Training reads every utterance under `VoxCeleb1/dev/wav/` longer than 2 s (the recipe's `min_sec: 32000` samples) and
takes a random 8 s crop of each at every access; the classes are the sorted speaker folders of `dev/wav/`. The head is
s3prl's: `Linear(D, 512)` -> x-vector (5 TDNN layers) -> statistics pooling -> `Linear(3000, 512)`+ReLU
(the embedding) -> `Linear(512, 512)`+ReLU in training only, trained with AM-softmax (s=30, m=0.4). Test scores the
trial list `VoxCeleb1/voxceleb1_test_v2.txt` (`<1|0> <path> <path>`, paths relative to `test/wav/`) by the cosine
similarity of L2-normalised whole-utterance embeddings; the metric is the EER (a fraction).

Two test numbers come out of one training run:

* ``eer``: SUPERB's protocol. The recipe has no validation set: `test_expdir.sh` scores the checkpoint saved every
  10,000 steps on test and reports the lowest test EER. Here test is scored at every ``eval_step`` and the lowest EER is
  taken from the history (``superb_step`` says which step). This **selects on test**.
* ``eer_dev_selected``: the test EER of the checkpoint with the lowest EER on a dev trial list held out of the
  training folder (:func:`hold_out_dev_trials`); nothing is selected on test.

The crop happens on the encoder's frames (the frame cache or the encoder run on whole utterances), not on the audio
before encoding as s3prl does; it is drawn from the trainer's generator, so it is deterministic and resumable.
"""
from __future__ import annotations

import dataclasses
import itertools
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchcore.atomic import write_text_atomic
from benchcore.errors import BenchError
from downstream_tasks.base import SplitScore, TaskData, TestSelection, TrainedTask, eval_batches, Utterance, require_dir, require_file
from downstream_tasks.metadata import MetricSpec, TaskMetadata
from downstream_tasks.metrics.detection import equal_error_rate
from downstream_tasks.sid import ROOT
from upstream.base import SAMPLE_RATE

TRIAL_LIST = "voxceleb1_test_v2.txt"
TDNN_CONTEXTS = ((5, 1), (3, 2), (3, 3), (1, 1), (1, 1))  # (context size, dilation) of the recipe's XVector
VARIANCE_FLOOR = 1e-10
TDNN_SHRINK = sum((context - 1) * dilation for context, dilation in TDNN_CONTEXTS)  # 14 frames


# ---------------------------------------------------------------------------------------------------------------------
# Trials
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    """One verification trial: 1 = same speaker (target), 0 = different speakers; the two utterances by uid."""

    label: int
    enrollment: str
    test: str


@dataclass
class VerificationData(TaskData):
    """TaskData plus each scored split's trial list (dev: built from held-out training-folder utterances)."""

    trials: dict[str, list[Trial]] = field(default_factory=dict)


def read_trials(trial_file: Path) -> list[tuple[int, str, str]]:
    """[(label, path1, path2)] from a VoxCeleb trial list, paths relative to ``VoxCeleb1/test/wav/``.

    Whether the files exist is not checked here: the runner counts every missing file of every split in one line (and
    ``data.allow_missing=true`` drops them with the trials that name them, see :meth:`SpeakerVerification.without_files`).
    """
    require_file(trial_file, "VoxCeleb1",
                 "the verification trial list, lines '<1|0> idXXXXX/video/file.wav idYYYYY/video/file.wav'")
    trials = []
    for line_number, line in enumerate(trial_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 3 or parts[0] not in ("0", "1"):
            raise BenchError(f"{trial_file}:{line_number}: expected '<1|0> <path> <path>', got {line!r}")
        trials.append((int(parts[0]), parts[1], parts[2]))
    if not trials:
        raise BenchError(f"{trial_file} has no trials")
    return trials


def hold_out_dev_trials(relatives: Sequence[str], videos_per_speaker: int,
                        seed: int) -> tuple[list[str], list[tuple[int, str, str]]]:
    """The dev trial list, held out of the training folder: (held-out paths, [(label, path1, path2)]).

    For every speaker with at least two videos, one utterance from each of ``videos_per_speaker`` videos (fewer if it has
    fewer) is held out of training, as long as the speaker keeps a training utterance. Target trials are all pairs of a
    speaker's held-out utterances (so they cross videos, as VoxCeleb's test trials do); each target trial ``(a, b)`` is
    followed by a non-target trial ``(a, c)`` with ``c`` a held-out utterance of another speaker, so the list is
    balanced. Every choice draws from ``random.Random`` seeded by strings, which does not depend on the platform, the
    file-system order or ``PYTHONHASHSEED``: the same files give the same list.
    """
    if videos_per_speaker < 2:
        raise BenchError("ASV: data.dev_videos_per_speaker must be at least 2 (target trials pair two videos), "
                         f"got {videos_per_speaker}")
    by_speaker: dict[str, dict[str, list[str]]] = {}
    for relative in sorted(set(relatives)):
        speaker, video = relative.split("/")[:2]
        by_speaker.setdefault(speaker, {}).setdefault(video, []).append(relative)
    held: dict[str, list[str]] = {}
    for speaker, videos in sorted(by_speaker.items()):
        total = sum(len(files) for files in videos.values())
        count = min(videos_per_speaker, len(videos))
        if count < 2 or total - count < 1:
            continue
        rng = random.Random(f"asv-dev/{seed}/{speaker}")
        chosen = sorted(rng.sample(sorted(videos), count))
        held[speaker] = [rng.choice(videos[video]) for video in chosen]
    if len(held) < 2:
        raise BenchError("ASV: the dev trial list needs at least two dev/wav speakers with two or more videos "
                         f"(found {len(held)}); VoxCeleb1/dev/wav looks incomplete")
    rng = random.Random(f"asv-dev/{seed}/non-target")
    speakers = sorted(held)
    trials: list[tuple[int, str, str]] = []
    for speaker in speakers:
        others = [other for other in speakers if other != speaker]
        for first, second in itertools.combinations(held[speaker], 2):
            trials.append((1, first, second))
            trials.append((0, first, rng.choice(held[rng.choice(others)])))
    return sorted(path for paths in held.values() for path in paths), trials


def score_trials(embeddings: Tensor, row_of: dict[str, int], trials: Sequence[Trial]) -> Tensor:
    """Cosine similarity of each trial's two (already L2-normalised) embeddings."""
    first = torch.tensor([row_of[trial.enrollment] for trial in trials])
    second = torch.tensor([row_of[trial.test] for trial in trials])
    return (embeddings[first] * embeddings[second]).sum(dim=-1)


# ---------------------------------------------------------------------------------------------------------------------
# The head
# ---------------------------------------------------------------------------------------------------------------------


class TDNN(nn.Module):
    """s3prl's TDNN layer: ``Linear(context * D_in, D_out)`` over dilated frame contexts, then ReLU (no BN, no dropout).

    The parameters are laid out as s3prl's (its ``F.unfold`` puts the context index first), so its checkpoints load;
    the computation is the equivalent dilated ``conv1d`` on (B, D, T), much faster than unfolding on CPU.
    """

    def __init__(self, input_dim: int, output_dim: int, context_size: int, dilation: int) -> None:
        super().__init__()
        self.input_dim, self.context_size, self.dilation = input_dim, context_size, dilation
        self.kernel = nn.Linear(input_dim * context_size, output_dim)

    def forward(self, features: Tensor) -> Tensor:
        """(B, D_in, T) -> (B, D_out, T - (context - 1) * dilation)."""
        weight = self.kernel.weight.view(-1, self.context_size, self.input_dim).transpose(1, 2)
        return F.relu(F.conv1d(features, weight, self.kernel.bias, dilation=self.dilation))


def statistics_pooling(features: Tensor, lengths: Tensor) -> Tensor:
    """(B, D, T) -> (B, 2D): mean and (unbiased) standard deviation over each row's first ``lengths`` frames.

    s3prl's ``SP`` averages one padding frame into every padded row (its length is the first masked index + 1); this
    pools exactly the valid frames, so an embedding does not depend on what it was batched with. The variance is floored
    at 1e-10 (std 1e-5) so that a dead channel gives a zero gradient rather than NaN.
    """
    lengths = lengths.to(features.device).clamp(min=1)
    mask = (torch.arange(features.shape[-1], device=features.device)[None, :] < lengths[:, None]).to(features.dtype)
    mask = mask[:, None, :]
    count = lengths.to(features.dtype)[:, None]
    mean = (features * mask).sum(dim=-1) / count
    squares = (((features - mean[..., None]) * mask) ** 2).sum(dim=-1)
    # The floor only matters for a channel that is constant over an utterance (a ReLU that never fires): torch.std,
    # which s3prl uses, has a NaN gradient there, and the trainer (as s3prl's runner) then skips the whole update.
    std = torch.sqrt((squares / (count - 1).clamp(min=1)).clamp(min=VARIANCE_FLOOR))
    return torch.cat([mean, std], dim=-1)


class XVectorHead(nn.Module):
    """Connector ``Linear(D, 512)`` -> 5 TDNN layers -> statistics pooling -> utterance layers (s3prl's names)."""

    def __init__(self, input_dim: int, connector_dim: int = 512, tdnn_dims: Sequence[int] = (512, 512, 512, 512, 1500),
                 embedding_dim: int = 512) -> None:
        super().__init__()
        if len(tdnn_dims) != len(TDNN_CONTEXTS):
            raise ValueError(f"the x-vector has {len(TDNN_CONTEXTS)} TDNN layers, got {len(tdnn_dims)} sizes")
        self.connector = nn.Linear(input_dim, connector_dim)
        dims = [connector_dim, *tdnn_dims]
        self.tdnn = nn.Sequential(*(TDNN(dims[i], dims[i + 1], context, dilation)
                                    for i, (context, dilation) in enumerate(TDNN_CONTEXTS)))
        self.linear1 = nn.Linear(2 * tdnn_dims[-1], embedding_dim)
        self.linear2 = nn.Linear(embedding_dim, embedding_dim)

    def pooled(self, features: Tensor, lengths: Tensor) -> Tensor:
        """(B, T, D) valid-first frames -> (B, 2 * 1500) statistics of the last TDNN layer."""
        if features.shape[1] <= TDNN_SHRINK:  # too short for the TDNN's context: zero-pad, as a padded batch would be
            features = F.pad(features, (0, 0, 0, TDNN_SHRINK + 1 - features.shape[1]))
        frames = self.tdnn(self.connector(features).transpose(1, 2))
        return statistics_pooling(frames, lengths - TDNN_SHRINK)

    def embed(self, features: Tensor, lengths: Tensor) -> Tensor:
        """The embedding scored at test (s3prl's ``inference``): ``ReLU(linear1(stats))``."""
        return F.relu(self.linear1(self.pooled(features, lengths)))

    def forward(self, features: Tensor, lengths: Tensor) -> Tensor:
        """The training output fed to AM-softmax: ``ReLU(linear2(ReLU(linear1(stats))))``."""
        return F.relu(self.linear2(self.embed(features, lengths)))


class AMSoftmax(nn.Module):
    """AM-softmax's class weights (s3prl ``AMSoftmaxLoss``: ``W`` is (hidden, speakers), Xavier-normal)."""

    def __init__(self, hidden_dim: int, num_speakers: int, scale: float = 30.0, margin: float = 0.4) -> None:
        super().__init__()
        self.scale, self.margin = scale, margin
        self.W = nn.Parameter(torch.randn(hidden_dim, num_speakers))
        nn.init.xavier_normal_(self.W, gain=1)

    def cosine(self, embeddings: Tensor) -> Tensor:
        return F.normalize(embeddings, dim=1) @ F.normalize(self.W, dim=0)


def am_softmax_loss(cosine: Tensor, labels: Tensor, scale: float, margin: float) -> Tensor:
    """``-mean log(e^{s(cos_y - m)} / (e^{s(cos_y - m)} + sum_{j != y} e^{s cos_j}))``: s3prl's loss, via a stable
    cross-entropy on the margin-shifted logits."""
    shifted = cosine - margin * F.one_hot(labels, cosine.shape[1]).to(cosine.dtype)
    return F.cross_entropy(scale * shifted, labels)


class SpeakerLogits(NamedTuple):
    cosine: Tensor
    scale: float
    margin: float


def random_frame_crop(hidden_states: Sequence[Tensor], lengths: Tensor, crop_frames: int,
                      generator: torch.Generator) -> tuple[list[Tensor], Tensor]:
    """A random window of ``crop_frames`` frames of each longer row (s3prl draws ``randint(0, len - max_timestep)`` on
    the audio); shorter rows are kept whole. Draws once per cropped row, in batch order, from ``generator``."""
    starts, new_lengths = [], []
    for length in lengths.tolist():
        start = int(torch.randint(0, length - crop_frames + 1, (1,), generator=generator)) if length > crop_frames else 0
        starts.append(start)
        new_lengths.append(min(length, crop_frames))
    width = max(new_lengths)
    frames = hidden_states[0].shape[1]
    index = (torch.tensor(starts)[:, None] + torch.arange(width)[None, :]).clamp(max=frames - 1)
    index = index.to(hidden_states[0].device)
    cropped = [layer.gather(1, index[..., None].expand(-1, -1, layer.shape[-1])) for layer in hidden_states]
    return cropped, torch.tensor(new_lengths)


class SpeakerEmbedder(nn.Module):
    """Weighted sum of hidden states -> x-vector. Training (with a generator): crop, then AM-softmax cosines;
    evaluation: the L2-normalised embedding of the whole utterance."""

    def __init__(self, featurizer: nn.Module, head: XVectorHead, objective: AMSoftmax, crop_frames: int | None) -> None:
        super().__init__()
        self.featurizer = featurizer
        self.head = head
        self.objective = objective
        self.crop_frames = crop_frames

    def forward(self, features: tuple[list[Tensor], Tensor], generator: torch.Generator | None = None) -> Any:
        hidden_states, lengths = features
        if generator is not None and self.crop_frames:
            hidden_states, lengths = random_frame_crop(hidden_states, lengths, self.crop_frames, generator)
        combined, lengths = self.featurizer(hidden_states, lengths)
        if self.training:
            return SpeakerLogits(self.objective.cosine(self.head(combined, lengths)), self.objective.scale, self.objective.margin)
        return F.normalize(self.head.embed(combined, lengths), dim=-1)


# ---------------------------------------------------------------------------------------------------------------------
# The task
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LowestTestEER(TestSelection):
    """SUPERB's ASV number selects on test: s3prl scores the test trials at every evaluation and reports the best."""

    at_each_eval: bool = True

    def report(self, test_metrics: dict[str, float], history: list[dict[str, Any]]) -> dict[str, float]:
        """``eer``: SUPERB's number, the lowest test EER over the evaluated checkpoints (earliest on ties), at step
        ``superb_step``; ``eer_dev_selected``: the test EER of the checkpoint the dev trials selected."""
        scored = [entry for entry in history if "test" in entry]
        if not scored:
            return {"eer": test_metrics["eer"], "eer_dev_selected": test_metrics["eer"], "superb_step": float("nan")}
        superb = min(scored, key=lambda entry: entry["test"]["eer"])
        return {"eer": superb["test"]["eer"], "eer_dev_selected": test_metrics["eer"], "superb_step": float(superb["step"])}


class SpeakerVerification(TrainedTask):
    metadata = TaskMetadata("asv", "ASV", "voxceleb1", "frames", (
        MetricSpec("eer", False, "asv", description="speaker verification, equal error rate (VoxCeleb1 test)"),))
    test_selection: ClassVar[TestSelection] = LowestTestEER()
    #: s3prl's sv_voxceleb1/voxceleb1_test_v2.txt has 37,720 trials (37,720 lines). No utterance count is sourced:
    #: the test split is whatever files those trials name, and training is a glob of dev/wav.
    official_split_sizes: ClassVar[dict[str, int]] = {"test_trials": 37720}

    def __init__(self) -> None:
        self.stride_samples: int | None = None

    def prepare(self, upstream: Any) -> None:
        self.stride_samples = int(upstream.stride_samples)

    def load(self, data_root: Path, fold: str | None, config: Any) -> VerificationData:
        import soundfile

        layout = f"{ROOT}/{{dev,test}}/wav/idXXXXX/<video>/NNNNN.wav + {ROOT}/{TRIAL_LIST}"
        root = require_dir(data_root / ROOT, "VoxCeleb1", layout)
        train_wav = require_dir(root / "dev" / "wav", "VoxCeleb1", layout)
        test_wav = require_dir(root / "test" / "wav", "VoxCeleb1", layout)
        trial_list = root / TRIAL_LIST
        test_trials = read_trials(trial_list)

        # Training is every file under dev/wav (s3prl's recipe globs the folder rather than reading a list), so only
        # a missing test file can be told from the metadata: the trial list names each of those.
        speakers = sorted(p.name for p in train_wav.iterdir() if p.is_dir())  # s3prl: every speaker folder is a class
        index = {speaker: i for i, speaker in enumerate(speakers)}
        min_samples = float(config.data.min_train_seconds) * SAMPLE_RATE
        eligible = []
        for path in sorted(train_wav.glob("*/*/*.wav")):
            info = soundfile.info(str(path))
            if info.frames * SAMPLE_RATE / info.samplerate > min_samples:  # s3prl: `length > min_sec` (strictly)
                eligible.append(path.relative_to(train_wav).as_posix())
        if not eligible:
            raise BenchError(f"VoxCeleb1: no utterance in {train_wav} is longer than {config.data.min_train_seconds} s")
        held_out, dev_trials = hold_out_dev_trials(eligible, int(config.data.dev_videos_per_speaker), int(config.data.dev_seed))
        held = set(held_out)

        def utterance(wav_root: Path, relative: str, label: tuple[int, ...]) -> Utterance:
            path = wav_root / relative
            return Utterance(str(path.relative_to(data_root)), path, label, relative.split("/")[0])

        def uid(wav_root: Path, relative: str) -> str:
            return str((wav_root / relative).relative_to(data_root))

        splits = {
            "train": [utterance(train_wav, r, (index[r.split("/")[0]],)) for r in eligible if r not in held],
            "dev": [utterance(train_wav, r, (index[r.split("/")[0]],)) for r in held_out],
            "test": [utterance(test_wav, r, ()) for r in sorted({p for _, *pair in test_trials for p in pair})],
        }
        trials = {
            "dev": [Trial(label, uid(train_wav, a), uid(train_wav, b)) for label, a, b in dev_trials],
            "test": [Trial(label, uid(test_wav, a), uid(test_wav, b)) for label, a, b in test_trials],
        }
        return VerificationData(self.corpus, data_root, splits, [speakers], metadata_files=[trial_list], trials=trials)

    def without_files(self, data: TaskData, is_dropped: Callable[[Path], bool]) -> VerificationData:
        """Drop the missing files' trials too, and the files only those trials named: a split of a trial list is the
        files its trials score. A trial list left empty is an error (an EER of no trials is no number)."""
        if not isinstance(data, VerificationData):
            raise TypeError("ASV drops trials: it needs the VerificationData that SpeakerVerification.load returns")
        dropped = {u.uid for u in data.all_utterances() if is_dropped(u.path)}
        trials = {split: [t for t in split_trials if t.enrollment not in dropped and t.test not in dropped]
                  for split, split_trials in data.trials.items()}
        for split, kept in trials.items():
            if not kept:
                raise BenchError(f"ASV: no {split} trial is left without the missing files; restore them")
        splits = {}
        for split, utterances in data.splits.items():
            if split in trials:
                named = {uid for trial in trials[split] for uid in (trial.enrollment, trial.test)}
                splits[split] = [u for u in utterances if u.uid in named]
            else:
                splits[split] = [u for u in utterances if u.uid not in dropped]
        return dataclasses.replace(data, splits=splits, trials=trials)

    def split_counts(self, data: TaskData) -> dict[str, int]:
        """The trials each scored split has (``test_trials`` is checked against the official list's 37,720)."""
        if not isinstance(data, VerificationData):
            return {}
        return {f"{split}_trials": len(trials) for split, trials in data.trials.items()}

    def build_model(self, num_layers: int, hidden_size: int, data: TaskData, config: Any) -> nn.Module:
        from upstream.featurizer import WeightedSumFeaturizer

        if self.stride_samples is None:
            raise RuntimeError("SpeakerVerification.prepare(upstream_info) must run before build_model (it needs the stride)")
        head = XVectorHead(hidden_size, int(config.head.connector_dim), [int(d) for d in config.head.tdnn_dims],
                           int(config.head.embedding_dim))
        objective = AMSoftmax(int(config.head.embedding_dim), len(data.label_names[0]), float(config.head.am_scale),
                              float(config.head.am_margin))
        crop_seconds = config.data.train_crop_seconds
        crop_frames = int(float(crop_seconds) * SAMPLE_RATE) // self.stride_samples if crop_seconds else None
        return SpeakerEmbedder(WeightedSumFeaturizer(num_layers), head, objective, crop_frames)

    def collate_labels(self, utterances: Sequence[Utterance]) -> Tensor:
        return torch.tensor([u.label[0] for u in utterances], dtype=torch.long)

    def loss(self, outputs: SpeakerLogits, labels: Tensor, data: TaskData) -> Tensor:
        return am_softmax_loss(outputs.cosine, labels.to(outputs.cosine.device), outputs.scale, outputs.margin)

    def embed_split(self, model: nn.Module, source: Any, split: str, utterances: Sequence[Utterance],
                    batch_size: int) -> Tensor:
        """(N, E) L2-normalised embeddings of whole utterances, batched by file size so padding stays small."""
        order = sorted(range(len(utterances)), key=lambda i: utterances[i].path.stat().st_size)
        rows: list[Tensor] = [torch.empty(0)] * len(utterances)
        for indices, embeddings in eval_batches(model, source, split, order, batch_size):
            for i, embedding in zip(indices, embeddings.float().cpu()):
                rows[i] = embedding
        return torch.stack(rows)

    def score_split(self, model: nn.Module, data: TaskData, source: Any, split: str, batch_size: int,
                    output_dir: Path | None = None) -> SplitScore:
        """Cosine-score the split's trials; with ``output_dir``, write `<split>_trial_scores.txt` there
        (`<label> <uid> <uid> <score>` in trial-list order)."""
        if not isinstance(data, VerificationData) or split not in data.trials:
            raise ValueError(f"ASV scores trial lists; split {split!r} has none")
        utterances, trials = data.splits[split], data.trials[split]
        embeddings = self.embed_split(model, source, split, utterances, batch_size)
        scores = score_trials(embeddings, {u.uid: i for i, u in enumerate(utterances)}, trials).tolist()
        labels = [trial.label for trial in trials]
        eer = equal_error_rate(labels, scores)
        if output_dir is not None:
            write_text_atomic(Path(output_dir) / f"{split}_trial_scores.txt",
                              "".join(f"{t.label} {t.enrollment} {t.test} {s:.6f}\n" for t, s in zip(trials, scores)))
        lines = [f"{t.enrollment} {t.test}\t{s:.6f}\t{t.label}" for t, s in zip(trials, scores)]
        return SplitScore({"eer": eer}, lines)
