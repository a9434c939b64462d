"""The pair reader (pairs.py): numpy computes what the Keras model it is trained as computes, its
stored weights read validation pairs, the labelling rule (numberset.digit_pairs), and the script
that trains it (scripts/train_pair_reader.py)."""

from __future__ import annotations

import numpy as np
import pytest
from script_runs import load_script, quick_weights

from mnist_keras import numberset, pairs, pairs_weights, preprocess, segment, whole


def test_numpy_computes_what_the_keras_model_computes():
    """Layer for layer, with random weights: 'same' convolutions, pooling that drops odd rows, NHWC flattening."""
    import keras

    train = load_script("train_pair_reader")
    keras.utils.set_random_seed(3)
    model = train.build()
    crops = np.random.default_rng(0).integers(0, 256, (5, *pairs.INPUT_SHAPE[:2]), dtype=np.uint8)
    expected = model.predict(crops[..., np.newaxis], verbose=0)
    assert np.allclose(pairs.forward(train.weights_of(model), crops), expected, atol=1e-5)


def test_the_stored_weights_give_probabilities():
    weights = whole.unpack(pairs_weights.SHAPES, pairs_weights.DATA)
    assert weights["out_kernel"].shape == (pairs.HIDDEN, pairs.CLASSES)
    p = pairs.probabilities(np.zeros((2, *pairs.INPUT_SHAPE[:2]), np.uint8))
    assert p.shape == (2, pairs.CLASSES) and np.allclose(p.sum(axis=1), 1, atol=1e-5)
    assert pairs.probabilities(np.zeros((0, *pairs.INPUT_SHAPE[:2]), np.uint8)).shape == (0, pairs.CLASSES)


def test_a_pair_crop_keeps_a_digits_height_and_the_pairs_width():
    ink = np.zeros((40, 70), np.float32)
    ink[5:35, 10:60] = 255  # 30 tall, 50 wide: scaled by 20 / 30
    crop = preprocess.ink_to_pair(ink)
    rows, cols = np.flatnonzero(crop.max(axis=1) > 128), np.flatnonzero(crop.max(axis=0) > 128)
    assert crop.shape == pairs.INPUT_SHAPE[:2] and crop.dtype == np.uint8
    assert 19 <= len(rows) <= 21 and 32 <= len(cols) <= 35
    assert abs((rows[0] + rows[-1]) / 2 - 13.5) <= 1 and abs((cols[0] + cols[-1]) / 2 - 27.5) <= 1


def test_digit_pairs_finds_two_neighbours_of_one_line_and_nothing_more():
    truth = numberset.NumberImage(np.zeros((50, 100), np.uint8), "12\n3", np.array(
        [[0, 0, 20, 30], [22, 0, 42, 30], [0, 35, 20, 65]]), "lines")  # fmt: skip
    boxes = [(0, 0, 42, 30), (1, 1, 41, 29), (0, 0, 20, 30), (0, 0, 42, 65), (0, 0, 28, 30)]
    assert numberset.digit_pairs(boxes, truth).tolist() == [0, 0, -1, -1, -1]
    across_lines = numberset.NumberImage(truth.image, "1\n2", truth.boxes[:2], "lines")
    assert numberset.digit_pairs([(0, 0, 42, 30)], across_lines).tolist() == [-1]


@pytest.fixture(scope="module")
def validation_pairs(mnist):
    """(crops, labels) of the wide candidates cut from 30 validation numbers of touching digits."""
    train = load_script("train_pair_reader")
    samples = numberset.make_condition("touching", 30, numberset.pool(numberset.VALIDATION, mnist),
                                       split=numberset.VALIDATION, seed=1)  # fmt: skip
    return train.labelled(samples)


def test_the_reader_reads_touching_pairs_it_never_saw(validation_pairs):
    """Validation digits (never trained on): most pairs read right, and a pair is rarely taken for none."""
    x, y = validation_pairs
    is_pair = y != pairs.NOT_PAIR
    assert is_pair.sum() >= 30 and (~is_pair).sum() >= 30
    guess = pairs.probabilities(x).argmax(axis=1)
    assert (guess[is_pair] == y[is_pair]).mean() > 0.6  # 100 classes: chance is 0.01
    assert (guess[~is_pair] == pairs.NOT_PAIR).mean() > 0.9


def test_a_quick_training_run_writes_a_module_the_reader_can_load(tmp_path, data_dir):
    module = quick_weights("train_pair_reader", tmp_path)
    assert "python scripts/train_pair_reader.py --quick" in module.__doc__
    weights = whole.unpack(module.SHAPES, module.DATA)
    page = segment.prepare(numberset.make_set(numberset.VALIDATION, 1, conditions=("touching",))[0].image, "image")
    wide = np.stack([preprocess.ink_to_pair(c.ink) for line in page.candidates for c in line if c.wide])
    p = pairs.forward(weights, wide)
    assert p.shape == (len(wide), pairs.CLASSES) and np.allclose(p.sum(axis=1), 1, atol=1e-4)


def test_quick_runs_must_not_overwrite_the_shipped_reader():
    train = load_script("train_pair_reader")
    with pytest.raises(SystemExit):
        train.main(["--quick"])
