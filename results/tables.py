"""Render the leaderboard as Markdown, CSV and LaTeX (HTML is in `results.html`)."""

from __future__ import annotations

import io
from collections.abc import Callable

from downstream_tasks.metadata import SUPERB, benchmark_info
from results.columns import Column, all_columns, column_by_key, task_order, task_titles
from results.intervals import Interval
from results.leaderboard import COST_HEADERS, MISSING, Cell, Leaderboard, Row, ScoreCell
from results.scores import OVERALL_LABEL, SUPERB_S_LABEL

SUPERSCRIPT = str.maketrans("0123456789,", "⁰¹²³⁴⁵⁶⁷⁸⁹˒")


def display_columns(benchmark: str = SUPERB) -> list[tuple[str, list[Column]]]:
    """A benchmark table's cells per row. SUPERB's: one per task, holding its metric columns (the card shows SF as one
    cell, "F1 / CER"), keyed by its column or, with several, by its task name. Other benchmarks: one per column."""
    if benchmark != SUPERB:
        return [(column.key, [column]) for column in all_columns(benchmark)]
    grouped: dict[str, list[Column]] = {}
    for column in all_columns(SUPERB):
        grouped.setdefault(column.task, []).append(column)
    return [(columns[0].key if len(columns) == 1 else task, columns) for task, columns in grouped.items()]


def table_rows(board: Leaderboard, benchmark: str = SUPERB) -> list[Row]:
    """The rows of one benchmark's table: runs with a record of one of its tasks, reference rows with one of its
    values (SUPERB's table keeps every reference row)."""
    tasks = set(task_order(benchmark))
    keys = [column.key for column in all_columns(benchmark)]
    return [
        row
        for row in board.rows
        if (row.kind == "run" and tasks & set(row.records))
        or (row.kind == "reference" and (benchmark == SUPERB or any(row.cells[key].value is not None for key in keys)))
    ]


def other_benchmarks(board: Leaderboard) -> list[str]:
    """The benchmarks besides SUPERB whose table has a row, in registry order."""
    from downstream_tasks import benchmarks

    return [benchmark for benchmark in benchmarks() if benchmark != SUPERB and table_rows(board, benchmark)]


def column_header(columns: list[Column], arrow: Callable[[Column], str] = lambda column: column.arrow) -> str:
    if len(columns) == 1:
        column = columns[0]
        return f"{column.title}{arrow(column)} ({column.unit})"
    parts = " / ".join(f"{column.title.split()[-1]}{arrow(column)}" for column in columns)
    return f"{task_titles()[columns[0].task]} {parts} ({columns[0].unit})"


def marks(numbers: list[int]) -> str:
    return ",".join(map(str, sorted(set(numbers))))


def row_label_text(row: Row) -> str:
    return row.label + (marks(row.label_notes).translate(SUPERSCRIPT) if row.label_notes else "")


# ---- Markdown ------------------------------------------------------------------------------------------------------
def _md_cell(cell: Cell | ScoreCell) -> str:
    text = cell.text()
    if cell.best:
        text = f"**{text}**"
    return text + (marks(cell.notes).translate(SUPERSCRIPT) if cell.notes else "")


