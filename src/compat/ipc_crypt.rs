//! oidc-agent's optional encrypted IPC mode, for both the agent and client side.
//! Owns: telling a plain JSON first message from a client public key, the key
//! exchange messages, and sealing/opening `<len>:<base64 nonce>:<base64 box>`.
//! It does no socket I/O: the caller reads until a `*_status` helper says the
//! message is complete and writes each message with a single `write`.
//! The exchange is unauthenticated, so it protects nothing the 0600 socket does
//! not already protect; we speak it only because every oidc-agent client does.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use crypto_box::aead::generic_array::typenum::Unsigned as _;
use crypto_box::{
    PublicKey, SalsaBox, SecretKey,
    aead::{AeadCore, AeadInPlace, OsRng},
};
use serde::Deserialize as _;
use zeroize::Zeroizing;

/// Length of a key-exchange message: base64 (standard alphabet, padded) of a
/// 32-byte X25519 public key, sent without any terminator.
pub const PUBLIC_KEY_MESSAGE_LEN: usize = 44;

/// The C, Python and Go clients read replies in 4096-byte chunks and stop at
/// the first short chunk, so a reply of exactly `k * 4096` bytes makes them
/// wait for more until the socket closes.
pub const CLIENT_READ_CHUNK: usize = 4096;

const KEY_LEN: usize = crypto_box::KEY_SIZE;
const NONCE_LEN: usize = <SalsaBox as AeadCore>::NonceSize::USIZE;
/// The nonce in padded base64, as the peers send it.
const NONCE_B64_LEN: usize = NONCE_LEN.div_ceil(3) * 4;
const MAC_LEN: usize = <SalsaBox as AeadCore>::TagSize::USIZE;
/// Enough digits for any length a peer could really send; longer is garbage.
const MAX_LEN_DIGITS: usize = 12;

/// Failure to exchange keys with, or to seal or open a message for, an
/// oidc-agent peer.
#[derive(Debug, thiserror::Error)]
pub enum IpcCryptError {
    /// More bytes are needed: oidc-agent's IPC has no framing.
    #[error(
        "the encrypted IPC message is incomplete: keep reading from the socket until the peer has sent all of it"
    )]
    Incomplete,
    /// The message is not `<len>:<base64 nonce>:<base64 ciphertext>`.
    #[error(
        "malformed encrypted IPC message ({0}): expected `<length>:<base64 nonce>:<base64 ciphertext>` as oidc-agent sends it"
    )]
    Malformed(&'static str),
    /// The key-exchange message is not base64 of a 32-byte key.
    #[error(
        "malformed IPC key-exchange message: expected 44 characters of standard base64 encoding a 32-byte X25519 public key"
    )]
    MalformedPublicKey,
    /// libsodium's `crypto_box_beforenm` refuses low-order points; so do we,
    /// and oidc-agent answers "received suspicious public key".
    #[error(
        "received suspicious public key (a low-order X25519 point): refusing the key exchange; the peer is broken or hostile"
    )]
    WeakPublicKey,
    /// The MAC did not verify under this connection's key.
    #[error(
        "decryption failed: the IPC message was not sealed with this connection's key or was modified in transit; start over on a new connection"
    )]
    DecryptionFailed,
    /// XSalsa20-Poly1305 refused the plaintext (only possible for absurd sizes).
    #[error("could not encrypt the IPC message: the plaintext is too long to seal")]
    SealFailed,
}

/// What the first message on a fresh connection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstMessage {
    /// A complete JSON object: plain mode, the buffer is the request itself.
    Plain,
    /// The client's public key: encrypted mode, answer with [`ServerSession::new`].
    ClientKey(PublicKey),
    /// A prefix of either form: read more bytes.
    Incomplete,
    /// Neither form. oidc-agent would run a key exchange with whatever the
    /// bytes decode to; answering with an error is more useful.
    Invalid,
}

/// Whether a buffer holds a whole message yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageStatus {
    /// The message is complete; parse it.
    Complete,
    /// A valid prefix: read more bytes.
    Incomplete,
    /// Not a prefix of any valid message: stop reading and answer with an error.
    Invalid,
}

