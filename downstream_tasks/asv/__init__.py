"""ASV: speaker verification on VoxCeleb1 (s3prl `downstream/sv_voxceleb1`, `configs/amsoftmax.yaml`).

Training reads every utterance under `VoxCeleb1/dev/wav/` longer than 2 s (the recipe's `min_sec: 32000` samples) and
takes a random 8 s crop of each at every access; the classes are the sorted speaker folders of `dev/wav/`. The head is
s3prl's: `Linear(D, 512)` -> x-vector (5 TDNN layers) -> statistics pooling -> `Linear(3000, 512)`+ReLU
(the embedding) -> `Linear(512, 512)`+ReLU in training only, trained with AM-softmax (s=30, m=0.4). Test scores the
trial list `VoxCeleb1/voxceleb1_test_v2.txt` (`<1|0> <path> <path>`, paths relative to `test/wav/`) by the cosine
similarity of L2-normalised whole-utterance embeddings; the metric is the EER (a fraction).

Two test numbers come out of one training run:

* ``eer``: SUPERB's protocol. The recipe has no validation set: `test_expdir.sh` scores the checkpoints saved at
  20,000, 40,000, ... 200,000 updates on test and reports the lowest test EER. Here test is scored every
  ``test_eval_step`` updates and the lowest EER's checkpoint is kept (``superb_step`` says which step). This **selects
  on test**.
* ``eer_dev_selected`` (only with ``data.dev_videos_per_speaker`` set, as in the ``mini`` profile; the ``superb``
  profile trains on all of ``dev/wav`` as the recipe does): the test EER of the checkpoint with the lowest EER on a dev
  trial list held out of the training folder (:func:`hold_out_dev_trials`); nothing is selected on test.

The crop happens on the encoder's frames (the frame cache or the encoder run on whole utterances), not on the audio
before encoding as s3prl does; it is drawn from the trainer's generator, so it is deterministic and resumable.

The package, by concern: :mod:`~downstream_tasks.asv.reader` reads VoxCeleb1 and the trial lists,
:mod:`~downstream_tasks.asv.head` holds the x-vector head, AM-softmax and the frame crop,
:mod:`~downstream_tasks.asv.scoring` scores trials, and :mod:`~downstream_tasks.asv.task` holds the task class and its
checkpoint rules. The names are re-exported here, so ``downstream_tasks.asv`` is imported as before.
"""

from __future__ import annotations

from downstream_tasks.asv.head import (
    TDNN,
    TDNN_CONTEXTS,
    TDNN_SHRINK,
    VARIANCE_FLOOR,
    AMSoftmax,
    SpeakerEmbedder,
    SpeakerLogits,
    XVectorHead,
    am_softmax_loss,
    random_frame_crop,
    statistics_pooling,
)
from downstream_tasks.asv.reader import (
    TRIAL_LIST,
    Trial,
    VerificationData,
    hold_out_dev_trials,
    load_voxceleb1,
    read_trials,
)
from downstream_tasks.asv.scoring import score_trials
from downstream_tasks.asv.task import SpeakerVerification

__all__ = [
    # reader
    "TRIAL_LIST",
    "Trial",
    "VerificationData",
    "read_trials",
    "hold_out_dev_trials",
    "load_voxceleb1",
    # head
    "TDNN_CONTEXTS",
    "VARIANCE_FLOOR",
    "TDNN_SHRINK",
    "TDNN",
    "statistics_pooling",
    "XVectorHead",
    "AMSoftmax",
    "am_softmax_loss",
    "SpeakerLogits",
    "random_frame_crop",
    "SpeakerEmbedder",
    # scoring
    "score_trials",
    # task
    "SpeakerVerification",
]
