"""Keeping native libraries' start-up chatter off the terminal.

TensorFlow prints absl/oneDNN/CUDA lines when it is imported, and the LiteRT
interpreter an ``INFO: Created TensorFlow Lite XNNPACK delegate`` line when
it builds a model, both from C++ straight to file descriptor 2, before any
Python logging setting applies. Redirecting that descriptor for the
duration is the only way to keep a command's output to its own lines.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def stderr_silenced() -> Iterator[None]:
    """Point the process's C-level stderr (fd 2) at /dev/null for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
