#!/usr/bin/env python
"""Time-to-accuracy benchmark: training seconds until test accuracy first reaches 98.0, 99.0, 99.5, 99.6%.

Speed measured as DAWNBench does: how long until a model is that good. Each
run is one subprocess: the mnist-keras architectures train through the real
``train.fit`` (same callbacks, checkpoints and logs as ``mnist-keras fit``);
the reference is Keras' own "Simple MNIST convnet" as a plain script
(``scripts/keras_io_convnet.py``). A callback added to each run stops the
clock, measures test accuracy (after every epoch; every half epoch for
``fast``, whose whole recipe is one epoch) and restarts the clock, so
evaluation is never counted. A run stops once it reaches the highest
threshold or its epoch cap. Runs are interleaved (every model for seed 1,
then seed 2, ...), medians are over seeds, the load average is recorded
around every run, and each model is compared with the keras-io recipe.
Beside them, the whole ``mnist-keras fit --model fast --no-eval`` command is
timed as a user runs it.

    python scripts/benchmark_tta.py            # writes the "Time to accuracy" section of docs/BENCHMARKS.md
    python scripts/benchmark_tta.py --quick --output /tmp/b.md   # 2,000 images, one seed: checks it runs
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))  # benchmark_docs, also when imported by a test

from benchmark_docs import write_section  # noqa: E402 (after the sys.path lines)

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
SECTION = "time-to-accuracy"  # its markers in docs/BENCHMARKS.md


# ------------------------------------------------------------------ worker


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
                probabilities = self.model.predict(x_test, batch_size=2000, verbose=0)
            accuracy = float(np.mean(np.argmax(probabilities, axis=1) == y_test))
            self.points.append((round(self.train_seconds, 3), round(epochs, 3), accuracy))
            if accuracy >= stop_at:
                self.model.stop_training = True
            self.eval_seconds += time.perf_counter() - start
            self._start = time.perf_counter()

    return TimeToAccuracy()


def run_worker(args) -> dict:
    """Train one model for one seed in this process; the result the orchestrator records."""
    import numpy as np

    callback_options = {
        "evals_per_epoch": EVALS_PER_EPOCH.get(args.model, 1),
        "stop_at": max(THRESHOLDS),
        "max_epochs": args.max_epochs,
    }
    if args.model == KERAS_IO:
        sys.path.insert(0, str(REPO / "scripts"))
        import keras
        import keras_io_convnet as reference

        keras.utils.set_random_seed(args.seed)
        (x_train, y_train), (x_test, y_test) = reference.load_data(args.data_dir)
        if args.limit:
            x_train, y_train = x_train[: args.limit], y_train[: args.limit]
        x_train, y_train = reference.prepare(x_train, y_train)
        x_test, y_test = x_test[: args.test_limit], y_test[: args.test_limit]
        x_test_in, _ = reference.prepare(x_test, y_test)
        callback = time_to_accuracy_callback(x_test_in, y_test, **callback_options)
        reference.train(x_train, y_train, callbacks=[callback], verbose=0)
    else:
        from mnist_keras.data import load_mnist
        from mnist_keras.train import FitConfig, fit

        mnist = load_mnist(args.data_dir)
        x_test = mnist.x_test[: args.test_limit, ..., None].astype(np.float32)  # (N, 28, 28, 1), 0-255: models rescale
        callback = time_to_accuracy_callback(x_test, mnist.y_test[: args.test_limit], **callback_options)
        with tempfile.TemporaryDirectory(prefix="tta-") as scratch:
            sizes = {"validation_size": args.validation_size} if args.validation_size else {}
            config = FitConfig(model=args.model, seed=args.seed, limit=args.limit, data_dir=args.data_dir,
                               run_dir=str(Path(scratch) / "run"), publish=False, verbose=0, **sizes)  # fmt: skip
            fit(config, extra_callbacks=[callback])
    return {
        "points": callback.points,
        "eval_seconds": round(callback.eval_seconds, 3),
        "train_begin_unix": callback.train_begin_unix,
    }


# ------------------------------------------------------------ orchestrator


def load() -> list[float]:
    """The 1/5/15-minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def first_reached(points: list, threshold: float) -> float | None:
    """Training seconds at the first evaluation with test accuracy >= ``threshold``."""
    return next((seconds for seconds, _, accuracy in points if accuracy >= threshold), None)


