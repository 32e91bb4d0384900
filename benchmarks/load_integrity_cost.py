"""What load integrity costs on a MERaLiON-SpeechEncoder-2-sized model: plain `from_pretrained` vs `load_upstream`.

Builds the tiny MERaLiON stand-in at the real model's sizes (hidden 1024, 24 conformer blocks, FFN 4096, kernel 31:
about 600M parameters, random weights, saved without its positional table as the released checkpoint is), then, in
one run on this machine, times:

* plain ``AutoModel.from_pretrained(dir, trust_remote_code=True)`` (what the model card does; its positional table
  comes out wrong under transformers 5),
* ``load_upstream("meralion:dir")``: the same load plus the repair (one direct construction of the model on the CPU
  to rebuild the table) and the integrity checks,

and prints both wall times, their ratio and the process's peak RSS.

    .venv/bin/python benchmarks/load_integrity_cost.py [--layers 24] [--hidden 1024]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from upstream.testing_meralion import build_tiny_meralion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--hidden", type=int, default=1024)
    args = parser.parse_args()

    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    from upstream.registry import load_upstream

    hf_logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_meralion(
            Path(tmp) / "model", num_hidden_layers=args.layers, hidden_size=args.hidden, kernel_size=31, heads=16
        )
        start = time.perf_counter()
        plain = AutoModel.from_pretrained(model_dir, trust_remote_code=True)
        plain_seconds = time.perf_counter() - start
        parameters = sum(p.numel() for p in plain.parameters())
        del plain
        start = time.perf_counter()
        upstream = load_upstream(f"meralion:{model_dir}")
        checked_seconds = time.perf_counter() - start
        report = upstream.load_report
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"model: {parameters / 1e6:.0f}M parameters ({args.layers} blocks x {args.hidden})")
    print(f"plain from_pretrained: {plain_seconds:.1f} s (positional table left wrong)")
    print(f"load_upstream:         {checked_seconds:.1f} s (rebuilt: {', '.join(report.rebuilt) or 'nothing'})")
    print(f"ratio load_upstream / plain: {checked_seconds / plain_seconds:.2f}x; process peak RSS {peak_gib:.1f} GiB")


if __name__ == "__main__":
    main()
