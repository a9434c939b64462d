"""Generated images of whole numbers, with their true digits and boxes: the number reader's benchmark.

Each image holds a number of 1-8 digits (or several lines of them) composed from
real MNIST digits or printed in a TrueType font, under one *condition*:

``separated``, ``separated_4``
    handwritten digits with random gaps, sizes and baseline drift (``_4``: four digits)
``touching``
    two handwritten digits whose ink touches (one mark)
``touching_many``
    3-6 digits, at least one neighbour pair touching, some pairs pressed 1-2 px into each other
``overlapping``
    2-6 digits whose boxes overlap by up to a quarter of a digit's width (ink may cross)
``multi_stroke``
    2-6 digits, one or two of them cut into separate strokes by a thin near-horizontal gap
    (as a 4, 5 or 7 drawn in two strokes)
``sizes``
    2-6 digits of sizes 0.6-1.5x and a steeper baseline drift
``lines``
    two or three lines of 1-5 digits, read top to bottom
``photo``
    2-6 separated digits, dark ink on paper with light fall-off, noise, blur and JPEG
``printed``
    1-8 digits printed in a font

Honesty: the *test* set is built only from MNIST's test digits and the fonts
``printed.py`` holds out of training; its *validation* twin only from the 5,000
validation digits that ``data.make_splits(load_mnist(), seed=42)`` holds out of
training, and the training fonts (set tighter than their own spacing: DejaVu spaces
its digits wider than most fonts). Every choice of the reader (its probability
threshold, its cut rules) is made on the validation set; the test set is run once.
A third split, ``train``, composes numbers from the other 55,000 training digits for
what the reader learns (``scripts/train_whole_digit.py``). ``cut_digits`` gives a
classifier's training set the digits as the reader cuts them out of numbers.
The same (split, seed, count) gives the same images: each condition has its own
random stream derived from the seed and its name.

numpy and Pillow only. Handwritten numbers are composed at MNIST scale (digits
about 20 px tall) from each digit's ink box and enlarged 1-3x (photos 2-4x);
clean ones are dark on white or light on black at random.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from . import printed

TEST, VALIDATION, TRAIN = "test", "validation", "train"
SPLITS = (TEST, VALIDATION, TRAIN)
VALIDATION_SEED = 42  # data.make_splits' default: the validation digits every model held out
CONDITIONS = ("separated", "separated_4", "touching", "touching_many", "overlapping", "multi_stroke",
              "sizes", "lines", "photo", "printed")  # fmt: skip
MAX_LENGTH = 8  # digits in one generated number
INK_MASK = 0.35  # of full ink (0..1): what counts as a digit's ink for boxes and touching
GAP_PX = (2.0, 9.0)  # gap between separated digits' ink boxes, px at MNIST scale (digits ~20 px tall)
DRIFT_SLOPE = 0.08  # baseline drift: vertical px per horizontal px, drawn from +-this
DRIFT_JITTER_PX = 1.5  # and each digit moved up or down by up to this
SIZE_JITTER = 0.1  # digit size drawn from 1 +- this (``sizes``: SIZE_RANGE)
SIZE_RANGE = (0.6, 1.5)
ENLARGE = (1, 2, 3)  # clean images are enlarged by one of these (photos: PHOTO_ENLARGE)
PHOTO_ENLARGE = (2, 3, 4)
MARGIN = (0.3, 1.2)  # empty border around the number, in digit heights
PRESS_PX = (0, 2)  # touching digits: ink pressed this far into each other beyond first contact
OVERLAP_SHARE = (0.05, 0.25)  # of the narrower digit's width: how far overlapping boxes overlap
CUT_PX = (1.5, 2.5)  # width of the gap that cuts a digit into strokes, px at MNIST scale
CUT_ANGLE_DEG = 35.0  # the cut's angle from horizontal is drawn from +-this
MIN_STROKE_SHARE = 0.1  # of the digit's ink: each stroke a cut leaves must be this big
LINE_GAP = (0.3, 0.8)  # gap between lines, in digit heights
PRINT_SIZES_PX = (24, 32, 48)  # printed glyph size
PRINT_ANGLE_DEG = 3.0  # printed lines are rotated by up to +-this
TIGHT_TRACKING = (-0.08, 0.0)  # validation and train splits: letter spacing added between digits, in font sizes
PAPER, INK = (170.0, 235.0), (10.0, 80.0)  # photo grey levels drawn per image
LIGHT_FALLOFF = (0.0, 0.35)  # photo: light falls by this share across the image
PHOTO_NOISE = (2.0, 7.0)  # sensor noise sigma, grey levels
PHOTO_BLUR_PX = (0.0, 1.2)  # Gaussian blur radius
JPEG_QUALITY = (30, 85)


@dataclass(frozen=True)
class NumberImage:
    """One generated image and its truth.

    Attributes:
        image: (H, W) uint8 grey image.
        text: the digits in reading order, lines joined by a newline.
        boxes: (n, 4) int (left, top, right, bottom) of each digit's ink, right and bottom
            exclusive, in the order of ``text`` (newlines skipped).
        condition: the condition's name.
        font: the font's name for printed numbers, "" for handwritten ones.
    """

    image: np.ndarray
    text: str
    boxes: np.ndarray
    condition: str
    font: str = ""


@dataclass(frozen=True)
class DigitPool:
    """Handwritten digits to compose numbers from: (N, 28, 28) uint8 images and (N,) labels."""

    images: np.ndarray
    labels: np.ndarray

    def draw(self, label: int, rng: np.random.Generator) -> np.ndarray:
        """A random digit ``label`` as its ink box, float 0..1 (h, w)."""
        index = rng.choice(np.flatnonzero(self.labels == label))
        ink = self.images[index].astype(np.float32) / 255
        rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
        return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def pool(split: str, mnist=None) -> DigitPool:
    """MNIST's test digits (``test``), the validation digits (``validation``) or the training digits (``train``).

    Raises:
        ValueError: an unknown split.
    """
    from .data import load_mnist, make_splits

    mnist = load_mnist() if mnist is None else mnist
    if split == TEST:
        return DigitPool(mnist.x_test, mnist.y_test)
    if split == VALIDATION:
        splits = make_splits(mnist, seed=VALIDATION_SEED)
        return DigitPool(splits.x_val, splits.y_val)
    if split == TRAIN:
        splits = make_splits(mnist, seed=VALIDATION_SEED)
        return DigitPool(splits.x_train, splits.y_train)
    raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")


def condition_rng(seed: int, split: str, condition: str) -> np.random.Generator:
    """The random stream of one condition of one split: the same whatever else is generated."""
    return np.random.default_rng([seed, zlib.crc32(f"{split}/{condition}".encode())])


# ------------------------------------------------------------ placing digits


@dataclass
class _Placed:
    """A digit's ink (h, w) float 0..1 at (top, left) on the composition, in MNIST-scale px."""

    ink: np.ndarray
    top: int
    left: int
    label: int

    @property
    def right(self) -> int:
        return self.left + self.ink.shape[1]


