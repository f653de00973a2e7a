#!/usr/bin/env python3
"""Offline licence check of every crate in the build graph (`cargo metadata`).

Fails if a crate's licence expression allows none of the permissive licences
below; prints the runtime dependencies of `metlog` with their licences.
Advisories (cargo audit / cargo deny) need the RustSec database from the
network, which this project's CI machines do not have: see RELIABILITY.md.

    python3 scripts/check_licenses.py
"""
import json
import re
import subprocess
import sys

ALLOWED = {
    "MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "ISC", "Zlib",
    "Unicode-3.0", "Unicode-DFS-2016", "Unlicense", "CC0-1.0", "MPL-2.0",
    "Apache-2.0 WITH LLVM-exception",
}

def acceptable(expression):
    # An OR-list (either spelling) is fine if one alternative is allowed; an
    # AND needs every part allowed.
    expression = expression.replace("/", " OR ")
    for alternative in re.split(r"\s+OR\s+", expression.replace("(", "").replace(")", "")):
        parts = [p.strip() for p in re.split(r"\s+AND\s+", alternative)]
        if all(p in ALLOWED for p in parts):
            return True
    return False

metadata = json.loads(subprocess.run(
    ["cargo", "metadata", "--format-version", "1", "--all-features"],
    check=True, capture_output=True, text=True).stdout)
packages = {p["id"]: p for p in metadata["packages"]}
bad = [(p["name"], p["version"], p.get("license")) for p in packages.values()
       if not p.get("license") or not acceptable(p["license"])]

# Runtime dependencies of the metlog crate (normal edges only).
nodes = {n["id"]: n for n in metadata["resolve"]["nodes"]}
root = next(i for i, p in packages.items() if p["name"] == "metlog")
seen, stack = set(), [root]
while stack:
    node = nodes[stack.pop()]
    for dep in node["deps"]:
        if any(k["kind"] is None for k in dep["dep_kinds"]) and dep["pkg"] not in seen:
            seen.add(dep["pkg"])
            stack.append(dep["pkg"])
print(f"{len(packages)} crates in the graph; metlog's runtime dependencies (all features):")
for pid in sorted(seen, key=lambda i: packages[i]["name"]):
    p = packages[pid]
    print(f"  {p['name']:<28} {p['version']:<10} {p.get('license')}")
if bad:
    print("crates with licences outside the allowed set:", file=sys.stderr)
    for name, version, lic in bad:
        print(f"  {name} {version}: {lic}", file=sys.stderr)
    sys.exit(1)
print("licences: all allowed")
