"""The prepared GPU check (run by ``benchmarks/gpu_check.sh``): one table, a non-zero exit when a check fails.

On a GPU (budget: 8 minutes on one H100/H200, models with random weights, no download):

1. **CUDA against CPU hidden states** of a HuBERT-Base-sized encoder on the same utterances, every hidden state, in
   fp32, bf16 and fp16 (CUDA autocast, the harness's ``--dtype``). Measure: max |cuda - cpu| / max |cpu| over each
   hidden state, the worst state reported. Tolerances: fp32 1e-3 (TF32 is off for matmuls by default, cuDNN convolutions
   may use it), fp16 3e-2, bf16 1e-1 (8 bits of mantissa through 12 transformer layers).
2. **Extraction throughput**, `bench run`'s cache fill against a bare batched ``model(...)`` forward over the same
   utterances, for a HuBERT-Large-sized encoder (317M parameters). Goal: ratio >= 0.9.
3. **Encoder in the loop**: ASR training steps per second with the encoder on every batch and s3prl's length
   bucketing (``cache.max_gb=0`` forces the in-loop path), HuBERT-Base-sized encoder, recipe batch size.
4. **Shared-forward sweep**: a 3-rate ASR sweep with the encoder in the loop (HuBERT-Base-sized), heads side by side
   from one forward per step against one rate at a time; checks the records are identical and reports both ratios
   (whole run, training). Goal: training ratio > 1 (close to 3 where the encoder dominates).
5. **`bench suite --executor ray`** on this machine: one job per GPU; checks that every unit finished, on a GPU.
6. **Peak GPU memory** of each stage.

``--dry`` runs the same code on the CPU with tiny models and a few utterances (the test suite does, so the script
cannot rot); the CUDA-only rows then read "skipped".
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cache_speedup import random_hubert  # noqa: E402
from overhead import (
    EXTRACT_BATCH_SIZE,
    bare_forward_seconds,
    harness_fill_seconds,  # noqa: E402
    training_steps_per_second,
)
from scale import voxceleb1_corpus  # noqa: E402

TOLERANCES = {"fp32": 1e-3, "fp16": 3e-2, "bf16": 1e-1}
THROUGHPUT_GOAL = 0.9
BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
LARGE = dict(
    hidden_size=1024,
    num_hidden_layers=24,
    num_attention_heads=16,
    intermediate_size=4096,
    feat_extract_norm="layer",
    do_stable_layer_norm=True,
)
TINY = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    conv_dim=(32, 32, 32),
    conv_stride=(5, 4, 16),
    conv_kernel=(10, 4, 16),
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=2,
)


@dataclass
class Row:
    check: str
    value: str
    target: str
    passed: bool | None  # None: a measurement without a threshold, or skipped

    @property
    def verdict(self) -> str:
        return {True: "ok", False: "FAIL", None: "-"}[self.passed]


def peak_gb() -> float | None:
    if not torch.cuda.is_available():
        return None
    peak = torch.cuda.max_memory_allocated() / 2**30
    torch.cuda.reset_peak_memory_stats()
    return peak


def hidden_state_agreement(model_dir: Path, device: str, waveforms: list[torch.Tensor]) -> list[Row]:
    from upstream.registry import load_upstream

    reference = load_upstream(f"hf:{model_dir}", device="cpu")(waveforms)["hidden_states"]
    rows = []
    for dtype, tolerance in TOLERANCES.items():
        if dtype != "fp32" and device != "cuda":
            rows.append(
                Row(f"hidden states {dtype}, {device} vs cpu", "skipped (needs CUDA)", f"<= {tolerance:g}", None)
            )
            continue
        upstream = load_upstream(f"hf:{model_dir}", device=device, dtype=dtype)
        states = upstream(waveforms)["hidden_states"]
        worst = max(
            float((state.cpu() - ref).abs().max() / ref.abs().max().clamp(min=1e-12))
            for state, ref in zip(states, reference)
        )
        rows.append(
            Row(
                f"hidden states {dtype}, {device} vs cpu (max rel. error, worst of {len(states)})",
                f"{worst:.2e}",
                f"<= {tolerance:g}",
                worst <= tolerance,
            )
        )
        del upstream
    return rows


def extraction_ratio(
    model_dir: Path, device: str, corpus: Path, work: Path, utterances: int, judged: bool
) -> list[Row]:
    """``judged``: apply the goal (a tiny model in the dry run is all overhead, so its ratio means nothing)."""
    from upstream.registry import load_upstream

    upstream = load_upstream(f"hf:{model_dir}", device=device)
    if device == "cuda":  # warm-up: cuDNN autotuning and the allocator would be charged to the first path measured
        upstream([torch.zeros(16000)])
    fill_seconds, chosen = harness_fill_seconds(upstream, "sid", corpus, work, utterances)
    waveforms = [utterance.audio() for utterance in chosen]
    fill_peak = peak_gb()
    bare_seconds = bare_forward_seconds(model_dir, waveforms, device)
    ratio = bare_seconds / fill_seconds
    audio = sum(w.numel() for w in waveforms) / 16000
    return [
        Row(
            f"extraction: bare forward, {len(chosen)} utterances ({audio:.0f} s audio, batch {EXTRACT_BATCH_SIZE})",
            f"{audio / bare_seconds:.1f} s audio/s",
            "",
            None,
        ),
        Row("extraction: bench run's cache fill", f"{audio / fill_seconds:.1f} s audio/s", "", None),
        Row(
            "extraction throughput ratio (harness / bare)",
            f"{ratio:.3f}",
            f">= {THROUGHPUT_GOAL}" if judged else "not judged (tiny model)",
            ratio >= THROUGHPUT_GOAL if judged else None,
        ),
        Row("peak GPU memory, extraction", "n/a (cpu)" if fill_peak is None else f"{fill_peak:.2f} GiB", "", None),
    ]


def asr_in_the_loop(model_dir: Path, device: str, corpus: Path, work: Path, steps: int, profile: str) -> list[Row]:
    from upstream.registry import load_upstream

    upstream = load_upstream(f"hf:{model_dir}", device=device)
    rate, run = training_steps_per_second(upstream, "asr", corpus, work, steps, profile, ["cache.max_gb=0"])
    if run.feature_plan.mode != "in_loop":
        return [Row("ASR encoder in the loop", f"planned {run.feature_plan.mode}", "in_loop", False)]
    peak = peak_gb()
    return [
        Row(
            f"ASR encoder in the loop, length buckets, batch {run.prepared.config.batch_size}, profile {profile} "
            f"({steps} steps, the dev evaluation left out)",
            f"{rate:.2f} steps/s",
            "> 0",
            rate > 0,
        ),
        Row("peak GPU memory, ASR in the loop", "n/a (cpu)" if peak is None else f"{peak:.2f} GiB", "", None),
    ]


def shared_sweep(model_dir: Path, device: str, corpus: Path, work: Path, steps: int, dry: bool) -> list[Row]:
    from shared_sweep import compare

    from upstream.registry import load_upstream

    upstream = load_upstream(f"hf:{model_dir}", device=device)
    timing = compare(upstream, "asr", corpus, work / "sweep", steps, ["batch_size=16"])
    return [
        Row(
            f"ASR 3-rate sweep in the loop, shared forwards vs one rate at a time ({steps} steps per head, "
            "identical records)",
            f"{timing.ratio:.2f}x whole run, {timing.train_ratio:.2f}x training",
            "training > 1",
            None if dry else timing.train_ratio > 1,  # a tiny model on the CPU is all overhead
        )
    ]


def ray_suite(model_dir: Path, device: str, corpus: Path, work: Path) -> list[Row]:
    gpus = torch.cuda.device_count() if device == "cuda" else 0
    output = work / "suite"
    command = [
        sys.executable,
        "-m",
        "bench.cli",
        "suite",
        "--upstreams",
        f"hf:{model_dir}",
        "--tasks",
        "ks",
        "--seeds",
        str(max(2, gpus)),
        "--data-root",
        str(corpus),
        "--output",
        str(output),
        "--profile",
        "mini",
        "--executor",
        "ray",
        "--num-cpus",
        "2",
        "--num-gpus",
        str(gpus),
        "--quiet",
        "--cache-dir",
        str(work / "cache-suite"),
        "total_steps=20",
        "eval_step=10",
        "save_step=10",
    ]
    if device == "cuda":
        command[command.index("--quiet") : command.index("--quiet")] = ["--device", "cuda"]
    started = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        return [
            Row(
                "bench suite --executor ray",
                f"exit {out.returncode}: {out.stderr.strip().splitlines()[-1:]}",
                "exit 0",
                False,
            )
        ]
    state = json.loads((output / ".suite" / "state.json").read_text())
    units = [job for job in state["jobs"] if job["kind"] == "unit"]
    finished = [job for job in units if job["state"] == "done"]
    on_gpu = [job for job in finished if job.get("cuda_visible_devices")]
    wanted_gpu = device == "cuda"
    passed = bool(units) and len(finished) == len(units) and (not wanted_gpu or len(on_gpu) == len(units))
    where = f", {len(on_gpu)} on a GPU" if wanted_gpu else " (CPU, dry run)"
    return [
        Row(
            f"bench suite --executor ray, KS x {len(units)} seeds, {gpus} GPU(s)",
            f"{len(finished)}/{len(units)} units finished{where} in {seconds:.0f} s",
            "all finished",
            passed,
        )
    ]


def print_table(rows: list[Row]) -> None:
    widths = [max(len(getattr(row, field)) for row in rows) for field in ("check", "value", "target")]
    print(f"{'check':<{widths[0]}}  {'value':<{widths[1]}}  {'target':<{widths[2]}}  verdict")
    for row in rows:
        print(f"{row.check:<{widths[0]}}  {row.value:<{widths[1]}}  {row.target:<{widths[2]}}  {row.verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--dry", action="store_true", help="CPU, tiny models, a few utterances: checks that the script runs"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument(
        "--mini-root",
        type=Path,
        default=None,
        help="an existing superb-mini (tiny with --dry, else small) to use instead of generating one",
    )
    args = parser.parse_args()
    device = "cpu" if args.dry else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device (use --dry to exercise the script on the CPU)", file=sys.stderr)
        return 2
    from bench.superb_mini import generate_corpus

    work = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    rows: list[Row] = []
    try:
        tiny = random_hubert(work / "tiny", **TINY)
        base = tiny if args.dry else random_hubert(work / "base", **BASE)
        large = tiny if args.dry else random_hubert(work / "large", **LARGE)
        generator = torch.Generator().manual_seed(0)
        waveforms = [0.1 * torch.randn(int(16000 * seconds), generator=generator) for seconds in (1.0, 2.5, 4.0)]
        mini = args.mini_root or generate_corpus(
            work / "superb-mini", seed=0, size="tiny" if args.dry else "small", progress=False
        )
        vox = voxceleb1_corpus(work / "voxceleb1", 200 if args.dry else 2000)
        stages = [
            ("hidden states", lambda: hidden_state_agreement(base, device, waveforms)),
            ("extraction", lambda: extraction_ratio(large, device, vox, work, 8 if args.dry else 512, not args.dry)),
            (
                "asr",
                lambda: asr_in_the_loop(
                    base, device, mini, work, 2 if args.dry else 100, "mini" if args.dry else "superb"
                ),
            ),
            ("sweep", lambda: shared_sweep(base, device, mini, work, 2 if args.dry else 20, args.dry)),
            ("ray", lambda: ray_suite(tiny, device, mini, work)),
        ]
        for name, stage in stages:
            started = time.perf_counter()
            try:
                rows += stage()
            except Exception as error:  # a stage that crashes is a failed check, and the others still run
                rows.append(Row(name, f"{type(error).__name__}: {str(error).splitlines()[0][:120]}", "no error", False))
            print(f"[{name}: {time.perf_counter() - started:.0f} s]", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps([row.__dict__ for row in rows], indent=2))
    failed = [row for row in rows if row.passed is False]
    print(f"\n{len(failed)} failed check(s)" if failed else "\nall checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
