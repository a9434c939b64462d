"""The ``mnist-keras`` command line: a thin click layer over plain functions.

Each command parses options, calls one function, and prints. TensorFlow is
imported inside commands, never at module level, so ``mnist-keras --help``
is instant. Errors the user can fix (:class:`MnistKerasError`) become one
``Error: ...`` line and a non-zero exit code, never a traceback. Exit codes
follow click's convention (README, "Exit codes"): 2 for a bad option or
input the user can fix, 1 for a failure during the work, 3 for an export
that failed its accuracy check.

Defaults are not written here: options take them from the dataclasses and
module constants that the functions use (``FitConfig``, ``CompareConfig``,
``export``, ``evaluate``), and click shows them in ``--help``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import click

from . import __version__
from .app import DEFAULT_HOST, DEFAULT_PORT
from .compare import CompareConfig
from .data import AUGMENT_POLICIES
from .distribute import STRATEGIES
from .errors import MnistKerasError, TrainingError
from .evaluate import DEFAULT_BATCH_SIZE as DEFAULT_EVAL_BATCH_SIZE
from .evaluate import SPLIT_CHOICES, TTA_ROTATIONS_DEG
from .export import DEFAULT_CALIBRATION_SAMPLES, DEFAULT_MAX_ACCURACY_DROP, DEFAULT_OUTPUT_DIR, VARIANTS
from .robustness import DEFAULT_PER_CONDITION, DEFAULT_SEED
from .train import KEEP_CHOICES, LR_SCHEDULES, PUBLISH_CHOICES, FitConfig

DATA_DIR_HELP = "Folder with the four MNIST IDX files (.gz or not). Default: $MNIST_KERAS_DATA, else Keras' download."
ARCH_DEFAULT = "Default: the architecture's own (see 'mnist-keras models')."
TF_LOGS_VAR = "MNIST_KERAS_TF_LOGS"  # set to 1 to see TensorFlow's start-up log lines


class UserError(click.ClickException):
    """A ClickException carrying the exit code of the MnistKerasError behind it."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Group(click.Group):
    """click group that turns MnistKerasError into a clean one-line error."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MnistKerasError as err:
            raise UserError(str(err), err.exit_code) from None


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Point the process's C-level stderr (fd 2) at /dev/null for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _start_tensorflow() -> None:
    """Import TensorFlow without its C++ start-up lines, unless the user asked for them.

    TensorFlow 2.21 writes its absl/oneDNN/CUDA lines (and, on a machine
    without a GPU, an ``E0000 ... failed call to cuInit`` line) before
    ``TF_CPP_MIN_LOG_LEVEL`` takes effect, so only redirecting fd 2 while
    it is imported and probes its devices hides them. ``mnist-keras
    --verbose`` or ``MNIST_KERAS_TF_LOGS=1`` shows them.
    """
    if click.get_current_context().find_root().params.get("verbose") or os.environ.get(TF_LOGS_VAR):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _stderr_silenced():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe happens here, not at import


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="mnist-keras")
@click.option("--verbose", "-v", is_flag=True, help=f"Show TensorFlow's start-up log lines (or set {TF_LOGS_VAR}=1).")
def cli(verbose: bool) -> None:
    """Train, evaluate, compare and export MNIST digit classifiers."""


FIT = FitConfig()  # the defaults, read by the options below


@cli.command()
@click.option("--model", "model", default=FIT.model, help="Architecture name (see 'mnist-keras models').")
@click.option("--epochs", type=int, default=None, help=f"Maximum epochs. {ARCH_DEFAULT}")
@click.option("--batch-size", type=int, default=None,
              help=f"Global batch size (split across replicas and workers). {ARCH_DEFAULT}")  # fmt: skip
@click.option("--learning-rate", type=float, default=None,
              help=f"Initial Adam learning rate. {ARCH_DEFAULT}")  # fmt: skip
@click.option("--augment", type=click.Choice(AUGMENT_POLICIES), is_flag=False, flag_value="affine", default=None,
              help="Augmentation of training batches: affine = random shifts, rotations and zoom (a bare --augment); "
                   f"robust = affine and elastic warps, pen width, blur, low resolution, ink profile, noise. {ARCH_DEFAULT}")  # fmt: skip
@click.option("--no-augment", is_flag=True, help="Same as --augment none.")
@click.option("--lr-schedule", type=click.Choice(LR_SCHEDULES), default=None,
              help=f"plateau: halve the LR when validation loss stalls; cosine: decay over all epochs. {ARCH_DEFAULT}")  # fmt: skip
@click.option("--keep", type=click.Choice(KEEP_CHOICES), default=None,
              help=f"Weights saved as model.keras: best = lowest validation loss; last = the last epoch's. {ARCH_DEFAULT}")  # fmt: skip
@click.option("--ema-momentum", type=float, default=None,
              help="Validate and keep a moving average of the weights, updated with this momentum every step "
                   f"(Keras' use_ema); 0 = off. {ARCH_DEFAULT}")  # fmt: skip
@click.option(
    "--seed", type=int, default=FIT.seed, help="Random seed for splits, initialisation, shuffling, augmentation."
)
@click.option("--deterministic", is_flag=True, default=FIT.deterministic,
              help="Deterministic TensorFlow ops: the same options give the same weights (slower; docs/BENCHMARKS.md).")  # fmt: skip
@click.option("--limit", type=int, default=FIT.limit,
              help="Train on a stratified subset of N images (smoke runs). Default: all.")  # fmt: skip
@click.option("--validation-size", type=int, default=FIT.validation_size,
              help="Images held out of the 60k training set for validation.")  # fmt: skip
@click.option("--patience", type=int, default=None,
              help=f"Early-stopping patience in epochs (on validation loss). {ARCH_DEFAULT}")  # fmt: skip
@click.option("--data-dir", type=click.Path(file_okay=False), default=FIT.data_dir, help=DATA_DIR_HELP)
@click.option("--run-dir", type=click.Path(file_okay=False), default=FIT.run_dir,
              help="Run folder. Default: runs/<model>-<time>.")  # fmt: skip
@click.option("--saved-models", "saved_models_dir", default=FIT.saved_models_dir,
              help="Where the best model is published as <model>.keras (see --publish).")  # fmt: skip
@click.option("--publish", type=click.Choice(PUBLISH_CHOICES), default=FIT.publish,
              help="auto: publish a run on all the data if it is at least as good on validation accuracy as the "
                   "published model; always: replace it; never: keep the model in the run folder only.")  # fmt: skip
@click.option(
    "--resume",
    is_flag=True,
    default=FIT.resume,
    help="Continue the interrupted run in --run-dir from its last finished epoch.",
)
@click.option(
    "--histograms", is_flag=True, default=FIT.histograms, help="Also log weight histograms to TensorBoard every epoch."
)
@click.option("--no-eval", is_flag=True, help="Skip evaluating the best model into <run>/eval/ after training.")
@click.option("--strategy", type=click.Choice(STRATEGIES), default=FIT.strategy,
              help="tf.distribute strategy: mirrored = all local GPUs; multi-worker = the cluster in $TF_CONFIG; "
                   "auto = mirrored when several GPUs are visible.")  # fmt: skip
@click.option("--mixed-precision", is_flag=True, default=FIT.mixed_precision,
              help="Compute in float16 (weights stay float32). Helps on GPUs with tensor cores; slows CPUs.")  # fmt: skip
@click.option("--jit-compile/--no-jit-compile", default=FIT.jit_compile,
              help="Compile the training step with XLA (measured per architecture in docs/BENCHMARKS.md).")  # fmt: skip
@click.option("--quiet", is_flag=True, help="No progress output.")
def fit(quiet: bool, no_eval: bool, no_augment: bool, **options) -> None:
    """Train a model; the run folder gets model.keras, config.json, history.csv, TensorBoard logs and eval/."""
    if no_augment:
        options["augment"] = "none"
    _start_tensorflow()
    from .artifacts import kept_row, read_history
    from .train import fit as run_fit
    from .train import publish, saved_config, verbosity

    run_dir = run_fit(FitConfig(**options, verbose=verbosity(quiet)))
    if run_dir is None:
        click.echo("worker finished; the chief wrote the run folder")
        return
    config = saved_config(run_dir)
    kept = kept_row(read_history(run_dir), config.keep)
    click.echo(f"run folder: {run_dir}")
    if kept:
        click.echo(
            f"kept epoch {int(kept['epoch']) + 1} ({config.keep}): val_accuracy {float(kept['val_accuracy']):.4f}, "
            f"val_loss {float(kept['val_loss']):.4f}"
        )
    message = publish(config, run_dir)
    if message:
        click.echo(message)
    if not no_eval:
        from .evaluate import evaluate_model, run_settings

        summary = evaluate_model(run_dir, data_dir=run_settings(run_dir).get("data_dir"))
        test = summary["splits"]["test"]
        click.echo(f"evaluation: {summary['output_dir']}")
        click.echo(f"test accuracy {test['accuracy']:.4f} ({test['errors']} errors of {test['n']:,})")
        click.echo(f"test macro F1 {test['macro_f1']:.4f}")


@cli.command()
@click.argument("model", type=click.Path())
@click.option("--split", type=click.Choice(SPLIT_CHOICES), default="both",
              help="train: all 60,000 training images (the paper's Table 1); test: the 10,000 test images.")  # fmt: skip
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help=DATA_DIR_HELP)
@click.option("--output", "output_dir", type=click.Path(file_okay=False), default=None,
              help="Output folder. Default: <run>/eval/ for a run folder's model, else eval/<model file name>/.")  # fmt: skip
@click.option("--batch-size", type=int, default=DEFAULT_EVAL_BATCH_SIZE, help="Images per prediction step.")
@click.option("--tta", is_flag=True,
              help="Test-time augmentation: average each prediction with the image rotated "
                   f"±{TTA_ROTATIONS_DEG[-1]:g}° (3x the prediction time). Default folder: <run>/eval_tta/.")  # fmt: skip
def evaluate(model: str, split: str, **options) -> None:
    """Classification reports, confusion matrices and plots for MODEL (a .keras file or a run folder)."""
    _start_tensorflow()
    from pathlib import Path

    from .evaluate import evaluate_model

    summary = evaluate_model(model, splits=split, **options)
    output = Path(summary["output_dir"])
    for name, numbers in summary["splits"].items():
        if split in (name, "both"):
            click.echo((output / numbers["report"]).read_text(encoding="utf-8"))
    click.echo(f"reports, confusion matrices and plots in {output}/ (summary: {output / 'metrics.json'})")


@cli.command("models")
def list_models() -> None:
    """List the registered architectures: parameters and default training recipe."""
    _start_tensorflow()
    from .models import ARCHITECTURES

    click.echo(
        f"{'name':<18} {'params':>9}  {'epochs':>6} {'batch':>5} {'lr':>7} {'schedule':<8} {'augment':<7}  description"
    )
    for arch in ARCHITECTURES.values():
        aliases = f" (alias: {', '.join(arch.aliases)})" if arch.aliases else ""
        click.echo(
            f"{arch.name:<18} {arch.build().count_params():>9,}  {arch.epochs:>6} {arch.batch_size:>5} "
            f"{arch.learning_rate:>7g} {arch.lr_schedule:<8} {arch.augment:<7}  {arch.description}{aliases}"
        )


COMPARE = CompareConfig()  # the defaults, read by the options below


@cli.command()
@click.option("--models", "models", default=None,
              help="Comma-separated architectures, e.g. lamontagne,bn-cnn. Default: all.")  # fmt: skip
@click.option("--epochs", type=int, default=COMPARE.epochs,
              help="Maximum epochs for every model. Default: each architecture's own.")  # fmt: skip
@click.option("--limit", type=int, default=COMPARE.limit,
              help="Train on a stratified subset of N images (smoke runs). Default: all.")  # fmt: skip
@click.option("--seed", type=int, default=COMPARE.seed,
              help="Random seed shared by every model (split, initialisation, shuffling).")  # fmt: skip
@click.option("--data-dir", type=click.Path(file_okay=False), default=COMPARE.data_dir, help=DATA_DIR_HELP)
@click.option("--output", type=click.Path(file_okay=False), default=COMPARE.output,
              help="Output folder. Default: runs/compare-<time>.")  # fmt: skip
@click.option("--saved-models", "saved_models_dir", default=COMPARE.saved_models_dir,
              help="Where the best model is published as best.keras (see --publish).")  # fmt: skip
@click.option("--publish", type=click.Choice(PUBLISH_CHOICES), default=COMPARE.publish,
              help="auto: publish the winner of a comparison on all the data if it is at least as good on "
                   "validation accuracy as the published best.keras; always: replace it; never: don't publish.")  # fmt: skip
@click.option("--quiet", is_flag=True, help="No training progress output.")
def compare(models: str | None, quiet: bool, **options) -> None:
    """Train several architectures the same way and rank them by validation accuracy."""
    _start_tensorflow()
    from .compare import LEADERBOARD_MD
    from .compare import compare as run_compare
    from .train import verbosity

    names = models.split(",") if models else None
    result = run_compare(CompareConfig(models=names, verbose=verbosity(quiet), **options))
    click.echo((result.output / LEADERBOARD_MD).read_text(), nl=False)
    click.echo(f"leaderboard: {result.output}/leaderboard.{{csv,md,png}}")
    if result.best is None:
        raise TrainingError(f"every architecture failed; see {result.output / 'leaderboard.csv'}")
    best = result.best
    click.echo(
        f"best by validation accuracy: {best['model']} (val {100 * best['val_accuracy']:.2f}%, "
        f"test {100 * best['test_accuracy']:.2f}%)"
    )
    if result.published:
        click.echo(result.published)


@cli.command("export")
@click.argument("model_path", metavar="MODEL", type=click.Path())
@click.option("--quantize", "quantize", multiple=True, metavar="VARIANT",
              help=f"{', '.join(VARIANTS)}; repeat or comma-separate. Default: all of them.")  # fmt: skip
@click.option("--output", "output_dir", type=click.Path(), default=DEFAULT_OUTPUT_DIR,
              help="Folder for the .tflite files and reports.")  # fmt: skip
@click.option("--calibration-samples", type=int, default=DEFAULT_CALIBRATION_SAMPLES,
              help="Training images that calibrate the int8 variant.")  # fmt: skip
@click.option("--max-accuracy-drop", type=float, default=DEFAULT_MAX_ACCURACY_DROP,
              help="Largest allowed test-accuracy loss against Keras, in percentage points (exit code 3 beyond).")  # fmt: skip
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help=DATA_DIR_HELP)
@click.option("--test-limit", type=int, default=None, hidden=True,
              help="Verify on the first N test images only (smoke runs).")  # fmt: skip
def export_command(model_path: str, quantize: tuple[str, ...], **options) -> None:
    """Convert MODEL (a .keras file or run folder) to TFLite variants and verify each against it."""
    from .errors import VerificationError
    from .export import export, format_table, parse_variants

    variants = parse_variants(quantize)  # before loading TensorFlow: a typo fails at once
    _start_tensorflow()
    result = export(model_path, variants=variants, **options)
    click.echo(format_table(result.report))
    click.echo(
        f"Keras accuracy {100 * result.report['keras_accuracy']:.2f}% on {result.report['test_images']:,} test images"
    )
    for path in result.files:
        click.echo(f"wrote {path}")
    if result.failed:
        raise VerificationError(
            f"{', '.join(result.failed)} lost more than {options['max_accuracy_drop']} accuracy points "
            f"(files kept, marked FAILED in {result.output_dir / (result.name + '_report.md')})"
        )


@cli.command("predict")
@click.argument("model_path", metavar="MODEL", type=click.Path())
@click.argument("images", metavar="IMAGE_OR_FOLDER...", nargs=-1, required=True, type=click.Path())
@click.option(
    "--top-k", "top_k", type=click.IntRange(1, 10), default=3, help="How many of the most probable digits to list."
)
@click.option(
    "--json",
    "json_lines",
    is_flag=True,
    help="One JSON object per image per line (path, digit, probability, top_k, or error).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Interpreter threads for .tflite models. Default: the runtime's choice.",
)
@click.option(
    "--benchmark", "benchmark_runs", type=click.IntRange(min=0), default=0, help="Also time N single-image predictions."
)
def predict_command(
    model_path: str, images: tuple[str, ...], top_k: int, json_lines: bool, threads: int | None, benchmark_runs: int
) -> None:
    """Classify digit images (files or folders) with MODEL (.keras, run folder or .tflite).

    Images are made MNIST-style first (any size, colour or polarity). Same output
    as scripts/mnist_edge.py; exit code 2 if any image could not be classified (the others still are).
    """
    if not model_path.endswith(".tflite"):  # a .tflite model runs on LiteRT alone
        _start_tensorflow()
    from .classify import run
    from .predict import load_predictor

    predictor = load_predictor(model_path, num_threads=threads)
    code = run(images, predictor.predict_proba, k=top_k, json_lines=json_lines, benchmark_runs=benchmark_runs)
    if code:
        sys.exit(code)


@cli.command()
@click.option("--model", "model", type=click.Path(dir_okay=False), default=None,
              help="A .tflite or .keras model. Default: the robust model (tflite/robust_int8.tflite, "
                   "saved_models/robust.keras), else saved_models/best.keras, else the newest tflite/*int8.tflite, "
                   "else tflite/*float32.tflite, else the newest saved_models/*.keras.")  # fmt: skip
@click.option("--host", default=DEFAULT_HOST, help="Address to listen on (0.0.0.0 opens it to your network).")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, help="Port to listen on.")
@click.option("--share", is_flag=True, help="Also open a temporary public gradio.live link (off by default).")
def serve(model: str | None, host: str, port: int, share: bool) -> None:
    """Run the web page: draw or upload a digit and see the model's top 3 guesses."""
    from .app import default_model
    from .app import serve as run_serve

    model = model or str(default_model())
    if not model.endswith(".tflite"):  # a .tflite model runs on LiteRT alone
        _start_tensorflow()
    run_serve(model, host=host, port=port, share=share)


