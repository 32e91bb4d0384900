"""FLEURS's reader, budget and text normalisation, and the metrics and head of `mlid` / `mlasr`, on small inputs."""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

import jiwer
import pytest
import torch
from fixtures.fleurs_layout import build_fleurs_folder
from omegaconf import OmegaConf

from benchcore.errors import BenchError
from downstream_tasks import expand_task_names, get_task
from downstream_tasks.ctc import EOS, SPECIALS, UNK
from downstream_tasks.fleurs import DEFAULT_LANGUAGES, load_fleurs, normalise, read_split, within_budget
from downstream_tasks.mlid import confusion_matrix
from downstream_tasks.transformer_ctc import TransformerCTCHead, subsampled_lengths

LANGUAGES = ["en_us", "cmn_hans_cn", "th_th", "vi_vn"]


def config(**data) -> OmegaConf:
    return OmegaConf.create({"data": {"languages": LANGUAGES, "train_hours_per_language": None, **data}})


@pytest.fixture(scope="module")
def fleurs_root(tmp_path_factory) -> Path:
    return build_fleurs_folder(tmp_path_factory.mktemp("fleurs"), {"train": 6, "dev": 2, "test": 3})


def test_the_default_languages_are_the_configs_and_the_columns():
    for task in ("mlid", "mlasr"):
        yaml = OmegaConf.load(Path(__file__).resolve().parents[2] / "configs" / f"{task}.yaml")
        assert list(yaml.superb.data.languages) == list(DEFAULT_LANGUAGES)
    columns = [metric.column for metric in get_task("mlasr").metadata.metrics if metric.column]
    assert columns[:3] == ["mlasr_cer", "mlasr_cer_sd", "mlasr_cer_pooled"]
    assert columns[3:] == [f"mlasr_cer_{language}" for language in DEFAULT_LANGUAGES]


def test_task_all_stays_superb_and_fleurs_is_a_group():
    assert expand_task_names("all") == ["pr", "asr", "ks", "qbe", "sid", "asv", "sd", "er", "ic", "sf"]
    assert expand_task_names("fleurs") == ["mlid", "mlasr"]
    assert expand_task_names("mlid,mlasr") == ["mlid", "mlasr"]


def test_ml_superb_normalisation():
    assert normalise("The old man, who smiled, left!", "en_us") == "the old man who smiled left"
    assert normalise("  Tôi  đi học. ", "vi_vn") == "tôi đi học"
    assert normalise("我们 去，学校。", "cmn_hans_cn") == "我们去学校"
    assert normalise("เขา ไป โรงเรียน", "th_th") == "เขาไปโรงเรียน"
    assert normalise("«Quoted» — dash's", "en_us") == "quoted dashs"  # the dash and the apostrophe are punctuation (P*)


def test_reader_reads_the_seven_fields(fleurs_root):
    utterances = read_split(fleurs_root / "fleurs", "th_th", "test")
    assert len(utterances) == 3
    first = utterances[0]
    assert first.sentence_id == "1000" and first.transcription == "ฉันกินข้าว" and first.gender == "MALE"
    assert first.num_samples == 16000 and first.path.is_file()
    assert first.uid == f"fleurs/th_th/audio/test/{first.file_name}"


