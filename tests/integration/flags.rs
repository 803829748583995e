//! Every option of oidc-agent 4.2.6 and 5.3.3 (the `--help` listings in
//! `tests/fixtures/help/`) is in the flag table and parses for its tool, in
//! each argument syntax argp accepts; the table's hidden options stay out of
//! `--help`; and README's "Differences" names every option that does nothing.

use std::collections::BTreeSet;
use std::path::Path;

use clap::CommandFactory as _;
use oidc_agent::cli::flags::{self, Here, Tool, Value};
use oidc_agent::cli::{add, agent, generate, token, try_parse_from};

/// One option as a fixture lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Listed {
    long: String,
    short: Option<char>,
    value: String,
    optional: bool,
}

/// The options in an argp `--help` listing.
fn listed(text: &str) -> Vec<Listed> {
    let mut out = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if !trimmed.starts_with('-') || line.len() == trimmed.len() {
            continue;
        }
        // Options are separated by ", "; the description follows a space.
        let mut short = None;
        let mut longs = Vec::new();
        let mut tokens = Vec::new();
        let mut rest = trimmed;
        loop {
            let end = rest
                .find(|c: char| c == ',' || c.is_whitespace())
                .unwrap_or(rest.len());
            tokens.push(&rest[..end]);
            match rest[end..].strip_prefix(", -") {
                Some(_) => rest = &rest[end + 2..],
                None => break,
            }
        }
        for tok in tokens {
            if let Some(l) = tok.strip_prefix("--") {
                let (name, value, optional) = if let Some((n, v)) = l.split_once("[=") {
                    (n, v.trim_end_matches(']'), true)
                } else if let Some((n, v)) = l.split_once('=') {
                    (n, v, false)
                } else {
                    (l, "", false)
                };
                longs.push((name.to_owned(), value.to_owned(), optional));
            } else if let Some(s) = tok.strip_prefix('-') {
                short = s.chars().next();
            }
        }
        for (i, (long, value, optional)) in longs.into_iter().enumerate() {
            out.push(Listed {
                long,
                short: if i == 0 { short } else { None },
                value,
                optional,
            });
        }
    }
    out
}

fn fixture(tool: Tool) -> Vec<Listed> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/help");
    let mut all = Vec::new();
    for version in ["4.2.6", "5.3.3"] {
        let path = dir.join(format!("{}-{version}.txt", tool.name()));
        let text = std::fs::read_to_string(&path).expect("fixture");
        let found = listed(&text);
        assert!(
            found.len() > 5,
            "{}: parsed too few options",
            path.display()
        );
        all.extend(found);
    }
    all.sort();
    all.dedup();
    all
}

const CLAP_OWN: [&str; 3] = ["help", "usage", "version"];

#[test]
fn table_matches_the_help_of_4_2_6_and_5_3_3() {
    for tool in Tool::ALL {
        let listed = fixture(tool);
        let names: BTreeSet<&str> = listed.iter().map(|l| l.long.as_str()).collect();
        for l in &listed {
            if CLAP_OWN.contains(&l.long.as_str()) {
                continue;
            }
            let Some(flag) = flags::of(tool).find(|f| f.long == l.long) else {
                panic!("{}: --{} is not in the flag table", tool.name(), l.long);
            };
            let want = match (l.value.is_empty(), l.optional) {
                (true, _) => Value::None,
                (false, true) => Value::Optional,
                (false, false) => Value::Required,
            };
            assert_eq!(flag.value, want, "{}: --{}", tool.name(), l.long);
            if l.short.is_some() {
                assert_eq!(flag.short, l.short, "{}: --{}", tool.name(), l.long);
            }
        }
        for flag in flags::of(tool) {
            assert!(
                names.contains(flag.long),
                "{}: --{} is in the table but in neither fixture",
                tool.name(),
                flag.long
            );
        }
    }
}

/// `tool`'s command as it parses (oidc-agent's compatibility options added).
fn command(tool: Tool) -> clap::Command {
    let cmd = match tool {
        Tool::Agent => agent::Args::command(),
        Tool::Gen => generate::Args::command(),
        Tool::Add => add::Args::command(),
        Tool::Token => token::Args::command(),
    };
    flags::command(cmd, tool)
}

fn parse(tool: Tool, argv: &[String]) -> Result<flags::Used, clap::Error> {
    fn go<T: clap::Parser>(tool: Tool, argv: &[String]) -> Result<flags::Used, clap::Error> {
        try_parse_from::<T>(tool, argv).map(|(_, used)| used)
    }
    match tool {
        Tool::Agent => go::<agent::Args>(tool, argv),
        Tool::Gen => go::<generate::Args>(tool, argv),
        Tool::Add => go::<add::Args>(tool, argv),
        Tool::Token => go::<token::Args>(tool, argv),
    }
}