@cli.group()
def data() -> None:
    """Inspect the MNIST data."""


@data.command()
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help=DATA_DIR_HELP)
def verify(data_dir: str | None) -> None:
    """Check the MNIST files against the known SHA-256 sums and print split sizes."""
    from .data import SHA256, DataError, class_counts, load_mnist

    mnist = load_mnist(data_dir)
    click.echo(f"source: {mnist.source}")
    for name, digest in mnist.checksums.items():
        click.echo(f"  {name:<26} {'ok' if SHA256[name] == digest else 'MISMATCH ' + digest}")
    for split, labels in (("train", mnist.y_train), ("test", mnist.y_test)):
        click.echo(f"  {split:<5} {len(labels):>6} images; per class {class_counts(labels)}")
    if mnist.checksum_mismatches():
        raise DataError(
            f"{len(mnist.checksum_mismatches())} file(s) differ from the original MNIST; download them again"
        )


@cli.command("robustness")
@click.argument("model_path", metavar="MODEL", type=click.Path())
@click.option(
    "--per-condition",
    type=int,
    default=DEFAULT_PER_CONDITION,
    help="MNIST test digits per condition (the same digits for every condition).",
)
@click.option("--seed", type=int, default=DEFAULT_SEED, help="Picks the digits and drives every random corruption.")
@click.option(
    "--conditions",
    "names",
    default=None,
    help="Comma-separated conditions, e.g. shot_noise,printed_heldout (clean is always run). Default: all.",
)
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help=DATA_DIR_HELP)
@click.option(
    "--output",
    "output_dir",
    type=click.Path(),
    default=None,
    help="Output folder. Default: <run>/robustness/ for a run folder's model, else robustness/<model file name>/.",
)
@click.option("--quiet", is_flag=True, help="No progress lines, only the table.")
def robustness_command(model_path: str, quiet: bool, **options) -> None:
    """Accuracy of MODEL (.keras, run folder or .tflite) on MNIST-C corruptions, real-input shifts and printed fonts.

    Every image goes through the same preprocessing as 'mnist-keras predict', the page and the edge script.
    """
    if not model_path.endswith(".tflite"):  # a .tflite model runs on LiteRT alone
        _start_tensorflow()
    from .robustness import format_table, run_robustness

    summary = run_robustness(model_path, progress=None if quiet else click.echo, **options)
    click.echo(format_table(summary), nl=False)
    click.echo(
        f"report: {summary['output_dir']}/robustness.{{json,txt,md,png}} and examples.png ({summary['seconds']:.0f} s)"
    )


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="mnist-keras")


if __name__ == "__main__":
    sys.exit(main())