def _resize(ink: np.ndarray, scale: float) -> np.ndarray:
    """Scale a float ink box (bilinear), at least 1 px a side."""
    h, w = ink.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.clip(np.asarray(Image.fromarray(ink, "F").resize(size, Image.BILINEAR)), 0, 1)


def _edge_profile(ink: np.ndarray, right: bool) -> np.ndarray:
    """(h,) the rightmost (or leftmost) ink column of each row, NaN for rows without ink."""
    mask = ink > INK_MASK
    cols = np.where(mask, np.arange(ink.shape[1])[np.newaxis, :], -1 if right else ink.shape[1])
    edge = (cols.max(axis=1) if right else cols.min(axis=1)).astype(np.float64)
    edge[~mask.any(axis=1)] = np.nan
    return edge


def _contact_left(placed: Sequence[_Placed], ink: np.ndarray, top: int) -> int | None:
    """The ``left`` at which ``ink`` (placed at ``top``) first touches the ink already placed, or None."""
    gaps = []
    new_left = _edge_profile(ink, right=False)
    for other in placed:
        rows = np.arange(max(top, other.top), min(top + ink.shape[0], other.top + other.ink.shape[0]))
        if len(rows) == 0:
            continue
        their_right = _edge_profile(other.ink, right=True)[rows - other.top] + other.left
        gaps.append(their_right - new_left[rows - top])
    gaps = [g[~np.isnan(g)] for g in gaps]
    gaps = [g for g in gaps if len(g)]
    return None if not gaps else int(max(g.max() for g in gaps))  # the first column that meets


