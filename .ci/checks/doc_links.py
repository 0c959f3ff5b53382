#!/usr/bin/env python3
"""Fails when a relative link in the repository's Markdown points at nothing.

Every `[text](target)` in a tracked `*.md` file whose target is not a URL must name a file or
directory that exists, relative to the page; a `#fragment` must match a heading of the page it
points into, slugged as GitHub renders them (lower case, punctuation dropped, spaces to `-`,
`-1`, `-2`... for repeats). Links inside code blocks and code spans are not links. Source files
and folders are linked by path, so a module moved by a refactor shows up here.

Usage: python3 .ci/checks/doc_links.py   (from anywhere in the workspace)
"""

import functools
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def markdown_files():
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return [ROOT / name for name in listed if (ROOT / name).is_file()]


def prose_lines(text):
    """(line number, line) outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def slug(heading):
    text = CODE_SPAN.sub(lambda m: m.group(2), heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link's text only
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


@functools.cache
def anchors(path):
    seen = {}
    found = set()
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def check(page):
    problems = []
    for number, line in prose_lines(page.read_text(encoding="utf-8")):
        for match in LINK.finditer(CODE_SPAN.sub("", line)):
            target = match.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
                continue  # http:, https:, mailto:
            where = f"{page.relative_to(ROOT)}:{number}"
            file_part, _, fragment = target.partition("#")
            resolved = (page.parent / file_part).resolve() if file_part else page
            if not resolved.exists():
                problems.append(f"{where}: {target}: no such file")
                continue
            if fragment and resolved.suffix == ".md":
                if fragment not in anchors(resolved):
                    problems.append(f"{where}: {target}: no heading #{fragment} there")
    return problems


def main():
    problems = [problem for page in markdown_files() for problem in check(page)]
    for problem in problems:
        print(f"doc_links: {problem}", file=sys.stderr)
    if problems:
        print(f"doc_links: {len(problems)} broken link(s)", file=sys.stderr)
        return 1
    print("doc_links: every relative link in the Markdown resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
