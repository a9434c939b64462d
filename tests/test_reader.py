"""The number reader: segmentation, lines, "?", bad inputs and pictures, with a stub classifier (no TensorFlow).

The stub classifies a crop by its cosine similarity to templates: the digits 0-9
of one font, put through ``to_mnist``. Numbers drawn in that font therefore read
right exactly when the reader cuts them into the right crops, which is what
these tests are about; how well a real model reads real handwriting is the
benchmark's business (scripts/benchmark_numbers.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from mnist_keras import lines, marks, pairs, printed, reader
from mnist_keras.preprocess import ImageError, NoDigitError, to_mnist

FONT = next(f for f in printed.FONTS if f.name == "DejaVu Sans Bold")
SIZE = 64  # glyph size, px
SHARPNESS = 40.0  # the stub's softmax temperature on cosine similarities


def font() -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(printed.font_path(FONT)), SIZE)


def draw(
    text: str, *, advance: float = 1.0, canvas=(640, 160), at=(40, 40), gap_row: float | None = None
) -> np.ndarray:
    """Black digits on white, one line; ``advance`` scales the space each glyph takes (< 1: they touch).

    ``gap_row``: if given, a white band 3 px high is cut through every glyph at this share of its height
    (a digit drawn in two strokes).
    """
    image = Image.new("L", canvas, 255)
    pen = ImageDraw.Draw(image)
    f = font()
    x = at[0]
    for char in text:
        pen.text((x, at[1]), char, fill=0, font=f)
        x += f.getlength(char) * advance
    pixels = np.asarray(image).copy()
    if gap_row is not None:
        ink_rows = np.flatnonzero((pixels < 128).any(axis=1))
        y = round(ink_rows[0] + gap_row * (ink_rows[-1] - ink_rows[0]))
        pixels[y : y + 3] = 255
    return pixels


@pytest.fixture(scope="module")
def templates() -> np.ndarray:
    """(10, 784) unit vectors: each digit of FONT drawn alone, through to_mnist."""
    rows = np.stack([to_mnist(draw(str(d), canvas=(160, 160))).astype(np.float64).ravel() for d in range(10)])
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def stub(templates):
    """predict_proba by template matching: (N, 28, 28, 1) uint8 -> (N, 10)."""

    def predict_proba(batch: np.ndarray) -> np.ndarray:
        x = batch.reshape(len(batch), -1).astype(np.float64)
        x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-9
        logits = SHARPNESS * (x @ templates.T)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    predict_proba.calls = []
    return predict_proba


# ---------------------------------------------------------------- reading


def test_a_drawn_three_digit_number(stub):
    image = draw("307")
    reading = reader.read_number(image, stub)
    assert reading.text == "307" and reading.lines == ("307",) and reading.sure
    lefts = [d.box[0] for d in reading.digits]
    assert lefts == sorted(lefts)
    for digit in reading.digits:  # every box holds ink of the image, inside the image
        left, top, right, bottom = digit.box
        assert 0 <= left < right <= image.shape[1] and 0 <= top < bottom <= image.shape[0]
        assert (image[top:bottom, left:right] < 128).any()
        assert digit.candidates[0] == (digit.digit, digit.probability) and len(digit.candidates) == reader.TOP_K


def test_digits_drawn_in_two_strokes_are_one_digit_each(stub):
    image = draw("45", gap_row=0.45)  # a band through both glyphs: each is two separate marks
    assert marks.components(image < 128)[1].size >= 4
    assert reader.read_number(image, stub, line_proba=None).text == "45"  # the cuts' grouping, not the line reader


def touching(text: str) -> np.ndarray:
    """``text`` drawn with the glyphs pushed together until the ink is one mark."""
    for advance in np.arange(0.95, 0.5, -0.02):
        image = draw(text, advance=advance)
        if marks.components(image < 128)[1].size == 1:
            return image
    raise AssertionError(f"{text} never touched")


@pytest.mark.parametrize("text", ["14", "80", "352"])
def test_touching_digits_are_cut_apart(stub, text):
    reading = reader.read_number(touching(text), stub, threshold=0.5, pair_proba=None)  # the cut, not the pair reader
    assert reading.text == text
    rights, lefts = [d.box[2] for d in reading.digits[:-1]], [d.box[0] for d in reading.digits[1:]]
    assert all(left > right - 6 for left, right in zip(lefts, rights))  # cut near where the glyphs meet


@pytest.mark.parametrize("text", ["858208", "70705", "396297"])
def test_printed_digits_blurred_into_one_row_are_cut_apart(stub, text):
    """Set close and blurred, as a photographed price tag: fewer marks than digits, run together by grey ink."""
    image = np.asarray(Image.fromarray(draw(text, advance=0.85)).filter(ImageFilter.GaussianBlur(3)))
    assert marks.components(image < 128)[1].size < len(text)
    assert reader.read_number(image, stub, threshold=0.5, pair_proba=None).text == text


def sure_pair(pair: int, probability: float = 0.999):
    """A stub pair reader that reads every wide crop as ``pair`` (pairs.NOT_PAIR: as no pair)."""

    def pair_proba(crops: np.ndarray) -> np.ndarray:
        p = np.full((len(crops), pairs.CLASSES), (1 - probability) / (pairs.CLASSES - 1))
        p[:, pair] = probability
        return p

    return pair_proba


def test_two_touching_digits_the_pair_reader_is_sure_of_are_read_whole(stub):
    """The pair reader's reading beats the classifier's on cut halves (here it even disagrees with them)."""
    image = touching("14")
    assert reader.read_number(image, stub, threshold=0.5, pair_proba=None, line_proba=None).text == "14"
    reading = reader.read_number(image, stub, pair_proba=sure_pair(47), line_proba=None)
    assert reading.text == "47" and reading.sure
    first, second = reading.digits
    assert first.box[0] < second.box[0] and first.box[2] <= second.box[2]
    sure = pytest.approx(0.999, abs=1e-4)  # the rest of the stub's probability is spread over every pair
    assert first.candidates[0] == (4, sure) and second.candidates[0] == (7, sure)


def test_not_a_pair_leaves_the_classifiers_reading(stub):
    image = touching("352")
    alone = reader.read_number(image, stub, threshold=0.5, pair_proba=None)
    assert reader.read_number(image, stub, threshold=0.5, pair_proba=sure_pair(pairs.NOT_PAIR)) == alone


def line_says(text: str, columns: list[int], probability: float = 0.999):
    """A stub line reader that reads every line as ``text``, digit i emitted at column ``columns[i]``."""

    def line_proba(crops: np.ndarray) -> np.ndarray:
        p = np.zeros((len(crops), lines.LINE_STEPS, lines.OUTPUTS))
        p[:, :, lines.BLANK] = 1.0
        for char, t in zip(text, columns):
            p[:, t] = (1 - probability) / (lines.OUTPUTS - 1)
            p[:, t, lines.BLANK + 1 + int(char)] = probability
        return p

    return line_proba


def test_the_line_reader_wins_where_it_reads_other_digits_in_the_cuts_boxes(stub):
    image = touching("14")
    cuts = reader.read_number(image, stub, threshold=0.5, line_proba=None)
    assert cuts.text == "14"
    reading = reader.read_number(image, stub, line_proba=line_says("17", [10, 20]))
    assert reading.text == "17" and reading.sure
    assert [d.box for d in reading.digits] == [d.box for d in cuts.digits]
    assert reading.digits[1].candidates[0] == (7, pytest.approx(0.999 / (0.999 + 9 * 0.001 / 10)))  # by CTC


def test_the_cuts_win_where_the_columns_nearly_spell_their_digits_too(stub):
    """The line reader's second column is torn between 7 (0.55) and 4 (0.44); the classifier is sure
    of the cut 4. Scored over the whole line, the cuts' "14" beats the columns' likeliest "17"."""
    image = draw("14")
    assert reader.read_number(image, stub, line_proba=None).text == "14"

    def torn(crops: np.ndarray) -> np.ndarray:
        p = line_says("17", [10, 20])(crops)
        p[:, 20] = 0.01 / (lines.OUTPUTS - 2)
        p[:, 20, lines.BLANK + 1 + 7], p[:, 20, lines.BLANK + 1 + 4] = 0.55, 0.44
        return p

    assert lines.decode(torn(np.zeros((1, 1))))[0].text == "17"
    assert reader.read_number(image, stub, line_proba=torn).text == "14"
    assert reader.read_number(image, stub, line_proba=line_says("17", [10, 20])).text == "17"  # not torn


def test_a_digit_more_than_the_cuts_found_must_be_spelled_surely(stub, monkeypatch):
    """The columns spell "14", then a 4 they are unsure of at a third column (a doubled stroke, a tail):
    "144" is odds(p) = p / (1 - p) times likelier to them than "14". The cuts found two digits, so
    "144" pays LENGTH_COST for its third: it wins only where the columns are surer of it than that."""
    image = draw("14")

    def extra(p4: float):
        def proba(crops: np.ndarray) -> np.ndarray:
            p = line_says("14", [10, 20])(crops)
            p[:, 30] = 0.0
            p[:, 30, lines.BLANK + 1 + 4], p[:, 30, lines.BLANK] = p4, 1 - p4
            return p

        return proba

    def guess(line_proba) -> str:
        return "".join(str(d.digit) for d in reader.read_number(image, stub, line_proba=line_proba).digits)

    assert np.log(0.6 / 0.4) < reader.LENGTH_COST < np.log(0.97 / 0.03)  # how much likelier "144" is, at each
    assert lines.decode(extra(0.6)(np.zeros((1, 1))))[0].text == "144"
    assert guess(extra(0.6)) == "14" and guess(extra(0.97)) == "144"
    monkeypatch.setattr(reader, "LENGTH_COST", 0.0)
    assert guess(extra(0.6)) == "144"  # a count the cuts contradict, at no cost


def test_where_both_read_the_same_digits_their_probabilities_multiply(stub):
    """The classifier gives 0.8 to the right digit of "38" and 0.2 / 9 to each other; the line reader's
    columns give p to it and (1 - p) / 10 to each other output, so by CTC it says p / (p + 9 (1 - p) / 10)
    of that digit in its place. Together: 0.8 * that over the same plus the nine others' products."""

    def unsure(batch):
        p = np.asarray(stub(batch), np.float64)
        return 0.8 * (p == p.max(axis=1, keepdims=True)) + 0.2 * (p != p.max(axis=1, keepdims=True)) / 9

    def together(p: float) -> float:
        other = (1 - p) / 10
        line, line_other = p / (p + 9 * other), other / (p + 9 * other)
        return 0.8 * line / (0.8 * line + 9 * (0.2 / 9) * line_other)

    assert reader.read_number(draw("38"), unsure, line_proba=None).text == "??"
    reading = reader.read_number(draw("38"), unsure, line_proba=line_says("38", [10, 20], 0.9))
    assert reading.text == "38" and reading.sure
    assert all(d.probability == pytest.approx(together(0.9)) for d in reading.digits)
    assert all(d.candidates[0] == (d.digit, d.probability) for d in reading.digits)
    weaker = reader.read_number(draw("38"), unsure, line_proba=line_says("38", [10, 20], 0.5))
    assert all(d.probability == pytest.approx(together(0.5)) for d in weaker.digits)
    between = (together(0.5) + together(0.9)) / 2  # a threshold the weaker line reader's agreement misses
    assert (
        reader.read_number(draw("38"), unsure, threshold=between, line_proba=line_says("38", [10, 20], 0.5)).text
        == "??"
    )
    assert (
        reader.read_number(draw("38"), unsure, threshold=between, line_proba=line_says("38", [10, 20], 0.9)).text
        == "38"
    )


