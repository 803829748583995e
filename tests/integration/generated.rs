//! man/ and completions/ must match the clap definitions.
//! `OIDC_BLESS=1 cargo test generated` rewrites them.

use crate::support::ok;

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

/// Runs the generated bash completion of `tool` for the words `line` (the
/// last one is being completed) with `oidc-add` and the accounts `alpha`
/// and `beta`; returns the candidates.
fn bash_complete(tool: &str, line: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let accounts = dir.path().join("accounts");
    std::fs::create_dir(&accounts).expect("mkdir");
    for name in ["alpha", "beta"] {
        std::fs::write(accounts.join(name), b"x").expect("account file");
    }
    std::fs::write(
        accounts.join("issuer.config"),
        "https://op.example/ alpha\n",
    )
    .expect("issuer.config");
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_oidc-add"))
        .parent()
        .expect("bin dir")
        .to_owned();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("completions")
        .join(format!("{tool}.bash"));
    let words = line
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    // What bash does on TAB: COMP_WORDS/COMP_CWORD set, then the function
    // registered with `complete -F` called with (command, current, previous).
    let program = format!(
        "source '{}'\n\
         COMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n\
         fn=$(complete -p {tool} | sed -E 's/.*-F ([^ ]+).*/\\1/')\n\
         prev=''; [ $COMP_CWORD -gt 0 ] && prev=${{COMP_WORDS[COMP_CWORD-1]}}\n\
         \"$fn\" {tool} \"${{COMP_WORDS[COMP_CWORD]}}\" \"$prev\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display()
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(program)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("OIDC_CONFIG_DIR", &accounts)
        .output()
        .expect("run bash");
    ok(&out)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_account_names() {
    // oidc-token also takes the issuers of issuer.config.
    assert_eq!(
        bash_complete("oidc-token", &["oidc-token", ""]),
        ["alpha", "beta", "https://op.example/"]
    );
    for tool in ["oidc-gen", "oidc-add", "oidc-token"] {
        if tool != "oidc-token" {
            assert_eq!(
                bash_complete(tool, &[tool, ""]),
                ["alpha", "beta"],
                "{tool}"
            );
        }
        assert_eq!(bash_complete(tool, &[tool, "b"]), ["beta"], "{tool}");
    }
    // After an option that takes a value, the value, not an account.
    assert!(
        !bash_complete("oidc-add", &["oidc-add", "--lifetime", ""]).contains(&"alpha".to_owned())
    );
    // oidc-gen -p NAME prints NAME.
    assert_eq!(
        bash_complete("oidc-gen", &["oidc-gen", "-p", "a"]),
        ["alpha"]
    );
    // Options still complete.
    assert!(
        bash_complete("oidc-token", &["oidc-token", "--for"]).contains(&"--force-new".to_owned())
    );
}

#[test]
fn install_script_puts_man_pages_and_completions_where_shells_look() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dest = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new("sh")
        .arg(root.join("scripts/install-docs.sh"))
        .arg("--destdir")
        .arg(dest.path())
        .args(["--prefix", "/usr"])
        .output()
        .expect("run install-docs.sh");
    ok(&out);
    let share = dest.path().join("usr/share");
    // Every command the package builds, not a list kept here.
    let tools: Vec<String> = std::fs::read_dir(root.join("src/bin"))
        .expect("src/bin")
        .map(|e| {
            let path = e.expect("src/bin entry").path();
            path.file_stem()
                .expect("a file name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert!(tools.len() >= 6, "{tools:?}");
    for tool in &tools {
        for (installed, source) in [
            (format!("man/man1/{tool}.1"), format!("man/{tool}.1")),
            (
                format!("bash-completion/completions/{tool}"),
                format!("completions/{tool}.bash"),
            ),
            (
                format!("zsh/site-functions/_{tool}"),
                format!("completions/_{tool}"),
            ),
            (
                format!("fish/vendor_completions.d/{tool}.fish"),
                format!("completions/{tool}.fish"),
            ),
        ] {
            let got = std::fs::read(share.join(&installed)).expect(&installed);
            assert_eq!(
                got,
                std::fs::read(root.join(&source)).expect(&source),
                "{installed}"
            );
        }
    }
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
