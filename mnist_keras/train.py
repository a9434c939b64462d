"""Training: ``fit(config) -> run folder`` (the callbacks live in ``callbacks.py``).

A run folder holds everything needed to understand, reproduce or resume a run::

    runs/<model>-<time>/
      config.json     every setting, library versions, data source and checksums
      model.keras     best validation model (atomically replaced when it improves)
      history.csv     one row per epoch (loss, accuracy, val_*, learning_rate)
      logs/           TensorBoard event files (train/, validation/, confusion/ images)
      backup/         BackupAndRestore state while a run is unfinished

The test split is never touched here: early stopping, the LR schedule and
checkpoint selection all watch the validation split.
"""

from __future__ import annotations

import dataclasses
import math
import platform
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .artifacts import (
    CONFIG_FILENAME,
    MODEL_FILENAME,
    SAVED_MODELS_DIRNAME,
    backed_up_epochs,
    kept_row,
    publish_model,
    published_record,
    read_history,
    run_settings,
    save_model,
    trim_history,
    write_json,
)
from .augment import augment_policy
from .data import (
    DEFAULT_VALIDATION_SIZE,
    TRAIN_SIZE,
    Mnist,
    Splits,
    class_counts,
    load_mnist,
    make_dataset,
    make_splits,
)
from .digits import DEFAULT_SEED
from .distribute import STRATEGIES, Task
from .errors import MnistKerasError, TrainingError
from .extras import start_tensorflow
from .models import RECIPE_FIELDS, Recipe, get_architecture

# "auto": publish runs on all the data, if at least as good as the published model;
# "always": publish, replacing whatever is there; "never": keep the model in the run folder only.
PUBLISH_CHOICES = ("auto", "always", "never")
DEFAULT_MODEL = "lamontagne"  # the paper's model 11
COSINE_FINAL_FRACTION = 0.01  # "cosine": the LR decays to this fraction of its peak
# With a warm-up (``warmup_fraction`` > 0) the LR starts at this fraction of its peak.
WARMUP_START_FRACTION = 0.1


@dataclass
class FitConfig:
    """Every setting of a training run; saved as the run's ``config.json``.

    The field defaults are the only place a default is written: the CLI
    reads them. How the model trains (epochs, batch size, learning rate and
    schedule, augmentation, ...) is its :class:`~mnist_keras.models.Recipe`:
    ``overrides`` holds the recipe fields given on the command line, and
    :meth:`resolved` merges them into the architecture's own recipe, once,
    before anything is saved, so ``config.json`` always holds the recipe
    that ran. ``publish`` decides whether the kept model is copied to
    ``saved_models_dir`` (see ``PUBLISH_CHOICES``).
    """

    model: str = DEFAULT_MODEL
    overrides: dict[str, Any] = field(default_factory=dict)  # recipe field -> value; None keeps the recipe's
    recipe: Recipe | None = None  # filled in by resolved()
    seed: int = DEFAULT_SEED
    deterministic: bool = False
    limit: int | None = None
    validation_size: int = DEFAULT_VALIDATION_SIZE
    data_dir: str | None = None
    run_dir: str | None = None
    saved_models_dir: str = SAVED_MODELS_DIRNAME
    resume: bool = False
    publish: str = "auto"
    histograms: bool = False
    strategy: str = "auto"
    mixed_precision: bool = False
    jit_compile: bool = False  # XLA: measured per architecture in docs/BENCHMARKS.md
    verbose: int = 1

    def __post_init__(self) -> None:
        self.overrides = {name: value for name, value in self.overrides.items() if value is not None}
        if isinstance(self.publish, bool):  # older config.json files and compare's publish=False
            self.publish = "auto" if self.publish else "never"
        if isinstance(self.recipe, dict):  # read back from config.json
            self.recipe = Recipe(**self.recipe)

    def resolved(self) -> FitConfig:
        """A copy with the canonical model name and its recipe merged with ``overrides`` (the one merge).

        Raises:
            MnistKerasError: unknown model or recipe field.
        """
        try:
            arch = get_architecture(self.model)
            recipe = arch.recipe.with_overrides(self.overrides)
        except ValueError as err:
            raise MnistKerasError(str(err)) from None
        return dataclasses.replace(self, model=arch.name, recipe=recipe)

    def validate(self) -> None:
        """Reject impossible settings before any work is done (on a :meth:`resolved` config)."""
        checks = [
            (1 <= self.validation_size < TRAIN_SIZE, f"--validation-size must be between 1 and {TRAIN_SIZE - 1}, got {self.validation_size}"),
            (self.limit is None or self.limit >= 10, f"--limit must be at least 10, got {self.limit}"),
            (self.publish in PUBLISH_CHOICES, f"--publish must be one of {', '.join(PUBLISH_CHOICES)}, got {self.publish!r}"),
            (self.strategy in STRATEGIES, f"--strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}"),
            (not (self.resume and self.strategy == "multi-worker"), "--resume is not supported with --strategy multi-worker; start a new run"),
        ]  # fmt: skip
        problems = [message for ok, message in checks if not ok] + (self.recipe.problems() if self.recipe else [])
        if problems:
            raise MnistKerasError(problems[0])