def test_a_malformed_line_names_its_file_and_line(fleurs_root, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(fleurs_root / "fleurs" / "en_us", root / "fleurs" / "en_us")
    tsv = root / "fleurs" / "en_us" / "dev.tsv"
    tsv.write_text(tsv.read_text() + "1\tonly\tthree\n")
    with pytest.raises(BenchError, match=r"dev.tsv:3: 3 tab-separated fields, FLEURS has 7"):
        read_split(root / "fleurs", "en_us", "dev")


def test_missing_language_names_the_layout(fleurs_root):
    with pytest.raises(BenchError, match=r"FLEURS ms_my not found: .*fleurs/<lang>/\{train,dev,test\}.tsv"):
        load_fleurs(fleurs_root, config(languages=["en_us", "ms_my"]))


def test_packed_audio_is_one_error_with_the_command_that_extracts_it(tmp_path):
    root = build_fleurs_folder(tmp_path / "packed", {"train": 2, "dev": 1, "test": 1}, extract=False)
    with pytest.raises(BenchError) as error:
        load_fleurs(root, config())
    message = str(error.value)
    assert "12 audio archive(s) are not extracted" in message
    assert f'for a in {root / "fleurs"}/*/audio/*.tar.gz; do tar -xzf "$a" -C "$(dirname "$a")"; done' in message


def test_budget_is_a_fixed_hash_ordered_subset(fleurs_root):
    utterances = read_split(fleurs_root / "fleurs", "en_us", "train")
    hours = 3.0 / 3600  # 3 s of audio; files are 1.0, 1.25 or 1.5 s
    chosen = within_budget(utterances, hours)
    assert chosen == within_budget(list(reversed(utterances)), hours)  # independent of the line order
    assert 0 < sum(u.num_samples for u in chosen) <= 3 * 16000 < sum(u.num_samples for u in utterances)
    assert within_budget(utterances, None) == utterances
    with pytest.raises(
        BenchError, match=r"less than data.train_hours_per_language=1; pass data.train_hours_per_language=null"
    ):
        within_budget(utterances, 1.0)


def test_mlasr_shares_one_vocabulary_and_scores_each_language(fleurs_root):
    task = get_task("mlasr")
    data = task.load(fleurs_root, None, config())
    vocabulary = data.label_names[0]
    assert vocabulary[: len(SPECIALS)] == SPECIALS and "|" in vocabulary
    assert {"t", "我", "ฉ", "đ"} <= set(vocabulary) and " " not in vocabulary
    english = next(u for u in data.splits["train"] if u.uid.startswith("fleurs/en_us"))
    assert EOS not in english.label and "".join(vocabulary[t] for t in english.label) == english.text.replace(" ", "|")
    test = data.splits["test"]
    assert all(t != UNK for u in data.splits["train"] for t in u.label)

    # predictions: the reference itself for en_us and th_th, nothing for cmn_hans_cn, one wrong word for vi_vn
    def tokens(text: str) -> list[int]:
        return [vocabulary.index(c) for c in text.replace(" ", "|")]

    predictions = []
    for utterance in test:
        language = utterance.uid.split("/")[1]
        if language == "cmn_hans_cn":
            predictions.append([])
        elif language == "vi_vn":
            words = utterance.text.split()
            predictions.append(tokens(" ".join(["đi", *words[1:]])))
        else:
            predictions.append(tokens(utterance.text))
    metrics = task.metrics(predictions, test, data)
    vi = [u for u in test if u.uid.startswith("fleurs/vi_vn")]
    vi_hypotheses = [" ".join(["đi", *u.text.split()[1:]]) for u in vi]
    expected = {"en_us": 0.0, "cmn_hans_cn": 1.0, "th_th": 0.0, "vi_vn": jiwer.cer([u.text for u in vi], vi_hypotheses)}
    for language, value in expected.items():
        assert metrics[f"cer/{language}"] == pytest.approx(value)
    assert metrics["wer/vi_vn"] == pytest.approx(jiwer.wer([u.text for u in vi], vi_hypotheses))
    assert "wer/cmn_hans_cn" not in metrics and "wer/th_th" not in metrics
    assert metrics["cer"] == pytest.approx(statistics.fmean(expected.values()))
    assert metrics["cer_sd"] == pytest.approx(statistics.pstdev(expected.values()))
    assert metrics["wer"] == pytest.approx(statistics.fmean([0.0, metrics["wer/vi_vn"]]))
    chance = task.chance(data)
    assert chance.metrics["cer"] == 1.0 and chance.metrics["cer/th_th"] == 1.0 and "wer/th_th" not in chance.metrics
    references = [u.text for u in test]
    hypotheses = [task.hypothesis(p, u, data) for p, u in zip(predictions, test)]
    assert metrics["cer_pooled"] == pytest.approx(
        jiwer.cer(references, hypotheses)
    )  # all languages' characters at once


def test_mlasr_maps_unseen_characters_to_unk(fleurs_root, tmp_path):
    root = tmp_path / "unseen"
    shutil.copytree(fleurs_root / "fleurs", root / "fleurs")
    tsv = root / "fleurs" / "en_us" / "test.tsv"
    fields = tsv.read_text(encoding="utf-8").splitlines()[0].split("\t")
    fields[3] = "zqx"  # letters no training transcript has
    tsv.write_text("\t".join(fields) + "\n", encoding="utf-8")
    data = get_task("mlasr").load(root, None, config())
    utterance = next(u for u in data.splits["test"] if u.uid.startswith("fleurs/en_us"))
    assert utterance.text == "zqx" and list(utterance.label) == [UNK, UNK, UNK]


def test_mlid_records_per_language_accuracy_and_a_confusion_matrix(fleurs_root):
    task = get_task("mlid")
    data = task.load(fleurs_root, None, config())
    assert data.label_names == [LANGUAGES]
    test = data.splits["test"]
    # every utterance right except the en_us ones, all taken for vi_vn
    predictions = [(3,) if u.label[0] == 0 else u.label for u in test]
    metrics = task.metrics(predictions, test, data)
    assert metrics["acc"] == pytest.approx(9 / 12)
    assert metrics["acc/en_us"] == 0.0 and metrics["acc/th_th"] == 1.0
    languages, matrix = confusion_matrix(metrics)
    assert languages == LANGUAGES
    assert matrix[0] == [0.0, 0.0, 0.0, 1.0] and matrix[2] == [0.0, 0.0, 1.0, 0.0]
    assert all(sum(row) == pytest.approx(1.0) for row in matrix)


def test_transformer_head_subsamples_by_two_and_ignores_padding():
    torch.manual_seed(0)
    head = TransformerCTCHead(
        12, 9, preencoder_dim=20, d_model=16, attention_heads=4, linear_units=32, num_blocks=2, dropout=0.0
    ).eval()
    long, short = torch.randn(1, 40, 12), torch.randn(1, 25, 12)
    batch = torch.zeros(2, 40, 12)
    batch[0], batch[1, :25] = long[0], short[0]
    logits, lengths = head(batch, torch.tensor([40, 25]))
    assert lengths.tolist() == subsampled_lengths(torch.tensor([40, 25])).tolist() == [17, 10]
    alone, _ = head(short, torch.tensor([25]))
    assert torch.allclose(logits[1, :10], alone[0, :10], atol=1e-5)
    tiny_logits, tiny_lengths = head(torch.randn(1, 3, 12), torch.tensor([3]))
    assert tiny_lengths.tolist() == [1] and tiny_logits.shape[1] == 1
