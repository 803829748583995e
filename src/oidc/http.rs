//! The one HTTP client: rustls with the system roots (and `SSL_CERT_FILE`),
//! read once per process, an optional extra CA bundle per account, timeouts
//! on every request, and no redirects (following them on token calls opens
//! the door to SSRF and leaks credentials to wherever the redirect points).

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::{OidcError, error_chain};

/// Time to establish a TCP+TLS connection (default; `oidc-agent
/// --connect-timeout`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Deadline for a whole request, connection included (default;
/// `oidc-agent --request-timeout`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The provider deadlines in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    /// Connecting (TCP and TLS).
    pub connect: Duration,
    /// A whole request, connecting included.
    pub request: Duration,
}

impl Deadlines {
    /// [`CONNECT_TIMEOUT`] and [`REQUEST_TIMEOUT`].
    pub const DEFAULT: Self = Self {
        connect: CONNECT_TIMEOUT,
        request: REQUEST_TIMEOUT,
    };
}

// Set once, at start, from `oidc-agent`'s options: a process-wide setting
// like the CA roots, so every client built afterwards (per account, per
// oidc-gen session) uses it without threading it through each caller.
static DEADLINES: OnceLock<Deadlines> = OnceLock::new();

/// Sets the deadlines for every client built afterwards; false if they were
/// already set.
pub fn set_deadlines(deadlines: Deadlines) -> bool {
    DEADLINES.set(deadlines).is_ok()
}

