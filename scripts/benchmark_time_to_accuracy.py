#!/usr/bin/env python
"""Time-to-accuracy benchmark: training seconds until test accuracy first reaches 98.0, 99.0, 99.5, 99.6%.

Speed measured as DAWNBench does: how long until a model is that good. Each
run is one fresh process: the mnist-keras architectures train through the
real ``train.fit`` (same callbacks, checkpoints and logs as ``mnist-keras
fit``); the reference is Keras' own "Simple MNIST convnet" as a plain script
(``scripts/keras_io_convnet.py``). A callback added to each run stops the
clock, measures test accuracy (after every epoch; every half epoch for
``fast``, whose whole recipe is one epoch) and restarts the clock, so
evaluation is never counted. A run stops once it reaches the highest
threshold or its epoch cap. Runs are interleaved (every model for seed 1,
then seed 2, ...), medians are over seeds, the load average is recorded
around every run, and each model is compared with the keras-io recipe.
Beside them, the whole ``mnist-keras fit --model fast --no-eval`` command is
timed as a user runs it. (Not to be confused with test-time augmentation,
``evaluate --tta``.)

    python scripts/benchmark_time_to_accuracy.py    # docs/time_to_accuracy.{json,png}, its section of docs/BENCHMARKS.md
    python scripts/benchmark_time_to_accuracy.py --quick --output /tmp/b.md   # 1,000 images, one seed: checks it runs
"""

from __future__ import annotations

import collections
import functools
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness, also when a test imports this file
import harness  # noqa: E402 (after the sys.path line)

THRESHOLDS = (0.98, 0.99, 0.995, 0.996)
KERAS_IO = "keras-io"  # the plain-script reference recipe
MODELS = ("fast", "bn-cnn", "lamontagne", "keras-convnet", KERAS_IO)
EVALS_PER_EPOCH = {"fast": 2}  # default 1
# Epoch caps keep the full run near 45 minutes on 2 cores; the recipe itself
# (schedule length, early stopping) is untouched, the run is only cut short.
FULL = {"seeds": (1, 2, 3), "limit": None, "validation_size": None, "test_limit": None,
        "max_epochs": {"bn-cnn": 8, "lamontagne": 8}}  # fmt: skip
# --quick: small enough that start-up (one TensorFlow import per run) dominates.
QUICK = {"seeds": (1,), "limit": 1000, "validation_size": 500, "test_limit": 1000,
         "max_epochs": dict.fromkeys(MODELS, 1)}  # fmt: skip
PLOT = "time_to_accuracy.png"  # beside the JSON

# ------------------------------------------------------------- inside a run


