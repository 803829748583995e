//! `oidc-agent-service`: see `oidc_agent::cli::service`.

fn main() -> std::process::ExitCode {
    oidc_agent::cli::service::main()
}
