"""Architecture registry: name -> Keras functional-API builder plus its training recipe.

Every architecture takes raw 0-255 pixels ``(B, 28, 28, 1)``: the first layer
is ``Rescaling(1/255)``, the single place where input scaling happens, so a
saved ``.keras`` or exported ``.tflite`` model needs no outside normalisation.
Every architecture ends in a 10-way softmax.

Register a new architecture with the :func:`register` decorator; tests
parametrize over :data:`ARCHITECTURES`, so it gets build and train tests
for free. An entry that reuses another's layers with a different recipe
says so with :func:`register_recipe`, without a copy of the builder.

Keras is imported inside the builders only: the registry, the recipes and
``mnist-keras models`` work without TensorFlow, and a bad ``--model`` is
answered before TensorFlow starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .augment import AUGMENT_POLICIES
from .digits import INPUT_SHAPE, NUM_CLASSES

# "plateau": constant LR, halved by ReduceLROnPlateau when validation loss stalls.
# "cosine": cosine decay from the peak LR to a small fraction of it over all epochs.
LR_SCHEDULES = ("plateau", "cosine")
# The weights kept as the run's model.keras: "best" = lowest validation loss, "last" = the last epoch's.
KEEP_CHOICES = ("best", "last")


def _setting(default, help: str, *, choices: tuple[str, ...] | None = None):
    """A recipe field: its default, the ``fit`` option's help, and its choices if it has any."""
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class Recipe:
    """How an architecture trains by default; ``mnist-keras fit`` overrides it field by field.

    The defaults live with the architecture because a recipe that suits a
    750k-parameter MLP head does not suit a small batch-normalised CNN. Each
    field is one ``fit`` option of the same name (``--batch-size`` for
    ``batch_size``); its help text is the metadata below, and ``mnist-keras
    models`` prints every field.
    """

    epochs: int = _setting(20, "Maximum epochs.")
    batch_size: int = _setting(128, "Global batch size (split across replicas and workers).")
    learning_rate: float = _setting(
        1e-3, "Adam's peak learning rate: where training starts, or where the warm-up ends (warmup_fraction > 0)."
    )
    augment: str = _setting(
        "none",
        "Augmentation of training batches: affine = random shifts, rotations and zoom; robust = affine and "
        "elastic warps, pen width, outlines, lines across, blur, low resolution, grain, ink profile, noise.",
        choices=AUGMENT_POLICIES,
    )
    # Digits printed in the training fonts, rendered and preprocessed like user
    # inputs, added to the training set: this share of its size (printed.py).
    printed_fraction: float = _setting(0.0, "Printed digits added to the training set, as a share of its size.")
    # Digits cut out of generated numbers by the number reader's own segmenter
    # (numberset.cut_digits), from this run's training digits: slivers of
    # touching neighbours included, as the reader shows them to the model.
    cut_fraction: float = _setting(
        0.0,
        "Digits cut out of generated numbers (as the number reader sees them) added, as a share of the training set.",
    )
    lr_schedule: str = _setting(
        "plateau",
        "plateau: halve the LR when validation loss stalls; cosine: decay over all epochs.",
        choices=LR_SCHEDULES,
    )
    # Short runs want a gentler start and a faster optimizer. With "cosine",
    # the LR first rises linearly over this share of all steps (from
    # train.WARMUP_START_FRACTION of its peak) before decaying.
    warmup_fraction: float = _setting(0.0, "Share of all steps over which a cosine LR rises to its peak.")
    # Soft targets (1 - s for the true class, s / 10 spread over all) keep the
    # logits from racing to extremes while the LR is high.
    label_smoothing: float = _setting(0.0, "Label smoothing of the cross-entropy targets.")
    # Keras' Adam defaults; lower betas forget faster, for runs of a few hundred steps.
    adam_beta_1: float = _setting(0.9, "Adam's beta_1 (first-moment decay).")
    adam_beta_2: float = _setting(0.999, "Adam's beta_2 (second-moment decay).")
    # Polyak averaging: with a momentum > 0 the optimizer keeps an exponential
    # moving average of the weights (Keras' ``use_ema``), and validation, the
    # checkpoints and the final model use the average instead of the last
    # step's weights, which jitter while the LR is high. 0 turns it off.
    ema_momentum: float = _setting(
        0.0, "Validate and keep a moving average of the weights with this momentum (Keras' use_ema); 0 = off."
    )
    # "best", the epoch with the lowest validation loss, suits a constant or
    # plateau LR; "last", the end of training, suits a schedule that anneals
    # to a small LR, whose last epochs differ by a few validation images.
    keep: str = _setting(
        "best",
        "Weights saved as model.keras: best = lowest validation loss; last = the last epoch's.",
        choices=KEEP_CHOICES,
    )
    # A recipe whose gains come from the end of its schedule sets it to its
    # epoch count, so the annealing always runs to the end.
    patience: int = _setting(5, "Early-stopping patience in epochs without a lower validation loss.")

    def problems(self) -> list[str]:
        """Every impossible value, as one-line messages naming the option (empty when all is well)."""
        checks = [
            (self.epochs >= 1, f"--epochs must be at least 1, got {self.epochs}"),
            (self.batch_size >= 1, f"--batch-size must be at least 1, got {self.batch_size}"),
            (self.learning_rate > 0, f"--learning-rate must be positive, got {self.learning_rate}"),
            (self.patience >= 1, f"--patience must be at least 1, got {self.patience}"),
            (0 <= self.warmup_fraction < 1, f"--warmup-fraction must be in [0, 1), got {self.warmup_fraction}"),
            (0 <= self.label_smoothing < 1, f"--label-smoothing must be in [0, 1), got {self.label_smoothing}"),
            (0 <= self.ema_momentum < 1, f"--ema-momentum must be in [0, 1), got {self.ema_momentum}"),
            (0 <= self.printed_fraction <= 1, f"--printed-fraction must be in [0, 1], got {self.printed_fraction}"),
            (0 <= self.cut_fraction <= 1, f"--cut-fraction must be in [0, 1], got {self.cut_fraction}"),
            (0 < self.adam_beta_1 < 1, f"--adam-beta-1 must be in (0, 1), got {self.adam_beta_1}"),
            (0 < self.adam_beta_2 < 1, f"--adam-beta-2 must be in (0, 1), got {self.adam_beta_2}"),
        ]
        for spec in dataclasses.fields(self):
            choices, value = spec.metadata["choices"], getattr(self, spec.name)
            if choices:
                option = "--" + spec.name.replace("_", "-")
                checks.append((value in choices, f"{option} must be one of {', '.join(choices)}, got {value!r}"))
        return [message for ok, message in checks if not ok]

    def with_overrides(self, overrides: dict[str, Any]) -> Recipe:
        """This recipe with the given fields replaced; ``None`` values mean "keep the recipe's own"."""
        unknown = set(overrides) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"not recipe fields: {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})


