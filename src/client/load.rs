//! Loading a decrypted account into the agent: the `add` request with the
//! file's data key, so the agent can save a rotated refresh token without
//! the password. For a file in oidc-agent's format, which cannot be re-sealed
//! without the password, the same account is sealed here in our format with
//! it, and the agent converts the file with that on the first rotation.

use super::conn::AgentClient;
use crate::account::{Format, Opened, format};
use crate::error::Result;
use crate::oidc::token::TokenSet;
use crate::protocol::{AddRequest, Request};
use crate::secret::SecretString;

/// How to load.
#[derive(Debug, Default, Clone, Copy)]
pub struct Load<'a> {
    /// Seconds until the agent unloads the account (`None`: its default).
    pub lifetime: Option<u64>,
    /// No check refresh at the agent.
    pub skip_check: bool,
    /// The account password: needed to prepare the conversion of a file in
    /// oidc-agent's format.
    pub password: Option<&'a SecretString>,
    /// Tokens just obtained with this refresh token (`oidc-gen`), so the
    /// agent caches the access token instead of refreshing.
    pub fresh: Option<&'a TokenSet>,
    /// The account file could not be written: the sealed file (under
    /// `Opened::key`) and why. The agent writes it when it can, as it
    /// writes an unsaved rotation, and refuses to unload it until then.
    pub unwritten: Option<(&'a [u8], &'a str)>,
}

/// What a load did besides loading.
#[derive(Debug, PartialEq, Eq)]
pub enum Loaded {
    /// Loaded; with the agent's warning, if any (the load check's rotated
    /// refresh token could not be saved).
    Plain(Option<String>),
    /// Loaded from oidc-agent's format, with the conversion prepared: the
    /// file is converted (and kept as `NAME.bak`) at the first rotation.
    ConvertsOnRotation,
}

impl AgentClient {
    /// Sends `opened` to the agent.
    pub fn load(&self, opened: Opened, how: Load<'_>) -> Result<Loaded> {
        let mut key = opened.key.clone();
        let mut convert_to = None;
        if opened.format == Format::OidcAgent
            && let Some(pw) = how.password
        {
            let (k, template) = crate::account::writable(&opened, pw)?;
            key = Some(k);
            convert_to = template.as_deref().map(format::encode_file);
        }
        let converts = convert_to.is_some();
        if let Some((bytes, _)) = how.unwritten {
            convert_to = Some(format::encode_file(bytes));
        }
        let data_key = key.as_ref().map(format::encode_key);
        let mut config = opened.config;
        // oidc-agent's own agent (4.x) finds the discovery document by
        // appending ".well-known/openid-configuration" to the issuer as
        // sent: without its '/' it asks a URL that is none. Ours takes
        // either spelling, and keeps the account's.
        if !config.issuer_url.ends_with('/') && !self.is_ours() {
            config.issuer_url.push('/');
        }
        let request = Request::Add(Box::new(AddRequest {
            config,
            lifetime: how.lifetime,
            account_file: data_key.as_ref().map(|_| opened.path.clone()),
            data_key,
            convert_to,
            skip_check: how.skip_check,
            access_token: how.fresh.map(|t| t.access_token.clone()),
            expires_at: how.fresh.and_then(|t| t.expires_at),
            scope: how.fresh.and_then(|t| t.scope.clone()),
            unsaved: how.unwritten.map(|(_, why)| why.to_owned()),
            pw_entry: None,
            confirm: false,
        }));
        let reply = self.call(&request)?;
        Ok(if converts {
            Loaded::ConvertsOnRotation
        } else {
            Loaded::Plain(reply.warning)
        })
    }
}