def _layout(inks: Sequence[np.ndarray], labels: Sequence[int], rng: np.random.Generator, *,
            join: str, drift: float = DRIFT_SLOPE) -> list[_Placed]:  # fmt: skip
    """Place inks left to right on one baseline that drifts.

    ``join``: ``gap`` (separated), ``touch`` (every pair touching), ``mixed`` (each pair
    touching or separated at random, at least one touching), ``overlap`` (boxes overlap).
    """
    slope = rng.uniform(-drift, drift)
    height = max(ink.shape[0] for ink in inks)
    placed: list[_Placed] = []
    touch = [join == "touch" or (join == "mixed" and rng.random() < 0.5) for _ in inks]
    if join == "mixed" and len(inks) > 1 and not any(touch[1:]):
        touch[int(rng.integers(1, len(inks)))] = True
    for i, (ink, label) in enumerate(zip(inks, labels)):
        left = 0 if not placed else placed[-1].right + round(rng.uniform(*GAP_PX))
        centre = height / 2 + slope * left + rng.uniform(-DRIFT_JITTER_PX, DRIFT_JITTER_PX)
        top = round(centre - ink.shape[0] / 2)
        if placed and touch[i]:
            contact = _contact_left(placed, ink, top)
            left = left if contact is None else contact - int(rng.integers(PRESS_PX[0], PRESS_PX[1] + 1))
        elif placed and join == "overlap":
            narrower = min(ink.shape[1], placed[-1].ink.shape[1])
            left = placed[-1].right - max(1, round(rng.uniform(*OVERLAP_SHARE) * narrower))
        placed.append(_Placed(ink, top, left, int(label)))
    return placed


def _compose(lines: Sequence[Sequence[_Placed]], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Lines of placed digits -> ((H, W) float ink 0..1 with a margin, (n, 4) boxes in reading order)."""
    flat = [p for line in lines for p in line]
    height = float(np.median([p.ink.shape[0] for p in flat]))
    margin = [round(rng.uniform(*MARGIN) * height) for _ in range(4)]  # top, left, bottom, right
    top = min(p.top for p in flat) - margin[0]
    left = min(p.left for p in flat) - margin[1]
    bottom = max(p.top + p.ink.shape[0] for p in flat) + margin[2]
    right = max(p.right for p in flat) + margin[3]
    canvas = np.zeros((bottom - top, right - left), np.float32)
    boxes = []
    for p in flat:
        y, x = p.top - top, p.left - left
        region = canvas[y : y + p.ink.shape[0], x : x + p.ink.shape[1]]
        np.maximum(region, p.ink, out=region)
        rows, cols = np.flatnonzero((p.ink > INK_MASK).any(axis=1)), np.flatnonzero((p.ink > INK_MASK).any(axis=0))
        boxes.append((x + cols[0], y + rows[0], x + cols[-1] + 1, y + rows[-1] + 1))
    return canvas, np.asarray(boxes, np.intp).reshape(-1, 4)


def _enlarge(canvas: np.ndarray, boxes: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Enlarge the composition ``factor`` times (bicubic), boxes with it."""
    if factor == 1:
        return canvas, boxes
    h, w = canvas.shape
    big = Image.fromarray(canvas, "F").resize((w * factor, h * factor), Image.BICUBIC)
    return np.clip(np.asarray(big), 0, 1), boxes * factor


# ---------------------------------------------------------------- rendering


def _clean(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ink 0..1 -> uint8: dark on white or light on black, at random."""
    grey = ink * 255 if rng.random() < 0.5 else 255 * (1 - ink)
    return np.rint(grey).astype(np.uint8)


def _photo(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ink 0..1 -> uint8 photo of a page: light falling off one way, noise, blur, JPEG."""
    h, w = ink.shape
    yy, xx = np.mgrid[0:h, 0:w]
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h + 1) / 2  # 0..1 across the page
    paper = rng.uniform(*PAPER) * (1 - rng.uniform(*LIGHT_FALLOFF) * ramp)
    grey = paper + (rng.uniform(*INK) - paper) * ink + rng.normal(0, rng.uniform(*PHOTO_NOISE), ink.shape)
    image = Image.fromarray(np.rint(np.clip(grey, 0, 255)).astype(np.uint8))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(*PHOTO_BLUR_PX)))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(*JPEG_QUALITY)))
    return np.asarray(Image.open(buffer).convert("L"))


