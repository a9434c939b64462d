"""TFLite export: every variant converts, runs in plain LiteRT, and matches the Keras model."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from click.testing import CliRunner

from mnist_keras import export as export_mod
from mnist_keras import litert
from mnist_keras.cli import cli
from mnist_keras.errors import ExportError

TEST_IMAGES = 2000  # verification subset: enough that 0.5 points is 10 images


@pytest.fixture(scope="module")
def exported(trained_run, data_dir, tmp_path_factory):
    """All four variants of the session's tiny model, exported once for this module."""
    out = tmp_path_factory.mktemp("tflite")
    return export_mod.export(
        trained_run, output_dir=out, data_dir=data_dir, calibration_samples=200, test_limit=TEST_IMAGES
    )


def rows(result) -> dict[str, dict]:
    return {row["variant"]: row for row in result.report["variants"]}


def test_every_variant_converts_and_stays_within_allowed_drop(exported):
    assert exported.name == "run"  # a run folder's model.keras is named after the folder
    assert list(rows(exported)) == list(export_mod.VARIANTS)
    for variant, row in rows(exported).items():
        assert (exported.output_dir / f"run_{variant}.tflite").is_file()
        assert row["passed"], row
        assert -row["accuracy_change_points"] <= export_mod.DEFAULT_MAX_ACCURACY_DROP
        assert row["agreement"] > 0.95  # same labels as Keras on nearly every image
    assert exported.report["test_images"] == TEST_IMAGES
    sizes = {v: r["size_bytes"] for v, r in rows(exported).items()}
    assert sizes["int8"] < 0.35 * sizes["float32"] and sizes["float16"] < 0.6 * sizes["float32"]


def test_int8_variant_has_int8_input_and_output(exported):
    interpreter = litert.load_interpreter(exported.output_dir / "run_int8.tflite")
    for detail in (interpreter.get_input_details()[0], interpreter.get_output_details()[0]):
        assert detail["dtype"] == np.int8
        assert detail["quantization"][0] > 0
    float_in = litert.load_interpreter(exported.output_dir / "run_float32.tflite").get_input_details()[0]
    assert float_in["dtype"] == np.float32


