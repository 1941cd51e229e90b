"""bench/print_docs.py --quick: every figure of a small document is measured and printed."""

from __future__ import annotations

import sys

import pytest
from bench_script import bench_script


def test_quick_run_prints_every_figure_with_its_target(monkeypatch, capsys):
    with bench_script("print_docs") as bench:
        monkeypatch.setattr(sys, "argv", ["print_docs.py", "--quick"])
        assert bench.main() == 0
    table = capsys.readouterr().out
    assert "1024x768 px" in table
    rows = {line.split()[0]: line.split()[1:] for line in table.splitlines()[2:] if line.strip()}
    for metric in ("export_worst_stall_ms", "job_worst_stall_ms", "autosave_worst_stall_ms", "segment_worst_ms"):
        assert rows[metric][1] == "<", metric
    assert float(rows["autosave_call_ms"][0]) > 0 and float(rows["segment_median_ms"][0]) > 0
    assert float(rows["undo_mb"][0]) > 0 and float(rows["stroke_peak_mb"][0]) >= float(rows["undo_mb"][0]) / 4
    assert {"export8_mb", "export16_mb"} <= rows.keys()


def test_quick_figures_are_not_a_baseline(monkeypatch):
    with bench_script("print_docs") as bench:
        monkeypatch.setattr(sys, "argv", ["print_docs.py", "--quick", "--save-baseline"])
        with pytest.raises(SystemExit):
            bench.main()
