"""The shipped model and its card: the files are what the card says, and the card is its record rendered."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mnist_keras import card
from mnist_keras.predict import SHIPPED_MODEL, default_model

REPO_ROOT = Path(__file__).resolve().parents[1]
RECORD = REPO_ROOT / "saved_models" / f"{SHIPPED_MODEL}.json"


@pytest.fixture(scope="module")
def shipped() -> dict:
    return json.loads(RECORD.read_text())


def test_the_shipped_files_are_the_ones_the_card_describes(shipped):
    from mnist_keras.artifacts import file_sha256

    assert set(shipped["files"]) == {"keras", "tflite_int8"}
    for entry in shipped["files"].values():
        path = REPO_ROOT / entry["path"]
        assert path.stat().st_size == entry["bytes"] < 5_000_000, entry["path"]  # a few MB at most
        assert file_sha256(path) == entry["sha256"], f"{entry['path']} is not the file its card describes"


def test_the_card_is_its_record_rendered(shipped):
    assert RECORD.with_suffix(".md").read_text() == card.render(shipped)
    for picture in shipped["examples"].values():
        assert (RECORD.parent / picture).is_file(), picture


def test_the_shipped_files_score_what_their_card_says_on_the_test_set(shipped, mnist):
    """Re-evaluated here: the Keras model's test errors and the int8 export's accuracy, image for image."""
    from mnist_keras.artifacts import load_model
    from mnist_keras.predict import load_predictor, predict_probabilities

    keras_digits = predict_probabilities(load_model(REPO_ROOT / shipped["files"]["keras"]["path"]), mnist.x_test)
    errors = int((keras_digits.argmax(1) != mnist.y_test).sum())
    assert errors == shipped["test"]["errors"] and np.mean(keras_digits.argmax(1) == mnist.y_test) == pytest.approx(
        shipped["test"]["accuracy"], abs=1e-12
    )
    int8 = load_predictor(REPO_ROOT / shipped["files"]["tflite_int8"]["path"]).predict_proba(mnist.x_test)
    assert np.mean(int8.argmax(1) == mnist.y_test) == pytest.approx(shipped["int8"]["accuracy"], abs=1e-12)
    assert np.mean(int8.argmax(1) == keras_digits.argmax(1)) == pytest.approx(shipped["int8"]["agreement"], abs=1e-12)


def test_the_card_says_how_it_was_made_and_how_the_recipe_spreads(shipped):
    training = shipped["training"]
    assert training["command"].startswith(f"mnist-keras fit --model {SHIPPED_MODEL}") and training["deterministic"]
    assert training["commit"] and not training["uncommitted_changes"]
    assert {"tensorflow", "keras", "numpy"} <= set(training["versions"])
    seeds = shipped["spread"]["seeds"]
    assert len(seeds) >= 3 and shipped["spread"]["shipped_seed"] == training["seed"]
    best = max(seeds, key=lambda s: (s["val_accuracy"], -s["val_loss"]))
    assert best["seed"] == training["seed"]  # chosen on validation, never on test
    text = RECORD.with_suffix(".md").read_text()
    for heading in ("## Intended use", "## Training data", "## Training procedure", "## Evaluation", "## Robustness",
                    "## Size and latency", "## Limitations and failure cases", "## Reproduce"):  # fmt: skip
        assert heading in text
    assert "unseen" in text and "Lamontagne" in text


def test_publishing_writes_a_card_from_the_run(tmp_path, data_dir, monkeypatch):
    """A retrained model never replaces a published one silently: its card is rewritten from the new run."""
    from mnist_keras.pipeline import run
    from mnist_keras.train import FitConfig

    monkeypatch.chdir(tmp_path)
    for name in ("first", "second"):
        result = run(FitConfig(model="fast", seed=3, limit=500, validation_size=500, data_dir=str(data_dir),
                               run_dir=name, publish="always", verbose=0))  # fmt: skip
        assert result.published.startswith("published")
        record = json.loads((tmp_path / "saved_models" / "fast.json").read_text())
        text = (tmp_path / "saved_models" / "fast.md").read_text()
        assert record["run_dir"] == name and f"from run `{name}`" in text and text == card.render(record)
        assert (
            record["training"]["command"] == "mnist-keras fit --model fast --seed 3 --limit 500 --validation-size 500"
        )
        assert record["test"]["accuracy"] == result.evaluation["splits"]["test"]["accuracy"]
        assert "Not measured for this model yet" in text  # no robustness report: the card says so


def test_the_checkout_answers_before_any_training(tmp_path):
    """The README tour's first step, as a newcomer runs it from a fresh clone: the shipped model is the default.

    Run in a fresh process, in a folder holding only what a clone has for it: tflite/ and docs/examples/.
    """
    shutil.copytree(REPO_ROOT / "docs" / "examples", tmp_path / "docs" / "examples")
    (tmp_path / "tflite").mkdir()
    for name in (f"{SHIPPED_MODEL}_int8.tflite", f"{SHIPPED_MODEL}.json"):  # what a clone's tflite/ holds
        shutil.copy2(REPO_ROOT / "tflite" / name, tmp_path / "tflite" / name)
    assert default_model(tmp_path) == tmp_path / "tflite" / f"{SHIPPED_MODEL}_int8.tflite"

    def predict(*args: str) -> list[dict]:
        command = [sys.executable, "-c", "from mnist_keras.cli import main; main()", "predict", *args, "--json"]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines()]

    digits = predict("docs/examples/seven_photo.jpg", "docs/examples/three.png")
    assert [answer["digit"] for answer in digits] == [7, 3]
    (number,) = predict("--number", "docs/examples/number_2026.jpg")
    assert number["text"] == "2026"


def test_the_card_counts_printed_and_cut_training_digits_from_the_recipe(tmp_path):
    settings = {"model": "robust", "seed": 3, "recipe": {"printed_fraction": 0.1, "cut_fraction": 0.3}}
    config = {
        "settings": settings,
        "data": {"validation_size": 5000, "test_size": 10000, "train_size": 55000 + 5500 + 16500},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    record = card.training_record(tmp_path)
    assert (record["mnist_training_images"], record["printed_training_images"], record["cut_training_images"]) == (
        55000, 5500, 16500)  # fmt: skip
    text = card._data({"training": record})
    assert "55,000 training images plus 5,500 digits printed" in text and "plus 16,500 digits cut out" in text


def test_a_config_without_sizes_gives_question_marks_not_an_error(tmp_path):
    """An older run's config.json may lack the split sizes: the card says '?' for them."""
    (tmp_path / "config.json").write_text(
        json.dumps({"settings": {"model": "fast", "seed": 1, "recipe": {}}, "data": {}})
    )
    text = card._data({"training": card.training_record(tmp_path)})
    assert "MNIST (LeCun et al.): ? training images; ? images held out" in text and "the ? test images" in text
