"""The basics every stage shares, defined once: a digit classifier takes 28x28 pixels 0-255 and
gives 10 probabilities; how many images go through a model at once; the default seed.

Every module that shapes, checks or predicts a batch of digits (training,
evaluation, export, the LiteRT runner, the predictors, the edge bundle)
takes these from here. numpy only: this is part of the inference layer
that runs on a Raspberry Pi.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

IMAGE_SIDE = 28  # px; MNIST's frame
IMAGE_SHAPE = (IMAGE_SIDE, IMAGE_SIDE)
IMAGE_CENTRE = (IMAGE_SIDE - 1) / 2  # px, 13.5: rotations, zooms and MNIST-C's warps keep this point fixed
INPUT_SHAPE = (IMAGE_SIDE, IMAGE_SIDE, 1)  # what every model takes, batch axis first: (N, 28, 28, 1)
NUM_CLASSES = 10
CLASSES = tuple(range(NUM_CLASSES))
CLASS_NAMES = tuple(str(c) for c in CLASSES)  # labels of reports and plots
PREDICT_BATCH_SIZE = 1024  # images per model call when predicting many: bounded memory, few calls
# The one default seed of every command (fit, compare, robustness; export calibrates with the run's):
# the validation split, subsets, initialisation, shuffling, augmentation, the robustness suite's draws.
DEFAULT_SEED = 42


def as_batch(images: np.ndarray) -> np.ndarray:
    """Check and reshape pixels to float32 ``(N, 28, 28, 1)``; the models rescale 0-255 themselves.

    Raises:
        ValueError: the array is not ``(N, 28, 28)`` or ``(N, 28, 28, 1)``.
    """
    batch = np.asarray(images)
    if batch.ndim == 4 and batch.shape[-1] == 1:
        batch = batch[..., 0]
    if batch.ndim != 3 or batch.shape[1:] != IMAGE_SHAPE:
        raise ValueError(
            f"images must be (N, 28, 28) or (N, 28, 28, 1) pixels 0-255, got shape {np.asarray(images).shape}"
        )
    return batch[..., np.newaxis].astype(np.float32)


def chunks(images: np.ndarray, size: int = PREDICT_BATCH_SIZE) -> Iterator[np.ndarray]:
    """Consecutive slices of at most ``size`` images, in order."""
    for start in range(0, len(images), size):
        yield images[start : start + size]


def no_probabilities() -> np.ndarray:
    """The (0, 10) float32 answer for an empty batch."""
    return np.zeros((0, NUM_CLASSES), np.float32)
