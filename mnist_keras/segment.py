"""Where the digits of a number may be: marks, strokes, lines, cuts and candidate crops (numpy + Pillow only).

The first half of reading a number (``reader.py`` is the second: classify the
candidates, pick the best split). No classifier here, so ``several_digits`` is cheap.

1. The image's ink is found as for one digit (``preprocess.find_ink``: background,
   polarity, salt noise, fog) and split into 8-connected marks; specks are dropped.
2. Marks that overlap across part of the narrower one's width and lie close above
   each other are strokes of one digit (a 4 or 5 drawn in two strokes, a 7 with a
   bar): they are grouped into a *blob*.
3. Blobs that overlap vertically (chained, so a drifting baseline stays one line)
   form a line; lines are read top to bottom, blobs left to right.
4. A blob at least CUT_ASPECT times as wide as tall may hold several digits that
   touch: it is cut into *pieces* by near-vertical paths that start at thin columns
   (valleys of the column profile, each pixel weighed by its ink's strength), at even
   halves and thirds of a wide blob and at printed digits' PITCHES in a long one,
   and cross only one mark (a cut across two marks would split a digit drawn in
   strokes); and between marks that stand side by side (overlapping digits drawn apart).
5. Every run of up to MAX_PIECES consecutive pieces of a line is a *candidate* digit
   (across blobs only whole blobs, at most MAX_GAP apart): its ink (whole marks when
   most of a mark lies between its cuts, none of a mark with little ink there, else
   the mark's part between them) goes through ``preprocess.ink_to_mnist`` like a
   single digit, and is kept for the pair reader (``pairs.py``), which reads
   candidates at least PAIR_ASPECT as wide as tall (``Candidate.wide``); its
   ``context`` (the candidate among its neighbours, at the number's scale) is what
   ``whole.py`` judges it by.

Constants were chosen on the validation numbers of ``numberset`` (docs/NUMBERS.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .marks import components
from .preprocess import (
    ImageError,
    Ink,
    Source,
    dilate,
    find_ink,
    ink_to_mnist,
    load_grayscale,
    source_name,
    work_image,
)

MAX_DIGITS = 30  # more digit-sized marks than this is not a number (text, texture)
MAX_MARKS = 20 * MAX_DIGITS  # marks of any size: beyond this the image is refused before grouping
BIG_SHARE = 0.25  # of the biggest mark's pixels: marks this big set the digit height and size
DIGIT_ASPECT = 0.8  # width / height of a typical digit (MNIST's median): a wider mark counts as several
SPECK_SHARE = 0.05  # of a typical digit mark's pixels: smaller marks ...
SPECK_SIDE = 0.3  # ... shorter than this share of the digit height are specks
STROKE_OVERLAP = 0.3  # of the narrower mark's width: marks overlapping this much across ...
STROKE_GAP = 0.25  # ... with at most this gap (digit heights) between them are strokes of one digit
MAX_DIGIT_HEIGHT = 1.6  # digit heights: strokes grouped into one digit are never taller than this
LINE_OVERLAP = 0.3  # of the shorter blob's height: blobs overlapping this much vertically share a line
MIN_PIECE = 0.15  # digit heights: a cut never leaves a piece narrower than this
CUT_HEIGHT = 0.6  # digit heights: shorter blobs (strokes) are never cut
CUT_ASPECT = 0.7  # width / height: narrower blobs are never cut (as good on validation, fewer crops)
VALLEY_DEPTH = 0.75  # a valley's ink is at most this share of the highest column on either side
SPLIT_ASPECT = 0.4  # a blob wider than this many heights per digit is also cut evenly into 2 (3) digits
PITCHES = (0.5, 0.6, 0.7)  # digit widths (in heights) of printed digits run together into one blob
PATH_REACH = 0.05  # of the blob's height: how far a cut may stray from the column it starts at
PATH_STRAY_COST = 0.02  # per column strayed per row, against 1 per ink pixel crossed
MAX_CUTS = 8  # valleys kept per blob, the deepest first ...
CUTS_PER_HEIGHT = 3.0  # ... or this many per blob height of width, if more (long blobs of printed digits)
MAX_PIECES = 4  # consecutive pieces one digit may be made of
MIN_DIGIT_SHARE = 0.12  # of a typical digit's pixels: a candidate with less ink is no digit
MAX_GAP = 0.15  # digit heights of empty columns: a run of pieces with more inside is no digit
MAX_ASPECT = 2.2  # line heights: a run of pieces wider than this is no digit
PAIR_ASPECT = 0.5  # width / height: narrower candidates are never read as two digits (``pairs.py``)


class TooManyMarksError(ImageError):
    """The image holds far more marks than a number can (a photo of text, a texture)."""


# ---------------------------------------------------------------- marks and blobs


@dataclass
class _Marks:
    """The image's marks: labels over the work image and each mark's pixel count and box."""

    labels: np.ndarray  # (H, W) intp, 0 = no ink; rim pixels carry their stroke's label
    sizes: np.ndarray  # (n,) seed pixels of marks 1..n
    boxes: np.ndarray  # (n, 4) top, left, bottom, right, inclusive
    height: float  # typical digit height, px
    typical: float  # typical digit mark size, px


def _find_marks(ink: Ink, name: str) -> _Marks:
    """Label the seed ink, attach the faint rim to its strokes, drop specks.

    Raises:
        TooManyMarksError: more than MAX_MARKS marks (before specks are dropped).
    """
    seeds = ink.seeds
    labels, sizes, boxes = components(seeds)
    if len(sizes) > MAX_MARKS:
        raise TooManyMarksError(_too_many(name, f"{len(sizes)} separate marks"))
    big = sizes >= BIG_SHARE * sizes.max()
    heights, widths = boxes[big, 2] - boxes[big, 0] + 1, boxes[big, 3] - boxes[big, 1] + 1
    height = float(np.median(heights))
    digits = np.maximum(1.0, widths / (DIGIT_ASPECT * heights))  # a long mark is several digits run together
    typical = float(np.median(sizes[big] / digits))
    sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) + 1
    speck = (sizes < SPECK_SHARE * typical) & (sides < SPECK_SIDE * height)
    keep = np.concatenate([[0], np.where(speck, 0, np.arange(1, len(sizes) + 1))]).astype(np.intp)
    labels = keep[labels]
    faint = ink.faint
    for _ in range(2):  # the anti-aliased rim, as preprocess._grow: 2 px into faint ink
        labels = np.where((labels == 0) & faint, dilate(labels), labels)
    return _Marks(labels, np.where(speck, 0, sizes), boxes, height, typical)


def _too_many(name: str, what: str) -> str:
    return (f"cannot read a number in {name}: it holds {what}, more than a number of up to "
            f"{MAX_DIGITS} digits can; use an image of the number alone")  # fmt: skip


def _connected(joined: np.ndarray) -> np.ndarray:
    """(n, n) bool adjacency -> (n,) intp group of each node (the smallest member's index)."""
    group = np.arange(len(joined), dtype=np.intp)
    while True:
        new = np.min(np.where(joined, group[np.newaxis, :], len(joined)), axis=1)
        new = np.minimum(new, group)
        if np.array_equal(new, group):
            return group
        group = new[new]


def _stroke_groups(boxes: np.ndarray, height: float) -> tuple[np.ndarray, float]:
    """(n, 4) mark boxes -> ((n,) group per mark: strokes of one digit share a group, the digit height).

    Marks overlap across at least STROKE_OVERLAP of the narrower's width, with at most
    STROKE_GAP digit heights between them, and make a group no taller than
    MAX_DIGIT_HEIGHT digits.  The digit height is taken twice: from the marks, then
    from the groups they make (when every digit is in two strokes, a mark is half a digit).
    """
    top, left, bottom, right = (boxes[:, i] for i in range(4))
    overlap = np.minimum(right[:, None], right[None]) - np.maximum(left[:, None], left[None]) + 1
    narrower = np.minimum((right - left + 1)[:, None], (right - left + 1)[None])
    gap = np.maximum(top[:, None], top[None]) - np.minimum(bottom[:, None], bottom[None]) - 1
    tall = np.maximum(bottom[:, None], bottom[None]) - np.minimum(top[:, None], top[None]) + 1
    strokes = (overlap >= STROKE_OVERLAP * narrower) & (gap <= STROKE_GAP * height)
    group = _connected(strokes)
    heights = [np.ptp(np.r_[top[group == g], bottom[group == g]]) + 1 for g in np.unique(group)]
    height = max(height, float(np.median(heights)))
    return _connected(strokes & (tall <= MAX_DIGIT_HEIGHT * height)), height


def _line_groups(boxes: np.ndarray) -> np.ndarray:
    """(b, 4) blob boxes -> (b,) line of each blob, numbered top to bottom."""
    top, bottom = boxes[:, 0], boxes[:, 2]
    overlap = np.minimum(bottom[:, None], bottom[None]) - np.maximum(top[:, None], top[None]) + 1
    shorter = np.minimum((bottom - top + 1)[:, None], (bottom - top + 1)[None])
    group = _connected(overlap >= LINE_OVERLAP * shorter)
    ids = np.unique(group)
    centres = np.array([np.median((top + bottom)[group == g]) for g in ids])
    rank = np.empty(len(ids), np.intp)
    rank[np.argsort(centres, kind="stable")] = np.arange(len(ids))
    return rank[np.searchsorted(ids, group)]


def _union(boxes: np.ndarray) -> np.ndarray:
    return np.array([boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()], np.intp)


@dataclass
class _Blob:
    """Marks grouped as strokes of one digit, or of touching digits: the unit that is cut."""

    marks: np.ndarray  # (k,) intp labels
    box: np.ndarray  # (4,) top, left, bottom, right, inclusive
    line: int = 0
    paths: list[np.ndarray] = field(default_factory=list)  # cuts, (h,) column per row, left edge to right edge
    labels: np.ndarray | None = None  # (h, w) its marks' labels over its box, 0 elsewhere
    cumulative: dict[int, np.ndarray] = field(default_factory=dict)  # mark -> (h, w + 1) pixels left of each column
    crossed: list[float] = field(default_factory=list)  # per path: the ink it crosses (strength summed)


def _blobs(marks: _Marks, name: str) -> list[_Blob]:
    """Group the marks into blobs and lines; reading order (line, left edge).

    Raises:
        TooManyMarksError: more than MAX_DIGITS digit-sized blobs.
    """
    kept = np.flatnonzero(marks.sizes) + 1  # labels
    boxes = marks.boxes[kept - 1]
    group, marks.height = _stroke_groups(boxes, marks.height)
    blobs = [_Blob(kept[group == g], _union(boxes[group == g])) for g in np.unique(group)]
    sizes = [marks.sizes[b.marks - 1].sum() for b in blobs]
    digit_sized = sum(s >= MIN_DIGIT_SHARE * marks.typical for s in sizes)
    if digit_sized > MAX_DIGITS:
        raise TooManyMarksError(_too_many(name, f"{digit_sized} digit-sized marks"))
    lines = _line_groups(np.stack([b.box for b in blobs]))
    for blob, line in zip(blobs, lines):
        blob.line = int(line)
    return sorted(blobs, key=lambda b: (b.line, b.box[1], b.box[3]))


# ---------------------------------------------------------------- cutting blobs


def _valleys(profile: np.ndarray, min_piece: int, height: int) -> list[int]:
    """Columns where a blob may be cut: thin ink between two thicker parts, deepest first.

    A valley is a local minimum (over 5 columns) of the (w,) ink profile, at most
    VALLEY_DEPTH of the highest column on its thinner side, min_piece from the edges
    and from a deeper valley.
    """
    x = np.arange(min_piece, len(profile) - min_piece + 1)
    if len(x) == 0:
        return []
    local = np.lib.stride_tricks.sliding_window_view(np.pad(profile.astype(np.float64), 2, constant_values=np.inf), 5)
    left = np.maximum.accumulate(profile)[x - 1]  # highest column before x
    right = np.maximum.accumulate(profile[::-1])[::-1][x]  # highest column from x on
    side = np.minimum(left, right)
    valley = (profile[x] <= local[x].min(axis=1)) & (profile[x] <= VALLEY_DEPTH * side)
    depth = profile[x] / np.maximum(1, side)
    cuts: list[int] = []
    for i in np.lexsort((x, depth)):  # deepest first, then leftmost
        if valley[i] and all(abs(int(x[i]) - c) >= min_piece for c in cuts):
            cuts.append(int(x[i]))
    return cuts[: max(MAX_CUTS, round(CUTS_PER_HEIGHT * len(profile) / height))]


def _start_columns(blob: _Blob, marks: _Marks, ink: np.ndarray) -> tuple[list[int], list[int]]:
    """Columns (in the blob's box) where cuts start: (through ink: valleys and even splits of a
    wide blob; between marks that stand side by side)."""
    height, width = ink.shape
    min_piece = max(2, round(MIN_PIECE * max(height, marks.height)))
    if width < max(2 * min_piece, CUT_ASPECT * height) or height < CUT_HEIGHT * marks.height:
        return [], []  # too narrow for two digits, or too short to be even one (a stroke)
    through = _valleys(ink.sum(axis=0), min_piece, height)
    for parts in (2, 3):  # a wide blob may be 2 or 3 touching digits without a clear valley
        if width >= SPLIT_ASPECT * parts * height:
            through += [round(i * width / parts) for i in range(1, parts)]
    for pitch in PITCHES:  # a long blob may be a row of printed digits run together: even cuts at their pitch
        parts = round(width / (pitch * height))
        if parts > 3:  # only where no cut is near already: slivers would split digits into too many pieces
            for cut in (round(i * width / parts) for i in range(1, parts)):
                if all(abs(cut - c) >= min_piece for c in through):
                    through.append(cut)
    between = []
    boxes = sorted((marks.boxes[m - 1] for m in blob.marks), key=lambda b: b[1] + b[3])
    for a, b in zip(boxes, boxes[1:]):  # overlapping digits drawn apart, not strokes stacked in one digit
        across = min(a[3], b[3]) - max(a[1], b[1]) + 1
        down = min(a[2], b[2]) - max(a[0], b[0]) + 1
        if across < STROKE_OVERLAP * min(a[3] - a[1], b[3] - b[1]) + 1 and down >= 0.5 * min(a[2] - a[0], b[2] - b[0]):
            between.append(round((a[1] + a[3] + b[1] + b[3]) / 4) - int(blob.box[1]))
    keep = lambda starts: sorted({c for c in starts if min_piece <= c <= width - min_piece})  # noqa: E731
    return keep(through), keep(between)


def _cut_path(ink: np.ndarray, start: int, reach: int) -> np.ndarray:
    """(h,) intp: the column of a top-to-bottom cut in each row, crossing as little ink as it can.

    Dynamic programming over rows: each row's column is within one of the row above's
    and within ``reach`` of ``start``; crossing an ink pixel costs 1, straying from
    ``start`` a little, so a touching pair is cut along its slanted junction.
    """
    height, width = ink.shape
    lo, hi = max(1, start - reach), min(width - 1, start + reach)
    cols = np.arange(lo, hi + 1)
    cost = ink[:, lo : hi + 1].astype(np.float64) + PATH_STRAY_COST * np.abs(cols - start)[np.newaxis, :]
    total = cost[0].copy()
    steps = np.zeros((height, len(cols)), np.intp)  # -1, 0, +1: the column of the row above, relative
    from_left, from_right = np.full(len(cols), np.inf), np.full(len(cols), np.inf)
    for y in range(1, height):
        from_left[1:], from_right[:-1] = total[:-1], total[1:]
        best = np.minimum(total, np.minimum(from_left, from_right))
        steps[y] = np.where(best == total, 0, np.where(best == from_left, -1, 1))
        total = cost[y] + best
    path = np.empty(height, np.intp)
    path[-1] = int(np.argmin(total))
    for y in range(height - 1, 0, -1):
        path[y - 1] = path[y] + steps[y, path[y]]
    return path + lo


def _cut_blob(blob: _Blob, marks: _Marks, strength: np.ndarray) -> None:
    """Set the blob's cut paths (its left and right edges included) and its marks' cumulative row counts.

    ``strength`` (H, W) is the work image's ink, 0..1: valleys and cuts weigh each pixel
    by it, so the faint bridge that blur lays between two printed digits is cut where
    binary ink shows no valley.
    """
    top, left, bottom, right = blob.box
    labels = marks.labels[top : bottom + 1, left : right + 1]
    labels = np.where(np.isin(labels, blob.marks), labels, 0)
    ink = np.where(labels > 0, strength[top : bottom + 1, left : right + 1], 0.0)
    height, width = ink.shape
    reach = max(1, round(PATH_REACH * height))
    paths = [np.zeros(height, np.intp)]
    through, between = _start_columns(blob, marks, ink)
    rows = np.arange(height)
    for start in through + between:
        path = _cut_path(ink, start, reach)
        crossed = np.unique(labels[rows, np.minimum(path, width - 1)])
        if start in through and np.count_nonzero(crossed) > 1:
            continue  # through strokes stacked in one digit (a 4 drawn in two), not through touching digits
        if min(np.abs(path - other).mean() for other in paths) >= 2:
            paths.append(path)
    paths.append(np.full(height, width, np.intp))
    order = np.argsort([p.mean() for p in paths], kind="stable")
    blob.paths = [paths[i] for i in order]
    padded = np.pad(ink, ((0, 0), (0, 1)))
    blob.crossed = [float(padded[rows, p].sum()) for p in blob.paths]
    blob.labels = labels
    blob.cumulative = {int(m): np.pad(np.cumsum(labels == m, axis=1), ((0, 0), (1, 0))) for m in blob.marks}


@dataclass(frozen=True)
class _Piece:
    """The part of blob ``blob`` between its cut paths ``cut`` and ``cut + 1``; columns [start, stop) of the work image."""

    blob: int
    cut: int
    start: int
    stop: int


def _pieces(blobs: Sequence[_Blob], marks: _Marks, strength: np.ndarray) -> list[list[_Piece]]:
    """Cut every blob; per line, the pieces of its blobs in reading order."""
    lines: list[list[_Piece]] = [[] for _ in range(max(b.line for b in blobs) + 1)]
    for i, blob in enumerate(blobs):
        _cut_blob(blob, marks, strength)
        left = int(blob.box[1])
        for k in range(len(blob.paths) - 1):
            start, stop = left + int(blob.paths[k].min()), left + int(blob.paths[k + 1].max())
            lines[blob.line].append(_Piece(i, k, start, stop))
    return lines


# ---------------------------------------------------------------- candidate digits


@dataclass
class Candidate:
    """A run of pieces read as one digit: its crop for the model and what its score needs."""

    first: int  # index of its first piece in the line
    stop: int  # one past its last piece
    box: tuple[int, int, int, int]  # top, left, bottom, right (inclusive), work pixels
    crop: np.ndarray  # (28, 28) uint8
    gap: float  # empty columns between its pieces, in digit heights
    aspect: float  # width / height of its ink
    height: float  # of its ink, in digit heights
    width: float  # of its ink, in digit heights
    cut_edges: int  # how many of its left and right edges are cuts through a blob (0: whole blobs)
    crossed: float  # ink its cut edges cross, in digit heights
    context: np.ndarray  # (CONTEXT_SIZE, CONTEXT_SIZE) float32: its ink (+) and its neighbours' (-) at digit scale
    ink: np.ndarray  # (h, w) float 0..255 on 0 in its box, for ``preprocess.ink_to_pair`` (the pair reader)

    @property
    def wide(self) -> bool:
        """Wide enough to hold two digits side by side: the pair reader (``pairs.py``) reads it. Its crop
        (``preprocess.ink_to_pair(ink)``) is made where it is read, not here: a reader without one skips it."""
        return self.aspect >= PAIR_ASPECT


CONTEXT_SIZE = 16  # pixels of a candidate's context picture ...
CONTEXT_SIDE = 2.0  # ... which spans this many digit heights around the candidate's centre
WHOLE_MARK = 0.8  # a mark with this share of its pixels between a candidate's cuts is taken whole
NO_MARK = 0.2  # one with at most this share (of a digit's pixels, for a mark longer than one) is left out;
# in between, the part between the cuts is taken


def _between(blob: _Blob, first: int, last: int, typical: float) -> tuple[np.ndarray, dict[int, tuple[float, float]]]:
    """(h, w) bool of the blob's box between cut paths ``first`` and ``last``, and each mark's share
    there: (of its pixels, of its pixels or a typical digit's if fewer: a row of printed digits run
    into one mark is cut into many digits, each a small share of the mark)."""
    rows = np.arange(len(blob.paths[0]))
    a, b = blob.paths[first], blob.paths[last]
    cols = np.arange(blob.labels.shape[1])[np.newaxis, :]
    region = (cols >= a[:, np.newaxis]) & (cols < b[:, np.newaxis])
    shares = {}
    for m, cum in blob.cumulative.items():
        inside, total = float((cum[rows, b] - cum[rows, a]).sum()), max(1, int(cum[:, -1].sum()))
        shares[m] = (inside / total, inside / min(total, typical))
    return region, shares


def _candidate_mask(
    pieces: Sequence[_Piece], blobs: Sequence[_Blob], typical: float
) -> tuple[np.ndarray, int, int] | None:
    """The ink of a run of pieces: ((h, w) bool over its blobs' box, top, left), or None when it has none."""
    ids = list(dict.fromkeys(p.blob for p in pieces))
    top, left, bottom, right = _union(np.stack([blobs[i].box for i in ids]))
    mask = np.zeros((bottom - top + 1, right - left + 1), bool)
    for blob_id in ids:
        blob = blobs[blob_id]
        cuts = [p.cut for p in pieces if p.blob == blob_id]
        region, shares = _between(blob, min(cuts), max(cuts) + 1, typical)
        t, lft, b, r = blob.box
        part = mask[t - top : b - top + 1, lft - left : r - left + 1]  # a view: written in place
        for m, (share, digit_share) in shares.items():
            if share >= WHOLE_MARK:
                part |= blob.labels == m
            elif digit_share > NO_MARK:
                part |= (blob.labels == m) & region
    return (mask, int(top), int(left)) if mask.any() else None


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]), int(cols[-1])


