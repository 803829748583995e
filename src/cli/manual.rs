//! What each command does, in words: the one-line summary (`--help`'s first
//! line and the man page's NAME), the DESCRIPTION, EXAMPLES, ENVIRONMENT and
//! FILES of each man page. Plain text here; `docs` renders it.

/// The hand-written part of one command's documentation.
pub struct Page {
    /// The command's name.
    pub name: &'static str,
    /// One line: what the command does.
    pub about: &'static str,
    /// Paragraphs, separated by blank lines.
    pub description: &'static str,
    /// (what it does, the command lines).
    pub examples: &'static [(&'static str, &'static str)],
    /// (variable, meaning) read or written by this command.
    pub environment: &'static [(&'static str, &'static str)],
    /// (path, meaning) used by this command.
    pub files: &'static [(&'static str, &'static str)],
}

const ACCOUNT_FILES: &[(&str, &str)] = &[
    (
        "$OIDC_CONFIG_DIR/NAME, else ~/.config/oidc-agent/NAME or ~/.oidc-agent/NAME, whichever exists (the former first)",
        "an encrypted account (mode 0600 in a 0700 directory)",
    ),
    (
        "~/.config/oidc-agent/issuer.config",
        "the default account per issuer",
    ),
];

const SERVICE_SOCKETS: (&str, &str) = (
    "$XDG_RUNTIME_DIR/oidc-agent/agent.sock (without it, /run/user/$UID/oidc-agent/agent.sock if that directory exists), else $TMPDIR/oidc-agent-service-$UID/oidc-agent.sock",
    "the per-user service agent's socket, tried when OIDC_SOCK is unset",
);

const OIDC_SOCK: (&str, &str) = (
    "OIDC_SOCK",
    "the agent's socket; when unset, the per-user service socket (see FILES)",
);
const CONFIG_DIR: (&str, &str) = ("OIDC_CONFIG_DIR", "the account directory");
const PW_ENV: (&str, &str) = (
    "OIDC_ENCRYPTION_PW",
    "the account password for --pw-env (the default variable)",
);
const TMPDIR: (&str, &str) = (
    "TMPDIR",
    "where sockets are created without XDG_RUNTIME_DIR and /run/user/$UID (/tmp when unset or not a directory)",
);
const PROXY: (&str, &str) = (
    "HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY (or in lower case)",
    "the proxy for the provider, as curl takes them (http://, https://, socks5:// and socks5h:// proxies); \
NO_PROXY lists hosts reached directly, NO_PROXY=* all of them",
);
const XDG_RUNTIME_DIR: (&str, &str) = (
    "XDG_RUNTIME_DIR",
    "the per-user runtime directory holding the service socket",
);

