"""Is a candidate one whole digit? A small judge beside the classifier, for the number reader.

The classifier cannot tell: every candidate is scaled to fill MNIST's 20x20 box, so
two touching digits squeezed together can read as a confident 0 or 8, and half of a
0 as a confident 1. This judge sees what the classifier's crop hides: the candidate
at the scale of the whole number, with its neighbours' ink beside it
(``segment.Candidate.context``), and its size, aspect and cuts; and the crop the
classifier gets, at half resolution, whose shape shows what the scale hides (two
digits side by side, a stroke cut off). It does not look at the classifier's answer,
so it serves any model.

A one-hidden-layer perceptron, numpy only (it runs on a Pi in the edge bundle),
trained by ``scripts/train_whole_digit.py`` on candidates that ``segment.prepare``
cuts from numbers composed of MNIST *training* digits and the training fonts
(``numberset`` split ``train``), each labelled by whether its box matches a true
digit's. Its weights are in ``whole_weights.py``, which that script writes.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Sequence

import numpy as np

from .segment import CONTEXT_SIZE, Candidate

SCALARS = ("aspect", "height", "width", "gap", "cut_edges", "crossed")  # Candidate fields fed beside the pictures
CROP_SIDE = 14  # the classifier's 28x28 crop, averaged over 2x2 blocks: its shape, at a quarter of the inputs
FEATURES = CONTEXT_SIZE**2 + CROP_SIDE**2 + len(SCALARS)


def features(candidates: Sequence[Candidate]) -> np.ndarray:
    """(N, FEATURES) float32: each candidate's context picture, its crop at CROP_SIDE (ink 0..1), then its scalars."""
    if not candidates:
        return np.zeros((0, FEATURES), np.float32)
    contexts = np.stack([c.context.ravel() for c in candidates]).astype(np.float32)
    crops = np.stack([c.crop for c in candidates]).astype(np.float32) / 255
    block = crops.shape[1] // CROP_SIDE
    crops = crops.reshape(len(candidates), CROP_SIDE, block, CROP_SIDE, block).mean(axis=(2, 4))
    scalars = np.array([[float(getattr(c, name)) for name in SCALARS] for c in candidates], np.float32)
    return np.concatenate([contexts, crops.reshape(len(candidates), -1), scalars], axis=1)


def unpack(shapes: dict[str, tuple[int, ...]], data: str) -> dict[str, np.ndarray]:
    """Arrays stored by ``pack``: float16, in ``shapes``' order, base64 text."""
    flat = np.frombuffer(base64.b64decode(data), np.float16).astype(np.float32)
    arrays, at = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape, dtype=np.int64))
        arrays[name] = flat[at : at + size].reshape(shape)
        at += size
    if at != len(flat):
        raise ValueError(f"weights hold {len(flat)} numbers, the shapes {at}")
    return arrays


def pack(arrays: dict[str, np.ndarray]) -> tuple[dict[str, tuple[int, ...]], str]:
    """(shapes, base64 text) of float16 arrays: small enough to live in a Python module."""
    flat = np.concatenate([np.asarray(a, np.float32).ravel() for a in arrays.values()]).astype(np.float16)
    return {k: tuple(np.shape(a)) for k, a in arrays.items()}, base64.b64encode(flat.tobytes()).decode("ascii")


def weights_module(title: str, notes: Sequence[str], arrays: dict[str, np.ndarray]) -> str:
    """The text of a generated Python module holding ``arrays`` as ``pack`` stores them (SHAPES, DATA),
    its docstring ``title`` and ``notes``: how the reader's trained parts (this judge, ``pairs.py``) ship
    as plain source, with no model file to find on a Pi. One SHAPES entry per line, so formatters
    leave the file as written."""
    shapes, data = pack(arrays)
    lines = [f'"""{title}', "", *notes, '"""', "", "SHAPES = {", *(f'    "{k}": {v!r},' for k, v in shapes.items()),
             "}", "DATA = (", *(f'    "{data[i : i + 96]}"' for i in range(0, len(data), 96)), ")", ""]  # fmt: skip
    return "\n".join(lines)


@functools.lru_cache(maxsize=1)
def _weights() -> dict[str, np.ndarray]:
    from . import whole_weights

    return unpack(whole_weights.SHAPES, whole_weights.DATA)


def judge(x: np.ndarray, weights: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """(N, F) features -> (N,) float64 probability that each is one whole digit (the shipped weights by default)."""
    w = _weights() if weights is None else weights
    hidden = np.maximum(((x - w["mean"]) / w["scale"]) @ w["w1"] + w["b1"], 0)
    logit = hidden @ w["w2"] + w["b2"]
    return 1 / (1 + np.exp(-np.clip(np.asarray(logit, np.float64), -30, 30)))


def probability(candidates: Sequence[Candidate], weights: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """(N,) float64: the judge's probability that each candidate is one whole digit."""
    return judge(features(candidates), weights)
