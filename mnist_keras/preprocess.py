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

from .digits import IMAGE_SIDE as MNIST_SIZE
from .marks import digit_parts, is_salty, median3, span_of_digit

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


def source_name(source: Source) -> str:
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
    name = name or source_name(source)
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


def dilate(a: np.ndarray) -> np.ndarray:
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
        mask = dilate(mask) & allowed
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
    outline = mask & dilate(~mask)
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
        crop = dilate(crop)  # each step adds one pixel on both sides of every stroke
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
    name = name or source_name(source)
    gray = _limit_size(load_grayscale(source, name=name))  # (H, W)
    return ink_to_mnist(_ink(gray, name))


def ink_to_mnist(ink: np.ndarray) -> np.ndarray:
    """(h, w) float ink 0..255 on 0 (some of it nonzero) -> (28, 28) uint8, MNIST-normalised.

    The ink's box is fitted into 20x20 and centred by mass in 28x28: `to_mnist`'s
    last step, also used by the number reader on each digit's crop.
    """
    return np.rint(_centre(_fit_box(ink))).astype(np.uint8)


PAIR_HEIGHT, PAIR_WIDTH = MNIST_SIZE, 2 * MNIST_SIZE  # the pair reader's frame (``pairs.py``)


def ink_to_pair(ink: np.ndarray) -> np.ndarray:
    """(h, w) float ink 0..255 on 0 (some of it nonzero) -> (PAIR_HEIGHT, PAIR_WIDTH) uint8: ink that may
    be two digits side by side, its height scaled to BOX_SIZE as one digit's (its width by as much,
    up to PAIR_WIDTH - 4) and its box centred in the frame, for ``pairs.py``."""
    rows, cols = np.nonzero(ink.any(axis=1))[0], np.nonzero(ink.any(axis=0))[0]
    crop = _thicken(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    h, w = crop.shape
    scale = min(BOX_SIZE / h, (PAIR_WIDTH - 4) / w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    box = _renormalise(
        np.asarray(Image.fromarray(crop.astype(np.float32), "F").resize(size, Image.LANCZOS), np.float32)
    )
    frame = np.zeros((PAIR_HEIGHT, PAIR_WIDTH), np.float32)
    top, left = (PAIR_HEIGHT - box.shape[0]) // 2, (PAIR_WIDTH - box.shape[1]) // 2
    frame[top : top + box.shape[0], left : left + box.shape[1]] = box
    return np.rint(frame).astype(np.uint8)


LINE_HEIGHT, LINE_WIDTH = 32, 192  # the line reader's frame (``lines.py``)
LINE_INK_HEIGHT = 28  # a line's ink is scaled to this height in the frame
LINE_LEFT = 2  # empty columns of the frame left of a line's ink


def line_placement(ink: np.ndarray) -> tuple[tuple[int, int, int, int], float]:
    """Where ``ink_to_line`` puts a line's ink: the (top, left, bottom, right) inclusive box of its
    nonzero pixels and the scale from that box to the frame, which also tells the number reader
    which ink column a column of the line reader looked at."""
    rows, cols = np.nonzero(ink.any(axis=1))[0], np.nonzero(ink.any(axis=0))[0]
    h, w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    return (rows[0], cols[0], rows[-1], cols[-1]), min(LINE_INK_HEIGHT / h, (LINE_WIDTH - 2 * LINE_LEFT) / w)


def ink_to_line(ink: np.ndarray) -> np.ndarray:
    """(h, w) float ink 0..255 on 0 (some of it nonzero) -> (LINE_HEIGHT, LINE_WIDTH) uint8: one line
    of a number, its box scaled to LINE_INK_HEIGHT tall (less when it would not fit LINE_WIDTH - 2 *
    LINE_LEFT wide), LINE_LEFT px from the left edge and centred vertically, for ``lines.py``."""
    (top, left, bottom, right), scale = line_placement(ink)
    crop = ink[top : bottom + 1, left : right + 1].astype(np.float32)
    h, w = crop.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    box = np.asarray(Image.fromarray(crop, "F").resize(size, Image.BILINEAR), np.float32)
    frame = np.zeros((LINE_HEIGHT, LINE_WIDTH), np.float32)
    y = (LINE_HEIGHT - size[1]) // 2
    frame[y : y + size[1], LINE_LEFT : LINE_LEFT + size[0]] = box
    return np.rint(np.clip(frame, 0, 255)).astype(np.uint8)


def to_model_input(images: Iterable[Source]) -> np.ndarray:
    """Many sources -> (N, 28, 28, 1) uint8 batch (models rescale 0..255 themselves)."""
    digits = [
        to_mnist(src, name=None if isinstance(src, (str, os.PathLike)) else f"image #{i}")
        for i, src in enumerate(images)
    ]
    if not digits:
        return np.zeros((0, MNIST_SIZE, MNIST_SIZE, 1), np.uint8)
    return np.stack(digits)[..., np.newaxis]
