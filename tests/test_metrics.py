"""ConfusionAccuracy: Keras' accuracy, plus the validation confusion counts the per-epoch image is drawn from."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

from mnist_keras import predict
from mnist_keras.callbacks import ConfusionImages
from mnist_keras.metrics import ConfusionAccuracy, find_confusion
from mnist_keras.train import compile_model


def test_counts_and_accuracy_match_keras_accuracy():
    y_true = np.array([0, 1, 2, 2, 9, 9, 3])
    y_pred = np.eye(10, dtype="float32")[[0, 1, 2, 7, 9, 4, 3]] * 0.8 + 0.02
    metric = ConfusionAccuracy()
    metric.update_state(y_true, y_pred)
    keras_accuracy = keras.metrics.SparseCategoricalAccuracy()
    keras_accuracy.update_state(y_true, y_pred)
    assert float(metric.result()) == pytest.approx(float(keras_accuracy.result())) == pytest.approx(5 / 7)
    expected = np.zeros((10, 10), np.int64)
    for true, pred in [(0, 0), (1, 1), (2, 2), (2, 7), (9, 9), (9, 4), (3, 3)]:
        expected[true, pred] += 1
    np.testing.assert_array_equal(metric.matrix, expected)
    metric.reset_state()
    assert metric.matrix.sum() == 0 and float(metric.result()) == 0.0


def _tiny_model_and_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (300, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, 300)
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs / 255.0)))
    return model, x[:200], y[:200], x[200:], y[200:]


def test_after_an_epoch_the_metric_holds_the_validation_pass(tmp_path, monkeypatch):
    model, x, y, x_val, y_val = _tiny_model_and_data()
    compile_model(model, 1e-2)
    images = ConfusionImages(tmp_path / "confusion", x_val[..., 0], y_val, name="tiny")
    seen = {}

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen["matrix"], seen["val_accuracy"] = find_confusion(self.model).matrix, logs["val_accuracy"]

    def no_second_pass(*args, **kwargs):
        raise AssertionError("the confusion image must not predict the validation images again")

    monkeypatch.setattr(predict, "predict_probabilities", no_second_pass)
    model.fit(x, y, validation_data=(x_val, y_val), epochs=1, batch_size=50, verbose=0, callbacks=[Spy(), images])
    predicted = model.predict(x_val, verbose=0).argmax(axis=1)
    np.testing.assert_array_equal(seen["matrix"], confusion_matrix(y_val, predicted, labels=range(10)))
    assert seen["val_accuracy"] == pytest.approx(np.mean(predicted == y_val))
    assert list((tmp_path / "confusion").iterdir())  # the image was written


def test_a_model_compiled_without_it_is_predicted_once_more(tmp_path):
    model, x, y, x_val, y_val = _tiny_model_and_data(1)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=50, verbose=0)
    assert find_confusion(model) is None
    images = ConfusionImages(tmp_path / "confusion", x_val[..., 0], y_val, name="tiny")
    images.set_model(model)
    predicted = model.predict(x_val, verbose=0).argmax(axis=1)
    np.testing.assert_array_equal(images.validation_confusion(), confusion_matrix(y_val, predicted, labels=range(10)))
