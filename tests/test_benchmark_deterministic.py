"""The --deterministic cost benchmark runs end to end on a tiny setting (figures printed, never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark_deterministic.py"


def test_quick_benchmark_replaces_only_its_section(tmp_path, data_dir):
    output = tmp_path / "BENCHMARKS.md"
    output.write_text(
        "# Benchmarks\n\n<!-- deterministic:begin -->\n## Deterministic training\n\nstale\n<!-- deterministic:end -->\n"
        "\n## Other\n\nkept\n"
    )
    cmd = [sys.executable, str(SCRIPT), "--quick", "--data-dir", str(data_dir), "--output", str(output)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    text = output.read_text()
    assert "stale" not in text and "## Other\n\nkept" in text
    assert "| `--deterministic` |" in text and "python scripts/benchmark_deterministic.py --quick" in text
