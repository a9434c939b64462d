"""The Gradio page: draw a digit, write a number or upload a photo, and see what the model reads.

A digit gets its top 3 classes and the 28x28 image the model saw; a number
(the wide pad, or an upload with "Read a whole number") gets its reading, each
digit's box drawn on the picture, and the candidates of any digit the model is
unsure of (``reader.read_number``).

One model is loaded at start-up with :func:`mnist_keras.predict.load_predictor`
(a ``.tflite`` through the LiteRT interpreter, or a ``.keras`` model) and shared
by every request; the predictor serialises calls into the (not thread-safe)
interpreter. Every image goes through the shared
:func:`mnist_keras.preprocess.to_mnist`, so the page, the CLI and the edge
bundle see the same 28x28 pixels. Bad input (a blank canvas, a file that is
not an image, a page of text) becomes a message on the page, never a crash.

This module imports only gradio, numpy, Pillow and the TensorFlow-free parts
of the package at import time, so a Hugging Face Space can ship it with a
``.tflite`` model and no TensorFlow.
"""

from __future__ import annotations

import errno
import io
import os
import socket
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from . import drawpad
from .classify import DEFAULT_TOP_K
from .errors import ServeError
from .predict import Predictor, default_model, load_predictor
from .preprocess import ImageError, NoDigitError, to_mnist
from .reader import Reading, TooManyMarksError, annotate, read_number

TITLE = "Handwritten digit classifier"
VIEW_SCALE = 8  # the 28x28 model input is shown at 224x224, nearest-neighbour
NUMBER_VIEW_PX = 200  # height of the number's picture with its boxes: the whole picture, never cropped
MAX_FILE_SIZE = "10mb"  # largest upload the server accepts
QUEUE_SIZE = 64  # requests waiting beyond this are refused with "queue full", not crashed
CONCURRENCY = 4  # requests preprocessed at once; the model itself runs one at a time
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
HELLO = "Draw a digit (0-9) in the box, write a number in the wide box, or upload a photo."


# ------------------------------------------------------------------ model


class Classifier:
    """Image -> (top-3 label dict, the 28x28 the model saw).

    The predictor serialises calls into a LiteRT interpreter itself (see
    :class:`mnist_keras.predict.TFLitePredictor`), so requests may arrive from
    several server threads at once.
    """

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor

    def probabilities(self, digit: np.ndarray) -> np.ndarray:
        """(28, 28) uint8 -> (10,) float32."""
        return self.predictor.predict_proba(digit[np.newaxis])[0]

    def classify(self, image: Any, *, name: str = "image") -> tuple[dict[str, float], np.ndarray]:
        """Any image source -> ({class: probability}, (28, 28) uint8 model input).

        Raises:
            NoDigitError / ImageError: from the shared preprocessing.
        """
        digit = to_mnist(image, name=name)
        proba = self.probabilities(digit)
        return {str(k): float(proba[k]) for k in range(len(proba))}, digit

    def read(self, image: Any, *, name: str = "image") -> Reading:
        """The whole number in an image (``reader.read_number``), through the same predictor.

        Raises:
            NoDigitError / ImageError: from the shared preprocessing; TooManyMarksError for text or texture.
        """
        return read_number(image, self.predictor.predict_proba, name=name)


# ------------------------------------------------------------------ page handlers


def enlarge(digit: np.ndarray) -> np.ndarray:
    """(28, 28) -> (28 * VIEW_SCALE, ...) with square pixels (nearest neighbour)."""
    return np.kron(digit, np.ones((VIEW_SCALE, VIEW_SCALE), np.uint8))


def _message(err: ImageError, drawing: bool) -> str:
    """One friendly line for the page: what went wrong and what to do."""
    if isinstance(err, NoDigitError):
        return (
            "Nothing to read yet: draw a digit in the box."
            if drawing
            else "No digit found in this image: use a darker, larger digit on a plain background."
        )
    if drawing:
        return "Could not read the drawing: clear the pad and draw again (or reload the page)."
    return "Could not read this file as an image: upload a PNG or JPEG photo of a digit."


def page_result(classifier: Classifier, image: Any, *, drawing: bool) -> tuple[Any, Any, str]:
    """(label, enlarged model input, status) for the page; friendly text on bad input."""
    if image is None:
        return None, None, HELLO
    try:
        label, digit = classifier.classify(image, name="the drawing" if drawing else "the upload")
    except ImageError as err:
        return None, None, _message(err, drawing)
    best = max(label, key=label.get)
    return label, enlarge(digit), f"The model reads a **{best}** ({100 * label[best]:.0f} %)."