/// A value the option accepts: the first of an enumeration, a number for
/// times and ports, else a word.
fn sample(metavar: &str) -> String {
    if metavar.contains('|') {
        return metavar.split('|').next().unwrap_or("").to_owned();
    }
    if ["TIME", "SECONDS", "PORT"].contains(&metavar) {
        return "7".into();
    }
    "x".into()
}

#[test]
fn every_option_parses_in_every_syntax() {
    for tool in Tool::ALL {
        // The positional argument the tool needs (none for the agent).
        let tail: Vec<String> = match tool {
            Tool::Agent => vec![],
            _ => vec!["acct".into()],
        };
        for l in fixture(tool) {
            if CLAP_OWN.contains(&l.long.as_str()) {
                continue;
            }
            let v = sample(&l.value);
            let mut forms: Vec<Vec<String>> = Vec::new();
            let long = format!("--{}", l.long);
            if l.value.is_empty() {
                forms.push(vec![long.clone()]);
                if let Some(s) = l.short {
                    forms.push(vec![format!("-{s}")]);
                }
            } else if l.optional {
                forms.push(vec![long.clone()]);
                forms.push(vec![format!("{long}={v}")]);
                if let Some(s) = l.short {
                    forms.push(vec![format!("-{s}")]);
                    forms.push(vec![format!("-{s}{v}")]);
                }
            } else {
                forms.push(vec![format!("{long}={v}")]);
                forms.push(vec![long.clone(), v.clone()]);
                if let Some(s) = l.short {
                    forms.push(vec![format!("-{s}"), v.clone()]);
                    forms.push(vec![format!("-{s}{v}")]);
                }
            }
            for form in forms {
                let mut argv = vec![tool.name().to_owned()];
                argv.extend(form.iter().cloned());
                argv.extend(tail.iter().cloned());
                if let Err(e) = parse(tool, &argv) {
                    panic!("{argv:?} does not parse: {e}");
                }
            }
        }
    }
}

/// argp gives a short option's optional value only when it is attached,
/// as oidc-agent's documentation writes it: `-eAT_EXP` is
/// `--expires-at=AT_EXP`, `-oe` is `--token=e`, `-e NAME` is a flag and
/// the account.
#[test]
fn attached_optional_values_are_read_as_argp_reads_them() {
    let token = |argv: &[&str]| {
        try_parse_from::<token::Args>(Tool::Token, argv.iter().copied())
            .unwrap_or_else(|e| panic!("{argv:?}: {e}"))
            .0
    };
    let a = token(&["oidc-token", "acct", "-eAT_EXP", "-iISS", "-oTOKEN"]);
    assert_eq!(
        (
            a.expires_at.as_deref(),
            a.issuer.as_deref(),
            a.token.as_deref()
        ),
        (Some("AT_EXP"), Some("ISS"), Some("TOKEN"))
    );
    let a = token(&["oidc-token", "-oe", "acct"]);
    assert_eq!((a.token.as_deref(), a.expires_at), (Some("e"), None));
    let a = token(&["oidc-token", "-ceX", "acct"]);
    assert!(a.env);
    assert_eq!(a.expires_at.as_deref(), Some("X"));
    let a = token(&["oidc-token", "-e", "acct"]);
    assert_eq!(
        (a.expires_at.as_deref(), a.target.as_str()),
        (Some(""), "acct")
    );
    let a = token(&["oidc-token", "-t30", "--", "-eX"]);
    assert_eq!((a.time, a.target.as_str()), (30, "-eX"));
}

#[test]
fn argp_extras_parse() {
    for tool in Tool::ALL {
        let name = tool.name().to_owned();
        let help = parse(tool, &[name.clone(), "-?".into()]).expect_err("-? shows help");
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
        let mut argv = vec![name.clone(), "--usage".into()];
        if tool != Tool::Agent {
            argv.push("acct".into());
        }
        let used = parse(tool, &argv).expect("--usage");
        assert!(used.usage);
    }
}

