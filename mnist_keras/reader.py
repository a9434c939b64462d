"""Read whole numbers (several digits, several lines) in an image with a single-digit classifier.

numpy + Pillow + this package's ``preprocess``, ``marks`` and ``segment`` and its
small numpy networks (``whole``, ``pairs``, ``lines``) only, so it runs on a Raspberry
Pi beside a LiteRT interpreter and fits in a zipapp. The classifier is any
``predict_proba((N, 28, 28, 1) uint8) -> (N, 10)``, e.g.
``predict.load_predictor(path).predict_proba``.

    from mnist_keras.predict import load_predictor
    from mnist_keras.reader import read_number, annotate

    reading = read_number("meter.jpg", load_predictor("robust_int8.tflite").predict_proba)
    reading.text            # "14422", "3?5" (a digit the model is unsure of), "12\n345" (two lines)
    reading.as_dict()       # JSON: text, lines, and per digit its box, guess, probability, candidates
    annotate("meter.jpg", reading).save("read.png")

How (``segment.py`` does steps 1-3, no classifier):

1. find the ink as for one digit, split it into marks, drop specks, group the strokes
   of one digit, sort them into lines;
2. cut blobs that may hold touching digits into pieces (near-vertical cuts at thin
   columns of ink, weighed by its strength; at even splits of wide blobs and at a
   printed digit's pitch in long ones; between marks side by side);
3. make every run of a few consecutive pieces a candidate digit, normalised like
   ``to_mnist`` (``preprocess.ink_to_mnist``);
4. classify all candidates of the image in one ``predict_proba`` call, and ask the
   whole-digit judge (``whole.py``) whether each is one whole digit;
5. read the candidates wide enough for two digits (``Candidate.wide``) with the pair
   reader (``pairs.py``), which reads two touching digits whole instead of cut apart,
   or says the candidate is not a pair;
6. per line, dynamic programming picks the candidates that cover its pieces with the
   highest total score: for one digit, the log of its top probability plus half the
   log of the judge's (the model alone is as sure of two touching digits squeezed into
   one 20x20 box, or of half a 0, as of a real digit) and, for a wide one, half the
   log of the pair reader's "not a pair", less a cost for empty space inside a digit
   (separate blobs joined); for a pair, the log of the pair reader's top pair;
7. the line reader (``lines.py``) reads each line whole, with no cuts; where it reads
   the same digits as step 6 chose, each digit's probabilities are the product of
   the classifier's and the line reader's (CTC: how well its columns spell the line
   with each digit in that place), renormalised; where it reads others, the two
   readings are scored by how well the line reader's columns spell each (CTC) and
   how sure the classifier is of each cut digit, less a cost per digit more or
   fewer than the cuts found, and the higher wins, mostly the line reader's
   (``_with_line_reader``, ``_cuts_win``);
8. a digit whose probability is below the threshold is shown as ``?`` with its
   candidates: the reader never guesses silently. A digit of a pair has its marginal
   probability over the pairs.

Choices were made on the *validation* numbers of ``numberset`` (MNIST's validation
digits and the training fonts), never on the test numbers. MIN_PROBABILITY is the
threshold with the lowest cost on them when a number read wrong without a ``?``
costs ``SILENT_ERROR_COST`` (5) numbers not read (``scripts/benchmark_numbers.py
--split validation`` prints the sweep); docs/NUMBERS.md says how, and what the
reader gets right and wrong (docs/BENCHMARKS.md, "Reading whole numbers").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from . import lines, pairs, whole
from .preprocess import LINE_LEFT, Source, ink_to_line, ink_to_pair, line_placement, load_grayscale, source_name
from .segment import MAX_DIGITS, Candidate, Page, TooManyMarksError, prepare, several_digits, source_box

__all__ = ["MAX_DIGITS", "Digit", "Reading", "TooManyMarksError", "annotate", "read_number", "several_digits"]

PredictProba = Callable[[np.ndarray], np.ndarray]  # (N, 28, 28, 1) uint8 -> (N, 10) probabilities
PairProba = Callable[[np.ndarray], np.ndarray]  # (N, 28, 56) uint8 -> (N, pairs.CLASSES) probabilities
LineProba = Callable[[np.ndarray], np.ndarray]  # (N, 32, 192) uint8 -> (N, lines.LINE_STEPS, lines.OUTPUTS)
Cut = tuple[np.ndarray, tuple[int, int, int, int]]  # a digit the cuts read: its (10,) probabilities, its box

MIN_PROBABILITY = 0.97  # below this a digit is shown as "?" (chosen on validation numbers: module docstring)
TOP_K = 3  # candidates kept per digit
SURE_COLOUR, UNSURE_COLOUR = (0, 160, 0), (220, 0, 0)  # RGB of annotate's boxes
PIECE_GAP_COST = 4.0  # per digit height of empty columns between blobs joined into one digit
MIN_LOG_PROBABILITY = -12.0  # int8 models output exact zeros
WHOLE_WEIGHT = 0.5  # of the whole-digit judge's log probability in a candidate's score
NOT_PAIR_WEIGHT = 0.5  # of the pair reader's log probability of "not a pair" in a wide candidate's score
SKIP_COST = 100.0  # leaving out a piece that candidates cover: more than any reading of it costs
CUT_WEIGHT = 0.5  # of the cuts' log probability of a line's digits, against the line reader's (_cuts_win)
LENGTH_COST = 1.5  # per digit more or fewer than the cuts found, on a reading's score (_cuts_win; chosen on validation)


@dataclass(frozen=True)
class Digit:
    """One digit read.

    Attributes:
        box: (left, top, right, bottom) of its ink in the source image's pixels, right and bottom exclusive.
        digit: the model's best guess, even when unsure.
        probability: the model's probability for it.
        candidates: the TOP_K most probable digits, ``(digit, probability)``, best first.
        line: which line of the number it is on, 0 for the top one.
        sure: whether ``probability`` reached the threshold; otherwise it is shown as ``?``.
    """

    box: tuple[int, int, int, int]
    digit: int
    probability: float
    candidates: tuple[tuple[int, float], ...]
    line: int
    sure: bool

    @property
    def char(self) -> str:
        """The digit, or ``?`` when the model was not sure."""
        return str(self.digit) if self.sure else "?"

    def as_dict(self) -> dict:
        return {"char": self.char, "digit": self.digit, "probability": round(self.probability, 4),
                "candidates": [[d, round(p, 4)] for d, p in self.candidates], "box": list(self.box),
                "line": self.line, "sure": self.sure}  # fmt: skip


@dataclass(frozen=True)
class Reading:
    """A number read from an image: its digits in reading order, line by line.

    Attributes:
        digits: every digit, lines top to bottom, left to right within a line.
        size: (width, height) of the source image, the frame of the boxes.
    """

    digits: tuple[Digit, ...]
    size: tuple[int, int]

    @property
    def lines(self) -> tuple[str, ...]:
        """One string per line, ``?`` for unsure digits."""
        count = max((d.line for d in self.digits), default=-1) + 1
        return tuple("".join(d.char for d in self.digits if d.line == i) for i in range(count))

    @property
    def text(self) -> str:
        """The lines joined by newlines: ``"14422"``, ``"3?5"``, ``"12\\n34"``."""
        return "\n".join(self.lines)

    @property
    def sure(self) -> bool:
        """Whether every digit was read with at least the threshold probability."""
        return all(d.sure for d in self.digits)

    def as_dict(self) -> dict:
        """JSON-ready: text, lines, image size and every digit's box, guess and candidates."""
        return {"text": self.text, "lines": list(self.lines), "sure": self.sure,
                "size": list(self.size), "digits": [d.as_dict() for d in self.digits]}  # fmt: skip


