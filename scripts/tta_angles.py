#!/usr/bin/env python
"""Choose the test-time augmentation angle on validation images, never on test.

For each run folder, its model classifies the run's own validation images
(the split ``fit`` held out, rebuilt from the run's seed and validation size)
plainly and averaged with copies rotated by +-a degrees, for each candidate a.
``mnist_keras.predict.TTA_ROTATIONS_DEG`` holds the angle with the best mean.
(TTA here is test-time augmentation, ``evaluate --tta``; the time-to-accuracy
benchmark is ``benchmark_time_to_accuracy.py``.)

    mnist-keras fit --model bn-cnn --epochs 20 --patience 20 --seed 1 --output runs/bn20-1   # and seeds 2, 3
    python scripts/tta_angles.py runs/bn20-1 runs/bn20-2 runs/bn20-3
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness, also when a test imports this file
import harness  # noqa: E402 (after the sys.path line)

CANDIDATES_DEG = (3.0, 4.0, 6.0, 8.0, 10.0)


def validation_accuracies(run_dir: Path, angles=CANDIDATES_DEG) -> dict[str, float]:
    """Validation accuracy of the run's model: plain, then with each +-angle."""
    import numpy as np

    from mnist_keras.artifacts import load_model, run_settings
    from mnist_keras.data import load_mnist, make_splits
    from mnist_keras.predict import predict_probabilities, tta_views

    settings = run_settings(run_dir)
    splits = make_splits(load_mnist(settings.get("data_dir")), validation_size=settings["validation_size"],
                         limit=settings.get("limit"), seed=settings["seed"])  # fmt: skip
    model = load_model(run_dir / "model.keras")
    x = splits.x_val[..., None].astype(np.float32)
    plain = predict_probabilities(model, x)

    def accuracy(probs) -> float:
        return float(np.mean(probs.argmax(axis=1) == splits.y_val))

    scores = {"plain": accuracy(plain)}
    for angle in angles:
        rotated = [predict_probabilities(model, view) for view in tta_views(x, angles=(-angle, angle))[1:]]
        scores[f"±{angle:g}°"] = accuracy(plain + sum(rotated))
    return scores


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="Run folders (model.keras and config.json).")
    args = parser.parse_args(argv)
    rows = {str(run): validation_accuracies(run) for run in args.runs}
    columns = list(next(iter(rows.values())))
    means = {c: statistics.mean(row[c] for row in rows.values()) for c in columns}
    lines = [[run, *(f"{100 * row[c]:.2f}%" for c in columns)] for run, row in rows.items()]
    lines.append(["mean", *(f"{100 * means[c]:.3f}%" for c in columns)])
    print(harness.table(["run", *(f"val acc {c}" for c in columns)], lines, align="l" + "r" * len(columns)))
    best = max(columns[1:], key=lambda c: means[c])
    print(f"best on validation: {best}")


if __name__ == "__main__":
    main()
