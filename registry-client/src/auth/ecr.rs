//! Native Amazon ECR authentication (what `docker-credential-ecr-login`
//! does): `GetAuthorizationToken` signed with SigV4, its base64
//! `AWS:<password>` token turned into a basic credential.
//!
//! Tokens are cached in memory until 5 minutes before `expiresAt`, and at
//! least [`MIN_TOKEN_LIFETIME`] after they were fetched: a token that
//! arrives already "expired" (moto's `expiresAt` is fixed in 2015, a
//! skewed clock does the same) is still used for a while instead of being
//! fetched again on every request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::aws_credentials::{self, AwsCredentials, CredentialChain};
use super::ecr_cache::DiskCache;
use super::sigv4::{self, Request, SigningParams};
use super::{AuthError, Env, aws_http, base64, time};
use crate::credential::Credential;

/// How long before `expiresAt` a token is refreshed.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// The shortest time a fetched token is reused, whatever its `expiresAt`.
pub const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(5 * 60);

const OPERATION: &str = "ecr:GetAuthorizationToken";

/// A registry host in ECR's form:
/// `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrHost {
    /// The 12-digit account id.
    pub account: String,
    /// The region.
    pub region: String,
    /// A FIPS endpoint (`dkr.ecr-fips`).
    pub fips: bool,
    /// A China partition host (`.amazonaws.com.cn`).
    pub china: bool,
}

/// Parses `registry` (a host, maybe with `:port`) as an ECR host.
pub fn parse_ecr_host(registry: &str) -> Option<EcrHost> {
    let host = registry.split(':').next()?.to_ascii_lowercase();
    let (rest, china) = match host.strip_suffix(".amazonaws.com.cn") {
        Some(r) => (r, true),
        None => (host.strip_suffix(".amazonaws.com")?, false),
    };
    let mut parts = rest.split('.');
    let account = parts.next()?;
    if parts.next()? != "dkr" {
        return None;
    }
    let fips = match parts.next()? {
        "ecr" => false,
        "ecr-fips" => true,
        _ => return None,
    };
    let region = parts.next()?;
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if parts.next().is_some()
        || account.len() != 12
        || !account.bytes().all(|b| b.is_ascii_digit())
        || !region_ok
    {
        return None;
    }
    Some(EcrHost {
        account: account.to_owned(),
        region: region.to_owned(),
        fips,
        china,
    })
}

/// When a token fetched at `fetched_at` with `expires_at` must be
/// refreshed: 5 minutes before expiry, but never sooner than
/// [`MIN_TOKEN_LIFETIME`] after the fetch.
pub fn token_fresh_until(fetched_at: SystemTime, expires_at: Option<SystemTime>) -> SystemTime {
    let floor = fetched_at + MIN_TOKEN_LIFETIME;
    match expires_at.and_then(|e| e.checked_sub(REFRESH_MARGIN)) {
        Some(refresh) if refresh > floor => refresh,
        _ => floor,
    }
}

/// A decoded authorization token.
#[derive(Clone, PartialEq, Eq)]
pub struct EcrToken {
    /// Always `AWS` today.
    pub username: String,
    /// The registry password.
    pub password: String,
    /// `expiresAt` as ECR sent it.
    pub expires_at: Option<SystemTime>,
    /// The proxy endpoint ECR named, if any.
    pub proxy_endpoint: Option<String>,
}

impl std::fmt::Debug for EcrToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcrToken")
            .field("username", &self.username)
            .field("expires_at", &self.expires_at)
            .field("proxy_endpoint", &self.proxy_endpoint)
            .finish_non_exhaustive()
    }
}

/// Calls `GetAuthorizationToken` at `endpoint` in `region` with `creds`.
pub fn get_authorization_token(
    endpoint: &str,
    region: &str,
    creds: &AwsCredentials,
    now: SystemTime,
) -> Result<EcrToken, AuthError> {
    let fail = |reason: String| AuthError::AwsRequest {
        operation: OPERATION,
        url: endpoint.to_owned(),
        reason,
    };
    let host =
        aws_http::host_header(endpoint).ok_or_else(|| fail("the endpoint is not a URL".into()))?;
    let path = reqwest::Url::parse(endpoint)
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|_| "/".into());
    let body = b"{}";
    let headers = vec![
        ("host".to_owned(), host),
        (
            "content-type".to_owned(),
            "application/x-amz-json-1.1".to_owned(),
        ),
        (
            "x-amz-target".to_owned(),
            "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken".to_owned(),
        ),
    ];
    let signed = sigv4::sign(
        &Request {
            method: "POST",
            path: &path,
            query: &[],
            headers: &headers,
            body,
        },
        &SigningParams {
            access_key_id: &creds.access_key_id,
            secret_access_key: &creds.secret_access_key,
            session_token: creds.session_token.as_deref(),
            region,
            service: "ecr",
            time: now,
        },
    );
    // reqwest sets Host itself from the URL, identically.
    let mut send_headers: Vec<_> = headers.into_iter().filter(|(k, _)| k != "host").collect();
    send_headers.extend(signed.headers);
    tracing::debug!(endpoint, region, source = %creds.source, "requesting an ECR authorization token");
    let response = aws_http::send(
        "POST",
        endpoint,
        &send_headers,
        body.to_vec(),
        aws_http::API,
    )
    .map_err(&fail)?;
    if response.status != 200 {
        let message = aws_http::error_message(&response.body);
        return Err(fail(format!("HTTP {}: {message}", response.status)));
    }
    let json: Value = serde_json::from_slice(&response.body)
        .map_err(|e| fail(format!("the response is not JSON: {e}")))?;
    let data = json["authorizationData"]
        .as_array()
        .and_then(|a| a.first())
        .ok_or_else(|| fail("the response has no authorizationData".into()))?;
    let token = data["authorizationToken"]
        .as_str()
        .ok_or_else(|| fail("the response has no authorizationToken".into()))?;
    let decoded = base64::decode(token)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| fail("the authorization token is not base64 text".into()))?;
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| fail("the authorization token is not user:password".into()))?;
    let expires_at = match &data["expiresAt"] {
        Value::Number(n) => n.as_f64().and_then(time::from_epoch_secs),
        Value::String(s) => {
            time::parse_rfc3339(s).or_else(|| s.parse().ok().and_then(time::from_epoch_secs))
        }
        _ => None,
    };
    Ok(EcrToken {
        username: username.to_owned(),
        password: password.to_owned(),
        expires_at,
        proxy_endpoint: data["proxyEndpoint"].as_str().map(str::to_owned),
    })
}

