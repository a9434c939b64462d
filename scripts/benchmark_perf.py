#!/usr/bin/env python
"""Performance benchmark: training throughput against a plain ``model.fit`` baseline,
inference latency (Keras and LiteRT), start-up time and peak memory of ``fit``.

The CPU this runs on is usually shared, so every comparison is measured
interleaved in one process (A, B, C, A, B, C, ...) and reported as medians and
ratios; the load average before and after is recorded beside the figures.

    python scripts/benchmark_perf.py                 # docs/perf.json and its section of docs/BENCHMARKS.md
    python scripts/benchmark_perf.py --quick --output /tmp/b.md   # a few hundred images: checks it runs
    python scripts/benchmark_perf.py --gpu-throughput   # on a GPU machine (scripts/gpu_check.sh): prints a table
"""

from __future__ import annotations

import functools
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness, also when a test imports this file
import harness  # noqa: E402 (after the sys.path line)

BASELINE_BATCH = 128  # what a plain Keras MNIST tutorial uses
BASELINE_MODEL = "lamontagne"  # the paper's model
FULL = {"images": 6_000, "rounds": 8, "latency_runs": 300, "batch_images": 1000, "fit_limit": None, "variants": True,
        "xla_images": 6_000, "xla_rounds": 2, "startup_runs": 3, "thread_rounds": 2}  # fmt: skip
QUICK = {"images": 256, "rounds": 1, "latency_runs": 10, "batch_images": 64, "fit_limit": 100, "variants": False,
         "xla_images": 256, "xla_rounds": 1, "startup_runs": 1, "thread_rounds": 0}  # fmt: skip
XLA_MODELS = ("lamontagne", "keras-convnet", "bn-cnn")  # dense-heavy, small conv, our strongest
THREAD_SETTINGS = ((0, 0), (1, 2), (1, 1))  # (inter_op, intra_op); 0 = TensorFlow's choice (all cores)
WARM_UP_STEPS = 3  # enough to trace (and XLA-compile) the train step before a timed epoch

# ----------------------------------------------------------------- training


def fit_config(model: str = BASELINE_MODEL, **settings):
    """The resolved config of ``model`` (default: the paper's) with ``settings`` (see :func:`harness.fit_config`)."""
    return harness.fit_config(model, **settings)


def epoch_runner(
    config, splits, *, strategy=None, warm_up_steps: int | None = None
) -> tuple[object, Callable[[], int]]:
    """A model compiled as ``fit`` compiles it and a function training it one epoch (returns the images seen).

    The model is warmed up first, one epoch (``warm_up_steps`` None) or that
    many steps, so no timed epoch pays for tracing.
    """
    import tensorflow as tf

    from mnist_keras.distribute import precision_policy
    from mnist_keras.models import build_model
    from mnist_keras.train import compile_for, steps_per_epoch, training_datasets

    n = len(splits.y_train)
    steps = steps_per_epoch(config.recipe, n)
    with precision_policy(config.mixed_precision), (strategy or tf.distribute.get_strategy()).scope():
        model = build_model(config.model)
        compile_for(model, config, steps)
    train_ds, _ = training_datasets(config, splits)  # an endless stream of epochs
    model.fit(train_ds, epochs=1, steps_per_epoch=warm_up_steps or steps, verbose=0)
    return model, lambda: (model.fit(train_ds, epochs=1, steps_per_epoch=steps, verbose=0), n)[1]


def baseline_runner(splits) -> tuple[object, Callable[[], int]]:
    """The baseline: numpy float arrays straight into ``model.fit``, Adam 1e-3, batch 128; warmed up one epoch."""
    import keras

    from mnist_keras.models import build_model

    model = build_model(BASELINE_MODEL)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = splits.x_train[..., None].astype("float32")  # (N, 28, 28, 1)

    def run() -> int:
        model.fit(x, splits.y_train, batch_size=BASELINE_BATCH, epochs=1, verbose=0)
        return len(x)

    run()
    return model, run


