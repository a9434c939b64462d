"""The architecture registry and the paper's model."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_keras.models import ARCHITECTURES, build_model, get_architecture


def test_lamontagne_is_the_papers_model_11():
    model = build_model("lamontagne")
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert shapes["conv1"] == (26, 26, 5)
    assert shapes["conv2"] == (12, 12, 3)
    assert shapes["pool"] == (6, 6, 3)
    assert shapes["flatten"] == (108,)
    dense = [layer.units for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert dense == [1000, 500, 250, 125, 10]
    assert model.count_params() == 767_678


def test_paper_alias():
    assert get_architecture("paper").name == "lamontagne"


def test_unknown_model_lists_known_names():
    with pytest.raises(ValueError, match="unknown model 'nope'.*lamontagne.*paper"):
        build_model("nope")


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_architecture_takes_raw_pixels_and_gives_probabilities(name):
    model = build_model(name)
    assert tuple(model.input_shape[1:]) == (28, 28, 1)
    assert tuple(model.output_shape[1:]) == (10,)
    pixels = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1)).astype("float32")
    probs = np.asarray(model(pixels, training=False))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
