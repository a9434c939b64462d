#!/usr/bin/env python
"""Train the number reader's whole-digit judge (``mnist_keras/whole.py``) and write its weights.

Numbers are composed from MNIST *training* digits and the training fonts
(``numberset`` split ``train``: never a validation or test digit, never a held-out
font), in every condition. ``segment.prepare`` cuts each into candidates, as the
reader does. A candidate is a whole digit when its box matches a true digit's
and holds little of any other (``numberset.whole_digits``); it is not one when it
matches no digit well (below NEGATIVE_IOU: half a digit, a digit and a bit of the
next) or holds most of two (PAIR_COVER of each box: touching digits squeezed into
one); in between it is left out. A one-hidden-layer perceptron (scikit-learn) learns to tell them apart;
its weights go into ``mnist_keras/whole_weights.py`` (float16, base64), which the
reader loads with numpy.

The script prints how well the judge separates candidates cut from *validation*
numbers; ``scripts/benchmark_numbers.py --split validation`` says what it does to
whole readings.

    python scripts/train_whole_digit.py                 # writes mnist_keras/whole_weights.py
    python scripts/train_whole_digit.py --quick --output /tmp/w.py   # a smoke run

Needs the ``train`` extra (scikit-learn) and MNIST ($MNIST_KERAS_DATA or Keras' download).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness, also when a test imports this file
from harness import REPO, WeightsParser

from mnist_keras import numberset, segment, whole
from mnist_keras.artifacts import write_text
from mnist_keras.preprocess import ImageError

DEFAULT_PER_CONDITION = 1200  # training numbers per condition: about 150,000 candidates for the judge's 458 inputs
VALIDATION_PER_CONDITION = 100
QUICK_PER_CONDITION = 5  # --quick: training and validation numbers per condition
QUICK = f"{QUICK_PER_CONDITION} numbers per condition for training and validation"  # what --quick does
NEGATIVE_IOU = 0.55  # matching no digit better than this: not one digit
PAIR_COVER = 0.6  # holding this share of two digits' boxes: not one digit
HIDDEN = 32  # units of the hidden layer
L2 = 1e-3  # scikit-learn's alpha
SEED = 0
OUTPUT = REPO / "mnist_keras" / "whole_weights.py"


def labelled(samples, progress=print) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels 1/0) of every candidate the reader would classify in ``samples``, ambiguous ones left out."""
    xs, ys = [], []
    for i, sample in enumerate(samples):
        try:
            page = segment.prepare(sample.image, "image")
        except ImageError:
            continue
        candidates = [c for line in page.candidates for c in line]
        if not candidates:
            continue
        boxes = [segment.source_box(c.box, page.factor, page.size) for c in candidates]
        iou = np.array([[numberset.iou(box, truth) for truth in sample.boxes] for box in boxes])
        cover = np.array([[numberset.cover(box, truth) for truth in sample.boxes] for box in boxes])
        positive = numberset.whole_digits(boxes, sample.boxes) >= 0
        second = np.sort(cover, axis=1)[:, -2] if cover.shape[1] > 1 else np.zeros(len(cover))
        negative = (iou.max(axis=1) < NEGATIVE_IOU) | (second >= PAIR_COVER)
        keep = positive | negative
        xs.append(whole.features([c for c, k in zip(candidates, keep) if k]))
        ys.append(positive[keep].astype(np.int8))
        if progress and (i + 1) % 1000 == 0:
            progress(f"  cut {i + 1}/{len(samples)} numbers")
    return np.concatenate(xs), np.concatenate(ys)


def fit(x: np.ndarray, y: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """The perceptron's weights, with the standardisation it expects."""
    from sklearn.neural_network import MLPClassifier

    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-3
    net = MLPClassifier(hidden_layer_sizes=(HIDDEN,), alpha=L2, max_iter=200, early_stopping=True,
                        random_state=seed).fit((x - mean) / scale, y)  # fmt: skip
    return {"mean": mean, "scale": scale, "w1": net.coefs_[0], "b1": net.intercepts_[0],
            "w2": net.coefs_[1][:, 0], "b2": net.intercepts_[1][0]}  # fmt: skip


def report(weights: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Accuracy at 0.5, and how often a whole digit is judged above a non-digit (ROC AUC), with the stored float16 weights."""
    from sklearn.metrics import roc_auc_score

    p = whole.judge(x, whole.unpack(*whole.pack(weights)))
    return {"candidates": len(y), "whole": float(y.mean()), "accuracy": float(((p >= 0.5) == y).mean()),
            "auc": float(roc_auc_score(y, p))}  # fmt: skip


def module_text(weights: dict[str, np.ndarray], command: str, trained: dict, validation: dict) -> str:
    notes = [f"Training candidates: {trained['candidates']:,} ({trained['whole']:.0%} whole digits).",
             f"Validation candidates: {validation['candidates']:,}: accuracy {validation['accuracy']:.3f}, "
             f"ROC AUC {validation['auc']:.4f}."]  # fmt: skip
    return whole.weights_module("the whole-digit judge (``whole.py``)", command, notes, weights)


def main(argv: list[str] | None = None) -> None:
    parser = WeightsParser(__doc__, output=OUTPUT, quick=QUICK)
    parser.add_argument(
        "--per-condition", type=int, default=DEFAULT_PER_CONDITION, help="Training numbers per condition."
    )
    parser.add_argument("--seed", type=int, default=SEED, help="Seed of the numbers and of the perceptron.")
    args = parser.parse_args(argv)
    per_condition = QUICK_PER_CONDITION if args.quick else args.per_condition
    start = time.perf_counter()
    train = numberset.make_set(numberset.TRAIN, per_condition, seed=args.seed)
    x, y = labelled(train)
    print(f"{len(y):,} training candidates from {len(train):,} numbers ({time.perf_counter() - start:.0f} s)")
    weights = fit(x, y, args.seed)
    trained = report(weights, x, y)
    val_count = QUICK_PER_CONDITION if args.quick else VALIDATION_PER_CONDITION
    val_x, val_y = labelled(numberset.make_set(numberset.VALIDATION, val_count, seed=args.seed))
    validation = report(weights, val_x, val_y)
    print(f"train: {trained}\nvalidation: {validation}")
    command = (
        "python scripts/train_whole_digit.py"
        + (" --quick" if args.quick else "")
        + (f" --per-condition {args.per_condition}" if args.per_condition != DEFAULT_PER_CONDITION else "")
    )
    write_text(args.output, module_text(weights, command, trained, validation))
    print(f"wrote {args.output} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
