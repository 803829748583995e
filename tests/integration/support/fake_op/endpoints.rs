//! The simulated provider's endpoints: discovery, authorization (code +
//! PKCE S256, 302 to the loopback redirect), token (refresh with optional
//! rotation, authorization code, device code), device authorization
//! (RFC 8628), dynamic registration (RFC 7591/7592) and revocation
//! (RFC 7009). Every protocol violation a client commits (a secret sent by a
//! public client, a bad PKCE verifier, ...) is recorded in `violations` as
//! well as refused, so tests can say exactly what went wrong.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use base64::Engine as _;

use super::{CodeGrant, DEVICE_GRANT, DeviceGrant, Inner, Recorded, Reply, lock};

/// The simulation's answer to `req`.
pub(super) fn answer(inner: &Inner, req: &Recorded) -> Reply {
    let path = req.path.as_str();
    if path.starts_with("/.well-known/openid-configuration") {
        return discovery(inner);
    }
    match (req.method.as_str(), path) {
        ("GET", "/auth") => authorize(inner, req),
        ("POST", "/token") => token(inner, req),
        ("POST", "/device") => device(inner, req),
        ("POST", "/register") => register(inner, req),
        ("DELETE", p) if p.starts_with("/register/") => unregister(inner, req),
        ("POST", "/revoke") => revoke(inner, req),
        _ => Reply::json(404, &serde_json::json!({ "error": "not_found" })),
    }
}

fn discovery(inner: &Inner) -> Reply {
    let base = inner.base();
    let c = lock(&inner.config);
    let mut doc = serde_json::json!({
        "issuer": c.discovery_issuer.clone().unwrap_or_else(|| inner.issuer.clone()),
        "authorization_endpoint": format!("{base}/auth"),
        "token_endpoint": format!("{base}/token"),
        "device_authorization_endpoint": format!("{base}/device"),
        "revocation_endpoint": format!("{base}/revoke"),
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code", "refresh_token", DEVICE_GRANT],
    });
    if c.registration {
        doc["registration_endpoint"] = format!("{base}/register").into();
    }
    if !c.device_discovery {
        doc.as_object_mut()
            .expect("object")
            .remove("device_authorization_endpoint");
    }
    Reply::json(200, &doc)
}

fn is_loopback_http(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|u| {
        u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
    })
}

/// RFC 6749 §4.1.1 with RFC 7636: checks the request and redirects back
/// with a code (or `error=access_denied`), plus RFC 9207 `iss`.
fn authorize(inner: &Inner, req: &Recorded) -> Reply {
    let q = &req.query;
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let (client_id, redirect_uri, state) = (get("client_id"), get("redirect_uri"), get("state"));
    let mut problems = Vec::new();
    if get("response_type") != "code" {
        problems.push("response_type is not code".to_owned());
    }
    if !lock(&inner.clients).contains_key(&client_id) {
        problems.push(format!("unknown client_id {client_id:?}"));
    }
    if !is_loopback_http(&redirect_uri) {
        problems.push(format!(
            "redirect_uri {redirect_uri:?} is not a loopback URI"
        ));
    }
    if state.is_empty() {
        problems.push("no state".to_owned());
    }
    if get("code_challenge_method") != "S256" || get("code_challenge").len() != 43 {
        problems.push("no S256 code_challenge".to_owned());
    }
    if !problems.is_empty() {
        let what = inner.violation(format!("authorization request: {}", problems.join(", ")));
        return Reply::error(400, "invalid_request", &what);
    }
    let mut location = url::Url::parse(&redirect_uri).expect("checked above");
    if lock(&inner.config).deny_consent {
        location
            .query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("error_description", "The user denied the request")
            .append_pair("state", &state);
        return Reply::redirect(location.as_str());
    }
    let code = format!("code-{}", inner.next_number());
    lock(&inner.codes).insert(
        code.clone(),
        CodeGrant {
            client_id,
            redirect_uri,
            challenge: get("code_challenge"),
        },
    );
    location
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &state)
        .append_pair("iss", &inner.issuer);
    Reply::redirect(location.as_str())
}

