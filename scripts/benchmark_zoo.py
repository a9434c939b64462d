#!/usr/bin/env python3
"""Train the whole zoo on the full training set: the measured leaderboard, docs/zoo.json and docs/RESULTS.md.

Runs through the same code path as ``mnist-keras compare`` (compare.compare).
The machine and the load average are recorded with the numbers, because the
CPU may be shared and times inflate with the load.

    nohup nice python scripts/benchmark_zoo.py > /tmp/benchmark_zoo.log 2>&1 &
    python scripts/benchmark_zoo.py --from-run --output runs/benchmark-zoo   # collect a (partial) run, no training
    python scripts/benchmark_zoo.py --limit 300 --epochs 1 --models mlp --output /tmp/zoo --results /tmp/RESULTS.md
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness, also when a test imports this file
import harness  # noqa: E402 (after the sys.path line)

# The two models with targets first, so a partial run already answers them.
DEFAULT_ORDER = "lamontagne,bn-cnn,keras-convnet,lenet5,mlp,lamontagne-wide,lamontagne-k5,lamontagne-1dense"
HEADER_FILE = "machine.json"  # beside compare's folder: the report's header, written before training starts
NUMBERS = {"parameters": int, "test_errors": int, "epochs": int, "val_accuracy": float, "val_loss": float,
           "test_accuracy": float, "test_macro_f1": float, "train_seconds": float, "model_kb": float, "ms_per_image": float}  # fmt: skip
RECIPE_COLUMNS = {"epochs": "max epochs", "batch_size": "batch", "learning_rate": "initial LR", "lr_schedule": "LR schedule",
                  "augment": "augmentation", "ema_momentum": "weight average", "patience": "patience", "keep": "kept"}  # fmt: skip

# ------------------------------------------------------------- collecting


def read_rows(zoo: Path) -> list[dict]:
    """Leaderboard rows with numbers parsed back from compare's CSV (the run folders' paths left out)."""
    with (zoo / "leaderboard.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row.pop("run_dir", None)
        row.update({key: kind(row[key]) if row.get(key) else kind() for key, kind in NUMBERS.items()})
    return rows


def recipe_of(run_dir: Path) -> dict:
    """The recipe a run trained with (older run folders kept its fields flat among the settings)."""
    from mnist_keras.artifacts import recipe_setting, run_settings
    from mnist_keras.augment import augment_policy

    settings = run_settings(run_dir)
    recipe = {name: recipe_setting(settings, name) for name in RECIPE_COLUMNS}
    return recipe | {"augment": augment_policy(recipe["augment"])}


def progress(run_dir: Path) -> dict:
    """How far an unfinished model got: epochs done of its maximum, best validation accuracy so far."""
    from mnist_keras.artifacts import read_history, recipe_setting, run_settings

    history = read_history(run_dir)
    if not history:
        return {"epochs_done": 0}
    return {"epochs_done": len(history), "max_epochs": recipe_setting(run_settings(run_dir), "epochs"),
            "best_val_accuracy": max(float(row["val_accuracy"]) for row in history)}  # fmt: skip


def collect(output: Path, requested: list[str]) -> dict:
    """The report of a (possibly stopped) run in ``output``: its header, leaderboard, data, recipes, what is missing."""
    from mnist_keras.artifacts import read_config

    zoo = output / "zoo"
    rows = read_rows(zoo)
    done = [row["model"] for row in rows]
    data = read_config(zoo / done[0]).get("data", {}) if done else {}
    settings = read_config(zoo / done[0]).get("settings", {}) if done else {}
    return json.loads((output / HEADER_FILE).read_text()) | {
        "models": requested,
        "data": {key: data.get(key) for key in ("train_size", "validation_size", "test_size")} | {"seed": settings.get("seed")},
        "rows": rows,
        "recipes": {name: recipe_of(zoo / name) for name in requested if (zoo / name / "config.json").is_file()},
        "unfinished": {name: progress(zoo / name) for name in requested if name not in done},
    }  # fmt: skip


def train(args: argparse.Namespace, requested: list[str], argv: list[str] | None) -> None:
    """``compare`` over ``requested``, the report's header written before (and stamped after) training."""
    from mnist_keras.artifacts import write_json
    from mnist_keras.compare import CompareConfig, compare
    from mnist_keras.train import FitConfig

    output = Path(args.output)
    header = harness.start(__file__, argv, "tensorflow", "keras")
    write_json(output / HEADER_FILE, header)
    shared = FitConfig(data_dir=args.data_dir, limit=args.limit, overrides={"epochs": args.epochs}, verbose=2)
    compare(CompareConfig(models=requested, fit=shared, output=str(output / "zoo")))
    write_json(output / HEADER_FILE, harness.finish(header))


