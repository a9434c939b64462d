"""Image corruptions for the robustness suite: the 15 of MNIST-C and the shifts real inputs bring.

Every corruption is a plain function ``(image, rng) -> image``: a uint8 MNIST
digit ``(28, 28)`` (light ink on black) and a ``numpy.random.Generator`` in,
a uint8 grey image out. The same generator state gives the same output, so a
suite is reproducible from one seed. numpy, SciPy and Pillow only.

MNIST-C (Mu and Gilmer 2019, https://github.com/google-research/mnist-c) is
re-implemented from its ``corruptions.py`` at the severity each function
there defaults to (the released code's choice; the published images were not
available to compare against). Its outputs stay 28x28.
Two of its helpers came from libraries we do not use and are emulated:
ImageMagick's motion blur (a one-sided Gaussian line kernel, as
``MotionBlurImage`` builds it) and scikit-image's Canny detector (same sigma
and thresholds; non-maximum suppression on four quantised directions instead
of skimage's interpolated neighbours). scikit-image's geometric transforms
are done with ``scipy.ndimage.affine_transform`` (same bilinear sampling,
black outside).

The "real-input" corruptions model what the page and the Raspberry Pi get
instead of MNIST: other pens, dark ink on paper, photos, JPEG, shadows, low
resolution. Some return larger images than 28x28 (``keeps_shape=False``):
the suite feeds everything through ``preprocess.to_mnist`` anyway.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from .digits import IMAGE_CENTRE, IMAGE_SIDE

CorruptFn = Callable[[np.ndarray, np.random.Generator], np.ndarray]
MNIST_C = "mnist-c"
REAL_INPUT = "real-input"
PAPER, INK = 228.0, 35.0  # grey levels of a photographed page and a pen


@dataclass(frozen=True)
class Corruption:
    """A registered corruption: name, group (``mnist-c`` / ``real-input``), what it does, the function."""

    name: str
    group: str
    description: str
    fn: CorruptFn
    keeps_shape: bool = True

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.fn(np.asarray(image, dtype=np.uint8), rng)


CORRUPTIONS: dict[str, Corruption] = {}


def register(name: str, group: str, description: str, *, keeps_shape: bool = True) -> Callable:
    """Decorator: add a corruption function to :data:`CORRUPTIONS` under ``name``."""

    def add(fn: CorruptFn) -> CorruptFn:
        CORRUPTIONS[name] = Corruption(name, group, description, fn, keeps_shape)
        return fn

    return add


def get(name: str) -> Corruption:
    """The corruption called ``name``.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; known: {', '.join(CORRUPTIONS)}")
    return CORRUPTIONS[name]


# ------------------------------------------------------------------ helpers


def _unit(image: np.ndarray) -> np.ndarray:
    """uint8 -> float64 0..1 (a copy)."""
    return np.asarray(image, dtype=np.float64) / 255.0


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """float 0..1 -> uint8 0..255, clipped and rounded."""
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def _gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    """scikit-image's ``filters.gaussian`` defaults: edge pixels repeated, truncated at 4 sigma."""
    return ndimage.gaussian_filter(x, sigma, mode="nearest", truncate=4.0)


