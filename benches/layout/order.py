"""Turns callgrind profiles of oidc-agent into a linker symbol ordering file
(see benches/agent-layout, which runs it).

usage: order.py [--every-process] OUT BINARY PROFILE_DIR...

Each PROFILE_DIR holds callgrind output files (`callgrind.out.*`), one per
process of BINARY. The functions the serving agents ran (the processes that
went through `agent::serve`) come first, those most agents ran before those
few ran (then the most executed first): an agent's code paths in common
(start-up, the runtime, serving, a refresh) sit together at the start and
each rarer path (TLS, locking, an error) after them. Then the functions only
the short-lived processes ran (the `eval "$(oidc-agent)"` parent, `--status`,
`-k`), which a running agent never touches. Functions never executed are left
to the linker, after all of these.

With --every-process (for oidc-token, whose every run is short), every
process counts as a serving one: what most runs ran comes first.
"""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
from pathlib import Path

# callgrind's compressed names: `fn=(12) name` defines id 12, `fn=(12)` reuses it
# (also cfn=, ob=, cob=, fl=, fi=, fe=).
NAME = re.compile(r"^(c?)(fn|ob|fl|fi|fe)=\((\d+)\)(?: (.*))?$")
# A function only a serving agent runs (oidc_agent::agent::serve).
SERVING = "10oidc_agent5agent5serve"


def executed(profile: Path, binary: str) -> collections.Counter:
    """Instructions executed per function of `binary` in one profile."""
    cost: collections.Counter = collections.Counter()
    tables: dict[str, dict[str, str]] = {"fn": {}, "ob": {}, "fl": {}}
    fn = obj = None
    for line in profile.read_text(errors="replace").splitlines():
        m = NAME.match(line)
        if m:
            called, kind, ident, name = m.groups()
            table = "fl" if kind in ("fi", "fe") else kind
            if name:
                tables[table][ident] = name
            if not called and kind == "fn":
                fn = tables["fn"].get(ident)
            elif not called and kind == "ob":
                obj = tables["ob"].get(ident)
                obj = obj and os.path.realpath(obj)
            continue
        if fn and obj == binary and line[:1].isdigit():
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                cost[fn.split("'")[0]] += int(parts[1])
    return cost


def main() -> int:
    args = sys.argv[1:]
    every = args[:1] == ["--every-process"]
    out, binary, *dirs = args[1:] if every else args
    binary = os.path.realpath(binary)
    symbols = set(subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True,
                                 check=True).stdout.split())
    agents: collections.Counter = collections.Counter()  # serving processes that ran it
    cost: collections.Counter = collections.Counter()
    short: collections.Counter = collections.Counter()
    serving = 0
    for d in dirs:
        for profile in sorted(Path(d).glob("callgrind.out.*")):
            ran = executed(profile, binary)
            if every or any(SERVING in name for name in ran):
                serving += 1
                agents.update(ran.keys())
                cost.update(ran)
            else:
                short.update(ran)
    if not serving:
        print(f"agent-layout: no profile of {binary} to order by; {out} is left as it was",
              file=sys.stderr)
        return 1
    first = sorted((n for n in agents if n in symbols), key=lambda n: (-agents[n], -cost[n], n))
    rest = [n for n, _ in short.most_common() if n in symbols and n not in agents]
    tool = Path(binary).name
    header = (
        f"# {tool}'s functions in the order the linker lays them out (lld\n"
        "# --symbol-ordering-file, passed by build.rs): what most of its profiled\n"
        "# processes ran first (for oidc-agent: the serving agents), then rarer\n"
        "# paths, so that the pages a process touches are few and together. Generated\n"
        "# by benches/agent-layout from callgrind profiles of an ordinary session and\n"
        "# end-to-end tests; regenerate after changing the agent's code, its\n"
        "# dependencies or the toolchain (names that no longer exist are skipped).\n"
        f"# {serving} processes profiled: {len(first)} functions they ran, {len(rest)} others.\n"
    )
    Path(out).write_text(header + "".join(n + "\n" for n in first + rest))
    print(f"agent-layout: {len(first)} + {len(rest)} functions ordered ({serving} processes) -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