# ------------------------------------------------------------------ report


def unfinished_text(unfinished: dict) -> str:
    lines = [f"- `{name}`: not started" if not p["epochs_done"] else
             f"- `{name}`: stopped after {p['epochs_done']} of {p['max_epochs']} epochs; best validation accuracy so far "
             f"{100 * p['best_val_accuracy']:.2f}% (incomplete, no test measurement)" for name, p in unfinished.items()]  # fmt: skip
    return "Not measured (the run was stopped before these finished):\n\n" + "\n".join(lines) if lines else ""


def recipe_table(recipes: dict) -> str:
    def cell(value) -> str:
        return f"{value:g}" if isinstance(value, float) else str(value)

    rows = [[model, *(cell(recipe.get(name)) for name in RECIPE_COLUMNS)] for model, recipe in recipes.items()]
    return harness.table(["model", *RECIPE_COLUMNS.values()], rows, align="lrrrllrrl")


def render(report: dict) -> str:
    """The measured leaderboard of docs/RESULTS.md, from zoo.json."""
    from mnist_keras.compare import markdown_table

    data = report["data"]
    if "finished" not in report:
        report = report | {"command": report["command"] + " (stopped before finishing: partial results)"}
    return "\n\n".join(part for part in [
        harness.provenance(report),
        f"- Data: {data['train_size']:,} training images, {data['validation_size']:,} validation images held out of the "
        f"60,000 (stratified, seed {data['seed']}), the {data['test_size']:,} test images measured once per model after "
        "training.\n- Ranked by **validation** accuracy (ties: validation loss); the test columns are reported, never "
        "used to choose.\n- Inference time: batched prediction over the test images, divided by their number, on this CPU.",
        markdown_table(report["rows"]).strip(),
        unfinished_text(report["unfinished"]),
        "Training recipes (each architecture's own, recorded in its run's `config.json`):",
        recipe_table(report["recipes"]),
        "All runs use Adam and stop early after `patience` epochs without a lower validation loss. The model measured "
        "is the run's `model.keras`: the epoch with the lowest validation loss (kept: best) or the last one.",
    ] if part) + "\n"  # fmt: skip


BLOCKS = (harness.Block("zoo", "zoo.json", render, "", __file__),)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=DEFAULT_ORDER, help="Comma-separated architectures, in training order.")
    parser.add_argument("--output", default="runs/benchmark-zoo", help="Folder for compare's runs and the header.")
    parser.add_argument("--data-dir", default=None, help="MNIST folder (default: $MNIST_KERAS_DATA or Keras).")
    parser.add_argument("--limit", type=int, default=None, help="Smoke-test the script on N training images.")
    parser.add_argument(
        "--epochs", type=int, default=None, help="Smoke-test: at most N epochs (default: each recipe's)."
    )
    parser.add_argument(
        "--results", default=str(harness.DOCS / "RESULTS.md"), help="Page to update; zoo.json goes beside it."
    )
    parser.add_argument("--from-run", action="store_true", help="Collect the run in --output without training.")
    args = parser.parse_args(argv)
    requested = args.models.split(",")
    if not args.from_run:
        train(args, requested, argv)
    report = collect(Path(args.output), requested)
    print(harness.publish(report, BLOCKS, args.results))


if __name__ == "__main__":
    main()
