//! Man pages and shell completions, generated from the clap definitions
//! (what `--help` adds to them is `help`'s).
//!
//! The output is committed under `man/` and `completions/`; a test fails when
//! it drifts from the definitions (`OIDC_BLESS=1 cargo test` rewrites it).

use clap::CommandFactory;
use clap_complete::Shell;

use super::manual;
use crate::error::ErrorKind;

/// Every generated file: (path relative to the repository, contents).
pub fn render_all() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for cmd in commands() {
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
            if shell == Shell::Fish {
                fish_positional_values(&cmd, &mut buf);
            }
            out.push((file, buf));
        }
    }
    out
}

/// Every command's clap definition. Without the hidden oidc-agent options
/// of `flags`: they do nothing, so completing them would only clutter.
fn commands() -> [clap::Command; 6] {
    [
        super::agent::Args::command(),
        super::generate::Args::command(),
        super::add::Args::command(),
        super::token::Args::command(),
        super::service::Args::command(),
        super::git_credential::Args::command(),
    ]
}

/// Escapes plain text for a roff text line.
fn roff(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\e")
        .replace('-', "\\-")
        .replace('\'', "\\(aq");
    if escaped.starts_with('.') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// clap_complete's fish script offers no values for a positional argument
/// (`oidc-agent-service use|start|...`); adds them, until one is given.
fn fish_positional_values(cmd: &clap::Command, buf: &mut Vec<u8>) {
    let name = cmd.get_name();
    for arg in cmd.get_positionals() {
        let values: Vec<_> = arg
            .get_possible_values()
            .into_iter()
            .filter(|v| !v.is_hide_set())
            .collect();
        let names: Vec<&str> = values
            .iter()
            .map(clap::builder::PossibleValue::get_name)
            .collect();
        for v in &values {
            let help = v.get_help().map(ToString::to_string).unwrap_or_default();
            buf.extend(
                format!(
                    "complete -c {name} -f -n 'not __fish_seen_subcommand_from {}' -a '{}' -d '{}'\n",
                    names.join(" "),
                    v.get_name(),
                    help.replace('\\', "\\\\").replace('\'', "\\'")
                )
                .bytes(),
            );
        }
    }
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
    let page = manual::page(&name);
    let cmd = match page {
        Some(p) => cmd.about(p.about),
        None => cmd,
    };
    // clap_mangen leaves visible aliases out of OPTIONS: said in the help.
    let mut cmd = cmd.mut_args(|arg| {
        let aliases = arg.get_visible_aliases().unwrap_or_default();
        if aliases.is_empty() {
            return arg;
        }
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        let also = aliases.iter().map(|a| format!("--{a}")).collect::<Vec<_>>();
        arg.help(format!("{help} (also {})", also.join(", ")))
    });
    // clap_mangen's SYNOPSIS names every flag but none of their values
    // (`[-t|--time]`); clap's usage line, as oidc-agent's pages have it
    // (`oidc-token [OPTIONS] <ACCOUNT_SHORTNAME|ISSUER_URL>`), with the
    // options and their values in OPTIONS.
    let usage = cmd.render_usage().to_string();
    let usage = usage.trim().trim_start_matches("Usage:").trim();
    let rest = usage.strip_prefix(name.as_str()).unwrap_or(usage).trim();
    let synopsis = format!(".SH SYNOPSIS\n\\fB{}\\fR {}\n", roff(&name), roff(rest));
    let mut buf = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = clap_mangen::Man::new(cmd).render(&mut buf);
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    replace_section(&mut text, "SYNOPSIS", &synopsis);
    let mut extra = String::new();
    if let Some(page) = page {
        // clap_mangen's DESCRIPTION repeats the summary; ours says more.
        let mut desc = String::from(".SH DESCRIPTION\n");
        for (i, para) in page.description.split("\n\n").enumerate() {
            if i > 0 {
                desc.push_str(".PP\n");
            }
            desc.push_str(&roff(&para.replace('\n', " ")));
            desc.push('\n');
        }
        replace_section(&mut text, "DESCRIPTION", &desc);
        extra.push_str(".SH EXAMPLES\n");
        for (what, lines) in page.examples {
            extra.push_str(&format!(".PP\n{}:\n.PP\n.RS 4\n.EX\n", roff(what)));
            for line in lines.lines() {
                extra.push_str(&roff(line));
                extra.push('\n');
            }
            extra.push_str(".EE\n.RE\n");
        }
        extra.push_str(".SH ENVIRONMENT\n");
        for (var, meaning) in page.environment {
            extra.push_str(&format!(".TP\n.B {}\n{}\n", roff(var), roff(meaning)));
        }
        extra.push_str(".SH FILES\n");
        for (path, meaning) in page.files {
            extra.push_str(&format!(".TP\n{}\n{}\n", roff(path), roff(meaning)));
        }
    }
    extra.push_str(".SH \"EXIT STATUS\"\n.TP\n0\nsuccess\n");
    for (kind, meaning) in ErrorKind::TABLE {
        extra.push_str(&format!(".TP\n{}\n{}\n", kind.exit_code(), roff(meaning)));
    }
    extra.push_str(&format!(
        ".SH \"SEE ALSO\"\n{}\n",
        manual::PAGES
            .iter()
            .map(|p| p.name)
            .filter(|n| *n != name)
            .map(|n| format!("{}(1)", roff(n)))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    text.push_str(&extra);
    text.into_bytes()
}

/// Replaces clap_mangen's section `.SH NAME` (up to the next one) with
/// `section`.
fn replace_section(text: &mut String, name: &str, section: &str) {
    let heading = format!(".SH {name}\n");
    if let Some(start) = text.find(&heading) {
        let rest = &text[start + 1..];
        let end = rest
            .find("\n.SH ")
            .map_or(text.len(), |i| start + 1 + i + 1);
        text.replace_range(start..end, section);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_and_man_pages_list_every_exit_code_of_the_table() {
        let help = crate::cli::help::for_help(crate::cli::token::Args::command())
            .render_long_help()
            .to_string();
        for (kind, meaning) in ErrorKind::TABLE {
            let line = format!("  {:<3} {meaning}", kind.exit_code());
            assert!(help.contains(&line), "--help lacks {line:?}:\n{help}");
        }
        for (file, bytes) in render_all().iter().filter(|(f, _)| f.starts_with("man/")) {
            let page = String::from_utf8_lossy(bytes);
            let status = page.split(".SH \"EXIT STATUS\"").nth(1).expect(file);
            for (kind, meaning) in ErrorKind::TABLE {
                let entry = format!(".TP\n{}\n{}\n", kind.exit_code(), roff(meaning));
                assert!(status.contains(&entry), "{file} lacks exit code {entry:?}");
            }
        }
    }

    /// The words of a shell line, quotes removed; `$(`, `)`, `|`, `;` and
    /// `&` (also inside double quotes) stand as words of their own.
    fn words(line: &str) -> Vec<String> {
        let (mut out, mut word, mut quote) = (Vec::new(), String::new(), None);
        let mut chars = line.chars().peekable();
        let end = |word: &mut String, out: &mut Vec<String>| {
            if !word.is_empty() {
                out.push(std::mem::take(word));
            }
        };
        while let Some(c) = chars.next() {
            match (quote, c) {
                (Some('\''), '\'') | (Some('"'), '"') => quote = None,
                (Some('\''), c) => word.push(c),
                (None, '\'' | '"') => quote = Some(c),
                (_, '$') if chars.peek() == Some(&'(') => {
                    chars.next();
                    end(&mut word, &mut out);
                    out.push("$(".into());
                }
                (_, ')' | '|' | ';' | '&') => {
                    end(&mut word, &mut out);
                    out.push(c.to_string());
                }
                (None, c) if c.is_whitespace() => end(&mut word, &mut out),
                (_, c) => word.push(c),
            }
        }
        end(&mut word, &mut out);
        out
    }

    /// Every command line of ours in the man pages' EXAMPLES parses with
    /// that command's options (`--client-secret-env VAR` did not: the
    /// option takes its value only after `=`).
    #[test]
    fn every_example_parses() {
        let commands = commands();
        let mut seen = 0;
        for page in manual::PAGES {
            for (what, lines) in page.examples {
                for line in lines.lines() {
                    let words = words(line);
                    for part in words.split(|w| matches!(w.as_str(), "$(" | ")" | "|" | ";" | "&"))
                    {
                        // Variable assignments before the command.
                        let mut part = part.iter().skip_while(|w| w.contains('='));
                        let Some(name) = part.next() else { continue };
                        let Some(cmd) = commands.iter().find(|c| c.get_name() == name) else {
                            continue;
                        };
                        let argv = std::iter::once(name).chain(part);
                        if let Err(e) = cmd.clone().try_get_matches_from(argv) {
                            panic!("{}: example {what:?}: {line}\n{e}", page.name);
                        }
                        seen += 1;
                    }
                }
            }
        }
        assert!(seen > 20, "only {seen} command lines found in the examples");
    }

    /// The SYNOPSIS is clap's usage line (no flag without its value), and
    /// a visible alias (`--exec-credential`) is named in OPTIONS.
    #[test]
    fn man_pages_show_the_usage_line_and_the_aliases() {
        let page = man_page(crate::cli::token::Args::command());
        let page = String::from_utf8_lossy(&page);
        assert!(
            page.contains(
                ".SH SYNOPSIS\n\\fBoidc\\-token\\fR [OPTIONS] <ACCOUNT_SHORTNAME|ISSUER_URL>\n.SH "
            ),
            "{page}"
        );
        assert!(page.contains("(also \\-\\-exec\\-credential)"), "{page}");
    }
}
