//! The boundary between the protocol client and credential lookup.
//!
//! The client never reads config files itself: it asks a
//! [`CredentialSource`] for the secret of a registry host when a challenge
//! demands one. The `auth` module implements the source for docker's
//! config.json, credential helpers and ECR; [`StaticCredentials`] serves
//! tests and embedders that already hold a secret.

use std::collections::HashMap;
use std::fmt;

/// A secret for one registry, as config.json or a helper gives it.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credential {
    /// A user name and password (or a personal access token as password).
    Basic {
        /// The user name.
        username: String,
        /// The password or token.
        password: String,
    },
    /// A refresh token for the bearer flow (config.json `identitytoken`),
    /// exchanged by a POST to the token endpoint.
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    // Secrets never reach logs or panic messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Self::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

/// Where the client asks for credentials; the auth module implements it
/// for config.json, credential helpers and ECR.
pub trait CredentialSource: Send + Sync {
    /// The credential for `registry` (a host, with `:port` if not the
    /// default, e.g. `docker.io`, `localhost:5000`), or `None` for
    /// anonymous access.
    fn credential(&self, registry: &str) -> Result<Option<Credential>, crate::Error>;
}

/// A fixed map of registry host to credential.
#[derive(Debug, Clone, Default)]
pub struct StaticCredentials {
    map: HashMap<String, Credential>,
}

impl StaticCredentials {
    /// No credentials: every registry is accessed anonymously.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the credential of `registry`.
    pub fn with(mut self, registry: impl Into<String>, credential: Credential) -> Self {
        self.map.insert(registry.into(), credential);
        self
    }
}

impl CredentialSource for StaticCredentials {
    fn credential(&self, registry: &str) -> Result<Option<Credential>, crate::Error> {
        Ok(self.map.get(registry).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let b = Credential::Basic {
            username: "me".into(),
            password: "hunter2".into(),
        };
        let t = Credential::IdentityToken("refresh-xyz".into());
        let s = format!("{b:?} {t:?}");
        assert!(s.contains("me") && !s.contains("hunter2") && !s.contains("refresh-xyz"));
    }

    #[test]
    fn static_credentials_by_host() {
        let c =
            StaticCredentials::new().with("localhost:5000", Credential::IdentityToken("t".into()));
        assert!(c.credential("localhost:5000").unwrap().is_some());
        assert!(c.credential("localhost").unwrap().is_none());
    }
}
