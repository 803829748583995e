#!/usr/bin/env python3
"""Generate oidc-agent account-file vectors with PyNaCl, mirroring the C code.

Formats (indigo-dc/oidc-agent):
* 2.1.0+ (src/utils/crypt/crypt.c crypt_encrypt + cryptUtils.c encryptWithVersionLine),
  lines joined by "\\n", no trailing newline:
      <plaintext_len + 16>
      <base64 nonce(24)>
      <base64 salt(16)>
      <nonce_len>:<salt_len>:<mac_len>:<key_len>:<b64 variant>:<opslimit>:<memlimit>:<alg>
      <base64 crypto_secretbox_easy(plaintext)>        (MAC first)
      <base64 hash_key>                                (bytes 32..64 of the KDF output)
      Generated using version: X.Y.Z
  KDF: crypto_pwhash(64 bytes, password, salt, OPSLIMIT_INTERACTIVE, MEMLIMIT_INTERACTIVE,
  ALG_DEFAULT); bytes 0..32 are the secretbox key.  With libsodium >= 1.0.15 that is
  Argon2id v1.3, 2 passes, 64 MiB (line 4 "24:16:16:32:1:2:67108864:2"); a libsodium18
  build (Debian stretch, Ubuntu xenial) used Argon2i v1.3, 4 passes, 32 MiB and wrote
  "24:16:16:32:1:4:33554432:1".
* before 2.1.0 (src/utils/crypt/hexCrypt.c, cryptUtils.c decryptHexFileContent):
  one line "<plaintext_len + 16>:<hex salt>:<hex nonce>:<hex ciphertext>", key =
  crypto_pwhash(32 bytes, ...) with the libsodium18 parameters or, on libsodium23
  systems, Argon2id/2/64 MiB (the reader tries both).

Usage: python3 make_legacy_vectors.py [--with-oidc-gen]
  Writes legacy/*.acct and legacy.json next to this script.  With --with-oidc-gen it
  also (re)creates legacy/real-4.2.6.acct with Debian's oidc-gen (oidc-agent-cli 4.2.6,
  `oidc-gen -u`) and records whether `oidc-gen -p` decrypts every vector.
"""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

from nacl import pwhash
from nacl.secret import SecretBox

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "legacy")

PARAMS = {
    # name: (alg constant, pwhash module, opslimit, memlimit)
    "sodium23": (2, pwhash.argon2id, 2, 67108864),
    "sodium18": (1, pwhash.argon2i, 4, 33554432),
}

ACCOUNT_426 = (
    '{"name":"test","client_name":"oidc-agent:test-vm","issuer_url":"http://127.0.0.1:9999/",'
    '"device_authorization_endpoint":"http://127.0.0.1:9999/device","daeSetByUser":0,'
    '"client_id":"cid","client_secret":"csecret","refresh_token":"RT-4.2.6-vector",'
    '"cert_path":"/etc/ssl/certs/ca-certificates.crt","scope":"openid profile offline_access",'
    '"audience":"","redirect_uris":["http://localhost:4242"],"username":"","password":""}'
)
ACCOUNT_OLD = (
    '{"name":"old","issuer_url":"https://iam.example.org/","client_id":"old-cid",'
    '"client_secret":"old-secret","refresh_token":"RT-hex-vector","scope":"openid offline_access",'
    '"redirect_uris":["http://localhost:8080"]}'
)
ACCOUNT_UTF8 = (
    '{"name":"umlaut","issuer_url":"https://op.example.org","client_id":"c\u00e4d",'
    '"client_secret":"s\u00e9cr\u00eat","refresh_token":"RT-utf8-vector"}'
)


def seeded(label: str, size: int) -> bytes:
    return hashlib.sha512(label.encode()).digest()[:size]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def kdf(params: str, size: int, password: bytes, salt: bytes) -> bytes:
    _, module, ops, mem = PARAMS[params]
    return module.kdf(size, password, salt, opslimit=ops, memlimit=mem)


def sodium_file(name, text, password, params="sodium23", version="4.2.6"):
    alg, _, ops, mem = PARAMS[params]
    salt = seeded(name + " salt", 16)
    nonce = seeded(name + " nonce", 24)
    keys = kdf(params, 64, password, salt)
    cipher = SecretBox(keys[:32]).encrypt(text.encode(), nonce).ciphertext
    lines = [
        str(len(text.encode()) + 16),
        b64(nonce),
        b64(salt),
        "24:16:16:32:1:%d:%d:%d" % (ops, mem, alg),
        b64(cipher),
        b64(keys[32:]),
    ]
    if version is not None:
        lines.append("Generated using version: " + version)
    return "\n".join(lines)


