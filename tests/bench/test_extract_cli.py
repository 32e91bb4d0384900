"""`bench extract` end to end through the CLI, on a tiny HF model, the tiny MERaLiON model and FBANK."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from bench.cli import main
from bench.sample_audio import SAMPLE_DIR
from benchcore.audio import load_audio
from upstream.registry import load_upstream


@pytest.fixture()
def audio_dir(tmp_path):
    target = tmp_path / "audio"
    shutil.copytree(SAMPLE_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (target / "nested").mkdir()
    shutil.copy(target / "sample_3.wav", target / "nested" / "again.wav")
    return target


def _upstream_names(tiny_hf_dirs, tiny_meralion_dir):
    return {
        "hf": f"hf:{tiny_hf_dirs['wavlm-group']}",
        "meralion": f"meralion:{tiny_meralion_dir}",
        "fbank": "s3prl:fbank",
    }


@pytest.mark.parametrize("kind", ["hf", pytest.param("meralion", marks=pytest.mark.slow), "fbank"])
def test_extract_writes_every_hidden_state(kind, tiny_hf_dirs, tiny_meralion_dir, audio_dir, tmp_path, capsys):
    name = _upstream_names(tiny_hf_dirs, tiny_meralion_dir)[kind]
    out = tmp_path / "features"
    assert (
        main(
            ["extract", "--upstream", name, "--audio", str(audio_dir), "--out", str(out), "--device", "cpu", "--quiet"]
        )
        == 0
    )
    assert "4 utterances" in capsys.readouterr().out
    header = json.loads((out / "extraction.json").read_text())
    index = json.loads((out / "index.json").read_text())
    assert header["format_version"] == 1 and header["upstream"]["source"].endswith(name.split(":", 1)[1])
    assert sorted(entry["audio"] for entry in index["utterances"]) == [
        "nested/again.wav",
        "sample_1.wav",
        "sample_2.wav",
        "sample_3.wav",
    ]

    upstream = load_upstream(name)
    for entry in index["utterances"]:
        array = np.load(out / entry["features"])
        reference = upstream([load_audio(audio_dir / entry["audio"])])
        assert array.shape == (upstream.num_hidden_states, entry["num_frames"], upstream.hidden_size)
        assert entry["num_frames"] == int(reference["hidden_states_lengths"][0])
        expected = torch.stack(reference["hidden_states"])[:, 0].numpy()
        assert np.allclose(array, expected, atol=1e-4)  # batched extraction == one utterance at a time


def test_extract_resumes_and_refuses_mismatched_reuse(audio_dir, tmp_path, capsys):
    out = tmp_path / "features"
    args = ["extract", "--upstream", "fbank", "--audio", str(audio_dir), "--out", str(out), "--quiet"]
    assert main(args) == 0
    first = np.load(out / "features" / "sample_2.npy")
    (out / "features" / "sample_2.npy").unlink()  # as if the run had been killed before writing it
    capsys.readouterr()
    assert main(args) == 0
    assert "1 extracted, 3 already there" in capsys.readouterr().out
    assert np.array_equal(np.load(out / "features" / "sample_2.npy"), first)

    assert (
        main(["extract", "--upstream", "fbank_no_cmvn", "--audio", str(audio_dir), "--out", str(out), "--quiet"]) == 2
    )
    assert "already holds an extraction with other settings" in capsys.readouterr().err


def test_fp16_arrays(audio_dir, tmp_path):
    out = tmp_path / "half"
    assert (
        main(
            [
                "extract",
                "--upstream",
                "fbank",
                "--audio",
                str(audio_dir / "sample_1.wav"),
                "--out",
                str(out),
                "--save-dtype",
                "fp16",
                "--quiet",
            ]
        )
        == 0
    )
    assert np.load(out / "features" / "sample_1.npy").dtype == np.float16


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--upstream", "nope"], "unknown upstream 'nope'; known names: meralion2"),
        (["--upstream", "hf:nobody/nothing"], "cannot fetch 'nobody/nothing'"),
        (["--upstream", "fbank", "--device", "cuda"], "CUDA is not available"),
        (["--upstream", "fbank", "--dtype", "bf16", "--device", "cpu"], "--dtype bf16 runs through CUDA autocast"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(args, expected, audio_dir, tmp_path, capsys):
    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code = main(["extract", *args, "--audio", str(audio_dir), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and err.count("\n") == 1 and "Traceback" not in err


def test_non_audio_file_is_named(tmp_path, capsys):
    bad = tmp_path / "clip.wav"
    bad.write_text("this is text, not audio")
    assert main(["extract", "--upstream", "fbank", "--audio", str(bad), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "clip.wav" in err and err.count("\n") == 1


def test_upstreams_listing(capsys):
    assert main(["upstreams"]) == 0
    out = capsys.readouterr().out
    for name in ["meralion2", "MERaLiON/MERaLiON-SpeechEncoder-2", "hubert_large", "wavlm_large", "fbank"]:
        assert name in out
    assert main(["upstreams", "--probe", "fbank"]) == 0
    assert "measured" in capsys.readouterr().out


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", ["fp32", "bf16", "fp16"])
def test_cuda_matches_cpu(dtype, tiny_hf_dirs):
    name = f"hf:{tiny_hf_dirs['hubert-layer']}"
    wav = torch.from_numpy(np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1)
    cpu = load_upstream(name, device="cpu")([wav])["hidden_states"][-1]
    gpu = load_upstream(name, device="cuda", dtype=dtype)([wav])["hidden_states"][-1]
    assert gpu.device.type == "cuda" and gpu.dtype == torch.float32
    assert torch.allclose(cpu, gpu.cpu(), atol=1e-3 if dtype == "fp32" else 0.1)