def time_to_accuracy_callback(x_test, y_test, *, evals_per_epoch: int, stop_at: float, max_epochs: int | None):
    """A Keras callback that times training and measures test accuracy, evaluation excluded.

    ``points`` collects ``(train_seconds, epochs, test_accuracy)``; the clock
    runs from ``on_train_begin`` and pauses for every evaluation. A run that
    averages its weights (``ema_momentum``) is measured with the average. Training
    stops once accuracy reaches ``stop_at`` or after ``max_epochs``.
    """
    import keras
    import numpy as np

    from mnist_keras.callbacks import averaged_weights
    from mnist_keras.predict import predict_probabilities

    class TimeToAccuracy(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.points, self.eval_seconds, self.train_seconds = [], 0.0, 0.0
            self.train_begin_unix = time.time()
            self._epoch, self._start = 0, time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch
            steps = self.params.get("steps") or 0
            self._marks = (
                {round(steps * k / evals_per_epoch) - 1 for k in range(1, evals_per_epoch)} if steps else set()
            )

        def on_train_batch_end(self, batch, logs=None):
            if batch in self._marks:
                self._measure(self._epoch + (batch + 1) / self.params["steps"])

        def on_epoch_end(self, epoch, logs=None):
            self._measure(epoch + 1.0)
            if max_epochs is not None and epoch + 1 >= max_epochs:
                self.model.stop_training = True

        def _measure(self, epochs: float) -> None:
            self.train_seconds += time.perf_counter() - self._start
            start = time.perf_counter()
            with averaged_weights(self.model):  # the weights the run validates and keeps
                probabilities = predict_probabilities(self.model, x_test)
            accuracy = float(np.mean(np.argmax(probabilities, axis=1) == y_test))
            self.points.append((round(self.train_seconds, 3), round(epochs, 3), accuracy))
            if accuracy >= stop_at:
                self.model.stop_training = True
            self.eval_seconds += time.perf_counter() - start
            self._start = time.perf_counter()

    return TimeToAccuracy()


def test_images(mnist, test_limit: int | None):
    """The first ``test_limit`` test images ``(N, 28, 28, 1)`` float32 0-255 (the models rescale) and labels."""
    import numpy as np

    return mnist.x_test[:test_limit, ..., None].astype(np.float32), mnist.y_test[:test_limit]


def callback_result(callback) -> dict:
    """What a run reports of its :func:`time_to_accuracy_callback`."""
    return {"points": callback.points, "eval_seconds": round(callback.eval_seconds, 3),
            "train_begin_unix": callback.train_begin_unix}  # fmt: skip


def train_keras_io(
    callback_options: dict, seed: int, data_dir: str | None, limit: int | None, test_limit: int | None
) -> dict:
    """Keras' example, as its script trains it, observed by the callback."""
    import keras
    import keras_io_convnet as reference

    keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = reference.load_data(data_dir)
    x_train, y_train = reference.prepare(x_train[:limit], y_train[:limit])
    x_test, y_test = x_test[:test_limit], y_test[:test_limit]
    callback = time_to_accuracy_callback(reference.prepare(x_test, y_test)[0], y_test, **callback_options)
    reference.train(x_train, y_train, callbacks=[callback], verbose=0)
    return callback_result(callback)


def train_model(model: str, seed: int, data_dir: str | None, limit: int | None, validation_size: int | None,
                test_limit: int | None, max_epochs: int | None) -> dict:  # fmt: skip
    """In a fresh process: train one model for one seed; its points and when training began."""
    options = {"evals_per_epoch": EVALS_PER_EPOCH.get(model, 1), "stop_at": max(THRESHOLDS), "max_epochs": max_epochs}
    if model == KERAS_IO:
        return train_keras_io(options, seed, data_dir, limit, test_limit)
    from mnist_keras.data import load_mnist
    from mnist_keras.train import FitConfig, fit

    callback = time_to_accuracy_callback(*test_images(load_mnist(data_dir), test_limit), **options)
    with tempfile.TemporaryDirectory(prefix="time-to-accuracy-") as scratch:
        sizes = {"validation_size": validation_size} if validation_size else {}
        fit(FitConfig(model=model, seed=seed, limit=limit, data_dir=data_dir, run_dir=str(Path(scratch) / "run"),
                      publish="never", verbose=0, **sizes), extra_callbacks=[callback])  # fmt: skip
    return callback_result(callback)


PHASES = (("mnist_keras.train", "load_mnist", "data: read and verify"), ("mnist_keras.train", "make_splits", "data: split"),
          ("mnist_keras.train", "training_datasets", "data: tf.data pipelines"),
          ("mnist_keras.models", "Architecture.build", "build and compile"), ("mnist_keras.train", "compile_for", "build and compile"),
          ("mnist_keras.callbacks", "make_callbacks", "build and compile"), ("mnist_keras.train", "write_config", "saving"),
          ("mnist_keras.pipeline", "publish", "saving"), ("keras", "Model.fit", "train: model.fit (with validation and callbacks)"))  # fmt: skip


def timed_phases(phases: dict[str, float]) -> None:
    """Wrap each function of :data:`PHASES` to add its seconds to ``phases[phase]`` (a missing one is skipped)."""
    import importlib

    for module, name, phase in PHASES:
        *owners, attribute = name.split(".")
        owner = functools.reduce(getattr, owners, importlib.import_module(module))
        if hasattr(owner, attribute):
            setattr(owner, attribute, harness.timed_into(getattr(owner, attribute), phases, phase))


def timed_fit_command(fit_args: list[str]) -> dict[str, float]:
    """In a fresh process: run ``mnist-keras <fit_args>`` here; seconds per phase.

    Phases are timed by wrapping the functions ``fit`` calls, looked up by
    name (a renamed one is simply not split out, its time lands in "other");
    the training code itself runs unchanged.
    """
    phases = collections.defaultdict(float)
    start = time.perf_counter()
    import keras  # noqa: F401
    import tensorflow  # noqa: F401 (imported by keras anyway: timed as part of "imports")

    from mnist_keras import cli

    phases["imports"] = time.perf_counter() - start
    timed_phases(phases)
    begin = time.perf_counter()
    cli.cli.main(fit_args, standalone_mode=False)
    phases["other"] = time.perf_counter() - begin - sum(v for k, v in phases.items() if k != "imports")
    return dict(phases)


# ------------------------------------------------------------ the benchmark


def first_reached(points: list, threshold: float) -> float | None:
    """Training seconds at the first evaluation with test accuracy >= ``threshold``."""
    return next((seconds for seconds, _, accuracy in points if accuracy >= threshold), None)


def run_model(model: str, seed: int, size: dict, data_dir: str | None) -> dict:
    """One fresh process for ``model`` and ``seed``: its points plus process timings and the load around it."""
    before = harness.load()
    result, usage = harness.call_in_subprocess(
        train_model, model=model, seed=seed, data_dir=data_dir, limit=size["limit"],
        validation_size=size["validation_size"], test_limit=size["test_limit"], max_epochs=size["max_epochs"].get(model),
    )  # fmt: skip
    return result | {"model": model, "seed": seed, "load_before": before, "load_after": harness.load(),
                     "process_seconds": round(usage["seconds"], 2),
                     "startup_seconds": round(result.pop("train_begin_unix") - usage["started_unix"], 2)}  # fmt: skip


def run_fit_command(seed: int, size: dict, data_dir: str | None) -> dict:
    """Wall seconds of a whole ``mnist-keras fit --model fast --no-eval --quiet`` process, and their split.

    The process runs the click command in-process (:func:`timed_fit_command`)
    so it can report where the seconds went; the wall time is measured
    around it, from before the interpreter starts to after it exits.
    """
    before = harness.load()
    with tempfile.TemporaryDirectory(prefix="time-to-accuracy-fit-") as scratch:
        fit_args = ["fit", "--model", "fast", "--no-eval", "--quiet", "--seed", str(seed),
                    "--output", f"{scratch}/run", "--saved-models", f"{scratch}/saved"]  # fmt: skip
        for option, value in (
            ("--data-dir", data_dir),
            ("--limit", size["limit"]),
            ("--validation-size", size["validation_size"]),
        ):
            fit_args += [option, str(value)] if value else []
        split, usage = harness.call_in_subprocess(timed_fit_command, fit_args=fit_args)
    split["interpreter and exit"] = usage["seconds"] - sum(split.values())
    return {"seed": seed, "seconds": round(usage["seconds"], 2), "load_before": before, "load_after": harness.load(),
            "split": {name: round(value, 3) for name, value in split.items()}}  # fmt: skip


def median_or_none(values: list[float | None]) -> float | None:
    """Median counting a miss as infinitely slow; None when most runs missed."""
    value = statistics.median(math.inf if v is None else v for v in values)
    return None if math.isinf(value) else value


def summarise_model(mine: list[dict]) -> dict:
    """Medians over one model's runs: final accuracy, epochs, training and start-up seconds, each threshold."""
    return {
        "runs": len(mine),
        "final_accuracy_median": statistics.median(run["points"][-1][2] for run in mine),
        "epochs_median": statistics.median(run["points"][-1][1] for run in mine),
        "train_seconds_median": statistics.median(run["points"][-1][0] for run in mine),
        "startup_seconds_median": statistics.median(run["startup_seconds"] for run in mine),
        "thresholds": {
            f"{t:.3f}": {
                "median_seconds": median_or_none([first_reached(run["points"], t) for run in mine]),
                "reached": sum(first_reached(run["points"], t) is not None for run in mine),
            }
            for t in THRESHOLDS
        },
    }


def summarise_whole_process(reference: list[dict], fit_runs: list[dict]) -> dict:
    """The whole ``fit --model fast`` command against the whole keras-io script, and where fit's seconds go."""
    to_99 = [first_reached(run["points"], 0.99) for run in reference]
    whole = {
        "fast_fit_no_eval_seconds_median": statistics.median(run["seconds"] for run in fit_runs),
        # The plain script as published runs all its epochs; our callback's evaluations are not its own.
        "keras_io_process_seconds_median": statistics.median(r["process_seconds"] - r["eval_seconds"] for r in reference),
        "keras_io_process_to_99_seconds_median": median_or_none(
            [None if t is None else run["startup_seconds"] + t for run, t in zip(reference, to_99, strict=True)]
        ),
    }  # fmt: skip
    phases = list(dict.fromkeys(phase for run in fit_runs for phase in run["split"]))
    whole["fit_split_median"] = {
        phase: statistics.median(run["split"].get(phase, 0.0) for run in fit_runs) for phase in phases
    }
    fast = whole["fast_fit_no_eval_seconds_median"]
    whole["speedup_whole_process"] = round(whole["keras_io_process_seconds_median"] / fast, 2)
    if whole["keras_io_process_to_99_seconds_median"]:
        whole["speedup_vs_keras_io_process_to_99"] = round(whole["keras_io_process_to_99_seconds_median"] / fast, 2)
    return whole


def summarise(runs: list[dict], fit_runs: list[dict]) -> dict:
    """Per model and threshold: median seconds, runs that reached it, ratio to keras-io; plus whole processes."""
    models = list(dict.fromkeys(run["model"] for run in runs))
    summary = {model: summarise_model([run for run in runs if run["model"] == model]) for model in models}
    reference = [run for run in runs if run["model"] == KERAS_IO]
    for model in models:
        for key, row in summary[model]["thresholds"].items():
            base = summary[KERAS_IO]["thresholds"][key]["median_seconds"] if reference else None
            row["speedup_vs_keras_io"] = (
                round(base / row["median_seconds"], 2) if base and row["median_seconds"] else None
            )
    whole = summarise_whole_process(reference, fit_runs) if reference and fit_runs else {}
    return {"models": summary, "whole_process": whole}


def measure(models: list[str], size: dict, data_dir: str | None) -> tuple[list[dict], list[dict]]:
    """Interleaved: every model for seed 1 and the whole fit command, then seed 2, ...; the runs and fit runs."""
    runs, fit_runs = [], []
    for seed in size["seeds"]:
        for model in models:
            runs.append(run_model(model, seed, size, data_dir))
            print(f"seed {seed} {model}: {runs[-1]['points'][-1]} load {runs[-1]['load_after']}", flush=True)
        if "fast" in models:
            fit_runs.append(run_fit_command(seed, size, data_dir))
            print(f"seed {seed} fit --model fast --no-eval: {fit_runs[-1]['seconds']} s", flush=True)
    return runs, fit_runs


# ------------------------------------------------------------------- report


def plot(report: dict, target: Path) -> None:
    """Test accuracy against training seconds, every run of every model (log time axis)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for index, model in enumerate(report["summary"]["models"]):
        for n, run in enumerate(r for r in report["runs"] if r["model"] == model):
            seconds, _, accuracy = zip(*run["points"], strict=True)
            ax.plot(seconds, [100 * a for a in accuracy], "o-", color=f"C{index}", ms=3, lw=1, alpha=0.8,
                    label=model if n == 0 else None)  # fmt: skip
    for threshold in THRESHOLDS:
        ax.axhline(100 * threshold, color="grey", lw=0.6, ls=":")
    ax.set(xscale="log", xlabel="training seconds (evaluation excluded)", ylabel="test accuracy (%)",
           ylim=(97.0, 100.0), title="Time to accuracy on MNIST (every seed)")  # fmt: skip
    ax.legend(loc="lower right")
    fig.savefig(target, dpi=110, bbox_inches="tight")
    plt.close(fig)


def threshold_cell(model: str, row: dict, threshold: float, *, ratio: bool = True) -> str:
    """``6.6 s (28.9x) [2/3 runs]``: the median time to ``threshold``, its ratio to keras-io, partial reach."""
    cell = row["thresholds"][f"{threshold:.3f}"]
    text = harness.seconds_text(cell["median_seconds"])
    if ratio and cell["median_seconds"] is not None and model != KERAS_IO and cell["speedup_vs_keras_io"]:
        text += f" ({cell['speedup_vs_keras_io']:.1f}x)"
    if 0 < cell["reached"] < row["runs"]:
        text += f" [{cell['reached']}/{row['runs']} runs]"
    return text


def render_whole_process(whole: dict) -> list[str]:
    if not whole:
        return []
    to_99 = whole.get("speedup_vs_keras_io_process_to_99")
    split = whole["fit_split_median"]
    total = sum(split.values())
    return [
        f"Whole process: `mnist-keras fit --model fast --no-eval --quiet` took {whole['fast_fit_no_eval_seconds_median']:.1f} s "
        f"(median); the keras-io script's whole process {whole['keras_io_process_seconds_median']:.1f} s without the "
        f"benchmark's test evaluations ({whole['speedup_whole_process']:.1f}x)"
        + (f", and {whole['keras_io_process_to_99_seconds_median']:.1f} s from process start to its first 99% ({to_99:.1f}x)."
           if to_99 else "."),
        "Where that command's seconds go (median per phase over its runs):",
        harness.table(["phase", "seconds", "share"],
                      [[phase, f"{seconds:.2f}", f"{100 * seconds / total:.0f}%"] for phase, seconds in split.items()],
                      align="lrr"),
    ]  # fmt: skip


def method_text(report: dict) -> str:
    size = report["size"]
    caps = ", ".join(f"{k} {v}" for k, v in size["max_epochs"].items()) or "none"
    return (
        f"Training seconds until **test** accuracy first reaches each threshold, median of {len(size['seeds'])} seed(s) "
        "(runs interleaved); test accuracy measured after every epoch (every half epoch for `fast`), evaluation time "
        "excluded. `keras-io` is Keras' Simple MNIST convnet as a plain script (`scripts/keras_io_convnet.py`); the "
        f"others train through `mnist-keras fit` with their own recipes. A run stops at the highest threshold or at its "
        f'epoch cap ({caps}); "not reached" means within that cap; a run that misses a threshold counts as slowest, '
        "and [k/n runs] marks a threshold only some runs reached. (Nx) is the keras-io time divided by the model's."
        + (f" Only the first {size['test_limit']:,} test images." if size["test_limit"] else "")
    )


def render(report: dict) -> str:
    """The "Time to accuracy" section of docs/BENCHMARKS.md, from time_to_accuracy.json."""
    rows = [[model, *(threshold_cell(model, row, t) for t in THRESHOLDS), f"{100 * row['final_accuracy_median']:.2f}%",
             f"{row['epochs_median']:g}", f"{row['startup_seconds_median']:.1f} s"]
            for model, row in report["summary"]["models"].items()]  # fmt: skip
    parts = [
        "## Time to accuracy",
        harness.provenance(report),
        method_text(report),
        harness.table(["model", *(f"{100 * t:.1f}%" for t in THRESHOLDS), "last test acc", "epochs", "start-up"], rows,
                      align="l" + "r" * (len(THRESHOLDS) + 3)),
        "Start-up: process start until training begins (imports, data, model build).",
        *render_whole_process(report["summary"]["whole_process"]),
        f"![test accuracy against training seconds]({PLOT})",
        "Per-run points (seconds, epochs, test accuracy) and load averages are in `time_to_accuracy.json` beside this file.",
    ]  # fmt: skip
    return "\n\n".join(parts) + "\n"


def render_summary(report: dict) -> str:
    """A short table for the other pages of docs/ (docs/models.md): time to 98/99/99.5% and last accuracy per model.

    Its link is relative to docs/, so the block belongs in a page there.
    """
    shown = THRESHOLDS[:3]
    rows = [[f"`{model}`", *(threshold_cell(model, row, t) for t in shown), f"{100 * row['final_accuracy_median']:.2f}%"]
            for model, row in report["summary"]["models"].items()]  # fmt: skip
    seeds = ", ".join(map(str, report["size"]["seeds"]))
    before = report["load"]["before"][0]
    return "\n\n".join([
        f"Measured by `{report['command']}` ({report['date']}; load average {before:.2f} before). "
        f"{harness.load_note(before)} Medians of seeds {seeds}; (Nx) is the "
        "Keras example's time divided by the model's; details in [BENCHMARKS.md](BENCHMARKS.md#time-to-accuracy):",
        harness.table(["model", *(f"{100 * t:g}%" for t in shown), "last test accuracy"], rows, align="lrrrr"),
    ]) + "\n"  # fmt: skip


BLOCKS = (
    harness.Block("time-to-accuracy", "time_to_accuracy.json", render, "## Time to accuracy", __file__),
    harness.Block("time-to-accuracy-summary", "time_to_accuracy.json", render_summary, "", __file__),
)


def main(argv: list[str] | None = None) -> None:
    parser = harness.parser(
        __doc__, quick="1,000 training images, one seed, one epoch each", source=f"{BLOCKS[0].source} and {PLOT}"
    )
    parser.add_argument("--models", default=",".join(MODELS), help="Comma-separated subset of the models.")
    parser.add_argument("--seeds", default=None, help="Comma-separated seeds. Default: 1,2,3 (--quick: 1).")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    if args.seeds:
        size = {**size, "seeds": tuple(int(seed) for seed in args.seeds.split(","))}
    models = [name.strip() for name in args.models.split(",")]
    if unknown := set(models) - set(MODELS):
        parser.error(f"unknown models {sorted(unknown)}; choose from {', '.join(MODELS)}")
    report = harness.start(__file__, argv, "tensorflow", "keras") | {"size": {**size, "seeds": list(size["seeds"])}}
    data_dir = args.data_dir or os.environ.get("MNIST_KERAS_DATA")  # the keras-io script reads no variable
    report["runs"], report["fit_runs"] = measure(models, size, data_dir)
    report["summary"] = summarise(report["runs"], report["fit_runs"])
    harness.finish(report)
    print(harness.publish(report, BLOCKS, args.output))
    plot(report, Path(args.output).with_name(PLOT))


if __name__ == "__main__":
    main()
