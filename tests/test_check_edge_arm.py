"""The ARM check's own logic, without building a root: answers compared, half-built roots never trusted.

The check itself (debootstrap + qemu, minutes) is run by hand: python scripts/check_edge_arm.py --help.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_edge_arm.py"


@pytest.fixture(scope="module")
def check():
    spec = importlib.util.spec_from_file_location("check_edge_arm", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.fixture(scope="module")
def roots(check):
    """scripts/arm_roots.py, as check_edge_arm.py imported it."""
    return sys.modules["arm_roots"]


def answer(path: str, digit: int, top: list[tuple[int, float]]) -> dict:
    return {"path": path, "digit": digit, "probability": top[0][1],
            "top_k": [{"digit": d, "probability": p} for d, p in top]}  # fmt: skip


def run(check, label: str, results: list[dict], stderr: str = "", returncode: int = 0):
    return check.Run(label, results, returncode, stderr, {}, 1.0)


def test_json_lines_are_parsed_and_other_lines_kept_apart(check):
    out = json.dumps(answer("/x/a.png", 7, [(7, 0.9)])) + "\nWARNING: something\n\n"
    results, junk = check.parse_lines(out)
    assert [r["path"] for r in results] == ["/x/a.png"] and junk == ["WARNING: something"]


def test_same_digit_within_tolerance_agrees(check):
    host = run(check, "host", [answer("in/0/a.png", 7, [(7, 0.988), (9, 0.008)])])
    arm = run(check, "armhf", [answer("in/0/a.png", 7, [(7, 0.984), (9, 0.012)])])
    lines, problems = check.compare(arm, host, tolerance=0.01)
    assert problems == [] and "same" in lines[0]


@pytest.mark.parametrize(
    "arm_answer, why",
    [
        (answer("a.png", 9, [(9, 0.5), (7, 0.4)]), "digit 9 here, 7 on the host"),
        (answer("a.png", 7, [(7, 0.9), (9, 0.1)]), "probabilities differ"),
        ({"path": "a.png", "error": "no digit found"}, "error: no digit found"),
        (answer("b.png", 7, [(7, 0.988)]), "different files"),
    ],
)
def test_a_different_answer_is_a_problem(check, arm_answer, why):
    host = run(check, "host", [answer("a.png", 7, [(7, 0.988), (9, 0.008)])])
    lines, problems = check.compare(run(check, "armhf", [arm_answer]), host, tolerance=0.01)
    assert len(problems) == 1 and why in problems[0] and "DIFF" in lines[0]


def reading(path: str, text: str, digits: list[tuple[float, list[int]]]) -> dict:
    """A --number answer: the text and, per digit, its probability and box."""
    return {"path": path, "text": text, "digits": [{"probability": p, "box": box} for p, box in digits]}


def test_the_same_number_within_tolerance_agrees(check):
    host = run(check, "host", [reading("a.png", "26", [(0.991, [3, 4, 20, 30]), (0.97, [25, 4, 40, 30])])])
    arm = run(check, "armhf", [reading("a.png", "26", [(0.989, [3, 4, 20, 30]), (0.975, [25, 4, 40, 30])])])
    lines, problems = check.compare(arm, host, tolerance=0.01)
    assert problems == [] and "same" in lines[0] and "number '26'" in lines[0]


@pytest.mark.parametrize(
    "arm_answer, why",
    [
        (reading("a.png", "2?", [(0.99, [3, 4, 20, 30]), (0.6, [25, 4, 40, 30])]), "read '2?' here, '26' on the host"),
        (reading("a.png", "26", [(0.99, [3, 4, 20, 30]), (0.97, [24, 4, 40, 30])]), "boxes differ"),
        (reading("a.png", "26", [(0.99, [3, 4, 20, 30]), (0.90, [25, 4, 40, 30])]), "probabilities differ"),
    ],
)
def test_a_different_reading_is_a_problem(check, arm_answer, why):
    host = run(check, "host", [reading("a.png", "26", [(0.99, [3, 4, 20, 30]), (0.97, [25, 4, 40, 30])])])
    lines, problems = check.compare(run(check, "armhf", [arm_answer]), host, tolerance=0.01)
    assert len(problems) == 1 and why in problems[0] and "DIFF" in lines[0]


def test_a_traceback_or_missing_answers_are_problems(check):
    host = run(check, "host", [answer("a.png", 7, [(7, 0.9)])])
    crash = "Traceback (most recent call last):\n  ...\nTypeError: Cannot cast array data"
    _, problems = check.compare(run(check, "armhf", [], crash, returncode=1), host, tolerance=0.01)
    assert any("traceback" in p and "Cannot cast" in p for p in problems)
    assert any("0 answers, host 1" in p for p in problems)


def test_binfmt_entry_is_parsed(roots, tmp_path, monkeypatch):
    (tmp_path / "qemu-arm").write_text(
        "enabled\ninterpreter /usr/libexec/qemu-binfmt/arm-binfmt-P\nflags: PF\noffset 0\nmagic 7f454c46\n"
    )
    monkeypatch.setattr(roots, "BINFMT", tmp_path)
    entry = roots.binfmt_entry(roots.TARGETS["armhf"])
    assert entry["enabled"] == "True" and entry["flags"] == "PF"
    assert entry["interpreter"] == "/usr/libexec/qemu-binfmt/arm-binfmt-P"
    assert roots.binfmt_entry(roots.TARGETS["arm64"]) == {}


def fake_build(roots, monkeypatch) -> list[str]:
    """Replace debootstrap, pip and the probe by stand-ins that record what was built."""
    built = []

    def debootstrap(target, root, debs, entry, log):
        built.append(target.arch)
        (root / "etc").mkdir(parents=True)

    monkeypatch.setattr(roots, "debootstrap", debootstrap)
    monkeypatch.setattr(roots, "pip_install", lambda target, root, log: None)
    monkeypatch.setattr(roots, "probe", lambda python, env=None: {"python": "3.11.2"})
    return built


def test_a_finished_root_is_reused_and_an_unfinished_one_rebuilt(roots, tmp_path, monkeypatch):
    built = fake_build(roots, monkeypatch)
    target, entry = roots.TARGETS["armhf"], {"flags": "PF"}
    root, how = roots.ensure_root(target, tmp_path, entry, rebuild=False)
    assert (how, built, root.name) == ("built", ["armhf"], "bookworm-armhf")
    assert roots.read_marker(root)["recipe"] == target.recipe() and not (tmp_path / "bookworm-armhf.partial").exists()
    assert roots.ensure_root(target, tmp_path, entry, rebuild=False) == (root, "reused") and built == ["armhf"]
    (root / roots.MARKER).unlink()  # as if the last build had stopped before its marker
    (tmp_path / "bookworm-armhf.partial").mkdir()  # ... and left a half-built root behind
    assert roots.ensure_root(target, tmp_path, entry, rebuild=False) == (root, "built") and len(built) == 2


def test_a_root_of_another_recipe_is_rebuilt(roots, tmp_path, monkeypatch):
    built = fake_build(roots, monkeypatch)
    root = tmp_path / "bookworm-arm64"
    root.mkdir()
    (root / roots.MARKER).write_text(json.dumps({"recipe": {"version": 0}}))
    assert roots.ensure_root(roots.TARGETS["arm64"], tmp_path, {"flags": "PF"}, rebuild=False)[1] == "built"
    assert built == ["arm64"]


def test_nothing_is_deleted_with_a_mount_inside(roots, tmp_path, monkeypatch):
    (tmp_path / "root" / "proc").mkdir(parents=True)
    monkeypatch.setattr(roots, "mounted_below", lambda path: [str(tmp_path / "root" / "proc")])
    with pytest.raises(roots.SetupError, match="mounted inside"):
        roots.remove_tree(tmp_path / "root")
    assert (tmp_path / "root" / "proc").is_dir()


def test_inputs_are_staged_under_their_own_names(check, tmp_path, monkeypatch):
    work, host = tmp_path / "work", tmp_path / "host"
    (host / "photos").mkdir(parents=True)
    for name in ("edge.pyz", "model.tflite", "one.png", "photos/two.png"):
        (host / name).write_bytes(name.encode())
    monkeypatch.chdir(host / "photos")
    images = [host / "one.png", host / "photos", Path(".")]
    staged = check.stage_inputs(work, host / "edge.pyz", host / "model.tflite", images)
    assert staged == check.Staged("edge.pyz", "model.tflite", ["in/0/one.png", "in/1/photos", "in/2/photos"])
    assert (work / "in/2/photos/two.png").read_bytes() == b"photos/two.png"
    assert staged.argv("/opt/x")[:2] == ["/opt/x/edge.pyz", "/opt/x/model.tflite"] and staged.argv("/b")[-1] == "--json"
    assert staged.argv("/b", number=True)[-2:] == ["--json", "--number"]
    check.stage_inputs(work, host / "edge.pyz", host / "model.tflite", images[:1])  # a rerun starts afresh
    assert not (work / "in/1").exists()


def test_answers_are_compared_by_their_path_in_the_work_folder(check, tmp_path, monkeypatch):
    monkeypatch.setattr(check, "probe", lambda python, env=None: {"interpreter": "stand-in"})
    program = tmp_path / "edge.py"
    program.write_text(
        "import json, sys\n"
        "for path in sys.argv[2:-1]:\n"
        "    print(json.dumps({'path': path, 'digit': 7, 'probability': 0.9, 'top_k': []}))\n"
    )
    staged = check.Staged("edge.py", "m.tflite", ["in/0/a.png"])
    (tmp_path / "m.tflite").write_bytes(b"")
    run = check.run_program("host", [sys.executable], staged, str(tmp_path), env=None, timeout=60, number=False)
    assert [r["path"] for r in run.results] == ["in/0/a.png"] and run.returncode == 0