def test_digits_the_cuts_missed_get_boxes_around_the_ink_their_columns_saw(stub):
    image = touching("14")  # its ink fills about 11 of the line reader's columns
    reading = reader.read_number(image, stub, line_proba=line_says("141", [2, 5, 8]))
    assert reading.text == "141"
    lefts = [d.box[0] for d in reading.digits]
    assert lefts == sorted(lefts) and len(set(lefts)) == 3
    for left, top, right, bottom in (d.box for d in reading.digits):
        assert 0 <= left < right <= image.shape[1] and 0 <= top < bottom <= image.shape[0]
        assert (image[top:bottom, left:right] < 128).any()
    beyond = reader.read_number(image, stub, line_proba=line_says("1414", [2, 5, 20, 40]))  # columns past the ink
    for left, top, right, bottom in (d.box for d in beyond.digits):
        assert 0 <= left < right <= image.shape[1] and 0 <= top < bottom <= image.shape[0]


def test_a_line_the_line_reader_reads_as_empty_keeps_the_cuts(stub):
    image = draw("27")
    assert reader.read_number(image, stub, line_proba=line_says("", [])) == reader.read_number(
        image, stub, line_proba=None
    )


def test_a_piece_no_digit_can_reach_past_is_skipped_not_the_whole_line():
    """Pieces 0-1 and 3-4 are digits; piece 2 is covered only by a candidate that starts at piece 1,
    which no split reaches: the line is read without piece 2, not left empty."""
    assert reader._best_split(5, [(0, 2), (1, 3), (3, 5)], np.array([-0.1, -0.5, -0.2])) == [0, 2]


