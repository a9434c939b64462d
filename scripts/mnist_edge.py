#!/usr/bin/env python3
"""Classify handwritten-digit images with a .tflite model, without TensorFlow (e.g. on a Raspberry Pi).

Copy two files to the device, this script and a model from ``mnist-keras export``:

    pip install numpy pillow ai-edge-litert     # 32-bit ARM: tflite-runtime instead of ai-edge-litert
    python3 mnist_edge.py lamontagne_int8.tflite digit.png photos/ [--top-k 3] [--json] [--threads N] [--benchmark N]

Photos, scans and drawings of any size, colour or polarity are turned into
MNIST-style 28x28 digits first. Exit codes: 0 all images classified, 1 some
image failed (the others are still printed), 2 bad model or options.

Needs only the standard library, numpy, Pillow and one TFLite interpreter
(``ai_edge_litert``, else ``tflite_runtime``, else ``tensorflow.lite``). The
preprocessing, interpreter and output code are the mnist-keras package's own
modules, embedded below verbatim (``python scripts/build_edge_script.py``
regenerates them; a test checks they are identical to the package files).
"""

from __future__ import annotations

import argparse
import linecache
import sys
import types

EMBEDDED_PACKAGE = "mnist_edge_embedded"
EXIT_BAD_MODEL = 2
_SOURCES: dict[str, str] = {}

