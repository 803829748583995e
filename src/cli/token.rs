//! `oidc-token`: print an access token from the agent.
//!
//! The hot path of every script and of rclone's `bearer_token_command`: one
//! socket round trip, no async runtime, no HTTP client. stdout carries only
//! what was asked for; errors go to stderr; stdin is never read.

use anyhow::Context as _;
use clap::Parser;

use crate::client::AgentClient;
use crate::protocol::{Request, TokenRequest};

/// Print a fresh access token from the running oidc-agent.
#[derive(Debug, Parser)]
#[command(name = "oidc-token", version, long_about = None)]
pub struct Args {
    /// Account short name, or issuer URL (anything with "://")
    #[arg(value_name = "ACCOUNT_SHORTNAME|ISSUER_URL")]
    pub target: String,
    /// Minimum number of seconds the token must still be valid
    #[arg(short = 't', long = "time", value_name = "SECONDS", default_value_t = 0)]
    pub time: i64,
    /// Scope for a down-scoped token (repeatable or space-separated)
    #[arg(short = 's', long = "scope", value_name = "SCOPE")]
    pub scope: Vec<String>,
    /// Audience(s) of the token (repeatable or space-separated)
    #[arg(long = "aud", visible_alias = "audience", value_name = "AUDIENCE")]
    pub aud: Vec<String>,
    /// Always get a new token, bypassing the agent's cache
    #[arg(short = 'f', long = "force-new")]
    pub force_new: bool,
    /// Print token, issuer and expiry, one per line
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Print shell code that sets OIDC_AT, OIDC_ISS and OIDC_EXP (or the names -o, -i, -e VAR give)
    #[arg(short = 'c', long = "env")]
    pub env: bool,
    /// Print the access token; with VAR, as `VAR=...; export VAR;`
    #[arg(short = 'o', long = "token", value_name = "VAR", num_args = 0..=1, require_equals = true,
          default_missing_value = "")]
    pub token: Option<String>,
    /// Print the issuer; with VAR, as `VAR=...; export VAR;`
    #[arg(short = 'i', long = "issuer", value_name = "VAR", num_args = 0..=1, require_equals = true,
          default_missing_value = "")]
    pub issuer: Option<String>,
    /// Print the expiry (Unix time); with VAR, as `VAR=...; export VAR;`
    #[arg(short = 'e', long = "expires-at", value_name = "VAR", num_args = 0..=1, require_equals = true,
          default_missing_value = "")]
    pub expires_at: Option<String>,
    /// Print `Bearer <token>`
    #[arg(long = "bearer")]
    pub bearer: bool,
    /// Print `Authorization: Bearer <token>` without a newline
    #[arg(long = "auth-header", visible_alias = "auth")]
    pub auth_header: bool,
    /// Print the ID token instead of an access token
    #[arg(long = "id-token")]
    pub id_token: bool,
    /// Fail (exit 4) instead of loading a configured account that is not loaded
    #[arg(long = "no-autoload")]
    pub no_autoload: bool,
    /// Name of the application asking, for the agent's log
    #[arg(long = "name", value_name = "NAME", default_value = "oidc-token")]
    pub name: String,
    /// Print one JSON object: access_token, token_type, expires_at, issuer, account, scope
    #[arg(long = "json", conflicts_with_all = OTHER_FORMATS)]
    pub json: bool,
    /// Print a kubectl ExecCredential (exec credential plugin; reads KUBERNETES_EXEC_INFO)
    #[arg(long = "kube", visible_alias = "exec-credential", conflicts_with_all = OTHER_FORMATS,
          conflicts_with = "json")]
    pub kube: bool,
    /// The server refused the last token: drop the agent's cached token, then print a new one
    #[arg(long = "rejected")]
    pub rejected: bool,
}

/// The flags `--json` and `--kube` exclude.
const OTHER_FORMATS: [&str; 8] = [
    "all",
    "env",
    "token",
    "issuer",
    "expires_at",
    "bearer",
    "auth_header",
    "id_token",
];