/// Classifies the first message a client sends, as oidc-agent's
/// `server_ipc_read` does (JSON object or not), but strictly: anything that is
/// neither a JSON object nor a 44-character base64 key is [`FirstMessage::Invalid`].
pub fn classify_first_message(buf: &[u8]) -> FirstMessage {
    let msg = trim_trailing(buf);
    match msg.iter().find(|b| !b.is_ascii_whitespace()) {
        None => FirstMessage::Incomplete,
        Some(b'{') => match json_object_status(msg) {
            MessageStatus::Complete => FirstMessage::Plain,
            MessageStatus::Incomplete => FirstMessage::Incomplete,
            MessageStatus::Invalid => FirstMessage::Invalid,
        },
        Some(_) => match parse_public_key_message(msg) {
            Ok(pk) => FirstMessage::ClientKey(pk),
            // A weak key is still a key message; `ServerSession::new` reports it
            // so the caller can answer with oidc-agent's error text.
            Err(IpcCryptError::WeakPublicKey) => {
                decode_public_key(msg).map_or(FirstMessage::Invalid, FirstMessage::ClientKey)
            }
            // A key has no white space or NUL in it: once one came after a
            // short prefix (`garbage\n`), no more of the key will.
            Err(IpcCryptError::Incomplete) if msg.len() < buf.len() => FirstMessage::Invalid,
            Err(IpcCryptError::Incomplete) => FirstMessage::Incomplete,
            Err(_) => FirstMessage::Invalid,
        },
    }
}

/// True if `buf` is one complete JSON object (optionally followed by
/// whitespace or NUL). Clients use it to accept oidc-agent's plain-JSON error
/// replies, which it sends when it could not decrypt a request.
pub fn is_json_object(buf: &[u8]) -> bool {
    let msg = trim_trailing(buf);
    msg.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
        && json_object_status(msg) == MessageStatus::Complete
}

/// Parses a key-exchange message (the client's first message, or the agent's
/// answer to it). A trailing NUL or newline is tolerated.
pub fn parse_public_key_message(msg: &[u8]) -> Result<PublicKey, IpcCryptError> {
    let msg = trim_trailing(msg);
    if !msg.iter().all(|&b| is_base64_char(b)) {
        return Err(IpcCryptError::MalformedPublicKey);
    }
    if msg.len() < PUBLIC_KEY_MESSAGE_LEN {
        return Err(IpcCryptError::Incomplete);
    }
    let pk = decode_public_key(msg).ok_or(IpcCryptError::MalformedPublicKey)?;
    if is_weak_public_key(pk.as_bytes()) {
        return Err(IpcCryptError::WeakPublicKey);
    }
    Ok(pk)
}

/// Says whether `buf` holds a complete `<len>:<nonce>:<ciphertext>` message.
///
/// `len` is the plaintext length, so the ciphertext is `len + 16` bytes and
/// its base64 is `4 * ceil((len + 16) / 3)` characters. A longer base64 part
/// is accepted once it ends on a 4-character boundary: liboidc-agent-py sends
/// `len(str)`, a character count, which undercounts non-ASCII text (its
/// `json.dumps` escapes non-ASCII today, but other callers may not).
pub fn encrypted_message_status(buf: &[u8]) -> MessageStatus {
    let msg = trim_trailing(buf);
    let mut parts = msg.splitn(3, |&b| b == b':');
    let len_part = parts.next().unwrap_or_default();
    let Some(nonce_part) = parts.next() else {
        return if len_part.len() <= MAX_LEN_DIGITS && len_part.iter().all(u8::is_ascii_digit) {
            MessageStatus::Incomplete
        } else {
            MessageStatus::Invalid
        };
    };
    let Some(declared) = parse_len(len_part) else {
        return MessageStatus::Invalid;
    };
    let Some(cipher_part) = parts.next() else {
        return if nonce_part.len() <= NONCE_B64_LEN && nonce_part.iter().all(|&b| is_base64_char(b))
        {
            MessageStatus::Incomplete
        } else {
            MessageStatus::Invalid
        };
    };
    if nonce_part.len() != NONCE_B64_LEN
        || !nonce_part.iter().all(|&b| is_base64_char(b))
        || !cipher_part.iter().all(|&b| is_base64_char(b))
    {
        return MessageStatus::Invalid;
    }
    let Some(expected) = declared.checked_add(MAC_LEN).and_then(base64_len) else {
        return MessageStatus::Invalid;
    };
    if cipher_part.len() >= expected && cipher_part.len().is_multiple_of(4) {
        MessageStatus::Complete
    } else {
        MessageStatus::Incomplete
    }
}

/// Appends a newline when a reply's length is a multiple of
/// [`CLIENT_READ_CHUNK`], so chunked readers see a short final read. JSON
/// parsers skip the newline; in an encrypted reply it trails the base64, which
/// libsodium, Python's `b64decode` and Go's `base64.StdEncoding` all ignore.
pub fn pad_for_chunked_readers(reply: &mut Vec<u8>) {
    if !reply.is_empty() && reply.len().is_multiple_of(CLIENT_READ_CHUNK) {
        reply.push(b'\n');
    }
}

