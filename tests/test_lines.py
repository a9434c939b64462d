"""The line reader (lines.py): numpy computes what the Keras model it is trained as computes, greedy
CTC decoding, the line crop and each line's ink (segment.Page.line_ink), and the script that trains it
(scripts/train_line_reader.py)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from script_runs import load_script, quick_weights

from mnist_keras import lines, lines_weights, numberset, preprocess, segment, whole


def test_numpy_computes_what_the_keras_model_computes():
    """Layer for layer, with random weights: 'same' convolutions, uneven pooling, columns as time steps."""
    import keras

    train = load_script("train_line_reader")
    keras.utils.set_random_seed(3)
    model = train.build()
    crops = np.random.default_rng(0).integers(0, 256, (3, *lines.INPUT_SHAPE[:2]), dtype=np.uint8)
    logits = model.predict(crops[..., np.newaxis], verbose=0).astype(np.float64)
    assert logits.shape == (3, lines.LINE_STEPS, lines.OUTPUTS)
    expected = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    assert np.allclose(lines.forward(train.weights_of(model), crops), expected, atol=1e-5)


def test_the_training_loss_is_lowest_for_the_line_the_columns_spell():
    train = load_script("train_line_reader")
    logits = np.full((2, lines.LINE_STEPS, lines.OUTPUTS), -5.0, np.float32)
    logits[:, :, lines.BLANK] = 5.0
    logits[:, 10:13, 1 + 4], logits[:, 20:22, 1 + 2] = 5.0, 5.0  # "42"
    labels = np.zeros((2, train.LABEL_LENGTH), np.int32)
    labels[0, :2], labels[1, :2] = [1 + 4, 1 + 2], [1 + 2, 1 + 4]
    right, wrong = np.asarray(train.ctc_loss(labels, logits))
    assert right < 1 < wrong


def test_decoding_merges_repeated_columns_and_drops_blanks():
    columns = [0, 8, 8, 0, 8, 0, 0, 1, 1, 1, 0]  # "7 7 - 7 ... 0": outputs are 1 + digit
    p = np.full((1, len(columns), lines.OUTPUTS), 0.01)
    p[0, np.arange(len(columns)), columns] = 0.9
    (reading,) = lines.decode(p)
    assert reading.text == "770" and reading.columns == (1, 4, 7) and np.allclose(reading.probabilities, 0.9)
    assert lines.decode(np.eye(lines.OUTPUTS)[[lines.BLANK] * 5][np.newaxis])[0].text == ""


def test_a_line_crop_is_28_tall_and_starts_at_the_left():
    ink = np.zeros((60, 90), np.float32)
    ink[10:40, 5:65] = 255  # 30 tall, 60 wide: scaled by 28 / 30
    crop = preprocess.ink_to_line(ink)
    rows, cols = np.flatnonzero(crop.max(axis=1) > 128), np.flatnonzero(crop.max(axis=0) > 128)
    assert crop.shape == lines.INPUT_SHAPE[:2] and crop.dtype == np.uint8
    assert 27 <= len(rows) <= 29 and 2 <= cols[0] <= 3 and 54 <= len(cols) <= 58
    long = np.full((10, 1000), 255, np.float32)  # too long to be 28 tall: fitted to the width
    assert preprocess.ink_to_line(long)[:, -2:].max() == 0 and preprocess.ink_to_line(long)[:, -3].max() > 0


def test_each_line_of_a_page_has_its_own_ink(mnist):
    sample = numberset.make_set(numberset.VALIDATION, 1, conditions=("lines",), mnist=mnist)[0]
    page = segment.prepare(sample.image, "image")
    assert len(page.line_ink) == len(page.candidates) == sample.text.count("\n") + 1
    for ink, candidates in zip(page.line_ink, page.candidates):
        assert ink.max() > 0 and ink.shape[0] >= max(c.box[2] - c.box[0] for c in candidates)


def test_the_stored_reader_reads_lines_it_never_saw(mnist):
    """Validation digits (never trained on), touching and overlapping: most lines read right whole,
    which the cuts alone do far less often (docs/NUMBERS.md)."""
    train = load_script("train_line_reader")
    pool = numberset.pool(numberset.VALIDATION, mnist)
    samples = [s for c in ("touching", "overlapping", "separated_4")
               for s in numberset.make_condition(c, 20, pool, split=numberset.VALIDATION, seed=1)]  # fmt: skip
    x, y, _ = train.labelled(samples)
    assert len(y) == len(samples)  # one line each, all found
    got = [r.text for r in lines.decode(lines.probabilities(x))]
    truth = ["".join(str(k - 1) for k in row if k > 0) for row in y]
    assert np.mean([g == t for g, t in zip(got, truth)]) > 0.8  # a line is right only if every digit is


def spelled_by_every_path(columns: np.ndarray) -> dict[str, float]:
    """P(text) for every text, summing all OUTPUTS**len(columns) paths, each collapsed as ``decode`` does."""
    spelled: dict[str, float] = {}
    for path in itertools.product(range(lines.OUTPUTS), repeat=len(columns)):
        text = "".join(str(k - 1) for t, k in enumerate(path) if k != lines.BLANK and (t == 0 or path[t - 1] != k))
        spelled[text] = spelled.get(text, 0.0) + np.prod(columns[np.arange(len(columns)), path])
    return spelled


def test_log_likelihood_sums_every_path_that_spells_the_digits():
    """Against all 11**4 paths through 4 columns."""
    columns = np.random.default_rng(1).dirichlet(np.ones(lines.OUTPUTS), size=4)
    spelled = spelled_by_every_path(columns)
    for text in ["", "3", "33", "12", "121", "1212"]:
        assert lines.log_likelihood(columns, text) == pytest.approx(np.log(spelled[text]), rel=1e-9)
    assert lines.log_likelihood(columns, "12345") == -np.inf  # 5 digits cannot fit in 4 columns
    texts = ["12", "33", "90"]
    assert lines.log_likelihoods(columns, texts) == pytest.approx([np.log(spelled[t]) for t in texts], rel=1e-9)
    with pytest.raises(ValueError, match="one length"):
        lines.log_likelihoods(columns, ["1", "12"])


def test_digit_probabilities_weigh_each_digit_in_its_place_against_the_others():
    """Row j, column d: P(the text with d at j) over the sum of that for d = 0..9, by every path."""
    columns = np.random.default_rng(3).dirichlet(np.ones(lines.OUTPUTS), size=4)
    spelled = spelled_by_every_path(columns)
    for text in ["7", "121", "33"]:
        got = lines.digit_probabilities(columns, text)
        for j in range(len(text)):
            odds = np.array([spelled.get(text[:j] + str(d) + text[j + 1 :], 0.0) for d in range(10)])
            assert got[j] == pytest.approx(odds / odds.sum(), rel=1e-9)
    assert lines.digit_probabilities(columns, "").shape == (0, 10)


def test_log_likelihood_is_what_training_maximised():
    """Minus the script's CTC loss (Keras) on a full line's columns."""
    train = load_script("train_line_reader")
    logits = np.random.default_rng(2).normal(0, 2, (1, lines.LINE_STEPS, lines.OUTPUTS)).astype(np.float32)
    columns = np.exp(logits[0]) / np.exp(logits[0]).sum(axis=1, keepdims=True)
    labels = np.zeros((1, train.LABEL_LENGTH), np.int32)
    labels[0, :3] = [1 + 9, 1 + 9, 1 + 0]  # "990": a repeated digit needs a blank between
    loss = float(np.asarray(train.ctc_loss(labels, logits))[0])
    assert lines.log_likelihood(columns.astype(np.float64), "990") == pytest.approx(-loss, rel=1e-4)


def test_a_quick_training_run_writes_a_module_the_reader_can_load(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("MNIST_KERAS_DATA", str(data_dir))  # the script's worker processes find MNIST through it
    module = quick_weights("train_line_reader", tmp_path)
    assert "python scripts/train_line_reader.py --quick" in module.__doc__
    weights = whole.unpack(module.SHAPES, module.DATA)
    page = segment.prepare(numberset.make_set(numberset.VALIDATION, 1, conditions=("touching",))[0].image, "image")
    p = lines.forward(weights, np.stack([preprocess.ink_to_line(ink) for ink in page.line_ink]))
    assert p.shape == (1, lines.LINE_STEPS, lines.OUTPUTS) and np.allclose(p.sum(axis=2), 1, atol=1e-4)


def test_quick_runs_must_not_overwrite_the_shipped_reader():
    train = load_script("train_line_reader")
    with pytest.raises(SystemExit):
        train.main(["--quick"])


def test_training_can_go_on_from_the_shipped_weights():
    """``--start``: the module's weights and the command that wrote them come back, and the Keras
    model built from them computes what the reader computes with them."""
    train = load_script("train_line_reader")
    weights, command = whole.read_weights_module(Path(lines.__file__).with_name("lines_weights.py"))
    assert command.startswith("python scripts/train_line_reader.py")
    assert f"Generated by ``{command}``: do not edit." in lines_weights.__doc__
    assert all(np.array_equal(weights[k], v) for k, v in lines._weights().items())
    number = numberset.make_set(numberset.VALIDATION, 1, conditions=("separated_4",))[0]
    crops = np.stack([preprocess.ink_to_line(ink) for ink in segment.prepare(number.image, "image").line_ink])
    logits = train.build(weights).predict(crops[..., np.newaxis], verbose=0).astype(np.float64)
    expected = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    assert np.allclose(lines.forward(weights, crops), expected, atol=1e-5)


def test_warp_turns_each_training_digit_its_own_way_and_keeps_its_ink():
    """``--warp``: every digit rotated and sheared by its own draw (the same for the same seed, other
    for another), its label kept and its ink neither lost off the frame nor added."""
    train = load_script("train_line_reader")
    rng = np.random.default_rng(0)
    images = np.zeros((64, 28, 28), np.uint8)
    images[:, 4:24, 12:16] = 255  # an upright bar, 20 px tall, as a 1 is drawn
    digits = numberset.DigitPool(images, rng.integers(0, 10, 64))
    one, again, other = train.warped(digits, 1), train.warped(digits, 1), train.warped(digits, 2)
    assert np.array_equal(one.images, again.images) and np.array_equal(one.labels, digits.labels)
    assert not np.array_equal(one.images, other.images)
    assert len({one.images[i].tobytes() for i in range(64)}) == 64  # no two drawn alike
    slants = [np.polyfit(*np.nonzero(image > 127), 1)[0] for image in one.images]  # columns per row
    limit = np.tan(np.deg2rad(train.WARP_ROTATION_DEG)) + train.WARP_SHEAR
    assert max(np.abs(slants)) <= limit + 0.05 and np.ptp(slants) > limit / 2
    ink = one.images.reshape(64, -1).sum(axis=1) / images.reshape(64, -1).sum(axis=1)
    assert np.all(np.abs(ink - 1) < 0.02)


def test_a_start_that_is_not_a_weights_module_is_refused_in_one_line(tmp_path, capsys):
    train = load_script("train_line_reader")
    (tmp_path / "other.py").write_text('"""Some module."""\n')
    for start in (tmp_path / "missing.py", tmp_path / "other.py"):
        with pytest.raises(SystemExit) as exit:
            train.main(["--start", str(start), "--output", str(tmp_path / "w.py")])
        assert exit.value.code != 0
        assert f"--start {start}: not a weights module" in capsys.readouterr().err
    assert not (tmp_path / "w.py").exists()
