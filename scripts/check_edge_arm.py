#!/usr/bin/env python3
"""Check the edge program on 32-bit and 64-bit Raspberry Pi OS approximations, on an x86_64 Linux machine.

The edge program (the bundle mnist_edge.pyz from 'mnist-keras bundle', or any single
.py script taking MODEL IMAGE... --json), the model and the images are copied into a
Debian bookworm root of each architecture (arm_roots.py: Debian's numpy and Pillow,
then tflite-runtime 2.14 on armhf and ai-edge-litert on arm64, as a Pi user installs
them) and run there under qemu with ``--json``; the same program runs on the host
with the host's Python. It runs twice on each side: one digit per image, then
``--number`` (the whole number: segmentation, cuts and ordering run in numpy on
the device too). Every image must get the same digit, or the same number with the
same boxes, on both, with probabilities within --tolerance (interpreters and numpy
may differ in the last bits). As root, on Debian:

    apt-get install -y debootstrap qemu-user-static binfmt-support
    mnist-keras bundle --output /tmp/mnist_edge.pyz
    python scripts/check_edge_arm.py --arch armhf --arch arm64 /tmp/mnist_edge.pyz MODEL.tflite IMAGES/

The first run builds the roots (minutes each under qemu) in --roots; later runs reuse them.
Exit status: 0 all agree, 1 a disagreement, error or traceback, 2 the check could not run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # arm_roots, also when imported by a test
from arm_roots import (  # noqa: E402 (after the sys.path line)
    DEFAULT_ROOTS,
    TARGETS,
    SetupError,
    Target,
    chroot_env,
    ensure_binfmt,
    ensure_root,
    locked,
    probe,
    qemu_version,
    remove_tree,
    run_command,
    venv_python,
)

DEFAULT_TOLERANCE = 0.01  # absolute, per probability; int8 outputs move in steps of 1/256
DEFAULT_TIMEOUT_S = 1800  # one run of the edge program under emulation
WORK = "/opt/edge-check"  # inside the root: this check's copies of program, model, images
EXIT_OK, EXIT_DIFFER, EXIT_SETUP = 0, 1, 2


@dataclasses.dataclass
class Run:
    """One run of the edge program: its JSON lines, exit code, stderr, versions and seconds."""

    label: str
    results: list[dict]
    returncode: int
    stderr: str
    versions: dict
    seconds: float


# ------------------------------------------------------------------ runs


def parse_lines(stdout: str) -> tuple[list[dict], list[str]]:
    """The program's --json output -> (one dict per image, lines that are not JSON objects)."""
    results, junk = [], []
    for line in stdout.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            item = None
        if isinstance(item, dict) and "path" in item:
            results.append(item)
        elif line.strip():
            junk.append(line)
    return results, junk


@dataclasses.dataclass(frozen=True)
class Staged:
    """The program, model and images as copied into a work folder, by their paths relative to it."""

    program: str
    model: str
    images: list[str]

    def argv(self, base: str, *, number: bool = False) -> list[str]:
        """The program's command-line arguments when the work folder is at `base` (``--number``: read numbers)."""
        return [f"{base}/{p}" for p in (self.program, self.model, *self.images)] + ["--json"] + ["--number"] * number


def stage_inputs(work: Path, program: Path, model: Path, images: Sequence[Path]) -> Staged:
    """Copy program, model and images into `work` (emptied first), once for the host and every root.

    Both sides then read the same bytes, even if the originals change during a long
    root build. Each image argument gets its own folder ``in/K/`` under its own name,
    so folders expand to the same files in the same order everywhere.
    """
    remove_tree(work)
    (work / "in").mkdir(parents=True)
    shutil.copy2(program, work / program.name)
    shutil.copy2(model, work / model.name)
    staged = []
    for k, image in enumerate(images):
        name = f"in/{k}/{image.resolve().name}"  # "." has no name of its own
        (work / "in" / str(k)).mkdir()
        (shutil.copytree if image.is_dir() else shutil.copy2)(image, work / name)
        staged.append(name)
    return Staged(program.name, model.name, staged)


def run_program(
    label: str, python: Sequence[str], staged: Staged, base: str, *, env: dict | None, timeout: float, number: bool
) -> Run:
    """Run the staged program with --json (and ``--number`` if asked) on the staged images at `base`, as `python`.

    Answers' paths are made relative to `base`, so the host's and a root's can be compared;
    stdout lines that are not JSON answers count as stderr.
    """
    versions = probe(python, env=env)
    if "missing" in versions or "interpreter" not in versions:
        what = versions.get("missing", "no TFLite interpreter")
        raise SetupError(f"{label}: {' '.join(python[-1:])} cannot run the edge program ({what}); see --host-python")
    start = time.perf_counter()
    done = run_command([*python, *staged.argv(base, number=number)], env=env, timeout=timeout)
    seconds = time.perf_counter() - start
    results, junk = parse_lines(done.stdout)
    for result in results:
        result["path"] = result["path"].removeprefix(base + "/")
    return Run(label, results, done.returncode, "\n".join([*junk, done.stderr]), versions, seconds)


