"""Writing and reading artifacts safely: atomic files, run folders, model loading.

Everything mnist-keras writes (models, reports, JSON) goes through
:func:`atomic_path`, so a killed process never leaves a truncated file where
a good one used to be. Everything that reads a ``.keras`` model goes through
:func:`load_model`, so the safety checks live in one place. This module owns
the layout of a run folder (its file names, ``config.json``, ``history.csv``,
the resume backup) and of ``saved_models/`` (:func:`publish_model`), so
training, evaluation and comparison read and write them the same way.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .digits import INPUT_SHAPE, NUM_CLASSES
from .errors import ModelFileError

MODEL_FILENAME = "model.keras"
CONFIG_FILENAME = "config.json"
HISTORY_FILENAME = "history.csv"
BACKUP_DIRNAME = "backup"  # BackupAndRestore's folder; removed when a run finishes
LOGS_DIRNAME = "logs"  # TensorBoard
PUBLISHED_SUFFIX = ".json"  # saved_models/<name>.keras has its record in <name>.json
SAVED_MODELS_DIRNAME = "saved_models"  # published .keras models (fit, compare)
TFLITE_DIRNAME = "tflite"  # exported .tflite models (export)


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success.

    The temporary file keeps ``target``'s suffix because some writers (Keras'
    ``model.save``) insist on it. On any exception the temporary file is
    removed and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; keep the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(target: Path, text: str) -> Path:
    """Atomically write ``text`` to ``target``."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def write_json(target: Path, data: Any) -> Path:
    """Atomically write ``data`` as indented JSON."""
    return write_text(target, json.dumps(data, indent=2, sort_keys=False) + "\n")


def copy_file(source: Path, target: Path) -> Path:
    """Atomically copy ``source`` to ``target``."""
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    return Path(target)


