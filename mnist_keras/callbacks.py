"""Training callbacks: one class per job, driven by ``model.fit`` and the multi-worker loop.

``train.fit`` (``model.fit``) and the multi-worker loop in ``distribute.py``
drive the list :func:`make_callbacks` builds, so every run folder looks the
same whatever the strategy.

Resuming. ``keras.callbacks.BackupAndRestore`` restores the weights, the
optimizer (its step counter and learning rate included) and the epoch
counter, but not the state that lives in other callbacks, and Keras' own
callbacks reset theirs in ``on_train_begin``. Every callback whose decisions
depend on earlier epochs therefore records its state after each epoch in
``backup/<name>.json`` and restores it itself, after that reset, from the
entry of the last backed-up epoch (:class:`EpochStates`). State is written
before BackupAndRestore saves the epoch, so a backed-up epoch always has
its state on disk, whenever the process is killed. With ``--deterministic``
a resumed run then ends exactly as the run would have without the stop.
"""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

import keras
import numpy as np

from .artifacts import BACKUP_DIRNAME, HISTORY_FILENAME, LOGS_DIRNAME, MODEL_FILENAME, save_model, write_json
from .digits import NUM_CLASSES

MONITOR = "val_loss"  # what checkpointing, early stopping and the LR plateau watch
CONFUSION_TAG = "validation_confusion_matrix"
PLATEAU_FACTOR = 0.5  # "plateau" schedule: the LR is multiplied by this ...
PLATEAU_PATIENCE = 2  # ... after this many epochs without a lower validation loss
PLATEAU_MIN_LR = 1e-5


class EpochStates:
    """A JSON file of ``{epoch: {attribute: value}}`` for one callback.

    Args:
        path: the file (in the run's backup folder); None records nothing
            (a run that cannot be resumed).
        names: the callback attributes that make up its state.
        resume_epoch: epochs already backed up; the state to restore is the
            one recorded at the end of epoch ``resume_epoch - 1``.
    """

    def __init__(self, path: Path | None, names: tuple[str, ...], resume_epoch: int = 0) -> None:
        self.path, self.names, self.resume_epoch = path and Path(path), names, resume_epoch

    def _read(self) -> dict:
        return json.loads(self.path.read_text()) if self.path and self.path.is_file() else {}

    def record(self, owner, epoch: int) -> None:
        """Write ``owner``'s state after ``epoch`` (atomically, beside earlier epochs')."""
        if self.path is None:
            return
        states = self._read()
        states[str(epoch)] = {name: _plain(getattr(owner, name)) for name in self.names}
        write_json(self.path, states)

    def restore(self, owner) -> None:
        """Set ``owner``'s state to the one recorded for the last backed-up epoch, if any."""
        if self.resume_epoch == 0:
            return
        state = self._read().get(str(self.resume_epoch - 1))
        if state is None:
            raise RuntimeError(f"{self.path}: no state for epoch {self.resume_epoch}; the backup is incomplete")
        for name, value in state.items():
            setattr(owner, name, value)


def _plain(value):
    """A JSON-safe copy of a callback attribute: numpy scalars become Python numbers."""
    return value.item() if hasattr(value, "item") else value


class ResumableState:
    """Mixin for a callback whose state must survive ``--resume`` (listed in ``STATE``).

    Placed before the Keras callback class, it restores the recorded state
    right after that class's ``on_train_begin`` reset, and records the state
    after its ``on_epoch_end`` decisions. Subclasses set ``self.states``
    with :meth:`track_state` in ``__init__``.
    """

    STATE: tuple[str, ...] = ()

    def track_state(self, state_file: Path | None, resume_epoch: int) -> None:
        self.states = EpochStates(state_file, self.STATE, resume_epoch)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.states.restore(self)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        self.states.record(self, epoch)


class ResumableEarlyStopping(ResumableState, keras.callbacks.EarlyStopping):
    """Keras' EarlyStopping whose patience survives ``--resume``.

    ``restore_best_weights`` stays off: the best model is the checkpoint
    (``model.keras``), written by :class:`BestModelCheckpoint` on the same
    criterion, so in-memory best weights would only duplicate it.
    """

    STATE = ("wait", "best", "best_epoch", "stopped_epoch")

    def __init__(self, *, state_file: Path | None, resume_epoch: int = 0, **kwargs) -> None:
        super().__init__(restore_best_weights=False, **kwargs)
        self.track_state(state_file, resume_epoch)


