"""Which marks of an image make up the digit: salt noise, specks, mud and lines are not it.

Used by ``preprocess`` on the ink it has found (a boolean mask, the digit's
side of the background): salt-and-pepper noise is median-filtered away when
many ink pixels are isolated specks; then only the marks that belong to the
digit are kept (the biggest mark, marks inside its box, separate strokes near
it, big marks anywhere), thin lines across the whole image are dropped, and a
line crossing the digit is cut where it leaves the digit. Otherwise stray ink
widens the ink box, so the digit is shrunk and moved. numpy only, like
``preprocess`` (both are copied into the edge script and the Space).
"""

from __future__ import annotations

import numpy as np

SPECK_SHARE = 0.05  # more isolated ink pixels than this share of the ink ...
SPECK_DENSITY = 0.005  # ... and of the image: salt noise, median-filtered first
PART_MARGIN = 0.3  # of the digit's longer side: separate strokes this near belong to the digit
MIN_PART_SHARE = 0.05  # of the digit's ink: smaller marks outside its box are specks
BIG_PART_SHARE = 0.25  # of the digit's ink: marks this big belong to it wherever they are
LINE_SPAN = 0.8  # of the image side: a thin mark this long crosses the image, not a digit
LINE_WIDTH = 0.25  # of the image side: a line's runs (and mean thickness) are thinner
LINE_EDGE = 0.08  # of the image side: a line across ends this near both edges
LINE_STROKES = 3.0  # a line's run across a column is at most this many stroke widths
LINE_STEP = 0.1  # of the image side (plus 2 px): how far a line's edge may move per column
LINE_TAIL = 0.1  # of the image side: a crossing line sticks out this far on both sides of the digit


def _shifts(a: np.ndarray) -> np.ndarray:
    """(9, H, W): the 3x3 neighbourhood of every pixel of `a`, edges repeated."""
    h, w = a.shape
    padded = np.pad(a, 1, mode="edge")
    return np.stack([padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)])


def median3(a: np.ndarray) -> np.ndarray:
    """3x3 median filter: removes salt and pepper, keeps strokes 2 px and wider."""
    return np.partition(_shifts(a), 4, axis=0)[4]


def is_salty(mask: np.ndarray) -> bool:
    """Whether many of the ink pixels are isolated specks (salt noise), in share and in number.

    The number matters too: a faint photo whose threshold leaves a few scattered
    dark pixels is not salty, and a median filter would blur its digit away.
    """
    neighbours = _shifts(np.pad(mask, 1)).sum(axis=0)[1:-1, 1:-1] - mask  # (H, W)
    specks = int((mask & (neighbours == 0)).sum())
    return specks > SPECK_SHARE * int(mask.sum()) and specks > SPECK_DENSITY * mask.size


def _label(mask: np.ndarray) -> np.ndarray:
    """8-connected components of a boolean (H, W) mask -> (H, W) int labels, 0 = none, 1..n.

    Vectorised union-find (hook roots to the smaller root, then pointer jumping), so
    no SciPy is needed and a photo's few thousand ink pixels take a few ms.
    """
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    # Indices and labels are np.intp, numpy's index type: int64 on 64-bit, int32 on
    # 32-bit ARM (Raspberry Pi OS armhf), where bincount and ufunc.at refuse int64.
    index = np.full((h + 2, w + 2), -1, np.intp)
    index[ys + 1, xs + 1] = np.arange(len(ys), dtype=np.intp)
    pairs = [(np.nonzero(nb >= 0)[0], nb[nb >= 0])
             for nb in (index[ys + 1 + dy, xs + 1 + dx] for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)))]  # fmt: skip
    a = np.concatenate([p[0] for p in pairs])
    b = np.concatenate([p[1] for p in pairs])
    parent = np.arange(len(ys), dtype=np.intp)
    while True:
        ra, rb = parent[a], parent[b]
        differ = ra != rb
        if not differ.any():
            break
        np.minimum.at(parent, np.maximum(ra, rb)[differ], np.minimum(ra, rb)[differ])
        while not np.array_equal(parent[parent], parent):
            parent = parent[parent]
    labels = np.zeros((h, w), np.intp)
    labels[ys, xs] = np.unique(parent, return_inverse=True)[1] + 1
    return labels


