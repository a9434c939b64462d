"""The command line as a whole: one exit-code convention, quiet start-up, defaults from one place.

Exit codes (README, "Exit codes"): 2 for a bad option or input the user can
fix, 1 for a failure during the work, 3 for an export that failed its
accuracy check (tested in test_export.py).
"""

from __future__ import annotations

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
    (["fit", "--publish", "sometimes"], "Invalid value for '--publish'"),
    (["fit", "--resume", "--run-dir", "."], "no config.json"),
    (["fit", "--validation-size", "70000", "--data-dir", "{data}"], "--validation-size"),
    (["compare", "--epochs", "0"], "--epochs must be at least 1"),
    (["compare", "--models", "nope"], "unknown model 'nope'"),
    (["evaluate", "missing.keras"], "model file not found"),
    (["evaluate", "{junk}"], "a .keras file is a zip archive and this one is not"),
    (["evaluate", "--split", "dev", "missing.keras"], "Invalid value for '--split'"),
    (["export", "{junk}", "--quantize", "int4"], "unknown --quantize variant 'int4'"),
    (["export", "missing.keras"], "model file not found"),
    (["predict", "missing.tflite", "x.png"], "model file not found"),
    (["serve", "--model", "missing.tflite"], "model file not found"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_exits_2_with_one_line(tmp_path, monkeypatch, data_dir, junk_model, args, message):
    monkeypatch.chdir(tmp_path)
    args = [a.format(data=data_dir, junk=junk_model) for a in args]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback


def test_missing_data_leaves_no_run_folder_behind(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(cli, ["fit", "--data-dir", "empty", "--run-dir", "runs/new"])
    assert result.exit_code == 2, result.output
    assert "empty" in result.output and result.output.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_a_failure_during_the_work_exits_1(tmp_path, monkeypatch, data_dir):
    """Every architecture of a comparison diverged: the options were fine, the work failed."""
    from test_compare import nan_weights_model

    arch = models.Architecture("diverges", nan_weights_model, "test only", epochs=1)
    monkeypatch.setitem(models.ARCHITECTURES, "diverges", arch)
    monkeypatch.chdir(tmp_path)
    args = ["compare", "--models", "diverges", "--limit", "500", "--data-dir", str(data_dir), "--quiet"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert "Error: every architecture failed" in result.output


def test_fit_start_up_is_quiet_and_verbose_shows_tensorflow(tmp_path, data_dir):
    args = ["fit", "--limit", 500, "--epochs", 1, "--validation-size", 500, "--no-eval", "--quiet"]
    quiet = run_cli(*args, "--data-dir", data_dir, "--run-dir", "quiet", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    noise = [line for line in quiet.stderr.splitlines() if any(word in line for word in TF_START_UP)]
    assert noise == [], quiet.stderr
    assert "run folder: quiet" in quiet.stdout

    verbose = run_cli("--verbose", "models", cwd=tmp_path)
    assert verbose.returncode == 0 and any(word in verbose.stderr for word in TF_START_UP), verbose.stderr


def test_fit_options_take_their_defaults_from_fit_config():
    """One set of defaults: the CLI's defaults are FitConfig's (None: the architecture's own)."""
    command = cli.commands["fit"]
    defaults = FitConfig()
    for param in command.params:
        if param.name in ("quiet", "no_eval", "no_augment", "help"):  # no_augment: --augment none
            continue
        assert param.default == getattr(defaults, param.name), param.name
