"""The Gradio app: its prediction function, a real server over HTTP, and a real browser."""

from __future__ import annotations

import io
import json
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
from script_runs import load_script

from mnist_keras import app, drawpad
from mnist_keras.errors import ServeError

pen = load_script("pen")

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


def pad_value(image: np.ndarray) -> str:
    """A pad value as the browser sends it: a PNG data URL."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return drawpad.to_data_url(buffer.getvalue())


def sketch(digit: np.ndarray, *, scale: int = 4) -> str:
    """A drawing of an MNIST digit as the pad ships it: black ink on white, 112x112."""
    return pad_value(255 - np.kron(digit, np.ones((scale, scale), np.uint8)))


def run_cli(*args, cwd, timeout=300):
    cmd = [sys.executable, "-m", "mnist_keras.cli", *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


READER_IMAGES, READER_EPOCHS = 12_000, 2  # enough to read clean drawings of all ten digits


@pytest.fixture(scope="module")
def model_path(data_dir, tmp_path_factory) -> Path:
    """An int8 LiteRT model (what a deployed page runs) that reads drawn digits reliably.

    The session's 3,000-image, 1-epoch model is too weak for that: in a trial it
    misread clean drawings of 0, 2, 4, 5, 8 and 9, which would make the browser
    test about the model, not the page. Two epochs on 12,000 images read all ten
    (checked with two seeds).
    """
    from mnist_keras.export import export
    from mnist_keras.train import FitConfig, fit

    root = tmp_path_factory.mktemp("reader")
    config = FitConfig(
        model="lamontagne", overrides={"epochs": READER_EPOCHS}, limit=READER_IMAGES, data_dir=str(data_dir),
        run_dir=str(root / "run"), saved_models_dir=str(root / "saved_models"), verbose=0,
    )  # fmt: skip
    result = export(fit(config), variants=("int8",), output_dir=root / "tflite", data_dir=data_dir,
                    calibration_samples=100, test_limit=200)  # fmt: skip
    return result.output_dir / "run_int8.tflite"


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
        label, seen, status = app.draw_result(classifier, sketch(digit))
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
    "image",
    [
        np.full((112, 112), 255, np.uint8),  # the pad's white page, untouched
        np.zeros((112, 112, 4), np.uint8),  # fully transparent
    ],
)
def test_empty_canvas_says_draw_a_digit(classifier, image):
    label, seen, status = app.draw_result(classifier, pad_value(image))
    assert label is None and seen is None
    assert "draw a digit" in status


def test_no_drawing_yet_and_unreadable_upload(classifier, tmp_path):
    assert app.draw_result(classifier, "") == (None, None, app.HELLO)
    assert app.draw_result(classifier, None) == (None, None, app.HELLO)
    bad = tmp_path / "photo.png"
    bad.write_bytes(b"this is not a picture")
    label, seen, status = app.page_result(classifier, str(bad), drawing=False)
    assert label is None and seen is None and "Could not read this file" in status


@pytest.mark.parametrize(
    "value",
    [
        "hello",  # not a data URL
        12,  # not even a string
        drawpad.PNG_DATA_URL + "not base64!",
        drawpad.to_data_url(b"not a png"),  # base64 of something that is no image
        drawpad.PNG_DATA_URL + "A" * drawpad.MAX_VALUE_CHARS,  # far larger than the pad sends
    ],
)
def test_a_forged_pad_value_is_a_message(classifier, value):
    label, seen, status = app.draw_result(classifier, value)
    assert label is None and seen is None
    assert status.startswith("Could not read the drawing") and "\n" not in status


def test_default_model_order(tmp_path):
    from mnist_keras.errors import ModelFileError

    with pytest.raises(ModelFileError, match="mnist-keras fit"):
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
    (tmp_path / "saved_models" / "robust.keras").touch()
    assert app.default_model(tmp_path).name == "robust.keras"
    (tmp_path / "tflite" / "robust_int8.tflite").touch()
    assert app.default_model(tmp_path).name == "robust_int8.tflite"


# ---------------------------------------------------------------- the command


def test_serve_without_a_model_says_fit_first(tmp_path):
    result = run_cli("serve", "--port", pen.free_port(), cwd=tmp_path)
    assert result.returncode == 2
    assert "Error:" in result.stderr and "mnist-keras fit" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_serve_on_a_busy_port_is_one_line(tmp_path, model_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run_cli("serve", model_path, "--port", busy.getsockname()[1], cwd=tmp_path)
    assert result.returncode == ServeError.exit_code == 2  # ServeError lives in errors.py with the others
    assert "already in use" in result.stderr and "--port" in result.stderr and "Traceback" not in result.stderr


# ---------------------------------------------------------------- a real server


@pytest.fixture(scope="module")
def server(model_path, tmp_path_factory):
    """``mnist-keras serve`` in a subprocess on a free loopback port; yields its URL."""
    port = pen.free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mnist_keras.cli", "serve", str(model_path), "--port", str(port)],
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
        assert len(answer["confidences"]) == app.DEFAULT_TOP_K

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


# One stroke per digit, as many people write them (points are fractions of the pad's side):
# a single pen-up per digit means the first answer after it is the answer to the whole digit.
DIGIT_STROKES: dict[int, list[tuple[float, float]]] = {
    0: [(0.5 + 0.17 * np.sin(t), 0.5 - 0.32 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 25)],
    1: [(0.45, 0.2), (0.55, 0.15), (0.5, 0.85)],
    2: [(0.32, 0.32), (0.38, 0.2), (0.5, 0.15), (0.62, 0.2), (0.67, 0.32), (0.62, 0.45), (0.3, 0.82), (0.72, 0.82)],
    3: [(0.32, 0.2), (0.5, 0.14), (0.65, 0.22), (0.65, 0.35), (0.48, 0.47), (0.66, 0.58), (0.67, 0.74),
        (0.5, 0.85), (0.32, 0.8)],
    4: [(0.32, 0.15), (0.3, 0.55), (0.72, 0.55), (0.64, 0.55), (0.64, 0.15), (0.64, 0.88)],
    5: [(0.7, 0.15), (0.36, 0.15), (0.34, 0.48), (0.45, 0.43), (0.6, 0.45), (0.69, 0.6), (0.65, 0.77),
        (0.5, 0.86), (0.32, 0.8)],
    6: [(0.62, 0.14), (0.45, 0.3), (0.35, 0.5), (0.34, 0.7), (0.45, 0.85), (0.6, 0.83), (0.66, 0.68),
        (0.58, 0.55), (0.45, 0.54), (0.35, 0.62)],
    7: [(0.3, 0.16), (0.7, 0.16), (0.45, 0.86)],
    8: [(0.62, 0.22), (0.5, 0.14), (0.37, 0.22), (0.38, 0.36), (0.5, 0.48), (0.64, 0.6), (0.65, 0.76),
        (0.5, 0.86), (0.35, 0.76), (0.36, 0.6), (0.5, 0.48), (0.62, 0.36), (0.62, 0.22)],
    9: [(0.66, 0.22), (0.52, 0.14), (0.38, 0.2), (0.36, 0.34), (0.48, 0.44), (0.62, 0.38), (0.66, 0.22),
        (0.64, 0.55), (0.6, 0.88)],
}  # fmt: skip
SEQUENCE = (1, 7, 0, 3, 2, 4, 5, 6, 8, 9, 1, 7, 0, 3)  # 14 drawings, a Clear of some kind after each
UPLOAD_AFTER = 5  # the Upload-tab round trip comes after this many drawings
ANSWER_TIMEOUT_MS = 60_000  # waits are on conditions; this bound only ends a hung page
PAD_IS_BLANK = """() => {
  const c = document.querySelector('#pad canvas');
  const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  for (let i = 0; i < px.length; i += 4) if (px[i] !== 255) return false;
  return true;
}"""


def draw(page, points) -> None:
    """One pen stroke through the points on the pad, with the mouse."""
    pen.stroke(page, "#pad", points, steps=8, timeout_ms=ANSWER_TIMEOUT_MS)


def wait_for_answer(page) -> str:
    """The digit the status line names, once the page shows an answer."""
    status = page.locator("#status")
    status.filter(has_text="The model reads a").wait_for(timeout=ANSWER_TIMEOUT_MS)
    return status.locator("strong").inner_text().strip()


def wait_for_greeting(page) -> None:
    """The page is back to its blank state: greeting shown and every pixel of the pad white."""
    page.locator("#status").filter(has_text=app.HELLO).wait_for(timeout=ANSWER_TIMEOUT_MS)
    page.wait_for_function(PAD_IS_BLANK, timeout=ANSWER_TIMEOUT_MS)


def check_full_answer(page) -> None:
    """Top 3 with percentages and the 28x28 view beside them (waited for: outputs render one by one)."""
    page.locator("#seen img").wait_for(timeout=ANSWER_TIMEOUT_MS)
    top = f"() => document.querySelector('#label').innerText.split('%').length - 1 === {app.DEFAULT_TOP_K}"
    page.wait_for_function(top, timeout=ANSWER_TIMEOUT_MS)


def upload_round_trip(page, image: Path, digit: int) -> None:
    """Upload tab: a photo is answered; Clear empties it; back to the pad, still ready."""
    page.get_by_role("tab", name="Upload a photo").click()
    page.locator("#upload input[type=file]").set_input_files(str(image))
    assert wait_for_answer(page) == str(digit)
    check_full_answer(page)
    page.locator("#clear").click()
    page.locator("#status").filter(has_text=app.HELLO).wait_for(timeout=ANSWER_TIMEOUT_MS)
    page.get_by_role("tab", name="Draw").click()
    page.locator("#pad canvas").wait_for(state="visible", timeout=ANSWER_TIMEOUT_MS)


def new_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1200, "height": 860})
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(url)
    page.locator("#pad canvas[data-ready]").wait_for(timeout=ANSWER_TIMEOUT_MS)
    return page, errors


def test_browser_draws_digits_with_clear_between(server, known_digits, tmp_path):
    """A person's session: 14 digits, Clear button and bin icon in turn, an undo, an upload."""
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    image, image_digit = known_digits[0]
    photo = png(image, tmp_path / "photo.png")
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        step, page, errors = "opening the page", None, []
        try:
            page, errors = new_page(browser, server)
            step = "drawing a 7, then undo"
            draw(page, DIGIT_STROKES[7])  # undo: the stroke goes, so does the answer
            assert wait_for_answer(page) == "7"
            page.get_by_role("button", name="Undo", exact=True).click()
            wait_for_greeting(page)
            answers = []
            for i, digit in enumerate(SEQUENCE):
                step = f"drawing {i + 1} of {len(SEQUENCE)} (a {digit}), answers so far {answers}"
                draw(page, DIGIT_STROKES[digit])
                answers.append(wait_for_answer(page))
                assert answers[-1] == str(digit), step
                check_full_answer(page)
                if i == 0:
                    page.screenshot(path=str(ARTIFACTS / "app-drawn.png"))
                if i % 2 == 0:
                    step = f"page's Clear after drawing {i + 1}"
                    page.locator("#clear").click()
                else:
                    step = f"pad's bin after drawing {i + 1}"
                    page.get_by_role("button", name="Clear drawing", exact=True).click()
                wait_for_greeting(page)
                if i + 1 == UPLOAD_AFTER:
                    step = "the Upload-tab round trip"
                    upload_round_trip(page, photo, image_digit)
            page.screenshot(path=str(ARTIFACTS / "app-cleared.png"))
            assert answers == [str(d) for d in SEQUENCE]
            assert errors == []
        except Exception as err:
            if page is None:
                raise
            page.screenshot(path=str(ARTIFACTS / "app-failed.png"))
            status = page.locator("#status").inner_text()
            ink = not page.evaluate(PAD_IS_BLANK)  # a stroke that never reached the pad, or an answer lost after it
            raise AssertionError(f"{step}: {err}\nstatus: {status!r}; ink on the pad: {ink}; page errors: {errors}; "
                                 f"screenshot: {ARTIFACTS / 'app-failed.png'}") from err  # fmt: skip
        finally:
            browser.close()


