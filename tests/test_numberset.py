"""The generated numbers: deterministic, honest about their sources, and true to their conditions."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_keras import numberset, printed
from mnist_keras.marks import components
from mnist_keras.numberset import NumberImage


@pytest.fixture(scope="module")
def digits(mnist) -> numberset.DigitPool:
    return numberset.pool(numberset.TEST, mnist)


def ink(sample: NumberImage) -> np.ndarray:
    """(H, W) bool: the digits' pixels, whatever the polarity (paper is the commoner shade)."""
    image = sample.image.astype(np.int16)
    paper = np.median(image)
    return np.abs(image - paper) > 0.35 * np.abs(image - paper).max()


def test_the_same_seed_gives_the_same_numbers(digits):
    for condition in ("separated", "photo", "printed"):
        a = numberset.make_condition(condition, 3, digits, split="test", seed=7)
        b = numberset.make_condition(condition, 3, digits, split="test", seed=7)
        c = numberset.make_condition(condition, 3, digits, split="test", seed=8)
        assert [x.text for x in a] == [x.text for x in b]
        assert all(np.array_equal(x.image, y.image) and np.array_equal(x.boxes, y.boxes) for x, y in zip(a, b))
        assert any(not np.array_equal(x.image, y.image) for x, y in zip(a, c))


def test_splits_use_test_validation_or_training_digits(mnist):
    from mnist_keras.data import make_splits

    splits = make_splits(mnist, seed=42)
    test = numberset.pool(numberset.TEST, mnist)
    assert test.images is mnist.x_test
    validation = numberset.pool(numberset.VALIDATION, mnist)
    assert np.array_equal(validation.images, splits.x_val)
    train = numberset.pool(numberset.TRAIN, mnist)
    assert np.array_equal(train.images, splits.x_train) and len(train.images) + len(validation.images) == 60_000
    with pytest.raises(ValueError, match="unknown split"):
        numberset.pool("training", mnist)


