"""The `bench` command line. Each sub-command is a thin layer over a library function."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bench import __version__
from bench.layers import FRAME_TASK_COST
from benchcore.errors import BenchError

DESCRIPTION = """\
Benchmark frozen self-supervised speech encoders on the SUPERB tasks.

An upstream is named by an alias (meralion2, hubert_large, wavlm_large, fbank, ...) or a prefix form:
hf:<hub-id-or-dir>, meralion:<hub-id-or-dir>, s3prl:<name>. `bench upstreams` lists them.
"""


def _cmd_upstreams(args: argparse.Namespace) -> int:
    from upstream.registry import KNOWN_UPSTREAMS, PREFIX_HELP, load_upstream

    if args.probe:
        from upstream.probe import format_probe, probe

        for name in args.probe:
            print(format_probe(name, probe(load_upstream(name, device=args.device))), flush=True)
        return 0
    rows = []
    for entry in KNOWN_UPSTREAMS.values():
        rows.append(
            (
                entry.name,
                f"{entry.kind}:{entry.source}",
                str(entry.num_hidden_states),
                str(entry.hidden_size),
                f"{entry.stride_samples} ({entry.stride_samples / 16:.0f} ms)",
                "published",
            )
        )
    header = ("name", "source", "hidden states", "hidden size", "stride (samples)", "basis")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    print("\nPrefix forms:")
    for line in PREFIX_HELP.values():
        print(f"  {line}")
    print(
        "\n`bench upstreams --probe NAME ...` loads encoders and prints the first-load checklist "
        "(see docs/upstreams.md)."
    )
    return 0


def _cmd_extract(args: argparse.Namespace) -> int:
    from bench.extract import extract_features
    from upstream.registry import load_upstream

    upstream = load_upstream(args.upstream, device=args.device, dtype=args.dtype)
    summary = extract_features(
        upstream, args.audio, args.out, batch_size=args.batch_size, save_dtype=args.save_dtype, progress=not args.quiet
    )
    print(
        f"{summary.num_utterances} utterances -> {summary.out_dir} "
        f"({summary.num_extracted} extracted, {summary.num_reused} already there); "
        f"{upstream.num_hidden_states} hidden states x {upstream.hidden_size} dims, "
        f"stride {upstream.get_downsample_rates('hidden_states')} samples"
    )
    return 0


def _checked_data_root_and_tasks(data_root_arg: str, task_arg: str) -> tuple[Path, list[str]]:
    """The data root (must exist) and the task names (must be known), checked before any encoder loads."""
    from bench.runner import expand_tasks
    from downstream_tasks import get_task

    data_root = Path(data_root_arg)
    if not data_root.is_dir():
        raise BenchError(
            f"--data-root {data_root}: no such directory (generate one with `bench data mini --out {data_root}`)"
        )
    tasks = expand_tasks(task_arg)
    for task in tasks:
        get_task(task)
    return data_root, tasks


def _task_runner(args: argparse.Namespace, tasks: list[str]):
    """What `bench run` and `bench layers` share: the upstream (``random_init=true`` taken out of the overrides), the
    remaining overrides, and ``run(task, overrides) -> ResultRecord`` with every other option bound."""
    from bench.runner import run_task
    from upstream.registry import load_upstream, split_random_init, with_random_init

    if args.seeds < 1:
        raise BenchError("--seeds must be at least 1")
    data_root = Path(args.data_root)
    random_init, overrides = split_random_init(list(args.overrides))
    name = with_random_init(args.upstream) if random_init else args.upstream
    upstream = load_upstream(name, device=args.device, dtype=args.dtype)
    seeds = list(range(args.seed, args.seed + args.seeds))

    def run(task: str, task_overrides: Sequence[str]):
        return run_task(
            upstream,
            task,
            data_root,
            Path(args.output),
            seeds,
            lr_sweep=args.lr_sweep,
            profile=args.profile,
            overrides=task_overrides,
            force=args.force,
            cache_root=Path(args.cache_dir) if args.cache_dir else None,
            progress=not args.quiet,
        )

    return upstream, overrides, run


def _cmd_run(args: argparse.Namespace) -> int:
    from bench.summary import format_summary

    _, tasks = _checked_data_root_and_tasks(args.data_root, args.task)
    if args.lm and "asr" not in tasks:
        raise BenchError("--lm decodes ASR with a language model: add asr to --task")
    if args.lexicon and "pr" not in tasks:
        raise BenchError("--lexicon adds pronunciations for PR: add pr to --task")
    _, overrides, run = _task_runner(args, tasks)
    if args.layer is not None:
        overrides.append(f"featurizer.layer={args.layer}")
    results = []
    for task in tasks:
        task_overrides = list(overrides)
        if task == "asr" and args.lm:
            task_overrides.append(f"decoder.lm={Path(args.lm).resolve()}")
        if task == "pr" and args.lexicon:
            task_overrides.append(f"data.lexicon={Path(args.lexicon).resolve()}")
        results.append(run(task, task_overrides))
    print(format_summary(results))
    print(f"records: {Path(args.output).resolve()}/<task>/<upstream>/result.json")
    return 0


def _cmd_layers(args: argparse.Namespace) -> int:
    from bench.layers import format_layers, parse_layers, probe_plan, run_layers

    _, tasks = _checked_data_root_and_tasks(args.data_root, args.task)
    upstream, overrides, run = _task_runner(args, tasks)
    plan = probe_plan(upstream, tasks, parse_layers(args.layers, upstream.num_hidden_states))
    print(format_layers(run_layers(plan, run, overrides)))
    return 0


def _cmd_suite(args: argparse.Namespace) -> int:
    from bench.executors import make_executor
    from bench.suite import SuiteSpec, format_status, run_suite
    from bench.summary import format_summary

    if args.status:
        print(format_status(Path(args.output)))
        return 0
    if not args.upstreams or not args.tasks:
        raise BenchError("bench suite needs --upstreams and --tasks (or --status to watch a running suite)")
    if not args.data_root:
        raise BenchError("bench suite needs --data-root")
    data_root, tasks = _checked_data_root_and_tasks(args.data_root, args.tasks)
    from upstream.registry import split_random_init, with_random_init

    upstreams = [name.strip() for name in args.upstreams.split(",") if name.strip()]
    random_init, args.overrides = split_random_init(list(args.overrides))
    if random_init:  # the lower bound of every upstream named
        upstreams = [with_random_init(name) for name in upstreams]
    if args.seeds < 1:
        raise BenchError("--seeds must be at least 1")
    if args.extract_shards is not None and args.extract_shards < 1:
        raise BenchError("--extract-shards must be at least 1")
    executor = make_executor(
        args.executor,
        args.address,
        args.num_cpus,
        args.num_gpus,
        args.cpus_per_job or 1.0,
        args.gpus_per_job,
        args.memory_per_job,
        args.max_retries,
    )
    # a Ray job gets as many torch threads as CPUs it requests; local jobs keep this process's unless asked
    threads = (
        max(1, int(args.cpus_per_job or 1))
        if args.executor == "ray"
        else (int(args.cpus_per_job) if args.cpus_per_job else None)
    )
    spec = SuiteSpec(
        upstreams=tuple(upstreams),
        tasks=tuple(tasks),
        data_root=data_root,
        output=Path(args.output),
        seeds=tuple(range(args.seed, args.seed + args.seeds)),
        lr_sweep=args.lr_sweep,
        profile=args.profile,
        overrides=tuple(args.overrides),
        cache_root=Path(args.cache_dir) if args.cache_dir else None,
        device=args.device,
        dtype=args.dtype,
        force=args.force,
        extract_shards=args.extract_shards,
        threads=threads,
        includes=tuple(args.include),
    )
    outcome = run_suite(spec, executor, progress=not args.quiet)
    if outcome.results:
        print(format_summary(outcome.results))
    if not outcome.ran and not outcome.summarised and not outcome.failed_groups:
        print(f"nothing to do: all {outcome.up_to_date} results are up to date")
    print(f"records: {Path(args.output).resolve()}/<task>/<upstream>/result.json")
    if outcome.failed_jobs or outcome.failed_groups:
        for job in outcome.failed_jobs:
            print(f"failed: {job['label']}: {job['error']}", file=sys.stderr)
        print(
            f"error: {len(outcome.failed_jobs)} jobs failed; rerun the same command to retry them "
            "(finished units and cache shards are kept)",
            file=sys.stderr,
        )
        return 1
    return 0


def _cmd_cache(args: argparse.Namespace) -> int:
    from bench.cache import default_cache_root, list_caches, remove_cache

    root = Path(args.cache_dir) if args.cache_dir else default_cache_root()
    if args.action == "verify":
        return _verify_cache(root, args.repair)
    if args.repair:
        raise BenchError("--repair goes with `bench cache verify`")
    entries = list_caches(root)
    if args.action == "ls":
        if not entries:
            print(f"no cached features under {root}")
        for entry in entries:
            print(
                f"{entry['key']}  {entry['kind']}  {entry['upstream_name']}  {entry['corpus']}  "
                f"{entry['utterances']} utterances  {entry['bytes'] / 2**20:.1f} MiB  {entry['path']}"
            )
        return 0
    keys = [entry["key"] for entry in entries] if args.all else args.keys
    if not keys:
        raise BenchError("bench cache rm needs KEY ... or --all (see `bench cache ls`)")
    for key in keys:
        try:
            print(f"removed {remove_cache(key, root)}")
        except FileNotFoundError:
            raise BenchError(f"no cache entry '{key}' under {root} (see `bench cache ls`)") from None
    return 0


def _verify_cache(root: Path, repair: bool) -> int:
    """`bench cache verify [--repair]`: every shard's size and checksum, one line per cache and per damaged shard.
    Exit status 1 when damage was found and left in place."""
    from bench.cache import verify_caches

    report = verify_caches(root, repair)
    if not report:
        print(f"no feature cache shards under {root}")
    left = 0
    for entry in report:
        legacy = (
            f", {entry['without_checksums']} written before checksums (checked for truncation only)"
            if entry["without_checksums"]
            else ""
        )
        print(
            f"{entry['key']}  {entry['kind']}: {entry['shards'] - len(entry['damaged'])} of {entry['shards']} shards "
            f"intact{legacy}  {entry['path']}"
        )
        for damaged in entry["damaged"]:
            if damaged["moved_to"]:
                print(
                    f"  repaired: {damaged['shard']}: {damaged['damage']}; moved aside to {damaged['moved_to']} "
                    f"(the next run encodes its {damaged['utterances']} utterances again)"
                )
            else:
                left += 1
                print(f"  damaged: {damaged['shard']}: {damaged['damage']}")
    if left:
        print(
            f"{left} damaged shard(s) left in place; `bench cache verify --repair` moves them aside (a run also "
            "repairs the shards it reads)"
        )
        return 1
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from results.report import load_leaderboard, parse_formats, write_report

    runs = [Path(path) for path in (args.runs or ["runs"])]
    if args.bootstrap < 0:
        raise BenchError("--bootstrap: a number of resamples, at least 0 (0: no intervals)")
    board = load_leaderboard(
        runs,
        args.references,
        allow_no_runs=args.runs is None,
        show_unlearned=args.show_unlearned,
        bootstrap=args.bootstrap,
    )
    if args.explain:
        from results.explain import explain

        print(explain(board, *args.explain))
        return 0
    from results.tables import leaderboard_markdown

    formats = parse_formats(args.format)
    out_dir = Path(args.out) if args.out else runs[0] / "report"
    output = write_report(board, out_dir, formats, plots=not args.no_plots)
    print(leaderboard_markdown(board))
    for note in output.notes:
        print(note)
    print(
        f"wrote {len(output.files)} files to {out_dir.resolve()}: "
        + ", ".join(
            sorted(
                {path.name if path.parent == out_dir else f"{path.parent.name}/*{path.suffix}" for path in output.files}
            )
        )
    )
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from benchcore.atomic import write_text_atomic
    from results.compare import compare, compare_formats, comparison_csv, comparison_markdown
    from results.records import load_records

    formats = compare_formats(args.format)
    if args.bootstrap < 1:
        raise BenchError("--bootstrap: a number of resamples, at least 1")
    comparison = compare(
        load_records([Path(path) for path in args.runs]), args.upstream_a, args.upstream_b, args.bootstrap
    )
    print(comparison_markdown(comparison))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        if "md" in formats:
            write_text_atomic(out / "comparison.md", comparison_markdown(comparison) + "\n")
        if "csv" in formats:
            write_text_atomic(out / "comparison.csv", comparison_csv(comparison))
        print(f"wrote {', '.join(f'comparison.{name}' for name in formats)} to {out.resolve()}")
    return 0


REPORT_EPILOG = """\
Scores (both computed from the numbers in the row, in the table's units):
  Overall Score (card)  the MERaLiON-SpeechEncoder-2 model card's rule: the mean of its 11 numbers, error rates as
                        100 - value, QbE as MTWV x 100. It reproduces the card's printed scores (HuBERT
                        large's from the leaderboard's QbE/SF-F1, where the card's row differs: see its footnote).
  SUPERB_s              the official SUPERB leaderboard score: each metric scaled from the FBANK baseline (0) to the
                        SUPERB paper's best upstream (1000), averaged within a task, then over the tasks.
  A row that lacks tasks shows "-" there and gets a partial score over the rest, footnoted.

References (versioned data in results/data/, every number with its source): groups card (the model card's 4 rows)
and superb (the SUPERB leaderboard's FBANK, wav2vec 2.0, HuBERT and WavLM rows), row ids such as superb:fbank,
or models such as hubert_large (every source's row).

Examples:
  bench report --runs runs/superb-mini
  bench report --runs runs/a runs/b --references all --format md,html --out report/
  bench report --runs runs/superb-mini --explain fbank ks
  bench report --runs runs/superb-mini --explain card:meralion2 superb_s
"""


def _unit_options() -> argparse.ArgumentParser:
    """The options `bench run` and `bench suite` share: how each unit is encoded, trained and reused."""
    shared = argparse.ArgumentParser(add_help=False)
    options = shared.add_argument_group("unit options (bench run and bench suite)")
    options.add_argument(
        "--device",
        default="auto",
        help="cpu, cuda, cuda:N or auto (default: auto = CUDA when present; bench suite: each job's)",
    )
    options.add_argument(
        "--dtype", default="fp32", choices=["fp32", "bf16", "fp16"], help="encoder precision (bf16/fp16 need CUDA)"
    )
    options.add_argument(
        "--profile",
        default="superb",
        choices=["superb", "mini"],
        help="superb: the recipe's hyper-parameters; mini: short schedules for superb-mini (default: superb)",
    )
    options.add_argument("--seed", type=int, default=0, help="first seed (default: 0)")
    options.add_argument("--seeds", type=int, default=1, help="number of seeds: seed, seed+1, ... (default: 1)")
    options.add_argument(
        "--lr-sweep",
        action="store_true",
        help="train every learning rate of each config's lr_sweep and select on dev; where the encoder runs in the "
        "loop (frame tasks over cache.max_gb, the recipe's crops), the rates train side by side from one encoder "
        "forward per step, each exactly as alone (sweep.shared=false: one rate at a time; sweep.max_heads=N: at most "
        "N together)",
    )
    options.add_argument("--force", action="store_true", help="redo finished units")
    options.add_argument(
        "--cache-dir",
        default=None,
        help="feature cache root, a shared filesystem on a cluster (default: $BENCH_CACHE_DIR or "
        "~/.cache/superb-bench)",
    )
    options.add_argument("--quiet", action="store_true", help="no progress bars (bench suite: no live view)")
    _add_include(options)
    return shared


def _add_include(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """`--include` (read by `main` before parsing; here for the help and so that the parser accepts it)."""
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="MODULE",
        help="import a module (dotted name or .py file) that registers tasks, upstreams or report formats "
        "(register_task, register_upstream_kind, register_upstream, register_report_format); repeatable",
    )


def _report_format_help(task_help: bool) -> str:
    if not task_help:
        return "listed in this command's --help"
    from results.report import format_help

    return format_help()


#: The sub-commands whose help lists the registered tasks and report columns. Listing them imports every task module,
#: and so torch (seconds): the other commands and `bench --help` build the parser without them.
TASK_HELP_COMMANDS = frozenset({"run", "suite", "report"})


def _command_word(argv: Sequence[str]) -> str | None:
    return next((word for word in argv if not word.startswith("-")), None)


def build_parser(task_help: bool = True) -> argparse.ArgumentParser:
    """The `bench` parser. ``task_help`` False leaves the task and column lists out of `run`, `suite` and `report`'s
    help (placeholders no one sees unless that command's help is asked for, when `main` builds it with them)."""
    if task_help:
        from downstream_tasks import SUPERB, benchmarks, task_names
        from results.columns import help_names

        tasks, columns = ", ".join(task_names()), help_names()
        groups = "; ".join(
            f"{benchmark} ({', '.join(task_names(benchmark))})" for benchmark in benchmarks() if benchmark != SUPERB
        )
        task_groups = "all (the ten SUPERB tasks)" + (f", or a group of other tasks: {groups}" if groups else "")
    else:
        tasks = columns = task_groups = "listed in this command's --help"
    parser = argparse.ArgumentParser(
        prog="bench", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    listing = commands.add_parser(
        "upstreams",
        help="list the known upstreams (source, hidden states, size, stride)",
        description="List known upstreams with their published layer count, width and frame stride.",
    )
    listing.add_argument(
        "--probe",
        nargs="+",
        metavar="NAME",
        help="load these upstreams and print what to check before trusting a run: what loading "
        "rebuilt or ignored, feature-extractor settings and truncation of a 60 s clip, measured "
        "stride, hidden states, output lengths, batched-vs-single difference, dtype",
    )
    listing.add_argument("--device", default="cpu", help="device for --probe (default: cpu)")
    _add_include(listing)
    listing.set_defaults(handler=_cmd_upstreams)

    extract = commands.add_parser(
        "extract",
        help="write every hidden state of every utterance to disk",
        description="Run a frozen upstream over audio files and save all hidden states, one .npy of shape "
        "(hidden states, frames, hidden size) per utterance, plus extraction.json and index.json. "
        "Rerunning the same command resumes.",
    )
    extract.add_argument("--upstream", required=True, help="upstream name (see `bench upstreams`)")
    extract.add_argument("--audio", required=True, help="an audio file or a directory searched recursively")
    extract.add_argument("--out", required=True, help="output directory")
    extract.add_argument(
        "--device", default="auto", help="cpu, cuda, cuda:N or auto (default: auto = CUDA when present)"
    )
    extract.add_argument(
        "--dtype", default="fp32", choices=["fp32", "bf16", "fp16"], help="forward precision (bf16/fp16 need CUDA)"
    )
    extract.add_argument("--save-dtype", default="fp32", choices=["fp32", "fp16"], help="precision of the saved arrays")
    extract.add_argument("--batch-size", type=int, default=8, help="utterances per forward, length-sorted (default: 8)")
    extract.add_argument("--quiet", action="store_true", help="no progress bar")
    extract.set_defaults(handler=_cmd_extract)

    data = commands.add_parser(
        "data",
        help="generate datasets (superb-mini)",
        description="Generate the superb-mini corpus in the official layouts of the SUPERB datasets.",
    )
    data_commands = data.add_subparsers(dest="data_command", metavar="DATASET", required=True)
    from bench.superb_mini.cli import add_parser as add_mini_parser

    add_mini_parser(data_commands).set_defaults(handler=lambda args: args.func(args))

    unit_options = _unit_options()
    run = commands.add_parser(
        "run",
        parents=[unit_options],
        help="train and score SUPERB task heads on a frozen upstream",
        description="Train a task head on the frozen upstream's weighted hidden states (features are encoded once and "
        "cached), select the checkpoint on dev as the recipe does, score test, and write result records to "
        "OUTPUT/<task>/<upstream>/result.json (one unit record per fold/seed/learning rate under units/). "
        "Rerunning resumes; finished units are reused. Trailing key=value arguments override the task "
        "config (e.g. total_steps=500 optimizer.lr=1e-3).",
    )
    run.add_argument("--upstream", required=True, help="upstream name (see `bench upstreams`)")
    run.add_argument(
        "--lm",
        metavar="ARPA_OR_BIN",
        help="ASR: also decode with this word n-gram LM (beam search, s3prl's settings) and report "
        "wer_lm/cer_lm beside the greedy WER; a trained unit is rescored, not retrained",
    )
    run.add_argument(
        "--lexicon",
        metavar="FILE",
        help="PR: extra pronunciations ('WORD PH1 PH2 ...', s3prl's librispeech-lexicon-200k-g2p.txt format) "
        "for words the CMU dictionary lacks",
    )
    run.add_argument("--task", required=True, help=f"a task ({tasks}), a comma-separated list, {task_groups}")
    run.add_argument(
        "--data-root", required=True, help="folder holding the datasets in their official layouts (or superb-mini)"
    )
    run.add_argument("--output", default="runs", help="where run directories and records go (default: runs)")
    run.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="config overrides; random_init=true runs an hf:/meralion: upstream's architecture with the model's own "
        "random initialisation (seed 0, no checkpoint read), named '<upstream> (random init)': a lower bound",
    )
    run.add_argument(
        "--layer",
        type=int,
        metavar="L",
        help="train on hidden state L alone instead of the weighted sum (featurizer.layer=L; a per-layer probe, "
        "recorded beside the weighted sum's record and never in the SUPERB scores; `bench layers` runs them all)",
    )
    run.set_defaults(handler=_cmd_run)

    layers = commands.add_parser(
        "layers",
        parents=[unit_options],
        help="per-layer probes: the task's head on each hidden state alone, beside the weighted sum",
        description="For each task, train the head on the learned weighted sum (reused if its record is current) and "
        "on each hidden state alone, with the same schedule and seeds. KS, SID, ER, IC and LID read the pooled cache, "
        "which holds every hidden state: L probes cost one encoder pass plus L head trainings. Frame tasks (PR, ASR, "
        f"SF, SD, ASV, MLASR) need --layers: {FRAME_TASK_COST}. Probe records sit beside the weighted sum's "
        "(OUTPUT/<task>/<upstream>__layer_<L>/result.json) and never enter the SUPERB scores; `bench report` draws "
        "metric against layer per upstream and writes layers.csv. Trailing key=value arguments override the config.",
    )
    layers.add_argument("--upstream", required=True, help="upstream name (see `bench upstreams`)")
    layers.add_argument(
        "--task",
        default="ks,sid,er,ic",
        help="tasks to probe (default ks,sid,er,ic: the pooled SUPERB tasks; mlid too; frame tasks need --layers)",
    )
    layers.add_argument(
        "--layers",
        metavar="L,L,...",
        help="hidden states to probe (default: all for pooled tasks); 'all' or indices like 0,6,12",
    )
    layers.add_argument(
        "--data-root", required=True, help="folder holding the datasets in their official layouts (or superb-mini)"
    )
    layers.add_argument("--output", default="runs", help="where run directories and records go (default: runs)")
    layers.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides (random_init=true too)")
    layers.set_defaults(handler=_cmd_layers)

    report = commands.add_parser(
        "report",
        help="leaderboard tables, scores, reference rows, figures and an HTML page from result records",
        description="Read the result records (result.json) below --runs and build the SUPERB leaderboard in the model\n"
        "card's format: one row per upstream (mean ± std over seeds; the dev-selected point of a learning-\n"
        "rate sweep), the card's Overall Score and the official SUPERB_s, beside published reference rows.\n"
        "Writes Markdown, CSV, LaTeX and a self-contained HTML page with figures (layer weights, per-task\n"
        "bars, normalised scores) and prints the Markdown table.",
        epilog=REPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument(
        "--runs",
        nargs="+",
        default=None,
        metavar="DIR",
        help="folders searched recursively for result.json, or record files (default: runs)",
    )
    report.add_argument("--format", default=None, help=_report_format_help(task_help))
    _add_include(report)
    report.add_argument("--out", default=None, help="output folder (default: FIRST_RUNS_DIR/report)")
    report.add_argument(
        "--references",
        default="card",
        help="reference rows: all, none, or a comma-separated list of groups (card, superb), row ids "
        "(superb:fbank) or models (hubert_large) (default: card)",
    )
    report.add_argument(
        "--explain",
        nargs=2,
        metavar=("ROW", "COLUMN"),
        help="print the records behind one cell instead of writing files: ROW is an upstream name or "
        f"reference id, COLUMN a metric ({columns}) "
        "or a score (overall, superb_s)",
    )
    report.add_argument("--no-plots", action="store_true", help="skip the figures (faster; the HTML page has none)")
    report.add_argument(
        "--show-unlearned",
        action="store_true",
        help="also show run values that do not beat their task's audio-blind answer (footnoted); by "
        "default such a cell is left out of the row and of its scores",
    )
    report.add_argument(
        "--bootstrap",
        type=int,
        default=10_000,
        metavar="N",
        help="resamples behind each measured cell's 95%% confidence interval, a percentile bootstrap over the "
        "recipe's independent units read from each unit's test_items.tsv (utterances; speakers for ASV, recordings for "
        "SD, queries for QbE); seeded, so the same records give the same intervals; 0: no intervals (default: 10000)",
    )
    report.set_defaults(handler=_cmd_report)

    comparing = commands.add_parser(
        "compare",
        help="is upstream A better than B? paired tests on identical test items, task by task",
        description="Compare two upstreams' records task by task on the same test items: the difference A - B of each "
        "report column, its 95%% interval and a two-sided p-value from a paired bootstrap (the items resampled jointly "
        "for A and B from each unit's test_items.tsv: utterances; speakers for ASV, recordings for SD, queries for "
        "QbE), Holm-Bonferroni over the columns compared, and McNemar's test as a cross-check for single-seed "
        "accuracies. Refuses, naming the first differing item, when the two runs did not score the same items.",
    )
    comparing.add_argument("upstream_a", metavar="A", help="an upstream name as in the records (e.g. fbank)")
    comparing.add_argument("upstream_b", metavar="B", help="the other upstream")
    comparing.add_argument(
        "--runs", nargs="+", default=["runs"], metavar="DIR", help="folders searched for result.json (default: runs)"
    )
    comparing.add_argument("--format", default="md", help="md and/or csv, comma-separated (default: md)")
    comparing.add_argument("--out", default=None, help="also write comparison.md / comparison.csv to this folder")
    comparing.add_argument(
        "--bootstrap", type=int, default=10_000, metavar="N", help="paired resamples per column (default: 10000)"
    )
    _add_include(comparing)
    comparing.set_defaults(handler=_cmd_compare)

    suite = commands.add_parser(
        "suite",
        parents=[unit_options],
        help="run a grid of upstreams x tasks x seeds (x learning rates) locally or on Ray",
        description="Expand upstreams x tasks x seeds (x the lr sweep) into `bench run`'s units and run them: "
        "extraction of each feature cache split over the workers, then one job per unit once its cache is complete, "
        "then each (upstream, task)'s result.json, the same records `bench run` writes. --executor local "
        "runs the jobs one by one in this process; --executor ray runs each as a Ray task on a local Ray "
        "instance (this machine's CPUs and GPUs, one job per GPU) or on an existing cluster (--address). "
        "A killed worker's job is retried and resumes from its checkpoint; rerunning a finished suite does "
        "nothing. Trailing key=value overrides apply to every task, task:key=value to one "
        "(e.g. ks:total_steps=500).",
    )
    suite.add_argument("--upstreams", help="comma-separated upstream names (see `bench upstreams`)")
    suite.add_argument("--tasks", help=f"comma-separated tasks ({tasks}), {task_groups}")
    suite.add_argument(
        "--data-root",
        help="folder holding the datasets in their official layouts (on a cluster: the same path on every node)",
    )
    suite.add_argument(
        "--output", default="runs", help="where run directories, records and the suite state go (default: runs)"
    )
    suite.add_argument(
        "--status", action="store_true", help="print the progress of the suite writing to --output and exit"
    )
    suite.add_argument(
        "--executor",
        default="local",
        choices=["local", "ray"],
        help="local: in this process; ray: Ray tasks (default: local)",
    )
    suite.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join: auto (the cluster this machine is part of) or ray://HOST:10001; "
        "default: start a local Ray instance on this machine",
    )
    suite.add_argument("--num-cpus", type=int, default=None, help="local Ray instance: CPUs it may use (default: all)")
    suite.add_argument("--num-gpus", type=int, default=None, help="local Ray instance: GPUs it may use (default: all)")
    suite.add_argument(
        "--cpus-per-job",
        type=float,
        default=None,
        help="CPUs each Ray job requests and torch threads it uses (default: 1); with --executor local, "
        "torch threads per job (default: torch's, as bench run)",
    )
    suite.add_argument(
        "--gpus-per-job",
        type=float,
        default=None,
        help="Ray: GPUs each job requests, fractions allowed (default: 1 when the cluster has GPUs, else 0)",
    )
    suite.add_argument("--memory-per-job", type=float, default=None, metavar="GB", help="Ray: memory each job requests")
    suite.add_argument(
        "--max-retries", type=int, default=3, help="Ray: retries of a job whose worker died (default: 3)"
    )
    suite.add_argument(
        "--extract-shards",
        type=int,
        default=None,
        help="jobs each feature-cache extraction is split into (default: as many as run at once)",
    )
    suite.add_argument(
        "overrides",
        nargs="*",
        metavar="[task:]key=value",
        help="config overrides; random_init=true: every upstream's random-init lower bound (bench run --help)",
    )
    suite.set_defaults(handler=_cmd_suite)

    cache = commands.add_parser(
        "cache",
        help="show, check or free the feature cache",
        description="ls: list cache entries (upstream, corpus, utterances, size); rm KEY.../--all: "
        "delete them; verify [--repair]: check every shard's size and content checksum "
        "(--repair moves damaged shards aside; the next run encodes them again).",
    )
    cache.add_argument("action", choices=["ls", "rm", "verify"])
    cache.add_argument("--repair", action="store_true", help="with verify: move damaged shards aside")
    cache.add_argument("keys", nargs="*", help="cache keys to remove (from `bench cache ls`)")
    cache.add_argument("--all", action="store_true", help="with rm: remove every entry")
    cache.add_argument(
        "--cache-dir", default=None, help="cache root (default: $BENCH_CACHE_DIR or ~/.cache/superb-bench)"
    )
    cache.set_defaults(handler=_cmd_cache)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        from bench.includes import import_includes, includes_in

        import_includes(includes_in(argv))  # before the parser, so that its help and --task know what they register
        args = build_parser(task_help=_command_word(argv) in TASK_HELP_COMMANDS).parse_args(argv)
        return args.handler(args)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
