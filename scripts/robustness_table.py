#!/usr/bin/env python
"""Several ``mnist-keras robustness`` reports side by side, as one Markdown table.

Reads the ``robustness.json`` each run wrote (numbers only, nothing is
re-measured), checks they used the same seed and sample size (otherwise the
images differ and the columns are not comparable), and prints a row per
condition with a column per report, then the group and suite means.

    python scripts/robustness_table.py lamontagne=runs/a/robustness/robustness.json robust=/tmp/r.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def load(specs: list[str]) -> dict[str, dict]:
    """``label=path`` (or a bare path, labelled by its model name) -> report."""
    reports = {}
    for spec in specs:
        label, _, path = spec.rpartition("=")
        report = json.loads(Path(path).read_text())
        reports[label or report["model_name"]] = report
    return reports


def same_images(reports: dict[str, dict]) -> None:
    """Refuse reports made from different digits (seed or per-condition size differ)."""
    settings = {(r["seed"], r["per_condition"]) for r in reports.values()}
    if len(settings) > 1:
        raise SystemExit(f"reports differ in (seed, per_condition): {sorted(settings)}; rerun with the same options")


def markdown(reports: dict[str, dict]) -> str:
    """The table: conditions, then group means, then the suite mean (bold)."""
    labels = list(reports)
    first = next(iter(reports.values()))
    lines = ["| condition | what it does | " + " | ".join(labels) + " |", "|---|---|" + "---:|" * len(labels)]
    for row, condition in enumerate(first["conditions"]):
        cells = [f"{r['conditions'][row]['accuracy']:.1%}" for r in reports.values()]
        lines.append(f"| `{condition['name']}` | {condition.get('description', '')} | " + " | ".join(cells) + " |")
    for group in first["group_mean_accuracy"]:
        cells = [f"{r['group_mean_accuracy'][group]:.1%}" for r in reports.values()]
        lines.append(f"| mean {group} | | " + " | ".join(cells) + " |")
    cells = [f"**{r['suite_mean_accuracy']:.1%}**" for r in reports.values()]
    lines.append(f"| **mean over the suite** | {first['suite_conditions']} conditions | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+", metavar="[LABEL=]robustness.json")
    args = parser.parse_args(argv)
    reports = load(args.reports)
    same_images(reports)
    if len({tuple(c["name"] for c in r["conditions"]) for r in reports.values()}) > 1:
        raise SystemExit("reports cover different conditions; run the same suite for each")
    sys.stdout.write(markdown(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
