"""Augmentation policies for training batches: "affine" and "robust", by name.

"affine" (:func:`random_affine`) is handwriting's own variation: small
random rotations, zooms and shifts of the whole digit. Larger rotations turn
6 into 9-like shapes.

"robust" (:func:`random_robust`) is what real inputs look like after
``preprocess.to_mnist``: a photo, scan or drawing comes out of ``to_mnist``
as light ink on black, its ink box scaled to 20 px and centred by mass, its
ink peak lifted to 255. What still varies is the handwriting's shape (slant,
rotation, wobble), the pen (thin, thick, hollow, blurred, blocky from a
low-resolution source), a line that crosses the digit (ruled paper, a
strike-through), photon grain in dim pictures, the ink's grey profile, and
sensor noise.

Every draw is a stateless function of the batch seed, so an epoch's batches
are the same whether the run was resumed or not (see ``data.make_dataset``).
Policies are applied in the ``tf.data`` pipeline, not in the model, so saved
and exported models carry no augmentation layers. Both warp through the one
geometric transform of ``warp.py``. Every function takes and returns a
float32 batch ``(B, 28, 28, 1)`` in 0-255; TensorFlow is imported inside
them, so the policy names can be read without it.
"""

from __future__ import annotations

import math

from .digits import IMAGE_CENTRE, IMAGE_SIDE
from .warp import warp

# Policy names; older config.json files hold a bool: True is "affine".
AUGMENT_POLICIES = ("none", "affine", "robust")

# "affine": one random rotation, zoom and shift per image.
AFFINE_MAX_ROTATION_DEG = 10.0
AFFINE_MAX_ZOOM = 0.08  # scale factor drawn from [1 - AFFINE_MAX_ZOOM, 1 + AFFINE_MAX_ZOOM]
AFFINE_MAX_SHIFT_PX = 2.0

# "robust" geometry, one resampling per image. ``to_mnist`` undoes scale and position,
# so zoom and shift stay small; rotation and shear reach the suite's 23 degrees
# and 0.4 rad only in part, as larger turns make 6 and 9, 1 and 7 alike.
MAX_ROTATION_DEG = 20.0
MAX_SHEAR = 0.3  # x += shear * y, in units of px per px
MAX_ZOOM = 0.1  # scale factor drawn from [1 - MAX_ZOOM, 1 + MAX_ZOOM]
MAX_SHIFT_PX = 2.0
# Elastic distortion (Simard et al. 2003, coarse-grid variant): a random
# displacement at each point of an ELASTIC_GRID x ELASTIC_GRID grid, smoothly
# interpolated over the image; the largest displacement is drawn per image.
ELASTIC_GRID = 4
MAX_ELASTIC_PX = 2.5

# Pen and image quality: share of images affected, and strengths.
ERODE_SHARE, DILATE_SHARE, THICK_SHARE = 0.12, 0.15, 0.15  # 2x2 erosion, 2x2 and 3x3 dilation
OUTLINE_SHARE = 0.06  # hollow strokes: edge maps (the suite's canny_edges), outline fonts
BLUR_SHARE, BLUR_SIGMA_PX = 0.25, (0.4, 1.3)
BLOCKY_SHARE, BLOCKY_SIDES_PX = 0.12, (7, 15)  # down to this many pixels and back up: low resolution
GAMMA_SHARE, MAX_LOG_GAMMA = 0.3, 0.7  # ink profile x -> x ** gamma, gamma in exp(+-MAX_LOG_GAMMA)
NOISE_SHARE, MAX_NOISE_SIGMA = 0.25, 20.0  # grey levels
SPECKLE_SHARE, SPECKLE_PHOTONS = 0.15, (2.0, 12.0)  # photon-starved ink: photons counted at full ink
# A line across the digit (ruled paper, a strike-through): straight, dashed or zigzag, at full ink.
LINE_SHARE, MAX_LINE_SLOPE, ZIGZAG_AMPLITUDE_PX, ZIGZAG_PERIOD_PX = 0.1, 0.4, 2.0, 8.0


# The robustness suite's conditions (robustness.py, corruptions.py) that each policy imitates on
# purpose: a model trained with it has seen them, so its report marks them "seen in training" and
# gives the mean over the others, the out-of-distribution figure. Resizing and moving the digit are
# counted for both policies, though preprocess.to_mnist undoes most of them anyway.
IMITATED_CONDITIONS = {
    "none": (),
    "affine": ("rotate", "scale", "translate"),
    "robust": (
        "rotate", "shear", "scale", "translate",  # the warp (rotation 20 deg, shear 0.3, zoom, shift, elastic)
        "thin_pen", "thick_pen",  # erosion and dilation
        "canny_edges",  # hollow strokes
        "dotted_line", "zigzag",  # lines across: straight, dashed, zigzag
        "glass_blur", "motion_blur",  # Gaussian blur
        "low_resolution",  # shrunk to 7-15 px and enlarged
        "shot_noise",  # photon grain
    ),
}  # fmt: skip


