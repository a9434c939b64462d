"""Running a ``.tflite`` digit classifier: load, quantize input, invoke, dequantize output.

This is the one place that talks to the LiteRT interpreter, shared by the
export verification, the edge script and the predictor. It must stay light
enough for a Raspberry Pi: only the standard library, numpy and an
interpreter (``ai_edge_litert``, else ``tflite_runtime``, else TensorFlow's
deprecated ``tf.lite.Interpreter``). Never import TensorFlow or Keras here
unless both lighter interpreters are missing.

Images go in as MNIST-style pixels 0-255 (uint8 or float), ``(N, 28, 28)`` or
``(N, 28, 28, 1)``; the model scales them itself. Quantized (int8/uint8)
input and output tensors are handled explicitly with their scale and zero
point, so every variant returns float32 probabilities ``(N, 10)``.

:func:`open_classifier` is the checked entry point for user-given files: a
missing, corrupt or wrong-shaped model raises :class:`ModelError` with a
one-line message instead of the interpreter's own errors.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from .digits import INPUT_SHAPE, NUM_CLASSES, PREDICT_BATCH_SIZE, as_batch, chunks, no_probabilities
from .quiet import stderr_silenced

INSTALL_HINT = "pip install ai-edge-litert (64-bit Linux, macOS, Windows) or tflite-runtime (32-bit Raspberry Pi OS)"


class ModelError(ValueError):
    """A ``.tflite`` file is missing, unreadable, or not a (1, 28, 28, 1) -> (1, 10) digit classifier."""


def interpreter_class() -> type:
    """The best available Interpreter class: LiteRT, then tflite-runtime, then TensorFlow.

    Raises:
        ImportError: none of the three is installed (the message says what to install).
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter

            # tflite-runtime 2.14 on 32-bit ARM switches the CPU to flush subnormal floats to zero, and
            # numpy then warns about it on every run; that is expected there and harmless for our models.
            warnings.filterwarnings("ignore", message="The value of the smallest subnormal", category=UserWarning)
        except ImportError:
            try:
                from tensorflow.lite import Interpreter  # deprecated; last resort
            except ImportError:
                raise ImportError(f"no TFLite interpreter is installed; {INSTALL_HINT}") from None
    return Interpreter


def load_interpreter(path: str | os.PathLike, num_threads: int | None = None) -> Any:
    """An allocated interpreter for the ``.tflite`` file at ``path``.

    The runtime's "INFO: Created TensorFlow Lite XNNPACK delegate" line is kept
    off stderr: the commands' output is their own lines (errors still raise).
    """
    interpreter_type = interpreter_class()
    with stderr_silenced():
        interpreter = interpreter_type(model_path=str(path), num_threads=num_threads)
        interpreter.allocate_tensors()
    return interpreter


