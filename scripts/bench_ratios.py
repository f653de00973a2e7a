#!/usr/bin/env python3
"""Prints the latest criterion results of one bench group as a table of
medians and ratios to the group's floor (its first line, e.g. `empty_fn`).

    python3 scripts/bench_ratios.py macros [floor]
"""
import json
import pathlib
import sys

group = sys.argv[1] if len(sys.argv) > 1 else "macros"
floor_name = sys.argv[2] if len(sys.argv) > 2 else "empty_fn"
root = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion" / group
if not root.is_dir():
    sys.exit(f"no results in {root}: run `cargo bench -p metlog-benches --bench {group}` first")

rows = []
for estimates in sorted(root.glob("*/new/estimates.json")):
    median = json.loads(estimates.read_text())["median"]["point_estimate"]
    rows.append((estimates.parent.parent.name, median))
floor = dict(rows).get(floor_name)
if floor is None:
    sys.exit(f"no `{floor_name}` line in {root}")

print(f"{'benchmark':<40} {'median ns':>10} {'x ' + floor_name:>14}")
for name, median in sorted(rows, key=lambda r: r[1]):
    print(f"{name:<40} {median:>10.2f} {median / floor:>14.2f}")