def training_setups(splits, size: dict) -> dict[str, tuple[object, Callable[[], int]]]:
    """The baseline, mnist-keras' defaults and (full runs) where the time goes: XLA, batch size, precision."""
    default = fit_config()
    xla, other_xla = "--no-jit-compile", "--jit-compile"
    if default.jit_compile:
        xla, other_xla = other_xla, xla
    defaults = f"mnist-keras fit defaults (tf.data, batch {default.recipe.batch_size}, XLA {'on' if default.jit_compile else 'off'})"
    configs = {defaults: default}
    if size["variants"]:
        configs[f"defaults but {other_xla}"] = fit_config(jit_compile=not default.jit_compile)
        for batch in (b for b in (256, 512) if b != default.recipe.batch_size):
            configs[f"defaults but --batch-size {batch} ({xla})"] = fit_config(batch_size=batch)
        configs["defaults but --mixed-precision"] = fit_config(mixed_precision=True)
    baseline = {f"baseline: model.fit(numpy), batch {BASELINE_BATCH}": baseline_runner(splits)}
    return baseline | {name: epoch_runner(config, splits) for name, config in configs.items()}  # fmt: skip


def training(mnist, size: dict) -> tuple[dict, object]:
    """Images/s of one epoch: plain ``model.fit`` on numpy vs mnist-keras' pipeline and variants.

    Returns the result and the model trained with mnist-keras' defaults (the inference benchmark's).
    """
    import keras
    import numpy as np

    from mnist_keras.data import make_splits
    from mnist_keras.predict import predict_probabilities

    splits = make_splits(mnist, limit=size["images"], seed=0)
    keras.utils.set_random_seed(0)
    setups = training_setups(splits, size)
    rounds = harness.interleave({name: functools.partial(harness.rate, run) for name, (_, run) in setups.items()},
                                size["rounds"])  # fmt: skip
    wall = {name: [r["per_s"] for r in rs] for name, rs in rounds.items()}
    cpu = {name: [r["per_cpu_s"] for r in rs] for name, rs in rounds.items()}
    base, base_cpu = (harness.median(next(iter(d.values()))) for d in (wall, cpu))
    rows = []
    for name, (model, _) in setups.items():
        proba = predict_probabilities(model, mnist.x_test)
        rows.append({"setup": name, "images_per_s": harness.median(wall[name]), "ratio": harness.median(wall[name]) / base,
                     "all_rounds": [round(v) for v in wall[name]], "images_per_cpu_s": harness.median(cpu[name]),
                     "cpu_ratio": harness.median(cpu[name]) / base_cpu, "all_rounds_cpu": [round(v) for v in cpu[name]],
                     "test_accuracy": float(np.mean(proba.argmax(axis=1) == mnist.y_test))})  # fmt: skip
    result = {"train_images": len(splits.y_train), "epochs_each": size["rounds"] + 1, "rows": rows}
    return result, setups[rows[1]["setup"]][0]


def xla_by_architecture(mnist, size: dict) -> list[dict]:
    """Images/s of one training epoch with and without ``--jit-compile``, per architecture.

    Each architecture trains with its own recipe (augmentation included);
    the two setups of one architecture are interleaved. This is what decides
    the ``jit_compile`` default, which applies to every architecture.
    """
    from mnist_keras.data import make_splits

    splits = make_splits(mnist, limit=size["xla_images"], seed=0)
    rows = []
    for name in XLA_MODELS:
        runs = {jit: epoch_runner(fit_config(name, jit_compile=jit), splits, warm_up_steps=WARM_UP_STEPS)[1]
                for jit in (False, True)}  # fmt: skip
        rates = harness.interleave({jit: functools.partial(harness.rate, run) for jit, run in runs.items()},
                                   size["xla_rounds"])  # fmt: skip
        off, on = (harness.median([r["per_s"] for r in rates[jit]]) for jit in (False, True))
        rows.append({"model": name, "images_per_s_no_xla": off, "images_per_s_xla": on, "xla_ratio": on / off})
    return rows


