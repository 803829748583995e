//! `oidc-gen`: see `oidc_agent::cli::generate`.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(oidc_agent::cli::generate::main())
}