def run_model(model: str, seed: int, size: dict, data_dir: str | None) -> dict:
    """One worker subprocess for ``model`` and ``seed``; its points plus process timings and load."""
    with tempfile.TemporaryDirectory(prefix="tta-result-") as scratch:
        out = Path(scratch) / "result.json"
        cmd = [sys.executable, __file__, "--worker", model, "--seed", str(seed), "--out", str(out)]
        cmd += ["--data-dir", data_dir] if data_dir else []
        cmd += ["--limit", str(size["limit"])] if size["limit"] else []
        cmd += ["--validation-size", str(size["validation_size"])] if size["validation_size"] else []
        cmd += ["--test-limit", str(size["test_limit"])] if size["test_limit"] else []
        cap = size["max_epochs"].get(model)
        cmd += ["--max-epochs", str(cap)] if cap else []
        before, start = load(), time.time()
        subprocess.run(cmd, check=True, cwd=REPO)
        process_seconds = time.time() - start
        result = json.loads(out.read_text())
    result |= {"model": model, "seed": seed, "load_before": before, "load_after": load(),
               "process_seconds": round(process_seconds, 2),
               "startup_seconds": round(result.pop("train_begin_unix") - start, 2)}  # fmt: skip
    return result


def run_fit_command(seed: int, size: dict, data_dir: str | None) -> dict:
    """Wall seconds of a whole ``mnist-keras fit --model fast --no-eval --quiet`` process, and their split.

    The process runs the click command in-process (:func:`timed_fit_command`)
    so it can report where the seconds went; the wall time is measured here,
    from before the interpreter starts to after it exits.
    """
    with tempfile.TemporaryDirectory(prefix="tta-fit-") as scratch:
        fit_args = ["fit", "--model", "fast", "--no-eval", "--quiet", "--seed", str(seed),
                    "--run-dir", f"{scratch}/run", "--saved-models", f"{scratch}/saved"]  # fmt: skip
        fit_args += ["--data-dir", data_dir] if data_dir else []
        fit_args += ["--limit", str(size["limit"])] if size["limit"] else []
        fit_args += ["--validation-size", str(size["validation_size"])] if size["validation_size"] else []
        out = Path(scratch) / "split.json"
        cmd = [sys.executable, __file__, "--time-fit", str(out), "--", *fit_args]
        before, start = load(), time.time()
        subprocess.run(cmd, check=True, cwd=scratch, stdout=subprocess.DEVNULL)
        seconds = time.time() - start
        split = json.loads(out.read_text())
    split["interpreter and exit"] = seconds - sum(split.values())
    return {"seed": seed, "seconds": round(seconds, 2), "load_before": before, "load_after": load(),
            "split": {name: round(value, 3) for name, value in split.items()}}  # fmt: skip


def timed_fit_command(fit_args: list[str]) -> dict[str, float]:
    """Run ``mnist-keras <fit_args>`` in this process; seconds per phase.

    Phases are timed by wrapping the functions ``train.fit`` calls, looked up
    by name (a renamed one is simply not split out, its time lands in
    "other"); the training code itself runs unchanged.
    """
    import collections
    import functools

    phases = collections.defaultdict(float)
    start = time.perf_counter()
    import keras
    import tensorflow  # noqa: F401 (imported by keras anyway: timed as part of "imports")

    from mnist_keras import cli, models, train

    phases["imports"] = time.perf_counter() - start

    def timed(function, phase):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            begin = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                phases[phase] += time.perf_counter() - begin

        return wrapper

    targets = [(train, "load_mnist", "data: read and verify"), (train, "make_splits", "data: split"),
               (train, "training_datasets", "data: tf.data pipelines"), (models, "build_model", "build and compile"),
               (train, "compile_for", "build and compile"), (train, "make_callbacks", "build and compile"),
               (train, "write_config", "saving"), (train, "publish", "saving"),
               (keras.Model, "fit", "train: model.fit (with validation and callbacks)")]  # fmt: skip
    for owner, name, phase in targets:
        if hasattr(owner, name):
            setattr(owner, name, timed(getattr(owner, name), phase))
    begin = time.perf_counter()
    cli.cli.main(fit_args, standalone_mode=False)
    phases["other"] = time.perf_counter() - begin - sum(v for k, v in phases.items() if k != "imports")
    return dict(phases)


def median_or_none(values: list[float | None]) -> float | None:
    """Median counting a miss as infinitely slow; None when most runs missed."""
    value = statistics.median(math.inf if v is None else v for v in values)
    return None if math.isinf(value) else value


