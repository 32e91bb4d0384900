"""The `bench` command line. Each sub-command is a thin layer over a library function."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from bench import __version__
from bench.errors import BenchError

DESCRIPTION = """\
Benchmark frozen self-supervised speech encoders on the SUPERB tasks.

An upstream is named by an alias (meralion2, hubert_large, wavlm_large, fbank, ...) or a prefix form:
hf:<hub-id-or-dir>, meralion:<hub-id-or-dir>, s3prl:<name>. `bench upstreams` lists them.
"""


def _cmd_upstreams(args: argparse.Namespace) -> int:
    from upstream.registry import KNOWN_UPSTREAMS, PREFIX_HELP, load_upstream

    rows = []
    if args.probe:
        for name in args.probe:
            info = load_upstream(name, device=args.device).info()
            rows.append((name, info.source, str(info.num_hidden_states), str(info.hidden_size),
                         f"{info.stride_samples} ({info.stride_samples / 16:.0f} ms)", f"measured, {info.padding_policy}"))
    else:
        for entry in KNOWN_UPSTREAMS.values():
            rows.append((entry.name, f"{entry.kind}:{entry.source}", str(entry.num_hidden_states), str(entry.hidden_size),
                         f"{entry.stride_samples} ({entry.stride_samples / 16:.0f} ms)", "published"))
    header = ("name", "source", "hidden states", "hidden size", "stride (samples)", "basis")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    if not args.probe:
        print("\nPrefix forms:")
        for line in PREFIX_HELP.values():
            print(f"  {line}")
        print("\n`bench upstreams --probe NAME ...` loads encoders and measures these numbers.")
    return 0


def _cmd_extract(args: argparse.Namespace) -> int:
    from bench.extract import extract_features
    from upstream.registry import load_upstream

    upstream = load_upstream(args.upstream, device=args.device, dtype=args.dtype)
    summary = extract_features(upstream, args.audio, args.out, batch_size=args.batch_size,
                               save_dtype=args.save_dtype, progress=not args.quiet)
    print(f"{summary.num_utterances} utterances -> {summary.out_dir} "
          f"({summary.num_extracted} extracted, {summary.num_reused} already there); "
          f"{upstream.num_hidden_states} hidden states x {upstream.hidden_size} dims, "
          f"stride {upstream.get_downsample_rates('hidden_states')} samples")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    listing = commands.add_parser("upstreams", help="list the known upstreams (source, hidden states, size, stride)",
                                  description="List known upstreams with their published layer count, width and frame stride.")
    listing.add_argument("--probe", nargs="+", metavar="NAME", help="load these upstreams and measure the numbers instead")
    listing.add_argument("--device", default="cpu", help="device for --probe (default: cpu)")
    listing.set_defaults(handler=_cmd_upstreams)

    extract = commands.add_parser(
        "extract", help="write every hidden state of every utterance to disk",
        description="Run a frozen upstream over audio files and save all hidden states, one .npy of shape "
                    "(hidden states, frames, hidden size) per utterance, plus extraction.json and index.json. "
                    "Rerunning the same command resumes.")
    extract.add_argument("--upstream", required=True, help="upstream name (see `bench upstreams`)")
    extract.add_argument("--audio", required=True, help="an audio file or a directory searched recursively")
    extract.add_argument("--out", required=True, help="output directory")
    extract.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: auto = CUDA when present)")
    extract.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"], help="forward precision (bf16/fp16 need CUDA)")
    extract.add_argument("--save-dtype", default="fp32", choices=["fp32", "fp16"], help="precision of the saved arrays")
    extract.add_argument("--batch-size", type=int, default=8, help="utterances per forward, length-sorted (default: 8)")
    extract.add_argument("--quiet", action="store_true", help="no progress bar")
    extract.set_defaults(handler=_cmd_extract)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
