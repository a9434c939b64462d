"""The angle-choosing script scores a run on its own validation images (figures printed, never asserted)."""

from __future__ import annotations

import json

import numpy as np
from script_runs import load_script


def test_scores_the_runs_own_validation_split(trained_run, mnist, capsys):
    from mnist_keras.artifacts import load_model
    from mnist_keras.data import make_splits

    script = load_script("tta_angles")
    scores = script.validation_accuracies(trained_run, angles=(8.0,))
    assert list(scores) == ["plain", "±8°"]
    settings = json.loads((trained_run / "config.json").read_text())["settings"]
    splits = make_splits(mnist, validation_size=settings["validation_size"], limit=3000, seed=settings["seed"])
    probs = load_model(trained_run / "model.keras").predict(splits.x_val[..., None].astype(np.float32), verbose=0)
    assert abs(scores["plain"] - np.mean(probs.argmax(axis=1) == splits.y_val)) < 1e-9
    assert 0.3 < scores["±8°"] <= 1.0  # a 1-epoch model, far above chance (0.1) with rotated copies too

    script.main([str(trained_run)])
    table = capsys.readouterr().out
    assert "| mean |" in table and "best on validation: ±" in table and table.count("val acc") == 6