# ------------------------------------------------------------ handwritten digits


def _labels(length: int, rng: np.random.Generator) -> list[int]:
    return [int(d) for d in rng.integers(0, 10, length)]


def _inks(digits: DigitPool, labels: Sequence[int], rng: np.random.Generator,
          sizes: tuple[float, float] = (1 - SIZE_JITTER, 1 + SIZE_JITTER)) -> list[np.ndarray]:  # fmt: skip
    return [_resize(digits.draw(label, rng), rng.uniform(*sizes)) for label in labels]


def _strokes(ink: np.ndarray, rng: np.random.Generator, tries: int = 10) -> np.ndarray | None:
    """The digit cut into two or more strokes by a thin near-horizontal gap, or None if no cut did.

    A cut must leave at least two strokes of MIN_STROKE_SHARE of the ink each (8-connected).
    """
    from .marks import components  # the reader's own notion of separate marks

    h, w = ink.shape
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(tries):
        angle = np.radians(rng.uniform(-CUT_ANGLE_DEG, CUT_ANGLE_DEG))
        y0, x0 = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
        distance = np.abs((yy - y0) * np.cos(angle) - (xx - x0) * np.sin(angle))
        cut = np.where(distance < rng.uniform(*CUT_PX) / 2, 0, ink)
        _, sizes, _ = components(cut > INK_MASK)
        if (sizes >= MIN_STROKE_SHARE * sizes.sum()).sum() >= 2:
            return cut
    return None


def _handwritten(digits: DigitPool, rng: np.random.Generator, *, lengths: tuple[int, int], join: str = "gap",
                 sizes: tuple[float, float] = (1 - SIZE_JITTER, 1 + SIZE_JITTER), cut: bool = False,
                 drift: float = DRIFT_SLOPE) -> tuple[list[_Placed], str]:  # fmt: skip
    """One line of handwritten digits: (placed digits, their text)."""
    labels = _labels(int(rng.integers(lengths[0], lengths[1] + 1)), rng)
    inks = _inks(digits, labels, rng, sizes)
    if cut:
        order = rng.permutation(len(inks))
        wanted = 1 if len(inks) < 4 else int(rng.integers(1, 3))
        done = 0
        for i in order:
            strokes = _strokes(inks[i], rng)
            if strokes is not None:
                inks[i], done = strokes, done + 1
            if done == wanted:
                break
    return _layout(inks, labels, rng, join=join, drift=drift), "".join(map(str, labels))


