"""The accuracy-record benchmark runs end to end on 1,000 images (figures are printed, never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

from script_runs import SCRIPTS, load_script, run_script


def test_quick_record_run_scores_the_kept_model_and_writes_its_section(tmp_path, data_dir):
    output = tmp_path / "docs" / "BENCHMARKS.md"
    output.parent.mkdir()
    output.write_text("# Performance benchmarks\n\n## Inference\n\nkept\n")
    run_script("benchmark_record", "--quick", "--data-dir", data_dir, "--output", output)
    report = json.loads((output.parent / "record.json").read_text())
    (run,) = report["runs"]
    assert report["model"] == "bn-cnn-ema" and run["keep"] == "best" and run["kept_epoch"] == 1
    assert len(run["points"]) == 1 and run["points"][0][0] > 0 and run["points"][0][1] == 1.0
    # One epoch: the kept model is the measured one, so both scores of the same 1,000 test images agree.
    assert run["kept_test_accuracy"] == run["points"][0][2]
    assert abs(run["kept_val_accuracy"] - run["kept_val_accuracy_logged"]) < 1e-6  # scored as fit validated it
    assert run["kept_val_accuracy_logged"] == run["last_val_accuracy"]
    assert all(0.0 < run[f"kept_{split}_tta_accuracy"] <= 1.0 for split in ("val", "test"))
    text = output.read_text()
    assert text.count("## Accuracy record") == 1 and "## Inference\n\nkept" in text
    assert "python scripts/benchmark_record.py --quick" in text and "| 1 | " in text


def test_targets_need_the_median_and_the_budget():
    benchmark = load_script("benchmark_record")

    def run(accuracy, seconds, early):
        points = [(early, 5.0, 0.996), (seconds, 20.0, accuracy)]
        return {"kept_test_accuracy": accuracy, "kept_test_tta_accuracy": accuracy + 0.0003, "points": points}

    met = benchmark.summarise([run(0.9971, 800, 250), run(0.9969, 810, 320), run(0.9972, 790, 280)])
    assert met["kept_test_accuracy_median"] == 0.9971 and met["record_met"] and met["early_met"]
    slow = benchmark.summarise([run(0.9971, 950, 350), run(0.9975, 950, 350), run(0.9972, 950, 350)])
    assert not slow["record_met"] and not slow["early_met"]
    low = benchmark.summarise([run(0.9966, 800, 250), run(0.9975, 800, 250), run(0.9968, 800, 250)])
    assert not low["record_met"] and low["early_met"]
    assert low["kept_test_tta_accuracy_median"] == 0.9971 and low["tta_record_met"]
    assert not benchmark.summarise([run(0.9966, 800, 250), run(0.9966, 800, 250)])["tta_record_met"]


def test_an_unknown_model_or_no_mnist_is_one_line_not_a_traceback(tmp_path, data_dir):
    """Checked before the seeds' fresh processes start, which would end in their own traceback."""
    output = tmp_path / "BENCHMARKS.md"
    cases = ((["--model", "nope", "--data-dir", str(data_dir)], "Error: unknown model 'nope'; known models: "),
             (["--data-dir", str(tmp_path / "no-such-folder")], f"Error: {tmp_path / 'no-such-folder'}: not a folder; "))  # fmt: skip
    for args, expected in cases:
        cmd = [sys.executable, str(SCRIPTS / "benchmark_record.py"), "--quick", *args, "--output", str(output)]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(expected)
    assert not output.exists()