def open_classifier(path: str | os.PathLike, num_threads: int | None = None) -> Any:
    """:func:`load_interpreter` for a user-given file, checked to be an MNIST digit classifier.

    Raises:
        ModelError: missing, unreadable, or not (1, 28, 28, 1) -> (1, 10).
    """
    if not os.path.isfile(path):
        raise ModelError(f"{path}: model file not found; check the path (export one with 'mnist-keras export')")
    try:
        interpreter = load_interpreter(path, num_threads=num_threads)
    except (ValueError, RuntimeError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ModelError(f"{path}: not a readable .tflite model ({reason})") from None
    check_classifier(interpreter, str(path))
    return interpreter


def check_classifier(interpreter: Any, name: str) -> None:
    """Raise ModelError unless the model has one (B, 28, 28, 1) input and one (B, 10) output."""
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    in_shape = [tuple(int(d) for d in t["shape"][1:]) for t in inputs]
    out_shape = [tuple(int(d) for d in t["shape"][1:]) for t in outputs]
    if in_shape != [INPUT_SHAPE] or out_shape != [(NUM_CLASSES,)]:
        raise ModelError(
            f"{name}: not a digit classifier: inputs {in_shape} and outputs {out_shape}, "
            f"expected one {INPUT_SHAPE} input and one ({NUM_CLASSES},) output"
        )


def quantize(values: np.ndarray, dtype: np.dtype, scale: float, zero_point: int) -> np.ndarray:
    """float -> int8/uint8 with ``q = round(x / scale) + zero_point``, clipped to the dtype's range."""
    info = np.iinfo(dtype)
    q = np.round(values.astype(np.float32) / np.float32(scale)) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """int8/uint8 -> float32 with ``x = (q - zero_point) * scale``."""
    return ((values.astype(np.float32) - zero_point) * np.float32(scale)).astype(np.float32)


def _scale_zero_point(detail: dict) -> tuple[float, int]:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return float(scale), int(zero_point)


def prepare_input(detail: dict, images: np.ndarray) -> np.ndarray:
    """Pixels (N, 28, 28[, 1]) 0-255 -> the input tensor's dtype, quantized if it is an integer tensor."""
    batch = as_batch(images)  # float32 (N, 28, 28, 1)
    dtype = np.dtype(detail["dtype"])
    if np.issubdtype(dtype, np.integer):
        scale, zero_point = _scale_zero_point(detail)
        if scale == 0:
            raise ValueError(f"integer input tensor without quantization parameters ({dtype})")
        return quantize(batch, dtype, scale, zero_point)
    return batch.astype(dtype)


def read_output(detail: dict, values: np.ndarray) -> np.ndarray:
    """The output tensor as float32, dequantized if it is an integer tensor."""
    if np.issubdtype(np.dtype(detail["dtype"]), np.integer):
        return dequantize(values, *_scale_zero_point(detail))
    return values.astype(np.float32)


def _ensure_batch(interpreter: Any, size: int) -> dict:
    """Resize the input tensor to ``size`` images if needed; return its details."""
    detail = interpreter.get_input_details()[0]
    if int(detail["shape"][0]) != size:
        interpreter.resize_tensor_input(detail["index"], [size, *INPUT_SHAPE])
        interpreter.allocate_tensors()
        detail = interpreter.get_input_details()[0]
    return detail


def set_input(interpreter: Any, images: np.ndarray) -> None:
    """Resize the input to ``len(images)`` and copy the (quantized) pixels in."""
    detail = _ensure_batch(interpreter, len(images))
    interpreter.set_tensor(detail["index"], prepare_input(detail, images))


def get_output(interpreter: Any) -> np.ndarray:
    """The last invoke's probabilities, float32 (N, 10)."""
    detail = interpreter.get_output_details()[0]
    return read_output(detail, interpreter.get_tensor(detail["index"]))


def predict_proba(interpreter: Any, images: np.ndarray, *, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
    """Class probabilities float32 (N, 10) for pixels (N, 28, 28[, 1]) 0-255, uint8 or float."""
    outputs = []
    for part in chunks(np.asarray(images), batch_size):
        set_input(interpreter, part)
        interpreter.invoke()
        outputs.append(get_output(interpreter))
    return np.concatenate(outputs) if outputs else no_probabilities()


def tensor_summary(detail: dict) -> dict:
    """JSON-ready dtype, shape, scale and zero point of one tensor (edge metadata)."""
    scale, zero_point = _scale_zero_point(detail)
    return {
        "dtype": np.dtype(detail["dtype"]).name,
        "shape": [int(d) for d in detail["shape"]],
        "scale": scale,
        "zero_point": zero_point,
    }


def op_names(path: str | os.PathLike) -> list[str]:
    """Operator names of the model at ``path`` in graph order, before any delegate takes nodes over.

    A Flex (TensorFlow) op would show as ``Flex...``; the plain runtime cannot run those.
    """
    kwargs = {}
    try:
        from ai_edge_litert.interpreter import OpResolverType

        kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    except ImportError:
        pass
    interpreter = interpreter_class()(model_path=str(path), **kwargs)
    return [str(op["op_name"]) for op in interpreter._get_ops_details()]
