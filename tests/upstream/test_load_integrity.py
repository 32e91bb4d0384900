"""Load integrity of `hf:`/`meralion:` upstreams under the pinned transformers.

The tiny MERaLiON stand-in keeps its relative-position table as the released modeling code does: built in
``__init__`` for ``max_source_positions`` frames, grown lazily for longer inputs, and absent from the checkpoint,
either as a registered buffer or as a plain tensor attribute. transformers 5 builds models on ``meta`` and restores
only what the checkpoint holds, so plain ``AutoModel.from_pretrained`` gets that table wrong (first tests); the
upstream must rebuild it, so that its hidden states equal those of the same weights in a directly built model, for
utterances shorter and longer than the table. A missing learned weight must stop the load with one line.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures.signals import noise
from safetensors.torch import load_file, save_file
from transformers import AutoFeatureExtractor, AutoModel, PretrainedConfig, PreTrainedModel

from bench.cli import main
from benchcore.errors import BenchError
from upstream.load_integrity import repair_loaded_model, tensors_on_meta
from upstream.probe import probe
from upstream.registry import load_upstream
from upstream.testing_meralion import build_directly, build_tiny_meralion

TABLE_FRAMES = 40  # the table covers 40 output frames = 1.6 s at 40 ms
SHORTER, LONGER = 1.0, 3.0  # 23 and 73 output frames
TABLE_KEY = "encoder.embed_positions.pe"


@pytest.fixture(scope="module", params=["buffer", "attribute"])
def table_variant_dir(request, tmp_path_factory) -> Path:
    return build_tiny_meralion(
        tmp_path_factory.mktemp(f"meralion_{request.param}") / "model",
        positional_table=request.param,
        max_source_positions=TABLE_FRAMES,
    )


def card_call(model: torch.nn.Module, model_dir: Path, wav: torch.Tensor):
    extractor = AutoFeatureExtractor.from_pretrained(model_dir, trust_remote_code=True)
    inputs = extractor(
        [wav.numpy()], sampling_rate=16000, return_attention_mask=True, return_tensors="pt", do_normalize=False
    )
    with torch.no_grad():
        return model(
            input_values=inputs["input_values"],
            attention_mask=inputs["attention_mask"],
            output_hidden_states=True,
            return_dict=True,
        )


def edited_copy(source: Path, target: Path, edit) -> Path:
    """A copy of a saved model whose checkpoint tensors went through ``edit(dict) -> dict``."""
    shutil.copytree(source, target)
    checkpoint = target / "model.safetensors"
    save_file(edit(load_file(checkpoint)), checkpoint, metadata={"format": "pt"})
    return target


def without(*keys: str):
    def edit(tensors: dict) -> dict:
        assert all(key in tensors for key in keys), keys
        return {key: value for key, value in tensors.items() if key not in keys}

    return edit


def test_plain_from_pretrained_gets_the_table_wrong(table_variant_dir):
    """The hazard is real under the pinned transformers: this is what the upstream must repair."""
    model, loading_info = AutoModel.from_pretrained(table_variant_dir, trust_remote_code=True, output_loading_info=True)
    if model.config.positional_table == "attribute":
        assert model.encoder.embed_positions.pe.is_meta
        with pytest.raises(NotImplementedError, match="meta tensor"):
            card_call(model.eval(), table_variant_dir, noise(SHORTER, 1))
    else:
        # reported missing and "newly initialized": filled by torch.empty_like, i.e. whatever the memory held (NaN
        # seen here), never the sinusoid's values but for a coincidence of the allocator, so the values themselves
        # are not asserted
        assert TABLE_KEY in loading_info["missing_keys"]
        assert not model.encoder.embed_positions.pe.is_meta


@pytest.mark.parametrize("seconds", [SHORTER, LONGER], ids=["shorter-than-table", "longer-than-table"])
def test_hidden_states_equal_a_directly_built_model(table_variant_dir, seconds):
    upstream = load_upstream(f"meralion:{table_variant_dir}")
    assert tensors_on_meta(upstream) == []
    assert upstream.load_report.rebuilt == (TABLE_KEY,)
    wav = noise(seconds, 2)
    expected = card_call(build_directly(table_variant_dir), table_variant_dir, wav)
    output = upstream([wav])
    assert output["hidden_states_lengths"].tolist() == expected["output_lengths"].tolist()
    assert (output["hidden_states_lengths"][0] > TABLE_FRAMES) == (seconds == LONGER)
    assert len(output["hidden_states"]) == 25
    for ours, theirs in zip(output["hidden_states"], expected.hidden_states, strict=True):
        assert torch.isfinite(ours).all()
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)


def test_rebuilt_table_is_in_the_record_block(table_variant_dir):
    info = load_upstream(f"meralion:{table_variant_dir}").info().as_dict()
    assert info["load_report"] == {"rebuilt": [TABLE_KEY], "missing_unused": [], "unexpected": []}
    json.dumps(info)  # the record's `upstream` block must serialise


def test_missing_learned_parameter_is_refused(tiny_meralion_dir, tmp_path, capsys):
    key = "encoder.layers.3.ffn1.intermediate.weight"
    broken = edited_copy(tiny_meralion_dir, tmp_path / "broken", without(key))
    with pytest.raises(BenchError, match="lacks 1 learned parameter") as raised:
        load_upstream(f"meralion:{broken}")
    assert key in str(raised.value) and "\n" not in str(raised.value)
    assert main(["upstreams", "--probe", f"meralion:{broken}"]) == 2
    error = capsys.readouterr().err
    assert key in error and error.count("\n") == 1


def test_missing_learned_parameter_is_refused_for_transformers_families(tiny_hf_dirs, tmp_path):
    keys = ("encoder.layers.0.attention.k_proj.weight", "encoder.layers.1.attention.q_proj.bias")
    broken = edited_copy(tiny_hf_dirs["hubert-layer"], tmp_path / "broken", without(*keys))
    with pytest.raises(BenchError, match="lacks 2 learned parameter") as raised:
        load_upstream(f"hf:{broken}")
    assert all(key in str(raised.value) for key in keys)


def test_missing_parameter_the_forward_never_reads_is_a_warning(tiny_hf_dirs, tmp_path, caplog):
    """``masked_spec_embed`` only replaces masked frames in training: absent, it changes no hidden state."""
    source = tiny_hf_dirs["hubert-layer"]
    broken = edited_copy(source, tmp_path / "no_mask_embedding", without("masked_spec_embed"))
    with caplog.at_level("WARNING"):
        upstream = load_upstream(f"hf:{broken}")
    assert upstream.load_report.missing_unused == ("masked_spec_embed",)
    assert "masked_spec_embed" in caplog.text
    wav = noise(1.0, 3)
    complete = load_upstream(f"hf:{source}")([wav])["hidden_states"]
    for ours, theirs in zip(upstream([wav])["hidden_states"], complete, strict=True):
        assert torch.equal(ours, theirs)


def test_unexpected_checkpoint_tensor_is_listed(tiny_hf_dirs, tmp_path, caplog):
    extra = edited_copy(
        tiny_hf_dirs["hubert-layer"],
        tmp_path / "extra",
        lambda tensors: {**tensors, "final_proj.weight": torch.ones(4, 32)},
    )
    with caplog.at_level("WARNING"):
        upstream = load_upstream(f"hf:{extra}")
    assert upstream.load_report.unexpected == ("final_proj.weight",)
    assert "final_proj.weight" in caplog.text
    assert upstream.info().load_report["unexpected"] == ["final_proj.weight"]


def test_missing_normalisation_statistics_are_refused(tiny_meralion_dir, tmp_path):
    key = "encoder.layers.2.conv_module.batch_norm.running_var"
    broken = edited_copy(tiny_meralion_dir, tmp_path / "broken", without(key))
    with pytest.raises(BenchError, match="normalisation statistic") as raised:
        load_upstream(f"meralion:{broken}")
    assert key in str(raised.value)


def test_complete_transformers_checkpoints_need_no_repair(tiny_hf_dirs):
    """HF's own conformer keeps a non-persistent positional table that its _init_weights rebuilds: nothing to redo."""
    for family, directory in tiny_hf_dirs.items():
        report = load_upstream(f"hf:{directory}").load_report
        assert (report.rebuilt, report.missing_unused, report.unexpected) == ((), (), ()), family


