"""Read a whole line of digits at once, without cutting it: the number reader's line reader (numpy only).

The reader of ``reader.py`` cuts a line into candidate digits and classifies each:
where digits touch or overlap, the best cut still leaves a sliver of a neighbour
in one digit and takes a sliver from the other, and the classifier misreads what
is left. This network reads the line whole: from ``preprocess.ink_to_line`` (the
line's ink scaled to 28 px tall in a 32x192 frame), convolutions turn the frame
into LINE_STEPS columns, each of which says which digit it sees or none (the
CTC "blank"), and ``decode`` collapses them into the digits of the line (a
connectionist temporal classification, Graves et al. 2006). It needs no cut, so
touching and overlapping digits are read like separated ones.

It is trained by ``scripts/train_line_reader.py`` (Keras, CTC loss) on lines that
``segment.prepare`` finds in numbers composed of MNIST *training* digits and the
training fonts (``numberset`` split ``train``), and runs here in numpy, so it fits
the edge bundle. Its weights are in ``lines_weights.py``, which that script writes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .pairs import _conv_same
from .preprocess import LINE_HEIGHT, LINE_WIDTH

INPUT_SHAPE = (LINE_HEIGHT, LINE_WIDTH, 1)
CONV = ((32, (2, 2)), (64, (2, 2)), (96, (2, 1)), (128, (2, 1)))  # 3x3 'same' convolution, ReLU, max pooling
SEQUENCE_FILTERS = (192, 192)  # 1-D convolutions along the columns, ReLU
SEQUENCE_WIDTH = 5  # columns each of them sees
STRIDE = 4  # frame pixels per column: the product of CONV's pooling widths
LINE_STEPS = LINE_WIDTH // STRIDE  # columns left after pooling: at most this many outputs per line
OUTPUTS = 11  # BLANK, then digit d at 1 + d
BLANK = 0


@dataclass(frozen=True)
class LineReading:
    """What the line reader read in one line.

    Attributes:
        text: the digits, left to right ("" when it saw none).
        probabilities: per digit, the probability of the column that emitted it (its first).
        columns: per digit, that column (0..LINE_STEPS - 1): where in the frame it was read.
    """

    text: str
    probabilities: tuple[float, ...]
    columns: tuple[int, ...]


def _pool(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    n, h, w, c = x.shape
    x = x[:, : h // rows * rows, : w // cols * cols]
    return x.reshape(n, h // rows, rows, w // cols, cols, c).max(axis=(2, 4))


def _conv_columns(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """(N, T, C) * (K, C, F) 'same' 1-D convolution (as Keras' Conv1D) + bias, one matrix product."""
    n, t, c = x.shape
    k = kernel.shape[0]
    padded = np.pad(x, ((0, 0), (k // 2, k - 1 - k // 2), (0, 0)))
    columns = np.concatenate([padded[:, i : i + t] for i in range(k)], axis=2)
    return (columns.reshape(-1, k * c) @ kernel.reshape(k * c, -1) + bias).reshape(n, t, -1)


def forward(weights: dict[str, np.ndarray], crops: np.ndarray) -> np.ndarray:
    """(N, LINE_HEIGHT, LINE_WIDTH) uint8 crops -> (N, LINE_STEPS, OUTPUTS) probabilities per column."""
    x = crops.astype(np.float32)[..., np.newaxis] / 255
    for i, (_, (rows, cols)) in enumerate(CONV):
        n, h, w, _ = x.shape
        conv = _conv_same(x, weights[f"conv{i}_kernel"], weights[f"conv{i}_bias"]).reshape(n, h, w, -1)
        x = _pool(np.maximum(conv, 0), rows, cols)
    n, h, w, c = x.shape
    x = x.transpose(0, 2, 1, 3).reshape(n, w, h * c)  # a column's features, top to bottom
    for i in range(len(SEQUENCE_FILTERS)):
        x = np.maximum(_conv_columns(x, weights[f"seq{i}_kernel"], weights[f"seq{i}_bias"]), 0)
    logits = (x @ weights["out_kernel"] + weights["out_bias"]).astype(np.float64)
    e = np.exp(logits - logits.max(axis=2, keepdims=True))
    return e / e.sum(axis=2, keepdims=True)


def decode(probabilities: np.ndarray) -> list[LineReading]:
    """Greedy CTC decoding of (N, LINE_STEPS, OUTPUTS): each column's most probable output, repeats
    merged, blanks dropped ("7 7 - 7" is "77")."""
    readings = []
    for line in probabilities:
        best = line.argmax(axis=1)
        text, probs, columns = [], [], []
        for t, k in enumerate(best):
            if k != BLANK and (t == 0 or best[t - 1] != k):
                text.append(str(k - 1))
                probs.append(float(line[t, k]))
                columns.append(t)
        readings.append(LineReading("".join(text), tuple(probs), tuple(columns)))
    return readings


def log_likelihood(probabilities: np.ndarray, text: str) -> float:
    """log P(``text`` | one line's (LINE_STEPS, OUTPUTS) ``probabilities``): the CTC probability of
    those digits, summed over every way the columns can spell them (blanks anywhere, a digit
    over several columns, a blank between two equal digits), as training maximised it.

    ``decode`` gives the likeliest column by column; this scores any other reading of the
    line, such as the digits the cuts read, on the same footing.
    """
    return float(log_likelihoods(probabilities, [text])[0])


def log_likelihoods(probabilities: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    """``log_likelihood`` of each of ``texts``, all of one length, in one pass over the columns."""
    if len({len(text) for text in texts}) > 1:
        raise ValueError(f"texts of one length only, got {sorted({len(text) for text in texts})}")
    logp = np.log(np.maximum(probabilities, 1e-300))
    labels = np.full((len(texts), 2 * len(texts[0]) + 1), BLANK)  # blank, digit, blank, ..., blank
    labels[:, 1::2] = [[1 + int(char) for char in text] for text in texts]
    can_skip = np.zeros(labels.shape, bool)  # from the digit two back, over the blank between
    can_skip[:, 3::2] = labels[:, 3::2] != labels[:, 1:-2:2]
    none = np.full((len(texts), 2), -np.inf)
    alpha = np.full(labels.shape, -np.inf)  # log P(the first t columns spell labels[:, : s + 1])
    alpha[:, :2] = logp[0, labels[:, :2]]
    for t in range(1, len(logp)):
        before = np.concatenate([none, alpha], axis=1)  # two impossible states before the first
        step, skip = before[:, 1:-1], np.where(can_skip, before[:, :-2], -np.inf)  # from one and two back
        alpha = np.logaddexp(np.logaddexp(alpha, step), skip) + logp[t, labels]
    return np.logaddexp.reduce(alpha[:, -2:], axis=1)


def digit_probabilities(probabilities: np.ndarray, text: str) -> np.ndarray:
    """(len(text), 10): for each digit of ``text``, how probable each digit 0-9 is in its place,
    the others staying as read: P(text with d there) / the sum of that over d, by CTC.

    What the line reader says of each digit it read. The probability of the column
    that emitted it (``LineReading.probabilities``) says less: a digit the columns
    spell over two columns, or with its alternatives in a neighbour column, looks
    unsure there while the line as a whole is not; and it gives no candidates.
    """
    if not text:
        return np.zeros((0, 10))
    texts = [text[:j] + str(d) + text[j + 1 :] for j in range(len(text)) for d in range(10)]
    scores = log_likelihoods(probabilities, texts).reshape(len(text), 10)
    odds = np.exp(scores - scores.max(axis=1, keepdims=True))
    return odds / odds.sum(axis=1, keepdims=True)


@functools.cache
def _weights() -> dict[str, np.ndarray]:
    from . import lines_weights
    from .whole import unpack

    return unpack(lines_weights.SHAPES, lines_weights.DATA)


def probabilities(crops: np.ndarray) -> np.ndarray:
    """(N, LINE_HEIGHT, LINE_WIDTH) uint8 ``preprocess.ink_to_line`` crops -> (N, LINE_STEPS, OUTPUTS):
    per column, the blank's probability, then each digit's (``decode`` reads them)."""
    if len(crops) == 0:
        return np.zeros((0, LINE_STEPS, OUTPUTS))
    return forward(_weights(), crops)
