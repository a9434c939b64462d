"""Distribution: strategy selection, chief detection from TF_CONFIG, and the multi-worker loop.

Single-machine strategies (``default``, ``mirrored``) train through Keras'
own ``model.fit``. ``model.fit`` under ``MultiWorkerMirroredStrategy`` fails
in Keras 3 ("Attempt to convert a value (PerReplica ...) to a Tensor",
keras-team/keras#20585, still so in Keras 3.15), so multi-worker training
uses :func:`custom_fit`: a ``strategy.run`` loop over the same compiled Keras
model that drives the same callbacks through ``keras.callbacks.CallbackList``,
so the run folder looks the same whichever path trained it.

The batch size is always the *global* batch: each of R replicas sees
``batch_size / R`` images per step.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import MnistKerasError

STRATEGIES = ("auto", "default", "mirrored", "multi-worker")
TF_CONFIG_VAR = "TF_CONFIG"
# Every worker (chief included) saves its final weights as <dir>/<task>-<index>.npz when this
# is set, so a test or a user can check that all workers ended with identical weights.
FINAL_WEIGHTS_VAR = "MNIST_KERAS_FINAL_WEIGHTS"


@dataclass(frozen=True)
class Task:
    """This process' place in a cluster (``worker 0`` of one when there is no TF_CONFIG)."""

    type: str = "worker"
    index: int = 0
    num_workers: int = 1
    is_chief: bool = True

    @property
    def name(self) -> str:
        return f"{self.type}-{self.index}"


def read_tf_config() -> dict | None:
    """The parsed ``TF_CONFIG`` variable, or None when it is unset or empty.

    Raises:
        MnistKerasError: the variable is not valid JSON or lacks cluster/task.
    """
    raw = os.environ.get(TF_CONFIG_VAR, "").strip()
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as err:
        raise MnistKerasError(
            f"{TF_CONFIG_VAR} is not valid JSON ({err.msg}); see docs/training.md, 'Several machines'"
        ) from None
    if not isinstance(config, dict) or "cluster" not in config or "task" not in config:
        raise MnistKerasError(
            f'{TF_CONFIG_VAR} needs "cluster" and "task" keys; see "Several machines" in docs/training.md'
        )
    return config


def current_task(tf_config: dict | None = None) -> Task:
    """Who we are: the chief is task ``chief``, or ``worker`` 0 when the cluster has no chief."""
    if tf_config is None:
        return Task()
    cluster, task = tf_config["cluster"], tf_config["task"]
    task_type, index = str(task.get("type", "worker")), int(task.get("index", 0))
    chief = task_type == "chief" or (task_type == "worker" and index == 0 and "chief" not in cluster)
    workers = sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))
    return Task(task_type, index, workers, chief)


