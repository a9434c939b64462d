#!/usr/bin/env python
"""Time the README's five-minute tour step by step, as a newcomer runs it from a fresh set-up.

    python scripts/benchmark_tour.py           # on a quiet machine: a few minutes
    python scripts/benchmark_tour.py --quick   # smoke run: fit on 3,000 images; figures not kept

The tour's commands are read from README.md (the bash block under "A
five-minute tour"), so what is timed is exactly what a reader pastes. In a
scratch folder holding what the tour needs from the checkout (the shipped
model, the example images), a new virtual environment is made and the
package installed with the extras the tour names (the set-up step, timed
too: it depends on the network and pip's cache, which the report says),
then each command runs in turn. ``serve`` is timed from its start to the
page answering, then stopped.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness, also when a test imports this file
from harness import REPO, Block, finish, parser, provenance, publish, start, table

TOUR_HEADING = "## A five-minute tour"
CHECKOUT_PARTS = ("tflite", "saved_models", "docs/examples")  # what the tour reads from the checkout
EXTRAS = "train,app"  # the tour's install: README, "A five-minute tour"
PAGE_TIMEOUT_S = 300


def tour_commands(readme: str) -> list[tuple[str, str]]:
    """(label, command) of every step of the tour's bash block, the label being the comment above it."""
    section = readme.split(TOUR_HEADING, 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)[1]
    steps, label = [], ""
    for line in block.splitlines():
        if line.startswith("#"):
            label = line.lstrip("# ").strip()
        elif line.strip() and not line.startswith("source "):
            steps.append((label, line.strip()))
    return steps


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def time_serve(command: list[str], cwd: Path) -> tuple[float, int]:
    """Seconds from starting the page to its first answer over HTTP; the server is stopped after."""
    port = free_port()
    begin = time.perf_counter()
    server = subprocess.Popen([*command, "--port", str(port)], cwd=cwd, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        while time.perf_counter() - begin < PAGE_TIMEOUT_S:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
                return time.perf_counter() - begin, 0
            except OSError:
                if server.poll() is not None:
                    return time.perf_counter() - begin, server.returncode or 1
                time.sleep(0.2)
        return time.perf_counter() - begin, 1
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_step(command: str, bin_dir: Path, cwd: Path, quick: bool) -> tuple[float, int]:
    """One tour command with the scratch venv's ``mnist-keras``: (seconds, exit code)."""
    words = command.split()
    words[0] = str(bin_dir / words[0]) if words[0] == "mnist-keras" else words[0]
    if quick and words[1:2] == ["fit"]:
        words += ["--limit", "3000"]
    if words[1:2] == ["serve"]:
        return time_serve(words, cwd)
    begin = time.perf_counter()
    code = subprocess.run(words, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    return time.perf_counter() - begin, code


def set_up(scratch: Path) -> tuple[Path, float, int]:
    """The tour's install in a new venv; its bin folder, the seconds it took and the exit code."""
    begin = time.perf_counter()
    venv = scratch / ".venv"
    code = subprocess.run([sys.executable, "-m", "venv", str(venv)]).returncode
    if code == 0:
        code = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-e", f"{REPO}[{EXTRAS}]"],
                              stdout=subprocess.DEVNULL).returncode  # fmt: skip
    return venv / "bin", time.perf_counter() - begin, code


def measure(quick: bool) -> dict:
    """The set-up and every tour step, timed in a scratch copy of what the tour needs."""
    steps = tour_commands((REPO / "README.md").read_text())
    with tempfile.TemporaryDirectory(prefix="mnist-keras-tour-") as tmp:
        scratch = Path(tmp)
        for part in CHECKOUT_PARTS:
            shutil.copytree(REPO / part, scratch / part)
        bin_dir, seconds, code = set_up(scratch)
        rows = [{"step": f"set up: a venv and pip install -e '.[{EXTRAS}]'", "command": "", "seconds": seconds,
                 "exit_code": code}]  # fmt: skip
        for label, command in steps:
            seconds, code = run_step(command, bin_dir, scratch, quick)
            rows.append({"step": label, "command": command, "seconds": seconds, "exit_code": code})
    return {"steps": rows, "tour_seconds": sum(r["seconds"] for r in rows[1:]), "quick": quick}


def render(report: dict) -> str:
    rows = [[r["step"], f"`{r['command']}`" if r["command"] else "", f"{r['seconds']:.1f}",
             "ok" if r["exit_code"] == 0 else f"exit {r['exit_code']}"] for r in report["steps"]]  # fmt: skip
    setup = report["steps"][0]["seconds"]
    return (
        "## The README's tour, timed\n\n"
        + provenance(report)
        + " Each step is the README's command as written, run in a scratch folder with a new venv; `serve` is"
        " timed to its first HTTP answer. The set-up downloads from the package index unless pip's cache has"
        " the files, so it depends on the network more than on this machine.\n\n"
        + table(["step", "command", "seconds", "result"], rows, align="llrl")
        + f"\n\nThe tour after the set-up: {report['tour_seconds']:.0f} s; with it: {report['tour_seconds'] + setup:.0f} s."
        + (" (Quick run: `fit` on 3,000 images; not a measurement to keep.)" if report.get("quick") else "")
    )


BLOCKS = [Block("tour", "tour.json", render, "## The README's tour, timed", __file__)]


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__, quick="fit on 3,000 images", source="tour.json").parse_args(argv)
    report = start(__file__, argv, "tensorflow", "ai-edge-litert", "gradio")
    report.update(measure(args.quick))
    print(publish(finish(report), BLOCKS, args.output))
    if any(step["exit_code"] for step in report["steps"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
