#!/usr/bin/env python
"""What every benchmark in scripts/ shares: provenance, measuring, and its place in the docs.

A benchmark measures, collects its figures in one JSON report and hands it
to :func:`publish`, which writes ``docs/<name>.json`` and renders the
report's blocks into the pages. Every figure lives in that JSON; the
Markdown is a pure function of it (each benchmark's ``BLOCKS``), so a block
can be rendered again without re-measuring (``scripts/render_docs.py``)
and placed in any page, and a test checks that no page drifted from its JSON.

A generated block in a page (README.md or docs/*.md) is the text between
``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``; everything outside the
markers is written by hand and kept.

The pieces, in the order a benchmark uses them:

- :func:`parser`: ``--quick``, ``--data-dir`` and ``--output`` (the page).
- :func:`start` / :func:`finish`: the report's header: the command line,
  date, machine and libraries, the load average before and after (GUIDE.md:
  a figure counts when the 1-minute load was below :data:`QUIET_LOAD`).
- :func:`fit_config`: a resolved ``FitConfig`` from flat settings.
- :func:`interleave` (variants A, B, C, A, B, C, ...), :func:`rate`,
  :func:`median`, :func:`timed_into`; :func:`run_process` and
  :func:`call_in_subprocess` for a measurement in a fresh process.
- :func:`provenance`, :func:`table`, :func:`seconds_text` for rendering.
- :class:`Block`, :func:`publish`, :func:`render_page` for the docs.

Run as a program it is the child side of :func:`run_process` and
:func:`call_in_subprocess` (``harness.py measure|call ...``).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import platform
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypeVar

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parent
DOCS = REPO / "docs"
for _folder in (SCRIPTS, REPO):  # this checkout's package and scripts, whoever imports this file
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from mnist_keras.artifacts import write_json, write_text  # noqa: E402 (after the sys.path lines)

QUIET_LOAD = 0.5  # 1-minute load average below which the machine counts as quiet (GUIDE.md)
DEFAULT_TITLE = "# Performance benchmarks\n"  # a page a benchmark creates
STDERR_TAIL = 3000  # characters of a failed child's stderr shown in the error
T = TypeVar("T")

# ------------------------------------------------------------ the machine and its load


def load() -> list[float]:
    """The 1, 5 and 15-minute load averages, rounded to 0.01."""
    return [round(x, 2) for x in os.getloadavg()]


def load_note(before: float) -> str:
    """How to read a run's figures, given the 1-minute load average just before it started.

    Only the load before tells whether anything else was running: the load
    after includes the benchmark's own threads.
    """
    if before < QUIET_LOAD:
        return (
            f"Nothing else was running (load below {QUIET_LOAD} before; the load after is the benchmark's own threads)."
        )
    return (
        f"The machine was shared (load {before:.2f} before, not below {QUIET_LOAD}): times are inflated; "
        "compare only figures measured in the same run."
    )


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what the platform module says."""
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.exists() else []
    return next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.processor()
    )


def machine(*libraries: str, **extra: Any) -> dict:
    """What the numbers are measured on: CPU, cores, OS, Python, ``libraries``' versions, and ``extra``.

    Versions come from the installed distributions, so nothing is imported
    (TensorFlow takes seconds to start).
    """

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), **{name: installed(name) for name in libraries}, **extra}  # fmt: skip


def machine_text(info: dict | None) -> str:
    """One line for a report: CPU, cores, then everything else recorded, in order."""
    if not info:
        return "Machine not recorded."
    known = [info.get("cpu"), f"{info['cores']} cores" if "cores" in info else None]
    rest = [_described(k, v) for k, v in info.items() if k not in ("cpu", "cores", "platform")]
    return "Machine: " + ", ".join(str(p) for p in [*known, info.get("platform"), *rest] if p) + "."


def _described(key: str, value: Any) -> str:
    """``TensorFlow 2.21.0``, ``0 GPUs``: one recorded library or device count, in words."""
    if key == "gpus":
        return f"{value} GPUs"
    names = {"python": "Python", "tensorflow": "TensorFlow", "keras": "Keras", "gradio": "Gradio"}
    return str(value) if str(value).lower().startswith(key) else f"{names.get(key, key)} {value}"