def augment_policy(augment: bool | str | None) -> str:
    """The policy name for an ``augment`` setting (a name, or an old-style bool).

    Raises:
        ValueError: an unknown name; the message lists the known ones.
    """
    if isinstance(augment, bool) or augment is None:
        return "affine" if augment else "none"
    if augment not in AUGMENT_POLICIES:
        raise ValueError(f"unknown augmentation {augment!r}; known: {', '.join(AUGMENT_POLICIES)}")
    return augment


def policy(name: bool | str | None):
    """The batch function ``(images, seed) -> images`` of a policy name (None for "none")."""
    return {"none": None, "affine": random_affine, "robust": random_robust}[augment_policy(name)]


def random_affine(images, seed):
    """The "affine" policy: randomly rotate, zoom and shift a float batch ``(B, 28, 28, 1)``; new pixels are 0."""
    import tensorflow as tf
    import tensorflow.experimental.numpy as tnp

    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=3)
    angle = tf.random.stateless_uniform([batch], seeds[0], -1.0, 1.0) * (AFFINE_MAX_ROTATION_DEG * math.pi / 180)
    scale = 1.0 + tf.random.stateless_uniform([batch], seeds[1], -AFFINE_MAX_ZOOM, AFFINE_MAX_ZOOM)
    shift = tf.random.stateless_uniform([batch, 2], seeds[2], -AFFINE_MAX_SHIFT_PX, AFFINE_MAX_SHIFT_PX)
    return warp(tnp, images, angle=angle[:, None, None], scale=scale[:, None, None],
                shift_x=shift[:, 0, None, None], shift_y=shift[:, 1, None, None])  # fmt: skip


def random_robust(images, seed):
    """The whole policy: random geometry, then pen, outline, a line across, blur, resolution, grain, ink profile, noise."""
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=9)
    images = random_warp(images, seeds[0])
    images = random_stroke_width(images, seeds[1])
    images = random_outline(images, seeds[6])
    images = random_line(images, seeds[7])
    images = random_blur(images, seeds[2])
    images = random_blocky(images, seeds[3])
    images = renormalise(images)  # as to_mnist does: a faded or thinned peak goes back to 255
    images = random_speckle(images, seeds[8])
    images = random_gamma(images, seeds[4])
    return random_noise(images, seeds[5])


# ------------------------------------------------------------------ geometry


def random_warp(images, seed, *, max_rotation_deg=MAX_ROTATION_DEG, max_shear=MAX_SHEAR, max_zoom=MAX_ZOOM,
                max_shift_px=MAX_SHIFT_PX, max_elastic_px=MAX_ELASTIC_PX):  # fmt: skip
    """Rotate, shear, zoom, shift and elastically distort each image, in one bilinear resampling (``warp.py``).

    All maxima 0 gives the images back exactly (every pixel samples itself).
    """
    import tensorflow as tf
    import tensorflow.experimental.numpy as tnp

    batch = tf.shape(images)[0]
    s = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=6)
    angle = tf.random.stateless_uniform([batch, 1, 1], s[0], -1.0, 1.0) * (max_rotation_deg * math.pi / 180)
    shear = tf.random.stateless_uniform([batch, 1, 1], s[1], -1.0, 1.0) * max_shear
    scale = 1.0 + tf.random.stateless_uniform([batch, 1, 1], s[2], -1.0, 1.0) * max_zoom
    shift = tf.random.stateless_uniform([batch, 1, 1, 2], s[3], -1.0, 1.0) * max_shift_px
    field = elastic_field(batch, s[4], s[5], max_elastic_px)  # (B, 28, 28, 2)
    return warp(tnp, images, angle=angle, scale=scale, shear=shear, shift_x=shift[..., 0], shift_y=shift[..., 1],
                displacement=field)  # fmt: skip


def elastic_field(batch, seed_grid, seed_size, max_px):
    """A smooth random displacement field ``(B, 28, 28, 2)`` (dy, dx) in px, at most ``max_px``."""
    import tensorflow as tf

    grid = tf.random.stateless_uniform([batch, ELASTIC_GRID, ELASTIC_GRID, 2], seed_grid, -1.0, 1.0)
    size = tf.random.stateless_uniform([batch, 1, 1, 1], seed_size, 0.0, 1.0) * max_px
    return tf.image.resize(grid, (IMAGE_SIDE, IMAGE_SIDE), method="bicubic") * size