def _stack(lines: Sequence[list[_Placed]], rng: np.random.Generator) -> list[list[_Placed]]:
    """Put lines one under another with a gap and a random indent."""
    out, bottom = [], 0
    for line in lines:
        height = max(p.ink.shape[0] for p in line)
        width = max(p.right for p in line) - min(p.left for p in line)
        top = min(p.top for p in line)
        down = bottom - top + (round(rng.uniform(*LINE_GAP) * height) if out else 0)
        indent = round(rng.uniform(-0.3, 0.3) * width)
        out.append([_Placed(p.ink, p.top + down, p.left + indent, p.label) for p in line])
        bottom = max(p.top + p.ink.shape[0] for p in out[-1])
    return out


HANDWRITTEN = {  # condition -> options of _handwritten
    "separated": {"lengths": (1, MAX_LENGTH)},
    "separated_4": {"lengths": (4, 4)},
    "touching": {"lengths": (2, 2), "join": "touch"},
    "touching_many": {"lengths": (3, 6), "join": "mixed"},
    "overlapping": {"lengths": (2, 6), "join": "overlap"},
    "multi_stroke": {"lengths": (2, 6), "cut": True},
    "sizes": {"lengths": (2, 6), "sizes": SIZE_RANGE, "drift": 2 * DRIFT_SLOPE},
    "photo": {"lengths": (2, 6)},
}


def _handwritten_image(condition: str, digits: DigitPool, rng: np.random.Generator) -> NumberImage:
    if condition == "lines":
        parts = [_handwritten(digits, rng, lengths=(1, 5)) for _ in range(int(rng.integers(2, 4)))]
        lines, text = _stack([p for p, _ in parts], rng), "\n".join(t for _, t in parts)
    else:
        line, text = _handwritten(digits, rng, **HANDWRITTEN[condition])
        lines = [line]
    canvas, boxes = _compose(lines, rng)
    photo = condition == "photo"
    canvas, boxes = _enlarge(canvas, boxes, int(rng.choice(PHOTO_ENLARGE if photo else ENLARGE)))
    image = _photo(canvas, rng) if photo else _clean(canvas, rng)
    return NumberImage(image, text, boxes, condition)


# ---------------------------------------------------------------- printed digits


def _printed_image(fonts: Sequence[tuple[printed.Font, object]], rng: np.random.Generator, *,
                   tight: bool = False) -> NumberImage:  # fmt: skip
    """1-8 digits printed in one font, dark on paper, slightly rotated and blurred, with noise.

    ``tight`` (validation and training splits) sets the digits closer by up to TIGHT_TRACKING:
    the training fonts (DejaVu) space their digits wider than most fonts, so without it
    blurred digits never touch in validation, while held-out fonts' digits often do.
    """
    labels = _labels(int(rng.integers(1, MAX_LENGTH + 1)), rng)
    text = "".join(map(str, labels))
    font_info, path = fonts[int(rng.integers(len(fonts)))]
    size = int(rng.choice(PRINT_SIZES_PX))
    tracking = rng.uniform(*TIGHT_TRACKING) * size if tight else 0.0
    font = ImageFont.truetype(str(path), size)
    width = round(font.getlength(text)) + 2 * size
    layers = []
    for i, char in enumerate(text):  # each digit on its own layer: its true box
        layer = Image.new("L", (width, 3 * size), 0)
        x = size + font.getlength(text[:i]) + i * tracking
        ImageDraw.Draw(layer).text((x, 1.5 * size), char, fill=255, font=font, anchor="lm")
        layers.append(layer)
    angle = rng.uniform(-PRINT_ANGLE_DEG, PRINT_ANGLE_DEG)
    inks = [np.asarray(layer.rotate(angle, resample=Image.BICUBIC), np.float32) / 255 for layer in layers]
    ink = np.max(inks, axis=0)
    boxes = []
    for one in inks:
        rows, cols = np.flatnonzero((one > INK_MASK).any(axis=1)), np.flatnonzero((one > INK_MASK).any(axis=0))
        boxes.append((cols[0], rows[0], cols[-1] + 1, rows[-1] + 1))
    paper, dark = rng.uniform(*PAPER), rng.uniform(*INK)
    grey = paper + (dark - paper) * ink
    image = Image.fromarray(np.rint(np.clip(grey, 0, 255)).astype(np.uint8))
    blur = size * float(rng.choice(printed.BLUR_FRACTIONS))
    image = image.filter(ImageFilter.GaussianBlur(blur)) if blur > 0 else image
    noisy = np.asarray(image, np.float64) + rng.normal(0, printed.NOISE_SIGMA, ink.shape)
    image = np.rint(np.clip(noisy, 0, 255)).astype(np.uint8)
    return NumberImage(image, text, np.asarray(boxes, np.intp), "printed", font_info.name)


