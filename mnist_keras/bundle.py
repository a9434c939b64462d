"""The edge bundle: ``mnist_edge.pyz``, one file a person copies to a Raspberry Pi next to a ``.tflite``.

A zipapp (the standard library's executable zip format) holding the
package's own TensorFlow-free modules, the ones ``mnist-keras predict`` runs
(:mod:`mnist_keras.edge` and what it imports), plus click, which the command
line is written in. On the device it needs Python 3.10+, numpy, Pillow and a
LiteRT interpreter, nothing else: ``python3 mnist_edge.pyz MODEL.tflite
IMAGE...`` behaves exactly as ``mnist-keras predict`` (it is the same code).

Nothing is copied into the repository: the bundle is built from the
installed package by ``mnist-keras bundle`` or ``mnist-keras export`` (which
writes it beside the ``.tflite`` files). The modules to include are found by
following the package's relative imports from :mod:`mnist_keras.edge`, so a
new module the command needs is bundled without a list to keep up to date.
The file is reproducible: fixed timestamps, sorted entries.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import stat
import zipfile
from pathlib import Path

import click

from .artifacts import atomic_path

BUNDLE_NAME = "mnist_edge.pyz"
ENTRY_MODULE = "edge"
PACKAGE = Path(__file__).resolve().parent
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can store: the same bytes on every build
DEVICE_PACKAGES = (
    "numpy and Pillow (pip install numpy pillow; 32-bit Raspberry Pi OS: sudo apt install python3-numpy python3-pil)"
)
MAIN = f'''"""mnist-keras edge bundle: classify digit images with a .tflite model, no TensorFlow needed.

Run: python3 mnist_edge.pyz MODEL.tflite IMAGE_OR_FOLDER... [--top-k K] [--json] [--threads N] [--benchmark N]
(python3 mnist_edge.pyz --help lists every option). Built by 'mnist-keras bundle' / 'mnist-keras export'.
"""

import sys

try:
    from mnist_keras.edge import main
except ImportError as err:
    print(f"error: {{err}}; this program needs {DEVICE_PACKAGES}", file=sys.stderr)
    sys.exit(2)
main()
'''


def package_imports(module: str) -> set[str]:
    """The package modules ``mnist_keras/<module>.py`` imports with relative imports, at any depth of its code."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module.split(".")[0]} if node.module else {alias.name for alias in node.names}
    return found


def bundled_modules(entry: str = ENTRY_MODULE) -> list[str]:
    """``entry`` and every package module it reaches through relative imports, sorted."""
    seen, todo = {"__init__"}, [entry]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += sorted(package_imports(module) - seen)
    return sorted(seen)


def _click_files() -> list[tuple[Path, str]]:
    """(file, name in the zip) for the installed click package and its licence."""
    root = Path(click.__file__).resolve().parent
    files = [(path, f"click/{path.relative_to(root).as_posix()}") for path in sorted(root.rglob("*"))
             if path.is_file() and "__pycache__" not in path.parts]  # fmt: skip
    licences = [f for f in importlib.metadata.files("click") or () if "LICENSE" in f.name.upper()]
    return files + [(Path(licences[0].locate()), "click/LICENSE.txt")] if licences else files


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def write_bundle(target: str | os.PathLike) -> Path:
    """Build the bundle at ``target`` (atomically; executable, with a ``python3`` shebang)."""
    target = Path(target)
    entries = [(PACKAGE / f"{m}.py", f"mnist_keras/{m}.py") for m in bundled_modules()] + _click_files()
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as out:
            out.write(b"#!/usr/bin/env python3\n")
            with zipfile.ZipFile(out, "w") as archive:
                _add(archive, "__main__.py", MAIN.encode())
                for path, name in sorted(entries, key=lambda entry: entry[1]):
                    _add(archive, name, path.read_bytes())
        tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return target
