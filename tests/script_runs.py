"""How the tests of scripts/ use them: import one, or run it end to end in a fresh process."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str):
    """``scripts/<name>.py`` as a module (each script puts its harness on the path itself)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    return importlib.import_module(name)


def quick_weights(name: str, folder: Path):
    """Run ``scripts/<name>.py --quick`` into ``folder`` and load the weights module it wrote."""
    target = folder / "weights.py"
    load_script(name).main(["--quick", "--output", str(target)])
    spec = importlib.util.spec_from_file_location("weights", target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(name: str, *args, timeout: int = 900) -> subprocess.CompletedProcess:
    """``python scripts/<name>.py ARGS``; fails the test with the end of its output unless it exits 0."""
    cmd = [sys.executable, str(SCRIPTS / f"{name}.py"), *map(str, args)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


def page_with_stale_section(path: Path, name: str, heading: str) -> Path:
    """A page holding block ``name`` with outdated text, and a hand-written section after it."""
    path.write_text(
        f"# Benchmarks\n\n<!-- {name}:begin -->\n{heading}\n\nstale\n<!-- {name}:end -->\n\n## Other\n\nkept\n"
    )
    return path
