"""The edge script, run as a user would on a Pi: two copied files, a venv without TensorFlow."""

from __future__ import annotations

import json
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "scripts" / "mnist_edge.py"
EDGE_PACKAGES = ("numpy", "pillow", "ai-edge-litert")
MIN_ACCURACY = 0.6  # the session model: 1 epoch on 3,000 images (~73 % validation accuracy)
# Agreement with Keras on the raw MNIST arrays. Measured with such a model: 0.99 for MNIST PNGs and
# inverted copies (300 digits), 0.90 for the recoloured set (half are blue-on-yellow JPEGs: 70 % of
# the contrast, JPEG ringing), 0.87-0.89 for the 10x canvas (upscaling moves pixels by ~12 grey
# levels and the weak model flips borderline digits) at unchanged accuracy (0.72 vs 0.72).
MIN_AGREEMENT = {"mnist": 0.95, "recoloured": 0.8, "canvas": 0.8}
MAX_ACCURACY_LOSS = 0.08  # preprocessed files against the raw arrays

# Loaded into the edge venv at start-up: importing any of these fails and is logged.
IMPORT_GUARD = """
import os, sys

BLOCKED = ("tensorflow", "keras", "tf_keras", "mnist_keras")


class _Guard:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            with open(os.environ["EDGE_IMPORT_LOG"], "a") as log:
                log.write(name + "\\n")
            raise ImportError(f"{name} is blocked in the edge test environment")
        return None


sys.meta_path.insert(0, _Guard())
"""


@pytest.fixture(scope="session")
def edge_python(tmp_path_factory) -> Path:
    """A fresh virtual environment with only numpy, Pillow and ai-edge-litert, plus the import guard."""
    venv = tmp_path_factory.mktemp("edge_venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-compile", "--disable-pip-version-check", *EDGE_PACKAGES],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if install.returncode != 0:
        pytest.skip(
            f"cannot pip install {' '.join(EDGE_PACKAGES)} into a fresh venv (no package index?): {install.stderr.strip()[-300:]}"
        )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    Path(site.stdout.strip(), "sitecustomize.py").write_text(IMPORT_GUARD)
    return python


@pytest.fixture(scope="session")
def pi_folder(tflite_models, tmp_path_factory) -> Path:
    """What a user copies to the Pi: the script and the .tflite files, nothing else."""
    folder = tmp_path_factory.mktemp("pi")
    shutil.copy(SCRIPT, folder)
    for path in tflite_models.values():
        shutil.copy(path, folder)
    return folder


