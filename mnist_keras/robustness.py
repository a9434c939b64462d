"""Robustness suite: a model's accuracy under corruptions, real-input shifts and printed fonts.

One sample of MNIST test digits (``per_condition`` of them, drawn with ``seed``)
is turned into each condition's images, every image goes through
``preprocess.to_mnist`` exactly as on the page and the Raspberry Pi, and the
model classifies the result. An image that preprocessing rejects (no digit
found) counts as an error and is also counted as ``unreadable``. Where a
condition's images are still 28x28 (clean, MNIST-C, inverted) the model also
classifies them as they are, without preprocessing (``raw_accuracy``): the
difference says whether ``to_mnist`` helps or hurts under that condition::

    <output>/
      robustness.json   every number: model, seed, sample size, per condition accuracy,
                        errors, unreadable, accuracy without preprocessing, seconds,
                        per-font accuracy, group and suite means
      robustness.txt    the table as text (also printed)
      robustness.md     the same table in Markdown
      robustness.png    accuracy per condition as bars, clean accuracy as a line
      examples.png      the first images of each condition as given and as the model saw
                        them, with the true digit and the model's answer

Conditions (see ``mnist-keras robustness --help`` and :func:`conditions`):
``clean``; the 15 MNIST-C corruptions and the real-input shifts of
:mod:`mnist_keras.corruptions`; ``printed`` (training fonts) and
``printed_heldout`` (fonts no model may train on) of :mod:`mnist_keras.printed`.
Each condition has its own random stream derived from (seed, name), so
running a subset gives the same images as the full suite.
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import __version__
from .artifacts import (
    file_sha256,
    published_run,
    resolve_model_path,
    run_folder_of,
    run_settings,
    write_json,
    write_text,
)
from .digits import DEFAULT_SEED
from .errors import MnistKerasError
from .preprocess import ImageError, to_mnist

DEFAULT_PER_CONDITION = 500
MAX_PER_CONDITION = 10_000  # the MNIST test set
EXAMPLES_PER_CONDITION = 6
OUTPUT_DIRNAME = "robustness"
CLEAN, PRINTED = "clean", "printed"
PRINTED_CONDITIONS = {"printed": False, "printed_heldout": True}  # name -> held-out fonts
UNREADABLE = -1  # the "prediction" for an image preprocessing rejected

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Condition:
    """One column of the report: a name, its group and what it does to the digits."""

    name: str
    group: str
    description: str


def conditions() -> dict[str, Condition]:
    """Every condition of the suite in report order: clean, MNIST-C, real inputs, printed."""
    from . import corruptions  # SciPy: imported when used, so the CLI starts fast

    table = {CLEAN: Condition(CLEAN, CLEAN, "MNIST test digits as they are")}
    for c in corruptions.CORRUPTIONS.values():
        table[c.name] = Condition(c.name, c.group, c.description)
    table["printed"] = Condition("printed", PRINTED, "digits printed in the training fonts (DejaVu)")
    table["printed_heldout"] = Condition(
        "printed_heldout", PRINTED, "digits printed in held-out fonts (STIX, Computer Modern, Liberation)"
    )
    return table


def parse_conditions(names: str | Sequence[str] | None) -> list[str]:
    """Comma-separated or listed names -> known condition names in suite order; None: all.

    ``clean`` is always included: every other number is read against it.

    Raises:
        MnistKerasError: an unknown name (the message lists the known ones) or an empty list.
    """
    known = conditions()
    if names is None:
        return list(known)
    wanted = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise MnistKerasError(f"unknown condition {', '.join(map(repr, unknown))}; known: {', '.join(known)}")
    if not wanted:
        raise MnistKerasError(f"no condition given; known: {', '.join(known)}")
    return [n for n in known if n in wanted or n == CLEAN]


def condition_rng(seed: int, name: str) -> np.random.Generator:
    """The random stream of one condition: the same for a given seed whatever else runs."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def sample_digits(images: np.ndarray, labels: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct test digits drawn with ``seed``: ((n, 28, 28) uint8, (n,) labels)."""
    picked = np.sort(np.random.default_rng(seed).choice(len(labels), size=n, replace=False))
    return images[picked], labels[picked]