def test_lines_are_read_top_to_bottom(stub):
    image = np.minimum(draw("12", canvas=(400, 260), at=(150, 10)), draw("345", canvas=(400, 260), at=(30, 140)))
    reading = reader.read_number(image, stub)
    assert reading.text == "12\n345" and reading.lines == ("12", "345")
    assert [d.line for d in reading.digits] == [0, 0, 1, 1, 1]


def test_specks_are_not_digits(stub):
    image = draw("27").copy()
    image[10:13, 10:13] = 0  # a speck of dust far from the number
    image[150:152, 600:602] = 0
    assert reader.read_number(image, stub).text == "27"


def test_an_unsure_digit_is_a_question_mark_with_candidates():
    def undecided(batch: np.ndarray) -> np.ndarray:  # two digits equally likely for every crop
        proba = np.zeros((len(batch), 10), np.float32)
        proba[:, 3], proba[:, 8] = 0.55, 0.45
        return proba

    reading = reader.read_number(draw("38"), undecided, line_proba=None)
    assert reading.text == "??" and not reading.sure
    assert all(d.candidates[:2] == ((3, pytest.approx(0.55)), (8, pytest.approx(0.45))) for d in reading.digits)
    assert reader.read_number(draw("38"), undecided, threshold=0.5, line_proba=None).text == "33"