def run_edge(edge_python: Path, pi_folder: Path, *args, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run the copied script in the edge venv (no PYTHONPATH: the package is not reachable) and
    check that nothing tried to import TensorFlow, Keras or mnist_keras."""
    log = tmp_path / "blocked_imports.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["EDGE_IMPORT_LOG"] = str(log)
    cmd = [str(edge_python), "mnist_edge.py", *map(str, args)]
    result = subprocess.run(cmd, cwd=pi_folder, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert not log.exists(), f"the edge script tried to import {log.read_text().split()}"
    assert "Traceback" not in result.stderr, result.stderr
    return result


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.fixture(scope="session")
def keras_predictions(trained_run, mnist, digit_images) -> np.ndarray:
    """The Keras model's digits for the raw MNIST arrays behind ``digit_images``."""
    from mnist_keras.artifacts import load_model

    count = len(digit_images["mnist"][1])
    return load_model(trained_run).predict(mnist.x_test[:count, ..., None].astype(np.float32), verbose=0).argmax(1)


# ------------------------------------------------------------ the embedding


def test_embedded_modules_are_the_package_files_byte_for_byte():
    builder = runpy.run_path(str(REPO_ROOT / "scripts" / "build_edge_script.py"))
    text = SCRIPT.read_text(encoding="utf-8")
    blocks = builder["embedded_blocks"](text)
    assert list(blocks) == ["marks", "preprocess", "litert", "classify"]
    for name, body in blocks.items():
        assert body == (REPO_ROOT / "mnist_keras" / f"{name}.py").read_text(encoding="utf-8"), (
            f"scripts/mnist_edge.py embeds an old mnist_keras/{name}.py: run python scripts/build_edge_script.py"
        )
    assert builder["render"](text) == text


def test_embedded_modules_load_as_a_package(monkeypatch):
    monkeypatch.setattr(sys, "modules", dict(sys.modules))  # the loader registers mnist_edge_embedded.*
    script = runpy.run_path(str(SCRIPT), run_name="not_main")
    package = script["load_embedded"]()
    assert package.classify.to_mnist is package.preprocess.to_mnist  # relative imports resolved inside
    assert package.litert.INPUT_SHAPE == (28, 28, 1)


# ------------------------------------------------------------ classification


@pytest.mark.parametrize("variant", ["int8", "float32"])
def test_classifies_mnist_pngs(edge_python, pi_folder, digit_images, keras_predictions, variant, tmp_path):
    paths, labels = digit_images["mnist"]
    result = run_edge(
        edge_python, pi_folder, f"run_{variant}.tflite", paths[0].parent, "--json", "--threads", 1, tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr
    rows = json_lines(result.stdout)
    assert [row["path"] for row in rows] == [str(p) for p in paths]  # sorted folder order
    digits = np.array([row["digit"] for row in rows])
    assert np.mean(digits == labels) >= MIN_ACCURACY
    assert np.mean(digits == keras_predictions) >= MIN_AGREEMENT["mnist"]
    for row in rows:
        assert len(row["top_k"]) == 3 and row["top_k"][0] == {"digit": row["digit"], "probability": row["probability"]}
        probs = [t["probability"] for t in row["top_k"]]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.01


@pytest.mark.parametrize("kind", ["recoloured", "canvas"])
def test_classifies_recoloured_and_large_drawings(
    edge_python, pi_folder, digit_images, keras_predictions, kind, tmp_path
):
    paths, labels = digit_images[kind]
    result = run_edge(edge_python, pi_folder, "run_int8.tflite", *paths, "--json", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    digits = np.array([row["digit"] for row in json_lines(result.stdout)])
    assert np.mean(digits == labels) >= max(MIN_ACCURACY, np.mean(keras_predictions == labels) - MAX_ACCURACY_LOSS)
    assert np.mean(digits == keras_predictions) >= MIN_AGREEMENT[kind]


def test_text_output_top_k_and_benchmark(edge_python, pi_folder, digit_images, tmp_path):
    paths = digit_images["mnist"][0][:2]
    result = run_edge(
        edge_python, pi_folder, "run_float32.tflite", *paths, "--top-k", 5, "--benchmark", 20, tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    for path, line in zip(paths, lines):
        assert line.startswith(f"{path}: ") and "top-5: " in line and line.count("%") == 6
    assert lines[2].startswith("benchmark: 20 single-image predictions: median ")
    stats = json_lines(
        run_edge(
            edge_python, pi_folder, "run_int8.tflite", paths[0], "--json", "--benchmark", 20, tmp_path=tmp_path
        ).stdout
    )[-1]
    bench = stats["benchmark"]
    assert bench["runs"] == 20 and 0 < bench["median_ms"] <= bench["p99_ms"] and bench["throughput_per_s"] > 0


# ---------------------------------------------------------------- bad input


def test_bad_images_are_reported_and_the_rest_classified(edge_python, pi_folder, bad_images, digit_images, tmp_path):
    good = digit_images["mnist"][0][0]
    bad = [path for path, _ in bad_images.values()]
    result = run_edge(edge_python, pi_folder, "run_int8.tflite", *bad, good, tmp_path=tmp_path)
    assert result.returncode == 2
    assert result.stdout.startswith(f"{good}: ")
    errors = result.stderr.splitlines()
    for path, message in bad_images.values():
        assert any(line.startswith("error: ") and str(path) in line and message in line for line in errors), (
            path,
            result.stderr,
        )
    assert f"{len(bad)} of {len(bad) + 1} image(s) failed" in result.stderr

    rows = json_lines(
        run_edge(edge_python, pi_folder, "run_int8.tflite", *bad, good, "--json", tmp_path=tmp_path).stdout
    )
    assert [row["path"] for row in rows] == [*map(str, bad), str(good)]
    assert all(message in row["error"] for row, (_, message) in zip(rows, bad_images.values()))
    assert "digit" in rows[-1] and "error" not in rows[-1]


def test_folder_without_images(edge_python, pi_folder, tmp_path):
    (tmp_path / "empty_folder").mkdir()
    result = run_edge(edge_python, pi_folder, "run_int8.tflite", tmp_path / "empty_folder", tmp_path=tmp_path)
    assert result.returncode == 2 and "no image files" in result.stderr


@pytest.mark.parametrize(
    "model, message",
    [
        ("missing.tflite", "model file not found"),
        ("mnist_edge.py", "not a readable .tflite model"),
        ("wrong_shape.tflite", "not a digit classifier"),
    ],
)
def test_bad_model_is_one_line(edge_python, pi_folder, wrong_shape_tflite, digit_images, model, message, tmp_path):
    shutil.copy(wrong_shape_tflite, pi_folder / "wrong_shape.tflite")
    result = run_edge(edge_python, pi_folder, model, digit_images["mnist"][0][0], tmp_path=tmp_path)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0] and model in errors[0]
    assert result.stdout == ""
