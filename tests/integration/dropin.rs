//! oidc-agent's command lines as scripts in the field use them, against the
//! fake provider: empty passwords, secrets outside argv, client_secret_post,
//! and the messages that name the next step.

use std::process::{Output, Stdio};

use crate::support::*;

fn gen_args<'a>(name: &'a str, issuer: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![name, "--issuer", issuer, "--client-id", "cid"];
    v.extend_from_slice(rest);
    v
}

/// Runs oidc-gen with `args`, the refresh token `rt-initial` in
/// $OIDC_REFRESH_TOKEN (for `--rt-env`) and the variables `vars`; asserts
/// that it succeeded.
#[track_caller]
fn gen_ok(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let out = env
        .cmd("oidc-gen")
        .args(args)
        .envs(vars.iter().copied())
        .env("OIDC_REFRESH_TOKEN", "rt-initial")
        .output()
        .expect("oidc-gen");
    ok(&out);
    out
}

#[test]
fn empty_password_automation_pattern() {
    // `oidc-add NAME --pw-file=$EMPTY || oidc-gen NAME ... --pw-file=$EMPTY`,
    // then `oidc-add NAME --pw-file=$EMPTY` on the next run.
    let (op, mut env) = provider_and_home();
    env.start_agent(&[]);
    let empty = env.config_dir().with_file_name("empty-pw");
    std::fs::write(&empty, b"").expect("empty file");
    let pw_file = format!("--pw-file={}", empty.display());
    let err = fails(&env.run("oidc-add", &["acct", &pw_file]), 4);
    assert!(err.contains("oidc-gen acct"), "{err}");
    let out = gen_ok(
        &env,
        &gen_args("acct", &op.issuer, &["--rt-env", &pw_file]),
        &[],
    );
    let warning = stderr(&out);
    assert!(warning.contains("empty password"), "{warning}");
    assert_eq!(
        warning
            .lines()
            .filter(|l| l.contains("empty password"))
            .count(),
        1,
        "one line: {warning}"
    );
    ok(&env.run("oidc-add", &["-r", "acct"]));
    ok(&env.run("oidc-add", &["acct", &pw_file]));
    ok(&env.run("oidc-token", &["acct"]));
    // Not the empty password: refused as any wrong password is.
    fails(&env.run("oidc-add", &["-f", "acct", "--pw-env"]), 9);
}

/// oidc-agent since 4.3: `oidc-add NAME` for a loaded account says so and
/// asks for no password (an `oidc-add NAME` in a shell's profile); `-f`
/// loads it again, and a lifetime given without `-f` is said to be unused.
#[test]
fn a_loaded_account_is_loaded_again_only_with_force() {
    let (_op, env) = agent_with_account();
    let no_password = || {
        let mut cmd = env.cmd("oidc-add");
        cmd.env_remove("OIDC_ENCRYPTION_PW").stdin(Stdio::null());
        cmd
    };
    let out = no_password().arg("acct").output().expect("oidc-add");
    assert_eq!(ok(&out).trim(), "Account 'acct' already loaded");
    let out = no_password()
        .args(["-t", "60", "acct"])
        .output()
        .expect("oidc-add");
    assert!(ok(&out).contains("-f loads it again with -t"));
    assert!(env.status()["accounts"][0]["lifetime_ends_at"].is_null());
    // -f loads it: here the password is needed (and none can be asked).
    let out = no_password()
        .args(["-f", "acct"])
        .output()
        .expect("oidc-add");
    assert!(fails(&out, 1).contains("--pw-env"));
    let said = ok(&env.run("oidc-add", &["-f", "-t", "60", "--pw-env", "acct"]));
    assert_eq!(said.trim(), "Account 'acct' loaded.");
    assert!(env.status()["accounts"][0]["lifetime_ends_at"].is_i64());
}

/// `oidc-gen -m acct` with `answers` on its standard input and `rt` as the
/// new login's imported refresh token.
fn edit(env: &Env, rt: &str, answers: &str) -> Output {
    edit_with(env, rt, &[], answers)
}

