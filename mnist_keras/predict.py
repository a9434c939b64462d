"""Prediction for every consumer: one predictor interface for ``.keras`` and ``.tflite`` classifiers,
batched calls, and test-time augmentation.

:func:`load_predictor` opens a model file (or run folder) and returns a
:class:`Predictor` whose ``predict_proba`` takes MNIST-style pixels (what
:func:`mnist_keras.preprocess.to_model_input` makes) and returns class
probabilities. ``mnist-keras predict``, the edge bundle, the robustness suite
and the Gradio app use it; evaluation, comparison, export and the training
callbacks call a Keras model through :func:`predict_probabilities`.

No TensorFlow is imported here: a ``.tflite`` model runs on the LiteRT
interpreter alone (this module is part of the edge bundle), and a ``.keras``
model imports TensorFlow only when it is first used, so a bad path or image
is answered without paying for it.

Example::

    from mnist_keras.predict import load_predictor
    from mnist_keras.preprocess import to_model_input

    predictor = load_predictor("tflite/robust_int8.tflite")   # or saved_models/robust.keras
    proba = predictor.predict_proba(to_model_input(["three.png"]))  # (1, 10) float32
    digit = int(proba[0].argmax())
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

import numpy as np

from . import litert
from .artifacts import SAVED_MODELS_DIRNAME, TFLITE_DIRNAME
from .digits import PREDICT_BATCH_SIZE, as_batch, chunks, no_probabilities
from .errors import MissingExtraError, ModelFileError
from .warp import warp

# Test-time augmentation (``evaluate --tta``): each image is also classified
# rotated by these angles, and the softmax outputs are averaged. +-8 degrees
# was chosen on validation images (scripts/tta_angles.py), inside the
# +-10 degrees the affine augmentation trains on.
TTA_ROTATIONS_DEG = (-8.0, 8.0)

ProbaFunction = Callable[[np.ndarray], np.ndarray]  # float32 (N, 28, 28, 1) 0-255 -> float32 (N, 10)


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


# ------------------------------------------------------------- test-time views


def tta_views(images: np.ndarray, angles: Iterable[float] = TTA_ROTATIONS_DEG) -> list[np.ndarray]:
    """The images ``(N, 28, 28, 1)`` float32 and a copy rotated by each angle (degrees).

    Bilinear rotation about the image centre through ``warp.py``, the
    transform the training augmentation draws from; the corners it brings in
    are background (0).
    """
    x = as_batch(images)
    turned = [warp(np, x, angle=np.float32(math.radians(angle))) for angle in angles]
    return [x, *(np.clip(view, 0.0, 255.0).astype(np.float32) for view in turned)]


def averaged_over_views(proba: ProbaFunction, images: np.ndarray, angles: Iterable[float]) -> np.ndarray:
    """``proba`` averaged over :func:`tta_views` of ``images``: float32 (N, 10)."""
    return np.mean([proba(view) for view in tta_views(images, angles)], axis=0, dtype=np.float32)


# ------------------------------------------------------------------ Keras models


def keras_proba(model, images: np.ndarray, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
    """Softmax outputs ``(N, 10)`` of a Keras model for pixels ``(N, 28, 28[, 1])`` 0-255.

    Direct calls, not ``model.predict``: no tf.data pipeline per call (cheaper
    every epoch in training, no parallel-map warning under op determinism),
    and on a multi-worker strategy each worker predicts its own images.
    """
    x = as_batch(images)
    outputs = [np.asarray(model(part, training=False)) for part in chunks(x, batch_size)]
    return np.concatenate(outputs).astype(np.float32) if outputs else no_probabilities()


def predict_probabilities(model, images: np.ndarray, batch_size: int = PREDICT_BATCH_SIZE, *,
                          tta: bool = False) -> np.ndarray:  # fmt: skip
    """Softmax outputs ``(N, 10)`` of a Keras model, optionally averaged over test-time views.

    Pixels go in raw (0-255): the model's own ``Rescaling`` layer scales them.
    With ``tta`` the outputs are averaged over :func:`tta_views`: about three
    times the prediction time, a few test errors fewer.
    """
    proba = lambda x: keras_proba(model, x, batch_size)  # noqa: E731
    return averaged_over_views(proba, images, TTA_ROTATIONS_DEG) if tta else proba(images)


class KerasPredictor:
    """A ``.keras`` model, checked at once and loaded (with TensorFlow) when first used.

    The path is resolved and checked here, so a missing or non-Keras file is
    a one-line error before any work; TensorFlow starts on the first
    ``predict_proba``, so a command whose images all fail never imports it.
    """

    kind = "keras"

    def __init__(self, path: Path) -> None:
        from .artifacts import resolve_model_path
        from .extras import require

        self.path = resolve_model_path(path)
        require("train", f"{self.path}: a .keras model",
                alternative="or run its .tflite export ('mnist-keras export'), which needs only the inference install")  # fmt: skip
        self._model = None

    @property
    def model(self):
        if self._model is None:
            from .artifacts import load_model
            from .extras import start_tensorflow

            start_tensorflow()
            self._model = load_model(self.path)
        return self._model

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        return keras_proba(self.model, images)


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
        except ImportError as err:  # no LiteRT interpreter installed: the message says which to install
            raise MissingExtraError(str(err)) from None
        self._lock = threading.Lock()

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        batch = as_batch(images)
        with self._lock:
            return litert.predict_proba(self.interpreter, batch)


# ---------------------------------------------------------------- which model

SHIPPED_MODEL = "robust"  # the architecture that ships (models.py): trained for photos, other pens, printed digits
DEFAULT_MODEL_PATTERNS = (
    f"{TFLITE_DIRNAME}/{SHIPPED_MODEL}_int8.tflite",
    f"{SHIPPED_MODEL}_int8.tflite",  # copied beside the edge bundle on a Pi
    f"{SAVED_MODELS_DIRNAME}/{SHIPPED_MODEL}.keras",
    f"{SAVED_MODELS_DIRNAME}/best.keras",  # the 'compare' winner on MNIST validation
    f"{TFLITE_DIRNAME}/*int8.tflite",
    f"{TFLITE_DIRNAME}/*float32.tflite",
    f"{SAVED_MODELS_DIRNAME}/*.keras",
)


def default_model(root: str | os.PathLike = ".") -> Path:
    """The model to use when none is given: the first of :data:`DEFAULT_MODEL_PATTERNS` under ``root``.

    The shipped model first (its int8 ``.tflite``, small and fast on the
    LiteRT interpreter alone, then its ``.keras``), then ``best.keras``, then
    the newest export or saved model.

    Raises:
        ModelFileError: none of these exists.
    """
    root = Path(root)
    for pattern in DEFAULT_MODEL_PATTERNS:
        found = sorted(root.glob(pattern), key=lambda p: p.stat().st_mtime)
        if found:
            return found[-1]
    raise ModelFileError(
        f"no model given and none found in {root.resolve() / TFLITE_DIRNAME} or {root.resolve() / SAVED_MODELS_DIRNAME}; "
        "give MODEL, run from the project folder (it ships one), or train one with 'mnist-keras fit'"
    )


def load_predictor(path: str | os.PathLike, *, num_threads: int | None = None) -> Predictor:
    """A :class:`Predictor` for a ``.keras`` file, a run folder, or a ``.tflite`` file.

    Args:
        num_threads: interpreter threads for ``.tflite`` models (default: the runtime's own choice).

    Raises:
        ModelFileError: missing, unreadable, not a model file, or not a 28x28x1 -> 10 classifier.
        MissingExtraError: a ``.keras`` model without the ``train`` extra installed.
    """
    path = Path(path)
    if path.suffix == ".tflite":
        return TFLitePredictor(path, num_threads=num_threads)
    if not path.is_dir() and path.suffix != ".keras":
        raise ModelFileError(f"{path}: not a model file; give a .keras or .tflite file or a run folder")
    return KerasPredictor(path)