/// `--usage` is a long option like the others: a prefix only it has means
/// it, and it wins over the rest of the line (the prefix parsed, then was
/// ignored: `oidc-token --usag` asked for an account name).
#[test]
fn a_unique_prefix_of_usage_is_usage() {
    for tool in Tool::ALL {
        let cmd = command(tool);
        let asks = |a: &str| flags::asks_usage(&cmd, a.as_ref());
        assert!(asks("--usage") && asks("--usag"), "{}", tool.name());
        assert!(!asks("--usages") && !asks("-usage") && !asks("--"));
    }
    // Ambiguous: oidc-gen's --update starts with "u" too.
    let gen_cmd = command(Tool::Gen);
    assert!(!flags::asks_usage(&gen_cmd, "--u".as_ref()));

    let env = crate::support::Env::new();
    for name in ["oidc-token", "oidc-add", "oidc-gen"] {
        let usage = crate::support::ok(&env.run(name, &["--usage"]));
        assert!(usage.starts_with("Usage:"), "{usage}");
        for line in [&["--usag"][..], &["--usag", "--bogus"]] {
            let out = env.run(name, line);
            assert_eq!(
                crate::support::ok(&out),
                usage,
                "{name} {line:?}: {}",
                crate::support::stderr(&out)
            );
        }
    }
}

#[test]
fn unique_prefixes_of_long_options_parse_as_in_argp() {
    let (args, _) = try_parse_from::<generate::Args>(
        Tool::Gen,
        [
            "oidc-gen",
            "--iss=https://op",
            "--client-secret=s",
            "--pw-e",
            "acct",
        ],
    )
    .expect("parses");
    assert_eq!(args.issuer.as_deref(), Some("https://op"));
    assert_eq!(args.client_secret.as_deref(), Some("s"), "exact name wins");
    assert!(args.password.pw_env.is_some());
    let (args, _) =
        try_parse_from::<token::Args>(Tool::Token, ["oidc-token", "--force", "--exp", "acct"])
            .expect("parses");
    assert!(args.force_new && args.expires_at.is_some());
    // Ambiguous prefixes stay errors.
    assert!(try_parse_from::<generate::Args>(Tool::Gen, ["oidc-gen", "--pw", "acct"]).is_err());
}

#[test]
fn the_ocis_documentation_line_parses() {
    let argv = [
        "oidc-gen",
        "--client-id=oidc-agent",
        "--client-secret=",
        "--pub",
        "--issuer",
        "https://ocis.example",
        "--redirect-uri=http://localhost:12345",
        "--scope",
        "max",
        "einstein-ocis",
    ];
    let (args, used) = try_parse_from::<generate::Args>(Tool::Gen, argv).expect("parses");
    assert_eq!(args.client_secret.as_deref(), Some(""));
    assert!(args.public);
    assert_eq!(args.name.as_deref(), Some("einstein-ocis"));
    assert_eq!(used, flags::Used::default());
}

#[test]
fn ignored_options_are_hidden_noted_or_refused() {
    for tool in Tool::ALL {
        let mut cmd = command(tool);
        let help = cmd.render_long_help().to_string();
        for flag in flags::of(tool) {
            let shown = help.contains(&format!("--{} ", flag.long))
                || help.contains(&format!("--{}=", flag.long))
                || help.contains(&format!("--{}\n", flag.long))
                || help.contains(&format!("--{}[", flag.long))
                || help.contains(&format!("--{}>", flag.long))
                || help.contains(&format!("--{},", flag.long));
            match flag.here {
                Here::Ours => {}
                _ => assert!(!shown, "{}: --{} is in --help", tool.name(), flag.long),
            }
        }
    }
    let used = parse(Tool::Agent, &["oidc-agent".into(), "--with-group".into()]).expect("parses");
    assert_eq!(used.notes.len(), 1, "{used:?}");
    let used = parse(Tool::Agent, &["oidc-agent".into(), "--seccomp".into()]).expect("parses");
    assert!(used.notes.is_empty() && used.refused.is_none(), "{used:?}");
    let used = parse(
        Tool::Token,
        &["oidc-token".into(), "-m".into(), "acct".into()],
    )
    .expect("parses");
    assert!(used.refused.is_some(), "{used:?}");
}

#[test]
fn readme_lists_every_option_without_effect() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README");
    let start = readme.find("## Differences").expect("Differences section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    for flag in flags::all().filter(|f| f.here != Here::Ours) {
        assert!(
            section.contains(&format!("`--{}", flag.long)),
            "README \"Differences\" does not name {} --{}",
            flag.tool.name(),
            flag.long
        );
    }
}

/// oidc-agent's `--redirect-uri "URI1 URI2"` (a space-separated list) is
/// two URIs, as repeating the option is.
#[test]
fn redirect_uri_takes_a_space_separated_list() {
    let argv = [
        "oidc-gen",
        "--redirect-uri=http://localhost:8080 http://localhost:4242",
        "--redirect-uri",
        "http://127.0.0.1:9090",
        "acct",
    ];
    let (args, _) = try_parse_from::<generate::Args>(Tool::Gen, argv).expect("parses");
    assert_eq!(
        args.redirect_uri,
        [
            "http://localhost:8080",
            "http://localhost:4242",
            "http://127.0.0.1:9090"
        ]
    );
}
