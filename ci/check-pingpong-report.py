#!/usr/bin/env python3
"""Checks what `pingpong --json ... --plot FILE.svg` wrote, for ci/check.sh's pingpong lane
(python3 only, no packages).

  ci/check-pingpong-report.py REPORT.json PLOT.svg

The JSON must say ok and carry, for every row, a verdict and the histogram buckets whose
counts add up to the row's round trips. The SVG must hold one curve (a polyline of three or
more points) per row and name every row in its legend. Exits non-zero, saying why, on any
miss.
"""

import json
import re
import sys


def main(report_path, svg_path):
    report = json.load(open(report_path))
    assert report["ok"], report
    rows = report["rows"]
    assert rows, "the report has no rows"
    for r in rows:
        total = sum(b[2] for b in r["buckets"])
        assert total == r["round_trips"], (r["key"], total, r["round_trips"])
        assert r["verdict"] in (None, "met", "missed", "inconclusive", "no baseline"), r
        if r["verdict"] == "inconclusive":
            assert r["verdict_reason"], r
        assert len(r["round_medians_ns"]) == report["options"]["rounds"], r
    svg = open(svg_path).read()
    curves = [
        p for p in re.findall(r'<polyline[^>]*points="([^"]*)"', svg) if len(p.split()) >= 3
    ]
    labels = {t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)}
    keys = [r["key"] for r in rows]
    assert len(curves) == len(keys), f"{len(curves)} curves for {len(keys)} rows"
    missing = [k for k in keys if k not in labels]
    assert not missing, f"rows missing from the legend: {missing}"
    print(f"JSON: ok, {len(rows)} rows with verdicts and buckets; SVG: {len(curves)} curves, legend {keys}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
