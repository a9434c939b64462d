"""MNIST: IDX reading and validation, dataset sources, checksums, splits, tf.data.

Data flows one way: IDX files (or Keras' download) -> uint8 numpy arrays ->
stratified splits -> ``tf.data`` pipelines. Pixels stay uint8 0-255 all the
way; scaling to [0, 1] happens in exactly one place, the ``Rescaling`` layer
at the front of every model (see ``models.py``), so a saved model takes raw
pixels and every consumer (evaluate, export, edge script, app) agrees.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .augment import policy
from .digits import DEFAULT_SEED, IMAGE_SHAPE, NUM_CLASSES
from .errors import DataError

ENV_VAR = "MNIST_KERAS_DATA"
TRAIN_SIZE = 60_000
DEFAULT_VALIDATION_SIZE = 5_000

# IDX magic numbers: 0x00000800 | dtype 0x08 (uint8) << 0 | number of dims.
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

# Mnist field -> file name (without .gz) in the original distribution.
FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

# SHA-256 of the four *uncompressed* original files (LeCun's distribution).
# Hashing uncompressed bytes makes the check independent of how a copy was
# gzipped, and lets arrays from Keras' download be verified the same way.
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

HOW_TO_GET_DATA = (
    "pass --data-dir DIR (a folder with the four MNIST IDX files, .gz or not), "
    f"set {ENV_VAR}=DIR, or connect to the internet so Keras can download MNIST"
)


@dataclass
class Mnist:
    """The four MNIST arrays plus where they came from.

    Images are uint8 ``(N, 28, 28)``, labels uint8 ``(N,)``.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    checksums: dict[str, str] = field(default_factory=dict)

    def checksum_mismatches(self) -> list[str]:
        """Names of files whose SHA-256 differs from the original MNIST."""
        return [name for name, digest in self.checksums.items() if SHA256[name] != digest]


# ---------------------------------------------------------------- IDX reading


def _read_bytes(path: Path) -> bytes:
    """Return the uncompressed bytes of ``path`` (gzip detected by magic, not name)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; {HOW_TO_GET_DATA}") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror}); check permissions") from None
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path}: corrupt gzip stream ({err}); download the file again") from None


def parse_idx(raw: bytes, *, name: str = "IDX data") -> np.ndarray:
    """Parse an uncompressed IDX1 (labels) or IDX3 (images) uint8 file.

    Args:
        raw: The whole file's bytes.
        name: Used in error messages (usually the path).

    Returns:
        uint8 array of shape ``(N,)`` or ``(N, rows, cols)``.

    Raises:
        DataError: wrong magic number, or a header whose dimensions do not
            match the file length (truncated or padded file).
    """
    if len(raw) < 8:
        raise DataError(f"{name}: too short to be an IDX file ({len(raw)} bytes); download it again")
    (magic,) = struct.unpack(">I", raw[:4])
    if magic not in (IMAGES_MAGIC, LABELS_MAGIC):
        raise DataError(
            f"{name}: wrong magic number 0x{magic:08x} (expected 0x{IMAGES_MAGIC:08x} for images "
            f"or 0x{LABELS_MAGIC:08x} for labels); this is not an MNIST IDX file"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{name}: header is truncated; download the file again")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "padded"
        raise DataError(
            f"{name}: {problem}: header says {'x'.join(map(str, dims))} "
            f"({expected} bytes) but the file has {len(raw)}; download it again"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialise a uint8 array back to IDX bytes (inverse of :func:`parse_idx`)."""
    magic = IMAGES_MAGIC if array.ndim == 3 else LABELS_MAGIC
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def sha256_of(array: np.ndarray) -> str:
    """SHA-256 of the array as an uncompressed IDX file (comparable to ``SHA256``)."""
    return hashlib.sha256(idx_bytes(array)).hexdigest()


def find_idx_file(data_dir: Path, stem: str) -> Path:
    """Locate ``stem`` or ``stem.gz`` in ``data_dir``."""
    for candidate in (data_dir / f"{stem}.gz", data_dir / stem):
        if candidate.exists():
            return candidate
    raise DataError(f"{data_dir / stem}[.gz]: file not found; {HOW_TO_GET_DATA}")


