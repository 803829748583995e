"""Turns callgrind profiles of oidc-agent into a linker symbol ordering file
(see benches/agent-layout, which runs it).

usage: order.py [--every-process] OUT BINARY PROFILE_DIR...
       order.py --variants OUT BINARY
       order.py --check LIST BINARY

Each PROFILE_DIR holds callgrind output files (`callgrind.out.*`), one per
process of BINARY. The functions the serving agents ran (the processes that
went through `agent::serve`) come first: those the agents that spoke TLS to
a provider ran (every real provider is HTTPS; most test agents are not),
those most of them ran first, then by how many agents ran them (then the
most executed first), so that an HTTPS agent's code paths in common
(start-up, the runtime, serving, a refresh over TLS) sit together at the
start and each rarer path (locking, an error, plain HTTP) after them. Then the functions only
the short-lived processes ran (the `eval "$(oidc-agent)"` parent, `--status`,
`-k`), which a running agent never touches. Functions never executed are left
to the linker, after all of these.

With --every-process (for oidc-token, whose every run is short), every
process counts as a serving one: what most runs ran comes first.

Either way, and alone with --variants (on an existing OUT), each listed
function is followed by the variants of it that a CPU with ADX or the SHA
extensions runs and valgrind's emulated CPU (which has neither) never
does: ring's `_adx`, `mulx`-style, `_hw`, VAES and VPCLMULQDQ assembly, RustCrypto sha2's
x86 backend. Unlisted, they would each fault in a 64 KiB window of their own
on such a CPU (most x86-64 machines since 2015). The C runtime's entry code
(`_start`, and crtbegin's `frame_dummy` and its neighbours), which every
process runs and callgrind folds into "(below main)", goes first.

--check (run by tests/run-all on a release build with symbols) fails when
fewer than CHECK_SHARE of LIST's names are functions of BINARY. A name
carries a hash of its crate's version, features and dependencies and of the
toolchain, so a dependency added or updated, or a new rustc, renames most of
the list; the linker then skips those names without a word, and the binary
is laid out as if there were no list (in one such case an HTTPS agent's
resident code grew from 1.7 to 2.5 MB). Code edits rename a few.
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
# A TLS 1.3 client handshake: the agent talked to an HTTPS provider.
TLS = "rustls6client5tls13"


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


# Variants valgrind cannot run (no ADX, no SHA-NI), by the listed function
# they stand in for: (pattern of the variant, the names of that function; a
# leading or trailing `*` matches any start or end). Names that no longer
# match simply add nothing.
VARIANTS = [
    # ring: foo_adx for foo_nohw; x25519's ADX path (and the static helpers
    # of its C code) for the generic one.
    (r"_adx$", lambda n: [n[:-4] + "_nohw", n[:-4] + "_generic_masked", n[:-4]]),
    (r"fiat_curve25519_adx_|^fe4_|^fiat_25519_|^inline_x25519_", lambda n: ["*x25519_scalar_mult_generic_masked"]),
    # ring's Montgomery code in its mulx/adcx/adox forms.
    (r"^__ecp_nistz256_\w+x$", lambda n: [n[:-1] + "q"]),
    (r"(mulx4x|sqrx8x|postx4x|powerx5)", lambda n: [n.replace("mulx4x", "mul4x").replace("sqrx8x", "sqr8x")
                                                    .replace("postx4x", "post4x").replace("powerx5", "power5_nohw")]),
    # VAES and VPCLMULQDQ (AES-GCM): ring's AVX2 forms for its AES-NI and
    # AVX ones.
    (r"_vaes_avx2$", lambda n: [n.replace("aes_gcm_enc_update_vaes_avx2", "aesni_gcm_encrypt")
                                .replace("aes_gcm_dec_update_vaes_avx2", "aesni_gcm_decrypt")]),
    (r"_vpclmulqdq_avx2(_1)?$", lambda n: [n.split("_vpclmulqdq_avx2")[0] + "_avx"]),
    # SHA-NI: ring's _hw for the AVX/SSSE3 code, sha2's x86 backend for its portable one.
    (r"_block_data_order_hw$", lambda n: [n[:-3] + "_avx", n[:-3] + "_ssse3", n[:-3] + "_nohw"]),
    (r"^_ZN4sha26sha2563x86", lambda n: ["_ZN4sha26sha256*"]),
]


# The C runtime's entry code: every process runs it, callgrind does not name it.
START_UP = ["_start", "frame_dummy", "register_tm_clones", "deregister_tm_clones", "__do_global_dtors_aux"]

# The least share of a list's names a build must still have (--check).
CHECK_SHARE = 0.95

VARIANTS_NOTE = "# Each listed function is followed by its CPU variants valgrind cannot run (ADX, SHA-NI, VAES)."


def functions(binary: str) -> set[str]:
    """The names of `binary`'s functions (nm types t and T)."""
    out = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True, check=True).stdout
    return {p[2] for p in (line.split() for line in out.splitlines()) if len(p) == 3 and p[1] in "tT"}


