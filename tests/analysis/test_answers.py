"""The answering report on synthetic grids of known truth: load_grid, Answers, fits.json, excluded runs."""

import json
import re

import numpy as np
from conftest import SYNTHETIC_SIZES, curve_runs, write_result_grid

from scalegrid.analysis.answers import AnswerSettings
from scalegrid.analysis.grid_frame import load_grid
from scalegrid.analysis.report import build_report

CROSSING = 8_000.0  # where the big model's steep curve meets the small model's flat one


QUICK = AnswerSettings(resamples=2000, fit_resamples=100)  # the defaults' statistics, fewer draws: seconds


def big(n):
    return 0.02 + 20 * n**-0.6


FLAT_A = 0.5 * 20 * CROSSING**-0.6
FLAT_C = big(CROSSING) - FLAT_A * CROSSING**-0.3


def small(n):
    return FLAT_C + FLAT_A * n**-0.3


def scaling_grid(tmp_path, extra=()):
    rng = np.random.default_rng(0)
    runs = curve_runs(small, rng=rng, model="small", init="scratch")
    runs += curve_runs(lambda n: small(4 * n), rng=rng, model="small", init="pretrained")
    runs += curve_runs(big, rng=rng, model="big", init="scratch")
    for run in runs:
        run["params_total"] = 10_000 if run["overrides"]["model"] == "small" else 1_000_000
    return write_result_grid(tmp_path / "grid", [*runs, *extra])


def test_load_grid_is_one_row_per_run(tmp_path):
    frame = load_grid(scaling_grid(tmp_path))
    assert len(frame) == 3 * 6 * 3
    assert set(frame.attrs["swept_keys"]) == {"model", "init", "data.fraction"}
    assert {"seed", "status", "test_acc", "test_error", "train_size", "params_total", "pretrained"} <= set(frame)
    assert frame.loc[frame["init"] == "pretrained", "pretrained"].all()
    assert not frame.loc[frame["init"] == "scratch", "pretrained"].any()
    assert np.allclose(frame["test_error"], 1 - frame["test_acc"])


def test_report_answers_with_numbers_and_writes_fits(tmp_path):
    failed = {"overrides": {"model": "big", "init": "scratch", "data.fraction": "1", "seed": "9"}, "status": "failed"}
    failed["error"] = "out of memory"
    grid = scaling_grid(tmp_path, [failed])
    markdown = build_report(grid, settings=QUICK).read_text()
    answers = markdown.split("## Answers")[1].split("##")[0]
    assert "model=big overtakes model=small (init=scratch) at about" in answers
    assert "init=pretrained start is worth about" in answers
    assert "predicted accuracy with twice the data (64,000 images)" in answers
    assert "Backtest:" in answers and "Joint model × data fit: not identified — 2 model sizes" in answers
    payload = json.loads((grid / "report" / "fits.json").read_text())
    crossing = next(c for c in payload["crossovers"] if c["key"] == "model")
    truth = CROSSING
    assert abs(crossing["size"] - truth) / truth < 0.15 and crossing["ci"][0] <= crossing["size"] <= crossing["ci"][1]
    value = payload["pretraining"][0]["sizes"][0]
    low, high = value["effective_ci"]
    assert low <= 4 * value["size"] <= high and not value["lower_bound"]  # a flat curve: a wide interval
    assert [row["run_dir"].endswith("seed=9") for row in payload["excluded"]] == [True]
    assert "seed=9`: failed: out of memory" in markdown  # excluded runs are listed
    assert (grid / "report" / "fits.csv").read_text().startswith("model,init,")
    assert (grid / "report" / "pretraining_value.png").stat().st_size > 0
    assert "95 % CI" in markdown.split("## Test accuracy per cell")[1]
    table = markdown.split("## Paired comparisons")[1].split("\n## ")[0]  # adjusted for their number
    assert "p (Holm)" in table and "Holm's step-down" in table
    pairs = [(c["p_value"], c["p_holm"]) for c in payload["comparisons"] if c["p_value"] is not None]
    assert pairs and all(holm >= p for p, holm in pairs)


def test_two_sizes_say_why_there_is_no_fit(tmp_path):
    rng = np.random.default_rng(1)
    sizes = np.array([1000, 4000])
    runs = curve_runs(lambda n: 0.05 + 2 * n**-0.5, rng=rng, sizes=sizes, model="small")
    runs += curve_runs(lambda n: 0.04 + 2 * n**-0.5, rng=rng, sizes=sizes, model="big")
    grid = write_result_grid(tmp_path / "grid", runs)
    markdown = build_report(grid, settings=QUICK).read_text()
    assert "No learning-curve fit for model=big (2 training-set sizes; a learning curve needs at least 4)" in markdown
    assert "## Paired comparisons" in markdown and (grid / "report" / "accuracy_vs_size.png").is_file()
    assert json.loads((grid / "report" / "fits.json").read_text())["crossovers"] == []


