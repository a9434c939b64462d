"""Tests for mnist_keras.preprocess: real-world digit images -> MNIST-style 28x28."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnist_keras.preprocess import (
    BOX_SIZE,
    MNIST_SIZE,
    ImageError,
    NoDigitError,
    load_grayscale,
    to_mnist,
    to_model_input,
)

# ---------------------------------------------------------------- helpers


def draw_digit(digit: str, size=(100, 100), box=None, ink=None, paper=None, mode="RGB") -> Image.Image:
    """Draw a stroke digit ("1", "7", "0" or "L") inside `box` (x0, y0, x1, y1).

    Default colours: black ink on white paper in the given mode.
    """
    w, h = size
    ink = Image.new(mode, (1, 1)).getpixel((0, 0)) if ink is None else ink  # black
    paper = Image.new("L", (1, 1), 255).convert(mode).getpixel((0, 0)) if paper is None else paper
    x0, y0, x1, y1 = box or (w * 0.3, h * 0.15, w * 0.7, h * 0.85)
    img = Image.new(mode, size, paper)
    pen = ImageDraw.Draw(img)
    width = max(1, round((y1 - y0) / 7))
    if digit == "1":
        pen.line(
            [
                (x0 + (x1 - x0) * 0.3, y0 + (y1 - y0) * 0.2),
                ((x0 + x1) / 2, y0),
                ((x0 + x1) / 2, y1),
            ],
            fill=ink,
            width=width,
        )
    elif digit == "7":
        pen.line([(x0, y0), (x1, y0), (x0 + (x1 - x0) * 0.3, y1)], fill=ink, width=width)
    elif digit == "0":
        pen.ellipse([x0, y0, x1, y1], outline=ink, width=width)
    elif digit == "L":  # asymmetric: used to check rotation
        pen.line([(x0, y0), (x0, y1), (x1, y1)], fill=ink, width=width)
    return img


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    ys, xs = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    total = img.astype(np.float64).sum()
    return float((img * ys).sum() / total), float((img * xs).sum() / total)


def ink_box(img: np.ndarray, threshold: int = 30) -> tuple[int, int]:
    """(height, width) of the bounding box of pixels above threshold."""
    rows = np.nonzero((img > threshold).any(axis=1))[0]
    cols = np.nonzero((img > threshold).any(axis=0))[0]
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def assert_mnist_like(out: np.ndarray) -> None:
    """uint8 28x28, black background, bright ink, 20 px box, centred by mass."""
    assert out.dtype == np.uint8 and out.shape == (MNIST_SIZE, MNIST_SIZE)
    assert np.median(out) == 0, "background must be black"
    assert out.max() >= 200, "ink must be bright"
    assert (out > 30).mean() < 0.5, "ink must be the minority (light on dark)"
    assert BOX_SIZE - 1 <= max(ink_box(out)) <= BOX_SIZE
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14) <= 1.0 and abs(cx - 14) <= 1.0, (cy, cx)


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


@pytest.fixture(scope="module")
def reference_seven() -> np.ndarray:
    """A clean, large black-on-white 7 processed once: the others should match it."""
    return to_mnist(draw_digit("7", size=(400, 400), box=(100, 60, 300, 340)))


# ---------------------------------------------------------------- synthetic digits


@pytest.mark.parametrize("digit", ["1", "7", "0"])
@pytest.mark.parametrize(
    "size,box",
    [
        ((28, 28), None),
        ((100, 100), None),
        ((100, 100), (2, 2, 30, 40)),  # top-left corner
        ((400, 300), (250, 150, 350, 290)),  # off-centre, bottom right
        ((300, 400), (20, 200, 120, 380)),  # portrait canvas, bottom left
    ],
)
def test_synthetic_digits_are_normalised(digit, size, box):
    assert_mnist_like(to_mnist(draw_digit(digit, size=size, box=box)))


@pytest.mark.parametrize(
    "ink,paper,mode",
    [
        ((0, 0, 0), (255, 255, 255), "RGB"),  # black on white
        ((255, 255, 255), (0, 0, 0), "RGB"),  # white on black
        ((20, 20, 200), (250, 230, 40), "RGB"),  # blue on yellow
        ((250, 230, 40), (20, 20, 200), "RGB"),  # yellow on blue
        (0, 255, "L"),
        (255, 0, "L"),
        ((0, 0, 0, 255), (0, 0, 0, 0), "RGBA"),  # opaque ink, transparent background
    ],
)
def test_colours_and_polarities_give_the_same_digit(ink, paper, mode, reference_seven):
    out = to_mnist(draw_digit("7", size=(400, 400), box=(100, 60, 300, 340), ink=ink, paper=paper, mode=mode))
    assert_mnist_like(out)
    assert mad(out, reference_seven) < 3.0


def test_position_and_canvas_size_do_not_matter(reference_seven):
    shifted = to_mnist(draw_digit("7", size=(800, 500), box=(20, 150, 220, 430)))
    assert_mnist_like(shifted)
    assert np.corrcoef(shifted.ravel(), reference_seven.ravel())[0, 1] > 0.95


def test_thin_strokes_on_a_big_canvas(reference_seven):
    big = draw_digit("7", size=(1600, 1200), box=(500, 200, 800, 650))  # > MAX_WORK_SIDE
    out = to_mnist(big)
    assert_mnist_like(out)
    hairline = Image.new("L", (400, 400), 255)
    ImageDraw.Draw(hairline).line([(100, 60), (300, 60), (160, 340)], fill=0, width=2)
    out = to_mnist(hairline)  # 2 px strokes would shrink to 0.14 px: they are widened
    assert_mnist_like(out)
    assert np.corrcoef(out.ravel(), reference_seven.ravel())[0, 1] > 0.85
    widths = (out[12:20] > 127).sum(axis=1)  # rows crossing the diagonal stroke
    assert 2 <= widths.mean() <= 5, widths


def test_noisy_photo_with_uneven_lighting(reference_seven):
    rng = np.random.default_rng(0)
    clean = np.asarray(draw_digit("7", size=(400, 400), box=(100, 60, 300, 340), mode="L"))
    lighting = np.linspace(90, 200, 400)[None, :] + np.linspace(-20, 20, 400)[:, None]
    photo = lighting * (0.25 + 0.75 * clean / 255) + rng.normal(0, 6, clean.shape)
    out = to_mnist(np.clip(photo, 0, 255).astype(np.uint8))
    assert_mnist_like(out)
    assert np.corrcoef(out.ravel(), reference_seven.ravel())[0, 1] > 0.9


def test_white_digit_on_black_28x28_keeps_its_mass_centred():
    img = draw_digit("0", size=(28, 28), box=(9, 4, 19, 23), ink=255, paper=0, mode="L")
    out = to_mnist(img)
    assert_mnist_like(out)


# ---------------------------------------------------------------- real MNIST pass-through


def mnist_dir() -> Path:
    env = os.environ.get("MNIST_KERAS_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def read_idx_images(path: Path, count: int) -> np.ndarray:
    """First `count` images of an IDX3 ubyte .gz file -> (count, rows, cols) uint8."""
    with gzip.open(path, "rb") as fh:
        header = fh.read(16)
        magic, _, rows, cols = np.frombuffer(header, ">u4")
        assert magic == 0x00000803
        data = fh.read(count * rows * cols)
    return np.frombuffer(data, np.uint8).reshape(count, rows, cols)


@pytest.fixture(scope="module")
def mnist_images() -> np.ndarray:
    path = mnist_dir() / "t10k-images-idx3-ubyte.gz"
    if not path.exists():
        pytest.skip(f"MNIST test images not found at {path}")
    return read_idx_images(path, 200)


def test_real_mnist_passes_through_nearly_unchanged(mnist_images):
    # Measured on these 200: mean |diff| 0.11 grey levels per pixel, worst image
    # 0.38, worst pixel 2; centres of mass move < 0.01 px, ink boxes are unchanged.
    # (All 10,000: mean 0.14; 8 half-pixel centre ties shift by one pixel and 3
    # digits MNIST clipped at the frame get rescaled; see preprocess.py.)
    outs = np.stack([to_mnist(img) for img in mnist_images])
    per_image = np.abs(outs.astype(np.float64) - mnist_images).mean(axis=(1, 2))
    assert per_image.mean() < 0.3
    assert per_image.max() < 1.0
    for out, img in zip(outs, mnist_images):
        assert np.allclose(centre_of_mass(out), centre_of_mass(img), atol=0.1)
        assert ink_box(out, 0) == ink_box(img, 0)


def test_real_mnist_as_float_and_inverted_paper(mnist_images):
    img = mnist_images[0]
    assert mad(to_mnist(img / 255.0), img) < 1.0  # float in [0, 1]
    assert mad(to_mnist(255 - img), img) < 1.0  # dark digit on white paper


# ---------------------------------------------------------------- blank images


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.full((100, 100), 255, np.uint8),  # white
        lambda: np.zeros((28, 28), np.uint8),  # black
        lambda: np.full((50, 80), 128, np.uint8),  # uniform grey
        lambda: (128 + np.random.default_rng(1).integers(-3, 4, (200, 200))).astype(np.uint8),
        lambda: np.asarray(draw_digit("7", ink=130, paper=118, mode="L")),  # too faint
        lambda: np.full((30, 30, 4), 0, np.uint8),  # fully transparent
    ],
)
def test_blank_images_raise_no_digit_error(make):
    with pytest.raises(NoDigitError, match="no digit found in image"):
        to_mnist(make())


def test_no_digit_error_names_the_file_and_is_an_image_error(tmp_path):
    path = tmp_path / "blank.png"
    Image.new("L", (64, 64), 255).save(path)
    with pytest.raises(ImageError, match="blank.png.*darker/larger digit"):
        to_mnist(path)


# ---------------------------------------------------------------- image modes and sources


def test_palette_with_transparency(reference_seven):
    img = draw_digit("7", size=(400, 400), box=(100, 60, 300, 340), ink=1, paper=0, mode="P")
    img.putpalette([0, 0, 0] * 256)  # paper and ink are both black: only alpha tells them apart
    img.info["transparency"] = 0  # index 0 (the paper) is see-through -> white
    buf = io.BytesIO()
    img.save(buf, "PNG")
    with Image.open(io.BytesIO(buf.getvalue())) as img:
        assert img.mode == "P"
    out = to_mnist(buf.getvalue())
    assert_mnist_like(out)
    assert mad(out, reference_seven) < 3.0


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_colour_key_transparency(mode, reference_seven):
    """PNG tRNS: the (black) paper colour is transparent, the near-black ink is not."""
    paper = Image.new(mode, (1, 1)).getpixel((0, 0))
    ink = 12 if mode == "L" else (12, 12, 12)
    img = draw_digit("7", size=(400, 400), box=(100, 60, 300, 340), ink=ink, paper=paper, mode=mode)
    buf = io.BytesIO()
    img.save(buf, "PNG", transparency=paper)
    assert mad(to_mnist(buf.getvalue()), reference_seven) < 3.0


def test_sixteen_bit_png(tmp_path, reference_seven):
    gray = np.asarray(draw_digit("7", size=(400, 400), box=(100, 60, 300, 340), mode="L"))
    path = tmp_path / "deep.png"
    Image.fromarray(gray.astype(np.uint16) * 257).save(path)
    with Image.open(path) as img:
        assert img.mode.startswith("I")
    assert load_grayscale(path).max() == pytest.approx(255, abs=0.01)
    assert mad(to_mnist(path), reference_seven) < 3.0


def test_la_with_transparent_background(reference_seven):
    img = draw_digit("7", size=(400, 400), box=(100, 60, 300, 340), ink=(0, 255), paper=(0, 0), mode="LA")
    assert load_grayscale(img)[0, 0] == 255  # transparent -> white paper
    assert mad(to_mnist(img), reference_seven) < 3.0


def test_rgba_is_composited_over_white():
    rgba = np.zeros((10, 10, 4), np.uint8)  # transparent black everywhere
    rgba[5, 5] = (0, 0, 0, 255)  # one opaque black pixel
    rgba[2, 2] = (0, 0, 0, 128)  # half transparent black
    gray = load_grayscale(rgba)
    assert gray.dtype == np.float32 and gray.shape == (10, 10)
    assert gray[0, 0] == 255 and gray[5, 5] == 0 and 120 < gray[2, 2] < 135


@pytest.mark.parametrize("mode", ["1", "F", "I", "RGB", "CMYK"])
def test_other_modes(mode, reference_seven):
    img = draw_digit("7", size=(400, 400), box=(100, 60, 300, 340), mode="L")
    if mode == "F":  # float image in [0, 1]
        img = Image.fromarray(np.asarray(img, np.float32) / 255)
    else:
        img = img.convert(mode)
    assert img.mode == mode
    assert mad(to_mnist(img), reference_seven) < 6.0


def test_numpy_sources_keep_polarity():
    rgb = np.asarray(draw_digit("1"))  # (100, 100, 3) uint8, black on white
    for arr in (rgb, rgb / 255.0, rgb.astype(np.float32), rgb[..., :1]):
        gray = load_grayscale(arr)
        assert gray.shape == (100, 100) and gray.dtype == np.float32
        assert gray[0, 0] == pytest.approx(255) and gray.min() == pytest.approx(0)


def test_exif_rotation_is_applied():
    stored = draw_digit("L", size=(120, 120), box=(30, 20, 90, 100))
    exif = Image.Exif()  # fresh: stored.getexif() would tag `stored` itself too
    exif[0x0112] = 6  # "rotate 90 CW to display": the L becomes a Γ
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=95, exif=exif.tobytes())
    out = to_mnist(buf.getvalue())
    upright = to_mnist(stored.transpose(Image.Transpose.ROTATE_270))
    sideways = to_mnist(stored)
    assert_mnist_like(out)
    assert mad(out, upright) < 5.0
    assert mad(out, sideways) > 3 * mad(out, upright)
    assert out.sum(axis=1).argmax() < 13  # Γ: the long bar is a row above the centre
    assert sideways.sum(axis=1).argmax() > 15  # L: the long bar is below the centre


def test_aspect_ratio_is_kept():
    tall = to_mnist(draw_digit("1", size=(300, 300), box=(120, 30, 170, 270)))
    height, width = ink_box(tall)
    assert height == BOX_SIZE and width < 10
    wide = to_mnist(draw_digit("0", size=(300, 300), box=(20, 100, 280, 200)))
    height, width = ink_box(wide)
    assert width == BOX_SIZE and 6 < height < 11


def test_to_model_input_batches(tmp_path):
    path = tmp_path / "seven.png"
    draw_digit("7").save(path)
    batch = to_model_input([path, draw_digit("1"), np.asarray(draw_digit("0"))])
    assert batch.shape == (3, 28, 28, 1) and batch.dtype == np.uint8
    assert_mnist_like(batch[2, ..., 0])
    assert to_model_input([]).shape == (0, 28, 28, 1)
    with pytest.raises(NoDigitError, match="image #1"):
        to_model_input([draw_digit("1"), np.zeros((28, 28), np.uint8)])


# ---------------------------------------------------------------- unreadable files


def check_bad_file(path: Path) -> ImageError:
    with pytest.raises(ImageError) as info:
        to_mnist(path)
    assert path.name in str(info.value)
    assert "\n" not in str(info.value)
    assert not isinstance(info.value, NoDigitError)
    return info.value


def test_text_file_named_png(tmp_path):
    path = tmp_path / "x.png"
    path.write_text("this is not an image\n")
    assert "not a recognised image" in str(check_bad_file(path))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    assert "empty" in str(check_bad_file(path))
    with pytest.raises(ImageError, match="empty"):
        to_mnist(b"")


def test_truncated_png(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (200, 200), np.uint8)).save(buf, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    assert "truncated" in str(check_bad_file(path))


def test_missing_file(tmp_path):
    assert "not found" in str(check_bad_file(tmp_path / "nowhere.png"))


@pytest.mark.parametrize("side", [40, 100])  # 1600 px: bomb warning, 10000 px: bomb error
def test_decompression_bomb(tmp_path, monkeypatch, side):
    path = tmp_path / "bomb.png"
    Image.new("L", (side, side), 255).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert "too large" in str(check_bad_file(path))


def test_unsupported_sources():
    with pytest.raises(ImageError, match="unsupported array shape"):
        to_mnist(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(TypeError, match="unsupported image source type int"):
        to_mnist(123)


# ---------------------------------------------------------------- stray ink


def small_seven() -> np.ndarray:
    """A 28x28 light-on-black 7 with MNIST-like 3 px strokes in a 20 px box."""
    return np.asarray(draw_digit("7", size=(28, 28), box=(6, 4, 20, 24), ink=255, paper=0, mode="L"))


def assert_same_digit(out: np.ndarray, reference: np.ndarray) -> None:
    """Same ink box (within 1 px) and centre of mass (within 1 px) as the clean digit's."""
    assert np.abs(np.subtract(ink_box(out), ink_box(reference))).max() <= 1, (ink_box(out), ink_box(reference))
    assert np.abs(np.subtract(centre_of_mass(out), centre_of_mass(reference))).max() <= 1.0


