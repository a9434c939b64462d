"""Several architectures -> one leaderboard: ``compare(config) -> CompareResult``.

Every architecture is trained through the same :func:`mnist_keras.train.fit`
code path (same data, same split, same seed), each in its own run folder::

    runs/compare-<time>/
      <model>/             a normal run folder per architecture (config.json, model.keras, ...)
      leaderboard.csv      one row per architecture, best first (rewritten after each one)
      leaderboard.md       the same table for people
      leaderboard.png      validation and test accuracy per architecture

Ranking and the choice of the best model use the VALIDATION split: picking
the model with the best test accuracy would be model selection on the test
set, and its test accuracy would no longer be an unbiased estimate. The test
numbers are measured once per model and shown beside the ranking.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .artifacts import MODEL_FILENAME, atomic_path, load_model, read_history, write_text
from .data import Splits, load_mnist, make_splits
from .digits import PREDICT_BATCH_SIZE
from .errors import MnistKerasError
from .extras import start_tensorflow
from .train import FitConfig, fit, publish_file

LEADERBOARD_CSV = "leaderboard.csv"
LEADERBOARD_MD = "leaderboard.md"
LEADERBOARD_PNG = "leaderboard.png"
BEST_MODEL_NAME = "best.keras"
COLUMNS = [
    "rank", "model", "status", "parameters", "val_accuracy", "val_loss", "test_accuracy", "test_macro_f1",
    "test_errors", "epochs", "train_seconds", "model_kb", "ms_per_image", "run_dir", "error",
]  # fmt: skip


@dataclass
class CompareConfig:
    """Settings of one comparison.

    ``fit`` holds what every architecture shares (seed, data, subset, where
    and whether the winner is published as ``best.keras``, recipe overrides
    such as ``epochs``), with :class:`~mnist_keras.train.FitConfig`'s own
    defaults; each model is trained with it and its own name.
    """

    models: list[str] | None = None  # None: every registered architecture
    fit: FitConfig = field(default_factory=FitConfig)
    output: str | None = None


@dataclass
class CompareResult:
    output: Path
    rows: list[dict] = field(default_factory=list)
    best: dict | None = None
    published: str | None = None  # what happened to saved_models/best.keras, for the terminal


def default_output_dir() -> Path:
    """``runs/compare-<YYYYmmdd-HHMMSS>``."""
    return Path("runs") / f"compare-{time.strftime('%Y%m%d-%H%M%S')}"


def resolve_models(names: list[str] | None) -> list[str]:
    """Canonical architecture names, in the order given (all registered ones for None)."""
    from .models import ARCHITECTURES, get_architecture

    if not names:
        return list(ARCHITECTURES)
    try:
        resolved = [get_architecture(name.strip()).name for name in names if name.strip()]
    except ValueError as err:
        raise MnistKerasError(str(err)) from None
    if not resolved:
        raise MnistKerasError("--models is empty; give comma-separated names (see 'mnist-keras models')")
    return list(dict.fromkeys(resolved))  # drop duplicates, keep order


# ------------------------------------------------------------------ metrics


def measure_model(run_dir: Path, splits: Splits) -> dict:
    """Validation and test metrics, size and inference time of a run's best model."""
    from .evaluate import compute_metrics
    from .predict import predict_probabilities

    model_path = run_dir / MODEL_FILENAME
    model = load_model(model_path)
    val = compute_metrics(splits.y_val, predict_probabilities(model, splits.x_val))
    start = time.perf_counter()
    test_probs = predict_probabilities(model, splits.x_test, PREDICT_BATCH_SIZE)
    seconds = time.perf_counter() - start
    test = compute_metrics(splits.y_test, test_probs)
    return {
        "parameters": model.count_params(),
        "val_accuracy": round(val["accuracy"], 5),
        "val_loss": round(val["log_loss"], 5),
        "test_accuracy": round(test["accuracy"], 5),
        "test_macro_f1": round(test["macro_f1"], 5),
        "test_errors": test["errors"],
        "epochs": len(read_history(run_dir)),
        "model_kb": round(model_path.stat().st_size / 1024, 1),
        "ms_per_image": round(1000 * seconds / len(splits.y_test), 4),
    }


# ------------------------------------------------------------------ compare


def train_one(name: str, config: CompareConfig, output: Path, splits: Splits) -> dict:
    """Train and measure one architecture; a failure becomes a row, not an exception."""
    run_dir = output / name
    row = {"model": name, "run_dir": str(run_dir)}
    fit_config = dataclasses.replace(config.fit, model=name, run_dir=str(run_dir), publish="never")
    start = time.perf_counter()
    try:
        fit(fit_config)
        row["train_seconds"] = round(time.perf_counter() - start, 1)
        row.update(measure_model(run_dir, splits))
    except Exception as err:  # noqa: BLE001 - one broken architecture must not sink the others
        row["train_seconds"] = round(time.perf_counter() - start, 1)
        return {**row, "status": "failed", "error": f"{type(err).__name__}: {err}".splitlines()[0][:300]}
    return {**row, "status": "ok", "error": ""}