def condition_inputs(name: str, images: np.ndarray, labels: np.ndarray,
                     rng: np.random.Generator) -> tuple[list[np.ndarray], list[str] | None]:  # fmt: skip
    """One condition's input images for the sampled digits, and a tag per image (the font) or None."""
    from . import corruptions, printed

    if name == CLEAN:
        return list(images), None
    if name in PRINTED_CONDITIONS:
        fonts, _ = printed.available_fonts(held_out=PRINTED_CONDITIONS[name])
        return printed.render_digits(labels, fonts, rng)
    corruption = corruptions.get(name)
    return [corruption(image, rng) for image in images], None


def preprocess_all(inputs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Every input through ``to_mnist``: ((N, 28, 28) uint8, (N,) bool readable); rejected ones are black."""
    seen = np.zeros((len(inputs), 28, 28), np.uint8)
    readable = np.ones(len(inputs), bool)
    for i, image in enumerate(inputs):
        try:
            seen[i] = to_mnist(image, name=f"image #{i}")
        except ImageError:
            readable[i] = False
    return seen, readable


def score(labels: np.ndarray, predicted: np.ndarray, readable: np.ndarray, tags: list[str] | None) -> dict:
    """Accuracy, errors and unreadable count of one condition; per tag (font) when there are tags."""
    correct = predicted == labels
    row = {
        "n": int(len(labels)),
        "correct": int(correct.sum()),
        "errors": int((~correct).sum()),
        "unreadable": int((~readable).sum()),
        "accuracy": float(correct.mean()) if len(labels) else 0.0,
    }
    if tags is not None:
        tags_arr = np.asarray(tags)
        row["by_font"] = {
            tag: {"n": int((tags_arr == tag).sum()), "accuracy": float(correct[tags_arr == tag].mean())}
            for tag in dict.fromkeys(tags)
        }
    return row


def raw_accuracy(predictor, inputs: Sequence[np.ndarray], labels: np.ndarray) -> float | None:
    """Accuracy on the inputs as they are, without preprocessing; None unless all are (28, 28)."""
    if not len(inputs) or any(image.shape != (28, 28) for image in inputs):
        return None
    return float((predictor.predict_proba(np.stack(inputs)).argmax(axis=1) == labels).mean())


def _check_options(per_condition: int, seed: int) -> None:
    if not 1 <= per_condition <= MAX_PER_CONDITION:
        raise MnistKerasError(f"--per-condition must be between 1 and {MAX_PER_CONDITION:,}, got {per_condition}")
    if seed < 0:
        raise MnistKerasError(f"--seed must be 0 or more, got {seed}")


def _make_output_dir(output: Path) -> None:
    """Create the report folder now, so a bad ``--output`` fails before minutes of work."""
    if output.exists() and not output.is_dir():
        raise MnistKerasError(f"{output}: exists and is not a folder; choose another --output")
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise MnistKerasError(
            f"{output}: cannot create the report folder ({err.strerror}); choose another --output"
        ) from None


def _model_identity(model: str | os.PathLike) -> tuple[Path, str, Path | None]:
    """(model file, display name, run folder or None) for a .keras file, run folder or .tflite."""
    path = Path(model)
    if path.suffix == ".tflite":
        return path, path.stem, None
    path = resolve_model_path(path)
    run = run_folder_of(path)
    if run is None:
        return path, path.stem, None
    return path, run_settings(run).get("model") or run.name, run


def default_output_dir(model_path: Path, run: Path | None) -> Path:
    """``<run>/robustness/`` for a run folder's model, else ``robustness/<model file name>/``."""
    return run / OUTPUT_DIRNAME if run else Path(OUTPUT_DIRNAME) / model_path.stem


def run_robustness(model: str | os.PathLike, *, names: str | Sequence[str] | None = None,
                   per_condition: int = DEFAULT_PER_CONDITION, seed: int = DEFAULT_SEED,
                   data_dir: str | os.PathLike | None = None, output_dir: str | os.PathLike | None = None,
                   progress: Progress | None = None) -> dict:  # fmt: skip
    """Run the suite on a ``.keras`` file, run folder or ``.tflite``; write the report folder.

    Returns:
        The ``robustness.json`` summary (see the module docstring).

    Raises:
        MnistKerasError: unknown condition, or a sample size / seed out of range.
        ModelFileError: missing, unreadable or non-MNIST model.
        DataError: MNIST missing or corrupt.
    """
    from .data import load_mnist
    from .predict import load_predictor

    chosen = parse_conditions(names)
    _check_options(per_condition, seed)
    model_path, model_name, run = _model_identity(model)
    output = Path(output_dir) if output_dir else default_output_dir(model_path, run)
    predictor = load_predictor(model_path)
    _make_output_dir(output)
    mnist = load_mnist(data_dir)
    images, labels = sample_digits(mnist.x_test, mnist.y_test, per_condition, seed)
    say = progress or (lambda line: None)
    say(f"{model_name}: {len(chosen)} conditions x {per_condition} test digits (seed {seed})")

    rows, examples, started = [], {}, time.perf_counter()
    for index, name in enumerate(chosen, 1):
        tick = time.perf_counter()
        inputs, tags = condition_inputs(name, images, labels, condition_rng(seed, name))
        seen, readable = preprocess_all(inputs)
        predicted = np.where(readable, predictor.predict_proba(seen).argmax(axis=1), UNREADABLE)
        row = {**asdict(conditions()[name]), **score(labels, predicted, readable, tags)}
        row["raw_accuracy"] = raw_accuracy(predictor, inputs, labels)
        row["seconds"] = round(time.perf_counter() - tick, 2)
        rows.append(row)
        k = EXAMPLES_PER_CONDITION
        examples[name] = (inputs[:k], seen[:k], labels[:k], predicted[:k])
        say(f"[{index:2d}/{len(chosen)}] {name:<16} accuracy {100 * row['accuracy']:6.2f}%  "
            f"errors {row['errors']:4d}  unreadable {row['unreadable']:3d}  ({row['seconds']:.1f} s)")  # fmt: skip

    summary = _summary(rows, model_path=model_path, model_name=model_name, kind=predictor.kind, run=run,
                       per_condition=per_condition, seed=seed, source=mnist.source, output=output,
                       seconds=time.perf_counter() - started)  # fmt: skip
    write_reports(summary, examples, output)
    return summary


def _mean(rows: list[dict]) -> float | None:
    return float(np.mean([r["accuracy"] for r in rows])) if rows else None


def training_recipe(model_path: Path) -> dict | None:
    """The recipe a model was trained with, if anything beside it says (None: unknown).

    A run folder's ``config.json``; a published ``.keras`` file's record (its run
    folder); a ``.tflite`` file's export metadata (the ``.keras`` it came from).
    """
    model_path = Path(model_path)
    run = run_folder_of(model_path)
    if run is not None:
        return run_settings(run).get("recipe")
    record = _read_json(model_path.with_suffix(".json"))
    if model_path.suffix == ".keras" and record:
        recipe = (record.get("training") or {}).get("recipe")
        run = published_run(model_path)
        return recipe or (run_settings(run).get("recipe") if run else None)
    if model_path.suffix == ".tflite":
        metadata = _read_json(model_path.with_name(model_path.stem.rsplit("_", 1)[0] + ".json"))
        source = Path((metadata or {}).get("source_model") or "")
        if source.name and not source.is_absolute() and not source.is_file():  # relative to the project folder
            source = model_path.resolve().parent.parent / source
        return training_recipe(source) if source.name and source.is_file() else None
    return None


def _read_json(path: Path) -> dict | None:
    import json

    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def seen_in_training(recipe: dict | None) -> list[str] | None:
    """The suite's conditions a model trained with ``recipe`` has seen (None when the recipe is unknown)."""
    from .augment import IMITATED_CONDITIONS, augment_policy

    if not recipe:
        return None
    seen = list(IMITATED_CONDITIONS[augment_policy(recipe.get("augment"))])
    return seen + (["printed"] if recipe.get("printed_fraction") else [])


def _summary(rows: list[dict], *, model_path: Path, model_name: str, kind: str, run: Path | None,
             per_condition: int, seed: int, source: str, output: Path, seconds: float) -> dict:  # fmt: skip
    """The JSON-ready summary of a finished suite."""
    from . import printed

    suite = [r for r in rows if r["group"] != CLEAN]
    groups = dict.fromkeys(r["group"] for r in suite)
    recipe = training_recipe(model_path)
    seen = seen_in_training(recipe)
    for row in rows:
        row["seen_in_training"] = None if seen is None else row["name"] in seen
    training, training_notes = printed.available_fonts(held_out=False)
    held_out, held_out_notes = printed.available_fonts(held_out=True)
    fonts = {
        "training": [font.name for font, _ in training],
        "held_out": [font.name for font, _ in held_out],
        "skipped": training_notes + held_out_notes,
    }
    return {
        "model_name": model_name,
        "model_path": str(model_path.resolve()),
        "model_kind": kind,
        "model_sha256": file_sha256(model_path),
        "source_run": str(run.resolve()) if run else None,
        "per_condition": per_condition,
        "seed": seed,
        "data_source": source,
        "clean_accuracy": next((r["accuracy"] for r in rows if r["group"] == CLEAN), None),
        "suite_mean_accuracy": _mean(suite),
        "suite_conditions": len(suite),
        "group_mean_accuracy": {g: _mean([r for r in suite if r["group"] == g]) for g in groups},
        "trained_with": {k: recipe.get(k) for k in ("augment", "printed_fraction")} if recipe else None,
        "seen_conditions": seen,
        "seen_mean_accuracy": None if seen is None else _mean([r for r in suite if r["seen_in_training"]]),
        "unseen_mean_accuracy": None if seen is None else _mean([r for r in suite if not r["seen_in_training"]]),
        "conditions": rows,
        "fonts": fonts,
        "seconds": round(seconds, 1),
        "output_dir": str(output.resolve()),
        "mnist_keras_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


# ------------------------------------------------------------------ reports


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _seen(row: dict) -> str:
    """``seen`` for a condition the model's training augmentation imitates, ``-`` when unknown."""
    flag = row.get("seen_in_training")
    return "-" if flag is None else ("seen" if flag else "")


def _seen_means(summary: dict) -> list[str]:
    """The unseen (out-of-distribution) and seen means, or why there are none."""
    if summary.get("seen_conditions") is None:
        return ["  (training recipe unknown: conditions not split into seen and unseen)"]
    return [
        f"mean over unseen      {_pct(summary['unseen_mean_accuracy'])} (out of distribution)",
        f"mean over seen        {_pct(summary['seen_mean_accuracy'])} ({len(summary['seen_conditions'])} conditions "
        "imitated by the training augmentation)",
    ]


def format_table(summary: dict) -> str:
    """The plain-text table: one line per condition, then the means."""
    head = (f"{summary['model_name']} ({summary['model_kind']}): {summary['per_condition']:,} test digits "
            f"per condition, seed {summary['seed']}")  # fmt: skip
    lines = [
        head,
        "",
        f"{'condition':<17} {'group':<11} {'accuracy':>9} {'errors':>7} {'unreadable':>11} {'raw 28x28':>10}  training",
    ]
    for r in summary["conditions"]:
        lines.append(
            f"{r['name']:<17} {r['group']:<11} {_pct(r['accuracy']):>9} {r['errors']:>7} {r['unreadable']:>11} "
            f"{_pct(r['raw_accuracy']):>10}  {_seen(r)}"
        )
    lines += ["", f"clean accuracy        {_pct(summary['clean_accuracy'])}"]
    lines.append(
        f"mean over the suite   {_pct(summary['suite_mean_accuracy'])} ({summary['suite_conditions']} conditions)"
    )
    lines += _seen_means(summary)
    for group, value in summary["group_mean_accuracy"].items():
        lines.append(f"  mean {group:<15} {_pct(value)}")
    for r in summary["conditions"]:
        for font, numbers in r.get("by_font", {}).items():
            lines.append(f"  {r['name']:<16} {font:<27} {_pct(numbers['accuracy']):>8} of {numbers['n']}")
    lines += [f"note: {note}" for note in summary["fonts"]["skipped"]]
    lines.append("raw 28x28: the model on the corrupted 28x28 image itself, without preprocess.to_mnist")
    return "\n".join(lines) + "\n"


def format_markdown(summary: dict) -> str:
    """The same table in Markdown (robustness.md in the report folder)."""
    lines = [
        f"Model `{summary['model_name']}` ({summary['model_kind']}), {summary['per_condition']:,} test digits per "
        f"condition, seed {summary['seed']}.",
        "",
        "| condition | group | what | accuracy | errors | unreadable | raw 28x28, no preprocessing | training |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for r in summary["conditions"]:
        lines.append(
            f"| `{r['name']}` | {r['group']} | {r['description']} | {_pct(r['accuracy'])} | {r['errors']} "
            f"| {r['unreadable']} | {_pct(r['raw_accuracy'])} | {_seen(r)} |"
        )
    lines.append(
        f"| **mean over the suite** | | {summary['suite_conditions']} conditions "
        f"| **{_pct(summary['suite_mean_accuracy'])}** | | | | |"
    )
    if summary.get("seen_conditions") is not None:
        lines.append(f"| **mean over unseen conditions** | | out of distribution "
                     f"| **{_pct(summary['unseen_mean_accuracy'])}** | | | | |")  # fmt: skip
        lines.append(f"| mean over seen conditions | | imitated by the training augmentation "
                     f"| {_pct(summary['seen_mean_accuracy'])} | | | | |")  # fmt: skip
    for group, value in summary["group_mean_accuracy"].items():
        lines.append(f"| mean {group} | | | {_pct(value)} | | | | |")
    fonts = [(r["name"], font, n) for r in summary["conditions"] for font, n in r.get("by_font", {}).items()]
    if fonts:
        lines += ["", "| condition | font | accuracy | images |", "|---|---|---:|---:|"]
        lines += [f"| `{name}` | {font} | {_pct(n['accuracy'])} | {n['n']} |" for name, font, n in fonts]
    lines += ["", *[f"Note: {note}" for note in summary["fonts"]["skipped"]]]
    return "\n".join(lines).rstrip() + "\n"


def write_reports(summary: dict, examples: dict, output: Path) -> None:
    """robustness.json / .txt / .md, the bar plot and the example grid, each written atomically."""
    from . import plots

    write_json(output / "robustness.json", summary)
    write_text(output / "robustness.txt", format_table(summary))
    write_text(output / "robustness.md", format_markdown(summary))
    title = (f"{summary['model_name']} · {summary['per_condition']:,} digits per condition, seed {summary['seed']} · "
             f"suite mean {_pct(summary['suite_mean_accuracy'])}")  # fmt: skip
    plots.save_figure(plots.robustness_figure(summary["conditions"], title=title), output / "robustness.png")
    plots.save_figure(plots.examples_figure(examples, title=f"{summary['model_name']}: examples (true → answer)"),
                      output / "examples.png")  # fmt: skip
