""".keras -> .tflite variants (float32, dynamic, float16, int8), each verified against the Keras model.

Conversion goes through a SavedModel (``model.export(format="tf_saved_model")``)
and ``tf.lite.TFLiteConverter.from_saved_model`` with TFLite builtin ops
only: Keras' own ``format="litert"`` turns on Flex ops, which the plain
LiteRT / tflite-runtime interpreter on a Raspberry Pi cannot run.

Every variant is then run through :mod:`mnist_keras.litert` (the same code the
edge script uses) on the test split and compared with the Keras model:
accuracy, agreement of predicted labels, largest probability difference, size
and single-image latency. A variant that loses more than the allowed accuracy
is kept but marked ``"passed": false``.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from . import artifacts, litert
from .bundle import BUNDLE_NAME, write_bundle
from .digits import CLASSES, INPUT_SHAPE
from .errors import ExportError
from .extras import start_tensorflow
from .quiet import stderr_silenced

VARIANTS = ("float32", "dynamic", "float16", "int8")
DEFAULT_OUTPUT_DIR = artifacts.TFLITE_DIRNAME
DEFAULT_CALIBRATION_SAMPLES = 500
DEFAULT_MAX_ACCURACY_DROP = 0.5  # percentage points of test accuracy
LATENCY_WARMUP = 20  # single-image invokes discarded before timing
LATENCY_RUNS = 200  # single-image invokes timed
LATENCY_THREADS = 1  # one thread: stable numbers, and what a Pi script would use
PREPROCESSING = (
    "28x28 grayscale, light digit on black, 0-255 (MNIST style; see mnist_keras.preprocess.to_mnist); "
    "the model scales internally"
)


@dataclasses.dataclass
class ExportResult:
    """What an export wrote and how each variant did."""

    name: str
    output_dir: Path
    report: dict
    files: list[Path]

    @property
    def failed(self) -> list[str]:
        return [v["variant"] for v in self.report["variants"] if not v["passed"]]


# ------------------------------------------------------------------ options


def parse_variants(values: Iterable[str] | None) -> tuple[str, ...]:
    """Variant names from repeated and/or comma-separated options; all four if none.

    Raises:
        ExportError: a name is not one of :data:`VARIANTS`.
    """
    names = [n.strip().lower() for v in (values or ()) for n in str(v).split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ExportError(
            f"unknown --quantize variant {', '.join(map(repr, unknown))}; choose from {', '.join(VARIANTS)}"
        )
    return tuple(v for v in VARIANTS if v in names) or VARIANTS


def check_output_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` if needed and prove a file can be written there, before any slow work.

    Raises:
        ExportError: it is a file, or cannot be created or written.
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"{folder}: output path is a file, not a folder; give a folder with --output")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ExportError(
            f"{folder}: output folder is not writable ({err.strerror or err}); give another --output"
        ) from None
    return folder


def export_name(model_path: Path) -> str:
    """The model file's stem, or the run folder's name for a run folder's ``model.keras``."""
    model_path = Path(model_path)
    if model_path.stem == Path(artifacts.MODEL_FILENAME).stem:
        return model_path.resolve().parent.name
    return model_path.stem


# --------------------------------------------------------------- conversion


def calibration_images(mnist, model_path: Path, samples: int) -> np.ndarray:
    """``samples`` training images as float32 (N, 28, 28, 1) 0-255, exactly what training fed the model.

    Taken from the training split (with the run's own seed and validation
    size when the model sits in a run folder), never from the test split.
    """
    from .data import DEFAULT_VALIDATION_SIZE, make_splits
    from .digits import DEFAULT_SEED

    saved = artifacts.run_settings(artifacts.run_folder_of(model_path))
    settings = {
        "seed": saved.get("seed", DEFAULT_SEED),
        "validation_size": saved.get("validation_size", DEFAULT_VALIDATION_SIZE),
    }
    splits = make_splits(mnist, validation_size=settings["validation_size"], seed=settings["seed"])
    rng = np.random.default_rng(settings["seed"])
    picked = rng.choice(len(splits.x_train), size=min(samples, len(splits.x_train)), replace=False)
    return splits.x_train[np.sort(picked)][..., None].astype(np.float32)