def test_handwritten_numbers_are_composed_only_from_the_pool():
    """A pool whose every digit is one known shape: nothing else can appear in the image."""
    shapes = np.zeros((10, 28, 28), np.uint8)
    for d in range(10):
        shapes[d, 4:24, 8 + d // 2 : 12 + d // 2] = 255  # a bar, its place telling the label
    pool = numberset.DigitPool(shapes, np.arange(10, dtype=np.uint8))
    for sample in numberset.make_condition("separated", 5, pool, split="test", seed=0):
        assert len(sample.boxes) == len(sample.text)
        for box in sample.boxes:  # every digit is a bar: tall and narrow
            assert box[3] - box[1] > 2 * (box[2] - box[0])


def test_printed_numbers_use_the_splits_fonts(digits, monkeypatch):
    asked = []
    real = printed.available_fonts

    def spy(*, held_out):
        asked.append(held_out)
        return real(held_out=held_out)

    monkeypatch.setattr(printed, "available_fonts", spy)
    numberset.make_condition("printed", 1, digits, split="test", seed=0)
    numberset.make_condition("printed", 1, digits, split="validation", seed=0)
    numberset.make_condition("printed", 1, digits, split="train", seed=0)
    assert asked == [True, False, False]  # test: held-out fonts only; validation and train: training fonts


def test_printed_validation_numbers_are_set_tighter_than_test_ones(digits, monkeypatch):
    """With the same fonts, the gap between neighbouring digits (in digit heights) is smaller in validation."""
    fonts, _ = printed.available_fonts(held_out=False)
    monkeypatch.setattr(printed, "available_fonts", lambda *, held_out: (fonts, []))

    def mean_gap(split: str) -> float:
        gaps = [(b[0] - a[2]) / (a[3] - a[1]) for sample in numberset.make_condition("printed", 40, digits, split=split, seed=0)
                for a, b in zip(sample.boxes, sample.boxes[1:])]  # fmt: skip
        return float(np.mean(gaps))

    assert mean_gap("validation") < mean_gap("test") - 0.02


@pytest.mark.parametrize("condition", numberset.CONDITIONS)
def test_boxes_match_the_text_and_hold_ink(condition, digits):
    for sample in numberset.make_condition(condition, 4, digits, split="test", seed=1):
        assert sample.image.dtype == np.uint8 and sample.condition == condition
        assert len(sample.boxes) == len(sample.text.replace("\n", ""))
        assert 1 <= len(sample.boxes) <= 3 * numberset.MAX_LENGTH
        mask = ink(sample)
        for left, top, right, bottom in sample.boxes:
            assert 0 <= left < right <= sample.image.shape[1] and 0 <= top < bottom <= sample.image.shape[0]
            assert mask[top:bottom, left:right].any()


def test_conditions_do_what_they_say(digits):
    for sample in numberset.make_condition("touching", 10, digits, split="test", seed=2):
        assert (components(ink(sample))[1] > 20).sum() == 1  # the two digits are one mark (specks aside)
    for sample in numberset.make_condition("separated_4", 10, digits, split="test", seed=2):
        assert len(sample.text) == 4
        lefts, rights = sample.boxes[:, 0], sample.boxes[:, 2]
        assert (lefts[1:] >= rights[:-1]).all()  # ink boxes never overlap
    cut = 0
    for sample in numberset.make_condition("multi_stroke", 10, digits, split="test", seed=2):
        cut += (components(ink(sample))[1] > 20).sum() > len(sample.text)
    assert cut >= 8  # a digit in strokes adds marks (unless it touches a neighbour)
    for sample in numberset.make_condition("lines", 5, digits, split="test", seed=2):
        lines = sample.text.split("\n")
        assert 2 <= len(lines) <= 3
        first, second = sample.boxes[: len(lines[0])], sample.boxes[len(lines[0]) : len(lines[0]) + len(lines[1])]
        assert np.median(second[:, 1]) > np.median(first[:, 3]) - 0.2 * np.median(first[:, 3] - first[:, 1])


def test_cut_digits_are_the_readers_crops_of_the_true_digits(digits):
    """Each crop looks most like its own label's mean MNIST digit far more often than chance.

    Nearest-mean classification gets about 79% of whole MNIST digits and 72-80%
    of these crops (seeds 5-8; cut ones carry slivers of neighbours); the same
    labels shifted by one crop score 21-24% (neighbouring candidates often hold
    the same digit).
    """
    images, labels = numberset.cut_digits(digits, 300, seed=5)
    assert images.shape == (300, 28, 28) and images.dtype == np.uint8 and set(labels) == set(range(10))
    means = np.stack([digits.images[digits.labels == d].mean(axis=0).ravel() for d in range(10)])
    distances = ((images.reshape(300, 1, -1).astype(np.float64) - means[None]) ** 2).sum(axis=-1)
    assert (np.argmin(distances, axis=1) == labels).mean() > 0.5
    again, again_labels = numberset.cut_digits(digits, 300, seed=5)
    assert np.array_equal(images, again) and np.array_equal(labels, again_labels)
    assert not np.array_equal(images, numberset.cut_digits(digits, 300, seed=6)[0])
    empty, no_labels = numberset.cut_digits(digits, 0, seed=5)
    assert empty.shape == (0, 28, 28) and no_labels.shape == (0,)


def test_cut_digits_stop_when_the_segmenter_finds_nothing(digits, monkeypatch):
    from mnist_keras import segment
    from mnist_keras.preprocess import NoDigitError

    def nothing(image, name):
        raise NoDigitError(f"{name}: no ink")

    monkeypatch.setattr(segment, "prepare", nothing)
    with pytest.raises(ValueError, match="no digit found"):
        numberset.cut_digits(digits, 5, seed=0)


def test_whole_digits_match_one_digit_alone():
    truths = [(0, 0, 10, 20), (9, 0, 19, 20)]  # two touching digits, one column shared
    found = [(0, 0, 10, 20), (1, 0, 10, 19), (0, 0, 19, 20), (0, 0, 5, 20), (8, 0, 19, 20), (30, 0, 40, 20)]
    # the first digit; nearly it; the pair; half of it; the second with a fifth of the first; nothing
    assert numberset.whole_digits(found, truths).tolist() == [0, 0, -1, -1, 1, -1]
    assert numberset.cover((0, 0, 19, 20), truths[1]) == 1.0 and numberset.cover((0, 0, 5, 20), truths[1]) == 0.0
    assert numberset.whole_digits([], truths).shape == (0,)


def test_score():
    truth = NumberImage(np.zeros((10, 30), np.uint8), "12", np.array([[0, 0, 10, 10], [15, 0, 25, 10]]), "x")
    assert numberset.score(truth, "12", [(0, 0, 10, 10), (15, 0, 25, 10)]) == {
        "string": True, "digits": 2, "digits_right": 2, "segmented": True}  # fmt: skip
    wrong = numberset.score(truth, "17", [(1, 0, 10, 10), (15, 0, 24, 10)])
    assert wrong == {"string": False, "digits": 2, "digits_right": 1, "segmented": True}
    merged = numberset.score(truth, "4", [(0, 0, 25, 10)])
    assert merged == {"string": False, "digits": 2, "digits_right": 0, "segmented": False}
    assert numberset.iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
