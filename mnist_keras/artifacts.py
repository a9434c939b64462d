"""Writing and reading artifacts safely: atomic files, run folders, model loading.

Everything mnist-keras writes (models, reports, JSON) goes through
:func:`atomic_path`, so a killed process never leaves a truncated file where
a good one used to be. Everything that reads a ``.keras`` model goes through
:func:`load_model`, so the safety checks live in one place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import ModelFileError

MODEL_FILENAME = "model.keras"
CONFIG_FILENAME = "config.json"


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
    """Atomically save a Keras model to a ``.keras`` file."""
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
    if in_shape != (28, 28, 1):
        raise ModelFileError(f"{name}: model input is {in_shape}, expected (28, 28, 1); not an MNIST digit classifier")
    if out_shape != (10,):
        raise ModelFileError(
            f"{name}: model output is {out_shape}, expected (10,) classes; not an MNIST digit classifier"
        )


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__
