"""MLASR against ML-SUPERB's 1-hour recipe (ESPnet egs2/ml_superb/asr1): the schedule, utterance mean normalisation,
ESPnet's CTC loss and validation loss, targets without <eos>, the train/dev duration filter, sorted batches, ESPnet's
SpecAugment, the pooled CER, and the width-1 CTC prefix search decoding. ESPnet is not installed here: each expected
value is a hand computation or an independent reference whose comment cites the ESPnet file it follows."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from fixtures.fleurs_layout import build_fleurs_folder
from omegaconf import OmegaConf

from downstream_tasks import get_task
from downstream_tasks.base import Utterance
from downstream_tasks.ctc import EOS, greedy_decode
from downstream_tasks.ctc_prefix_search import ctc_prefix_search
from downstream_tasks.espnet_specaug import ESPnetSpecAug, mask_along_axis
from downstream_tasks.fleurs import FleursUtterance
from downstream_tasks.mlasr import sorted_batches, within_durations
from downstream_tasks.transformer_ctc import espnet_ctc_loss, utterance_ctc_losses, utterance_mean_normalise

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(scope="module")
def fleurs_root(tmp_path_factory) -> Path:
    return build_fleurs_folder(
        tmp_path_factory.mktemp("fleurs"), {"train": 6, "dev": 2, "test": 3}, languages=("en_us", "th_th")
    )


def config(**data) -> OmegaConf:
    return OmegaConf.create({"data": {"languages": ["en_us", "th_th"], "train_hours_per_language": None, **data}})


def test_superb_schedule_is_thirty_epochs_of_five_thousand_updates():
    # train_asr_s3prl_1h.yaml: max_epoch 30, num_iters_per_epoch 20000, accum_grad 4, batch_size 8; espnet2/train/
    # trainer.py steps the optimizer when iiter % accum_grad == 0, so an epoch is 20000 / 4 updates
    superb = OmegaConf.load(CONFIGS / "mlasr.yaml").superb
    assert superb.gradient_accumulate_steps == 4 and superb.batch_size == 8
    assert superb.total_steps == 30 * 20000 // 4 == 150_000
    assert superb.eval_step == 20000 // 4 and superb.total_steps // superb.eval_step == 30
    rules = get_task("mlasr").checkpoint_rules(superb)
    assert [(r.metric, r.higher_is_better, r.split, r.average_best) for r in rules] == [("loss", False, "dev", 5)]


def test_utterance_mean_normalisation_worked_example():
    # espnet2/layers/utterance_mvn.py (norm_means=True, norm_vars=False): zero the padding, subtract the mean over
    # the valid frames from every frame. Valid rows [1,2], [3,4], [5,9]: mean [3,5]; the padding row becomes -mean.
    features = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 9.0], [7.0, 7.0]]])
    normalised = utterance_mean_normalise(features, torch.tensor([3]))
    assert normalised.tolist() == [[[-2.0, -3.0], [0.0, -1.0], [2.0, 4.0], [-3.0, -5.0]]]
    assert features[0, 3].tolist() == [7.0, 7.0]  # the input is not modified


def test_espnet_ctc_loss_sums_utterances_over_the_batch_size():
    torch.manual_seed(0)
    logits = torch.randn(3, 12, 6)
    lengths = torch.tensor([12, 10, 7])
    targets, target_lengths = torch.tensor([3, 4, 5, 2, 2, 3, 5, 4, 3]), torch.tensor([4, 2, 3])
    per_utterance = F.ctc_loss(
        logits.log_softmax(-1).transpose(0, 1), targets, lengths, target_lengths, reduction="none", zero_infinity=True
    )
    # espnet2/asr/ctc.py CTC.loss_fn (builtin): loss.sum() / size, size the batch size; no division by target length
    expected = (per_utterance[0] + per_utterance[1] + per_utterance[2]) / 3
    assert torch.allclose(espnet_ctc_loss(logits, lengths, targets, target_lengths), expected)
    assert torch.allclose(utterance_ctc_losses(logits, lengths, targets, target_lengths), per_utterance)
    torch_mean = F.ctc_loss(logits.log_softmax(-1).transpose(0, 1), targets, lengths, target_lengths)
    assert not torch.allclose(torch_mean, expected)  # torch's default reduction is another loss


def test_targets_are_the_characters_without_eos(fleurs_root):
    data = get_task("mlasr").load(fleurs_root, None, config())
    vocabulary = data.label_names[0]
    for utterance in data.splits["train"] + data.splits["test"]:
        assert EOS not in utterance.label
        assert "".join(vocabulary[t] for t in utterance.label) == utterance.text.replace(" ", "|")


def _fleurs(samples: int) -> FleursUtterance:
    return FleursUtterance("en_us", "train", "1", f"{samples}.wav", "a", "a", samples, "MALE", Path(f"{samples}.wav"))


def test_train_and_dev_keep_utterances_strictly_within_the_duration_bounds():
    # asr.sh stage 4: awk '{ if ($2 > min_length && $2 < max_length ) print $0; }' with
    # min_length = int(0.1 * 16000) = 1600 and max_length = int(20 * 16000) = 320000 samples
    utterances = [_fleurs(n) for n in (1600, 1601, 319_999, 320_000)]
    assert [u.num_samples for u in within_durations(utterances, 0.1, 20.0)] == [1601, 319_999]
    assert len(within_durations(utterances, None, None)) == 4


def test_the_duration_filter_spares_test(fleurs_root):
    # every fixture utterance lasts 1 to 1.5 s: a 1.2 s maximum drops some train and dev ones, never test ones
    task = get_task("mlasr")
    full = task.load(fleurs_root, None, config())
    short = task.load(fleurs_root, None, config(max_seconds=1.2))
    assert len(short.splits["train"]) < len(full.splits["train"]) and len(short.splits["dev"]) < len(full.splits["dev"])
    assert [u.uid for u in short.splits["test"]] == [u.uid for u in full.splits["test"]]


def test_sorted_batches_worked_example():
    # espnet2/samplers/sorted_batch_sampler.py: keys longest first [1, 5, 3, 0, 4, 6, 2]; N = max(7 // 2, 1) = 3
    # batches keys[i * 7 // 3 : (i + 1) * 7 // 3] = [1, 5], [3, 0], [4, 6, 2]; sort_batch ascending reverses the list
    assert sorted_batches([5, 9, 1, 7, 3, 8, 2], 2) == [[4, 6, 2], [3, 0], [1, 5]]
    assert sorted_batches([4, 2, 3], 8) == [[0, 2, 1]]  # fewer than a batch: one batch


def test_pooled_cer_weights_languages_by_their_characters(fleurs_root):
    task = get_task("mlasr")
    data = task.load(fleurs_root, None, config())
    vocabulary = data.label_names[0]
    english = Utterance("fleurs/en_us/audio/test/a.wav", Path("a.wav"), (), text="the river")  # 9 characters
    thai = Utterance("fleurs/th_th/audio/test/b.wav", Path("b.wav"), (), text="ฉัน")  # 3 characters

    def tokens(text: str) -> list[int]:
        return [vocabulary.index(c) for c in text.replace(" ", "|")]

    # one substitution in English (1/9), nothing decoded in Thai (3/3)
    metrics = task.metrics([tokens("the rivet"), []], [english, thai], data)
    assert metrics["cer/en_us"] == pytest.approx(1 / 9) and metrics["cer/th_th"] == pytest.approx(1.0)
    assert metrics["cer"] == pytest.approx((1 / 9 + 1) / 2)  # macro: 0.556
    assert metrics["cer_pooled"] == pytest.approx((1 + 3) / (9 + 3))  # pooled: 0.333
    assert task.chance(data).metrics["cer_pooled"] == 1.0


def _tiny_model(task, data, dropout: float, specaug: bool, seed: int) -> torch.nn.Module:
    """MLASR's model on one 6-dim hidden state, a one-block Transformer of 16 dims, initialised under ``seed``."""
    head = OmegaConf.create(
        {
            "head": {
                "preencoder_dim": 8,
                "d_model": 16,
                "attention_heads": 2,
                "linear_units": 16,
                "num_blocks": 1,
                "dropout": dropout,
                "conv_channels": 4,
            },
            "specaug": specaug,
        }
    )
    torch.manual_seed(seed)
    return task.build_model(1, 6, data, head)


