"""The Gradio app: its prediction function, a real server over HTTP, and a real browser."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist_keras import app

REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT_S = 180


# ---------------------------------------------------------------- helpers


def sketch(digit: np.ndarray, *, scale: int = 10) -> dict:
    """A Sketchpad value as Gradio 6 hands it over: black ink on a transparent RGBA layer."""
    big = np.kron(digit, np.ones((scale, scale), np.uint8))  # (280, 280) ink 0..255
    rgba = np.zeros((*big.shape, 4), np.uint8)
    rgba[..., 3] = big  # black strokes, alpha = ink, the rest transparent
    return {"background": None, "layers": [rgba], "composite": rgba}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(*args, cwd, timeout=300):
    cmd = [sys.executable, "-m", "mnist_keras.cli", *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def model_path(tflite_models) -> Path:
    """The int8 LiteRT model: what a deployed page runs."""
    return tflite_models["int8"]


@pytest.fixture(scope="module")
def classifier(model_path):
    return app.Classifier(app.load_predictor(model_path))


@pytest.fixture(scope="module")
def known_digits(mnist, classifier):
    """Test digits (image, label) that the model reads right on the raw 28x28 pixels."""
    proba = classifier.predictor.predict_proba(mnist.x_test[:200])
    right = np.flatnonzero(proba.argmax(axis=1) == mnist.y_test[:200])
    return [(mnist.x_test[i], int(mnist.y_test[i])) for i in right]


# ---------------------------------------------------------------- prediction function


def test_drawn_test_digits_match_the_model(mnist, classifier):
    digits, labels = mnist.x_test[:100], mnist.y_test[:100]
    raw = classifier.predictor.predict_proba(digits).argmax(axis=1)
    page, seen_images = [], []
    for digit in digits:
        label, seen, status = app.page_result(classifier, app.sketch_image(sketch(digit)), drawing=True)
        assert len(label) == 10 and abs(sum(label.values()) - 1) < 0.05  # int8 output: steps of 1/256
        assert seen.shape == (28 * app.VIEW_SCALE, 28 * app.VIEW_SCALE) and seen.dtype == np.uint8
        assert "The model reads a" in status
        page.append(int(max(label, key=label.get)))
        seen_images.append(seen[:: app.VIEW_SCALE, :: app.VIEW_SCALE])
    # the label is the model's answer for exactly the image shown beside it
    assert np.array_equal(classifier.predictor.predict_proba(np.stack(seen_images)).argmax(axis=1), page)
    # preprocessing maps an MNIST digit drawn 10x larger back to nearly its own pixels (measured: 93 of
    # 100 answers unchanged with the 1-epoch fixture model, whose boundaries are close to many digits)
    assert np.mean(np.array(page) == raw) >= 0.85
    assert np.mean(np.array(page) == labels) > 0.6  # chance is 0.1; the fixture model is tiny


def test_seen_image_is_the_model_input_enlarged(mnist, classifier):
    _, seen, _ = app.page_result(classifier, mnist.x_test[0], drawing=False)
    _, digit = classifier.classify(mnist.x_test[0])
    assert np.array_equal(seen[:: app.VIEW_SCALE, :: app.VIEW_SCALE], digit)
    assert np.array_equal(seen[3 :: app.VIEW_SCALE, 5 :: app.VIEW_SCALE], digit)  # square blocks, no smoothing


@pytest.mark.parametrize(
    "value",
    [
        {"background": app.blank_canvas(), "layers": [], "composite": app.blank_canvas()},  # the page's white pad
        {"background": None, "layers": [], "composite": np.zeros((400, 400, 4), np.uint8)},  # transparent
    ],
)
def test_empty_canvas_says_draw_a_digit(classifier, value):
    label, seen, status = app.page_result(classifier, app.sketch_image(value), drawing=True)
    assert label is None and seen is None
    assert "draw a digit" in status


def test_no_drawing_yet_and_unreadable_upload(classifier, tmp_path):
    assert app.page_result(
        classifier, app.sketch_image({"background": None, "layers": [], "composite": None}), drawing=True
    ) == (None, None, app.HELLO)
    bad = tmp_path / "photo.png"
    bad.write_bytes(b"this is not a picture")
    label, seen, status = app.page_result(classifier, str(bad), drawing=False)
    assert label is None and seen is None and "Could not read this file" in status


def test_default_model_order(tmp_path):
    with pytest.raises(app.ModelFileError, match="mnist-keras fit"):
        app.default_model(tmp_path)
    (tmp_path / "saved_models").mkdir()
    (tmp_path / "tflite").mkdir()
    older = tmp_path / "saved_models" / "older.keras"
    older.touch()
    assert app.default_model(tmp_path) == older
    (tmp_path / "tflite" / "m_float32.tflite").touch()
    assert app.default_model(tmp_path).name == "m_float32.tflite"
    (tmp_path / "tflite" / "m_int8.tflite").touch()
    assert app.default_model(tmp_path).name == "m_int8.tflite"
    (tmp_path / "saved_models" / "best.keras").touch()
    assert app.default_model(tmp_path).name == "best.keras"


# ---------------------------------------------------------------- the command


def test_serve_without_a_model_says_fit_first(tmp_path):
    result = run_cli("serve", "--port", free_port(), cwd=tmp_path)
    assert result.returncode == 2
    assert "Error:" in result.stderr and "mnist-keras fit" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_serve_on_a_busy_port_is_one_line(tmp_path, model_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run_cli("serve", "--model", model_path, "--port", busy.getsockname()[1], cwd=tmp_path)
    assert result.returncode != 0
    assert "already in use" in result.stderr and "--port" in result.stderr and "Traceback" not in result.stderr


# ---------------------------------------------------------------- a real server


@pytest.fixture(scope="module")
def server(model_path, tmp_path_factory):
    """``mnist-keras serve`` in a subprocess on a free loopback port; yields its URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mnist_keras.cli", "serve", "--model", str(model_path), "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert proc.poll() is None, f"server exited early:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"server did not start in {START_TIMEOUT_S} s:\n{log.read_text()}"
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def png(digit: np.ndarray, path: Path) -> Path:
    """A photo-like upload: dark digit on white paper, 4x larger."""
    Image.fromarray(255 - np.kron(digit, np.ones((4, 4), np.uint8))).save(path)
    return path


