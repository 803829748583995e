"""A seeded fuzz pass against a live agent with a loaded account.

Random bytes, JSON mutations of real requests (repeated keys, wrong types,
deep nesting, random fields), requests of exactly 4096*k bytes, half-closed
and idle connections. Afterwards the agent still serves tokens, still has its
account, and its descriptor count (/proc/PID/fd) and resident memory are back
near their baseline. Reproducible: E2E_FUZZ_SEED picks the seed (printed on
failure); the case counts are fixed, so a run takes well under a minute.
"""

from __future__ import annotations

import json
import os
import random
import socket
import time

import pytest

from harness import assert_token_output, import_fresh_account

NAME = "fuzz"
SEED = int(os.environ.get("E2E_FUZZ_SEED", "20261201"))
CLIENT_TIMEOUT = 20.0  # above the agent's own 10 s read deadline

# Real requests, none of which changes the agent's state (no remove, lock,
# unlock): a mutation must not be able to turn one into an unload by chance.
SEEDS = [
    {"request": "access_token", "account": NAME, "min_valid_period": 0, "application_hint": "fuzz"},
    {"request": "access_token", "account": NAME, "min_valid_period": "30", "scope": ""},
    {"request": "id_token", "account": "nobody"},
    {"request": "loaded_accounts"},
    {"request": "account_info"},
    {"request": "check"},
    {"request": "status"},
    {"request": "status_json"},
    {"request": "add", "config": {"name": "fuzz-other", "issuer_url": "http://127.0.0.1:9/",
                                  "client_id": "c", "refresh_token": "rt"}, "skip_check": True,
     "lifetime": 1},
    {"request": "add", "config": json.dumps({"name": "fuzz-str", "client_id": "c"}), "confirm": 0},
]


