"""Training metrics beyond Keras' built-ins (imports Keras: load it only to compile).

The per-epoch validation confusion image used to cost a second forward pass
over the validation images (as long as a tenth of a short epoch): Keras'
validation pass had already computed every prediction and thrown them away.
:class:`ConfusionAccuracy` keeps what that pass saw, so the image is free.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from .digits import NUM_CLASSES


@keras.saving.register_keras_serializable(package="mnist_keras")
class ConfusionAccuracy(keras.metrics.Metric):
    """Accuracy (logged as ``accuracy`` / ``val_accuracy``) that also keeps the confusion matrix.

    Counts ``(true, predicted)`` pairs of every batch since the last reset;
    its result is the trace over the total, which is exactly what Keras'
    ``"accuracy"`` gives for integer labels (argmax of the probabilities,
    first index on ties). Keras resets compiled metrics before the
    validation pass and reads them after it, so at ``on_epoch_end``
    :attr:`matrix` holds that epoch's validation counts (rows true, columns
    predicted). The counts are a one-hot matrix product, not a scatter, so
    they are deterministic under TensorFlow's op determinism.
    """

    def __init__(self, name: str = "accuracy", num_classes: int = NUM_CLASSES, **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.num_classes = num_classes
        self.counts = self.add_variable(shape=(num_classes, num_classes), initializer="zeros", name="counts")

    def update_state(self, y_true, y_pred, sample_weight=None):
        del sample_weight  # every image counts once, as in our Keras "accuracy"
        true = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), self.num_classes, dtype=self.dtype)
        pred = ops.one_hot(ops.argmax(y_pred, axis=-1), self.num_classes, dtype=self.dtype)
        self.counts.assign_add(ops.matmul(ops.transpose(true), pred))  # (classes, classes)

    def result(self):
        return ops.divide_no_nan(ops.trace(self.counts), ops.sum(self.counts))

    def reset_state(self):
        self.counts.assign(ops.zeros_like(self.counts))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes}

    @property
    def matrix(self) -> np.ndarray:
        """The counts as an int64 ``(classes, classes)`` array, rows true, columns predicted."""
        return np.rint(keras.ops.convert_to_numpy(self.counts.value)).astype(np.int64)


def find_confusion(model) -> ConfusionAccuracy | None:
    """The model's compiled :class:`ConfusionAccuracy`, if it was compiled with one."""
    pending = list(model.metrics)
    while pending:
        metric = pending.pop()
        if isinstance(metric, ConfusionAccuracy):
            return metric
        pending.extend(getattr(metric, "metrics", []))  # CompileMetrics holds the compiled ones
    return None