/// `Debug` that names the type and shows none of its keys.
macro_rules! debug_without_keys {
    ($($t:ident),+) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t)).finish_non_exhaustive()
            }
        }
    )+};
}

debug_without_keys!(ServerSession, ClientHandshake, ClientSession);

/// The agent's side of one encrypted connection.
pub struct ServerSession {
    channel: Channel,
}

impl ServerSession {
    /// Answers a client's key: returns the session and the message to send back
    /// (base64 of a fresh server public key, 44 bytes, no terminator).
    pub fn new(client_pk: &PublicKey) -> Result<(Self, Vec<u8>), IpcCryptError> {
        let server_sk = SecretKey::generate(&mut OsRng);
        let channel = Channel::new(&server_sk, client_pk)?;
        let reply = public_key_message(&server_sk.public_key());
        Ok((Self { channel }, reply))
    }

    /// Decrypts the client's request. Returns [`IpcCryptError::Incomplete`]
    /// while [`encrypted_message_status`] would say so.
    pub fn open(&self, msg: &[u8]) -> Result<Zeroizing<Vec<u8>>, IpcCryptError> {
        self.channel.open(msg)
    }

    /// Encrypts a reply under a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, IpcCryptError> {
        self.channel.seal(plaintext)
    }
}

/// A client's key exchange in progress: the first message has been produced,
/// the agent's answer has not been read yet.
pub struct ClientHandshake {
    secret: SecretKey,
}

impl ClientHandshake {
    /// Generates a client key pair; returns the handshake and the first
    /// message to send (base64 of the public key, 44 bytes, no terminator).
    pub fn start() -> (Self, Vec<u8>) {
        let secret = SecretKey::generate(&mut OsRng);
        let msg = public_key_message(&secret.public_key());
        (Self { secret }, msg)
    }

    /// Completes the exchange with the agent's answer.
    ///
    /// An agent that refuses the exchange answers with a plain JSON error
    /// instead; check [`is_json_object`] before calling this.
    pub fn finish(self, server_msg: &[u8]) -> Result<ClientSession, IpcCryptError> {
        let server_pk = parse_public_key_message(server_msg)?;
        Ok(ClientSession {
            channel: Channel::new(&self.secret, &server_pk)?,
        })
    }
}

/// A client's side of one encrypted connection, for our own tools and tests
/// talking to an oidc-agent.
pub struct ClientSession {
    channel: Channel,
}

impl ClientSession {
    /// Encrypts the request under a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, IpcCryptError> {
        self.channel.seal(plaintext)
    }

    /// Decrypts the agent's reply. oidc-agent answers errors it hits before
    /// it has a key in plain JSON; check [`is_json_object`] first to accept
    /// those as the C and Python clients do.
    pub fn open(&self, msg: &[u8]) -> Result<Zeroizing<Vec<u8>>, IpcCryptError> {
        self.channel.open(msg)
    }
}

/// The `crypto_box_beforenm` key shared by both directions (oidc-agent uses
/// one key for requests and replies; 2.x/3.x used `crypto_kx` instead).
struct Channel {
    cipher: SalsaBox,
}

impl Channel {
    fn new(own: &SecretKey, peer: &PublicKey) -> Result<Self, IpcCryptError> {
        if is_weak_public_key(peer.as_bytes()) {
            return Err(IpcCryptError::WeakPublicKey);
        }
        Ok(Self {
            cipher: SalsaBox::new(peer, own),
        })
    }

    fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, IpcCryptError> {
        self.seal_with_nonce(plaintext, &SalsaBox::generate_nonce(&mut OsRng))
    }

    fn seal_with_nonce(
        &self,
        plaintext: &[u8],
        nonce: &crypto_box::Nonce,
    ) -> Result<Vec<u8>, IpcCryptError> {
        // Reserve the MAC up front so encrypting in place never reallocates and
        // leaves a stray plaintext copy behind.
        let mut buf = Zeroizing::new(Vec::with_capacity(plaintext.len() + MAC_LEN));
        buf.extend_from_slice(plaintext);
        self.cipher
            .encrypt_in_place(nonce, b"", &mut *buf)
            .map_err(|_| IpcCryptError::SealFailed)?;
        // `len` is the plaintext's byte length (C: strlen(msg)); the C reader
        // decodes exactly len + 16 ciphertext bytes.
        Ok(format!(
            "{}:{}:{}",
            plaintext.len(),
            STANDARD.encode(nonce),
            STANDARD.encode(&*buf)
        )
        .into_bytes())
    }

