#!/usr/bin/env python3
"""Train the whole zoo on the full training set and write the measured leaderboard to docs/RESULTS.md.

Runs through the same code path as ``mnist-keras compare`` (compare.compare).
The machine is recorded with the numbers (cores, CPU model, load average at
the start), because the CPU may be shared and times inflate with the load.

    nohup nice python scripts/benchmark_zoo.py > /tmp/benchmark_zoo.log 2>&1 &
    python scripts/benchmark_zoo.py --render-only runs/benchmark-zoo   # rewrite RESULTS.md from a (partial) run
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))  # benchmark_docs

from benchmark_docs import load_note  # noqa: E402  (after the sys.path inserts)

from mnist_keras.artifacts import write_json, write_text  # noqa: E402  (after the sys.path insert)
from mnist_keras.compare import LEADERBOARD_CSV, markdown_table  # noqa: E402
from mnist_keras.data import augment_policy  # noqa: E402

# The two models with targets first, so a partial run already answers them.
DEFAULT_ORDER = "lamontagne,bn-cnn,keras-convnet,lenet5,mlp,lamontagne-wide,lamontagne-k5,lamontagne-1dense"
MACHINE_FILE = "machine.json"


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def read_rows(output: Path) -> list[dict]:
    """Leaderboard rows with numbers parsed back from the CSV."""
    with (output / LEADERBOARD_CSV).open(newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key in ("parameters", "test_errors", "epochs"):
            row[key] = int(row[key]) if row[key] else 0
        for key in (
            "val_accuracy",
            "val_loss",
            "test_accuracy",
            "test_macro_f1",
            "train_seconds",
            "model_kb",
            "ms_per_image",
        ):
            row[key] = float(row[key]) if row[key] else 0.0
    return rows


def unfinished(output: Path, requested: list[str], rows: list[dict]) -> str:
    """Models the run did not finish (stopped or not started), with their progress so far."""
    from mnist_keras.train import read_history

    lines = []
    for name in (n for n in requested if n not in {r["model"] for r in rows}):
        history = read_history(output / name)
        if not history:
            lines.append(f"- `{name}`: not started")
            continue
        settings = json.loads((output / name / "config.json").read_text())["settings"]
        best = max(float(row["val_accuracy"]) for row in history)
        lines.append(
            f"- `{name}`: stopped after {len(history)} of {settings['epochs']} epochs; best validation accuracy "
            f"so far {100 * best:.2f}% (incomplete, no test measurement)"
        )
    return "\n\nNot measured (the run was stopped before these finished):\n\n" + "\n".join(lines) if lines else ""


def render(output: Path, command: str, target: Path, requested: list[str], note: str = "") -> None:
    """Write RESULTS.md from the run's leaderboard.csv and machine.json."""
    info = json.loads((output.parent / MACHINE_FILE).read_text())
    rows = read_rows(output)
    config = {name: json.loads((output / name / "config.json").read_text())["settings"]
              for name in requested if (output / name / "config.json").is_file()}  # fmt: skip
    recipes = "\n".join(
        f"| {name} | {c['epochs']} | {c['batch_size']} | {c['learning_rate']:g} | {c['lr_schedule']} | {augment_policy(c['augment'])} "
        f"| {c.get('patience', 5)} | {c.get('keep', 'best')} |"  # older config.json files: the defaults of their day
        for name, c in config.items()
    )
    data = next(iter(json.loads((output / r["model"] / "config.json").read_text())["data"] for r in rows))
    text = f"""# Measured results: the model zoo on full MNIST

Measured by `{command}` (started {info["started"]}; {("finished " + info["finished"]) if "finished" in info else "stopped before finishing: partial results"}).

- Machine: {info["nproc"]} cores, {info["cpu_model"]}, {info["platform"]}, Python {info["python"]}
- Load average at start: {" / ".join(map(str, info["load_average_at_start"]))} (1 / 5 / 15 min).
  {load_note(info["load_average_at_start"][0])}
- Data: {data["train_size"]:,} training images, {data["validation_size"]:,} validation images held out of the
  60,000 (stratified, seed 42), the {data["test_size"]:,} test images measured once per model after training.
- Ranked by **validation** accuracy (ties: validation loss); the test columns are reported, never used to choose.
- Inference time: batched prediction (batch {1024}) over the 10,000 test images, divided by 10,000, on this CPU.

{markdown_table(rows)}{unfinished(output, requested, rows)}

Training recipes (each architecture's defaults, recorded in its run's `config.json`):

| model | max epochs | batch | initial LR | LR schedule | augmentation | patience | kept |
|---|---:|---:|---:|---|---|---:|---|
{recipes}

All runs use Adam and stop early after `patience` epochs without a lower validation loss. The model
measured is the run's `model.keras`: the epoch with the lowest validation loss (kept: best) or the last one.
""" + (f"\n## Notes\n\n{note}\n" if note else "")
    write_text(target, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=DEFAULT_ORDER)
    parser.add_argument("--output", default="runs/benchmark-zoo")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--limit", type=int, default=None, help="Smoke-test the script on N training images.")
    parser.add_argument("--results", default=str(REPO / "docs" / "RESULTS.md"))
    parser.add_argument("--note", default="", help="A paragraph added under 'Notes' (e.g. why a target was missed).")
    parser.add_argument("--render-only", action="store_true", help="Rewrite RESULTS.md from --output without training.")
    args = parser.parse_args()
    output = Path(args.output) / "zoo"  # compare's folder; machine.json sits beside it
    command = "python scripts/benchmark_zoo.py" + (f" --models {args.models}" if args.models != DEFAULT_ORDER else "")
    if not args.render_only:
        from mnist_keras.compare import CompareConfig, compare

        info = machine()
        write_json(output.parent / MACHINE_FILE, info)
        compare(
            CompareConfig(
                models=args.models.split(","), data_dir=args.data_dir, output=str(output), limit=args.limit, verbose=2
            )
        )
        write_json(output.parent / MACHINE_FILE, {**info, "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z")})
    render(output, command, Path(args.results), args.models.split(","), args.note)
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
