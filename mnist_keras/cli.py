"""The ``mnist-keras`` command line: a thin click layer over plain functions.

Each command parses options, calls one function, and prints. One grammar
(``options.py``): a trained model is the positional ``MODEL``, ``--model``
and ``--models`` name architectures, results go to ``--output``, and
``--seed``, ``--data-dir``, ``--json`` and ``--quiet`` mean the same
everywhere. Errors the user can fix (:class:`MnistKerasError`) become one
``Error: ...`` line and a non-zero exit code, never a traceback: 2 for a bad
option or input, 1 for a failure during the work, 3 for an export that
failed its accuracy check.

Fail fast: this module imports only TensorFlow-free modules, and every
function it calls checks its options, paths and data before it starts
TensorFlow (``extras.start_tensorflow``), so a bad input is answered at
once; ``models``, ``--help`` and ``.tflite`` commands never import it. A
command whose extra is not installed says which to install.

Defaults are not written here: options take them from the dataclasses,
registries and module constants that the functions use, and click shows
them in ``--help``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click

from . import __version__
from .app import DEFAULT_HOST, DEFAULT_PORT
from .compare import CompareConfig
from .distribute import STRATEGIES
from .edge import predict
from .errors import TrainingError
from .evaluate import SPLIT_CHOICES
from .export import DEFAULT_CALIBRATION_SAMPLES, DEFAULT_MAX_ACCURACY_DROP, DEFAULT_OUTPUT_DIR, VARIANTS
from .extras import require
from .models import ARCHITECTURES, RECIPE_FIELDS, Recipe
from .options import (
    CONTEXT_SETTINGS,
    Group,
    data_dir_option,
    json_option,
    model_argument,
    output_option,
    quiet_option,
    seed_option,
    show_tensorflow_logs,
)
from .predict import PREDICT_BATCH_SIZE, TTA_ROTATIONS_DEG
from .robustness import DEFAULT_PER_CONDITION
from .train import PUBLISH_CHOICES, FitConfig, verbosity

ARCH_DEFAULT = "Default: the architecture's own (see 'mnist-keras models')."
OPTION_FLAGS = {"augment": {"is_flag": False, "flag_value": "affine"}}  # a bare --augment means affine


@click.group(cls=Group, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="mnist-keras")
@click.option(
    "--verbose", "-v", is_flag=True, help="Show TensorFlow's start-up log lines (or set MNIST_KERAS_TF_LOGS=1)."
)
def cli(verbose: bool) -> None:
    """Train, evaluate, compare, export and run MNIST digit classifiers."""
    show_tensorflow_logs(verbose)


def emit(data, as_json: bool, text: str = "") -> None:
    """Print a command's result: ``data`` as JSON, or ``text``."""
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


def deprecated(old: str, new: str) -> None:
    click.echo(f"note: {old} is deprecated; use {new}", err=True)


# ------------------------------------------------------------------------ fit


def recipe_options(command):
    """One ``fit`` option per :class:`~mnist_keras.models.Recipe` field, help from the field, default None."""
    for spec in reversed(dataclasses.fields(Recipe)):
        choices = spec.metadata["choices"]
        kind = click.Choice(choices) if choices else type(spec.default)
        option = click.option("--" + spec.name.replace("_", "-"), spec.name, type=kind, default=None,
                              help=f"{spec.metadata['help']} {ARCH_DEFAULT}", **OPTION_FLAGS.get(spec.name, {}))  # fmt: skip
        command = option(command)
    return command


FIT = FitConfig()  # the defaults, read by the options below


@cli.command()
@click.option("--model", "model", default=FIT.model, help="Architecture name (see 'mnist-keras models').")
@recipe_options
@click.option("--no-augment", is_flag=True, help="Same as --augment none.")
@seed_option("Random seed for the split, initialisation, shuffling, augmentation.")
@click.option("--deterministic", is_flag=True, default=FIT.deterministic,
              help="Deterministic TensorFlow ops: the same options give the same weights (slower; docs/BENCHMARKS.md).")  # fmt: skip
