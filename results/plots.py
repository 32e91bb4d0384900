"""Figures for the report, each written as PNG (200 dpi) and SVG, sized for a paper page (7.2 in wide):

- `layer_weights_<upstream>`: the learned softmax weight of every hidden state, task by task, for one upstream;
- `task_bars`: per metric column, each upstream's value (± std over seeds) against the reference rows;
- `superb_s_tasks`: the normalised per-task scores (0 = FBANK, 1000 = the SUPERB paper's best) behind SUPERB_s;
- `multilingual`: FLEURS's per-language CER of every MLASR run and the language confusion matrix of every MLID run.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from benchcore.atomic import atomic_path  # noqa: E402
from downstream_tasks.metadata import SUPERB  # noqa: E402
from results.columns import columns_of_task, superb_columns, task_order, task_titles  # noqa: E402
from results.layers import LayerProbe, layer_probes  # noqa: E402
from results.leaderboard import Leaderboard, Row, is_smoke_test  # noqa: E402
from results.records import ResultRecord  # noqa: E402

PAGE_WIDTH_IN = 7.2
RUN_COLOUR = "#1f77b4"
REFERENCE_COLOUR = "#9a9a9a"
BASELINE_COLOUR = "#5a5a5a"
STYLE = {
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "svg.fonttype": "none",
    "figure.dpi": 100,
}


def file_slug(name: str) -> str:
    """An upstream name (`hf:/models/x`) as a safe file-name part."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[-80:] or "upstream"


@dataclass(frozen=True)
class Plot:
    name: str
    title: str
    caption: str
    png: Path
    svg: Path


