#!/usr/bin/env python3
"""Train the model that ships on several seeds, pick one on validation, and publish it with its card.

    python scripts/ship_model.py                       # robust, seeds 1 2 3 (hours on 2 CPU cores)
    python scripts/ship_model.py --quick --root /tmp/x # a smoke run: 2,000 images, 1 epoch

For each seed: ``mnist-keras fit --model robust --seed N --deterministic``
(through ``pipeline.run``, evaluation included) and the robustness suite on
the run's model; a seed already done is reused, so an interrupted job goes
on where it stopped. The seed with the best validation accuracy (never test)
is published to ``saved_models/<model>.keras``, exported to
``tflite/<model>_int8.tflite`` (with its metadata, which names the
``.keras`` it came from), run through the suite again as int8, and
described by ``saved_models/<model>.md``: the card (``mnist_keras.card``)
with the recipe's spread over all the seeds, its pictures in
``saved_models/<model>_card/``. Every number in the card comes from these
runs' own reports.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from pathlib import Path

from mnist_keras import card
from mnist_keras.artifacts import MODEL_FILENAME, SAVED_MODELS_DIRNAME, TFLITE_DIRNAME, publish_model, read_config
from mnist_keras.errors import MnistKerasError
from mnist_keras.predict import SHIPPED_MODEL

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SEEDS = (1, 2, 3)
QUICK = {"limit": 2000, "overrides": {"epochs": 1}, "per_condition": 20}


def train_seed(model: str, seed: int, runs: Path, data_dir: str | None, quick: bool) -> Path:
    """One seed's run folder, trained and evaluated (reused when its evaluation exists)."""
    from mnist_keras.pipeline import run
    from mnist_keras.train import FitConfig

    run_dir = runs / f"{model}-seed{seed}"
    if (run_dir / "eval" / "metrics.json").is_file():
        print(f"seed {seed}: reusing {run_dir}")
        return run_dir
    extra = {k: QUICK[k] for k in ("limit", "overrides")} if quick else {}
    config = FitConfig(model=model, seed=seed, deterministic=True, run_dir=str(run_dir), data_dir=data_dir,
                       publish="never", verbose=2, **extra)  # fmt: skip
    run(config)
    return run_dir


def suite(model_path: Path, output: Path, data_dir: str | None, quick: bool) -> dict:
    """The robustness summary of ``model_path`` (reused when ``output`` holds one)."""
    import json

    from mnist_keras.robustness import DEFAULT_PER_CONDITION, run_robustness

    report = output / "robustness.json"
    if report.is_file():
        return json.loads(report.read_text())
    per_condition = QUICK["per_condition"] if quick else DEFAULT_PER_CONDITION
    return run_robustness(model_path, per_condition=per_condition, data_dir=data_dir, output_dir=output, progress=print)


def seed_row(seed: int, run_dir: Path, robustness: dict) -> dict:
    """One line of the spread table."""
    import json

    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
    training = card.training_record(run_dir)
    return {
        "seed": seed,
        "run_dir": str(run_dir),
        "kept_epoch": training["kept_epoch"],
        "val_accuracy": training["validation"]["accuracy"],
        "val_loss": training["validation"]["loss"],
        "test_accuracy": metrics["splits"]["test"]["accuracy"],
        "suite_mean_accuracy": robustness["suite_mean_accuracy"],
        "unseen_mean_accuracy": robustness.get("unseen_mean_accuracy"),
    }


def spread(rows: list[dict], shipped: dict) -> dict:
    """The recipe over the seeds: every row, and the median and range of what matters."""
    tests = [r["test_accuracy"] for r in rows]
    return {
        "seeds": rows,
        "shipped_seed": shipped["seed"],
        "median_test_accuracy": statistics.median(tests),
        "min_test_accuracy": min(tests),
        "max_test_accuracy": max(tests),
        "median_suite_mean_accuracy": statistics.median(r["suite_mean_accuracy"] for r in rows),
        "median_unseen_mean_accuracy": statistics.median(r["unseen_mean_accuracy"] or 0.0 for r in rows),
    }


