//! man/ and completions/ must match the clap definitions.
//! `OIDC_BLESS=1 cargo test generated` rewrites them.

#[test]
fn man_pages_and_completions_are_current() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let bless = std::env::var_os("OIDC_BLESS").is_some();
    let mut stale = Vec::new();
    for (rel, want) in oidc_agent::cli::docs::render_all() {
        let path = root.join(&rel);
        if bless {
            std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
            std::fs::write(&path, &want).expect("write");
        }
        if std::fs::read(&path).ok().as_deref() != Some(&want[..]) {
            stale.push(rel);
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files (run `OIDC_BLESS=1 cargo test generated`): {stale:?}"
    );
}
