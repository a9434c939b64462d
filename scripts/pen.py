"""Writing on the page's pads in a real browser (Playwright): one pen for the page's benchmark
(``benchmark_app.py``), its screenshot (``screenshot_page.py``) and the browser tests (tests/test_app.py).

Points are fractions of the pad's width and height, so a stroke lands in the same place
whatever size the browser lays the pad out at.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

Points = Sequence[tuple[float, float]]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, for a ``mnist-keras serve`` to take."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stroke(page, pad: str, points: Points, *, steps: int, timeout_ms: int) -> None:
    """One pen stroke through ``points`` on the canvas of the pad ``pad`` (a CSS selector).

    The pen goes down through ``hover``, which waits until the canvas is visible, stable
    (no layout shift under way) and the topmost element at that point; ``steps`` mouse
    moves are made between neighbouring points.
    """
    canvas = page.locator(f"{pad} canvas")
    size = canvas.bounding_box()
    canvas.hover(position={"x": size["width"] * points[0][0], "y": size["height"] * points[0][1]}, timeout=timeout_ms)
    box = canvas.bounding_box()  # where it is now that it is stable
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + box["width"] * x, box["y"] + box["height"] * y, steps=steps)
    page.mouse.up()


def write(page, pad: str, digits: Sequence[Points], *, width: float, steps: int, timeout_ms: int) -> None:
    """Digits side by side on a wide pad, one stroke each: digit i's points (fractions of a
    square) are squeezed into ``width`` of the pad around (i + 1) / (len(digits) + 1), which
    leaves margins for the pad's corner icons."""
    page.locator(f"{pad} canvas").wait_for(state="visible", timeout=timeout_ms)
    for i, points in enumerate(digits):
        centre = (i + 1) / (len(digits) + 1)
        stroke(page, pad, [(centre + (x - 0.5) * width, y) for x, y in points], steps=steps, timeout_ms=timeout_ms)
