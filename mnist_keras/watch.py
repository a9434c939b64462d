"""Watch mode: read frames from a camera, a video or a folder, and print a reading when it changes and holds.

A camera pointed at a meter or a whiteboard sees the same number for many
frames, and a hand moving through the picture for a few. So a reading is
printed only once it has been the same for ``stable`` frames in a row, and
only when it differs from the last one printed; an empty reading (no digit
in view) counts as a reading too, so a number that leaves the picture is
reported as gone. The frame rate is reported at the end (and on Ctrl-C).

Sources, by what ``--watch`` is given:

- ``picamera``: the Raspberry Pi camera, through picamera2 (on Raspberry Pi
  OS: ``sudo apt install python3-picamera2``);
- a number (``0``): a USB camera, through OpenCV's ``VideoCapture``;
- a video file: through OpenCV (``pip install opencv-python-headless`` or
  ``sudo apt install python3-opencv``);
- a folder: its image files in sorted order, one frame each.

numpy and the standard library only (OpenCV and picamera2 when their source
is used): this module is part of the edge bundle.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from .classify import is_image_file
from .errors import MissingExtraError, MnistKerasError
from .preprocess import ImageError, load_grayscale

PICAMERA = "picamera"
DEFAULT_STABLE_FRAMES = 3  # a reading is printed once it has held this many frames in a row
CAMERA_SIZE = (640, 480)  # px: plenty for digits that fill a good part of the picture
OPENCV_HINT = "pip install opencv-python-headless (or on Raspberry Pi OS: sudo apt install python3-opencv)"
PICAMERA_HINT = "on Raspberry Pi OS: sudo apt install python3-picamera2"

Frame = tuple[str, np.ndarray]  # (name for the output, (H, W) grey or (H, W, 3) RGB pixels)
Read = Callable[[np.ndarray], str]  # a frame -> its reading ("" when nothing is readable)


# ------------------------------------------------------------------- sources


def frames(source: str) -> Iterator[Frame]:
    """The frames of ``source`` (see the module docstring), until it ends.

    Raises:
        MnistKerasError: the source does not exist or cannot be opened.
        MissingExtraError: OpenCV or picamera2 is needed and not installed.
    """
    if source == PICAMERA:
        return _picamera_frames()
    path = Path(source)
    if path.is_dir():
        return _folder_frames(path)
    if source.isdigit() or path.is_file():
        return _opencv_frames(int(source) if source.isdigit() else str(path))
    raise MnistKerasError(
        f"{source}: no such folder, video file or camera; give a folder of images, a video file, "
        f"a camera number (0) or '{PICAMERA}'"
    )


def _folder_frames(folder: Path) -> Iterator[Frame]:
    paths = sorted(p for p in folder.iterdir() if is_image_file(p))
    if not paths:
        raise MnistKerasError(f"{folder}: no image files to watch")
    for path in paths:
        try:
            yield str(path), load_grayscale(path)
        except ImageError:
            yield str(path), np.zeros((1, 1), np.uint8)  # an unreadable frame reads as nothing


def _opencv_frames(device: int | str) -> Iterator[Frame]:
    try:
        import cv2
    except ImportError:
        raise MissingExtraError(f"watching a video or a USB camera needs OpenCV: {OPENCV_HINT}") from None
    capture = cv2.VideoCapture(device)
    if not capture.isOpened():
        raise MnistKerasError(f"{device}: cannot open this video or camera; check the path or the camera number")
    try:
        index = 0
        while True:
            ok, bgr = capture.read()
            if not ok:
                return
            yield f"frame {index}", bgr[..., ::-1]  # OpenCV gives BGR
            index += 1
    finally:
        capture.release()


def _picamera_frames() -> Iterator[Frame]:
    try:
        from picamera2 import Picamera2
    except ImportError:
        raise MissingExtraError(f"watching the Raspberry Pi camera needs picamera2: {PICAMERA_HINT}") from None
    camera = Picamera2()
    camera.configure(camera.create_video_configuration(main={"format": "RGB888", "size": CAMERA_SIZE}))
    camera.start()
    try:
        index = 0
        while True:
            yield f"frame {index}", camera.capture_array()[..., ::-1]  # libcamera's RGB888 is BGR in memory
            index += 1
    finally:
        camera.stop()


# --------------------------------------------------------------- stable readings


@dataclass
class Stable:
    """Reports a reading once it has held ``frames`` frames in a row and differs from the last reported."""

    frames: int = DEFAULT_STABLE_FRAMES
    candidate: str | None = None
    held: int = 0
    reported: str | None = None

    def update(self, reading: str) -> str | None:
        """Feed one frame's reading; the reading to print now, or None."""
        self.held = self.held + 1 if reading == self.candidate else 1
        self.candidate = reading
        if self.held >= self.frames and reading != self.reported:
            self.reported = reading
            return reading
        return None


@dataclass
class Summary:
    """What a watch saw: frames read, seconds, the frame rate, the readings printed."""

    frames: int = 0
    seconds: float = 0.0
    readings: list[str] = field(default_factory=list)

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        return {"frames": self.frames, "seconds": round(self.seconds, 3),
                "frames_per_second": round(self.frames_per_second, 2), "readings": self.readings}  # fmt: skip


def _line(name: str, elapsed: float, reading: str, json_lines: bool) -> str:
    if json_lines:
        return json.dumps({"frame": name, "seconds": round(elapsed, 3), "reading": reading})
    return f"{elapsed:7.2f} s  {name}: {reading if reading else '(nothing readable)'}"


def watch(source: str, read: Read, *, stable: int = DEFAULT_STABLE_FRAMES, json_lines: bool = False,
          max_frames: int | None = None, out: TextIO | None = None, err: TextIO | None = None) -> Summary:  # fmt: skip
    """Read ``source`` frame by frame, printing each new stable reading; return what was seen.

    Stops when the source ends, after ``max_frames``, or on Ctrl-C; the frame
    rate (every frame read and read, preprocessing and model included) goes
    to ``err`` in text mode, to ``out`` as a last JSON line in JSON mode.
    """
    out, err = out or sys.stdout, err or sys.stderr
    summary, stability, started = Summary(), Stable(stable), time.perf_counter()
    try:
        for name, frame in frames(source):
            reading = read(frame)
            summary.frames += 1
            summary.seconds = time.perf_counter() - started
            if stability.update(reading) is not None:
                summary.readings.append(reading)
                print(_line(name, summary.seconds, reading, json_lines), file=out, flush=True)
            if max_frames is not None and summary.frames >= max_frames:
                break
    except KeyboardInterrupt:
        pass
    summary.seconds = time.perf_counter() - started
    if json_lines:
        print(json.dumps({"watch": summary.as_dict()}), file=out)
    else:
        print(f"watched {summary.frames} frames in {summary.seconds:.1f} s: "
              f"{summary.frames_per_second:.1f} frames/s", file=err)  # fmt: skip
    return summary


def is_source(text: str) -> bool:
    """Whether ``text`` can name a watch source (for clear errors before any model loads)."""
    return text == PICAMERA or text.isdigit() or os.path.exists(text)