def _fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except PermissionError:  # a non-dumpable process of another uid
        return None


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _exchange(sock_path: str, data: bytes, half_close: bool = True) -> bytes | None:
    """Send `data`, optionally half-close, read until the agent closes.
    Returns the reply, or None if the agent reset the connection."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(CLIENT_TIMEOUT)
        s.connect(sock_path)
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
            chunks = []
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
        except (ConnectionResetError, BrokenPipeError):
            return None


def _rand_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 2**63, -(2**63) - 1, 10**30, rng.randrange(-1000, 1000)])
    if kind == 3:
        return rng.choice([1.5, -0.0, 1e308])
    if kind == 4:
        return "".join(chr(rng.randrange(1, 0x2FF)) for _ in range(rng.randrange(0, 40)))
    if kind == 5:
        return "x" * rng.choice([0, 1, 4095, 70000])
    if kind == 6:
        return [_rand_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {f"k{i}": _rand_value(rng, depth + 1) for i in range(rng.randrange(0, 4))}


def _mutate_json(rng: random.Random, req: dict) -> bytes:
    req = json.loads(json.dumps(req))
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(5)
        keys = list(req)
        if op == 0 and keys:
            del req[rng.choice(keys)]
        elif op == 1 and keys:
            key = rng.choice(keys)
            if key != "request":
                req[key] = _rand_value(rng)
        elif op == 2:
            req[rng.choice(["account", "issuer", "scope", "audience", "min_valid_period", "config",
                            "lifetime", "extra", "data_key", "account_file"])] = _rand_value(rng)
        elif op == 3:
            req["request"] = rng.choice(["", "ACCESS_TOKEN", "status ", None, 7, ["status"], {"a": 1}])
        else:
            req["nested"] = json.loads("[" * 40 + "]" * 40) if rng.random() < 0.5 else _rand_value(rng)
    text = json.dumps(req)
    roll = rng.random()
    if roll < 0.2:
        # a repeated key, at the top or inside
        i = text.index("{") + 1
        text = text[:i] + '"request":"status",' + text[i:]
    elif roll < 0.35 and len(text) > 2:
        i = rng.randrange(len(text))
        text = text[:i] + chr(rng.randrange(0, 256)) + text[i + 1:]
    elif roll < 0.45:
        text = text[: rng.randrange(len(text))]
    return text.encode("utf-8", "surrogatepass")


def _exactly(k: int) -> bytes:
    """A valid token request padded with spaces to exactly 4096*k bytes."""
    body = json.dumps({"request": "access_token", "account": NAME, "min_valid_period": 0,
                       "application_hint": "big"}).encode()
    return body[:-1] + b" " * (4096 * k - len(body)) + b"}"


def test_fuzz_pass_leaves_the_agent_serving_and_lean(cli, provider, agent):
    rng = random.Random(SEED)
    sock = agent.sock
    pid = agent.pid
    import_fresh_account(cli, provider, NAME)
    assert_token_output(cli.token(NAME))
    # warm up: the first requests allocate the agent's lasting buffers
    for req in SEEDS:
        _exchange(sock, json.dumps(req).encode())
    base_fds, base_rss = _fds(pid), _rss_kib(pid)

    # idle connections, opened first: the agent must not keep them forever
    idle = []
    for _ in range(10):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        idle.append(s)

    failures = []
    answered = {"json": 0, "none": 0}

    def check(what: str, data: bytes, reply: bytes | None, want_json: bool):
        answered["none" if not reply else "json"] += 1
        if reply is None or reply == b"":
            if want_json:
                failures.append(f"{what}: no reply to {data[:120]!r}")
            return
        try:
            v = json.loads(reply)
        except ValueError:
            failures.append(f"{what}: reply is not JSON: {reply[:200]!r}")
            return
        if not isinstance(v, dict) or v.get("status") not in ("success", "failure"):
            failures.append(f"{what}: odd reply {v!r:.200}")
        elif len(reply) % 4096 == 0:
            failures.append(f"{what}: a reply of 4096*k bytes ({len(reply)})")

    # random bytes, half-closed
    for i in range(300):
        data = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 7, 64, 600, 5000])))
        check(f"random #{i}", data, _exchange(sock, data), want_json=False)

    # JSON mutations of real requests: JSON in, a JSON reply out
    for i in range(700):
        data = _mutate_json(rng, rng.choice(SEEDS))
        try:
            json.loads(data)
            is_json = True
        except ValueError:
            is_json = False
        check(f"mutation #{i}", data, _exchange(sock, data), want_json=is_json)

    # the repeated-key attack from the issue changes nothing
    reply = json.loads(_exchange(sock, b'{"request":"loaded_accounts","request":"remove","account":"fuzz"}'))
    assert reply["status"] == "failure", reply

    # 4096*k-byte requests without a half-close: the agent must not wait for more
    for k in (1, 2, 3, 5, 8):
        data = _exactly(k)
        assert len(data) == 4096 * k
        reply = _exchange(sock, data, half_close=False)
        check(f"exact {k}*4096", data, reply, want_json=True)
        assert reply and json.loads(reply).get("access_token"), reply
        junk = b"\x01" * (4096 * k)
        check(f"junk {k}*4096", junk, _exchange(sock, junk, half_close=False), want_json=False)

    # half-closed prefixes of real requests
    for i in range(60):
        full = json.dumps(rng.choice(SEEDS)).encode()
        cut = full[: rng.randrange(1, len(full))]
        check(f"half-closed #{i}", cut, _exchange(sock, cut), want_json=False)

    assert not failures, f"seed {SEED}:\n" + "\n".join(failures[:20])
    # most inputs got an answer (a pass of resets would test nothing)
    assert answered["json"] > 4 * answered["none"], f"seed {SEED}: {answered}"

    # the idle connections: closed by the agent (its read deadline), not kept
    for s in idle:
        s.settimeout(CLIENT_TIMEOUT)
        try:
            while s.recv(4096):
                pass
        except (ConnectionResetError, socket.timeout) as e:
            if isinstance(e, socket.timeout):
                pytest.fail(f"seed {SEED}: an idle connection was still open after {CLIENT_TIMEOUT} s")
        finally:
            s.close()

    # still serving, account still loaded
    assert_token_output(cli.token(NAME))
    loaded = json.loads(_exchange(sock, b'{"request":"loaded_accounts"}'))
    assert NAME in loaded.get("info", []), loaded

    # Descriptors and memory back near the baseline. Both counts are taken
    # right after a reply read to its end, when every earlier connection is
    # closed: the agent runs on one thread, and a connection's task shuts the
    # socket (the end we read) and drops it in one step, so a later reply
    # comes only after that. The last connection may still be open (+1).
    if base_fds is not None:
        fds = _fds(pid)
        assert fds <= base_fds + 1, f"seed {SEED}: {fds} descriptors open, {base_fds} before the fuzz pass"
    rss = _rss_kib(pid)
    assert rss <= base_rss + max(16 * 1024, base_rss // 2), \
        f"seed {SEED}: RSS {rss} KiB after the fuzz pass, {base_rss} KiB before"