class _Frames:
    """A feature source over fixed (1, T, D) frames per utterance (one "layer")."""

    def __init__(self, frames: dict[str, list[torch.Tensor]]) -> None:
        self.frames = frames

    def batch(self, split, indices, generator):
        chosen = [self.frames[split][i] for i in indices]
        lengths = torch.tensor([f.shape[0] for f in chosen])
        return [torch.nn.utils.rnn.pad_sequence(chosen, batch_first=True)], lengths


def test_dev_loss_is_the_mean_utterance_loss_whatever_the_batch_size(fleurs_root):
    # espnet2/train/reporter.py aggregate(): each batch's loss (summed utterance losses / batch size) weighted by
    # the batch size, so valid.loss is the mean utterance loss over dev, in eval mode
    task = get_task("mlasr")
    data = task.load(fleurs_root, None, config())
    model = _tiny_model(task, data, dropout=0.1, specaug=True, seed=0)
    generator = torch.Generator().manual_seed(0)
    frames = {
        split: [
            torch.randn(int(torch.randint(20, 40, (1,), generator=generator)), 6, generator=generator)
            for _ in utterances
        ]
        for split, utterances in data.splits.items()
    }
    source = _Frames(frames)
    model.train()  # score_split must switch to eval itself (no dropout, no SpecAugment)
    losses = [task.score_split(model, data, source, "dev", size).metrics["loss"] for size in (1, 3)]
    model.eval()
    with torch.no_grad():
        expected = []
        for utterance, features in zip(data.splits["dev"], frames["dev"]):
            logits, lengths = model(([features[None]], torch.tensor([features.shape[0]])))
            target = torch.tensor(utterance.label)
            expected.append(float(utterance_ctc_losses(logits, lengths, target, torch.tensor([len(target)]))[0]))
    assert losses[0] == pytest.approx(sum(expected) / len(expected), rel=1e-5)
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    assert "loss" not in task.score_split(model, data, source, "test", 3).metrics