@click.option("--limit", type=int, default=FIT.limit,
              help="Train on a stratified subset of N images (smoke runs). Default: all.")  # fmt: skip
@click.option("--validation-size", type=int, default=FIT.validation_size,
              help="Images held out of the 60k training set for validation.")  # fmt: skip
@data_dir_option()
@click.option("--output", "run_dir", type=click.Path(file_okay=False), default=FIT.run_dir,
              help="Run folder. Default: runs/<model>-<time>.")  # fmt: skip
@click.option("--run-dir", "run_dir_alias", type=click.Path(file_okay=False), default=None, hidden=True)
@click.option("--saved-models", "saved_models_dir", default=FIT.saved_models_dir,
              help="Where the kept model is published as <model>.keras (see --publish).")  # fmt: skip
@click.option("--publish", type=click.Choice(PUBLISH_CHOICES), default=FIT.publish,
              help="auto: publish a run on all the data if it is at least as good on validation accuracy as the "
                   "published model; always: replace it; never: keep the model in the run folder only.")  # fmt: skip
@click.option("--resume", is_flag=True, default=FIT.resume,
              help="Continue the interrupted run in --output from its last finished epoch.")  # fmt: skip
@click.option("--histograms", is_flag=True, default=FIT.histograms,
              help="Also log weight histograms to TensorBoard every epoch.")  # fmt: skip
@click.option("--no-eval", is_flag=True, help="Skip evaluating the kept model into <run>/eval/ after training.")
@click.option("--strategy", type=click.Choice(STRATEGIES), default=FIT.strategy,
              help="tf.distribute strategy: mirrored = all local GPUs; multi-worker = the cluster in $TF_CONFIG; "
                   "auto = mirrored when several GPUs are visible.")  # fmt: skip
@click.option("--mixed-precision", is_flag=True, default=FIT.mixed_precision,
              help="Compute in float16 (weights stay float32). Helps on GPUs with tensor cores; slows CPUs.")  # fmt: skip
@click.option("--jit-compile/--no-jit-compile", default=FIT.jit_compile,
              help="Compile the training step with XLA (measured per architecture in docs/BENCHMARKS.md).")  # fmt: skip
@quiet_option("No progress output; only the result.")
@json_option("the run's result (folder, kept epoch, publishing, test metrics)")
def fit(quiet: bool, as_json: bool, no_eval: bool, no_augment: bool, run_dir_alias: str | None, **options) -> None:
    """Train a model; the run folder gets model.keras, config.json, history.csv, TensorBoard logs and eval/."""
    from .pipeline import run

    require("train", "'mnist-keras fit'")
    overrides = {name: options.pop(name) for name in RECIPE_FIELDS}
    if no_augment:
        overrides["augment"] = "none"
    if run_dir_alias:
        deprecated("--run-dir", "--output")
        options["run_dir"] = options["run_dir"] or run_dir_alias
    result = run(FitConfig(overrides=overrides, verbose=0 if as_json else verbosity(quiet), **options),
                 evaluate=not no_eval)  # fmt: skip
    if result.run_dir is None:
        emit({"run_dir": None}, as_json, "worker finished; the chief wrote the run folder")
        return
    emit(fit_summary(result), as_json, fit_text(result))


def fit_summary(result) -> dict:
    kept, evaluation = result.kept, result.evaluation
    return {
        "run_dir": str(result.run_dir),
        "model": result.config.model,
        "recipe": dataclasses.asdict(result.config.recipe),
        "kept_epoch": int(kept["epoch"]) + 1 if kept else None,
        "kept_val_accuracy": float(kept["val_accuracy"]) if kept else None,
        "kept_val_loss": float(kept["val_loss"]) if kept else None,
        "published": result.published,
        "evaluation": evaluation and {"output_dir": evaluation["output_dir"], **evaluation["splits"]},
    }