# ------------------------------------------------------------------ comparison


def compare_reading(arm: dict, host: dict, tolerance: float) -> tuple[bool, float, str]:
    """(agree, largest probability gap, why not) for one image's two ``--number`` readings."""
    if arm["text"] != host["text"]:
        return False, 0.0, f"read {arm['text']!r} here, {host['text']!r} on the host"
    pairs = list(zip(arm["digits"], host["digits"]))
    gap = max([abs(a["probability"] - h["probability"]) for a, h in pairs], default=0.0)
    moved = [h["box"] for a, h in pairs if a["box"] != h["box"]]
    if moved:
        return False, gap, f"boxes differ from the host's ({len(moved)} of {len(pairs)}, first {moved[0]})"
    if gap > tolerance:
        return False, gap, f"probabilities differ by {gap:.6f} > {tolerance}"
    return True, gap, ""


def compare_one(arm: dict, host: dict, tolerance: float) -> tuple[bool, float, str]:
    """(agree, largest probability gap, why not) for one image's two answers (a digit, or a number's reading)."""
    if "error" in arm or "error" in host:
        return False, 0.0, f"error: {arm.get('error') or host.get('error')}"
    if arm["path"] != host["path"]:
        return False, 0.0, f"different files: {arm['path']} vs {host['path']}"
    if "text" in host or "text" in arm:
        return compare_reading(arm, host, tolerance)
    arm_top = {t["digit"]: t["probability"] for t in arm["top_k"]}
    host_top = {t["digit"]: t["probability"] for t in host["top_k"]}
    shared = set(arm_top) & set(host_top)
    gap = max([abs(arm["probability"] - host["probability"])] + [abs(arm_top[d] - host_top[d]) for d in shared])
    if arm["digit"] != host["digit"]:
        return False, gap, f"digit {arm['digit']} here, {host['digit']} on the host"
    if gap > tolerance:
        return False, gap, f"probabilities differ by {gap:.6f} > {tolerance}"
    return True, gap, ""


def summary(answer: dict) -> str:
    """One answer in a few characters: ``7 0.984375``, ``number '2026'`` or ``error``."""
    if "text" in answer:
        return f"number {answer['text']!r}"
    return f"{answer['digit']} {answer['probability']:.6f}" if "digit" in answer else "error"


def compare(arm: Run, host: Run, tolerance: float) -> tuple[list[str], list[str]]:
    """(report lines, problems) for one architecture's run against the host's."""
    problems = []
    for run in (arm, host):
        if "Traceback (most recent call last)" in run.stderr:
            problems.append(f"{run.label}: traceback:\n" + "\n".join(run.stderr.strip().splitlines()[-12:]))
        elif run.returncode != 0:
            problems.append(f"{run.label}: exit {run.returncode}: " + " | ".join(run.stderr.strip().splitlines()[-3:]))
    if len(arm.results) != len(host.results):
        problems.append(f"{arm.label}: {len(arm.results)} answers, host {len(host.results)}")
    lines, worst = [], 0.0
    for a, h in zip(arm.results, host.results):
        agree, gap, why = compare_one(a, h, tolerance)
        worst = max(worst, gap)
        mine, theirs = (summary(r) for r in (a, h))
        lines.append(f"  {'same' if agree else 'DIFF'}  {h['path']:<36} {mine}  | host {theirs}  {why}".rstrip())
        if not agree:
            problems.append(f"{arm.label}: {h['path']}: {why}")
    lines.append(f"  {len(arm.results)} image(s), largest probability gap {worst:.6f} (tolerance {tolerance})")
    return lines, problems


def describe(versions: dict) -> str:
    """One line of versions for the report, e.g. Python 3.11.2 (armv7l, 32-bit, intp int32), numpy 1.24.2 (apt)."""
    where = f"{versions.get('machine')}, {versions.get('bits')}-bit, intp {versions.get('intp')}"
    parts = [versions.get("os", "?"), f"Python {versions.get('python')} ({where})"]
    parts += [f"{k} {versions[k]}" for k in ("numpy", "Pillow", "interpreter", "missing") if k in versions]
    return ", ".join(parts)


# ------------------------------------------------------------------ main


def stderr_notes(run: Run, limit: int = 3) -> list[str]:
    """The first distinct lines the program wrote to stderr: warnings a Pi user would see too."""
    lines = [line for line in run.stderr.splitlines() if line.strip() and not line.startswith(" ")]
    return list(dict.fromkeys(lines))[:limit]


MODES = (False, True)  # each run: one digit per image, then --number


