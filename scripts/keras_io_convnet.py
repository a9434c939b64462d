#!/usr/bin/env python
"""Keras' "Simple MNIST convnet" (keras.io/examples/vision/mnist_convnet), as a plain script.

The reference recipe ``scripts/benchmark_time_to_accuracy.py`` times everything against:
the example's model, data handling and ``model.fit`` call unchanged (batch
128, Adam, 15 epochs, ``validation_split=0.1``), with no mnist-keras code.
Three additions, none of which changes the recipe: a seed (the example has
none; without one no two runs are comparable), reading the four IDX files
from a folder (the example downloads MNIST; this machine may have no
internet), and ``callbacks`` for the benchmark to observe training.

    python scripts/keras_io_convnet.py --data-dir ../shared/data/mnist
"""

from __future__ import annotations

import argparse
import gzip
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402 (after quieting TensorFlow's C++ logging)
from keras import layers  # noqa: E402

NUM_CLASSES = 10
INPUT_SHAPE = (28, 28, 1)
BATCH_SIZE = 128
EPOCHS = 15
VALIDATION_SPLIT = 0.1


def read_idx(path: Path) -> np.ndarray:
    """One IDX file (gzipped or not) as a uint8 array; header: magic, then one uint32 per dimension."""
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    ndim = data[3]
    shape = np.frombuffer(data, dtype=">u4", count=ndim, offset=4)
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_data(data_dir: str | None):
    """``keras.datasets.mnist.load_data()``, or the same arrays read from a folder of IDX files."""
    if data_dir is None:
        return keras.datasets.mnist.load_data()
    folder = Path(data_dir)

    def read(name: str) -> np.ndarray:
        return read_idx(next(p for p in (folder / f"{name}.gz", folder / name) if p.exists()))

    return (
        (read("train-images-idx3-ubyte"), read("train-labels-idx1-ubyte")),
        (read("t10k-images-idx3-ubyte"), read("t10k-labels-idx1-ubyte")),
    )


def prepare(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The example's preprocessing: scale to [0, 1], add the channel axis, one-hot labels."""
    x = np.expand_dims(images.astype("float32") / 255, -1)  # (N, 28, 28, 1)
    return x, keras.utils.to_categorical(labels, NUM_CLASSES)


def build_model() -> keras.Model:
    """The example's model, layer for layer (34,826 parameters)."""
    return keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ]
    )


def train(x_train, y_train, *, epochs: int = EPOCHS, callbacks=(), verbose="auto") -> keras.Model:
    """The example's compile and fit, on prepared arrays."""
    model = build_model()
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(
        x_train,
        y_train,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        validation_split=VALIDATION_SPLIT,
        callbacks=list(callbacks),
        verbose=verbose,
    )
    return model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", default=None, help="Folder with the four MNIST IDX files. Default: Keras' download."
    )
    parser.add_argument("--seed", type=int, default=1, help="Seed for initialisation, dropout and shuffling.")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="Epochs (the example's own by default).")
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_data(args.data_dir)
    x_train, y_train = prepare(x_train, y_train)
    x_test, y_test = prepare(x_test, y_test)
    model = train(x_train, y_train, epochs=args.epochs)
    score = model.evaluate(x_test, y_test, verbose=0)
    print("Test loss:", score[0])
    print("Test accuracy:", score[1])


if __name__ == "__main__":
    main()
