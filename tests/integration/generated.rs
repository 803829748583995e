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

/// `--help` of every command: its own summary on the first line (not the
/// crate's tagline) and every exit code of the one table.
#[test]
fn help_says_what_the_command_does_and_lists_every_exit_code() {
    for page in oidc_agent::cli::manual::PAGES {
        let out = std::process::Command::new(crate::support::bin(page.name))
            .arg("--help")
            .output()
            .expect("run --help");
        assert!(out.status.success(), "{} --help failed", page.name);
        let text = String::from_utf8(out.stdout).expect("utf8");
        assert_eq!(text.lines().next(), Some(page.about), "{}", page.name);
        for (kind, meaning) in oidc_agent::ErrorKind::TABLE {
            let line = format!("  {:<3} {meaning}", kind.exit_code());
            assert!(text.contains(&line), "{} --help lacks `{line}`", page.name);
        }
    }
}
