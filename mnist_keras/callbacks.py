"""Every training callback in one place: checkpoint, early stopping, LR, backup, logs.

``train.fit`` (``model.fit``) and the multi-worker loop in ``distribute.py``
drive the same list, so every run folder looks the same whatever the strategy.
Callback classes are defined lazily (inside :func:`_callback_classes`) so that
importing this module does not import Keras.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from .artifacts import MODEL_FILENAME

if TYPE_CHECKING:
    from .train import FitConfig

HISTORY_FILENAME = "history.csv"
MONITOR = "val_loss"  # what checkpointing, early stopping and the LR plateau watch
CONFUSION_TAG = "validation_confusion_matrix"


def _callback_classes():
    """Callback subclasses, defined lazily so importing this module stays light."""
    import keras

    from .artifacts import save_model

    class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
        """ModelCheckpoint whose file is replaced atomically (temp file + rename).

        Keras' own checkpoint writes straight into the target, so a run killed
        mid-save would leave a truncated ``model.keras``.
        """

        def _save_model(self, epoch, batch, logs):
            if self._should_save_model(epoch, batch, logs, self.filepath):
                save_model(self.model, Path(self.filepath))

    class NaNGuard(keras.callbacks.TerminateOnNaN):
        """TerminateOnNaN that remembers where it stopped, for a clear error."""

        where: str | None = None
        _epoch = 0

        def on_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                self.where = f"epoch {self._epoch + 1}, batch {batch + 1}"
            super().on_batch_end(batch, logs)

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch

    class LearningRateLogger(keras.callbacks.Callback):
        """Put the optimizer's current LR in the epoch logs (history.csv, TensorBoard).

        ReduceLROnPlateau does this itself; with a LearningRateSchedule there
        is no ReduceLROnPlateau, and ``optimizer.learning_rate`` evaluates the
        schedule at the current step.
        """

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    class ConfusionImages(keras.callbacks.Callback):
        """Logs the validation confusion matrix as a TensorBoard image every epoch.

        One predict over the validation images and a small heatmap (~0.5 s on
        5,000 images), drawn by the same code as ``mnist-keras evaluate``.
        """

        def __init__(self, log_dir: Path, images, labels, *, name: str):
            super().__init__()
            self.log_dir, self.images, self.labels, self.name = str(log_dir), images, labels, name
            self._writer = None

        def on_epoch_end(self, epoch, logs=None):
            if self.model.stop_training:  # NaNGuard stopped a diverged run: NaN probabilities, nothing to draw
                return
            import tensorflow as tf

            from .evaluate import compute_metrics, predict_probabilities
            from .plots import confusion_png_bytes

            metrics = compute_metrics(self.labels, predict_probabilities(self.model, self.images))
            title = f"{self.name} · validation · epoch {epoch + 1} · accuracy {metrics['accuracy']:.2%}"
            png = confusion_png_bytes(metrics["confusion_matrix"], title=title)
            self._writer = self._writer or tf.summary.create_file_writer(self.log_dir)
            with self._writer.as_default():
                tf.summary.image(CONFUSION_TAG, tf.image.decode_png(png, channels=3)[None], step=epoch)
            self._writer.flush()

        def on_train_end(self, logs=None):
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    return AtomicModelCheckpoint, NaNGuard, LearningRateLogger, ConfusionImages


def make_callbacks(config: FitConfig, run_dir: Path, *, validation: tuple | None = None) -> list:
    """Every training callback, in the order they must run at epoch end.

    BackupAndRestore saves before CSVLogger writes its row, so a history row
    on disk always has a backup behind it (the resume test relies on this).
    ReduceLROnPlateau can only change a plain float LR, so it is used for the
    "plateau" schedule only; "cosine" logs the schedule's LR instead.
    ``validation`` (images, labels) turns on the per-epoch confusion-matrix
    image in ``logs/confusion``; ``config.histograms`` adds weight histograms.
    """
    import keras

    AtomicModelCheckpoint, NaNGuard, LearningRateLogger, ConfusionImages = _callback_classes()
    checkpoint = AtomicModelCheckpoint(str(run_dir / MODEL_FILENAME), monitor=MONITOR, save_best_only=True)
    early_stopping = keras.callbacks.EarlyStopping(monitor=MONITOR, patience=config.patience, restore_best_weights=True)
    if config.lr_schedule == "plateau":
        lr_callback = keras.callbacks.ReduceLROnPlateau(monitor=MONITOR, factor=0.5, patience=2, min_lr=1e-5)
    else:
        lr_callback = LearningRateLogger()
    callbacks = [
        NaNGuard(),
        checkpoint,
        early_stopping,
        lr_callback,
        keras.callbacks.BackupAndRestore(str(run_dir / "backup")),
        keras.callbacks.CSVLogger(str(run_dir / HISTORY_FILENAME), append=config.resume),
        keras.callbacks.TensorBoard(log_dir=str(run_dir / "logs"), histogram_freq=1 if config.histograms else 0),
    ]
    if validation is not None:
        callbacks.append(ConfusionImages(run_dir / "logs" / "confusion", *validation, name=config.model))
    return callbacks


def restore_training_state(model, callbacks: list, history_rows: list[dict], lr_schedule: str) -> None:
    """Seed the LR and checkpoint / early-stopping 'best' values from a resumed run's history.

    BackupAndRestore restores weights and the epoch counter only; without this
    the first resumed epoch would overwrite a better ``model.keras`` and the
    learning rate would jump back to its initial value.
    """
    import keras

    losses = [float(row[MONITOR]) for row in history_rows if row.get(MONITOR)]
    if not losses:
        return
    best = min(losses)
    # A cosine schedule needs nothing: it is a function of the optimizer's
    # step counter, which BackupAndRestore restores with the weights.
    if lr_schedule == "plateau" and history_rows[-1].get("learning_rate"):  # ReduceLROnPlateau's last decision
        model.optimizer.learning_rate = float(history_rows[-1]["learning_rate"])
    for callback in callbacks:
        if isinstance(callback, keras.callbacks.ModelCheckpoint):
            callback.best = best
        elif isinstance(callback, keras.callbacks.EarlyStopping):
            callback.best = best
            callback.wait = len(losses) - 1 - losses.index(best)