def _md_table(header: list[str], rows: list[list[str]], align: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def leaderboard_markdown(board: Leaderboard) -> str:
    """The main table in the card's layout, then its footnotes (those of the other benchmarks' tables too)."""
    cell_columns = display_columns()
    header = ["Model", OVERALL_LABEL, SUPERB_S_LABEL] + [column_header(columns) for _, columns in cell_columns]
    header += list(COST_HEADERS)
    body = []
    for row in table_rows(board):
        cells = [row_label_text(row), _md_cell(row.overall), _md_cell(row.superb_s)]
        cells += [" / ".join(_md_cell(row.cells[column.key]) for column in columns) for _, columns in cell_columns]
        cells += list(row.cost_texts())
        body.append(cells)
    table = _md_table(header, body, [":---"] + ["---:"] * (len(header) - 1))
    notes = [f"- {note}" for note in board.general_notes]
    notes += [f"{str(number).translate(SUPERSCRIPT)} {text}" for number, text in enumerate(board.footnotes, start=1)]
    return table + "\n\n" + "\n".join(notes) + "\n"


def benchmark_markdown(board: Leaderboard, benchmark: str) -> str:
    """The table of a benchmark other than SUPERB: one column per metric, no SUPERB scores; its notes below (the
    footnote numbers are the main table's)."""
    from results import multilingual

    info = benchmark_info(benchmark)
    cell_columns = display_columns(benchmark)
    header = ["Model"] + [column_header(columns) for _, columns in cell_columns]
    body = [
        [row_label_text(row)] + [_md_cell(row.cells[columns[0].key]) for _, columns in cell_columns]
        for row in table_rows(board, benchmark)
    ]
    parts = [f"## {info.title}\n", _md_table(header, body, [":---"] + ["---:"] * (len(header) - 1)), ""]
    parts += [f"- {note}" for note in info.notes]
    parts += ["- Footnote marks refer to the notes under the SUPERB table.", ""]
    parts += multilingual.markdown_sections(board, benchmark)
    return "\n".join(parts) + "\n"


def _task_position(task: str) -> int:
    order = task_order()
    return order.index(task) if task in order else len(order)


def provenance_rows(board: Leaderboard) -> list[dict[str, str]]:
    """One entry per run cell: where its number comes from (the Markdown and HTML provenance tables)."""
    entries = []
    for row in board.rows:
        for task, record in sorted(row.records.items(), key=lambda item: _task_position(item[0])):
            columns = [column for column in all_columns() if column.task == task]
            values = " / ".join(row.cells[column.key].text() for column in columns) or MISSING
            data = (
                "superb-mini " + str(record.dataset.get("manifest_checksum", ""))[:12]
                if record.on_superb_mini
                else (
                    f"{record.dataset.get('num_files', '?')} files, "
                    f"sha256 {str(record.dataset.get('files_sha256', ''))[:12]}"
                )
            )
            entries.append(
                {
                    "model": row.label,
                    "task": task_titles().get(task, task),
                    "value": values,
                    "seeds": ", ".join(map(str, record.seeds)) or "–",
                    "learning_rate": record.selected_lr_note(),
                    "profile": str(record.profile),
                    "data": data,
                    "record": str(record.path),
                }
            )
    return entries


def reference_source_lines(board: Leaderboard) -> list[str]:
    lines = []
    for row in board.rows:
        if row.reference is None:
            continue
        line = f"{row.label}: {row.reference.source.cite()}"
        overrides = {}
        for key, source in row.reference.value_sources.items():
            overrides.setdefault(source.cite(), []).append(column_by_key()[key].title)
        for cite, titles in overrides.items():
            line += f"; {', '.join(titles)}: {cite}"
        if row.reference.cost_source is not None:
            line += f"; Params and MACs/s: {row.reference.cost_source.cite()}"
        lines.append(line)
    return lines


def report_markdown(board: Leaderboard) -> str:
    """The whole Markdown report: leaderboard, provenance of run cells, reference sources."""
    parts = ["# SUPERB leaderboard\n", leaderboard_markdown(board)]
    parts += [benchmark_markdown(board, benchmark) for benchmark in other_benchmarks(board)]
    provenance = provenance_rows(board)
    if provenance:
        keys = ["model", "task", "value", "seeds", "learning_rate", "profile", "data", "record"]
        header = ["Model", "Task", "Value", "Seeds", "Learning rate", "Profile", "Data", "Record"]
        parts += [
            "\n## Provenance of the measured cells\n",
            _md_table(header, [[entry[key] for key in keys] for entry in provenance], ["---"] * len(header)),
            "\n`bench report --explain ROW COLUMN` prints everything behind one cell.\n",
        ]
    sources = reference_source_lines(board)
    if sources:
        parts += ["\n## Sources of the reference rows\n", "\n".join(f"- {line}" for line in sources) + "\n"]
    return "\n".join(parts)


# ---- CSV -----------------------------------------------------------------------------------------------------------
def leaderboard_csv(board: Leaderboard) -> str:
    """Wide CSV, one line per row, numbers in table units, no formatting: `<column>` mean, `<column>_std`,
    `<column>_n_seeds`; scores with their `_partial` flag."""
    import pandas

    records = []
    for row in board.rows:
        entry: dict[str, object] = {
            "row_id": row.id,
            "label": row.label,
            "kind": row.kind,
            "source": row.reference.source.cite() if row.reference else "this harness",
            "overall_score_card": row.overall.score.value,
            "overall_score_card_partial": row.overall.score.partial,
            "superb_s": row.superb_s.score.value,
            "superb_s_partial": row.superb_s.score.partial,
        }
        entry["params"], entry["macs_per_second_superb_short"] = row.params, row.macs_per_second
        for seconds, macs in (row.cost.get("macs_per_second") or {}).items():
            entry[f"macs_per_second_{seconds}s"] = macs
        for name, cell in (("overall_score_card", row.overall), ("superb_s", row.superb_s)):
            bounds = cell.interval if isinstance(cell.interval, tuple) else (None, None)
            entry[f"{name}_ci_low"], entry[f"{name}_ci_high"] = bounds
        for column in all_columns():
            cell = row.cells[column.key]
            entry[column.key] = cell.value
            entry[f"{column.key}_std"] = cell.std
            entry[f"{column.key}_n_seeds"] = cell.n_seeds or None
            bounds = cell.interval_bounds()
            entry[f"{column.key}_ci_low"], entry[f"{column.key}_ci_high"] = bounds or (None, None)
        records.append(entry)
    buffer = io.StringIO()
    pandas.DataFrame(records).to_csv(buffer, index=False, float_format="%.6g", lineterminator="\n")
    return buffer.getvalue()


def _interval_method(cell: Cell) -> str | None:
    """How the cell's interval was computed, or why it has none (reference values: no per-item outputs)."""
    if isinstance(cell.interval, Interval):
        return cell.interval.describe()
    if cell.interval is not None:
        return f"none: {cell.interval}"
    return None if cell.record is not None else "none: a published value (no per-item outputs)"


def cells_csv(board: Leaderboard) -> str:
    """Long CSV, one line per filled cell, with its provenance (record path or published source)."""
    import pandas

    entries = []
    for row in board.rows:
        for column in all_columns():
            cell = row.cells[column.key]
            if cell.value is None:
                continue
            record = cell.record
            entries.append(
                {
                    "row_id": row.id,
                    "column": column.key,
                    "task": column.task,
                    "metric": column.metric,
                    "unit": column.unit,
                    "value": cell.value,
                    "std": cell.std,
                    "n_seeds": cell.n_seeds or None,
                    "ci_low": (cell.interval_bounds() or (None, None))[0],
                    "ci_high": (cell.interval_bounds() or (None, None))[1],
                    "ci_method": _interval_method(cell),
                    "seeds": " ".join(map(str, record.seeds)) if record else None,
                    "learning_rate": record.learning_rate if record else None,
                    "lr_sweep": " ".join(f"{point['learning_rate']:g}" for point in record.lr_sweep)
                    if record and record.lr_sweep
                    else None,
                    "profile": record.profile if record else None,
                    "dataset_files_sha256": record.dataset.get("files_sha256") if record else None,
                    "source": str(record.path) if record else cell.source.cite() if cell.source else None,
                }
            )
    buffer = io.StringIO()
    pandas.DataFrame(entries).to_csv(buffer, index=False, float_format="%.6g", lineterminator="\n")
    return buffer.getvalue()


# ---- LaTeX ---------------------------------------------------------------------------------------------------------
_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "↓": r"$\downarrow$",
    "↑": r"$\uparrow$",
    "±": r"$\pm$",
    "×": r"$\times$",
    "−": r"$-$",
    "–": "--",
    "`": "",
}