# ------------------------------------------------------------ pen and quality


def _shifted_max(images, size: int):
    """Max over a ``size`` x ``size`` window (top-left anchored as a 'SAME' pool), by shifted slices."""
    import tensorflow as tf

    low, high = (size - 1) // 2, size // 2
    padded = tf.pad(images, [[0, 0], [low, high], [low, high], [0, 0]], constant_values=-1e9)
    return tf.reduce_max(
        tf.stack([padded[:, dy : dy + IMAGE_SIDE, dx : dx + IMAGE_SIDE] for dy in range(size) for dx in range(size)]),
        axis=0,
    )


def dilate(images, size: int):
    """Grey dilation with a ``size`` x ``size`` square: strokes ``size - 1`` px wider."""
    return _shifted_max(images, size)


def erode(images, size: int):
    """Grey erosion with a ``size`` x ``size`` square: strokes ``size - 1`` px thinner."""
    return -_shifted_max(-images, size)


def _choose(seed, batch, share):
    """A ``(B, 1, 1, 1)`` bool: which images an effect applied to ``share`` of them picks."""
    import tensorflow as tf

    return tf.random.stateless_uniform([batch, 1, 1, 1], seed) < share


def random_stroke_width(images, seed):
    """Thin pens (2x2 erosion) and thick ones (2x2 or 3x3 dilation) for some images."""
    import tensorflow as tf

    pick = tf.random.stateless_uniform([tf.shape(images)[0], 1, 1, 1], seed)
    out = tf.where(pick < ERODE_SHARE, erode(images, 2), images)
    out = tf.where((pick >= ERODE_SHARE) & (pick < ERODE_SHARE + DILATE_SHARE), dilate(images, 2), out)
    thick = (pick >= ERODE_SHARE + DILATE_SHARE) & (pick < ERODE_SHARE + DILATE_SHARE + THICK_SHARE)
    return tf.where(thick, dilate(images, 3), out)


def outline(images):
    """Only the edges of each stroke: 1 px lines on both sides, where a 3x3 dilation adds ink, at 255."""
    import tensorflow as tf

    ink = tf.cast(images > 127.5, tf.float32)
    return (dilate(ink, 3) - ink) * 255.0


def random_outline(images, seed):
    """Hollow strokes for some images: what an edge detector or an outline font gives."""
    import tensorflow as tf

    return tf.where(_choose(seed, tf.shape(images)[0], OUTLINE_SHARE), outline(images), images)


def gaussian_blur(images, sigma):
    """Blur image ``i`` with a Gaussian of ``sigma[i]`` px (7x7, separable; ``sigma`` (B,) > 0)."""
    import tensorflow as tf

    taps = tf.range(-3.0, 4.0)  # (7,)
    kernel = tf.exp(-(taps[None, :] ** 2) / (2 * sigma[:, None] ** 2))  # (B, 7)
    kernel = tf.transpose(kernel / tf.reduce_sum(kernel, axis=1, keepdims=True))  # (7, B)
    planes = tf.transpose(images, [3, 1, 2, 0])  # (1, 28, 28, B): each image its own channel
    planes = tf.nn.depthwise_conv2d(planes, kernel[:, None, :, None], [1, 1, 1, 1], "SAME")  # along y
    planes = tf.nn.depthwise_conv2d(planes, kernel[None, :, :, None], [1, 1, 1, 1], "SAME")  # along x
    return tf.transpose(planes, [3, 1, 2, 0])


def random_blur(images, seed):
    """Out-of-focus pictures and soft pens: a Gaussian blur for some images."""
    import tensorflow as tf

    s = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=2)
    batch = tf.shape(images)[0]
    sigma = tf.random.stateless_uniform([batch], s[0], *BLUR_SIGMA_PX)
    return tf.where(_choose(s[1], batch, BLUR_SHARE), gaussian_blur(images, sigma), images)


def random_blocky(images, seed):
    """A digit from a low-resolution source: shrunk to a few pixels and enlarged again, for some images."""
    import tensorflow as tf

    s = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=2)
    low, high = BLOCKY_SIDES_PX
    side = tf.random.stateless_uniform([], s[0], low, high + 1, dtype=tf.int32)  # one size per batch
    small = tf.image.resize(images, tf.stack([side, side]), method="area")
    blocky = tf.clip_by_value(tf.image.resize(small, (IMAGE_SIDE, IMAGE_SIDE), method="bilinear"), 0.0, 255.0)
    return tf.where(_choose(s[1], tf.shape(images)[0], BLOCKY_SHARE), blocky, images)