/// [`edit`] with `flags` on the command line.
fn edit_with(env: &Env, rt: &str, flags: &[&str], answers: &str) -> Output {
    let mut cmd = env.cmd("oidc-gen");
    cmd.args(["-m", "acct", "--pw-env", "--rt", rt])
        .args(flags)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("oidc-gen");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), answers.as_bytes())
        .expect("answers");
    drop(child.stdin.take());
    child.wait_with_output().expect("oidc-gen")
}

/// oidc-agent's quickstart: `oidc-gen -m NAME` updates an account. Each
/// value is asked for with the saved one as the default (here piped in, as
/// a script would); a change means a new login, saved over the old one and
/// loaded; nothing changed, nothing is sent.
#[test]
fn oidc_gen_m_edits_an_account_then_logs_in_again() {
    let (op, env) = agent_with_account();
    let path = env.config_dir().join("acct");
    let before = std::fs::read(&path).expect("account");
    let requests = op.requests().len();
    let out = env
        .cmd("oidc-gen")
        .args(["-m", "acct", "--pw-env"])
        .stdin(Stdio::null())
        .output()
        .expect("oidc-gen");
    ok(&out);
    assert!(
        stderr(&out).contains("Account 'acct' is unchanged"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&path).expect("account"), before);
    assert_eq!(op.requests().len(), requests, "a provider call for nothing");

    // New scopes, the rest kept with Enter; the login is an imported token.
    op.accept_rt("rt-edited");
    let out = edit(&env, "rt-edited", "\n\n\nopenid offline_access email\n\n");
    ok(&out);
    let said = stderr(&out);
    assert!(said.contains("Client id [cid]: "), "{said}");
    let store = oidc_agent::account::store::Store::new(env.config_dir());
    let saved = oidc_agent::account::open(&store, "acct", &PASSWORD.into()).expect("saved");
    assert_eq!(saved.config.refresh_token.expose(), "rt-edited");
    assert_eq!(
        saved.config.scope.as_deref(),
        Some("openid offline_access email")
    );
    assert_eq!(saved.config.client_id, "cid", "kept with Enter");
    // The agent holds the edited account.
    assert!(ok(&env.run("oidc-token", &["-f", "acct"])).starts_with("at-"));
    let refresh = op.calls();
    let last = refresh.last().expect("a refresh");
    assert_eq!(last.form("refresh_token").as_deref(), Some("rt-edited"));

    // Another issuer: issuer.config follows, so that `oidc-token ISSUER`
    // does not name the account for the one it left.
    let other = crate::support::fake_op::FakeOp::start();
    other.accept_rt("rt-moved");
    ok(&edit(&env, "rt-moved", &format!("{}\n", other.issuer)));
    let issuers = oidc_agent::account::issuers::read(&env.config_dir()).expect("issuer.config");
    assert_eq!(issuers.default_account_for(&other.issuer), Some("acct"));
    assert_eq!(issuers.default_account_for(&op.issuer), None);
    assert!(ok(&env.run("oidc-token", &[&other.issuer])).starts_with("at-"));

    // Values on the command line are taken without their prompts, as
    // oidc-agent's -m reads them; --aud, which it does not ask for, too.
    other.accept_rt("rt-flags");
    let flags = ["--aud", "api", "--scope", "openid email"];
    let out = edit_with(&env, "rt-flags", &flags, "\n\n\n");
    ok(&out);
    let said = stderr(&out);
    assert!(
        said.contains("Client id [") && !said.contains("Scopes ["),
        "{said}"
    );
    let saved = oidc_agent::account::open(&store, "acct", &PASSWORD.into()).expect("saved");
    assert_eq!(saved.config.audience, "api");
    assert_eq!(saved.config.scope.as_deref(), Some("openid email"));
    assert_eq!(saved.config.refresh_token.expose(), "rt-flags");
}

