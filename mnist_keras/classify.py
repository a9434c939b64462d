"""Classify image files with any digit model: find files, preprocess, predict, print.

The one implementation behind ``mnist-keras predict``, which is also the edge
bundle (``edge.py``): one digit per image by default, or with ``number`` the
whole number in each image (``reader.read_number``), optionally with an
annotated picture of its boxes. A single-digit answer for an image that
clearly holds several digits comes with a warning that points to the number
mode. Model-agnostic: it takes a
``predict_proba`` function, pixels ``(N, 28, 28, 1)`` uint8 0-255 -> float
``(N, 10)``. Only the standard library, numpy and :mod:`.preprocess` (numpy +
Pillow) are imported here, so it runs on a Raspberry Pi without TensorFlow.

Every file gets its own result: one unreadable or blank image is reported
(with the reason) and the others are still classified. :func:`run` returns
exit code 2 when any file failed (the others are still classified), 0 otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

import numpy as np
from PIL import Image

from .digits import INPUT_SHAPE
from .errors import EXIT_BAD_INPUT
from .preprocess import ImageError, to_mnist
from .reader import Reading, annotate, read_number, several_digits

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
DEFAULT_TOP_K = 3  # digits listed per answer (predict, the edge bundle, the page)
BENCHMARK_WARMUP = 10  # single-image predictions discarded before timing
BENCHMARK_PREPROCESS_RUNS = 5  # preprocessing is timed as the median of this many runs
EXIT_OK = 0
EXIT_IMAGE_FAILED = EXIT_BAD_INPUT  # an input the user can fix; the other images are still answered

PredictProba = Callable[[np.ndarray], np.ndarray]  # (N, 28, 28, 1) uint8 -> (N, 10)


@dataclasses.dataclass
class Result:
    """The outcome for one input file: a prediction, or the reason there is none."""

    path: str
    digit: int | None = None
    probability: float | None = None
    top_k: list[tuple[int, float]] = dataclasses.field(default_factory=list)
    error: str | None = None
    warning: str | None = None

    def as_dict(self) -> dict:
        """JSON-ready: ``path`` plus either ``digit``/``probability``/``top_k`` (and ``warning``) or ``error``."""
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        top = [{"digit": d, "probability": round(p, 6)} for d, p in self.top_k]
        answer = {"path": self.path, "digit": self.digit, "probability": round(self.probability, 6), "top_k": top}
        return answer | ({"warning": self.warning} if self.warning else {})


@dataclasses.dataclass
class NumberResult:
    """The outcome for one input file in number mode: a reading, or the reason there is none."""

    path: str
    reading: Reading | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        """JSON-ready: ``path`` plus the reading's ``text``, ``lines``, ``sure`` and ``digits``, or ``error``."""
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        return {"path": self.path, **self.reading.as_dict()}


# ------------------------------------------------------------------ inputs


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def expand_inputs(inputs: Iterable[str | os.PathLike]) -> list[tuple[str, str | None]]:
    """Command-line paths -> ``(path, error)`` pairs; a folder becomes its image files, sorted.

    Files are kept as given whatever their extension (a wrong one is reported
    when it is read); a folder without image files is an error of its own.
    """
    items = []
    for entry in inputs:
        path = Path(entry)
        if not path.is_dir():
            items.append((str(entry), None))
            continue
        found = sorted(p for p in path.iterdir() if is_image_file(p))
        if not found:
            kinds = ", ".join(e.lstrip(".") for e in IMAGE_EXTENSIONS)
            items.append((str(entry), f"no image files ({kinds}) in folder {entry}"))
        items.extend((str(p), None) for p in found)
    return items


# ------------------------------------------------------------- prediction


def top_k(proba: np.ndarray, k: int = DEFAULT_TOP_K) -> list[tuple[int, float]]:
    """The ``k`` most probable digits of one (10,) row, best first, as (digit, probability)."""
    order = np.argsort(-np.asarray(proba, dtype=np.float64), kind="stable")[:k]
    return [(int(d), float(proba[d])) for d in order]


