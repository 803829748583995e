#!/usr/bin/env python3
"""Checks the library's module graph: no module may use a module that uses it
back (directly), no `super::super::` path, and no module over 500 lines
(the library's, and the Rust modules of the tests and benchmarks).

A module's uses are the paths it names (`use` items and inline paths)
starting with `crate::` or `super::`, each resolved to the deepest module it
reaches. Run from the repository root; exits 1 listing what it found.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

MAX_LINES = 500
SRC = Path("src")


def module_of(path: Path) -> tuple[str, ...]:
    rel = path.relative_to(SRC).with_suffix("")
    parts = rel.parts
    if parts[0] == "bin":
        return ()
    if parts == ("lib",):
        return ()
    if parts[-1] == "mod":
        parts = parts[:-1]
    return tuple(parts)


def strip_comments_and_strings(text: str) -> str:
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return text


def expand_use(prefix: str, body: str) -> list[str]:
    """`a::{b, c::d}` -> ["a::b", "a::c::d"] (one level of braces is enough
    for the heads we need)."""
    body = body.strip()
    m = re.match(r"^([\w:]*?)\{(.*)\}$", body, re.S)
    if not m:
        return [prefix + body]
    head, inner = m.group(1), m.group(2)
    out, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    res = []
    for part in out:
        part = part.strip()
        if part:
            res.extend(expand_use(prefix + head, part))
    return res


def main() -> int:
    files = sorted(p for p in SRC.rglob("*.rs"))
    problems: list[str] = []
    for path in [*files, *sorted([*Path("tests").rglob("*.rs"), *Path("benches").rglob("*.rs")])]:
        lines = path.read_text().count("\n")
        if lines > MAX_LINES:
            problems.append(f"{path}: {lines} lines (over {MAX_LINES})")
    modules = {module_of(p): p for p in files if module_of(p) or p.name == "lib.rs"}
    known = set(modules)
    uses: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
    for path in files:
        if path.parts[1] == "bin":
            continue
        mod = module_of(path)
        text = strip_comments_and_strings(path.read_text())
        if "super::super::" in text:
            problems.append(f"{path}: uses super::super::")
        # Test modules may reach anywhere.
        text = re.split(r"#\[cfg\(test\)\]\s*mod tests", text)[0]
        paths: list[str] = []
        for m in re.finditer(r"\buse\s+([^;]+);", text):
            paths.extend(expand_use("", m.group(1)))
        paths.extend(m.group(0) for m in re.finditer(r"\b(?:crate|super)(?:::\w+)+", text))
        targets: set[tuple[str, ...]] = set()
        for p in paths:
            p = re.sub(r"\s+as\s+\w+$", "", p.strip())
            segs = [s for s in p.split("::") if s]
            if not segs or segs[0] not in ("crate", "super"):
                continue
            base: list[str] = [] if segs[0] == "crate" else list(mod[:-1])
            rest = segs[1:]
            # the deepest known module on the path
            best = tuple(base)
            cur = list(base)
            for s in rest:
                cur.append(s)
                if tuple(cur) in known:
                    best = tuple(cur)
                else:
                    break
            if best != mod and best != ():
                targets.add(best)
        uses[mod] = targets
    for a, ta in uses.items():
        for b in ta:
            if a in uses.get(b, set()) and a < b:
                problems.append(f"cycle: {'::'.join(a) or 'crate'} <-> {'::'.join(b)}")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