def check_arch(target: Target, args: argparse.Namespace, stage: Path, staged: Staged, host: dict[bool, Run]) -> dict:
    """Prepare or reuse the root, run the program in it in both modes, print the comparisons; return a record."""
    start = time.perf_counter()
    with locked(args.roots, target.arch):
        entry = ensure_binfmt(target)
        root, how = ensure_root(target, args.roots, entry, rebuild=args.rebuild)
        prepared = time.perf_counter() - start
        remove_tree(root / WORK.lstrip("/"))
        shutil.copytree(stage, root / WORK.lstrip("/"))
        env = chroot_env(target)
        arm = {number: run_program(target.arch + " --number" * number, venv_python(root), staged, WORK, env=env,
                                   timeout=args.timeout, number=number) for number in MODES}  # fmt: skip
    lines, problems = [], []
    for number in MODES:
        found, wrong = compare(arm[number], host[number], args.tolerance)
        lines += [f"  {'--number' if number else 'one digit per image'}:", *found]
        problems += wrong
    emulation = (
        f"{qemu_version(target)} via binfmt_misc (flags {entry.get('flags')}), QEMU_CPU={target.cpu or 'default'}"
    )
    seconds = {where: sum(r.seconds for r in runs.values()) for where, runs in (("arm", arm), ("host", host))}
    print(f"{target.arch}: {describe(arm[False].versions)}")
    print(f"  root {root} ({how} in {prepared:.1f} s); {emulation}")
    print(f"  edge program (both modes): {seconds['arm']:.1f} s here, {seconds['host']:.1f} s on the host")
    notes = [note for number in MODES for note in stderr_notes(arm[number])]
    print("\n".join([*(f"  stderr: {line}" for line in dict.fromkeys(notes)), *lines]))
    print(f"{target.arch}: {'OK: same answers as the host' if not problems else 'FAILED'}", flush=True)
    record = {"versions": arm[False].versions, "root": str(root), "root_status": how, "emulation": emulation}
    record |= {"prepare_s": round(prepared, 1), "run_s": round(seconds["arm"], 1), "results": arm[False].results,
               "number_results": arm[True].results}  # fmt: skip
    return record | {"problems": problems}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    parser.add_argument(
        "program", type=Path, help="the edge program: mnist_edge.pyz (mnist-keras bundle) or a .py script"
    )
    parser.add_argument("model", type=Path, help="a .tflite model from 'mnist-keras export'")
    parser.add_argument("images", type=Path, nargs="+", metavar="IMAGE_OR_FOLDER", help="images, or folders of them")
    parser.add_argument(
        "--arch",
        action="append",
        choices=sorted(TARGETS),
        help="armhf (32-bit) or arm64; repeat for both (default: both)",
    )
    parser.add_argument(
        "--roots", type=Path, default=DEFAULT_ROOTS, help=f"where the roots are cached (default: {DEFAULT_ROOTS})"
    )
    parser.add_argument("--rebuild", action="store_true", help="build the roots again even when cached")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help=f"largest allowed probability difference (default: {DEFAULT_TOLERANCE})",
    )
    parser.add_argument(
        "--host-python", default=sys.executable, help="the Python that runs the program on the host (default: this one)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds one run of the program may take (default: {DEFAULT_TIMEOUT_S})",
    )
    parser.add_argument("--report", type=Path, help="also write versions, answers and seconds to this JSON file")
    args = parser.parse_args(argv)
    args.arch = args.arch or sorted(TARGETS)
    missing = [str(p) for p in (args.program, args.model, *args.images) if not p.exists()]
    if missing:
        parser.error(f"not found: {', '.join(missing)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("error: run as root: debootstrap, chroot and mounts need it", file=sys.stderr)
        return EXIT_SETUP
    args.roots = args.roots.resolve()
    try:
        with tempfile.TemporaryDirectory(prefix="check-edge-arm-") as tmp:
            stage = Path(tmp, "edge-check")
            staged = stage_inputs(stage, args.program, args.model, args.images)
            host = {number: run_program("host" + " --number" * number, [args.host_python], staged, str(stage),
                                        env=None, timeout=args.timeout, number=number) for number in MODES}  # fmt: skip
            print(f"host: {describe(host[False].versions)}", flush=True)
            report = {"host": {"versions": host[False].versions, "results": host[False].results,
                               "number_results": host[True].results,
                               "run_s": round(sum(r.seconds for r in host.values()), 1)}}  # fmt: skip
            report |= {arch: check_arch(TARGETS[arch], args, stage, staged, host) for arch in args.arch}
    except SetupError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_SETUP
    if args.report:
        args.report.write_text(json.dumps(report, indent=1) + "\n")
    problems = [p for arch in args.arch for p in report[arch]["problems"]]
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return EXIT_DIFFER if problems else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
