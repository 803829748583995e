//! Compatibility with indigo-dc/oidc-agent beyond the shared JSON protocol:
//! its encrypted IPC mode and its account file formats.

use std::io;
use std::sync::Arc;

use tokio::net::UnixStream;

use crate::agent::Ctx;
use crate::error::ErrorKind;
use crate::protocol::Response;

/// Handles a first message that is not JSON: oidc-agent's encrypted mode
/// starts with the client's public key. Returns the bytes to write last.
pub async fn serve_non_json(
    _ctx: &Arc<Ctx>,
    _stream: &mut UnixStream,
    bytes: Vec<u8>,
) -> io::Result<Vec<u8>> {
    let what = if bytes.is_empty() {
        "empty request"
    } else {
        "malformed JSON"
    };
    Ok(Response::failure(ErrorKind::Usage, format!("Bad Request: {what}")).to_bytes())
}

/// Decrypts an account file in one of oidc-agent's formats.
pub fn decrypt_legacy(
    path: &std::path::Path,
    _bytes: &[u8],
    _password: &crate::secret::SecretString,
) -> crate::Result<Vec<u8>> {
    Err(crate::Error::CorruptFile {
        path: path.to_owned(),
        reason: "not an oidc-agent-rs account file".into(),
    })
}
