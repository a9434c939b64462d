"""``mnist-keras predict``, which is also the whole edge bundle: classify digit images with a model.

The same click command runs as ``mnist-keras predict`` and as the one-file
bundle a person copies to a Raspberry Pi (``mnist_edge.pyz``, built by
:mod:`mnist_keras.bundle`), so both take the same options with the same
defaults, print the same lines and exit with the same codes. Only
TensorFlow-free modules are imported here: on a Pi the bundle needs numpy,
Pillow and a LiteRT interpreter, nothing else.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .artifacts import CONFIG_FILENAME, MODEL_FILENAME
from .classify import DEFAULT_TOP_K, run
from .digits import NUM_CLASSES
from .errors import EXIT_BAD_INPUT
from .options import CONTEXT_SETTINGS, Command, json_option, quiet_option
from .predict import DEFAULT_MODEL_PATTERNS, default_model, load_predictor

MODEL_SUFFIXES = (".tflite", ".keras")
HELP = f"""Classify digit images (files or folders) with MODEL: a .tflite file, or with the 'train'
extra a .keras file or a run folder. Without MODEL: the shipped model, the first of
{", ".join(DEFAULT_MODEL_PATTERNS[:3])} in the current folder.

Images of any size, colour or polarity are made MNIST-style first. One line per image:
"path: digit (probability)  top-k: ...". Exit codes: 0 every image classified; {EXIT_BAD_INPUT} an
image could not be read (the others are still answered), or a bad model or option.
"""


def is_model(path: str) -> bool:
    """Whether a command-line path names a model (not an image or a folder of images)."""
    folder = Path(path)
    if folder.is_dir():
        return (folder / MODEL_FILENAME).exists() or (folder / CONFIG_FILENAME).exists()
    return folder.suffix.lower() in MODEL_SUFFIXES


def model_and_images(paths: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """Split ``[MODEL] IMAGE...``: the first path is the model when it names one, else the default model."""
    if is_model(paths[0]):
        if len(paths) == 1:
            raise click.UsageError(f"no images given after MODEL {paths[0]}; add image files or folders")
        return paths[0], paths[1:]
    return str(default_model()), paths


@click.command("predict", cls=Command, context_settings=CONTEXT_SETTINGS, help=HELP)
@click.argument("paths", metavar="[MODEL] IMAGE_OR_FOLDER...", nargs=-1, required=True, type=click.Path())
@click.option("--top-k", "top_k", type=click.IntRange(1, NUM_CLASSES), default=DEFAULT_TOP_K,
              help="How many of the most probable digits to list.")  # fmt: skip
@json_option("one object per image per line (path, digit, probability, top_k, or error)")
@quiet_option("No closing count of failed images; only the answers and the errors.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Interpreter threads for .tflite models. Default: the runtime's choice.")  # fmt: skip
@click.option("--benchmark", "benchmark_runs", type=click.IntRange(min=0), default=0,
              help="Also time N single-image predictions (0: no benchmark).")  # fmt: skip
def predict(paths: tuple[str, ...], top_k: int, as_json: bool, quiet: bool, threads: int | None,
            benchmark_runs: int) -> None:  # fmt: skip
    model_path, images = model_and_images(paths)
    predictor = load_predictor(model_path, num_threads=threads)
    code = run(images, predictor.predict_proba, k=top_k, json_lines=as_json, quiet=quiet,
               benchmark_runs=benchmark_runs)  # fmt: skip
    if code:
        sys.exit(code)


def main(prog_name: str = "mnist_edge.pyz") -> None:
    """The edge bundle's entry point."""
    predict.main(prog_name=prog_name)