def default_run_dir(model: str) -> Path:
    """``runs/<model>-<YYYYmmdd-HHMMSS>``."""
    return Path("runs") / f"{model}-{time.strftime('%Y%m%d-%H%M%S')}"


def source_revision() -> dict:
    """The git commit of the package's checkout and whether it had uncommitted changes (None outside git).

    Recorded in ``config.json`` so a model card can say exactly which code trained the model.
    """
    import subprocess

    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    changes = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(changes) if commit else None}


def library_versions() -> dict[str, str]:
    """Versions that decide whether a run can be reproduced."""
    import keras
    import numpy
    import sklearn
    import tensorflow as tf

    return {
        "mnist_keras": __version__,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "scikit_learn": sklearn.__version__,
        "platform": platform.platform(),
    }


# ---------------------------------------------------------------------- fit


def prepare_run_dir(config: FitConfig) -> tuple[FitConfig, Path]:
    """Check the run folder (or, with ``resume``, reopen it); return the effective, resolved config.

    A new folder is only created once the data has loaded (:func:`_fit`), so
    a missing or corrupt MNIST file leaves no empty run folder behind.
    Resuming reuses the saved ``config.json`` so the continued run trains
    exactly what was started; only ``verbose`` comes from the new call.
    """
    if config.resume:
        if not config.run_dir:
            raise MnistKerasError("--resume needs --output RUN, the folder of the interrupted run")
        run_dir = Path(config.run_dir)
        if not (run_dir / CONFIG_FILENAME).is_file():
            raise MnistKerasError(f"{run_dir}: no {CONFIG_FILENAME}; this is not a run folder that can be resumed")
        return dataclasses.replace(saved_config(run_dir), resume=True, verbose=config.verbose), run_dir
    config = config.resolved()
    run_dir = Path(config.run_dir) if config.run_dir else default_run_dir(config.model)
    if run_dir.exists() and any(run_dir.iterdir()):
        raise MnistKerasError(
            f"{run_dir}: folder already holds files; pass --resume to continue that run or pick another --output"
        )
    return dataclasses.replace(config, run_dir=str(run_dir)), run_dir


def saved_config(run_dir: Path) -> FitConfig:
    """The resolved :class:`FitConfig` a run folder was trained with (from its ``config.json``).

    Runs written before recipes had their own entry kept the recipe fields
    among the settings; they are read as overrides of the architecture's recipe.

    Raises:
        MnistKerasError: no readable ``config.json``.
    """
    settings = run_settings(run_dir)
    if not settings:
        raise MnistKerasError(f"{Path(run_dir) / CONFIG_FILENAME}: missing or unreadable; not a complete run folder")
    known = {f.name for f in dataclasses.fields(FitConfig)}
    config = FitConfig(**{k: v for k, v in settings.items() if k in known})
    if config.recipe is None:  # an older config.json: flat recipe fields, augment possibly a bool
        overrides = {k: settings[k] for k in RECIPE_FIELDS if k in settings}
        if "augment" in overrides:
            overrides["augment"] = augment_policy(overrides["augment"])
        config.overrides = overrides
    return config if config.recipe is not None else config.resolved()