def _gap_columns(pieces: Sequence[_Piece]) -> int:
    """Empty columns between the pieces of a run (blobs side by side with space between)."""
    spans = sorted((p.start, p.stop) for p in pieces)
    reach, gap = spans[0][1], 0
    for start, stop in spans[1:]:
        gap += max(0, start - reach)
        reach = max(reach, stop)
    return gap


def _whole_blob(run: Sequence[_Piece], blobs: Sequence[_Blob]) -> bool:
    """Whether a run of pieces is exactly one blob, all of it (always a candidate, however cut)."""
    blob = run[0].blob
    return all(p.blob == blob for p in run) and run[0].cut == 0 and run[-1].cut == len(blobs[blob].paths) - 2


def _context(mask: np.ndarray, top: int, left: int, strength: np.ndarray, seeds: np.ndarray,
             height: float) -> np.ndarray:  # fmt: skip
    """A candidate's ink (+strength) and all other ink (-strength) in a square of CONTEXT_SIDE digit
    heights around its centre, at CONTEXT_SIZE pixels: what ``whole.py`` judges it by, at the digit
    scale of the whole number (the classifier's crop is scaled to fill 20x20 and cannot tell a
    squeezed pair or half a digit by its size)."""
    side = max(CONTEXT_SIZE, round(CONTEXT_SIDE * height))
    cy, cx = top + mask.shape[0] // 2, left + mask.shape[1] // 2
    y0, x0 = cy - side // 2, cx - side // 2
    window = np.zeros((side, side), np.float32)
    ys, xs = slice(max(0, y0), min(strength.shape[0], y0 + side)), slice(max(0, x0), min(strength.shape[1], x0 + side))
    window[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0] = -np.where(seeds[ys, xs], strength[ys, xs], 0)
    own = np.zeros_like(window, bool)
    my, mx = slice(top - y0, top - y0 + mask.shape[0]), slice(left - x0, left - x0 + mask.shape[1])
    inside = (slice(max(0, my.start), min(side, my.stop)), slice(max(0, mx.start), min(side, mx.stop)))
    own[inside] = mask[inside[0].start - my.start : inside[0].stop - my.start,
                       inside[1].start - mx.start : inside[1].stop - mx.start]  # fmt: skip
    window = np.where(own, -window, window)
    picture = Image.fromarray(window, mode="F").resize((CONTEXT_SIZE, CONTEXT_SIZE), Image.BOX)
    return np.asarray(picture, np.float32)