def test_probe_prints_the_first_load_checklist(tiny_meralion_dir, capsys):
    assert main(["upstreams", "--probe", f"meralion:{tiny_meralion_dir}"]) == 0
    out = capsys.readouterr().out
    for expected in (
        f"rebuilt               {TABLE_KEY}",
        "feature_size=80",
        "do_normalize=False",
        "hop 160 samples (10.0 ms)",
        "truncates long audio  no",
        "stride                640 samples (40 ms)",
        "hidden states         25 x 32",
        "1 s -> 23 frames, 0.5 s -> 11 frames",
        "max abs difference 0 over all hidden states (per_utterance)",
        "weights float32",
        "=> all checks as expected",
    ):
        assert expected in out, (expected, out)


class _TruncatingExtractor:
    """Wraps a feature extractor and keeps only the first 30 s of each waveform, as Whisper-style extractors do."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __call__(self, waveforms, **kwargs):
        return self.inner([np.asarray(wav)[: 30 * 16000] for wav in waveforms], **kwargs)


def test_probe_flags_an_extractor_that_truncates_long_audio(tiny_meralion_dir):
    upstream = load_upstream(f"meralion:{tiny_meralion_dir}")
    upstream.feature_extractor = _TruncatingExtractor(upstream.feature_extractor)
    lines = {line.label: line for line in probe(upstream)}
    assert not lines["truncates long audio"].ok and "2998 frames" in lines["truncates long audio"].value
    assert not lines["output lengths"].ok


def test_result_records_carry_the_load_report(tiny_meralion_dir, mini_tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    assert (
        main(
            [
                "run",
                "--upstream",
                f"meralion:{tiny_meralion_dir}",
                "--task",
                "ic",
                "--data-root",
                str(mini_tiny),
                "--output",
                str(tmp_path / "runs"),
                "--profile",
                "mini",
                "--device",
                "cpu",
                "--quiet",
                "total_steps=4",
                "eval_step=2",
            ]
        )
        == 0
    )
    [result] = (tmp_path / "runs" / "ic").glob("*/result.json")
    record = json.loads(result.read_text())
    unit = json.loads((result.parent / record["units"][0]["path"] / "record.json").read_text())
    for block in (record["upstream"], unit["upstream"]):
        assert block["load_report"] == {"rebuilt": [TABLE_KEY], "missing_unused": [], "unexpected": []}


# ---- repair_loaded_model on small models whose buffers are built in each of the ways a model can build them ----


class _BufferConfig(PretrainedConfig):
    model_type = "buffer_probe"

    def __init__(self, how: str = "computed", **kwargs) -> None:
        self.how = how
        super().__init__(**kwargs)


class _BufferModel(PreTrainedModel):
    """One learned layer and one buffer ``table`` made ``how``: computed in ``__init__``, drawn by ``torch.randn`` or
    by an init function in ``__init__``, or left empty in ``__init__`` and drawn or computed in ``_init_weights``."""

    config_class = _BufferConfig

    def __init__(self, config: _BufferConfig) -> None:
        super().__init__(config)
        self.proj = torch.nn.Linear(3, 3)
        if config.how == "computed":
            self.register_buffer("table", torch.sin(torch.arange(6.0)))
        elif config.how == "randn":
            self.register_buffer("table", torch.randn(6))
        elif config.how == "init_function":
            self.register_buffer("table", torch.nn.init.normal_(torch.empty(6)))
        else:  # "init_weights_random" / "init_weights_computed"
            self.register_buffer("table", torch.empty(6))
        self.post_init()

    def _init_weights(self, module) -> None:
        super()._init_weights(module)
        if module is self and self.config.how == "init_weights_random":
            with torch.no_grad():
                self.table.normal_()
        elif module is self and self.config.how == "init_weights_computed":
            with torch.no_grad():
                self.table.copy_(torch.cos(torch.arange(6.0)))


def _load_without_table(how: str, tmp_path: Path):
    torch.manual_seed(0)
    directory = tmp_path / how
    _BufferModel(_BufferConfig(how=how)).save_pretrained(directory)
    checkpoint = directory / "model.safetensors"
    save_file(without("table")(load_file(checkpoint)), checkpoint, metadata={"format": "pt"})
    return _BufferModel.from_pretrained(directory, output_loading_info=True)


@pytest.mark.parametrize(
    "how, expected",
    [("computed", torch.sin(torch.arange(6.0))), ("init_weights_computed", torch.cos(torch.arange(6.0)))],
)
def test_missing_deterministic_buffer_is_rebuilt(how, expected, tmp_path):
    model, loading_info = _load_without_table(how, tmp_path)
    assert "table" in loading_info["missing_keys"]
    report, missing_parameters = repair_loaded_model(model, loading_info, "probe")
    assert report.rebuilt == ("table",) and missing_parameters == []
    assert torch.equal(model.table, expected)


@pytest.mark.parametrize("how", ["randn", "init_function", "init_weights_random"])
def test_missing_random_buffer_is_refused(how, tmp_path):
    model, loading_info = _load_without_table(how, tmp_path)
    with pytest.raises(BenchError, match="buffer table is missing from the checkpoint and is drawn at random"):
        repair_loaded_model(model, loading_info, "probe")