def test_salt_and_pepper_noise_does_not_move_or_shrink_the_digit():
    clean = small_seven()
    rng = np.random.default_rng(0)
    noisy = clean.copy()
    flipped = rng.random(clean.shape) < 0.17  # MNIST-C impulse noise, severity 4
    noisy[flipped] = np.where(rng.random(clean.shape) < 0.5, 255, 0)[flipped]
    out, reference = to_mnist(noisy), to_mnist(clean)
    assert_same_digit(out, reference)
    assert np.corrcoef(out.ravel(), reference.ravel())[0, 1] > 0.9


@pytest.mark.parametrize("dashed", [False, True])
def test_a_line_across_the_image_is_not_part_of_the_digit(dashed, reference_seven):
    img = draw_digit("7", size=(400, 400), box=(140, 60, 260, 340), mode="L")
    line = Image.new("L", img.size, 255)
    ImageDraw.Draw(line).line([(0, 330), (399, 250)], fill=0, width=12)  # crosses the 7's stem
    if dashed:  # MNIST-C's dotted line: dashes as separate marks
        stripes = np.arange(400) // 16 % 2 == 0
        line = Image.fromarray(np.where(stripes[np.newaxis, :], 255, np.asarray(line)).astype(np.uint8))
    crossed = np.minimum(np.asarray(img), np.asarray(line))
    out = to_mnist(crossed)
    assert_same_digit(out, to_mnist(img))


