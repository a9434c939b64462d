#!/usr/bin/env python
"""Train the number reader's pair reader (``mnist_keras/pairs.py``) and write its weights.

Numbers are composed from MNIST *training* digits and the training fonts
(``numberset`` split ``train``: never a validation or test digit, never a held-out
font), most of them with touching or overlapping digits. ``segment.prepare`` cuts
each into candidates, as the reader does, and every candidate wide enough to hold
two digits (``Candidate.wide``) is labelled: the pair it is when its box is two
neighbouring digits together (``numberset.digit_pairs``), "not a pair" when it is
one whole digit (``numberset.whole_digits``) or matches no digit and no pair well
(below NEGATIVE_IOU); in between it is left out. Half of the "not a pair"
candidates are kept, at twice the weight, which halves the training time and
keeps the classes' balance. A small convolutional network (Keras) learns the
101 classes; its weights go into ``mnist_keras/pairs_weights.py`` (float16,
base64), which the reader runs with numpy.

The script prints how well it reads candidates cut from *validation* numbers;
``scripts/benchmark_numbers.py --split validation`` says what it does to whole
readings.

    python scripts/train_pair_reader.py                 # writes mnist_keras/pairs_weights.py
    python scripts/train_pair_reader.py --quick --output /tmp/p.py   # a smoke run

Needs the ``train`` extra (TensorFlow) and MNIST ($MNIST_KERAS_DATA or Keras' download).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness, also when a test imports this file
from harness import REPO, WeightsParser

from mnist_keras import numberset, pairs, segment, whole
from mnist_keras.artifacts import write_text
from mnist_keras.preprocess import ImageError, ink_to_pair

PER_CONDITION = {"touching": 24000, "touching_many": 12000, "overlapping": 3000, "separated": 2000,
                 "multi_stroke": 1500, "sizes": 1500, "photo": 1500, "printed": 2000, "lines": 1000}  # fmt: skip
VALIDATION_PER_CONDITION = 300
QUICK_PER_CONDITION = 5  # --quick: training and validation numbers per condition
QUICK = f"{QUICK_PER_CONDITION} numbers per condition for training and validation, one epoch"  # what --quick does
NEGATIVE_IOU = 0.55  # matching no digit and no pair better than this: not a pair
NEGATIVE_KEEP = 0.5  # share of the "not a pair" candidates trained on, at 1 / NEGATIVE_KEEP the weight
EPOCHS = 8
BATCH_SIZE = 128
LEARNING_RATE = 2e-3  # Adam's, decayed to 0 along a cosine
DROPOUT = 0.3  # before and after the dense layer
SEED = 1
OUTPUT = REPO / "mnist_keras" / "pairs_weights.py"


def labelled(samples) -> tuple[np.ndarray, np.ndarray]:
    """(pair crops (N, 28, 56) uint8, labels (N,): pair 0..99 or pairs.NOT_PAIR) of every candidate the
    reader would read as a pair in ``samples``, ambiguous ones left out."""
    xs, ys = [], []
    for sample in samples:
        try:
            page = segment.prepare(sample.image, "image")
        except ImageError:
            continue
        wide = [c for line in page.candidates for c in line if c.wide]
        if not wide:
            continue
        boxes = [segment.source_box(c.box, page.factor, page.size) for c in wide]
        digits = [int(char) for char in sample.text if char != "\n"]
        pair = numberset.digit_pairs(boxes, sample)
        single = numberset.whole_digits(boxes, sample.boxes)
        for c, box, i, one in zip(wide, boxes, pair, single):
            if i >= 0:
                label = 10 * digits[i] + digits[i + 1]
            elif one >= 0 or _matches_nothing(box, sample):
                label = pairs.NOT_PAIR
            else:
                continue
            xs.append(ink_to_pair(c.ink))
            ys.append(label)
    if not ys:
        return np.zeros((0, *pairs.INPUT_SHAPE[:2]), np.uint8), np.zeros(0, np.int64)
    return np.stack(xs), np.asarray(ys, np.int64)


def _matches_nothing(box, sample) -> bool:
    truths = sample.boxes
    singles = [numberset.iou(box, t) for t in truths]
    both = [numberset.iou(box, numberset.union(a, b)) for a, b in zip(truths, truths[1:])]
    return max(singles + both) < NEGATIVE_IOU


def _condition(job: tuple[str, str, int, int]) -> tuple[np.ndarray, np.ndarray]:
    split, condition, count, seed = job
    return labelled(numberset.make_condition(condition, count, numberset.pool(split), split=split, seed=seed))


def candidates(split: str, counts: dict[str, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labelled candidates of ``counts[condition]`` numbers of each condition, one process per core
    (spawned: the caller may have TensorFlow's threads running, which a fork would copy half-alive)."""
    jobs = [(split, condition, count, seed) for condition, count in counts.items()]
    with ProcessPoolExecutor(os.cpu_count() or 1, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = list(pool.map(_condition, jobs))
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def build():
    """The pair reader in Keras, layer for layer what ``pairs.forward`` computes."""
    import keras
    from keras import layers

    inputs = keras.Input(pairs.INPUT_SHAPE, name="pair")
    x = layers.Rescaling(1 / 255)(inputs)
    for i, filters in enumerate(pairs.CONV_FILTERS):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i}")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Dropout(DROPOUT)(layers.Flatten()(x))
    x = layers.Dropout(DROPOUT)(layers.Dense(pairs.HIDDEN, activation="relu", name="dense")(x))
    outputs = layers.Dense(pairs.CLASSES, activation="softmax", name="out")(x)
    return keras.Model(inputs, outputs, name="pair_reader")


