"""The corruptions and printed digits of the robustness suite: deterministic, well-formed, and not no-ops."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_keras import corruptions, printed
from mnist_keras.preprocess import to_mnist

NAMES = list(corruptions.CORRUPTIONS)


@pytest.fixture(scope="module")
def digits(mnist) -> np.ndarray:
    """Four real MNIST test digits (uint8, (4, 28, 28))."""
    return mnist.x_test[:4]


def apply_all(name: str, images: np.ndarray, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [corruptions.get(name)(image, rng) for image in images]


def test_the_fifteen_mnist_c_corruptions_are_registered():
    mnist_c = [c.name for c in corruptions.CORRUPTIONS.values() if c.group == corruptions.MNIST_C]
    assert sorted(mnist_c) == sorted(
        ["shot_noise", "impulse_noise", "glass_blur", "motion_blur", "shear", "scale", "rotate", "brightness",
         "translate", "stripe", "fog", "spatter", "dotted_line", "zigzag", "canny_edges"]
    )  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_corruption_is_deterministic_well_formed_and_changes_the_image(name, digits):
    first, again, other = apply_all(name, digits, 7), apply_all(name, digits, 7), apply_all(name, digits, 8)
    for image, out, out_again in zip(digits, first, again):
        assert out.dtype == np.uint8 and out.ndim == 2  # uint8 is the 0-255 range
        if corruptions.get(name).keeps_shape:
            assert out.shape == image.shape
        np.testing.assert_array_equal(out, out_again)
        changed = out.shape != image.shape or np.abs(out.astype(int) - image).mean() > 1.0
        assert changed, f"{name} left the image (almost) unchanged"
        assert 0 < out.std(), f"{name} returned a flat image"
    # Random corruptions draw from the generator; a fixed one (scale, stripe, inverted, ...) may not.
    assert all(a.shape == b.shape for a, b in zip(first, other))


@pytest.mark.parametrize("name", ["shot_noise", "glass_blur", "motion_blur", "fog", "small_in_photo", "jpeg"])
def test_random_corruptions_depend_on_the_seed(name, digits):
    first, other = apply_all(name, digits, 7), apply_all(name, digits, 8)
    assert any(not np.array_equal(a, b) for a, b in zip(first, other))


def test_geometry_matches_mnist_c_definitions(digits):
    image = digits[0]
    moved = corruptions.translate(image, np.random.default_rng(0))
    # A 3 px shift along both axes: the ink's centre of mass moves by 3 px in each direction.
    ys, xs = np.nonzero(image)
    ys2, xs2 = np.nonzero(moved)
    centre = np.array([np.average(ys, weights=image[ys, xs]), np.average(xs, weights=image[ys, xs])])
    centre2 = np.array([np.average(ys2, weights=moved[ys2, xs2]), np.average(xs2, weights=moved[ys2, xs2])])
    np.testing.assert_allclose(np.abs(centre2 - centre), [3, 3], atol=0.2)
    # Scale shrinks the ink to 70% about the centre: its area shrinks to about 49%.
    shrunk = corruptions.scale(image, np.random.default_rng(0))
    assert 0.4 < shrunk.astype(float).sum() / image.astype(float).sum() < 0.6
    np.testing.assert_array_equal(corruptions.brightness(np.zeros((28, 28), np.uint8), None), 128)


def test_every_corrupted_digit_still_goes_through_preprocessing(digits):
    """The suite's contract: what a corruption makes is an image to_mnist accepts (or rejects cleanly)."""
    for name in NAMES:
        for out in apply_all(name, digits[:2], 0):
            assert to_mnist(out).shape == (28, 28)


def test_unknown_corruption_lists_the_known_ones():
    with pytest.raises(ValueError, match="known: shot_noise"):
        corruptions.get("snow")


def test_training_and_held_out_fonts_are_disjoint_and_bundled_ones_exist():
    training, notes = printed.available_fonts(held_out=False)
    held_out, _ = printed.available_fonts(held_out=True)
    assert not notes, "the training fonts ship with matplotlib and must always be found"
    assert {f.name for f, _ in training}.isdisjoint({f.name for f, _ in held_out})
    assert all(f.name.startswith("DejaVu") for f, _ in training)
    assert sum(f.source == printed.MATPLOTLIB for f, _ in held_out) >= 5  # present on any machine


def test_a_missing_system_font_is_skipped_with_a_note(monkeypatch, tmp_path):
    monkeypatch.setattr(printed, "SYSTEM_FONT_DIRS", (tmp_path,))
    printed.font_path.cache_clear()
    try:
        found, notes = printed.available_fonts(held_out=True)
    finally:
        printed.font_path.cache_clear()
    assert "Liberation Sans" not in {f.name for f, _ in found}
    assert any("Liberation Sans skipped" in note and "fonts-liberation" in note for note in notes)


def test_printed_digits_are_deterministic_and_readable():
    fonts, _ = printed.available_fonts(held_out=True)
    labels = list(range(10))
    first, names = printed.render_digits(labels, fonts, np.random.default_rng(3))
    again, _ = printed.render_digits(labels, fonts, np.random.default_rng(3))
    assert names[: len(fonts)] == [f.name for f, _ in fonts][:10]
    for a, b in zip(first, again):
        assert a.dtype == np.uint8 and a.ndim == 2
        np.testing.assert_array_equal(a, b)
        assert to_mnist(a).max() == 255  # a digit was found
    with pytest.raises(ValueError, match="no font"):
        printed.render_digits(labels, [], np.random.default_rng(0))