def summarise(runs: list[dict], fit_runs: list[dict]) -> dict:
    """Per model and threshold: median seconds, runs that reached it, ratio to keras-io; plus whole processes."""
    summary = {}
    models = list(dict.fromkeys(run["model"] for run in runs))
    for model in models:
        mine = [run for run in runs if run["model"] == model]
        summary[model] = {
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
    reference = [run for run in runs if run["model"] == KERAS_IO]
    for model in models:
        for key, row in summary[model]["thresholds"].items():
            base = summary[KERAS_IO]["thresholds"][key]["median_seconds"] if reference else None
            row["speedup_vs_keras_io"] = (
                round(base / row["median_seconds"], 2) if base and row["median_seconds"] else None
            )
    if not (reference and fit_runs):
        return {"models": summary, "whole_process": {}}
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
    return {"models": summary, "whole_process": whole}


# ------------------------------------------------------------------ report


def seconds_text(value: float | None) -> str:
    if value is None:
        return "not reached"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def plot(report: dict, target: Path) -> None:
    """Test accuracy against training seconds, every run of every model (log time axis)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for index, model in enumerate(report["summary"]["models"]):
        color = f"C{index}"
        for n, run in enumerate(r for r in report["runs"] if r["model"] == model):
            seconds, _, accuracy = zip(*run["points"], strict=True)
            ax.plot(seconds, [100 * a for a in accuracy], "o-", color=color, ms=3, lw=1, alpha=0.8,
                    label=model if n == 0 else None)  # fmt: skip
    for threshold in THRESHOLDS:
        ax.axhline(100 * threshold, color="grey", lw=0.6, ls=":")
    ax.set(xscale="log", xlabel="training seconds (evaluation excluded)", ylabel="test accuracy (%)",
           ylim=(97.0, 100.0), title="Time to accuracy on MNIST (every seed)")  # fmt: skip
    ax.legend(loc="lower right")
    fig.savefig(target, dpi=110, bbox_inches="tight")
    plt.close(fig)


def markdown(report: dict, command: str, image: str) -> str:
    """The "Time to accuracy" section, from the same numbers as the JSON."""
    m, whole = report["machine"], report["summary"]["whole_process"]
    loads = [run["load_before"][0] for run in report["runs"]] + [run["load_after"][0] for run in report["runs"]]
    lines = [
        "## Time to accuracy",
        "",
        f"Measured by `{command}` ({report['started']} to {report['finished']} UTC; {m['cores']} cores, "
        f"{m['cpu']}, TensorFlow {m['tensorflow']}, Keras {m['keras']}). Load average (1 min) around the runs: "
        f"{min(loads):.2f} to {max(loads):.2f}.",
        "",
        f"Training seconds until **test** accuracy first reaches each threshold, median of "
        f"{len(report['size']['seeds'])} seed(s) (runs interleaved); test accuracy measured after every epoch "
        "(every half epoch for `fast`), evaluation time excluded. `keras-io` is Keras' Simple MNIST convnet "
        "as a plain script (`scripts/keras_io_convnet.py`); the others train through `mnist-keras fit` with "
        "their own defaults. A run stops at the highest threshold or at its epoch cap "
        f"({', '.join(f'{k} {v}' for k, v in report['size']['max_epochs'].items()) or 'none'}); "
        '"not reached" means within that cap; a run that misses a threshold counts as slowest, and [k/n runs] '
        "marks a threshold only some runs reached. (Nx) is the keras-io time divided by the model's."
        + (f" Only the first {report['size']['test_limit']:,} test images." if report["size"]["test_limit"] else ""),
        "",
        "| model | " + " | ".join(f"{100 * t:.1f}%" for t in THRESHOLDS) + " | last test acc | epochs | start-up |",
        "|---|" + "---:|" * (len(THRESHOLDS) + 3),
    ]
    for model, row in report["summary"]["models"].items():
        cells = []
        for t in THRESHOLDS:
            cell = row["thresholds"][f"{t:.3f}"]
            text = seconds_text(cell["median_seconds"])
            if cell["median_seconds"] is not None and model != KERAS_IO and cell["speedup_vs_keras_io"]:
                text += f" ({cell['speedup_vs_keras_io']:.1f}x)"
            if 0 < cell["reached"] < row["runs"]:
                text += f" [{cell['reached']}/{row['runs']} runs]"
            cells.append(text)
        lines.append(f"| {model} | " + " | ".join(cells) + f" | {100 * row['final_accuracy_median']:.2f}% | "
                     f"{row['epochs_median']:g} | {row['startup_seconds_median']:.1f} s |")  # fmt: skip
    lines += ["", "Start-up: process start until training begins (imports, data, model build).", ""]
    if whole:
        lines += [
            f"Whole process: `mnist-keras fit --model fast --no-eval --quiet` took "
            f"{whole['fast_fit_no_eval_seconds_median']:.1f} s (median); the keras-io script's whole process "
            f"{whole['keras_io_process_seconds_median']:.1f} s without the benchmark's test evaluations "
            f"({whole['speedup_whole_process']:.1f}x)"
            + (
                f", and {whole['keras_io_process_to_99_seconds_median']:.1f} s from process start to its first 99% "
                f"({whole['speedup_vs_keras_io_process_to_99']:.1f}x)."
                if whole.get("speedup_vs_keras_io_process_to_99")
                else "."
            ),
            "",
            "Where that command's seconds go (median per phase over its runs):",
            "",
            "| phase | seconds | share |",
            "|---|---:|---:|",
        ]
        split = whole["fit_split_median"]
        total = sum(split.values())
        lines += [f"| {phase} | {seconds:.2f} | {100 * seconds / total:.0f}% |" for phase, seconds in split.items()]
        lines.append("")
    lines += [
        f"![test accuracy against training seconds]({image})",
        "",
        "Per-run points (seconds, epochs, test accuracy) and load averages are in the JSON beside this file.",
    ]
    return "\n".join(lines) + "\n"


def machine() -> dict:
    """What the numbers were measured on (read without importing TensorFlow here)."""
    from importlib.metadata import version

    cpu = platform.processor()
    if Path("/proc/cpuinfo").exists():
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), cpu)  # fmt: skip
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "tensorflow": version("tensorflow"), "keras": version("keras")}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 training images, one seed, one epoch each.")
    parser.add_argument(
        "--data-dir", default=None, help="MNIST folder. Default: $MNIST_KERAS_DATA, else Keras' download."
    )
    parser.add_argument("--output", default=str(REPO / "docs" / "BENCHMARKS.md"),
                        help="Markdown report to update; tta.json and tta.png go beside it.")  # fmt: skip
    parser.add_argument("--models", default=",".join(MODELS), help="Comma-separated subset of the models.")
    parser.add_argument("--seeds", default=None, help="Comma-separated seeds. Default: 1,2,3 (--quick: 1).")
    parser.add_argument("--worker", metavar="MODEL", help=argparse.SUPPRESS)  # one run, in a subprocess
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)  # the worker's
    parser.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--max-epochs", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--validation-size", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--test-limit", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--time-fit", metavar="OUT", help=argparse.SUPPRESS)  # then: -- fit options
    parser.add_argument("fit_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.time_fit:
        Path(args.time_fit).write_text(json.dumps(timed_fit_command(args.fit_args)))
        return
    data_dir = args.data_dir or os.environ.get("MNIST_KERAS_DATA")
    if args.worker:
        args.model, args.data_dir = args.worker, data_dir
        Path(args.out).write_text(json.dumps(run_worker(args)))
        return

    size = QUICK if args.quick else FULL
    if args.seeds:
        size = {**size, "seeds": tuple(int(seed) for seed in args.seeds.split(","))}
    models = [name.strip() for name in args.models.split(",")]
    if unknown := set(models) - set(MODELS):
        parser.error(f"unknown models {sorted(unknown)}; choose from {', '.join(MODELS)}")
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    runs, fit_runs = [], []
    for seed in size["seeds"]:
        for model in models:
            runs.append(run_model(model, seed, size, data_dir))
            print(f"seed {seed} {model}: {runs[-1]['points'][-1]} load {runs[-1]['load_after']}", flush=True)
        if "fast" in models:
            fit_runs.append(run_fit_command(seed, size, data_dir))
            print(f"seed {seed} fit --model fast --no-eval: {fit_runs[-1]['seconds']} s", flush=True)
    command = "python " + " ".join(["scripts/benchmark_tta.py", *(argv if argv is not None else sys.argv[1:])])
    report = {"command": command, "started": started, "finished": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
              "machine": machine(), "size": {**size, "seeds": list(size["seeds"])}, "runs": runs,
              "fit_runs": fit_runs, "summary": summarise(runs, fit_runs)}  # fmt: skip
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_name("tta.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, output.with_name("tta.png"))
    write_section(output, SECTION, markdown(report, command, "tta.png"))
    print(json.dumps(report["summary"], indent=2))


if __name__ == "__main__":
    main()