#[test]
fn secrets_from_env_and_files_and_argv_warnings() {
    let (op, env) = provider_and_home();
    let secret_file = env.config_dir().with_file_name("secret");
    std::fs::write(&secret_file, b"from-file\n").expect("secret file");
    let file_arg = format!("--client-secret-file={}", secret_file.display());
    let cases: [(&str, Vec<&str>, Option<&str>); 4] = [
        ("a", vec!["--client-secret-env"], Some("from-env")),
        (
            "b",
            vec!["--client-secret-env=MYSECRET"],
            Some("from-my-env"),
        ),
        ("c", vec![&file_arg], Some("from-file")),
        ("d", vec!["--client-secret", "from-argv"], Some("from-argv")),
    ];
    for (name, flags, want) in cases {
        let mut rest = flags.clone();
        rest.push("--rt-env");
        rest.push("--pw-env");
        let out = gen_ok(
            &env,
            &gen_args(name, &op.issuer, &rest),
            &[
                ("OIDC_CLIENT_SECRET", "from-env"),
                ("MYSECRET", "from-my-env"),
            ],
        );
        let warned = stderr(&out).contains("other users can read it");
        assert_eq!(warned, name == "d", "{name}: {}", stderr(&out));
        let call = op.calls().pop().expect("token call");
        let basic = call.header("authorization").expect("Basic");
        let decoded = String::from_utf8(
            base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                basic.trim_start_matches("Basic "),
            )
            .expect("base64"),
        )
        .expect("utf8");
        assert_eq!(decoded, format!("cid:{}", want.unwrap_or("")), "{name}");
    }
    // --rt on the command line warns; --rt-env (above) does not.
    let out = env.gen_rt("e", &op.issuer, "rt-initial");
    ok_saying(&out, "--rt puts a secret on the command line");
}

#[test]
fn empty_client_secret_is_a_public_client() {
    let (op, env) = provider_and_home();
    for (name, extra) in [("pub1", "--pub"), ("pub2", "--manual")] {
        gen_ok(
            &env,
            &gen_args(
                name,
                &op.issuer,
                &["--client-secret=", extra, "--rt-env", "--pw-env"],
            ),
            &[],
        );
        let call = op.calls().pop().expect("token call");
        assert_eq!(call.header("authorization"), None, "{name}");
        assert_eq!(call.form("client_id").as_deref(), Some("cid"));
        assert!(call.form("client_secret").is_none(), "{name}");
    }
}

#[test]
fn client_secret_post_when_asked_and_kept_for_refreshes() {
    let (op, mut env) = provider_and_home();
    env.start_agent(&[]);
    gen_ok(
        &env,
        &gen_args(
            "post",
            &op.issuer,
            &[
                "--client-secret-env",
                "--client-auth",
                "post",
                "--rt-env",
                "--pw-env",
            ],
        ),
        &[("OIDC_CLIENT_SECRET", "s3cret")],
    );
    // The agent's refreshes use the account's method too.
    ok(&env.run("oidc-token", &["-f", "post"]));
    for call in op.calls() {
        assert_eq!(call.header("authorization"), None);
        assert_eq!(call.form("client_secret").as_deref(), Some("s3cret"));
    }
}

#[test]
fn next_steps_in_messages() {
    let (op, mut env) = provider_and_home();
    env.start_agent(&[]);
    // A refused refresh token for a new account: no --reauthenticate.
    let err = fails(&env.gen_rt("fresh", &op.issuer, "rt-bogus"), 7);
    assert!(err.contains("new account 'fresh'"), "{err}");
    assert!(!err.contains("--reauthenticate"), "{err}");
    // A CI secret imported a second time: why a rotating provider refuses
    // it, and what that costs (the login it came from ends too).
    assert!(
        err.contains("A token used before is refused by a provider that rotates them"),
        "{err}"
    );
    // A misspelt account: the same exit code from oidc-add and oidc-token.
    ok(&env.gen_rt("real", &op.issuer, "rt-initial"));
    let add = fails(&env.run("oidc-add", &["reall"]), 4);
    let token = fails(&env.run("oidc-token", &["reall"]), 4);
    assert!(
        add.contains("reall") && token.contains("reall"),
        "{add}\n{token}"
    );
    // The password flow and mytoken parse, then stop with a usage error.
    fails(&env.run("oidc-token", &["--mytoken", "real"]), 2);
    fails(
        &env.run("oidc-gen", &gen_args("x", &op.issuer, &["--flow=password"])),
        2,
    );
}

