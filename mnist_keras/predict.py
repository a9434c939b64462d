"""One predictor interface for ``.keras`` and ``.tflite`` digit classifiers.

:func:`load_predictor` opens a model file (or run folder) and returns a
:class:`Predictor` whose ``predict_proba`` takes MNIST-style pixels (what
:func:`mnist_keras.preprocess.to_model_input` makes) and returns class
probabilities. ``mnist-keras predict`` and the Gradio app use it; the edge
script uses :mod:`mnist_keras.litert` directly, which is what the TFLite
predictor wraps, so both run the same interpreter code.

Example::

    from mnist_keras.predict import load_predictor
    from mnist_keras.preprocess import to_model_input

    predictor = load_predictor("tflite/lamontagne_int8.tflite")   # or saved_models/lamontagne.keras
    proba = predictor.predict_proba(to_model_input(["three.png"]))  # (1, 10) float32
    digit = int(proba[0].argmax())
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from . import litert
from .errors import ModelFileError

KERAS_BATCH_SIZE = 1000  # images per model call: bounded memory for big folders
IMAGE_SHAPE = (28, 28)


class Predictor(Protocol):
    """A loaded digit classifier.

    Attributes:
        path: the model file.
        kind: ``"keras"`` or ``"tflite"``.
    """

    path: Path
    kind: str

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """uint8 or float pixels 0-255, (N, 28, 28) or (N, 28, 28, 1) -> float32 (N, 10).

        Raises:
            ValueError: the array does not have that shape.
        """
        ...


def as_batch(images: np.ndarray) -> np.ndarray:
    """Check and reshape pixels to float32 (N, 28, 28, 1); the models rescale 0-255 themselves."""
    batch = np.asarray(images)
    if batch.ndim == 4 and batch.shape[-1] == 1:
        batch = batch[..., 0]
    if batch.ndim != 3 or batch.shape[1:] != IMAGE_SHAPE:
        raise ValueError(
            f"images must be (N, 28, 28) or (N, 28, 28, 1) pixels 0-255, got shape {np.asarray(images).shape}"
        )
    return batch[..., np.newaxis].astype(np.float32)


class KerasPredictor:
    """A ``.keras`` model loaded through :func:`mnist_keras.artifacts.load_model` (safe mode, shape checks)."""

    kind = "keras"

    def __init__(self, path: Path) -> None:
        from .artifacts import load_model

        self.path = Path(path)
        self.model = load_model(self.path)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        from .evaluate import predict_probabilities

        return predict_probabilities(self.model, as_batch(images), KERAS_BATCH_SIZE)


class TFLitePredictor:
    """A ``.tflite`` model run by :mod:`mnist_keras.litert` (float or int8, quantization read from the model).

    One interpreter is not safe to call from two threads at once, so calls are
    serialised with a lock (a Gradio app may run requests concurrently).
    """

    kind = "tflite"

    def __init__(self, path: Path, *, num_threads: int | None = None) -> None:
        self.path = Path(path)
        try:
            self.interpreter = litert.open_classifier(self.path, num_threads=num_threads)
        except litert.ModelError as err:
            raise ModelFileError(str(err)) from None
        self._lock = threading.Lock()

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        batch = as_batch(images)
        with self._lock:
            return litert.predict_proba(self.interpreter, batch)


def load_predictor(path: str | os.PathLike, *, num_threads: int | None = None) -> Predictor:
    """A :class:`Predictor` for a ``.keras`` file, a run folder, or a ``.tflite`` file.

    Args:
        num_threads: interpreter threads for ``.tflite`` models (default: the runtime's own choice).

    Raises:
        ModelFileError: missing, unreadable, not a model file, or not a 28x28x1 -> 10 classifier.
    """
    path = Path(path)
    if path.suffix == ".tflite":
        return TFLitePredictor(path, num_threads=num_threads)
    if not path.is_dir() and path.suffix != ".keras":
        raise ModelFileError(f"{path}: not a model file; give a .keras or .tflite file or a run folder")
    return KerasPredictor(path)