# fmt: off
# ---- BEGIN EMBEDDED mnist_keras/marks.py ----
_SOURCES["marks"] = r'''
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
    index = np.full((h + 2, w + 2), -1, np.int64)
    index[ys + 1, xs + 1] = np.arange(len(ys))
    pairs = [(np.nonzero(nb >= 0)[0], nb[nb >= 0])
             for nb in (index[ys + 1 + dy, xs + 1 + dx] for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)))]  # fmt: skip
    a = np.concatenate([p[0] for p in pairs])
    b = np.concatenate([p[1] for p in pairs])
    parent = np.arange(len(ys))
    while True:
        ra, rb = parent[a], parent[b]
        differ = ra != rb
        if not differ.any():
            break
        np.minimum.at(parent, np.maximum(ra, rb)[differ], np.minimum(ra, rb)[differ])
        while not np.array_equal(parent[parent], parent):
            parent = parent[parent]
    labels = np.zeros((h, w), np.int64)
    labels[ys, xs] = np.unique(parent, return_inverse=True)[1] + 1
    return labels


def _boxes(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel count (n,) and box (n, 4) = (top, left, bottom, right) of labels 1..n."""
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs] - 1
    n = int(labels.max())
    box = np.stack([np.full(n, 1 << 30), np.full(n, 1 << 30), np.full(n, -1), np.full(n, -1)], axis=1)
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
'''
# ---- END EMBEDDED mnist_keras/marks.py ----
# ---- BEGIN EMBEDDED mnist_keras/preprocess.py ----
_SOURCES["preprocess"] = r'''
"""Turn arbitrary digit images into MNIST-style 28x28 inputs (numpy + Pillow only).

MNIST was made by fitting each digit into a 20x20 box (keeping its aspect ratio,
anti-aliased) and placing that box in a 28x28 frame so the digit's centre of mass
sits at the centre.  Real inputs (photos, scans, drawings; any size, polarity,
colour, transparency) go through the same steps here, after turning them into a
clean "light ink on black" image.  Light on purpose: this file and `marks.py` are
copied into the edge script and the Space, so they import only the stdlib, numpy and PIL.

Stray ink is not the digit: salt noise, specks, mud and lines across the image
are removed before the ink box is taken (`marks.py`), since they would widen it,
so the digit would be shrunk and moved.  A background that is light in some
columns (rows) and dark in others (a photo showing the table beside the page,
MNIST-C's stripes) is taken per column from the image's top and bottom edges,
and ink is what differs from it either way.
No deskewing: models trained on plain MNIST expect slanted digits as they are.

One deliberate addition: hairline strokes (a pen line in a big photo) are widened
to about MNIST's 2.5 px before the final shrink (`_thicken`), because a classifier
trained on MNIST misreads 0.2 px strokes; MNIST-sized inputs are never widened.

Pass-through (why there is no separate fast path): a genuine MNIST digit already
has a 20 px ink box with its centre of mass on (14, 14), so the same pipeline gives
it back (the resize is the identity, the shift zero), and one code path means
28x28 drawings get exactly the treatment of photos.  Measured on all 10,000 MNIST
test digits: mean |difference| 0.21 grey levels per pixel (first 200: 0.11, worst
pixel 2, from rescaling the ink peak to 255); 9,938 differ by < 0.6.  Of the other
62, 12 did so before the stray-ink rules (8 come out shifted by one pixel: their
centre of mass is an exact half-pixel tie that MNIST rounded the other way; 3 that
MNIST had clipped at the frame edge are rescaled a little).  The other 50 carry a
stray speck or detached faint mark in MNIST itself, now dropped, so the digit is
centred and sized without it (38 differ by more than 3), or lose a few faint rim
pixels.  The paper's model trained in full changed 3 predictions in 10,000 (98.83 %
accurate, as on the digits as they are).  Faint rim pixels are kept by hysteresis
(`_grow`): a plain threshold lost them, which shrank ink boxes and moved centres
by up to a pixel.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .marks import digit_parts, is_salty, median3, span_of_digit

MNIST_SIZE = 28
BOX_SIZE = 20
INK_LEVEL = 8.0  # grey levels above background that count as ink on a clean image
NOISE_SIGMAS = 6.0  # on noisy images ink must also stand this many noise sigmas out
RIM_LEVEL = 2.0  # faint pixels touching ink are kept down to this: MNIST's anti-aliased
RIM_SIGMAS = 2.0  # rims survive, clean-JPEG ringing (1-2 levels) does not; noisy: 2 sigma
STROKE_WIDTH = 2.5  # px in the 20 px box: MNIST's median is ~2.7, 1st percentile 2.0
MIN_CONTRAST = 24.0  # ink peak (grey levels) below this means "no digit"
MIN_INK_PIXELS = 4  # fewer ink pixels than this is dust, not a digit
MAX_WORK_SIDE = 1024  # big photos are reduced first: same result, far less memory
LOCAL_WINDOW = 0.33  # of the image side: a background that varies (fog) is a median this wide ...
LOCAL_SIDE = 64  # ... taken on a copy of at most this many pixels a side
SEED_FRACTION = 0.3  # of the ink peak: fainter marks (mud, haze) join the digit only as its rim
SPLIT_SHARE = 0.2  # border pixels off the fitted plane: above this, try a split background
SPLIT_CONTRAST = 128.0  # grey levels between the light and dark parts of a split background
_HINT = "use a readable PNG or JPEG image"

Source = Any  # str | os.PathLike | bytes | PIL.Image.Image | np.ndarray


class ImageError(ValueError):
    """The image could not be read (missing, empty, corrupt, not an image, too big)."""


class NoDigitError(ImageError):
    """The image was read but holds no visible digit (blank or too little contrast)."""


def _default_name(source: Source) -> str:
    """Name used in error messages: the path when there is one, so users can find it."""
    return str(source) if isinstance(source, (str, os.PathLike)) else "image"


def _read(source: Source, name: str) -> Image.Image:
    """Decode a path/bytes/Image fully now, so truncation shows up here.

    Files are read into memory first: nothing is left open when decoding fails.
    """
    if isinstance(source, Image.Image):
        source.load()
        return source
    data = bytes(source) if isinstance(source, (bytes, bytearray, memoryview)) else None
    data = Path(source).read_bytes() if data is None else data
    if not data:
        raise ImageError(f"cannot read {name}: it is empty (0 bytes); {_HINT}")
    img = Image.open(io.BytesIO(data))  # lazy: reads the header only
    _check_pixel_count(img, name)
    img.load()
    return img


def _check_pixel_count(img: Image.Image, name: str) -> None:
    """Refuse decompression bombs before decoding.

    Pillow only *warns* between MAX_IMAGE_PIXELS and twice that; checking the
    header ourselves avoids toggling the process-wide warnings filter, which
    is not thread-safe in a multi-threaded server.
    """
    limit = Image.MAX_IMAGE_PIXELS
    if limit and img.width * img.height > limit:
        raise ImageError(
            f"cannot read {name}: image is too large ({img.width}x{img.height} pixels, "
            f"limit {limit}); resize it to a few megapixels"
        )


def _open(source: Source, name: str) -> Image.Image:
    """`_read` with every failure turned into a one-line ImageError naming the file."""
    try:
        return _read(source, name)
    except Image.DecompressionBombError as exc:
        raise ImageError(f"cannot read {name}: image is too large ({exc}); resize it to a few megapixels") from exc
    except UnidentifiedImageError as exc:
        raise ImageError(f"cannot read {name}: not a recognised image format; {_HINT}") from exc
    except FileNotFoundError as exc:
        raise ImageError(f"cannot read {name}: file not found; check the path") from exc
    except (OSError, SyntaxError, EOFError) as exc:
        raise ImageError(f"cannot read {name}: the file is truncated, corrupt or unreadable ({exc}); {_HINT}") from exc


def _upright(img: Image.Image) -> Image.Image:
    """Apply EXIF orientation (phones store rotation only there); broken EXIF is ignored."""
    try:
        return ImageOps.exif_transpose(img)
    except (OSError, ValueError, KeyError, TypeError, SyntaxError):
        return img  # a bad tag must not lose good pixels


def _pil_to_array(img: Image.Image) -> np.ndarray:
    """Upright numpy view of a PIL image in a mode `_array_to_gray` understands."""
    img = _upright(img)
    if "transparency" in img.info and img.mode in ("1", "L", "RGB", "P"):
        img = img.convert("RGBA")  # colour-keyed or palette transparency -> real alpha
    elif img.mode == "P":
        img = img.convert("RGB")
    elif img.mode in ("PA", "La", "RGBa"):
        img = img.convert("RGBA")
    elif img.mode not in ("1", "L", "LA", "RGB", "RGBA", "F") and not img.mode.startswith("I"):
        img = img.convert("RGB")  # CMYK, YCbCr, LAB, HSV
    return np.asarray(img)  # (H, W) or (H, W, C); bool/uint8/uint16/int32/float32


def _to_255(a: np.ndarray) -> np.ndarray:
    """Scale any dtype to float32 0..255, guessing the range the way image tools do."""
    if a.dtype == bool:
        return a.astype(np.float32) * 255
    if a.dtype == np.uint16:
        return a.astype(np.float32) / 257  # 16-bit: 65535 -> 255
    f = np.nan_to_num(a.astype(np.float32))
    top = float(f.max()) if f.size else 0.0
    if np.issubdtype(a.dtype, np.floating) and top <= 1.0:
        f = f * 255  # float image in [0, 1]
    elif top > 65535:
        f = f * (255 / top)  # 32-bit data of unknown range: use what is there
    elif top > 255:
        f = f / 257  # 16-bit data held in a wider int type ("I" mode)
    return np.clip(f, 0, 255)


def _array_to_gray(a: np.ndarray, name: str) -> np.ndarray:
    """(H, W[, 1|2|3|4]) array -> (H, W) float32 luma 0..255, alpha composited over white."""
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)) or 0 in a.shape:
        raise ImageError(f"cannot read {name}: unsupported array shape {a.shape}; pass (H, W), (H, W, 3) or (H, W, 4)")
    f = _to_255(a)
    if f.ndim == 2:
        return f
    colour = f[..., 0] if f.shape[2] == 2 else f[..., :3] @ np.float32([0.299, 0.587, 0.114])
    if f.shape[2] in (2, 4):  # alpha: transparent background must read as paper
        alpha = f[..., -1] / 255
        colour = colour * alpha + 255 * (1 - alpha)
    return colour.astype(np.float32)


def load_grayscale(source: Source, *, name: str | None = None) -> np.ndarray:
    """Any image source -> (H, W) float32 0..255, polarity as in the source.

    Accepts a path, bytes, a PIL image or a numpy array (uint8, uint16, bool, or
    float in [0, 1] / [0, 255]).  EXIF orientation is applied; alpha is composited
    over white because transparent parts of drawings are the paper.
    """
    name = name or _default_name(source)
    if isinstance(source, np.ndarray):
        return _array_to_gray(source, name)
    if not isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview, Image.Image)):
        raise TypeError(f"unsupported image source type {type(source).__name__}")
    return _array_to_gray(_pil_to_array(_open(source, name)), name)


def _reduction(shape: tuple[int, ...]) -> int:
    """The whole factor `_limit_size` reduces an image of this (H, W) shape by (1: not at all)."""
    return -(-max(shape) // MAX_WORK_SIDE)  # ceil division


def work_image(gray: np.ndarray) -> tuple[np.ndarray, int]:
    """(H, W) gray -> (the image the ink is found in, the factor it was reduced by).

    The factor maps work pixels back to the source's (the number reader's boxes).
    """
    return _limit_size(gray), max(1, _reduction(gray.shape))


def _limit_size(gray: np.ndarray) -> np.ndarray:
    """Box-reduce huge photos; the digit ends up 20 px anyway, so detail is not lost."""
    factor = _reduction(gray.shape)
    if factor <= 1:
        return gray
    return np.asarray(Image.fromarray(gray, "F").reduce(factor), dtype=np.float32)


def _border(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ys, xs, values) of a thin frame around the image: mostly background."""
    h, w = gray.shape
    width = max(1, min(h, w) // 32)
    mask = np.ones((h, w), bool)
    mask[width : h - width, width : w - width] = False
    ys, xs = np.nonzero(mask)
    return ys, xs, gray[ys, xs]


def _fit_background(gray: np.ndarray) -> tuple[np.ndarray, float]:
    """Robust plane fit to the border -> ((H, W) background, noise sigma).

    A plane (not a constant) follows the light fall-off of phone photos; one refit
    without > 3 sigma outliers ignores ink that touches the border.
    """
    h, w = gray.shape
    ys, xs, vals = _border(gray)
    design = np.stack([np.ones_like(ys), ys / h, xs / w], axis=1).astype(np.float64)  # (B, 3)
    keep = np.ones(len(vals), bool)
    for _ in range(2):
        coef = np.linalg.lstsq(design[keep], vals[keep], rcond=None)[0]
        resid = vals - design @ coef  # (B,)
        sigma = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
        keep = np.abs(resid) <= 3 * sigma + 1
    yy, xx = np.mgrid[0:h, 0:w]
    plane = coef[0] + coef[1] * yy / h + coef[2] * xx / w  # (H, W)
    return plane.astype(np.float32), sigma


def _dilate(a: np.ndarray) -> np.ndarray:
    """3x3 max filter of a grey or boolean (H, W) array; outside counts as background."""
    rows = a.copy()
    rows[1:] = np.maximum(rows[1:], a[:-1])
    rows[:-1] = np.maximum(rows[:-1], a[1:])
    out = rows.copy()
    out[:, 1:] = np.maximum(out[:, 1:], rows[:, :-1])
    out[:, :-1] = np.maximum(out[:, :-1], rows[:, 1:])
    return out


def _grow(seed: np.ndarray, allowed: np.ndarray, steps: int = 2) -> np.ndarray:
    """Hysteresis: extend the (H, W) seed mask into `allowed` neighbours, `steps` px.

    Keeps the faint anti-aliased rim of strokes (MNIST's 1..7 grey edge pixels)
    without letting isolated faint noise far from the digit widen its box.
    """
    mask = seed
    for _ in range(steps):
        mask = _dilate(mask) & allowed
    return mask | seed


def _border_misfit(gray: np.ndarray, background: np.ndarray) -> tuple[float, float]:
    """(share of border pixels far off `background`, noise sigma of the rest)."""
    ys, xs, vals = _border(gray)
    resid = vals - background[ys, xs]
    sigma = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
    return float((np.abs(resid) > MIN_CONTRAST).mean()), sigma


def _band_background(gray: np.ndarray, axis: int) -> np.ndarray:
    """(H, W) background per column from the top and bottom bands (axis 0), or per row
    from the left and right bands (axis 1)."""
    width = max(1, min(gray.shape) // 32)
    bands = np.concatenate([gray[:width], gray[-width:]]) if axis == 0 else np.concatenate(
        [gray[:, :width], gray[:, -width:]], axis=1).T  # fmt: skip
    profile = np.median(bands, axis=0)  # (W,) or (H,)
    return np.broadcast_to(profile[np.newaxis, :] if axis == 0 else profile[:, np.newaxis], gray.shape)


def _split_background(gray: np.ndarray) -> tuple[np.ndarray, float] | None:
    """A background that is light in some columns (rows) and dark in others, or None.

    MNIST-C's stripe inverts the outer columns; a photo may show the dark table beside
    the page.  There the ink is whatever differs from its own column's background.
    """
    best = min((_band_background(gray, axis) for axis in (0, 1)), key=lambda bg: _border_misfit(gray, bg)[0])
    misfit, sigma = _border_misfit(gray, best)
    low, high = float(best.min()), float(best.max())
    between = (best > low + 0.25 * (high - low)) & (best < high - 0.25 * (high - low))
    if misfit > SPLIT_SHARE / 2 or high - low < SPLIT_CONTRAST or between.mean() > SPLIT_SHARE / 2:
        return None  # no split, or a gradual one (a shadow, light falling off): the plane is better
    return best, sigma


def _deviation(gray: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(H, W) gray -> ((H, W) signed deviation from the background, digit side positive;
    ink level; noise sigma)."""
    background, sigma = _fit_background(gray)
    split = _split_background(gray) if _border_misfit(gray, background)[0] > SPLIT_SHARE else None
    if split is not None:
        background, sigma = split
        dev = np.abs(gray - background)  # light ink on the dark part, dark ink on the light part
        return dev, max(INK_LEVEL, NOISE_SIGMAS * sigma), sigma
    return _digit_side(gray - background, sigma)


def _digit_side(dev: np.ndarray, sigma: float) -> tuple[np.ndarray, float, float]:
    """Signed deviation -> (deviation with the digit's side positive, ink level, sigma).

    The side (darker or brighter than the background) with more ink mass is the digit.
    """
    level = max(INK_LEVEL, NOISE_SIGMAS * sigma)
    if dev[dev < -level].sum() < -dev[dev > level].sum():  # dark ink on light paper
        dev = -dev
    return dev, level, sigma


def _local_background(gray: np.ndarray) -> np.ndarray:
    """(H, W) background that varies across the image (fog, mottled paper): a wide median.

    Each pixel's background is the median of a window LOCAL_WINDOW of the image
    wide, where strokes are a minority; taken on a copy of at most LOCAL_SIDE
    pixels a side (the background is smooth) and enlarged back.
    """
    h, w = gray.shape
    small = _resize_longer(gray, min(LOCAL_SIDE, max(h, w)), Image.BOX)
    k = max(3, round(LOCAL_WINDOW * max(small.shape))) | 1  # odd
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(small, k // 2, mode="edge"), (k, k))
    median = np.median(windows.reshape(*small.shape, k * k), axis=-1).astype(np.float32)
    return np.asarray(Image.fromarray(median, "F").resize((w, h), Image.BILINEAR), dtype=np.float32)


def _local_deviation(gray: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Like :func:`_deviation`, against :func:`_local_background` instead of a plane."""
    dev = gray - _local_background(gray)
    _, _, border = _border(dev)
    sigma = 1.4826 * float(np.median(np.abs(border - np.median(border))))
    return _digit_side(dev, sigma)


def _peak(dev: np.ndarray, level: float) -> float:
    """The digit's ink peak (99th percentile of the ink), 0 when there is too little ink."""
    ink = dev > level
    return float(np.percentile(dev[ink], 99)) if ink.sum() >= MIN_INK_PIXELS else 0.0


def _seeds(dev: np.ndarray, level: float, peak: float) -> np.ndarray:
    """The ink the digit is found from: clearly above noise and not much fainter than the digit."""
    return dev > max(level, SEED_FRACTION * peak)


@dataclass(frozen=True)
class Ink:
    """The ink of a whole image, before any mark is picked as "the digit".

    What `to_mnist` (one digit: `digit_parts` picks its marks) and the number
    reader (`reader.py`: every digit-sized mark) share: background, polarity,
    salt noise and fog are handled once, here.
    """

    deviation: np.ndarray  # (H, W) float32: grey levels off the background, digit side positive
    level: float  # deviation that counts as ink (noise-aware)
    sigma: float  # noise sigma of the background, grey levels
    peak: float  # the ink peak (99th percentile of the ink), >= MIN_CONTRAST

    @property
    def seeds(self) -> np.ndarray:
        """(H, W) bool: ink clearly above noise and not much fainter than the digits."""
        return _seeds(self.deviation, self.level, self.peak)

    @property
    def faint(self) -> np.ndarray:
        """(H, W) bool: pixels faint enough to join a stroke only as its anti-aliased rim."""
        return self.deviation > max(RIM_LEVEL, RIM_SIGMAS * self.sigma)

    def grey(self, mask: np.ndarray) -> np.ndarray:
        """(H, W) float32 ink 0..255 (the peak at 255) where `mask` is set, 0 elsewhere."""
        return np.where(mask, np.clip(self.deviation * (255 / self.peak), 0, 255), 0).astype(np.float32)


def find_ink(gray: np.ndarray, name: str) -> Ink:
    """(H, W) source gray -> the image's :class:`Ink`, or NoDigitError when there is none.

    Polarity: the side (darker or brighter than background) with more ink mass is
    the digit, which handles dark-on-light, light-on-dark and any colours.  Salt
    noise is median-filtered away first; a background that varies faster than a
    plane (fog) is taken as a local median.
    """
    dev, level, sigma = _deviation(gray)
    if is_salty(dev > level):
        dev, level, sigma = _deviation(median3(gray))
    peak = _peak(dev, level)
    if peak < MIN_CONTRAST:  # nothing stands out from a plane: the background may vary faster (fog)
        dev, level, sigma = _local_deviation(gray)
        peak = _peak(dev, level)
    if peak < MIN_CONTRAST:
        raise NoDigitError(
            f"no digit found in {name}: the image is blank or has too "
            "little contrast; draw or photograph a darker/larger digit"
        )
    return Ink(dev, level, sigma, peak)


def _ink(gray: np.ndarray, name: str) -> np.ndarray:
    """(H, W) source gray -> (H, W) float32 ink 0..255 on 0 background, the digit's marks only.

    Only the marks that make up the digit (`marks.digit_parts`) are kept, so specks,
    mud and crossing lines do not widen its box.
    """
    ink = find_ink(gray, name)
    seeds = digit_parts(ink.seeds)
    allowed = span_of_digit(seeds, _stroke_width(seeds.astype(np.float32)))
    return ink.grey(_grow(seeds & allowed, ink.faint & allowed))


def _resize_longer(a: np.ndarray, side: int, resample: int) -> np.ndarray:
    """Resize (h, w) float32 so its longer side is `side`, keeping the aspect ratio."""
    h, w = a.shape
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # PIL wants (w, h)
    if size == (w, h):
        return a
    return np.asarray(Image.fromarray(a, "F").resize(size, resample), dtype=np.float32)


def _renormalise(a: np.ndarray) -> np.ndarray:
    """Clip resampling overshoot and lift a faded peak back to 255 (shrunk thin strokes)."""
    a = np.clip(a, 0, 255)
    top = float(a.max())
    return a * (255 / top) if 0 < top < 255 else a


def _stroke_width(crop: np.ndarray) -> float:
    """Mean stroke width in px: area of the ink over half the length of its outline."""
    mask = np.pad(crop > 0.5 * crop.max(), 1)  # (h + 2, w + 2), outside = paper
    outline = mask & _dilate(~mask)
    return 2 * float(mask.sum()) / max(1, int(outline.sum()))


def _thicken(crop: np.ndarray) -> np.ndarray:
    """Widen hairlines that the 20 px box would shrink far below MNIST's strokes.

    A pen line in a photo is ~1 % of the digit's height, an MNIST stroke ~13 %
    (2.5 of 20 px); classifiers trained on MNIST misread hairlines.  Works at
    <= 80 px so the 3x3 grey dilations stay cheap; MNIST-sized crops are untouched.
    """
    longer = max(crop.shape)
    if longer <= BOX_SIZE or _stroke_width(crop) * BOX_SIZE / longer >= 0.8 * STROKE_WIDTH:
        return crop
    if longer > 4 * BOX_SIZE:
        crop = _resize_longer(crop, 4 * BOX_SIZE, Image.BOX)  # hairlines fade here ...
    crop = np.clip(crop * 255 / np.median(crop[crop > 0.25 * crop.max()]), 0, 255)  # ... not now
    steps = round((STROKE_WIDTH * max(crop.shape) / BOX_SIZE - _stroke_width(crop)) / 2)
    crop = np.pad(crop, max(0, steps))
    for _ in range(max(0, steps)):
        crop = _dilate(crop)  # each step adds one pixel on both sides of every stroke
    return crop


def _fit_box(ink: np.ndarray) -> np.ndarray:
    """Crop to the ink's bounding box and scale its longer side to BOX_SIZE (anti-aliased)."""
    rows, cols = np.nonzero(ink.any(axis=1))[0], np.nonzero(ink.any(axis=0))[0]
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]  # (h, w)
    return _renormalise(_resize_longer(_thicken(crop), BOX_SIZE, Image.LANCZOS))


def _shift(box: np.ndarray) -> tuple[int, int]:
    """(top, left) that puts the box's centre of mass on pixel (14, 14), rounded.

    MNIST breaks exact half-pixel ties both ways (its test set has centres at 13.5
    and 14.5); plain round-half-up matches it best (8 test digits tie the other way).
    """
    weights = box.astype(np.float64)  # (h, w)
    total = weights.sum() or 1.0
    cy = (weights.sum(axis=1) @ np.arange(box.shape[0])) / total
    cx = (weights.sum(axis=0) @ np.arange(box.shape[1])) / total
    return tuple(int(np.floor(MNIST_SIZE / 2 - c + 0.5)) for c in (cy, cx))


def _centre(box: np.ndarray) -> np.ndarray:
    """Place the (h, w) box in a 28x28 frame centred by mass; what falls outside is
    clipped, as MNIST did (a lopsided digit keeps its centre rather than all its ink)."""
    h, w = box.shape
    top, left = _shift(box)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, MNIST_SIZE), min(left + w, MNIST_SIZE)
    frame = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    frame[y0:y1, x0:x1] = box[y0 - top : y1 - top, x0 - left : x1 - left]
    return frame


def to_mnist(source: Source, *, name: str | None = None) -> np.ndarray:
    """Any image source -> (28, 28) uint8, light digit on black, MNIST-normalised.

    Raises ImageError if the image cannot be read and NoDigitError if it is blank.
    """
    name = name or _default_name(source)
    gray = _limit_size(load_grayscale(source, name=name))  # (H, W)
    return ink_to_mnist(_ink(gray, name))


def ink_to_mnist(ink: np.ndarray) -> np.ndarray:
    """(h, w) float ink 0..255 on 0 (some of it nonzero) -> (28, 28) uint8, MNIST-normalised.

    The ink's box is fitted into 20x20 and centred by mass in 28x28: `to_mnist`'s
    last step, also used by the number reader on each digit's crop.
    """
    return np.rint(_centre(_fit_box(ink))).astype(np.uint8)


def to_model_input(images: Iterable[Source]) -> np.ndarray:
    """Many sources -> (N, 28, 28, 1) uint8 batch (models rescale 0..255 themselves)."""
    digits = [
        to_mnist(src, name=None if isinstance(src, (str, os.PathLike)) else f"image #{i}")
        for i, src in enumerate(images)
    ]
    if not digits:
        return np.zeros((0, MNIST_SIZE, MNIST_SIZE, 1), np.uint8)
    return np.stack(digits)[..., np.newaxis]
'''
# ---- END EMBEDDED mnist_keras/preprocess.py ----
# ---- BEGIN EMBEDDED mnist_keras/litert.py ----
_SOURCES["litert"] = r'''
"""Running a ``.tflite`` digit classifier: load, quantize input, invoke, dequantize output.

This is the one place that talks to the LiteRT interpreter, shared by the
export verification, the edge script and the predictor. It must stay light
enough for a Raspberry Pi: only the standard library, numpy and an
interpreter (``ai_edge_litert``, else ``tflite_runtime``, else TensorFlow's
deprecated ``tf.lite.Interpreter``). Never import TensorFlow or Keras here
unless both lighter interpreters are missing.

Images go in as MNIST-style pixels 0-255 (uint8 or float), ``(N, 28, 28)`` or
``(N, 28, 28, 1)``; the model scales them itself. Quantized (int8/uint8)
input and output tensors are handled explicitly with their scale and zero
point, so every variant returns float32 probabilities ``(N, 10)``.

:func:`open_classifier` is the checked entry point for user-given files: a
missing, corrupt or wrong-shaped model raises :class:`ModelError` with a
one-line message instead of the interpreter's own errors.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

DEFAULT_BATCH_SIZE = 1000  # images per invoke when predicting many; resize is cheap, invokes are not
INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
INSTALL_HINT = "pip install ai-edge-litert (64-bit Linux, macOS, Windows) or tflite-runtime (32-bit Raspberry Pi OS)"


class ModelError(ValueError):
    """A ``.tflite`` file is missing, unreadable, or not a (1, 28, 28, 1) -> (1, 10) digit classifier."""


def interpreter_class() -> type:
    """The best available Interpreter class: LiteRT, then tflite-runtime, then TensorFlow.

    Raises:
        ImportError: none of the three is installed (the message says what to install).
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            try:
                from tensorflow.lite import Interpreter  # deprecated; last resort
            except ImportError:
                raise ImportError(f"no TFLite interpreter is installed; {INSTALL_HINT}") from None
    return Interpreter


def load_interpreter(path: str | os.PathLike, num_threads: int | None = None) -> Any:
    """An allocated interpreter for the ``.tflite`` file at ``path``."""
    interpreter = interpreter_class()(model_path=str(path), num_threads=num_threads)
    interpreter.allocate_tensors()
    return interpreter


def open_classifier(path: str | os.PathLike, num_threads: int | None = None) -> Any:
    """:func:`load_interpreter` for a user-given file, checked to be an MNIST digit classifier.

    Raises:
        ModelError: missing, unreadable, or not (1, 28, 28, 1) -> (1, 10).
    """
    if not os.path.isfile(path):
        raise ModelError(f"{path}: model file not found; check the path (export one with 'mnist-keras export')")
    try:
        interpreter = load_interpreter(path, num_threads=num_threads)
    except (ValueError, RuntimeError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ModelError(f"{path}: not a readable .tflite model ({reason})") from None
    check_classifier(interpreter, str(path))
    return interpreter


def check_classifier(interpreter: Any, name: str) -> None:
    """Raise ModelError unless the model has one (B, 28, 28, 1) input and one (B, 10) output."""
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    in_shape = [tuple(int(d) for d in t["shape"][1:]) for t in inputs]
    out_shape = [tuple(int(d) for d in t["shape"][1:]) for t in outputs]
    if in_shape != [INPUT_SHAPE] or out_shape != [(NUM_CLASSES,)]:
        raise ModelError(
            f"{name}: not a digit classifier: inputs {in_shape} and outputs {out_shape}, "
            f"expected one {INPUT_SHAPE} input and one ({NUM_CLASSES},) output"
        )


def quantize(values: np.ndarray, dtype: np.dtype, scale: float, zero_point: int) -> np.ndarray:
    """float -> int8/uint8 with ``q = round(x / scale) + zero_point``, clipped to the dtype's range."""
    info = np.iinfo(dtype)
    q = np.round(values.astype(np.float32) / np.float32(scale)) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """int8/uint8 -> float32 with ``x = (q - zero_point) * scale``."""
    return ((values.astype(np.float32) - zero_point) * np.float32(scale)).astype(np.float32)


def _scale_zero_point(detail: dict) -> tuple[float, int]:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return float(scale), int(zero_point)


def prepare_input(detail: dict, images: np.ndarray) -> np.ndarray:
    """Pixels (N, 28, 28[, 1]) 0-255 -> the input tensor's dtype, quantized if it is an integer tensor."""
    batch = np.asarray(images)
    if batch.ndim == 3:
        batch = batch[..., None]  # (N, 28, 28) -> (N, 28, 28, 1)
    if batch.shape[1:] != INPUT_SHAPE:
        raise ValueError(f"images must be (N, 28, 28) or (N, 28, 28, 1), got {np.asarray(images).shape}")
    dtype = np.dtype(detail["dtype"])
    if np.issubdtype(dtype, np.integer):
        scale, zero_point = _scale_zero_point(detail)
        if scale == 0:
            raise ValueError(f"integer input tensor without quantization parameters ({dtype})")
        return quantize(batch, dtype, scale, zero_point)
    return batch.astype(dtype)


def read_output(detail: dict, values: np.ndarray) -> np.ndarray:
    """The output tensor as float32, dequantized if it is an integer tensor."""
    if np.issubdtype(np.dtype(detail["dtype"]), np.integer):
        return dequantize(values, *_scale_zero_point(detail))
    return values.astype(np.float32)


def _ensure_batch(interpreter: Any, size: int) -> dict:
    """Resize the input tensor to ``size`` images if needed; return its details."""
    detail = interpreter.get_input_details()[0]
    if int(detail["shape"][0]) != size:
        interpreter.resize_tensor_input(detail["index"], [size, *INPUT_SHAPE])
        interpreter.allocate_tensors()
        detail = interpreter.get_input_details()[0]
    return detail


def set_input(interpreter: Any, images: np.ndarray) -> None:
    """Resize the input to ``len(images)`` and copy the (quantized) pixels in."""
    detail = _ensure_batch(interpreter, len(images))
    interpreter.set_tensor(detail["index"], prepare_input(detail, images))


def get_output(interpreter: Any) -> np.ndarray:
    """The last invoke's probabilities, float32 (N, 10)."""
    detail = interpreter.get_output_details()[0]
    return read_output(detail, interpreter.get_tensor(detail["index"]))


def predict_proba(interpreter: Any, images: np.ndarray, *, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Class probabilities float32 (N, 10) for pixels (N, 28, 28[, 1]) 0-255, uint8 or float."""
    images = np.asarray(images)
    if len(images) == 0:
        return np.zeros((0, 10), np.float32)
    chunks = []
    for start in range(0, len(images), batch_size):
        set_input(interpreter, images[start : start + batch_size])
        interpreter.invoke()
        chunks.append(get_output(interpreter))
    return np.concatenate(chunks)


def tensor_summary(detail: dict) -> dict:
    """JSON-ready dtype, shape, scale and zero point of one tensor (edge metadata)."""
    scale, zero_point = _scale_zero_point(detail)
    return {
        "dtype": np.dtype(detail["dtype"]).name,
        "shape": [int(d) for d in detail["shape"]],
        "scale": scale,
        "zero_point": zero_point,
    }


def op_names(path: str | os.PathLike) -> list[str]:
    """Operator names of the model at ``path`` in graph order, before any delegate takes nodes over.

    A Flex (TensorFlow) op would show as ``Flex...``; the plain runtime cannot run those.
    """
    kwargs = {}
    try:
        from ai_edge_litert.interpreter import OpResolverType

        kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    except ImportError:
        pass
    interpreter = interpreter_class()(model_path=str(path), **kwargs)
    return [str(op["op_name"]) for op in interpreter._get_ops_details()]
'''
# ---- END EMBEDDED mnist_keras/litert.py ----
# ---- BEGIN EMBEDDED mnist_keras/classify.py ----
_SOURCES["classify"] = r'''
"""Classify image files with any digit model: find files, preprocess, predict, print.

The one implementation behind both ``mnist-keras predict`` and the edge script
``scripts/mnist_edge.py`` (which embeds this file verbatim), so both accept
the same inputs and print exactly the same lines. Model-agnostic: it takes a
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

from .preprocess import ImageError, to_mnist

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
NUM_CLASSES = 10
DEFAULT_TOP_K = 3
BENCHMARK_WARMUP = 10  # single-image predictions discarded before timing
BENCHMARK_PREPROCESS_RUNS = 5  # preprocessing is timed as the median of this many runs
EXIT_OK = 0
EXIT_IMAGE_FAILED = 2  # an input the user can fix (click's usage-error code); the other images are still answered

PredictProba = Callable[[np.ndarray], np.ndarray]  # (N, 28, 28, 1) uint8 -> (N, 10)


@dataclasses.dataclass
class Result:
    """The outcome for one input file: a prediction, or the reason there is none."""

    path: str
    digit: int | None = None
    probability: float | None = None
    top_k: list[tuple[int, float]] = dataclasses.field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict:
        """JSON-ready: ``path`` plus either ``digit``/``probability``/``top_k`` or ``error``."""
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        top = [{"digit": d, "probability": round(p, 6)} for d, p in self.top_k]
        return {"path": self.path, "digit": self.digit, "probability": round(self.probability, 6), "top_k": top}


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
    batch = np.stack(digits)[..., np.newaxis] if digits else np.zeros((0, 28, 28, 1), np.uint8)
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


def format_benchmark(stats: dict) -> str:
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
    benchmark_runs: int = 0,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Classify ``inputs``, print one line per image, return the exit code (2 if any failed).

    Text mode prints predictions to ``out`` and errors to ``err``; JSON mode
    prints one object per image (``error`` for failures) to ``out``.
    """
    out, err = out or sys.stdout, err or sys.stderr
    results = classify(inputs, predict_proba, k=k)
    for result in results:
        if json_lines:
            print(as_json(result.as_dict()), file=out)
        else:
            print(format_result(result), file=err if result.error else out)
    failed = sum(r.error is not None for r in results)
    if failed and not json_lines:
        print(f"{failed} of {len(results)} image(s) failed", file=err)
    good = [r.path for r in results if r.error is None]
    if benchmark_runs > 0 and good:
        stats = benchmark(predict_proba, good[0], benchmark_runs)
        print(as_json({"benchmark": stats}) if json_lines else format_benchmark(stats), file=out)
    elif benchmark_runs > 0:
        print("error: nothing to benchmark: no image could be classified", file=err)
        failed = failed or 1
    return EXIT_IMAGE_FAILED if failed else EXIT_OK
'''
# ---- END EMBEDDED mnist_keras/classify.py ----
# fmt: on


