//! `git-credential-oidc`: see `oidc_agent::cli::git_credential`.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(oidc_agent::cli::git_credential::main())
}
