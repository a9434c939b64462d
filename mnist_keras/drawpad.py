"""The page's drawing pad: a plain HTML canvas inside ``gr.HTML``, and the decoding of what it sends.

Why not ``gr.Sketchpad``: in Gradio 6.31 every stroke makes it render the
background, each layer and the composite as full-size PNGs in the browser
(WebGL read-backs), upload them in separate requests and only then send the
event; and as the output of a Clear event its loading overlay could stay over
the canvas for good, every server event answered, so the next stroke landed on
the overlay and was never answered. This pad keeps the strokes in
the browser, paints them on a canvas, and on each pen-up sets its value to one
small PNG (a data URL of ``Pad.ship_width_px`` x ``Pad.ship_height_px`` pixels, a few kB), which
Gradio sends with the event itself. Clearing is done in the browser: the bin icon, the undo icon and the
page's Clear button only set the value to ``""``.

The value is a string: ``""`` for a blank pad, else ``data:image/png;base64,...``.
This module needs only the standard library; the page (``app.py``) owns Gradio.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from .preprocess import ImageError

PNG_DATA_URL = "data:image/png;base64,"
MAX_VALUE_CHARS = 1_000_000  # a pad's PNG is a few kB; anything this large is not from the pad
PEN_SHARE = 0.09  # pen width as a share of the pad's height: a digit filling the height has MNIST-like strokes

# icons drawn with lines, not emoji: an emoji needs a font the machine may not have
_ICON = (
    '<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" stroke-width="2" '
    'stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">'
)
UNDO_SVG = _ICON + '<path d="M9 14 4 9l5-5"/><path d="M4 9h10a6 6 0 0 1 0 12h-3"/></svg>'
BIN_SVG = _ICON + '<path d="M3 6h18"/><path d="M8 6V4h8v2"/><path d="M6 6l1 15h10l1-15"/></svg>'


@dataclass(frozen=True)
class Pad:
    """One drawing pad: its canvas, the size of the PNG it sends, and what it asks for.

    The digit pad is square; the number pad is as wide as four digits, so a
    person writes a number on one line. Both send a PNG scaled down to
    ``ship_height_px`` (4x MNIST's 28 for the digit pad), a few kB.
    """

    name: str  # CSS class suffix: two pads on one page keep their own styles
    width_px: int
    height_px: int
    ship_height_px: int
    label: str

    @property
    def pen_px(self) -> int:
        return round(PEN_SHARE * self.height_px)

    @property
    def ship_width_px(self) -> int:
        return self.ship_height_px * self.width_px // self.height_px

    @property
    def html(self) -> str:
        return f"""
<div class="pad pad-{self.name}">
  <canvas width="{self.width_px}" height="{self.height_px}" aria-label="Drawing area: {self.label}"></canvas>
  <div class="tools">
    <button type="button" class="undo" aria-label="Undo" title="Undo the last stroke">{UNDO_SVG}</button>
    <button type="button" class="bin" aria-label="Clear drawing" title="Clear the drawing">{BIN_SVG}</button>
  </div>
</div>
"""

    @property
    def css(self) -> str:
        return f"""
.pad-{self.name} {{ position: relative; width: 100%; max-width: {self.width_px}px; margin: 0 auto; }}
.pad-{self.name} canvas {{ display: block; width: 100%; aspect-ratio: {self.width_px} / {self.height_px}; touch-action: none;
          cursor: crosshair; background: #fff; border: 1px solid var(--border-color-primary); border-radius: 4px; }}
.pad-{self.name} .tools {{ position: absolute; top: 6px; right: 6px; display: flex; gap: 4px; }}
.pad-{self.name} .tools button {{ width: 34px; height: 34px; display: flex; align-items: center; justify-content: center;
                 color: #333; cursor: pointer; background: #f3f3f3; border: 1px solid #ccc; border-radius: 4px; }}
.pad-{self.name} .tools button:hover {{ background: #e4e4e4; }}
.pad-{self.name} .tools svg {{ flex: none; width: 18px; height: 18px; }}
"""

    @property
    def js(self) -> str:
        return _JS.format(ship_width=self.ship_width_px, ship_height=self.ship_height_px, pen=self.pen_px)


DIGIT_PAD = Pad("digit", 400, 400, 112, "draw a digit")
NUMBER_PAD = Pad("number", 1200, 300, 112, "write a number")

# Runs once when the component is mounted (gr.HTML's js_on_load: element, props, watch are given).
# Strokes are kept as point lists so undo can repaint; setting props.value makes Gradio fire
# the component's change event with that value; a value set to "" from outside wipes the canvas.
_JS = """
const canvas = element.querySelector("canvas");
const ctx = canvas.getContext("2d");
const small = document.createElement("canvas");
small.width = {ship_width};
small.height = {ship_height};
const sctx = small.getContext("2d");
const strokes = [];
let current = null;
function blank() {{
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
}}
function pen() {{
  ctx.strokeStyle = ctx.fillStyle = "#000";
  ctx.lineWidth = {pen};
  ctx.lineCap = ctx.lineJoin = "round";
}}
function dot(p) {{
  pen();
  ctx.beginPath();
  ctx.arc(p[0], p[1], {pen} / 2, 0, 2 * Math.PI);
  ctx.fill();
}}
function segment(a, b) {{
  pen();
  ctx.beginPath();
  ctx.moveTo(a[0], a[1]);
  ctx.lineTo(b[0], b[1]);
  ctx.stroke();
}}
function paint() {{
  blank();
  for (const s of strokes) {{
    dot(s[0]);
    for (let i = 1; i < s.length; i++) segment(s[i - 1], s[i]);
  }}
}}
function at(ev) {{
  const r = canvas.getBoundingClientRect();
  return [(ev.clientX - r.left) * canvas.width / r.width, (ev.clientY - r.top) * canvas.height / r.height];
}}
function encoded() {{
  if (!strokes.length) return "";
  sctx.imageSmoothingEnabled = true;
  sctx.imageSmoothingQuality = "high";
  sctx.drawImage(canvas, 0, 0, small.width, small.height);
  return small.toDataURL("image/png");
}}
function ship() {{
  props.value = encoded();
}}
function wipe() {{
  strokes.length = 0;
  current = null;
  paint();
}}

canvas.addEventListener("pointerdown", (ev) => {{
  if (ev.button !== 0) return;
  ev.preventDefault();
  canvas.setPointerCapture(ev.pointerId);
  current = [at(ev)];
  strokes.push(current);
  dot(current[0]);
}});
canvas.addEventListener("pointermove", (ev) => {{
  if (!current) return;
  const p = at(ev);
  segment(current[current.length - 1], p);
  current.push(p);
}});
function pen_up() {{
  if (!current) return;
  current = null;
  ship();
}}
canvas.addEventListener("pointerup", pen_up);
canvas.addEventListener("pointercancel", pen_up);
element.querySelector(".bin").addEventListener("click", () => {{ wipe(); ship(); }});
element.querySelector(".undo").addEventListener("click", () => {{ strokes.pop(); paint(); ship(); }});
watch("value", () => {{ if (!props.value && strokes.length) wipe(); }});
canvas.dataset.ready = "1";
paint();
"""


def drawing_png(value: object) -> bytes | None:
    """The PNG bytes of a pad value, or None for a blank pad.

    The value arrives from the browser, so anything may come: it is checked
    here and a bad one becomes an ImageError (a message on the page), never a crash.

    Raises:
        ImageError: the value is not a PNG data URL of reasonable size.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.startswith(PNG_DATA_URL) or len(value) > MAX_VALUE_CHARS:
        raise ImageError("cannot read the drawing: the pad sent something that is not a small PNG")
    try:
        return base64.b64decode(value[len(PNG_DATA_URL) :], validate=True)
    except (binascii.Error, ValueError):
        raise ImageError("cannot read the drawing: its PNG data is not valid base64") from None


def to_data_url(png: bytes) -> str:
    """PNG bytes -> a pad value, as the browser sends it (for tests and the benchmark)."""
    return PNG_DATA_URL + base64.b64encode(png).decode("ascii")