def with_variants(listed: list[str], symbols: set[str]) -> list[str]:
    """`listed` after the C runtime's entry code, each function followed by its
    unlisted CPU variants."""
    have = set(listed)
    after: dict[str, list[str]] = collections.defaultdict(list)

    def find(base: str) -> str | None:
        if base.startswith("*"):
            return next((n for n in listed if n.endswith(base[1:])), None)
        if base.endswith("*"):
            return next((n for n in listed if n.startswith(base[:-1])), None)
        return base if base in have else None

    for name in sorted(symbols - have):
        for pattern, stands_for in VARIANTS:
            if not re.search(pattern, name):
                continue
            for base in stands_for(name):
                anchor = find(base)
                if anchor and anchor != name:
                    after[anchor].append(name)
                    break
            break
    start = [n for n in START_UP if n in symbols and n not in have]
    return start + [m for n in listed for m in (n, *after.get(n, []))]


def read_list(path: str) -> tuple[list[str], list[str]]:
    """An ordering file's comment lines and the function names it lists."""
    lines = Path(path).read_text().splitlines()
    return [n for n in lines if n.startswith("#")], [n for n in lines if n and not n.startswith("#")]


def check(listing: str, binary: str) -> int:
    """Whether the list still names the build's functions (see --check)."""
    _, listed = read_list(listing)
    have = functions(os.path.realpath(binary))
    found = sum(n in have for n in listed)
    share = found / len(listed) if listed else 0.0
    print(f"{listing}: {found} of {len(listed)} listed functions are in {binary} ({share:.0%})")
    if share >= CHECK_SHARE:
        return 0
    print(f"{listing} no longer matches the build (under {CHECK_SHARE:.0%}): a dependency, the "
          "toolchain or the code changed its functions' names, and the linker skips the rest; "
          "regenerate it with benches/agent-layout (README \"Performance\")", file=sys.stderr)
    return 1


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["--check"]:
        return check(*args[1:])
    if args[:1] == ["--variants"]:
        out, binary = args[1:]
        symbols = functions(os.path.realpath(binary))
        header, listed = read_list(out)
        header += [] if VARIANTS_NOTE in header else [VARIANTS_NOTE]
        names = with_variants(listed, symbols)
        Path(out).write_text("".join(n + "\n" for n in header + names))
        print(f"agent-layout: {len(names) - len(listed)} CPU variants added -> {out}")
        return 0
    every = args[:1] == ["--every-process"]
    out, binary, *dirs = args[1:] if every else args
    binary = os.path.realpath(binary)
    symbols = functions(binary)
    agents: collections.Counter = collections.Counter()  # serving processes that ran it
    tls: collections.Counter = collections.Counter()  # those of them that spoke TLS
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
                if any(TLS in name for name in ran):
                    tls.update(ran.keys())
            else:
                short.update(ran)
    if not serving:
        print(f"agent-layout: no profile of {binary} to order by; {out} is left as it was",
              file=sys.stderr)
        return 1
    first = sorted((n for n in agents if n in symbols), key=lambda n: (-tls[n], -agents[n], -cost[n], n))
    rest = [n for n, _ in short.most_common() if n in symbols and n not in agents]
    tool = Path(binary).name
    header = (
        f"# {tool}'s functions in the order the linker lays them out (lld\n"
        "# --symbol-ordering-file, passed by build.rs): what most of its profiled\n"
        "# processes ran first (for oidc-agent: the serving agents, those that spoke\n"
        "# TLS first), then rarer paths, so that the pages a process touches are few\n"
        "# and together. Generated\n"
        "# by benches/agent-layout from callgrind profiles of an ordinary session and\n"
        "# end-to-end tests; regenerate after changing the agent's code, its\n"
        "# dependencies or the toolchain (names that no longer exist are skipped).\n"
        f"# {serving} processes profiled: {len(first)} functions they ran, {len(rest)} others.\n"
        f"{VARIANTS_NOTE}\n"
    )
    first = with_variants(first, symbols)
    Path(out).write_text(header + "".join(n + "\n" for n in first + rest))
    print(f"agent-layout: {len(first)} + {len(rest)} functions ordered ({serving} processes) -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
