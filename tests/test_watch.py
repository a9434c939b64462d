"""Watch mode: frames from a folder or a video, readings printed once stable and changed, the frame rate."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from mnist_keras.errors import MissingExtraError, MnistKerasError
from mnist_keras.watch import Stable, frames, watch

# What a camera sees over time: nothing, a flicker, a 3 that holds, a hand passing, a 7 that holds.
SCRIPT = ["", "", "3", "3", "3", "3", "9", "7", "7", "7", "7", "7"]


def test_a_reading_is_printed_once_it_holds_and_only_when_it_changes():
    stable = Stable(frames=3)
    printed = [reading for reading in (stable.update(r) for r in SCRIPT) if reading is not None]
    assert printed == ["3", "7"]  # "" held only 2 frames, "9" one: neither is printed
    stable = Stable(frames=1)
    assert [r for r in (stable.update(x) for x in ["", "", "5", "5", ""]) if r is not None] == ["", "5", ""]


def _grey_frames(levels: list[int], shape=(48, 64)) -> list[np.ndarray]:
    return [np.full(shape, level, np.uint8) for level in levels]


def _by_brightness(frame: np.ndarray) -> str:
    """A stand-in reader: each scripted reading is drawn as a grey level (tests the frames, not the model)."""
    level = int(round(float(np.mean(frame)) / 20))
    return "" if level == 0 else str(level - 1)


def _levels(script: list[str]) -> list[int]:
    return [0 if r == "" else 20 * (int(r) + 1) for r in script]


def test_a_folder_is_watched_in_sorted_order(tmp_path):
    for i, frame in enumerate(_grey_frames(_levels(SCRIPT))):
        Image.fromarray(frame).save(tmp_path / f"frame_{i:03d}.png")
    (tmp_path / "notes.txt").write_text("not a frame")
    out, err = io.StringIO(), io.StringIO()
    summary = watch(str(tmp_path), _by_brightness, stable=3, out=out, err=err)
    assert summary.readings == ["3", "7"] and summary.frames == len(SCRIPT)
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("frame_004.png: 3") and lines[1].endswith("frame_009.png: 7")  # held 3 frames
    assert err.getvalue().startswith(f"watched {len(SCRIPT)} frames in ") and "frames/s" in err.getvalue()


def test_a_video_is_watched_frame_by_frame_with_json_lines(tmp_path):
    cv2 = pytest.importorskip("cv2")  # the dev extra installs it; on a device it is optional
    video = tmp_path / "meter.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for frame in _grey_frames(_levels(SCRIPT)):
        writer.write(np.repeat(frame[..., None], 3, axis=2))
    writer.release()
    out = io.StringIO()
    summary = watch(str(video), _by_brightness, stable=3, json_lines=True, out=out, err=io.StringIO())
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [row["reading"] for row in rows[:-1]] == ["3", "7"] and rows[0]["frame"] == "frame 4"
    assert rows[-1]["watch"]["frames"] == len(SCRIPT) == summary.frames
    assert rows[-1]["watch"]["frames_per_second"] > 0


def test_max_frames_stops_early(tmp_path):
    for i, frame in enumerate(_grey_frames([40] * 10)):
        Image.fromarray(frame).save(tmp_path / f"{i}.png")
    assert watch(str(tmp_path), _by_brightness, max_frames=4, out=io.StringIO(), err=io.StringIO()).frames == 4


def test_bad_sources_are_clear(tmp_path, monkeypatch):
    with pytest.raises(MnistKerasError, match="no such folder, video file or camera"):
        frames(str(tmp_path / "missing.mp4"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(MnistKerasError, match="no image files to watch"):
        next(frames(str(tmp_path / "empty")))
    monkeypatch.setitem(__import__("sys").modules, "picamera2", None)  # not on this machine either way
    with pytest.raises(MissingExtraError, match="python3-picamera2"):
        next(frames("picamera"))
