"""`bench report`: read result records, build the leaderboard, write it in the requested formats with its figures."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from benchcore.atomic import write_text_atomic
from benchcore.errors import BenchError
from results.leaderboard import Leaderboard, build_leaderboard
from results.records import load_records
from results.references import select_references

FORMATS = ("md", "csv", "tex", "html")


@dataclass
class ReportOutput:
    board: Leaderboard
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def parse_formats(spec: str) -> list[str]:
    formats = [part.strip().lower() for part in spec.split(",") if part.strip()]
    unknown = [name for name in formats if name not in FORMATS]
    if unknown or not formats:
        raise BenchError(f"--format: unknown format(s) {', '.join(unknown) or '(none)'}; choose from {','.join(FORMATS)}")
    return formats


def load_leaderboard(runs: Sequence[Path], references: str = "card", allow_no_runs: bool = False,
                     show_unlearned: bool = False) -> Leaderboard:
    """The leaderboard of every record below ``runs`` plus the selected reference rows. Run values that do not beat
    their task's audio-blind answer are left out unless ``show_unlearned``."""
    reference_rows = select_references(references)
    existing = [Path(path) for path in runs]
    if allow_no_runs and not any(path.exists() for path in existing):
        record_set = None
    else:
        record_set = load_records(existing)
    if record_set is None and not reference_rows:
        raise BenchError("nothing to report: no records under --runs and --references none")
    return build_leaderboard(record_set, reference_rows, show_unlearned=show_unlearned)


def write_report(board: Leaderboard, out_dir: Path, formats: Sequence[str], plots: bool = True) -> ReportOutput:
    """Write `leaderboard.md`, `leaderboard.csv` + `cells.csv`, `leaderboard.tex`, `report.html` and the figures
    (`figures/*.png|svg`) under ``out_dir``."""
    from results import tables

    output = ReportOutput(board)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    figures = []
    if plots:
        from results.plots import skipped_layer_weight_rows, write_plots

        figures = write_plots(board, out_dir / "figures")
        for plot in figures:
            written += [plot.png, plot.svg]
        skipped = skipped_layer_weight_rows(board)
        if skipped:
            output.notes.append(f"No layer-weight heatmap for {', '.join(skipped)}: every task there has a single hidden "
                                "state (e.g. FBANK), so there is nothing to weight.")
    if "md" in formats:
        written.append(write_text_atomic(out_dir / "leaderboard.md", tables.report_markdown(board)))
    if "csv" in formats:
        written.append(write_text_atomic(out_dir / "leaderboard.csv", tables.leaderboard_csv(board)))
        written.append(write_text_atomic(out_dir / "cells.csv", tables.cells_csv(board)))
    if "tex" in formats:
        written.append(write_text_atomic(out_dir / "leaderboard.tex", tables.leaderboard_tex(board)))
    if "html" in formats:
        from results.html import report_html

        written.append(write_text_atomic(out_dir / "report.html", report_html(board, figures, output.notes)))
    output.files = written
    return output