def fit_text(result) -> str:
    lines = [f"run folder: {result.run_dir}"]
    kept = result.kept
    if kept:
        lines.append(f"kept epoch {int(kept['epoch']) + 1} ({result.config.recipe.keep}): "
                     f"val_accuracy {float(kept['val_accuracy']):.4f}, val_loss {float(kept['val_loss']):.4f}")  # fmt: skip
    if result.published:
        lines.append(result.published)
    if result.evaluation:
        test = result.evaluation["splits"]["test"]
        lines += [f"evaluation: {result.evaluation['output_dir']}",
                  f"test accuracy {test['accuracy']:.4f} ({test['errors']} errors of {test['n']:,})",
                  f"test macro F1 {test['macro_f1']:.4f}"]  # fmt: skip
    return "\n".join(lines)


# ------------------------------------------------------------------- evaluate


@cli.command()
@model_argument()
@click.option("--split", type=click.Choice(SPLIT_CHOICES), default="both",
              help="train: all 60,000 training images (the paper's Table 1); test: the 10,000 test images.")  # fmt: skip
@data_dir_option()
@output_option("Output folder. Default: <run>/eval/ for a run folder's model, else eval/<model file name>/.")
@click.option("--batch-size", type=int, default=PREDICT_BATCH_SIZE, help="Images per prediction step.")
@click.option("--tta", is_flag=True,
              help="Test-time augmentation: average each prediction with the image rotated "
                   f"±{TTA_ROTATIONS_DEG[-1]:g}° (3x the prediction time). Default folder: <run>/eval_tta/.")  # fmt: skip
@quiet_option("Only the summary line, not the classification reports.")
@json_option("the metrics.json summary")
def evaluate(model_path: str, split: str, output: str | None, quiet: bool, as_json: bool, **options) -> None:
    """Classification reports, confusion matrices and plots for MODEL (a .keras file or a run folder)."""
    from .evaluate import evaluate_model

    require("train", "'mnist-keras evaluate'")
    summary = evaluate_model(model_path, splits=split, output_dir=output, **options)
    folder = Path(summary["output_dir"])
    reports = [(folder / numbers["report"]).read_text(encoding="utf-8") for name, numbers in summary["splits"].items()
               if split in (name, "both")]  # fmt: skip
    done = f"reports, confusion matrices and plots in {folder}/ (summary: {folder / 'metrics.json'})"
    emit(summary, as_json, "\n".join([*([] if quiet else reports), done]))


# --------------------------------------------------------------------- models


@cli.command("models")
@json_option("every architecture with its parameters and recipe")
def list_models(as_json: bool) -> None:
    """List the registered architectures: parameters and the full training recipe (fit's defaults for each).

    Every recipe field is the 'fit' option of the same name (batch_size is --batch-size);
    learning_rate is Adam's peak rate, reached after the warm-up when warmup_fraction > 0.
    """
    entries = [{"name": a.name, "aliases": list(a.aliases), "params": a.params, "layers_of": a.layers_of,
                "description": a.description, "recipe": dataclasses.asdict(a.recipe)}
               for a in ARCHITECTURES.values()]  # fmt: skip
    emit(entries, as_json, "\n\n".join(model_text(entry) for entry in entries))


def model_text(entry: dict) -> str:
    also = [f"alias {', '.join(entry['aliases'])}"] if entry["aliases"] else []
    also += [f"{entry['layers_of']}'s layers"] if entry["layers_of"] else []
    head = f"{entry['name']}: {entry['params']:,} parameters" + (f" ({'; '.join(also)})" if also else "")
    recipe = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in entry["recipe"].items())
    return f"{head}\n  {entry['description']}\n  recipe: {recipe}"


# -------------------------------------------------------------------- compare

COMPARE = CompareConfig()  # the defaults, read by the options below


@cli.command()
@click.option("--models", "models", default=None,
              help="Comma-separated architectures, e.g. lamontagne,bn-cnn. Default: all.")  # fmt: skip
@click.option("--epochs", type=int, default=None, help=f"Maximum epochs for every model. {ARCH_DEFAULT}")
@click.option("--limit", type=int, default=COMPARE.fit.limit,
              help="Train on a stratified subset of N images (smoke runs). Default: all.")  # fmt: skip
