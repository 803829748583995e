#!/usr/bin/env python3
"""Checks the library's module graph: no module may use a module that uses it
back (directly or through others), no `super::super::` path, and no module over 500 lines
(the library's, and the Rust modules of the tests and benchmarks).

A module's uses are the paths it names, in `use` items and inline, resolved
to the deepest module they reach: paths from `crate::`, `super::` and
`self::`, and paths that start with one of the module's own child modules
(a parent calling `child::f()` uses that child, so a child that uses its
parent back is a cycle, as two siblings using each other are). `pub use`
re-exports are followed to the module that defines the item, so
`crate::Error` is a use of `error`. Comments, strings (raw and continued
over lines) and the `#[cfg(test)] mod tests` block are passed over.

Run from the repository root; exits 1 listing what it found.
`--self-test` checks the checker on small examples first.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

MAX_LINES = 500
SRC = Path("src")


def module_of(rel: tuple[str, ...]) -> tuple[str, ...]:
    """src-relative path parts of a .rs file (without suffix) -> module path."""
    if rel[0] == "bin" or rel == ("lib",):
        return ()
    if rel[-1] == "mod":
        rel = rel[:-1]
    return tuple(rel)


def code_only(text: str) -> str:
    """The text with comments removed and every string or char literal made
    empty, read left to right (a `//` inside a string is not a comment)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if text.startswith("/*", i):
            depth = 0
            while i < n:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
                if depth == 0:
                    break
            continue
        word_before = i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")
        raw = re.match(r'b?r(#*)"', text[i:])
        if raw and not word_before:
            end = '"' + raw.group(1)
            j = text.find(end, i + len(raw.group(0)))
            out.append('""')
            i = n if j < 0 else j + len(end)
            continue
        if text[i] == '"' or (text.startswith('b"', i) and not word_before):
            j = i + (2 if text[i] == "b" else 1)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""')
            i = j + 1
            continue
        char = re.match(r"b?'(\\[^']+|[^'\\])'", text[i:])
        if char and not word_before:
            out.append("' '")
            i += len(char.group(0))
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def expand_use(prefix: str, body: str) -> list[str]:
    """`a::{b, c::{d, e}}` -> ["a::b", "a::c::d", "a::c::e"]."""
    body = body.strip()
    m = re.match(r"^([\w:]*?)\{(.*)\}$", body, re.S)
    if not m:
        return [prefix + body]
    head, inner = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ""
    for ch in inner:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p for part in parts if part.strip() for p in expand_use(prefix + head, part)]


def split_alias(path: str) -> tuple[list[str], str | None]:
    m = re.search(r"\s+as\s+(\w+)$", path.strip())
    path = re.sub(r"\s+as\s+\w+$", "", path.strip())
    return [s for s in path.split("::") if s], (m.group(1) if m else None)


class Graph:
    def __init__(self, texts: dict[tuple[str, ...], str]):
        self.texts = texts
        self.known = set(texts)
        # (module, name) -> the path a `pub use` in that module names
        self.reexports: dict[tuple[tuple[str, ...], str], list[str]] = {}
        for mod, text in texts.items():
            for m in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", text):
                for p in expand_use("", m.group(1)):
                    segs, alias = split_alias(p)
                    if segs:
                        self.reexports[(mod, alias or segs[-1])] = segs

    def children(self, mod: tuple[str, ...]) -> set[str]:
        return {k[-1] for k in self.known if len(k) == len(mod) + 1 and k[: len(mod)] == mod}

    def resolve(self, mod: tuple[str, ...], segs: list[str], hops: int = 0, aliases=None):
        """The deepest module `segs`, named in `mod`, reaches; None when it
        leaves the crate. `aliases`: the modules `mod`'s `use` items name
        (`use crate::account;` makes `account::format::x` a path into it)."""
        if not segs:
            return None
        if aliases and segs[0] in aliases and segs[0] not in self.children(mod):
            cur, rest = aliases[segs[0]], segs[1:]
        elif segs[0] == "crate":
            cur, rest = (), segs[1:]
        elif segs[0] == "super":
            cur, rest = mod[:-1], segs[1:]
        elif segs[0] == "self":
            cur, rest = mod, segs[1:]
        elif segs[0] in self.children(mod):
            cur, rest = mod, segs
        else:
            return None
        for s in rest:
            if s == "super":
                cur = cur[:-1]
                continue
            if cur + (s,) in self.known:
                cur = cur + (s,)
                continue
            target = self.reexports.get((cur, s))
            if target is not None and hops < 10:
                found = self.resolve(cur, target, hops + 1)
                if found is not None:
                    return found
            break
        return cur

    def uses(self, mod: tuple[str, ...]) -> set[tuple[str, ...]]:
        text = self.texts[mod]
        used: list[str] = []
        for m in re.finditer(r"\buse\s+([^;]+);", text):
            used.extend(expand_use("", m.group(1)))
        aliases: dict[str, tuple[str, ...]] = {}
        for p in used:
            segs, alias = split_alias(p)
            if segs and segs[-1] == "self":
                segs = segs[:-1]
            target = self.resolve(mod, segs)
            # A module brought in by name (`use crate::account;`).
            if segs and target is not None and target[-1:] == (segs[-1],):
                aliases[alias or segs[-1]] = target
        inline = [m.group(0) for m in re.finditer(r"(?<![\w:])\w+(?:::\w+)+", text)]
        found = set()
        for p in used + inline:
            segs = split_alias(p)[0]
            if segs and segs[-1] == "self":
                segs = segs[:-1]
            target = self.resolve(mod, segs, aliases=aliases)
            if target is not None and target != mod:
                found.add(target)
        return found

    def cycles(self) -> list[str]:
        """Every set of modules that reach each other through their uses (a
        strongly connected component of the graph, Tarjan's algorithm): two
        that use each other, or a longer loop."""
        uses = {mod: self.uses(mod) & self.known for mod in self.texts}
        index: dict[tuple[str, ...], int] = {}
        low: dict[tuple[str, ...], int] = {}
        stack: list[tuple[str, ...]] = []
        found: list[str] = []

        def visit(v: tuple[str, ...]) -> None:
            index[v] = low[v] = len(index)
            stack.append(v)
            for w in sorted(uses.get(v, ())):
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in stack:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                members = []
                while True:
                    w = stack.pop()
                    members.append(w)
                    if w == v:
                        break
                if len(members) > 1:
                    names = sorted("::".join(m) or "crate" for m in members)
                    if len(names) == 2:
                        found.append(f"cycle: {names[0]} <-> {names[1]}")
                    else:
                        found.append(f"cycle among: {', '.join(names)}")

        sys.setrecursionlimit(10_000)
        for v in sorted(uses):
            if v not in index:
                visit(v)
        return sorted(found)


