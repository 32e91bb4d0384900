"""The recipe's random crops (``data.crop_mode=waveform``, bench/crops.py): each crop is cut from the waveform and
encoded alone, training with the cache plus crops in the loop equals training with the encoder on every batch, a
resumed unit writes the same record, `bench suite` gives such units the encoder's device, and the approximations stay
selectable and are named in the record and the report.

The encoder is a tiny random HuBERT (a transformer: a frame depends on its context, so a crop encoded alone differs
from the same window of the whole utterance's encoding). It runs one utterance at a time (``per_utterance``), so its
hidden states do not depend on what else is in a batch and sources can be compared bit for bit. The runs keep a few
utterances of each split of superb-mini tiny (every cropped one among them), which keeps each test to seconds.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from bench.cache import encoder_input, pooled_row
from bench.cli import main
from bench.crops import crop_samples, draw_crop_start, may_be_cropped
from bench.runner import TaskRun
from bench.sources import OnTheFlySource, WaveformCropSource, encode_waveforms
from bench.trainer import train
from benchcore.errors import BenchError
from downstream_tasks import get_task
from results.report import load_leaderboard
from upstream.registry import load_upstream

# 1 s SID crops, so that the tiny corpus's training utterances are longer than their crop
SID_CROPS = ["data.train_crop_seconds=1.0"]
SHORT = ["total_steps=6", "batch_size=4", "eval_step=3", "save_step=3"]
KEPT = {"train": 12, "dev": 8, "test": 4}  # utterances kept per split, besides the cropped ones


@pytest.fixture(scope="module")
def tiny_hubert(tiny_hf_dirs):
    upstream = load_upstream(f"hf:{tiny_hf_dirs['hubert-layer']}")
    upstream.padding_policy = "per_utterance"
    return upstream


def _run(
    upstream,
    task: str,
    overrides: list[str],
    data_root: Path,
    work: Path,
    cache: Path | None = None,
    kept: dict[str, int] = KEPT,
) -> TaskRun:
    """A filled TaskRun on the first ``kept[split]`` utterances of each split plus every marked one (KS's six
    `_silence_` files in train and dev)."""
    run = TaskRun.prepare(
        upstream, get_task(task), data_root, work / "runs", "mini", overrides, cache or work / "cache", False
    )
    data = run.prepared.data[None]
    splits = {
        split: [
            u
            for i, u in enumerate(utterances)
            if i < kept.get(split, 0) or u.random_crop_seconds == 1.0 and "_background_noise_" in u.uid
        ]
        for split, utterances in data.splits.items()
    }
    run.prepared.data = {None: dataclasses.replace(data, splits=splits)}
    run.fill_cache()
    return run


def _alone(upstream, waveform: torch.Tensor) -> torch.Tensor:
    """The hidden states of ``waveform`` encoded on its own: (L, T, D)."""
    output = upstream([waveform])
    return torch.stack(output["hidden_states"])[:, 0, : int(output["hidden_states_lengths"][0])]


def test_a_crop_start_is_drawn_as_randint_with_both_ends_included():
    # s3prl: `if length > max_timestep: start = random.randint(0, length - max_timestep)`; randint includes both ends
    starts = {draw_crop_start(10, 8, torch.Generator().manual_seed(seed)) for seed in range(200)}
    assert starts == {0, 1, 2}
    assert draw_crop_start(8, 8, torch.Generator()) is None and draw_crop_start(5, 8, torch.Generator()) is None
    assert crop_samples(8.0) == 128000  # max_timestep


def test_a_crop_is_the_encoder_run_on_its_waveform_alone(tiny_hubert, mini_tiny, tmp_path):
    run = _run(tiny_hubert, "sid", SID_CROPS, mini_tiny, tmp_path)
    data = run.prepared.data[None]
    source = run.source_for(data)
    assert isinstance(source, WaveformCropSource) and run.feature_plan.crops_in_loop > 0
    index = next(i for i, u in enumerate(data.splits["train"]) if may_be_cropped(u))
    utterance = data.splits["train"][index]
    generator = torch.Generator().manual_seed(7)
    replay = torch.Generator().manual_seed(7)

    pooled = source.batch("train", [index], generator)[0]

    waveform = encoder_input(utterance, float(run.prepared.config.data.gain_db))
    crop = crop_samples(utterance.random_crop_seconds)
    start = draw_crop_start(waveform.numel(), crop, replay)
    assert start is not None
    alone = _alone(tiny_hubert, waveform[start : start + crop])
    expected = alone.double().mean(dim=1).float()
    torch.testing.assert_close(pooled, expected, rtol=1e-6, atol=1e-7)
    # the same window of the whole utterance's encoding is not it: the encoder saw context (what block_mean averages)
    first = start // tiny_hubert.get_downsample_rates("hidden_states")
    window = _alone(tiny_hubert, waveform)[:, first : first + alone.shape[1]]
    assert (window.mean(dim=1) - expected).norm() > 1e-3 * expected.norm()
    # the generator moved by exactly one draw
    assert torch.equal(generator.get_state(), replay.get_state())
    # the crop-only utterance is not in the cache; a whole utterance read from the cache is the in-loop arithmetic's row
    assert run.cache_for(data).missing([utterance]) == [utterance]
    test_utterance = data.splits["test"][0]
    cached = source.batch("test", [0], None)[0]
    assert torch.equal(
        cached, pooled_row(encode_waveforms(tiny_hubert, [encoder_input(test_utterance, 0.0)], None)[0], "fp32")
    )


def test_asv_crops_are_frames_of_the_crop_encoded_alone(tiny_hubert, mini_tiny, tmp_path):
    run = _run(tiny_hubert, "asv", ["data.train_crop_seconds=1.0"], mini_tiny, tmp_path, kept={"train": 4})
    data = run.prepared.data[None]
    source = run.source_for(data)
    assert isinstance(source, WaveformCropSource)
    model = run.prepared.task.build_model(
        run.prepared.num_layers, run.prepared.info.hidden_size, data, run.prepared.config
    )
    assert model.crop_frames is None  # the head does not crop again
    index = next(i for i, u in enumerate(data.splits["train"]) if may_be_cropped(u))
    utterance = data.splits["train"][index]
    stacked, lengths = source.batch("train", [index], torch.Generator().manual_seed(3))
    waveform = encoder_input(
        utterance, run.prepared.loader_gain_db(data)
    )  # the sox chain (trimming) applied the gain already
    start = draw_crop_start(waveform.numel(), crop_samples(1.0), torch.Generator().manual_seed(3))
    expected = _alone(tiny_hubert, waveform[start : start + crop_samples(1.0)])
    assert int(lengths[0]) == expected.shape[1]
    torch.testing.assert_close(stacked[:, 0, : int(lengths[0])], expected.half().float())  # the frame cache's fp16


@pytest.mark.parametrize("task,overrides", [("ks", []), ("sid", SID_CROPS)])
def test_cache_with_crops_in_the_loop_trains_as_the_encoder_on_every_batch(
    task, overrides, tiny_hubert, mini_tiny, tmp_path
):
    """KS crops `_silence_` in training and in every dev evaluation; SID crops its training utterances."""
    run = _run(tiny_hubert, task, [*SHORT, *overrides], mini_tiny, tmp_path)
    data = run.prepared.data[None]
    cropped = run.prepared.cropped_in_loop(data)
    assert cropped and run.cache_for(data).missing(cropped) == cropped  # never cached
    sources = {
        "cache + crops": run.source_for(data),
        "encoder every batch": OnTheFlySource(
            tiny_hubert, data, float(run.prepared.config.data.gain_db), pooled_dtype="fp32"
        ),
    }
    outcomes, models = {}, {}
    for name, source in sources.items():
        torch.manual_seed(0)
        models[name] = run.prepared.task.build_model(
            run.prepared.num_layers, run.prepared.info.hidden_size, data, run.prepared.config
        )
        directory = tmp_path / name.replace(" ", "_")
        directory.mkdir()
        outcomes[name] = train(
            run.prepared.task,
            data,
            source,
            models[name],
            run.prepared.config,
            lr=1e-2,
            seed=0,
            run_dir=directory,
            progress=False,
        )
    assert outcomes["cache + crops"].dev_history == outcomes["encoder every batch"].dev_history
    torch.manual_seed(0)
    initial = run.prepared.task.build_model(
        run.prepared.num_layers, run.prepared.info.hidden_size, data, run.prepared.config
    ).state_dict()
    mixed, every = models["cache + crops"].state_dict(), models["encoder every batch"].state_dict()
    assert all(torch.equal(mixed[name], every[name]) for name in mixed)
    assert any(not torch.equal(mixed[name], initial[name]) for name in mixed)  # training moved the head


def test_a_resumed_unit_with_crops_writes_the_same_record(tiny_hubert, mini_tiny, tmp_path):
    runs = {
        name: _run(tiny_hubert, "ks", SHORT, mini_tiny, tmp_path / name, tmp_path / "cache")
        for name in ("straight", "resumed")
    }
    unit = runs["straight"].prepared.unit(None, 0, float(runs["straight"].prepared.config.optimizer.lr))
    straight = runs["straight"].run_unit(unit)
    # the interrupted run: the same unit trained to its first checkpoint (step 3), then run as a unit, which resumes
    run = runs["resumed"]
    data, directory = run.prepared.data[None], run.prepared.unit_dir(unit)
    directory.mkdir(parents=True)
    halfway = OmegaConf.merge(run.prepared.config, {"total_steps": 3})
    torch.manual_seed(unit.seed)
    model = run.prepared.task.build_model(run.prepared.num_layers, run.prepared.info.hidden_size, data, halfway)
    train(
        run.prepared.task,
        data,
        run.source_for(data),
        model,
        halfway,
        unit.learning_rate,
        unit.seed,
        directory,
        progress=False,
    )
    resumed = run.run_unit(unit)
    assert resumed.resumed_from_step == 3 and straight.resumed_from_step == 0
    for field in ("metrics", "dev_history", "best_step", "layer_weights", "crop_mode", "feature_mode"):
        assert getattr(resumed, field) == getattr(straight, field), field
    assert straight.crop_mode == "waveform"


def test_suite_gives_units_with_crops_in_the_loop_the_encoder_device(mini_tiny, tmp_path):
    from bench.suite.plan import SuiteSpec, build_jobs, fold_caches, plan_groups

    def unit_jobs(*overrides: str) -> dict[str, list]:
        spec = SuiteSpec(
            ("fbank_no_cmvn",),
            ("ks", "ic"),
            mini_tiny,
            tmp_path / "out",
            (0,),
            profile="mini",
            overrides=overrides,
            cache_root=tmp_path / "cache",
            device="cuda",
        )
        groups = plan_groups(spec, progress=False)
        jobs = build_jobs(spec, groups, slots=1, suite_run="test", cpu_units=True)
        ks = next(group for group in groups if group.task == "ks")
        (utterances,) = [utterances for _, utterances in fold_caches(ks.prepared).values()]
        noise_cached = any("_background_noise_" in u.uid for u in utterances)
        assert utterances and noise_cached == bool(overrides)  # only ever cropped in the loop: not cached
        by_task: dict[str, list] = {}
        for job, kind, group in jobs:
            if kind == "unit":
                by_task.setdefault(group.task, []).append(job)
        return by_task

    recipe = unit_jobs()
    assert all(job.gpu and job.payload.device == "cuda" for job in recipe["ks"])  # the worker loads it on the GPU
    assert all(not job.gpu and job.payload.device == "cpu" for job in recipe["ic"])  # from the cache alone
    approximated = unit_jobs("ks:data.crop_mode=block_mean")
    assert all(not job.gpu and job.payload.device == "cpu" for job in approximated["ks"])


def test_the_approximation_stays_selectable_and_the_record_and_report_name_it(mini_tiny, tmp_path, capsys):
    def run(output: str, *overrides: str) -> int:
        return main(
            [
                "run",
                "--upstream",
                "fbank_no_cmvn",
                "--task",
                "ks",
                "--data-root",
                str(mini_tiny),
                "--profile",
                "mini",
                "--device",
                "cpu",
                "--cache-dir",
                str(tmp_path / "cache"),
                "--output",
                str(tmp_path / output),
                *SHORT,
                *overrides,
            ]
        )

    assert run("recipe") == 0
    assert "random 1 s crops of 6 utterances encoded in the loop" in capsys.readouterr().out
    assert run("approx", "data.crop_mode=block_mean") == 0
    assert "random crops approximated (data.crop_mode=block_mean" in capsys.readouterr().out
    records = {
        name: json.loads(next((tmp_path / name).glob("ks/*/units/*/record.json")).read_text())
        for name in ("recipe", "approx")
    }
    assert records["recipe"]["crop_mode"] == "waveform" and records["approx"]["crop_mode"] == "block_mean"
    assert records["recipe"]["unit_id"] != records["approx"]["unit_id"]

    def crop_notes(name: str) -> list[str]:
        board = load_leaderboard([tmp_path / name], "none", show_unlearned=True)
        cell = board.row("fbank_no_cmvn").cells["ks"]
        return [board.footnotes[n - 1] for n in cell.notes if "crop" in board.footnotes[n - 1]]

    assert crop_notes("recipe") == []
    (note,) = crop_notes("approx")
    assert "data.crop_mode=block_mean" in note and "benchmarks/crop_deviation.py" in note
    with pytest.raises(BenchError, match="data.crop_mode=frames is not one of waveform, block_mean"):
        TaskRun.prepare(
            load_upstream("fbank_no_cmvn"),
            get_task("ks"),
            mini_tiny,
            tmp_path / "bad",
            "mini",
            ["data.crop_mode=frames"],
            tmp_path / "cache",
            False,
        ).fill_cache()
