#!/usr/bin/env python
"""Performance benchmark: training throughput against a plain ``model.fit`` baseline,
inference latency (Keras and LiteRT), start-up time and peak memory of ``fit``.

The CPU this runs on is usually shared, so every comparison is measured
interleaved in one process (A, B, C, A, B, C, ...) and reported as medians and
ratios; the load average before and after is recorded beside the figures.

    python scripts/benchmark_perf.py                 # its sections of docs/BENCHMARKS.md + docs/benchmarks.json
    python scripts/benchmark_perf.py --quick --output /tmp/b.md   # a few hundred images: checks it runs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from benchmark_docs import load_note, write_section  # noqa: E402 (after the sys.path lines)

from mnist_keras.data import load_mnist, make_splits  # noqa: E402

SECTION = "benchmark_perf"  # its markers in docs/BENCHMARKS.md
EDGE_SCRIPT = "mnist_edge.py"  # scripts/<this> MODEL.tflite IMAGE, no TensorFlow
BASELINE_BATCH = 128  # what a plain Keras MNIST tutorial uses
FULL = {"images": 6_000, "rounds": 8, "latency_runs": 300, "batch_images": 1000, "fit_limit": None, "variants": True,
        "xla_images": 6_000, "xla_rounds": 2}  # fmt: skip
QUICK = {"images": 256, "rounds": 1, "latency_runs": 10, "batch_images": 64, "fit_limit": 100, "variants": False,
         "xla_images": 256, "xla_rounds": 1}  # fmt: skip


def machine() -> dict:
    """What the numbers were measured on."""
    import keras
    import tensorflow as tf

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()  # fmt: skip
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "keras": keras.__version__,
            "gpus": len(tf.config.list_physical_devices("GPU"))}  # fmt: skip


def interleaved(candidates: dict, rounds: int, *, cpu: dict | None = None) -> dict[str, list[float]]:
    """Items per second of each ``candidate() -> items``, measured A, B, C, A, B, C, ...

    With ``cpu`` (a dict), also records items per CPU-second of this process
    (all its threads) per candidate: on a shared machine wall-clock rates
    swing with other people's load, work per CPU-second much less.
    """
    rates = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, run in candidates.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            items = run()
            rates[name].append(items / (time.perf_counter() - start))
            if cpu is not None:
                cpu.setdefault(name, []).append(items / max(time.process_time() - start_cpu, 1e-9))
    return rates


# ----------------------------------------------------------------- training


def training(mnist, size: dict) -> tuple[dict, object]:
    """Images/s of one epoch: plain ``model.fit`` on numpy vs mnist-keras' pipeline and variants."""
    import dataclasses

    import keras

    from mnist_keras.distribute import precision_policy
    from mnist_keras.models import build_model
    from mnist_keras.train import FitConfig, compile_model, steps_per_epoch, training_datasets

    splits = make_splits(mnist, limit=size["images"], seed=0)
    n = len(splits.y_train)
    default = FitConfig(model="lamontagne").with_architecture_defaults()
    models = {}

    def plain():  # the baseline: numpy float arrays straight into model.fit, batch 128
        model = build_model("lamontagne")
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        x = splits.x_train[..., None].astype("float32")
        return model, lambda: model.fit(x, splits.y_train, batch_size=BASELINE_BATCH, epochs=1, verbose=0)

    def ours(**changes):
        config = dataclasses.replace(default, **changes)
        with precision_policy(config.mixed_precision):
            model = build_model(config.model)
            compile_model(model, config.learning_rate, jit_compile=config.jit_compile)
        train_ds, _ = training_datasets(config, splits)  # an endless stream of epochs
        steps = steps_per_epoch(config, n)
        return model, lambda: model.fit(train_ds, epochs=1, steps_per_epoch=steps, verbose=0)

    setups = {
        f"baseline: model.fit(numpy), batch {BASELINE_BATCH}": plain(),
        f"mnist-keras fit defaults (tf.data, batch {default.batch_size}, XLA {'on' if default.jit_compile else 'off'})": ours(),
    }
    if size["variants"]:  # where the time goes: the pipeline alone, XLA, batch size
        xla = "--jit-compile" if default.jit_compile else "--no-jit-compile"
        setups |= {
            f"defaults but {'--no-jit-compile' if default.jit_compile else '--jit-compile'}": ours(
                jit_compile=not default.jit_compile
            ),
            **{
                f"defaults but --batch-size {b} ({xla})": ours(batch_size=b)
                for b in (256, 512)
                if b != default.batch_size
            },
            "defaults but --mixed-precision": ours(mixed_precision=True),
        }
    candidates = {}
    for name, (model, run) in setups.items():
        keras.utils.set_random_seed(0)
        run()  # warm-up epoch: traces and compiles the step function
        models[name] = model
        candidates[name] = lambda run=run: (run(), n)[1]
    cpu = {}
    rates = interleaved(candidates, size["rounds"], cpu=cpu)
    base = float(np.median(next(iter(rates.values()))))
    base_cpu = float(np.median(next(iter(cpu.values()))))
    rows = []
    for name, values in rates.items():
        proba = models[name].predict(mnist.x_test[..., None], batch_size=1000, verbose=0)
        rows.append({"setup": name, "images_per_s": float(np.median(values)), "ratio": float(np.median(values)) / base,
                     "all_rounds": [round(v) for v in values], "images_per_cpu_s": float(np.median(cpu[name])),
                     "cpu_ratio": float(np.median(cpu[name])) / base_cpu, "all_rounds_cpu": [round(v) for v in cpu[name]],
                     "test_accuracy": float(np.mean(np.argmax(proba, axis=1) == mnist.y_test))})  # fmt: skip
    result = {"train_images": n, "epochs_each": size["rounds"] + 1, "rows": rows}
    return result, models[rows[1]["setup"]]


