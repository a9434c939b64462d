#!/usr/bin/env python3
"""Write a ready-to-push Hugging Face Space (Gradio SDK) for one digit model.

    python scripts/make_space.py tflite/lamontagne_int8.tflite space/

The Space holds a copy of the package modules the page imports (app.py and
everything it reaches: ``mnist_keras.bundle.bundled_modules("app")``, all
TensorFlow-free) as a small ``mnist_keras`` package, so the page on the Space
is the same code as ``mnist-keras serve``. Its requirements are the package's
own declared ones (setup.cfg, read from the installed metadata): with a
``.tflite`` model the inference install (numpy, Pillow, click, the LiteRT
interpreter); a ``.keras`` model adds the ``train`` extra (TensorFlow).
Gradio comes with the Space's SDK.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import sys
from pathlib import Path

import mnist_keras
from mnist_keras import artifacts
from mnist_keras.bundle import bundled_modules
from mnist_keras.errors import MnistKerasError, ModelFileError

DISTRIBUTION = "mnist-keras"
PAGE_MODULE = "app"
EXTRAS = {
    ".tflite": (),
    ".keras": ("train",),
}  # model file -> the extras its predictor needs beside the inference install
EXTRA_MARKER = re.compile(r'\s*(and\s+)?extra\s*==\s*"([^"]+)"\s*(and\s+)?')
PYTHON_VERSION = "3.11"

APP_PY = '''"""Hugging Face Space entry point: the mnist-keras page around {model}."""

from pathlib import Path

from mnist_keras.app import CONCURRENCY, MAX_FILE_SIZE, QUEUE_SIZE, build_demo
from mnist_keras.predict import load_predictor

MODEL = Path(__file__).parent / "{model}"
predictor = load_predictor(MODEL)  # loaded once, shared by every visitor
demo = build_demo(predictor, model_name=MODEL.name)
demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CONCURRENCY)

if __name__ == "__main__":
    demo.launch(max_file_size=MAX_FILE_SIZE, ssr_mode=False)
'''

README = """---
title: Handwritten digit classifier
emoji: ✍️
colorFrom: gray
colorTo: indigo
sdk: gradio
sdk_version: {gradio_version}
python_version: "{python_version}"
app_file: app.py
pinned: false
license: mit
---

# Handwritten digit classifier

Draw a digit (or upload a photo of one) and a small CNN trained on MNIST reads
it: the top 3 classes with their probabilities, and the 28x28 image the model
actually saw after preprocessing. Model: `{model}` ({runtime}).

Made by [mnist-keras](https://pypi.org/project/mnist-keras/) with
`python scripts/make_space.py {model} <folder>`; `mnist_keras/` here is a copy
of that package's page, preprocessing and predictor modules.

## Run it locally

```bash
pip install gradio=={gradio_version} -r requirements.txt && python app.py
```

## Push it to Hugging Face

Create a Space with the Gradio SDK at https://huggingface.co/new-space, then either

```bash
huggingface-cli login
huggingface-cli upload <user>/<space-name> . . --repo-type=space
```

or with git (the model file is small, so no LFS set-up is needed below 10 MB):

```bash
git init && git remote add origin https://huggingface.co/spaces/<user>/<space-name>
git add . && git commit -m "mnist-keras digit classifier" && git push -f origin HEAD:main
```
"""


def requirements(extras: tuple[str, ...]) -> list[str]:
    """The package's declared requirements: the inference install plus ``extras``, their ``extra`` markers dropped.

    Platform markers stay (pip reads them in requirements.txt), so the
    minimum versions are written once, in setup.cfg.
    """
    lines = []
    for line in importlib.metadata.requires(DISTRIBUTION) or []:
        spec, _, marker = (part.strip() for part in line.partition(";"))
        extra = EXTRA_MARKER.search(marker)
        if extra and extra[2] not in extras:
            continue
        marker = EXTRA_MARKER.sub(" ", marker).strip()
        lines.append(f"{spec}; {marker}" if marker else spec)
    return lines


def make_space(model: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the Space folder; returns the files written.

    Raises:
        ModelFileError: the model is missing or not a .tflite/.keras file.
    """
    import gradio

    model, out_dir = Path(model), Path(out_dir)
    if model.suffix not in EXTRAS:
        raise ModelFileError(f"{model}: give a .tflite or .keras model file")
    if not model.is_file():
        raise ModelFileError(f"{model}: model file not found; export one with 'mnist-keras export' first")
    package = Path(mnist_keras.__file__).parent
    modules = [f"{name}.py" for name in bundled_modules(PAGE_MODULE)]
    written = [artifacts.copy_file(package / name, out_dir / "mnist_keras" / name) for name in modules]
    written.append(artifacts.copy_file(model, out_dir / model.name))
    written.append(artifacts.write_text(out_dir / "app.py", APP_PY.format(model=model.name)))
    written.append(
        artifacts.write_text(out_dir / "requirements.txt", "\n".join(requirements(EXTRAS[model.suffix])) + "\n")
    )
    runtime = "LiteRT interpreter, no TensorFlow" if model.suffix == ".tflite" else "Keras on TensorFlow"
    readme = README.format(
        gradio_version=gradio.__version__, python_version=PYTHON_VERSION, model=model.name, runtime=runtime
    )
    written.append(artifacts.write_text(out_dir / "README.md", readme))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a .tflite (recommended: small, no TensorFlow on the Space) or .keras model")
    parser.add_argument("out_dir", help="folder to write the Space into (created if missing)")
    args = parser.parse_args(argv)
    try:
        files = make_space(args.model, args.out_dir)
    except MnistKerasError as err:
        print(f"Error: {err}", file=sys.stderr)
        return err.exit_code
    print(f"wrote {len(files)} files to {args.out_dir}; push it as README.md there explains")
    return 0


if __name__ == "__main__":
    sys.exit(main())