def renormalise(images):
    """Lift each image's ink peak back to 255, as ``to_mnist`` does; a blank image stays blank."""
    import tensorflow as tf

    peak = tf.reduce_max(images, axis=[1, 2, 3], keepdims=True)
    return tf.where(peak > 0, images * (255.0 / tf.maximum(peak, 1e-3)), images)


def random_gamma(images, seed):
    """A different grey profile across the strokes (ink, scanner, JPEG): ``x -> 255 (x / 255) ** gamma``."""
    import tensorflow as tf

    s = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=2)
    batch = tf.shape(images)[0]
    gamma = tf.exp(tf.random.stateless_uniform([batch, 1, 1, 1], s[0], -MAX_LOG_GAMMA, MAX_LOG_GAMMA))
    curved = 255.0 * tf.pow(tf.clip_by_value(images, 0.0, 255.0) / 255.0, gamma)
    return tf.where(_choose(s[1], batch, GAMMA_SHARE), curved, images)


def random_noise(images, seed):
    """Sensor noise left after preprocessing: Gaussian, per image strength, for some images; clipped to 0-255."""
    import tensorflow as tf

    s = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=3)
    batch = tf.shape(images)[0]
    sigma = tf.random.stateless_uniform([batch, 1, 1, 1], s[0], 0.0, MAX_NOISE_SIGMA)
    noisy = images + tf.random.stateless_normal(tf.shape(images), s[1]) * sigma
    out = tf.where(_choose(s[2], batch, NOISE_SHARE), noisy, images)
    return tf.clip_by_value(out, 0.0, 255.0)


def line_across(row, slope, amplitude, dashed):
    """``(B, 28, 28, 1)`` lines at 255, one per image, about 2 px thick and anti-aliased.

    Image ``i``'s line passes ``row[i]`` at the centre column with ``slope[i]``,
    zigzags ``amplitude[i]`` px either side (0: straight) and is broken into
    2 px dashes where ``dashed[i]``; all arguments ``(B, 1, 1)``.
    """
    import tensorflow as tf

    ys, xs = tf.meshgrid(tf.range(IMAGE_SIDE, dtype=tf.float32), tf.range(IMAGE_SIDE, dtype=tf.float32), indexing="ij")
    phase = xs / ZIGZAG_PERIOD_PX
    triangle = 4.0 * tf.abs(phase - tf.floor(phase) - 0.5) - 1.0  # (28, 28) in [-1, 1]
    centre = row + slope * (xs - IMAGE_CENTRE) + amplitude * triangle  # (B, 28, 28)
    line = tf.clip_by_value(1.5 - tf.abs(ys - centre), 0.0, 1.0)
    gaps = tf.cast(tf.math.floormod(tf.floor(xs / 2.0), 2.0) == 0.0, tf.float32)  # every other 2 px
    line = tf.where(dashed, line * gaps, line)
    return line[..., None] * 255.0


def random_line(images, seed):
    """A line across some images, straight, dashed or zigzag: ruled paper, a strike-through."""
    import tensorflow as tf

    s = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=5)
    batch = tf.shape(images)[0]
    row = tf.random.stateless_uniform([batch, 1, 1], s[0], 2.0, IMAGE_SIDE - 2.0)
    slope = tf.random.stateless_uniform([batch, 1, 1], s[1], -MAX_LINE_SLOPE, MAX_LINE_SLOPE)
    kind = tf.random.stateless_uniform([batch, 1, 1], s[2])  # < 1/3 zigzag, < 2/3 dashed, else straight
    amplitude = tf.where(kind < 1 / 3, ZIGZAG_AMPLITUDE_PX, 0.0)
    dashed = (kind >= 1 / 3) & (kind < 2 / 3)
    lined = tf.maximum(images, line_across(row, slope, amplitude, dashed))
    return tf.where(_choose(s[3], batch, LINE_SHARE), lined, images)


def random_speckle(images, seed):
    """Photon-starved pictures for some images: each pixel a Poisson count of photons (MNIST-C's shot noise).

    With ``photons`` counted at full ink, strokes turn grainy and broken while
    the black background stays black.
    """
    import tensorflow as tf

    s = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=3)
    batch = tf.shape(images)[0]
    photons = tf.random.stateless_uniform([batch, 1, 1, 1], s[0], *SPECKLE_PHOTONS)
    counts = tf.random.stateless_poisson(tf.shape(images), s[1], lam=images / 255.0 * photons, dtype=tf.float32)
    speckled = tf.clip_by_value(counts / photons * 255.0, 0.0, 255.0)
    return tf.where(_choose(s[2], batch, SPECKLE_SHARE), speckled, images)
