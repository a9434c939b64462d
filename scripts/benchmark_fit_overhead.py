#!/usr/bin/env python
"""What ``mnist-keras fit`` costs per epoch over a plain ``model.fit`` of the same model on the same data.

Two variants, each in a fresh process, interleaved (plain, fit, plain, fit, ...):

- plain: the architecture compiled with the same optimizer, LR schedule and
  loss, Keras' ``"accuracy"``, ``model.fit`` on the NumPy arrays of the same
  split, with ``validation_data``, no callbacks;
- fit: ``train.fit``, i.e. ``mnist-keras fit`` (the tf.data pipeline, the
  validation confusion counts, checkpointing, BackupAndRestore and the
  callbacks' state files, CSV and TensorBoard logs, the confusion image).

An epoch is timed from its first to its last callback hook (training, the
validation pass and every end-of-epoch callback); the first epoch (tracing)
is left out, the rest are pooled over rounds and the median taken. The fit
variant also times every callback hook, so the table says where the extra
seconds go. Results replace the "Per-epoch cost of fit" section of
docs/BENCHMARKS.md (the rest of the file is kept).

    python scripts/benchmark_fit_overhead.py                 # lamontagne (3 epochs) and fast (2), all images, 3 rounds
    python scripts/benchmark_fit_overhead.py --quick --output /tmp/b.md   # checks it runs
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from benchmark_docs import write_section  # noqa: E402 (after the sys.path lines)

SECTION = "fit-overhead"  # its markers in docs/BENCHMARKS.md
FULL = {"models": {"lamontagne": 3, "fast": 2}, "limit": None, "rounds": 3}  # model -> epochs
QUICK = {"models": {"lamontagne": 2}, "limit": 1000, "rounds": 1}
HOOKS = ("on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end")

# ------------------------------------------------------------------ worker


def epoch_timer():
    """A callback that records each epoch's seconds; add it last so it sees every other callback's work."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    return EpochTimer()


def timed_callbacks(make_callbacks, cost: dict):
    """``make_callbacks`` whose callbacks add the seconds of each hook to ``cost[name]``."""

    def wrapper(*args, **kwargs):
        callbacks = make_callbacks(*args, **kwargs)
        for callback in callbacks:
            name = type(callback).__name__
            for hook in HOOKS:
                original = getattr(callback, hook)

                def timed(*a, _original=original, _name=name, **k):
                    start = time.perf_counter()
                    result = _original(*a, **k)
                    cost[_name] += time.perf_counter() - start
                    return result

                setattr(callback, hook, timed)
        return callbacks

    return wrapper


def run_plain(model_name: str, epochs: int, limit: int | None, data_dir: str | None) -> dict:
    """Plain ``model.fit`` on NumPy arrays; the recipe's optimizer, schedule and loss."""
    import keras

    from mnist_keras import data, models, train
    from mnist_keras.losses import classification_loss

    config = train.FitConfig(model=model_name, epochs=epochs, limit=limit).with_architecture_defaults()
    mnist = data.load_mnist(data_dir)
    splits = data.make_splits(mnist, validation_size=config.validation_size, limit=limit, seed=config.seed)
    keras.utils.set_random_seed(config.seed)
    model = models.build_model(model_name)
    steps = train.steps_per_epoch(config, len(splits.y_train))
    model.compile(
        optimizer=keras.optimizers.Adam(train.learning_rate_for(config, steps), config.adam_beta_1, config.adam_beta_2),
        loss=classification_loss(config.label_smoothing),
        metrics=["accuracy"],
    )
    timer = epoch_timer()
    x, x_val = (a[..., None].astype("float32") for a in (splits.x_train, splits.x_val))
    model.fit(x, splits.y_train, batch_size=config.batch_size, epochs=epochs, validation_data=(x_val, splits.y_val),
              callbacks=[timer], verbose=0)  # fmt: skip
    return {"epoch_seconds": timer.seconds, "callbacks": {}}


def run_fit(model_name: str, epochs: int, limit: int | None, data_dir: str | None) -> dict:
    """``train.fit`` as ``mnist-keras fit`` runs it, every callback hook timed."""
    from mnist_keras import callbacks, train

    cost = collections.defaultdict(float)
    callbacks.make_callbacks = timed_callbacks(callbacks.make_callbacks, cost)  # train looks it up at call time
    timer = epoch_timer()
    with tempfile.TemporaryDirectory() as folder:
        config = train.FitConfig(model=model_name, epochs=epochs, limit=limit, data_dir=data_dir, publish="never",
                                 run_dir=str(Path(folder) / "run"), verbose=0, augment=False)  # fmt: skip
        train.fit(config, extra_callbacks=[timer])
    return {"epoch_seconds": timer.seconds, "callbacks": {name: seconds / epochs for name, seconds in cost.items()}}