# ---------------------------------------------------------------- the sets


def make_condition(condition: str, count: int, digits: DigitPool, *, split: str, seed: int) -> list[NumberImage]:
    """``count`` images of one condition, from ``digits`` (and the split's fonts for ``printed``).

    Raises:
        ValueError: an unknown condition, or no font of the split on this machine.
    """
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; known: {', '.join(CONDITIONS)}")
    rng = condition_rng(seed, split, condition)
    if condition == "printed":
        fonts, _ = printed.available_fonts(held_out=split == TEST)
        if not fonts:
            raise ValueError(f"no {split} font found on this machine")
        return [_printed_image(fonts, rng, tight=split != TEST) for _ in range(count)]
    return [_handwritten_image(condition, digits, rng) for _ in range(count)]


def make_set(split: str, per_condition: int, *, seed: int = 0, conditions: Sequence[str] = CONDITIONS,
             mnist=None) -> list[NumberImage]:  # fmt: skip
    """Every condition's images for ``split`` (``test`` or ``validation``), conditions in order."""
    digits = pool(split, mnist)
    return [image for c in conditions for image in make_condition(c, per_condition, digits, split=split, seed=seed)]


# ------------------------------------------------------ digits as the reader cuts them


CUT_CONDITIONS = ("separated", "touching", "touching_many", "overlapping", "multi_stroke", "sizes", "photo")