RECIPE_FIELDS = tuple(f.name for f in dataclasses.fields(Recipe))
Builder = Callable[[str], Any]  # Keras model name -> a fresh, uncompiled keras.Model


@dataclass(frozen=True)
class Architecture:
    """A registered model: how to build it, how it trains by default, what it is.

    ``params`` is the parameter count, declared so that listing the registry
    needs no TensorFlow (the tests build every model and check it).
    ``layers_of`` names the entry whose builder it reuses (None: its own).
    """

    name: str
    builder: Builder
    description: str
    params: int
    recipe: Recipe = Recipe()
    aliases: tuple[str, ...] = ()
    layers_of: str | None = None

    def build(self):
        """A fresh, uncompiled ``keras.Model`` named after the entry (dashes become underscores)."""
        return self.builder(self.name.replace("-", "_"))


ARCHITECTURES: dict[str, Architecture] = {}
_ALIASES: dict[str, str] = {}


def _add(arch: Architecture) -> None:
    if arch.name in ARCHITECTURES or arch.name in _ALIASES:
        raise ValueError(f"architecture {arch.name!r} is registered twice")
    ARCHITECTURES[arch.name] = arch
    _ALIASES.update({alias: arch.name for alias in arch.aliases})


def register(name: str, *, description: str, params: int, recipe: Recipe = Recipe(), aliases: tuple[str, ...] = ()):
    """Decorator adding a builder (Keras model name -> model) to the registry under ``name``."""

    def decorator(builder: Builder) -> Builder:
        _add(Architecture(name, builder, description, params, recipe, aliases))
        return builder

    return decorator