def now() -> str:
    """The time in UTC, as reports record it."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())


# ------------------------------------------------------------------ a report's header


def command_line(script: str | os.PathLike, argv: Sequence[str] | None) -> str:
    """``python scripts/NAME.py ARGS``: the command that produced a result (``argv`` None: this process's)."""
    args = sys.argv[1:] if argv is None else list(argv)
    return " ".join(["python", f"scripts/{Path(script).name}", *map(shlex.quote, args)])


def start(script: str | os.PathLike, argv: Sequence[str] | None, *libraries: str, **machine_extra: Any) -> dict:
    """A new report: command, start date, machine (with ``libraries``' versions) and the load before."""
    return {"command": command_line(script, argv), "date": now(), "machine": machine(*libraries, **machine_extra),
            "load": {"before": load()}}  # fmt: skip


def finish(report: dict) -> dict:
    """Stamp the end of a report: when it finished and the load after."""
    report["finished"] = now()
    report["load"]["after"] = load()
    return report


def parser(doc: str, *, quick: str, source: str, page: str = "BENCHMARKS.md") -> argparse.ArgumentParser:
    """A benchmark's command line with the options every benchmark has: ``--quick``, ``--data-dir``, ``--output``."""
    args = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    args.add_argument("--quick", action="store_true", help=f"{quick}: checks it runs (figures not worth keeping).")
    args.add_argument(
        "--data-dir", default=None, help="MNIST folder. Default: $MNIST_KERAS_DATA, else Keras' download."
    )
    args.add_argument(
        "--output", default=str(DOCS / page), help=f"Markdown page to update; written beside it: {source}."
    )
    return args


class WeightsParser(argparse.ArgumentParser):
    """The command line of a script that trains a model into a weights module (``--quick``,
    ``--output``), which refuses a quick run that would overwrite the shipped weights: a model
    trained for seconds must never replace the one the reader uses by accident."""

    def __init__(self, doc: str, *, output: Path, quick: str) -> None:
        super().__init__(description=doc.split("\n\n")[0])
        self.shipped = output
        self.add_argument("--quick", action="store_true", help=f"{quick}: checks it runs (weights not worth keeping).")
        self.add_argument("--output", type=Path, default=output,
                          help=f"Module to write (default: {output.relative_to(REPO)}).")  # fmt: skip

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        parsed = super().parse_args(args, namespace)
        if parsed.quick and parsed.output == self.shipped:
            self.error("--quick writes weights not worth keeping: give --output")
        return parsed


def provenance(report: dict) -> str:
    """The paragraph that opens every rendered section: who measured what, when, where, under what load."""
    when = report["date"] + (f" to {report['finished']}" if report.get("finished") else "")
    loads = report.get("load") or {}
    before, after = loads.get("before"), loads.get("after")
    load_text = "Load average not recorded."
    if before:
        load_text = f"Load average (1 min) {before[0]:.2f} before" + (f", {after[0]:.2f} after" if after else "")
        load_text += f". {load_note(before[0])}"
    return f"Measured by `{report['command']}` ({when}). {machine_text(report.get('machine'))} {load_text}"


# ------------------------------------------------------------------------ measuring


def fit_config(model: str, **settings: Any):
    """``model``'s resolved ``FitConfig`` from flat settings, as ``mnist-keras fit`` takes them.

    Recipe fields (``epochs``, ``batch_size``, ...) become overrides of the
    architecture's recipe; the rest (``limit``, ``jit_compile``, ...) are
    the config's own fields.
    """
    from mnist_keras.models import RECIPE_FIELDS
    from mnist_keras.train import FitConfig

    overrides = {name: value for name, value in settings.items() if name in RECIPE_FIELDS}
    rest = {name: value for name, value in settings.items() if name not in RECIPE_FIELDS}
    return FitConfig(model=model, overrides=overrides, **rest).resolved()


def interleave(variants: Mapping[str, Callable[[], T]], rounds: int) -> dict[str, list[T]]:
    """Call every variant once per round, in order (A, B, C, A, B, C, ...); every result, per variant.

    Interleaving spreads a change in the machine's load over all variants
    instead of charging it to whichever ran at that moment.
    """
    results: dict[str, list[T]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, run in variants.items():
            results[name].append(run())
    return results


def rate(run: Callable[[], int]) -> dict[str, float]:
    """Items per second of one ``run() -> items``: wall clock, and per CPU-second of this process.

    On a shared machine wall-clock rates swing with other people's load;
    work per CPU-second (all this process's threads) much less.
    """
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    items = run()
    return {"per_s": items / (time.perf_counter() - start_wall),
            "per_cpu_s": items / max(time.process_time() - start_cpu, 1e-9)}  # fmt: skip


def timed_into(function: Callable[..., T], totals: dict[str, float], key: str) -> Callable[..., T]:
    """``function`` wrapped to add the seconds of every call to ``totals[key]`` (a ``defaultdict(float)``).

    How a benchmark splits a real run into parts without a copy of its code:
    it wraps the functions the run looks up at call time.
    """

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        begin = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[key] += time.perf_counter() - begin

    return wrapper


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def child_env() -> dict[str, str]:
    """This environment with this checkout first on ``PYTHONPATH``: a child runs the code being measured."""
    paths = [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}


def run_process(cmd: Sequence[str], *, cwd: str | os.PathLike | None = None) -> dict[str, float]:
    """Run ``cmd`` to completion in a fresh process; its wall and CPU seconds and peak memory.

    A small probe process starts ``cmd`` and reads the resource usage of its
    children, so the figures are ``cmd``'s alone (whatever this process ran
    before). Returns ``seconds``, ``cpu_seconds``, ``peak_rss_mib`` and
    ``started_unix`` (when ``cmd`` was started, for start-up times).

    Raises:
        RuntimeError: ``cmd`` failed; the message ends with its stderr.
    """
    with tempfile.TemporaryDirectory(prefix="harness-") as scratch:
        out = Path(scratch) / "usage.json"
        probe = [sys.executable, str(Path(__file__).resolve()), "measure", str(out), "--", *map(str, cmd)]
        done = subprocess.run(probe, cwd=cwd or REPO, env=child_env(), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{shlex.join(map(str, cmd))} failed ({done.returncode}):\n{done.stderr[-STDERR_TAIL:]}")
        return json.loads(out.read_text())


def call_in_subprocess(function: Callable[..., Any], /, **kwargs: Any) -> tuple[Any, dict[str, float]]:
    """``function(**kwargs)`` in a fresh Python process: its (JSON) result, and :func:`run_process`'s figures.

    ``function`` is a top-level function of a module in scripts/ (or the
    package); ``kwargs`` and the result must be JSON values. A fresh process
    measures what a user's command pays (imports, start-up) and keeps each
    measurement's memory, threads and Keras state apart.
    """
    module = function.__module__
    if module == "__main__":
        module = Path(sys.modules["__main__"].__file__).stem
    with tempfile.TemporaryDirectory(prefix="harness-") as scratch:
        out = Path(scratch) / "result.json"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "call",
            module,
            function.__name__,
            json.dumps(kwargs),
            str(out),
        ]
        usage = run_process(cmd)
        return json.loads(out.read_text()), usage


# ------------------------------------------------------------------------ rendering


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, align: str = "") -> str:
    """A Markdown table; ``align`` has one letter per column, ``l`` or ``r`` (default: all left)."""
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align.ljust(len(header), "l")) + "|"
    cells = ["| " + " | ".join(map(str, line)) + " |" for line in (header, *rows)]
    return "\n".join([cells[0], rule, *cells[1:]])