XLA_MODELS = ("lamontagne", "keras-convnet", "bn-cnn")  # dense-heavy, small conv, our strongest


def xla_by_architecture(mnist, size: dict) -> list[dict]:
    """Images/s of one training epoch with and without ``--jit-compile``, per architecture.

    Each architecture trains with its own defaults (augmentation included);
    the two setups of one architecture are interleaved. This is what decides
    the ``jit_compile`` default, which applies to every architecture.
    """
    import dataclasses

    from mnist_keras.models import build_model
    from mnist_keras.train import FitConfig, compile_model, steps_per_epoch, training_datasets

    splits = make_splits(mnist, limit=size["xla_images"], seed=0)
    rows = []
    for name in XLA_MODELS:
        candidates = {}
        for jit in (False, True):
            config = dataclasses.replace(FitConfig(model=name).with_architecture_defaults(), jit_compile=jit)
            model = build_model(name)
            compile_model(model, config.learning_rate, jit_compile=jit)
            train_ds, _ = training_datasets(config, splits)
            model.fit(train_ds.take(3), epochs=1, verbose=0)  # traces (and compiles) the step
            steps = steps_per_epoch(config, len(splits.y_train))
            candidates[jit] = lambda model=model, ds=train_ds, steps=steps: (
                model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0),
                len(splits.y_train),
            )[1]
        rates = interleaved(candidates, size["xla_rounds"])
        off, on = float(np.median(rates[False])), float(np.median(rates[True]))
        rows.append({"model": name, "images_per_s_no_xla": off, "images_per_s_xla": on, "xla_ratio": on / off})
    return rows


THREAD_SETTINGS = ((0, 0), (1, 2), (1, 1))  # (inter_op, intra_op); 0 = TensorFlow's choice (all cores)


def thread_probe(mnist, size: dict, inter: int, intra: int) -> None:
    """Child process: print images/s of the default fit path under one threading setting."""
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(inter)  # must precede any TF op
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    from mnist_keras.models import build_model
    from mnist_keras.train import FitConfig, compile_model, steps_per_epoch, training_datasets

    config = FitConfig().with_architecture_defaults()
    splits = make_splits(mnist, limit=size["images"], seed=0)
    model = build_model(config.model)
    compile_model(model, config.learning_rate)
    train_ds, _ = training_datasets(config, splits)
    steps = steps_per_epoch(config, len(splits.y_train))
    model.fit(train_ds, epochs=1, steps_per_epoch=steps, verbose=0)  # warm-up
    start, start_cpu = time.perf_counter(), time.process_time()
    model.fit(train_ds, epochs=1, steps_per_epoch=steps, verbose=0)
    n = len(splits.y_train)
    print(json.dumps([n / (time.perf_counter() - start), n / (time.process_time() - start_cpu)]))


