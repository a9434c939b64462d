"""Evaluation: predictions -> scikit-learn reports, confusion matrices, plots, ``metrics.json``.

For each split, one set of predictions feeds everything written about it::

    <output>/
      report_<split>.txt             scikit-learn classification_report (the paper's Tables 1 and 2)
      report_<split>.json            the same numbers, plus micro averages, log loss, top-2 accuracy
      confusion_<split>.csv          10x10 counts, rows = true digit, columns = predicted digit
      confusion_<split>.png          the counts as a heatmap
      confusion_<split>_normalized.png   each row as % of that digit (the diagonal is recall)
      mistakes_<split>.png           the most confidently wrong images
      curves.png                     loss and accuracy per epoch (only for a model from a run folder)
      metrics.json                   the summary other commands (compare, export) read

``evaluate --tta`` writes the same files to ``eval_tta/``, from predictions
averaged over the image and rotated copies (``predict.tta_views``).

``train`` means all 60,000 training images (validation included), as in the
paper's Table 1; ``test`` the 10,000 test images. :func:`compute_metrics` is
the one place metrics are computed; compare and export reuse it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from . import __version__
from .artifacts import (
    file_sha256,
    kept_row,
    load_model,
    read_history,
    recipe_setting,
    resolve_model_path,
    run_folder_of,
    run_settings,
    write_json,
    write_text,
)
from .digits import CLASS_NAMES, CLASSES, PREDICT_BATCH_SIZE
from .errors import MnistKerasError
from .extras import start_tensorflow
from .predict import TTA_ROTATIONS_DEG, predict_probabilities

SPLITS = ("train", "test")
SPLIT_CHOICES = ("train", "test", "both")
LABELS = list(CLASSES)
REPORT_DIGITS = 4  # decimals in the text report: at 99% accuracy two would hide every difference
MISTAKES_SHOWN = 32
EVAL_DIRNAME = "eval"
EVAL_TTA_DIRNAME = "eval_tta"
METRICS_FILENAME = "metrics.json"
CURVES_FILENAME = "curves.png"
SUMMARY_KEYS = ("n", "accuracy", "errors", "macro_f1", "micro_f1", "weighted_f1", "log_loss", "top2_accuracy")


# ------------------------------------------------------------------ metrics


def normalize_probabilities(probs: np.ndarray) -> np.ndarray:
    """float64 rows that sum to 1 (float32 softmax rows are off by ~1e-7, which log_loss warns about)."""
    probs = np.asarray(probs, dtype=np.float64)
    return probs / probs.sum(axis=1, keepdims=True)


def compute_metrics(y_true: np.ndarray, probs: np.ndarray) -> dict:
    """Every number reported about one set of predictions.

    Args:
        y_true: ``(N,)`` true digits 0-9.
        probs: ``(N, 10)`` predicted probabilities; the prediction is the argmax.

    Returns:
        A JSON-ready dict: the :data:`SUMMARY_KEYS` scalars, ``micro_avg`` /
        ``macro_avg`` / ``weighted_avg`` / ``per_class`` (precision, recall,
        f1, support) and ``confusion_matrix`` (rows = true digit).
    """
    from sklearn.metrics import (
        classification_report,
        confusion_matrix,
        log_loss,
        precision_recall_fscore_support,
        top_k_accuracy_score,
    )

    y_true = np.asarray(y_true).astype(np.int64)
    probs = normalize_probabilities(probs)
    y_pred = probs.argmax(axis=1)
    report = classification_report(
        y_true, y_pred, labels=LABELS, target_names=CLASS_NAMES, output_dict=True, zero_division=0
    )
    micro = precision_recall_fscore_support(y_true, y_pred, labels=LABELS, average="micro", zero_division=0)
    return {
        "n": len(y_true),
        "accuracy": float(report["accuracy"]),
        "errors": int((y_pred != y_true).sum()),
        "macro_f1": float(report["macro avg"]["f1-score"]),
        "micro_f1": float(micro[2]),
        "weighted_f1": float(report["weighted avg"]["f1-score"]),
        "log_loss": float(log_loss(y_true, probs, labels=LABELS)),
        "top2_accuracy": float(top_k_accuracy_score(y_true, probs, k=2, labels=LABELS)),
        "micro_avg": _scores(*micro[:3], len(y_true)),
        "macro_avg": _scores_of(report["macro avg"]),
        "weighted_avg": _scores_of(report["weighted avg"]),
        "per_class": {digit: _scores_of(report[digit]) for digit in CLASS_NAMES},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=LABELS).tolist(),
    }


def _scores(precision: float, recall: float, f1: float, support: int) -> dict:
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1), "support": int(support)}


def _scores_of(row: dict) -> dict:
    return _scores(row["precision"], row["recall"], row["f1-score"], row["support"])


def report_text(y_true: np.ndarray, probs: np.ndarray, metrics: dict, *, title: str) -> str:
    """scikit-learn's text ``classification_report``, titled, plus what it omits for multiclass."""
    from sklearn.metrics import classification_report

    y_pred = np.asarray(probs).argmax(axis=1)
    table = classification_report(
        y_true, y_pred, labels=LABELS, target_names=CLASS_NAMES, digits=REPORT_DIGITS, zero_division=0
    )
    micro = metrics["micro_avg"]
    extra = [
        f"   micro avg     {micro['precision']:.4f}    {micro['recall']:.4f}    {micro['f1']:.4f}     {micro['support']}",
        "",
        f"top-2 accuracy   {metrics['top2_accuracy']:.4f}",
        f"log loss         {metrics['log_loss']:.4f}",
        f"errors           {metrics['errors']} of {metrics['n']}",
    ]
    return f"{title}\n\n{table.rstrip()}\n" + "\n".join(extra) + "\n"