def seconds_text(value: float | None) -> str:
    """``12.3 s`` under two minutes, ``4.5 min`` above; ``not reached`` for None."""
    if value is None:
        return "not reached"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


# ---------------------------------------------------------------------- docs pages


@dataclass(frozen=True)
class Block:
    """A generated block of the docs: its name (the markers), its JSON, how it is rendered and measured.

    Attributes:
        name: the ``NAME`` of ``<!-- NAME:begin -->``.
        source: the JSON file in docs/ it is rendered from.
        render: report -> Markdown; a pure function of the report (no clock, no machine).
        title: the heading shown even before anything was measured ("" for a block without one).
        script: the benchmark that measures it (its ``__file__``), named while there is nothing to render.
    """

    name: str
    source: str
    render: Callable[[dict], str]
    title: str
    script: str

    @property
    def command(self) -> str:
        return command_line(self.script, [])

    def text(self, docs: Path) -> str:
        """The block rendered from ``docs/<source>``, or a note saying what to run when there is none."""
        path = Path(docs) / self.source
        if path.is_file():
            return self.render(json.loads(path.read_text())).strip()
        missing = (f"*Not measured yet: `{self.source}` holds no run. Run `{self.command}` on a quiet machine "
                   f"(load below {QUIET_LOAD}); figures of earlier runs are in this page's history.*")  # fmt: skip
        return f"{self.title}\n\n{missing}" if self.title else missing