def test_far_specks_and_faint_mud_are_ignored():
    img = np.asarray(draw_digit("1", size=(200, 200), box=(80, 40, 120, 160), mode="L")).copy()
    reference = to_mnist(img)
    img[10:14, 10:14] = 0  # pen specks in the corners
    img[185:188, 180:184] = 0
    img[150:190, 20:60] = 190  # a faint grey smudge (a sixth of the ink's contrast)
    assert_same_digit(to_mnist(img), reference)


def test_separate_strokes_of_one_digit_are_kept():
    four = Image.new("L", (200, 200), 255)
    pen = ImageDraw.Draw(four)
    pen.line([(60, 30), (40, 120), (150, 120)], fill=0, width=12)  # the open 4's left stroke and bar
    pen.line([(125, 60), (125, 180)], fill=0, width=12)  # its stem, drawn with a gap above the bar
    dotted = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(dotted).line([(100, 80), (100, 180)], fill=0, width=14)  # an i-like stroke ...
    ImageDraw.Draw(dotted).ellipse([92, 40, 108, 56], fill=0)  # ... and its dot, 24 px above
    for img, (height, width) in ((four, (150, 122)), (dotted, (140, 16))):
        h, w = ink_box(to_mnist(img))
        assert abs(h / w - height / width) < 0.25 * height / width, (h, w)