def register_recipe(name: str, *, layers_of: str, description: str, recipe: Recipe) -> None:
    """Register ``name`` as ``layers_of``'s layers trained with another recipe."""
    base = ARCHITECTURES[layers_of]
    _add(Architecture(name, base.builder, description, base.params, recipe, layers_of=layers_of))


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


def build_model(name: str):
    """Build the architecture registered as ``name`` (see :func:`get_architecture`)."""
    return get_architecture(name).build()


def _inputs():
    """The shared model front: raw pixels in, [0, 1] floats out."""
    import keras

    inputs = keras.Input(shape=INPUT_SHAPE, name="image")  # (B, 28, 28, 1), 0-255
    return inputs, keras.layers.Rescaling(1.0 / 255, name="scale")(inputs)


def _classifier(x):
    """The shared 10-way softmax head."""
    from keras import layers

    # float32 even under mixed precision: a float16 softmax loses small probabilities.
    return layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities", dtype="float32")(x)


def _model(inputs, x, name: str):
    import keras

    return keras.Model(inputs, _classifier(x), name=name)


@register(
    "lamontagne",
    aliases=("paper",),
    params=767_678,
    description="The paper's model 11: two small convs, max-pool, dense 1000-500-250-125",
)
def lamontagne(name: str):
    """Exactly the 2023 paper's best CNN ("model 11"), 767,678 parameters."""
    return _lamontagne_like(name, filters=(5, 3), kernels=(3, 4), dense=(1000, 500, 250, 125))


# ------------------------------------------------- the paper's search axes
# The paper varied filter counts, kernel sizes and the number of dense layers
# before settling on model 11. These three variants each move one axis away
# from model 11, so a comparison shows what each choice is worth.


def _lamontagne_like(name: str, *, filters: tuple[int, int], kernels: tuple[int, int], dense: tuple[int, ...]):
    """Model 11's layout: conv, strided conv, max-pool, dense layers (model 11: 5@3x3, 3@4x4/2, 1000-500-250-125)."""
    from keras import layers

    inputs, x = _inputs()
    x = layers.Conv2D(filters[0], kernels[0], activation="relu", name="conv1")(x)  # model 11: (B, 26, 26, 5)
    x = layers.Conv2D(filters[1], kernels[1], strides=2, activation="relu", name="conv2")(x)  # (B, 12, 12, 3)
    x = layers.MaxPooling2D(2, strides=2, name="pool")(x)  # (B, 6, 6, 3)
    x = layers.Flatten(name="flatten")(x)  # (B, 108)
    for units in dense:
        x = layers.Dense(units, activation="relu", name=f"dense{units}")(x)
    return _model(inputs, x, name)


@register("lamontagne-wide", params=1_095_437, description="Model 11 with 4x the filters (20@3x3, 12@4x4/2)")
def lamontagne_wide(name: str):
    return _lamontagne_like(name, filters=(20, 12), kernels=(3, 4), dense=(1000, 500, 250, 125))


@register("lamontagne-k5", params=734_893, description="Model 11 with 5x5 kernels in both convolutions")
def lamontagne_k5(name: str):
    return _lamontagne_like(name, filters=(5, 3), kernels=(5, 5), dense=(1000, 500, 250, 125))


@register("lamontagne-1dense", params=15_178, description="Model 11 with one dense layer (125) instead of four")
def lamontagne_1dense(name: str):
    return _lamontagne_like(name, filters=(5, 3), kernels=(3, 4), dense=(125,))


# ------------------------------------------------------------- baselines


@register("mlp", params=535_818, description="Dense-only baseline: 512-256 ReLU with dropout, no convolutions")
def mlp(name: str):
    from keras import layers

    inputs, x = _inputs()
    x = layers.Flatten(name="flatten")(x)  # (B, 784)
    for units in (512, 256):
        x = layers.Dense(units, activation="relu", name=f"dense{units}")(x)
        x = layers.Dropout(0.2, name=f"dropout{units}")(x)
    return _model(inputs, x, name)


