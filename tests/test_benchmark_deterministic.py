"""The --deterministic cost benchmark runs end to end on a tiny setting (figures printed, never asserted)."""

from __future__ import annotations

from script_runs import page_with_stale_section, run_script


def test_quick_benchmark_replaces_only_its_section(tmp_path, data_dir):
    output = page_with_stale_section(tmp_path / "BENCHMARKS.md", "deterministic", "## Deterministic training")
    run_script("benchmark_deterministic", "--quick", "--data-dir", data_dir, "--output", output, timeout=600)
    text = output.read_text()
    assert "stale" not in text and "## Other\n\nkept" in text
    assert "| `--deterministic` |" in text and "python scripts/benchmark_deterministic.py --quick" in text
