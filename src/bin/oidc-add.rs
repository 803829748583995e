//! `oidc-add`: see `oidc_agent::cli::add`.

fn main() -> std::process::ExitCode {
    oidc_agent::cli::add::main()
}
