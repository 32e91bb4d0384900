"""ASR decoding with a word n-gram LM: s3prl's `decoder_type: kenlm` (`downstream/asr/w2l_decoder.py`).

s3prl builds a flashlight-text `LexiconDecoder` over a KenLM model and a word lexicon; torchaudio's `ctc_decoder` is
the same decoder behind a maintained API, so it is used here with the recipe's settings (beam 5, beam threshold 25,
LM weight 2, word score -1, unknown words forbidden, silence score 0). The LM is an ARPA file or a KenLM binary.
The lexicon maps each word to its spelling in the model's characters; for an ARPA LM it defaults to the LM's own
unigrams (every word the LM knows, spelled letter by letter), a binary LM needs an explicit lexicon file
(`WORD W O R D |` lines, fairseq's `librispeech_lexicon.lst` format).
"""

from __future__ import annotations

import hashlib
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from benchcore.errors import BenchError


@dataclass(frozen=True)
class LMSettings:
    """The recipe's decoder settings (`downstream/docs/superb.md`, ASR with LM)."""

    lm: Path
    lexicon: Path | None = None
    beam: int = 5
    beam_threshold: float = 25.0
    lm_weight: float = 2.0
    word_score: float = -1.0
    unk_score: float = -math.inf
    sil_score: float = 0.0

    def signature(self) -> dict:
        """What identifies this decoding in a record: settings plus the sha256 of the LM and lexicon files."""

        def digest(path: Path | None) -> str | None:
            return None if path is None else hashlib.sha256(Path(path).read_bytes()).hexdigest()

        return {
            "lm": str(self.lm),
            "lm_sha256": digest(self.lm),
            "lexicon": None if self.lexicon is None else str(self.lexicon),
            "lexicon_sha256": digest(self.lexicon),
            "beam": self.beam,
            "beam_threshold": self.beam_threshold,
            "lm_weight": self.lm_weight,
            "word_score": self.word_score,
            "unk_score": self.unk_score,
            "sil_score": self.sil_score,
        }


def arpa_unigrams(path: Path) -> list[str]:
    """The words of an ARPA file's `\\1-grams:` section, without `<s>`, `</s>` and `<unk>`."""
    words, in_unigrams = [], False
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            line = line.strip()
            if line.startswith("\\"):
                if in_unigrams:
                    break
                in_unigrams = line == "\\1-grams:"
                continue
            if in_unigrams and line:
                fields = line.split()
                if len(fields) < 2:
                    raise BenchError(f"{path}: malformed unigram line {line!r}")
                if fields[1] not in ("<s>", "</s>", "<unk>"):
                    words.append(fields[1])
    if not words:
        raise BenchError(f"{path}: no \\1-grams: section; is it an ARPA language model?")
    return words


def is_arpa(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(4096)
    return b"\\data\\" in head


class LexiconLMDecoder:
    """Beam search over CTC emissions constrained to lexicon words and scored by the LM."""

    def __init__(self, settings: LMSettings, tokens: Sequence[str], blank: str, silence: str) -> None:
        if not Path(settings.lm).is_file():
            raise BenchError(f"--lm {settings.lm}: no such file (an ARPA or KenLM binary language model)")
        try:
            from torchaudio.models.decoder import ctc_decoder
        except ImportError as error:  # pragma: no cover - flashlight-text is a pinned dependency
            raise BenchError(f"LM decoding needs flashlight-text ({error})") from error
        characters = set(tokens) - {blank, silence}
        self._folder = tempfile.TemporaryDirectory(prefix="bench_lm_")
        folder = Path(self._folder.name)
        if settings.lexicon is not None:
            if not Path(settings.lexicon).is_file():
                raise BenchError(f"LM lexicon {settings.lexicon}: no such file (lines 'WORD W O R D |')")
            lexicon = Path(settings.lexicon)
        elif is_arpa(Path(settings.lm)):
            lexicon = folder / "lexicon.txt"
            lines = [
                f"{word} {' '.join(word)} {silence}"
                for word in arpa_unigrams(Path(settings.lm))
                if set(word) <= characters
            ]
            lexicon.write_text("\n".join(lines) + "\n")
        else:
            raise BenchError(f"--lm {settings.lm} is a binary LM: give its word lexicon too (decoder.lexicon=PATH)")
        tokens_file = folder / "tokens.txt"
        tokens_file.write_text("\n".join(tokens) + "\n")
        self.decoder = ctc_decoder(
            lexicon=str(lexicon),
            tokens=str(tokens_file),
            lm=str(settings.lm),
            nbest=1,
            beam_size=settings.beam,
            beam_size_token=len(tokens),
            beam_threshold=settings.beam_threshold,
            lm_weight=settings.lm_weight,
            word_score=settings.word_score,
            unk_word="<unk>",
            unk_score=settings.unk_score,
            sil_score=settings.sil_score,
            log_add=False,
            blank_token=blank,
            sil_token=silence,
        )

    def decode(self, logits: Tensor, lengths: Tensor) -> list[str]:
        """Best word sequence per row of (B, T, V) logits, words joined by spaces."""
        emissions = logits.float().log_softmax(dim=-1).cpu().contiguous()
        results = self.decoder(emissions, lengths.to(torch.int32).cpu())
        return [
            " ".join(word for word in (hypotheses[0].words if hypotheses else []) if word) for hypotheses in results
        ]