def thread_probe(inter: int, intra: int, images: int, data_dir: str | None) -> dict[str, float]:
    """In a fresh process: images/s of one epoch of the default fit path under one threading setting."""
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(inter)  # must precede any TF op
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    from mnist_keras.data import load_mnist, make_splits

    splits = make_splits(load_mnist(data_dir), limit=images, seed=0)
    return harness.rate(epoch_runner(fit_config(), splits)[1])


def threads(size: dict, data_dir: str | None) -> list[dict]:
    """``tf.config.threading`` settings, each in its own process (they cannot change after start-up), alternated."""
    if not size["thread_rounds"]:
        return []
    probes = {setting: functools.partial(harness.call_in_subprocess, thread_probe, inter=setting[0], intra=setting[1],
                                         images=size["images"], data_dir=data_dir)
              for setting in THREAD_SETTINGS}  # fmt: skip
    runs = {
        setting: [result for result, _ in rs]
        for setting, rs in harness.interleave(probes, size["thread_rounds"]).items()
    }
    base = harness.median([r["per_s"] for r in runs[THREAD_SETTINGS[0]]])
    return [{"inter_op": inter, "intra_op": intra, "images_per_s": harness.median([r["per_s"] for r in rs]),
             "ratio": harness.median([r["per_s"] for r in rs]) / base, "all_rounds": [round(r["per_s"]) for r in rs],
             "images_per_cpu_s": harness.median([r["per_cpu_s"] for r in rs])}
            for (inter, intra), rs in runs.items()]  # fmt: skip


# ---------------------------------------------------------------- inference