def read_idx(path: Path) -> np.ndarray:
    """Read and validate one IDX file (``.gz`` or uncompressed)."""
    return parse_idx(_read_bytes(Path(path)), name=str(path))


def _check_pair(images: np.ndarray, labels: np.ndarray, split: str, where: str) -> None:
    """Validate that one split's images and labels belong together."""
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"{where}: {split} images are {images.shape[1:]}, expected 28x28")
    if labels.ndim != 1:
        raise DataError(f"{where}: {split} labels file holds images, not labels")
    if len(images) != len(labels):
        raise DataError(
            f"{where}: {split} has {len(images)} images but {len(labels)} labels; the files do not belong together"
        )
    if labels.size and labels.max() >= NUM_CLASSES:
        bad = int(np.argmax(labels >= NUM_CLASSES))
        raise DataError(f"{where}: {split} label #{bad} is {labels[bad]}, outside 0-9; the labels file is corrupt")


def load_idx_dir(data_dir: Path) -> Mnist:
    """Load and validate the four MNIST IDX files from ``data_dir``."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: not a folder; {HOW_TO_GET_DATA}")
    arrays = {key: read_idx(find_idx_file(data_dir, stem)) for key, stem in FILES.items()}
    return _validated(arrays, source=str(data_dir))


def _validated(arrays: dict[str, np.ndarray], *, source: str) -> Mnist:
    """Check both splits and checksum every array, whatever the source."""
    for split in ("train", "test"):
        _check_pair(arrays[f"x_{split}"], arrays[f"y_{split}"], split, source)
    checksums = {FILES[key]: sha256_of(array) for key, array in arrays.items()}
    return Mnist(**arrays, source=source, checksums=checksums)


def load_keras_download() -> Mnist:
    """MNIST through ``keras.datasets.mnist.load_data()`` (downloads once, then cached).

    Raises:
        DataError: the download failed (no network) or the cache is unusable.
    """
    from .extras import start_tensorflow

    start_tensorflow("downloading MNIST through Keras")
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as err:  # urllib, OSError, zip errors: all mean "not available"
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"MNIST not found and the Keras download failed ({reason}); {HOW_TO_GET_DATA}") from None
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    return _validated(arrays, source="keras.datasets.mnist")


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """The folder to read: ``--data-dir``, else ``$MNIST_KERAS_DATA``, else None (Keras)."""
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else None


def load_mnist(data_dir: str | os.PathLike | None = None) -> Mnist:
    """Load MNIST from the first source that is configured.

    Order: ``data_dir`` (``--data-dir``), the ``MNIST_KERAS_DATA`` variable,
    then Keras' own download and cache. An explicitly named folder that is
    broken is an error; we never silently fall back past it.
    """
    folder = resolve_data_dir(data_dir)
    if folder is not None:
        return load_idx_dir(folder)
    return load_keras_download()


# -------------------------------------------------------------------- splits


def _stratified_indices(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Indices of a class-stratified sample of ``size`` items, fixed by ``seed``."""
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    if size >= len(labels):
        return indices
    picked, _ = train_test_split(indices, train_size=size, stratify=labels, random_state=seed)
    return np.sort(picked)