def _log(p: np.ndarray) -> np.ndarray:
    return np.maximum(np.log(np.maximum(p, 1e-300)), MIN_LOG_PROBABILITY)


def _scores(candidates: Sequence[Candidate], proba: np.ndarray, judged: np.ndarray, pair: np.ndarray) -> np.ndarray:
    """(N,) how good each candidate is as one digit: the log of the model's top probability,
    plus WHOLE_WEIGHT times the log of the whole-digit judge's (``judged``, ``whole.py``: the
    model is as sure of two squeezed digits or half a digit as of one) and NOT_PAIR_WEIGHT
    times the log of the pair reader's "not a pair" where it read the candidate (``pair``, NaN
    rows where not: it is the one that has seen two touching digits that look like one), less
    PIECE_GAP_COST per digit height of empty columns inside it (blobs joined across a gap)."""
    not_pair = _log(np.nan_to_num(pair[:, pairs.NOT_PAIR], nan=1.0))
    return (_log(proba.max(axis=1)) + WHOLE_WEIGHT * _log(judged) + NOT_PAIR_WEIGHT * not_pair
            - PIECE_GAP_COST * np.array([c.gap for c in candidates]))  # fmt: skip


def _best_split(line_length: int, spans: Sequence[tuple[int, int]], scores: np.ndarray) -> list[int]:
    """Indices of the options (``(first, stop)`` runs of pieces) that cover a line's pieces, in order,
    with the highest total score.

    Dynamic programming over piece boundaries; a piece that no option covers (too
    little ink for any digit) is skipped, and so, at SKIP_COST, is one that the
    options cover but cannot reach the line's end from. Ties go to fewer digits, then
    to the earlier option (a single digit before a pair over the same pieces).
    """
    best = np.full(line_length + 1, -np.inf)
    best[0] = 0.0
    back: list[tuple[int, int | None]] = [(0, None)] * (line_length + 1)
    starting: dict[int, list[int]] = {}
    for i, (first, _) in enumerate(spans):
        starting.setdefault(first, []).append(i)
    covered = {k for first, stop in spans for k in range(first, stop)}
    for at in range(line_length):
        if best[at] == -np.inf:
            continue
        skip = best[at] - (SKIP_COST if at in covered else 0.0)
        if skip > best[at + 1]:
            best[at + 1], back[at + 1] = skip, (at, None)
        for i in sorted(starting.get(at, []), key=lambda i: -spans[i][1]):  # longest first: ties to fewer digits
            stop = spans[i][1]
            if best[at] + scores[i] > best[stop]:
                best[stop], back[stop] = best[at] + scores[i], (at, i)
    chosen, at = [], line_length
    while at > 0:
        at, i = back[at]
        if i is not None:
            chosen.append(i)
    return chosen[::-1]


