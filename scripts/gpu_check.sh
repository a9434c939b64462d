#!/usr/bin/env bash
# GPU check for mnist-keras (about 5 minutes on one H200 once pip has finished).
#
#   scripts/gpu_check.sh MNIST_DIR [VENV_DIR]
#
# 1. creates a fresh venv (default: /tmp/mnist-keras-gpu-venv) and installs this checkout with
#    TensorFlow's CUDA wheels (set MNIST_KERAS_PYTHON=/path/to/python to use an existing
#    environment instead, e.g. on a machine without internet);
# 2. runs `mnist-keras fit` end to end on 5,000 images with --strategy mirrored, --mixed-precision,
#    --jit-compile (XLA; off by default) and the defaults (each must exit 0 and write model.keras);
# 3. prints training throughput (images/s, full training set, interleaved rounds) of the
#    defaults (XLA off), with XLA, mirrored, mixed precision, and mixed precision at batch 1024,
#    with ratios to the defaults.
set -euo pipefail

DATA_DIR=${1:?usage: scripts/gpu_check.sh MNIST_DIR [VENV_DIR]}
VENV=${2:-/tmp/mnist-keras-gpu-venv}
REPO=$(cd "$(dirname "$0")/.." && pwd)
export MNIST_KERAS_DATA=$(cd "$DATA_DIR" && pwd) TF_CPP_MIN_LOG_LEVEL=2

if [[ -n "${MNIST_KERAS_PYTHON:-}" ]]; then
  PY=$MNIST_KERAS_PYTHON
else
  python3 -m venv "$VENV"
  PY=$VENV/bin/python
  "$PY" -m pip install -q --upgrade pip
  "$PY" -m pip install -q -e "$REPO"
  TF_VERSION=$("$PY" -m pip show tensorflow | awk '/^Version:/ {print $2}')
  "$PY" -m pip install -q "tensorflow[and-cuda]==$TF_VERSION"
fi
"$PY" -c "import tensorflow as tf; gpus = tf.config.list_physical_devices('GPU'); print('GPUs:', gpus); assert gpus, 'no GPU visible'"

WORK=$(mktemp -d /tmp/mnist-keras-gpu-check.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
for OPTION in "--strategy mirrored" "--mixed-precision" "--jit-compile" "--no-jit-compile"; do  # the last = the defaults
  NAME=$(echo "$OPTION" | tr -dc 'a-z')
  echo "== mnist-keras fit $OPTION (5,000 images, 1 epoch)"
  (cd "$WORK" && "$PY" -m mnist_keras.cli fit $OPTION --limit 5000 --epochs 1 --quiet --run-dir "run-$NAME" --saved-models saved)
  test -s "$WORK/run-$NAME/model.keras"
done

echo "== training throughput on the GPU (one epoch per round, interleaved, medians)"
(cd "$REPO" && "$PY" - <<'EOF'
import dataclasses, time
import numpy as np, keras, tensorflow as tf
from mnist_keras.data import load_mnist, make_splits
from mnist_keras.distribute import precision_policy
from mnist_keras.models import build_model
from mnist_keras.train import FitConfig, compile_model, steps_per_epoch, training_datasets

splits = make_splits(load_mnist())
default = FitConfig().with_architecture_defaults()
def setup(strategy=None, mixed=False, jit=default.jit_compile, batch=None):
    config = dataclasses.replace(default, batch_size=batch or default.batch_size)
    with precision_policy(mixed), (strategy or tf.distribute.get_strategy()).scope():
        model = build_model(config.model)
        compile_model(model, config.learning_rate, jit_compile=jit)
    train_ds, _ = training_datasets(config, splits)  # an endless stream of epochs
    steps = steps_per_epoch(config, len(splits.y_train))
    model.fit(train_ds, epochs=1, steps_per_epoch=steps, verbose=0)  # warm-up: tracing, XLA compilation
    return lambda: model.fit(train_ds, epochs=1, steps_per_epoch=steps, verbose=0)
runs = {
    "defaults (XLA off)": setup(),
    "--jit-compile": setup(jit=True),
    "--strategy mirrored": setup(strategy=tf.distribute.MirroredStrategy()),
    "--mixed-precision": setup(mixed=True),
    "--mixed-precision --jit-compile": setup(mixed=True, jit=True),
    "--mixed-precision --batch-size 1024": setup(mixed=True, batch=1024),
}
rates = {name: [] for name in runs}
for _ in range(3):
    for name, run in runs.items():
        start = time.perf_counter(); run(); rates[name].append(len(splits.y_train) / (time.perf_counter() - start))
base = np.median(rates["defaults (XLA off)"])
for name, values in rates.items():
    print(f"{name:<52} {np.median(values):>10,.0f} images/s  {np.median(values) / base:5.2f}x default")
EOF
)