def test_no_flex_ops(exported):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    for variant in export_mod.VARIANTS:
        path = exported.output_dir / f"run_{variant}.tflite"
        interpreter = Interpreter(
            model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
        ops = [op["op_name"] for op in interpreter._get_ops_details()]
        assert "CONV_2D" in ops and "FULLY_CONNECTED" in ops, ops
        assert not [op for op in ops if op.startswith("Flex")], ops


def test_predict_proba_matches_keras_on_uint8_and_float_input(exported, mnist, trained_run):
    from mnist_keras.artifacts import load_model

    images = mnist.x_test[:64]  # uint8 (N, 28, 28)
    keras_labels = load_model(trained_run).predict(images[..., None].astype(np.float32), verbose=0).argmax(1)
    interpreter = litert.load_interpreter(exported.output_dir / "run_int8.tflite")
    from_uint8 = litert.predict_proba(interpreter, images, batch_size=50)  # two batches of different sizes
    from_float = litert.predict_proba(interpreter, images[..., None].astype(np.float32))
    assert from_uint8.shape == (64, 10) and from_uint8.dtype == np.float32
    np.testing.assert_allclose(from_uint8.sum(1), 1.0, atol=0.05)
    np.testing.assert_array_equal(from_uint8, from_float)
    assert np.mean(from_uint8.argmax(1) == keras_labels) > 0.9


def test_metadata_and_reports(exported, trained_run):
    meta = json.loads((exported.output_dir / "run.json").read_text())
    assert meta["labels"] == list(range(10)) and meta["input_shape"] == [1, 28, 28, 1]
    assert "0-255" in meta["preprocessing"]
    model_bytes = (trained_run / "model.keras").read_bytes()
    assert meta["source_model_sha256"] == hashlib.sha256(model_bytes).hexdigest()
    int8 = meta["variants"]["int8"]
    assert int8["input"]["dtype"] == "int8" and int8["input"]["scale"] > 0 and int8["output"]["scale"] > 0
    assert meta["variants"]["float32"]["input"]["dtype"] == "float32"
    for entry in meta["variants"].values():
        assert (exported.output_dir / entry["file"]).stat().st_size == entry["size_bytes"]
    report = json.loads((exported.output_dir / "run_report.json").read_text())
    assert report["variants"][0]["latency_us"]["median"] > 0
    table = (exported.output_dir / "run_report.md").read_text()
    assert table.count("| ok |") == 4 and "FAILED" not in table


def test_parse_variants():
    assert export_mod.parse_variants(None) == export_mod.VARIANTS
    assert export_mod.parse_variants(["int8,float16", "int8"]) == ("float16", "int8")
    with pytest.raises(ExportError, match="choose from float32, dynamic, float16, int8"):
        export_mod.parse_variants(["int4"])


def test_variant_over_the_allowed_drop_fails_the_command(trained_run, data_dir, tmp_path, monkeypatch):
    real_verify = export_mod.verify_variant

    def worse(*args, **kwargs):  # as if quantization had cost 2 points
        checks = real_verify(*args, **kwargs)
        return {**checks, "accuracy": checks["accuracy"] - 0.02}

    monkeypatch.setattr(export_mod, "verify_variant", worse)
    args = [
        "export",
        str(trained_run),
        "--quantize",
        "dynamic",
        "--output",
        str(tmp_path),
        "--data-dir",
        str(data_dir),
        "--test-limit",
        "200",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 3, result.output
    assert "FAILED" in result.output and "dynamic lost more than 0.5" in result.output
    assert (tmp_path / "run_dynamic.tflite").is_file()  # kept, but marked
    report = json.loads((tmp_path / "run_report.json").read_text())
    assert report["variants"][0]["passed"] is False


# ------------------------------------------------------------------ bad input


def run_export(*args):
    return CliRunner().invoke(cli, ["export", *map(str, args)])


def assert_clean_error(result, code: int, text: str, out_dir=None):
    assert result.exit_code == code, result.output
    assert text in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    if out_dir is not None and out_dir.is_dir():
        assert not list(out_dir.glob("*.tflite*")) and not list(out_dir.glob(".*"))


def test_missing_model(tmp_path):
    assert_clean_error(
        run_export(tmp_path / "nope.keras", "--output", tmp_path / "out"), 2, "model file not found", tmp_path / "out"
    )


def test_model_with_wrong_shape(tmp_path):
    import keras

    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs)))
    model.save(tmp_path / "cifar.keras")
    result = run_export(tmp_path / "cifar.keras", "--output", tmp_path / "out")
    assert_clean_error(result, 2, "expected (28, 28, 1)", tmp_path / "out")


def test_unknown_variant(trained_run, tmp_path):
    result = run_export(trained_run, "--quantize", "float32,int4", "--output", tmp_path)
    assert_clean_error(
        result, 2, "unknown --quantize variant 'int4'; choose from float32, dynamic, float16, int8", tmp_path
    )


def test_output_is_a_file(trained_run, tmp_path):
    (tmp_path / "taken").write_text("not a folder")
    assert_clean_error(run_export(trained_run, "--output", tmp_path / "taken"), 2, "output path is a file")
    assert_clean_error(run_export(trained_run, "--output", tmp_path / "taken" / "sub"), 2, "not writable")


def test_unwritable_output(trained_run, tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root can write to a read-only folder")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert_clean_error(run_export(trained_run, "--output", locked), 2, "not writable", locked)


def test_negative_accuracy_drop(trained_run, tmp_path):
    result = run_export(trained_run, "--max-accuracy-drop", "-1", "--output", tmp_path)
    assert_clean_error(result, 2, "--max-accuracy-drop -1.0 must be 0 or more", tmp_path)