/// RFC 6749 §2.3.1 client authentication. Known confidential clients must
/// use Basic, known public clients must send no secret at all; unknown
/// client ids (the refresh tests' `cid`) are let through.
fn authenticate(
    inner: &Inner,
    req: &Recorded,
    form: &HashMap<String, String>,
) -> Result<String, String> {
    let basic = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Basic "))
        .map(|b| {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b)
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&raw).into_owned();
            let (id, secret) = text.split_once(':').unwrap_or((&text, ""));
            let decode = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            (decode(id), decode(secret))
        });
    let clients = lock(&inner.clients);
    if let Some((id, secret)) = basic {
        if form.contains_key("client_secret") {
            return Err(format!("{id}: secret both in Basic and in the body"));
        }
        return match clients.get(&id) {
            Some(Some(s)) if *s == secret => Ok(id),
            Some(Some(_)) => Err(format!("{id}: wrong client secret")),
            Some(None) => Err(format!("{id}: public client sent a secret (Basic)")),
            None => Ok(id),
        };
    }
    let id = form
        .get("client_id")
        .cloned()
        .ok_or_else(|| "no client authentication at all".to_owned())?;
    match clients.get(&id) {
        Some(None) if form.contains_key("client_secret") => {
            Err(format!("{id}: public client sent a client_secret"))
        }
        Some(None) | None => Ok(id),
        Some(Some(_)) => Err(format!("{id}: confidential client did not use HTTP Basic")),
    }
}

/// The client's identity, or the `invalid_client` answer to give.
fn client(inner: &Inner, req: &Recorded, form: &HashMap<String, String>) -> Result<String, Reply> {
    authenticate(inner, req, form)
        .map_err(|what| Reply::error(401, "invalid_client", &inner.violation(what)))
}

/// Issues tokens with a fresh refresh token `rt-{kind}-N`.
fn issue(inner: &Inner, kind: &str) -> Reply {
    let n = inner.next_number();
    let rt = format!("rt-{kind}-{n}");
    lock(&inner.valid_rts).insert(rt.clone());
    let mut reply = serde_json::json!({
        "token_type": "Bearer",
        "access_token": format!("at-{n}"),
        "refresh_token": rt,
        "id_token": format!("idt-{n}"),
        "scope": "openid offline_access",
    });
    if let Some(e) = lock(&inner.config).expires_in {
        reply["expires_in"] = e.into();
    }
    Reply::json(200, &reply)
}

fn token(inner: &Inner, req: &Recorded) -> Reply {
    let form = req.form_map();
    let (rotate, expires_in, jwt) = {
        let c = lock(&inner.config);
        (c.rotate, c.expires_in, c.jwt_access_tokens)
    };
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    if grant == "authorization_code" || grant == DEVICE_GRANT {
        let client_id = match client(inner, req, &form) {
            Ok(id) => id,
            Err(reply) => return reply,
        };
        return if grant == "authorization_code" {
            code_grant(inner, &form, &client_id)
        } else {
            device_grant(inner, &form, &client_id)
        };
    }
    if grant == "refresh_token"
        && let Err(reply) = client(inner, req, &form)
    {
        return reply;
    }
    let rt = form.get("refresh_token").cloned().unwrap_or_default();
    let mut rts = lock(&inner.valid_rts);
    if grant != "refresh_token" || !rts.contains(&rt) {
        return Reply::error(400, "invalid_grant", "grant request is invalid");
    }
    let n = inner.next_number();
    let mut reply = serde_json::json!({"token_type": "Bearer", "id_token": format!("idt-{n}")});
    reply["access_token"] = if jwt {
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_secs()
            + 120;
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{exp}}}"#));
        format!("eyJhbGciOiJub25lIn0.{payload}.sig-{n}").into()
    } else {
        format!("at-{n}").into()
    };
    if let Some(e) = expires_in {
        reply["expires_in"] = e.into();
    }
    if rotate {
        let new = format!("rt-rotated-{n}");
        rts.remove(&rt);
        rts.insert(new.clone());
        reply["refresh_token"] = new.into();
    }
    Reply::json(200, &reply)
}

/// RFC 6749 §4.1.3 + RFC 7636 §4.6: single-use code, same client and
/// redirect URI, and a verifier that hashes to the challenge.
fn code_grant(inner: &Inner, form: &HashMap<String, String>, client_id: &str) -> Reply {
    let code = form.get("code").cloned().unwrap_or_default();
    let Some(grant) = lock(&inner.codes).remove(&code) else {
        return Reply::error(400, "invalid_grant", "unknown or used code");
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let challenge = oauth2::PkceCodeChallenge::from_code_verifier_sha256(
        &oauth2::PkceCodeVerifier::new(verifier),
    );
    let mut problems = Vec::new();
    if grant.client_id != client_id {
        problems.push(format!(
            "code of {} redeemed by {client_id}",
            grant.client_id
        ));
    }
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        problems.push("redirect_uri differs from the authorization request".to_owned());
    }
    if challenge.as_str() != grant.challenge {
        problems.push("PKCE verifier does not match the challenge".to_owned());
    }
    if !problems.is_empty() {
        let what = inner.violation(format!("code exchange: {}", problems.join(", ")));
        return Reply::error(400, "invalid_grant", &what);
    }
    inner.pkce_verified.fetch_add(1, Ordering::SeqCst);
    issue(inner, "code")
}

