"""Read two touching digits at once: the number reader's pair reader (numpy only).

Cutting two touching digits apart is where the reader loses most: the best cut
still leaves one digit a sliver of its neighbour and takes a sliver of its own
ink, and the single-digit classifier misreads what is left. This small
convolutional network reads a candidate that may hold two digits side by side
*whole*, from ``preprocess.ink_to_pair`` of a wide ``segment.Candidate``'s ink
(its height scaled as one digit's, in a 28x56 frame), as one of the 100 pairs
"00".."99" or as "not a pair" (one digit, part of one, three). ``reader.py``
weighs a pair reading against every way of cutting the same ink into two single
digits.

It is trained by ``scripts/train_pair_reader.py`` (Keras) on candidates that
``segment.prepare`` cuts from numbers composed of MNIST *training* digits and the
training fonts (``numberset`` split ``train``), and runs here in numpy so that it
serves any single-digit model and fits the edge bundle. Its weights are in
``pairs_weights.py``, which that script writes.
"""

from __future__ import annotations

import functools

import numpy as np

from .preprocess import PAIR_HEIGHT, PAIR_WIDTH

CLASSES = 101  # pairs 00..99 (first digit * 10 + second), then NOT_PAIR
NOT_PAIR = 100
CONV_FILTERS = (16, 32, 64)  # 3x3 'same' convolutions, each followed by ReLU and 2x2 max pooling
HIDDEN = 96  # units of the dense layer before the softmax
INPUT_SHAPE = (PAIR_HEIGHT, PAIR_WIDTH, 1)


def _conv_same(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """(N, H, W, C) * (3, 3, C, F) 'same' convolution (as Keras' Conv2D) + bias: the nine shifted
    copies side by side, one matrix product."""
    n, h, w, c = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    columns = np.concatenate([padded[:, i : i + h, j : j + w] for i in range(3) for j in range(3)], axis=3)
    return columns.reshape(-1, 9 * c) @ kernel.reshape(9 * c, -1) + bias


def _pool(x: np.ndarray) -> np.ndarray:
    """2x2 max pooling, stride 2, odd rows and columns dropped (Keras' 'valid')."""
    n, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2]
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def forward(weights: dict[str, np.ndarray], crops: np.ndarray) -> np.ndarray:
    """(N, PAIR_HEIGHT, PAIR_WIDTH) uint8 crops -> (N, CLASSES) probabilities."""
    x = crops.astype(np.float32)[..., np.newaxis] / 255
    for i in range(len(CONV_FILTERS)):
        conv = _conv_same(x, weights[f"conv{i}_kernel"], weights[f"conv{i}_bias"])
        x = _pool(np.maximum(conv, 0).reshape(*x.shape[:3], -1))
    x = np.maximum(x.reshape(len(x), -1) @ weights["dense_kernel"] + weights["dense_bias"], 0)
    logits = x @ weights["out_kernel"] + weights["out_bias"]
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


@functools.cache
def _weights() -> dict[str, np.ndarray]:
    from . import pairs_weights
    from .whole import unpack

    return unpack(pairs_weights.SHAPES, pairs_weights.DATA)


def probabilities(crops: np.ndarray) -> np.ndarray:
    """(N, PAIR_HEIGHT, PAIR_WIDTH) uint8 -> (N, CLASSES): each pair's probability, then not-a-pair's."""
    if len(crops) == 0:
        return np.zeros((0, CLASSES), np.float32)
    return forward(_weights(), crops)
