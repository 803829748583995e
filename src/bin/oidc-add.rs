//! `oidc-add`: see `oidc_agent::cli::add`.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(oidc_agent::cli::add::main())
}