def test_the_classifier_is_called_once(stub):
    calls = []

    def counting(batch):
        calls.append(len(batch))
        return stub(batch)

    reader.read_number(draw("1234"), counting)
    assert len(calls) == 1 and calls[0] >= 4


def test_boxes_are_in_the_source_pixels_of_a_huge_image(stub):
    small = draw("59", canvas=(400, 150))
    big = np.asarray(Image.fromarray(small).resize((2400, 900), Image.NEAREST))  # reduced 3x inside
    a, b = reader.read_number(small, stub), reader.read_number(big, stub)
    assert b.text == a.text == "59" and b.size == (2400, 900)
    for da, db in zip(a.digits, b.digits):
        assert np.abs(np.asarray(db.box) - 6 * np.asarray(da.box)).max() <= 12


def test_as_dict_is_json(stub):
    # the stub's template for a drawn 6 is about 0.96 sure: below the default threshold, not below this one
    data = json.loads(json.dumps(reader.read_number(draw("61"), stub, threshold=0.9).as_dict()))
    assert data["text"] == "61" and data["lines"] == ["61"] and data["size"] == [640, 160]
    assert {"char", "digit", "probability", "candidates", "box", "line", "sure"} <= set(data["digits"][0])


# ---------------------------------------------------------------- bad inputs


