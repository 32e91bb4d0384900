"""The order of ER's training pool before s3prl's 80/20 train/dev cut (config ``data.partition``).

s3prl's ``emotion/expert.py`` (lines 47-52) cuts ``meta_data/Session<k>/train_meta_data.json`` with
``torch.manual_seed(0)`` and ``random_split``, so which utterances land in dev depends on the order that file lists
them. ``IEMOCAP_preprocess.py`` wrote it once: sessions sorted (lines 58-65), each session's label files in
``os.listdir`` order (lines 29-32: the directory order of the machine that ran it, which no other copy of the corpus
reproduces), each file's kept turns in line order (lines 33-47). The meta files ship in s3prl's repository but not in
its wheel, so this module keeps what the cut depends on, read off s3prl 0.4.18's
``downstream/emotion/meta_data/Session<k>/test_meta_data.json`` (Apache-2.0; facts about IEMOCAP file names): each
session's dialogs in the order listed there, how many utterances each contributes, and a SHA-256 of the session's
``<utterance>\\t<label>`` lines. Every ``train_meta_data.json`` is the other four sessions' test lists concatenated in
session order, so these five listings determine all five training pools.

Partitions:

- ``s3prl``: the label files are read in s3prl's dialog order, and what is read must be s3prl's list exactly (same
  utterances, labels and order, checked against the digest); anything else is refused, naming ``data.partition=sorted``.
- ``sorted``: the label files in name order; for corpora in IEMOCAP's layout that are not IEMOCAP (superb-mini).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from benchcore.errors import BenchError
from downstream_tasks.base import Utterance

PARTITIONS = ("s3prl", "sorted")


@dataclass(frozen=True)
class SessionListing:
    """One session as s3prl's meta data lists it."""

    sha256: str  # of "\n".join(f"{utterance}\t{label}") over the session, labels after exc -> hap
    dialogs: tuple[tuple[str, int], ...]  # (dialog, utterances it contributes), in the meta file's order