def load_digits(items: list[tuple[str, str | None]]) -> tuple[list[Result], np.ndarray, list[int]]:
    """Preprocess every readable file -> (results with errors filled in, (M, 28, 28, 1) uint8, their indices)."""
    results, digits, indices = [], [], []
    for i, (path, error) in enumerate(items):
        results.append(Result(path=path, error=error))
        if error is not None:
            continue
        try:
            digits.append(to_mnist(path))
        except ImageError as err:
            results[-1].error = str(err)
            continue
        indices.append(i)
        results[-1].warning = several_digits_warning(path)
    batch = np.stack(digits)[..., np.newaxis] if digits else np.zeros((0, *INPUT_SHAPE), np.uint8)
    return results, batch, indices


def classify(
    inputs: Iterable[str | os.PathLike], predict_proba: PredictProba, *, k: int = DEFAULT_TOP_K
) -> list[Result]:
    """One :class:`Result` per image file (folders expanded), in the order given.

    Pillow warns about images between 1x and 2x its pixel limit while opening
    them; preprocess refuses those with a clear error, so the warning is only
    noise here (scoped to this call: the command-line tools are single-threaded).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        results, batch, indices = load_digits(expand_inputs(inputs))
    if len(batch):
        proba = np.asarray(predict_proba(batch), dtype=np.float64)  # (M, 10)
        for i, row in zip(indices, proba):
            best = top_k(row, k)
            results[i].digit, results[i].probability, results[i].top_k = best[0][0], best[0][1], best
    return results


def several_digits_warning(path: str) -> str | None:
    """A warning when an image read as one digit clearly holds several separate ones."""
    try:
        if not several_digits(path):
            return None
    except ImageError:
        return None
    return f"{path} looks like several digits, read here as one; read it as a number with --number"


# ------------------------------------------------------------------ numbers


def read_numbers(inputs: Iterable[str | os.PathLike], predict_proba: PredictProba, *,
                 k: int = DEFAULT_TOP_K) -> list[NumberResult]:  # fmt: skip
    """One :class:`NumberResult` per image file (folders expanded), in the order given."""
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        for path, error in expand_inputs(inputs):
            result = NumberResult(path=path, error=error)
            if error is None:
                try:
                    result.reading = read_number(path, predict_proba, top_k=k)
                except ImageError as err:
                    result.error = str(err)
            results.append(result)
    return results


def save_annotations(results: Iterable[NumberResult], folder: str | os.PathLike) -> list[Path]:
    """Each read image with its digits' boxes drawn, as ``folder/<name>.read.png``; the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for result in results:
        if result.reading is not None:
            target = folder / f"{Path(result.path).stem}.read.png"
            tmp = target.with_name(f".{target.name}.tmp")
            annotate(result.path, result.reading).save(tmp, format="PNG")
            tmp.replace(target)  # atomic: a killed run never leaves half a picture
            written.append(target)
    return written


# -------------------------------------------------------------- benchmark


def benchmark(predict_proba: PredictProba, path: str, runs: int) -> dict:
    """Time ``runs`` single-image predictions (after a warm-up) and the preprocessing of ``path``.

    Latencies are in milliseconds; throughput is images per second at one
    image per call (what a camera loop on a Pi does), preprocessing not included.
    """
    preprocess_times = []
    for _ in range(BENCHMARK_PREPROCESS_RUNS):
        start = time.perf_counter()
        digit = to_mnist(path)[np.newaxis, ..., np.newaxis]  # (1, 28, 28, 1)
        preprocess_times.append(1000 * (time.perf_counter() - start))
    preprocess_ms = float(np.median(preprocess_times))
    for _ in range(BENCHMARK_WARMUP):
        predict_proba(digit)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        predict_proba(digit)
        times.append(1000 * (time.perf_counter() - start))
    return {
        "image": path,
        "runs": runs,
        "median_ms": float(np.median(times)),
        "p99_ms": float(np.percentile(times, 99)),
        "throughput_per_s": float(len(times) / (sum(times) / 1000)) if sum(times) > 0 else float("inf"),
        "preprocess_ms": preprocess_ms,
    }


# ------------------------------------------------------------- formatting


def format_result(result: Result) -> str:
    """One human-readable line: ``path: digit (p%)  top-k: d p%, ...`` or ``path: error: ...``."""
    if result.error is not None:
        return f"error: {result.error}"
    top = ", ".join(f"{d} {100 * p:.1f}%" for d, p in result.top_k)
    return f"{result.path}: {result.digit} ({100 * result.probability:.1f}%)  top-{len(result.top_k)}: {top}"