def hex_file(name, text, password, params, version=None):
    salt = seeded(name + " salt", 16)
    nonce = seeded(name + " nonce", 24)
    key = kdf(params, 32, password, salt)
    cipher = SecretBox(key).encrypt(text.encode(), nonce).ciphertext
    line = "%d:%s:%s:%s" % (len(text.encode()) + 16, salt.hex(), nonce.hex(), cipher.hex())
    return line if version is None else line + "\nGenerated using version: " + version


def oidc_gen(args, password):
    env = dict(os.environ, OIDC_ENCRYPTION_PW=password)
    return subprocess.run(["oidc-gen", *args, "--pw-env"], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=120)


def main() -> None:
    with_oidc_gen = "--with-oidc-gen" in sys.argv[1:]
    os.makedirs(OUT, exist_ok=True)
    specs = [
        # file, expected format, password, plaintext, content
        ("pynacl-4.2.6.acct", "sodium", "correct horse battery staple", ACCOUNT_426,
         lambda n, t, p: sodium_file(n, t, p)),
        ("pynacl-utf8-password.acct", "sodium", "p\u00e4ssw\u00f6rd \u20ac", ACCOUNT_UTF8,
         lambda n, t, p: sodium_file(n, t, p, version="5.3.3")),
        ("pynacl-libsodium18-2.1.0.acct", "sodium", "stretch", ACCOUNT_OLD,
         lambda n, t, p: sodium_file(n, t, p, params="sodium18", version="2.1.0")),
        ("pynacl-hex-libsodium18.acct", "hex", "xenial", ACCOUNT_OLD,
         lambda n, t, p: hex_file(n, t, p, "sodium18")),
        ("pynacl-hex-libsodium23.acct", "hex", "bionic", ACCOUNT_OLD,
         lambda n, t, p: hex_file(n, t, p, "sodium23", version="2.0.3")),
    ]
    index_path = os.path.join(HERE, "legacy.json")
    old = {}
    if os.path.exists(index_path):
        old = {v["file"]: v for v in json.load(open(index_path))["vectors"]}
    vectors = []
    for fname, fmt, password, text, make in specs:
        content = make(fname, text, password.encode())
        with open(os.path.join(OUT, fname), "w") as f:
            f.write(content)
        entry = {"file": "legacy/" + fname, "format": fmt, "password": password,
                 "plaintext": text, "source": "PyNaCl (make_legacy_vectors.py)"}
        prev = old.get(entry["file"], {})
        if "oidc_gen_4_2_6_decrypts" in prev:
            entry["oidc_gen_4_2_6_decrypts"] = prev["oidc_gen_4_2_6_decrypts"]
        vectors.append(entry)

    real = "legacy/real-4.2.6.acct"
    real_password = "real 4.2.6 password"
    if with_oidc_gen:
        tmp = tempfile.mkdtemp()
        path = os.path.join(tmp, "real")
        with open(path, "w") as f:
            f.write(ACCOUNT_426.replace("RT-4.2.6-vector", "RT-written-by-oidc-gen-4.2.6"))
        res = oidc_gen(["-u", path], real_password)
        if res.returncode != 0:
            raise SystemExit("oidc-gen -u failed: %r" % res)
        shutil.copy(path, os.path.join(HERE, real))
        shutil.rmtree(tmp)
    if os.path.exists(os.path.join(HERE, real)):
        entry = {"file": real, "format": "sodium", "password": real_password,
                 "plaintext": ACCOUNT_426.replace("RT-4.2.6-vector", "RT-written-by-oidc-gen-4.2.6"),
                 "source": "Debian oidc-agent-cli 4.2.6-1: oidc-gen -u on a plain JSON file"}
        if "oidc_gen_4_2_6_decrypts" in old.get(real, {}):
            entry["oidc_gen_4_2_6_decrypts"] = old[real]["oidc_gen_4_2_6_decrypts"]
        vectors.append(entry)

    if with_oidc_gen:
        for v in vectors:
            res = oidc_gen(["-p", os.path.join(HERE, v["file"])], v["password"])
            ok = res.returncode == 0 and res.stdout.decode().strip() == v["plaintext"]
            v["oidc_gen_4_2_6_decrypts"] = ok

    with open(index_path, "w") as f:
        json.dump({"generator": "tests/vectors/make_legacy_vectors.py", "vectors": vectors},
                  f, indent=2, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