/// Entry point of `oidc-token`.
pub fn main() -> u8 {
    let args: Args = just_a_name(std::env::args_os().skip(1))
        .unwrap_or_else(|| super::parse(super::flags::Tool::Token));
    super::run("oidc-token", || execute(&args))
}

/// The command line of nearly every call (`oidc-token NAME`, the whole
/// command line one argument that is not an option) without clap: building
/// the parser is most of the start-up work that is ours (README
/// "Performance"). Anything else goes through clap, which gives the same
/// `Args` for this case (a test checks).
fn just_a_name(mut argv: impl Iterator<Item = std::ffi::OsString>) -> Option<Args> {
    let target = argv.next()?.into_string().ok()?;
    if argv.next().is_some() || target.is_empty() || target.starts_with('-') {
        return None;
    }
    Some(Args {
        target,
        time: 0,
        scope: Vec::new(),
        aud: Vec::new(),
        force_new: false,
        all: false,
        env: false,
        token: None,
        issuer: None,
        expires_at: None,
        bearer: false,
        auth_header: false,
        id_token: false,
        no_autoload: false,
        name: "oidc-token".into(),
        json: false,
        kube: false,
        rejected: false,
    })
}

fn join(list: &[String]) -> Option<String> {
    let s = list
        .iter()
        .flat_map(|s| s.split_whitespace())
        .collect::<Vec<_>>()
        .join(" ");
    (!s.is_empty()).then_some(s)
}

/// The request this command line sends; `loads_itself`: this client
/// autoloads the account (see `autoload`), so the agent must not.
pub fn request(args: &Args, loads_itself: bool) -> Request {
    let t = TokenRequest {
        min_valid_period: if args.force_new { -1 } else { args.time.max(0) },
        scope: join(&args.scope),
        audience: join(&args.aud),
        application_hint: Some(args.name.clone()),
        no_autoload: args.no_autoload || loads_itself,
        ..TokenRequest::for_target(&args.target)
    };
    if args.id_token {
        Request::IdToken(t)
    } else {
        Request::AccessToken(t)
    }
}

/// Renders the reply as the flags ask, in oidc-agent's order of precedence
/// (`oidc-token.c`): `-a` first; then `-c` or two of `-o`/`-i`/`-e` give
/// shell lines, each under the name its flag gave (`-c -eAT_EXP`: `AT_EXP`)
/// or its default; one of them alone gives its bare value, or its line
/// when it names a variable; with none, `--bearer` before `--auth-header`.
pub fn render(args: &Args, token: &str, issuer: &str, expires_at: i64) -> String {
    let exp = expires_at.to_string();
    if args.all {
        return format!("{token}\n{issuer}\n{exp}\n");
    }
    let items = [
        (&args.token, "OIDC_AT", token),
        (&args.issuer, "OIDC_ISS", issuer),
        (&args.expires_at, "OIDC_EXP", exp.as_str()),
    ];
    let chosen: Vec<_> = items
        .iter()
        .filter(|(flag, _, _)| args.env || flag.is_some())
        .map(|(flag, default_var, value)| {
            let named = flag.as_deref().filter(|v| !v.is_empty());
            (named, *default_var, *value)
        })
        .collect();
    match chosen[..] {
        [] if args.bearer => format!("Bearer {token}\n"),
        [] if args.auth_header => format!("Authorization: Bearer {token}"),
        [] => format!("{token}\n"),
        [(None, _, value)] => format!("{value}\n"),
        _ => chosen
            .iter()
            .map(|(named, default_var, value)| {
                let var = named.unwrap_or(default_var);
                format!("{var}={}; export {var};\n", super::shell_word(value))
            })
            .collect(),
    }
}