def test_a_blank_image_has_no_digit(stub):
    with pytest.raises(NoDigitError, match="no digit found"):
        reader.read_number(np.full((100, 300), 255, np.uint8), stub)


def test_texture_is_refused_in_one_line(stub):
    rng = np.random.default_rng(0)
    image = np.full((400, 400), 255, np.uint8)
    for y, x in rng.integers(0, 390, (400, 2)):  # 400 blots: a texture, not a number
        image[y : y + 6, x : x + 4] = 0
    with pytest.raises(reader.TooManyMarksError) as err:
        reader.read_number(image, stub)
    assert isinstance(err.value, ImageError) and "\n" not in str(err.value) and "marks" in str(err.value)


def test_a_page_of_text_is_refused(stub):
    text = "\n".join("3141592653 5897932384" for _ in range(3))
    image = Image.new("L", (900, 260), 255)
    ImageDraw.Draw(image).multiline_text(
        (10, 10), text, fill=0, font=ImageFont.truetype(str(printed.font_path(FONT)), 30)
    )
    with pytest.raises(reader.TooManyMarksError, match="digit-sized marks"):
        reader.read_number(np.asarray(image), stub)


def test_unreadable_files_raise_image_errors(stub, bad_images):
    for key in ("not_an_image", "empty", "missing"):
        path, message = bad_images[key]
        with pytest.raises(ImageError, match=re.escape(message)):
            reader.read_number(path, stub)


# ---------------------------------------------------------------- helpers


def test_several_digits_tells_a_number_from_one_digit():
    assert reader.several_digits(draw("123"))
    assert not reader.several_digits(draw("7", canvas=(160, 160)))
    assert not reader.several_digits(draw("4", canvas=(160, 160), gap_row=0.45))  # two strokes, one digit


def test_annotate_draws_each_box(stub):
    image = draw("90")
    reading = reader.read_number(image, stub)
    picture = reader.annotate(image, reading)
    assert picture.mode == "RGB" and picture.size == (640, 160)
    pixels = np.asarray(picture).astype(int)
    for digit in reading.digits:
        left, top, right, bottom = digit.box
        edge = pixels[top:bottom, left]  # the box's left side, drawn in the "sure" colour
        assert (np.abs(edge - reader.SURE_COLOUR).sum(axis=1) < 30).mean() > 0.8
    unsure = reader.annotate(image, reader.read_number(image, stub, threshold=1.01))
    assert (np.abs(np.asarray(unsure).astype(int) - reader.UNSURE_COLOUR).sum(axis=2) < 30).any()


def test_single_digit_to_mnist_is_unchanged(mnist):
    """to_mnist shares its ink finding with the reader: its output on MNIST test digits is byte for byte
    what it was before the reader existed (hash taken from that version)."""
    out = np.stack([to_mnist(x) for x in mnist.x_test[:500]])
    assert (
        hashlib.sha256(out.tobytes()).hexdigest() == "9cd80d1c1e577a3cc5bb0c58847d6e05022dae582ee1322d08afcb09f4ea2433"
    )


def test_a_wide_candidate_the_pair_reader_calls_a_pair_scores_lower_as_one_digit():
    """Two touching digits can look like one sure digit to the model and the judge; the pair reader's
    "not a pair" is weighed in (NOT_PAIR_WEIGHT), where it read the candidate (a NaN row where not)."""
    candidates = [SimpleNamespace(gap=0.0)] * 3
    proba, judged = np.full((3, 10), 0.01), np.full(3, 0.9)
    proba[:, 8] = 0.91
    pair = np.full((3, pairs.CLASSES), np.nan)
    pair[1], pair[2] = 0.0, 0.0
    pair[1, pairs.NOT_PAIR], pair[2, pairs.NOT_PAIR] = 1.0, 0.01
    scores = reader._scores(candidates, proba, judged, pair)
    assert scores[0] == pytest.approx(np.log(0.91) + reader.WHOLE_WEIGHT * np.log(0.9)) == scores[1]
    assert scores[2] == pytest.approx(scores[0] + reader.NOT_PAIR_WEIGHT * np.log(0.01))
