"""Training losses beyond Keras' built-ins (imports Keras: load it only to compile).

Keras 3's ``SparseCategoricalCrossentropy`` has no ``label_smoothing``; its
``CategoricalCrossentropy`` does but wants one-hot labels. Our datasets, the
validation callbacks and the multi-worker loop all carry integer labels, so
rather than one-hot encoding every pipeline we one-hot inside the loss.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mnist_keras")
class SmoothedSparseCrossentropy(keras.losses.CategoricalCrossentropy):
    """``CategoricalCrossentropy(label_smoothing=...)`` that takes integer labels ``(B,)`` or ``(B, 1)``.

    Registered as serializable so a compiled model's config names a class Keras
    can find; model files are saved uncompiled (``artifacts.save_model``), so
    loading them never needs it.
    """

    def call(self, y_true, y_pred):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")  # Loss.__call__ hands labels over as floats
        return super().call(ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=y_pred.dtype), y_pred)


def classification_loss(label_smoothing: float = 0.0):
    """Keras' plain sparse cross-entropy, or the smoothed one when ``label_smoothing`` > 0."""
    if label_smoothing > 0:
        return SmoothedSparseCrossentropy(label_smoothing=label_smoothing)
    return "sparse_categorical_crossentropy"


def per_example_loss(compiled_loss):
    """The same loss as ``compiled_loss`` (what :func:`classification_loss` returned), one value per image.

    The multi-worker loop sums per-image losses itself, so it needs
    ``reduction=None``; rebuilding from the compiled loss keeps its label
    smoothing instead of silently training without it.
    """
    smoothing = getattr(compiled_loss, "label_smoothing", 0.0)
    if smoothing:
        return SmoothedSparseCrossentropy(label_smoothing=smoothing, reduction=None)
    return keras.losses.SparseCategoricalCrossentropy(reduction=None)
