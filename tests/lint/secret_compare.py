#!/usr/bin/env python3
"""Checks that secrets are compared only in constant time: `SecretString`
and `SecretKey` implement `PartialEq` with `subtle` (no derived one), and no
code compares the plaintext a secret exposes with `==` or `!=`
(`a.expose() == b.expose()` would go around the constant-time comparison).

Run from the repository root; exits 1 listing what it found.
`--self-test` checks the checker on small examples first.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# A secret's plaintext compared with another value; a literal or an
# UPPER_CASE constant on the other side (a marker such as `NO_SECRET`) is
# no secret and may be compared plainly.
EXPOSED = re.compile(
    r"\.expose\(\)\s*[!=]=\s*(?![\"\s]|[A-Z][A-Z0-9_]*\b)"
    r"|(?<![\"A-Z0-9_])(?<![A-Z0-9_]\s)[!=]=\s*[\w.&*()]*\.expose\(\)"
)
DERIVED = re.compile(r"#\[derive\([^)]*\bPartialEq\b[^)]*\)\]\s*pub struct (SecretString|SecretKey)\b")
CT_IMPL = re.compile(r"impl PartialEq for (SecretString|SecretKey) \{[^}]*ct_eq", re.S)


def problems_in(files: dict[str, str]) -> list[str]:
    found = []
    for path, text in files.items():
        for n, line in enumerate(text.splitlines(), 1):
            code = line.split("//")[0]
            if EXPOSED.search(code):
                found.append(f"{path}:{n}: compares an exposed secret with == or != (compare the secrets)")
        for m in DERIVED.finditer(text):
            found.append(f"{path}: {m.group(1)} derives PartialEq (implement it with subtle's ct_eq)")
    secret = files.get("src/secret.rs", "")
    for name in ("SecretString", "SecretKey"):
        if f"pub struct {name}" in secret and name not in CT_IMPL.findall(secret):
            found.append(f"src/secret.rs: {name} has no constant-time PartialEq")
    return found


def self_test() -> None:
    good = {
        "src/secret.rs": "#[derive(Clone)]\npub struct SecretString(Z);\n"
        "impl PartialEq for SecretString {\n fn eq(&self, o: &Self) -> bool { self.0.ct_eq(&o.0).into() }\n}\n"
        "pub struct SecretKey(K);\nimpl PartialEq for SecretKey { fn eq(&self, o: &Self) -> bool { x.ct_eq(y).into() } }",
        "src/a.rs": 'if s.expose().is_empty() {}\nif s == t {}\n// a.expose() == b.expose()\nif s.expose() == "" {}\n'
        "if s.expose() != NO_SECRET {}\nif x.expose() == y.expose() {}",
    }
    assert problems_in(good) == [f"src/a.rs:6: compares an exposed secret with == or != (compare the secrets)"], problems_in(good)
    bad = {
        "src/secret.rs": "#[derive(Clone, PartialEq, Eq)]\npub struct SecretString(Z);\npub struct SecretKey(K);",
        "src/a.rs": "let same = a.expose() != b.client_secret.expose();",
    }
    assert len(problems_in(bad)) == 4, problems_in(bad)


def main() -> int:
    if "--self-test" in sys.argv:
        self_test()
    files = {str(p): p.read_text() for p in sorted(Path("src").rglob("*.rs"))}
    found = problems_in(files)
    for p in found:
        print(p)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