def draw_result(classifier: Classifier, value: Any) -> tuple[Any, Any, str]:
    """The page's answer to a pad value (see :mod:`mnist_keras.drawpad`); a forged value is a message too."""
    try:
        image = drawpad.drawing_png(value)  # None while the pad is blank
    except ImageError as err:
        return None, None, _message(err, drawing=True)
    return page_result(classifier, image, drawing=True)


def describe(reading: Reading) -> str:
    """The status line for a reading: the number, and the candidates of every digit shown as ``?``."""
    if not reading.digits:
        return "No digits found: write a number in the wide box."
    doubts = [f"digit {i + 1} could be " + " or ".join(f"{c} ({100 * p:.0f} %)" for c, p in d.candidates[:2])
              for i, d in enumerate(reading.digits) if not d.sure]  # fmt: skip
    text = " / ".join(reading.lines)
    return f"The model reads **{text}**." + (f" Not sure: {'; '.join(doubts)}." if doubts else "")


def number_result(classifier: Classifier, image: Any, *, drawing: bool) -> tuple[Any, str]:
    """(the image with its digits' boxes drawn, status) for a number; friendly text on bad input."""
    if image is None:
        return None, HELLO
    name = "the drawing" if drawing else "the upload"
    try:
        reading = classifier.read(image, name=name)
    except TooManyMarksError:
        return None, "Too many marks to be a number: write a few digits, or upload a photo of just the number."
    except ImageError as err:
        return None, ("Nothing to read yet: write a number in the wide box." if drawing and isinstance(err, NoDigitError)
                      else _message(err, drawing))  # fmt: skip
    return np.asarray(annotate(image, reading)), describe(reading)


def number_draw_result(classifier: Classifier, value: Any) -> tuple[Any, str]:
    """The page's answer to the number pad's value.

    The drawing gets a white band above and below (a third of its height each)
    before it is read, so the digits' labels fit above their boxes in the picture
    shown; reading is unchanged by the margin (the background is white either way).
    """
    try:
        png = drawpad.drawing_png(value)
    except ImageError as err:
        return None, _message(err, drawing=True)
    if png is None:
        return number_result(classifier, None, drawing=True)
    try:
        drawing = Image.open(io.BytesIO(png)).convert("L")
    except (OSError, ValueError) as err:  # a forged value that is no PNG
        return None, _message(ImageError(str(err)), drawing=True)
    band = drawing.height // 3
    return number_result(classifier, ImageOps.expand(drawing, border=(0, band, 0, band), fill=255), drawing=True)


def api_read_number(classifier: Classifier, image: Any) -> dict:
    """The ``/read_number`` endpoint: one image -> the reading (text, lines, digits with boxes and candidates)."""
    import gradio as gr

    if image is None:
        raise gr.Error("no image given: send one image file")
    try:
        return classifier.read(image, name="the image").as_dict()
    except ImageError as err:
        raise gr.Error(str(err)) from None


def api_classify(classifier: Classifier, image: Any) -> dict[str, float]:
    """The ``/classify`` endpoint: one image -> top classes; bad input -> an error message."""
    import gradio as gr

    if image is None:
        raise gr.Error("no image given: send one image file")
    try:
        return classifier.classify(image, name="the image")[0]
    except ImageError as err:
        raise gr.Error(_message(err, drawing=False)) from None


# ------------------------------------------------------------------ layout


def make_pad(pad: drawpad.Pad = drawpad.DIGIT_PAD, *, elem_id: str = "pad"):
    """A drawing pad: a canvas with undo and bin icons whose value is the drawing as a small PNG."""
    import gradio as gr

    return gr.HTML(value="", html_template=pad.html, css_template=pad.css, js_on_load=pad.js,
                   label=pad.label.capitalize(), elem_id=elem_id, padding=False)  # fmt: skip


CLEAR_JS = "() => ['', '', null]"  # the page's Clear, in the browser: blank pads, no upload
"""Why in the browser: the pad must never be the output of a server event. Gradio draws a loading
overlay over an event's outputs, and with the old Sketchpad as Clear's output that overlay could
stay for good over the canvas and swallow the next stroke. A js-only event gets no
overlay. Each new value fires its component's change event, whose handler answers with the
greeting; the pad's runs after any answer still on its way (trigger_mode="always_last"), so a
Clear made while an answer is in flight still ends with a blank page."""


def warm_up(classifier: Classifier) -> None:
    """Pay one-off costs at start-up, not on the first visitor's first drawing.

    Gradio 6.31 runs every event inside ``utils.MatplotlibBackendMananger``, which
    imports matplotlib and resolves its backend when matplotlib is installed (as it
    is with this package): that made the first drawing after start-up several times
    slower than the rest (``scripts/benchmark_app.py --skip-warm-up`` shows it).
    One drawing through the page's own path also loads the PNG decoder and runs
    the model once.
    """
    try:
        import matplotlib

        matplotlib.get_backend()
    except ImportError:
        pass  # the Space ships without it: then Gradio skips it too
    side = drawpad.DIGIT_PAD.ship_height_px
    stroke = np.full((side, side), 255, np.uint8)
    stroke[20:92, 50:62] = 0  # a "1"
    buffer = io.BytesIO()
    Image.fromarray(stroke).save(buffer, format="PNG")
    draw_result(classifier, drawpad.to_data_url(buffer.getvalue()))