# ---------------------------------------------------------------- reading


def _digit(proba: np.ndarray, box, line: int, threshold: float, top_k: int) -> Digit:
    order = np.argsort(-proba, kind="stable")[:top_k]
    best = int(order[0])
    return Digit(box, best, float(proba[best]), tuple((int(d), float(proba[d])) for d in order), line,
                 bool(proba[best] >= threshold))  # fmt: skip


def read_number(source: Source, predict_proba: PredictProba, *, threshold: float = MIN_PROBABILITY,
                top_k: int = TOP_K, name: str | None = None,
                pair_proba: PairProba | None = pairs.probabilities,
                line_proba: LineProba | None = lines.probabilities) -> Reading:  # fmt: skip
    """Read the number (one or more lines of digits) in an image.

    Args:
        source: a path, bytes, PIL image or numpy array, as ``preprocess.to_mnist`` takes.
        predict_proba: the classifier, (N, 28, 28, 1) uint8 -> (N, 10) probabilities.
        threshold: digits with a lower probability are shown as ``?``.
        top_k: candidates kept per digit.
        name: how errors name the image (default: the path, or "image").
        pair_proba: the pair reader for two touching digits (``pairs.py``); None reads with
            ``predict_proba`` alone.
        line_proba: the line reader (``lines.py``), which reads each line whole; None keeps
            what the cuts read.

    Raises:
        ImageError: the image cannot be read.
        NoDigitError: the image holds no ink (blank, too little contrast).
        TooManyMarksError: far more marks than a number holds (text, texture).
    """
    page = prepare(source, name or source_name(source))
    flat = [c for cands in page.candidates for c in cands]
    if not flat:
        return Reading((), page.size)
    proba = np.asarray(predict_proba(np.stack([c.crop for c in flat])[..., np.newaxis]), np.float64)
    judged = whole.probability(flat)
    pair = np.full((len(flat), pairs.CLASSES), np.nan)
    if pair_proba is not None:
        wide = [i for i, c in enumerate(flat) if c.wide]
        if wide:
            crops = np.stack([ink_to_pair(flat[i].ink) for i in wide])
            pair[wide] = np.asarray(pair_proba(crops), np.float64)
    columns = None
    if line_proba is not None:
        columns = np.asarray(line_proba(np.stack([ink_to_line(ink) for ink in page.line_ink])), np.float64)
    return _assemble(page, proba, judged, pair, columns, threshold=threshold, top_k=top_k)


