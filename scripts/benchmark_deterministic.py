#!/usr/bin/env python
"""What ``mnist-keras fit --deterministic`` costs: the same fit with and without it.

Runs the real command in fresh processes, the two variants interleaved
(A, B, A, B, ...), and reports the median wall-clock and CPU seconds of the
whole command and their ratio, with the load average before and after.

    python scripts/benchmark_deterministic.py        # 10,000 images, 3 epochs, 3 rounds: docs/deterministic.json
    python scripts/benchmark_deterministic.py --quick --output /tmp/b.md   # checks that it runs
"""

from __future__ import annotations

import functools
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness, also when a test imports this file
import harness  # noqa: E402 (after the sys.path line)

FULL = {"limit": 10_000, "epochs": 3, "rounds": 3, "model": "lamontagne"}
QUICK = {"limit": 300, "epochs": 1, "rounds": 1, "model": "lamontagne"}
VARIANTS = {"default": [], "deterministic": ["--deterministic"]}


def fit_options(size: dict) -> list[str]:
    """The ``mnist-keras fit`` options both variants share (besides where the run goes)."""
    return ["--model", size["model"], "--limit", str(size["limit"]), "--epochs", str(size["epochs"]), "--no-eval"]


def one_fit(size: dict, extra: list[str], data_dir: str | None, folder: Path) -> dict[str, float]:
    """Wall and CPU seconds of one whole ``mnist-keras fit`` process."""
    run_dir = Path(tempfile.mkdtemp(dir=folder)) / "run"
    cmd = [sys.executable, "-m", "mnist_keras.cli", "fit", *fit_options(size), *extra, "--quiet", "--publish", "never",
           "--output", str(run_dir), *(["--data-dir", data_dir] if data_dir else [])]  # fmt: skip
    usage = harness.run_process(cmd, cwd=folder)
    return {"seconds": usage["seconds"], "cpu_seconds": usage["cpu_seconds"]}


def measure(size: dict, data_dir: str | None) -> dict:
    """Every round runs both variants; the runs and their medians."""
    with tempfile.TemporaryDirectory() as folder:
        variants = {
            name: functools.partial(one_fit, size, extra, data_dir, Path(folder)) for name, extra in VARIANTS.items()
        }
        runs = harness.interleave(variants, size["rounds"])
    medians = {name: {key: harness.median([run[key] for run in rs]) for key in ("seconds", "cpu_seconds")}
               for name, rs in runs.items()}  # fmt: skip
    return {"runs": runs, "medians": medians}


def render(report: dict) -> str:
    """The "Deterministic training" section of docs/BENCHMARKS.md, from deterministic.json."""
    size, medians, runs = report["size"], report["medians"], report["runs"]
    plain = medians["default"]
    rows = [[name if name == "default" else f"`--{name}`", f"{m['seconds']:.1f}", f"{m['cpu_seconds']:.1f}",
             f"{m['seconds'] / plain['seconds']:.2f}x", f"{m['cpu_seconds'] / plain['cpu_seconds']:.2f}x"]
            for name, m in medians.items()]  # fmt: skip
    rounds = "; ".join(f"{name} " + ", ".join(f"{run['seconds']:.1f}" for run in rs) for name, rs in runs.items())
    return "\n\n".join([
        "## Deterministic training",
        harness.provenance(report),
        f"The whole `mnist-keras fit {' '.join(fit_options(size))}` command, with and without `--deterministic`, "
        f"interleaved, {size['rounds']} rounds, medians:",
        harness.table(["", "wall s", "CPU s", "wall ratio", "CPU ratio"], rows, align="lrrrr"),
        f"Rounds (wall s): {rounds}.",
    ]) + "\n"  # fmt: skip


BLOCKS = (harness.Block("deterministic", "deterministic.json", render, "## Deterministic training", __file__),)


def main(argv: list[str] | None = None) -> None:
    args = harness.parser(__doc__, quick="300 images, one epoch, one round", source=BLOCKS[0].source).parse_args(argv)
    size = QUICK if args.quick else FULL
    report = harness.start(__file__, argv, "tensorflow", "keras") | {"size": size}
    report.update(measure(size, args.data_dir))
    harness.finish(report)
    print(harness.publish(report, BLOCKS, args.output))


if __name__ == "__main__":
    main()
