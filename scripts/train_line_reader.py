#!/usr/bin/env python
"""Train the number reader's line reader (``mnist_keras/lines.py``) and write its weights.

Numbers are composed from MNIST *training* digits and the training fonts
(``numberset`` split ``train``: never a validation or test digit, never a held-out
font), under every condition. ``segment.prepare`` finds their lines, as the reader
does; each line's ink (``Page.line_ink``) goes through ``preprocess.ink_to_line``
and is labelled with that line's digits. A number whose lines the segmenter counts
differently from the truth is left out. A convolutional network (Keras) learns to
read the lines with a CTC loss; its weights go into ``mnist_keras/lines_weights.py``
(float16, base64), which the reader runs with numpy.

The script prints how many lines of *validation* numbers it reads right, per
condition, with the stored weights through ``lines.forward`` and ``lines.decode`` (also in the
module's docstring).

    python scripts/train_line_reader.py                 # writes mnist_keras/lines_weights.py
    python scripts/train_line_reader.py --quick --output /tmp/l.py   # a smoke run

``--start`` goes on training from weights already written (a weights module such as
``mnist_keras/lines_weights.py``) on numbers of another ``--seed``: new compositions of
the same training digits. The module's docstring names both runs. ``--warp`` first
rotates and shears every training digit at random (``warp.py``, the transform
the classifiers' augmentation uses; new per seed), so the network sees shapes it has
not seen before instead of the same 55,000 digits once more.

Needs the ``train`` extra (TensorFlow) and MNIST ($MNIST_KERAS_DATA or Keras' download).
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness, also when a test imports this file
from harness import REPO, WeightsParser

from mnist_keras import lines, numberset, segment, warp, whole
from mnist_keras.artifacts import write_text
from mnist_keras.preprocess import ImageError, ink_to_line

PER_CONDITION = 6000  # training numbers of each condition
VALIDATION_PER_CONDITION = 300
TRAIN_REPORT_LINES = 3000  # training lines the report reads back (all of them would take minutes)
QUICK_PER_CONDITION = 4  # --quick: training and validation numbers per condition
QUICK = f"{QUICK_PER_CONDITION} numbers per condition for training and validation, one epoch"  # what --quick does
LABEL_LENGTH = numberset.MAX_LENGTH  # digits in one line, at most
EPOCHS = 6
BATCH_SIZE = 64
LEARNING_RATE = 1e-3  # Adam's, decayed to 0 along a cosine
DROPOUT = 0.2  # before the 1-D convolutions
SEED = 11
# --warp: each training digit rotated and sheared once per run, drawn from +-these (warp.affine_map): both
# within the shipped classifier's augmentation (augment.py's MAX_ROTATION_DEG and MAX_SHEAR; larger turns
# make 6 and 9 alike). No zoom: the composition already varies each digit's size, and a larger digit
# would leave the 28x28 frame.
WARP_ROTATION_DEG = 12.0
WARP_SHEAR = 0.25  # px per px
OUTPUT = REPO / "mnist_keras" / "lines_weights.py"


def labelled(samples) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(line crops (N, LINE_HEIGHT, LINE_WIDTH) uint8, labels (N, LABEL_LENGTH): 1 + digit, 0 after the
    line's end, conditions (N,)) of every line the segmenter finds where the truth has as many."""
    xs, ys, conditions = [], [], []
    for sample in samples:
        try:
            page = segment.prepare(sample.image, "image")
        except ImageError:
            continue
        texts = sample.text.split("\n")
        if len(page.line_ink) != len(texts):
            continue
        for ink, text in zip(page.line_ink, texts):
            label = np.zeros(LABEL_LENGTH, np.int32)
            label[: len(text)] = [1 + int(char) for char in text]
            xs.append(ink_to_line(ink))
            ys.append(label)
            conditions.append(sample.condition)
    if not ys:
        return np.zeros((0, *lines.INPUT_SHAPE[:2]), np.uint8), np.zeros((0, LABEL_LENGTH), np.int32), np.zeros(0, str)
    return np.stack(xs), np.stack(ys), np.asarray(conditions)


