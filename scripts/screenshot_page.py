#!/usr/bin/env python
"""Take the README's picture of the page: a number written with the mouse, as the page reads it.

    python scripts/screenshot_page.py                      # the shipped model -> docs/page.png
    python scripts/screenshot_page.py MODEL --output x.png

Starts ``mnist-keras serve MODEL`` on a free port, opens it in Debian's
Chromium through Playwright (the test suite's browser set-up), writes the
digits of ``--number`` on the "Write a number" pad with the strokes of
``make_examples.py``, waits for the answer and saves a screenshot.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pen
from make_examples import STROKES, smooth

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip
TIMEOUT_MS = 120_000


def wait_for(url: str) -> None:
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the page at {url} did not start")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=str(REPO / "tflite" / "robust_int8.tflite"))
    parser.add_argument("--number", default="2026", help="digits to write (those make_examples.py has strokes for)")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "page.png")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    port = pen.free_port()
    server = subprocess.Popen([str(Path(sys.executable).with_name("mnist-keras")), "serve", args.model, "--port",
                               str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1100, "height": 760})
            page.goto(f"http://127.0.0.1:{port}/")
            page.locator("#pad canvas[data-ready]").wait_for(timeout=TIMEOUT_MS)
            page.get_by_role("tab", name="Write a number").click()
            digits = [smooth(STROKES[int(d)], steps=6) for d in args.number]
            pen.write(page, "#number-pad", digits, width=1 / (len(digits) + 1), steps=2, timeout_ms=TIMEOUT_MS)
            page.locator("#status").filter(has_text="The model reads").wait_for(timeout=TIMEOUT_MS)
            page.locator("#number-view img").wait_for(timeout=TIMEOUT_MS)
            time.sleep(1.0)  # the last image fades in
            print(page.locator("#status").inner_text())
            page.screenshot(path=str(args.output))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