def _candidates(line: Sequence[_Piece], blobs: Sequence[_Blob], marks: _Marks, grey: np.ndarray,
                strength: np.ndarray) -> list[Candidate]:  # fmt: skip
    """Every run of up to MAX_PIECES pieces of a line that could be one digit.

    Runs with more than MAX_GAP digit heights of empty columns inside, wider than
    MAX_ASPECT line heights, or with too little ink are left out unclassified.
    """
    found = []
    seeds = marks.labels > 0
    for first in range(len(line)):
        for stop in range(first + 1, len(line) + 1):
            run = line[first:stop]
            gap = _gap_columns(run) / marks.height
            span = max(p.stop for p in run) - min(p.start for p in run)
            if stop > first + 1 and (gap > MAX_GAP or span > MAX_ASPECT * marks.height):
                break
            several = run[0].blob != run[-1].blob
            if several and not (run[0].cut == 0 and run[-1].cut == len(blobs[run[-1].blob].paths) - 2):
                continue  # strokes of one digit in separate blobs join as whole blobs only
            if stop - first > MAX_PIECES and not _whole_blob(run, blobs):
                continue
            found_mask = _candidate_mask(run, blobs, marks.typical)
            if found_mask is None:
                continue
            mask, y, x = found_mask
            top, left, bottom, right = _box(mask)
            mask = mask[top : bottom + 1, left : right + 1]
            top, left, bottom, right = top + y, left + x, bottom + y, right + x
            core = mask & seeds[top : bottom + 1, left : right + 1]
            if core.sum() < MIN_DIGIT_SHARE * marks.typical:
                continue
            ink = np.where(mask, grey[top : bottom + 1, left : right + 1], 0)
            crop = ink_to_mnist(ink)
            core_top, core_left, core_bottom, core_right = _box(core)  # the faint rim left out
            aspect = (core_right - core_left + 1) / (core_bottom - core_top + 1)
            first_piece, last_piece = run[0], run[-1]
            edges = [(first_piece.blob, first_piece.cut)] if first_piece.cut > 0 else []
            if last_piece.cut + 1 < len(blobs[last_piece.blob].paths) - 1:
                edges.append((last_piece.blob, last_piece.cut + 1))
            crossed = sum(blobs[b].crossed[k] for b, k in edges) / marks.height
            context = _context(mask, top, left, strength, seeds, marks.height)
            found.append(Candidate(first, stop, (top, left, bottom, right), crop, gap, aspect,
                                   (core_bottom - core_top + 1) / marks.height, (core_right - core_left + 1) / marks.height,
                                   len(edges), crossed, context, ink))  # fmt: skip
    return found


