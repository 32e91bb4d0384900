"""The ``mini`` sub-command: ``bench data mini --out DIR [--seed N] [--size tiny|small]``.

Wiring into the harness CLI is one line in the ``data`` command group::

    from bench.superb_mini.cli import add_parser as add_mini_parser
    add_mini_parser(data_subparsers)

The parser stores its handler as ``func`` (``args.func(args)`` returns the exit status).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .sizes import SIZES


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``mini`` on ``subparsers`` and return its parser."""
    parser = subparsers.add_parser(
        "mini",
        help="generate the superb-mini synthetic corpus (official SUPERB dataset layouts)",
        description="Generate superb-mini: a small espeak-ng corpus laid out exactly like the real "
        "SUPERB datasets. Pass the output folder as --data-root to the benchmark.",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder (the data root)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="small",
        help="tiny: unit tests, seconds; small: smoke runs, under 5 minutes (default)",
    )
    parser.add_argument("--workers", type=int, default=2, help="synthesis processes (default: 2)")
    parser.add_argument(
        "--force", action="store_true", help="replace a superb-mini corpus of another seed/size in --out"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Generate (or reuse) the corpus and print where it is."""
    from .corpus import generate_corpus
    from .manifest import read_manifest

    out = generate_corpus(
        args.out, seed=args.seed, size=args.size, progress=not args.no_progress, workers=args.workers, force=args.force
    )
    manifest = read_manifest(out) or {}
    size_mb = manifest.get("total_bytes", 0) / 1e6
    print(
        f"superb-mini ({args.size}, seed {args.seed}) ready at {out}: "
        f"{manifest.get('num_files', 0)} files, {size_mb:.0f} MB, sha256 {manifest.get('overall_sha256', '?')[:12]}"
    )
    print(f"use it with: --data-root {out}")
    return 0