def test_statistics_knobs_in_conf_match_the_code_defaults():
    from conftest import compose_config

    report = compose_config([]).runtime.report
    defaults = AnswerSettings()
    assert (report.ci_level, report.resamples, report.fit_resamples, report.bootstrap_seed) == (
        defaults.level,
        defaults.resamples,
        defaults.fit_resamples,
        defaults.seed,
    )


def test_mnist_scaling_study_composes_with_its_source_checkpoint(tmp_path):
    from conftest import compose_config

    cfg = compose_config(["experiment=mnist_scaling", "init=source", "model=mlp", f"runtime.paths.log_dir={tmp_path}"])
    assert (
        cfg.model.weights
        == f"{tmp_path}/grids/mnist_scaling_source/mlp/frac0.5/scratch/full/seed0/checkpoints/last.ckpt"
    )
    assert list(cfg.data.classes) == [5, 6, 7, 8, 9]
    params = cfg.hydra.sweeper.params
    assert len(params["data.fraction"].split(",")) == 7 and params.seed == "0,1,2"


def _answers_section(markdown: str) -> str:
    return markdown.split("## Answers")[1].split("\n## ")[0]


def test_one_seed_per_size_gets_honest_intervals(tmp_path):
    rng = np.random.default_rng(3)
    runs = curve_runs(small, seeds=1, noise=0.004, rng=rng, model="small")
    runs += curve_runs(big, seeds=1, noise=0.004, rng=rng, model="big")
    markdown = build_report(write_result_grid(tmp_path / "grid", runs), settings=QUICK).read_text()
    answers = _answers_section(markdown)
    assert "residual bootstrap" in answers and "predicted accuracy with twice the data" in answers
    intervals = re.findall(r"CI (\d[\d.,]*)–(\d[\d.,]*)", answers)
    assert intervals and all(low != high for low, high in intervals)  # no interval of zero width
    points_and_intervals = re.findall(r"(\d+\.\d+) % \(95 % CI (\d+\.\d+)–(\d+\.\d+)", answers)
    assert points_and_intervals
    for point, low, high in points_and_intervals:  # every point estimate inside its own interval
        assert float(low) <= float(point) <= float(high)


def test_a_grid_of_equal_accuracies_says_the_error_does_not_fall(tmp_path):
    runs = curve_runs(lambda n: 0.2 + 0 * n, noise=0.0, model="small")
    markdown = build_report(write_result_grid(tmp_path / "grid", runs), settings=QUICK).read_text()
    answers = _answers_section(markdown)
    assert "does not fall with the data" in answers and "n^-0.00" not in answers


def test_cells_still_improving_are_named(tmp_path):
    runs = curve_runs(small, rng=np.random.default_rng(4), model="small")
    for run in runs:
        rising = run["train_size"] in SYNTHETIC_SIZES[2:4]
        run["val_acc_history"] = [0.80, 0.84, 0.88, 0.92] if rising else [0.90, 0.91, 0.91, 0.91]
    markdown = build_report(write_result_grid(tmp_path / "grid", runs), settings=QUICK).read_text()
    answers = _answers_section(markdown)
    sizes = [int(n) for n in SYNTHETIC_SIZES[2:4]]
    assert "Still improving when training stopped" in answers
    named = answers.split("Still improving")[1].split("\n")[0]
    assert all(f"{n:,}" in named for n in sizes) and "budget=steps" in named
    payload = json.loads((tmp_path / "grid" / "report" / "fits.json").read_text())
    assert sorted(cell["size"] for cell in payload["still_improving"]) == sizes


def test_many_curves_are_summarised_per_key(tmp_path):
    rng = np.random.default_rng(5)
    sizes = SYNTHETIC_SIZES[1:]  # 5 sizes: M2, quick
    runs = []
    for width in range(10):
        runs += curve_runs(
            lambda n, w=width: 0.02 + (3 + w) * n**-0.5, seeds=1, noise=0.0005, rng=rng, sizes=sizes, model=f"w{width}"
        )
    settings = AnswerSettings(resamples=200, fit_resamples=30)
    markdown = build_report(write_result_grid(tmp_path / "grid", runs), settings=settings).read_text()
    answers = [line for line in _answers_section(markdown).splitlines() if line.startswith("- ")]
    assert len(answers) <= 20
    assert any(line.startswith("- model: at the largest size") and "w0 > w1" in line for line in answers)
    payload = json.loads((tmp_path / "grid" / "report" / "fits.json").read_text())
    assert len(payload["crossovers"]) == 45  # every pair is still in fits.json


