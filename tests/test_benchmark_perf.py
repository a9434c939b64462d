"""The performance benchmark runs end to end on a tiny setting (figures are printed, never asserted)."""

from __future__ import annotations

import json

from script_runs import run_script


def test_quick_benchmark_writes_both_reports(tmp_path, data_dir):
    output = tmp_path / "docs" / "BENCHMARKS.md"
    output.parent.mkdir()
    output.write_text("# Performance benchmarks\n\n<!-- other:begin -->\n## Web page\n\nkept\n<!-- other:end -->\n")
    run_script("benchmark_perf", "--quick", "--data-dir", data_dir, "--output", output, timeout=300)
    report = json.loads((output.parent / "perf.json").read_text())
    setups = [row["setup"] for row in report["training"]["rows"]]
    assert setups[0].startswith("baseline") and "defaults" in setups[1]
    assert all(row["images_per_s"] > 0 and 0 <= row["test_accuracy"] <= 1 for row in report["training"]["rows"])
    assert [row["path"] for row in report["inference"]["rows"]][:2] == ["model.predict", "model(x) direct call"]
    assert [row["model"] for row in report["xla"]] == ["lamontagne", "keras-convnet", "bn-cnn"]
    assert all(row["images_per_s_xla"] > 0 and row["images_per_s_no_xla"] > 0 for row in report["xla"])
    assert report["memory"]["peak_rss_mib"] > 100  # TensorFlow alone is bigger than this
    text = output.read_text()
    for heading in ("Training throughput", "XLA", "Inference", "Start-up", "Peak memory"):
        assert heading in text
    assert "python scripts/benchmark_perf.py --quick" in text
    assert text.startswith("# Performance benchmarks\n") and "## Web page\n\nkept" in text  # other sections stay
