"""load_predictor (.keras and .tflite) and ``mnist-keras predict``: same output as the edge bundle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mnist_keras.cli import cli
from mnist_keras.errors import ModelFileError
from mnist_keras.predict import load_predictor

FOLDER_IMAGES = 30  # files in the folder the CLI and the script both classify


@pytest.fixture(scope="module")
def models(trained_run, tflite_models) -> dict[str, Path]:
    return {"keras": trained_run / "model.keras", **tflite_models}


@pytest.fixture(scope="module")
def folder(digit_images, tmp_path_factory) -> Path:
    """Canvas drawings and recoloured digits mixed in one folder (sorted order differs from creation)."""
    target = tmp_path_factory.mktemp("predict_images")
    for kind in ("canvas", "recoloured"):
        for path in digit_images[kind][0][: FOLDER_IMAGES // 2]:
            (target / f"{kind}_{path.name}").write_bytes(path.read_bytes())
    return target


def predict_cli(*args) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["predict", *map(str, args)])
    assert "Traceback" not in result.output + result.stderr, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    from mnist_keras.bundle import write_bundle

    return write_bundle(tmp_path_factory.mktemp("bundle") / "mnist_edge.pyz")


@pytest.fixture(scope="module")
def edge_script(bundle):
    """Run the edge bundle (with this Python; tests/test_edge.py runs it without TensorFlow)."""

    def run(*args) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(bundle), *map(str, args)], capture_output=True, text=True,
                              timeout=300, check=False)  # fmt: skip

    return run


# --------------------------------------------------------- load_predictor


def test_keras_and_tflite_predictors_agree(models, mnist):
    x = mnist.x_test[:200]
    proba = {name: load_predictor(path).predict_proba(x) for name, path in models.items()}
    for name, p in proba.items():
        assert p.shape == (200, 10) and p.dtype == np.float32
        assert np.allclose(p.sum(1), 1, atol=0.02), name
    assert load_predictor(models["keras"]).kind == "keras" and load_predictor(models["int8"]).kind == "tflite"
    assert np.abs(proba["float32"] - proba["keras"]).max() < 1e-4
    assert np.mean(proba["int8"].argmax(1) == proba["keras"].argmax(1)) >= 0.95
    assert np.array_equal(
        load_predictor(models["int8"]).predict_proba(x[..., None]), proba["int8"]
    )  # (N, 28, 28, 1) too


def test_run_folder_is_a_keras_model(trained_run, mnist):
    assert load_predictor(trained_run).predict_proba(mnist.x_test[:3]).shape == (3, 10)


def test_predict_proba_rejects_wrong_shapes(models):
    predictor = load_predictor(models["float32"])
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        predictor.predict_proba(np.zeros((2, 32, 32), np.uint8))


def test_load_predictor_errors(tmp_path, wrong_shape_tflite):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer at all" * 10)
    cases = {
        tmp_path / "missing.tflite": "model file not found",
        tmp_path / "missing.keras": "model file not found",
        tmp_path / "model.onnx": "not a model file",
        junk: "not a readable .tflite model",
        wrong_shape_tflite: "not a digit classifier",
    }
    for path, message in cases.items():
        with pytest.raises(ModelFileError, match=message):
            load_predictor(path)


# ------------------------------------------------------ mnist-keras predict


@pytest.mark.parametrize("variant", ["float32", "int8"])
def test_cli_prints_exactly_what_the_edge_script_prints(models, folder, variant, edge_script):
    code, stdout, _ = predict_cli(models[variant], folder, "--json", "--top-k", 4)
    script = edge_script(models[variant], folder, "--json", "--top-k", 4)
    assert code == 0 == script.returncode, script.stderr
    assert stdout == script.stdout  # one implementation: same paths, digits, probabilities, format
    assert len(stdout.splitlines()) == FOLDER_IMAGES


def test_keras_model_gives_the_same_digits_as_the_edge_script(models, folder, tflite_models, edge_script):
    code, stdout, _ = predict_cli(models["keras"], folder, "--json")
    keras_rows = [json.loads(line) for line in stdout.splitlines()]
    script_rows = [
        json.loads(line) for line in edge_script(tflite_models["float32"], folder, "--json").stdout.splitlines()
    ]
    assert code == 0 and len(keras_rows) == FOLDER_IMAGES
    assert [r["digit"] for r in keras_rows] == [r["digit"] for r in script_rows]
    assert np.allclose([r["probability"] for r in keras_rows], [r["probability"] for r in script_rows], atol=1e-4)


def test_cli_text_output_and_benchmark(models, folder):
    code, stdout, _ = predict_cli(models["keras"], min(folder.iterdir()), "--benchmark", 5)
    lines = stdout.splitlines()
    assert code == 0 and len(lines) == 2 and "top-3: " in lines[0]
    assert lines[1].startswith("benchmark: 5 single-image predictions")


def test_cli_bad_images(models, bad_images, folder):
    good = min(folder.iterdir())
    bad = [path for path, _ in bad_images.values()]
    for model in (models["keras"], models["int8"]):
        code, stdout, stderr = predict_cli(model, *bad, good)
        assert code == 2 and stdout.startswith(f"{good}: ")
        for path, message in bad_images.values():
            assert any(str(path) in line and message in line for line in stderr.splitlines()), (path, stderr)
        code, stdout, _ = predict_cli(model, *bad, good, "--json")
        rows = [json.loads(line) for line in stdout.splitlines()]
        assert code == 2 and [("error" in r) for r in rows] == [True] * len(bad) + [False]


def test_cli_bad_models(tmp_path, wrong_shape_tflite, folder, trained_run):
    image = min(folder.iterdir())
    not_a_model = tmp_path / "notes.keras"
    not_a_model.write_text("not a model")
    for model, message in [
        (tmp_path / "missing.tflite", "model file not found"),
        (not_a_model, "not a readable Keras model"),
        (wrong_shape_tflite, "not a digit classifier"),
    ]:
        code, stdout, stderr = predict_cli(model, image)
        assert code == 2 and stdout == "" and stderr.startswith("Error: ") and message in stderr, stderr
        assert len(stderr.strip().splitlines()) == 1


def test_tflite_predict_does_not_import_tensorflow(models, folder):
    """``mnist-keras predict x.tflite`` is the real command and stays as light as the edge script."""
    code = (
        "import sys; from mnist_keras.cli import main; sys.argv = ['mnist-keras', 'predict', *sys.argv[1:]]\n"
        "try: main()\n"
        "except SystemExit as e: assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'; raise"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(models["int8"]), str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == FOLDER_IMAGES


# ------------------------------------------------------------------ numbers


def test_cli_reads_numbers_in_text_and_refuses_impossible_options(models, digit_images, tmp_path):
    from PIL import Image

    first = [np.asarray(Image.open(p)) for p in digit_images["mnist"][0][:2]]
    strip = np.concatenate([np.pad(255 - d, 6, constant_values=255) for d in first], axis=1)
    Image.fromarray(strip.astype(np.uint8)).resize((strip.shape[1] * 4, strip.shape[0] * 4)).save(tmp_path / "n.png")
    code, stdout, _ = predict_cli(models["int8"], tmp_path / "n.png", "--number")
    line = stdout.strip()
    assert code == 0 and line.startswith(f"{tmp_path / 'n.png'}: ") and line.count("%") >= 2, line
    code, _, stderr = predict_cli(models["int8"], tmp_path / "n.png", "--annotate", tmp_path / "boxes")
    assert code == 2 and "--annotate draws a number's boxes: add --number" in stderr
    code, _, stderr = predict_cli(models["int8"], "--watch", tmp_path / "missing")
    assert code == 2 and "no such folder, video file or camera" in stderr
    code, _, stderr = predict_cli(models["int8"], tmp_path / "n.png", "--watch", tmp_path)
    assert code == 2 and "--watch reads its frames from SOURCE" in stderr
