"""bench/scaling_benchmark.py on the first curve of each family: it runs, and the figures it prints are the scores."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from scalegrid import PROJECT_ROOT
from scalegrid.analysis.scaling_fits import fit_point


def _benchmark():
    spec = importlib.util.spec_from_file_location("scaling_benchmark", PROJECT_ROOT / "bench" / "scaling_benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_prints_each_familys_scores(capsys, tmp_path):
    bench = _benchmark()
    assert len(bench.curves()) == 20 and set(bench.PUBLISHED) == {(f, n) for f, n, _ in bench.curves()}
    summary = bench.main(["--curves", "1", "--json", str(tmp_path / "scores.json")])
    printed = capsys.readouterr().out
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in printed.splitlines() if "(" in line[:40]}
    assert set(summary) == {"NMT", "LM", "BB"} and len(rows) == 3
    _, _, curve = bench.curves()[0]  # NMT, "6 Enc, 6 Dec": the default's score, computed here directly
    fitted, held_out = curve[curve["training"] == 1], curve[curve["training"] == 0]
    law = fit_point(fitted["x"], fitted["y"], error_rate=False)
    direct = float(np.sqrt(np.mean((np.log(law.error(held_out["x"].to_numpy())) - np.log(held_out["y"])) ** 2)))
    assert summary["NMT"]["default"] == pytest.approx(direct, rel=1e-9)
    nmt = rows["machine translation (NMT)"]
    assert float(nmt[11]) == pytest.approx(direct, rel=1e-3)  # the printed default column
    assert summary["NMT"]["published"]["M4"] == pytest.approx(0.01)  # this curve's published M4
    for figures in summary.values():
        best = figures["published"][figures["best_published"]]
        assert figures["ratio"] == pytest.approx(figures["default"] / best)
        assert figures["met"] == (figures["default"] <= best)
        assert figures["default"] < figures["reimplemented"]["M1"]  # M1 (no floor) extrapolates worst here
    assert (tmp_path / "scores.json").stat().st_size > 0