S3PRL_SESSIONS: dict[str, SessionListing] = {
    "Session1": SessionListing(  # 1,085 utterances
        "ea1efea211add394e22197f204f5ca3f175b066b725a2a33b59a5615c2e6b4eb",
        (
            ("Ses01F_script02_2", 47),
            ("Ses01F_impro07", 27),
            ("Ses01F_script03_2", 60),
            ("Ses01M_impro02", 28),
            ("Ses01F_impro06", 43),
            ("Ses01F_script01_3", 54),
            ("Ses01M_script02_1", 36),
            ("Ses01M_impro04", 28),
            ("Ses01M_script01_1", 45),
            ("Ses01F_impro01", 8),
            ("Ses01F_script01_1", 27),
            ("Ses01F_impro05", 52),
            ("Ses01M_script01_2", 14),
            ("Ses01M_script02_2", 57),
            ("Ses01F_script02_1", 37),
            ("Ses01M_script03_2", 49),
            ("Ses01M_impro05", 48),
            ("Ses01M_impro01", 19),
            ("Ses01F_impro03", 40),
            ("Ses01M_impro03", 48),
            ("Ses01M_script01_3", 54),
            ("Ses01F_script03_1", 26),
            ("Ses01M_impro07", 49),
            ("Ses01F_impro02", 27),
            ("Ses01M_impro06", 60),
            ("Ses01M_script03_1", 43),
            ("Ses01F_impro04", 44),
            ("Ses01F_script01_2", 15),
        ),
    ),
    "Session2": SessionListing(  # 1,023 utterances
        "d1d927c2614cc2583b77b623df9d7e6d6bef014d17cf9b315fd86cb43d7c07bf",
        (
            ("Ses02F_impro03", 41),
            ("Ses02F_script03_2", 41),
            ("Ses02M_script03_2", 49),
            ("Ses02M_impro04", 19),
            ("Ses02M_impro05", 35),
            ("Ses02F_script02_1", 36),
            ("Ses02F_script02_2", 53),
            ("Ses02M_script02_2", 42),
            ("Ses02M_impro08", 45),
            ("Ses02M_impro07", 53),
            ("Ses02F_script03_1", 51),
            ("Ses02M_script01_3", 33),
            ("Ses02F_impro06", 35),
            ("Ses02F_impro01", 11),
            ("Ses02F_impro04", 20),
            ("Ses02F_script01_2", 13),
            ("Ses02M_impro02", 24),
            ("Ses02M_impro03", 41),
            ("Ses02F_script01_3", 30),
            ("Ses02F_impro05", 28),
            ("Ses02F_script01_1", 30),
            ("Ses02M_impro06", 41),
            ("Ses02M_script02_1", 34),
            ("Ses02F_impro08", 42),
            ("Ses02F_impro02", 16),
            ("Ses02M_script01_1", 34),
            ("Ses02M_impro01", 21),
            ("Ses02M_script01_2", 14),
            ("Ses02M_script03_1", 33),
            ("Ses02F_impro07", 58),
        ),
    ),
    "Session3": SessionListing(  # 1,151 utterances
        "f37196df3d620c869ef25dd896a7ffd1ddf2425a569129202ac230f5e53f52ff",
        (
            ("Ses03F_script02_1", 32),
            ("Ses03M_impro04", 24),
            ("Ses03M_script03_2", 58),
            ("Ses03M_impro05b", 46),
            ("Ses03M_impro02", 41),
            ("Ses03F_impro05", 16),
            ("Ses03M_script02_2", 47),
            ("Ses03M_impro08b", 28),
            ("Ses03F_impro07", 50),
            ("Ses03M_script01_1", 45),
            ("Ses03M_script02_1", 27),
            ("Ses03M_impro05a", 44),
            ("Ses03M_impro07", 38),
            ("Ses03M_script03_1", 8),
            ("Ses03F_script03_1", 18),
            ("Ses03M_impro01", 14),
            ("Ses03F_script01_1", 49),
            ("Ses03F_impro04", 24),
            ("Ses03F_script02_2", 41),
            ("Ses03F_script01_3", 61),
            ("Ses03M_script01_3", 47),
            ("Ses03M_impro06", 53),
            ("Ses03F_impro01", 6),
            ("Ses03F_impro03", 27),
            ("Ses03M_script01_2", 18),
            ("Ses03M_impro08a", 32),
            ("Ses03M_impro03", 45),
            ("Ses03F_script03_2", 47),
            ("Ses03F_script01_2", 26),
            ("Ses03F_impro08", 38),
            ("Ses03F_impro06", 53),
            ("Ses03F_impro02", 48),
        ),
    ),
    "Session4": SessionListing(  # 1,031 utterances
        "98b0c8e8b148451160f23216f23924584eddd46dd8e759b1ffbb669b77a12218",
        (
            ("Ses04F_script03_1", 26),
            ("Ses04F_impro01", 17),
            ("Ses04M_script02_1", 33),
            ("Ses04M_script02_2", 31),
            ("Ses04F_script01_3", 38),
            ("Ses04M_impro05", 30),
            ("Ses04F_script02_1", 30),
            ("Ses04F_impro07", 110),
            ("Ses04F_impro02", 25),
            ("Ses04F_impro03", 60),
            ("Ses04M_impro02", 5),
            ("Ses04F_script01_1", 42),
            ("Ses04M_script01_1", 38),
            ("Ses04F_script03_2", 52),
            ("Ses04M_impro06", 40),
            ("Ses04F_script02_2", 37),
            ("Ses04M_impro01", 11),
            ("Ses04M_impro04", 20),
            ("Ses04F_impro05", 15),
            ("Ses04F_script01_2", 15),
            ("Ses04F_impro08", 21),
            ("Ses04F_impro06", 26),
            ("Ses04M_impro03", 38),
            ("Ses04M_script01_3", 20),
            ("Ses04M_script01_2", 24),
            ("Ses04M_script03_1", 34),
            ("Ses04M_script03_2", 77),
            ("Ses04M_impro07", 50),
            ("Ses04F_impro04", 39),
            ("Ses04M_impro08", 27),
        ),
    ),
    "Session5": SessionListing(  # 1,241 utterances
        "ed7d9d63a68021fadf6071df96a64733617b49c908cf5ac404d1c7f51eb09417",
        (
            ("Ses05M_script01_3", 41),
            ("Ses05F_impro04", 53),
            ("Ses05M_script02_2", 41),
            ("Ses05F_script01_3", 44),
            ("Ses05F_script01_2", 13),
            ("Ses05F_impro06", 52),
            ("Ses05M_impro06", 28),
            ("Ses05M_impro01", 12),
            ("Ses05F_script03_1", 37),
            ("Ses05F_impro07", 67),
            ("Ses05F_script03_2", 51),
            ("Ses05M_script01_1b", 24),
            ("Ses05F_impro05", 56),
            ("Ses05M_script01_1", 32),
            ("Ses05F_impro08", 46),
            ("Ses05M_script03_1", 43),
            ("Ses05M_impro05", 33),
            ("Ses05F_impro01", 7),
            ("Ses05F_impro02", 39),
            ("Ses05M_impro03", 58),
            ("Ses05F_script01_1", 31),
            ("Ses05M_impro04", 42),
            ("Ses05M_script02_1", 25),
            ("Ses05F_impro03", 83),
            ("Ses05F_script02_2", 36),
            ("Ses05F_script02_1", 29),
            ("Ses05M_script03_2", 53),
            ("Ses05M_impro08", 48),
            ("Ses05M_impro02", 24),
            ("Ses05M_impro07", 83),
            ("Ses05M_script01_2", 10),
        ),
    ),
}


