"""The command line as a whole: one exit-code convention, fail fast, quiet start-up, defaults from one place.

Exit codes (docs/cli.md, "Exit codes"): 2 for a bad option or input the user
can fix, 1 for a failure during the work, 3 for an export that failed its
accuracy check (tested in test_export.py). Every bad input is answered before
TensorFlow is imported.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner

from mnist_keras import models
from mnist_keras.cli import cli
from mnist_keras.train import FitConfig

TF_START_UP = ("cuda", "E0000", "I0000", "W0000", "oneDNN", "absl::InitializeLog")


def run_cli(*args, cwd, env=None):
    cmd = [sys.executable, "-m", "mnist_keras.cli", *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture
def junk_model(tmp_path):
    path = tmp_path / "junk.keras"
    path.write_text("not a zip archive\n")
    return path


BAD_INPUT = [  # (arguments, part of the one-line message); every one exits 2
    (["fit", "--epochs", "0"], "--epochs must be at least 1"),
    (["fit", "--batch-size", "0"], "--batch-size must be at least 1"),
    (["fit", "--model", "nope"], "unknown model 'nope'"),
    (["fit", "--limit", "5"], "--limit must be at least 10"),
    (["fit", "--learning-rate", "-1"], "--learning-rate must be positive"),
    (["fit", "--cut-fraction", "1.5"], "--cut-fraction must be in [0, 1]"),
    (["fit", "--publish", "sometimes"], "Invalid value for '--publish'"),
    (["fit", "--resume", "--output", "."], "no config.json"),
    (["fit", "--validation-size", "70000", "--data-dir", "{data}"], "--validation-size"),
    (["compare", "--epochs", "0"], "--epochs must be at least 1"),
    (["compare", "--models", "nope"], "unknown model 'nope'"),
    (["evaluate", "missing.keras"], "model file not found"),
    (["evaluate", "{junk}"], "a .keras file is a zip archive and this one is not"),
    (["evaluate", "--split", "dev", "missing.keras"], "Invalid value for '--split'"),
    (["export", "{junk}", "--quantize", "int4"], "unknown --quantize variant 'int4'"),
    (["export", "missing.keras"], "model file not found"),
    (["predict", "missing.tflite", "x.png"], "model file not found"),
    (["serve", "missing.tflite"], "model file not found"),
    (["fit", "--data-dir", "empty"], "file not found"),
    (["evaluate", "{model}", "--data-dir", "empty"], "file not found"),
    (["export", "{model}", "--data-dir", "empty"], "file not found"),
    (["predict", "{model}", "{bad_image}"], "not a recognised image format"),
    (["serve", "{model}", "--port", "{busy_port}"], "already in use"),
    (["robustness", "missing.keras"], "model file not found"),
    (["data", "verify", "--data-dir", "empty"], "file not found"),
]


@pytest.fixture
def bad_input_values(tmp_path, data_dir, junk_model, trained_run, bad_images):
    """What the {placeholders} of BAD_INPUT stand for; a busy port while the test runs."""
    (tmp_path / "empty").mkdir()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield {"data": data_dir, "junk": junk_model, "model": trained_run / "model.keras",
               "bad_image": bad_images["not_an_image"][0], "busy_port": busy.getsockname()[1]}  # fmt: skip


@pytest.mark.parametrize(("args", "message"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_exits_2_with_one_line(tmp_path, monkeypatch, bad_input_values, args, message):
    monkeypatch.chdir(tmp_path)
    args = [a.format(**bad_input_values) for a in args]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback


# Runs the real command in a fresh process and writes, at exit, whether TensorFlow or Keras was imported.
FAIL_FAST = """
import atexit, json, sys
log, sys.argv = sys.argv[1], ["mnist-keras", *sys.argv[2:]]
atexit.register(lambda: open(log, "w").write(json.dumps(sorted({"tensorflow", "keras"} & set(sys.modules)))))
from mnist_keras.cli import main
main()
"""


@pytest.mark.parametrize(("args", "message"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_answered_before_tensorflow_is_imported(tmp_path, bad_input_values, args, message):
    args = [a.format(**bad_input_values) for a in args]
    log = tmp_path / "imported.json"
    result = subprocess.run([sys.executable, "-c", FAIL_FAST, str(log), *map(str, args)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert json.loads(log.read_text()) == [], f"{args} imported TensorFlow before answering"


@pytest.mark.parametrize("args", [["--help"], ["models"], ["fit", "--help"], ["models", "--json"]])
def test_help_and_models_never_import_tensorflow(tmp_path, args):
    log = tmp_path / "imported.json"
    result = subprocess.run([sys.executable, "-c", FAIL_FAST, str(log), *args], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(log.read_text()) == []


def test_missing_data_leaves_no_run_folder_behind(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(cli, ["fit", "--data-dir", "empty", "--output", "runs/new"])
    assert result.exit_code == 2, result.output
    assert "empty" in result.output and result.output.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_a_failure_during_the_work_exits_1(tmp_path, monkeypatch, data_dir):
    """Every architecture of a comparison diverged: the options were fine, the work failed."""
    from test_compare import nan_weights_model

    arch = models.Architecture("diverges", nan_weights_model, "test only", params=0, recipe=models.Recipe(epochs=1))
    monkeypatch.setitem(models.ARCHITECTURES, "diverges", arch)
    monkeypatch.chdir(tmp_path)
    args = ["compare", "--models", "diverges", "--limit", "500", "--data-dir", str(data_dir), "--quiet"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert "Error: every architecture failed" in result.output


def test_fit_start_up_is_quiet_and_verbose_shows_tensorflow(tmp_path, data_dir):
    args = ["fit", "--limit", 500, "--epochs", 1, "--validation-size", 500, "--no-eval", "--quiet"]
    quiet = run_cli(*args, "--data-dir", data_dir, "--output", "quiet", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    noise = [line for line in quiet.stderr.splitlines() if any(word in line for word in TF_START_UP)]
    assert noise == [], quiet.stderr
    assert "run folder: quiet" in quiet.stdout

    verbose = run_cli("--verbose", *args, "--data-dir", data_dir, "--output", "verbose", cwd=tmp_path)
    assert verbose.returncode == 0 and any(word in verbose.stderr for word in TF_START_UP), verbose.stderr


def test_fit_options_take_their_defaults_from_fit_config_and_the_recipe():
    """One set of defaults: the CLI's defaults are FitConfig's; recipe options are None (the architecture's own)."""
    from mnist_keras.models import RECIPE_FIELDS, Recipe

    command = cli.commands["fit"]
    defaults = FitConfig()
    names = {param.name for param in command.params}
    assert set(RECIPE_FIELDS) <= names  # every recipe field is an option
    for param in command.params:
        if param.name in ("quiet", "no_eval", "no_augment", "help", "as_json", "run_dir_alias"):  # aliases, output
            continue
        expected = None if param.name in RECIPE_FIELDS else getattr(defaults, param.name)
        assert param.default == expected, param.name
    for spec in dataclasses.fields(Recipe):  # the help text is the recipe field's
        option = next(p for p in command.params if p.name == spec.name)
        assert option.help.startswith(spec.metadata["help"])


def test_models_prints_every_recipe_field_of_every_architecture():
    from mnist_keras.models import ARCHITECTURES, RECIPE_FIELDS

    result = CliRunner().invoke(cli, ["models", "--json"])
    entries = {entry["name"]: entry for entry in json.loads(result.output)}
    assert list(entries) == list(ARCHITECTURES)
    for name, arch in ARCHITECTURES.items():
        assert entries[name]["recipe"] == dataclasses.asdict(arch.recipe)
        assert entries[name]["params"] == arch.params
    text = CliRunner().invoke(cli, ["models"]).output
    for block in text.split("\n\n"):
        assert all(f" {field} " in block for field in RECIPE_FIELDS), block
