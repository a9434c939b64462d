"""``mnist-keras compare``: several architectures through fit -> one ranked leaderboard."""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner

from mnist_keras import models
from mnist_keras.cli import cli
from mnist_keras.compare import CompareConfig, compare, rank
from mnist_keras.train import FitConfig

SMALL = "lamontagne-1dense,keras-convnet"  # the two cheapest architectures to train


def read_csv(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def run_compare_command(tmp_path, monkeypatch, *args):
    """The real ``mnist-keras compare`` command, in-process (TensorFlow is imported once per session)."""
    monkeypatch.chdir(tmp_path)
    return CliRunner().invoke(cli, ["compare", *map(str, args)])


def test_compare_end_to_end(tmp_path, monkeypatch, data_dir):
    args = ["--models", SMALL, "--limit", 2000, "--epochs", 1, "--data-dir", data_dir, "--output", "cmp", "--quiet",
            "--publish", "always"]  # fmt: skip
    result = run_compare_command(tmp_path, monkeypatch, *args)
    assert result.exit_code == 0, result.output
    out = tmp_path / "cmp"
    rows = read_csv(out / "leaderboard.csv")
    assert sorted(r["model"] for r in rows) == sorted(SMALL.split(","))
    assert [r["rank"] for r in rows] == ["1", "2"] and all(r["status"] == "ok" for r in rows)
    val = [float(r["val_accuracy"]) for r in rows]
    assert val == sorted(val, reverse=True)
    for r in rows:
        assert 0.2 < float(r["test_accuracy"]) <= 1 and int(r["test_errors"]) > 0
        assert int(r["parameters"]) > 0 and float(r["train_seconds"]) > 0 and float(r["ms_per_image"]) > 0
        assert (out / r["model"] / "model.keras").is_file() and (out / r["model"] / "config.json").is_file()
    md = (out / "leaderboard.md").read_text()
    assert md.index(rows[0]["model"]) < md.index(rows[1]["model"])
    assert (out / "leaderboard.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "saved_models" / "best.keras").stat().st_size == (
        out / rows[0]["model"] / "model.keras"
    ).stat().st_size
    assert not (tmp_path / "saved_models" / "keras-convnet.keras").exists()  # compare publishes only best.keras
    assert f"best by validation accuracy: {rows[0]['model']}" in result.output


def nan_weights_model(name: str = "diverges"):
    """lamontagne-1dense with every weight NaN: the first batch's loss is NaN, whatever the data or seed."""
    import numpy as np

    model = models.ARCHITECTURES["lamontagne-1dense"].build()
    model.set_weights([np.full(w.shape, np.nan, dtype=w.dtype) for w in model.get_weights()])
    return model


@pytest.fixture
def diverging_architecture(monkeypatch):
    """A registered architecture whose training diverges by construction (NaN loss at the first batch).

    An absurd learning rate is not enough: dead ReLUs can leave the loss finite, and the run ends "ok".
    """
    arch = models.Architecture("diverges", nan_weights_model, "test only", params=0, recipe=models.Recipe(epochs=1))
    monkeypatch.setitem(models.ARCHITECTURES, "diverges", arch)
    return arch.name


def test_a_failing_architecture_is_recorded_and_the_others_finish(tmp_path, data_dir, diverging_architecture):
    shared = FitConfig(overrides={"epochs": 1}, limit=1000, data_dir=str(data_dir),
                       saved_models_dir=str(tmp_path / "saved"), publish="always", verbose=0)  # fmt: skip
    config = CompareConfig(
        models=[diverging_architecture, "lamontagne-1dense"], fit=shared, output=str(tmp_path / "cmp")
    )
    result = compare(config)
    rows = read_csv(tmp_path / "cmp" / "leaderboard.csv")
    assert [(r["model"], r["status"]) for r in rows] == [("lamontagne-1dense", "ok"), ("diverges", "failed")]
    assert "TrainingError" in rows[1]["error"] and "NaN" in rows[1]["error"]
    assert "failed" in (tmp_path / "cmp" / "leaderboard.md").read_text()
    assert result.best["model"] == "lamontagne-1dense"
    assert (tmp_path / "saved" / "best.keras").is_file()


def test_rank_uses_validation_not_test():
    rows = [
        {"model": "a", "status": "ok", "val_accuracy": 0.98, "val_loss": 0.1, "test_accuracy": 0.99},
        {"model": "b", "status": "failed"},
        {"model": "c", "status": "ok", "val_accuracy": 0.99, "val_loss": 0.2, "test_accuracy": 0.97},
        {"model": "d", "status": "ok", "val_accuracy": 0.99, "val_loss": 0.1, "test_accuracy": 0.96},
    ]
    assert [(r["model"], r["rank"]) for r in rank(rows)] == [("d", 1), ("c", 2), ("a", 3), ("b", "")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--models", "lamontagne,nope"], "unknown model 'nope'"),
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--models", ","], "--models is empty"),
    ],
)
def test_compare_bad_options_are_one_line_errors(tmp_path, monkeypatch, args, message):
    result = run_compare_command(tmp_path, monkeypatch, *args, "--output", "cmp")
    assert result.exit_code != 0 and f"Error: {message}" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert not (tmp_path / "cmp").exists()