# ------------------------------------------------------------------ driver


def one_run(variant: str, model: str, epochs: int, limit: int | None, data_dir: str | None) -> dict:
    """One variant in a fresh process; its JSON result."""
    cmd = [sys.executable, __file__, "--worker", variant, "--model", model, "--epochs", str(epochs)]
    cmd += ["--limit", str(limit)] if limit else []
    cmd += ["--data-dir", data_dir] if data_dir else []
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{variant} {model} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(size: dict, data_dir: str | None) -> dict:
    """Every model, both variants interleaved per round; pooled epoch times after the first epoch."""
    results = {}
    load = [os.getloadavg()[0]]
    for model, epochs in size["models"].items():
        runs = {"plain": [], "fit": []}
        for _ in range(size["rounds"]):
            for variant in runs:
                runs[variant].append(one_run(variant, model, epochs, size["limit"], data_dir))
                load.append(os.getloadavg()[0])
        epochs_after_first = {v: [s for r in rs for s in r["epoch_seconds"][1:]] for v, rs in runs.items()}
        names = {name for r in runs["fit"] for name in r["callbacks"]}
        results[model] = {
            "epochs": epochs,
            "median_epoch": {v: statistics.median(s) for v, s in epochs_after_first.items()},
            "epoch_seconds": {v: [r["epoch_seconds"] for r in rs] for v, rs in runs.items()},
            "callbacks": {n: statistics.median(r["callbacks"].get(n, 0.0) for r in runs["fit"]) for n in names},
        }
    return {"size": size, "models": results, "load": load, "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def markdown(result: dict, command: str) -> str:
    size = result["size"]
    images = f"{size['limit']:,}" if size["limit"] else "all"
    lines = [
        "## Per-epoch cost of fit",
        "",
        f"`{command}` ({result['when']}, {os.cpu_count()} cores; load average (1 min) before, between and after "
        f"the runs: {min(result['load']):.2f} to {max(result['load']):.2f}).",
        "Seconds per epoch (training, validation pass and every end-of-epoch callback), first epoch left out, "
        f"median over {size['rounds']} interleaved round(s), {images} training images, no augmentation. *plain*: `model.fit` on NumPy arrays with `validation_data` and no "
        "callbacks, same optimizer, schedule and loss; *fit*: `mnist-keras fit`.",
        "",
        "| model | plain s/epoch | fit s/epoch | fit over plain |",
        "|---|---:|---:|---:|",
    ]
    for model, r in result["models"].items():
        plain, fit = r["median_epoch"]["plain"], r["median_epoch"]["fit"]
        lines.append(f"| {model} | {plain:.2f} | {fit:.2f} | {100 * (fit / plain - 1):+.1f}% |")
    lines += [
        "",
        "Seconds per epoch in each of fit's callbacks (all hooks, averaged over all epochs, the first included; median over rounds):",
        "",
    ]
    models = list(result["models"])
    lines += ["| callback | " + " | ".join(models) + " |", "|---|" + "---:|" * len(models)]
    names = sorted({n for r in result["models"].values() for n in r["callbacks"]})
    for name in sorted(names, key=lambda n: -max(r["callbacks"].get(n, 0) for r in result["models"].values())):
        cells = " | ".join(f"{result['models'][m]['callbacks'].get(name, 0.0):.3f}" for m in models)
        lines.append(f"| {name} | {cells} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 images, 2 epochs, one round: checks it runs")
    parser.add_argument("--data-dir", default=None, help="MNIST folder (default: $MNIST_KERAS_DATA or Keras)")
    parser.add_argument("--output", default=str(REPO / "docs" / "BENCHMARKS.md"))
    parser.add_argument("--worker", choices=("plain", "fit"), help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker = run_plain if args.worker == "plain" else run_fit
        print(json.dumps(worker(args.model, args.epochs, args.limit, args.data_dir)))
        return
    result = measure(QUICK if args.quick else FULL, args.data_dir)
    text = markdown(result, "python scripts/benchmark_fit_overhead.py" + (" --quick" if args.quick else ""))
    print(text)
    write_section(Path(args.output), SECTION, text)
    if not args.quick:  # every epoch's seconds, for a second look
        Path(args.output).with_name("fit_overhead.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