def weights_of(model) -> dict[str, np.ndarray]:
    """The Keras model's weights under the names ``pairs.forward`` reads."""
    names = [f"conv{i}" for i in range(len(pairs.CONV_FILTERS))] + ["dense", "out"]
    weights = {}
    for name in names:
        kernel, bias = model.get_layer(name).get_weights()
        weights[f"{name}_kernel"], weights[f"{name}_bias"] = kernel, bias
    return weights


def fit(x: np.ndarray, y: np.ndarray, seed: int, epochs: int) -> dict[str, np.ndarray]:
    """Train on half the "not a pair" candidates at double weight; return the weights."""
    import keras

    keras.utils.set_random_seed(seed)
    keep = (y != pairs.NOT_PAIR) | (np.random.default_rng(seed).random(len(y)) < NEGATIVE_KEEP)
    x, y = x[keep], y[keep]
    weight = np.where(y == pairs.NOT_PAIR, 1 / NEGATIVE_KEEP, 1.0).astype(np.float32)
    model = build()
    steps = epochs * -(-len(y) // BATCH_SIZE)
    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(LEARNING_RATE, max(1, steps)))
    model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[..., np.newaxis], y, sample_weight=weight, batch_size=BATCH_SIZE, epochs=epochs, verbose=2)
    return weights_of(model)


def report(weights: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Accuracy over all candidates and over the pairs alone, with the stored float16 weights (numpy)."""
    stored = whole.unpack(*whole.pack(weights))
    guess = np.concatenate([pairs.forward(stored, x[i : i + 512]).argmax(axis=1) for i in range(0, len(x), 512)])
    is_pair = y != pairs.NOT_PAIR
    return {"candidates": len(y), "pairs": int(is_pair.sum()), "accuracy": float((guess == y).mean()),
            "pair_accuracy": float((guess[is_pair] == y[is_pair]).mean()) if is_pair.any() else float("nan")}  # fmt: skip


def module_text(weights: dict[str, np.ndarray], command: str, trained: dict, validation: dict) -> str:
    notes = [f"Training candidates: {trained['candidates']:,} ({trained['pairs']:,} pairs).",
             f"Validation candidates: {validation['candidates']:,}: accuracy {validation['accuracy']:.3f}; "
             f"{validation['pairs']:,} pairs, read right {validation['pair_accuracy']:.3f}."]  # fmt: skip
    return whole.weights_module("the pair reader (``pairs.py``)", command, notes, weights)


def main(argv: list[str] | None = None) -> None:
    parser = WeightsParser(__doc__, output=OUTPUT, quick=QUICK)
    parser.add_argument("--seed", type=int, default=SEED, help="Seed of the numbers and of the training.")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="Passes over the training candidates.")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    counts = {c: QUICK_PER_CONDITION for c in PER_CONDITION} if args.quick else PER_CONDITION
    x, y = candidates(numberset.TRAIN, counts, args.seed)
    print(f"{len(y):,} training candidates ({(y != pairs.NOT_PAIR).sum():,} pairs) from "
          f"{sum(counts.values()):,} numbers ({time.perf_counter() - start:.0f} s)")  # fmt: skip
    weights = fit(x, y, args.seed, 1 if args.quick else args.epochs)
    trained = report(weights, x, y)
    val_count = QUICK_PER_CONDITION if args.quick else VALIDATION_PER_CONDITION
    val_x, val_y = candidates(numberset.VALIDATION, {c: val_count for c in PER_CONDITION}, 0)
    validation = report(weights, val_x, val_y)
    print(f"train: {trained}\nvalidation: {validation}")
    command = "python scripts/train_pair_reader.py" + (" --quick" if args.quick else "") + (
        f" --epochs {args.epochs}" if args.epochs != EPOCHS else "") + (f" --seed {args.seed}" if args.seed != SEED else "")  # fmt: skip
    write_text(args.output, module_text(weights, command, trained, validation))
    print(f"wrote {args.output} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