def tex_escape(text: str) -> str:
    return "".join(_TEX_SPECIAL.get(char, char) for char in text)


def _tex_cell(cell: Cell | ScoreCell) -> str:
    if cell.text() == MISSING:
        return "--"
    text = tex_escape(cell.text())
    if cell.best:
        text = rf"\textbf{{{text}}}"
    return text + (rf"$^{{{marks(cell.notes)}}}$" if cell.notes else "")


def _tex_arrow(column: Column) -> str:
    return r"$\uparrow$" if column.higher_is_better else r"$\downarrow$"


def _tex_table(caption: str, titles: list[str], units: list[str], body: list[list[str]], notes: list[str]) -> list[str]:
    """One booktabs `table*`: header and unit lines, a line per row, then ``notes`` (already LaTeX) in a minipage."""
    lines = [
        r"\begin{table*}[t]",
        r"\centering",
        r"\footnotesize",
        r"\setlength{\tabcolsep}{3pt}",
        rf"\caption{{{caption}}}",
        r"\begin{tabular}{l" + "r" * (len(titles) - 1) + "}",
        r"\toprule",
        " & ".join(titles) + r" \\",
        " & ".join(units) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(cells) + r" \\" for cells in body]
    lines += [r"\bottomrule", r"\end{tabular}", r"\par\smallskip", r"\begin{minipage}{\textwidth}\scriptsize"]
    lines += [note + r"\\" for note in notes]
    return lines + [r"\end{minipage}", r"\end{table*}"]


