#!/usr/bin/env python
"""Render every generated block of README.md and docs/*.md again from the benchmarks' JSON in docs/.

A block is the text between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``;
each benchmark script in :data:`BENCHMARKS` says which blocks it renders
(its ``BLOCKS``) and from which JSON file. Nothing is measured: this is the
fix when tests/test_docs_generated.py finds a page that differs from its
JSON (hand-edited figures, a renderer changed since the last run).

    python scripts/render_docs.py           # rewrite the pages that differ
    python scripts/render_docs.py --check   # only list them (exit 1 if any)
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness, also when a test imports this file
import harness  # noqa: E402 (after the sys.path line)

# Every script that renders blocks (imported for its BLOCKS; each imports TensorFlow only when it measures).
BENCHMARKS = (
    "benchmark_perf",
    "benchmark_app",
    "benchmark_deterministic",
    "benchmark_time_to_accuracy",
    "benchmark_fit_overhead",
    "benchmark_record",
    "benchmark_zoo",
    "benchmark_tour",
    "benchmark_numbers",
)


def all_blocks() -> dict[str, harness.Block]:
    """Block name -> block, over every benchmark.

    Raises:
        ValueError: two scripts render a block of the same name.
    """
    blocks: dict[str, harness.Block] = {}
    for script in BENCHMARKS:
        for block in importlib.import_module(script).BLOCKS:
            if block.name in blocks:
                raise ValueError(f"block {block.name!r} is rendered by two scripts ({script} and another)")
            blocks[block.name] = block
    return blocks


def pages(root: Path = harness.REPO) -> list[Path]:
    """The pages that may hold generated blocks: README.md and docs/*.md."""
    return [path for path in [root / "README.md", *sorted((root / "docs").glob("*.md"))] if path.is_file()]


def render_pages(root: Path = harness.REPO, *, write: bool = True) -> dict[Path, list[str]]:
    """Render every page's blocks from ``root/docs``; page -> what was wrong with it (only pages with problems).

    A problem is a block whose text differs from its JSON's rendering (fixed
    when ``write``) or a block name that no benchmark renders (never fixed:
    rename the markers or add the block to a script).
    """
    blocks, problems = all_blocks(), {}
    for page in pages(root):
        old = page.read_text()
        new, unknown = harness.render_page(old, blocks, root / "docs")
        stale = [
            name
            for name, text in harness.blocks_in(old).items()
            if name in blocks and harness.blocks_in(new)[name] != text
        ]
        found = [f"block {name!r} differs from what {blocks[name].source} renders" for name in stale]
        found += [f"block {name!r}: no script renders it (known: {', '.join(sorted(blocks))})" for name in unknown]
        if found:
            problems[page] = found
        if write and new != old:
            harness.write_text(page, new)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--check", action="store_true", help="Change nothing; list the pages that differ, exit 1 if any."
    )
    parser.add_argument("--root", type=Path, default=harness.REPO, help="The checkout (README.md and docs/).")
    args = parser.parse_args(argv)
    problems = render_pages(args.root, write=not args.check)
    for page, found in problems.items():
        for problem in found:
            print(f"{page.relative_to(args.root)}: {problem}" + ("" if args.check else " (rendered again)"))
    unknown = any("no script renders" in problem for found in problems.values() for problem in found)
    return 1 if (args.check and problems) or unknown else 0


if __name__ == "__main__":
    sys.exit(main())