/// The deadlines in force: those set at start, else the defaults.
pub fn deadlines() -> Deadlines {
    DEADLINES.get().copied().unwrap_or(Deadlines::DEFAULT)
}
/// How long an idle pooled connection may be reused. Providers close idle
/// keep-alive connections after a few seconds (Node's and Apache's default is
/// 5 s); a request written into a connection the server has just closed fails
/// after it was sent, and a spent authorization code or a rotated refresh
/// token cannot be sent again (RFC 6749 §4.1.2, RFC 6819 §5.2.2.3). So a
/// connection idle for longer than this is never reused: any HTTP call after
/// a wait on a person (loopback listener, device polling, a prompt) or an
/// idle agent opens a fresh one.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// Builds the client, trusting the PEM bundle at `cert_path` as well.
pub fn client(cert_path: Option<&Path>) -> Result<reqwest::Client, OidcError> {
    let system = system_roots()?;
    let roots = match cert_path.filter(|p| !p.as_os_str().is_empty()) {
        Some(path) => with_bundle(system, path)?,
        None => system,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| OidcError::Config(format!("cannot set up HTTPS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // HTTP/1.1 only, as reqwest asks when it builds the TLS set-up itself.
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(deadlines().connect)
        .timeout(deadlines().request)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .user_agent(concat!("oidc-agent-rs/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| OidcError::Config(format!("cannot set up HTTPS: {}", error_chain(&e))))
}

/// The system's trust anchors (rustls-native-certs: on Linux the CA bundle
/// and the certificate directory, or `SSL_CERT_FILE` and `SSL_CERT_DIR`),
/// read once and shared by every client of the process. reqwest reads and
/// keeps them again for each client it builds (~150 certificates, ~60 kB
/// of anchors), and the agent builds one client per CA bundle its accounts
/// name.
fn system_roots() -> Result<Arc<RootCertStore>, OidcError> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    if let Some(roots) = ROOTS.get() {
        return Ok(roots.clone());
    }
    let loaded = rustls_native_certs::load_native_certs();
    let mut store = RootCertStore::empty();
    let (valid, invalid) = store.add_parsable_certificates(loaded.certs);
    // Unparsable old roots are common in system stores and skipped (reqwest
    // does the same); a store with none usable is an error, an empty one is
    // not (a private CA from `--cp` may be all a machine needs).
    if valid == 0 && invalid > 0 {
        let why: Vec<String> = loaded.errors.iter().map(|e| e.to_string()).collect();
        return Err(OidcError::Config(format!(
            "no usable certificate in the system's trust store ({invalid} unreadable{}{}); \
             set SSL_CERT_FILE to a CA bundle, or give the provider's CA with --cp",
            if why.is_empty() { "" } else { ": " },
            why.join("; ")
        )));
    }
    Ok(ROOTS.get_or_init(|| Arc::new(store)).clone())
}

/// `system` and the anchors of the PEM bundle at `path` (`--cp`: a
/// provider's private CA).
fn with_bundle(system: Arc<RootCertStore>, path: &Path) -> Result<Arc<RootCertStore>, OidcError> {
    let pem = std::fs::read(path)
        .map_err(|e| OidcError::Config(format!("cannot read CA bundle {}: {e}", path.display())))?;
    let bad = |e: &dyn std::fmt::Display| {
        OidcError::Config(format!("bad CA bundle {}: {e}", path.display()))
    };
    let mut extra = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        extra.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    }
    if extra.is_empty() {
        return Err(OidcError::Config(format!(
            "no certificates in CA bundle {}",
            path.display()
        )));
    }
    Ok(merged(system, extra))
}

/// `system` with the anchors of `extra` it lacks; `system` itself, shared,
/// when it has them all (oidc-agent's oidc-gen writes the system bundle's
/// path into every account it creates).
fn merged(system: Arc<RootCertStore>, extra: RootCertStore) -> Arc<RootCertStore> {
    let new: Vec<_> = extra
        .roots
        .into_iter()
        .filter(|anchor| !system.roots.contains(anchor))
        .collect();
    if new.is_empty() {
        return system;
    }
    let mut store = (*system).clone();
    store.roots.extend(new);
    Arc::new(store)
}

/// GETs `url` and returns the body of a 200 answer.
pub async fn get(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, OidcError> {
    let unreachable = |e: reqwest::Error| OidcError::Unreachable {
        url: url.to_owned(),
        detail: error_chain(&e),
    };
    let resp = http
        .get(url)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(unreachable)?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(unreachable)?;
    if !status.is_success() {
        return Err(OidcError::BadResponse {
            url: url.to_owned(),
            detail: format!("HTTP {status}"),
        });
    }
    Ok(body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two public roots (ISRG Root X1 and X2), as a CA bundle.
    const TWO_ROOTS: &[u8] = include_bytes!("../../tests/fixtures/two-roots.pem");

    fn bundle(bytes: &[u8]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), bytes).expect("write the bundle");
        file
    }

    #[test]
    fn the_system_roots_are_read_once() {
        let first = system_roots().expect("the system's trust store");
        let again = system_roots().expect("the system's trust store");
        assert!(Arc::ptr_eq(&first, &again));
    }

    #[test]
    fn a_bundle_adds_its_anchors_to_the_system_roots() {
        let system = Arc::new(RootCertStore::empty());
        let file = bundle(TWO_ROOTS);
        let roots = with_bundle(system.clone(), file.path()).expect("a good bundle");
        assert_eq!(roots.len(), 2);
        assert!(system.is_empty(), "the shared system roots must not change");
    }

    /// oidc-agent writes the system bundle's path into its accounts: such a
    /// client shares the system roots instead of holding a second copy.
    #[test]
    fn a_bundle_the_system_trusts_already_shares_its_roots() {
        let file = bundle(TWO_ROOTS);
        let system = with_bundle(Arc::new(RootCertStore::empty()), file.path()).expect("bundle");
        let again = with_bundle(system.clone(), file.path()).expect("the same bundle");
        assert!(Arc::ptr_eq(&again, &system));
        assert_eq!(again.len(), 2);
    }

    #[test]
    fn bad_bundles_name_the_file() {
        let system = Arc::new(RootCertStore::empty());
        let missing = Path::new("/nonexistent/ca.pem");
        let err = with_bundle(system.clone(), missing)
            .expect_err("no file")
            .to_string();
        assert!(
            err.contains("cannot read CA bundle /nonexistent/ca.pem"),
            "{err}"
        );
        let text = bundle(b"not a certificate\n");
        let err = with_bundle(system.clone(), text.path()).expect_err("no certificates");
        assert!(
            err.to_string().contains("no certificates in CA bundle"),
            "{err}"
        );
        let garbage = bundle(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        let err = with_bundle(system, garbage.path()).expect_err("not a certificate");
        assert!(err.to_string().contains("bad CA bundle"), "{err}");
    }
}