def warped(digits: numberset.DigitPool, seed: int) -> numberset.DigitPool:
    """Every digit of ``digits`` rotated and sheared at random about its centre (one
    bilinear resampling each, ``warp.warp``), the same draws for the same ``seed``."""
    count = len(digits.labels)
    rng = np.random.default_rng([seed, count])

    def draw(limit: float) -> np.ndarray:
        return rng.uniform(-limit, limit, (count, 1, 1)).astype(np.float32)

    angle, shear = draw(np.deg2rad(WARP_ROTATION_DEG)), draw(WARP_SHEAR)
    out = warp.warp(np, digits.images[..., np.newaxis].astype(np.float32), angle=angle, shear=shear)[..., 0]
    return numberset.DigitPool(np.clip(np.rint(out), 0, 255).astype(np.uint8), digits.labels)


@functools.lru_cache(maxsize=1)
def _digits(split: str, seed: int, warp_digits: bool) -> numberset.DigitPool:
    """The split's digits, ``warped`` if asked: once per worker process, not once per condition."""
    digits = numberset.pool(split)
    return warped(digits, seed) if warp_digits else digits


def _condition(job: tuple[str, str, int, int, bool]):
    split, condition, count, seed, warp_digits = job
    digits = _digits(split, seed, warp_digits)
    return labelled(numberset.make_condition(condition, count, digits, split=split, seed=seed))