def source_box(box: tuple[int, int, int, int], factor: int, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Work (top, left, bottom, right) inclusive -> source (left, top, right, bottom), right/bottom exclusive."""
    top, left, bottom, right = box
    width, height = size
    return (left * factor, top * factor, min(width, (right + 1) * factor), min(height, (bottom + 1) * factor))


@dataclass
class Page:
    """An image cut into candidate digits, line by line, before the model has seen them."""

    size: tuple[int, int]  # (width, height) of the source
    factor: int  # work image -> source pixels
    lengths: list[int]  # pieces per line
    candidates: list[list[Candidate]]  # per line
    line_ink: list[np.ndarray] = field(default_factory=list)  # per line: its marks' ink (float 0..255) over its box
    line_origins: list[tuple[int, int]] = field(default_factory=list)  # per line: (top, left) of that box, work pixels


def prepare(source: Source, name: str) -> Page:
    gray = load_grayscale(source, name=name)
    work, factor = work_image(gray)
    ink = find_ink(work, name)
    marks = _find_marks(ink, name)
    blobs = _blobs(marks, name)
    grey = ink.grey(marks.labels > 0)
    strength = np.clip(ink.deviation / ink.peak, 0, 1)
    lines = _pieces(blobs, marks, strength)
    per_line = [_candidates(line, blobs, marks, grey, strength) for line in lines]
    inks = [_line_ink(i, blobs, marks, grey) for i in range(len(lines))]
    return Page((gray.shape[1], gray.shape[0]), factor, [len(line) for line in lines], per_line,
                [ink for _, ink in inks], [origin for origin, _ in inks])  # fmt: skip


def _line_ink(line: int, blobs: Sequence[_Blob], marks: _Marks, grey: np.ndarray) -> tuple[tuple[int, int], np.ndarray]:
    """(top, left) and the ink of line ``line``'s marks (specks dropped, other lines' marks left
    out) over their box."""
    labels = np.concatenate([b.marks for b in blobs if b.line == line])
    top, left, bottom, right = _union(marks.boxes[labels - 1])
    mask = np.isin(marks.labels[top : bottom + 1, left : right + 1], labels)
    return (int(top), int(left)), np.where(mask, grey[top : bottom + 1, left : right + 1], 0).astype(np.float32)


def several_digits(source: Source, *, name: str | None = None) -> bool:
    """Whether an image clearly holds several separate digit-sized marks side by side or in lines.

    Cheap (no classifier): for single-digit modes to warn that the image looks like a
    number. Touching digits are one mark, so this says False for them.

    Raises:
        ImageError, NoDigitError: as ``read_number``.
    """
    name = name or source_name(source)
    ink = find_ink(work_image(load_grayscale(source, name=name))[0], name)
    marks = _find_marks(ink, name)
    try:
        blobs = _blobs(marks, name)
    except TooManyMarksError:
        return True
    tall = [b for b in blobs if b.box[2] - b.box[0] + 1 >= 0.5 * marks.height]
    sized = [b for b in tall if marks.sizes[b.marks - 1].sum() >= 0.3 * marks.typical]
    return len(sized) >= 2