@register(
    "lenet5", params=61_706, description="LeCun et al. 1998 LeNet-5: tanh convs 6@5x5, 16@5x5, avg-pool, dense 120-84"
)
def lenet5(name: str):
    """LeNet-5 as usually rebuilt: padding 'same' stands in for the 32x32 input, softmax for RBF outputs."""
    from keras import layers

    inputs, x = _inputs()
    x = layers.Conv2D(6, 5, padding="same", activation="tanh", name="c1")(x)  # (B, 28, 28, 6)
    x = layers.AveragePooling2D(2, name="s2")(x)  # (B, 14, 14, 6)
    x = layers.Conv2D(16, 5, activation="tanh", name="c3")(x)  # (B, 10, 10, 16)
    x = layers.AveragePooling2D(2, name="s4")(x)  # (B, 5, 5, 16)
    x = layers.Flatten(name="flatten")(x)  # (B, 400)
    x = layers.Dense(120, activation="tanh", name="c5")(x)
    x = layers.Dense(84, activation="tanh", name="f6")(x)
    return _model(inputs, x, name)


@register(
    "keras-convnet",
    params=34_826,
    description="The Keras 'Simple MNIST convnet' example: conv 32, 64 (3x3), max-pools, dropout 0.5",
    recipe=Recipe(epochs=15),
)
def keras_convnet(name: str):
    """keras.io/examples/vision/mnist_convnet, 34,826 parameters."""
    from keras import layers

    inputs, x = _inputs()
    x = layers.Conv2D(32, 3, activation="relu", name="conv1")(x)  # (B, 26, 26, 32)
    x = layers.MaxPooling2D(2, name="pool1")(x)  # (B, 13, 13, 32)
    x = layers.Conv2D(64, 3, activation="relu", name="conv2")(x)  # (B, 11, 11, 64)
    x = layers.MaxPooling2D(2, name="pool2")(x)  # (B, 5, 5, 64)
    x = layers.Flatten(name="flatten")(x)  # (B, 1600)
    x = layers.Dropout(0.5, name="dropout")(x)
    return _model(inputs, x, name)


# ------------------------------------------------------------ our strongest