def cut_digits(digits: DigitPool, count: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` digits as the number reader classifies them: (count, 28, 28) uint8 and (count,) uint8 labels.

    Numbers of CUT_CONDITIONS (in turn) are composed from ``digits`` and split by
    ``segment.prepare``, the reader's own first steps; every candidate that is one
    whole digit (``whole_digits``) is kept with that digit's label, normalised
    exactly as the reader hands it to the model. A digit cut out of a
    touching pair carries a sliver of its neighbour and misses a sliver of itself;
    a classifier trained on whole MNIST digits alone has never seen one
    (``train.with_extra_digits`` adds them to training). The same (digits, count,
    seed) gives the same crops.

    Raises:
        ValueError: numbers of ``digits`` the segmenter finds nothing in (after
            ``count`` + 100 of them, rather than looping forever).
    """
    from .preprocess import ImageError
    from .segment import prepare, source_box

    rng = condition_rng(seed, "cut", "digits")
    images: list[np.ndarray] = [np.zeros((0, 28, 28), np.uint8)]
    labels: list[int] = []
    made = 0
    while len(labels) < count:
        if made > count + 100:
            raise ValueError(f"{made} numbers of these digits gave {len(labels)} of {count} crops: no digit found")
        number = _handwritten_image(CUT_CONDITIONS[made % len(CUT_CONDITIONS)], digits, rng)
        made += 1
        try:
            page = prepare(number.image, "generated number")
        except ImageError:  # ink too faint to find: nothing to learn from
            continue
        candidates = [c for line in page.candidates for c in line]
        digit_of = whole_digits([source_box(c.box, page.factor, page.size) for c in candidates], number.boxes)
        chars = number.text.replace("\n", "")
        for candidate, digit in zip(candidates, digit_of):
            if digit >= 0:
                images.append(candidate.crop[None])
                labels.append(int(chars[digit]))
    return np.concatenate(images)[:count].astype(np.uint8), np.asarray(labels[:count], np.uint8)


# ---------------------------------------------------------------- scoring


MIN_IOU = 0.5  # a found box matches a true one when they overlap this much (intersection over union)


def iou(a: Sequence[int], b: Sequence[int]) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes, right/bottom exclusive."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0, width) * max(0, height)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


WHOLE_IOU = 0.7  # a candidate is one whole digit when its box matches that digit's this much (IoU)
STRAY_COVER = 0.3  # and holds less than this share of any other digit's box


def cover(box: Sequence[int], truth: Sequence[int]) -> float:
    """Share of the true box ``truth`` (left, top, right, bottom) inside ``box``."""
    across = max(0, min(box[2], truth[2]) - max(box[0], truth[0]))
    down = max(0, min(box[3], truth[3]) - max(box[1], truth[1]))
    return across * down / max(1, (truth[2] - truth[0]) * (truth[3] - truth[1]))


def whole_digits(boxes: Sequence[Sequence[int]], truths: Sequence[Sequence[int]]) -> np.ndarray:
    """(len(boxes),) for each found box, the index of the true digit it is, whole and alone, or -1.

    Whole: IoU >= WHOLE_IOU with that digit's box; alone: under STRAY_COVER of every
    other digit's box inside it (a box matching one of two touching digits well can
    still hold most of the other). What the whole-digit judge learns as a digit,
    and what ``cut_digits`` keeps.
    """
    found = []
    for box in boxes:
        overlaps = [iou(box, truth) for truth in truths]
        best = int(np.argmax(overlaps)) if overlaps else -1
        alone = all(cover(box, truth) < STRAY_COVER for k, truth in enumerate(truths) if k != best)
        found.append(best if best >= 0 and overlaps[best] >= WHOLE_IOU and alone else -1)
    return np.asarray(found, np.intp)


def union(a: Sequence[int], b: Sequence[int]) -> tuple[int, int, int, int]:
    """The box around two (left, top, right, bottom) boxes."""
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def digit_pairs(boxes: Sequence[Sequence[int]], truth: NumberImage) -> np.ndarray:
    """(len(boxes),) for each found box, the index ``i`` when it is the true digits ``i`` and ``i + 1``
    of one line together and nothing more, or -1.

    Together: IoU >= WHOLE_IOU with the box around both; nothing more: under STRAY_COVER of
    every other digit's box inside it. What the pair reader (``pairs.py``) learns as a pair.
    """
    lines = np.cumsum([char == "\n" for char in truth.text])[[char != "\n" for char in truth.text]]
    truths = truth.boxes
    found = []
    for box in boxes:
        match = -1
        for i in range(len(truths) - 1):
            if lines[i] != lines[i + 1] or iou(box, union(truths[i], truths[i + 1])) < WHOLE_IOU:
                continue
            if all(cover(box, truths[k]) < STRAY_COVER for k in range(len(truths)) if k not in (i, i + 1)):
                match = i
                break
        found.append(match)
    return np.asarray(found, np.intp)


def score(truth: NumberImage, text: str, boxes: Sequence[Sequence[int]]) -> dict:
    """How one reading compares with the truth.

    Returns a dict: ``string`` (the whole text right, lines included), ``digits`` (true
    digits), ``digits_right`` (true digits whose best-overlapping found box, IoU >= MIN_IOU,
    was read as that digit), ``segmented`` (as many digits as the truth, each box matching
    its true box in reading order).
    """
    true_chars = truth.text.replace("\n", "")
    found_chars = text.replace("\n", "")
    right = 0
    for char, true_box in zip(true_chars, truth.boxes):
        overlaps = [iou(true_box, box) for box in boxes]
        best = int(np.argmax(overlaps)) if overlaps else -1
        right += best >= 0 and overlaps[best] >= MIN_IOU and found_chars[best] == char
    segmented = len(boxes) == len(truth.boxes) and all(iou(t, f) >= MIN_IOU for t, f in zip(truth.boxes, boxes))
    return {"string": text == truth.text, "digits": len(true_chars), "digits_right": int(right),
            "segmented": bool(segmented)}  # fmt: skip