def confusion_csv(matrix: list[list[int]]) -> str:
    """The confusion matrix as CSV: a header of predicted digits, one row per true digit."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["true\\predicted", *CLASS_NAMES])
    writer.writerows([digit, *row] for digit, row in zip(CLASS_NAMES, matrix))
    return buffer.getvalue()


# ---------------------------------------------------------------- one split


def evaluate_split(model, images: np.ndarray, labels: np.ndarray, *, split: str, name: str,
                   output_dir: Path, batch_size: int = PREDICT_BATCH_SIZE, tta: bool = False) -> dict:  # fmt: skip
    """Predict one split once and write its report, confusion matrix and plots.

    Returns:
        The split's :func:`compute_metrics` dict.
    """
    from . import plots

    probs = predict_probabilities(model, images, batch_size, tta=tta)
    metrics = compute_metrics(labels, probs)
    name = f"{name} (test-time aug. ±{TTA_ROTATIONS_DEG[-1]:g}°)" if tta else name
    caption = f"{name} · {split} ({metrics['n']:,} images) · accuracy {metrics['accuracy']:.2%}"
    write_text(output_dir / f"report_{split}.txt", report_text(labels, probs, metrics, title=caption))
    write_json(output_dir / f"report_{split}.json", {"model_name": name, "split": split, **metrics})
    matrix = np.array(metrics["confusion_matrix"])
    write_text(output_dir / f"confusion_{split}.csv", confusion_csv(metrics["confusion_matrix"]))
    plots.save_figure(plots.confusion_figure(matrix, title=f"{caption}\nconfusion matrix (image counts)"),
                      output_dir / f"confusion_{split}.png")  # fmt: skip
    plots.save_figure(
        plots.confusion_figure(matrix, title=f"{caption}\nrow-normalized: % of each true digit", normalized=True),
        output_dir / f"confusion_{split}_normalized.png",
    )
    _plot_mistakes(
        images, labels, probs, metrics, title=f"{name} · {split}", target=output_dir / f"mistakes_{split}.png"
    )
    return metrics


def most_confident_mistakes(labels: np.ndarray, probs: np.ndarray, limit: int = MISTAKES_SHOWN) -> np.ndarray:
    """Indices of wrong predictions, the most confident first (at most ``limit``)."""
    y_pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(y_pred != labels)
    confidence = probs[wrong, y_pred[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")][:limit]


def _plot_mistakes(images, labels, probs, metrics: dict, *, title: str, target: Path) -> None:
    from . import plots

    picked = most_confident_mistakes(labels, probs)
    y_pred = probs.argmax(axis=1)
    which = (
        f"all {len(picked)}"
        if len(picked) == metrics["errors"]
        else f"the {len(picked)} most confident of {metrics['errors']:,}"
    )
    heading = f"{title}: {which} mistakes (true → predicted, confidence)"
    fig = plots.mistakes_figure(
        images[picked], labels[picked], y_pred[picked], probs[picked, y_pred[picked]], title=heading
    )
    plots.save_figure(fig, target)


# ------------------------------------------------------------------- a model


def parse_splits(splits: str | Iterable[str]) -> tuple[str, ...]:
    """``"both"`` -> ``("train", "test")``; reject unknown names with a clear error."""
    names = [splits] if isinstance(splits, str) else list(splits)
    result: list[str] = []
    for name in names:
        if name not in SPLIT_CHOICES:
            raise MnistKerasError(f"unknown split {name!r}; choose one of {', '.join(SPLIT_CHOICES)}")
        result += [s for s in (SPLITS if name == "both" else (name,)) if s not in result]
    if not result:
        raise MnistKerasError(f"no split to evaluate; choose one of {', '.join(SPLIT_CHOICES)}")
    return tuple(result)


def default_output_dir(model_path: Path, *, tta: bool = False) -> Path:
    """``<run>/eval/`` for a model in a run folder, else ``eval/<file name without .keras>/``.

    With ``tta`` the folder is ``eval_tta``: its numbers are not the model's
    plain ones, which ``compare`` and ``export`` read from ``eval/``.
    """
    folder = EVAL_TTA_DIRNAME if tta else EVAL_DIRNAME
    run = run_folder_of(model_path)
    return run / folder if run else Path(folder) / Path(model_path).stem


def evaluate_model(model_path: str | os.PathLike, *, splits: str | Iterable[str] = SPLITS,
                   data_dir: str | os.PathLike | None = None, output_dir: str | os.PathLike | None = None,
                   batch_size: int = PREDICT_BATCH_SIZE, tta: bool = False) -> dict:  # fmt: skip
    """Evaluate a ``.keras`` model (or a run folder's) on MNIST splits; write reports and plots.

    ``tta`` averages each prediction over ``predict.tta_views`` (test-time
    augmentation) and writes to ``eval_tta`` by default.

    Returns:
        The ``metrics.json`` summary: model name, path, SHA-256, source run,
        params, output folder, and per split the :data:`SUMMARY_KEYS` numbers.
        Splits of an earlier ``metrics.json`` for the same model file (same
        SHA-256) that were not re-evaluated are kept.

    Raises:
        MnistKerasError: unknown split or bad batch size.
        ModelFileError: missing, unsafe or non-MNIST model.
        DataError: MNIST missing or corrupt.
    """
    from .data import load_mnist

    splits = parse_splits(splits)
    if batch_size < 1:
        raise MnistKerasError(f"--batch-size must be at least 1, got {batch_size}")
    model_path = resolve_model_path(model_path)
    mnist = load_mnist(data_dir)  # a missing or corrupt file is answered before TensorFlow starts
    start_tensorflow("evaluation")
    model = load_model(model_path)
    run = run_folder_of(model_path)
    name = run_settings(run).get("model") or model.name
    output = Path(output_dir) if output_dir else default_output_dir(model_path, tta=tta)

    arrays = {"train": (mnist.x_train, mnist.y_train), "test": (mnist.x_test, mnist.y_test)}
    results = {}
    for split in splits:
        images, labels = arrays[split]
        metrics = evaluate_split(
            model, images, labels, split=split, name=name, output_dir=output, batch_size=batch_size, tta=tta
        )
        results[split] = {key: metrics[key] for key in SUMMARY_KEYS} | {"report": f"report_{split}.txt"}
    if run is not None:
        _plot_curves(run, name, output / CURVES_FILENAME)

    sha256 = file_sha256(model_path)  # metrics.json names exactly which model
    summary = {
        "model_name": name,
        "model_path": str(model_path.resolve()),
        "model_sha256": sha256,
        "source_run": str(run.resolve()) if run else None,
        "params": int(model.count_params()),
        "output_dir": str(output.resolve()),
        "data_source": mnist.source,
        "data_checksum_mismatches": mnist.checksum_mismatches(),
        "batch_size": batch_size,
        "tta_rotations_deg": list(TTA_ROTATIONS_DEG) if tta else [],
        "mnist_keras_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "splits": _previous_splits(output / METRICS_FILENAME, sha256, tta) | results,
    }
    summary["splits"] = {s: summary["splits"][s] for s in SPLITS if s in summary["splits"]}
    write_json(output / METRICS_FILENAME, summary)
    return summary


def _previous_splits(metrics_path: Path, sha256: str, tta: bool) -> dict:
    """Splits of an existing ``metrics.json`` that describes the same model file, predicted the same way."""
    try:
        previous = json.loads(metrics_path.read_text())
    except (OSError, ValueError):
        return {}
    same_model = previous.get("model_sha256") == sha256
    same_views = bool(previous.get("tta_rotations_deg")) == tta
    return previous.get("splits", {}) if same_model and same_views else {}


def _plot_curves(run: Path, name: str, target: Path) -> None:
    """``curves.png`` from the run's ``history.csv`` (skipped if no epoch finished)."""
    from . import plots

    history = read_history(run)
    if history:
        kept = kept_row(history, recipe_setting(run_settings(run), "keep"))
        title = f"{name} · training curves ({run.name})"
        kept_epoch = int(kept["epoch"]) + 1 if kept else None
        plots.save_figure(plots.curves_figure(history, title=title, kept_epoch=kept_epoch), target)
