#!/usr/bin/env python
"""Draw the example images of the docs (docs/examples/): digits drawn with a pen, not MNIST digits.

    python scripts/make_examples.py            # rewrite docs/examples/*.png, *.jpg

Each digit is one pen stroke through a few points (fractions of the image's
side), smoothed with a Catmull-Rom spline and drawn with Pillow; the photo is
that drawing on a sheet of paper with uneven light, grain and JPEG
compression. Seeded, so the files come out the same every time.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "examples"
STROKES = {  # one stroke per digit, as people write them: (x, y) as fractions of the side
    0: [(0.5 + 0.17 * np.sin(t), 0.5 - 0.32 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 13)],
    6: [(0.62, 0.14), (0.45, 0.3), (0.35, 0.5), (0.34, 0.7), (0.45, 0.85), (0.6, 0.83), (0.66, 0.68),
        (0.58, 0.55), (0.45, 0.54), (0.35, 0.62)],
    2: [(0.3, 0.32), (0.38, 0.18), (0.52, 0.13), (0.65, 0.2), (0.68, 0.34), (0.6, 0.48), (0.3, 0.84), (0.74, 0.82)],
    3: [(0.3, 0.2), (0.5, 0.12), (0.66, 0.22), (0.64, 0.36), (0.47, 0.47), (0.67, 0.58), (0.68, 0.75),
        (0.5, 0.87), (0.3, 0.8)],
    7: [(0.28, 0.18), (0.72, 0.16), (0.58, 0.45), (0.46, 0.86)],
}  # fmt: skip


def smooth(points: list[tuple[float, float]], steps: int = 12) -> np.ndarray:
    """The points joined by a Catmull-Rom spline: (N, 2) fractions."""
    p = np.array([points[0], *points, points[-1]], dtype=float)
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        for t in np.linspace(0, 1, steps, endpoint=False):
            out.append(0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                              + (3 * p1 - p0 - 3 * p2 + p3) * t**3))  # fmt: skip
    out.append(p[-2])
    return np.array(out)


def pen_drawing(digit: int, size: int, *, pen: float, ink: int = 20, paper: int = 255, rng=None) -> Image.Image:
    """``digit`` drawn with a round pen ``pen`` (fraction of the side) on a plain background, greyscale.

    Drawn at 4x and reduced, so the stroke's edges are smooth.
    """
    final, size = size, size * 4
    image = Image.new("L", (size, size), paper)
    draw = ImageDraw.Draw(image)
    points = smooth(STROKES[digit])
    if rng is not None:  # a hand is not a plotter
        points = points + rng.normal(0, 0.004, points.shape).cumsum(axis=0) * 0.3
    xy = [(float(x * size), float(y * size)) for x, y in points]
    width = max(1, round(pen * size))
    draw.line(xy, fill=ink, width=width)
    for x, y in xy:  # a round pen: round joints and ends
        draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=ink)
    return image.resize((final, final), Image.LANCZOS)


def photo(digits: str, rng: np.random.Generator, *, width: int = 480) -> Image.Image:
    """``digits`` in blue ballpoint on a sheet of paper, photographed: light gradient, shadow, grain, JPEG-ready RGB.

    Several digits are written side by side, each a little higher or lower than the last, as by hand.
    """
    height, side = 360, 150
    mask = Image.new("L", (width, height), 0)
    left = int(width * 0.42) if len(digits) == 1 else int((width - 0.62 * side * len(digits)) / 2)
    for i, digit in enumerate(digits):
        stroke = pen_drawing(int(digit), side, pen=0.06, ink=255, paper=0, rng=rng).rotate(-6, resample=Image.BILINEAR)
        top = int(height * 0.25) if len(digits) == 1 else int(height * 0.25 + rng.uniform(-8, 8))
        layer = Image.new("L", (width, height), 0)
        layer.paste(stroke, (left + int(i * 0.62 * side), top))
        mask = ImageChops.lighter(mask, layer)  # strokes that overlap keep their darkest ink
    mask = mask.filter(ImageFilter.GaussianBlur(1.2))
    x = np.linspace(0, 1, width)[None, :]
    y = np.linspace(0, 1, height)[:, None]
    light = 0.95 - 0.25 * x - 0.1 * y  # light from the top left
    light = light - 0.12 * (1 / (1 + np.exp(-(x + 0.6 * y - 1.1) * 25)))  # a soft shadow edge
    paper = np.stack([light * 238, light * 232, light * 220], axis=-1)
    ink = np.array([30.0, 40.0, 95.0])
    alpha = np.asarray(mask, dtype=float)[..., None] / 255
    rgb = paper * (1 - alpha) + ink * alpha + rng.normal(0, 4, paper.shape)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.6))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=OUTPUT, help="Folder to write. Default: docs/examples/.")
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    written = {
        "three.png": pen_drawing(3, 200, pen=0.08, rng=rng),  # like the page's pad: dark ink on white
        "two_chalk.png": pen_drawing(2, 160, pen=0.1, ink=235, paper=40, rng=rng),  # light on dark
    }
    for name, image in written.items():
        image.save(args.output / name, optimize=True)
    photo("7", rng).save(args.output / "seven_photo.jpg", quality=70, optimize=True)
    photo("2026", rng, width=640).save(args.output / "number_2026.jpg", quality=70, optimize=True)
    for name in [*written, "seven_photo.jpg", "number_2026.jpg"]:
        print(f"wrote {args.output / name}")


if __name__ == "__main__":
    main()
