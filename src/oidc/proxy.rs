//! The proxy variables reqwest reads from the environment: whether they
//! are off for every host, and which one a message about `url` names.

/// Whether `NO_PROXY` (else `no_proxy`; `var` reads them) is `*`, which
/// curl, and so oidc-agent, take as "no proxy for any host" and reqwest
/// 0.12 reads as a host name.
pub(crate) fn proxies_off(var: impl Fn(&str) -> Option<String>) -> bool {
    ["NO_PROXY", "no_proxy"]
        .iter()
        .find_map(|name| var(name).filter(|v| !v.trim().is_empty()))
        .is_some_and(|v| v.trim() == "*")
}

/// The proxy variable reqwest takes for `url` from the environment (`var`
/// reads it), as `NAME=URL` without any credentials in the URL; `None`
/// when none is set or `NO_PROXY` is `*`. A `NO_PROXY` host list is not
/// weighed: the message says that a proxy is set, for the person to check,
/// not that it was used.
pub(crate) fn proxy_for(url: &str, var: impl Fn(&str) -> Option<String>) -> Option<String> {
    if proxies_off(&var) {
        return None;
    }
    let names: [&str; 4] = if url.starts_with("https:") {
        ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    names.iter().find_map(|name| {
        let value = var(name).filter(|v| !v.trim().is_empty())?;
        let shown = match url::Url::parse(value.trim()) {
            Ok(mut proxy) => {
                // A proxy password is no one's business in an error message.
                let _ = proxy.set_username("");
                let _ = proxy.set_password(None);
                proxy.to_string()
            }
            Err(_) => "(not a URL)".to_owned(),
        };
        Some(format!("{name}={shown}"))
    })
}
