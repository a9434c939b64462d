"""The run folder and saved_models/: history I/O, and publishing that never loses a better model."""

from __future__ import annotations

import json

import pytest

from mnist_keras.artifacts import publish_model, published_record, resolve_model_path, trim_history
from mnist_keras.compare import CompareConfig, publish_best
from mnist_keras.errors import ModelFileError
from mnist_keras.train import FitConfig, publish


def make_model_file(path, content: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_publish_keeps_a_better_model_and_says_so(tmp_path):
    target = tmp_path / "saved" / "m.keras"
    good = make_model_file(tmp_path / "good.keras", b"good")
    worse = make_model_file(tmp_path / "worse.keras", b"worse")
    assert publish_model(good, target, {"val_accuracy": 0.99})[0]
    published, message = publish_model(worse, target, {"val_accuracy": 0.74})
    assert not published and target.read_bytes() == b"good"
    assert message.startswith(f"kept {target}") and "0.9900" in message and "0.7400" in message
    assert published_record(target)["val_accuracy"] == 0.99


def test_publish_replaces_an_equal_or_worse_model_and_force_replaces_anything(tmp_path):
    target = tmp_path / "m.keras"
    publish_model(make_model_file(tmp_path / "a.keras", b"a"), target, {"val_accuracy": 0.98})
    assert publish_model(make_model_file(tmp_path / "b.keras", b"b"), target, {"val_accuracy": 0.98})[0]
    assert target.read_bytes() == b"b"
    published, message = publish_model(
        make_model_file(tmp_path / "c.keras", b"c"), target, {"val_accuracy": 0.5}, force=True
    )
    assert published and target.read_bytes() == b"c" and "forced" in message
    assert json.loads(target.with_suffix(".json").read_text())["val_accuracy"] == 0.5


def test_publish_keeps_a_model_without_a_record(tmp_path):
    """A model copied there by hand: nothing says the new one is better."""
    target = make_model_file(tmp_path / "m.keras", b"mine")
    published, message = publish_model(make_model_file(tmp_path / "new.keras", b"new"), target, {"val_accuracy": 1.0})
    assert not published and target.read_bytes() == b"mine" and "no record" in message


def write_run(run_dir, val_accuracies):
    make_model_file(run_dir / "model.keras", b"model of " + str(run_dir).encode())
    rows = "".join(f"{i},{acc},{1 - acc}\n" for i, acc in enumerate(val_accuracies))
    (run_dir / "history.csv").write_text("epoch,val_accuracy,val_loss\n" + rows)
    return run_dir


@pytest.mark.parametrize(
    ("limit", "choice", "published"),
    [(None, "auto", True), (3000, "auto", False), (3000, "always", True), (None, "never", False)],
)
def test_fit_publishes_full_runs_only_unless_asked(tmp_path, limit, choice, published):
    run = write_run(tmp_path / "run", [0.9, 0.95])
    config = FitConfig(limit=limit, publish=choice, saved_models_dir=str(tmp_path / "saved"))
    message = publish(config, run)
    assert (tmp_path / "saved" / "lamontagne.keras").is_file() == published
    if published:
        assert message.startswith("published") and published_record(tmp_path / "saved" / "lamontagne.keras")[
            "val_accuracy"
        ] == pytest.approx(0.95)
    elif choice == "auto":
        assert "--limit run does not replace" in message


def test_compare_smoke_run_does_not_replace_best(tmp_path):
    """The issue's case: a --limit comparison's 74% winner must not replace saved_models/best.keras."""
    saved = tmp_path / "saved"
    publish_model(make_model_file(tmp_path / "real.keras", b"real"), saved / "best.keras", {"val_accuracy": 0.996})
    winner = {"model": "lenet5", "val_accuracy": 0.74, "val_loss": 0.9, "test_accuracy": 0.75}
    winner["run_dir"] = str(write_run(tmp_path / "cmp" / "lenet5", [0.74]))
    smoke = CompareConfig(fit=FitConfig(limit=2000, saved_models_dir=str(saved)))
    assert "does not replace" in publish_best(smoke, winner)
    full = CompareConfig(fit=FitConfig(saved_models_dir=str(saved)))
    assert publish_best(full, winner).startswith("kept")
    assert (saved / "best.keras").read_bytes() == b"real"


def test_trim_history_drops_rows_past_the_backup(tmp_path):
    write_run(tmp_path, [0.5, 0.6, 0.7])
    assert [row["epoch"] for row in trim_history(tmp_path, 2)] == ["0", "1"]
    assert (tmp_path / "history.csv").read_text().count("\n") == 3  # header + 2 rows


def test_a_file_that_is_not_a_zip_is_not_a_keras_model(tmp_path):
    junk = make_model_file(tmp_path / "junk.keras", b"hello")
    with pytest.raises(ModelFileError, match="a .keras file is a zip archive and this one is not"):
        resolve_model_path(junk)


def test_saved_models_open_with_plain_keras_without_mnist_keras(tmp_path):
    """model.keras holds the network and weights only: no optimizer, no loss or metric classes of ours."""
    import subprocess
    import sys

    import numpy as np

    from mnist_keras.artifacts import save_model
    from mnist_keras.models import build_model
    from mnist_keras.train import compile_model

    model = build_model("fast")
    compile_model(model, 1e-3, label_smoothing=0.1)  # our loss and our metric in the compile config
    model.fit(np.zeros((4, 28, 28, 1), "float32"), np.arange(4), epochs=1, verbose=0)  # builds the optimizer
    save_model(model, tmp_path / "model.keras")
    probe = (
        "import sys, keras, numpy as np\n"
        f"model = keras.saving.load_model({str(tmp_path / 'model.keras')!r})\n"
        "assert 'mnist_keras' not in sys.modules and getattr(model, 'optimizer', None) is None\n"
        "np.save(sys.argv[1], model.predict(np.ones((2, 28, 28, 1), 'float32'), verbose=0))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "out.npy")], capture_output=True, text=True,
                            cwd=tmp_path, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    expected = model.predict(np.ones((2, 28, 28, 1), "float32"), verbose=0)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-6)