NUMBER = (1, 7, 0)  # written on the wide pad, one digit a quarter of its width apart


def write_number(page, digits) -> None:
    """Each digit's one stroke on the number pad, its square's points mapped into its own quarter
    (the pad is four digits wide)."""
    pen.write(page, "#number-pad", [DIGIT_STROKES[d] for d in digits], width=1 / 4, steps=8,
              timeout_ms=ANSWER_TIMEOUT_MS)  # fmt: skip


def test_browser_reads_a_written_number_with_its_boxes(server, tmp_path):
    """The 'Write a number' tab: three digits written on the wide pad are read back as one number."""
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    expected = "".join(map(str, NUMBER))
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page, errors = new_page(browser, server)
            page.get_by_role("tab", name="Write a number").click()
            write_number(page, NUMBER)
            status = page.locator("#status")
            status.filter(has_text=f"The model reads {expected}").wait_for(timeout=ANSWER_TIMEOUT_MS)
            page.locator("#number-view img").wait_for(timeout=ANSWER_TIMEOUT_MS)  # the boxes, drawn
            page.screenshot(path=str(ARTIFACTS / "app-number.png"))
            page.locator("#clear").click()
            status.filter(has_text=app.HELLO).wait_for(timeout=ANSWER_TIMEOUT_MS)
            assert errors == []
        except Exception as err:
            page.screenshot(path=str(ARTIFACTS / "app-number-failed.png"))
            raise AssertionError(f"{err}\nstatus: {page.locator('#status').inner_text()!r}") from err
        finally:
            browser.close()


