"""Our encrypted account format, as `src/account/format.rs` documents it,
implemented apart from the Rust crates: Argon2id from argon2-cffi (the
reference C implementation), XChaCha20-Poly1305 from libsodium (PyNaCl).
`test_compat` reads files our oidc-gen wrote and has our binaries load files
written here; `benches/compare` seals a copy of an account with Argon2id at
its minimum to time `oidc-add` without the derivation.

Layout (little-endian): magic "OIDCRS", version 1, KDF id 1 (Argon2id 1.3),
m_cost KiB, t_cost, lanes (3 x u32), salt (16), wrap nonce (24), the data key
wrapped (32 + tag 16; AAD: bytes 0..60), body nonce (24), the account JSON
sealed under the data key (AAD: bytes 0..108)."""

from __future__ import annotations

import os
import struct

from argon2.low_level import Type, hash_secret_raw
from nacl import bindings as sodium

MAGIC = b"OIDCRS"
WRAP_AAD_LEN = 60
HEADER_LEN = WRAP_AAD_LEN + 32 + 16


def _wrap_key(password: bytes, salt: bytes, m_kib: int, passes: int, lanes: int) -> bytes:
    return hash_secret_raw(password, salt, time_cost=passes, memory_cost=m_kib, parallelism=lanes,
                           hash_len=32, type=Type.ID, version=0x13)


def params(file: bytes) -> tuple[int, int, int]:
    """(m_cost KiB, passes, lanes) from the header."""
    return struct.unpack_from("<III", file, 8)


def seal(password: bytes, plaintext: bytes, m_kib: int, passes: int, lanes: int) -> bytes:
    """A new file holding `plaintext` under a fresh data key."""
    salt, wrap_nonce, data_key, body_nonce = (os.urandom(n) for n in (16, 24, 32, 24))
    head = MAGIC + bytes([1, 1]) + struct.pack("<III", m_kib, passes, lanes) + salt + wrap_nonce
    wrap_key = _wrap_key(password, salt, m_kib, passes, lanes)
    head += sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(data_key, head, wrap_nonce, wrap_key)
    body = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, head, body_nonce, data_key)
    return head + body_nonce + body


def open_sealed(password: bytes, file: bytes) -> bytes:
    """The plaintext of `file`; raises on a wrong password or a damaged file."""
    if file[:6] != MAGIC or file[6:8] != bytes([1, 1]):
        raise ValueError("not version 1 of our format with Argon2id")
    m_kib, passes, lanes = params(file)
    salt, wrap_nonce = file[20:36], file[36:60]
    wrap_key = _wrap_key(password, salt, m_kib, passes, lanes)
    data_key = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(file[60:HEADER_LEN], file[:WRAP_AAD_LEN],
                                                                 wrap_nonce, wrap_key)
    body_nonce = file[HEADER_LEN:HEADER_LEN + 24]
    return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(file[HEADER_LEN + 24:], file[:HEADER_LEN],
                                                             body_nonce, data_key)
