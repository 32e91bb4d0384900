"""The HTML report: one self-contained page (inline CSS, figures as data: URIs, no scripts from anywhere else)
that opens offline. Every number has its provenance: a tooltip on the cell, and the provenance tables below."""

from __future__ import annotations

import base64
import html
from datetime import UTC, datetime

from downstream_tasks.metadata import benchmark_info
from results.columns import superb_columns
from results.leaderboard import COST_HEADERS, Cell, Leaderboard, Row, ScoreCell
from results.plots import Plot
from results.scores import OVERALL_LABEL, SUPERB_S_LABEL
from results.tables import (
    column_header,
    display_columns,
    other_benchmarks,
    provenance_rows,
    reference_source_lines,
    table_rows,
)

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 2em auto;
       max-width: 1400px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } \
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.meta { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.86em; margin: 0.8em 0; }
th, td { padding: 0.3em 0.55em; border-bottom: 1px solid #e3e3e3; }
th { background: #f4f4f4; position: sticky; top: 0; text-align: center; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.label { white-space: nowrap; }
tr.run td { background: #eef5fc; }
td.best { font-weight: 700; }
td.missing { color: #999; }
td[title] { cursor: help; }
sup { font-size: 0.7em; color: #a33; }
ol.notes li, ul.notes li { font-size: 0.86em; margin-bottom: 0.3em; }
figure { margin: 1.2em 0; } figure img { max-width: min(100%, 1000px); border: 1px solid #eee; }
figcaption { font-size: 0.86em; color: #444; }
code { background: #f4f4f4; padding: 0 0.2em; }
.provenance td { font-size: 0.95em; }
"""

# Confirms in the rendered page that every embedded figure decoded (read by the headless-browser test).
IMAGE_CHECK = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var ok = images.filter(function (img) { return img.complete && img.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images-loaded", ok + "/" + images.length);
});
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _sup(numbers: list[int]) -> str:
    if not numbers:
        return ""
    links = ",".join(f'<a href="#note-{n}">{n}</a>' for n in sorted(set(numbers)))
    return f"<sup>{links}</sup>"


def _cell_title(row: Row, cell: Cell) -> str:
    column = cell.column
    if cell.withheld is not None:
        return f"{row.label}, {column.title}: {cell.withheld}"
    if cell.value is None:
        return f"{row.label}, {column.title}: no value"
    if cell.record is not None:
        record = cell.record
        interval = f"\n95% interval: {cell.interval_text()}" if cell.interval_bounds() else ""
        interval += f"\ntie with the column's best: {cell.tie}" if cell.tie else ""
        return (
            f"{row.label}, {column.title} = {cell.text()} {column.unit}{interval}\nrecord: {record.path}\nseeds: "
            f"{', '.join(map(str, record.seeds))}\nlearning rate: {record.selected_lr_note()}\nunits: "
            f"{len(record.units)}\nprofile: {record.profile}\ndataset files sha256: "
            f"{record.dataset.get('files_sha256')}"
        )
    source = row.reference.source_of(column.key) if row.reference else None
    return f"{row.label}, {column.title} = {cell.text()} {column.unit}\nsource: {source.cite() if source else '?'}"


def _metric_td(row: Row, cell: Cell) -> str:
    classes = ["num"] + (["best"] if cell.best else []) + (["missing"] if cell.value is None else [])
    return (
        f'<td class="{" ".join(classes)}" title="{_e(_cell_title(row, cell))}">{_e(cell.text())}{_sup(cell.notes)}</td>'
    )


def _score_td(row: Row, cell: ScoreCell, what: str) -> str:
    classes = ["num"] + (["best"] if cell.best else []) + (["missing"] if cell.score.value is None else [])
    title = f"{row.label}, {what}: computed from this row's cells ({len(cell.score.used)} used"
    title += f"; left out: {', '.join(cell.score.missing)})" if cell.score.missing else ")"
    return f'<td class="{" ".join(classes)}" title="{_e(title)}">{_e(cell.text())}{_sup(cell.notes)}</td>'


def _leaderboard_table(board: Leaderboard) -> str:
    cell_columns = display_columns()
    header = ["Model", OVERALL_LABEL, SUPERB_S_LABEL] + [column_header(columns) for _, columns in cell_columns]
    header += list(COST_HEADERS)
    lines = [
        '<table class="leaderboard">',
        "<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr></thead>",
        "<tbody>",
    ]
    for row in table_rows(board):
        cells = [
            f'<td class="label">{_e(row.label)}{_sup(row.label_notes)}</td>',
            _score_td(row, row.overall, OVERALL_LABEL),
            _score_td(row, row.superb_s, SUPERB_S_LABEL),
        ]
        for _key, columns in cell_columns:
            if len(columns) == 1:
                cells.append(_metric_td(row, row.cells[columns[0].key]))
            else:  # SF: F1 / CER in one column, as the card prints it
                parts = []
                for column in columns:
                    cell = row.cells[column.key]
                    text = f"{_e(cell.text())}{_sup(cell.notes)}"
                    parts.append(
                        f'<span title="{_e(_cell_title(row, cell))}">'
                        + (f"<b>{text}</b>" if cell.best else text)
                        + "</span>"
                    )
                cells.append(f'<td class="num">{" / ".join(parts)}</td>')
        cells += [f'<td class="num cost">{_e(text)}</td>' for text in row.cost_texts()]
        lines.append(f'<tr class="{row.kind}">' + "".join(cells) + "</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _benchmark_section(board: Leaderboard, benchmark: str) -> str:
    """A benchmark beside SUPERB: its table (one column per metric, no SUPERB scores), notes and confusion matrices."""
    from results import multilingual

    info = benchmark_info(benchmark)
    columns = [columns[0] for _, columns in display_columns(benchmark)]
    header = ["Model"] + [column_header([column]) for column in columns]
    lines = [
        f"<h2>{_e(info.title)}</h2>",
        '<table class="leaderboard">',
        "<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr></thead>",
        "<tbody>",
    ]
    for row in table_rows(board, benchmark):
        cells = [f'<td class="label">{_e(row.label)}{_sup(row.label_notes)}</td>']
        cells += [_metric_td(row, row.cells[column.key]) for column in columns]
        lines.append(f'<tr class="{row.kind}">' + "".join(cells) + "</tr>")
    lines.append("</tbody></table>")
    notes = [*info.notes, "Footnote marks refer to the notes under the SUPERB table."]
    lines.append('<ul class="notes">' + "".join(f"<li>{_e(note)}</li>" for note in notes) + "</ul>")
    lines.append(multilingual.html_sections(board, benchmark))
    return "\n".join(lines)


def _figure(plot: Plot) -> str:
    data = base64.b64encode(plot.png.read_bytes()).decode("ascii")
    return (
        f'<figure id="fig-{_e(plot.name)}"><img alt="{_e(plot.title)}" src="data:image/png;base64,{data}">'
        f"<figcaption><b>{_e(plot.title)}.</b> {_e(plot.caption)} Files: <code>{_e(plot.png.name)}</code>, "
        f"<code>{_e(plot.svg.name)}</code>.</figcaption></figure>"
    )


def _points_table(board: Leaderboard) -> str:
    lines = [
        "<table><thead><tr><th>Metric</th><th>FBANK (0)</th><th>topline (1000)</th><th>topline model</th></tr>"
        "</thead><tbody>"
    ]
    for column in superb_columns():
        point = board.points.points[column.key]
        lines.append(
            f'<tr><td>{_e(column.title)}{_e(column.arrow)} ({_e(column.unit)})</td><td class="num">'
            f'{point.baseline:g}</td><td class="num">{point.topline:g}</td><td>{_e(point.topline_model)}</td></tr>'
        )
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _a_vs_b_section(board: Leaderboard) -> str:
    """The two measured rows with the highest Overall Score, compared column by column (`bench compare`), when the
    board has two measured rows scored on the same items."""
    from benchcore.errors import BenchError
    from results.compare import compare

    runs = [row for row in board.rows if row.kind == "run" and row.overall.score.value is not None]
    if len(runs) < 2 or board.record_set is None or board.bootstrap == 0:
        return ""
    first, second = sorted(runs, key=lambda row: -float(row.overall.score.value or 0.0))[:2]
    try:
        comparison = compare(board.record_set, first.id, second.id, board.bootstrap)
    except BenchError as error:
        return f"<h2>{_e(first.label)} vs {_e(second.label)}</h2><p>Not compared: {_e(str(error))}</p>"
    header = ["Column", "A", "B", "A − B", "95% interval", "p", "p (Holm)", "Verdict"]
    rows = [
        "<tr>"
        + "".join(
            f"<td>{_e(text)}</td>"
            for text in (
                f"{row.column.title} {row.column.arrow}",
                row.column.format(row.value_a),
                row.column.format(row.value_b),
                row.column.format(row.difference),
                f"[{row.column.format(row.interval[0])}, {row.column.format(row.interval[1])}]",
                f"{row.p_value:.4f}",
                f"{row.p_holm:.4f}",
                row.verdict,
            )
        )
        + "</tr>"
        for row in comparison.rows
    ]
    return (
        f"<h2>A = {_e(first.label)} vs B = {_e(second.label)}</h2>"
        '<p class="meta">The two measured rows with the highest Overall Score, tested column by column on the same '
        f"test items: paired bootstrap ({board.bootstrap:,} resamples), two-sided p, Holm over the columns; "
        "<code>bench compare A B</code> prints the same with McNemar's cross-check.</p>"
        '<table class="provenance"><thead><tr>'
        + "".join(f"<th>{_e(h)}</th>" for h in header)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def report_html(
    board: Leaderboard, plots: list[Plot], notes: list[str] | None = None, title: str = "SUPERB leaderboard"
) -> str:
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{CSS}</style>",
        f"<script>{IMAGE_CHECK}</script>",
        "</head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">Generated {generated} by <code>bench report</code>. Hover a number for its provenance.</p>',
        _leaderboard_table(board),
        '<ul class="notes">' + "".join(f"<li>{_e(note)}</li>" for note in board.general_notes) + "</ul>",
        '<ol class="notes">'
        + "".join(f'<li id="note-{n}">{_e(text)}</li>' for n, text in enumerate(board.footnotes, 1))
        + "</ol>",
    ]
    parts += [_benchmark_section(board, benchmark) for benchmark in other_benchmarks(board)]
    parts.append(_a_vs_b_section(board))
    if plots:
        parts.append("<h2>Figures</h2>")
        parts += [_figure(plot) for plot in plots]
    for note in notes or []:
        parts.append(f'<p class="meta">{_e(note)}</p>')
    provenance = provenance_rows(board)
    if provenance:
        keys = ["model", "task", "value", "seeds", "learning_rate", "profile", "data", "record"]
        header = ["Model", "Task", "Value", "Seeds", "Learning rate", "Profile", "Data", "Record"]
        parts += [
            "<h2>Provenance of the measured cells</h2>",
            '<table class="provenance"><thead><tr>'
            + "".join(f"<th>{_e(h)}</th>" for h in header)
            + "</tr></thead><tbody>",
        ]
        parts += ["<tr>" + "".join(f"<td>{_e(entry[key])}</td>" for key in keys) + "</tr>" for entry in provenance]
        parts.append(
            "</tbody></table><p><code>bench report --explain ROW COLUMN</code> prints everything behind one "
            "cell: per-seed and per-fold values, the learning-rate sweep, every unit's directory, the dataset "
            "fingerprint and versions.</p>"
        )
    sources = reference_source_lines(board)
    if sources:
        parts += [
            "<h2>Sources of the reference rows</h2>",
            "<ul>" + "".join(f"<li>{_e(line)}</li>" for line in sources) + "</ul>",
        ]
    parts += [
        "<h2>SUPERB_s reference points</h2>",
        f"<p>{_e(board.points.source)}</p>",
        _points_table(board),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