@seed_option("Random seed shared by every model (split, initialisation, shuffling).")
@data_dir_option()
@output_option("Output folder. Default: runs/compare-<time>.")
@click.option("--saved-models", "saved_models_dir", default=COMPARE.fit.saved_models_dir,
              help="Where the best model is published as best.keras (see --publish).")  # fmt: skip
@click.option("--publish", type=click.Choice(PUBLISH_CHOICES), default=COMPARE.fit.publish,
              help="auto: publish the winner of a comparison on all the data if it is at least as good on "
                   "validation accuracy as the published best.keras; always: replace it; never: don't publish.")  # fmt: skip
@quiet_option("No training progress output; only the leaderboard.")
@json_option("the leaderboard rows")
def compare(models: str | None, epochs: int | None, output: str | None, quiet: bool, as_json: bool,
            **options) -> None:  # fmt: skip
    """Train several architectures the same way and rank them by validation accuracy."""
    from .compare import LEADERBOARD_MD
    from .compare import compare as run_compare

    require("train", "'mnist-keras compare'")
    shared = FitConfig(overrides={"epochs": epochs}, verbose=0 if as_json else verbosity(quiet), **options)
    result = run_compare(CompareConfig(models=models.split(",") if models else None, fit=shared, output=output))
    best = result.best
    lines = [
        (result.output / LEADERBOARD_MD).read_text().rstrip(),
        f"leaderboard: {result.output}/leaderboard.{{csv,md,png}}",
    ]
    if best is not None:
        lines.append(f"best by validation accuracy: {best['model']} (val {100 * best['val_accuracy']:.2f}%, "
                     f"test {100 * best['test_accuracy']:.2f}%)")  # fmt: skip
    lines += [result.published] if result.published else []
    emit({"output": str(result.output), "rows": result.rows, "published": result.published}, as_json, "\n".join(lines))
    if best is None:
        raise TrainingError(f"every architecture failed; see {result.output / 'leaderboard.csv'}")


# --------------------------------------------------------------------- export


@cli.command("export")
@model_argument()
@click.option("--quantize", "quantize", multiple=True, metavar="VARIANT",
              help=f"{', '.join(VARIANTS)}; repeat or comma-separate. Default: all of them.")  # fmt: skip
@click.option("--output", "output_dir", type=click.Path(), default=DEFAULT_OUTPUT_DIR,
              help="Folder for the .tflite files, their reports and the edge bundle.")  # fmt: skip
@click.option("--calibration-samples", type=int, default=DEFAULT_CALIBRATION_SAMPLES,
              help="Training images that calibrate the int8 variant.")  # fmt: skip
@click.option("--max-accuracy-drop", type=float, default=DEFAULT_MAX_ACCURACY_DROP,
              help="Largest allowed test-accuracy loss against Keras, in percentage points (exit code 3 beyond).")  # fmt: skip
@data_dir_option()
@click.option("--test-limit", type=int, default=None, hidden=True,
              help="Verify on the first N test images only (smoke runs).")  # fmt: skip
@quiet_option("Only the files written, not the table.")
@json_option("the export report")
def export_command(model_path: str, quantize: tuple[str, ...], quiet: bool, as_json: bool, **options) -> None:
    """Convert MODEL (a .keras file or run folder) to TFLite variants, verify each, and write the edge bundle."""
    from .errors import VerificationError
    from .export import export, format_table, parse_variants

    require("train", "'mnist-keras export'")
    result = export(model_path, variants=parse_variants(quantize), **options)
    report = result.report
    lines = [] if quiet else [format_table(report), f"Keras accuracy {100 * report['keras_accuracy']:.2f}% "
                                                    f"on {report['test_images']:,} test images"]  # fmt: skip
    emit({**report, "files": result.files}, as_json, "\n".join(lines + [f"wrote {path}" for path in result.files]))
    if result.failed:
        raise VerificationError(
            f"{', '.join(result.failed)} lost more than {options['max_accuracy_drop']} accuracy points "
            f"(files kept, marked FAILED in {result.output_dir / (result.name + '_report.md')})"
        )


cli.add_command(predict)


# ---------------------------------------------------------------------- serve


