//! `oidc-agent`: see `oidc_agent::cli::agent`.

fn main() -> std::process::ExitCode {
    oidc_agent::cli::agent::main()
}
