"""Printed digits rendered from TrueType fonts: photographed price tags, forms, house numbers.

Fonts come from two places. Those bundled with matplotlib (a dependency, so
present on every machine: DejaVu, STIX, Computer Modern) make the suite the
same everywhere. Liberation (metric clones of Arial, Times New Roman and
Courier New: Debian's ``fonts-liberation``) is used when the system has it,
and skipped with a note otherwise.

``held_out`` fonts must never be used to train a model (augmentation, synthetic
data), so the robustness report can say how a model reads fonts it has never
seen. Only the DejaVu family is for training.

Each digit is drawn dark on light paper at a random size, angle and blur,
with a little sensor noise; ``preprocess.to_mnist`` does the rest, as for a photo.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

MATPLOTLIB, SYSTEM = "matplotlib", "system"
SYSTEM_FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")
FONT_SIZES_PX = (14, 24, 40, 72)  # glyph size of the text, in pixels of the image
MAX_ANGLE_DEG = 12.0  # rotation drawn uniformly from +-this
BLUR_FRACTIONS = (0.0, 0.03, 0.06)  # Gaussian blur radius as a fraction of the font size
PAPER_LEVELS, INK_LEVELS = (185, 245), (5, 90)  # grey-level ranges drawn per image
NOISE_SIGMA = 4.0  # grey levels


@dataclass(frozen=True)
class Font:
    """A font of the suite: display name, file name, whether it is held out of training, where it comes from."""

    name: str
    filename: str
    held_out: bool
    source: str = MATPLOTLIB


FONTS = (
    Font("DejaVu Sans", "DejaVuSans.ttf", held_out=False),
    Font("DejaVu Sans Bold", "DejaVuSans-Bold.ttf", held_out=False),
    Font("DejaVu Sans Oblique", "DejaVuSans-Oblique.ttf", held_out=False),
    Font("DejaVu Serif", "DejaVuSerif.ttf", held_out=False),
    Font("DejaVu Serif Bold Italic", "DejaVuSerif-BoldItalic.ttf", held_out=False),
    Font("DejaVu Sans Mono", "DejaVuSansMono.ttf", held_out=False),
    Font("STIX General", "STIXGeneral.ttf", held_out=True),
    Font("STIX General Bold Italic", "STIXGeneralBolIta.ttf", held_out=True),
    Font("Computer Modern Roman", "cmr10.ttf", held_out=True),
    Font("Computer Modern Sans", "cmss10.ttf", held_out=True),
    Font("Computer Modern Typewriter", "cmtt10.ttf", held_out=True),
    Font("Liberation Sans", "LiberationSans-Regular.ttf", held_out=True, source=SYSTEM),
    Font("Liberation Serif", "LiberationSerif-Regular.ttf", held_out=True, source=SYSTEM),
    Font("Liberation Mono", "LiberationMono-Regular.ttf", held_out=True, source=SYSTEM),
)


def _matplotlib_font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@functools.cache
def font_path(font: Font) -> Path | None:
    """Where ``font``'s file is on this machine, or None."""
    if font.source == MATPLOTLIB:
        path = _matplotlib_font_dir() / font.filename
        return path if path.is_file() else None
    for folder in SYSTEM_FONT_DIRS:
        if folder.is_dir():
            found = next(iter(sorted(folder.rglob(font.filename))), None)
            if found is not None:
                return found
    return None


def available_fonts(*, held_out: bool) -> tuple[list[tuple[Font, Path]], list[str]]:
    """The training (or held-out) fonts present here, and a note for each one that is missing."""
    found, notes = [], []
    for font in FONTS:
        if font.held_out != held_out:
            continue
        path = font_path(font)
        if path is None:
            where = "matplotlib's fonts" if font.source == MATPLOTLIB else "/usr/share/fonts (Debian: fonts-liberation)"
            notes.append(f"font {font.name} skipped: {font.filename} not found in {where}")
        else:
            found.append((font, path))
    return found, notes


@functools.lru_cache(maxsize=64)
def _truetype(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


def render_digit(digit: int, path: Path, rng: np.random.Generator) -> np.ndarray:
    """One printed digit as a uint8 grey photo: dark on paper, random size, angle, blur and levels."""
    size = int(rng.choice(FONT_SIZES_PX))
    angle = rng.uniform(-MAX_ANGLE_DEG, MAX_ANGLE_DEG)
    blur = size * float(rng.choice(BLUR_FRACTIONS))
    paper, ink = int(rng.integers(*PAPER_LEVELS)), int(rng.integers(*INK_LEVELS))
    side = 3 * size  # room for the glyph at any angle
    canvas = Image.new("L", (side, side), paper)
    ImageDraw.Draw(canvas).text((side / 2, side / 2), str(digit), fill=ink, font=_truetype(path, size), anchor="mm")
    canvas = canvas.rotate(angle, resample=Image.BICUBIC, fillcolor=paper)
    if blur > 0:
        canvas = canvas.filter(ImageFilter.GaussianBlur(blur))
    grey = np.asarray(canvas, np.float64) + rng.normal(0, NOISE_SIGMA, (side, side))
    return np.rint(np.clip(grey, 0, 255)).astype(np.uint8)


def render_digits(labels: Sequence[int], fonts: Sequence[tuple[Font, Path]],
                  rng: np.random.Generator) -> tuple[list[np.ndarray], list[str]]:  # fmt: skip
    """Render each label, cycling through ``fonts``: (images, font name of each)."""
    if not fonts:
        raise ValueError("no font to render digits with")
    images, names = [], []
    for i, digit in enumerate(labels):
        font, path = fonts[i % len(fonts)]
        images.append(render_digit(int(digit), path, rng))
        names.append(font.name)
    return images, names


TRAINING_STREAM = "printed-training"  # its own random stream: never the suite's images


def training_digits(count: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` digits printed in the training fonts, through ``preprocess.to_mnist`` like user inputs.

    Labels are balanced (``count // 10`` of each digit, the rest spread) and
    shuffled; fonts are cycled. The same ``(count, seed)`` gives the same
    digits. Returns ``(count, 28, 28)`` uint8 images and ``(count,)`` uint8 labels.
    """
    from .preprocess import to_mnist

    fonts, _ = available_fonts(held_out=False)
    rng = np.random.default_rng([seed, zlib.crc32(TRAINING_STREAM.encode())])
    labels = rng.permutation(np.arange(count) % 10).astype(np.uint8)
    images, _ = render_digits(labels, fonts, rng)
    return np.stack([to_mnist(image) for image in images]).reshape(count, 28, 28), labels
