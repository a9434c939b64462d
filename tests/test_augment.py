"""The "robust" augmentation policy (augment.py), its place in tf.data, and the printed training digits."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_keras import augment
from mnist_keras.augment import AUGMENT_POLICIES, augment_policy
from mnist_keras.data import make_dataset

SEED = (3, 4)


def _digits(n=16):
    """A small float batch ``(n, 28, 28, 1)`` of synthetic strokes: a bar and a ring, 2-3 px wide."""
    images = np.zeros((n, 28, 28), np.float32)
    yy, xx = np.mgrid[:28, :28]
    for i in range(n):
        if i % 2:
            images[i, 6:22, 12 + i % 3 : 15 + i % 3] = 255
        else:
            radius = np.hypot(yy - 14, xx - 14)
            images[i] = np.clip(255 * (1.5 - np.abs(radius - 6 - i % 3)), 0, 255)
    return images[..., None]


def _run(fn, images, seed=SEED, **kwargs):
    import tensorflow as tf

    return fn(tf.constant(images), tf.constant(seed, tf.int64), **kwargs).numpy()


RANDOM_EFFECTS = [
    augment.random_warp,
    augment.random_stroke_width,
    augment.random_outline,
    augment.random_line,
    augment.random_blur,
    augment.random_blocky,
    augment.random_gamma,
    augment.random_noise,
    augment.random_speckle,
    augment.random_robust,
]


@pytest.mark.parametrize("effect", RANDOM_EFFECTS, ids=lambda f: f.__name__)
def test_each_effect_keeps_shape_dtype_range_and_is_a_function_of_the_seed(effect):
    images = _digits(64)  # enough images that every effect picks some of them
    out = _run(effect, images)
    assert out.shape == images.shape and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 255
    assert not np.array_equal(out, images)  # it does something
    np.testing.assert_array_equal(out, _run(effect, images))  # same seed, same images
    assert not np.array_equal(out, _run(effect, images, seed=(3, 5)))


def test_lines_cross_the_whole_image_straight_dashed_or_zigzag():
    import tensorflow as tf

    row, slope = tf.fill([3, 1, 1], 14.0), tf.zeros([3, 1, 1])
    amplitude = tf.constant([0.0, 2.0, 0.0])[:, None, None]
    dashed = tf.constant([False, False, True])[:, None, None]
    straight, zigzag, dashes = augment.line_across(row, slope, amplitude, dashed).numpy()[..., 0] > 127
    assert straight.any(axis=0).all() and zigzag.any(axis=0).all()  # every column crossed
    assert np.nonzero(straight.any(axis=1))[0].tolist() == [13, 14, 15]  # about 2 px thick, at its row
    assert np.ptp(np.nonzero(zigzag)[0]) >= 5  # zigzags above and below that row
    assert 0.3 < dashes.any(axis=0).mean() < 0.7  # broken into dashes


def test_speckle_keeps_the_background_black_and_makes_the_ink_grainy():
    images = _digits(64)
    out = _run(augment.random_speckle, images)
    changed = np.any(out != images, axis=(1, 2, 3))
    assert changed.any() and not changed.all()  # some images only
    assert (out[images == 0] == 0).all()  # no photons where there is no light
    ink = images[changed] > 200
    assert np.std(out[changed][ink]) > 30  # full-ink pixels vary from photon to photon


def test_warp_with_zero_strength_is_the_identity():
    images = _digits()
    zero = {"max_rotation_deg": 0, "max_shear": 0, "max_zoom": 0, "max_shift_px": 0, "max_elastic_px": 0}
    np.testing.assert_array_equal(_run(augment.random_warp, images, **zero), images)


def test_elastic_distortion_alone_moves_strokes_but_keeps_them_in_the_frame():
    images = _digits()
    rigid = {"max_rotation_deg": 0, "max_shear": 0, "max_zoom": 0, "max_shift_px": 0}
    out = _run(augment.random_warp, images, max_elastic_px=augment.MAX_ELASTIC_PX, **rigid)
    assert np.abs(out - images).max() > 50
    assert 0.8 < out.sum() / images.sum() < 1.2
    assert out[:, [0, -1]].max() == 0 and out[:, :, [0, -1]].max() == 0  # nothing reaches the border


def test_warp_fills_with_black():
    images = np.zeros((8, 28, 28, 1), np.float32)
    images[:, 12:16, 12:16] = 255
    out = _run(augment.random_warp, images)
    assert out[:, :4].max() == 0 and out[:, -4:].max() == 0


def test_dilation_adds_ink_erosion_removes_it_size_one_changes_nothing():
    import tensorflow as tf

    images = tf.constant(_digits())
    ink = float(tf.reduce_sum(images))
    assert float(tf.reduce_sum(augment.dilate(images, 2))) > ink
    assert float(tf.reduce_sum(augment.dilate(images, 3))) > float(tf.reduce_sum(augment.dilate(images, 2)))
    assert float(tf.reduce_sum(augment.erode(images, 2))) < ink
    np.testing.assert_array_equal(augment.dilate(images, 1).numpy(), images.numpy())
    np.testing.assert_array_equal(
        augment.dilate(images, 3).numpy(), tf.nn.max_pool2d(images, 3, 1, "SAME").numpy()
    )  # the same as Keras' own max-pooling


def test_outline_keeps_the_edges_of_strokes_only():
    import tensorflow as tf

    images = np.zeros((1, 28, 28, 1), np.float32)
    images[0, 8:20, 12:15] = 255  # a 3 px bar
    out = augment.outline(tf.constant(images)).numpy()[0, ..., 0]
    assert out[8:20, 12:15].max() == 0  # the stroke itself is hollow
    assert (out[10:18, 11] == 255).all() and (out[10:18, 15] == 255).all()  # a line on each side
    assert set(np.unique(out)) == {0.0, 255.0}


def test_blur_spreads_ink_and_keeps_its_mass():
    import tensorflow as tf

    images = _digits()
    out = augment.gaussian_blur(tf.constant(images), tf.fill([len(images)], 1.0)).numpy()
    assert out.max() < images.max()
    assert (out > 1).sum() > (images > 1).sum()
    np.testing.assert_allclose(out.sum(axis=(1, 2, 3)), images.sum(axis=(1, 2, 3)), rtol=1e-3)


def test_renormalise_lifts_the_peak_to_255_and_leaves_blank_images_blank():
    import tensorflow as tf

    images = _digits(4) * 0.4
    images[0] = 0
    out = augment.renormalise(tf.constant(images)).numpy()
    assert out[0].max() == 0
    np.testing.assert_allclose(out[1:].max(axis=(1, 2, 3)), 255, rtol=1e-5)


# ------------------------------------------------------------------ tf.data


def _epoch_batches(images, labels, *, first_epoch, epoch, batch_size=8):
    """The batches of ``epoch`` from a stream started at ``first_epoch``."""
    steps = -(-len(images) // batch_size)
    stream = iter(make_dataset(images, labels, batch_size=batch_size, shuffle=True, augment="robust", seed=7,
                               first_epoch=first_epoch))  # fmt: skip
    for _ in range((epoch - first_epoch) * steps):
        next(stream)
    return [next(stream)[0].numpy() for _ in range(steps)]


def test_a_resumed_stream_gives_the_same_robust_batches():
    images = _digits(20).astype(np.uint8)[..., 0]
    labels = np.arange(20, dtype=np.uint8) % 10
    uninterrupted = _epoch_batches(images, labels, first_epoch=0, epoch=1)
    resumed = _epoch_batches(images, labels, first_epoch=1, epoch=1)
    for a, b in zip(uninterrupted, resumed):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("setting", "policy"), [(True, "affine"), (False, "none"), (None, "none"), ("robust", "robust")]
)
def test_augment_settings_old_and_new_name_a_policy(setting, policy):
    assert augment_policy(setting) == policy


def test_unknown_policy_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="known: " + ", ".join(AUGMENT_POLICIES)):
        augment_policy("rotate")


@pytest.mark.parametrize(("old", "policy"), [(True, "affine"), (False, "none")])
def test_old_config_booleans_still_load(tmp_path, old, policy):
    """A run folder written before recipes had their own entry: flat recipe fields, augment a bool."""
    import json

    from mnist_keras.train import FitConfig, saved_config

    settings = {"model": "lamontagne", "epochs": 3, "augment": old, "keep": "last", "seed": 7}
    (tmp_path / "config.json").write_text(json.dumps({"settings": settings}))
    config = saved_config(tmp_path)
    assert config.recipe.augment == policy
    assert (config.recipe.epochs, config.recipe.keep, config.seed) == (3, "last", 7)
    assert config.recipe.batch_size == 128  # not recorded: the architecture's own
    assert FitConfig(model="robust").resolved().recipe.augment == "robust"


# ---------------------------------------------------------- printed digits


def test_printed_training_digits_are_mnist_like_balanced_and_reproducible():
    from mnist_keras.printed import training_digits

    images, labels = training_digits(20, seed=1)
    assert images.shape == (20, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == [2] * 10
    assert images.max() == 255 and (images == 0).mean() > 0.5  # light ink on black, as to_mnist gives
    again, again_labels = training_digits(20, seed=1)
    np.testing.assert_array_equal(images, again)
    np.testing.assert_array_equal(labels, again_labels)
    assert not np.array_equal(images, training_digits(20, seed=2)[0])


def test_printed_digits_are_appended_to_training_only():
    from mnist_keras.data import Splits
    from mnist_keras.models import Recipe
    from mnist_keras.train import with_extra_digits

    x, y = np.zeros((50, 28, 28), np.uint8), np.zeros(50, np.uint8)
    splits = Splits(x, y, x[:5], y[:5], x[:5], y[:5])
    grown = with_extra_digits(splits, Recipe(printed_fraction=0.2), seed=0)
    assert grown.x_train.shape == (60, 28, 28) and grown.y_train.dtype == np.uint8
    assert len(grown.y_val) == 5 and len(grown.y_test) == 5
    assert with_extra_digits(splits, Recipe(), seed=0) is splits


def test_printed_and_cut_digits_are_each_a_share_of_the_mnist_training_size(mnist):
    from mnist_keras.data import make_splits
    from mnist_keras.models import Recipe
    from mnist_keras.train import with_extra_digits

    splits = make_splits(mnist, limit=200, seed=0)
    grown = with_extra_digits(splits, Recipe(printed_fraction=0.1, cut_fraction=0.2), seed=0)
    assert len(grown.y_train) == 200 + 20 + 40 and grown.x_train.dtype == np.uint8
    np.testing.assert_array_equal(grown.x_train[:200], splits.x_train)
    assert np.array_equal(grown.x_val, splits.x_val) and np.array_equal(grown.x_test, splits.x_test)
