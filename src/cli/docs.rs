//! Man pages and shell completions, generated from the clap definitions.
//!
//! The output is committed under `man/` and `completions/`; a test fails when
//! it drifts from the definitions (`OIDC_BLESS=1 cargo test` rewrites it).

use clap::CommandFactory;
use clap_complete::Shell;

use crate::error::ErrorKind;

/// Every generated file: (path relative to the repository, contents).
pub fn render_all() -> Vec<(String, Vec<u8>)> {
    // Without the hidden oidc-agent options of `flags`: they do nothing, so
    // completing them would only clutter.
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
            if let Some(positional) = account_positional(&cmd) {
                buf = with_accounts(shell, &cmd, positional, buf);
            }
            out.push((file, buf));
        }
    }
    out
}

/// The id of the positional argument that names an account, if any.
fn account_positional(cmd: &clap::Command) -> Option<&'static str> {
    match cmd.get_name() {
        "oidc-gen" | "oidc-add" => Some("name"),
        "oidc-token" => Some("target"),
        _ => None,
    }
}

/// The shell command listing the configured accounts (fast: it reads the
/// account directory, no agent needed); oidc-token also takes issuer URLs.
fn candidates(name: &str) -> &'static str {
    if name == "oidc-token" {
        "oidc-add -l 2>/dev/null; oidc-add --list-issuers 2>/dev/null"
    } else {
        "oidc-add -l 2>/dev/null"
    }
}

/// The generated completion plus the dynamic part: account names where the
/// account argument goes.
fn with_accounts(
    shell: Shell,
    cmd: &clap::Command,
    positional: &str,
    generated: Vec<u8>,
) -> Vec<u8> {
    let name = cmd.get_name();
    let list = candidates(name);
    let mut text = String::from_utf8(generated).unwrap_or_default();
    match shell {
        Shell::Bash => {
            // Options whose value is the next word: there, no account.
            let mut built = cmd.clone();
            built.build();
            let mut takes_value = Vec::new();
            for arg in built.get_arguments() {
                let separate = arg.get_num_args().is_some_and(|n| n.min_values() > 0)
                    && !arg.is_require_equals_set();
                if !separate {
                    continue;
                }
                takes_value.extend(
                    arg.get_short_and_visible_aliases()
                        .unwrap_or_default()
                        .iter()
                        .map(|c| format!("-{c}")),
                );
                takes_value.extend(
                    arg.get_long_and_visible_aliases()
                        .unwrap_or_default()
                        .iter()
                        .map(|l| format!("--{l}")),
                );
            }
            let generated_fn = format!("_{}", name.replace('-', "__"));
            let wrapper = format!("_oidc_rs_{}", name.replace('-', "_"));
            text.push_str(&format!(
                "\n# Account names (oidc-agent-rs): where the account goes, complete the\n\
                 # configured accounts; everything else as generated above.\n\
                 {wrapper}() {{\n\
                 \x20   local cur=\"$2\" prev=\"$3\"\n\
                 \x20   case \" {} \" in *\" $prev \"*) {generated_fn} \"$@\"; return ;; esac\n\
                 \x20   if [[ $cur != -* ]]; then\n\
                 \x20       COMPREPLY=( $(compgen -W \"$({list})\" -- \"$cur\") )\n\
                 \x20       return 0\n\
                 \x20   fi\n\
                 \x20   {generated_fn} \"$@\"\n\
                 }}\n\
                 complete -F {wrapper} -o bashdefault -o default {name}\n",
                takes_value.join(" ")
            ));
        }
        Shell::Zsh => {
            // One helper per command: oidc-token's also lists issuers.
            let helper_fn = format!("_oidc_rs_{}_accounts", name.replace('-', "_"));
            let prefix = [
                format!("'::{positional} -- "),
                format!("':{positional} -- "),
            ];
            text = text
                .lines()
                .map(|l| {
                    if prefix.iter().any(|p| l.starts_with(p.as_str())) {
                        l.replacen(":_default'", &format!(":{helper_fn}'"), 1)
                    } else {
                        l.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            text.push('\n');
            let helper = format!(
                "\n# Account names (oidc-agent-rs).\n\
                 {helper_fn}() {{\n\
                 \x20   local -a accounts\n\
                 \x20   accounts=(${{(f)\"$({list})\"}})\n\
                 \x20   compadd -a accounts\n\
                 }}\n"
            );
            let at = text.find("\nif [ \"$funcstack[1]\"").unwrap_or(text.len());
            text.insert_str(at, &helper);
        }
        Shell::Fish => {
            text.push_str(&format!(
                "# Account names (oidc-agent-rs)\n\
                 complete -c {name} -f -n 'not string match -q -- \"-*\" (commandline -ct)' \
                 -a '({list})' -d 'account'\n"
            ));
        }
        _ => {}
    }
    text.into_bytes()
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
