"""Architecture registry: name -> Keras functional-API builder plus training defaults.

Every architecture takes raw 0-255 pixels ``(B, 28, 28, 1)``: the first layer
is ``Rescaling(1/255)``, the single place where input scaling happens, so a
saved ``.keras`` or exported ``.tflite`` model needs no outside normalisation.
Every architecture ends in a 10-way softmax.

Register a new architecture with the :func:`register` decorator; tests
parametrize over :data:`ARCHITECTURES`, so it gets build and train tests
for free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
from keras import layers

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


@dataclass(frozen=True)
class Architecture:
    """A registered model: how to build it and how it trains best by default.

    The defaults live with the architecture because a recipe that suits a
    750k-parameter MLP head does not suit a small batch-normalised CNN;
    command-line options override them.
    """

    name: str
    builder: Callable[[], keras.Model]
    description: str
    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 1e-3
    augment: bool = False
    aliases: tuple[str, ...] = ()

    def build(self) -> keras.Model:
        """A fresh, uncompiled model."""
        return self.builder()


ARCHITECTURES: dict[str, Architecture] = {}
_ALIASES: dict[str, str] = {}


def register(name: str, *, description: str, aliases: tuple[str, ...] = (), **defaults):
    """Decorator adding a builder to the registry under ``name`` (and ``aliases``)."""

    def decorator(builder: Callable[[], keras.Model]) -> Callable[[], keras.Model]:
        if name in ARCHITECTURES or name in _ALIASES:
            raise ValueError(f"architecture {name!r} is registered twice")
        ARCHITECTURES[name] = Architecture(name, builder, description, aliases=aliases, **defaults)
        _ALIASES.update({alias: name for alias in aliases})
        return builder

    return decorator


def get_architecture(name: str) -> Architecture:
    """Look up an architecture by name or alias.

    Raises:
        ValueError: unknown name; the message lists the known ones.
    """
    key = _ALIASES.get(name, name)
    if key not in ARCHITECTURES:
        known = ", ".join(sorted(ARCHITECTURES) + sorted(_ALIASES))
        raise ValueError(f"unknown model {name!r}; known models: {known}")
    return ARCHITECTURES[key]


def build_model(name: str) -> keras.Model:
    """Build the architecture registered as ``name`` (see :func:`get_architecture`)."""
    return get_architecture(name).build()


def _inputs() -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """The shared model front: raw pixels in, [0, 1] floats out."""
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")  # (B, 28, 28, 1), 0-255
    return inputs, layers.Rescaling(1.0 / 255, name="scale")(inputs)


def _classifier(x: keras.KerasTensor) -> keras.KerasTensor:
    """The shared 10-way softmax head."""
    # float32 even under mixed precision: a float16 softmax loses small probabilities.
    return layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities", dtype="float32")(x)


@register(
    "lamontagne",
    aliases=("paper",),
    description="The paper's model 11: two small convs, max-pool, dense 1000-500-250-125",
)
def lamontagne() -> keras.Model:
    """Exactly the 2023 paper's best CNN ("model 11"), 767,678 parameters."""
    inputs, x = _inputs()
    x = layers.Conv2D(5, 3, activation="relu", name="conv1")(x)  # (B, 26, 26, 5)
    x = layers.Conv2D(3, 4, strides=2, activation="relu", name="conv2")(x)  # (B, 12, 12, 3)
    x = layers.MaxPooling2D(2, strides=2, name="pool")(x)  # (B, 6, 6, 3)
    x = layers.Flatten(name="flatten")(x)  # (B, 108)
    for units in (1000, 500, 250, 125):
        x = layers.Dense(units, activation="relu", name=f"dense{units}")(x)
    return keras.Model(inputs, _classifier(x), name="lamontagne")
