"""Command-line pieces every command shares, defined once: options, the MODEL argument, errors.

One grammar: a trained model is always the positional ``MODEL`` (a ``.keras``
file, a ``.tflite`` file or a run folder); ``--model``/``--models`` always
name architectures; results go to ``--output``; ``--seed``, ``--data-dir``,
``--json`` and ``--quiet`` mean the same wherever they appear. Defaults come
from the modules that use them, never from here.

click, the standard library and the package's TensorFlow-free modules only:
this module is part of the edge bundle.
"""

from __future__ import annotations

import os

import click

from .digits import DEFAULT_SEED
from .errors import MnistKerasError
from .extras import TF_LOGS_VAR

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "show_default": True}
DATA_DIR_HELP = "Folder with the four MNIST IDX files (.gz or not). Default: $MNIST_KERAS_DATA, else Keras' download."
MODEL_HELP = "a .keras file, a .tflite file or a run folder"


class UserError(click.ClickException):
    """A ClickException carrying the exit code of the MnistKerasError behind it."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ErrorsAsMessages:
    """Mixin for click commands and groups: a MnistKerasError becomes one ``Error: ...`` line and its exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MnistKerasError as err:
            raise UserError(str(err), err.exit_code) from None


class Command(ErrorsAsMessages, click.Command):
    """A stand-alone command (the edge bundle's) with the package's error handling."""


class Group(ErrorsAsMessages, click.Group):
    """The ``mnist-keras`` group with the package's error handling."""


def show_tensorflow_logs(verbose: bool) -> None:
    """``--verbose``: let TensorFlow's start-up lines through (``extras.start_tensorflow`` reads the variable)."""
    if verbose:
        os.environ[TF_LOGS_VAR] = "1"


def model_argument(*, required: bool = True):
    """The positional MODEL of every command that uses a trained model."""
    return click.argument("model_path", metavar="MODEL" if required else "[MODEL]", required=required,
                          type=click.Path())  # fmt: skip


def output_option(help: str):
    """``--output``: where the command's results go (a folder)."""
    return click.option("--output", "output", type=click.Path(), default=None, help=help)


def seed_option(help: str):
    return click.option("--seed", type=int, default=DEFAULT_SEED, help=help)


def data_dir_option():
    return click.option("--data-dir", type=click.Path(file_okay=False), default=None, help=DATA_DIR_HELP)


def json_option(what: str):
    """``--json``: the result as JSON on stdout instead of text (``what`` says its shape)."""
    return click.option("--json", "as_json", is_flag=True, help=f"Print {what} as JSON instead of text.")


def quiet_option(help: str = "No progress lines; only the result."):
    return click.option("--quiet", is_flag=True, help=help)
