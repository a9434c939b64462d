"""Distribution: TF_CONFIG parsing, single-machine strategies, and a real two-worker run on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from mnist_keras.distribute import FINAL_WEIGHTS_VAR, Task, current_task, read_tf_config
from mnist_keras.errors import MnistKerasError
from mnist_keras.models import ARCHITECTURES


def test_chief_is_worker_zero_unless_the_cluster_has_a_chief():
    workers = {"worker": ["a:1", "b:2"]}
    assert current_task(None) == Task()
    assert current_task({"cluster": workers, "task": {"type": "worker", "index": 0}}).is_chief
    assert not current_task({"cluster": workers, "task": {"type": "worker", "index": 1}}).is_chief
    with_chief = {"chief": ["c:0"], **workers}
    assert not current_task({"cluster": with_chief, "task": {"type": "worker", "index": 0}}).is_chief
    chief = current_task({"cluster": with_chief, "task": {"type": "chief", "index": 0}})
    assert chief.is_chief and chief.num_workers == 3 and chief.name == "chief-0"


@pytest.mark.parametrize(
    ("value", "message"), [("{not json", "not valid JSON"), ('{"task": {}}', '"cluster" and "task"')]
)
def test_bad_tf_config_is_a_clear_error(monkeypatch, value, message):
    monkeypatch.setenv("TF_CONFIG", value)
    with pytest.raises(MnistKerasError, match=message):
        read_tf_config()


def _fit(tmp_path, data_dir, **settings):
    from mnist_keras.train import FitConfig, fit

    config = FitConfig(overrides={"epochs": 1}, limit=1000, validation_size=500, data_dir=str(data_dir), run_dir=str(tmp_path / "run"),
                       saved_models_dir=str(tmp_path / "saved"), verbose=0, **settings)  # fmt: skip
    return fit(config)


def test_mirrored_with_xla_trains_and_records_its_settings(tmp_path, data_dir):
    run = _fit(tmp_path, data_dir, strategy="mirrored", jit_compile=True)
    settings = json.loads((run / "config.json").read_text())["settings"]
    assert (settings["strategy"], settings["jit_compile"], settings["mixed_precision"]) == ("mirrored", True, False)
    assert (run / "model.keras").is_file()


def test_mixed_precision_publishes_a_float32_model(tmp_path, data_dir):
    import keras

    from mnist_keras.artifacts import load_model

    run = _fit(tmp_path, data_dir, mixed_precision=True)
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after training
    model = load_model(run / "model.keras")
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert json.loads((run / "config.json").read_text())["settings"]["mixed_precision"] is True


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.parametrize("ema", ["0", "0.5"])  # 0.5: the multi-worker loop validates and keeps the average
def test_two_workers_agree_and_only_the_chief_writes(tmp_path, data_dir, mnist, ema):
    from mnist_keras.artifacts import load_model

    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    weights = tmp_path / "weights"
    procs = []
    for index in range(2):
        home = tmp_path / f"worker{index}"
        (home / "tmp").mkdir(parents=True)
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
               FINAL_WEIGHTS_VAR: str(weights), "TMPDIR": str(home / "tmp")}  # fmt: skip
        cmd = [sys.executable, "-m", "mnist_keras.cli", "fit", "--strategy", "multi-worker", "--limit", "1000",
               "--epochs", "1", "--validation-size", "500", "--no-eval", "--data-dir", str(data_dir), "--output", "run", "--quiet",
               "--ema-momentum", ema]  # fmt: skip
        procs.append(
            subprocess.Popen(cmd, cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        )
    outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], "\n".join(outputs)

    chief, other = (np.load(weights / f"worker-{i}.npz") for i in range(2))
    assert len(chief.files) == len(other.files) > 0
    for key in chief.files:
        np.testing.assert_array_equal(chief[key], other[key])

    run = tmp_path / "worker0" / "run"
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "history.csv", "logs", "model.keras"]
    assert json.loads((run / "config.json").read_text())["settings"]["strategy"] == "multi-worker"
    assert "val_loss" in (run / "history.csv").read_text()
    model = load_model(run / "model.keras")
    for saved, final in zip(model.get_weights(), (chief[key] for key in chief.files), strict=True):
        np.testing.assert_allclose(saved, final, rtol=1e-6, atol=1e-7)  # the one epoch's checkpoint: the final weights
    accuracy = np.mean(np.argmax(model.predict(mnist.x_test[:500, ..., None], verbose=0), axis=1) == mnist.y_test[:500])
    assert accuracy > 0.5  # chance is 0.1
    assert sorted(p.name for p in (tmp_path / "worker1").iterdir()) == ["tmp"]  # nothing left behind
    assert not any((tmp_path / "worker1" / "tmp").iterdir())
    assert "chief wrote the run folder" in outputs[1]


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_architecture_trains_under_xla(name):
    """``--jit-compile`` works for every registered model (XLA can compile all of them)."""
    from mnist_keras.models import build_model, get_architecture
    from mnist_keras.train import compile_model

    model = build_model(name)
    compile_model(model, get_architecture(name).recipe.learning_rate, jit_compile=True)
    rng = np.random.default_rng(0)
    loss = model.train_on_batch(rng.integers(0, 256, (16, 28, 28, 1)).astype("float32"), rng.integers(0, 10, 16))
    assert np.isfinite(float(loss[0]))
