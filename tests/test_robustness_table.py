"""scripts/robustness_table.py: reports side by side, only when they measured the same digits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "robustness_table.py"


def report(path: Path, name: str, accuracies: tuple[float, float], *, seed: int = 1) -> str:
    conditions = [
        {"name": n, "description": f"{n} images", "accuracy": a} for n, a in zip(("clean", "stripe"), accuracies)
    ]
    path.write_text(json.dumps({
        "model_name": name, "seed": seed, "per_condition": 500, "conditions": conditions, "suite_conditions": 2,
        "group_mean_accuracy": {"mnist-c": accuracies[1]}, "suite_mean_accuracy": sum(accuracies) / 2,
    }))  # fmt: skip
    return str(path)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def test_columns_per_report(tmp_path):
    a = report(tmp_path / "a.json", "lamontagne", (0.984, 0.124))
    b = report(tmp_path / "b.json", "robust", (0.996, 0.978))
    result = run(a, f"int8={b}")
    assert result.returncode == 0, result.stderr
    assert "| condition | what it does | lamontagne | int8 |" in result.stdout
    assert "| `stripe` | stripe images | 12.4% | 97.8% |" in result.stdout
    assert "| **mean over the suite** | 2 conditions | **55.4%** | **98.7%** |" in result.stdout


def test_reports_of_different_digits_are_refused(tmp_path):
    a = report(tmp_path / "a.json", "lamontagne", (0.98, 0.12), seed=0)
    b = report(tmp_path / "b.json", "robust", (0.99, 0.97), seed=1)
    result = run(a, b)
    assert result.returncode != 0 and "seed" in result.stderr
