"""``--deterministic`` and ``--resume``: a resumed run ends exactly as the run left alone.

The runs are real ``fit`` processes killed with SIGKILL at a chosen point of
a chosen epoch (a callback the child process adds kills it), then continued
with the real ``mnist-keras fit --resume``. The recipe is short but long
enough for both the plateau schedule to halve the learning rate and early
stopping to end the run before ``--epochs``; the reference run checks that
it does, so the test cannot pass by not exercising them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from mnist_keras.artifacts import read_history

RECIPE = {  # lamontagne, "plateau" schedule (halves the LR after 2 epochs without a lower val_loss)
    "model": "lamontagne", "epochs": 15, "patience": 3, "learning_rate": 3e-3, "limit": 1000,
    "validation_size": 1000, "deterministic": True, "verbose": 0,
}  # fmt: skip

# Runs fit() in a child process; with a kill epoch, a callback placed at the
# given position among fit's callbacks SIGKILLs the process at that epoch's end.
CHILD = """
import json, os, signal, sys
import keras
from mnist_keras import callbacks, train
from mnist_keras.models import RECIPE_FIELDS

settings, kill_epoch, where = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

class Kill(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == kill_epoch:
            os.kill(os.getpid(), signal.SIGKILL)

make_callbacks = callbacks.make_callbacks

def with_kill(*args, **kwargs):
    found = make_callbacks(*args, **kwargs)
    backup = next(i for i, c in enumerate(found) if isinstance(c, keras.callbacks.BackupAndRestore))
    found.insert(backup if where == "before-backup" else len(found), Kill())
    return found

callbacks.make_callbacks = with_kill
overrides = {name: settings.pop(name) for name in RECIPE_FIELDS if name in settings}
train.fit(train.FitConfig(overrides=overrides, **settings))
"""


def run_child(tmp_path, run_dir, data_dir, *, kill_epoch=-1, where="end", recipe=RECIPE):
    settings = {**recipe, "run_dir": str(run_dir), "data_dir": str(data_dir), "publish": "never"}
    cmd = [sys.executable, "-c", CHILD, json.dumps(settings), str(kill_epoch), where]
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=900)


def resume(tmp_path, run_dir):
    cmd = [
        sys.executable,
        "-m",
        "mnist_keras.cli",
        "fit",
        "--resume",
        "--run-dir",
        str(run_dir),
        "--quiet",
        "--no-eval",
    ]
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def weights(run_dir):
    from mnist_keras.artifacts import load_model

    return load_model(run_dir / "model.keras").get_weights()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_dir):
    """The run left alone; it must reduce the LR and stop early, or the test proves nothing."""
    tmp = tmp_path_factory.mktemp("reference")
    result = run_child(tmp, tmp / "run", data_dir)
    assert result.returncode == 0, result.stderr
    history = read_history(tmp / "run")
    rates = [float(row["learning_rate"]) for row in history]
    assert len(history) < RECIPE["epochs"], "early stopping must end the reference run"
    assert min(rates) < rates[0], "the plateau schedule must lower the LR in the reference run"
    return tmp / "run", history


@pytest.mark.parametrize(
    ("when", "where"),
    [
        ("first", "end"),  # killed after epoch 1 was fully recorded and backed up
        ("after_lr_drop", "before-backup"),  # killed after the LR drop, between recording an epoch and its backup
    ],
)
def test_resumed_run_equals_the_run_left_alone(tmp_path, data_dir, reference, when, where):
    reference_dir, expected = reference
    rates = [float(row["learning_rate"]) for row in expected]
    kill_epoch = 0 if when == "first" else next(i for i, r in enumerate(rates) if r < rates[0])
    run = tmp_path / "run"

    killed = run_child(tmp_path, run, data_dir, kill_epoch=kill_epoch, where=where)
    assert killed.returncode == -9, killed.stderr  # SIGKILL: no clean-up ran
    assert (run / "backup").is_dir()
    # Two runs with the same options: identical epochs up to the kill (determinism).
    recorded = kill_epoch + 1 if where == "end" else kill_epoch  # history.csv is written after the backup
    assert read_history(run) == expected[:recorded]

    resume(tmp_path, run)
    assert read_history(run) == expected  # same epochs, losses, accuracies and learning rates, bit for bit
    assert not (run / "backup").exists()  # cleaned up once the run finished
    assert not (run / "eval").exists()  # --no-eval
    for got, want in zip(weights(run), weights(reference_dir), strict=True):
        np.testing.assert_array_equal(got, want)
    assert json.loads((run / "config.json").read_text())["settings"]["deterministic"] is True


def test_a_resumed_run_with_weight_averaging_equals_the_run_left_alone(tmp_path, data_dir):
    """The optimizer's moving average of the weights is backed up with it, and validation swaps it in and out."""
    recipe = {**RECIPE, "epochs": 3, "lr_schedule": "cosine", "ema_momentum": 0.9}
    run_child(tmp_path, tmp_path / "reference", data_dir, recipe=recipe).check_returncode()
    expected = read_history(tmp_path / "reference")
    assert len(expected) == 3

    run = tmp_path / "run"
    killed = run_child(tmp_path, run, data_dir, kill_epoch=0, recipe=recipe)
    assert killed.returncode == -9, killed.stderr
    resume(tmp_path, run)
    assert read_history(run) == expected
    for got, want in zip(weights(run), weights(tmp_path / "reference"), strict=True):
        np.testing.assert_array_equal(got, want)