def test_espnet_specaug_masks_and_warps_each_utterance_on_its_own():
    # espnet2/asr/specaug/specaug.py with the recipe's specaug_conf; espnet2/layers/time_warp.py warps utterances of
    # unequal lengths one by one over their valid frames and pads with zeros
    specaug = ESPnetSpecAug().train()
    features = torch.randn(2, 200, 80) + 10.0  # no feature value is 0 before masking
    features[1, 120:] = 0.0
    augmented = specaug(features, torch.tensor([200, 120]), torch.Generator().manual_seed(3))
    assert augmented.shape == features.shape and bool((augmented[1, 120:] == 0).all())
    again = specaug(features, torch.tensor([200, 120]), torch.Generator().manual_seed(3))
    assert torch.equal(augmented, again)  # the generator decides everything
    for row in range(2):
        zero_dims = (augmented[row, :100] == 0).all(dim=0).sum()
        assert zero_dims <= 2 * 26  # 2 frequency masks, widths randint(0, 27): at most 26 dims each
    assert torch.equal(specaug.eval()(features, torch.tensor([200, 120]), None), features)


def test_mask_widths_stay_below_the_exclusive_bound_and_time_masks_scale_with_the_batch():
    # espnet2/layers/mask_along_axis.py: widths torch.randint(low, high) exclude high; MaskAlongAxisVariableMaxWidth's
    # widest time mask is floor(0.05 * T) of the padded length: none for T = 19, up to 4 frames each for T = 100
    generator = torch.Generator().manual_seed(0)
    masked = mask_along_axis(torch.ones(64, 99, 3), (0, 5), 1, 1, generator)
    widths = (masked[:, :, 0] == 0).sum(dim=1)
    assert int(widths.max()) == 4 and int(widths.min()) == 0
    time_masks_only = ESPnetSpecAug(warp_window=50, freq_mask_width=(0, 1)).train()  # no warp, zero-width freq masks
    short = torch.ones(4, 19, 3)
    assert torch.equal(time_masks_only(short, torch.tensor([19] * 4), generator), short)
    long = time_masks_only(torch.ones(4, 100, 3), torch.tensor([100] * 4), generator)
    masked_frames = (long == 0).all(dim=2)
    assert bool(masked_frames.any()) and bool(((long == 0) == masked_frames[:, :, None]).all())  # whole frames
    assert int(masked_frames.sum(dim=1).max()) <= 10 * 4