def save_model(model, target: Path) -> Path:
    """Atomically save a model's network and weights to a ``.keras`` file, without its training state.

    A compiled model is saved as an uncompiled copy: no optimizer slots (the
    file is a third of the size) and no loss or metric classes, so plain
    ``keras.saving.load_model`` opens it without mnist_keras installed, even
    for recipes compiled with our own loss and metric. Nothing needs the
    training state from here: ``--resume`` restarts from the run's backup folder.
    """
    if getattr(model, "compiled", False):
        weights = model.get_weights()
        model = type(model).from_config(model.get_config())
        model.set_weights(weights)
    with atomic_path(target) as tmp:
        model.save(tmp)
    return Path(target)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks (models can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_model_path(path: str | os.PathLike) -> Path:
    """A ``.keras`` file, or a run folder's ``model.keras``.

    Raises:
        ModelFileError: the path does not exist or holds no model.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILENAME
        if not path.is_file():
            raise ModelFileError(
                f"{path.parent}: no {MODEL_FILENAME} in this folder; give a .keras file or a run folder"
            )
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found; train one with 'mnist-keras fit' or check the path")
    if path.suffix != ".keras":
        raise ModelFileError(f"{path}: not a .keras model file; give a .keras file or a run folder")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{path}: not a readable Keras model: a .keras file is a zip archive and this one is not; "
            "give a file saved by 'mnist-keras fit' or keras model.save"
        )
    return path


def run_folder_of(model_path: Path) -> Path | None:
    """The run folder a model came from, if it sits in one (has ``config.json``)."""
    folder = Path(model_path).parent
    return folder if (folder / CONFIG_FILENAME).is_file() else None


def load_model(path: str | os.PathLike, *, compile: bool = False):
    """Load a ``.keras`` classifier safely and check it is a 28x28x1 -> 10 model.

    Loading uses Keras ``safe_mode=True``: a file that would run arbitrary code
    on load (a ``Lambda`` layer holding Python bytecode) is refused.

    Raises:
        ModelFileError: missing, unreadable, unsafe, or the wrong shape.
    """
    import keras

    model_path = resolve_model_path(path)
    try:
        model = keras.saving.load_model(model_path, compile=compile, safe_mode=True)
    except ValueError as err:
        if "safe_mode" in str(err) or "Lambda" in str(err):
            raise ModelFileError(
                f"{model_path}: refused to load: the file contains code (a Lambda layer) "
                "and loading it could run anything; only load such files from sources you trust"
            ) from None
        raise ModelFileError(f"{model_path}: not a readable Keras model ({_first_line(err)})") from None
    except Exception as err:  # zipfile.BadZipFile, OSError, KeyError, ...
        raise ModelFileError(f"{model_path}: not a readable Keras model ({_first_line(err)})") from None
    check_classifier(model, str(model_path))
    return model


def check_classifier(model, name: str) -> None:
    """Raise ModelFileError unless ``model`` maps (B, 28, 28, 1) to 10 classes."""
    in_shape = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
    out_shape = tuple(model.output_shape[1:]) if not isinstance(model.output_shape, list) else None
    if in_shape != INPUT_SHAPE:
        raise ModelFileError(
            f"{name}: model input is {in_shape}, expected {INPUT_SHAPE}; not an MNIST digit classifier"
        )
    if out_shape != (NUM_CLASSES,):
        raise ModelFileError(
            f"{name}: model output is {out_shape}, expected ({NUM_CLASSES},) classes; not an MNIST digit classifier"
        )


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__


# ------------------------------------------------------------------ run folder


def read_config(run_dir: Path | None) -> dict:
    """A run folder's whole ``config.json`` (empty if there is none or it is unreadable)."""
    if run_dir is None:
        return {}
    try:
        config = json.loads((Path(run_dir) / CONFIG_FILENAME).read_text())
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def run_settings(run_dir: Path | None) -> dict:
    """The training settings a run folder recorded (``config.json``'s ``settings``; empty if none).

    The one reader of a run's settings: ``settings["recipe"]`` holds the
    recipe that ran (epochs, ``keep``, ...); ``train.saved_config`` turns
    the whole into a ``FitConfig``.
    """
    settings = read_config(run_dir).get("settings")
    return settings if isinstance(settings, dict) else {}


def recipe_setting(settings: dict, name: str):
    """One recipe field of a run's :func:`run_settings` (older runs kept recipe fields flat), or None."""
    recipe = settings.get("recipe")
    return recipe.get(name) if isinstance(recipe, dict) else settings.get(name)


def read_history(run_dir: Path) -> list[dict]:
    """Rows of ``history.csv`` (empty if the run has not finished an epoch)."""
    path = Path(run_dir) / HISTORY_FILENAME
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def best_row(history: list[dict], monitor: str = "val_loss") -> dict | None:
    """The epoch with the lowest ``monitor`` (the one the checkpoint kept), or None."""
    rows = [row for row in history if row.get(monitor)]
    return min(rows, key=lambda row: float(row[monitor])) if rows else None


def kept_row(history: list[dict], keep: str | None = "best") -> dict | None:
    """The epoch whose weights the run kept as model.keras (see ``train.KEEP_CHOICES``), or None."""
    if keep == "last":
        return history[-1] if history else None
    return best_row(history)


def trim_history(run_dir: Path, epochs_done: int) -> list[dict]:
    """Drop history rows past the last backed-up epoch, so a resume never duplicates one."""
    rows = read_history(run_dir)
    kept = [row for row in rows if int(row["epoch"]) < epochs_done]
    if len(kept) != len(rows):
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
        write_text(Path(run_dir) / HISTORY_FILENAME, buffer.getvalue())
    return kept


def backed_up_epochs(run_dir: Path) -> int:
    """Epochs finished according to BackupAndRestore's metadata (0 if none)."""
    meta = Path(run_dir) / BACKUP_DIRNAME / "training_metadata.json"
    return int(json.loads(meta.read_text())["epoch"]) if meta.is_file() else 0


# -------------------------------------------------------------- saved_models/


def published_record(target: Path) -> dict | None:
    """What :func:`publish_model` recorded beside ``target`` (None if nothing or unreadable)."""
    record = Path(target).with_suffix(PUBLISHED_SUFFIX)
    try:
        return json.loads(record.read_text())
    except (OSError, ValueError):
        return None


def published_run(target: Path) -> Path | None:
    """The run folder a published model came from, per its record (None if unrecorded).

    A relative ``run_dir`` is relative to the folder it was published from:
    the current folder, else the one holding ``saved_models/``.
    """
    record = published_record(target) or {}
    if not record.get("run_dir"):
        return None
    run = Path(record["run_dir"])
    return run if run.is_absolute() or run.exists() else Path(target).resolve().parent.parent / run


def publish_model(source: Path, target: Path, record: dict, *, force: bool = False) -> tuple[bool, str]:
    """Copy ``source`` to ``target`` unless that could replace a better model.

    ``record`` must hold ``val_accuracy``; it is written beside ``target`` as
    ``<name>.json``. An existing ``target`` is replaced only when the new
    model's validation accuracy is at least its recorded one, or when
    ``force``. An existing file without a record is kept: nothing says the
    new model is better.

    Returns:
        (published, a one-line explanation for the terminal).
    """
    target = Path(target)
    new_acc = float(record["val_accuracy"])
    if target.is_file() and not force:
        old = published_record(target)
        if old is None or new_acc < float(old.get("val_accuracy", 1.0)):
            was = (
                "has no record of its accuracy"
                if old is None
                else f"has validation accuracy {float(old['val_accuracy']):.4f}"
            )
            return False, (
                f"kept {target}: it {was} and the new model has {new_acc:.4f}; pass --publish always to replace it"
            )
    why = (
        "forced"
        if force
        else "no model there yet"
        if not target.is_file()
        else "at least as good as the one it replaces"
    )
    copy_file(source, target)
    write_json(target.with_suffix(PUBLISHED_SUFFIX), record)
    return True, f"published {target} (validation accuracy {new_acc:.4f}; {why})"