@cli.command()
@model_argument(required=False)
@click.option("--model", "model_alias", type=click.Path(), default=None, hidden=True)
@click.option("--host", default=DEFAULT_HOST, help="Address to listen on (0.0.0.0 opens it to your network).")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, help="Port to listen on.")
@click.option("--share", is_flag=True, help="Also open a temporary public gradio.live link (off by default).")
def serve(model_path: str | None, model_alias: str | None, host: str, port: int, share: bool) -> None:
    """Run the web page for MODEL: draw or upload a digit and see the model's top guesses.

    Without MODEL: the shipped model (tflite/robust_int8.tflite, then saved_models/robust.keras),
    else saved_models/best.keras, else the newest export or saved model in the current folder.
    """
    from .app import serve as run_serve

    if model_alias:
        deprecated("--model FILE", "a positional MODEL (mnist-keras serve FILE)")
    require("app", "'mnist-keras serve'")
    run_serve(model_path or model_alias, host=host, port=port, share=share)


# ----------------------------------------------------------------------- data


@cli.group()
def data() -> None:
    """Inspect the MNIST data."""


@data.command()
@data_dir_option()
@json_option("the source, per-file status and split sizes")
def verify(data_dir: str | None, as_json: bool) -> None:
    """Check the MNIST files against the known SHA-256 sums and print split sizes."""
    from .data import DataError
    from .data import verify as verify_files

    report = verify_files(data_dir)
    lines = [f"source: {report['source']}", *(f"  {name:<26} {status}" for name, status in report["files"].items())]
    lines += [
        f"  {split:<5} {n['images']:>6} images; per class {n['per_class']}" for split, n in report["splits"].items()
    ]
    emit(report, as_json, "\n".join(lines))
    if report["mismatches"]:
        raise DataError(f"{report['mismatches']} file(s) differ from the original MNIST; download them again")


# ----------------------------------------------------------------- robustness


@cli.command("robustness")
@model_argument()
@click.option("--per-condition", type=int, default=DEFAULT_PER_CONDITION,
              help="MNIST test digits per condition (the same digits for every condition).")  # fmt: skip
@seed_option("Picks the digits and drives every random corruption.")
@click.option("--conditions", "names", default=None,
              help="Comma-separated conditions, e.g. shot_noise,printed_heldout (clean is always run). Default: all.")  # fmt: skip
@data_dir_option()
@output_option(
    "Output folder. Default: <run>/robustness/ for a run folder's model, else robustness/<model file name>/."
)
@quiet_option("No progress lines, only the table.")
@json_option("the robustness.json summary")
def robustness_command(model_path: str, output: str | None, quiet: bool, as_json: bool, **options) -> None:
    """Accuracy of MODEL (.keras, run folder or .tflite) on MNIST-C corruptions, real-input shifts and printed fonts.

    Every image goes through the same preprocessing as 'mnist-keras predict', the page and the edge bundle.
    """
    from .robustness import format_table, run_robustness

    require("train", "'mnist-keras robustness'")  # SciPy for the corruptions, matplotlib for the fonts and plots
    summary = run_robustness(model_path, output_dir=output, progress=None if quiet or as_json else click.echo,
                             **options)  # fmt: skip
    done = (
        f"report: {summary['output_dir']}/robustness.{{json,txt,md,png}} and examples.png ({summary['seconds']:.0f} s)"
    )
    emit(summary, as_json, format_table(summary) + done)


# --------------------------------------------------------------------- bundle


@cli.command("bundle")
@click.option("--output", "output", type=click.Path(dir_okay=False), default=None,
              help="The file to write. Default: mnist_edge.pyz in the current folder.")  # fmt: skip
def bundle_command(output: str | None) -> None:
    """Write the edge bundle: one file to copy to a Raspberry Pi next to a .tflite model."""
    from .bundle import BUNDLE_NAME, write_bundle

    path = write_bundle(Path(output or BUNDLE_NAME))
    click.echo(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB): python3 {path.name} MODEL.tflite IMAGE...")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="mnist-keras")


if __name__ == "__main__":
    sys.exit(main())
