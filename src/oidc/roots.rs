//! The trust anchors a provider's certificate is checked against: the
//! system's, read once per process, and an account's extra CA bundle (`--cp`)
//! added to them.
//!
//! The system's come from where OpenSSL, and so oidc-agent's libcurl, looks:
//! `SSL_CERT_FILE` and `SSL_CERT_DIR` when either is set, else the
//! distribution's bundle and certificate directories as `openssl-probe`
//! finds them; the same places, in the same way, as rustls-native-certs 0.8.
//! That crate is not used because it returns every certificate of the
//! bundle and of the directories at once (on Debian each root twice, ~290
//! certificates, ~400 kB) and the anchors parsed from them land among those
//! buffers, which a daemon's heap keeps for its whole life (~80 kB more
//! resident in the agent, README "Performance"). Here each certificate is
//! parsed into its anchor as it is read, and a root seen before (through
//! another name or file) is dropped at once.

use std::collections::HashSet;
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, Der, TrustAnchor};

use super::OidcError;

/// The system's trust anchors, read on first use and shared by every client
/// of the process (the agent builds one client per CA bundle its accounts
/// name).
pub(super) fn system() -> Result<Arc<RootCertStore>, OidcError> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    if let Some(roots) = ROOTS.get() {
        return Ok(roots.clone());
    }
    let store = read(&Sources::of_system(|name| std::env::var_os(name)))?;
    Ok(ROOTS.get_or_init(|| Arc::new(store)).clone())
}

/// Where the system's roots are.
#[derive(Debug, PartialEq)]
struct Sources {
    /// A PEM bundle.
    file: Option<PathBuf>,
    /// Directories of PEM files (OpenSSL's "CApath").
    dirs: Vec<PathBuf>,
}

impl Sources {
    /// `SSL_CERT_FILE` and `SSL_CERT_DIR` (a `:`-separated list) when either
    /// is set: then they are all there is. Else what `openssl-probe` finds.
    fn of_system(var: impl Fn(&str) -> Option<OsString>) -> Self {
        let file = var("SSL_CERT_FILE").map(PathBuf::from);
        let dirs: Vec<PathBuf> = var("SSL_CERT_DIR")
            .map(|dirs| {
                std::env::split_paths(&dirs)
                    .filter(|d| !d.as_os_str().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if file.is_some() || !dirs.is_empty() {
            return Self { file, dirs };
        }
        let probed = openssl_probe::probe();
        Self {
            file: probed.cert_file,
            dirs: probed.cert_dir,
        }
    }
}

/// Reads the anchors of `sources`, kept for the rest of the process: their
/// bytes in one buffer, the anchors borrowing from it, so that a client
/// whose CA bundle adds anchors copies the system's as ~70 bytes each, not
/// ~450 in three allocations each (~65 kB for ~150 roots).
///
/// Unreadable files and certificates are skipped, as OpenSSL and
/// rustls-native-certs skip them (old roots that no longer parse are common
/// in system stores); a store that had certificates but none usable is an
/// error, an empty one is not (a private CA from `--cp` may be all a
/// machine needs).
fn read(sources: &Sources) -> Result<RootCertStore, OidcError> {
    let mut reader = Reader {
        bytes: Vec::new(),
        anchors: Vec::new(),
        seen: HashSet::new(),
        found: 0,
        problems: Vec::new(),
    };
    if let Some(file) = &sources.file {
        reader.file(file);
    }
    for dir in &sources.dirs {
        reader.dir(dir);
    }
    if reader.anchors.is_empty() && reader.found > 0 {
        let problems = &reader.problems;
        let more = if problems.len() > 3 { "; ..." } else { "" };
        return Err(OidcError::Config(format!(
            "no usable certificate in the system's trust store ({} unreadable: {}{more}); \
             set SSL_CERT_FILE to a CA bundle, or give the provider's CA with --cp",
            reader.found,
            problems[..problems.len().min(3)].join("; ")
        )));
    }
    Ok(reader.keep())
}

/// An anchor's parts, as lengths of consecutive runs of [`Reader::bytes`].
type Parts = (usize, usize, Option<usize>);

/// The anchors being read, one certificate at a time.
struct Reader {
    /// Each anchor's subject, public key and name constraints, one after
    /// another.
    bytes: Vec<u8>,
    /// The anchors, in order.
    anchors: Vec<Parts>,
    /// `(device, inode)` of each file read: a certificate directory holds
    /// each root under two names (its hash and a readable one), often the
    /// bundle too.
    seen: HashSet<(u64, u64)>,
    /// Certificates read, usable or not.
    found: usize,
    /// What could not be read, for the error when nothing could.
    problems: Vec<String>,
}

impl Reader {
    /// Reads the files of `dir` (following links: `openssl rehash` names
    /// are links).
    fn dir(&mut self, dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if let Ok(meta) = std::fs::metadata(&path)
                && meta.is_file()
            {
                self.read_file(&path, &meta);
            }
        }
    }

    fn file(&mut self, path: &Path) {
        if let Ok(meta) = std::fs::metadata(path) {
            self.read_file(path, &meta);
        }
    }

    /// Reads the certificates of `path`, whose metadata is `meta`, unless
    /// that file was read already.
    fn read_file(&mut self, path: &Path, meta: &std::fs::Metadata) {
        if !self.seen.insert((meta.dev(), meta.ino())) {
            return;
        }
        let Ok(certs) = CertificateDer::pem_file_iter(path) else {
            return;
        };
        for cert in certs {
            self.found += 1;
            match cert {
                Ok(der) => self.add(der, path),
                Err(e) => self.problems.push(format!("{}: {e}", path.display())),
            }
        }
    }

    /// Adds the anchor of `der` unless it has it already.
    fn add(&mut self, der: CertificateDer<'_>, path: &Path) {
        let mut one = RootCertStore::empty();
        if let Err(e) = one.add(der) {
            self.problems.push(format!("{}: {e}", path.display()));
            return;
        }
        let anchor = one.roots.swap_remove(0);
        let subject = anchor.subject.as_ref();
        let key = anchor.subject_public_key_info.as_ref();
        let constraints = anchor.name_constraints.as_deref();
        if split(&self.bytes, &self.anchors).any(|had| had == (subject, key, constraints)) {
            return;
        }
        for part in [subject, key].into_iter().chain(constraints) {
            self.bytes.extend_from_slice(part);
        }
        self.anchors
            .push((subject.len(), key.len(), constraints.map(<[u8]>::len)));
    }

    /// The anchors, borrowing from their bytes, which the process keeps.
    fn keep(self) -> RootCertStore {
        let bytes: &'static [u8] = Box::leak(self.bytes.into_boxed_slice());
        split(bytes, &self.anchors)
            .map(|(subject, key, constraints)| TrustAnchor {
                subject: Der::from_slice(subject),
                subject_public_key_info: Der::from_slice(key),
                name_constraints: constraints.map(Der::from_slice),
            })
            .collect()
    }
}

/// An anchor's subject, public key and name constraints.
type Slices<'a> = (&'a [u8], &'a [u8], Option<&'a [u8]>);

/// `bytes` cut into the parts of each anchor of `anchors`, in order.
fn split<'a>(mut bytes: &'a [u8], anchors: &[Parts]) -> impl Iterator<Item = Slices<'a>> {
    anchors.iter().map(move |&(subject, key, constraints)| {
        let mut take = |len: usize| {
            let (head, tail) = bytes.split_at(len);
            bytes = tail;
            head
        };
        (take(subject), take(key), constraints.map(take))
    })
}