#[test]
fn agent_writes_its_pid_file_and_takes_the_4x_options() {
    let mut env = Env::new();
    let pid_file = env.config_dir().with_file_name("agent.pid");
    let pid_arg = format!("--pid-file={}", pid_file.display());
    // oidc-agent-service 5.x's and 4.x's options alongside.
    env.start_agent(&[
        &pid_arg,
        "--restart-on-update",
        "--no-webserver",
        "--seccomp",
    ]);
    let written = std::fs::read_to_string(&pid_file).expect("pid file");
    let v = env.status();
    assert!(!v["socket"].as_str().unwrap_or("").is_empty(), "{v}");
    assert_eq!(written, format!("{}\n", env.agent_pid().expect("agent")));
}

#[test]
fn client_file_print_and_update_by_path_and_confirm_answers() {
    let (op, env) = provider_and_home();
    // oidc-agent's -f FILE: the client (here public: an empty secret) and issuer.
    let client = env.config_dir().with_file_name("client.json");
    let doc = serde_json::json!({"client_id": "cid", "client_secret": "", "issuer_url": op.issuer});
    std::fs::write(&client, doc.to_string()).expect("client file");
    let file_arg = format!("-f{}", client.display());
    gen_ok(&env, &["fromfile", &file_arg, "--rt-env", "--pw-env"], &[]);
    let call = op.calls().pop().expect("token call");
    assert_eq!(call.header("authorization"), None);
    assert_eq!(call.form("client_id").as_deref(), Some("cid"));
    // -p FILE and --print=FILE: a short name or a path.
    let path = env.config_dir().join("fromfile");
    let by_path = format!("--print={}", path.display());
    for argv in [
        &["-p", "fromfile", "--pw-env"][..],
        &[&by_path, "--pw-env"][..],
    ] {
        let printed = ok(&env.run("oidc-gen", argv));
        let v: serde_json::Value = serde_json::from_str(&printed).expect("json");
        assert_eq!(v["client_id"], "cid", "{argv:?}");
    }
    // --confirm-no, --confirm-default and --prompt=none answer the delete
    // question with its default, no: the account stays.
    for answer in ["--confirm-no", "--confirm-default", "--prompt=none"] {
        let out = env.run("oidc-gen", &["-d", answer, "--pw-env", "fromfile"]);
        let err = fails(&out, 1);
        assert!(
            err.contains("[y/N] n") && err.contains("not deleted"),
            "{answer}: {err}"
        );
        assert!(path.exists(), "{answer} deleted the account");
    }
    // --prompt=none never asks for a password.
    let out = env
        .cmd("oidc-gen")
        .args(["-p", "fromfile", "--prompt=none"])
        .env_remove("OIDC_ENCRYPTION_PW")
        .output()
        .expect("oidc-gen");
    let err = fails(&out, 2);
    assert!(err.contains("--prompt=none"), "{err}");
}

