"""Each benchmark replaces only its own section of docs/BENCHMARKS.md."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from benchmark_docs import QUIET_LOAD, load_note, write_section  # noqa: E402 (after the sys.path line)


def test_a_section_is_replaced_in_place_and_the_others_kept(tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    write_section(output, "first", "## First\n\nrun 1")
    write_section(output, "second", "## Second\n\nkept")
    write_section(output, "first", "## First\n\nrun 2\n")
    text = output.read_text()
    assert text.startswith("# Performance benchmarks\n")
    assert text.count("## First") == 1 and "run 2" in text and "run 1" not in text
    assert text.index("## First") < text.index("## Second\n\nkept")  # replaced where it was, not moved
    assert [p.name for p in tmp_path.iterdir()] == ["BENCHMARKS.md"]  # no temporary file left behind


def test_text_outside_every_section_is_kept(tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    output.write_text("# Performance benchmarks\n\nintro\n\n<!-- a:begin -->\nold\n<!-- a:end -->\n\nfooter\n")
    write_section(output, "a", "new")
    assert (
        output.read_text() == "# Performance benchmarks\n\nintro\n\n<!-- a:begin -->\nnew\n<!-- a:end -->\n\nfooter\n"
    )


def test_the_load_note_says_shared_only_when_something_else_was_running():
    assert load_note(QUIET_LOAD - 0.01).startswith("Nothing else was running")
    shared = load_note(QUIET_LOAD + 1.5)
    assert shared.startswith("The machine was shared") and f"{QUIET_LOAD + 1.5:.1f}" in shared
