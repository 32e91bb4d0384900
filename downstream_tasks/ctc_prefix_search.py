"""ML-SUPERB's decoding: ESPnet's beam search with CTC prefix scores only and a beam of one.

``egs2/ml_superb/asr1/conf/decode_asr.yaml`` sets ``beam_size: 1, ctc_weight: 1.0, lm_weight: 0.0``; the model has no
decoder, so ``espnet2/bin/asr_inference.py`` (``Speech2Text``) builds a ``BeamSearch`` whose only weighted scorer is
``CTCPrefixScorer`` (``espnet/nets/ctc_prefix_score.py``, Watanabe et al. 2017), without pre-beam
(``pre_beam_score_key=None`` when ``ctc_weight == 1.0``). With one hypothesis, each step extends the prefix ``g`` by the
token ``c`` with the highest prefix probability ``psi(g + c)`` -- the probability of all label sequences that start
with ``g + c`` -- where ``<eos>`` scores the probability that the sequence *is* ``g`` and the blank is never chosen.
Decoding stops at ``<eos>`` or after as many tokens as the utterance has output frames (``maxlenratio=0``). This is not
best-path (per-frame argmax) decoding: a label is chosen by summing over all its alignments.

Per step, ``psi`` for every token is one (T) x (T, V) product of the prefix's forward probabilities with the frame
posteriors; the chosen token's forward variables follow from two cumulative log-sum-exp scans instead of ESPnet's loop
over frames (the same recursions, unrolled). Everything runs in float64 on the CPU, one utterance at a time as
``asr_inference.py`` decodes (batch size 1).
"""

from __future__ import annotations

import torch
from torch import Tensor


def _log_matvec(log_weights: Tensor, probabilities: Tensor) -> Tensor:
    """log(sum_t exp(log_weights[t]) * probabilities[t, :]) for every column, without overflow."""
    peak = log_weights.max()
    if not torch.isfinite(peak):
        return torch.full((probabilities.shape[1],), float("-inf"), dtype=probabilities.dtype)
    return peak + torch.log(torch.exp(log_weights - peak) @ probabilities)


def _scan(log_terms: Tensor, log_steps: Tensor) -> Tensor:
    """The recursion r[t] = (r[t-1] + a[t]) * s[t] from r[-1] = 0, with a = exp(log_terms) and s = exp(log_steps),
    in logs for every t at once: log r[t] = S[t] + logcumsumexp(log a - S[t-1])[t], S the cumulative sum of log s."""
    cumulative = torch.cumsum(log_steps, dim=0)
    before = torch.cat([cumulative.new_zeros(1), cumulative[:-1]])  # S[t-1], S[-1] = 0
    return cumulative + torch.logcumsumexp(log_terms - before, dim=0)


def ctc_prefix_search(log_probs: Tensor, blank: int, eos: int) -> list[int]:
    """The tokens ESPnet's width-1 CTC prefix search outputs for one utterance's (T, V) log-posteriors (``eos`` is a
    vocabulary entry that is never a CTC target; its column is not read)."""
    x = log_probs.detach().to("cpu", torch.float64)
    frames, vocabulary = x.shape
    if frames == 0:
        return []
    probabilities = x.exp()
    minus_inf = torch.tensor(float("-inf"), dtype=torch.float64)
    # forward variables of the empty prefix: no label yet (r_n), only blanks so far (r_b)
    r_nonblank = torch.full((frames,), float("-inf"), dtype=torch.float64)
    r_blank = torch.cumsum(x[:, blank], dim=0)
    prefix: list[int] = []
    for _ in range(frames):  # maxlenratio=0: at most as many tokens as frames
        length = len(prefix)
        start = max(length, 1)  # the next label's first frame: each label of the prefix needs one
        r_total = torch.logaddexp(r_nonblank, r_blank)
        # phi[t-1] + x[t, c] summed over t >= start: the new label c begins at frame t
        entering = torch.full((frames,), float("-inf"), dtype=torch.float64)
        entering[start:] = r_total[start - 1 : frames - 1]
        psi = _log_matvec(entering, probabilities)
        if length == 0:  # the first label may also begin at frame 0
            psi = torch.logaddexp(psi, x[0])
        else:  # a repeated label needs a blank between: only the paths ending in blank continue into it
            entering_last = torch.full((frames,), float("-inf"), dtype=torch.float64)
            entering_last[start:] = r_blank[start - 1 : frames - 1]
            psi[prefix[-1]] = torch.logsumexp(entering_last + x[:, prefix[-1]], dim=0)
        psi[blank] = minus_inf
        psi[eos] = r_total[-1]
        token = int(torch.argmax(psi))
        if token == eos or not torch.isfinite(psi[token]):  # nothing can follow: the prefix is the hypothesis
            break
        # the extended prefix's forward variables: r_n[t] = (r_n[t-1] + phi[t-1]) x[t, c],
        # r_b[t] = (r_b[t-1] + r_n[t-1]) x[t, blank]
        phi = r_blank if length > 0 and token == prefix[-1] else r_total
        new_nonblank = torch.full((frames,), float("-inf"), dtype=torch.float64)
        new_blank = torch.full((frames,), float("-inf"), dtype=torch.float64)
        if length == 0:
            new_nonblank[0] = x[0, token]
        if start < frames:  # frames left after the prefix's first possible end
            terms = phi[start - 1 : frames - 1].clone()
            terms[0] = torch.logaddexp(terms[0], new_nonblank[start - 1])  # r_n[start - 1] of the extended prefix
            new_nonblank[start:] = _scan(terms, x[start:, token])
            new_blank[start:] = _scan(new_nonblank[start - 1 : frames - 1], x[start:, blank])
        r_nonblank, r_blank = new_nonblank, new_blank
        prefix.append(token)
    return prefix


def ctc_prefix_search_batch(logits: Tensor, lengths: Tensor, blank: int, eos: int) -> list[list[int]]:
    """:func:`ctc_prefix_search` on each utterance of (B, T, V) logits, over its own valid frames."""
    log_probs = logits.detach().float().log_softmax(dim=-1).cpu()
    return [ctc_prefix_search(log_probs[row, :length], blank, eos) for row, length in enumerate(lengths.tolist())]