    fn open(&self, msg: &[u8]) -> Result<Zeroizing<Vec<u8>>, IpcCryptError> {
        match encrypted_message_status(msg) {
            MessageStatus::Complete => {}
            MessageStatus::Incomplete => return Err(IpcCryptError::Incomplete),
            MessageStatus::Invalid => return Err(malformed_reason(msg)),
        }
        let mut parts = trim_trailing(msg).splitn(3, |&b| b == b':').skip(1);
        let (Some(nonce_b64), Some(cipher_b64)) = (parts.next(), parts.next()) else {
            return Err(IpcCryptError::Malformed("missing field"));
        };
        let nonce: [u8; NONCE_LEN] = STANDARD
            .decode(nonce_b64)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or(IpcCryptError::Malformed(
                "the nonce is not base64 of 24 bytes",
            ))?;
        // The declared length only frames the message; the MAC covers the
        // ciphertext actually received, so a stale `len` cannot change it.
        let mut buf = Zeroizing::new(
            STANDARD
                .decode(cipher_b64)
                .map_err(|_| IpcCryptError::Malformed("the ciphertext is not valid base64"))?,
        );
        if buf.len() < MAC_LEN {
            return Err(IpcCryptError::Malformed(
                "the ciphertext is shorter than its MAC",
            ));
        }
        self.cipher
            .decrypt_in_place(&nonce.into(), b"", &mut *buf)
            .map_err(|_| IpcCryptError::DecryptionFailed)?;
        Ok(buf)
    }
}

fn public_key_message(pk: &PublicKey) -> Vec<u8> {
    STANDARD.encode(pk.as_bytes()).into_bytes()
}

fn decode_public_key(msg: &[u8]) -> Option<PublicKey> {
    let bytes: [u8; KEY_LEN] = STANDARD.decode(msg).ok()?.try_into().ok()?;
    Some(PublicKey::from(bytes))
}

/// libsodium's `has_small_order` blocklist (crypto_scalarmult/curve25519/ref10):
/// 0, 1, the two points of order 8, p-1, p and p+1. The top bit of the last
/// byte is ignored, as X25519 ignores it. Checked against PyNaCl by
/// tests/vectors/make_ipc_vectors.py.
fn is_weak_public_key(pk: &[u8; KEY_LEN]) -> bool {
    const BLOCKLIST: [[u8; KEY_LEN]; 7] = [
        [0; KEY_LEN],
        [
            1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0,
        ],
        [
            0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f,
            0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16,
            0x5f, 0x49, 0xb8, 0x00,
        ],
        [
            0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83,
            0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd,
            0xd0, 0x9f, 0x11, 0x57,
        ],
        edge_key(0xec),
        edge_key(0xed),
        edge_key(0xee),
    ];
    let mut masked = *pk;
    masked[KEY_LEN - 1] &= 0x7f;
    BLOCKLIST.contains(&masked)
}

/// p-1, p and p+1 in little endian: `first`, thirty 0xff, then 0x7f.
const fn edge_key(first: u8) -> [u8; KEY_LEN] {
    let mut key = [0xff; KEY_LEN];
    key[0] = first;
    key[KEY_LEN - 1] = 0x7f;
    key
}

fn json_object_status(msg: &[u8]) -> MessageStatus {
    let mut de = serde_json::Deserializer::from_slice(msg);
    // IgnoredAny walks the value without copying strings out of the request.
    let parsed = serde::de::IgnoredAny::deserialize(&mut de).and_then(|_| de.end());
    match parsed {
        Ok(()) => MessageStatus::Complete,
        Err(e) if e.is_eof() => MessageStatus::Incomplete,
        Err(_) => MessageStatus::Invalid,
    }
}

fn malformed_reason(msg: &[u8]) -> IpcCryptError {
    let msg = trim_trailing(msg);
    let mut parts = msg.splitn(3, |&b| b == b':');
    let reason = if parts.next().and_then(parse_len).is_none() {
        "the length is not a decimal number"
    } else if parts.next().is_some_and(|n| n.len() != NONCE_B64_LEN) {
        "the nonce is not 32 base64 characters"
    } else {
        "a field holds characters outside standard base64"
    };
    IpcCryptError::Malformed(reason)
}

fn parse_len(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > MAX_LEN_DIGITS || !digits.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn base64_len(bytes: usize) -> Option<usize> {
    bytes.checked_add(2).map(|n| n / 3 * 4)
}

fn is_base64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
}

/// Peers may end a message with a NUL or newline; none of our formats ends in
/// whitespace, so dropping it is safe.
fn trim_trailing(buf: &[u8]) -> &[u8] {
    let end = buf
        .iter()
        .rposition(|&b| b != 0 && !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &buf[..end]
}

#[cfg(test)]
mod tests;
