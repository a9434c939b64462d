"""scripts/harness.py: each benchmark replaces only its own section of a page; the load note."""

from __future__ import annotations

import sys

import pytest
from script_runs import load_script

harness = load_script("harness")


def test_a_section_is_replaced_in_place_and_the_others_kept(tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    harness.write_section(output, "first", "## First\n\nrun 1")
    harness.write_section(output, "second", "## Second\n\nkept")
    harness.write_section(output, "first", "## First\n\nrun 2\n")
    text = output.read_text()
    assert text.startswith("# Performance benchmarks\n")
    assert text.count("## First") == 1 and "run 2" in text and "run 1" not in text
    assert text.index("## First") < text.index("## Second\n\nkept")  # replaced where it was, not moved
    assert [p.name for p in tmp_path.iterdir()] == ["BENCHMARKS.md"]  # no temporary file left behind


def test_text_outside_every_section_is_kept(tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    output.write_text("# Performance benchmarks\n\nintro\n\n<!-- a:begin -->\nold\n<!-- a:end -->\n\nfooter\n")
    harness.write_section(output, "a", "new")
    assert (
        output.read_text() == "# Performance benchmarks\n\nintro\n\n<!-- a:begin -->\nnew\n<!-- a:end -->\n\nfooter\n"
    )


def test_the_load_note_says_shared_only_when_something_else_was_running():
    assert harness.load_note(harness.QUIET_LOAD - 0.01).startswith("Nothing else was running")
    shared = harness.load_note(harness.QUIET_LOAD + 1.5)
    assert shared.startswith("The machine was shared") and f"{harness.QUIET_LOAD + 1.5:.1f}" in shared


def test_variants_are_interleaved_and_every_result_kept():
    calls = []
    variants = {name: (lambda name=name: calls.append(name) or len(calls)) for name in "AB"}
    assert harness.interleave(variants, 3) == {"A": [1, 3, 5], "B": [2, 4, 6]}
    assert "".join(calls) == "ABABAB"


def test_a_table_aligns_its_columns_as_asked():
    assert harness.table(["model", "s"], [["fast", 1.5]], align="lr") == "| model | s |\n|---|---:|\n| fast | 1.5 |"


def test_provenance_names_the_command_the_machine_and_the_load():
    report = {"command": "python scripts/x.py --quick", "date": "2026-12-01 10:00:00 UTC", "finished": "2026-12-01 10:05:00 UTC",
              "machine": {"cpu": "AMD EPYC", "cores": 2, "tensorflow": "2.21.0"}, "load": {"before": [0.2, 0.3, 0.4], "after": [1.5]}}  # fmt: skip
    text = harness.provenance(report)
    assert text.startswith(
        "Measured by `python scripts/x.py --quick` (2026-12-01 10:00:00 UTC to 2026-12-01 10:05:00 UTC)."
    )
    assert (
        "AMD EPYC, 2 cores, TensorFlow 2.21.0" in text and "0.20 before, 1.50 after" in text and "Nothing else" in text
    )


def test_a_function_runs_in_a_fresh_process_and_a_failed_command_says_why():
    result, usage = harness.call_in_subprocess(harness.load_note, before=harness.QUIET_LOAD + 1)
    assert result == harness.load_note(harness.QUIET_LOAD + 1) and usage["seconds"] > 0 and usage["peak_rss_mib"] > 1
    with pytest.raises(RuntimeError, match="boom"):
        harness.run_process([sys.executable, "-c", "raise SystemExit('boom')"])
