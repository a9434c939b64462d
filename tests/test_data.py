"""The IDX reader, its validation, data sources and splits."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from click.testing import CliRunner

from mnist_keras import data
from mnist_keras.cli import cli
from mnist_keras.data import DataError, idx_bytes, load_idx_dir, make_splits, parse_idx

RNG = np.random.default_rng(0)


def write_set(folder, *, n_train=40, n_test=20, gz=True, overrides=None):
    """Write a small valid MNIST-format folder; ``overrides`` maps file stem -> raw bytes."""
    arrays = {
        "train-images-idx3-ubyte": RNG.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": RNG.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.arange(n_test, dtype=np.uint8) % 10,
    }
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        raw = (overrides or {}).get(stem, idx_bytes(array))
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / stem).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_reads_good_files(tmp_path, gz):
    arrays = write_set(tmp_path, gz=gz)
    mnist = load_idx_dir(tmp_path)
    assert mnist.x_train.shape == (40, 28, 28) and mnist.x_train.dtype == np.uint8
    np.testing.assert_array_equal(mnist.x_train, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(mnist.y_test, arrays["t10k-labels-idx1-ubyte"])
    # synthetic files are not the real MNIST: every checksum must be flagged
    assert sorted(mnist.checksum_mismatches()) == sorted(data.SHA256)


def _labels(values):
    return idx_bytes(np.array(values, dtype=np.uint8))


GOOD_LABELS = _labels(np.arange(40) % 10)
CORRUPTIONS = {
    "wrong magic": ("train-labels-idx1-ubyte", b"\x00\x00\x08\x05" + GOOD_LABELS[4:], "wrong magic number"),
    "truncated": ("train-labels-idx1-ubyte", GOOD_LABELS[:-3], "truncated"),
    "padded": ("train-labels-idx1-ubyte", GOOD_LABELS + b"\x00\x00", "padded"),
    "label out of range": ("train-labels-idx1-ubyte", _labels([3] * 39 + [12]), "outside 0-9"),
    "count mismatch": ("train-labels-idx1-ubyte", _labels(np.arange(39) % 10), "40 images but 39 labels"),
    "empty": ("t10k-images-idx3-ubyte", b"", "too short"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupt_files_are_named(tmp_path, case):
    stem, raw, message = CORRUPTIONS[case]
    write_set(tmp_path, overrides={stem: raw})
    with pytest.raises(DataError, match=message) as err:
        load_idx_dir(tmp_path)
    assert str(tmp_path) in str(err.value)
    assert "\n" not in str(err.value)


def test_corrupt_gzip_stream(tmp_path):
    write_set(tmp_path)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = path.read_bytes()
    path.write_bytes(raw[:10] + bytes(len(raw) - 10))  # header kept, deflate data zeroed
    with pytest.raises(DataError, match="corrupt gzip stream") as err:
        load_idx_dir(tmp_path)
    assert "t10k-labels-idx1-ubyte.gz" in str(err.value)


def test_missing_file_says_how_to_get_data(tmp_path):
    write_set(tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(
        DataError, match="train-images-idx3-ubyte.*file not found.*--data-dir.*MNIST_KERAS_DATA.*internet"
    ):
        load_idx_dir(tmp_path)


def test_parse_idx_roundtrip():
    images = RNG.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    np.testing.assert_array_equal(parse_idx(idx_bytes(images)), images)


def test_source_order(tmp_path, monkeypatch):
    write_set(tmp_path / "flag")
    write_set(tmp_path / "env", n_train=30)
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))
    assert data.load_mnist(tmp_path / "flag").source == str(tmp_path / "flag")
    assert data.load_mnist().source == str(tmp_path / "env")


def test_keras_download_is_the_last_resort(monkeypatch, mnist):
    import keras

    monkeypatch.delenv(data.ENV_VAR, raising=False)
    calls = []

    def fake_load_data():
        calls.append(1)
        return (mnist.x_train, mnist.y_train), (mnist.x_test, mnist.y_test)

    monkeypatch.setattr(keras.datasets.mnist, "load_data", fake_load_data)
    loaded = data.load_mnist()
    assert calls and loaded.source == "keras.datasets.mnist"
    assert loaded.checksum_mismatches() == []  # the Keras arrays hash like the original files


def test_no_source_lists_all_three_ways(monkeypatch, tmp_path):
    import keras

    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # empty cache: Keras must try the network

    def offline(*args, **kwargs):
        raise OSError("URL fetch failure: Temporary failure in name resolution")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    monkeypatch.setattr("keras.src.datasets.mnist.get_file", offline)
    with pytest.raises(DataError, match="Keras download failed.*--data-dir.*MNIST_KERAS_DATA.*internet"):
        data.load_mnist()


def test_real_mnist_checksums(mnist):
    assert mnist.checksum_mismatches() == []
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_test.shape == (10000, 28, 28)


def test_splits_are_stratified_disjoint_and_seeded(mnist):
    splits = make_splits(mnist, validation_size=5000, limit=3000, seed=1)
    assert len(splits.y_val) == 5000 and len(splits.y_train) == 3000
    assert len(splits.y_test) == 10000
    val_counts = np.bincount(splits.y_val, minlength=10) / 5000
    full_counts = np.bincount(mnist.y_train, minlength=10) / 60000
    assert np.abs(val_counts - full_counts).max() < 0.002  # stratified
    # no validation image is also a training image
    val_rows = {row.tobytes() for row in splits.x_val.reshape(5000, -1)}
    assert not any(row.tobytes() in val_rows for row in splits.x_train.reshape(3000, -1))
    again = make_splits(mnist, validation_size=5000, limit=3000, seed=1)
    np.testing.assert_array_equal(again.y_train, splits.y_train)
    other = make_splits(mnist, validation_size=5000, limit=3000, seed=2)
    assert not np.array_equal(other.x_val, splits.x_val)


def test_verify_cli_ok(data_dir):
    result = CliRunner().invoke(cli, ["data", "verify", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert result.output.count(" ok") == 4
    assert "60000 images" in result.output and "10000 images" in result.output


def test_verify_cli_mismatch_is_an_error(tmp_path):
    write_set(tmp_path)
    result = CliRunner().invoke(cli, ["data", "verify", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "MISMATCH" in result.output and "Error: 4 file(s) differ" in result.output


def test_verify_reports_what_the_command_prints(tmp_path):
    from mnist_keras.data import verify

    write_set(tmp_path)
    report = verify(tmp_path)
    assert report["mismatches"] == 4 and all(status.startswith("MISMATCH ") for status in report["files"].values())
    assert report["source"] == str(tmp_path)
    assert report["splits"] == {"train": {"images": 40, "per_class": [4] * 10},
                                "test": {"images": 20, "per_class": [2] * 10}}  # fmt: skip


def test_verify_cli_corrupt_file_exit_code(tmp_path):
    write_set(tmp_path, overrides={"train-labels-idx1-ubyte": GOOD_LABELS[:-1]})
    result = CliRunner().invoke(cli, ["data", "verify", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith("Error: ") and "truncated" in result.output
    assert "Traceback" not in result.output


# ------------------------------------------------------------- augmentation


def _augmented_batch(images, seed=1):
    from mnist_keras.data import make_dataset

    labels = np.zeros(len(images), dtype=np.uint8)
    batch, _ = next(iter(make_dataset(images, labels, batch_size=len(images), augment=True, seed=seed)))
    return batch.numpy()


def test_augmentation_keeps_shape_and_dtype_and_changes_images(mnist):
    images = mnist.x_train[:64]
    out = _augmented_batch(images)
    assert out.shape == (64, 28, 28, 1) and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 255
    changed = np.abs(out[..., 0] - images.astype(np.float32)).max(axis=(1, 2)) > 1
    assert changed.mean() > 0.9
    np.testing.assert_array_equal(out, _augmented_batch(images))  # same seed, same batch
    assert not np.array_equal(out, _augmented_batch(images, seed=2))


def test_augmentation_fills_with_black_not_reflections():
    """A bright square in the middle must not be mirrored into the frame (fill_mode='reflect')."""
    images = np.zeros((32, 28, 28), dtype=np.uint8)
    images[:, 10:18, 10:18] = 255
    out = _augmented_batch(images)[..., 0]
    ring = np.ones((28, 28), dtype=bool)
    ring[5:23, 5:23] = False  # 8x8 square, +-2 px shift, 10 degrees, 8% zoom: never reaches here
    assert out[:, ring].max() == 0


def test_augmentation_roughly_preserves_digit_mass(mnist):
    images = mnist.x_train[:128]
    ratio = _augmented_batch(images).sum(axis=(1, 2, 3)) / images.astype(np.float64).sum(axis=(1, 2))
    assert 0.8 < ratio.min() and ratio.max() < 1.25  # zoom is at most +-8% per side
    assert abs(ratio.mean() - 1) < 0.05


def test_no_augmentation_returns_the_pixels_unchanged(mnist):
    from mnist_keras.data import make_dataset

    images = mnist.x_train[:32]
    batch, _ = next(iter(make_dataset(images, mnist.y_train[:32], batch_size=32)))
    np.testing.assert_array_equal(batch.numpy()[..., 0], images.astype(np.float32))