def test_api_reads_a_number(server, known_digits, tmp_path):
    from gradio_client import Client, handle_file

    digits = [image for image, _ in known_digits[:3]]
    strip = np.concatenate([np.pad(255 - image, ((4, 4), (4, 4)), constant_values=255) for image in digits], axis=1)
    path = tmp_path / "number.png"
    Image.fromarray(strip.astype(np.uint8)).resize((strip.shape[1] * 4, strip.shape[0] * 4)).save(path)
    answer = Client(server, verbose=False).predict(handle_file(str(path)), api_name="/read_number")
    assert answer["text"] == "".join(str(label) for _, label in known_digits[:3])
    assert len(answer["digits"]) == 3 and all(len(d["box"]) == 4 for d in answer["digits"])


def test_benchmark_runs_and_writes_its_section(model_path, tmp_path):
    """The latency benchmark end to end on a tiny setting (its figures are printed, never asserted)."""
    docs = tmp_path / "BENCHMARKS.md"
    docs.write_text("# Performance benchmarks\n\n## Training\n\nkept as it is\n")
    cmd = [sys.executable, str(REPO_ROOT / "scripts" / "benchmark_app.py"), "--model", str(model_path),
           "--rounds", "1", "--drawings", "2", "--write", str(docs), "--json", str(tmp_path / "b.json")]  # fmt: skip
    for _ in range(2):  # the second run replaces the section, it does not add another
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    text = docs.read_text()
    assert text.startswith("# Performance benchmarks") and "kept as it is" in text
    assert text.count("## Web page: mouse-up to answer") == 1 and "--rounds 1 --drawings 2" in text
    report = json.loads((tmp_path / "b.json").read_text())
    assert [len(round_) for round_ in report["drawings_ms"]] == [2]
    assert all(0 < drawing["total"] < 60_000 for drawing in report["drawings_ms"][0])