fn execute(args: &Args) -> anyhow::Result<()> {
    // kubectl's contract first: a bad KUBERNETES_EXEC_INFO is a usage error.
    let kube = if args.kube {
        let env = std::env::var("KUBERNETES_EXEC_INFO").ok();
        Some(super::formats::exec_info(env.as_deref())?)
    } else {
        None
    };
    // Under kubectl with `interactiveMode: Never`, nobody can answer a prompt.
    let no_prompt = kube
        .as_ref()
        .filter(|k| !k.interactive)
        .map(|_| "kubectl's spec.interactive is false: interactiveMode Never, or no terminal");
    let client = AgentClient::from_env()?;
    if args.rejected
        && let Request::AccessToken(t) = &request(args, true)
    {
        match client.call(&Request::DropToken(t.clone())) {
            // Not loaded: nothing cached; the request below says the rest.
            Err(e) if super::autoload::is_not_loaded(&e) => {}
            other => {
                other?;
            }
        }
    }
    let reply =
        super::autoload::call(&client, &args.target, !args.no_autoload, no_prompt, |own| {
            request(args, own)
        })?;
    if let Some(warning) = &reply.warning {
        // One line on stderr; stdout stays the token and the exit code 0.
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "oidc-token: warning: {warning}");
    }
    // `-t N` the provider cannot meet, as its tokens live less: said once
    // on stderr rather than met with a shorter token in silence.
    if let Some(expires_at) = reply
        .expires_at
        .filter(|e| *e > 0 && args.time > 0 && !args.id_token)
    {
        let left = expires_at - crate::agent::clock::Clock::from_env().now();
        if left < args.time {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "oidc-token: warning: the token is valid for {left} s, less than the {} s asked for \
                 (-t): the provider's tokens do not live that long",
                args.time
            );
        }
    }
    let token = if args.id_token {
        reply.id_token
    } else {
        reply.access_token
    };
    let token = token.context("the agent's reply has no token")?;
    let issuer = reply.issuer.unwrap_or_default();
    if args.json || kube.is_some() {
        let info = super::formats::TokenInfo {
            token: token.expose(),
            expires_at: reply.expires_at.unwrap_or(0),
            issuer: &issuer,
            account: reply.account.as_deref(),
            scope: reply.scope.as_deref(),
        };
        let out = zeroize::Zeroizing::new(match &kube {
            Some(k) => super::formats::exec_credential(&info, k),
            None => super::formats::json(&info),
        });
        super::write_stdout(&out)?;
        return Ok(());
    }
    // An ID token alone, whatever the output flags (oidc-agent's
    // `token_handleIdToken`): `-c` would export it as OIDC_AT with expiry 0.
    let out = zeroize::Zeroizing::new(if args.id_token {
        format!("{}\n", token.expose())
    } else {
        render(args, token.expose(), &issuer, reply.expires_at.unwrap_or(0))
    });
    super::write_stdout(&out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut v = vec!["oidc-token"];
        v.extend_from_slice(extra);
        v.push("acct");
        crate::cli::try_parse_from::<Args>(crate::cli::flags::Tool::Token, v)
            .expect("parse")
            .0
    }

    /// Whatever a token holds, `eval "$(oidc-token -c NAME)"` sets
    /// OIDC_AT to it and runs nothing else: checked with the shell itself.
    #[test]
    fn shell_code_runs_nothing_a_value_holds() {
        for value in [
            "x\ntouch pwned\n",
            "x;touch pwned",
            "a'b",
            "$(id)",
            "`id`",
            "~root",
            "",
        ] {
            let code = render(&args(&["-c"]), value, "https://op/", 42);
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("{code}printf %s \"$OIDC_AT\""))
                .current_dir(std::env::temp_dir())
                .output()
                .expect("sh");
            assert_eq!(String::from_utf8_lossy(&out.stdout), value, "{code}");
        }
        assert!(!std::env::temp_dir().join("pwned").exists());
        assert_eq!(
            crate::cli::shell_word("eyJhbGciOi.x-y_z+/="),
            "eyJhbGciOi.x-y_z+/="
        );
    }

    #[test]
    fn output_forms() {
        let r = |a: &[&str]| render(&args(a), "AT", "https://op/", 42);
        assert_eq!(r(&[]), "AT\n");
        assert_eq!(r(&["-a"]), "AT\nhttps://op/\n42\n");
        assert_eq!(
            r(&["-c"]),
            "OIDC_AT=AT; export OIDC_AT;\nOIDC_ISS=https://op/; export OIDC_ISS;\nOIDC_EXP=42; export OIDC_EXP;\n"
        );
        assert_eq!(r(&["-o"]), "AT\n");
        assert_eq!(r(&["-e"]), "42\n");
        assert_eq!(r(&["--token=MYTOK"]), "MYTOK=AT; export MYTOK;\n");
        assert_eq!(
            r(&["-o", "-i"]),
            "OIDC_AT=AT; export OIDC_AT;\nOIDC_ISS=https://op/; export OIDC_ISS;\n"
        );
        assert_eq!(r(&["--bearer"]), "Bearer AT\n");
        assert_eq!(r(&["--auth-header"]), "Authorization: Bearer AT");
    }

    /// oidc-agent's documented forms: `-c` with `-o`/`-i`/`-e` renames
    /// those variables; `-a` wins over `-c`, `--bearer` over
    /// `--auth-header` (`oidc-token.c`).
    #[test]
    fn env_names_and_precedence_follow_oidc_agent() {
        let r = |a: &[&str]| render(&args(a), "AT", "https://op/", 42);
        assert_eq!(
            r(&["-c", "-eAT_EXP"]),
            "OIDC_AT=AT; export OIDC_AT;\nOIDC_ISS=https://op/; export OIDC_ISS;\nAT_EXP=42; export AT_EXP;\n"
        );
        assert_eq!(
            r(&["-c", "--token=MYTOK", "-iMYISS"]),
            "MYTOK=AT; export MYTOK;\nMYISS=https://op/; export MYISS;\nOIDC_EXP=42; export OIDC_EXP;\n"
        );
        assert_eq!(r(&["-a", "-c"]), "AT\nhttps://op/\n42\n");
        assert_eq!(r(&["--bearer", "--auth-header"]), "Bearer AT\n");
        assert_eq!(r(&["-o", "--bearer"]), "AT\n");
    }

    #[test]
    fn a_lone_name_parses_as_clap_parses_it() {
        let fast = |a: &[&str]| just_a_name(a.iter().map(std::ffi::OsString::from));
        for name in ["acct", "https://op.example/", "help"] {
            let quick = fast(&[name]).expect("a lone name takes the fast path");
            let clap = Args::try_parse_from(["oidc-token", name]).expect("parse");
            assert_eq!(format!("{quick:?}"), format!("{clap:?}"), "for {name}");
        }
        for other in [
            &["-f", "acct"][..],
            &["acct", "-f"],
            &["--help"],
            &["-"],
            &[""],
            &[],
        ] {
            assert!(fast(other).is_none(), "{other:?} skipped clap");
        }
    }

    #[test]
    fn request_forms() {
        let req = request(
            &args(&["-f", "-s", "openid profile", "-s", "email", "--aud", "x"]),
            false,
        );
        let json = String::from_utf8(req.to_bytes().to_vec()).expect("utf8");
        assert_eq!(
            json,
            r#"{"request":"access_token","account":"acct","min_valid_period":-1,"scope":"openid profile email","audience":"x","application_hint":"oidc-token"}"#
        );
        // Loading the account itself, the client keeps the agent from it.
        let own = request(&args(&[]), true);
        assert!(
            String::from_utf8(own.to_bytes().to_vec())
                .expect("utf8")
                .contains(r#""no_autoload":true"#)
        );
        let by_issuer = Args::try_parse_from(["oidc-token", "https://op/"]).expect("parse");
        assert!(
            String::from_utf8(request(&by_issuer, false).to_bytes().to_vec())
                .expect("utf8")
                .contains(r#""issuer":"https://op/""#)
        );
    }
}
