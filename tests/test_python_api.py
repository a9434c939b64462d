"""docs/python-api.md's example runs as it is written: fit, evaluate, export int8, predict an example image.

The first ```python block of the page is run in a fresh Python process, in a
temporary folder that holds a copy of docs/examples/ (the example reads
docs/examples/three.png and writes runs/api-fast/), with this checkout first
on the path and MNIST from the test data folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "python-api.md"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def example() -> str:
    """The page's first ```python block: the example."""
    found = PYTHON_BLOCK.search(PAGE.read_text(encoding="utf-8"))
    assert found, f"{PAGE.relative_to(REPO)} has no ```python block"
    return found[1]


def printed(output: str, label: str) -> str:
    """The rest of the line that starts with ``label``."""
    match = re.search(rf"^{re.escape(label)} (.+)$", output, re.MULTILINE)
    assert match, f"no line starting with {label!r} in:\n{output}"
    return match[1]


def test_the_example_trains_evaluates_exports_and_reads_the_example_digit(tmp_path, data_dir):
    shutil.copytree(REPO / "docs" / "examples", tmp_path / "docs" / "examples")
    env = {**os.environ, "MNIST_KERAS_DATA": str(data_dir),
           "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", example()], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900, check=False)  # fmt: skip
    output = done.stdout
    assert done.returncode == 0, output[-2000:] + done.stderr[-4000:]

    run_dir = Path(printed(output, "run folder"))
    assert (tmp_path / run_dir / "model.keras").is_file() and (tmp_path / run_dir / "eval" / "metrics.json").is_file()
    assert float(printed(output, "validation accuracy")) > 0.7  # one epoch on 5,000 images; chance is 0.1
    assert float(printed(output, "test accuracy")) > 0.7
    agreement = float(printed(output, "int8 agrees with Keras on").split()[0])
    assert agreement > 0.95
    assert (tmp_path / "runs" / "api-fast" / "tflite" / "api-fast_int8.tflite").is_file()
    assert printed(output, "digit") == "3"  # docs/examples/three.png, a 3 drawn with a pen
