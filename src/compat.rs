//! Compatibility with indigo-dc/oidc-agent beyond the shared JSON protocol:
//! its encrypted IPC mode (below the framing layer: handlers only ever see
//! plaintext JSON) and its account file formats.

pub mod ipc_crypt;
pub mod legacy_file;

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixStream;
use zeroize::Zeroizing;

use crate::agent::Ctx;
use crate::error::{Error, ErrorKind};
use crate::protocol::{MAX_MESSAGE, Response};
use crate::secret::SecretString;
use ipc_crypt::{FirstMessage, MessageStatus, ServerSession};

/// How long the rest of an encrypted exchange may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

fn failure(msg: &str) -> Zeroizing<Vec<u8>> {
    Response::failure(ErrorKind::Usage, msg).to_bytes()
}

/// Reads more bytes into `buf` until `done` says stop (or EOF, the cap, or
/// the deadline).
async fn read_until(
    stream: &mut UnixStream,
    buf: &mut Vec<u8>,
    deadline: tokio::time::Instant,
    done: impl Fn(&[u8]) -> bool,
) -> io::Result<()> {
    let mut chunk = [0u8; 8192];
    while !done(buf) {
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(r) => r?,
            Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "client stalled")),
        };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_MESSAGE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request too large",
            ));
        }
    }
    Ok(())
}

/// Handles a first message that is not JSON: oidc-agent's encrypted mode
/// starts with the client's base64 public key. Returns the bytes to write
/// last (the sealed reply, or a plain JSON failure as oidc-agent sends one).
pub async fn serve_non_json(
    ctx: &Arc<Ctx>,
    stream: &mut UnixStream,
    mut buf: Vec<u8>,
) -> io::Result<Zeroizing<Vec<u8>>> {
    let deadline = tokio::time::Instant::now() + EXCHANGE_TIMEOUT;
    read_until(stream, &mut buf, deadline, |b| {
        ipc_crypt::classify_first_message(b) != FirstMessage::Incomplete
    })
    .await?;
    let client_pk = match ipc_crypt::classify_first_message(&buf) {
        FirstMessage::ClientKey(pk) => pk,
        FirstMessage::Plain => return Ok(crate::agent::dispatch(ctx, &buf).await.to_bytes()),
        FirstMessage::Incomplete | FirstMessage::Invalid => {
            let what = if buf.is_empty() {
                "empty request"
            } else {
                "malformed JSON"
            };
            return Ok(failure(&format!("Bad Request: {what}")));
        }
    };
    let (session, key_msg) = match ServerSession::new(&client_pk) {
        Ok(s) => s,
        // oidc-agent's wording for a low-order key.
        Err(ipc_crypt::IpcCryptError::WeakPublicKey) => {
            return Ok(failure("received suspicious public key"));
        }
        Err(e) => return Ok(failure(&e.to_string())),
    };
    stream.write_all(&key_msg).await?;
    let mut request = Vec::with_capacity(1024);
    read_until(stream, &mut request, deadline, |b| {
        ipc_crypt::encrypted_message_status(b) != MessageStatus::Incomplete
    })
    .await?;
    let plaintext = match session.open(&request) {
        Ok(p) => p,
        // oidc-agent answers a message it cannot decrypt in plain JSON.
        Err(_) => return Ok(failure("decryption failed")),
    };
    let reply = crate::agent::dispatch(ctx, &plaintext).await.to_bytes();
    let mut sealed = match session.seal(&reply) {
        Ok(s) => s,
        Err(e) => return Ok(failure(&e.to_string())),
    };
    ipc_crypt::pad_for_chunked_readers(&mut sealed);
    Ok(Zeroizing::new(sealed))
}

/// Decrypts an account file in one of oidc-agent's formats to its JSON.
pub fn decrypt_legacy(
    path: &Path,
    bytes: &[u8],
    password: &SecretString,
) -> crate::Result<Vec<u8>> {
    use legacy_file::LegacyError;
    match legacy_file::decrypt(bytes, password.expose().as_bytes()) {
        Ok(text) => Ok(text.as_bytes().to_vec()),
        Err(LegacyError::WrongPassword) => Err(Error::WrongPassword {
            path: path.to_owned(),
        }),
        Err(LegacyError::Corrupt(reason) | LegacyError::Unsupported(reason)) => {
            Err(Error::CorruptFile {
                path: path.to_owned(),
                reason,
            })
        }
        Err(LegacyError::KeyDerivation(e)) => Err(Error::Invalid(format!(
            "cannot derive the key for {} ({e}); free some memory and try again",
            path.display()
        ))),
    }
}
