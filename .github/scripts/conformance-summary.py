#!/usr/bin/env python3
"""The conformance suite's summary table as Markdown, for a GitHub job summary.

    conformance-summary.py TITLE REPORT_JSON >> "$GITHUB_STEP_SUMMARY"

Reads the suite's report.json (schema in conformance/src/report.rs) and prints the same table
the suite prints on its terminal (one row per case group, in run order, then the total), the
run's verdict and every failure with its detail. A missing or unreadable report is said so in
the summary, and the script exits 1.
"""

import json
import sys


def cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: conformance-summary.py TITLE REPORT_JSON", file=sys.stderr)
        return 2
    title, path = sys.argv[1], sys.argv[2]
    print(f"## {title}\n")
    try:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
        cases = report["cases"]
        summary = report["summary"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"No report: `{path}` could not be read ({e}).\n")
        return 1

    groups: dict[str, dict[str, int]] = {}
    for c in cases:
        group = c["id"].split("/", 1)[0]
        row = groups.setdefault(group, {"cases": 0, "pass": 0, "fail": 0, "skip": 0, "waived": 0})
        row["cases"] += 1
        if c["outcome"] in row:
            row[c["outcome"]] += 1

    cols = ["cases", "pass", "fail", "skip", "waived"]
    print("| group | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for group, row in groups.items():
        print(f"| {cell(group)} | " + " | ".join(str(row[k]) for k in cols) + " |")
    total = {
        "cases": summary["total"],
        "pass": summary["pass"],
        "fail": summary["fail"],
        "skip": summary["skip"],
        "waived": summary["waived"],
    }
    print("| **total** | " + " | ".join(f"**{total[k]}**" for k in cols) + " |")

    negatives = sum(1 for c in cases if c.get("kind") == "negative")
    seconds = summary.get("millis", 0) / 1000
    print(
        f"\n{summary['total']} cases ({negatives} negative) against "
        f"`{report.get('target', '?')}` in {seconds:.1f} s.\n"
    )
    required_failed = summary.get("required_failed", 0)
    if required_failed == 0:
        print("**Result: PASS** (no required case failed)\n")
    else:
        print(f"**Result: FAIL** ({required_failed} required cases failed)\n")

    failures = [c for c in cases if c["outcome"] == "fail"]
    if failures:
        print("| failed case | expected | actual | spec |")
        print("|---|---:|---:|---|")
        for c in failures:
            actual = "none" if c.get("actual") is None else c["actual"]
            print(
                f"| `{cell(c['id'])}` | {cell(c['expected'])} | {cell(actual)} "
                f"| {cell(c.get('spec', ''))} |"
            )
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