def rank(rows: list[dict]) -> list[dict]:
    """Best first by validation accuracy (ties: lower validation loss); failures last."""
    ok = sorted((r for r in rows if r["status"] == "ok"), key=lambda r: (-r["val_accuracy"], r["val_loss"]))
    failed = [r for r in rows if r["status"] != "ok"]
    return [{**row, "rank": i + 1 if row["status"] == "ok" else ""} for i, row in enumerate(ok + failed)]


def compare(config: CompareConfig) -> CompareResult:
    """Train every requested architecture, write the leaderboard, publish the best model.

    Raises:
        MnistKerasError: unknown model names, an output folder in the way.
        DataError: MNIST cannot be loaded (checked once, before any training).
    """
    names = resolve_models(config.models)
    output = Path(config.output) if config.output else default_output_dir()
    if output.exists() and any(output.iterdir()):
        raise MnistKerasError(f"{output}: folder already holds files; pick another --output")
    for name in names:  # every option checked before any training
        dataclasses.replace(config.fit, model=name).resolved().validate()
    shared = config.fit
    mnist = load_mnist(shared.data_dir)
    start_tensorflow("training")
    # The split fit() will make too (same function, same seed): measured on the same images.
    splits = make_splits(mnist, validation_size=shared.validation_size, limit=shared.limit, seed=shared.seed)
    output.mkdir(parents=True, exist_ok=True)
    result = CompareResult(output)
    for name in names:
        result.rows = rank([*result.rows, train_one(name, config, output, splits)])
        write_leaderboard(output, result.rows)  # after each model: a long run shows progress
    plot_leaderboard(result.rows, output / LEADERBOARD_PNG)
    result.best = next((row for row in result.rows if row["status"] == "ok"), None)
    if result.best is not None:
        result.published = publish_best(config, result.best)
    return result


def publish_best(config: CompareConfig, best: dict) -> str | None:
    """Copy the winner to ``saved_models/best.keras`` as ``config.fit.publish`` says (see ``train.publish_file``)."""
    record = {key: best[key] for key in ("model", "val_accuracy", "val_loss", "test_accuracy", "run_dir")}
    target = Path(config.fit.saved_models_dir) / BEST_MODEL_NAME
    return publish_file(Path(best["run_dir"]) / MODEL_FILENAME, target, record, config.fit, what="comparison")


# ------------------------------------------------------------------ reports


def write_leaderboard(output: Path, rows: list[dict]) -> None:
    """``leaderboard.csv`` (every column) and ``leaderboard.md`` (the readable ones)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text(output / LEADERBOARD_CSV, buffer.getvalue())
    write_text(output / LEADERBOARD_MD, markdown_table(rows))


def markdown_table(rows: list[dict]) -> str:
    """The leaderboard as a Markdown table, ranked by validation accuracy."""
    lines = [
        "| rank | model | parameters | val acc | test acc | test macro F1 | test errors | epochs | train time | model size | inference |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| - | {r['model']} | failed: {r['error']} | | | | | | {r['train_seconds']:.0f} s | | |")
            continue
        lines.append(
            f"| {r['rank']} | {r['model']} | {r['parameters']:,} | {100 * r['val_accuracy']:.2f}% "
            f"| {100 * r['test_accuracy']:.2f}% | {r['test_macro_f1']:.4f} | {r['test_errors']} | {r['epochs']} "
            f"| {_duration(r['train_seconds'])} | {r['model_kb'] / 1024:.2f} MB | {1000 * r['ms_per_image']:.0f} µs/image |"
        )
    return "\n".join(lines) + "\n"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def plot_leaderboard(rows: list[dict], target: Path) -> None:
    """Bar chart of validation and test accuracy per model, test error counts written on the bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r["status"] == "ok"]
    fig, ax = plt.subplots(figsize=(9, 0.5 * max(len(ok), 2) + 2))
    if ok:
        y = np.arange(len(ok))[::-1]  # best at the top
        val = [100 * r["val_accuracy"] for r in ok]
        test = [100 * r["test_accuracy"] for r in ok]
        ax.barh(y + 0.2, val, height=0.4, label="validation (ranks)", color="tab:blue")
        ax.barh(y - 0.2, test, height=0.4, label="test", color="tab:orange")
        for yi, acc, r in zip(y, test, ok):
            ax.text(acc, yi - 0.2, f" {acc:.2f}% ({r['test_errors']} errors)", va="center", fontsize=8)
        ax.set_yticks(y, [r["model"] for r in ok])
        low = math.floor(min(val + test) - 0.5)
        ax.set_xlim(max(low, 0), 100.6)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.4 / len(ok)), ncol=2, fontsize=8)
    failed = [r["model"] for r in rows if r["status"] != "ok"]
    ax.set_title("MNIST accuracy per architecture" + (f" (failed: {', '.join(failed)})" if failed else ""))
    ax.set_xlabel("accuracy (%)")
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
