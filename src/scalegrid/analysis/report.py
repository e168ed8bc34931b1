"""``build_report(grid_dir)``: results.csv, report.md and the figures, in ``<grid>/report/``."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from scalegrid.analysis import plots
from scalegrid.analysis.answer_tables import answer_sections
from scalegrid.analysis.answers import (
    AnswerSettings,
    answer_grid,
    cell_intervals,
    curve_rows,
    fits_payload,
)
from scalegrid.analysis.figure_layout import choose_layout
from scalegrid.analysis.grid_frame import runs_frame
from scalegrid.analysis.grid_table import (
    Cell,
    find_runs,
    group_cells,
    missing_runs,
    sort_key,
    table_rows,
    varying_settings,
)
from scalegrid.contract.atomic_files import write_atomic
from scalegrid.contract.results import write_json_atomic
from scalegrid.contract.settings_check import CHECKS
from scalegrid.errors import ScalegridError


def _write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda stream: stream.write(text.encode()))


def _csv_text(rows: list[dict]) -> str:
    buffer = io.StringIO()
    columns = list(dict.fromkeys(key for row in rows for key in row))
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _percent(cell: Cell, metric: str) -> str:
    """mean ± std over seeds; one seed has no spread to show, so its value and n=1 are printed instead."""
    values = cell.values(metric)
    if not values:
        return "—"
    if len(values) == 1:
        return f"{100 * values[0]:.2f} (n=1)"
    mean, std = cell.stat(metric)
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def _short(value) -> str:
    text = "null" if value is None else str(value)
    return text if len(text) <= 32 else "…" + text[-31:]


def _interval_text(interval) -> str:
    if interval is None:
        return "—"
    if interval.low is None:
        return "n=1 †" if interval.count == 1 else "no spread"
    mark = " †" if interval.few_seeds else ""
    return f"{100 * interval.low:.2f}–{100 * interval.high:.2f}{mark}"


def _summary_table(cells: list[Cell], keys: list[str], settings: list[str], intervals: dict, level: float) -> str:
    header = [*keys, *settings, "seeds done", "test acc (%)", f"{100 * level:.0f} % CI"]
    header += ["train acc (%)", "best val acc (%)", "train images"]
    header += ["params trainable", "fit s"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for cell in sorted(cells, key=lambda c: tuple(sort_key(value) for value in c.key)):
        size, params, seconds = cell.stat("train_size"), cell.stat("params_trainable"), cell.stat("fit_seconds")
        values = [
            *cell.key,
            *(_short(cell.setting(key)) for key in settings),
            f"{len(cell.completed)}/{len(cell.runs)}",
            _percent(cell, "test_acc"),
            _interval_text(intervals.get(tuple(cell.key))),
            _percent(cell, "train_acc"),
            _percent(cell, "best_val_acc"),
            f"{size[0]:.0f}" if size else "—",
            f"{params[0]:,.0f}" if params else "—",
            f"{seconds[0]:.0f}" if seconds else "—",
        ]
        lines.append("| " + " | ".join(str(v) for v in values) + " |")
    return "\n".join(lines)


def _analysis_links(runs: list, grid_dir: Path, out: Path) -> list[str]:
    """Links to what src/eval.py and src/visualize.py wrote into runs of the grid (nothing when they were not run)."""
    lines = []
    for run in runs:
        found = sorted((run.directory / "eval").glob("*/metrics.json"))
        pictures = sorted((run.directory / "visualize").glob("*.png"))
        if not found and not pictures:
            continue
        links = []
        for metrics in found:
            split = metrics.parent.name
            accuracy = json.loads(metrics.read_text()).get("accuracy")
            relative = os.path.relpath(metrics.parent, out)
            links.append(
                f"{split} {100 * accuracy:.2f} % ([metrics]({relative}/metrics.json), "
                f"[confusion]({relative}/confusion.png), [mistakes]({relative}/misclassified.png))"
            )
        if pictures:
            links.append(f"[{len(pictures)} visualisations]({os.path.relpath(run.directory / 'visualize', out)}/)")
        lines.append(f"- `{run.directory.relative_to(grid_dir)}`: " + "; ".join(links))
    return ["## Evaluations and visualisations", "", *lines, ""] if lines else []


def requested_layout(runs: list, overrides: dict[str, str | None] | None = None) -> dict[str, str | None]:
    """The figure an experiment asked for (``runtime.report`` in its runs' config), overridden by the command line."""
    requested = next((report_settings(run) for run in runs if run.result and run.result.config), {})
    requested.update({role: key for role, key in (overrides or {}).items() if key})
    return {role: requested.get(role) for role in ("x", "lines", "panels")}


def report_settings(run) -> dict:
    """A run's ``runtime.report`` settings (figure layout, note); {} when its result holds none."""
    return dict((((run.result.config or {}) if run.result else {}).get("runtime") or {}).get("report") or {})


REPORT_KNOBS = {  # runtime.report's statistics keys, as src/report.py takes them
    "ci_level": float,
    "curve_form": str,
    "resamples": int,
    "fit_resamples": int,
    "bootstrap_seed": int,
}


def answer_settings(runs: list, overrides: dict | None = None) -> AnswerSettings:
    """The statistics' knobs (ci_level, curve_form, resamples, fit_resamples, bootstrap_seed): ``overrides`` (from
    src/report.py's command line) win over the runs' stored ``runtime.report``, which win over the defaults."""
    stored = next((report_settings(run) for run in runs if run.result and run.result.config), {})
    given = {key: value for key, value in (overrides or {}).items() if value is not None}
    for key, value in given.items():
        problem = CHECKS[f"runtime.report.{key}"](value)
        if problem:
            raise ScalegridError(f"runtime.report.{key}={value!r} {problem}")
    merged = {**stored, **given}
    defaults = AnswerSettings()
    form = merged.get("curve_form", defaults.form)
    problem = CHECKS["runtime.report.curve_form"](form)
    if problem:
        raise ScalegridError(f"runtime.report.curve_form={form!r} in the grid's results {problem}")
    return AnswerSettings(
        level=float(merged.get("ci_level", defaults.level)),
        resamples=int(merged.get("resamples", defaults.resamples)),
        fit_resamples=int(merged.get("fit_resamples", defaults.fit_resamples)),
        seed=int(merged.get("bootstrap_seed", defaults.seed)),
        form=str(form),
    )


def report_notes(runs: list) -> list[str]:
    """The distinct ``runtime.report.note`` lines of the runs (a study's size preset names its shrinks there)."""
    return list(dict.fromkeys(note for run in runs if (note := report_settings(run).get("note"))))


def build_report(
    grid_dir: Path,
    figure: dict[str, str | None] | None = None,
    settings: AnswerSettings | None = None,
    overrides: dict | None = None,
) -> Path:
    """Aggregate every run under ``grid_dir`` and write the report; returns the path of report.md.

    ``figure`` names the swept keys for the accuracy figure's x axis, lines and panels (else the experiment's
    ``runtime.report``, else a choice that follows the grid); ``settings`` the statistics' knobs (else the runs'
    ``runtime.report`` with ``overrides``, the command line's, winning).
    """
    grid_dir = Path(grid_dir)
    runs = find_runs(grid_dir)
    keys, cells = group_cells(runs)
    missing = missing_runs(grid_dir, runs)  # a damaged multirun.yaml is refused here, before anything is written
    settings = settings or answer_settings(
        runs, overrides
    )  # a bad stored setting is refused before anything is written
    out = grid_dir / "report"
    out.mkdir(exist_ok=True)
    _write_text_atomic(out / "results.csv", _csv_text(table_rows(runs)))
    frame = runs_frame(runs)
    answers = answer_grid(frame, settings)
    write_json_atomic(out / "fits.json", fits_payload(answers))
    _write_text_atomic(out / "fits.csv", _csv_text(curve_rows(answers)) if answers.curves else "")

    values = {key: sorted({cell.key[keys.index(key)] for cell in cells}, key=sort_key) for key in keys}
    layout = choose_layout(values, requested_layout(runs, figure))
    figures = [
        plots.accuracy_figure(cells, keys, layout, out / plots.accuracy_figure_name(layout), answers),
        plots.accuracy_vs_time(cells, keys, out / "accuracy_vs_time.png"),
        plots.learning_curves(cells, keys, layout, out / "learning_curves.png"),
    ]
    if any(value.values for value in answers.pretraining):
        figures.append(plots.pretraining_value_figure(answers, out / "pretraining_value.png"))
    scored = [cell for cell in cells if cell.stat("test_acc")]
    if scored:
        best = max(scored, key=lambda c: c.stat("test_acc")[0])
        worst = min(scored, key=lambda c: c.stat("test_acc")[0])
        figures += plots.confusion_pair(best, worst, keys, out)

    for stale in set(out.glob("accuracy_*.png")) - set(figures):  # an earlier report's figure for another layout
        stale.unlink()

    failed = [run for run in runs if run.status not in ("completed",)]
    completed = sum(run.status == "completed" for run in runs)
    lines = [
        f"# Grid report: {grid_dir.name}",
        "",
        *[f"> {note}\n" for note in report_notes(runs)],
        f"{len(runs)} runs found in `{grid_dir}`: {completed} completed, "
        + "".join(
            f"{sum(r.status == status for r in runs)} {status}, "
            for status in ("diverged", "failed", "running", "stopped")
        )
        + f"{sum(r.status == 'unfinished' for r in runs)} unfinished; "
        f"{len(missing)} expected runs missing." + (" **This grid is partial.**" if failed or missing else ""),
        "",
        *answer_sections(answers),
        "## Test accuracy per cell (mean ± std over seeds)",
        "",
        _summary_table(
            cells, keys, varying_settings(runs, keys), cell_intervals(frame, keys, settings), settings.level
        ),
        "",
    ]
    if failed:
        lines += ["## Diverged, failed and unfinished runs", ""]
        lines += [
            f"- `{run.directory.relative_to(grid_dir)}`: {run.status}"
            + (f": {run.metric('error') or ''}" if run.result else "")
            for run in failed
        ]
        lines.append("")
    if missing:
        lines += ["## Missing runs", ""]
        lines += ["- " + ", ".join(f"{key}={value}" for key, value in combo.items()) for combo in missing]
        lines.append("")
    lines += _analysis_links(runs, grid_dir, out)
    lines += ["## Figures", ""]
    lines += [f"![{path.stem}]({path.name})" for path in figures]
    lines += ["", "One row per run, with every override, metric and time: [results.csv](results.csv).", ""]
    _write_text_atomic(out / "report.md", "\n".join(lines))
    return out / "report.md"