class ResumableReduceLROnPlateau(ResumableState, keras.callbacks.ReduceLROnPlateau):
    """Keras' ReduceLROnPlateau whose wait, best and cooldown survive ``--resume``.

    The learning rate itself is an optimizer variable, which BackupAndRestore restores.
    """

    STATE = ("wait", "best", "cooldown_counter")

    def __init__(self, *, state_file: Path | None, resume_epoch: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.track_state(state_file, resume_epoch)


@contextlib.contextmanager
def averaged_weights(model):
    """The optimizer's moving average in place of ``model``'s weights while the block runs.

    Keras' ``SwapEMAWeights`` does this around validation; its test hooks
    are reused here so a checkpoint holds the weights that validation
    measured. Without ``use_ema`` the model is left as it is.
    """
    if not getattr(getattr(model, "optimizer", None), "use_ema", False):  # uncompiled: no optimizer
        yield
        return
    swap = keras.callbacks.SwapEMAWeights()
    swap.set_model(model)
    swap.on_test_begin()
    try:
        yield
    finally:
        swap.on_test_end()


class BestModelCheckpoint(ResumableState, keras.callbacks.Callback):
    """Save the model whenever ``monitor`` reaches a new minimum, atomically.

    Keras' ModelCheckpoint writes straight into the target, so a run killed
    mid-save would leave a truncated ``model.keras``; this one writes a
    temporary file and renames it. Its best value survives ``--resume``.
    With ``save_best_only=False`` (Keras' own name) it saves after every
    epoch whose ``monitor`` is a number, so the file holds the last epoch's
    weights; a NaN epoch never overwrites a good model. With the
    optimizer's weight averaging (``use_ema``) it saves the average, the
    weights validation measured.
    """

    STATE = ("best",)

    def __init__(
        self,
        filepath: Path,
        *,
        monitor: str = MONITOR,
        save_best_only: bool = True,
        state_file: Path | None,
        resume_epoch: int = 0,
    ) -> None:
        super().__init__()
        self.filepath, self.monitor, self.save_best_only = Path(filepath), monitor, save_best_only
        self.track_state(state_file, resume_epoch)
        self.best = math.inf

    def on_train_begin(self, logs=None):
        self.best = math.inf
        super().on_train_begin(logs)  # then the recorded best, when resuming

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is not None and not math.isnan(float(current)):  # a NaN epoch never replaces a model
            improved = float(current) < self.best
            if improved:
                self.best = float(current)
            if improved or not self.save_best_only:
                with averaged_weights(self.model):
                    save_model(self.model, self.filepath)
        super().on_epoch_end(epoch, logs)  # records the state


class RandomStateBackup(keras.callbacks.Callback):
    """Carry the model's random-number state (dropout masks) across ``--resume``.

    Each Dropout layer draws its masks from a Keras ``SeedGenerator``, a
    non-trainable variable that ``save_weights`` (and so BackupAndRestore)
    leaves out. Recording it per epoch lets a resumed run draw the masks the
    uninterrupted run would have drawn.
    """

    def __init__(self, *, state_file: Path | None, resume_epoch: int = 0) -> None:
        super().__init__()
        self.states = EpochStates(state_file, ("seed_states",), resume_epoch)
        self.seed_states: list | None = None

    def _seed_variables(self) -> list:
        return [v for v in self.model.non_trainable_variables if "seed_generator" in v.path]

    def on_train_begin(self, logs=None):
        self.seed_states = None
        self.states.restore(self)
        if self.seed_states is not None:
            for variable, value in zip(self._seed_variables(), self.seed_states, strict=True):
                variable.assign(value)

    def on_epoch_end(self, epoch, logs=None):
        self.seed_states = [keras.ops.convert_to_numpy(v).tolist() for v in self._seed_variables()]
        self.states.record(self, epoch)


class NaNGuard(keras.callbacks.TerminateOnNaN):
    """TerminateOnNaN that remembers where it stopped, for a clear error."""

    def __init__(self) -> None:
        super().__init__()
        self.where: str | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.where = f"epoch {self._epoch + 1}, batch {batch + 1}"
        super().on_batch_end(batch, logs)


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
    """Log the validation confusion matrix as a TensorBoard image every epoch.

    The counts come from Keras' own validation pass (the model's compiled
    ``metrics.ConfusionAccuracy``), so the image costs no extra predictions;
    it is drawn with Pillow (``plots.confusion_image``). A model compiled
    without that metric, or trained by the multi-worker loop (which does not
    update compiled metrics), is predicted once more instead.
    """

    def __init__(self, log_dir: Path, images, labels, *, name: str) -> None:
        super().__init__()
        self.log_dir, self.images, self.labels, self.name = str(log_dir), images, labels, name
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        if self.model.stop_training:  # NaNGuard stopped a diverged run: NaN probabilities, nothing to draw
            return
        import tensorflow as tf

        from .plots import confusion_image

        matrix = self.validation_confusion()
        accuracy = np.trace(matrix) / max(matrix.sum(), 1)
        title = f"{self.name} · validation · epoch {epoch + 1} · accuracy {accuracy:.2%}"
        self._writer = self._writer or tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            tf.summary.image(CONFUSION_TAG, confusion_image(matrix, title=title)[None], step=epoch)
        self._writer.flush()

    def validation_confusion(self) -> np.ndarray:
        """This epoch's validation confusion counts (rows true, columns predicted)."""
        from .metrics import find_confusion

        metric = find_confusion(self.model)
        if metric is not None and metric.matrix.sum() == len(self.labels):  # filled by this epoch's validation pass
            return metric.matrix
        from sklearn.metrics import confusion_matrix

        from .predict import predict_probabilities

        with averaged_weights(self.model):  # the weights validation measured
            predicted = predict_probabilities(self.model, self.images).argmax(axis=1)
        return confusion_matrix(self.labels, predicted, labels=range(NUM_CLASSES))

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def make_callbacks(
    config, run_dir: Path, *, validation: tuple | None = None, resume_epoch: int = 0, resumable: bool = True
) -> list[keras.callbacks.Callback]:
    """Every training callback of ``config`` (a ``train.FitConfig``), in the order they run at epoch end.

    The callbacks with state record it before BackupAndRestore saves the
    epoch, and BackupAndRestore saves before CSVLogger writes its row, so a
    history row on disk always has a backup and the callbacks' state behind
    it. ReduceLROnPlateau can only change a plain float LR, so it is used
    for the "plateau" schedule only; "cosine" logs the schedule's LR instead.
    ``validation`` (images, labels) turns on the per-epoch confusion-matrix
    image in ``logs/confusion``; ``config.histograms`` adds weight histograms.
    ``resume_epoch`` is the number of epochs already backed up. Without
    ``resumable`` (the multi-worker loop, where ``--resume`` is refused)
    there is no BackupAndRestore and no state is recorded. With
    ``config.recipe.ema_momentum`` > 0, Keras' SwapEMAWeights makes validation
    measure the optimizer's moving average of the weights.
    """
    backup = Path(run_dir) / BACKUP_DIRNAME

    def state(name: str) -> dict:
        return {"state_file": backup / f"{name}.json" if resumable else None, "resume_epoch": resume_epoch}

    recipe = config.recipe
    if recipe.lr_schedule == "plateau":
        lr_callback = ResumableReduceLROnPlateau(
            monitor=MONITOR, factor=PLATEAU_FACTOR, patience=PLATEAU_PATIENCE, min_lr=PLATEAU_MIN_LR,
            **state("reduce_lr_on_plateau"),
        )  # fmt: skip
    else:
        lr_callback = LearningRateLogger()
    callbacks = [
        *([keras.callbacks.SwapEMAWeights()] if recipe.ema_momentum else []),
        NaNGuard(),
        BestModelCheckpoint(
            Path(run_dir) / MODEL_FILENAME, save_best_only=recipe.keep != "last", **state("checkpoint")
        ),
        ResumableEarlyStopping(monitor=MONITOR, patience=recipe.patience, **state("early_stopping")),
        lr_callback,
        RandomStateBackup(**state("random_state")),
        *([keras.callbacks.BackupAndRestore(str(backup))] if resumable else []),
        keras.callbacks.CSVLogger(str(Path(run_dir) / HISTORY_FILENAME), append=config.resume),
        keras.callbacks.TensorBoard(
            log_dir=str(Path(run_dir) / LOGS_DIRNAME), histogram_freq=1 if config.histograms else 0
        ),
    ]
    if validation is not None:
        callbacks.append(ConfusionImages(Path(run_dir) / LOGS_DIRNAME / "confusion", *validation, name=config.model))
    return callbacks