def test_api_classifies_known_digits_and_a_burst(server, known_digits, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    files = [(png(img, tmp_path / f"d{i}.png"), label) for i, (img, label) in enumerate(known_digits[:20])]
    for path, label in files[:5]:
        answer = client.predict(handle_file(str(path)), api_name="/classify")
        assert answer["label"] == str(label), answer
        assert len(answer["confidences"]) == app.TOP_CLASSES

    def call(item):  # a burst: 20 at once, more than the server runs concurrently
        return Client(server, verbose=False).predict(handle_file(str(item[0])), api_name="/classify")["label"]

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(call, files))
    assert len(answers) == len(files)
    assert (
        np.mean([a == str(label) for a, (_, label) in zip(answers, files, strict=True)]) >= 0.9
    )  # known digits, re-read from PNG


def test_api_blank_image_is_a_clear_error(server, tmp_path):
    from gradio_client import Client, handle_file

    blank = tmp_path / "blank.png"
    Image.new("L", (64, 64), 255).save(blank)
    with pytest.raises(Exception, match="No digit found"):
        Client(server, verbose=False).predict(handle_file(str(blank)), api_name="/classify")


# ---------------------------------------------------------------- a real browser


def launch_chromium(playwright):
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def draw(page, strokes):
    """Mouse strokes on the sketchpad; points are fractions of the visible canvas."""
    box = page.locator("#sketchpad canvas").first.bounding_box()
    for stroke in strokes:
        (x, y), rest = stroke[0], stroke[1:]
        page.mouse.move(box["x"] + box["width"] * x, box["y"] + box["height"] * y)
        page.mouse.down()
        for x, y in rest:
            page.mouse.move(box["x"] + box["width"] * x, box["y"] + box["height"] * y, steps=12)
        page.mouse.up()


