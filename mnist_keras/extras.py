"""Optional dependencies: which extra brings which modules, and a quiet TensorFlow start.

``pip install mnist-keras`` is the inference install (numpy, Pillow, click and
a LiteRT interpreter: ``predict`` and the edge bundle run a ``.tflite`` with
that alone). Training, evaluation and export need the ``train`` extra
(TensorFlow and the report libraries), the web page the ``app`` extra. A
command that needs what is not installed says which extra to install
(:func:`require`) before doing any work, instead of failing on an import.
The lists here are checked against setup.cfg by the tests.
"""

from __future__ import annotations

import importlib.util
import os
import sys

from .errors import MissingExtraError
from .quiet import stderr_silenced

# extra -> the top-level modules it provides (setup.cfg's [options.extras_require] lists their distributions)
EXTRA_MODULES = {
    "train": ("tensorflow", "keras", "tensorboard", "sklearn", "scipy", "matplotlib", "seaborn"),
    "app": ("gradio",),
}
TF_LOGS_VAR = "MNIST_KERAS_TF_LOGS"  # set to 1 to see TensorFlow's start-up log lines


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here."""
    return [name for name in EXTRA_MODULES[extra] if importlib.util.find_spec(name) is None]


def require(extra: str, what: str, *, alternative: str = "") -> None:
    """Raise :class:`MissingExtraError` (exit 2) naming the extra to install when ``extra`` is incomplete.

    Args:
        what: the thing that needs it, for the message ("'mnist-keras fit'", "a .keras model").
        alternative: another way out, appended to the message ("or ...").
    """
    absent = missing(extra)
    if absent:
        raise MissingExtraError(
            f"{what} needs the '{extra}' extra ({', '.join(absent)} not installed): "
            f"pip install 'mnist-keras[{extra}]'" + (f"; {alternative}" if alternative else "")
        )


def extra_for_module(module: str) -> str | None:
    """The extra that provides top-level module ``module`` (None if no extra does)."""
    top = module.split(".")[0]
    return next((extra for extra, names in EXTRA_MODULES.items() if top in names), None)


def start_tensorflow(what: str = "this command") -> None:
    """Import TensorFlow without its C++ start-up lines, unless ``MNIST_KERAS_TF_LOGS`` is set.

    TensorFlow 2.21 writes its absl/oneDNN/CUDA lines (and, on a machine
    without a GPU, an ``E0000 ... failed call to cuInit`` line) before
    ``TF_CPP_MIN_LOG_LEVEL`` takes effect, so only redirecting fd 2 while
    it is imported and probes its devices hides them. Called by each entry
    point once its options and paths have been checked, so a bad input is
    answered without paying for TensorFlow (``mnist-keras --verbose`` sets
    the variable). Does nothing once TensorFlow is imported.

    Raises:
        MissingExtraError: the ``train`` extra is not installed.
    """
    if "tensorflow" in sys.modules:
        return
    require("train", what)
    if os.environ.get(TF_LOGS_VAR):
        import tensorflow  # noqa: F401

        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with stderr_silenced():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe happens here, not at import