def test_marks_are_labelled_with_the_index_type():
    """Labels, pixel counts and boxes are np.intp: 32-bit numpy (armhf Raspberry Pi OS)
    refuses int64 labels in np.bincount and ufunc.at (issue 23)."""
    from mnist_keras.marks import _boxes, _label

    mask = np.zeros((6, 8), bool)
    mask[1:3, 1:3] = True  # a 2x2 blob ...
    mask[4, 5:8] = True  # ... and a 3 px dash
    labels = _label(mask)
    for given in (labels, labels.astype(np.int64), labels.astype(np.int32)):
        sizes, boxes = _boxes(given)
        assert labels.dtype == sizes.dtype == boxes.dtype == np.intp
        assert sizes.tolist() == [4, 3] and boxes.tolist() == [[1, 1, 2, 2], [4, 5, 4, 7]]


def test_a_partly_inverted_background_keeps_the_digit():
    clean = small_seven()
    striped = clean.copy()
    striped[:, :7] = 255 - striped[:, :7]  # MNIST-C's stripe: the outer columns inverted
    striped[:, 21:] = 255 - striped[:, 21:]
    assert mad(to_mnist(striped), to_mnist(clean)) < 3.0
    photo = np.asarray(draw_digit("7", size=(400, 300), box=(200, 60, 320, 240), mode="L")).copy()
    reference = to_mnist(photo)
    photo[:, :120] = 40  # the dark table beside the page
    assert mad(to_mnist(photo), reference) < 3.0


def test_a_digit_in_uneven_fog_is_found():
    """A haze that varies across the image (MNIST-C fog) hides the digit from a plane fit, not from a local one."""
    from mnist_keras.corruptions import get

    clean, fog = small_seven(), get("fog")
    for seed in range(5):  # each a different fog: the ones a plane fit lost are among them
        assert_same_digit(to_mnist(fog(clean, np.random.default_rng(seed))), to_mnist(clean))
    with pytest.raises(NoDigitError):  # fog without a digit is still "no digit"
        to_mnist(fog(np.zeros_like(clean), np.random.default_rng(0)))