def test_benchmark_with_a_wrong_model_is_one_line_not_a_traceback(tmp_path):
    docs = tmp_path / "BENCHMARKS.md"
    cmd = [sys.executable, str(REPO_ROOT / "scripts" / "benchmark_app.py"), "--model", str(tmp_path / "missing.tflite"),
           "--rounds", "1", "--drawings", "1", "--write", str(docs)]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"Error: {tmp_path / 'missing.tflite'}: model file not found; "
                                                  "check the path (export one with 'mnist-keras export')"]  # fmt: skip
    assert not docs.exists()


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
modules = [m.__file__ for name, m in sys.modules.items() if name.split(".")[0] == "mnist_keras"]
print(json.dumps({"package": __import__("mnist_keras").__file__, "modules": modules, "best": max(label, key=label.get),
                  "status": status, "seen": list(seen.shape), "tf": "tensorflow" in sys.modules}))
"""


def test_space_runs_without_tensorflow(tflite_models, known_digits, tmp_path):
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
    # every module the page imported is the Space's copy (an editable install can fill gaps from the repo)
    assert all(Path(module).parent.parent == space for module in answer["modules"]), answer["modules"]
    assert answer["tf"] is False and answer["best"] == str(label)
    assert answer["seen"] == [28 * app.VIEW_SCALE] * 2


def test_make_space_refuses_a_missing_model(tmp_path):
    result = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "make_space.py"), tmp_path / "nope.tflite", tmp_path / "space"],
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 2 and "model file not found" in result.stderr and "Traceback" not in result.stderr