def _pair_digits(i: int, cands: Sequence[Candidate], proba: np.ndarray, pair: np.ndarray, factor: int,
                 size: tuple[int, int]) -> list[Cut]:  # fmt: skip
    """The two digits that the pair reader read in candidate ``i``: each digit's probabilities are its
    marginals over the pairs, and the boxes are those of the two single candidates over the same
    pieces that the classifier finds most like them (the box cut in half if there are none)."""
    joint = pair[i, : pairs.NOT_PAIR].reshape(10, 10)
    left, right = joint.sum(axis=1), joint.sum(axis=0)
    d1, d2 = int(np.argmax(left)), int(np.argmax(right))
    c = cands[i]
    halves = [(_log(proba[a, d1]) + _log(proba[b, d2]), a, b) for a, ca in enumerate(cands) for b, cb in enumerate(cands)
              if ca.first == c.first and cb.stop == c.stop and ca.stop == cb.first]  # fmt: skip
    if halves:
        _, a, b = max(halves)
        boxes = [cands[a].box, cands[b].box]
    else:
        top, lft, bottom, rgt = c.box
        middle = (lft + rgt) // 2
        boxes = [(top, lft, bottom, middle), (top, middle + 1, bottom, rgt)]
    return [(left, source_box(boxes[0], factor, size)), (right, source_box(boxes[1], factor, size))]


def _assemble(page: Page, proba: np.ndarray, judged: np.ndarray, pair: np.ndarray, columns: np.ndarray | None,
              *, threshold: float, top_k: int) -> Reading:  # fmt: skip
    """Pick each line's best split into digits (and pairs of digits), let the line reader have its
    say (``_with_line_reader``) and turn it into a Reading.

    For the page's N candidates, line after line: ``proba`` (N, 10) is the classifier's,
    ``judged`` (N,) the whole-digit judge's and ``pair`` (N, pairs.CLASSES) the pair
    reader's (NaN rows: not read as a pair); ``columns`` (lines, LINE_STEPS, OUTPUTS) is
    the line reader's, or None.
    """
    scores = _scores([c for cands in page.candidates for c in cands], proba, judged, pair)
    pair_scores = _log(np.nan_to_num(pair[:, : pairs.NOT_PAIR].max(axis=1), nan=0.0))
    digits, offset, line_no = [], 0, 0
    for k, (length, cands) in enumerate(zip(page.lengths, page.candidates)):
        here = slice(offset, offset + len(cands))
        wide = [i for i in range(len(cands)) if not np.isnan(pair[offset + i, 0])]
        spans = [(c.first, c.stop) for c in cands] + [(cands[i].first, cands[i].stop) for i in wide]
        chosen = _best_split(length, spans, np.concatenate([scores[here], pair_scores[here][wide]]))
        cut: list[Cut] = []
        for j in chosen:
            if j < len(cands):
                cut.append((proba[offset + j], source_box(cands[j].box, page.factor, page.size)))
            else:
                cut += _pair_digits(wide[j - len(cands)], cands, proba[here], pair[here], page.factor, page.size)
        if columns is None:
            found = [_digit(p, box, line_no, threshold, top_k) for p, box in cut]
        else:
            found = _with_line_reader(cut, columns[k], page, k, line_no, threshold, top_k)
        digits += found
        offset += len(cands)
        line_no += bool(found)
    return Reading(tuple(digits), page.size)


def _with_line_reader(cut: Sequence[Cut], columns: np.ndarray, page: Page, k: int, line_no: int,
                      threshold: float, top_k: int) -> list[Digit]:  # fmt: skip
    """Line ``k``'s digits from what the cuts read (``cut``) and the line reader's ``columns`` (its
    (LINE_STEPS, OUTPUTS)).

    The line reader's say on each digit it read is ``lines.digit_probabilities``: how
    well the columns spell the line with each digit 0-9 in its place. Where both read
    the same digits, each digit keeps the cut's box, and its probabilities are the
    product of the two readers', renormalised (a product of experts): a digit both
    are fairly sure of becomes surer, one where both doubt between the same two
    digits stays in doubt. Where they differ, the two readings are weighed
    (``_cuts_win``): the line reader's usually wins, since it reads touching and
    overlapping digits whole where the cuts misread them (docs/NUMBERS.md), with its
    probabilities and candidates, in the cuts' boxes when there are as many, else in
    boxes around the ink each column looked at. A line the line reader reads as
    empty keeps the cuts' digits.
    """
    found = [_digit(p, box, line_no, threshold, top_k) for p, box in cut]
    (reading,) = lines.decode(columns[np.newaxis])
    text = "".join(str(d.digit) for d in found)
    if not reading.text or (text != reading.text and _cuts_win(cut, text, reading.text, columns)):
        return found
    said = lines.digit_probabilities(columns, reading.text)
    if reading.text == text:
        both = [p * q / (p @ q) for (p, _), q in zip(cut, said)]
        return [_digit(p, box, line_no, threshold, top_k) for p, (_, box) in zip(both, cut)]
    if len(cut) == len(reading.text):
        boxes = [box for _, box in cut]
    else:
        boxes = _column_boxes(reading.columns, page, k)
    return [_digit(p, box, line_no, threshold, top_k) for p, box in zip(said, boxes)]