def latency(call: Callable[[], object], runs: int) -> dict:
    """Median and p99 of ``call()`` in microseconds, after a short warm-up."""
    import time

    import numpy as np

    for _ in range(max(5, runs // 10)):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        call()
        times.append((time.perf_counter_ns() - start) / 1000)
    return {"median_us": float(np.median(times)), "p99_us": float(np.percentile(times, 99))}


def litert_paths(model, mnist, folder: Path) -> dict[str, Path]:
    """float32 and int8 ``.tflite`` files through mnist_keras.export (empty when TensorFlow cannot convert)."""
    try:
        from mnist_keras.export import convert_variants
    except ImportError:
        return {}

    def write(variant: str, data: bytes) -> Path:
        path = folder / f"{BASELINE_MODEL}_{variant}.tflite"
        path.write_bytes(data)
        return path

    calibration = mnist.x_train[:200, ..., None].astype("float32")
    return convert_variants(model, ("float32", "int8"), calibration, write)


def inference_paths(model, tflite: dict[str, Path]) -> dict[str, Callable]:
    """Ways to predict a batch: ``model.predict``, a direct call, a compiled call, each LiteRT variant."""
    import tensorflow as tf

    from mnist_keras import litert

    compiled = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    paths = {"model.predict": lambda x: model.predict(x, batch_size=len(x), verbose=0),
             "model(x) direct call": lambda x: model(x, training=False).numpy(),
             "tf.function(model) call": lambda x: compiled(x).numpy()}  # fmt: skip
    for variant, path in tflite.items():
        interpreter = litert.load_interpreter(path)
        paths[f"LiteRT {variant}"] = lambda x, i=interpreter: litert.predict_proba(i, x, batch_size=len(x))
    return paths


def inference(model, mnist, size: dict, tflite: dict[str, Path]) -> dict:
    """One image and one batch through each of :func:`inference_paths`; ratios to ``model.predict``."""
    one = mnist.x_test[:1, ..., None].astype("float32")
    batch = mnist.x_test[: size["batch_images"], ..., None].astype("float32")
    rows = []
    for name, call in inference_paths(model, tflite).items():
        row = {"path": name, **latency(lambda call=call: call(one), size["latency_runs"])}
        rates = harness.interleave({name: lambda call=call: harness.rate(lambda: (call(batch), len(batch))[1])},
                                   max(3, size["rounds"]))[name]  # fmt: skip
        rows.append({**row, "batch_images_per_s": harness.median([r["per_s"] for r in rates])})
    for row in rows:
        row["latency_ratio"] = row["median_us"] / rows[0]["median_us"]
        row["throughput_ratio"] = row["batch_images_per_s"] / rows[0]["batch_images_per_s"]
    note = None if tflite else "LiteRT rows not measured: mnist_keras.export could not convert"
    return {"batch_images": len(batch), "rows": rows, "note": note}


# ------------------------------------------------------- start-up and memory


def startup_commands(model, mnist, tflite: dict[str, Path], folder: Path) -> dict[str, list[str]]:
    """Shown command -> the command run: ``mnist-keras predict`` on .keras and .tflite, and the edge bundle."""
    from PIL import Image

    from mnist_keras.bundle import BUNDLE_NAME, write_bundle

    image = folder / "digit.png"
    Image.fromarray(mnist.x_test[0]).save(image)
    model.save(folder / "model.keras")
    predict = [sys.executable, "-m", "mnist_keras.cli", "predict"]
    commands = {"mnist-keras predict MODEL.keras IMAGE": [*predict, str(folder / "model.keras"), str(image)]}
    if "float32" in tflite:
        bundle = write_bundle(folder / BUNDLE_NAME)
        commands["mnist-keras predict MODEL.tflite IMAGE"] = [*predict, str(tflite["float32"]), str(image)]
        commands[f"python {BUNDLE_NAME} MODEL.tflite IMAGE"] = [
            sys.executable,
            str(bundle),
            str(tflite["float32"]),
            str(image),
        ]
    return commands


def startup(model, mnist, tflite: dict[str, Path], folder: Path, runs: int) -> dict:
    """Seconds from process start to the first prediction printed (whole process, median of ``runs``)."""
    commands = startup_commands(model, mnist, tflite, folder)
    rows = [{"command": shown, "seconds": harness.median([harness.run_process(cmd)["seconds"] for _ in range(runs)])}
            for shown, cmd in commands.items()]  # fmt: skip
    notes = [] if tflite else ["the .tflite commands not measured: the export is missing"]
    return {"rows": rows, "notes": notes}


def peak_memory(limit: int | None, folder: Path, data_dir: str | None) -> dict:
    """Peak resident memory of ``mnist-keras fit --epochs 1`` (all training images unless ``limit``)."""
    options = ["--epochs", "1"]
    if limit:  # --quick: a smoke run, without the end-of-fit evaluation
        options += ["--limit", str(limit), "--validation-size", str(limit), "--no-eval"]
    places = ["--quiet", "--output", str(folder / "run"), "--saved-models", str(folder / "saved")]
    places += ["--data-dir", data_dir] if data_dir else []
    usage = harness.run_process([sys.executable, "-m", "mnist_keras.cli", "fit", *options, *places])
    return {"command": " ".join(["mnist-keras fit", *options]), "peak_rss_mib": usage["peak_rss_mib"],
            "seconds": usage["seconds"]}  # fmt: skip


# ------------------------------------------------------------- GPU throughput


def gpu_throughput(mnist, size: dict) -> dict[str, float]:
    """Images/s of one epoch on all training images (``--quick``: a few hundred): defaults, XLA, mirrored, float16.

    For a GPU machine (``scripts/gpu_check.sh``); interleaved, medians over 3 rounds.
    """
    import tensorflow as tf

    from mnist_keras.data import make_splits

    splits = make_splits(mnist, limit=None if size["variants"] else size["images"])
    setups = {"defaults (XLA off)": {}, "--jit-compile": {"jit_compile": True},
              "--strategy mirrored": {"strategy": tf.distribute.MirroredStrategy()},
              "--mixed-precision": {"mixed_precision": True},
              "--mixed-precision --jit-compile": {"mixed_precision": True, "jit_compile": True},
              "--mixed-precision --batch-size 1024": {"mixed_precision": True, "batch_size": 1024}}  # fmt: skip
    runs = {name: epoch_runner(fit_config(**{k: v for k, v in s.items() if k != "strategy"}), splits,
                               strategy=s.get("strategy"))[1] for name, s in setups.items()}  # fmt: skip
    rates = harness.interleave({name: functools.partial(harness.rate, run) for name, run in runs.items()}, 3)
    return {name: harness.median([r["per_s"] for r in values]) for name, values in rates.items()}


def print_gpu_throughput(rates: dict[str, float]) -> None:
    base = next(iter(rates.values()))
    for name, value in rates.items():
        print(f"{name:<52} {value:>10,.0f} images/s  {value / base:5.2f}x default")


# ------------------------------------------------------------------- report


def measure(size: dict, data_dir: str | None, report: dict) -> dict:
    """Every part of the benchmark into ``report``."""
    from mnist_keras.data import load_mnist

    mnist = load_mnist(data_dir)
    with tempfile.TemporaryDirectory(prefix="mnist-keras-bench-") as tmp:
        folder = Path(tmp)
        report["training"], model = training(mnist, size)
        report["threads"] = threads(size, data_dir)
        report["xla"] = xla_by_architecture(mnist, size)
        tflite = litert_paths(model, mnist, folder)
        report["inference"] = inference(model, mnist, size, tflite)
        report["startup"] = startup(model, mnist, tflite, folder, size["startup_runs"])
        report["memory"] = peak_memory(size["fit_limit"], folder, data_dir)
    return report


MEMORY_NOTE = (
    "Peak resident memory (`ru_maxrss` of the child process) of one `fit` epoch on all training images "
    "(unless `--limit` is shown), including the evaluation `fit` runs at the end."
)


def render_training(report: dict) -> list[str]:
    train = report["training"]
    return [
        "## Training throughput (paper's model, CPU)",
        (f"One epoch over {train['train_images']:,} training images per round, {len(train['rows'][0]['all_rounds'])} rounds "
         f"interleaved after one warm-up epoch; test accuracy after all {train['epochs_each']} epochs on those images "
         "(10,000 test images). Callbacks and validation are left out on both sides."),
        harness.table(["setup", "images/s (wall)", "x baseline", "images per CPU-s", "x baseline", "test accuracy"],
                      [[r["setup"], f"{r['images_per_s']:,.0f}", f"{r['ratio']:.2f}", f"{r['images_per_cpu_s']:,.0f}",
                        f"{r['cpu_ratio']:.2f}", f"{r['test_accuracy']:.4f}"] for r in train["rows"]]),
        ("Images per CPU-second counts the work this process's threads did, so it moves much less than wall-clock "
         "images/s when other people's jobs share the CPU; every round's figures are in `perf.json`."),
    ]  # fmt: skip


def render_threads(report: dict) -> list[str]:
    if not report.get("threads"):
        return []
    return [
        ("Thread settings (`tf.config.threading`), mnist-keras defaults otherwise; each setting in its own "
         "process, processes alternated; 0 means TensorFlow's choice:"),
        harness.table(["inter_op", "intra_op", "images/s (wall)", "x TF default", "each round", "images per CPU-s"],
                      [[r["inter_op"], r["intra_op"], f"{r['images_per_s']:,.0f}", f"{r['ratio']:.2f}",
                        " ".join(map(str, r["all_rounds"])), f"{r['images_per_cpu_s']:,.0f}"] for r in report["threads"]]),
    ]  # fmt: skip


def render_xla(report: dict) -> list[str]:
    return [
        "## XLA (`--jit-compile`) per architecture",
        (f"One training epoch over {report['sizes']['xla_images']:,} images with each architecture's own recipe "
         "(augmentation included), without and with XLA, interleaved; medians."),
        harness.table(["model", "images/s without XLA", "images/s with XLA", "XLA x"],
                      [[r["model"], f"{r['images_per_s_no_xla']:,.0f}", f"{r['images_per_s_xla']:,.0f}",
                        f"{r['xla_ratio']:.2f}"] for r in report["xla"]]),
    ]  # fmt: skip


def render_inference(report: dict) -> list[str]:
    infer = report["inference"]
    return [
        "## Inference",
        (f"Single image: median and p99 latency of one call (microseconds). Batch: images/s predicting "
         f"{infer['batch_images']:,} images in one call. Ratios are to `model.predict` (latency: lower is better)."),
        harness.table(["path", "median us", "p99 us", "latency x predict", "batch images/s", "throughput x predict"],
                      [[r["path"], f"{r['median_us']:,.0f}", f"{r['p99_us']:,.0f}", f"{r['latency_ratio']:.3f}",
                        f"{r['batch_images_per_s']:,.0f}", f"{r['throughput_ratio']:.2f}"] for r in infer["rows"]]),
        f"Note: {infer['note']}." if infer.get("note") else "",
    ]  # fmt: skip


def render_startup_and_memory(report: dict) -> list[str]:
    start, mem = report["startup"], report["memory"]
    rows = [[r["command"], f"{r['seconds']:.2f}"] for r in start["rows"]]
    return [
        "## Start-up: process start to first prediction",
        harness.table(["command", "seconds (median)"], rows) if rows else "",
        *(f"Note: {note}." for note in start["notes"]),
        "## Peak memory of fit",
        MEMORY_NOTE,
        harness.table(["command", "peak RSS MiB", "wall seconds"],
                      [[f"`{mem['command']}`", f"{mem['peak_rss_mib']:,.0f}", f"{mem['seconds']:.0f}"]]),
    ]  # fmt: skip


def render(report: dict) -> str:
    """The "perf" block of docs/BENCHMARKS.md, from perf.json."""
    parts = [harness.provenance(report) + " Within a run, variants are interleaved (A/B/C/A/B/C) and reported as medians.",
             *render_training(report), *render_threads(report), *render_xla(report), *render_inference(report),
             *render_startup_and_memory(report)]  # fmt: skip
    return "\n\n".join(part for part in parts if part) + "\n"


def render_training_summary(report: dict) -> str:
    """A short training table for the other pages of docs/ (docs/training.md): ratios to the baseline, test accuracy.

    Its link is relative to docs/, so the block belongs in a page there.
    """
    train, before = report["training"], report["load"]["before"][0]
    rows = [
        [r["setup"], f"{r['ratio']:.2f}x", f"{r['cpu_ratio']:.2f}x", f"{100 * r['test_accuracy']:.2f}%"]
        for r in train["rows"]
    ]
    return "\n\n".join([
        f"Measured by `{report['command']}` ({report['date']}; interleaved rounds, medians; load average {before:.2f} "
        f"before). {harness.load_note(before)} The paper's model against a plain `model.fit` on numpy arrays with "
        f"batch {BASELINE_BATCH}; details in "
        "[BENCHMARKS.md](BENCHMARKS.md#training-throughput-papers-model-cpu):",
        harness.table(["paper's model, training", "images/s (wall)", "images per CPU-second",
                       f"test accuracy after {train['epochs_each']} epochs on {train['train_images']:,} images"], rows, align="lrrr"),
    ]) + "\n"  # fmt: skip


BLOCKS = (
    harness.Block("perf", "perf.json", render, "## Training throughput (paper's model, CPU)", __file__),
    harness.Block("perf-training-summary", "perf.json", render_training_summary, "", __file__),
)


def main(argv: list[str] | None = None) -> None:
    parser = harness.parser(__doc__, quick="A few hundred images, few repeats", source=BLOCKS[0].source)
    parser.add_argument("--gpu-throughput", action="store_true",
                        help="Only print training throughput of the GPU options (for scripts/gpu_check.sh).")  # fmt: skip
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    from mnist_keras.extras import start_tensorflow

    report = harness.start(__file__, argv, "tensorflow", "keras")  # the load before anything starts
    start_tensorflow("the benchmark")
    if args.gpu_throughput:
        from mnist_keras.data import load_mnist

        return print_gpu_throughput(gpu_throughput(load_mnist(args.data_dir), size))
    import tensorflow as tf

    report["machine"]["gpus"] = len(tf.config.list_physical_devices("GPU"))
    report["sizes"] = size
    harness.finish(measure(size, args.data_dir, report))
    print(harness.publish(report, BLOCKS, args.output))


if __name__ == "__main__":
    main()