@dataclass
class Splits:
    """Train / validation / test arrays; validation comes out of the 60k training images."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def make_splits(
    mnist: Mnist, *, validation_size: int = DEFAULT_VALIDATION_SIZE, limit: int | None = None, seed: int = DEFAULT_SEED
) -> Splits:
    """Hold out a stratified validation set, then optionally subsample training.

    The validation set is drawn from the full training set *before*
    ``limit`` applies, so smoke runs are validated on the same images as full
    runs. The test split is returned untouched and is never used for early
    stopping, LR schedules or model selection.
    """
    n = len(mnist.y_train)
    if not 0 < validation_size < n:
        raise DataError(f"validation size {validation_size} must be between 1 and {n - 1}")
    val_idx = _stratified_indices(mnist.y_train, validation_size, seed)
    rest = np.setdiff1d(np.arange(n), val_idx)
    if limit is not None:
        if limit < NUM_CLASSES:
            raise DataError(f"--limit {limit} is too small: use at least {NUM_CLASSES} (one image per class)")
        rest = rest[_stratified_indices(mnist.y_train[rest], limit, seed)]
    return Splits(
        mnist.x_train[rest], mnist.y_train[rest],
        mnist.x_train[val_idx], mnist.y_train[val_idx],
        mnist.x_test, mnist.y_test,
    )  # fmt: skip


def class_counts(labels: np.ndarray) -> list[int]:
    """Number of examples of each digit 0-9."""
    return np.bincount(labels, minlength=NUM_CLASSES).tolist()


def verify(data_dir: str | os.PathLike | None = None) -> dict:
    """What ``mnist-keras data verify`` reports: the source, each file's checksum status and the split sizes.

    A file whose SHA-256 differs from the original MNIST's is ``"MISMATCH <digest>"``;
    ``mismatches`` counts them (the command then exits 2).

    Raises:
        DataError: a file is missing, truncated or not IDX (as :func:`load_mnist`).
    """
    mnist = load_mnist(data_dir)
    differ = set(mnist.checksum_mismatches())
    return {
        "source": mnist.source,
        "files": {name: f"MISMATCH {digest}" if name in differ else "ok" for name, digest in mnist.checksums.items()},
        "mismatches": len(differ),
        "splits": {
            split: {"images": len(labels), "per_class": class_counts(labels)}
            for split, labels in (("train", mnist.y_train), ("test", mnist.y_test))
        },
    }


# ------------------------------------------------------------------- tf.data


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int,
    shuffle: bool = False,
    augment: bool | str = False,
    seed: int = 0,
    first_epoch: int = 0,
    parallel_maps: bool = True,
):
    """A batched, prefetched ``tf.data.Dataset`` of float32 ``(B, 28, 28, 1)`` images in 0-255.

    Images go in as uint8 ``(N, 28, 28)``; the model's own ``Rescaling``
    layer scales them. Without ``shuffle`` the dataset is one pass in order
    (validation, test). With ``shuffle`` it is an endless stream of epochs,
    starting at ``first_epoch``: iterate it ``ceil(N / batch_size)`` steps
    per epoch. Epoch ``e``'s order and its augmentation are stateless
    functions of ``(seed, e)`` alone, so a run resumed at epoch ``e`` sees
    exactly the batches the uninterrupted run would have seen. ``augment``
    names a policy of ``augment.AUGMENT_POLICIES`` (True means ``"affine"``,
    False ``"none"``), applied in the pipeline rather than the model, so
    saved and exported models carry no augmentation layers. Turn
    ``parallel_maps`` off under TensorFlow's op determinism: tf.data then runs
    maps one at a time anyway, and rewriting a parallel one logs a spurious
    "NodeDef mentions attribute" error.
    """
    import tensorflow as tf

    parallel = tf.data.AUTOTUNE if parallel_maps else None
    augmentation = policy(augment)
    if not shuffle:
        ds = tf.data.Dataset.from_tensor_slices((images[..., None], labels.astype(np.int32))).batch(batch_size)
        ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=parallel)
        if augmentation is not None:
            ds = ds.enumerate().map(
                lambda i, batch: (augmentation(batch[0], tf.stack([tf.cast(seed, tf.int64), i])), batch[1]),
                num_parallel_calls=parallel,
            )
        return ds.prefetch(tf.data.AUTOTUNE)

    x = tf.constant(images[..., None])  # (N, 28, 28, 1) uint8, gathered batch by batch
    y = tf.constant(labels.astype(np.int32))

    def one_epoch(epoch):
        epoch_seed = tf.stack([tf.constant(seed, tf.int64), epoch])
        order = tf.random.experimental.stateless_shuffle(tf.range(len(images), dtype=tf.int64), seed=epoch_seed)
        batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size).enumerate()
        return batches.map(lambda i, idx: (idx, tf.random.experimental.stateless_fold_in(epoch_seed, i)))

    def load(idx, batch_seed):
        images_batch = tf.cast(tf.gather(x, idx), tf.float32)
        return (augmentation(images_batch, batch_seed) if augmentation else images_batch), tf.gather(y, idx)

    ds = tf.data.Dataset.counter(first_epoch).flat_map(one_epoch)
    return ds.map(load, num_parallel_calls=parallel).prefetch(tf.data.AUTOTUNE)