def build_demo(predictor: Predictor, *, model_name: str = "model"):
    """The Gradio Blocks page around one predictor (warmed up: see :func:`warm_up`)."""
    import gradio as gr

    classifier = Classifier(predictor)
    warm_up(classifier)

    # Every handler answers the same four outputs: a digit's label and 28x28 view, a number's boxes, the status.
    def on_draw(value):
        label, seen, status = draw_result(classifier, value)
        return label, seen, None, status

    def on_write(value):
        return None, None, *number_draw_result(classifier, value)

    def on_upload(image, as_number):
        if as_number:
            return None, None, *number_result(classifier, image, drawing=False)
        label, seen, status = page_result(classifier, image, drawing=False)
        return label, seen, None, status

    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(f"# {TITLE}\nA small CNN trained on MNIST reads your digit, or your number. Model: `{model_name}`.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                with gr.Tabs():
                    with gr.Tab("Draw", id="draw"):
                        pad = make_pad()
                    with gr.Tab("Write a number", id="number"):
                        number_pad = make_pad(drawpad.NUMBER_PAD, elem_id="number-pad")
                    with gr.Tab("Upload a photo", id="upload"):
                        upload = gr.Image(type="filepath", sources=["upload", "clipboard"],
                                          label="Photo of a digit or a number", elem_id="upload")  # fmt: skip
                        as_number = gr.Checkbox(label="Read a whole number (several digits)", elem_id="as-number")
                clear = gr.Button("Clear", variant="secondary", elem_id="clear")
            with gr.Column(scale=2):
                status = gr.Markdown(HELLO, elem_id="status")
                label = gr.Label(num_top_classes=DEFAULT_TOP_K, label="Prediction", elem_id="label")
                seen = gr.Image(label="What the model saw (28x28, after preprocessing)", interactive=False,
                                height=28 * VIEW_SCALE + 48, buttons=[], elem_id="seen")  # fmt: skip
                boxes = gr.Image(label="The number as read: each digit's box", interactive=False, buttons=[],
                                 height=NUMBER_VIEW_PX, elem_id="number-view")  # fmt: skip
        outputs = [label, seen, boxes, status]
        private = {"trigger_mode": "always_last", "api_visibility": "private"}
        pad.change(on_draw, pad, outputs, show_progress="hidden", **private)
        number_pad.change(on_write, number_pad, outputs, show_progress="hidden", **private)
        upload.change(on_upload, [upload, as_number], outputs, show_progress="minimal", **private)
        as_number.change(on_upload, [upload, as_number], outputs, show_progress="minimal", **private)
        clear.click(None, None, [pad, number_pad, upload], js=CLEAR_JS, api_visibility="private")
        api = gr.Button(visible=False)  # the scripted entry points: one image in, the answer out
        api.click(lambda image: api_classify(classifier, image), upload, label, api_name="classify")
        reading = gr.JSON(visible=False)
        api.click(lambda image: api_read_number(classifier, image), upload, reading, api_name="read_number")
    return demo


# ------------------------------------------------------------------ server


def check_port_free(host: str, port: int) -> None:
    """Raise ServeError now rather than let the server fail after loading the model."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: TIME_WAIT is no obstacle
        try:
            sock.bind((host, port))
        except OSError as err:
            why = "already in use" if err.errno == errno.EADDRINUSE else (err.strerror or str(err))
            raise ServeError(f"cannot listen on {host}:{port}: {why}; pick another with --port") from None


def serve(model: str | os.PathLike | None = None, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          share: bool = False, block: bool = True):  # fmt: skip
    """Load the model once and run the page until interrupted; returns the Blocks app.

    Raises:
        ModelFileError: no model given or found, or it cannot be loaded.
        ServeError: the port is taken.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    path = Path(model) if model else default_model()
    check_port_free(host, port)
    demo = build_demo(load_predictor(path), model_name=path.name)
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CONCURRENCY)
    try:
        demo.launch(server_name=host, server_port=port, share=share, max_file_size=MAX_FILE_SIZE,
                    prevent_thread_lock=not block, ssr_mode=False, quiet=False)  # fmt: skip
    except OSError as err:
        raise ServeError(
            f"cannot listen on {host}:{port}: {str(err).splitlines()[0]}; pick another with --port"
        ) from None
    return demo
