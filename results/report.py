"""`bench report`: read result records, build the leaderboard, write it in the requested formats with its figures."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchcore.atomic import write_text_atomic
from benchcore.errors import BenchError
from results.intervals import DEFAULT_RESAMPLES
from results.layers import layers_csv
from results.leaderboard import Leaderboard, build_leaderboard
from results.records import load_records
from results.references import select_references


@dataclass
class ReportOutput:
    board: Leaderboard
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReportFormat:
    """One `--format`: its name, a line for `bench report --help`, and a writer that puts its files under the report
    folder and returns them. ``write(board, out_dir, figures, notes)``: the figures already written (the HTML page
    embeds them) and the notes printed under the table."""

    name: str
    description: str
    write: Callable[[Leaderboard, Path, list, list[str]], list[Path]]


def _write_markdown(board: Leaderboard, out_dir: Path, figures: list, notes: list[str]) -> list[Path]:
    from results import tables

    return [write_text_atomic(out_dir / "leaderboard.md", tables.report_markdown(board))]


def _write_csv(board: Leaderboard, out_dir: Path, figures: list, notes: list[str]) -> list[Path]:
    from results import tables

    return [
        write_text_atomic(out_dir / "leaderboard.csv", tables.leaderboard_csv(board)),
        write_text_atomic(out_dir / "cells.csv", tables.cells_csv(board)),
    ]


def _write_latex(board: Leaderboard, out_dir: Path, figures: list, notes: list[str]) -> list[Path]:
    from results import tables

    return [write_text_atomic(out_dir / "leaderboard.tex", tables.leaderboard_tex(board))]


def _write_html(board: Leaderboard, out_dir: Path, figures: list, notes: list[str]) -> list[Path]:
    from results.html import report_html

    return [write_text_atomic(out_dir / "report.html", report_html(board, figures, notes))]


#: Every report format, in the order their files are written; `--format`'s choices and help come from here.
REPORT_FORMATS: dict[str, ReportFormat] = {
    writer.name: writer
    for writer in (
        ReportFormat("md", "leaderboard.md: the table, footnotes, provenance and sources", _write_markdown),
        ReportFormat("csv", "leaderboard.csv (one line per row) and cells.csv (one line per cell)", _write_csv),
        ReportFormat("tex", "leaderboard.tex: a booktabs table*", _write_latex),
        ReportFormat("html", "report.html: one self-contained page with the figures", _write_html),
    )
}


def register_report_format(report_format: ReportFormat) -> ReportFormat:
    """Add a report format (from a module `bench report --include` imports); its name joins `--format`."""
    known = REPORT_FORMATS.get(report_format.name)
    if known is not None and known != report_format:
        raise BenchError(f"a report format named '{report_format.name}' is already registered")
    REPORT_FORMATS[report_format.name] = report_format
    return report_format


def format_help() -> str:
    """`--format`'s help text, from :data:`REPORT_FORMATS`."""
    listed = "; ".join(f"{writer.name}: {writer.description}" for writer in REPORT_FORMATS.values())
    return f"comma-separated formats ({listed}); default: all of them"


def parse_formats(spec: str | None) -> list[str]:
    """`--format`'s names, checked; None means every registered format."""
    if spec is None:
        return list(REPORT_FORMATS)
    formats = [part.strip().lower() for part in spec.split(",") if part.strip()]
    unknown = [name for name in formats if name not in REPORT_FORMATS]
    if unknown or not formats:
        raise BenchError(
            f"--format: unknown format(s) {', '.join(unknown) or '(none)'}; choose from {','.join(REPORT_FORMATS)}"
        )
    return formats


def load_leaderboard(
    runs: Sequence[Path],
    references: str = "card",
    allow_no_runs: bool = False,
    show_unlearned: bool = False,
    bootstrap: int = DEFAULT_RESAMPLES,
) -> Leaderboard:
    """The leaderboard of every record below ``runs`` plus the selected reference rows. Run values that do not beat
    their task's audio-blind answer are left out unless ``show_unlearned``; each run value gets a 95 % interval from
    ``bootstrap`` resamples of its test items (0: none)."""
    reference_rows = select_references(references)
    existing = [Path(path) for path in runs]
    if allow_no_runs and not any(path.exists() for path in existing):
        record_set = None
    else:
        record_set = load_records(existing)
    if record_set is None and not reference_rows:
        raise BenchError("nothing to report: no records under --runs and --references none")
    return build_leaderboard(record_set, reference_rows, show_unlearned=show_unlearned, bootstrap=bootstrap)


def write_report(board: Leaderboard, out_dir: Path, formats: Sequence[str], plots: bool = True) -> ReportOutput:
    """Write `leaderboard.md`, `leaderboard.csv` + `cells.csv`, `leaderboard.tex`, `report.html` and the figures
    (`figures/*.png|svg`) under ``out_dir``."""
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
            output.notes.append(
                f"No layer-weight heatmap for {', '.join(skipped)}: every task there has a single hidden "
                "state (e.g. FBANK), so there is nothing to weight."
            )
    probes_csv = layers_csv(board.record_set) if "csv" in formats else None
    if probes_csv is not None:  # per-layer probes (`bench layers`): beside the leaderboard, never in it
        path = out_dir / "layers.csv"
        write_text_atomic(path, probes_csv)
        written.append(path)
    for name, writer in REPORT_FORMATS.items():  # the registry's order, whatever order --format lists them in
        if name in formats:
            written += writer.write(board, out_dir, figures, output.notes)
    output.files = written
    return output
