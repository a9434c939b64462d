#!/usr/bin/env python
"""What ``mnist-keras fit --deterministic`` costs: the same fit with and without it.

Runs the real command in fresh processes, the two variants interleaved
(A, B, A, B, ...), and reports the median wall-clock and CPU seconds of the
whole command and their ratio, with the load average before and after. The
figures go into the "Deterministic training" section of docs/BENCHMARKS.md
(replaced in place; the rest of the file is kept).

    python scripts/benchmark_deterministic.py                  # 10,000 images, 3 epochs, 3 rounds
    python scripts/benchmark_deterministic.py --quick --output /tmp/b.md   # checks that it runs
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from benchmark_docs import write_section  # noqa: E402 (after the sys.path line)

SECTION = "deterministic"  # its markers in docs/BENCHMARKS.md
FULL = {"limit": 10_000, "epochs": 3, "rounds": 3, "model": "lamontagne"}
QUICK = {"limit": 300, "epochs": 1, "rounds": 1, "model": "lamontagne"}


def one_fit(size: dict, deterministic: bool, data_dir: str | None, folder: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one ``mnist-keras fit`` process."""
    run_dir = tempfile.mkdtemp(dir=folder)
    cmd = [sys.executable, "-m", "mnist_keras.cli", "fit", "--model", size["model"], "--limit", str(size["limit"]),
           "--epochs", str(size["epochs"]), "--no-eval", "--quiet", "--publish", "never", "--run-dir", run_dir + "/run"]  # fmt: skip
    if data_dir:
        cmd += ["--data-dir", data_dir]
    if deterministic:
        cmd.append("--deterministic")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=folder)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(size: dict, data_dir: str | None) -> dict:
    times = {False: [], True: []}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(size["rounds"]):
            for deterministic in (False, True):
                times[deterministic].append(one_fit(size, deterministic, data_dir, Path(folder)))
    medians = {
        d: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)) for d, runs in times.items()
    }
    return {"size": size, "medians": medians, "all": times, "load": (load_before, os.getloadavg())}


def markdown(result: dict, command: str) -> str:
    size, (plain, det) = result["size"], (result["medians"][False], result["medians"][True])
    load = ", ".join(f"{a[0]:.2f}" for a in result["load"])
    return "\n".join([
        "## Deterministic training",
        "",
        f"`{command}` ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, load average before/after: {load}).",
        f"The whole `mnist-keras fit --model {size['model']} --limit {size['limit']:,} --epochs {size['epochs']} "
        f"--no-eval` command, with and without `--deterministic`, interleaved, {size['rounds']} rounds, medians:",
        "",
        "| | wall s | CPU s | wall ratio | CPU ratio |",
        "|---|---:|---:|---:|---:|",
        f"| default | {plain[0]:.1f} | {plain[1]:.1f} | 1.00x | 1.00x |",
        f"| `--deterministic` | {det[0]:.1f} | {det[1]:.1f} | {det[0] / plain[0]:.2f}x | {det[1] / plain[1]:.2f}x |",
        "",
        "Rounds (wall s): default "
        + ", ".join(f"{w:.1f}" for w, _ in result["all"][False])
        + "; deterministic "
        + ", ".join(f"{w:.1f}" for w, _ in result["all"][True])
        + ".",
        "",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few hundred images, one round: checks it runs")
    parser.add_argument("--data-dir", default=None, help="MNIST folder (default: $MNIST_KERAS_DATA or Keras)")
    parser.add_argument("--output", default=str(REPO / "docs" / "BENCHMARKS.md"))
    args = parser.parse_args(argv)
    result = measure(QUICK if args.quick else FULL, args.data_dir)
    command = "python scripts/benchmark_deterministic.py" + (" --quick" if args.quick else "")
    text = markdown(result, command)
    print(text)
    write_section(Path(args.output), SECTION, text)


if __name__ == "__main__":
    main()