def library_texts(files: dict[tuple[str, ...], str]) -> dict[tuple[str, ...], str]:
    texts = {}
    for rel, text in files.items():
        if rel[0] == "bin":
            continue
        code = code_only(text)
        # A module's own tests may reach anywhere.
        texts[module_of(rel)] = re.split(r"#\[cfg\(test\)\]\s*mod tests\b", code)[0]
    return texts


# (what the case shows, its files by module path, the cycles to find)
SELF_TEST = [
    (
        "a parent calling its child, which uses it back; a URL in a string",
        {
            "lib": "mod a;",
            "a": 'mod b;\nconst U: &str = "https://x";\nfn f() { b::g() }\nconst V: &str = "v";',
            "a/b": "use super::U;\npub fn g() {}",
        },
        ["cycle: a <-> a::b"],
    ),
    (
        "strings continued over lines, or holding //, hide no code",
        {
            "lib": "mod a; mod b;",
            "a": 'const S: &str = "one \\\n two";\nfn f() { crate::b::g() }\nconst T: &str = "t";',
            "b": "pub fn g() { crate::a::h() }\n// \"\nfn k() {}",
        },
        ["cycle: a <-> b"],
    ),
    (
        "a re-export is a use of the module that defines the item",
        {
            "lib": "mod error; mod x; pub use error::Error;",
            "error": "pub enum Error { X(crate::x::E) }",
            "x": "pub struct E;\nfn f() -> crate::Error { todo!() }",
        },
        ["cycle: error <-> x"],
    ),
    (
        "a module brought in by name",
        {
            "lib": "mod a; mod b;",
            "a": "use crate::b;\nfn f() { b::c::g() }",
            "b": "pub mod c;",
            "b/c": "pub fn g() { crate::a::f() }",
        },
        ["cycle: a <-> b::c"],
    ),
    (
        "a loop through three modules",
        {
            "lib": "mod a; mod b; mod c;",
            "a": "fn f() { crate::b::g() }",
            "b": "pub fn g() { crate::c::h() }",
            "c": "pub fn h() { crate::a::f() }",
        },
        ["cycle among: a, b, c"],
    ),
    (
        "layers, char literals, and a child's tests reaching its parent",
        {
            "lib": "mod a; mod b;",
            "a": "mod c;\nfn f() { c::g(); crate::b::h() }",
            "a/c": "pub fn g() { crate::b::h() }\n#[cfg(test)]\nmod tests { use super::super::f; }",
            "b": "pub fn h() { let _ = 'x'; let _ = b'\"'; }",
        },
        [],
    ),
]


def self_test() -> None:
    for what, files, expected in SELF_TEST:
        found = Graph(library_texts({tuple(k.split("/")): v for k, v in files.items()})).cycles()
        assert found == expected, f"{what}: {found}"


def main() -> int:
    if "--self-test" in sys.argv:
        self_test()
    problems: list[str] = []
    for path in sorted([*SRC.rglob("*.rs"), *Path("tests").rglob("*.rs"), *Path("benches").rglob("*.rs")]):
        lines = path.read_text().count("\n")
        if lines > MAX_LINES:
            problems.append(f"{path}: {lines} lines (over {MAX_LINES})")
    files = {p.relative_to(SRC).with_suffix("").parts: p.read_text() for p in sorted(SRC.rglob("*.rs"))}
    for rel, text in files.items():
        if "super::super::" in code_only(text):
            problems.append(f"{SRC.joinpath(*rel)}.rs: uses super::super::")
    problems.extend(Graph(library_texts(files)).cycles())
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
