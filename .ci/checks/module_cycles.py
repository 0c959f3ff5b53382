#!/usr/bin/env python3
"""Fails when the modules of a crate import each other in a circle.

For every crate of the workspace it reads each module's non-test code (a file's lines before
its `#[cfg(test)]` unit tests), collects the paths it names (`crate::a::b`, `super::x`,
`self::y`, and `use` trees), and resolves each one to the deepest module it names. An edge
from module `p::a::…` to module `p::b::…` becomes an edge `a → b` among the children of their
nearest common parent `p`; a module naming its own ancestor or descendant adds none. Any
cycle among the children of one parent is reported, with the lines that make it.

Usage: module_cycles.py [CRATE_DIR ...]   (default: every workspace member with a src/ dir)
"""
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def strip_tests(text):
    """Non-test code: everything before the first `#[cfg(test)]` item, and no comments."""
    cut = re.search(r"^\s*#\[cfg\(test\)\]", text, re.M)
    if cut:
        text = text[: cut.start()]
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"'\"'", "", text)
    text = re.sub(r'r#"(?:.|\n)*?"#', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return text


def inline_mods(text):
    """Names of `mod x { … }` blocks (not `mod x;`) at any depth, with their bodies' spans."""
    out = []
    for m in re.finditer(r"\bmod\s+(\w+)\s*\{", text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        out.append((m.group(1), m.end(), i))
    return out


def modules_of(src):
    """Map module path (tuple) -> (file, text) for a crate's src dir, lib.rs as the root."""
    mods = {}

    def visit(path, file):
        text = strip_tests(file.read_text())
        mods[path] = (file, text)
        for m in re.finditer(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", text, re.M):
            name = m.group(1)
            base = file.parent if file.name in ("lib.rs", "main.rs", "mod.rs") else file.with_suffix("")
            for cand in (base / f"{name}.rs", base / name / "mod.rs"):
                if cand.exists():
                    visit(path + (name,), cand)
                    break
        for name, start, end in inline_mods(text):
            mods.setdefault(path + (name,), (file, text[start:end]))

    visit((), src / "lib.rs")
    return mods


USE_RE = re.compile(r"\buse\s+([^;]+);", re.S)
PATH_RE = re.compile(r"\b(crate|super|self)((?:\s*::\s*\w+)+)")


def expand_use(tree):
    """`a::{b, c::{d, e}}` -> ["a::b", "a::c::d", "a::c::e"]."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)
    tree = re.sub(r"\s+", "", tree)
    def walk(prefix, s):
        if "{" not in s or "}" not in s:
            return [prefix + s]
        i = s.index("{")
        head, body = s[:i], s[i + 1 : s.rindex("}")]
        parts, depth, cur = [], 0, ""
        for ch in body:
            if ch == "," and depth == 0:
                parts.append(cur); cur = ""
                continue
            depth += {"{": 1, "}": -1}.get(ch, 0)
            cur += ch
        parts.append(cur)
        out = []
        for p in parts:
            if p:
                out += walk(prefix + head, p)
        return out
    return walk("", tree)


def referenced_paths(text):
    paths = []
    for m in USE_RE.finditer(text):
        for p in expand_use(m.group(1)):
            paths.append(p)
    for m in PATH_RE.finditer(text):
        paths.append(m.group(1) + re.sub(r"\s+", "", m.group(2)))
    return paths


def resolve(path_str, here, mods, aliases):
    segs = [s for s in path_str.split("::") if s]
    if not segs:
        return None
    if segs[0] == "crate":
        base, rest = (), segs[1:]
    elif segs[0] in ("super", "self"):
        base = here
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                base = base[:-1]
            segs = segs[1:]
        rest = segs
    else:
        return None
    target = base
    for s in rest:
        if target + (s,) in mods:
            target = target + (s,)
        elif target == () and s in aliases:
            target = aliases[s]
        else:
            break
    return target


def root_aliases(mods):
    """`pub use settings::Settings;` in lib.rs: `crate::Settings` means module `settings`."""
    out = {}
    _, text = mods[()]
    for m in re.finditer(r"\bpub\s+use\s+([^;]+);", text, re.S):
        for p in expand_use(m.group(1)):
            segs = [s for s in p.split("::") if s and s not in ("crate", "self")]
            if len(segs) >= 2 and (segs[0],) in mods:
                out[segs[-1]] = (segs[0],)
    return out


def find_cycles(edges):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, comps, n = {}, {}, [], set(), [], [0]
    def strong(v):
        index[v] = low[v] = n[0]; n[0] += 1
        stack.append(v); on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))
    for v in list(edges):
        if v not in index:
            strong(v)
    return comps


def check_crate(crate_dir):
    src = crate_dir / "src"
    if not (src / "lib.rs").exists():
        return []
    mods = modules_of(src)
    aliases = root_aliases(mods)
    # parent -> child -> set(child), with evidence
    graph, why = {}, {}
    for here, (file, text) in mods.items():
        for p in referenced_paths(text):
            there = resolve(p, here, mods, aliases)
            if there is None:
                continue
            k = 0
            while k < min(len(here), len(there)) and here[k] == there[k]:
                k += 1
            if k == len(here) or k == len(there):
                continue  # ancestor or descendant
            parent, a, b = here[:k], here[k], there[k]
            graph.setdefault(parent, {}).setdefault(a, set()).add(b)
            why.setdefault((parent, a, b), f"{file.relative_to(ROOT)}: {p}")
    problems = []
    for parent, edges in graph.items():
        for comp in find_cycles(edges):
            name = "::".join(parent) or "crate root"
            lines = [f"{crate_dir.name}: modules under {name} import each other in a circle: {', '.join(comp)}"]
            for a in comp:
                for b in sorted(edges.get(a, ())):
                    if b in comp:
                        lines.append(f"    {a} -> {b}   ({why[(parent, a, b)]})")
            problems.append("\n".join(lines))
    return problems


def workspace_crates():
    out = []
    for cargo in sorted(ROOT.rglob("Cargo.toml")):
        rel = cargo.relative_to(ROOT)
        if rel.parts[0] in ("target",) or "fuzz" in rel.parts or rel == Path("Cargo.toml"):
            continue
        if (cargo.parent / "src" / "lib.rs").exists():
            out.append(cargo.parent)
    return out


def main():
    crates = [Path(a).resolve() for a in sys.argv[1:]] or workspace_crates()
    problems = []
    for c in crates:
        problems += check_crate(c)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} module cycle(s): make the lower module stop importing the higher one")
        return 1
    print(f"no module cycles in {len(crates)} crates")
    return 0


if __name__ == "__main__":
    sys.exit(main())
