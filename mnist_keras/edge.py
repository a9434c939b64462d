"""``mnist-keras predict``, which is also the whole edge bundle: classify digit images with a model.

The same click command runs as ``mnist-keras predict`` and as the one-file
bundle a person copies to a Raspberry Pi (``mnist_edge.pyz``, built by
:mod:`mnist_keras.bundle`), so both take the same options with the same
defaults, print the same lines and exit with the same codes: one digit per
image, the whole number with ``--number`` (``reader.py``), or the readings of
a camera with ``--watch`` (``watch.py``). Only TensorFlow-free modules are
imported here: on a Pi the bundle needs numpy, Pillow and a LiteRT
interpreter, nothing else.
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
from .preprocess import ImageError, to_mnist
from .reader import read_number
from .watch import DEFAULT_STABLE_FRAMES, PICAMERA, is_source, watch

MODEL_SUFFIXES = (".tflite", ".keras")
HELP = f"""Classify digit images (files or folders) with MODEL: a .tflite file, or with the 'train'
extra a .keras file or a run folder. Without MODEL: the shipped model, the first of
{", ".join(DEFAULT_MODEL_PATTERNS[:3])} in the current folder.

Images of any size, colour or polarity are made MNIST-style first. One line per image:
"path: digit (probability)  top-k: ...". With --number, the whole number in each image:
"path: 2026  [2 99.8%, 0 99.1%, ...]", a digit the model is unsure of shown as "?" with its
candidates. With --watch, frames from a camera, a video or a folder instead of images.
Exit codes: 0 every image classified; {EXIT_BAD_INPUT} an image could not be read (the others
are still answered), or a bad model or option.
"""


def is_model(path: str) -> bool:
    """Whether a command-line path names a model (not an image or a folder of images)."""
    folder = Path(path)
    if folder.is_dir():
        return (folder / MODEL_FILENAME).exists() or (folder / CONFIG_FILENAME).exists()
    return folder.suffix.lower() in MODEL_SUFFIXES


def model_and_images(paths: tuple[str, ...], *, images_needed: bool = True) -> tuple[str, tuple[str, ...]]:
    """Split ``[MODEL] IMAGE...``: the first path is the model when it names one, else the default model."""
    if paths and is_model(paths[0]):
        model, images = paths[0], paths[1:]
    else:
        model, images = str(default_model()), paths
    if images_needed and not images:
        raise click.UsageError("no images given; add image files or folders (or --watch SOURCE)")
    if not images_needed and images:
        raise click.UsageError(f"--watch reads its frames from SOURCE; drop the images ({images[0]}, ...)")
    return model, images


def frame_reader(predict_proba, *, number: bool):
    """A frame -> its reading for watch mode: the number, or the one digit; "" when nothing is readable."""

    def read(frame) -> str:
        try:
            if number:
                return read_number(frame, predict_proba, name="frame").text.replace("\n", " / ")
            return str(int(predict_proba(to_mnist(frame, name="frame")[None, ..., None])[0].argmax()))
        except ImageError:
            return ""

    return read


@click.command("predict", cls=Command, context_settings=CONTEXT_SETTINGS, help=HELP)
@click.argument("paths", metavar="[MODEL] IMAGE_OR_FOLDER...", nargs=-1, type=click.Path())
@click.option("--top-k", "top_k", type=click.IntRange(1, NUM_CLASSES), default=DEFAULT_TOP_K,
              help="How many of the most probable digits to list.")  # fmt: skip
@click.option("--number", is_flag=True,
              help="Read the whole number in each image (several digits, several lines), not one digit.")  # fmt: skip
@click.option("--annotate", "annotate_dir", type=click.Path(file_okay=False), default=None,
              help="With --number: write each image with its digits' boxes drawn to this folder (NAME.read.png).")  # fmt: skip
@click.option("--watch", "source", default=None, metavar="SOURCE",
              help=f"Read frames continuously from '{PICAMERA}' (the Raspberry Pi camera), a camera number (0), "
                   "a video file or a folder of images; print a reading when it changes and holds.")  # fmt: skip
@click.option("--stable", type=click.IntRange(min=1), default=DEFAULT_STABLE_FRAMES,
              help="With --watch: frames a reading must hold before it is printed.")  # fmt: skip
@json_option("one object per image per line (path, digit, probability, top_k, or error)")
@quiet_option("No closing count of failed images, no warnings; only the answers and the errors.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Interpreter threads for .tflite models. Default: the runtime's choice.")  # fmt: skip
@click.option("--benchmark", "benchmark_runs", type=click.IntRange(min=0), default=0,
              help="Also time N single-image predictions (with --number: N readings of the first image; 0: none).")  # fmt: skip
def predict(paths: tuple[str, ...], top_k: int, number: bool, annotate_dir: str | None, source: str | None,
            stable: int, as_json: bool, quiet: bool, threads: int | None, benchmark_runs: int) -> None:  # fmt: skip
    if annotate_dir and not number:
        raise click.UsageError("--annotate draws a number's boxes: add --number")
    if source is not None and not is_source(source):
        raise click.BadParameter(f"{source}: no such folder, video file or camera", param_hint="--watch")
    model_path, images = model_and_images(paths, images_needed=source is None)
    predictor = load_predictor(model_path, num_threads=threads)
    if source is not None:
        watch(source, frame_reader(predictor.predict_proba, number=number), stable=stable, json_lines=as_json)
        return
    code = run(images, predictor.predict_proba, k=top_k, json_lines=as_json, quiet=quiet, number=number,
               annotate_dir=annotate_dir, benchmark_runs=benchmark_runs)  # fmt: skip
    if code:
        sys.exit(code)


def main(prog_name: str = "mnist_edge.pyz") -> None:
    """The edge bundle's entry point."""
    predict.main(prog_name=prog_name)
