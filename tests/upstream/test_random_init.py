"""`random_init=true`: the same architecture, the model's own initialisation, a fixed seed, no checkpoint read."""

from __future__ import annotations

import json

import pytest
import torch

from benchcore.errors import BenchError
from upstream.registry import load_upstream, split_random_init, with_random_init


def _shapes(upstream) -> dict[str, tuple[int, ...]]:
    return {name: tuple(parameter.shape) for name, parameter in upstream.named_parameters()}


@pytest.mark.parametrize("kind", ["hf", "meralion"])
def test_random_init_builds_the_same_architecture_with_fresh_seeded_weights(kind, tmp_path):
    from upstream.testing import build_tiny_hf
    from upstream.testing_meralion import build_tiny_meralion

    # "pretrained" weights drawn with another seed than the random init's 0, so that equal hashes would mean a read
    source = (
        build_tiny_hf("hubert-group", tmp_path / "hf", seed=7)
        if kind == "hf"
        else build_tiny_meralion(tmp_path / "meralion", seed=7)
    )
    name = f"{kind}:{source}"
    pretrained = load_upstream(name)
    random = load_upstream(with_random_init(name))
    again = load_upstream(f"{name} (random init)")
    assert random.name == f"{name} (random init)" == random.info().name
    assert _shapes(random) == _shapes(pretrained)  # the same architecture
    assert random.weights_hash() != pretrained.weights_hash()  # no checkpoint weight was read
    assert random.weights_hash() == again.weights_hash()  # seeded: the same lower bound every time
    assert random.load_report.random_init_seed == 0
    assert random.info().load_report["random_init_seed"] == 0
    assert not any(tensor.is_meta for tensor in [*random.parameters(), *random.buffers()])
    assert random.num_hidden_states == pretrained.num_hidden_states
    output = random([0.01 * torch.randn(16000)])
    assert all(torch.isfinite(state).all() for state in output["hidden_states"])
    untouched = load_upstream(name)  # loading the lower bound leaves the global random state alone
    assert untouched.weights_hash() == pretrained.weights_hash()


def test_random_init_is_refused_for_upstreams_without_a_transformers_config():
    with pytest.raises(BenchError, match="needs an hf: or meralion: upstream.*'fbank' is a s3prl upstream"):
        with_random_init("fbank")
    with pytest.raises(BenchError, match="random_init=maybe"):
        split_random_init(["random_init=maybe"])
    assert split_random_init(["total_steps=5", "random_init=true"]) == (True, ["total_steps=5"])


@pytest.mark.slow
def test_bench_run_random_init_writes_a_record_named_as_the_lower_bound(mini_tiny, tiny_hf_dirs, tmp_path, capsys):
    from bench.cli import main

    name = f"hf:{tiny_hf_dirs['hubert-group']}"
    common = ["--data-root", str(mini_tiny), "--output", str(tmp_path / "runs"), "--profile", "mini", "--quiet"]
    short = ["total_steps=10", "eval_step=5", "save_step=5"]
    args = ["run", "--upstream", name, "--task", "ks", *common, "--cache-dir", str(tmp_path / "cache"), *short]
    assert main([*args, "random_init=true"]) == 0
    records = sorted((tmp_path / "runs" / "ks").glob("*/result.json"))
    assert [path.parent.name.endswith("random_init") for path in records] == [True]
    record = json.loads(records[0].read_text())
    assert record["upstream"]["name"] == f"{name} (random init)"
    assert record["upstream"]["load_report"]["random_init_seed"] == 0
    assert record["cost"]["parameters"] > 0
    assert main(["run", "--upstream", "fbank", "--task", "ks", *common, "random_init=true"]) != 0
    assert "'fbank' is a s3prl upstream" in capsys.readouterr().err
