"""scripts/ship_model.py's bad input (its full run takes hours; --quick runs are done by hand, docs/reproducing.md)."""

from __future__ import annotations

import subprocess
import sys

from script_runs import SCRIPTS


def test_an_unknown_model_or_no_mnist_is_one_line_and_ships_nothing(tmp_path, data_dir):
    cases = ((["--model", "nope", "--data-dir", str(data_dir)], "Error: unknown model 'nope'; known models: "),
             (["--data-dir", str(tmp_path / "no-such-folder")], f"Error: {tmp_path / 'no-such-folder'}: not a folder; "))  # fmt: skip
    for args, expected in cases:
        cmd = [sys.executable, str(SCRIPTS / "ship_model.py"), "--quick", "--root", str(tmp_path / "root"), *args]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(expected)
    assert not (tmp_path / "root" / "saved_models").exists() and not (tmp_path / "root" / "tflite").exists()