def leaderboard_tex(board: Leaderboard) -> str:
    """A `table*` with booktabs rules (\\usepackage{booktabs}); footnotes below the tabular. Every other benchmark's
    table follows as a `table*` of its own."""
    cell_columns = display_columns()
    units = ["", "", ""] + [tex_escape(columns[0].unit) for _, columns in cell_columns] + ["", ""]
    titles = ["Model", "Overall (card)", r"SUPERB$_s$"]
    for _, columns in cell_columns:
        if len(columns) == 1:
            titles.append(tex_escape(columns[0].title) + _tex_arrow(columns[0]))
        else:
            titles.append(
                tex_escape(task_titles()[columns[0].task])
                + " ("
                + " / ".join(column.title.split()[-1] + _tex_arrow(column) for column in columns)
                + ")"
            )
    titles += list(COST_HEADERS)
    body = [
        [_tex_label(row), _tex_cell(row.overall), _tex_cell(row.superb_s)]
        + [" / ".join(_tex_cell(row.cells[column.key]) for column in columns) for _, columns in cell_columns]
        + [tex_escape(text) for text in row.cost_texts()]
        for row in table_rows(board)
    ]
    notes = [tex_escape(note) for note in board.general_notes]
    notes += [rf"$^{{{number}}}$ {tex_escape(text)}" for number, text in enumerate(board.footnotes, start=1)]
    lines = _tex_table("SUPERB results (frozen upstream, weighted sum of hidden states).", titles, units, body, notes)
    for benchmark in other_benchmarks(board):
        lines += ["", *_benchmark_tex(board, benchmark)]
    return "\n".join(lines) + "\n"


def _tex_label(row: Row) -> str:
    return tex_escape(row.label) + (rf"$^{{{marks(row.label_notes)}}}$" if row.label_notes else "")


def _benchmark_tex(board: Leaderboard, benchmark: str) -> list[str]:
    """The `table*` of a benchmark beside SUPERB (one column per metric, no SUPERB scores)."""
    info = benchmark_info(benchmark)
    columns = [columns[0] for _, columns in display_columns(benchmark)]
    titles = ["Model"] + [tex_escape(column.title) + _tex_arrow(column) for column in columns]
    units = [""] + [tex_escape(column.unit) for column in columns]
    body = [
        [_tex_label(row)] + [_tex_cell(row.cells[column.key]) for column in columns]
        for row in table_rows(board, benchmark)
    ]
    notes = [tex_escape(note) for note in info.notes] + ["Footnote marks refer to the notes of the SUPERB table."]
    return _tex_table(
        f"{tex_escape(info.title)} (frozen upstream, weighted sum of hidden states).", titles, units, body, notes
    )