/// RFC 8628 §3.4-3.5: pending for the configured number of polls, then
/// tokens or `access_denied`.
fn device_grant(inner: &Inner, form: &HashMap<String, String>, client_id: &str) -> Reply {
    let (pending_polls, deny) = {
        let c = lock(&inner.config);
        (c.device_pending_polls, c.device_deny)
    };
    let device_code = form.get("device_code").cloned().unwrap_or_default();
    let polls = {
        let mut devices = lock(&inner.devices);
        let Some(grant) = devices.get_mut(&device_code) else {
            return Reply::error(400, "invalid_grant", "unknown device code");
        };
        if grant.client_id != client_id {
            drop(devices);
            let what = inner.violation(format!("device code redeemed by {client_id}"));
            return Reply::error(400, "invalid_grant", &what);
        }
        grant.polls += 1;
        grant.polls
    };
    if polls <= pending_polls {
        return Reply::error(400, "authorization_pending", "waiting for the user");
    }
    lock(&inner.devices).remove(&device_code);
    if deny {
        return Reply::error(400, "access_denied", "The user denied the request");
    }
    issue(inner, "device")
}

/// RFC 8628 §3.1-3.2.
fn device(inner: &Inner, req: &Recorded) -> Reply {
    let form = req.form_map();
    let client_id = match client(inner, req, &form) {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let n = inner.next_number();
    let device_code = format!("dc-{n}");
    let user_code = format!("WDJB-{n:04}");
    lock(&inner.devices).insert(
        device_code.clone(),
        DeviceGrant {
            client_id,
            polls: 0,
        },
    );
    let base = inner.base();
    let reply = serde_json::json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": format!("{base}/device-ui"),
        "verification_uri_complete": format!("{base}/device-ui?user_code={user_code}"),
        "expires_in": 60,
        "interval": 1,
    });
    Reply::json(200, &reply)
}

/// RFC 7591 §3.
fn register(inner: &Inner, req: &Recorded) -> Reply {
    let body: serde_json::Value = serde_json::from_str(&req.body).unwrap_or_default();
    let wanted = lock(&inner.config).registration_token.clone();
    if let Some(token) = wanted
        && req.header("authorization") != Some(&format!("Bearer {token}"))
    {
        return Reply::error(401, "invalid_token", "an initial access token is required");
    }
    let n = inner.next_number();
    let client_id = format!("dyn-{n}");
    let public = body["token_endpoint_auth_method"] == "none";
    let secret = (!public).then(|| format!("dyn-secret-{n}"));
    lock(&inner.clients).insert(client_id.clone(), secret.clone());
    let mut reply = body;
    reply["client_id"] = client_id.clone().into();
    if let Some(secret) = secret {
        reply["client_secret"] = secret.into();
    }
    let base = inner.base();
    reply["registration_client_uri"] = format!("{base}/register/{client_id}").into();
    reply["registration_access_token"] = format!("rat-{client_id}").into();
    Reply::json(201, &reply)
}

/// RFC 7592 §2.3.
fn unregister(inner: &Inner, req: &Recorded) -> Reply {
    let client_id = req.path.trim_start_matches("/register/").to_owned();
    let expected = format!("Bearer rat-{client_id}");
    if req.header("authorization") != Some(expected.as_str()) {
        let what = inner.violation(format!("RFC 7592 delete of {client_id} without its token"));
        return Reply::error(401, "invalid_token", &what);
    }
    lock(&inner.clients).remove(&client_id);
    lock(&inner.deleted_clients).push(client_id);
    Reply::empty(204)
}

/// RFC 7009 §2.
fn revoke(inner: &Inner, req: &Recorded) -> Reply {
    let form = req.form_map();
    if let Err(reply) = client(inner, req, &form) {
        return reply;
    }
    if form.get("token_type_hint").map(String::as_str) != Some("refresh_token") {
        inner.violation("revocation without token_type_hint=refresh_token".to_owned());
    }
    let token = form.get("token").cloned().unwrap_or_default();
    lock(&inner.valid_rts).remove(&token);
    lock(&inner.revoked).push(token);
    Reply::raw(200, "application/json", "")
}
