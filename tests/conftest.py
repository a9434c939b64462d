"""Shared fixtures: where the real MNIST files are, and a tiny trained run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "mnist"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def mnist_data_dir() -> Path | None:
    """The real MNIST folder: $MNIST_KERAS_DATA, else ../shared/data/mnist."""
    folder = Path(os.environ.get("MNIST_KERAS_DATA") or DEFAULT_DATA)
    return folder if (folder / "t10k-labels-idx1-ubyte.gz").exists() or (folder / "t10k-labels-idx1-ubyte").exists() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    folder = mnist_data_dir()
    if folder is None:
        pytest.skip("real MNIST files not found: set MNIST_KERAS_DATA")
    return folder


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
        model="lamontagne", epochs=1, limit=3000, data_dir=str(data_dir),
        run_dir=str(root / "run"), saved_models_dir=str(root / "saved_models"), verbose=0,
    )  # fmt: skip
    return fit(config)
