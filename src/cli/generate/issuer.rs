//! What `oidc-gen` asks for on a terminal when the command line leaves it
//! out, as oidc-agent's does: the account's short name, and the issuer
//! (the issuers its files know, by number, or a URL).

use anyhow::Context as _;

use super::args::Args;
use super::registration;
use crate::account::store::Store;
use crate::cli::password::PROMPT_TRIES;
use crate::error::Error;

fn required() -> Error {
    Error::Usage("--issuer URL is required to create an account".into())
}

/// No account name: on a terminal, asked for (an empty answer ends it);
/// otherwise (or with `--prompt=none`) a usage error.
pub(super) fn ask_name(args: &Args) -> anyhow::Result<String> {
    use std::io::{BufRead as _, IsTerminal as _};
    let missing = || {
        Error::Usage("no account short name given (usage: oidc-gen NAME --issuer URL ...)".into())
    };
    if args.prompt == Some(super::args::PromptMode::None) || !std::io::stdin().is_terminal() {
        return Err(missing().into());
    }
    eprint!("Short name for the account to configure: ");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the account name")?;
    match line.trim() {
        "" => Err(missing().into()),
        name => Ok(name.to_owned()),
    }
}

/// No `--issuer`: on a terminal, asked for, as oidc-agent's `oidc-gen NAME`
/// does, offering the issuers oidc-agent's files know by number; otherwise
/// (or with `--prompt=none`) a usage error.
pub(super) fn ask(args: &Args, store: &Store) -> anyhow::Result<String> {
    use std::io::IsTerminal as _;
    if args.prompt == Some(super::args::PromptMode::None) || !std::io::stdin().is_terminal() {
        return Err(required().into());
    }
    let known = registration::known_issuers(store);
    for (i, issuer) in known.iter().enumerate() {
        eprintln!("[{}] {issuer}", i + 1);
    }
    eprint!(
        "Issuer URL{}: ",
        if known.is_empty() {
            ""
        } else {
            " (or a number above)"
        }
    );
    // A typo is asked again, as often as a password is; an empty answer or
    // end of input ends it.
    let mut tries = 1;
    loop {
        match issuer_answer(&read_issuer_line()?, &known)? {
            Ok(issuer) => return Ok(issuer),
            Err(wrong) if tries < PROMPT_TRIES => eprint!("{wrong}; try again: "),
            Err(wrong) => return Err(Error::Usage(wrong).into()),
        }
        tries += 1;
    }
}

fn read_issuer_line() -> anyhow::Result<String> {
    use std::io::BufRead as _;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the issuer URL")?;
    Ok(line.trim().to_owned())
}

/// The issuer a person's answer names: a URL, or a number from `known`;
/// `Ok(Err(words))` for a number off the list, to ask again.
fn issuer_answer(line: &str, known: &[String]) -> anyhow::Result<Result<String, String>> {
    if line.is_empty() {
        return Err(required().into());
    }
    Ok(match line.parse::<usize>() {
        Ok(n) => known.get(n.wrapping_sub(1)).cloned().ok_or_else(|| {
            format!(
                "no issuer numbered {n}; give a number from 1 to {} or a URL",
                known.len()
            )
        }),
        Err(_) => Ok(line.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A number picks from the list, a number off it is asked again with
    /// the range, anything else is the URL, an empty answer ends it.
    #[test]
    fn an_answer_is_a_number_from_the_list_or_a_url() {
        let known = vec![
            "https://a.example/".to_owned(),
            "https://b.example/".to_owned(),
        ];
        let answer = |line| issuer_answer(line, &known).map_err(|e| e.to_string());
        assert_eq!(answer("2"), Ok(Ok("https://b.example/".to_owned())));
        assert_eq!(
            answer("https://c.example/"),
            Ok(Ok("https://c.example/".to_owned()))
        );
        for off in ["0", "3"] {
            assert_eq!(
                answer(off),
                Ok(Err(format!(
                    "no issuer numbered {off}; give a number from 1 to 2 or a URL"
                )))
            );
        }
        assert!(answer("").is_err_and(|e| e.contains("--issuer URL is required")));
    }
}