/// Every command's page.
pub const PAGES: &[Page] = &[
    Page {
        name: "oidc-agent",
        about: "Run the agent that holds OpenID Connect refresh tokens and hands out access tokens",
        description: "oidc-agent starts the agent in the background and prints shell code that sets OIDC_SOCK and \
OIDCD_PID; run it as eval \"$(oidc-agent)\". The agent keeps the loaded accounts' refresh tokens in memory and \
answers oidc-token and every liboidc-agent client on a Unix socket (mode 0600, only the same user may connect). \
It never prompts: a request that needs a person fails at once with the command to run.

With COMMAND, oidc-agent starts the agent, runs COMMAND with OIDC_SOCK and OIDCD_PID set, and stops the agent \
when COMMAND exits (as ssh-agent bash does); its exit status is COMMAND's.

Started by systemd's oidc-agent.socket unit, the agent serves the listening socket systemd passes \
(LISTEN_FDS, LISTEN_PID) in the foreground. For one agent per user see oidc-agent-service(1).",
        examples: &[
            ("Start an agent for this shell and stop it again", "eval \"$(oidc-agent)\"\neval \"$(oidc-agent -k)\""),
            (
                "Run one command with its own agent",
                "oidc-agent -- sh -c 'oidc-add --pw-env ci && make deploy'",
            ),
            (
                "Per-user agent started by systemd on first use",
                "systemctl --user enable --now oidc-agent.socket",
            ),
            ("Ask the running agent how it is", "oidc-agent --status --json"),
        ],
        environment: &[
            OIDC_SOCK,
            ("OIDCD_PID", "the agent's pid; oidc-agent -k stops it"),
            CONFIG_DIR,
            TMPDIR,
            PROXY,
            (
                "LISTEN_FDS, LISTEN_PID",
                "a listening socket passed by systemd (socket activation, fd 3)",
            ),
        ],
        files: &[
            (
                "$TMPDIR/oidc-XXXXXX/oidc-agent.PPID",
                "the default socket (a fresh 0700 directory)",
            ),
            SERVICE_SOCKETS,
            ACCOUNT_FILES[0],
            (
                "$XDG_RUNTIME_DIR/oidc-agent/unsaved/",
                "a note per account whose newest refresh token the agent holds but could not write \
(a full disk), with that token sealed as the file would hold it: other agents and oidc-add refuse to spend \
the file's older token while the agent runs, and the next oidc-add takes the token from the note once it has \
stopped",
            ),
        ],
    },
    Page {
        name: "oidc-gen",
        about: "Log in to an OpenID provider once and save the refresh token as an encrypted account",
        description: "oidc-gen creates an account: it discovers the provider, gets a refresh token (the \
authorization-code flow with PKCE through a loopback listener on 127.0.0.1, the device flow, or an imported \
token), checks it, saves the account encrypted with your password and loads it into the running agent. It also \
lists, prints, renames, re-encrypts and deletes accounts and gets a new refresh token for an existing one \
(--reauthenticate).

A login given up before it is saved (Ctrl-C, exit 130, or an error such as a denied or expired login) leaves \
nothing at the provider: the new login is revoked and a client oidc-gen registered for it is deleted. Once the \
save has begun, Ctrl-C waits for it.",
        examples: &[
            (
                "oCIS / OpenCloud desktop client (public, PKCE) in the browser",
                "oidc-gen cloud --issuer https://cloud.example/ --client-id OpenCloudDesktop --pub",
            ),
            (
                "A confidential client",
                "oidc-gen kit --issuer https://op.example/ --client-id my-client --client-secret-env=SECRET",
            ),
            (
                "A headless box: device flow, approve on your phone",
                "oidc-gen cloud --issuer https://cloud.example/ --client-id OpenCloudDesktop --pub --flow device",
            ),
            (
                "CI: import a refresh token, password from the environment",
                "OIDC_REFRESH_TOKEN=... OIDC_ENCRYPTION_PW=... \\\n  oidc-gen ci --issuer https://op.example/ --client-id my-client --rt-env --pw-env",
            ),
            (
                "Keep the password in the desktop keyring (later loads need no prompt)",
                "oidc-gen cloud --issuer https://cloud.example/ --client-id OpenCloudDesktop --pub --pw-keyring",
            ),
        ],
        environment: &[
            OIDC_SOCK,
            CONFIG_DIR,
            PW_ENV,
            (
                "OIDC_NEW_ENCRYPTION_PW",
                "the new password for -u (without it: asked on the terminal, or kept with --pw-*)",
            ),
            ("OIDC_REFRESH_TOKEN", "the refresh token for --rt-env (the default variable)"),
            ("BROWSER", "the browser to open for the code flow"),
            PROXY,
        ],
        files: &[
            ACCOUNT_FILES[0],
            ACCOUNT_FILES[1],
            (
                "pubclients.config and issuer.config.d/ in the account directory, then in /etc/oidc-agent",
                "oidc-agent's preregistered public clients: --pub without --client-id takes the issuer's; \
their issuers are offered by number when no --issuer is given",
            ),
        ],
    },
    Page {
        name: "oidc-add",
        about: "Load an encrypted account into the agent (or unload, list, lock and unlock)",
        description: "oidc-add decrypts account NAME with its password and loads it into the running agent, \
which then serves tokens for it until its lifetime ends or it is unloaded. The password comes from --pw-env, \
--pw-file or --pw-cmd, else from the OS keyring when oidc-gen --pw-keyring stored it there, else from a no-echo \
prompt on the terminal. Decryption happens here; the agent never sees the password.

An account loaded already is left as it is, and no password is asked (as oidc-agent does since 4.3); \
-f loads it again, for a file changed behind the agent or a new lifetime.

While another agent holds a newer refresh token of the account than its file (its save failed: a full disk), \
oidc-add refuses to load the account here, naming that agent: the file's token would be a replay that revokes \
the login. When that agent has stopped without writing it, oidc-add takes the token from the note the agent left \
in the runtime directory and says so.

oidc-token loads a configured account by itself when it is asked for one that is not loaded (autoload), so \
oidc-add is needed mainly in scripts, with a lifetime, or without a terminal.",
        examples: &[
            ("Load an account (asks for the password)", "oidc-add cloud"),
            ("CI: password from the environment, unload after an hour", "OIDC_ENCRYPTION_PW=... oidc-add --pw-env -t 3600 ci"),
            ("List configured and loaded accounts", "oidc-add -l\noidc-add -a"),
            ("Lock the agent while away, unlock it again", "oidc-add -x\noidc-add -X"),
        ],
        environment: &[
            OIDC_SOCK,
            CONFIG_DIR,
            PW_ENV,
            (
                "BEARER_TOKEN_FILE",
                "the file --token-file keeps when no PATH is given",
            ),
        ],
        files: &[
            ACCOUNT_FILES[0],
            SERVICE_SOCKETS,
            (
                "$XDG_RUNTIME_DIR/bt_u$UID (else /tmp/bt_u$UID), or --token-file=PATH",
                "the WLCG bearer-token file the agent keeps for --token-file. The agent holds a lock on \
.bt_u$UID.lock beside it while it keeps the file, so another agent of the same user is refused the same \
file (exit 2, naming the agent's socket)",
            ),
        ],
    },
    Page {
        name: "oidc-token",
        about: "Print a fresh access token for an account (or an issuer) from the running agent",
        description: "oidc-token asks the agent for an access token of account NAME, or of the default account \
of ISSUER_URL, and prints it on stdout; errors go to stderr and stdin is never read, so it fits \
$(oidc-token NAME) and rclone's bearer-token command. The agent refreshes the token when it would expire within \
--time seconds.

When the account is configured but not loaded, oidc-token loads it (autoload), by running the oidc-add \
installed beside it: with the password from the OS keyring when oidc-gen --pw-keyring stored one, else by asking on the terminal when there is one, else it fails \
at once with exit status 4 and the oidc-add command to run. --no-autoload turns this off.",
        examples: &[
            ("A token for curl", "curl -H \"Authorization: Bearer $(oidc-token cloud)\" https://cloud.example/graph/v1.0/me"),
            (
                "rclone against oCIS / OpenCloud WebDAV",
                "rclone lsd cloud: --webdav-bearer-token-command \"oidc-token cloud\"",
            ),
            ("Token, issuer and expiry as shell variables", "eval \"$(oidc-token -c cloud)\""),
            (
                "In a script, which should stop when there is no token ($(...) inside curl's arguments and eval lose the exit status)",
                "AT=$(oidc-token cloud) || exit; curl -H \"Authorization: Bearer $AT\" https://cloud.example/graph/v1.0/me",
            ),
            ("A token valid for at least 10 minutes, by issuer", "oidc-token -t 600 https://cloud.example/"),
            (
                "CI: no terminal, no autoload",
                "oidc-add --pw-env ci && oidc-token --no-autoload ci",
            ),
            ("Everything about the token, as JSON", "oidc-token --json cloud | jq -r .expires_at"),
            (
                "A kubectl exec credential plugin (see the README for the kubeconfig stanza)",
                "KUBERNETES_EXEC_INFO='{\"apiVersion\":\"client.authentication.k8s.io/v1\"}' oidc-token --kube k8s",
            ),
            ("The server refused the token: get a new one", "oidc-token --rejected cloud"),
        ],
        environment: &[
            OIDC_SOCK,
            CONFIG_DIR,
            XDG_RUNTIME_DIR,
            TMPDIR,
        ],
        files: &[SERVICE_SOCKETS, ACCOUNT_FILES[0], ACCOUNT_FILES[1]],
    },
    Page {
        name: "oidc-agent-service",
        about: "Start, reuse or stop the per-user oidc-agent at the well-known socket",
        description: "oidc-agent-service manages one agent per user at a well-known socket, so that every \
shell, service and timer of the user reaches the same agent without OIDC_SOCK. use prints the variables of the \
running service agent, starting one if none runs; start starts one (and fails when one runs); stop and kill stop \
it; restart stops it and starts a new one with the same options, restart-s does so silently. The output is shell \
code to eval, as oidc-agent 5.x's oidc-agent-service prints.

Put eval \"$(oidc-agent-service use)\" in your shell profile, or use the systemd user units instead \
(systemctl --user enable --now oidc-agent.socket).",
        examples: &[
            ("In ~/.profile: one agent for all shells", "eval \"$(oidc-agent-service use)\" >/dev/null"),
            ("Stop the agent; the next use starts a fresh one", "eval \"$(oidc-agent-service stop)\""),
            ("Start the agent with a default lifetime (restart keeps the running agent's options)", "oidc-agent-service stop; OIDC_AGENT_OPTS='-t 86400' oidc-agent-service use"),
        ],
        environment: &[
            ("OIDC_AGENT_OPTS", "extra options for the agent that start launches"),
            ("OIDC_AGENT", "the oidc-agent binary to launch (default: the one next to this command)"),
            XDG_RUNTIME_DIR,
            TMPDIR,
            ("OIDC_SOCK, OIDCD_PID, OIDCD_PID_FILE", "printed for eval"),
        ],
        files: &[
            SERVICE_SOCKETS,
            (
                "$XDG_RUNTIME_DIR/oidc-agent/oidc-agent.pid (or beside the $TMPDIR socket)",
                "the pid of the agent that start launched",
            ),
        ],
    },
    Page {
        name: "git-credential-oidc",
        about: "A git credential helper that answers with an access token from the running agent",
        description: "git runs git-credential-oidc NAME get when a server asks for credentials, with the \
request on stdin (gitcredentials(7)); it answers with the user name (--username, default oauth2) and an access \
token of account NAME (or of the default account of ISSUER_URL) as the password, with its expiry, so git never \
reuses an expired token. store does nothing. erase, which git runs when the server refused the credentials, \
drops the agent's cached token when that is the refused one (not another helper's password), so the next get \
brings a new one. Autoload works as for oidc-token.",
        examples: &[
            (
                "Use account 'forge' for one server",
                "git config --global credential.https://git.example.helper 'oidc forge'",
            ),
            (
                "A server that wants a particular user name",
                "git config --global credential.https://git.example.helper 'oidc --username alice forge'",
            ),
        ],
        environment: &[OIDC_SOCK, CONFIG_DIR, XDG_RUNTIME_DIR, TMPDIR],
        files: &[SERVICE_SOCKETS, ACCOUNT_FILES[0]],
    },
];

/// The page of command `name`.
pub fn page(name: &str) -> Option<&'static Page> {
    PAGES.iter().find(|p| p.name == name)
}