def ship(model: str, seeds: tuple[int, ...], root: Path, runs: Path, data_dir: str | None, quick: bool) -> Path:
    """Train, choose, publish, export, measure and describe; returns the card's path."""
    import json

    from mnist_keras.export import export

    runs.mkdir(parents=True, exist_ok=True)
    trained = {seed: train_seed(model, seed, runs, data_dir, quick) for seed in seeds}
    suites = {seed: suite(run / MODEL_FILENAME, run / "robustness", data_dir, quick) for seed, run in trained.items()}
    rows = [seed_row(seed, run, suites[seed]) for seed, run in trained.items()]
    best = max(rows, key=lambda r: (r["val_accuracy"], -r["val_loss"]))  # validation only: test never chooses
    run_dir = Path(best["run_dir"])
    print(f"shipping seed {best['seed']} ({run_dir}): validation accuracy {best['val_accuracy']:.4f}")

    target = root / SAVED_MODELS_DIRNAME / f"{model}.keras"
    record = {"val_accuracy": best["val_accuracy"], "val_loss": best["val_loss"], "run_dir": os.path.relpath(run_dir, root),
              "model": model, "published": time.strftime("%Y-%m-%dT%H:%M:%S%z")}  # fmt: skip
    publish_model(run_dir / MODEL_FILENAME, target, record, force=True)
    load_before = os.getloadavg()[0]
    exported = export(target, variants=("int8",), output_dir=root / TFLITE_DIRNAME, data_dir=data_dir,
                      test_limit=None)  # fmt: skip
    int8 = exported.report["variants"][0]
    tflite = root / TFLITE_DIRNAME / f"{model}_int8.tflite"
    int8_suite = suite(tflite, runs / f"{model}-int8-robustness", data_dir, quick)

    pictures = root / SAVED_MODELS_DIRNAME / f"{model}{card.EXAMPLES_DIR_SUFFIX}"
    pictures.mkdir(parents=True, exist_ok=True)
    examples = {}
    for caption, source in (("The 32 most confident test mistakes", run_dir / "eval" / "mistakes_test.png"),
                            ("Robustness: examples as given and as the model saw them", run_dir / "robustness" / "examples.png"),
                            ("Robustness: accuracy per condition", run_dir / "robustness" / "robustness.png")):  # fmt: skip
        shutil.copyfile(source, pictures / source.name)
        examples[caption] = f"{pictures.name}/{source.name}"
    versions = read_config(run_dir).get("versions", {})
    machine = f"{versions.get('platform', '?')}, load {load_before:.2f} before the export"
    data = card.record(
        json.loads(target.with_suffix(".json").read_text()), model_path=target, root=root,
        evaluation=json.loads((run_dir / "eval" / "metrics.json").read_text()),
        int8={k: int8[k] for k in ("accuracy", "agreement", "max_probability_difference", "latency_us")},
        robustness={"Keras `.keras`": suites[best["seed"]], "int8 `.tflite`": int8_suite},
        spread=spread(rows, best), examples=examples, machine=machine,
    )  # fmt: skip
    data["files"]["tflite_int8"] = card.file_entry(tflite, root)
    return card.write(data, target)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=SHIPPED_MODEL, help="architecture to ship (default: %(default)s)")
    parser.add_argument("--seeds", type=int, nargs="+", default=DEFAULT_SEEDS, help="default: %(default)s")
    parser.add_argument(
        "--root", type=Path, default=REPO, help="where saved_models/ and tflite/ are (default: the repo)"
    )
    parser.add_argument("--runs", type=Path, default=None, help="run folders (default: ROOT/runs/ship)")
    parser.add_argument("--data-dir", default=None, help="MNIST folder (default: $MNIST_KERAS_DATA)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2,000 images, 1 epoch, 20 digits per condition"
    )
    args = parser.parse_args(argv)
    runs = args.runs or args.root / "runs" / "ship"
    try:
        path = ship(args.model, tuple(args.seeds), args.root, runs, args.data_dir, args.quick)
    except MnistKerasError as err:  # an unknown --model, no MNIST: one line, exit 1
        raise SystemExit(f"Error: {err}") from None
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