struct Cached {
    token: EcrToken,
    fresh_until: SystemTime,
}

/// ECR credentials for registries, with the token cache.
pub struct EcrAuth {
    env: Env,
    cache: Mutex<HashMap<String, Cached>>,
    disk: Option<DiskCache>,
}

impl std::fmt::Debug for EcrAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcrAuth")
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}

impl EcrAuth {
    /// ECR auth reading AWS settings from `env`.
    pub fn new(env: Env) -> Self {
        Self {
            env,
            cache: Mutex::new(HashMap::new()),
            disk: None,
        }
    }

    /// Also keeps tokens in `dir/ecr-tokens.json` (0600), shared between
    /// processes; `dir` is typically under the data root.
    pub fn with_cache_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.disk = Some(DiskCache::new(dir.into()));
        self
    }

    /// The endpoint and region for `registry`: the region from an ECR host
    /// name, else the AWS settings; the endpoint from
    /// `AWS_ENDPOINT_URL_ECR`, `AWS_ENDPOINT_URL`, else the regional one.
    pub fn endpoint(&self, registry: &str) -> Result<(String, String), AuthError> {
        let host = parse_ecr_host(registry);
        let region = match &host {
            Some(h) => h.region.clone(),
            None => aws_credentials::region(&self.env).ok_or_else(|| AuthError::NoAwsRegion {
                registry: registry.to_owned(),
            })?,
        };
        let endpoint = match self
            .env
            .var("AWS_ENDPOINT_URL_ECR")
            .or_else(|| self.env.var("AWS_ENDPOINT_URL"))
        {
            Some(e) => e.to_owned(),
            None => match &host {
                Some(h) if h.fips => format!("https://ecr-fips.{region}.amazonaws.com/"),
                Some(h) if h.china => format!("https://api.ecr.{region}.amazonaws.com.cn/"),
                _ if region.starts_with("cn-") => {
                    format!("https://api.ecr.{region}.amazonaws.com.cn/")
                }
                _ => format!("https://api.ecr.{region}.amazonaws.com/"),
            },
        };
        Ok((endpoint, region))
    }

    /// The credential for `registry`, from the cache or a new token.
    pub fn credential(&self, registry: &str) -> Result<Credential, AuthError> {
        self.credential_at(registry, SystemTime::now())
    }

    /// [`Self::credential`] as if the time were `now` (for tests of the
    /// cache).
    pub fn credential_at(&self, registry: &str, now: SystemTime) -> Result<Credential, AuthError> {
        let (endpoint, region) = self.endpoint(registry)?;
        // The identity settings are part of the key: another profile or key
        // must not reuse this token (none of these values is a secret).
        let identity: Vec<&str> = ["AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_ROLE_ARN"]
            .iter()
            .map(|k| self.env.var(k).unwrap_or(""))
            .collect();
        let key = format!("{registry} {endpoint} {region} {}", identity.join(" "));
        let cached = |c: &Cached| Credential::Basic {
            username: c.token.username.clone(),
            password: c.token.password.clone(),
        };
        {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = cache.get(&key).filter(|c| now < c.fresh_until) {
                return Ok(cached(c));
            }
            if let Some((token, fresh_until)) = self.disk.as_ref().and_then(|d| d.get(&key, now)) {
                let entry = Cached { token, fresh_until };
                let credential = cached(&entry);
                cache.insert(key, entry);
                return Ok(credential);
            }
        }
        let creds = CredentialChain::new(self.env.clone()).resolve(registry)?;
        let token = get_authorization_token(&endpoint, &region, &creds, now)?;
        if token.expires_at.is_some_and(|e| e <= now) {
            tracing::warn!(
                registry,
                "ECR returned an authorization token that has already expired; using it anyway"
            );
        }
        let entry = Cached {
            fresh_until: token_fresh_until(now, token.expires_at),
            token,
        };
        let credential = cached(&entry);
        if let Some(disk) = &self.disk {
            disk.put(&key, &entry.token, entry.fresh_until, now);
        }
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, entry);
        Ok(credential)
    }
}

#[cfg(test)]
#[path = "ecr_tests.rs"]
mod tests;