def write_config(config: FitConfig, run_dir: Path, mnist: Mnist, splits: Splits) -> None:
    """Write ``config.json``: settings (the recipe included), versions, data provenance and split sizes."""
    write_json(
        run_dir / CONFIG_FILENAME,
        {
            "settings": dataclasses.asdict(config),
            "versions": library_versions(),
            "source": source_revision(),
            "data": {
                "source": mnist.source,
                "sha256": mnist.checksums,
                "checksum_mismatches": mnist.checksum_mismatches(),
                "train_size": len(splits.y_train),
                "validation_size": len(splits.y_val),
                "test_size": len(splits.y_test),
                "train_class_counts": class_counts(splits.y_train),
            },
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )


def learning_rate_for(recipe: Recipe, steps_per_epoch: int):
    """The optimizer's ``learning_rate``: a float ("plateau") or a cosine schedule over the whole run.

    With ``recipe.warmup_fraction`` > 0 the cosine schedule first rises
    linearly from ``WARMUP_START_FRACTION`` of ``learning_rate`` to it over
    that share of all steps (Keras' own ``warmup_steps``/``warmup_target``),
    then decays over the rest: a one-cycle schedule, which lets a run of one
    epoch use a high peak LR without diverging in its first steps.
    """
    import keras

    if recipe.lr_schedule != "cosine":
        return recipe.learning_rate
    total = recipe.epochs * steps_per_epoch
    warmup = int(round(recipe.warmup_fraction * total))
    if warmup == 0:
        return keras.optimizers.schedules.CosineDecay(
            recipe.learning_rate, decay_steps=total, alpha=COSINE_FINAL_FRACTION
        )
    return keras.optimizers.schedules.CosineDecay(
        recipe.learning_rate * WARMUP_START_FRACTION,
        decay_steps=total - warmup,
        alpha=COSINE_FINAL_FRACTION,
        warmup_target=recipe.learning_rate,
        warmup_steps=warmup,
    )


def compile_model(
    model,
    learning_rate,
    *,
    jit_compile: bool = False,
    label_smoothing: float = 0.0,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    ema_momentum: float = 0.0,
) -> None:
    """Adam + sparse categorical cross-entropy + accuracy (keywords: Keras 3's 3rd positional is loss_weights).

    ``learning_rate`` is a float or a ``keras.optimizers.schedules.LearningRateSchedule``;
    ``jit_compile`` compiles the train/predict steps with XLA; ``label_smoothing``
    > 0 softens the targets (``losses.SmoothedSparseCrossentropy``);
    ``beta_1``/``beta_2`` are Adam's (its defaults unless a recipe says otherwise);
    ``ema_momentum`` > 0 makes Adam keep a moving average of the weights,
    which fit swaps in for validation and checkpoints and leaves in the
    model at the end (``callbacks.averaged_weights``).
    """
    import keras

    from .losses import classification_loss
    from .metrics import ConfusionAccuracy

    model.compile(
        optimizer=keras.optimizers.Adam(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            use_ema=ema_momentum > 0,
            ema_momentum=ema_momentum,
        ),
        loss=classification_loss(label_smoothing),
        metrics=[ConfusionAccuracy()],  # "accuracy", plus the counts the confusion image is drawn from
        jit_compile=jit_compile,
    )


def compile_for(model, config: FitConfig, steps: int) -> None:
    """Compile ``model`` with every optimisation setting of ``config`` (a resolved config)."""
    recipe = config.recipe
    compile_model(
        model,
        learning_rate_for(recipe, steps),
        jit_compile=config.jit_compile,
        label_smoothing=recipe.label_smoothing,
        beta_1=recipe.adam_beta_1,
        beta_2=recipe.adam_beta_2,
        ema_momentum=recipe.ema_momentum,
    )


def steps_per_epoch(recipe: Recipe, train_size: int) -> int:
    """Batches in one pass over the training images (the last one may be short)."""
    return math.ceil(train_size / recipe.batch_size)


def training_datasets(config: FitConfig, splits: Splits, *, first_epoch: int = 0):
    """The ``tf.data`` pipelines ``fit`` trains and validates on (also timed by the benchmark).

    The training dataset is an endless stream of epochs starting at
    ``first_epoch``; iterate it ``steps_per_epoch`` batches at a time.
    """
    batch_size = config.recipe.batch_size
    train_ds = make_dataset(
        splits.x_train,
        splits.y_train,
        batch_size=batch_size,
        shuffle=True,
        augment=config.recipe.augment,
        seed=config.seed,
        first_epoch=first_epoch,
        parallel_maps=not config.deterministic,
    )
    val_ds = make_dataset(
        splits.x_val, splits.y_val, batch_size=max(batch_size, 1024), parallel_maps=not config.deterministic
    )
    return train_ds, val_ds


def with_extra_digits(splits: Splits, recipe: Recipe, *, seed: int) -> Splits:
    """``splits`` with the recipe's printed and cut digits appended to the training images.

    Each count is its share (``printed_fraction``, ``cut_fraction``) of the
    MNIST training size. Printed digits are rendered in the training fonts and
    go through ``preprocess.to_mnist``, as user inputs do
    (``printed.training_digits``). Cut digits come out of numbers composed from
    this run's own MNIST training digits by the number reader's segmenter
    (``numberset.cut_digits``), so no validation or test digit leaks in. Both
    depend on the training images and ``seed`` alone, so a resumed run gets
    the same ones. Validation and test stay pure MNIST.
    """
    size = len(splits.y_train)
    extra = []
    if printed := round(recipe.printed_fraction * size):
        from .printed import training_digits

        extra.append(training_digits(printed, seed=seed))
    if cut := round(recipe.cut_fraction * size):
        from .numberset import DigitPool, cut_digits

        extra.append(cut_digits(DigitPool(splits.x_train, splits.y_train), cut, seed=seed))
    if not extra:
        return splits
    return dataclasses.replace(
        splits,
        x_train=np.concatenate([splits.x_train, *(images for images, _ in extra)]),
        y_train=np.concatenate([splits.y_train, *(labels.astype(splits.y_train.dtype) for _, labels in extra)]),
    )


def seed_everything(config: FitConfig) -> None:
    """Seed Python, NumPy and TensorFlow; with ``deterministic``, also make every TF op deterministic.

    Op determinism makes two runs with the same options give the same
    weights bit for bit on the same machine and library versions, at a
    cost in speed (docs/BENCHMARKS.md). It is process-wide and cannot be
    turned off again.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()


def fit(config: FitConfig, *, extra_callbacks: Sequence = ()) -> Path | None:
    """Train ``config.model`` and return the run folder (None on a non-chief worker).

    Every option, the run folder and the MNIST files are checked before
    TensorFlow is imported, so a bad input is answered at once.
    ``extra_callbacks`` run after fit's own (checkpoint, logs, ...) at every
    epoch end; benchmarks use them to observe a real run without a copy of it.

    With ``--strategy multi-worker`` every worker runs this; only the chief
    (see ``distribute.current_task``) writes ``config.run_dir``; the others
    train into a temporary folder they delete. Publishing and evaluating the
    result are separate steps (:func:`publish`; ``pipeline.run`` does all three).

    Raises:
        MnistKerasError: impossible options, a run folder that is in the way.
        DataError: MNIST cannot be found or is corrupt.
        MissingExtraError: TensorFlow is not installed.
        TrainingError: the loss became NaN.
    """
    config = config.resolved()
    config.validate()
    if config.strategy != "multi-worker":  # a worker's --run-dir may be the chief's, on a shared disk
        config, _ = prepare_run_dir(config)
    mnist = load_mnist(config.data_dir)
    start_tensorflow("training")
    from .distribute import current_task, is_multi_worker, make_strategy, read_tf_config

    strategy = make_strategy(config.strategy)  # first: multi-worker must precede any other TF op
    task = current_task(read_tf_config()) if is_multi_worker(strategy) else Task()
    if task.is_chief:
        return _fit(config, mnist, strategy, task, extra_callbacks)
    scratch = Path(tempfile.mkdtemp(prefix=f"mnist-keras-{task.name}-"))
    try:
        worker = dataclasses.replace(config, run_dir=str(scratch / "run"), saved_models_dir=str(scratch / "saved"))
        _fit(worker, mnist, strategy, task, extra_callbacks)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return None


def _fit(config: FitConfig, mnist: Mnist, strategy, task: Task, extra_callbacks: Sequence = ()) -> Path:
    """Train in ``config.run_dir`` under ``strategy``; see :func:`fit`."""
    config, run_dir = prepare_run_dir(config)
    recipe = config.recipe

    from .callbacks import NaNGuard, make_callbacks
    from .distribute import custom_fit, is_multi_worker, precision_policy, save_final_weights

    seed_everything(config)
    if mnist.checksum_mismatches():
        warnings.warn(
            f"MNIST files differ from the originals: {', '.join(mnist.checksum_mismatches())}; "
            "results may not be comparable (run 'mnist-keras data verify')",
            stacklevel=2,
        )
    splits = make_splits(mnist, validation_size=config.validation_size, limit=config.limit, seed=config.seed)
    splits = with_extra_digits(splits, recipe, seed=config.seed)
    if not config.resume:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_config(config, run_dir, mnist, splits)

    steps = steps_per_epoch(recipe, len(splits.y_train))
    with precision_policy(config.mixed_precision), strategy.scope():
        model = get_architecture(config.model).build()
        compile_for(model, config, steps)
    first_epoch = backed_up_epochs(run_dir) if config.resume else 0
    trim_history(run_dir, first_epoch)  # rows written after the last backup are trained again
    multi_worker = is_multi_worker(strategy)  # model.fit fails there (keras-team/keras#20585): custom loop
    callbacks = make_callbacks(config, run_dir, validation=(splits.x_val, splits.y_val), resume_epoch=first_epoch,
                               resumable=not multi_worker)  # fmt: skip
    callbacks += extra_callbacks

    train_ds, val_ds = training_datasets(config, splits, first_epoch=first_epoch)
    if multi_worker:
        custom_fit(model, strategy, train_ds, val_ds, epochs=recipe.epochs, callbacks=callbacks, verbose=config.verbose,
                   steps_per_epoch=steps, jit_compile=config.jit_compile)  # fmt: skip
    else:
        model.fit(train_ds, validation_data=val_ds, epochs=recipe.epochs, steps_per_epoch=steps,
                  callbacks=callbacks, verbose=config.verbose, shuffle=False)  # fmt: skip  # the dataset shuffles itself
    save_final_weights(model, task)

    nan_guard = next(c for c in callbacks if isinstance(c, NaNGuard))
    if nan_guard.where:
        raise TrainingError(
            f"training diverged: the loss became NaN at {nan_guard.where}; "
            "try a lower --learning-rate (the best model so far is kept in the run folder)"
        )
    best = run_dir / MODEL_FILENAME
    if best.is_file() and config.mixed_precision:  # publish float32 weights and compute
        from .distribute import float32_copy

        save_model(float32_copy(best, config.model), best)
    return run_dir


def kept_epoch(config: FitConfig, run_dir: Path) -> dict | None:
    """The history row of the epoch whose weights became ``model.keras`` (None before any epoch)."""
    recipe = config.recipe or config.resolved().recipe
    return kept_row(read_history(run_dir), recipe.keep)


def published_model(config: FitConfig, run_dir: Path) -> Path | None:
    """``saved_models/<model>.keras`` if it is this run's model (its record names this run), else None."""
    target = Path(config.saved_models_dir) / f"{config.model}.keras"
    record = published_record(target) if target.is_file() else None
    return target if record and record.get("run_dir") == str(run_dir) else None


def publish(config: FitConfig, run_dir: Path) -> str | None:
    """Copy the run's kept model to ``saved_models/<model>.keras`` as ``config.publish`` says.

    "auto" publishes only runs on all the training images (not ``--limit``
    smoke runs), and only over a model whose recorded validation accuracy
    is not higher. Returns a line for the terminal (None: nothing to say).
    """
    best = kept_epoch(config, run_dir)
    if best is None or not (run_dir / MODEL_FILENAME).is_file():
        return None
    record = {"val_accuracy": float(best["val_accuracy"]), "val_loss": float(best["val_loss"]),
              "run_dir": str(run_dir), "model": config.model}  # fmt: skip
    target = Path(config.saved_models_dir) / f"{config.model}.keras"
    return publish_file(run_dir / MODEL_FILENAME, target, record, config, what="run")


def publish_file(source: Path, target: Path, record: dict, config: FitConfig, *, what: str) -> str | None:
    """Publish ``source`` as ``target`` under ``config.publish`` (the rule ``fit`` and ``compare`` share).

    "never" does nothing; "auto" refuses a ``--limit`` ``what`` (a smoke run)
    and otherwise publishes unless the model there has a better recorded
    validation accuracy (``artifacts.publish_model``); "always" replaces it.
    Returns a line for the terminal, or None.
    """
    if config.publish == "never":
        return None
    if config.publish == "auto" and config.limit is not None:
        return f"not published: a --limit {what} does not replace {target} (pass --publish always to publish it)"
    record = {**record, "published": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    return publish_model(source, target, record, force=config.publish == "always")[1]


def verbosity(quiet: bool) -> int:
    """Keras verbosity: progress bar on a terminal, one line per epoch otherwise."""
    if quiet:
        return 0
    return 1 if sys.stdout.isatty() else 2