def _boxes(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel count (n,) and box (n, 4) = (top, left, bottom, right) of labels 1..n.

    Both are np.intp, whatever integer type `labels` has; boxes start as
    (h, w, -1, -1), beyond every pixel, and shrink onto their pixels.
    """
    h, w = labels.shape
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs].astype(np.intp, copy=False) - 1
    n = int(labels.max())
    box = np.tile(np.array([h, w, -1, -1], np.intp), (n, 1))  # (n, 4)
    np.minimum.at(box[:, 0], lab, ys)
    np.minimum.at(box[:, 1], lab, xs)
    np.maximum.at(box[:, 2], lab, ys)
    np.maximum.at(box[:, 3], lab, xs)
    return np.bincount(lab, minlength=n), box


def components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8-connected marks of a boolean (H, W) mask, for readers of several digits (``reader``).

    Returns ((H, W) labels 1..n with 0 for no ink, (n,) pixel counts, (n, 4) boxes
    (top, left, bottom, right), inclusive).
    """
    labels = _label(mask)
    sizes, boxes = _boxes(labels)
    return labels, sizes, boxes


def _is_line(size: int, box: np.ndarray, shape: tuple[int, int]) -> bool:
    """A mark that spans most of the image one way and is thin: a line across, not a digit."""
    spans = (box[2] - box[0] + 1, box[3] - box[1] + 1)
    return any(
        span >= LINE_SPAN * side and size <= LINE_WIDTH * other * span
        for span, side, other in ((spans[0], shape[0], shape[1]), (spans[1], shape[1], shape[0]))
    )


def _near(box: np.ndarray, digit: np.ndarray) -> bool:
    """Whether `box` overlaps the digit's box grown by PART_MARGIN of its longer side."""
    margin = PART_MARGIN * max(digit[2] - digit[0] + 1, digit[3] - digit[1] + 1)
    return bool(box[0] <= digit[2] + margin and box[2] >= digit[0] - margin
                and box[1] <= digit[3] + margin and box[3] >= digit[1] - margin)  # fmt: skip


def _inside(box: np.ndarray, digit: np.ndarray) -> bool:
    return bool(box[0] >= digit[0] and box[1] >= digit[1] and box[2] <= digit[2] and box[3] <= digit[3])


def digit_parts(mask: np.ndarray) -> np.ndarray:
    """Keep the marks that make up the digit: the biggest one and the parts that belong to it.

    Parts are taken biggest first: one inside the digit's box so far is kept, one near it
    (a separate stroke of a 4 or 5, the dot of an i) if not a speck, a big one anywhere.
    Thin lines across the image (a ruled line, MNIST-C's dotted lines) are dropped first.
    """
    labels = _label(mask)
    sizes, boxes = _boxes(labels)
    lines = np.array([_is_line(s, b, mask.shape) for s, b in zip(sizes, boxes)])
    if lines.any() and sizes[~lines].sum() >= BIG_PART_SHARE * sizes[lines].max():
        sizes = np.where(lines, 0, sizes)
    order = np.argsort(-sizes, kind="stable")
    main = order[0]
    digit, total, keep = boxes[main].copy(), sizes[main], [main]
    for part in order[1:]:
        if sizes[part] == 0:
            break
        big = sizes[part] >= BIG_PART_SHARE * total
        near = _near(boxes[part], digit) and sizes[part] >= MIN_PART_SHARE * total
        if big or near or _inside(boxes[part], digit):
            keep.append(part)
            digit = np.concatenate([np.minimum(digit[:2], boxes[part][:2]), np.maximum(digit[2:], boxes[part][2:])])
            total += sizes[part]
    return np.isin(labels, np.asarray(keep) + 1)


def _tail(columns: np.ndarray, stroke: float) -> int:
    """How many leading columns of an (H, W) mask hold only one thin, continuing line.

    The walk stops at the first column whose ink is taller than a few strokes or lies
    away from the line's rows in the previous column: that is where the digit begins.
    """
    height = columns.shape[0]
    thin, step = min(LINE_WIDTH * height, LINE_STROKES * stroke), 2 + LINE_STEP * height
    previous = None
    for x in range(columns.shape[1]):
        rows = np.nonzero(columns[:, x])[0]
        if len(rows) == 0:
            continue  # a gap between dashes
        top, bottom = rows[0], rows[-1]
        if bottom - top + 1 > thin or (previous and (top < previous[0] - step or bottom > previous[1] + step)):
            return x
        previous = (top, bottom)
    return columns.shape[1]


def span_of_digit(mask: np.ndarray, stroke: float) -> np.ndarray:
    """(H, W) bool: where the digit may be, once a line crossing it is cut at the digit.

    A line across the image joins the digit into one mark; its two ends stick out
    on both sides as thin runs that follow the line.  Only a mark reaching (nearly)
    both edges of the image with such tails on both sides is cut, so a digit's own
    stroke ending at its side (the bar of a 7) is kept.
    """
    allowed = np.ones(mask.shape, bool)
    for axis in (0, 1):  # 0: columns (a line across), 1: rows (a line down)
        columns = mask if axis == 0 else mask.T  # (H, W): the line runs along W
        filled = np.nonzero(columns.any(axis=0))[0]
        width = columns.shape[1]
        if len(filled) == 0 or max(filled[0], width - 1 - filled[-1]) > LINE_EDGE * width:
            continue  # a line across reaches (nearly) both edges of the image
        left = filled[0] + _tail(columns[:, filled[0] :], stroke)
        right = filled[-1] - _tail(columns[:, filled[-1] :: -1], stroke)
        if min(left - filled[0], filled[-1] - right) < LINE_TAIL * width or left > right:
            continue  # the ends of the digit's own strokes
        keep = np.zeros(width, bool)
        keep[left : right + 1] = True
        allowed &= keep[np.newaxis, :] if axis == 0 else keep[:, np.newaxis]
    return allowed
