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
seconds go.

    python scripts/benchmark_fit_overhead.py     # lamontagne (3 epochs) and fast (2), all images, 3 rounds: docs/fit_overhead.json
    python scripts/benchmark_fit_overhead.py --quick --output /tmp/b.md   # checks it runs
"""

from __future__ import annotations

import collections
import functools
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness, also when a test imports this file
import harness  # noqa: E402 (after the sys.path line)

FULL = {"models": {"lamontagne": 3, "fast": 2}, "limit": None, "rounds": 3}  # model -> epochs
QUICK = {"models": {"lamontagne": 2}, "limit": 1000, "rounds": 1}
HOOKS = ("on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end")
VARIANTS = ("plain", "fit")

# ------------------------------------------------------------- inside a run


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
            for hook in HOOKS:
                setattr(callback, hook, harness.timed_into(getattr(callback, hook), cost, type(callback).__name__))
        return callbacks

    return wrapper


def run_plain(model: str, epochs: int, limit: int | None, data_dir: str | None) -> dict:
    """In a fresh process: plain ``model.fit`` on NumPy arrays with the recipe's optimizer, schedule and loss."""
    import keras

    from mnist_keras import data, models, train
    from mnist_keras.losses import classification_loss

    config = harness.fit_config(model, epochs=epochs, limit=limit)
    recipe = config.recipe
    splits = data.make_splits(
        data.load_mnist(data_dir), validation_size=config.validation_size, limit=limit, seed=config.seed
    )
    keras.utils.set_random_seed(config.seed)
    network = models.build_model(model)
    steps = train.steps_per_epoch(recipe, len(splits.y_train))
    optimizer = keras.optimizers.Adam(train.learning_rate_for(recipe, steps), recipe.adam_beta_1, recipe.adam_beta_2)
    network.compile(optimizer=optimizer, loss=classification_loss(recipe.label_smoothing), metrics=["accuracy"])
    timer = epoch_timer()
    x, x_val = (a[..., None].astype("float32") for a in (splits.x_train, splits.x_val))  # (N, 28, 28, 1)
    network.fit(x, splits.y_train, batch_size=recipe.batch_size, epochs=epochs, validation_data=(x_val, splits.y_val),
                callbacks=[timer], verbose=0)  # fmt: skip
    return {"epoch_seconds": timer.seconds, "callbacks": {}}


def run_fit(model: str, epochs: int, limit: int | None, data_dir: str | None) -> dict:
    """In a fresh process: ``train.fit`` as ``mnist-keras fit`` runs it, every callback hook timed."""
    from mnist_keras import callbacks, train

    cost = collections.defaultdict(float)
    callbacks.make_callbacks = timed_callbacks(callbacks.make_callbacks, cost)  # train looks it up at call time
    timer = epoch_timer()
    with tempfile.TemporaryDirectory() as folder:
        config = train.FitConfig(model=model, overrides={"epochs": epochs, "augment": "none"}, limit=limit,
                                 data_dir=data_dir, publish="never", run_dir=str(Path(folder) / "run"), verbose=0)  # fmt: skip
        train.fit(config, extra_callbacks=[timer])
    return {"epoch_seconds": timer.seconds, "callbacks": {name: seconds / epochs for name, seconds in cost.items()}}


# ------------------------------------------------------------ the benchmark


def measure_model(model: str, epochs: int, size: dict, data_dir: str | None, loads: list) -> dict:
    """Both variants of one model, interleaved per round; pooled epoch times after the first epoch."""

    def one(variant: str) -> dict:
        result, _ = harness.call_in_subprocess(run_plain if variant == "plain" else run_fit, model=model, epochs=epochs,
                                               limit=size["limit"], data_dir=data_dir)  # fmt: skip
        loads.append(harness.load())
        return result

    runs = harness.interleave({variant: functools.partial(one, variant) for variant in VARIANTS}, size["rounds"])
    after_first = {v: [s for r in rs for s in r["epoch_seconds"][1:]] for v, rs in runs.items()}
    names = {name for r in runs["fit"] for name in r["callbacks"]}
    return {
        "epochs": epochs,
        "median_epoch": {v: statistics.median(s) for v, s in after_first.items()},
        "epoch_seconds": {v: [r["epoch_seconds"] for r in rs] for v, rs in runs.items()},
        "callbacks": {n: statistics.median(r["callbacks"].get(n, 0.0) for r in runs["fit"]) for n in names},
    }


def render(report: dict) -> str:
    """The "Per-epoch cost of fit" section of docs/BENCHMARKS.md, from fit_overhead.json."""
    size, results = report["size"], report["models"]
    images = f"{size['limit']:,}" if size["limit"] else "all"
    cost = [[model, f"{r['median_epoch']['plain']:.2f}", f"{r['median_epoch']['fit']:.2f}",
             f"{100 * (r['median_epoch']['fit'] / r['median_epoch']['plain'] - 1):+.1f}%"] for model, r in results.items()]  # fmt: skip
    names = sorted({n for r in results.values() for n in r["callbacks"]})
    names.sort(key=lambda n: -max(r["callbacks"].get(n, 0) for r in results.values()))
    per_callback = [[name, *(f"{r['callbacks'].get(name, 0.0):.3f}" for r in results.values())] for name in names]
    between = report["load"].get("between_runs")
    return "\n\n".join([
        "## Per-epoch cost of fit",
        harness.provenance(report) + (f" Between the runs: {min(between):.2f} to {max(between):.2f}." if between else ""),
        "Seconds per epoch (training, validation pass and every end-of-epoch callback), first epoch left out, "
        f"median over {size['rounds']} interleaved round(s), {images} training images, no augmentation. *plain*: "
        "`model.fit` on NumPy arrays with `validation_data` and no callbacks, same optimizer, schedule and loss; "
        "*fit*: `mnist-keras fit`.",
        harness.table(["model", "plain s/epoch", "fit s/epoch", "fit over plain"], cost, align="lrrr"),
        "Seconds per epoch in each of fit's callbacks (all hooks, averaged over all epochs, the first included; "
        "median over rounds):",
        harness.table(["callback", *results], per_callback, align="l" + "r" * len(results)),
    ]) + "\n"  # fmt: skip


BLOCKS = (harness.Block("fit-overhead", "fit_overhead.json", render, "## Per-epoch cost of fit", __file__),)


def main(argv: list[str] | None = None) -> None:
    args = harness.parser(__doc__, quick="1,000 images, 2 epochs, one round", source=BLOCKS[0].source).parse_args(argv)
    size = QUICK if args.quick else FULL
    report = harness.start(__file__, argv, "tensorflow", "keras") | {"size": size}
    loads = []
    report["models"] = {
        model: measure_model(model, epochs, size, args.data_dir, loads) for model, epochs in size["models"].items()
    }
    report["load"]["between_runs"] = [load[0] for load in loads[:-1]]
    harness.finish(report)
    print(harness.publish(report, BLOCKS, args.output))


if __name__ == "__main__":
    main()
