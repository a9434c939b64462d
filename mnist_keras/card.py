"""Model cards: what a published model is, how it was made and how well it does, from recorded data only.

A published model ``saved_models/<name>.keras`` has its record beside it,
``<name>.json`` (written by ``train.publish`` and ``compare``): validation
accuracy, run folder, date. :func:`record` extends it with everything the
run folder and its reports hold (the exact command, seed, commit and library
versions, the recipe, the split, test metrics) and whatever else was measured
(the int8 export, the robustness suite, other seeds of the same recipe);
:func:`render` turns that record into ``<name>.md``, a Hugging Face-style
model card. The Markdown is never edited by hand: every number in it comes
from the record, and the record from the files that measured it, so a
retrained model gets a new card when it is published, never a stale one.

Sections follow Hugging Face's model-card guide: model details, intended use,
how to use, training data, training procedure, evaluation, robustness, size
and latency, limitations and failure cases, how to reproduce.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

from .artifacts import (
    file_sha256,
    kept_row,
    published_run,
    read_config,
    read_history,
    recipe_setting,
    run_settings,
    write_json,
    write_text,
)
from .data import TRAIN_SIZE

CARD_SUFFIX = ".md"  # saved_models/<name>.md beside <name>.keras and its record <name>.json
EXAMPLES_DIR_SUFFIX = "_card"  # saved_models/<name>_card/: the card's pictures
PAPER = 'Noemie Lamontagne, "Convolutional Neural Networks: MNIST", August 2023'


# ------------------------------------------------------------------ the record


REPRODUCING_SETTINGS = ("seed", "deterministic", "limit", "validation_size", "strategy", "mixed_precision",
                        "jit_compile")  # fmt: skip  # what changes the weights, besides the recipe


def fit_command(settings: dict) -> str:
    """The ``mnist-keras fit`` command line that reproduces a run: its recipe overrides and every
    weight-changing setting that differs from the default."""
    from .train import FitConfig

    defaults = FitConfig()
    changed = dict(settings.get("overrides") or {})
    changed |= {name: settings[name] for name in REPRODUCING_SETTINGS
                if name in settings and settings[name] != getattr(defaults, name)}  # fmt: skip
    parts = ["mnist-keras", "fit", "--model", settings["model"]]
    for name, value in changed.items():
        option = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parts.append(option if value else f"--no-{option[2:]}")
        elif value is not None:
            parts += [option, str(value)]
    return shlex.join(parts)


def file_entry(path: Path, root: Path) -> dict:
    """A shipped file as the card names it: path (relative to ``root``), SHA-256, size."""
    return {"path": Path(os.path.relpath(path, root)).as_posix(), "sha256": file_sha256(path),
            "bytes": path.stat().st_size}  # fmt: skip


def training_record(run_dir: Path) -> dict:
    """What the run folder says about how the model was made."""
    config = read_config(run_dir)
    settings = run_settings(run_dir)
    history = read_history(run_dir)
    kept = kept_row(history, recipe_setting(settings, "keep") or "best")
    data = config.get("data", {})
    held_out = data.get("validation_size")  # None in an older run's config: the count is then unknown, not 60,000
    mnist_images = settings.get("limit") or (TRAIN_SIZE - held_out if held_out is not None else None)
    extra = {kind: round((recipe_setting(settings, f"{kind}_fraction") or 0) * (mnist_images or 0))
             for kind in ("printed", "cut")}  # fmt: skip
    return {
        "command": fit_command(settings),
        "seed": settings.get("seed"),
        "deterministic": bool(settings.get("deterministic")),
        "recipe": settings.get("recipe"),
        "commit": config.get("source", {}).get("commit"),
        "uncommitted_changes": config.get("source", {}).get("dirty"),
        "versions": config.get("versions", {}),
        "data": data,
        "mnist_training_images": mnist_images,
        "printed_training_images": extra["printed"],
        "cut_training_images": extra["cut"],
        "epochs_run": len(history),
        "kept_epoch": int(kept["epoch"]) + 1 if kept else None,
        "validation": {"accuracy": float(kept["val_accuracy"]), "loss": float(kept["val_loss"])} if kept else None,
        "created": config.get("created"),
    }


def record(published: dict, *, model_path: Path, root: Path, evaluation: dict | None = None,
           **measured: Any) -> dict:  # fmt: skip
    """The card's data: the publish record, the run's training record, the test metrics and ``measured``.

    Args:
        published: what ``publish_model`` recorded (``run_dir``, ``val_accuracy``, ``model``, ``published``).
        model_path: the published ``.keras`` file.
        root: paths in the card are relative to this folder (the project root).
        evaluation: ``evaluate_model``'s summary of the published model.
        measured: further sections, e.g. ``int8`` (the export report's row), ``robustness``,
            ``spread`` (the recipe over several seeds), ``examples`` (picture paths).
    """
    from .models import get_architecture

    arch = get_architecture(published["model"])
    data = {
        **published,  # val_accuracy stays at the top: publishing compares the next model with it
        "model": arch.name,
        "description": arch.description,
        "params": arch.params,
        "files": {"keras": file_entry(model_path, root)},
        "training": training_record(published_run(model_path)),
    }
    if evaluation is not None:
        data["test"] = evaluation["splits"].get("test")
        data["train"] = evaluation["splits"].get("train")
    return data | measured


def write(card: dict, model_path: Path) -> Path:
    """Write the record as ``<name>.json`` and the card as ``<name>.md`` beside ``model_path``; the card's path."""
    model_path = Path(model_path)
    write_json(model_path.with_suffix(".json"), card)
    return write_text(model_path.with_suffix(CARD_SUFFIX), render(card))


# ------------------------------------------------------------------ rendering


def _pct(value: float | None) -> str:
    return "not measured" if value is None else f"{100 * value:.2f}%"


def render(card: dict) -> str:
    """The Markdown model card of a record (see the module docstring for the sections)."""
    sections = [_details, _use, _data, _procedure, _evaluation, _robustness, _spread, _size, _limits, _reproduce]
    return "\n\n".join(section(card) for section in sections).rstrip() + "\n"


def _details(card: dict) -> str:
    files = "\n".join(
        f"- `{f['path']}`: {f['bytes'] / 1e6:.2f} MB, SHA-256 `{f['sha256']}`" for f in card["files"].values()
    )
    return (
        f"# Model card: `{card['model']}`\n\n"
        "<!-- Generated by mnist_keras.card from the record beside it; do not edit by hand. -->\n\n"
        f"{card['description']}. {card['params']:,} parameters; a Keras functional-API CNN that takes a "
        "28x28 greyscale digit (light ink on black, pixels 0-255; the model rescales them) and gives "
        "10 class probabilities.\n\n"
        f"Files:\n\n{files}\n\n"
        f"Published {card.get('published', '')} from run `{card['run_dir']}`."
    )


def _use(card: dict) -> str:
    return (
        "## Intended use\n\n"
        "Reading single handwritten or printed digits from drawings, scans and photos: the web page "
        "(`mnist-keras serve`), `mnist-keras predict` and the Raspberry Pi bundle. Every input first goes "
        "through `mnist_keras.preprocess.to_mnist`, which finds the digit and makes it MNIST-style; the "
        "model expects exactly that. It is a teaching and demonstration model, not one for decisions that "
        "matter (cheques, forms of record): it always answers one of ten digits, even for a letter or a "
        "scribble, and its probabilities are not calibrated for out-of-distribution inputs."
    )


def _count(value) -> str:
    """``60,000`` for a number, ``?`` for a size an older run's config did not record."""
    return f"{value:,}" if isinstance(value, int) else "?"


def _data(card: dict) -> str:
    training = card["training"]
    data = training["data"]
    printed = training.get("printed_training_images") or 0
    cut = training.get("cut_training_images") or 0
    extra = (f" plus {printed:,} digits printed in the training fonts (rendered and preprocessed like user "
             "inputs)") if printed else ""  # fmt: skip
    extra += (f" plus {cut:,} digits cut out of generated numbers of those training digits by the number "
              "reader's segmenter") if cut else ""  # fmt: skip
    return (
        "## Training data\n\n"
        f"MNIST (LeCun et al.): {_count(training.get('mnist_training_images', data.get('train_size')))} training "
        f"images{extra}; "
        f"{_count(data.get('validation_size'))} images held out of the 60,000 for validation (stratified, fixed by "
        f"the seed) choose the kept epoch; the {_count(data.get('test_size'))} test images were never used to "
        f"make a choice. Source: `{data.get('source', '?')}`; files match the original MNIST checksums: "
        f"{'yes' if not data.get('checksum_mismatches') else 'no'}."
    )


def _procedure(card: dict) -> str:
    training = card["training"]
    versions = ", ".join(f"{k} {v}" for k, v in training["versions"].items() if k != "platform")
    recipe = ", ".join(f"{k} {v}" for k, v in (training["recipe"] or {}).items())
    commit = training["commit"] or "unknown (not trained from a git checkout)"
    dirty = " (with uncommitted changes)" if training.get("uncommitted_changes") else ""
    return (
        "## Training procedure\n\n"
        f"```bash\n{training['command']}\n```\n\n"
        f"- seed {training['seed']}; deterministic TensorFlow ops: {'yes' if training['deterministic'] else 'no'}\n"
        f"- commit `{commit}`{dirty}\n"
        f"- recipe: {recipe}\n"
        f"- ran {training['epochs_run']} epochs; kept epoch {training['kept_epoch']} "
        f"(lowest validation loss, or the last with keep=last)\n"
        f"- {versions}; {training['versions'].get('platform', '')}"
    )


def _evaluation(card: dict) -> str:
    validation, test, int8 = card["training"]["validation"] or {}, card.get("test") or {}, card.get("int8") or {}
    rows = [
        f"| Keras `.keras` | {_pct(validation.get('accuracy'))} | {_pct(test.get('accuracy'))} "
        f"| {test.get('errors', '-')} | {test.get('macro_f1', float('nan')):.4f} |",
    ]
    if int8:
        rows.append(f"| int8 `.tflite` | | {_pct(int8['accuracy'])} | {round((1 - int8['accuracy']) * test.get('n', 0))} "
                    f"| agrees with Keras on {_pct(int8['agreement'])} |")  # fmt: skip
    return (
        "## Evaluation\n\n"
        "| file | validation accuracy | test accuracy | test errors | test macro F1 |\n|---|---:|---:|---:|---:|\n"
        + "\n".join(rows)
        + "\n\nTest: the 10,000 MNIST test images, each classified once (no test-time augmentation). "
        "`mnist-keras evaluate saved_models/" + card["model"] + ".keras` writes the per-class "
        "precision/recall/F1 report and confusion matrices."
    )


def _robustness(card: dict) -> str:
    suites = card.get("robustness") or {}
    if not suites:
        return "## Robustness\n\nNot measured for this model yet: `mnist-keras robustness MODEL`."
    lines = ["## Robustness\n",
             "The robustness suite (`mnist-keras robustness`): MNIST test digits under MNIST-C corruptions, "
             "real-input shifts and printed fonts, each through the same preprocessing as the page. Conditions "
             "the training augmentation imitates are *seen in training*; the unseen mean is the "
             "out-of-distribution figure.\n",
             "| file | clean | suite mean | seen in training | unseen | digits per condition, seed |",
             "|---|---:|---:|---:|---:|---|"]  # fmt: skip
    for kind, summary in suites.items():
        lines.append(
            f"| {kind} | {_pct(summary['clean_accuracy'])} | {_pct(summary['suite_mean_accuracy'])} "
            f"| {_pct(summary.get('seen_mean_accuracy'))} ({len(summary.get('seen_conditions', []))}) "
            f"| {_pct(summary.get('unseen_mean_accuracy'))} | {summary['per_condition']}, {summary['seed']} |"
        )
    first = next(iter(suites.values()))
    worst = sorted((r for r in first["conditions"] if r["group"] != "clean"), key=lambda r: r["accuracy"])[:5]
    lines += ["", "Hardest conditions: " + "; ".join(
        f"`{r['name']}` {_pct(r['accuracy'])}{' (seen)' if r.get('seen_in_training') else ''}" for r in worst) + "."]  # fmt: skip
    return "\n".join(lines)


def _spread(card: dict) -> str:
    spread = card.get("spread")
    if not spread:
        return "## The recipe over several seeds\n\nOne seed only: train others with `--seed N` to see the spread."
    rows = [f"| {s['seed']} | {s['kept_epoch']} | {_pct(s['val_accuracy'])} | {_pct(s['test_accuracy'])} "
            f"| {_pct(s.get('suite_mean_accuracy'))} | {_pct(s.get('unseen_mean_accuracy'))} |"
            for s in spread["seeds"]]  # fmt: skip
    return (
        "## The recipe over several seeds\n\n"
        f"One seed is not the recipe: the same command with seeds {', '.join(str(s['seed']) for s in spread['seeds'])}"
        f" (the shipped model is seed {spread['shipped_seed']}, chosen by validation accuracy).\n\n"
        "| seed | kept epoch | validation | test | suite mean | unseen mean |\n|---:|---:|---:|---:|---:|---:|\n"
        + "\n".join(rows)
        + f"\n\nMedian test accuracy {_pct(spread['median_test_accuracy'])} (range {_pct(spread['min_test_accuracy'])}"
        f"-{_pct(spread['max_test_accuracy'])}); median suite mean {_pct(spread.get('median_suite_mean_accuracy'))}."
    )


def _size(card: dict) -> str:
    int8 = card.get("int8")
    lines = ["## Size and latency\n"]
    lines += [f"- `{f['path']}`: {f['bytes'] / 1e6:.2f} MB" for f in card["files"].values()]
    if int8:
        latency = int8["latency_us"]
        lines.append(
            f"- int8 `.tflite`: one image per `invoke()` on one thread, median {latency['median']:.0f} µs, "
            f"p99 {latency['p99']:.0f} µs on the export machine ({card.get('machine', 'see the export report')}); "
            "a Raspberry Pi is slower: measure with `python3 mnist_edge.pyz MODEL IMAGE --benchmark 1000`"
        )
    return "\n".join(lines)


def _limits(card: dict) -> str:
    pictures = card.get("examples") or {}
    shown = "\n\n".join(f"![{caption}]({path})" for caption, path in pictures.items())
    return (
        "## Limitations and failure cases\n\n"
        "- One digit per image: a number is read digit by digit with `--number` (the page's "
        '"Write a number" tab; how well: docs/NUMBERS.md); without it, an image holding several digits '
        "is read as its biggest mark, and `mnist-keras predict` warns when it clearly holds several.\n"
        "- Always one of 0-9: letters, symbols and scribbles get a digit too, sometimes with high probability.\n"
        "- Confusions follow MNIST's (the confusion matrix of `mnist-keras evaluate` shows which); the "
        "hardest robustness conditions are listed above, and the pictures below show the test mistakes.\n"
        "- Trained on MNIST's writers (US Census staff and students): other scripts' digit shapes "
        "(a crossed 7, an open 4) are rarer there." + (f"\n\n{shown}" if shown else "")
    )


def _reproduce(card: dict) -> str:
    training = card["training"]
    commit = training["commit"] or "<the commit above>"
    return (
        "## Reproduce\n\n"
        "With `--deterministic`, the same command on the same commit, library versions and machine type "
        "gives the same weights bit for bit:\n\n"
        f"```bash\ngit checkout {commit}\n{training['command']} --publish never\n"
        f"mnist-keras export runs/<that run> --quantize int8\n```\n\n"
        f"Cite the paper this project starts from: {PAPER}."
    )