def _warp(image: np.ndarray, matrix: np.ndarray, *, keep_centre: bool = True,
          shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:  # fmt: skip
    """MNIST-C's ``transform.warp(x, inverse_map=aff)``: output (x, y) samples input ``matrix @ (x, y) + t``.

    ``matrix`` is 2x2 in (x, y) = (column, row) order, as skimage's AffineTransform;
    with ``keep_centre`` the translation keeps pixel (13.5, 13.5) fixed. Bilinear, black outside.
    """
    (a1, a2), (b1, b2) = matrix
    tx, ty = (IMAGE_CENTRE * (1 - a1 - a2), IMAGE_CENTRE * (1 - b1 - b2)) if keep_centre else shift
    rows_cols = np.array([[b2, b1], [a2, a1]])  # the same map in (row, column) order
    out = ndimage.affine_transform(_unit(image), rows_cols, offset=(ty, tx), order=1, mode="constant", cval=0.0)
    return _to_uint8(out)


def _random_sign(rng: np.random.Generator) -> int:
    return int(rng.choice([-1, 1]))


def _line(c0: float, r0: float, c1: float, r1: float) -> np.ndarray:
    """MNIST-C's ``line_from_points``: a (28, 28) anti-aliased line 0..1 between two (column, row) points."""
    if c1 == c0:
        return np.zeros((IMAGE_SIDE, IMAGE_SIDE))
    cc, rr = np.meshgrid(np.arange(IMAGE_SIDE, dtype=np.float64), np.arange(IMAGE_SIDE, dtype=np.float64), sparse=True)
    slope = (r1 - r0) / (c1 - c0)
    dist = np.clip(np.abs(rr - (slope * (cc - c0) + r0)), 0, 2.3 - 1e-10)
    line = np.clip(np.log(1 - dist / 2.3) + 1, 0, 1)
    line[:, : int(np.floor(c0))] = 0  # (the reference's slicing, negative indices included)
    line[:, int(np.ceil(c1)) :] = 0
    return line


def _plasma_fractal(rng: np.random.Generator, *, mapsize: int = 256, wibbledecay: float = 3.0) -> np.ndarray:
    """Diamond-square height map (mapsize, mapsize) in 0..1, as MNIST-C's (and ImageNet-C's) fog."""
    maparray = np.zeros((mapsize, mapsize))
    stepsize, wibble = mapsize, 100.0
    while stepsize >= 2:
        half = stepsize // 2
        corners = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        square = corners + np.roll(corners, -1, axis=0)
        square += np.roll(square, -1, axis=1)
        maparray[half::stepsize, half::stepsize] = square / 4 + wibble * rng.uniform(-wibble, wibble, square.shape)
        dr = maparray[half::stepsize, half::stepsize]
        ul = maparray[0::stepsize, 0::stepsize]
        lt = dr + np.roll(dr, 1, axis=0) + ul + np.roll(ul, -1, axis=1)
        maparray[0::stepsize, half::stepsize] = lt / 4 + wibble * rng.uniform(-wibble, wibble, lt.shape)
        tt = dr + np.roll(dr, 1, axis=1) + ul + np.roll(ul, -1, axis=0)
        maparray[half::stepsize, 0::stepsize] = tt / 4 + wibble * rng.uniform(-wibble, wibble, tt.shape)
        stepsize //= 2
        wibble /= wibbledecay
    maparray -= maparray.min()
    return maparray / maparray.max()


# ------------------------------------------------------------------ MNIST-C


@register("shot_noise", MNIST_C, "Poisson noise, 3 photons at full ink (severity 5)")
def shot_noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    photons = 3.0
    return _to_uint8(rng.poisson(_unit(image) * photons) / photons)


@register("impulse_noise", MNIST_C, "salt and pepper on 17% of pixels (severity 4)")
def impulse_noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = _unit(image)
    flipped = rng.random(x.shape) < 0.17
    salt = rng.random(x.shape) < 0.5
    x[flipped] = salt[flipped]  # 1.0 (salt) or 0.0 (pepper)
    return _to_uint8(x)


@register("glass_blur", MNIST_C, "blur, local pixel swaps, blur: sigma 0.7, 1 px, 2 passes (severity 1)")
def glass_blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sigma, delta, passes = 0.7, 1, 2
    blurred = (_gaussian(_unit(image), sigma) * 255).astype(np.uint8)  # truncated, as the reference
    coords = range(IMAGE_SIDE - delta, delta, -1)
    n = len(coords)
    # Drawn up front (the reference draws per pixel): a coin and an offset per visit, high exclusive.
    swaps = rng.random((passes, n, n)) < 0.5
    offsets = rng.integers(-delta, delta, size=(passes, n, n, 2)).tolist()
    x = blurred.tolist()  # swaps are sequential (a moved pixel can move again): plain lists are fastest
    for p in range(passes):
        for i, h in enumerate(coords):
            for j, w in enumerate(coords):
                if swaps[p, i, j]:
                    dx, dy = offsets[p][i][j]
                    x[h][w], x[h + dy][w + dx] = x[h + dy][w + dx], x[h][w]
    return _to_uint8(_gaussian(np.array(x, np.float64) / 255.0, sigma))


@register("motion_blur", MNIST_C, "ImageMagick-style motion blur, radius 10, sigma 3, angle -45..45 (severity 1)")
def motion_blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    radius, sigma = 10, 3.0
    angle = np.deg2rad(rng.uniform(-45, 45))
    width = 2 * radius + 1  # ImageMagick's GetOptimalKernelWidth1D for radius > 0
    steps = np.arange(width)
    kernel = np.exp(-(steps**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    dxs = np.ceil(steps * np.cos(angle) - 0.5).astype(int)  # one-sided: the blur trails one way
    dys = np.ceil(steps * np.sin(angle) - 0.5).astype(int)
    padded = np.pad(image.astype(np.float64), width, mode="edge")
    out = np.zeros((IMAGE_SIDE, IMAGE_SIDE))
    for weight, dx, dy in zip(kernel, dxs, dys):
        out += weight * padded[width + dy : width + dy + IMAGE_SIDE, width + dx : width + dx + IMAGE_SIDE]
    return np.rint(np.clip(out, 0, 255)).astype(np.uint8)


@register("shear", MNIST_C, "shear 0.4 rad, random direction, about the centre (severity 2)")
def shear(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    c = 0.4 * _random_sign(rng)
    return _warp(image, np.array([[1.0, -np.sin(c)], [0.0, np.cos(c)]]))


@register("scale", MNIST_C, "shrink to 70% about the centre (severity 3)")
def scale(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _warp(image, np.eye(2) / 0.7)


@register("rotate", MNIST_C, "rotate 0.4 rad (23 deg), random direction (severity 2)")
def rotate(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    c = 0.4 * _random_sign(rng)
    return _warp(image, np.array([[np.cos(c), -np.sin(c)], [np.sin(c), np.cos(c)]]))


@register("brightness", MNIST_C, "HSV value +0.5: black background becomes mid grey (severity 5)")
def brightness(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _to_uint8(_unit(image) + 0.5)  # grey -> HSV -> V + c -> grey is exactly this


@register("translate", MNIST_C, "shift 3 px along both axes, random signs (severity 3)")
def translate(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    dx, dy = 3 * _random_sign(rng), 3 * _random_sign(rng)
    return _warp(image, np.eye(2), keep_centre=False, shift=(dx, dy))


@register("stripe", MNIST_C, "columns 0-6 and 21-27 inverted")
def stripe(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = image.copy()
    out[:, :7] = 255 - out[:, :7]
    out[:, 21:] = 255 - out[:, 21:]
    return out


@register("fog", MNIST_C, "plasma-fractal fog 3.0, decay 1.4 (severity 5)")
def fog(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    strength, decay = 3.0, 1.4
    x = _unit(image)
    top = x.max()
    x = x + strength * _plasma_fractal(rng, wibbledecay=decay)[:IMAGE_SIDE, :IMAGE_SIDE]
    return _to_uint8(x * top / (top + strength))


@register("spatter", MNIST_C, "grey mud blobs over the digit (severity 4)")
def spatter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    loc, scale_, sigma, threshold, mud_sigma = 0.65, 0.3, 1.0, 0.65, 1.5
    x = _unit(image)
    liquid = _gaussian(rng.normal(loc, scale_, x.shape), sigma)
    mud = _gaussian((liquid > threshold).astype(np.float64), mud_sigma)
    mud[mud < 0.8] = 0
    return _to_uint8(x * (1 - mud) + 63 / 255 * mud)


@register("dotted_line", MNIST_C, "a dashed line across the image")
def dotted_line(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    r0, r1 = rng.integers(0, 27, size=2)
    line = _line(0, r0, 27, r1)
    for start in range(0, IMAGE_SIDE, 4):
        line[:, start : start + 2] = 0  # dashes: 2 px off, 2 px on
    return _to_uint8(_unit(image) + line)


@register("zigzag", MNIST_C, "a zigzag line across the image")
def zigzag(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    length, width, c0, c1 = 2.0, 2.0, 2, 25
    r0 = int(rng.integers(0, 27))
    r1 = r0 + int(rng.integers(-5, 5))
    theta = np.arctan((r1 - r0) / (c1 - c0))
    d = (c1 - c0) / np.cos(theta)
    points = [(0.0, 0.0)]
    for i in range(int((d - length) // (2 * length)) + 1):
        r_i = (-1) ** i * width
        points.append(((2 * i + 1) * length, r_i))
    last = (2 * length) * (d // (2 * length))
    if d != last:
        points.append((d, r_i / (2 * (d - last))))  # the reference's end point, kept as it is
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    cs, rs = rotation @ np.array(points).T
    cs, rs = cs + c0, rs + r0
    x = _unit(image)
    for i in range(1, len(cs)):
        x = np.clip(x + _line(cs[i - 1], rs[i - 1], cs[i], rs[i]), 0, 1)
    return _to_uint8(x)


@register("canny_edges", MNIST_C, "Canny edge map (sigma 1, thresholds 0.1 / 0.2)")
def canny_edges(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    smoothed = ndimage.gaussian_filter(_unit(image), 1.0, mode="constant")
    gy, gx = ndimage.sobel(smoothed, axis=0), ndimage.sobel(smoothed, axis=1)
    magnitude = np.hypot(gy, gx)
    # Non-maximum suppression: keep pixels not below both neighbours along the gradient.
    direction = (np.round(np.arctan2(gy, gx) / (np.pi / 4)) % 4).astype(int)  # 0: -, 1: \, 2: |, 3: /
    padded = np.pad(magnitude, 1)
    maxima = np.zeros_like(magnitude, dtype=bool)
    for d, (dy, dx) in enumerate(((0, 1), (1, 1), (1, 0), (1, -1))):
        ahead = padded[1 + dy : 1 + dy + IMAGE_SIDE, 1 + dx : 1 + dx + IMAGE_SIDE]
        behind = padded[1 - dy : 1 - dy + IMAGE_SIDE, 1 - dx : 1 - dx + IMAGE_SIDE]
        maxima |= (direction == d) & (magnitude >= ahead) & (magnitude >= behind)
    maxima[[0, -1], :] = maxima[:, [0, -1]] = False  # skimage drops the border
    maxima &= magnitude > 0
    weak = maxima & (magnitude >= 0.1)
    labels, count = ndimage.label(weak, structure=np.ones((3, 3)))
    strong_labels = np.unique(labels[maxima & (magnitude >= 0.2)])
    edges = np.isin(labels, strong_labels[strong_labels > 0])
    return (edges * 255).astype(np.uint8)


# --------------------------------------------------------------- real inputs


def _enlarge(image: np.ndarray, side: int) -> np.ndarray:
    """(28, 28) uint8 -> (side, side) float64 0..1, bicubic, as a scan or photo at higher resolution."""
    return np.clip(np.asarray(Image.fromarray(image).resize((side, side), Image.BICUBIC), np.float64) / 255, 0, 1)


def _disk(radius: int) -> np.ndarray:
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return xx**2 + yy**2 <= radius**2


def _on_paper(ink: np.ndarray, rng: np.random.Generator, *, noise: float = 3.0) -> np.ndarray:
    """Ink 0..1 -> uint8 dark pen on light paper with a little sensor noise."""
    grey = PAPER + (INK - PAPER) * ink + rng.normal(0, noise, ink.shape)
    return np.rint(np.clip(grey, 0, 255)).astype(np.uint8)


@register("thin_pen", REAL_INPUT, "strokes eroded to ~40% width, drawn at 112 px", keeps_shape=False)
def thin_pen(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    big = _enlarge(image, 4 * IMAGE_SIDE)  # MNIST strokes are ~10 px wide here
    return _to_uint8(ndimage.grey_erosion(big, footprint=_disk(3)))


@register("thick_pen", REAL_INPUT, "strokes dilated to ~2x width, drawn at 112 px", keeps_shape=False)
def thick_pen(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    big = _enlarge(image, 4 * IMAGE_SIDE)
    return _to_uint8(ndimage.grey_dilation(big, footprint=_disk(5)))


@register("inverted", REAL_INPUT, "dark digit on a white background")
def inverted(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return 255 - image


@register("small_in_photo", REAL_INPUT, "40 px dark digit off-centre in a 640x480 photo of paper", keeps_shape=False)
def small_in_photo(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width, digit = 480, 640, 40
    top, left = int(rng.integers(20, height - digit - 20)), int(rng.integers(20, width - digit - 20))
    ink = np.zeros((height, width))
    ink[top : top + digit, left : left + digit] = _enlarge(image, digit)
    yy, xx = np.mgrid[0:height, 0:width]
    light = 1.0 - 0.15 * (xx / width) * rng.uniform(0.5, 1.0) - 0.1 * (yy / height)  # lamp to the left
    return np.rint(np.clip(_on_paper(ink, rng) * light, 0, 255)).astype(np.uint8)


@register("jpeg", REAL_INPUT, "dark on paper at 84 px, JPEG quality 10", keeps_shape=False)
def jpeg(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(_on_paper(_enlarge(image, 3 * IMAGE_SIDE), rng)).save(buffer, format="JPEG", quality=10)
    return np.asarray(Image.open(buffer).convert("L"))


@register("uneven_light", REAL_INPUT, "dark on paper at 112 px, light falling to 45% and a soft shadow",
          keeps_shape=False)  # fmt: skip
def uneven_light(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    side = 4 * IMAGE_SIDE
    yy, xx = np.mgrid[0:side, 0:side] / side
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5)) / np.sqrt(2) + 0.5  # 0..1
    light = 1.0 - 0.55 * ramp
    edge_angle, edge_at = rng.uniform(0, 2 * np.pi), rng.uniform(0.25, 0.75)
    across = np.cos(edge_angle) * (xx - 0.5) + np.sin(edge_angle) * (yy - 0.5) + 0.5 - edge_at
    shadow = 1.0 - 0.4 * ndimage.gaussian_filter((across > 0).astype(np.float64), 3)
    grey = _on_paper(_enlarge(image, side), rng) * light * shadow
    return np.rint(np.clip(grey, 0, 255)).astype(np.uint8)


@register("low_resolution", REAL_INPUT, "reduced to 10x10, enlarged to 80 px (bilinear)", keeps_shape=False)
def low_resolution(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    small = Image.fromarray(image).resize((10, 10), Image.BOX)
    return np.asarray(small.resize((80, 80), Image.BILINEAR))