def make_strategy(name: str):
    """The ``tf.distribute.Strategy`` for ``--strategy name``.

    ``auto`` picks ``mirrored`` when more than one GPU is visible (one GPU or
    a CPU gains nothing from mirroring) and the default strategy otherwise.
    Multi-worker must be created before any other TensorFlow op runs, so
    :func:`train.fit` calls this first.

    Raises:
        MnistKerasError: unknown name, or multi-worker without TF_CONFIG.
    """
    import tensorflow as tf

    if name not in STRATEGIES:
        raise MnistKerasError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if name == "auto":
        name = "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if read_tf_config() is None:
        raise MnistKerasError(
            f"--strategy multi-worker needs the {TF_CONFIG_VAR} variable describing the cluster; "
            "see docs/training.md, 'Several machines'"
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


def is_multi_worker(strategy) -> bool:
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def shard_by_data(dataset):
    """Shard a dataset across workers by element (in-memory arrays have no files to shard by)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def save_final_weights(model, task: Task) -> None:
    """Write ``$MNIST_KERAS_FINAL_WEIGHTS/<task>-<index>.npz`` when the variable is set."""
    folder = os.environ.get(FINAL_WEIGHTS_VAR)
    if not folder:
        return
    import numpy as np

    from .artifacts import atomic_path

    os.makedirs(folder, exist_ok=True)
    with atomic_path(os.path.join(folder, f"{task.name}.npz")) as tmp, open(tmp, "wb") as f:
        np.savez(f, *model.get_weights())


@contextlib.contextmanager
def precision_policy(mixed: bool) -> Iterator[None]:
    """Build models under ``mixed_float16`` (float16 compute, float32 weights) when ``mixed``.

    The policy is global in Keras, so it is restored on exit: only layers
    built inside the block compute in float16. The ``probabilities`` softmax
    layer of every architecture is pinned to float32 (see ``models.py``).
    """
    import keras

    previous = keras.mixed_precision.global_policy().name
    if mixed:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def float32_copy(model_path: Path, architecture: str):
    """A float32 rebuild of a mixed-precision model file, with its trained weights.

    Saved mixed-precision layers would compute in float16 wherever they are
    loaded (slow on CPUs, unsupported by some converters), so the published
    model is always float32.
    """
    import keras

    from .models import build_model

    trained = keras.saving.load_model(model_path, compile=False)
    model = build_model(architecture)
    model.set_weights(trained.get_weights())
    return model


# ----------------------------------------------------------- multi-worker loop


def _step_functions(model, strategy, *, jit_compile: bool):
    """``train_step(batch)`` and ``test_step(batch)``, each returning global (loss sum, correct, count)."""
    import tensorflow as tf

    from .losses import per_example_loss

    loss_fn = per_example_loss(model.loss)  # the compiled loss (label smoothing included), per image
    optimizer = model.optimizer  # a LossScaleOptimizer under mixed precision

    def sums(y, probs, per_example):
        correct = tf.cast(tf.equal(tf.argmax(probs, axis=-1, output_type=tf.int32), tf.cast(y, tf.int32)), tf.float32)
        return tf.reduce_sum(per_example), tf.reduce_sum(correct), tf.cast(tf.shape(y)[0], tf.float32)

    @tf.function(jit_compile=jit_compile)
    def gradients(x, y):
        with tf.GradientTape() as tape:
            probs = model(x, training=True)
            per_example = loss_fn(y, tf.cast(probs, tf.float32))
            loss = tf.nn.compute_average_loss(per_example)  # / global batch across replicas
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            scaled = optimizer.scale_loss(loss)
        return tape.gradient(scaled, model.trainable_variables), sums(y, probs, per_example)

    def replica_train(x, y):
        grads, totals = gradients(x, y)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return totals

    def replica_test(x, y):
        probs = model(x, training=False)
        return sums(y, probs, loss_fn(y, tf.cast(probs, tf.float32)))

    def global_sums(per_replica):
        return [strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None) for value in per_replica]

    @tf.function
    def train_step(batch):
        return global_sums(strategy.run(replica_train, args=batch))

    @tf.function
    def test_step(batch):
        return global_sums(strategy.run(replica_test, args=batch))

    return train_step, test_step


def _evaluate(test_step, dataset) -> dict[str, float]:
    """Validation loss and accuracy over the whole (distributed) dataset."""
    loss = correct = count = 0.0
    for batch in dataset:
        batch_loss, batch_correct, batch_count = (float(v) for v in test_step(batch))
        loss, correct, count = loss + batch_loss, correct + batch_correct, count + batch_count
    return {"val_loss": loss / max(count, 1.0), "val_accuracy": correct / max(count, 1.0)}


def custom_fit(model, strategy, train_ds, val_ds, *, epochs: int, callbacks: list, verbose: int,
               steps_per_epoch: int, jit_compile: bool = False) -> None:  # fmt: skip
    """Train a compiled Keras ``model`` with a ``strategy.run`` loop, driving Keras callbacks.

    ``model`` must have been built and compiled inside ``strategy.scope()``.
    Datasets yield *global* batches; the strategy splits them across workers
    and replicas. Every worker computes the same all-reduced epoch metrics, so
    early stopping and learning-rate decisions agree across the cluster.
    """
    import keras

    train_step, test_step = _step_functions(model, strategy, jit_compile=jit_compile)
    train_dist = strategy.experimental_distribute_dataset(shard_by_data(train_ds))
    val_dist = strategy.experimental_distribute_dataset(shard_by_data(val_ds))
    callback_list = keras.callbacks.CallbackList(
        callbacks, add_history=True, add_progbar=verbose != 0, model=model,
        verbose=verbose, epochs=epochs, steps=steps_per_epoch,
    )  # fmt: skip
    model.stop_training = False
    callback_list.on_train_begin()
    batches = iter(train_dist)  # an endless stream of epochs (data.make_dataset)
    for epoch in range(epochs):
        callback_list.on_epoch_begin(epoch)
        loss = correct = count = 0.0
        for step in range(steps_per_epoch):
            batch = next(batches)
            callback_list.on_train_batch_begin(step)
            batch_loss, batch_correct, batch_count = (float(v) for v in train_step(batch))
            loss, correct, count = loss + batch_loss, correct + batch_correct, count + batch_count
            callback_list.on_train_batch_end(step, {"loss": loss / count, "accuracy": correct / count})
        callback_list.on_test_begin()  # as model.fit's validation: SwapEMAWeights swaps the averaged weights in
        val_logs = _evaluate(test_step, val_dist)
        callback_list.on_test_end({name.removeprefix("val_"): value for name, value in val_logs.items()})
        logs = {"loss": loss / max(count, 1.0), "accuracy": correct / max(count, 1.0), **val_logs}
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    model.optimizer.finalize_variable_values(model.trainable_variables)  # as model.fit: the average, with use_ema
    callback_list.on_train_end()
