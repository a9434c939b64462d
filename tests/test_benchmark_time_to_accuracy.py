"""The time-to-accuracy benchmark runs end to end on 1,000 images (figures are printed, never asserted)."""

from __future__ import annotations

import json

from script_runs import load_script, run_script


def test_quick_benchmark_runs_both_kinds_of_run_and_writes_its_section(tmp_path, data_dir):
    """``fast`` through ``train.fit`` and the keras-io script (every other model is a name away from fast)."""
    output = tmp_path / "docs" / "BENCHMARKS.md"
    output.parent.mkdir()
    output.write_text("# Performance benchmarks\n\n## Inference\n\nkept\n")
    run_script(
        "benchmark_time_to_accuracy", "--quick", "--models", "fast,keras-io", "--data-dir", data_dir, "--output", output
    )
    report = json.loads((output.parent / "time_to_accuracy.json").read_text())
    assert [run["model"] for run in report["runs"]] == ["fast", "keras-io"]
    for run in report["runs"]:
        seconds = [point[0] for point in run["points"]]
        assert seconds == sorted(seconds) and seconds[0] > 0
        assert all(0 <= point[2] <= 1 for point in run["points"])
        assert run["startup_seconds"] > 0 and len(run["load_before"]) == 3
    assert [point[1] for point in report["runs"][0]["points"]] == [0.5, 1.0]  # fast: every half epoch
    fit_run = report["fit_runs"][0]
    assert fit_run["seconds"] > 0 and fit_run["split"]["imports"] > 0
    assert fit_run["split"]["train: model.fit (with validation and callbacks)"] > 0
    assert report["summary"]["whole_process"]["speedup_whole_process"] > 0
    assert (output.parent / "time_to_accuracy.png").stat().st_size > 10_000
    text = output.read_text()
    assert text.count("## Time to accuracy") == 1 and "## Inference\n\nkept" in text
    assert "python scripts/benchmark_time_to_accuracy.py --quick" in text and "| imports |" in text


def test_first_reached_and_medians_count_misses_as_slowest():
    benchmark = load_script("benchmark_time_to_accuracy")
    points = [(2.0, 0.5, 0.97), (4.0, 1.0, 0.991), (8.0, 2.0, 0.995)]
    assert benchmark.first_reached(points, 0.99) == 4.0
    assert benchmark.first_reached(points, 0.996) is None
    assert benchmark.median_or_none([4.0, None, 6.0]) == 6.0
    assert benchmark.median_or_none([4.0, None, None]) is None
