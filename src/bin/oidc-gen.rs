//! `oidc-gen`: see `oidc_agent::cli::generate`.

fn main() -> std::process::ExitCode {
    oidc_agent::cli::generate::main()
}
