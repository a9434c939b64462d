#!/usr/bin/env python3
"""Regenerate the package modules embedded in scripts/mnist_edge.py (or check they are current).

The edge script is one file a user copies to a Raspberry Pi, so it carries
verbatim copies of ``mnist_keras/{marks,preprocess,litert,classify}.py`` between
``# ---- BEGIN/END EMBEDDED ...`` markers. Run this after editing any of them:

    python scripts/build_edge_script.py           # rewrite the embedded blocks
    python scripts/build_edge_script.py --check   # exit 1 if the script is stale (tests do the same)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "scripts" / "mnist_edge.py"
EMBEDDED_MODULES = ("marks", "preprocess", "litert", "classify")  # in import order
BLOCK = re.compile(
    r"(# ---- BEGIN EMBEDDED mnist_keras/(?P<name>\w+)\.py ----\n_SOURCES\[\"(?P=name)\"\] = r'''\n)"
    r"(?P<body>.*?)"
    r"('''\n# ---- END EMBEDDED mnist_keras/(?P=name)\.py ----\n)",
    re.DOTALL,
)


def module_source(name: str, root: Path = REPO_ROOT) -> str:
    """The package file's text, checked to fit in a raw triple-quoted string unchanged."""
    text = (root / "mnist_keras" / f"{name}.py").read_text(encoding="utf-8")
    if "'''" in text or text.endswith("\\"):
        raise ValueError(f"mnist_keras/{name}.py cannot be embedded verbatim: it contains ''' or ends with a backslash")
    return text


def embedded_blocks(script_text: str) -> dict[str, str]:
    """Module name -> the text embedded in the script for it."""
    return {m["name"]: m["body"] for m in BLOCK.finditer(script_text)}


def render(script_text: str, root: Path = REPO_ROOT) -> str:
    """The script with every embedded block replaced by the current package file."""
    found = list(embedded_blocks(script_text))
    if found != list(EMBEDDED_MODULES):
        raise ValueError(f"expected embedded blocks {list(EMBEDDED_MODULES)} in this order, found {found}")
    return BLOCK.sub(lambda m: m.group(1) + module_source(m["name"], root) + m.group(4), script_text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if the script is out of date")
    args = parser.parse_args(argv)
    current = SCRIPT.read_text(encoding="utf-8")
    fresh = render(current)
    if args.check:
        stale = fresh != current
        print(
            f"{SCRIPT.relative_to(REPO_ROOT)} is {'OUT OF DATE: run python scripts/build_edge_script.py' if stale else 'up to date'}"
        )
        return int(stale)
    if fresh != current:
        tmp = SCRIPT.with_name(f".{SCRIPT.name}.tmp")
        tmp.write_text(fresh, encoding="utf-8")
        tmp.chmod(SCRIPT.stat().st_mode)
        tmp.replace(SCRIPT)  # atomic: an interrupted build never leaves half a script
    print(f"{SCRIPT.relative_to(REPO_ROOT)}: embedded {', '.join(EMBEDDED_MODULES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
