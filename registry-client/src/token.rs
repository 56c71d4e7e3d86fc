//! The bearer token flow of the distribution spec's token authentication:
//! GET the challenge's realm with `service` and `scope`s (basic auth when
//! there are credentials), or POST a refresh token (OAuth2
//! `grant_type=refresh_token`) for an identity token. Tokens are cached
//! per scope set until shortly before `expires_in` runs out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::Url;
use serde::Deserialize;

use crate::challenge::Challenge;
use crate::credential::Credential;
use crate::error::{Error, Result};

/// The spec's default lifetime when the server gives none.
const DEFAULT_EXPIRES_IN: u64 = 60;

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Cached tokens of one registry, keyed by their sorted, joined scopes.
#[derive(Default)]
pub(crate) struct TokenCache {
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

pub(crate) fn scope_key(scopes: &[String]) -> String {
    let mut s: Vec<&str> = scopes.iter().map(String::as_str).collect();
    s.sort_unstable();
    s.dedup();
    s.join(" ")
}

impl TokenCache {
    pub(crate) fn get(&self, key: &str) -> Option<String> {
        let map = self.tokens.lock().ok()?;
        map.get(key)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(t, _)| t.clone())
    }

    pub(crate) fn put(&self, key: String, token: String, expires_in: u64) {
        // Renew a little early so a token does not expire in flight; a
        // very short lifetime is used for half of it.
        let margin = (expires_in / 2).min(10);
        let until = Instant::now() + Duration::from_secs(expires_in.saturating_sub(margin));
        if let Ok(mut map) = self.tokens.lock() {
            map.insert(key, (token, until));
        }
    }

    pub(crate) fn forget(&self, key: &str) {
        if let Ok(mut map) = self.tokens.lock() {
            map.remove(key);
        }
    }
}

/// Fetches a token for `scopes` as `challenge` describes.
pub(crate) fn fetch(
    http: &reqwest::blocking::Client,
    registry: &str,
    challenge: &Challenge,
    scopes: &[String],
    credential: Option<&Credential>,
) -> Result<(String, u64)> {
    let realm = challenge.param("realm").ok_or_else(|| Error::Protocol {
        registry: registry.to_owned(),
        message: "bearer challenge without a realm".to_owned(),
    })?;
    let token_err = |message: String| Error::Token {
        realm: realm.to_owned(),
        message,
    };
    let mut url = Url::parse(realm).map_err(|e| token_err(format!("invalid realm URL: {e}")))?;
    let service = challenge.param("service");
    let mut scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    if scopes.is_empty()
        && let Some(s) = challenge.param("scope")
    {
        scopes.push(s);
    }
    let request = match credential {
        Some(Credential::IdentityToken(refresh)) => {
            let mut form = Url::parse("http://form.invalid/").expect("a constant URL parses");
            {
                let mut q = form.query_pairs_mut();
                q.append_pair("grant_type", "refresh_token");
                q.append_pair("refresh_token", refresh);
                q.append_pair("client_id", "rbox");
                if let Some(s) = service {
                    q.append_pair("service", s);
                }
                if !scopes.is_empty() {
                    q.append_pair("scope", &scopes.join(" "));
                }
            }
            http.post(url)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(form.query().unwrap_or_default().to_owned())
        }
        other => {
            {
                let mut q = url.query_pairs_mut();
                if let Some(s) = service {
                    q.append_pair("service", s);
                }
                for s in &scopes {
                    q.append_pair("scope", s);
                }
            }
            let rb = http.get(url);
            match other {
                Some(Credential::Basic { username, password }) => {
                    rb.basic_auth(username, Some(password))
                }
                _ => rb,
            }
        }
    };
    let resp = request.send().map_err(|e| Error::Http {
        url: realm.to_owned(),
        message: crate::transport::flatten(&e),
    })?;
    let status = resp.status();
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        // Transient: the caller retries.
        return Err(Error::Status {
            method: "token request to".to_owned(),
            url: realm.to_owned(),
            status: status.as_u16(),
            detail: String::new(),
        });
    }
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(Error::Unauthorized {
            registry: registry.to_owned(),
            detail: format!("token endpoint {realm} answered {status}"),
        });
    }
    if !status.is_success() {
        return Err(token_err(format!("status {status}")));
    }
    let body = crate::transport::read_capped(resp, 1024 * 1024)
        .map_err(|e| token_err(format!("reading the answer: {e}")))?
        .ok_or_else(|| token_err("answer larger than 1 MiB".to_owned()))?;
    let parsed: TokenResponse =
        serde_json::from_slice(&body).map_err(|e| token_err(format!("invalid JSON: {e}")))?;
    let token = parsed
        .token
        .filter(|t| !t.is_empty())
        .or(parsed.access_token.filter(|t| !t.is_empty()))
        .ok_or_else(|| token_err("answer holds neither token nor access_token".to_owned()))?;
    Ok((token, parsed.expires_in.unwrap_or(DEFAULT_EXPIRES_IN)))
}