/// `OIDC_CONFIG_DIR=accounts oidc-gen ...` run from a project directory (a
/// relative path, as scripts set it): the account goes to that directory
/// taken from where the command runs, and the agent (which runs from `/`)
/// saves rotations there. It used to get the relative path: every rotation
/// stayed unsaved, and a stop lost it.
#[test]
fn a_relative_config_dir_is_taken_from_where_the_command_runs() {
    let (op, env) = agent_where(|c| c.rotate = true);
    let relative = |mut cmd: std::process::Command| {
        cmd.env("OIDC_CONFIG_DIR", "accounts-rel")
            .current_dir(env.dir.path())
            .output()
            .expect("run")
    };
    ok(&relative(env.gen_rt_cmd(
        "acct",
        &op.issuer,
        "rt-initial",
        "--pw-env",
    )));
    let mut token = env.cmd("oidc-token");
    token.args(["-f", "acct"]);
    let out = relative(token);
    ok(&out);
    assert_eq!(stderr(&out), "", "no 'not saved' warning");
    let store = oidc_agent::account::store::Store::new(env.dir.path().join("accounts-rel"));
    let saved = oidc_agent::account::open(&store, "acct", &PASSWORD.into()).expect("the file");
    let valid: Vec<String> = op.valid_rts().into_iter().collect();
    assert_eq!(valid, [saved.config.refresh_token.expose().to_owned()]);
}

/// `--scope-max` is oidc-agent's alias of `--scope max`, also for an
/// imported refresh token: its check refresh asks for the same scopes (the
/// alias was dropped there, and the refresh asked for none).
#[test]
fn scope_max_is_scope_max_for_an_import() {
    let (op, env) = provider_and_home();
    let mut asked = Vec::new();
    for (name, flag) in [("a", &["--scope", "max"][..]), ("b", &["--scope-max"][..])] {
        op.accept_rt("rt-max");
        let mut cmd = env.gen_rt_cmd(name, &op.issuer, "rt-max", "--pw-env");
        ok(&cmd.args(flag).output().expect("oidc-gen"));
        let calls = op.calls();
        let check = calls.last().expect("the check refresh");
        asked.push(check.form("scope"));
    }
    assert!(
        asked[0].as_deref().is_some_and(|s| s.contains("openid")),
        "{asked:?}"
    );
    assert_eq!(asked[0], asked[1]);
}

/// A flag given twice is taken, as oidc-agent's argp takes it (`oidc-token
/// -f -f`, a script's variable expanding to a flag already there), the
/// last value winning; repeated list options still gather every value
/// (tester11 F5).
#[test]
fn a_flag_given_twice_is_taken() {
    let (op, env) = agent_with_account();
    ok(&env.run("oidc-token", &["-f", "-f", "acct"]));
    assert_eq!(ok(&env.run("oidc-add", &["-l", "-l"])), "acct\n");
    ok(&env.run(
        "oidc-token",
        &[
            "-s", "openid", "-s", "profile", "-t", "5", "-t", "10", "acct",
        ],
    ));
    assert_eq!(
        op.calls().last().expect("call").form("scope").as_deref(),
        Some("openid profile")
    );
}

/// oidc-agent's docs write `oidc-token NAME -e AT_EXP`, which its argp
/// refuses as we do (the variable name is optional, so it goes attached):
/// the refusal says how to attach it (tester11 F1).
#[test]
fn a_detached_variable_name_is_said_how_to_attach() {
    let env = Env::new();
    for (flag, long) in [
        ("-e", "--expires-at"),
        ("-i", "--issuer"),
        ("-o", "--token"),
    ] {
        let err = fails(&env.run("oidc-token", &["acct", flag, "VAR"]), 2);
        assert!(err.contains(&format!("{flag}VAR or {long}=VAR")), "{err}");
    }
}

/// Output read by `| head -1` or `| grep -q`, whose reader is gone before
/// the write: the command ends quietly, as oidc-agent's do, not with a
/// Rust panic and exit 101 (tester11).
#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    let (_op, env) = agent_with_account();
    for (name, args) in [
        ("oidc-gen", &["-p", "--pw-env", "acct"][..]),
        ("oidc-agent", &["--status"][..]),
        ("oidc-agent", &["--status", "--json"][..]),
        ("oidc-add", &["-a", "--json"][..]),
    ] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = env
            .cmd(name)
            .args(args)
            .stdout(writer)
            .output()
            .expect("run");
        assert!(
            out.status.success() && !stderr(&out).contains("panicked"),
            "{name} {args:?}: {}",
            stderr(&out)
        );
    }
}
