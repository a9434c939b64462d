"""One warp for the affine and robust policies and the test-time views (mnist_keras/warp.py)."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from mnist_keras import warp

# SHA-256 of augment.random_affine on the first 256 MNIST training images with seed (3, 7), as
# data.random_affine computed it before the one-warp refactor (commit 73bcf27): the affine policy's
# draws and pixels are unchanged, so every affine run (bn-cnn, bn-cnn-ema) trains exactly as before.
AFFINE_BATCH_SHA256 = "981babe2343c29b0c1bf33801fc17df60b4cc6abd611b67467dec29f25fdf6fb"


def _digits(n: int = 16) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = np.zeros((n, 28, 28, 1), np.float32)
    x[:, 6:22, 10:18] = rng.uniform(0, 255, (n, 16, 8, 1))
    return x


def _params(n: int, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)

    def draw(scale: float) -> np.ndarray:
        return rng.uniform(-scale, scale, (n, 1, 1)).astype(np.float32)

    return {"angle": draw(0.4), "scale": 1 + draw(0.1), "shear": draw(0.3), "shift_x": draw(2), "shift_y": draw(2)}


def test_identity_gives_the_images_back_exactly():
    x = _digits()
    assert np.array_equal(warp.warp(np, x, angle=np.zeros((len(x), 1, 1), np.float32)), x)


def test_tensorflow_and_numpy_compute_the_same_warp():
    """The gather sampler in TensorFlow (elastic path) and numpy (test-time views) agree; so does
    TensorFlow's fused affine op, within 1e-3 grey levels (different rounding of the positions)."""
    import tensorflow as tf
    import tensorflow.experimental.numpy as tnp

    x, params = _digits(), _params(16)
    by_numpy = warp.warp(np, x, **params)
    no_field = tf.zeros((16, 28, 28, 2))
    by_gather = warp.warp(tnp, tf.constant(x), **{k: tf.constant(v) for k, v in params.items()}, displacement=no_field)
    by_fused = warp.warp(tnp, tf.constant(x), **{k: tf.constant(v) for k, v in params.items()})
    np.testing.assert_allclose(np.asarray(by_gather), by_numpy, atol=1e-3)
    np.testing.assert_allclose(np.asarray(by_fused), by_numpy, atol=1e-3)
    assert np.abs(by_numpy - x).max() > 50  # it did move the digits


def test_a_quarter_turn_moves_pixels_as_the_map_says():
    x = np.zeros((1, 28, 28, 1), np.float32)
    x[0, 3, 20, 0] = 255.0  # one pixel, off-centre
    turned = warp.warp(np, x, angle=np.float32(math.pi / 2))
    a0, a1, a2, b0, b1, b2 = warp.affine_map(np, angle=np.float32(math.pi / 2))
    y, x_ = np.unravel_index(np.argmax(turned[0, :, :, 0]), (28, 28))
    assert (round(float(b0 * x_ + b1 * y + b2)), round(float(a0 * x_ + a1 * y + a2))) == (3, 20)  # samples the pixel


def test_the_affine_policy_is_unchanged_since_before_the_shared_warp(mnist):
    import tensorflow as tf

    from mnist_keras.augment import random_affine

    images = tf.constant(mnist.x_train[:256, ..., None].astype(np.float32))
    out = tf.function(random_affine)(images, tf.constant([3, 7], tf.int64)).numpy()
    assert hashlib.sha256(out.tobytes()).hexdigest() == AFFINE_BATCH_SHA256


@pytest.mark.parametrize("policy", ["affine", "robust"])
def test_both_policies_warp_through_warp_py(monkeypatch, policy):
    import tensorflow as tf

    from mnist_keras import augment

    calls = []
    real = augment.warp
    monkeypatch.setattr(augment, "warp", lambda *args, **kwargs: calls.append(kwargs) or real(*args, **kwargs))
    augment.policy(policy)(tf.constant(_digits(4)), tf.constant([0, 1], tf.int64))
    assert len(calls) == 1 and ("displacement" in calls[0]) == (policy == "robust")