def _save(figure: plt.Figure, out_dir: Path, name: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, options in ((".png", {"dpi": 200}), (".svg", {})):
        path = out_dir / f"{name}{suffix}"
        with atomic_path(path, durable=False) as tmp:
            figure.savefig(tmp, format=suffix[1:], bbox_inches="tight", **options)
        paths.append(path)
    plt.close(figure)
    return paths[0], paths[1]


# ---- layer weights -------------------------------------------------------------------------------------------------
def _weights_by_task(row: Row) -> dict[str, tuple[list[int], list[float]]]:
    weights = {}
    for task in task_order():
        record: ResultRecord | None = row.records.get(task)
        if record is not None and record.layer_weights and len(record.layer_weights) > 1:
            weights[task] = (record.layer_indices or [], [float(w) for w in record.layer_weights])
    return weights


def layer_weights_figure(row: Row) -> plt.Figure | None:
    """Task x hidden-state heatmap of one upstream's learned weights; None when no task learned more than one."""
    weights = _weights_by_task(row)
    if not weights:
        return None
    num_states = max(max(indices) for indices, _ in weights.values()) + 1
    tasks = list(weights)
    matrix = np.full((len(tasks), num_states), np.nan)
    for i, task in enumerate(tasks):
        indices, values = weights[task]
        matrix[i, indices] = values
    with plt.rc_context(STYLE):
        height = 1.1 + 0.32 * len(tasks)
        figure, axis = plt.subplots(figsize=(PAGE_WIDTH_IN, height))
        cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#eeeeee")
        image = axis.imshow(
            matrix, aspect="auto", cmap=cmap, vmin=0.0, vmax=float(np.nanmax(matrix)), interpolation="nearest"
        )
        axis.set_yticks(range(len(tasks)), [task_titles()[task] for task in tasks])
        step = 1 if num_states <= 25 else max(1, num_states // 25)
        axis.set_xticks(range(0, num_states, step))
        axis.set_xlabel(
            "hidden state, as the upstream numbers them (transformers: 0 = the input embedding; "
            "QbE: the layer its protocol chose; grey = not selected)"
        )
        axis.set_title(f"Learned layer weights: {plot_label(row)}")
        if num_states <= 13:
            threshold = 0.6 * float(np.nanmax(matrix))
            for (i, j), value in np.ndenumerate(matrix):
                if not math.isnan(value):
                    axis.text(
                        j,
                        i,
                        f"{value:.2f}",
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="black" if value > threshold else "white",
                    )
        colorbar = figure.colorbar(image, ax=axis, fraction=0.03, pad=0.02)
        colorbar.set_label("softmax weight")
        figure.tight_layout()
    return figure


# ---- per-layer probes ----------------------------------------------------------------------------------------------
def layer_probe_figure(upstream: str, probes_by_task: dict[str, list[LayerProbe]]) -> plt.Figure:
    """One panel per task: the probe's test value on each hidden state alone (line), the weighted sum's value
    (dashed line) and its learned weight of each layer (bars, right axis)."""
    tasks = list(probes_by_task)
    columns = min(len(tasks), 4)
    rows = math.ceil(len(tasks) / columns)
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(
            rows, columns, figsize=(PAGE_WIDTH_IN, 2.2 * rows + 0.4), squeeze=False, constrained_layout=True
        )
        for axis in axes.flat[len(tasks) :]:
            axis.set_visible(False)
        for axis, task in zip(axes.flat, tasks):
            probes = probes_by_task[task]
            column = next(c for c in columns_of_task(task) if c.metric == probes[0].metric)
            layers = [probe.layer for probe in probes]
            weights_axis = axis.twinx()
            weights = [probe.layer_weight for probe in probes]
            if any(weight is not None for weight in weights):
                weights_axis.bar(layers, [w or 0.0 for w in weights], width=0.6, color="#bbbbbb", alpha=0.6, zorder=0)
            weights_axis.set_ylim(0, max([w or 0.0 for w in weights] + [0.5]) * 1.15)
            weights_axis.set_ylabel("weighted-sum weight", fontsize=6, color="#777777")
            weights_axis.tick_params(labelsize=6, colors="#777777")
            axis.set_zorder(weights_axis.get_zorder() + 1)
            axis.patch.set_visible(False)
            axis.plot(
                layers, [column.display(p.value) for p in probes], marker="o", color="#1f77b4", label="layer alone"
            )
            summed = probes[0].weighted_sum
            if summed is not None and not math.isnan(summed):
                axis.axhline(column.display(summed), color="#d62728", linestyle="--", linewidth=1, label="weighted sum")
            axis.set_title(f"{column.title}{column.arrow} ({column.metric})", fontsize=8)
            axis.set_xlabel("hidden state", fontsize=7)
            axis.set_ylabel(column.unit, fontsize=7)
            axis.set_xticks(layers if len(layers) <= 13 else layers[:: max(1, len(layers) // 13)])
        axes.flat[0].legend(fontsize=6, loc="best")
        figure.suptitle(f"Per-layer probes: {upstream}", fontsize=9)
    return figure


# ---- per-task bars -------------------------------------------------------------------------------------------------
def plot_label(row: Row, width: int = 36) -> str:
    """The row's label, a long path form (`hf:/a/b/model`) shortened to its prefix and last part; runs on superb-mini
    or with the mini profile say so, since they sit beside real-data rows."""
    label = row.label
    if len(label) > width and "/" in label:
        prefix, _, path = label.rpartition(":") if re.match(r"^\w+:", label) else ("", "", label)
        label = (
            f"{prefix}:…/{path.rstrip('/').rsplit('/', 1)[-1]}"
            if prefix
            else f"…/{path.rstrip('/').rsplit('/', 1)[-1]}"
        )
    if is_smoke_test(row):
        label += " [superb-mini]"
    return label


def _bar_colour(row: Row) -> str:
    if row.kind == "run":
        return RUN_COLOUR
    return BASELINE_COLOUR if row.reference is not None and row.reference.model == "fbank" else REFERENCE_COLOUR


def task_bars_figure(board: Leaderboard) -> plt.Figure | None:
    """One panel per SUPERB metric column that a run fills (every filled column when no run fills one)."""
    from results.tables import table_rows

    runs = [row for row in table_rows(board) if row.kind == "run"]

    def filled(rows: list) -> list:
        return [column for column in superb_columns() if any(row.cells[column.key].value is not None for row in rows)]

    # the runs' columns; every filled column when there are no runs or none of their cells is shown (all left out)
    columns = filled(runs) or filled(board.rows)
    if not columns:
        return None
    rows = table_rows(board)
    ncols = 2 if len(columns) > 1 else 1
    nrows = math.ceil(len(columns) / ncols)
    panel_height = 0.45 + 0.17 * len(rows)
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(
            nrows, ncols, figsize=(PAGE_WIDTH_IN, panel_height * nrows + 0.4), squeeze=False, sharey=True
        )
        positions = np.arange(len(rows))
        for index, column in enumerate(columns):
            axis = axes[index // ncols][index % ncols]
            values = [row.cells[column.key].value for row in rows]
            stds = [row.cells[column.key].std if row.cells[column.key].n_seeds > 1 else None for row in rows]
            shown = [value if value is not None else 0.0 for value in values]
            axis.barh(positions, shown, color=[_bar_colour(row) for row in rows], height=0.7)
            with_std = [(position, value, std) for position, value, std in zip(positions, values, stds) if std]
            if with_std:
                axis.errorbar(
                    [value for _, value, _ in with_std],
                    [position for position, _, _ in with_std],
                    xerr=[std for _, _, std in with_std],
                    fmt="none",
                    ecolor="black",
                    elinewidth=0.8,
                    capsize=2,
                )
            top = max([value for value in values if value is not None] or [1.0])
            for position, value in zip(positions, values):
                text = "–" if value is None else column.format(value)
                std = stds[position] or 0.0
                axis.text((value or 0.0) + std + top * 0.02, position, text, va="center", fontsize=6)
            axis.set_xlim(0, top * 1.22)
            axis.set_title(
                f"{column.title} {column.arrow}  ({'lower' if not column.higher_is_better else 'higher'} is better)"
            )
            axis.set_xlabel(column.unit if column.unit != "%" else f"{column.metric.upper()} %")
            axis.grid(axis="x", linewidth=0.4, alpha=0.5)
            axis.set_axisbelow(True)
        for axis_row in axes:
            axis_row[0].set_yticks(positions, [plot_label(row) for row in rows])
        axes[0][0].invert_yaxis()  # shared: the first row of the table on top
        for index in range(len(columns), nrows * ncols):
            axes[index // ncols][index % ncols].axis("off")
        handles = [
            matplotlib.patches.Patch(color=RUN_COLOUR, label="this harness (runs)"),
            matplotlib.patches.Patch(color=REFERENCE_COLOUR, label="published reference rows"),
            matplotlib.patches.Patch(color=BASELINE_COLOUR, label="FBANK baseline (published)"),
        ]
        figure.legend(handles=handles, loc="lower center", ncol=3, frameon=False, bbox_to_anchor=(0.5, -0.01))
        figure.suptitle("Per-task results against the reference rows (error bars: std over seeds)", fontsize=9)
        figure.tight_layout(rect=(0, 0.03, 1, 1))
    return figure


# ---- normalised scores ---------------------------------------------------------------------------------------------
def superb_s_figure(board: Leaderboard) -> plt.Figure | None:
    rows = [row for row in board.rows if row.task_scores]
    if not rows:
        return None
    labels = [task_titles()[task] for task in task_order(SUPERB)] + ["SUPERB_s"]
    matrix = np.full((len(rows), len(labels)), np.nan)
    for i, row in enumerate(rows):
        for j, task in enumerate(task_order(SUPERB)):
            matrix[i, j] = row.task_scores.get(task, np.nan)
        if row.superb_s.score.value is not None:
            matrix[i, -1] = row.superb_s.score.value
    with plt.rc_context(STYLE):
        figure, axis = plt.subplots(figsize=(PAGE_WIDTH_IN, 1.2 + 0.27 * len(rows)))
        cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad="#eeeeee")
        image = axis.imshow(
            np.clip(matrix, -500, 1500), aspect="auto", cmap=cmap, vmin=-500, vmax=1500, interpolation="nearest"
        )
        axis.set_xticks(range(len(labels)), labels)
        axis.xaxis.tick_top()
        axis.set_yticks(
            range(len(rows)), [plot_label(row) + (" (partial)" if row.superb_s.score.partial else "") for row in rows]
        )
        axis.axvline(len(labels) - 1.5, color="black", linewidth=1.0)
        for (i, j), value in np.ndenumerate(matrix):
            dark = not math.isnan(value) and not -350 <= value <= 1350  # the colour map's dark ends
            axis.text(
                j,
                i,
                "–" if math.isnan(value) else f"{value:.0f}",
                ha="center",
                va="center",
                fontsize=6.5,
                color="white" if dark else "black",
            )
        colorbar = figure.colorbar(image, ax=axis, fraction=0.03, pad=0.02, extend="both")
        colorbar.set_label("normalised score")
        axis.set_title(
            "Normalised per-task scores behind SUPERB_s\n0 = FBANK, 1000 = the best SUPERB-paper upstream "
            "(colours clipped to [-500, 1500])",
            fontsize=8,
            pad=16,
        )
        figure.tight_layout()
    return figure


# ---- multilingual ----------------------------------------------------------------------------------------------
def _per_language_cer(row: Row) -> dict[str, float]:
    record = row.records.get("mlasr")
    if record is None or row.cells["mlasr_cer"].value is None:  # no record, or left out (not learned)
        return {}
    return {key.split("/", 1)[1]: 100 * float(value) for key, value in record.metrics.items() if key.startswith("cer/")}


def multilingual_figure(board: Leaderboard) -> plt.Figure | None:
    """Per-language CER bars (one bar per MLASR run) and one language-confusion heatmap per MLID run."""
    from results.multilingual import confusions

    cer_rows = [(row, cers) for row in board.rows if row.kind == "run" and (cers := _per_language_cer(row))]
    matrices = confusions(board, "fleurs")
    panels = (1 if cer_rows else 0) + len(matrices)
    if not panels:
        return None
    ncols = 2 if panels > 1 else 1
    nrows = math.ceil(panels / ncols)
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(nrows, ncols, figsize=(PAGE_WIDTH_IN, 3.0 * nrows), squeeze=False)
        flat = [axis for axis_row in axes for axis in axis_row]
        index = 0
        if cer_rows:
            axis = flat[index]
            index += 1
            languages = list(dict.fromkeys(language for _, cers in cer_rows for language in cers))
            width = 0.8 / len(cer_rows)
            positions = np.arange(len(languages))
            for k, (row, cers) in enumerate(cer_rows):
                axis.barh(
                    positions + k * width,
                    [cers.get(language, np.nan) for language in languages],
                    height=width,
                    label=plot_label(row),
                )
            axis.set_yticks(positions + width * (len(cer_rows) - 1) / 2, languages)
            axis.invert_yaxis()
            axis.set_xlabel("CER % (lower is better)")
            axis.set_title("MLASR: character error rate per language")
            axis.grid(axis="x", linewidth=0.4, alpha=0.5)
            axis.set_axisbelow(True)
            axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False, ncol=2)
        for confusion in matrices:
            axis = flat[index]
            index += 1
            matrix = 100 * np.array(confusion.matrix)
            axis.imshow(matrix, cmap="Blues", vmin=0, vmax=100, interpolation="nearest")
            ticks = range(len(confusion.classes))
            axis.set_xticks(ticks, confusion.classes, rotation=45, ha="right")
            axis.set_yticks(ticks, confusion.classes)
            axis.set_xlabel("predicted")
            axis.set_ylabel("true")
            axis.set_title(f"LID confusion (% of true): {plot_label(confusion.row, 28)}")
            for (i, j), value in np.ndenumerate(matrix):
                axis.text(
                    j, i, f"{value:.0f}", ha="center", va="center", fontsize=6, color="white" if value > 60 else "black"
                )
        for axis in flat[index:]:
            axis.axis("off")
        figure.tight_layout()
    return figure


def write_plots(board: Leaderboard, out_dir: Path) -> list[Plot]:
    """Write every figure that has data; return them in report order."""
    plots = []
    for row in board.rows:
        if row.kind != "run":
            continue
        figure = layer_weights_figure(row)
        if figure is not None:
            name = f"layer_weights_{file_slug(row.id)}"
            png, svg = _save(figure, out_dir, name)
            plots.append(
                Plot(
                    name,
                    f"Learned layer weights: {row.label}",
                    "Softmax weight of each hidden state in the weighted sum, per task (mean over the units "
                    "of the selected learning rate: seeds and folds).",
                    png,
                    svg,
                )
            )
    for upstream, probes_by_task in layer_probes(board.record_set).items():
        name = f"layer_probes_{file_slug(upstream)}"
        png, svg = _save(layer_probe_figure(upstream, probes_by_task), out_dir, name)
        plots.append(
            Plot(
                name,
                f"Per-layer probes: {upstream}",
                "The task's head trained on each hidden state alone (`bench layers`, same schedule and seeds; means "
                "over seeds), the weighted sum's result (dashed) and its learned weight of each layer (grey bars, "
                "right axis). Probe records never enter the leaderboard or its scores; the values are in layers.csv.",
                png,
                svg,
            )
        )
    board_figures = (
        (
            task_bars_figure,
            "task_bars",
            "Per-task results against the reference rows",
            "One panel per metric column that a run fills; blue bars are this harness's runs, "
            "grey bars the published rows.",
        ),
        (
            superb_s_figure,
            "superb_s_tasks",
            "Normalised per-task scores behind SUPERB_s",
            "Each metric scaled linearly from the FBANK baseline (0) to the SUPERB paper's best upstream (1000), "
            "averaged within a task; the last column is their mean, SUPERB_s.",
        ),
        (
            multilingual_figure,
            "multilingual",
            "Multilingual (FLEURS): CER per language and language confusion",
            "Left: each MLASR run's test CER per language; then each MLID run's test confusion matrix (rows: true "
            "language, % of its utterances). Means over seeds.",
        ),
    )
    for make, name, title, caption in board_figures:
        figure = make(board)
        if figure is not None:
            png, svg = _save(figure, out_dir, name)
            plots.append(Plot(name, title, caption, png, svg))
    return plots


def skipped_layer_weight_rows(board: Leaderboard) -> list[str]:
    """Runs with no layer-weight heatmap because every task had a single hidden state (FBANK) or none."""
    return [row.label for row in board.rows if row.kind == "run" and not _weights_by_task(row)]
