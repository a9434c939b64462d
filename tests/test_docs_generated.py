"""Every figure has one source: each generated block of README.md and docs/*.md is what its JSON renders to.

A generated block is the text between ``<!-- NAME:begin -->`` and
``<!-- NAME:end -->``; the benchmark scripts name theirs in ``BLOCKS``
(scripts/harness.py). When this fails, ``python scripts/render_docs.py``
renders the pages again from docs/*.json; a figure that is not in a JSON
comes from a run: rerun that benchmark on a quiet machine.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from script_runs import load_script

harness = load_script("harness")
render_docs = load_script("render_docs")

FIX = "run 'python scripts/render_docs.py' (or rerun the benchmark whose JSON lacks the figures)"


def test_every_generated_block_is_what_its_json_renders():
    problems = render_docs.render_pages(write=False)
    assert not problems, "\n".join(f"{page}: {p}" for page, found in problems.items() for p in found) + "\n" + FIX


def test_every_measured_json_says_when_how_where_and_under_what_load():
    for block in render_docs.all_blocks().values():
        path = harness.DOCS / block.source
        if path.is_file():
            report = json.loads(path.read_text())
            assert report["command"].startswith("python scripts/") and report["date"], path
            assert report["machine"] and report["load"]["before"] and report["load"]["after"], path


def site(tmp_path: Path, readme: str) -> Path:
    """A checkout with README.md and one real measurement (docs/record.json)."""
    (tmp_path / "docs").mkdir()
    shutil.copy(harness.DOCS / "record.json", tmp_path / "docs" / "record.json")
    (tmp_path / "README.md").write_text(readme)
    return tmp_path


def test_a_stale_block_is_reported_and_rendered_again(tmp_path):
    root = site(
        tmp_path, "# Title\n\n<!-- accuracy-record:begin -->\n99.99% by hand\n<!-- accuracy-record:end -->\n\nkept\n"
    )
    problems = render_docs.render_pages(root, write=False)
    assert (
        list(problems) == [root / "README.md"]
        and "differs from what record.json renders" in problems[root / "README.md"][0]
    )
    assert render_docs.main(["--check", "--root", str(root)]) == 1
    assert render_docs.main(["--root", str(root)]) == 0
    text = (root / "README.md").read_text()
    assert "99.99% by hand" not in text and "## Accuracy record" in text and text.endswith("\n\nkept\n")
    assert render_docs.render_pages(root, write=False) == {}


def test_a_block_no_script_renders_is_reported(tmp_path):
    root = site(tmp_path, "<!-- handmade-figures:begin -->\n42 ms\n<!-- handmade-figures:end -->\n")
    (found,) = render_docs.render_pages(root, write=False)[root / "README.md"]
    assert "'handmade-figures': no script renders it" in found
    assert render_docs.main(["--root", str(root)]) == 1  # cannot be fixed by rendering


def test_a_block_without_its_json_names_the_command_that_measures_it(tmp_path):
    root = site(tmp_path, "<!-- deterministic:begin -->\nold figures\n<!-- deterministic:end -->\n")
    render_docs.main(["--root", str(root)])
    text = (root / "README.md").read_text()
    assert "old figures" not in text and "`python scripts/benchmark_deterministic.py`" in text
