#!/usr/bin/env python3
"""Generate interop vectors for oidc-agent's encrypted IPC mode with PyNaCl.

The wire format mirrors indigo-dc/oidc-agent (src/utils/crypt/ipcCryptUtils.c
encryptForIpc, src/ipc/cryptIpc.c generateIpcKey) and liboidc-agent-py
(_encrypt_msg / _decrypt_msg):

  key exchange:  client -> base64(client_pk)   (standard alphabet, padded, 44 chars, no NUL)
                 server -> base64(server_pk)
  shared key:    crypto_box_beforenm(peer_pk, own_sk)   (PyNaCl Box)
  message:       "<len(plaintext bytes)>:<base64(nonce24)>:<base64(MAC16 || ciphertext)>"

Keys and nonces are derived from fixed labels so the output is reproducible;
messages under "random_nonce" use PyNaCl's own random nonce (Box.encrypt).

Usage: python3 make_ipc_vectors.py > ipc.json   (needs: pip install pynacl)
"""
import base64
import hashlib
import json

import nacl.exceptions
from nacl.public import Box, PrivateKey, PublicKey


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def seeded(label: str, size: int) -> bytes:
    return hashlib.sha512(label.encode()).digest()[:size]


def wire(box: Box, plaintext: bytes, nonce: bytes) -> str:
    sealed = box.encrypt(plaintext, nonce)
    # PyNaCl returns nonce || MAC || ciphertext; .ciphertext is MAC || ciphertext,
    # which is exactly crypto_secretbox_easy's output used by the C code.
    return "{}:{}:{}".format(len(plaintext), b64(nonce), b64(sealed.ciphertext))


# libsodium's has_small_order() blocklist (crypto_scalarmult/curve25519/ref10):
# crypto_box_beforenm fails for these peer keys (and for the same values with the
# top bit of the last byte set, which X25519 ignores).
WEAK_KEYS_HEX = [
    "00" * 32,
    "01" + "00" * 31,
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ec" + "ff" * 30 + "7f",
    "ed" + "ff" * 30 + "7f",
    "ee" + "ff" * 30 + "7f",
]


def check_weak_keys(sk: PrivateKey) -> list:
    out = []
    for h in WEAK_KEYS_HEX:
        for high_bit in (False, True):
            raw = bytearray(bytes.fromhex(h))
            if high_bit:
                raw[31] |= 0x80
            try:
                Box(sk, PublicKey(bytes(raw)))
            except nacl.exceptions.CryptoError:
                out.append(bytes(raw).hex())
                continue
            raise SystemExit("libsodium accepted supposedly weak key " + bytes(raw).hex())
    return out


def main() -> None:
    client_sk = PrivateKey(seeded("oidc-agent-rs ipc vector: client secret key", 32))
    server_sk = PrivateKey(seeded("oidc-agent-rs ipc vector: server secret key", 32))
    client_box = Box(client_sk, server_sk.public_key)
    server_box = Box(server_sk, client_sk.public_key)
    assert client_box.shared_key() == server_box.shared_key()

    requests = [
        b'{"request":"access_token","account":"test","min_valid_period":60,"application_hint":"rust"}',
        b'{"request":"add","config":{"name":"\xc3\xa4\xc3\xb6\xc3\xbc","refresh_token":"rt"}}',
        b"{}",
    ]
    responses = [
        b'{"status":"success","access_token":"eyJhbGciOiJSUzI1NiJ9.e30.sig","issuer":"https://op.example.org/","expires_at":1700000000}',
        b'{"status":"failure","error":"Wrong password"}',
        # 4096 bytes of plaintext: long enough to cross the 4096-byte read chunk of the clients.
        b'{"status":"success","info":"' + b"x" * (4096 - 30) + b'"}',
    ]
    messages = []
    for i, pt in enumerate(requests):
        nonce = seeded("oidc-agent-rs ipc vector: request nonce %d" % i, 24)
        messages.append({"direction": "client_to_server", "plaintext": pt.decode(),
                         "nonce_b64": b64(nonce), "wire": wire(client_box, pt, nonce)})
    for i, pt in enumerate(responses):
        nonce = seeded("oidc-agent-rs ipc vector: response nonce %d" % i, 24)
        messages.append({"direction": "server_to_client", "plaintext": pt.decode(),
                         "nonce_b64": b64(nonce), "wire": wire(server_box, pt, nonce)})
    for m in messages:
        assert len(m["plaintext"].encode()) == int(m["wire"].split(":")[0])

    random_nonce = []
    for direction, box, pt in [("client_to_server", client_box, requests[0]),
                               ("server_to_client", server_box, responses[0])]:
        sealed = box.encrypt(pt)  # PyNaCl picks a random nonce
        random_nonce.append({"direction": direction, "plaintext": pt.decode(),
                             "wire": "{}:{}:{}".format(len(pt), b64(sealed.nonce), b64(sealed.ciphertext))})

    vectors = {
        "generator": "tests/vectors/make_ipc_vectors.py (PyNaCl %s)" % __import__("nacl").__version__,
        "client_sk_hex": bytes(client_sk).hex(),
        "client_pk_message": b64(bytes(client_sk.public_key)),
        "server_sk_hex": bytes(server_sk).hex(),
        "server_pk_message": b64(bytes(server_sk.public_key)),
        "shared_key_hex": client_box.shared_key().hex(),
        "messages": messages,
        "random_nonce": random_nonce,
        "weak_public_keys_hex": check_weak_keys(server_sk),
    }
    print(json.dumps(vectors, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
