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


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_architecture_trains_one_step(name):
    from mnist_keras.train import compile_model

    model = build_model(name)
    compile_model(model, get_architecture(name).recipe.learning_rate)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (16, 28, 28, 1)).astype("float32")
    labels = rng.integers(0, 10, 16)
    before = [w.copy() for w in model.get_weights()]
    loss = float(model.train_on_batch(pixels, labels)[0])
    assert np.isfinite(loss)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_every_architecture_has_a_description_and_sane_defaults():
    for arch in ARCHITECTURES.values():
        recipe = arch.recipe
        assert arch.description and recipe.epochs >= 1 and recipe.learning_rate > 0
        assert recipe.lr_schedule in ("plateau", "cosine")
        assert 0 <= recipe.warmup_fraction < 1 and 0 <= recipe.label_smoothing < 1
        assert 0 < recipe.adam_beta_1 < 1 and 0 < recipe.adam_beta_2 < 1
        assert recipe.warmup_fraction == 0 or recipe.lr_schedule == "cosine", arch.name  # only a schedule warms up
        assert recipe.problems() == [], arch.name


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_declared_parameter_counts_are_the_built_models(name):
    """'mnist-keras models' prints the declared count without building (no TensorFlow): it must be true."""
    assert build_model(name).count_params() == get_architecture(name).params


def test_entries_that_share_layers_build_the_same_layers():
    for arch in ARCHITECTURES.values():
        if arch.layers_of:
            own, base = arch.build(), ARCHITECTURES[arch.layers_of].build()
            assert own.name == arch.name.replace("-", "_")
            assert [type(layer).__name__ for layer in own.layers] == [type(layer).__name__ for layer in base.layers]
            assert own.count_params() == base.count_params()


def test_overrides_replace_recipe_fields_one_by_one():
    recipe = get_architecture("fast").recipe
    merged = recipe.with_overrides({"epochs": 3, "batch_size": None})
    assert (merged.epochs, merged.batch_size, merged.learning_rate) == (3, recipe.batch_size, recipe.learning_rate)
    with pytest.raises(ValueError, match="not recipe fields: nope"):
        recipe.with_overrides({"nope": 1})


def test_keras_convnet_matches_the_keras_example():
    assert build_model("keras-convnet").count_params() == 34_826


def test_no_augmentation_layers_inside_models():
    """Augmentation lives in the tf.data pipeline, so saved/exported models stay plain."""
    for name in ARCHITECTURES:
        kinds = {layer.__class__.__name__ for layer in build_model(name).layers}
        assert not {k for k in kinds if k.startswith("Random")}, name


def test_fast_front_moves_each_2x2_block_of_pixels_into_4_channels():
    """Space-to-depth loses nothing: block (i, j) holds pixels (2i, 2j), (2i, 2j+1), (2i+1, 2j), (2i+1, 2j+1)."""
    import keras

    model = build_model("fast")
    front = keras.Model(model.input, model.get_layer("space_to_depth").output)
    pixels = np.arange(28 * 28, dtype="float32").reshape(1, 28, 28, 1)
    blocks = np.rint(np.asarray(front(pixels)) * 255)[0]  # undo the model's Rescaling
    assert blocks.shape == (14, 14, 4)
    image = pixels[0, :, :, 0]
    for i, j in [(0, 0), (0, 13), (7, 3), (13, 13)]:
        expected = [image[2 * i, 2 * j], image[2 * i, 2 * j + 1], image[2 * i + 1, 2 * j], image[2 * i + 1, 2 * j + 1]]
        np.testing.assert_array_equal(blocks[i, j], expected)
    assert sorted(blocks.ravel()) == sorted(image.ravel())
