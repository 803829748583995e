//! Man pages and shell completions, generated from the clap definitions.
//!
//! The output is committed under `man/` and `completions/`; a test fails when
//! it drifts from the definitions (`OIDC_BLESS=1 cargo test` rewrites it).

use clap::CommandFactory;
use clap_complete::Shell;

use crate::error::ErrorKind;

/// Every generated file: (path relative to the repository, contents).
pub fn render_all() -> Vec<(String, Vec<u8>)> {
    let commands = [
        super::agent::Args::command(),
        super::generate::Args::command(),
        super::add::Args::command(),
        super::token::Args::command(),
    ];
    let mut out = Vec::new();
    for cmd in commands {
        let name = cmd.get_name().to_owned();
        out.push((format!("man/{name}.1"), man_page(cmd.clone())));
        for (shell, file) in [
            (Shell::Bash, format!("completions/{name}.bash")),
            (Shell::Zsh, format!("completions/_{name}")),
            (Shell::Fish, format!("completions/{name}.fish")),
        ] {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), &name, &mut buf);
            out.push((file, buf));
        }
    }
    out
}

fn man_page(cmd: clap::Command) -> Vec<u8> {
    let name = cmd.get_name().to_owned();
    let mut buf = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = clap_mangen::Man::new(cmd).render(&mut buf);
    let mut extra = String::from(".SH \"EXIT STATUS\"\n");
    extra.push_str(".TP\n0\nsuccess\n");
    for (kind, meaning) in ErrorKind::TABLE {
        extra.push_str(&format!(
            ".TP\n{}\n{}\n",
            kind.exit_code(),
            meaning.replace('-', "\\-")
        ));
    }
    extra.push_str(
        ".SH ENVIRONMENT\n.TP\nOIDC_SOCK\nthe agent's socket (set by eval \"$(oidc\\-agent)\")\n\
         .TP\nOIDCD_PID\nthe agent's pid (for oidc\\-agent \\-k)\n\
         .TP\nOIDC_CONFIG_DIR\nthe account directory\n\
         .TP\nOIDC_ENCRYPTION_PW\ndefault variable of \\-\\-pw\\-env\n\
         .TP\nOIDC_REFRESH_TOKEN\ndefault variable of \\-\\-rt\\-env\n\
         .SH FILES\n.TP\n~/.config/oidc\\-agent/NAME\nan encrypted account (0600, directory 0700)\n\
         .TP\n~/.config/oidc\\-agent/issuer.config\nthe default account per issuer\n",
    );
    extra.push_str(&format!(
        ".SH \"SEE ALSO\"\n{}\n",
        ["oidc-agent", "oidc-gen", "oidc-add", "oidc-token"]
            .iter()
            .filter(|n| **n != name)
            .map(|n| format!("{}(1)", n.replace('-', "\\-")))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    buf.extend_from_slice(extra.as_bytes());
    buf
}
