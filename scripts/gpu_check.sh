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
#    with ratios to the defaults (scripts/benchmark_perf.py --gpu-throughput).
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
  "$PY" -m pip install -q -e "$REPO[train]"
  TF_VERSION=$("$PY" -m pip show tensorflow | awk '/^Version:/ {print $2}')
  "$PY" -m pip install -q "tensorflow[and-cuda]==$TF_VERSION"
fi
"$PY" -c "import tensorflow as tf; gpus = tf.config.list_physical_devices('GPU'); print('GPUs:', gpus); assert gpus, 'no GPU visible'"

WORK=$(mktemp -d /tmp/mnist-keras-gpu-check.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
for OPTION in "--strategy mirrored" "--mixed-precision" "--jit-compile" "--no-jit-compile"; do  # the last = the defaults
  NAME=$(echo "$OPTION" | tr -dc 'a-z')
  echo "== mnist-keras fit $OPTION (5,000 images, 1 epoch)"
  (cd "$WORK" && "$PY" -m mnist_keras.cli fit $OPTION --limit 5000 --epochs 1 --quiet --output "run-$NAME" --saved-models saved)
  test -s "$WORK/run-$NAME/model.keras"
done

echo "== training throughput on the GPU (one epoch per round, interleaved, medians)"
(cd "$REPO" && "$PY" scripts/benchmark_perf.py --gpu-throughput)
