"""SD: two-speaker diarization on Libri2Mix (s3prl `downstream/diarization`, legacy recipe).

Data: the Kaldi folders ``LibriMix/{train,dev,test}/`` that s3prl's LibriMix fork writes with
``scripts/prepare_diarization.py`` (``wav.scp``, ``segments``, ``utt2spk``, ``spk2utt``, ``reco2dur``, ``rttm``).
``wav.scp`` paths may be absolute (the real script) or relative to ``LibriMix/`` (superb-mini).

Protocol, as ``diarization/{dataset,expert,model,utils}.py`` and ``score.sh`` do it:

* every recording is cut into chunks of ``chunk_size`` (2000) label frames at the upstream's own frame stride
  (``frame_shift: null`` in the recipe = the upstream's downsample rate); the last chunk is shorter. Train, dev and
  test use the same chunks; the encoder sees each chunk's audio alone (an :class:`Utterance` with a ``segment``);
* frame labels come from ``segments`` + ``utt2spk`` (what s3prl's ``KaldiData`` reads), speaker columns in sorted
  speaker-id order, boundaries at ``np.rint(seconds * 16000 / frame_shift)``;
* head: weighted sum of hidden states, then ``LSTM(D, 512)`` (1 layer, unidirectional), ``Linear(512, 2)``; no
  projector. Features are matched to the label length as ``_match_length`` does (tile by the rounded length ratio,
  then truncate or repeat the last frame);
* loss: permutation-invariant BCE-with-logits over the 2! speaker orders, masked by length (``utils.py::pit_loss``);
* scoring: sigmoid posteriors per recording (its chunks concatenated), then RTTM for each of ``median in {1, 11}`` x
  ``threshold in {0.3, ..., 0.7}``, scored with DER (collar 0, overlap scored) against the split's ``rttm``.

Reported (all fractions): ``der`` = the lowest test DER over the grid (the recipe's number, **selected on test**),
``der_dev_selected`` = the test DER at the grid point with the lowest dev DER, ``acc`` = frame accuracy under the PIT
permutation (s3prl's ``calc_diarization_error``), mean over chunks. Checkpoints and the learning rate are selected on
dev ``der`` (the lowest dev DER over the grid) rather than the legacy recipe's dev frame accuracy: see docs/running.md.

The package, by concern: :mod:`~downstream_tasks.sd.kaldi` reads the Kaldi folders, :mod:`~downstream_tasks.sd.labels`
cuts chunks and builds their frame labels, :mod:`~downstream_tasks.sd.head` holds the PIT loss, the accuracy and the
model, :mod:`~downstream_tasks.sd.scoring` the DER grid, and :mod:`~downstream_tasks.sd.task` the task class. The names
are re-exported here, so ``downstream_tasks.sd`` is imported as before.
"""

from __future__ import annotations

from downstream_tasks.sd.head import (
    ChunkFeatures,
    DiarizationHead,
    DiarizationModel,
    frame_accuracies,
    length_mask,
    match_lengths,
    permutations,
    pit_loss,
)
from downstream_tasks.sd.kaldi import (
    KALDI_FILES,
    LAYOUT,
    ROOT,
    SPLITS,
    KaldiRecording,
    Segment,
    read_kaldi_dir,
    resolve_wav_path,
)
from downstream_tasks.sd.labels import (
    SAMPLE_RATE,
    chunk_ranges,
    decode_label,
    encode_label,
    frame_label_spans,
    frame_labels,
    spans_to_matrix,
)
from downstream_tasks.sd.scoring import GridPoint, best_point, der_grid, point_at, recording_segments
from downstream_tasks.sd.task import DER_GRID_DECIMALS, DiarizationData, SpeakerDiarization

__all__ = [
    # kaldi
    "ROOT",
    "SPLITS",
    "LAYOUT",
    "Segment",
    "KaldiRecording",
    "resolve_wav_path",
    "KALDI_FILES",
    "read_kaldi_dir",
    # labels
    "SAMPLE_RATE",
    "chunk_ranges",
    "frame_label_spans",
    "spans_to_matrix",
    "frame_labels",
    "encode_label",
    "decode_label",
    # head
    "length_mask",
    "pit_loss",
    "permutations",
    "frame_accuracies",
    "match_lengths",
    "DiarizationHead",
    "ChunkFeatures",
    "DiarizationModel",
    # scoring
    "GridPoint",
    "recording_segments",
    "der_grid",
    "best_point",
    "point_at",
    # task
    "DER_GRID_DECIMALS",
    "DiarizationData",
    "SpeakerDiarization",
]
