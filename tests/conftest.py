"""Shared fixtures: where the real MNIST files are, and a tiny trained run.

Tests find MNIST the way the product does: ``$MNIST_KERAS_DATA``, then
``../shared/data/mnist`` beside the clone, then Keras' own download
(``keras.datasets.mnist.load_data()``, cached in ``~/.keras/datasets``), which
is written out once as IDX files so that every test can pass a folder.
Only when none works do the tests that need MNIST skip, and the summary
says so in capitals.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "mnist"
KERAS_IDX_CACHE = Path.home() / ".cache" / "mnist-keras" / "mnist-idx"  # Keras' download as IDX files

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_data_problem: list[str] = []  # why the real data could not be found, for the summary


def _has_mnist(folder: Path) -> bool:
    return any((folder / f"t10k-labels-idx1-ubyte{ext}").exists() for ext in ("", ".gz"))


def _keras_download_as_idx() -> Path:
    """Keras' MNIST (downloaded once, then cached by Keras) written as the four IDX files.

    Raises:
        DataError: no cache and no network.
    """
    from mnist_keras.artifacts import atomic_path
    from mnist_keras.data import FILES, idx_bytes, load_keras_download

    if _has_mnist(KERAS_IDX_CACHE):
        return KERAS_IDX_CACHE
    mnist = load_keras_download()
    for field, name in FILES.items():
        with atomic_path(KERAS_IDX_CACHE / name) as tmp:
            tmp.write_bytes(idx_bytes(getattr(mnist, field)))
    return KERAS_IDX_CACHE


def mnist_data_dir() -> Path | None:
    """The real MNIST folder, found as described above; None (and a reason) when there is none."""
    if os.environ.get("MNIST_KERAS_DATA"):
        folder = Path(os.environ["MNIST_KERAS_DATA"])
        if _has_mnist(folder):
            return folder
        _data_problem.append(f"MNIST_KERAS_DATA={folder} holds no MNIST files")
        return None
    if _has_mnist(DEFAULT_DATA):
        return DEFAULT_DATA
    from mnist_keras.errors import DataError

    try:
        return _keras_download_as_idx()
    except DataError as err:
        _data_problem.append(str(err))
        return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    folder = mnist_data_dir()
    if folder is None:
        pytest.skip(f"real MNIST not found: {_data_problem[-1]}")
    return folder


def pytest_terminal_summary(terminalreporter):
    """Say loudly when tests were skipped for want of MNIST: a green run then tested far less."""
    if _data_problem:
        terminalreporter.write_sep("!", "MNIST NOT FOUND: EVERY TEST THAT NEEDS IT WAS SKIPPED", red=True, bold=True)
        terminalreporter.write_line(_data_problem[-1])
        terminalreporter.write_line("set MNIST_KERAS_DATA=DIR (the four IDX files) or connect to the internet once")


@pytest.fixture(scope="session")
def mnist(data_dir):
    from mnist_keras.data import load_mnist

    return load_mnist(data_dir)


@pytest.fixture(scope="session")
def trained_run(data_dir, tmp_path_factory) -> Path:
    """A lamontagne run on 3,000 real images for one epoch (about 10 s), shared by tests."""
    from mnist_keras.train import FitConfig, fit

    root = tmp_path_factory.mktemp("trained")
    config = FitConfig(
        model="lamontagne", overrides={"epochs": 1}, limit=3000, data_dir=str(data_dir),
        run_dir=str(root / "run"), saved_models_dir=str(root / "saved_models"), verbose=0,
    )  # fmt: skip
    return fit(config)


@pytest.fixture(scope="session")
def tflite_models(trained_run, data_dir, tmp_path_factory) -> dict[str, Path]:
    """The session's tiny model exported by the project's own export: variant -> .tflite path."""
    from mnist_keras.export import export

    out = tmp_path_factory.mktemp("tflite")
    result = export(
        trained_run,
        variants=("float32", "int8"),
        output_dir=out,
        data_dir=data_dir,
        calibration_samples=100,
        test_limit=200,
    )
    return {variant: result.output_dir / f"run_{variant}.tflite" for variant in ("float32", "int8")}


@pytest.fixture(scope="session")
def bad_images(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """Files the image tools must reject one by one: name -> (path, part of the expected message)."""
    import struct
    import zlib

    from PIL import Image

    folder = tmp_path_factory.mktemp("bad_images")

    def png_chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    side = 12_000  # 144 Mpx: over Pillow's 89 Mpx limit, declared in a 60-byte file
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + png_chunk(b"IEND", b"")
    )
    Image.new("RGB", (200, 150), (255, 255, 255)).save(folder / "blank.png")
    files = {
        "not_an_image": ("not_an_image.png", b"this is a text file, not a picture\n", "not a recognised image format"),
        "empty": ("empty.jpg", b"", "it is empty (0 bytes)"),
        "truncated": ("truncated.png", (folder / "blank.png").read_bytes()[:60], "truncated"),
        "huge": ("huge.png", bomb, "image is too large"),
    }
    result = {}
    for key, (name, content, message) in files.items():
        (folder / name).write_bytes(content)
        result[key] = (folder / name, message)
    result["blank"] = (folder / "blank.png", "no digit found")
    result["missing"] = (folder / "missing.png", "file not found")
    return result


DIGIT_IMAGES = 100  # MNIST test digits per image set


@pytest.fixture(scope="session")
def digit_images(mnist, tmp_path_factory) -> dict[str, tuple[list[Path], list[int]]]:
    """The first MNIST test digits as image files in three sets: set name -> (paths, labels).

    ``mnist``: the digits as PNG, as they are. ``recoloured``: dark ink on light
    paper (inverted), half of them as blue ink on yellow RGB JPEGs. ``canvas``:
    upscaled 10x, dark ink on an 800x600 white canvas, off-centre.
    """
    import numpy as np
    from PIL import Image

    root = tmp_path_factory.mktemp("digits")
    x, y = mnist.x_test[:DIGIT_IMAGES], [int(v) for v in mnist.y_test[:DIGIT_IMAGES]]
    sets = {}
    for name in ("mnist", "recoloured", "canvas"):
        (root / name).mkdir()
        sets[name] = ([], y)
    for i, digit in enumerate(x):
        ink = digit.astype(np.float32) / 255  # (28, 28) 0..1
        paths = {"mnist": root / "mnist" / f"{i:03d}.png", "canvas": root / "canvas" / f"{i:03d}.png"}
        Image.fromarray(digit).save(paths["mnist"])
        if i % 2:
            colour = np.array([255, 240, 120]) * (1 - ink[..., None]) + np.array([20, 40, 200]) * ink[..., None]
            paths["recoloured"] = root / "recoloured" / f"{i:03d}.jpg"
            Image.fromarray(colour.astype(np.uint8), "RGB").save(paths["recoloured"], quality=92)
        else:
            paths["recoloured"] = root / "recoloured" / f"{i:03d}.png"
            Image.fromarray(255 - digit).save(paths["recoloured"])
        canvas = Image.new("L", (800, 600), 255)
        canvas.paste(Image.fromarray(255 - digit).resize((280, 280), Image.BICUBIC), (40 + 4 * i, 30 + 2 * i))
        canvas.save(paths["canvas"])
        for name, path in paths.items():
            sets[name][0].append(path)
    return sets


@pytest.fixture(scope="session")
def wrong_shape_tflite(tmp_path_factory) -> Path:
    """A valid .tflite model that is not a digit classifier: (1, 8) -> (1, 3)."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 8], tf.float32)])
    def not_a_digit_model(x):
        return tf.nn.softmax(x[:, :3] * 2.0)

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [not_a_digit_model.get_concrete_function()], not_a_digit_model
    )
    path = tmp_path_factory.mktemp("wrong_model") / "wrong_shape.tflite"
    path.write_bytes(converter.convert())
    return path
