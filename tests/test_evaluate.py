"""Evaluation: metrics against scikit-learn, a hand-made case, plots, TensorBoard images, the CLI."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mnist_keras.cli import cli
from mnist_keras.evaluate import SUMMARY_KEYS, compute_metrics, default_output_dir, report_text

LABELS = list(range(10))
EVAL_FILES = sorted(
    [f"{kind}_{split}.{ext}" for split in ("train", "test") for kind, ext in
     (("report", "txt"), ("report", "json"), ("confusion", "csv"), ("confusion", "png"), ("mistakes", "png"))]
    + [f"confusion_{split}_normalized.png" for split in ("train", "test")]
    + ["curves.png", "metrics.json"]
)  # fmt: skip


def sklearn_metrics(y_true, probs) -> dict:
    """The numbers straight from scikit-learn, independently of mnist_keras."""
    from sklearn import metrics as m

    probs = np.asarray(probs, dtype=np.float64)
    probs = probs / probs.sum(axis=1, keepdims=True)
    y_pred = probs.argmax(axis=1)
    per_class = m.precision_recall_fscore_support(y_true, y_pred, labels=LABELS, zero_division=0)
    return {
        "accuracy": m.accuracy_score(y_true, y_pred),
        "errors": int(np.sum(y_pred != y_true)),
        "macro_f1": m.f1_score(y_true, y_pred, average="macro"),
        "micro_f1": m.f1_score(y_true, y_pred, average="micro"),
        "weighted_f1": m.f1_score(y_true, y_pred, average="weighted"),
        "micro_precision": m.precision_score(y_true, y_pred, average="micro"),
        "micro_recall": m.recall_score(y_true, y_pred, average="micro"),
        "log_loss": m.log_loss(y_true, probs, labels=LABELS),
        "top2_accuracy": m.top_k_accuracy_score(y_true, probs, k=2, labels=LABELS),
        "confusion_matrix": m.confusion_matrix(y_true, y_pred, labels=LABELS).tolist(),
        "per_class": per_class,
    }


def assert_matches_sklearn(ours: dict, y_true, probs) -> None:
    expected = sklearn_metrics(y_true, probs)
    for key in ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "log_loss", "top2_accuracy"):
        assert ours[key] == pytest.approx(expected[key], abs=1e-9), key
    assert ours["errors"] == expected["errors"] and ours["n"] == len(y_true)
    assert ours["micro_avg"]["precision"] == pytest.approx(expected["micro_precision"], abs=1e-9)
    assert ours["micro_avg"]["recall"] == pytest.approx(expected["micro_recall"], abs=1e-9)
    assert ours["confusion_matrix"] == expected["confusion_matrix"]
    precision, recall, f1, support = expected["per_class"]
    for digit in LABELS:
        row = ours["per_class"][str(digit)]
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx(
            (precision[digit], recall[digit], f1[digit])
        )
        assert row["support"] == support[digit]


def test_metrics_equal_sklearn_on_random_predictions():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 10, size=2000)
    probs = rng.dirichlet(np.full(10, 0.3), size=2000).astype(np.float32)
    probs[np.arange(1500), y_true[:1500]] += 1.0  # mostly right, so every number is away from chance
    probs /= probs.sum(axis=1, keepdims=True)
    metrics = compute_metrics(y_true, probs)
    assert 0.6 < metrics["accuracy"] < 0.95
    assert_matches_sklearn(metrics, y_true, probs)
    assert set(SUMMARY_KEYS) <= set(metrics)
    json.dumps(metrics)  # JSON-ready: no numpy scalars


def test_hand_made_case_with_known_confusion_matrix():
    # (true, predicted, second choice): every digit once, 9 mistaken for 4, plus 3 -> 8, 5 -> 3 and a right 5.
    rows = [(d, d, (d + 1) % 10) for d in range(9)] + [(9, 4, 0), (3, 8, 3), (5, 3, 5), (5, 5, 6)]
    y_true = np.array([r[0] for r in rows])
    probs = np.full((len(rows), 10), 0.1 / 8)
    for i, (_, pred, second) in enumerate(rows):
        probs[i, pred], probs[i, second] = 0.7, 0.2

    metrics = compute_metrics(y_true, probs)
    expected = np.eye(10, dtype=int)
    expected[9, 9], expected[9, 4], expected[3, 8], expected[5, 3], expected[5, 5] = 0, 1, 1, 1, 2
    assert metrics["confusion_matrix"] == expected.tolist()
    assert (metrics["n"], metrics["errors"]) == (13, 3)
    assert metrics["accuracy"] == pytest.approx(10 / 13)
    assert metrics["micro_f1"] == pytest.approx(10 / 13)  # micro P = R = F1 = accuracy for single-label
    assert metrics["top2_accuracy"] == pytest.approx(12 / 13)  # 3->8 and 5->3 had the truth second
    assert metrics["log_loss"] == pytest.approx(-(10 * math.log(0.7) + 2 * math.log(0.2) + math.log(0.0125)) / 13)
    assert metrics["per_class"]["5"]["recall"] == pytest.approx(2 / 3)
    assert metrics["per_class"]["3"]["precision"] == pytest.approx(1 / 2)  # one true 3, one 5 called 3
    assert metrics["per_class"]["9"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    text = report_text(y_true, probs, metrics, title="hand-made")
    assert text.startswith("hand-made") and "macro avg" in text and "micro avg" in text
    assert "errors           3 of 13" in text
    assert_matches_sklearn(metrics, y_true, probs)


def test_default_output_dir(trained_run):
    assert default_output_dir(trained_run / "model.keras") == trained_run / "eval"
    assert default_output_dir(Path("saved_models/lamontagne.keras")) == Path("eval/lamontagne")


def assert_png_not_blank(path: Path) -> None:
    from PIL import Image

    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape[0] > 200 and pixels.shape[1] > 200, path
    assert pixels.std() > 10, f"{path} is blank"
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20, f"{path} has too few colours"


def test_tensorboard_holds_the_validation_confusion_image(trained_run):
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from mnist_keras.callbacks import CONFUSION_TAG

    acc = EventAccumulator(str(trained_run / "logs" / "confusion"), size_guidance={"tensors": 0})
    acc.Reload()
    assert CONFUSION_TAG in acc.PluginTagToContent("images")
    events = acc.Tensors(CONFUSION_TAG)
    assert [event.step for event in events] == [0]  # one epoch, one image
    width, height, png = tf.make_ndarray(events[0].tensor_proto)
    assert int(width) > 200 and int(height) > 200
    path = trained_run.parent / "tensorboard_confusion.png"
    path.write_bytes(png)
    assert_png_not_blank(path)


def test_evaluate_end_to_end(trained_run, data_dir, mnist, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    cmd = [sys.executable, "-m", "mnist_keras.cli", "evaluate", str(run), "--data-dir", str(data_dir)]
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    out = run / "eval"
    assert sorted(p.name for p in out.iterdir()) == EVAL_FILES
    for split, n in (("train", 60_000), ("test", 10_000)):
        assert f"lamontagne · {split} ({n:,} images)" in result.stdout
    assert "weighted avg" in result.stdout and "micro avg" in result.stdout
    for png in out.glob("*.png"):
        assert_png_not_blank(png)

    summary = json.loads((out / "metrics.json").read_text())
    assert summary["model_name"] == "lamontagne" and summary["params"] == 767_678
    assert summary["source_run"] == str(run.resolve()) and summary["model_path"] == str((run / "model.keras").resolve())
    assert list(summary["splits"]) == ["train", "test"]
    assert summary["splits"]["train"]["n"] == 60_000 and summary["splits"]["test"]["n"] == 10_000
    assert summary["splits"]["test"]["accuracy"] > 0.6  # chance is 0.1

    # The JSON numbers are scikit-learn's on the model's own predictions, made here independently.
    from mnist_keras.artifacts import load_model

    model = load_model(run / "model.keras")
    probs = model.predict(mnist.x_test[..., None].astype(np.float32), batch_size=1024, verbose=0)
    report = json.loads((out / "report_test.json").read_text())
    assert_matches_sklearn(report, mnist.y_test, probs)
    assert {key: report[key] for key in SUMMARY_KEYS} == {key: summary["splits"]["test"][key] for key in SUMMARY_KEYS}
    csv_rows = (out / "confusion_test.csv").read_text().splitlines()
    assert csv_rows[0] == "true\\predicted,0,1,2,3,4,5,6,7,8,9"
    assert [list(map(int, row.split(",")[1:])) for row in csv_rows[1:]] == report["confusion_matrix"]

    # Re-evaluating one split of the same model file keeps the other split's numbers.
    from mnist_keras.evaluate import evaluate_model

    again = evaluate_model(run, splits="test", data_dir=data_dir)
    assert again["splits"]["train"] == summary["splits"]["train"]
    assert again["splits"]["test"] == summary["splits"]["test"]


# ------------------------------------------------------- test-time augmentation


def test_tta_views_are_the_image_and_its_two_rotations():
    from mnist_keras.predict import TTA_ROTATIONS_DEG, tta_views

    x = np.zeros((3, 28, 28, 1), np.float32)
    x[:, 4:24, 13:15] = 255.0  # a vertical bar through the centre (pixel 13.5)
    views = tta_views(x)
    assert len(views) == 1 + len(TTA_ROTATIONS_DEG) and TTA_ROTATIONS_DEG == (-8.0, 8.0)
    assert views[0] is x or np.array_equal(views[0], x)
    left, right = views[1], views[2]
    assert not np.allclose(left, x) and not np.allclose(left, right)
    np.testing.assert_allclose(left, right[:, :, ::-1], atol=1e-3)  # opposite angles: mirror images
    for view in views[1:]:
        assert view.shape == x.shape and view.min() >= 0.0 and view.max() <= 255.0
        assert abs(view.sum() - x.sum()) < 0.01 * x.sum()  # ink is moved, not lost
        # Rows 5 and 22 lie 8.5 pixels from the centre: a turn of 8 degrees moves them
        # 8.5 * tan(8 deg) = 1.2 pixels sideways each, in opposite directions.
        top, bottom = view[0, 5, :, 0], view[0, 22, :, 0]
        assert abs(np.average(np.arange(28), weights=top) - np.average(np.arange(28), weights=bottom)) > 2.0


def test_tta_views_rotate_as_scipy_does():
    """The views are bilinear rotations about the centre with black outside (SciPy's grid-constant mode).

    The sampler clips positions 0.001 px inside its black border, so a pixel sampled beyond the far
    edge can keep 0.001 of the edge pixel: at most 0.26 grey levels, on noise that fills the frame.
    """
    from scipy import ndimage

    from mnist_keras.predict import tta_views

    x = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28, 1)).astype(np.float32)
    for view, angle in zip(tta_views(x)[1:], (-8.0, 8.0)):
        by_scipy = ndimage.rotate(x, -angle, axes=(2, 1), reshape=False, order=1, mode="grid-constant")
        assert np.abs(view - np.clip(by_scipy, 0, 255)).max() < 0.26


def test_tta_averages_the_softmax_of_the_views(tmp_path):
    import keras

    from mnist_keras.artifacts import load_model
    from mnist_keras.predict import predict_probabilities, tta_views

    # Seeded, and fed 0-1 pixels: an untrained model on raw 0-255 pixels saturates
    # its softmax to one-hot rows, which rotated copies can leave unchanged.
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(28, 28, 1))
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x)).save(tmp_path / "tiny.keras")
    model = load_model(tmp_path / "tiny.keras")
    x = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28)).astype(np.uint8)
    plain = predict_probabilities(model, x)
    by_hand = [predict_probabilities(model, view) for view in tta_views(x)]
    tta = predict_probabilities(model, x, tta=True)
    np.testing.assert_allclose(tta, np.mean(by_hand, axis=0), atol=1e-6)
    assert not np.allclose(tta, plain) and np.allclose(tta.sum(axis=1), 1.0, atol=1e-5)


def test_evaluate_tta_writes_its_own_folder(trained_run, data_dir, mnist, tmp_path):
    from mnist_keras.artifacts import load_model
    from mnist_keras.evaluate import evaluate_model
    from mnist_keras.predict import predict_probabilities

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    code, output = invoke("evaluate", run, "--split", "test", "--tta", "--data-dir", data_dir)
    assert code == 0, output
    assert "lamontagne (test-time aug. ±8°) · test (10,000 images)" in output
    out = run / "eval_tta"
    assert not (run / "eval").exists() and (out / "confusion_test.png").is_file()
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["tta_rotations_deg"] == [-8.0, 8.0] and list(summary["splits"]) == ["test"]
    probs = predict_probabilities(load_model(run / "model.keras"), mnist.x_test, tta=True)
    assert summary["splits"]["test"]["accuracy"] == pytest.approx(np.mean(probs.argmax(axis=1) == mnist.y_test))

    # A plain evaluation into the same folder does not keep the TTA numbers as if they were its own.
    plain = evaluate_model(run, splits="train", data_dir=data_dir, output_dir=out)
    assert list(plain["splits"]) == ["train"] and plain["tta_rotations_deg"] == []


# ---------------------------------------------------------------- bad input


def save_model(path: Path, *, input_shape=(28, 28, 1), classes=10, lambda_source: str | None = None) -> Path:
    """Save a tiny untrained model, optionally with a Lambda layer built from ``lambda_source``."""
    import keras

    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Lambda(eval(lambda_source))(inputs) if lambda_source else inputs
    outputs = keras.layers.Dense(classes, activation="softmax")(keras.layers.Flatten()(x))
    keras.Model(inputs, outputs).save(path)
    return path


def invoke(*args):
    """Run ``mnist-keras`` in-process; return (exit code, combined output)."""
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("make", "extra", "message"),
    [
        (lambda d: d / "missing.keras", [], "model file not found"),
        (lambda d: d, [], "no model.keras in this folder"),
        (
            lambda d: (d / "junk.keras").write_bytes(b"not a zip at all") and d / "junk.keras",
            [],
            "not a readable Keras model",
        ),
        (
            lambda d: save_model(d / "wide.keras", input_shape=(32, 32, 1)),
            [],
            "model input is (32, 32, 1), expected (28, 28, 1)",
        ),
        (lambda d: save_model(d / "five.keras", classes=5), [], "model output is (5,), expected (10,) classes"),
        (lambda d: save_model(d / "ok.keras"), ["--split", "validation"], "Invalid value for '--split'"),
        (
            lambda d: save_model(d / "ok.keras"),
            ["--data-dir", "/nonexistent/mnist"],
            "/nonexistent/mnist: not a folder",
        ),
        (lambda d: save_model(d / "ok.keras"), ["--batch-size", "0"], "--batch-size must be at least 1"),
    ],
    ids=["missing", "empty-folder", "not-a-zip", "wrong-input", "wrong-classes", "unknown-split", "no-data", "batch-0"],
)
def test_evaluate_bad_input_is_a_one_line_error(tmp_path, make, extra, message):
    code, output = invoke("evaluate", make(tmp_path), *extra, "--output", tmp_path / "out")
    assert code == 2 or (code == 1 and "batch-size" in message), output
    assert message in output and "Traceback" not in output
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_evaluate_refuses_a_model_that_contains_code(tmp_path):
    marker = tmp_path / "code-ran"
    path = save_model(tmp_path / "lambda.keras", lambda_source=f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]")
    marker.unlink()  # building the model ran the lambda once; loading must not
    code, output = invoke("evaluate", path, "--output", tmp_path / "out")
    assert code == 2 and "contains code" in output and "Traceback" not in output
    assert not marker.exists(), "the Lambda's code ran while loading"

    import keras  # the premise: an unsafe load really would run it

    keras.saving.load_model(path, safe_mode=False)
    assert marker.exists()


def test_missing_model_through_the_real_command(tmp_path):
    cmd = [sys.executable, "-m", "mnist_keras.cli", "evaluate", "nothing.keras"]
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: nothing.keras: model file not found; train one with 'mnist-keras fit' or check the path"
    )


def test_curves_mark_the_epoch_a_keep_last_run_kept(tmp_path, monkeypatch):
    """The kept epoch is read from the run's recipe: a --keep last run's curves mark its last epoch, not its best."""
    import json

    from mnist_keras import evaluate, plots

    (tmp_path / "config.json").write_text(json.dumps({"settings": {"model": "fast", "recipe": {"keep": "last"}}}))
    rows = ["epoch,loss,accuracy,val_loss,val_accuracy,learning_rate"]
    rows += [f"{epoch},0.5,0.9,{val_loss},0.9,0.001" for epoch, val_loss in enumerate([0.2, 0.3, 0.4])]
    (tmp_path / "history.csv").write_text("\n".join(rows) + "\n")
    marked = {}
    monkeypatch.setattr(
        plots, "curves_figure", lambda history, *, title, kept_epoch: marked.setdefault("epoch", kept_epoch)
    )
    monkeypatch.setattr(plots, "save_figure", lambda figure, target: None)
    evaluate._plot_curves(tmp_path, "fast", tmp_path / "curves.png")
    assert marked["epoch"] == 3  # the last of 3 epochs (the lowest validation loss was epoch 1)
