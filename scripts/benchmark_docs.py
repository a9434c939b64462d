"""One benchmark's section of docs/BENCHMARKS.md, written without touching the others'.

Each benchmark script owns the text between ``<!-- NAME:begin -->`` and
``<!-- NAME:end -->``; running one replaces its own section (or appends it)
and keeps every other figure in the file. Imported by the scripts beside it
(``python scripts/benchmark_*.py`` puts this folder on ``sys.path``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

TITLE = "# Performance benchmarks\n"
QUIET_LOAD = 0.5  # 1-minute load average below which the machine counts as quiet (GUIDE.md)


def load_note(before: float) -> str:
    """How to read a run's figures, given the 1-minute load average just before it started.

    Only the load before tells whether anything else was running: the load
    after includes the benchmark's own threads.
    """
    if before < QUIET_LOAD:
        return (
            f"Nothing else was running (load below {QUIET_LOAD} before; the load after is the benchmark's own threads)."
        )
    return (
        f"The machine was shared (load {before:.2f} before, not below {QUIET_LOAD}): times are inflated; "
        "compare only figures measured in the same run."
    )


def markers(name: str) -> tuple[str, str]:
    """The comment lines around section ``name``."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def write_section(path: Path, name: str, text: str) -> None:
    """Put ``text`` between section ``name``'s markers in ``path`` (appended when absent), atomically."""
    begin, end = markers(name)
    path = Path(path)
    old = path.read_text() if path.is_file() else TITLE
    block = f"{begin}\n{text.strip()}\n{end}"
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(new)
    os.replace(tmp, path)