def format_number(result: NumberResult) -> str:
    """``path: 20?6  [2 99.8%, 0 99.1%, ? (7 61.0% 1 30.2% 2 4.1%), 6 97.2%]``; lines joined by `` / ``."""
    if result.error is not None:
        return f"error: {result.error}"
    if not result.reading.digits:
        return f"{result.path}: (no digits)"
    parts = [f"{d.char} {100 * d.probability:.1f}%" if d.sure
             else "? (" + " ".join(f"{c} {100 * p:.1f}%" for c, p in d.candidates) + ")"
             for d in result.reading.digits]  # fmt: skip
    return f"{result.path}: {' / '.join(result.reading.lines)}  [{', '.join(parts)}]"


def benchmark_reading(predict_proba: PredictProba, path: str, runs: int) -> dict:
    """Time ``runs`` readings of the number in ``path``, each from the file to the string (milliseconds)."""
    for _ in range(BENCHMARK_WARMUP):
        read_number(path, predict_proba)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        read_number(path, predict_proba)
        times.append(1000 * (time.perf_counter() - start))
    return {"image": path, "runs": runs, "what": "read_number, file to string", "median_ms": float(np.median(times)),
            "p99_ms": float(np.percentile(times, 99))}  # fmt: skip


def format_benchmark(stats: dict) -> str:
    if "what" in stats:
        return (f"benchmark: {stats['runs']} readings of {stats['image']} ({stats['what']}): "
                f"median {stats['median_ms']:.1f} ms, p99 {stats['p99_ms']:.1f} ms")  # fmt: skip
    return (
        f"benchmark: {stats['runs']} single-image predictions: median {stats['median_ms']:.3f} ms, "
        f"p99 {stats['p99_ms']:.3f} ms, {stats['throughput_per_s']:,.0f} images/s "
        f"(preprocessing: median {stats['preprocess_ms']:.1f} ms for {stats['image']})"
    )


def as_json(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)


# -------------------------------------------------------------------- run


def run(
    inputs: Iterable[str | os.PathLike],
    predict_proba: PredictProba,
    *,
    k: int = DEFAULT_TOP_K,
    json_lines: bool = False,
    quiet: bool = False,
    number: bool = False,
    annotate_dir: str | os.PathLike | None = None,
    benchmark_runs: int = 0,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Classify ``inputs`` (or with ``number`` read the number in each), print one line per image,
    return the exit code (2 if any failed).

    Text mode prints answers to ``out`` and errors and warnings to ``err``,
    then how many failed (not with ``quiet``); JSON mode prints one object per
    image (``error`` for failures) to ``out``. ``annotate_dir`` (number mode)
    gets each image with its digits' boxes drawn.
    """
    out, err = out or sys.stdout, err or sys.stderr
    results = read_numbers(inputs, predict_proba, k=k) if number else classify(inputs, predict_proba, k=k)
    for result in results:
        if json_lines:
            print(as_json(result.as_dict()), file=out)
            continue
        print(format_number(result) if number else format_result(result), file=err if result.error else out)
        if getattr(result, "warning", None) and not quiet:
            print(f"warning: {result.warning}", file=err)
    if number and annotate_dir is not None:
        written = save_annotations(results, annotate_dir)
        if not (json_lines or quiet):
            print(f"annotated pictures: {len(written)} in {annotate_dir}/", file=err)
    failed = sum(r.error is not None for r in results)
    if failed and not (json_lines or quiet):
        print(f"{failed} of {len(results)} image(s) failed", file=err)
    good = [r.path for r in results if r.error is None]
    if benchmark_runs > 0 and good:
        stats = (benchmark_reading if number else benchmark)(predict_proba, good[0], benchmark_runs)
        print(as_json({"benchmark": stats}) if json_lines else format_benchmark(stats), file=out)
    elif benchmark_runs > 0:
        print("error: nothing to benchmark: no image could be classified", file=err)
        failed = failed or 1
    return EXIT_IMAGE_FAILED if failed else EXIT_OK