def threads(size: dict, rounds: int) -> list[dict]:
    """tf.config.threading settings, each in its own process (they cannot change after start-up)."""
    rates, cpu = {s: [] for s in THREAD_SETTINGS}, {s: [] for s in THREAD_SETTINGS}
    for _ in range(rounds):
        for inter, intra in THREAD_SETTINGS:
            cmd = [sys.executable, __file__, "--thread-probe", str(inter), str(intra)] + (
                ["--quick"] if not size["variants"] else []
            )
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO).stdout
            wall, per_cpu = json.loads(out.strip().splitlines()[-1])
            rates[(inter, intra)].append(wall)
            cpu[(inter, intra)].append(per_cpu)
    base = float(np.median(rates[THREAD_SETTINGS[0]]))
    return [{"inter_op": inter, "intra_op": intra, "images_per_s": float(np.median(v)), "ratio": float(np.median(v)) / base,
             "all_rounds": [round(x) for x in v], "images_per_cpu_s": float(np.median(cpu[(inter, intra)]))}
            for (inter, intra), v in rates.items()]  # fmt: skip


# ---------------------------------------------------------------- inference


def _latency(call, runs: int) -> dict:
    """Median and p99 of ``call()`` in microseconds, after a short warm-up."""
    for _ in range(max(5, runs // 10)):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        call()
        times.append((time.perf_counter_ns() - start) / 1000)
    return {"median_us": float(np.median(times)), "p99_us": float(np.percentile(times, 99))}


def _litert_paths(model, mnist, folder: Path) -> dict[str, Path]:
    """float32 and int8 ``.tflite`` files through mnist_keras.export (empty when it is not installed)."""
    try:
        from mnist_keras.export import convert_variants
    except ImportError:
        return {}

    def write(variant: str, data: bytes) -> Path:
        path = folder / f"lamontagne_{variant}.tflite"
        path.write_bytes(data)
        return path

    calibration = mnist.x_train[:200, ..., None].astype("float32")
    return convert_variants(model, ("float32", "int8"), calibration, write)


def inference(model, mnist, size: dict, folder: Path) -> dict:
    """One image and one batch through predict, a direct call, a compiled call and LiteRT."""
    import tensorflow as tf

    one = mnist.x_test[:1, ..., None].astype("float32")
    batch = mnist.x_test[: size["batch_images"], ..., None].astype("float32")
    compiled = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    paths = {
        "model.predict": (lambda x: model.predict(x, batch_size=len(x), verbose=0)),
        "model(x) direct call": (lambda x: model(x, training=False).numpy()),
        "tf.function(model) call": (lambda x: compiled(x).numpy()),
    }
    tflite = _litert_paths(model, mnist, folder)
    if tflite:
        from mnist_keras import litert

        for variant, path in tflite.items():
            interpreter = litert.load_interpreter(path)
            paths[f"LiteRT {variant}"] = lambda x, i=interpreter: litert.predict_proba(i, x, batch_size=len(x))
    rows = []
    for name, call in paths.items():
        row = {"path": name, **_latency(lambda call=call: call(one), size["latency_runs"])}
        rate = interleaved({name: lambda call=call: (call(batch), len(batch))[1]}, max(3, size["rounds"]))[name]
        rows.append({**row, "batch_images_per_s": float(np.median(rate))})
    base = rows[0]
    for row in rows:
        row["latency_ratio"] = row["median_us"] / base["median_us"]
        row["throughput_ratio"] = row["batch_images_per_s"] / base["batch_images_per_s"]
    note = None if tflite else "LiteRT rows not measured: mnist_keras.export is missing"
    return {"batch_images": len(batch), "rows": rows, "note": note, "tflite": {k: str(v) for k, v in tflite.items()}}


# ------------------------------------------------------- start-up and memory


def _edge_script() -> Path | None:
    """The TensorFlow-free edge script, if this checkout has it."""
    path = REPO / "scripts" / EDGE_SCRIPT
    return path if path.is_file() else None


def _wall(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=REPO)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def startup(model, mnist, inference_result: dict, folder: Path, runs: int) -> dict:
    """Seconds from process start to the first prediction printed (whole process, median)."""
    from PIL import Image

    from mnist_keras.cli import cli

    image = folder / "digit.png"
    Image.fromarray(mnist.x_test[0]).save(image)
    rows, notes = [], []
    if "predict" in cli.commands:
        model_path = folder / "model.keras"
        model.save(model_path)
        cmd = [sys.executable, "-m", "mnist_keras.cli", "predict", str(model_path), str(image)]
        rows.append({"command": "mnist-keras predict MODEL.keras IMAGE", "seconds": _wall(cmd, runs)})
    else:
        notes.append("`mnist-keras predict` not measured: the command is missing")
    script, tflite = _edge_script(), inference_result["tflite"].get("float32")
    if script and tflite:
        rows.append({"command": f"python scripts/{script.name} MODEL.tflite IMAGE",
                     "seconds": _wall([sys.executable, str(script), tflite, str(image)], runs)})  # fmt: skip
    else:
        notes.append(f"edge script not measured: scripts/{EDGE_SCRIPT} or the .tflite export is missing")
    return {"rows": rows, "notes": notes}


def peak_memory(limit: int | None, folder: Path) -> dict:
    """Peak resident memory of ``mnist-keras fit --epochs 1`` (all training images unless ``limit``)."""
    fit = [sys.executable, "-m", "mnist_keras.cli", "fit", "--epochs", "1", "--quiet", "--run-dir", str(folder / "run"),
           "--saved-models", str(folder / "saved")]  # fmt: skip
    if limit:  # --quick: a smoke run, without the end-of-fit evaluation
        fit += ["--limit", str(limit), "--validation-size", str(limit), "--no-eval"]
    probe = ("import resource, subprocess, sys, json, time; t = time.perf_counter(); "
             "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
             "print(json.dumps([resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - t]))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", probe, *fit], check=True, capture_output=True, text=True, cwd=REPO)
    max_rss_kib, seconds = json.loads(out.stdout.strip().splitlines()[-1])
    return {"command": " ".join(["mnist-keras", *fit[3:6], *fit[11:]]),  # without the temporary paths
            "peak_rss_mib": max_rss_kib / 1024, "seconds": seconds}  # fmt: skip


# ------------------------------------------------------------------- report


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


MEMORY_NOTE = (
    "Peak resident memory (`ru_maxrss` of the child process) of one `fit` epoch on all training images "
    "(unless `--limit` is shown), including the evaluation `fit` runs at the end."
)


def markdown(report: dict) -> str:
    """docs/BENCHMARKS.md from the same numbers as benchmarks.json."""
    m, train, infer = report["machine"], report["training"], report["inference"]
    parts = [
        f"Measured by `{report['command']}` on {report['date']}.",
        (f"Machine: {m['cpu']}, {m['cores']} cores, {m['gpus']} GPUs, {m['platform']}; Python {m['python']}, "
        f"TensorFlow {m['tensorflow']}, Keras {m['keras']}. Load average (1 min) {report['load_before'][0]:.1f} "
        f"before, {report['load_after'][0]:.1f} after. {load_note(report['load_before'][0])} Within a run, "
        "variants are interleaved (A/B/C/A/B/C) and reported as medians."),
        "## Training throughput (paper's model, CPU)",
        (f"One epoch over {train['train_images']:,} training images per round, {len(train['rows'][0]['all_rounds'])} rounds "
        f"interleaved after one warm-up epoch; test accuracy after all {train['epochs_each']} epochs on those images "
        "(10,000 test images). Callbacks and validation are left out on both sides."),
        _table(["setup", "images/s (wall)", "x baseline", "images per CPU-s", "x baseline", "test accuracy"],
               [[r["setup"], f"{r['images_per_s']:,.0f}", f"{r['ratio']:.2f}", f"{r['images_per_cpu_s']:,.0f}",
                 f"{r['cpu_ratio']:.2f}", f"{r['test_accuracy']:.4f}"] for r in train["rows"]]),
        ("Images per CPU-second counts the work this process's threads did, so it moves much less than wall-clock "
         "images/s when other people's jobs share the CPU; every round's figures are in `benchmarks.json`."),
        ("Thread settings (`tf.config.threading`), mnist-keras defaults otherwise; each setting in its own "
         "process, processes alternated; 0 means TensorFlow's choice:") if report.get("threads") else "",
        _table(["inter_op", "intra_op", "images/s (wall)", "x TF default", "each round", "images per CPU-s"],
               [[str(r["inter_op"]), str(r["intra_op"]), f"{r['images_per_s']:,.0f}", f"{r['ratio']:.2f}",
                 " ".join(map(str, r["all_rounds"])), f"{r['images_per_cpu_s']:,.0f}"] for r in report["threads"]])
        if report.get("threads") else "",
        "## XLA (`--jit-compile`) per architecture",
        (f"One training epoch over {report['sizes']['xla_images']:,} images with each architecture's own defaults (augmentation "
         "included), without and with XLA, interleaved; medians."),
        _table(["model", "images/s without XLA", "images/s with XLA", "XLA x"],
               [[r["model"], f"{r['images_per_s_no_xla']:,.0f}", f"{r['images_per_s_xla']:,.0f}", f"{r['xla_ratio']:.2f}"]
                for r in report["xla"]]),
        "## Inference",
        (f"Single image: median and p99 latency of one call (microseconds). Batch: images/s predicting "
        f"{infer['batch_images']:,} images in one call. Ratios are to `model.predict` (latency: lower is better)."),
        _table(["path", "median us", "p99 us", "latency x predict", "batch images/s", "throughput x predict"],
               [[r["path"], f"{r['median_us']:,.0f}", f"{r['p99_us']:,.0f}", f"{r['latency_ratio']:.3f}",
                 f"{r['batch_images_per_s']:,.0f}", f"{r['throughput_ratio']:.2f}"] for r in infer["rows"]]),
    ]  # fmt: skip
    if infer["note"]:
        parts.append(f"Note: {infer['note']}.")
    start = report["startup"]
    parts.append("## Start-up: process start to first prediction")
    if start["rows"]:
        parts.append(
            _table(["command", "seconds (median)"], [[r["command"], f"{r['seconds']:.2f}"] for r in start["rows"]])
        )
    parts += [f"Note: {note}." for note in start["notes"]]
    mem = report["memory"]
    parts += ["## Peak memory of fit", MEMORY_NOTE,
              _table(["command", "peak RSS MiB", "wall seconds"], [[f"`{mem['command']}`", f"{mem['peak_rss_mib']:,.0f}", f"{mem['seconds']:.0f}"]])]  # fmt: skip
    return "\n\n".join(part for part in parts if part) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="A few hundred images, few repeats: checks the script runs."
    )
    parser.add_argument(
        "--output", default=str(REPO / "docs" / "BENCHMARKS.md"), help="Markdown report; JSON goes beside it."
    )
    parser.add_argument("--data-dir", default=None, help="MNIST folder (default: $MNIST_KERAS_DATA).")
    parser.add_argument("--thread-probe", nargs=2, type=int, metavar=("INTER", "INTRA"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    if args.data_dir:
        os.environ["MNIST_KERAS_DATA"] = args.data_dir
    if args.thread_probe:
        return thread_probe(load_mnist(args.data_dir), size, *args.thread_probe)
    report = {"command": "python scripts/benchmark_perf.py" + (" --quick" if args.quick else ""),
              "date": time.strftime("%Y-%m-%d %H:%M %Z"), "load_before": os.getloadavg(), "sizes": size}  # fmt: skip
    mnist = load_mnist(args.data_dir)
    report["machine"] = machine()
    with tempfile.TemporaryDirectory(prefix="mnist-keras-bench-") as tmp:
        folder = Path(tmp)
        report["training"], model = training(mnist, size)
        report["threads"] = threads(size, rounds=2) if size["variants"] else []
        report["xla"] = xla_by_architecture(mnist, size)
        report["inference"] = inference(model, mnist, size, folder)
        report["startup"] = startup(model, mnist, report["inference"], folder, runs=1 if args.quick else 3)
        report["memory"] = peak_memory(size["fit_limit"], folder)
    report["inference"].pop("tflite")
    report["load_after"] = os.getloadavg()
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_section(output, SECTION, markdown(report))
    output.with_name("benchmarks.json").write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))


if __name__ == "__main__":
    main()