def load_embedded() -> types.ModuleType:
    """Turn the embedded sources into a package ``mnist_edge_embedded`` with the same module names.

    Registered in ``sys.modules`` so the relative imports between them work;
    registered in ``linecache`` so a traceback would still show their lines.
    """
    package = types.ModuleType(EMBEDDED_PACKAGE)
    package.__path__ = []
    sys.modules[EMBEDDED_PACKAGE] = package
    for name, text in _SOURCES.items():
        source = text[1:]  # drop the newline after the opening quotes
        filename = f"<{__file__}: embedded mnist_keras/{name}.py>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        module = types.ModuleType(f"{EMBEDDED_PACKAGE}.{name}")
        module.__package__ = EMBEDDED_PACKAGE
        sys.modules[module.__name__] = module
        exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 -- our own embedded package code
        setattr(package, name, module)
    return package


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be 1 or more")
    return value


def top_k_value(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 10:
        raise argparse.ArgumentTypeError(f"{text} must be between 1 and 10")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="mnist_edge.py",
        description="Classify digit images (files or folders) with a .tflite digit classifier, no TensorFlow needed.",
        epilog="Exit codes: 0 all classified, 1 an image failed (the others are still printed), 2 bad model or options.",
    )
    parser.add_argument("model", metavar="MODEL.tflite", help="a model from 'mnist-keras export' (float or int8)")
    parser.add_argument(
        "images",
        metavar="IMAGE_OR_FOLDER",
        nargs="+",
        help="image files, or folders of png/jpg/jpeg/bmp/gif/webp/tif/tiff",
    )
    parser.add_argument(
        "--top-k", type=top_k_value, default=3, help="how many of the most probable digits to list (default: 3)"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per image per line (path, digit, probability, top_k, or error)",
    )
    parser.add_argument(
        "--threads", type=positive_int, default=None, help="interpreter threads (default: the runtime's choice)"
    )
    parser.add_argument(
        "--benchmark", type=positive_int, default=0, metavar="N", help="also time N single-image predictions"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        edge = load_embedded()
        interpreter = edge.litert.open_classifier(args.model, num_threads=args.threads)
    except ImportError as err:  # numpy, Pillow or an interpreter is missing
        print(f"error: {err}; this script needs: pip install numpy pillow ai-edge-litert", file=sys.stderr)
        return EXIT_BAD_MODEL
    except ValueError as err:  # litert.ModelError: missing, unreadable, not a digit classifier
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_MODEL

    def predict_proba(images):
        return edge.litert.predict_proba(interpreter, images)

    return edge.classify.run(
        args.images, predict_proba, k=args.top_k, json_lines=args.json, benchmark_runs=args.benchmark
    )


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
