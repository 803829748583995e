//! `oidc-token`: see `oidc_agent::cli::token`.

fn main() -> std::process::ExitCode {
    oidc_agent::cli::token::main()
}
