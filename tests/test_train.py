"""End-to-end training through the real ``mnist-keras fit`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_keras.train import read_history


def run_cli(*args, cwd, check=True, **kwargs):
    """Run ``mnist-keras`` in a subprocess (the console script's own entry point)."""
    cmd = [sys.executable, "-m", "mnist_keras.cli", *map(str, args)]
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, **kwargs)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def scalar_tags(log_dir: Path) -> set[str]:
    """Tags of every scalar/tensor summary in a TensorBoard log folder."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for events in log_dir.rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events.parent))
        acc.Reload()
        tags |= set(acc.Tags()["tensors"]) | set(acc.Tags()["scalars"])
    return tags


def test_fit_end_to_end(tmp_path, data_dir):
    result = run_cli(
        "fit",
        "--limit",
        3000,
        "--epochs",
        1,
        "--data-dir",
        data_dir,
        "--output",
        "runs/smoke",
        "--publish",
        "always",
        cwd=tmp_path,
    )
    run = tmp_path / "runs" / "smoke"
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "eval", "history.csv", "logs", "model.keras"]
    assert (tmp_path / "saved_models" / "lamontagne.keras").stat().st_size > 1_000_000
    assert "published saved_models/lamontagne.keras (validation accuracy" in result.stdout
    assert json.loads((tmp_path / "saved_models" / "lamontagne.json").read_text())["run_dir"] == "runs/smoke"
    config = json.loads((run / "config.json").read_text())
    assert config["settings"]["recipe"]["epochs"] == 1 and config["settings"]["recipe"]["batch_size"] == 128
    assert config["settings"]["overrides"] == {"epochs": 1}
    assert config["data"]["train_size"] == 3000 and config["data"]["validation_size"] == 5000
    assert config["data"]["checksum_mismatches"] == []
    assert {"tensorflow", "keras", "numpy"} <= set(config["versions"])
    history = read_history(run)
    assert len(history) == 1
    assert float(history[0]["val_accuracy"]) > 0.6  # chance is 0.1
    assert "epoch_loss" in scalar_tags(run / "logs")
    assert "run folder:" in result.stdout and "val_accuracy" in result.stdout
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    test = metrics["splits"]["test"]
    assert list(metrics["splits"]) == ["train", "test"] and test["accuracy"] > 0.6
    assert result.stdout.strip().splitlines()[-2:] == [
        f"test accuracy {test['accuracy']:.4f} ({test['errors']} errors of 10,000)",
        f"test macro F1 {test['macro_f1']:.4f}",
    ]


def test_histograms_option_turns_on_weight_histograms(tmp_path):
    import keras

    from mnist_keras.callbacks import make_callbacks
    from mnist_keras.train import FitConfig

    for histograms, freq in ((False, 0), (True, 1)):
        callbacks = make_callbacks(FitConfig(histograms=histograms).resolved(), tmp_path)
        (board,) = [c for c in callbacks if isinstance(c, keras.callbacks.TensorBoard)]
        assert board.histogram_freq == freq


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--learning-rate", "-1"], "--learning-rate must be positive"),
        (["--model", "resnet1000"], "unknown model 'resnet1000'"),
        (["--resume"], "--resume needs --output RUN"),
        (["--keep", "first"], "Invalid value for '--keep'"),
        (["--ema-momentum", "1"], "--ema-momentum must be in [0, 1), got 1.0"),
        (["--data-dir", "does-not-exist"], "does-not-exist: not a folder"),
    ],
)
def test_fit_bad_options_are_one_line_errors(tmp_path, args, message):
    result = run_cli("fit", *args, cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_fit_refuses_to_overwrite_a_run(tmp_path, data_dir):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.keras").write_bytes(b"precious")
    result = run_cli("fit", "--data-dir", data_dir, "--output", "run", cwd=tmp_path, check=False)
    assert result.returncode == 2 and "already holds files" in result.stderr
    assert (tmp_path / "run" / "model.keras").read_bytes() == b"precious"


def test_help_is_instant_and_light():
    code = "import sys, mnist_keras.cli; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    result = run_cli("--help", cwd=os.getcwd())
    assert "fit" in result.stdout and "models" in result.stdout
    assert "0.1.0" in run_cli("--version", cwd=os.getcwd()).stdout


def test_recipe_fields_come_from_the_architecture_unless_set():
    from mnist_keras.train import FitConfig

    fast = FitConfig(model="fast").resolved().recipe
    assert (fast.epochs, fast.batch_size, fast.lr_schedule) == (1, 256, "cosine")
    assert (fast.warmup_fraction, fast.label_smoothing, fast.adam_beta_1, fast.adam_beta_2) == (0.25, 0.1, 0.7, 0.9)
    plain = FitConfig(model="lamontagne", overrides={"label_smoothing": 0.05}).resolved().recipe
    assert (plain.warmup_fraction, plain.label_smoothing, plain.adam_beta_1, plain.adam_beta_2) == (
        0.0,
        0.05,
        0.9,
        0.999,
    )


def test_warmup_rises_to_the_peak_then_decays_over_the_whole_run():
    import numpy as np

    from mnist_keras.train import COSINE_FINAL_FRACTION, WARMUP_START_FRACTION, FitConfig, learning_rate_for

    recipe = FitConfig(model="fast").resolved().recipe  # 1 epoch, peak 1e-2, warm-up 25%
    schedule = learning_rate_for(recipe, steps_per_epoch=100)
    lr = np.array([float(schedule(step)) for step in range(101)])
    peak = recipe.learning_rate
    np.testing.assert_allclose(
        [lr[0], lr[25], lr[100]], [WARMUP_START_FRACTION * peak, peak, COSINE_FINAL_FRACTION * peak], rtol=1e-5
    )
    assert np.all(np.diff(lr[:26]) > 0) and np.all(np.diff(lr[25:]) < 0)
    no_warmup = learning_rate_for(FitConfig(model="bn-cnn").resolved().recipe, steps_per_epoch=10)
    assert float(no_warmup(0)) == pytest.approx(3e-3)


def test_smoothed_loss_takes_integer_labels_and_matches_keras_categorical():
    import keras
    import numpy as np

    from mnist_keras.losses import SmoothedSparseCrossentropy, classification_loss

    probs = np.random.default_rng(0).dirichlet(np.ones(10), size=8).astype("float32")
    labels = np.arange(8) % 10
    expected = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(keras.utils.to_categorical(labels, 10), probs)
    got = SmoothedSparseCrossentropy(label_smoothing=0.1)(labels, probs)
    assert float(got) == pytest.approx(float(expected), rel=1e-5)
    assert float(
        SmoothedSparseCrossentropy(label_smoothing=0.1)(labels[:, None].astype("float32"), probs)
    ) == pytest.approx(float(expected), rel=1e-5)
    assert classification_loss(0.0) == "sparse_categorical_crossentropy"


def test_fast_recipe_compiles_with_its_betas_and_smoothing(tmp_path):
    import numpy as np

    from mnist_keras.artifacts import load_model, save_model
    from mnist_keras.losses import SmoothedSparseCrossentropy
    from mnist_keras.models import build_model
    from mnist_keras.train import FitConfig, compile_for

    config = FitConfig(model="fast").resolved()
    model = build_model("fast")
    compile_for(model, config, steps=10)
    assert isinstance(model.loss, SmoothedSparseCrossentropy)
    assert (float(model.optimizer.beta_1), float(model.optimizer.beta_2)) == (0.7, 0.9)
    rng = np.random.default_rng(0)
    model.train_on_batch(rng.integers(0, 256, (8, 28, 28, 1)).astype("float32"), rng.integers(0, 10, 8))
    save_model(model, tmp_path / "fast.keras")  # the compiled loss serialises with the checkpoint
    assert load_model(tmp_path / "fast.keras").count_params() == model.count_params()


def test_multi_worker_loop_keeps_the_compiled_label_smoothing():
    """The custom loop sums per-image losses: it must rebuild the compiled loss, smoothing included."""
    import numpy as np

    from mnist_keras.losses import SmoothedSparseCrossentropy, classification_loss, per_example_loss

    probs = np.random.default_rng(0).dirichlet(np.ones(10), size=4).astype("float32")
    labels = np.array([0, 1, 2, 3])
    smoothed = per_example_loss(classification_loss(0.1))
    assert isinstance(smoothed, SmoothedSparseCrossentropy) and smoothed.label_smoothing == 0.1
    assert np.asarray(smoothed(labels, probs)).shape == (4,)
    plain = per_example_loss(classification_loss(0.0))
    expected = -np.log(probs[np.arange(4), labels])
    np.testing.assert_allclose(np.asarray(plain(labels, probs)), expected, rtol=1e-5)


def test_the_checkpoint_keeps_the_best_or_the_last_epoch_and_never_a_nan_one(tmp_path):
    import keras

    from mnist_keras.artifacts import kept_row
    from mnist_keras.callbacks import BestModelCheckpoint

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="w")])
    saved = {}
    for save_best_only in (True, False):
        path = tmp_path / f"{save_best_only}.keras"
        checkpoint = BestModelCheckpoint(path, save_best_only=save_best_only, state_file=None)
        checkpoint.set_model(model)
        checkpoint.on_train_begin()
        for epoch, val_loss in enumerate([1.0, 2.0, float("nan")]):  # better, worse, diverged
            model.get_layer("w").bias.assign([float(epoch)])  # the weights tell which epoch was saved
            checkpoint.on_epoch_end(epoch, {"val_loss": val_loss})
        saved[save_best_only] = float(keras.saving.load_model(path).get_layer("w").bias.numpy()[0])
    assert saved == {True: 0.0, False: 1.0}  # best: epoch 0; last: epoch 1, not the NaN epoch 2

    history = [{"epoch": "0", "val_loss": "0.5"}, {"epoch": "1", "val_loss": "0.7"}]
    assert kept_row(history, "best")["epoch"] == "0" and kept_row(history, "last")["epoch"] == "1"
    assert kept_row([], "last") is None


def test_keep_comes_from_the_architecture_and_reaches_the_checkpoint(tmp_path):
    from mnist_keras.callbacks import BestModelCheckpoint, make_callbacks
    from mnist_keras.train import FitConfig

    assert FitConfig(model="lamontagne").resolved().recipe.keep == "best"
    assert FitConfig(model="lamontagne", overrides={"keep": "last"}).resolved().recipe.keep == "last"
    for keep, save_best_only in (("best", True), ("last", False)):
        callbacks = make_callbacks(FitConfig(overrides={"keep": keep}).resolved(), tmp_path)
        (checkpoint,) = [c for c in callbacks if isinstance(c, BestModelCheckpoint)]
        assert checkpoint.save_best_only is save_best_only


def _averaging_model():
    """A compiled model with weight averaging, a few steps in, whose average differs from its weights."""
    import keras
    import numpy as np

    from mnist_keras.train import compile_model

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="w")])
    compile_model(model, 0.1, ema_momentum=0.9)
    rng = np.random.default_rng(0)
    for _ in range(4):  # not model.fit, which ends by copying the average into the model
        model.train_on_batch(rng.normal(size=(8, 4)), rng.integers(0, 3, 8))
    return model


def test_the_checkpoint_saves_the_averaged_weights_and_training_keeps_its_own(tmp_path):
    import keras
    import numpy as np

    from mnist_keras.callbacks import BestModelCheckpoint

    model = _averaging_model()
    trained = [w.copy() for w in model.get_weights()]
    averaged = [np.asarray(v) for v in model.optimizer._model_variables_moving_average]
    assert not np.allclose(trained[0], averaged[0])  # else the test could not tell them apart

    checkpoint = BestModelCheckpoint(tmp_path / "model.keras", state_file=None)
    checkpoint.set_model(model)
    checkpoint.on_train_begin()
    checkpoint.on_epoch_end(0, {"val_loss": 1.0})
    for got, want in zip(keras.saving.load_model(tmp_path / "model.keras").get_weights(), averaged, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    for got, want in zip(model.get_weights(), trained, strict=True):  # training goes on from its own weights
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_weight_averaging_comes_from_the_recipe_and_reaches_validation(tmp_path):
    import keras

    from mnist_keras.callbacks import make_callbacks
    from mnist_keras.models import build_model
    from mnist_keras.train import FitConfig, compile_for

    def recipe(model, **overrides):
        return FitConfig(model=model, overrides=overrides).resolved().recipe

    config = FitConfig(model="bn-cnn-ema").resolved()
    assert config.recipe.ema_momentum == 0.99
    assert config.recipe.patience == config.recipe.epochs  # the cosine schedule always runs to its end
    assert recipe("bn-cnn").patience == 5
    assert recipe("bn-cnn-ema", patience=3).patience == 3
    assert recipe("bn-cnn").ema_momentum == 0.0
    assert recipe("bn-cnn-ema", ema_momentum=0.0).ema_momentum == 0.0
    model = build_model("bn-cnn-ema")
    compile_for(model, config, steps=10)
    assert model.optimizer.use_ema and float(model.optimizer.ema_momentum) == 0.99
    swaps = [c for c in make_callbacks(config, tmp_path) if isinstance(c, keras.callbacks.SwapEMAWeights)]
    assert len(swaps) == 1 and not swaps[0].swap_on_epoch  # validation measures the average
    assert not any(
        isinstance(c, keras.callbacks.SwapEMAWeights) for c in make_callbacks(FitConfig().resolved(), tmp_path)
    )


def test_a_run_with_weight_averaging_validates_the_model_it_saves(tmp_path, data_dir):
    """The last epoch's val_accuracy is the saved model's accuracy on the validation images."""
    import numpy as np

    from mnist_keras.artifacts import load_model, read_history
    from mnist_keras.data import load_mnist, make_splits
    from mnist_keras.train import FitConfig, fit

    config = FitConfig(model="lamontagne", overrides={"epochs": 2, "ema_momentum": 0.9, "keep": "last"}, limit=1000,
                       validation_size=1000, data_dir=str(data_dir), run_dir=str(tmp_path / "run"), publish="never", verbose=0)  # fmt: skip
    fit(config)
    splits = make_splits(load_mnist(data_dir), validation_size=1000, limit=1000, seed=config.seed)
    predicted = load_model(tmp_path / "run" / "model.keras").predict(splits.x_val[..., None], verbose=0).argmax(1)
    logged = float(read_history(tmp_path / "run")[-1]["val_accuracy"])
    assert abs(np.mean(predicted == splits.y_val) - logged) < 1e-6