def _conv_bn(x, filters: int, name: str, **kwargs):
    """3x3 conv (no bias: BN supplies it) -> batch norm -> ReLU."""
    from keras import layers

    x = layers.Conv2D(filters, 3, use_bias=False, name=name, **kwargs)(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


BN_CNN_RECIPE = Recipe(epochs=15, augment="affine", lr_schedule="cosine", learning_rate=3e-3)


@register(
    "bn-cnn",
    params=321_962,
    description="Ours: BN-ReLU 3x3 convs 32, pool, 64-64, pool, dense 256, dropout; augmented, cosine LR",
    recipe=BN_CNN_RECIPE,
)
def bn_cnn(name: str):
    """The strongest single model we train on 2 CPU cores within 15 minutes.

    Pooling right after the first conv, instead of a second 32-filter conv at
    full 24x24 resolution, roughly halves the multiply-adds per image, which
    buys 15 augmented epochs inside the budget (docs/RESULTS.md).
    """
    from keras import layers

    inputs, x = _inputs()
    x = _conv_bn(x, 32, "conv1")  # (B, 26, 26, 32)
    x = layers.MaxPooling2D(2, name="pool1")(x)  # (B, 13, 13, 32)
    x = layers.Dropout(0.25, name="drop1")(x)
    x = _conv_bn(x, 64, "conv2")  # (B, 11, 11, 64)
    x = _conv_bn(x, 64, "conv3")  # (B, 9, 9, 64)
    x = layers.MaxPooling2D(2, name="pool2")(x)  # (B, 4, 4, 64)
    x = layers.Dropout(0.25, name="drop2")(x)
    x = layers.Flatten(name="flatten")(x)  # (B, 1024)
    x = layers.Dense(256, use_bias=False, name="dense256")(x)
    x = layers.BatchNormalization(name="dense256_bn")(x)
    x = layers.Activation("relu", name="dense256_relu")(x)
    x = layers.Dropout(0.4, name="drop3")(x)
    return _model(inputs, x, name)


# bn-cnn's layers with Polyak averaging. With a high LR the weights jitter from
# step to step; their moving average (momentum 0.99, about the last 100 steps)
# sits nearer the middle of that jitter, so it is better than the last step's
# weights while the LR is high; once the LR has decayed the two agree
# (docs/BENCHMARKS.md, "Accuracy record"). Early stopping is off (patience =
# epochs) so the cosine schedule always runs to its end: the average's
# validation loss can level off early and stop the run before the annealing.
register_recipe(
    "bn-cnn-ema",
    layers_of="bn-cnn",
    description="bn-cnn's layers, 20 epochs, validated and kept as a moving average of the weights",
    recipe=dataclasses.replace(BN_CNN_RECIPE, epochs=20, ema_momentum=0.99, patience=20),
)

# The model to deploy: what makes it robust is its data, not its layers (322k
# parameters, about 0.35 MB as int8: fits a Raspberry Pi). The "robust"
# augmentation policy (augment.py: elastic and affine warps, pen width, hollow
# strokes, lines across, blur, low resolution, grain, ink profile, noise) and
# digits printed in the training fonts, preprocessed as the page and the edge
# bundle do. Early stopping is off (patience = epochs), as for bn-cnn-ema: its
# validation loss keeps falling while the cosine LR anneals, and patience 5
# stopped seed 5 at epoch 15 of 20, before the schedule's best epochs.
register_recipe(
    "robust",
    layers_of="bn-cnn",
    description="The model to deploy: bn-cnn's layers trained on real-input augmentation plus printed digits",
    recipe=dataclasses.replace(BN_CNN_RECIPE, epochs=20, augment="robust", printed_fraction=0.1, patience=20),
)


# ------------------------------------------------------------ seconds to 99%


def _space_to_depth(x):
    """(B, 28, 28, 1) -> (B, 14, 14, 4): each 2x2 block of pixels becomes one pixel of 4 channels.

    No information is lost, but the first conv then sees 4 input channels on
    a quarter of the positions. TensorFlow's CPU convolutions are slow on a
    single input channel; this front is most of what makes ``fast`` fast
    (docs/BENCHMARKS.md, "Time to accuracy").
    """
    from keras import layers

    rows, cols = INPUT_SHAPE[0] // 2, INPUT_SHAPE[1] // 2
    x = layers.Reshape((rows, 2, cols, 2), name="blocks")(x)
    x = layers.Permute((1, 3, 2, 4), name="blocks_last")(x)  # (B, 14, 14, 2, 2)
    return layers.Reshape((rows, cols, 4), name="space_to_depth")(x)


@register(
    "fast",
    params=214_490,
    description="Seconds to 99%: 2x2 space-to-depth, conv 32, pool, conv 48, dense 256; one epoch, one-cycle LR",
    recipe=Recipe(
        epochs=1,
        batch_size=256,
        learning_rate=1e-2,
        lr_schedule="cosine",
        warmup_fraction=0.25,
        label_smoothing=0.1,
        adam_beta_1=0.7,
        adam_beta_2=0.9,
    ),
)
def fast(name: str):
    """The least training time to 99% test accuracy we found (docs/BENCHMARKS.md, "Time to accuracy").

    The recipe does most of the work: one epoch at batch 256, the LR warming
    up over the first quarter to a high peak and then decaying (one-cycle),
    Adam with short memories (betas 0.7/0.9) so it follows that schedule,
    and label smoothing. The layers are chosen for the CPU: a space-to-depth
    front (see :func:`_space_to_depth`) and max-pooling before the ReLU,
    which gives the same output as after it (both are monotonic) on 4x fewer
    values.
    """
    from keras import layers

    inputs, x = _inputs()
    x = _space_to_depth(x)  # (B, 14, 14, 4)
    x = layers.Conv2D(32, 3, name="conv1")(x)  # (B, 12, 12, 32)
    x = layers.MaxPooling2D(2, name="pool1")(x)  # (B, 6, 6, 32)
    x = layers.Activation("relu", name="relu1")(x)
    x = layers.Conv2D(48, 3, activation="relu", name="conv2")(x)  # (B, 4, 4, 48)
    x = layers.Flatten(name="flatten")(x)  # (B, 768)
    x = layers.Dense(256, activation="relu", name="dense256")(x)
    return _model(inputs, x, name)
