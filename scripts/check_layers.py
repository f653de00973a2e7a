#!/usr/bin/env python3
"""Fails when the metlog crate's top-level modules import each other in a
new cycle.

Dependencies should point one way (ARCHITECTURE.md, "Layers": values ->
view -> encoders -> senders -> client -> macro support). This reads every
`crate::<module>` (and a top-level file's `super::<module>`) in
metlog/src, builds the graph between top-level modules, and finds its
cycles (strongly connected components). Any cycle not listed in KNOWN (now
empty) fails the check; a listed one that has gone is reported so the list
can shrink.
"""

import pathlib
import re
import sys

SRC = pathlib.Path(__file__).resolve().parent.parent / "metlog" / "src"

# Cycles tolerated for now, each as the set of modules it joins (none: the
# last ones went on 2026-11-26 — config/plugin, encode/message, and
# __private/client/holder/sender once call sites moved to `site`).
KNOWN = []


def top_module(path: pathlib.Path) -> str:
    rel = path.relative_to(SRC)
    first = rel.parts[0]
    if first == "private.rs":
        return "__private"
    return first[:-3] if first.endswith(".rs") else first


def modules() -> set:
    lib = (SRC / "lib.rs").read_text()
    return set(re.findall(r"^\s*(?:pub\s+)?mod\s+(\w+)\s*;", lib, re.M))


def reexports(names: set) -> dict:
    """`crate::Client` and the like: the root's `pub use module::{Name}`."""
    lib = (SRC / "lib.rs").read_text()
    found = {}
    for module, items in re.findall(r"^pub use (\w+)::\{?([^;]*?)\}?;", lib, re.M | re.S):
        if module in names:
            for item in re.findall(r"\b(\w+)\b", items):
                found[item] = module
    return found


def graph() -> dict:
    names = modules()
    aliases = reexports(names)
    edges = {name: set() for name in names}
    for path in SRC.rglob("*.rs"):
        # Test-only modules (`*_tests.rs`) may reach across layers.
        if path.name.endswith("_tests.rs"):
            continue
        if path.name == "lib.rs" and path.parent == SRC:
            continue
        source = top_module(path)
        if source not in edges:
            continue
        # Comments and doc examples do not count.
        text = "\n".join(
            line for line in path.read_text().splitlines()
            if not line.lstrip().startswith("//")
        )
        targets = set(re.findall(r"\bcrate::(\w+)", text))
        # `use crate::{a, b::c, D}` lists (one level of braces).
        for group in re.findall(r"\bcrate::\{([^}]*)\}", text):
            targets |= set(re.findall(r"(?:^|,)\s*(\w+)", group))
        if path.parent == SRC:  # a top-level file: `super::` is the crate root
            targets |= set(re.findall(r"\bsuper::(\w+)", text))
        targets = {aliases.get(t, t) for t in targets}
        edges[source] |= {t for t in targets if t in names and t != source}
    return edges


def cycles(edges: dict) -> list:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    sys.setrecursionlimit(10_000)
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def main() -> int:
    found = cycles(graph())
    bad = [c for c in found if not any(c <= known for known in KNOWN)]
    for component in bad:
        print("check_layers: a new import cycle among metlog's modules:",
              ", ".join(sorted(component)), file=sys.stderr)
    for known in KNOWN:
        current = [c for c in found if c <= known]
        left = set().union(*current) if current else set()
        if left != known:
            print("check_layers: the known cycle shrank; update KNOWN to:",
                  sorted(left) or "nothing", file=sys.stderr)
    if "-v" in sys.argv:
        for component in found:
            print("cycle:", ", ".join(sorted(component)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