def session_digest(utterances: Sequence[Utterance], label_names: Sequence[str]) -> str:
    """SHA-256 of ``<utterance>\\t<label>`` lines, the form :data:`S3PRL_SESSIONS` records."""
    lines = (f"{utterance.path.stem}\t{label_names[utterance.label[0]]}" for utterance in utterances)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def check_partition(partition: str) -> str:
    if partition not in PARTITIONS:
        raise BenchError(
            f"data.partition={partition}: choose s3prl (the recipe's train/dev split of the real IEMOCAP) "
            "or sorted (label files in name order, for any corpus in IEMOCAP's layout)"
        )
    return partition


def ordered_sessions(
    sessions: Mapping[str, Mapping[str, list[Utterance]]], label_names: Sequence[str], partition: str
) -> dict[str, list[Utterance]]:
    """Each session's utterances in the order ``partition`` lists them, sessions in name order.

    ``sessions`` maps a session folder's name to its label files' dialogs in name order (the order ``sorted`` keeps),
    each mapped to its kept utterances in line order.
    """
    if check_partition(partition) == "s3prl" and set(sessions) != set(S3PRL_SESSIONS):
        raise _not_s3prls(
            "sessions",
            f"the corpus has {', '.join(sorted(sessions)) or 'none'}, s3prl's meta data {', '.join(S3PRL_SESSIONS)}",
        )
    return {
        name: (
            _s3prl_order(name, sessions[name], label_names)
            if partition == "s3prl"
            else [utterance for utterances in sessions[name].values() for utterance in utterances]
        )
        for name in sorted(sessions)
    }


def _s3prl_order(session: str, by_dialog: Mapping[str, list[Utterance]], label_names: Sequence[str]) -> list[Utterance]:
    listing = S3PRL_SESSIONS[session]
    # A label file with no kept turn leaves no trace in the meta data, so only non-empty ones are compared.
    read = {dialog: len(utterances) for dialog, utterances in by_dialog.items() if utterances}
    expected = dict(listing.dialogs)
    extra, absent = sorted(read.keys() - expected.keys()), sorted(expected.keys() - read.keys())
    if extra or absent:
        what = [f"{len(extra)} dialog(s) s3prl does not list ({extra[0]}, ...)"] if extra else []
        what += [f"{len(absent)} of s3prl's dialog(s) missing or empty ({absent[0]}, ...)"] if absent else []
        raise _not_s3prls(session, "; ".join(what))
    for dialog, count in listing.dialogs:
        if read[dialog] != count:
            raise _not_s3prls(
                session, f"{dialog}.txt has {read[dialog]} neu/hap/exc/ang/sad turn(s), s3prl lists {count}"
            )
    utterances = [utterance for dialog, _ in listing.dialogs for utterance in by_dialog[dialog]]
    if session_digest(utterances, label_names) != listing.sha256:
        raise _not_s3prls(session, "its turns' names, labels or line order differ from s3prl's list")
    return utterances


def _not_s3prls(session: str, why: str) -> BenchError:
    return BenchError(
        f"IEMOCAP {session}: {why}, so this is not the corpus s3prl's meta_data lists and its train/dev "
        "split cannot be reproduced; set data.partition=sorted to cut the label files in name order instead"
    )