def test_a_bad_curve_form_stored_in_a_grid_is_one_line(tmp_path):
    import pytest

    from scalegrid.errors import ScalegridError

    runs = curve_runs(small, seeds=1, rng=np.random.default_rng(6), model="small")
    for run in runs:
        run["config"] = {"runtime": {"report": {"curve_form": "M9"}}}
    grid = write_result_grid(tmp_path / "grid", runs)
    with pytest.raises(ScalegridError, match=r"runtime.report.curve_form='M9' in the grid's results must be one of"):
        build_report(grid, settings=None)
    assert not (grid / "report").exists()  # refused before anything is written


def test_report_settings_on_the_command_line_win_over_the_stored_ones(tmp_path, capsys):
    """A grid run with ci_level 0.95 stored; src/report.py runtime.report.ci_level=0.5 (or --ci-level) rebuilds at 50 %."""
    import pytest

    from scalegrid.cli import report_main

    runs = curve_runs(small, seeds=2, rng=np.random.default_rng(7), model="small")
    for run in runs:
        run["config"] = {"runtime": {"report": {"ci_level": 0.95, "fit_resamples": 200, "resamples": 200}}}
    grid = write_result_grid(tmp_path / "grid", runs)
    report = grid / "report" / "report.md"
    report_main([str(grid)])
    assert "Intervals are 95 % percentile bootstraps" in report.read_text()
    for argv in ([str(grid), "runtime.report.ci_level=0.5"], [str(grid), "--ci-level", "0.5"]):
        report_main(argv)
        assert "Intervals are 50 % percentile bootstraps" in report.read_text(), argv
    for argv, message in [
        ([str(grid), "runtime.report.ci_level=2"], "runtime.report.ci_level=2.0 must be a finite number in (0, 1)"),
        ([str(grid), "runtime.report.bogus=1"], "'runtime.report.bogus=1' is not a report setting"),
        ([str(grid), "ci_level=0.5"], "'ci_level=0.5' is not a report setting: give runtime.report.KEY=VALUE"),
        ([str(grid), "runtime.report.resamples=many"], "runtime.report.resamples=many: 'many' is not a whole number"),
    ]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as stopped:
            report_main(argv)
        assert stopped.value.code == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert message in line, line


def test_a_damaged_sweep_record_is_one_line_naming_it(tmp_path):
    import pytest

    from scalegrid.errors import ScalegridError

    grid = write_result_grid(tmp_path / "grid", curve_runs(small, seeds=1, rng=np.random.default_rng(8), model="s"))
    record = grid / "multirun.yaml"
    for content, message in [
        (b"hydra: [unclosed\n  - x: {", "multirun.yaml is not valid YAML: restore it"),
        (b"\xff\xfe\x00bad", "multirun.yaml is not UTF-8 text"),
        (b"hydra:\n  overrides:\n    task: 5\n", "multirun.yaml does not hold a sweep Hydra wrote (TypeError"),
        (b"- just\n- a list\n", "multirun.yaml does not hold a sweep Hydra wrote (a mapping with a hydra: block)"),
        (b"hydra:\n  overrides:\n    task: ['model=[a,']\n", "multirun.yaml does not hold a sweep Hydra wrote"),
    ]:
        record.write_bytes(content)
        with pytest.raises(ScalegridError, match=re.escape(message)) as refused:
            build_report(grid)
        assert str(record) in str(refused.value) and "\n" not in str(refused.value)
        assert not (grid / "report").exists()  # refused before anything is written


def test_a_folder_of_grids_is_refused_naming_them(tmp_path):
    import pytest

    from scalegrid.errors import ScalegridError

    for name in ("alpha", "beta", "gamma"):
        grid = write_result_grid(tmp_path / "grids" / name, curve_runs(small, seeds=1, sizes=[500, 1000], model="s"))
        (grid / "multirun.yaml").write_text("hydra: {}\n")
    with pytest.raises(ScalegridError, match=r"grids holds 3 grids \(alpha, beta, gamma\), not one: give one of them"):
        build_report(tmp_path / "grids")
    assert not (tmp_path / "grids" / "report").exists()
    assert build_report(tmp_path / "grids" / "alpha").is_file()
