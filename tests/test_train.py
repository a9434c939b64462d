"""End-to-end training through the real ``mnist-keras fit`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_keras.train import read_history


def run_cli(*args, cwd, check=True, **kwargs):
    """Run ``mnist-keras`` in a subprocess (the console script's own entry point)."""
    cmd = [sys.executable, "-m", "mnist_keras.cli", *map(str, args)]
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, **kwargs)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def scalar_tags(log_dir: Path) -> set[str]:
    """Tags of every scalar/tensor summary in a TensorBoard log folder."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for events in log_dir.rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events.parent))
        acc.Reload()
        tags |= set(acc.Tags()["tensors"]) | set(acc.Tags()["scalars"])
    return tags


def test_fit_end_to_end(tmp_path, data_dir):
    result = run_cli(
        "fit",
        "--limit",
        3000,
        "--epochs",
        1,
        "--data-dir",
        data_dir,
        "--run-dir",
        "runs/smoke",
        "--publish",
        "always",
        cwd=tmp_path,
    )
    run = tmp_path / "runs" / "smoke"
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "eval", "history.csv", "logs", "model.keras"]
    assert (tmp_path / "saved_models" / "lamontagne.keras").stat().st_size > 1_000_000
    assert "published saved_models/lamontagne.keras (validation accuracy" in result.stdout
    assert json.loads((tmp_path / "saved_models" / "lamontagne.json").read_text())["run_dir"] == "runs/smoke"
    config = json.loads((run / "config.json").read_text())
    assert config["settings"]["epochs"] == 1 and config["settings"]["batch_size"] == 128
    assert config["data"]["train_size"] == 3000 and config["data"]["validation_size"] == 5000
    assert config["data"]["checksum_mismatches"] == []
    assert {"tensorflow", "keras", "numpy"} <= set(config["versions"])
    history = read_history(run)
    assert len(history) == 1
    assert float(history[0]["val_accuracy"]) > 0.6  # chance is 0.1
    assert "epoch_loss" in scalar_tags(run / "logs")
    assert "run folder:" in result.stdout and "val_accuracy" in result.stdout
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    test = metrics["splits"]["test"]
    assert list(metrics["splits"]) == ["train", "test"] and test["accuracy"] > 0.6
    assert result.stdout.strip().splitlines()[-2:] == [
        f"test accuracy {test['accuracy']:.4f} ({test['errors']} errors of 10,000)",
        f"test macro F1 {test['macro_f1']:.4f}",
    ]


def test_histograms_option_turns_on_weight_histograms(tmp_path):
    import keras

    from mnist_keras.callbacks import make_callbacks
    from mnist_keras.train import FitConfig

    for histograms, freq in ((False, 0), (True, 1)):
        callbacks = make_callbacks(FitConfig(histograms=histograms), tmp_path)
        (board,) = [c for c in callbacks if isinstance(c, keras.callbacks.TensorBoard)]
        assert board.histogram_freq == freq


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--learning-rate", "-1"], "--learning-rate must be positive"),
        (["--model", "resnet1000"], "unknown model 'resnet1000'"),
        (["--resume"], "--resume needs --run-dir"),
        (["--data-dir", "does-not-exist"], "does-not-exist: not a folder"),
    ],
)
def test_fit_bad_options_are_one_line_errors(tmp_path, args, message):
    result = run_cli("fit", *args, cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_fit_refuses_to_overwrite_a_run(tmp_path, data_dir):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.keras").write_bytes(b"precious")
    result = run_cli("fit", "--data-dir", data_dir, "--run-dir", "run", cwd=tmp_path, check=False)
    assert result.returncode == 2 and "already holds files" in result.stderr
    assert (tmp_path / "run" / "model.keras").read_bytes() == b"precious"


def test_help_is_instant_and_light():
    code = "import sys, mnist_keras.cli; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    result = run_cli("--help", cwd=os.getcwd())
    assert "fit" in result.stdout and "models" in result.stdout
    assert "0.1.0" in run_cli("--version", cwd=os.getcwd()).stdout
