#!/usr/bin/env python3
"""Fails when a source file under a crate's src/ grows past 700 lines before its unit tests.

A file that does one job reads in one sitting; past this size it is usually doing several.
Counted: the lines before the file's first `#[cfg(test)]` item. Generated code is exempt
when its first line says `// @generated`.
"""
import re
import sys
from pathlib import Path

LIMIT = 700
ROOT = Path(__file__).resolve().parents[2]


def code_lines(path):
    text = path.read_text()
    if text.startswith("// @generated"):
        return 0
    cut = re.search(r"^\s*#\[cfg\(test\)\]", text, re.M)
    return text[: cut.start()].count("\n") if cut else text.count("\n")


def main():
    over = []
    for f in sorted(ROOT.glob("**/src/**/*.rs")):
        rel = f.relative_to(ROOT)
        if rel.parts[0] == "target" or "fuzz" in rel.parts:
            continue
        n = code_lines(f)
        if n >= LIMIT:
            over.append((n, rel))
    for n, rel in over:
        print(f"{rel}: {n} lines before its unit tests (limit {LIMIT}); split it by job")
    if over:
        return 1
    print(f"every file under src/ has fewer than {LIMIT} lines before its unit tests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