def _converter(saved_model_dir: Path, variant: str, calibration: np.ndarray | None):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no Flex: plain LiteRT must run it
    if variant == "float32":
        return converter
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "int8":
        converter.representative_dataset = lambda: ([calibration[i : i + 1]] for i in range(len(calibration)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter


def convert_variants(
    model, variants: tuple[str, ...], calibration: np.ndarray | None, write: Callable[[str, bytes], Path]
) -> dict[str, Path]:
    """Convert ``model`` once to a SavedModel, then to each variant; ``write`` stores the bytes."""
    with tempfile.TemporaryDirectory(prefix="mnist-keras-export-") as tmp:
        saved_model_dir = Path(tmp) / "saved_model"
        model.export(str(saved_model_dir), format="tf_saved_model", verbose=False)
        return {v: write(v, _convert(_converter(saved_model_dir, v, calibration))) for v in variants}


def _convert(converter) -> bytes:
    """``converter.convert()`` without the converter's native progress lines on stderr (its errors still raise)."""
    with stderr_silenced():
        return converter.convert()


# ------------------------------------------------------------- verification


def latency_us(interpreter, image: np.ndarray, *, runs: int = LATENCY_RUNS, warmup: int = LATENCY_WARMUP) -> dict:
    """Median and 99th-percentile time of one single-image ``invoke()``, in microseconds."""
    litert.set_input(interpreter, image[None])
    for _ in range(warmup):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        interpreter.invoke()
        times.append((time.perf_counter_ns() - start) / 1000)
    return {"median": float(np.median(times)), "p99": float(np.percentile(times, 99))}


def verify_variant(path: Path, x_test: np.ndarray, y_test: np.ndarray, keras_proba: np.ndarray) -> dict:
    """Test-split accuracy, agreement with Keras, tensor details, ops and latency of one ``.tflite``."""
    interpreter = litert.load_interpreter(path)
    input_detail = interpreter.get_input_details()[0]  # before predict_proba resizes the batch
    output_detail = interpreter.get_output_details()[0]
    proba = litert.predict_proba(interpreter, x_test)
    ops = sorted(set(litert.op_names(path)))
    single = litert.load_interpreter(path, num_threads=LATENCY_THREADS)
    return {
        "accuracy": float(np.mean(proba.argmax(1) == y_test)),
        "agreement": float(np.mean(proba.argmax(1) == keras_proba.argmax(1))),
        "max_probability_difference": float(np.max(np.abs(proba - keras_proba))),
        "latency_us": latency_us(single, x_test[0]),
        "input": litert.tensor_summary(input_detail),
        "output": litert.tensor_summary(output_detail),
        "ops": ops,
        "builtin_ops_only": not any(op.startswith("Flex") for op in ops),
    }


def variant_row(
    variant: str, path: Path, checks: dict, *, keras_accuracy: float, float32_size: int | None, max_drop: float
) -> dict:
    """One report row: the checks plus size, accuracy change and pass/fail."""
    size = path.stat().st_size
    change = 100 * (checks["accuracy"] - keras_accuracy)  # percentage points
    return {
        "variant": variant,
        "file": path.name,
        "size_bytes": size,
        "size_vs_float32": size / float32_size if float32_size else None,
        **checks,
        "accuracy_change_points": change,
        "passed": bool(-change <= max_drop and checks["builtin_ops_only"]),
    }


# ---------------------------------------------------------------- the export


def export(
    model_path: str | os.PathLike,
    *,
    variants: tuple[str, ...] = VARIANTS,
    output_dir: str | os.PathLike = DEFAULT_OUTPUT_DIR,
    calibration_samples: int = DEFAULT_CALIBRATION_SAMPLES,
    max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP,
    data_dir: str | os.PathLike | None = None,
    test_limit: int | None = None,
) -> ExportResult:
    """Convert a ``.keras`` model (or run folder) to TFLite variants, verify each, write the reports.

    Args:
        test_limit: verify on the first N test images only (smoke runs); default all 10,000.

    Raises:
        ModelFileError: the model is missing, unreadable or not 28x28x1 -> 10.
        ExportError: bad option or unwritable output folder.
        DataError: the MNIST files are missing or corrupt.
    """
    from .data import load_mnist
    from .predict import predict_probabilities

    if calibration_samples < 1:
        raise ExportError(f"--calibration-samples {calibration_samples} must be at least 1")
    if max_accuracy_drop < 0:
        raise ExportError(f"--max-accuracy-drop {max_accuracy_drop} must be 0 or more (percentage points)")
    folder = check_output_dir(output_dir)
    model_path = artifacts.resolve_model_path(model_path)
    mnist = load_mnist(data_dir)  # bad paths and data are answered before TensorFlow starts
    start_tensorflow("export")
    model = artifacts.load_model(model_path)
    name = export_name(model_path)
    calibration = calibration_images(mnist, model_path, calibration_samples) if "int8" in variants else None

    def write(variant: str, content: bytes) -> Path:
        with artifacts.atomic_path(folder / f"{name}_{variant}.tflite") as tmp:
            tmp.write_bytes(content)
        return folder / f"{name}_{variant}.tflite"

    paths = convert_variants(model, variants, calibration, write)
    x_test, y_test = mnist.x_test[:test_limit], mnist.y_test[:test_limit]
    keras_proba = predict_probabilities(model, x_test)
    keras_accuracy = float(np.mean(keras_proba.argmax(1) == y_test))
    float32_size = paths["float32"].stat().st_size if "float32" in paths else None
    rows = [
        variant_row(v, p, verify_variant(p, x_test, y_test, keras_proba),
                    keras_accuracy=keras_accuracy, float32_size=float32_size, max_drop=max_accuracy_drop)
        for v, p in paths.items()
    ]  # fmt: skip
    report = {
        "model": str(model_path),
        "model_sha256": artifacts.file_sha256(model_path),
        "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "test_images": len(y_test),
        "keras_accuracy": keras_accuracy,
        "max_accuracy_drop_points": max_accuracy_drop,
        "calibration_samples": 0 if calibration is None else len(calibration),
        "latency": {
            "runs": LATENCY_RUNS,
            "warmup": LATENCY_WARMUP,
            "threads": LATENCY_THREADS,
            "what": "one invoke() of one image",
        },
        "variants": rows,
    }
    files = [*paths.values(), *write_reports(folder, name, report), write_bundle(folder / BUNDLE_NAME)]
    return ExportResult(name=name, output_dir=folder, report=report, files=files)


# ------------------------------------------------------------------ reports


def metadata(report: dict) -> dict:
    """What an edge script needs to run the exported files."""
    return {
        "labels": list(CLASSES),
        "input_shape": [1, *INPUT_SHAPE],
        "preprocessing": PREPROCESSING,
        "source_model": report["model"],
        "source_model_sha256": report["model_sha256"],
        "variants": {
            row["variant"]: {
                "file": row["file"], "size_bytes": row["size_bytes"],
                "input": {k: row["input"][k] for k in ("dtype", "scale", "zero_point")},
                "output": {k: row["output"][k] for k in ("dtype", "scale", "zero_point")},
                "test_accuracy": row["accuracy"], "passed": row["passed"],
            }
            for row in report["variants"]
        },
    }  # fmt: skip


def format_table(report: dict) -> str:
    """The per-variant results as a Markdown table (also what the CLI prints)."""
    lines = [
        "| variant | size | vs float32 | accuracy | change (points) | agreement | max prob diff | latency median / p99 (us) | status |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in report["variants"]:
        ratio = f"{100 * r['size_vs_float32']:.0f}%" if r["size_vs_float32"] else "-"
        lines.append(
            f"| {r['variant']} | {r['size_bytes'] / 1e6:.2f} MB | {ratio} | {100 * r['accuracy']:.2f}% "
            f"| {r['accuracy_change_points']:+.2f} | {100 * r['agreement']:.2f}% | {r['max_probability_difference']:.4f} "
            f"| {r['latency_us']['median']:.0f} / {r['latency_us']['p99']:.0f} | {'ok' if r['passed'] else 'FAILED'} |"
        )
    return "\n".join(lines)


def format_markdown(report: dict) -> str:
    return (
        f"# TFLite export of {report['model']}\n\n"
        f"Created {report['created']}; model sha256 `{report['model_sha256']}`.\n"
        f"Keras accuracy on {report['test_images']:,} test images: {100 * report['keras_accuracy']:.2f}%. "
        f"Allowed accuracy drop: {report['max_accuracy_drop_points']} points. "
        f"int8 calibration: {report['calibration_samples']} training images. "
        f"Latency: {report['latency']['what']}, {report['latency']['runs']} runs after {report['latency']['warmup']} "
        f"warm-up, {report['latency']['threads']} thread.\n\n{format_table(report)}\n"
    )


def write_reports(folder: Path, name: str, report: dict) -> list[Path]:
    """``<name>.json`` (edge metadata), ``<name>_report.json`` and ``<name>_report.md``."""
    return [
        artifacts.write_json(folder / f"{name}.json", metadata(report)),
        artifacts.write_json(folder / f"{name}_report.json", report),
        artifacts.write_text(folder / f"{name}_report.md", format_markdown(report)),
    ]