def line_set(split: str, count: int, seed: int, warp_digits: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labelled lines of ``count`` numbers of each condition (their digits ``warped`` first if
    ``warp_digits``), one process per core (spawned: the caller may have TensorFlow's threads
    running, which a fork would copy half-alive)."""
    jobs = [(split, condition, count, seed, warp_digits) for condition in numberset.CONDITIONS]
    with ProcessPoolExecutor(os.cpu_count() or 1, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = list(pool.map(_condition, jobs))
    return tuple(np.concatenate([part[i] for part in parts]) for i in range(3))


def build(start: dict[str, np.ndarray] | None = None):
    """The line reader in Keras, layer for layer what ``lines.forward`` computes (logits out), with
    random weights or those in ``start`` (``weights_of``'s names)."""
    import keras
    from keras import layers

    inputs = keras.Input(lines.INPUT_SHAPE, name="line")
    x = layers.Rescaling(1 / 255)(inputs)
    for i, (filters, pool) in enumerate(lines.CONV):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i}")(x)
        x = layers.MaxPooling2D(pool)(x)
    _, height, steps, channels = x.shape
    x = layers.Reshape((steps, height * channels))(layers.Permute((2, 1, 3))(x))
    x = layers.Dropout(DROPOUT)(x)
    for i, filters in enumerate(lines.SEQUENCE_FILTERS):
        x = layers.Conv1D(filters, lines.SEQUENCE_WIDTH, padding="same", activation="relu", name=f"seq{i}")(x)
    outputs = layers.Dense(lines.OUTPUTS, name="out")(x)
    model = keras.Model(inputs, outputs, name="line_reader")
    for layer in model.layers if start is not None else ():
        if f"{layer.name}_kernel" in start:
            layer.set_weights([start[f"{layer.name}_kernel"], start[f"{layer.name}_bias"]])
    return model


def ctc_loss(labels, logits):
    """CTC of each line's digits (1 + digit, 0 padding) against the columns' logits (blank = 0)."""
    from keras import ops

    labels = ops.cast(labels, "int32")
    label_length = ops.sum(ops.cast(labels > 0, "int32"), axis=1)
    steps = ops.full((ops.shape(labels)[0],), lines.LINE_STEPS, "int32")
    return ops.ctc_loss(labels, logits, label_length, steps, mask_index=lines.BLANK)


def weights_of(model) -> dict[str, np.ndarray]:
    """The Keras model's weights under the names ``lines.forward`` reads."""
    names = [f"conv{i}" for i in range(len(lines.CONV))] + [f"seq{i}" for i in range(len(lines.SEQUENCE_FILTERS))]
    weights = {}
    for name in names + ["out"]:
        kernel, bias = model.get_layer(name).get_weights()
        weights[f"{name}_kernel"], weights[f"{name}_bias"] = kernel, bias
    return weights


def fit(x: np.ndarray, y: np.ndarray, seed: int, epochs: int, learning_rate: float = LEARNING_RATE,
        start: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:  # fmt: skip
    """Weights trained on ``x``, ``y``: from a random start, or from ``start`` (``weights_of``'s names)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = build(start)
    steps = epochs * -(-len(y) // BATCH_SIZE)
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate, max(1, steps))), ctc_loss)
    model.fit(x[..., np.newaxis], y, batch_size=BATCH_SIZE, epochs=epochs, verbose=2)
    return weights_of(model)


def report(weights: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, conditions: np.ndarray) -> dict:
    """Lines read right, over all and per condition, with the stored float16 weights (numpy)."""
    stored = whole.unpack(*whole.pack(weights))
    got = [r.text for i in range(0, len(x), 256) for r in lines.decode(lines.forward(stored, x[i : i + 256]))]
    truth = ["".join(str(k - 1) for k in row if k > 0) for row in y]
    right = np.array([g == t for g, t in zip(got, truth)])
    return {"lines": len(right), "right": float(right.mean()) if len(right) else float("nan"),
            "per_condition": {c: float(right[conditions == c].mean()) for c in numberset.CONDITIONS
                              if (conditions == c).any()}}  # fmt: skip


def module_text(
    weights: dict[str, np.ndarray], command: str, training_lines: int, trained: dict, validation: dict
) -> str:
    per = ", ".join(f"{c} {r:.3f}" for c, r in validation["per_condition"].items())
    notes = [f"Training lines: {training_lines:,}; of {trained['lines']:,} drawn at random, read right {trained['right']:.3f}.",
             f"Validation lines: {validation['lines']:,}, read right {validation['right']:.3f} ({per})."]  # fmt: skip
    return whole.weights_module("the line reader (``lines.py``)", command, notes, weights)


def main(argv: list[str] | None = None) -> None:
    parser = WeightsParser(__doc__, output=OUTPUT, quick=QUICK)
    parser.add_argument("--seed", type=int, default=SEED, help="Seed of the numbers and of the training.")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="Passes over the training lines.")
    parser.add_argument("--learning-rate", type=float, default=LEARNING_RATE, help="Adam's, at the start.")
    parser.add_argument("--start", type=Path, help="Go on from the weights in this module (this script wrote it).")
    parser.add_argument("--warp", action="store_true", help="Rotate and shear each training digit at random first.")
    args = parser.parse_args(argv)
    try:
        start_weights, start_command = whole.read_weights_module(args.start) if args.start else (None, None)
    except (OSError, SyntaxError, KeyError, IndexError, ValueError):
        parser.error(f"--start {args.start}: not a weights module this script wrote; give mnist_keras/lines_weights.py")
    start = time.perf_counter()
    x, y, conditions = line_set(
        numberset.TRAIN, QUICK_PER_CONDITION if args.quick else PER_CONDITION, args.seed, args.warp
    )
    print(f"{len(y):,} training lines ({time.perf_counter() - start:.0f} s)")
    weights = fit(x, y, args.seed, 1 if args.quick else args.epochs, args.learning_rate, start_weights)
    sample = np.random.default_rng(args.seed).permutation(len(y))[:TRAIN_REPORT_LINES]
    trained = report(weights, x[sample], y[sample], conditions[sample])
    val = line_set(numberset.VALIDATION, QUICK_PER_CONDITION if args.quick else VALIDATION_PER_CONDITION, 0)
    validation = report(weights, *val)
    print(f"train: {trained}\nvalidation: {validation}")
    command = "python scripts/train_line_reader.py" + (" --quick" if args.quick else "") + (
        f" --epochs {args.epochs}" if args.epochs != EPOCHS else "") + (f" --seed {args.seed}" if args.seed != SEED else "") + (
        f" --learning-rate {args.learning_rate:g}" if args.learning_rate != LEARNING_RATE else "") + (
        f" --start {args.start}" if args.start else "") + (" --warp" if args.warp else "")  # fmt: skip
    if start_command:
        command = f"{start_command}`` then ``{command}"
    write_text(args.output, module_text(weights, command, len(y), trained, validation))
    print(f"wrote {args.output} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
