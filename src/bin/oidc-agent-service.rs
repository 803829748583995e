//! `oidc-agent-service`: see `oidc_agent::cli::service`.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(oidc_agent::cli::service::main())
}
