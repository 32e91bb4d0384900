"""The block-mean approximation (``data.crop_mode=block_mean``) is exactly what it claims to be: training from the
cache of time blocks equals running the encoder on every step and averaging the same block-aligned windows of its
frames.

Same seed, same batches, same crops: the cache path and the on-the-fly path must end with the same parameters and the
same logits, to 1e-5. KS exercises the class-balanced sampler and the random 1 s `_silence_` crops (in train and in the
dev evaluations); SID the random training crops. The recipe's mode, crops encoded alone, is tested in test_crops.py.
"""

from __future__ import annotations

import pytest
import torch

from bench.runner import TaskRun
from bench.sources import CachedSource, OnTheFlySource
from bench.trainer import train
from downstream_tasks import get_task
from upstream.registry import load_upstream


def _fresh_model(run: TaskRun, data, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return run.prepared.task.build_model(
        run.prepared.num_layers, run.prepared.info.hidden_size, data, run.prepared.config
    )


@pytest.mark.parametrize(
    "task_name,overrides",
    [
        ("ks", ["total_steps=25", "batch_size=8", "eval_step=10", "save_step=10", "data.crop_mode=block_mean"]),
        # short crops so the tiny corpus's utterances really get cropped
        (
            "sid",
            [
                "total_steps=12",
                "batch_size=4",
                "eval_step=12",
                "save_step=6",
                "data.train_crop_seconds=1.0",
                "cache.block_seconds=0.5",
                "data.crop_mode=block_mean",
            ],
        ),
    ],
)
def test_cache_equals_on_the_fly(task_name, overrides, mini_tiny, tiny_hf_dirs, tmp_path):
    upstream = load_upstream(f"hf:{tiny_hf_dirs['hubert-layer']}")
    # One utterance at a time: the hidden states are then bit-identical however batches are composed, so what is
    # compared is the cache's arithmetic, not float noise of padded batches (Adam amplifies that on tiny gradients).
    upstream.padding_policy = "per_utterance"
    run = TaskRun.prepare(
        upstream, get_task(task_name), mini_tiny, tmp_path / "runs", "mini", overrides, tmp_path / "cache", False
    )
    run.fill_cache()
    data = run.prepared.data[None]
    if task_name == "sid":
        assert any(u.random_crop_seconds for u in data.splits["train"])
    cached = run.source_for(data)
    assert isinstance(cached, CachedSource) and run.prepared.cache_block_seconds == float(
        run.prepared.config.cache.block_seconds
    )
    on_the_fly = OnTheFlySource(
        upstream,
        data,
        float(run.prepared.config.data.gain_db),
        crop_mode="block_mean",
        block_seconds=run.prepared.cache_block_seconds,
    )

    models = {}
    for name, source in [("from_cache", cached), ("on_the_fly", on_the_fly)]:
        model = _fresh_model(run, data, seed=3)
        (tmp_path / name).mkdir()
        train(
            run.prepared.task,
            data,
            source,
            model,
            run.prepared.config,
            lr=1e-2,
            seed=3,
            run_dir=tmp_path / name,
            progress=False,
        )
        models[name] = (model, source)

    cache_params = dict(models["from_cache"][0].named_parameters())
    fly_params = dict(models["on_the_fly"][0].named_parameters())
    moved = False
    for name, parameter in cache_params.items():
        assert torch.allclose(parameter, fly_params[name], atol=1e-5), (
            name,
            float((parameter - fly_params[name]).abs().max()),
        )
        moved = moved or not torch.allclose(parameter, _fresh_model(run, data, 3).state_dict()[name])
    assert moved  # training really changed the parameters
    with torch.no_grad():
        test = list(range(len(data.splits["test"])))
        logits_cache = models["from_cache"][0](cached.batch("test", test, None))
        logits_fly = models["on_the_fly"][0](on_the_fly.batch("test", test, None))
    assert torch.allclose(logits_cache, logits_fly, atol=1e-5)