def wait_for_answer(page, timeout_s: float = 60) -> str:
    """The big top label of the Prediction box, once the page shows one."""
    status = page.locator("#status")
    status.filter(has_text="The model reads a").wait_for(timeout=timeout_s * 1000)
    return status.locator("strong").inner_text().strip()


def test_browser_draw_a_one_then_clear(server):
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 860})
            page.goto(server)
            page.locator("#sketchpad canvas").first.wait_for(timeout=60_000)
            page.wait_for_timeout(1500)  # the pad loads its white page, then selects the brush
            assert page.get_by_text("select the draw tool").count() == 0  # ready to draw at once
            draw(page, [[(0.45, 0.2), (0.55, 0.2), (0.5, 0.8)]])  # a "1" with a little flag
            assert wait_for_answer(page) == "1"
            assert page.locator("#label").inner_text().count("%") == app.TOP_CLASSES
            assert page.locator("#seen img").count() == 1
            page.screenshot(path=str(ARTIFACTS / "app-drawn-1.png"))
            print(f"screenshot: {ARTIFACTS / 'app-drawn-1.png'}")

            page.locator("#clear").click()
            page.locator("#status").filter(has_text=app.HELLO).wait_for(timeout=30_000)
            # the pad is an output of Clear: wait until its progress timer is gone (seconds on a loaded machine)
            page.locator("#sketchpad .progress-text").wait_for(state="detached", timeout=60_000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(ARTIFACTS / "app-cleared.png"))
            assert page.get_by_text("select the draw tool").count() == 0  # still ready to draw
            # Known bug, left open: a digit drawn after Clear sometimes never gets an
            # answer (Gradio 6.31 sketchpad after its value is reset); see the README.
        finally:
            browser.close()


# ---------------------------------------------------------------- Hugging Face Space

NO_TF = """
import json, sys
class NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
            raise ImportError(f"blocked on purpose: {name}")
sys.meta_path.insert(0, NoTensorFlow())
import app  # the Space's app.py: builds the page around its model
from mnist_keras.app import Classifier, page_result
label, seen, status = page_result(Classifier(app.predictor), sys.argv[1], drawing=False)
print(json.dumps({"package": __import__("mnist_keras").__file__, "best": max(label, key=label.get),
                  "status": status, "seen": list(seen.shape), "tf": "tensorflow" in sys.modules}))
"""


def test_space_runs_without_tensorflow(tflite_models, known_digits, tmp_path):
    import json

    space = tmp_path / "space"
    result = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "make_space.py"), tflite_models["int8"], space],
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    files = sorted(str(p.relative_to(space)) for p in space.rglob("*") if p.is_file())
    assert {
        "app.py",
        "requirements.txt",
        "README.md",
        tflite_models["int8"].name,
        "mnist_keras/app.py",
        "mnist_keras/predict.py",
    } <= set(files)
    readme = (space / "README.md").read_text()
    front = readme.split("---")[1]
    for line in ("sdk: gradio", "app_file: app.py", "title: ", "emoji: ", "sdk_version: 6."):
        assert line in front
    assert "huggingface-cli upload" in readme and "git push" in readme
    requirements = (space / "requirements.txt").read_text()
    assert "ai-edge-litert" in requirements and "tensorflow" not in requirements

    image, label = known_digits[0]
    digit = png(image, tmp_path / "digit.png")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, "-c", NO_TF, str(digit)], cwd=space, env={**env, "GRADIO_ANALYTICS_ENABLED": "False"},
                         capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(answer["package"]).parent.parent == space  # the Space's copy, not the repo's package
    assert answer["tf"] is False and answer["best"] == str(label)
    assert answer["seen"] == [28 * app.VIEW_SCALE] * 2


def test_make_space_refuses_a_missing_model(tmp_path):
    result = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "make_space.py"), tmp_path / "nope.tflite", tmp_path / "space"],
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 2 and "model file not found" in result.stderr and "Traceback" not in result.stderr
