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

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness, also when a test imports this file
import harness  # noqa: E402 (after the sys.path line)


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
    first = next(iter(reports.values()))
    rows = [[f"`{condition['name']}`", condition.get("description", ""),
             *(f"{r['conditions'][i]['accuracy']:.1%}" for r in reports.values())]
            for i, condition in enumerate(first["conditions"])]  # fmt: skip
    rows += [[f"mean {group}", "", *(f"{r['group_mean_accuracy'][group]:.1%}" for r in reports.values())]
             for group in first["group_mean_accuracy"]]  # fmt: skip
    rows.append(["**mean over the suite**", f"{first['suite_conditions']} conditions",
                 *(f"**{r['suite_mean_accuracy']:.1%}**" for r in reports.values())])  # fmt: skip
    return harness.table(["condition", "what it does", *reports], rows, align="ll" + "r" * len(reports)) + "\n"


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