def markers(name: str) -> tuple[str, str]:
    """The comment lines around block ``name``."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


BLOCK_RE = re.compile(r"<!-- ([\w.-]+):begin -->\n(.*?)\n?<!-- \1:end -->", re.DOTALL)


def blocks_in(text: str) -> dict[str, str]:
    """Every generated block of a page: name -> its text (stripped)."""
    return {match[1]: match[2].strip() for match in BLOCK_RE.finditer(text)}


def replace_block(text: str, name: str, content: str) -> str:
    """``text`` with block ``name`` holding ``content`` (appended at the end when the page has none)."""
    begin, end = markers(name)
    block = f"{begin}\n{content.strip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        return head + block + rest.split(end, 1)[1]
    return text.rstrip("\n") + "\n\n" + block + "\n"


def write_section(path: str | os.PathLike, name: str, text: str, *, title: str = DEFAULT_TITLE) -> None:
    """Put ``text`` in block ``name`` of page ``path`` (created with ``title`` when absent), atomically."""
    path = Path(path)
    old = path.read_text() if path.is_file() else title
    write_text(path, replace_block(old, name, text))


def render_page(text: str, blocks: Mapping[str, Block], docs: Path) -> tuple[str, list[str]]:
    """``text`` with each of its generated blocks rendered again; and the names no block renders."""
    unknown = []
    for name in blocks_in(text):
        if name in blocks:
            text = replace_block(text, name, blocks[name].text(docs))
        else:
            unknown.append(name)
    return text, unknown


def site_pages(home: Path) -> list[Path]:
    """The pages beside ``home`` (a docs/ folder's ``*.md``) and, for docs/, the README above it."""
    pages = sorted(Path(home).parent.glob("*.md"))
    readme = Path(home).parent.parent / "README.md"
    return pages + [readme] if Path(home).parent.name == "docs" and readme.is_file() else pages


def publish(
    report: dict, blocks: Sequence[Block], home: str | os.PathLike, *, json_path: str | os.PathLike | None = None
) -> str:
    """Write ``report`` as JSON and render ``blocks`` from that file into the pages; the home section's text.

    The JSON goes beside ``home`` as ``blocks[0].source`` unless ``json_path``
    says otherwise. ``blocks[0]`` is written into ``home`` (appended if the
    page lacks it); every block of ``blocks`` found in a page beside it (and
    in README.md for docs/) is rendered again from the same file.
    """
    home = Path(home)
    json_path = Path(json_path) if json_path else home.with_name(blocks[0].source)
    write_json(json_path, report)
    saved = json.loads(json_path.read_text())  # render what was written, exactly as render_docs.py will
    texts = {block.name: block.render(saved).strip() for block in blocks}
    write_section(home, blocks[0].name, texts[blocks[0].name])
    for page in site_pages(home):
        old = page.read_text()
        new = old
        for name in set(blocks_in(old)) & set(texts):
            new = replace_block(new, name, texts[name])
        if new != old:
            write_text(page, new)
    return texts[blocks[0].name]


# ----------------------------------------------------------- the child processes' side


def _measure(out: str, cmd: list[str]) -> int:
    """Run ``cmd``; write its wall and CPU seconds and peak resident memory to ``out``; its exit code."""
    started_unix, begin = time.time(), time.perf_counter()
    code = subprocess.run(cmd, check=False).returncode
    seconds = time.perf_counter() - begin
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    write_json(Path(out), {"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime,
                           "peak_rss_mib": usage.ru_maxrss / 1024, "started_unix": started_unix})  # fmt: skip
    return code


def _call(module: str, function: str, kwargs: str, out: str) -> int:
    """Import ``module`` (from scripts/ or the package), call ``function(**kwargs)``, write its result to ``out``."""
    result = getattr(importlib.import_module(module), function)(**json.loads(kwargs))
    write_json(Path(out), result)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``harness.py measure OUT -- CMD...`` or ``harness.py call MODULE FUNCTION KWARGS_JSON OUT``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["measure"] and args[2:3] == ["--"]:
        return _measure(args[1], args[3:])
    if args[:1] == ["call"] and len(args) == 5:
        return _call(*args[1:])
    print(__doc__.splitlines()[0] + "\nusage: harness.py measure OUT -- CMD... | call MODULE FUNCTION KWARGS OUT",
          file=sys.stderr)  # fmt: skip
    return 2


if __name__ == "__main__":
    sys.exit(main())