/// `system` and the anchors of the PEM bundle at `path` (`--cp`: a
/// provider's private CA).
pub(super) fn with_bundle(
    system: Arc<RootCertStore>,
    path: &Path,
) -> Result<Arc<RootCertStore>, OidcError> {
    let pem = crate::files::read_regular(path, 8 << 20, "a CA bundle")
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
    let mut roots = Vec::with_capacity(system.roots.len() + new.len());
    roots.extend(system.roots.iter().cloned());
    roots.extend(new);
    Arc::new(RootCertStore { roots })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two public roots (ISRG Root X1 and X2), as a CA bundle.
    const TWO_ROOTS: &str = include_str!("../../tests/fixtures/two-roots.pem");

    /// The fixture's two certificates, each as a PEM file's text.
    fn each_root() -> (String, String) {
        let end = "-----END CERTIFICATE-----\n";
        let mut parts = TWO_ROOTS.split_inclusive(end).filter(|p| p.contains(end));
        let x1 = parts.next().expect("first root").trim_start().to_owned();
        let x2 = parts.next().expect("second root").trim_start().to_owned();
        (x1, x2)
    }

    fn bundle(bytes: &[u8]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), bytes).expect("write the bundle");
        file
    }

    fn anchors_of(pem: &str) -> RootCertStore {
        let mut store = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            store.add(cert.expect("pem")).expect("anchor");
        }
        store
    }

    #[test]
    fn the_system_roots_are_read_once() {
        let first = system().expect("the system's trust store");
        let again = system().expect("the system's trust store");
        assert!(Arc::ptr_eq(&first, &again));
    }

    /// The same roots as rustls-native-certs reads, from the same places.
    /// (It keeps two certificates of one root, the same name and key, as
    /// two anchors; they are one anchor to the verifier, and here.)
    #[test]
    fn the_system_roots_are_those_rustls_native_certs_finds() {
        let ours = read(&Sources::of_system(|name| std::env::var_os(name))).expect("ours");
        let mut theirs = RootCertStore::empty();
        theirs.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        assert!(!theirs.is_empty(), "no system roots on this machine");
        let mut distinct = theirs.roots.clone();
        distinct.sort_by(|a, b| {
            (a.subject.as_ref(), a.subject_public_key_info.as_ref())
                .cmp(&(b.subject.as_ref(), b.subject_public_key_info.as_ref()))
        });
        distinct.dedup();
        assert_eq!(ours.len(), distinct.len());
        assert!(distinct.iter().all(|a| ours.roots.contains(a)));
    }

    /// The anchors kept in one buffer are those rustls parses.
    #[test]
    fn the_anchors_read_are_the_anchors_rustls_parses() {
        let file = bundle(TWO_ROOTS.as_bytes());
        let store = read(&Sources {
            file: Some(file.path().to_owned()),
            dirs: vec![],
        })
        .expect("a good bundle");
        assert_eq!(store.roots, anchors_of(TWO_ROOTS).roots);
    }

    #[test]
    fn the_variables_name_all_the_sources_when_set() {
        fn env(
            file: Option<&'static str>,
            dir: Option<&'static str>,
        ) -> impl Fn(&str) -> Option<OsString> {
            move |name| match name {
                "SSL_CERT_FILE" => file.map(OsString::from),
                "SSL_CERT_DIR" => dir.map(OsString::from),
                _ => None,
            }
        }
        assert_eq!(
            Sources::of_system(env(Some("/ca.pem"), None)),
            Sources {
                file: Some("/ca.pem".into()),
                dirs: vec![]
            }
        );
        assert_eq!(
            Sources::of_system(env(None, Some("/a::/b"))),
            Sources {
                file: None,
                dirs: vec!["/a".into(), "/b".into()]
            }
        );
        // Neither set: the distribution's places, whatever they are here.
        let probed = Sources::of_system(env(None, None));
        let expected = openssl_probe::probe();
        assert_eq!(probed.file, expected.cert_file);
        assert_eq!(probed.dirs, expected.cert_dir);
    }

    /// A bundle and a directory as Debian lays them out: each root under a
    /// readable name and an `openssl rehash` link, the bundle holding them
    /// again, a root only the directory has, a dangling link, a file that is
    /// no certificate and a subdirectory. Each root is kept once.
    #[test]
    fn a_bundle_and_a_directory_give_each_root_once() {
        let (x1, x2) = each_root();
        let root = tempfile::tempdir().expect("temp dir");
        let bundle = root.path().join("ca-certificates.crt");
        std::fs::write(&bundle, &x1).expect("bundle");
        let dir = root.path().join("certs");
        std::fs::create_dir(&dir).expect("dir");
        std::fs::write(dir.join("ISRG_Root_X1.pem"), &x1).expect("x1");
        std::os::unix::fs::symlink("ISRG_Root_X1.pem", dir.join("4042bcee.0")).expect("link");
        std::fs::write(dir.join("ISRG_Root_X2.pem"), &x2).expect("x2");
        std::os::unix::fs::symlink("ISRG_Root_X2.pem", dir.join("0b9bc432.0")).expect("link");
        std::os::unix::fs::symlink(&bundle, dir.join("ca-certificates.crt")).expect("link");
        std::os::unix::fs::symlink("gone.pem", dir.join("deadbeef.0")).expect("link");
        std::fs::write(dir.join("README"), "not a certificate\n").expect("readme");
        std::fs::create_dir(dir.join("sub")).expect("subdir");

        let store = read(&Sources {
            file: Some(bundle),
            dirs: vec![dir],
        })
        .expect("a good store");
        let want = anchors_of(TWO_ROOTS);
        assert_eq!(store.roots.len(), 2, "{:?}", store.roots);
        assert!(want.roots.iter().all(|a| store.roots.contains(a)));
    }

    #[test]
    fn missing_sources_give_an_empty_store() {
        let store = read(&Sources {
            file: Some("/nonexistent/ca.pem".into()),
            dirs: vec!["/nonexistent/certs".into()],
        })
        .expect("nothing to read is no error");
        assert!(store.is_empty());
    }

    #[test]
    fn a_store_of_only_unusable_certificates_is_an_error_with_the_remedy() {
        let garbage = bundle(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        let err = read(&Sources {
            file: Some(garbage.path().to_owned()),
            dirs: vec![],
        })
        .expect_err("nothing usable")
        .to_string();
        assert!(
            err.contains("no usable certificate in the system's trust store (1 unreadable: ")
                && err.contains(&garbage.path().display().to_string())
                && err.contains("set SSL_CERT_FILE"),
            "{err}"
        );
    }

    #[test]
    fn a_bundle_adds_its_anchors_to_the_system_roots() {
        let system = Arc::new(RootCertStore::empty());
        let file = bundle(TWO_ROOTS.as_bytes());
        let roots = with_bundle(system.clone(), file.path()).expect("a good bundle");
        assert_eq!(roots.len(), 2);
        assert!(system.is_empty(), "the shared system roots must not change");
    }

    /// oidc-agent writes the system bundle's path into its accounts: such a
    /// client shares the system roots instead of holding a second copy.
    #[test]
    fn a_bundle_the_system_trusts_already_shares_its_roots() {
        let file = bundle(TWO_ROOTS.as_bytes());
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