# --- decoding: conf/decode_asr.yaml (beam_size 1, ctc_weight 1.0, no LM) through espnet2/bin/asr_inference.py ---


def _brute_force_prefix_search(log_probs: torch.Tensor, blank: int, eos: int, labels: list[int]) -> list[int]:
    """The definition ESPnet's CTCPrefixScore implements (espnet/nets/ctc_prefix_score.py): psi(g) is the total
    probability of every label sequence that starts with g, <eos> scores P(g) itself; one hypothesis extended by the
    best token until <eos> wins. P(y) comes from torch's CTC loss over every sequence short enough to fit."""
    frames = log_probs.shape[0]
    probability: dict[tuple[int, ...], float] = {}
    for length in range(frames + 1):
        for sequence in itertools.product(labels, repeat=length):
            target = torch.tensor(sequence, dtype=torch.long)
            nll = F.ctc_loss(
                log_probs[:, None],
                target[None],
                torch.tensor([frames]),
                torch.tensor([length]),
                blank=blank,
                reduction="none",
            )
            probability[sequence] = math.exp(-float(nll)) if math.isfinite(float(nll)) else 0.0
    prefix: tuple[int, ...] = ()
    while len(prefix) < frames:
        scores = {c: sum(p for y, p in probability.items() if y[: len(prefix) + 1] == prefix + (c,)) for c in labels}
        best = max(scores, key=scores.get)
        if probability[prefix] >= scores[best]:
            break
        prefix += (best,)
    return list(prefix)


def test_prefix_search_picks_the_likeliest_labelling_where_best_path_does_not():
    # two frames, P(blank) = 0.6, P(a) = 0.4 in each: best path is blank blank (""), but "a" has 0.4*0.4 + 2*0.4*0.6
    # = 0.64 > P("") = 0.36, so the prefix search outputs "a" and then stops (P("aa") = 0 in two frames)
    log_probs = torch.tensor([[0.6, 0.0, 0.4], [0.6, 0.0, 0.4]]).log()
    assert greedy_decode(log_probs[None], torch.tensor([2])) == [[]]
    assert ctc_prefix_search(log_probs, blank=0, eos=1) == [2]
    assert ctc_prefix_search(torch.tensor([[0.2, 0.0, 0.8]]).log(), blank=0, eos=1) == [2]  # one frame, one label


@pytest.mark.parametrize("seed", range(8))
def test_prefix_search_matches_the_definition_on_every_short_input(seed):
    generator = torch.Generator().manual_seed(seed)
    frames = 1 + seed % 5  # down to the single frame conv2d2 gives a very short utterance
    logits = torch.randn(frames, 5, generator=generator) * 2
    # <eos> is never a CTC target, so a trained head gives it no mass; psi sums over continuations through every
    # column, the definition over label sequences only: they agree when <eos> has none
    logits[:, 1] = float("-inf")
    log_probs = logits.log_softmax(-1).double()
    expected = _brute_force_prefix_search(log_probs, blank=0, eos=1, labels=[2, 3, 4])
    assert ctc_prefix_search(log_probs, blank=0, eos=1) == expected


