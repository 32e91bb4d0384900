"""QUESST 2014 (QbE): documents, dev/eval queries, language keys and NIST-style ground truth.

Layout as in ``quesst14Database.tgz``: ``Audio/quesst14_NNNNN.wav`` (documents),
``dev_queries/quesst14_dev_NNNN.wav``, ``eval_queries/quesst14_eval_NNNN.wav``, 8 kHz 16-bit
like the real database, and ``scoring/`` with ``language_key_{utterances,dev,eval}.lst`` (lines
``quesst14Database/<folder>/<file>.wav <language>``, which s3prl filters on ``nnenglish``) and
``groundtruth_quesst14_{dev,eval}/`` holding ``quesst14.ecf.xml``, ``quesst14_<set>.tlist.xml`` and
``quesst14_<set>.rttm`` as the NIST STD-style scorer expects. A query term is spoken inside some
documents (by the document's voice, within a carrier sentence) and alone by a different voice as
the query; the rttm gives each occurrence's time in the document.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from .plan import BuildContext, DatasetPlan, LabelOutput, count, draw_acoustics
from .speakers import pick_speakers
from .synth import AudioJob, Phrase, RenderResult
from .texts import QBE_FOREIGN, QBE_PREFIXES, QBE_SUFFIXES, QBE_TERMS, read_sentence

NAME = "quesst14"
ROOT = "quesst14Database"
ROOTS = (ROOT,)
SAMPLE_RATE = 8000  # the real database is 8 kHz telephone-band audio; recipes resample to 16 kHz
ENGLISH = "nnenglish"  # the real database's label for its (non-native) English recordings


def plan(ctx: BuildContext) -> DatasetPlan:
    size = ctx.size
    rng = ctx.rng(NAME, "plan")
    terms = list(QBE_TERMS)
    rng.shuffle(terms)
    term_sets = {"dev": terms[: size.qbe_queries], "eval": terms[size.qbe_queries : 2 * size.qbe_queries]}
    languages = sorted(QBE_FOREIGN)
    foreign_terms = {s: [] for s in ("dev", "eval")}  # (language, term)
    for i in range(size.qbe_foreign_queries):
        for j, qset in enumerate(("dev", "eval")):
            lang = languages[(2 * i + j) % len(languages)]
            foreign_terms[qset].append((lang, QBE_FOREIGN[lang]["terms"][i % len(QBE_FOREIGN[lang]["terms"])]))

    voices = pick_speakers(ctx.rng(NAME, "voices"), 24)
    doc_voices, query_voices = voices[:12], voices[12:]  # queries never share a voice with documents

    # Which English documents contain which English terms: each term in 2..4 documents.
    n_docs = size.qbe_docs
    doc_terms: list[list[str]] = [[] for _ in range(n_docs)]
    for term in term_sets["dev"] + term_sets["eval"]:
        k = int(rng.integers(2, 5))
        candidates = [d for d in rng.permutation(n_docs) if len(doc_terms[d]) < 2][:k]
        for d in candidates:
            doc_terms[int(d)].append(term)

    docs: list[dict] = []  # {"lang", "phrases", "term_phrase_index": {term: idx}}
    for d in range(n_docs):
        voice = doc_voices[d % len(doc_voices)]
        segments: list[list[str] | str] = [[t] for t in doc_terms[d]]
        n_plain = max(0, 1 - len(doc_terms[d])) + int(rng.integers(0, 2))
        segments += [read_sentence(rng) for _ in range(n_plain)]
        order = rng.permutation(len(segments))
        phrases: list[Phrase] = []
        where: dict[str, int] = {}
        for s in order:
            seg = segments[int(s)]
            pitch, rate = voice.pitch + int(rng.integers(-4, 5)), voice.rate + int(rng.integers(-10, 11))
            first_gap = 0.45 if phrases else 0.0
            if isinstance(seg, list):
                term = seg[0]
                prefix = QBE_PREFIXES[int(rng.integers(len(QBE_PREFIXES)))]
                suffix = QBE_SUFFIXES[int(rng.integers(len(QBE_SUFFIXES)))]
                phrases.append(Phrase(prefix.lower(), voice.voice, pitch, rate, gap=first_gap))
                where[term] = len(phrases)
                phrases.append(Phrase(term.lower(), voice.voice, pitch, rate, gap=float(rng.uniform(0.03, 0.1))))
                phrases.append(Phrase(suffix.lower(), voice.voice, pitch, rate, gap=float(rng.uniform(0.03, 0.1))))
            else:
                phrases.append(Phrase(seg.lower(), voice.voice, pitch, rate, gap=first_gap))
        docs.append({"lang": ENGLISH, "phrases": phrases, "where": where})

    for f in range(size.qbe_foreign_docs):
        lang = languages[f % len(languages)]
        info = QBE_FOREIGN[lang]
        voice = doc_voices[(n_docs + f) % len(doc_voices)]
        espeak_voice = voice.with_language(info["voice"][0])
        wanted = [t for qset in ("dev", "eval") for lg, t in foreign_terms[qset] if lg == lang]
        phrases = []
        where = {}
        if wanted and f < 2 * len(languages):
            term = wanted[f // len(languages) % len(wanted)]
            where[term] = 0
            phrases.append(Phrase(term, espeak_voice, voice.pitch, voice.rate))
        for k in range(2):
            sentence = info["sentences"][(f + k) % len(info["sentences"])]
            phrases.append(Phrase(sentence, espeak_voice, voice.pitch, voice.rate, gap=0.4 if phrases else 0.0))
        docs.append({"lang": lang, "phrases": phrases, "where": where})

    order = rng.permutation(len(docs))
    doc_names: list[str] = []
    jobs: list[AudioJob] = []
    for number, index in enumerate(order, start=1):
        doc = docs[int(index)]
        name = f"quesst14_{number:05d}"
        doc["name"] = name
        rel = f"{ROOT}/Audio/{name}.wav"
        jobs.append(
            AudioJob(
                rel,
                tuple(doc["phrases"]),
                ctx.job_seed(rel),
                sample_rate=SAMPLE_RATE,
                lead=float(rng.uniform(0.2, 0.8)),
                tail=float(rng.uniform(0.2, 0.8)),
                acoustics=draw_acoustics(rng, snr=(20, 40), rt60=(0.05, 0.25), tilt=0.3),
            )
        )
        doc_names.append(name)

    queries: dict[str, list[dict]] = {}
    for qset in ("dev", "eval"):
        items = [(ENGLISH, t) for t in term_sets[qset]] + list(foreign_terms[qset])
        perm = rng.permutation(len(items))
        queries[qset] = []
        for number, index in enumerate(perm, start=1):
            lang, term = items[int(index)]
            voice = query_voices[int(rng.integers(len(query_voices)))]
            espeak_voice = voice.voice if lang == ENGLISH else voice.with_language(QBE_FOREIGN[lang]["voice"][0])
            name = f"quesst14_{qset}_{number:04d}"
            rel = f"{ROOT}/{qset}_queries/{name}.wav"
            text = term.lower() if lang == ENGLISH else term
            jobs.append(
                AudioJob(
                    rel,
                    (Phrase(text, espeak_voice, voice.pitch, voice.rate),),
                    ctx.job_seed(rel),
                    sample_rate=SAMPLE_RATE,
                    lead=float(rng.uniform(0.1, 0.3)),
                    tail=float(rng.uniform(0.1, 0.3)),
                    acoustics=draw_acoustics(rng, snr=(25, 40)),
                )
            )
            queries[qset].append({"name": name, "lang": lang, "term": term})

    def write_labels(results: Mapping[str, RenderResult]) -> LabelOutput:
        doc_by_name = {doc["name"]: doc for doc in docs}
        durations = {name: results[f"{ROOT}/Audio/{name}.wav"].duration for name in doc_names}
        files = {
            f"{ROOT}/scoring/language_key_utterances.lst": "".join(
                f"{ROOT}/Audio/{n}.wav {doc_by_name[n]['lang']}\n" for n in doc_names
            ),
        }
        counts: dict[str, dict[str, int]] = {
            "documents": count(Counter(doc["lang"] for doc in docs)),
        }
        for qset in ("dev", "eval"):
            files[f"{ROOT}/scoring/language_key_{qset}.lst"] = "".join(
                f"{ROOT}/{qset}_queries/{q['name']}.wav {q['lang']}\n" for q in queries[qset]
            )
            gt = f"{ROOT}/scoring/groundtruth_quesst14_{qset}"
            files[f"{gt}/quesst14.ecf.xml"] = _ecf(doc_names, durations)
            files[f"{gt}/quesst14_{qset}.tlist.xml"] = _tlist(queries[qset])
            rttm_lines = []
            occurrences = 0
            for q in queries[qset]:
                for name in doc_names:
                    idx = doc_by_name[name]["where"].get(q["term"])
                    if idx is None:
                        continue
                    start, end, _ = results[f"{ROOT}/Audio/{name}.wav"].spans[idx]
                    rttm_lines.append(f"LEXEME {name} 1 {start:.3f} {end - start:.3f} {q['name']} lex <NA> <NA>\n")
                    occurrences += 1
            speaker_lines = [f"SPEAKER {n} 1 0.000 {durations[n]:.3f} <NA> <NA> {n} <NA>\n" for n in doc_names]
            files[f"{gt}/quesst14_{qset}.rttm"] = "".join(speaker_lines + rttm_lines)
            counts[f"{qset}_queries"] = count(Counter(q["lang"] for q in queries[qset]))
            counts[f"{qset}_occurrences"] = {"lexeme_rows": occurrences}
        return LabelOutput(files, counts)

    return DatasetPlan(jobs, write_labels)


def _ecf(doc_names: list[str], durations: dict[str, float]) -> str:
    total = sum(durations.values())
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<ecf source_signal_duration="{total:.3f}" language="multiple" version="superb-mini">',
    ]
    lines += [
        f'  <excerpt audio_filename="{n}" channel="1" tbeg="0.000" dur="{durations[n]:.3f}" source_type="splitcts"/>'
        for n in doc_names
    ]
    lines.append("</ecf>")
    return "\n".join(lines) + "\n"


def _tlist(queries: list[dict]) -> str:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<termlist ecf_filename="quesst14.ecf.xml" language="multiple" encoding="UTF-8" version="superb-mini">',
    ]
    lines += [f'  <term termid="{q["name"]}"><termtext>{q["name"]}</termtext></term>' for q in queries]
    lines.append("</termlist>")
    return "\n".join(lines) + "\n"