def _cuts_win(cut: Sequence[Cut], cuts_text: str, line_text: str, columns: np.ndarray) -> bool:
    """Whether the cuts' reading of a line beats the line reader's, where they differ.

    Each reading scores the line reader's CTC log probability of its digits
    (``lines.log_likelihood``: how well the columns spell them, not only the likeliest
    column by column) plus CUT_WEIGHT times the cuts' log probability of them: the sum
    over the cut digits of the log of the probability of that reading's digit there
    (nothing for a reading of another number of digits than the cuts found: the cuts
    cannot say). So the cuts win where the columns nearly spell their digits too and
    the classifier is surer of them; a cut that misread a touching pair loses to the
    columns. A reading of another number of digits pays LENGTH_COST per digit more or
    fewer: without it, it would get the best cut score there is (nothing to pay) for a
    count the cuts contradict, and the columns spell a doubled stroke or a digit's
    tail as one more digit almost as readily as not.
    """

    def score(text: str) -> float:
        cut_score = sum(float(_log(p[int(char)])) for (p, _), char in zip(cut, text)) if len(text) == len(cut) else 0.0
        return lines.log_likelihood(columns, text) + CUT_WEIGHT * cut_score - LENGTH_COST * abs(len(text) - len(cut))

    return bool(cut) and score(cuts_text) > score(line_text)


def _column_boxes(at: Sequence[int], page: Page, k: int) -> list[tuple[int, int, int, int]]:
    """Source boxes of the digits that line ``k``'s reader emitted at columns ``at``: the line's ink
    is split halfway between the ink columns under them, and each part's ink boxed."""
    ink, (top, left) = page.line_ink[k], page.line_origins[k]
    (ink_top, ink_left, ink_bottom, ink_right), scale = line_placement(ink)
    centres = np.clip([ink_left + ((t + 0.5) * lines.STRIDE - LINE_LEFT) / scale for t in at], ink_left, ink_right)
    edges = [ink_left] + [round((a + b) / 2) for a, b in pairwise(centres)] + [ink_right + 1]
    boxes = []
    for a, b in pairwise(edges):
        rows, cols = np.nonzero(ink[:, a:b].any(axis=1))[0], np.nonzero(ink[:, a:b].any(axis=0))[0]
        at_edge = min(a, ink_right)  # no ink between its neighbours' halves: a sliver where it was read
        box = (rows[0], a + cols[0], rows[-1], a + cols[-1]) if len(cols) else (ink_top, at_edge, ink_bottom, at_edge)
        boxes.append(source_box((top + box[0], left + box[1], top + box[2], left + box[3]), page.factor, page.size))
    return boxes


# ---------------------------------------------------------------- pictures


def _label_font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1
    except TypeError:
        return ImageFont.load_default()


def annotate(image: Source, reading: Reading) -> Image.Image:
    """The image in grey (as the reader saw it, EXIF rotation applied) with each digit's box and reading:
    SURE_COLOUR digits, UNSURE_COLOUR ``?`` followed by the best guess; a label goes above its box, or
    below it when the box touches the top of the picture."""
    gray = load_grayscale(image)
    picture = Image.fromarray(np.rint(gray).astype(np.uint8)).convert("RGB")
    pen = ImageDraw.Draw(picture)
    line = max(1, round(max(picture.size) / 400))
    for d in reading.digits:
        colour = SURE_COLOUR if d.sure else UNSURE_COLOUR
        left, top, right, bottom = d.box
        pen.rectangle([left, top, right - 1, bottom - 1], outline=colour, width=line)
        size = max(10, (bottom - top) // 3)
        label = d.char if d.sure else f"?{d.digit}"
        above = top - size - 2 * line
        y = above if above >= 0 or bottom + size + 2 * line > picture.height else bottom + line  # else below the box
        pen.text((left, max(0, y)), label, fill=colour, font=_label_font(size))
    return picture