def _looped_prefix_search(log_probs: torch.Tensor, blank: int, eos: int) -> list[int]:
    """ESPnet's recursions frame by frame (CTCPrefixScoreTH.__call__): r_n[t] = lse(r_n[t-1], phi[t-1]) + x[t, c],
    r_b[t] = lse(r_n[t-1], r_b[t-1]) + x[t, blank], psi = lse_t(phi[t-1] + x[t, c]), phi = lse(r_n, r_b) of the
    prefix (r_b alone for a repeated label); r starts at -inf except r_n[0] = x[0, c] for the first label."""
    x = log_probs.double().tolist()
    frames, vocabulary = len(x), len(x[0])

    def lse(*values: float) -> float:
        return (
            max(values) + math.log(sum(math.exp(v - max(values)) for v in values))
            if max(values) > -math.inf
            else -math.inf
        )

    r_n, r_b = [-math.inf] * frames, list(itertools.accumulate(row[blank] for row in x))
    prefix: list[int] = []
    for _ in range(frames):
        start = max(len(prefix), 1)
        best, best_score, best_state = eos, lse(r_n[-1], r_b[-1]), None
        for c in range(vocabulary):
            if c in (blank, eos):
                continue
            phi = [r_b[t] if prefix and c == prefix[-1] else lse(r_n[t], r_b[t]) for t in range(frames)]
            new_n, new_b = [-math.inf] * frames, [-math.inf] * frames
            if not prefix:
                new_n[0] = x[0][c]
            psi = new_n[start - 1]
            for t in range(start, frames):
                new_n[t] = lse(new_n[t - 1], phi[t - 1]) + x[t][c]
                new_b[t] = lse(new_n[t - 1], new_b[t - 1]) + x[t][blank]
                psi = lse(psi, phi[t - 1] + x[t][c])
            if psi > best_score:
                best, best_score, best_state = c, psi, (new_n, new_b)
        if best == eos:
            break
        prefix.append(best)
        r_n, r_b = best_state
    return prefix


def test_prefix_search_matches_espnets_recursions_on_a_longer_utterance():
    # 60 frames of a peaky model (as a trained CTC head is), 8 tokens: long enough for the scans to accumulate
    generator = torch.Generator().manual_seed(7)
    logits = torch.randn(60, 8, generator=generator) * 4
    logits[::3, 0] += 6.0  # blanks between labels, so repeated labels and long outputs occur
    log_probs = logits.log_softmax(-1)
    decoded = ctc_prefix_search(log_probs, blank=0, eos=1)
    assert len(decoded) > 10
    assert decoded == _looped_prefix_search(log_probs, blank=0, eos=1)


def test_final_scoring_decodes_with_the_prefix_search(fleurs_root, tmp_path):
    task = get_task("mlasr")
    data = task.load(fleurs_root, None, config())
    model = _tiny_model(task, data, dropout=0.0, specaug=False, seed=1)
    generator = torch.Generator().manual_seed(1)
    frames = {
        split: [torch.randn(30, 6, generator=generator) for _ in utterances]
        for split, utterances in data.splits.items()
    }
    final = task.score_split(model, data, _Frames(frames), "test", 4, output_dir=tmp_path)
    during_training = task.score_split(model, data, _Frames(frames), "test", 4)  # best-path, as ESPnet's cer_ctc
    model.eval()
    with torch.no_grad():
        expected = []
        for utterance, features in zip(data.splits["test"], frames["test"]):
            logits, lengths = model(([features[None]], torch.tensor([30])))
            tokens = ctc_prefix_search(logits[0, : int(lengths[0])].log_softmax(-1), blank=0, eos=EOS)
            expected.append(task.hypothesis(tokens, utterance, data))
    assert [line.split("\t")[1] for line in final.lines] == expected
    assert [line.split("\t")[1] for line in during_training.lines] != expected  # this untrained head tells them apart
