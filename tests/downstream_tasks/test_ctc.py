"""The CTC machinery PR, ASR and SF share, against s3prl 0.4.18's own code on the same inputs: greedy decoding
(`downstream/ctc/expert.py` `forward`, `downstream/asr/expert.py` `_decode`), the BiLSTM head with its dropout
(`downstream/asr/model.py` `RNNs`) and SpecAugment (`downstream/specaug.py` `SpecAug`)."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from downstream_tasks import get_task
from downstream_tasks.asr import BOS, FAIRSEQ_SPECIALS, VOCABULARY
from downstream_tasks.ctc import EOS, SPECIALS, RNNCTCHead, SpecAugment, greedy_decode
from downstream_tasks.pr import PHONES
from upstream.s3prl_compat import import_s3prl_nn


@pytest.fixture(scope="module")
def s3prl():
    import_s3prl_nn()  # the torchaudio shims s3prl's modules need
    from s3prl.downstream import specaug
    from s3prl.downstream.asr import expert as asr_expert
    from s3prl.downstream.asr import model as asr_model
    from s3prl.downstream.asr.dictionary import Dictionary
    from s3prl.downstream.ctc import expert as ctc_expert
    from s3prl.downstream.ctc import text

    return SimpleNamespace(
        asr_expert=asr_expert,
        asr_model=asr_model,
        Dictionary=Dictionary,
        ctc_expert=ctc_expert,
        text=text,
        specaug=specaug,
    )


def _logits(frames: list[int], vocab_size: int) -> torch.Tensor:
    logits = torch.full((1, len(frames), vocab_size), -1.0)
    for frame, token in enumerate(frames):
        logits[0, frame, token] = 1.0
    return logits


def _random_logits(generator: torch.Generator, frames: int, vocab_size: int, favoured: list[int]) -> torch.Tensor:
    """Random frames where the ``favoured`` ids (blank, end of sentence, unknown) often win, so they occur
    mid-utterance."""
    logits = torch.randn(1, frames, vocab_size, generator=generator)
    logits[..., favoured] += 1.5
    return logits


def test_greedy_decoding_deletes_every_eos_and_goes_on():
    # s3prl ctc/expert.py:88-97: unique_consecutive, then every <pad> (0) and <eos> (1) is filtered out; nothing stops
    # at <eos>. Frames 5 5 0 5 1 7 7 1 9 -> 5 5 7 9 (the old decoder stopped at the first <eos> and returned 5 5).
    assert greedy_decode(_logits([5, 5, 0, 5, 1, 7, 7, 1, 9], 10), torch.tensor([9])) == [[5, 5, 7, 9]]
    # only the valid frames count: the padded frame 9 is not decoded
    assert greedy_decode(_logits([5, 1, 9], 10), torch.tensor([2])) == [[5]]
    # asr/expert.py:202-203: only the blank is removed
    assert greedy_decode(_logits([5, 0, 2, 2, 7], 10), torch.tensor([5]), removed={0}) == [[5, 2, 7]]


def test_pr_and_sf_decoding_equal_s3prl_ctc_expert(s3prl):
    """Our greedy tokens rendered by PR and SF are the `hypothesis` strings s3prl's own `forward` records (eval batch
    size 1, as `ctc/data.py` `EVAL_BATCH_SIZE`), for random frames full of mid-utterance <eos>, blanks and <unk>."""
    slots = [f"{edge}-{name}" for name in ("artist", "playlist", "") for edge in ("B", "E")]
    sf_characters = [" ", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ", "'"]
    cases = {
        "pr": (s3prl.text.WordTextEncoder(list(PHONES)), SPECIALS + PHONES),
        "sf": (s3prl.text.CharacterTextSlotEncoder(sf_characters, slots), SPECIALS + sf_characters + slots),
    }
    generator = torch.Generator().manual_seed(0)
    for name, (tokenizer, vocabulary) in cases.items():
        assert tokenizer.vocab_size == len(vocabulary)
        task, data = get_task(name), SimpleNamespace(label_names=[vocabulary])
        expert = SimpleNamespace(
            projector=nn.Identity(),
            model=lambda features, lengths: (features, lengths),
            objective=nn.CTCLoss(blank=tokenizer.pad_idx, zero_infinity=True),
            tokenizer=tokenizer,
        )
        cut_short = 0
        for _ in range(30):
            logits = _random_logits(generator, 40, len(vocabulary), [0, EOS, 2])
            records = defaultdict(list)
            s3prl.ctc_expert.DownstreamExpert.forward(expert, "dev", [logits[0]], [[3, 4, EOS]], ["utt"], records)
            tokens = task.predict((logits, torch.tensor([40])), data)[0]
            assert task.render(tokens, data) == records["hypothesis"][0]
            cut_short += EOS in torch.unique_consecutive(logits[0].argmax(-1)).tolist()[:-1]
        assert cut_short > 20  # the frames did put <eos> mid-utterance, where the old decoder stopped


def test_asr_decoding_and_scores_equal_s3prl_asr_expert(s3prl):
    """ASR through s3prl's `asr/expert.py` `forward` (its `_decode`) and `_compute_metrics`: same words per utterance,
    and our `wer` and `cer` are its `wer` and `uer` (percent there), on random frames where `<s>`, `<pad>`, `</s>` and
    `<unk>` all occur."""
    dictionary = s3prl.Dictionary()
    for symbol in VOCABULARY[len(FAIRSEQ_SPECIALS) :]:  # char.dict's symbols, as Dictionary.load adds them
        dictionary.add_symbol(symbol)
    assert dictionary.symbols == VOCABULARY and dictionary.bos() == BOS
    expert = SimpleNamespace(
        dictionary=dictionary,
        blank=dictionary.bos(),
        decoder=None,
        training=False,
        projector=nn.Identity(),
        model=lambda features, lengths: (features, lengths),
        objective=nn.CTCLoss(blank=dictionary.bos(), zero_infinity=True),
    )
    expert._decode = lambda *args: s3prl.asr_expert.DownstreamExpert._decode(expert, *args)
    expert._get_log_probs = lambda *args: s3prl.asr_expert.DownstreamExpert._get_log_probs(expert, *args)
    task = get_task("asr")
    data = SimpleNamespace(label_names=[list(VOCABULARY)])
    index = {symbol: i for i, symbol in enumerate(VOCABULARY)}
    generator = torch.Generator().manual_seed(1)
    records, predictions, utterances = defaultdict(list), [], []
    for text in ("HELLO WORLD", "A", "IT'S NOT THE END", "Q"):
        label = [index[c] for c in text.replace(" ", "|") + "|"] + [2]
        logits = _random_logits(generator, 30, len(VOCABULARY), [0, 1, 2, 3, index["|"]])
        s3prl.asr_expert.DownstreamExpert.forward(expert, "dev-clean", [logits[0]], [label], ["utt"], records)
        predictions += task.predict((logits, torch.tensor([30])), data)
        utterances.append(SimpleNamespace(label=tuple(label)))
    assert [task.render(p, data) for p in predictions] == [" ".join(words) for words in records["pred_words"]]
    assert any("<pad>" in p or "<unk>" in p for p in records["pred_tokens"])  # shown as written, as s3prl does
    uer, wer = s3prl.asr_expert.DownstreamExpert._compute_metrics(
        expert, records["pred_tokens"], records["pred_words"], records["target_tokens"], records["target_words"]
    )
    ours = task.metrics(predictions, utterances, data)
    assert ours["wer"] * 100 == pytest.approx(wer) and ours["cer"] * 100 == pytest.approx(uer)


def _s3prl_rnns(s3prl, ours: RNNCTCHead, layers: int, dropout: float) -> nn.Module:
    """s3prl's `RNNs` as `asr/config.yaml` and `ctc/snips.yaml` configure it, with our head's weights."""
    hidden = ours.rnns[0].forward_rnn.hidden_size
    theirs = s3prl.asr_model.RNNs(
        ours.projector.out_features,
        ours.output.out_features,
        160,
        module="LSTM",
        bidirection=True,
        dim=[hidden] * layers,
        dropout=[dropout] * layers,
        layer_norm=[False] * layers,
        proj=[False] * layers,
        sample_rate=[1] * layers,
        sample_style="concat",
        total_rate=-1,
    )
    with torch.no_grad():
        for layer, rnn in zip(theirs.rnns, ours.rnns):
            for suffix, direction in (("", rnn.forward_rnn), ("_reverse", rnn.backward_rnn)):
                for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
                    getattr(layer.layer, name + suffix).copy_(getattr(direction, name))
        theirs.linear.load_state_dict(ours.output.state_dict())
    return theirs


def test_rnn_head_equals_s3prl_rnns_with_dropout_after_every_layer(s3prl):
    """Same weights: equal in eval mode, and equal in train mode with the same seed, which needs a dropout after each
    BiLSTM layer (also the last, before the output linear) drawn in s3prl's order (`asr/model.py`
    `RNNLayer.forward`)."""
    torch.manual_seed(0)
    ours = RNNCTCHead(12, 9, projector_dim=10, rnn_hidden=6, rnn_layers=2, dropout=0.2)
    theirs = _s3prl_rnns(s3prl, ours, 2, 0.2)
    features, lengths = torch.randn(3, 11, 12), torch.tensor([11, 7, 4])
    for train in (False, True):
        ours.train(train), theirs.train(train)
        torch.manual_seed(5)
        logits, _ = ours(features, lengths)
        torch.manual_seed(5)
        expected, _ = theirs(ours.projector(features), lengths)
        for row, length in enumerate(lengths.tolist()):
            assert torch.allclose(logits[row, :length], expected[row, :length], atol=1e-5), (train, row)
    # without the last layer's dropout the training-mode outputs differ: the comparison above can fail
    ours.train()
    torch.manual_seed(5)
    hidden = ours.dropout(ours.rnns[0](ours.projector(features), lengths))
    without_last = ours.output(ours.rnns[1](hidden, lengths))
    assert not torch.allclose(without_last[0], expected[0], atol=1e-3)


# s3prl asr/config.yaml and ctc/snips.yaml `specaug:` blocks (what SpecAugment() defaults to)
RECIPE_SPECAUG = dict(
    adaptive=False,
    adaptive_number_ratio=0.04,
    adaptive_size_ratio=0.04,
    max_n_time_masks=20,
    apply_time_warp=True,
    apply_time_mask=True,
    apply_freq_mask=True,
    time_warp_window=5,
    time_mask_width_range=[0, 40],
    freq_mask_width_range=[0, 50],
    num_freq_mask=4,
    num_time_mask=2,
)


def test_specaugment_draws_s3prl_specaug_masks_and_warps(s3prl):
    """A generator seeded like s3prl's global RNG gives s3prl's output bit for bit on every utterance's valid frames:
    each row warped on its own length, masks drawn in `SpecAug`'s order and shapes."""
    theirs, ours = s3prl.specaug.SpecAug(**RECIPE_SPECAUG), SpecAugment().train()
    lengths = [120, 57, 9, 200]
    generator = torch.Generator().manual_seed(7)
    utterances = [torch.randn(length, 64, generator=generator) for length in lengths]
    batch = nn.utils.rnn.pad_sequence(utterances, batch_first=True, padding_value=3.0)
    batch = torch.cat([batch, torch.full((4, 6, 64), 3.0)], dim=1)  # a batch padded beyond its longest utterance
    for seed in range(3):
        torch.manual_seed(seed)
        expected, _ = theirs([u.clone() for u in utterances])
        augmented = ours(batch.clone(), torch.tensor(lengths), torch.Generator().manual_seed(seed))
        for row, length in enumerate(lengths):
            assert torch.equal(augmented[row, :length], expected[row])
        assert augmented.shape == batch.shape


def test_time_warp_is_per_utterance_and_leaves_padding():
    """Warp only: every row is warped within its own length (a row of constant frames stays constant there), the padding
    after it is untouched, and the same row warps the same way whatever else is in the batch."""
    warp_only = SpecAugment(num_time_masks=0, num_freq_masks=0).train()
    ramp = torch.arange(50.0)[:, None].expand(50, 4)
    batch = torch.stack([ramp, torch.full((50, 4), 2.0)])
    batch[0, 30:] = -9.0  # padding of the first row
    warped = warp_only(batch.clone(), torch.tensor([30, 50]), torch.Generator().manual_seed(3))
    assert torch.equal(warped[0, 30:], batch[0, 30:])
    assert not torch.equal(warped[0, :30], batch[0, :30])
    assert torch.allclose(warped[1], batch[1])
    alone = warp_only(batch[:1].clone(), torch.tensor([30]), torch.Generator().manual_seed(3))
    assert torch.equal(alone[0], warped[0])
    warp_only.eval()
    assert torch.equal(warp_only(batch, torch.tensor([30, 50]), None), batch)
