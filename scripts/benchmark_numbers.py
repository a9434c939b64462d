#!/usr/bin/env python
"""Benchmark the number reader (``mnist_keras.reader``) on generated numbers (``mnist_keras.numberset``).

Per condition (separated, touching, overlapping, multi-stroke, sizes, lines,
photo-like, printed) and per length: string accuracy (the whole number right,
lines included), digit accuracy (true digits whose box is found, IoU >= 0.5, and
read right) and segmentation accuracy (as many digits as the truth, every box
matching in reading order); how many numbers hold a ``?`` and how many are wrong
without one (silent errors). Two baselines read the same images:

``one digit``
    today's single-digit path: ``preprocess.to_mnist`` on the whole image, one answer.
``equal split``
    the ink's bounding box cut into the TRUE number of digits, equal widths, each
    part normalised like a digit: a baseline told the count it could not know.
    One line only, so it cannot read the ``lines`` condition.

The test split (MNIST test digits, held-out fonts) is what the docs report; the
validation split (validation digits, training fonts) is for choices: with
``--split validation`` the script also sweeps the ``?`` threshold and prints the
one that ``choose_threshold`` picks (``reader.MIN_PROBABILITY`` holds it).

    python scripts/benchmark_numbers.py --split validation   # choices: docs/numbers_validation.json, nothing else
    python scripts/benchmark_numbers.py                      # test: docs/BENCHMARKS.md's block, numbers.json, the pictures
    python scripts/benchmark_numbers.py --quick --output /tmp/n/BENCHMARKS.md   # a smoke run

The model is the shipped one (``tflite/robust_int8.tflite``) unless ``--model`` names another.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness, also when a test imports this file
from harness import REPO, Block, finish, parser, provenance, publish, start

from mnist_keras import numberset, printed, reader
from mnist_keras.artifacts import write_json, write_text
from mnist_keras.errors import MnistKerasError
from mnist_keras.predict import default_model
from mnist_keras.preprocess import ImageError, find_ink, ink_to_mnist, load_grayscale, to_mnist, work_image

DEFAULT_PER_CONDITION = 300
QUICK_PER_CONDITION = 10
TIMING_IMAGES = 100  # separated 4-digit images timed ...
TIMING_ROUNDS = 3  # ... this many times, interleaved; the median is reported
SILENT_ERROR_COST = 5.0  # a number read wrong without "?" costs this many not read right (choose_threshold)
THRESHOLDS = tuple(np.round(np.arange(0.0, 1.0, 0.05), 2)) + (0.97, 0.99, 0.995, 0.998, 0.999)
TARGETS = {"separated_4": 0.97, "touching": 0.90, "printed": 0.98}  # string accuracy, int8 robust model
EXAMPLES = 8  # right and wrong readings shown each


# ---------------------------------------------------------------- reading


def read_reader(sample: numberset.NumberImage, predict, threshold: float) -> dict:
    """The reader's answer for one image: text (``?`` below the threshold), its best guesses
    (every digit's top class), boxes, per-digit probabilities, seconds."""
    start = time.perf_counter()
    try:
        reading = reader.read_number(sample.image, predict, threshold=threshold)
    except ImageError as err:
        return {"text": "", "guess": "", "boxes": [], "digits": [], "probabilities": [],
                "seconds": time.perf_counter() - start, "error": str(err)}  # fmt: skip
    seconds = time.perf_counter() - start
    guess = "\n".join("".join(str(d.digit) for d in reading.digits if d.line == i) for i in range(len(reading.lines)))
    return {"text": reading.text, "guess": guess, "boxes": [d.box for d in reading.digits],
            "digits": [d.digit for d in reading.digits], "probabilities": [d.probability for d in reading.digits],
            "seconds": seconds}  # fmt: skip


def read_one_digit(sample: numberset.NumberImage, predict) -> dict:
    """Baseline: the whole image as one digit, as ``mnist-keras predict`` does today."""
    try:
        digit = int(predict(to_mnist(sample.image)[np.newaxis, ..., np.newaxis])[0].argmax())
    except ImageError:
        return {"text": "", "boxes": []}
    h, w = sample.image.shape
    return {"text": str(digit), "boxes": [(0, 0, w, h)]}


def read_equal_split(sample: numberset.NumberImage, predict) -> dict:
    """Baseline: the ink's bounding box cut into the true digit count, equal widths."""
    count = len(sample.boxes)
    try:
        gray = load_grayscale(sample.image)
        work, factor = work_image(gray)
        ink = find_ink(work, "image")
    except ImageError:
        return {"text": "", "boxes": []}
    grey = ink.grey(ink.seeds)
    rows, cols = np.flatnonzero(grey.any(axis=1)), np.flatnonzero(grey.any(axis=0))
    edges = np.linspace(cols[0], cols[-1] + 1, count + 1).round().astype(np.intp)
    crops, boxes = [], []
    for a, b in zip(edges, edges[1:]):
        part = grey[rows[0] : rows[-1] + 1, a:b]
        if not part.any():
            part = np.pad(np.full((1, 1), 255.0, np.float32), 1)  # no ink in this part: a dot
        crops.append(ink_to_mnist(part))
        boxes.append((int(a) * factor, int(rows[0]) * factor, int(b) * factor, (int(rows[-1]) + 1) * factor))
    digits = predict(np.stack(crops)[..., np.newaxis]).argmax(axis=1)
    return {"text": "".join(map(str, digits)), "boxes": boxes}


def evaluate(samples: list, predict, threshold: float, progress=print) -> list[dict]:
    """Every sample read by the reader and both baselines: one record per sample."""
    records = []
    for i, sample in enumerate(samples):
        got = read_reader(sample, predict, threshold)
        record = {"condition": sample.condition, "font": sample.font, "length": len(sample.boxes), "truth": sample.text,
                  "read": got["text"], "seconds": got["seconds"], **numberset.score(sample, got["text"], got["boxes"]),
                  "guess_string": got["guess"] == sample.text,
                  "unsure": "?" in got["text"], "probabilities": got["probabilities"],
                  "digits_read": got["digits"], "boxes_read": got["boxes"]}  # fmt: skip
        for name, fn in (("one_digit", read_one_digit), ("equal_split", read_equal_split)):
            base = fn(sample, predict)
            record[name] = numberset.score(sample, base["text"], base["boxes"])
        records.append(record)
        if progress and (i + 1) % 500 == 0:
            progress(f"  read {i + 1}/{len(samples)}")
    return records


# ---------------------------------------------------------------- summaries


def _rates(rows: list[dict]) -> dict[str, float]:
    """String, digit and segmentation accuracy of score dicts (``numberset.score``)."""
    return {"string": _mean(r["string"] for r in rows),
            "digit": sum(r["digits_right"] for r in rows) / max(1, sum(r["digits"] for r in rows)),
            "segmentation": _mean(r["segmented"] for r in rows)}  # fmt: skip


def summarise(records: list[dict], key) -> dict[str, dict]:
    """Group records by ``key(record)`` -> accuracies of the reader and the baselines."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        groups[str(key(r))].append(r)
    out = {}
    for name, rows in groups.items():
        out[name] = {
            "numbers": len(rows),
            **_rates(rows),
            "guess_string": _mean(r["guess_string"] for r in rows),
            "unsure": _mean(r["unsure"] for r in rows),
            "silent_errors": _mean(not r["string"] and not r["unsure"] for r in rows),
            "median_ms": 1000 * statistics.median(r["seconds"] for r in rows),
            **{f"{base}_{m}": v for base in ("equal_split", "one_digit") for m, v in _rates([r[base] for r in rows]).items()},
        }  # fmt: skip
    return out


def _mean(values) -> float:
    values = [float(v) for v in values]
    return sum(values) / len(values) if values else float("nan")


def number_outcomes(records: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(lowest digit probability, best guess right) of every number: a threshold above the lowest
    shows a ``?``; a number read as nothing has no digit to doubt (1.0)."""
    lowest = [min(r["probabilities"], default=1.0) for r in records]
    return np.asarray(lowest, np.float64), np.asarray([r["guess_string"] for r in records], bool)


def threshold_costs(records: list[dict], thresholds=THRESHOLDS) -> list[dict]:
    """Per threshold: numbers read wrong without a ``?`` (silent), numbers whose best guess is right
    shown with a ``?`` (right_flagged) and wrong ones with one (wrong_flagged), and the cost."""
    lowest, right = number_outcomes(records)
    rows = []
    for t in thresholds:
        sure = lowest >= t
        silent, flagged = int((sure & ~right).sum()), int((~sure & right).sum())
        wrong_flagged = int((~sure & ~right).sum())
        rows.append({"threshold": float(t), "silent_errors": silent, "right_flagged": flagged,
                     "wrong_flagged": wrong_flagged, "cost": SILENT_ERROR_COST * silent + flagged + wrong_flagged})  # fmt: skip
    return rows


def choose_threshold(records: list[dict], thresholds=THRESHOLDS) -> float:
    """The threshold with the lowest cost on validation records (ties: the lowest threshold).

    Cost, over every number: 1 per number not read right, SILENT_ERROR_COST when it is read
    wrong without a ``?``. A ``?`` asks the user for a glance; a wrong number goes unnoticed.
    Counting numbers, not digits, weighs the numbers cut into the wrong digits too, which are
    most of the silent errors, and is the string accuracy the benchmark reports.
    """
    rows = threshold_costs(records, thresholds)
    return min(rows, key=lambda r: (r["cost"], r["threshold"]))["threshold"]


def single_digits(pool: numberset.DigitPool, predict, threshold: float) -> dict:
    """The classifier alone on the digits the handwritten numbers are drawn from, as MNIST prepared them.

    How many it reads right, and right and at least ``threshold`` sure (the reader's ``?``
    rule for one digit), and the same for four digits in a row: what the classifier by
    itself would make of a separated 4-digit number, against which the reader's best guess
    and its string accuracy can be read (``single_digits_line``).
    """
    proba = np.asarray(predict(pool.images[..., np.newaxis]), np.float64)
    right = proba.argmax(axis=1) == pool.labels
    sure = proba.max(axis=1) >= threshold
    accuracy, right_sure = float(right.mean()), float((right & sure).mean())
    return {"digits": int(len(pool.labels)), "accuracy": accuracy, "right_sure": right_sure,
            "wrong_sure": float((~right & sure).mean()), "four_right": accuracy**4,
            "four_right_sure": right_sure**4}  # fmt: skip


def time_four_digits(samples: list, predict) -> dict:
    """Median milliseconds per separated 4-digit image: TIMING_ROUNDS rounds over the same images."""
    images = [s.image for s in samples if s.condition == "separated_4"][:TIMING_IMAGES]
    rounds = []
    for _ in range(TIMING_ROUNDS):
        times = []
        for image in images:
            start = time.perf_counter()
            reader.read_number(image, predict)
            times.append(time.perf_counter() - start)
        rounds.append(1000 * statistics.median(times))
    return {"images": len(images), "rounds_median_ms": rounds, "median_ms": statistics.median(rounds)}


WATCH_FRAME = REPO / "docs" / "examples" / "number_2026.jpg"  # a 640x480 photo of a handwritten number
WATCH_FRAMES = 20  # frames per round, each with its own sensor noise


def time_watch(predict) -> dict:
    """Frames per second of watch mode's reading (``edge.frame_reader``), one digit and a whole number.

    The frames are camera-sized arrays (the example photo with fresh noise each),
    so this is reading alone: a camera's own capture time is not included.
    """
    from PIL import Image

    from mnist_keras.edge import frame_reader

    rng = np.random.default_rng(0)
    photo = np.asarray(Image.open(WATCH_FRAME).convert("RGB"), dtype=np.float32)
    frames = [np.clip(photo + rng.normal(0, 3, photo.shape), 0, 255).astype(np.uint8) for _ in range(WATCH_FRAMES)]
    readers = {"digit": frame_reader(predict, number=False), "number": frame_reader(predict, number=True)}
    rounds: dict[str, list[float]] = {mode: [] for mode in readers}
    readings: dict[str, list[str]] = {}
    for _ in range(TIMING_ROUNDS):  # interleaved: digit, number, digit, number, ...
        for mode, read in readers.items():
            begin = time.perf_counter()
            readings[mode] = sorted({read(frame) for frame in frames})
            rounds[mode].append(len(frames) / (time.perf_counter() - begin))
    return {"frame": f"{WATCH_FRAME.relative_to(REPO)} ({photo.shape[1]}x{photo.shape[0]})", "frames": WATCH_FRAMES,
            "readings": readings, **{f"{mode}_fps": statistics.median(v) for mode, v in rounds.items()},
            "rounds_fps": rounds}  # fmt: skip


def render_watch(report: dict) -> str:
    """The frame rate to expect in watch mode, for the deployment page."""
    watch = report.get("watch")
    if not watch:
        return "*Not measured yet: run `python scripts/benchmark_numbers.py` on a quiet machine.*"
    return (
        f"Reading frames of {watch['frame']} in watch mode (`--watch`, reading only; the camera's capture "
        f"not included): **{watch['number_fps']:.1f} frames/s** reading the whole number (`--number`), "
        f"**{watch['digit_fps']:.1f} frames/s** reading one digit; medians of {len(watch['rounds_fps']['number'])} rounds "
        f"of {watch['frames']} frames. {provenance(report)} A Raspberry Pi's cores are several times slower "
        "than this machine's: measure there with `python3 mnist_edge.pyz --watch picamera --number`, which prints "
        "its own frame rate."
    )


# ---------------------------------------------------------------- reports


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def markdown(report: dict) -> str:
    """The BENCHMARKS.md section: how it was measured, the table per condition and per length, targets."""
    lines = [
        "## Reading whole numbers",
        "",
        provenance(report),
        "",
        f"Model: `{report['model']}` ({report['model_kind']}, sha256 `{str(report['model_sha256'])[:16]}`). Images: {report['numbers']} generated numbers, "
        f"{report['per_condition']} per condition, seed {report['seed']}, split `{report['split']}` "
        f"({'MNIST test digits and held-out fonts' if report['split'] == 'test' else 'validation digits and training fonts'}"
        f"; `mnist_keras/numberset.py`). `?` threshold {report['threshold']} (`reader.MIN_PROBABILITY`, chosen on "
        "validation numbers: docs/NUMBERS.md).",
        "",
        "String: the whole number right (a `?` counts as wrong). Best guess: the same with every digit's top "
        "class instead of `?` (what the reader would answer with no threshold). Digit: true digits found (IoU >= 0.5) and read "
        "right. Segmentation: as many digits as the truth, every box matching. Unsure: numbers shown with a `?`. "
        "Silent: numbers wrong without any `?`. Baselines: *equal split* cuts the ink's box into the true digit "
        "count (it is told the count); *one digit* is today's single-digit path.",
        "",
        "| condition | numbers | string | best guess | digit | segmentation | unsure | silent | equal split: string "
        "| digit | one digit: string | ms (median) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in {**report["conditions"], "all": report["overall"]}.items():
        target = TARGETS.get(name)
        mark = f" (target {_pct(target)})" if target is not None else ""
        lines.append(
            f"| {name}{mark} | {row['numbers']} | {_pct(row['string'])} | {_pct(row['guess_string'])} | {_pct(row['digit'])} | "
            f"{_pct(row['segmentation'])} | {_pct(row['unsure'])} | {_pct(row['silent_errors'])} | "
            f"{_pct(row['equal_split_string'])} | {_pct(row['equal_split_digit'])} | {_pct(row['one_digit_string'])} | "
            f"{row['median_ms']:.0f} |"
        )
    lines += ["", "Handwritten numbers of the `separated` condition by length:", "",
              "| digits | numbers | string | digit | segmentation | equal split: string |", "|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for length, row in sorted(report["separated_by_length"].items(), key=lambda kv: int(kv[0])):
        lines.append(f"| {length} | {row['numbers']} | {_pct(row['string'])} | {_pct(row['digit'])} | "
                     f"{_pct(row['segmentation'])} | {_pct(row['equal_split_string'])} |")  # fmt: skip
    fonts = report["fonts"]
    lines += ["", f"Printed numbers by font (drawn from the {len(fonts['used'])} fonts of the split"
              + "".join(f"; {note}" for note in fonts["missing"]) + "):", "",
              "| font | numbers | string | best guess | digit | segmentation | equal split: string |",
              "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for font, row in sorted(report["printed_by_font"].items()):
        lines.append(f"| {font} | {row['numbers']} | {_pct(row['string'])} | {_pct(row['guess_string'])} | "
                     f"{_pct(row['digit'])} | {_pct(row['segmentation'])} | {_pct(row['equal_split_string'])} |")  # fmt: skip
    t = report["timing"]
    lines += ["", f"Time to read a separated 4-digit image (load, find the ink, cut, one classifier call, the judge and the pair reader, pick, the line reader): "
              f"median {t['median_ms']:.1f} ms over {t['images']} images, {TIMING_ROUNDS} rounds "
              f"({', '.join(f'{x:.1f}' for x in t['rounds_median_ms'])} ms).",
              "", "Targets (string accuracy): " + "; ".join(
                  f"{name} {_pct(report['conditions'][name]['string'])} against {_pct(goal)} "
                  f"({'met' if report['conditions'][name]['string'] >= goal else 'NOT met'})"
                  for name, goal in TARGETS.items() if name in report["conditions"]) + ".",
              "", single_digits_line(report),
              "", "Every number is in `docs/numbers.json` (each image's reading in `docs/numbers_records.jsonl`); "
              "right and wrong readings are drawn in `docs/numbers_examples.png`."]  # fmt: skip
    return "\n".join(lines)


def single_digits_line(report: dict) -> str:
    """The classifier alone on the single digits the numbers are made of, four in a row, beside
    what the reader made of the separated 4-digit numbers."""
    one, threshold = report["single_digits"], report["threshold"]
    text = (
        f"The classifier alone, on the {one['digits']:,} single digits of the split (as MNIST prepared them; the "
        f"handwritten numbers are composed from them): {_pct(one['accuracy'])} read right, {_pct(one['right_sure'])} "
        f"right and at least {threshold} sure ({round(one['wrong_sure'] * one['digits'])} wrong and that sure). "
        f"Four in a row, all right: {_pct(one['four_right'])}; all right and that sure: {_pct(one['four_right_sure'])}."
    )
    four = report.get("conditions", {}).get("separated_4")
    if four is None:
        return text
    text += (f" The reader, on the separated 4-digit numbers: best guess {_pct(four['guess_string'])}, "
             f"right without a `?` {_pct(four['string'])}")  # fmt: skip
    if four["string"] > one["four_right_sure"]:
        text += (": more are sure than the classifier alone would make, as the line reader, where it reads the "
                 "same digits, makes them surer (docs/NUMBERS.md, step 9)")  # fmt: skip
    return text + "."


def examples_png(samples: list, records: list[dict], predict, path: Path, rng_seed: int = 0) -> None:
    """EXAMPLES right and EXAMPLES wrong readings, annotated by ``reader.annotate``, one per row half."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(rng_seed)
    right = [i for i, r in enumerate(records) if r["string"]]
    wrong = [i for i, r in enumerate(records) if not r["string"]]
    picked = [("right", i) for i in rng.permutation(right)[:EXAMPLES]] + [
        ("wrong", i) for i in rng.permutation(wrong)[:EXAMPLES]
    ]
    tiles = []
    for kind, i in picked:
        sample = samples[i]
        picture = reader.annotate(sample.image, reader.read_number(sample.image, predict))
        scale = 120 / picture.height
        picture = picture.resize((max(1, round(picture.width * scale)), 120))
        tile = Image.new("RGB", (max(picture.width, 260), 150), (255, 255, 255))
        tile.paste(picture, (0, 30))
        truth, read = sample.text.replace("\n", "/"), records[i]["read"].replace("\n", "/")
        ImageDraw.Draw(tile).text((2, 2), f"{kind}: {sample.condition}\ntruth {truth}  read {read or '-'}",
                                  fill=(0, 120, 0) if kind == "right" else (200, 0, 0))  # fmt: skip
        tiles.append(tile)
    width = 1400
    rows, row, x = [], [], 0
    for tile in tiles:
        if x + tile.width > width and row:
            rows.append(row)
            row, x = [], 0
        row.append(tile)
        x += tile.width + 6
    rows.append(row)
    sheet = Image.new("RGB", (width, 156 * len(rows)), (235, 235, 235))
    for r, row in enumerate(rows):
        x = 0
        for tile in row:
            sheet.paste(tile, (x, 156 * r))
            x += tile.width + 6
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


RECORD_FIELDS = ("condition", "font", "length", "truth", "read", "string", "guess_string", "digits", "digits_right",
                 "segmented", "unsure")  # fmt: skip


def records_jsonl(records: list[dict]) -> str:
    """One JSON list per number read, fields in :data:`RECORD_FIELDS` order; the field names on the first line."""
    rows = [json.dumps(list(RECORD_FIELDS))] + [
        json.dumps([r[k] for k in RECORD_FIELDS], default=float) for r in records
    ]
    return "\n".join(rows) + "\n"


# ---------------------------------------------------------------- main


def split_fonts(split: str, output: Path) -> dict[str, list[str]]:
    """The fonts the split's printed numbers are drawn from here (``used``) and notes on those missing.

    ``numberset`` draws each printed number's font from the split's fonts found on this
    machine, so without one (Liberation, from Debian's fonts-liberation, is not bundled
    with matplotlib) the printed numbers are other numbers, in other fonts, than those of
    a machine with all of them. A run that would write the repository's docs/ refuses:
    the committed figures are of every font, whichever machine measures them.

    Raises:
        SystemExit: a font is missing and ``output`` is in the repository's docs/.
    """
    found, missing = printed.available_fonts(held_out=split == numberset.TEST)
    if missing and output.resolve().parent == (REPO / "docs").resolve():
        raise SystemExit(f"Error: {'; '.join(missing)}: docs/ holds the figures of every {split} font; "
                         "install the missing ones, or write elsewhere with --output")  # fmt: skip
    return {"used": [font.name for font, _ in found], "missing": missing}


def run(model: str, *, split: str, per_condition: int, seed: int, threshold: float, progress=print):
    """Generate the set, read it, time it, summarise: (the report's figures, the records, the samples, the predictor)."""
    from mnist_keras.data import load_mnist
    from mnist_keras.predict import load_predictor

    predictor = load_predictor(model)
    progress(f"generating {per_condition} numbers per condition ({split})")
    mnist = load_mnist()  # once, for the numbers and for their single digits
    samples = numberset.make_set(split, per_condition, seed=seed, mnist=mnist)
    progress(f"reading {len(samples)} numbers")
    records = evaluate(samples, predictor.predict_proba, threshold, progress)
    singles = single_digits(numberset.pool(split, mnist), predictor.predict_proba, threshold)
    timing = time_four_digits(samples, predictor.predict_proba)
    watch = time_watch(predictor.predict_proba)
    figures = {
        "model": str(model), "model_kind": predictor.kind,
        "model_sha256": hashlib.sha256(Path(model).read_bytes()).hexdigest() if Path(model).is_file() else None,
        "split": split, "seed": seed, "per_condition": per_condition, "numbers": len(samples), "threshold": threshold,
        "timing": timing, "watch": watch, "single_digits": singles,
        "conditions": summarise(records, lambda r: r["condition"]),
        "overall": summarise(records, lambda r: "all")["all"],
        "separated_by_length": summarise([r for r in records if r["condition"] == "separated"], lambda r: r["length"]),
        "printed_by_font": summarise([r for r in records if r["condition"] == "printed"], lambda r: r["font"]),
        "thresholds": threshold_costs(records),
    }  # fmt: skip
    if split == numberset.VALIDATION:
        figures["chosen_threshold"] = choose_threshold(records)
    return figures, records, samples, predictor.predict_proba


BLOCKS = [
    Block("numbers", "numbers.json", markdown, "## Reading whole numbers", __file__),
    Block("watch-frame-rate", "numbers.json", render_watch, "", __file__),
]


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__, quick=f"{QUICK_PER_CONDITION} numbers per condition", source="numbers.json")
    args.add_argument("--model", default=None, help="A .tflite or .keras model. Default: the shipped model.")
    args.add_argument("--split", choices=(numberset.TEST, numberset.VALIDATION), default=numberset.TEST,
                      help="Numbers from MNIST test digits and held-out fonts (test, the default) or from the "
                           "validation digits and training fonts (validation: for choices).")  # fmt: skip
    args.add_argument("--per-condition", type=int, default=DEFAULT_PER_CONDITION, help="Numbers per condition.")
    args.add_argument("--seed", type=int, default=0, help="Seed of the generated numbers.")
    args.add_argument("--threshold", type=float, default=reader.MIN_PROBABILITY,
                      help="Probability below which a digit is shown as '?' (default: reader.MIN_PROBABILITY).")  # fmt: skip
    args = args.parse_args(argv)
    report = start(__file__, argv, "ai-edge-litert", "numpy", "pillow")
    per_condition = QUICK_PER_CONDITION if args.quick else args.per_condition
    fonts = split_fonts(args.split, Path(args.output))
    try:
        model = args.model or str(default_model(REPO))
        figures, records, samples, predict = run(model, split=args.split, per_condition=per_condition,
                                                 seed=args.seed, threshold=args.threshold)  # fmt: skip
    except MnistKerasError as err:  # a wrong --model, no MNIST: one line, exit 1
        raise SystemExit(f"Error: {err}") from None
    report = finish({**report, **figures, "fonts": fonts})
    output = Path(args.output)
    if args.split == numberset.VALIDATION:
        for row in report["thresholds"]:
            print(f"  {row['threshold']:.3f}: numbers wrong without ? {row['silent_errors']:4d}  right guess with ? "
                  f"{row['right_flagged']:4d}  wrong with ? {row['wrong_flagged']:4d}  cost {row['cost']:.0f}")  # fmt: skip
        print(f"chosen threshold: {report['chosen_threshold']} (SILENT_ERROR_COST {SILENT_ERROR_COST})")
        write_json(output.with_name("numbers_validation.json"), report)
        return
    print(publish(report, BLOCKS, output))
    write_text(output.with_name("numbers_records.jsonl"), records_jsonl(records))
    examples_png(samples, records, predict, output.with_name("numbers_examples.png"))


if __name__ == "__main__":
    main()
