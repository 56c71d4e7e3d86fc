//! One registry endpoint: its HTTP clients (TLS set up from certs.d), the
//! scheme chosen by the first ping, the last authentication challenge, and
//! [`Endpoint::send`], which adds authorization, retries transient
//! failures with backoff, renews an expired token once on 401, and
//! follows redirects up to a cap.
//!
//! Redirected requests to another host carry no Authorization header:
//! blob redirects point at object stores with signed URLs that reject
//! foreign credentials, and a registry token must not leak to them.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::blocking::{Client as Http, RequestBuilder, Response};
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode, Url};

use crate::challenge::{self, Challenge};
use crate::config::{ClientConfig, is_loopback_host};
use crate::credential::{Credential, CredentialSource};
use crate::error::{Error, Result};
use crate::token::{self, TokenCache};

/// What a request sends as its body; re-created for every attempt.
pub(crate) enum Body<'a> {
    None,
    Bytes(&'a [u8]),
    /// `len` bytes of a file from `offset`; `sent` (reset per attempt)
    /// counts bytes handed to the connection, for progress.
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
        sent: Option<Arc<AtomicU64>>,
    },
}

/// Counts bytes read through it into a shared counter.
struct Counting<R> {
    inner: R,
    sent: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A request to an endpoint.
pub(crate) struct Request<'a> {
    pub method: Method,
    /// A path (`/v2/...`) on the endpoint, or an absolute URL (an upload
    /// Location).
    pub url: String,
    pub headers: Vec<(header::HeaderName, String)>,
    pub body: Body<'a>,
    /// Token scopes (`repository:NAME:pull`).
    pub scopes: &'a [String],
    /// Retry 5xx, 429 and connection failures (off for upload steps,
    /// which restart the whole upload instead).
    pub retry: bool,
    pub follow_redirects: bool,
    /// Use the client without a total timeout (large request bodies).
    pub upload: bool,
}

impl<'a> Request<'a> {
    pub(crate) fn new(method: Method, url: impl Into<String>, scopes: &'a [String]) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Body::None,
            scopes,
            retry: true,
            follow_redirects: true,
            upload: false,
        }
    }

    pub(crate) fn header(mut self, name: header::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

struct State {
    /// `https://host` or `http://host`, once a ping succeeded.
    base: Option<Url>,
    challenge: Option<Challenge>,
}

/// A registry host as the client talks to it.
pub(crate) struct Endpoint {
    /// The reference domain (`docker.io`, `localhost:5000`): the key for
    /// credentials and in messages.
    pub(crate) registry: String,
    pub(crate) api_host: String,
    insecure: bool,
    http: Http,
    upload_http: Http,
    pub(crate) retries: u32,
    backoff: Duration,
    max_backoff: Duration,
    max_redirects: u32,
    credentials: Arc<dyn CredentialSource>,
    state: Mutex<State>,
    tokens: TokenCache,
}

impl Endpoint {
    pub(crate) fn new(
        registry: &str,
        api_host: &str,
        config: &ClientConfig,
        credentials: Arc<dyn CredentialSource>,
    ) -> Result<Self> {
        let insecure = is_loopback_host(api_host)
            || config
                .insecure_registries
                .iter()
                .any(|h| h == registry || h == api_host);
        let build = |total: Option<Duration>| -> Result<Http> {
            let mut b = Http::builder()
                .user_agent(config.user_agent.clone())
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(config.connect_timeout)
                .timeout(total)
                .tcp_user_timeout(config.timeout)
                .danger_accept_invalid_certs(!config.tls_verify || insecure);
            for (host, addr) in &config.resolve {
                b = b.resolve(host, *addr);
            }
            for dir in &config.certs_dirs {
                b = add_host_certs(b, &dir.join(api_host))?;
                if api_host != registry {
                    b = add_host_certs(b, &dir.join(registry))?;
                }
            }
            b.build().map_err(|e| Error::Config {
                message: format!("HTTP client for {registry}: {}", flatten(&e)),
            })
        };
        Ok(Self {
            registry: registry.to_owned(),
            api_host: api_host.to_owned(),
            insecure,
            http: build(Some(config.timeout))?,
            upload_http: build(None)?,
            retries: config.retries,
            backoff: config.backoff,
            max_backoff: config.max_backoff,
            max_redirects: config.max_redirects,
            credentials,
            state: Mutex::new(State {
                base: None,
                challenge: None,
            }),
            tokens: TokenCache::default(),
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>> {
        self.state.lock().map_err(|_| Error::Config {
            message: format!("state of {} poisoned by a panicked thread", self.registry),
        })
    }

    /// The base URL, pinging `/v2/` first if this endpoint has not been
    /// used yet. Insecure hosts try HTTPS, then plain HTTP (docker's rule).
    pub(crate) fn base(&self) -> Result<Url> {
        if let Some(b) = self.lock()?.base.clone() {
            return Ok(b);
        }
        let https = self.ping_scheme("https");
        let (base, challenge) = match https {
            Ok(ok) => ok,
            Err(e) if self.insecure => {
                tracing::debug!(registry = %self.registry, "https ping failed ({e}); trying http");
                self.ping_scheme("http")?
            }
            Err(e) => return Err(e),
        };
        let mut st = self.lock()?;
        st.base = Some(base.clone());
        if st.challenge.is_none() {
            st.challenge = challenge;
        }
        Ok(base)
    }

    fn ping_scheme(&self, scheme: &str) -> Result<(Url, Option<Challenge>)> {
        let base =
            Url::parse(&format!("{scheme}://{}/", self.api_host)).map_err(|e| Error::Config {
                message: format!("registry host {:?}: {e}", self.api_host),
            })?;
        let url = base.join("v2/").expect("a fixed relative path joins");
        let mut attempt = 0;
        let resp = loop {
            match self.http.get(url.clone()).send() {
                Ok(r) if retryable_status(r.status()) && attempt < self.retries => {
                    self.pause(attempt, retry_after(r.headers()));
                }
                Ok(r) => break r,
                Err(e) => {
                    let err = self.request_error(&url, &e);
                    // An insecure host's https attempt falls back to http
                    // at once; otherwise a connection failure is retried
                    // (a TLS error is not transient, so never retried).
                    let may_retry = scheme == "http" || !self.insecure;
                    if !(may_retry && err.is_transient() && attempt < self.retries) {
                        return Err(err);
                    }
                    self.pause(attempt, None);
                }
            }
            attempt += 1;
        };
        let challenge = if resp.status() == StatusCode::UNAUTHORIZED {
            pick_challenge(resp.headers())
        } else {
            None
        };
        tracing::debug!(registry = %self.registry, %url, status = %resp.status(), "pinged");
        Ok((base, challenge))
    }

    pub(crate) fn pause(&self, attempt: u32, retry_after: Option<Duration>) {
        let delay = retry_after
            .unwrap_or_else(|| backoff(self.backoff, self.max_backoff, attempt))
            .min(self.max_backoff);
        tracing::debug!(registry = %self.registry, ?delay, attempt, "retrying");
        std::thread::sleep(delay);
    }

    /// The Authorization for `scopes` under the current challenge.
    fn authorization(&self, scopes: &[String]) -> Result<Option<String>> {
        let Some(challenge) = self.lock()?.challenge.clone() else {
            return Ok(None);
        };
        match challenge.scheme.as_str() {
            "basic" => Ok(match self.credential()? {
                Some(Credential::Basic { username, password }) => Some(format!(
                    "Basic {}",
                    base64(format!("{username}:{password}").as_bytes())
                )),
                _ => None,
            }),
            "bearer" => {
                let key = token::scope_key(scopes);
                if let Some(t) = self.tokens.get(&key) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let cred = self.credential()?;
                let mut attempt = 0;
                let (t, expires_in) = loop {
                    let got = token::fetch(
                        &self.http,
                        &self.registry,
                        &challenge,
                        scopes,
                        cred.as_ref(),
                    );
                    match got {
                        Err(e) if e.is_transient() && attempt < self.retries => {
                            tracing::debug!(registry = %self.registry, "token request failed ({e})");
                            self.pause(attempt, None);
                            attempt += 1;
                        }
                        other => break other?,
                    }
                };
                self.tokens.put(key, t.clone(), expires_in);
                Ok(Some(format!("Bearer {t}")))
            }
            other => {
                tracing::warn!(registry = %self.registry, scheme = other, "unsupported auth scheme");
                Ok(None)
            }
        }
    }

    fn credential(&self) -> Result<Option<Credential>> {
        self.credentials.credential(&self.registry)
    }

    /// Sends `req`, with authorization, retries and redirects.
    pub(crate) fn send(&self, req: &Request<'_>) -> Result<Response> {
        let base = self.base()?;
        let first = base.join(&req.url).map_err(|e| Error::Protocol {
            registry: self.registry.clone(),
            message: format!("bad URL {:?}: {e}", req.url),
        })?;
        let mut url = first.clone();
        let mut attempt = 0;
        let mut renewed = false;
        let mut redirects = 0;
        loop {
            let same_host = url.host_str() == base.host_str() && url.port() == base.port();
            let auth = if same_host {
                self.authorization(req.scopes)?
            } else {
                None
            };
            let rb = self.build(req, &url, auth.as_deref())?;
            let resp = match rb.send() {
                Ok(r) => r,
                Err(e) => {
                    let err = self.request_error(&url, &e);
                    if req.retry && err.is_transient() && attempt < self.retries {
                        self.pause(attempt, None);
                        attempt += 1;
                        continue;
                    }
                    return Err(err);
                }
            };
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && same_host && !renewed {
                // Learn (or re-learn) the challenge and try once more
                // with a fresh token: it may have expired mid-operation.
                renewed = true;
                if let Some(c) = pick_challenge(resp.headers()) {
                    self.lock()?.challenge = Some(c);
                }
                self.tokens.forget(&token::scope_key(req.scopes));
                if self.lock()?.challenge.is_some() {
                    continue;
                }
                return Ok(resp);
            }
            if req.retry && retryable_status(status) && attempt < self.retries {
                self.pause(attempt, retry_after(resp.headers()));
                attempt += 1;
                continue;
            }
            if req.follow_redirects
                && status.is_redirection()
                && let Some(loc) = resp.headers().get(header::LOCATION)
            {
                redirects += 1;
                if redirects > self.max_redirects {
                    return Err(Error::RedirectLoop {
                        url: first.to_string(),
                        limit: self.max_redirects,
                    });
                }
                let loc = loc.to_str().map_err(|_| Error::Protocol {
                    registry: self.registry.clone(),
                    message: "non-ASCII Location header".to_owned(),
                })?;
                url = url.join(loc).map_err(|e| Error::Protocol {
                    registry: self.registry.clone(),
                    message: format!("bad redirect Location {loc:?}: {e}"),
                })?;
                tracing::debug!(registry = %self.registry, %url, "following redirect");
                continue;
            }
            return Ok(resp);
        }
    }

    fn build(&self, req: &Request<'_>, url: &Url, auth: Option<&str>) -> Result<RequestBuilder> {
        let http = if req.upload {
            &self.upload_http
        } else {
            &self.http
        };
        let mut rb = http.request(req.method.clone(), url.clone());
        for (k, v) in &req.headers {
            rb = rb.header(k.clone(), v.as_str());
        }
        if let Some(a) = auth {
            rb = rb.header(header::AUTHORIZATION, a);
        }
        rb = match &req.body {
            Body::None => rb,
            Body::Bytes(b) => rb.body(b.to_vec()),
            Body::File {
                path,
                offset,
                len,
                sent,
            } => {
                let mut f = fs::File::open(path).map_err(|e| Error::Io {
                    what: path.display().to_string(),
                    source: e,
                })?;
                io::Seek::seek(&mut f, io::SeekFrom::Start(*offset)).map_err(|e| Error::Io {
                    what: path.display().to_string(),
                    source: e,
                })?;
                let body = match sent {
                    Some(sent) => {
                        sent.store(0, Ordering::Relaxed);
                        let r = Counting {
                            inner: f.take(*len),
                            sent: sent.clone(),
                        };
                        reqwest::blocking::Body::sized(r, *len)
                    }
                    None => reqwest::blocking::Body::sized(f.take(*len), *len),
                };
                rb.header(header::CONTENT_LENGTH, len.to_string())
                    .body(body)
            }
        };
        Ok(rb)
    }

    /// Turns a reqwest failure into a TLS error (with its hint) or a
    /// transient HTTP error.
    pub(crate) fn request_error(&self, url: &Url, e: &reqwest::Error) -> Error {
        let message = flatten(e);
        let lower = message.to_ascii_lowercase();
        if url.scheme() == "https"
            && [
                "certificate",
                "tls",
                "handshake",
                "corrupt message",
                "invalidcontenttype",
            ]
            .iter()
            .any(|w| lower.contains(w))
        {
            return Error::Tls {
                registry: self.registry.clone(),
                message,
            };
        }
        Error::Http {
            url: url.to_string(),
            message,
        }
    }
}

/// The challenge to act on: bearer if offered, else basic.
fn pick_challenge(headers: &HeaderMap) -> Option<Challenge> {
    let mut all = Vec::new();
    for v in headers.get_all(header::WWW_AUTHENTICATE) {
        if let Ok(s) = v.to_str() {
            all.extend(challenge::parse(s));
        }
    }
    all.iter()
        .find(|c| c.scheme == "bearer")
        .or_else(|| all.iter().find(|c| c.scheme == "basic"))
        .cloned()
}

fn retryable_status(s: StatusCode) -> bool {
    s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error()
}

/// Retry-After in seconds (the HTTP-date form is rare from registries and
/// falls back to backoff).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Exponential backoff with up to 50% jitter, so parallel transfers that
/// failed together do not retry in lockstep.
pub(crate) fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(16)).min(max);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let jitter = exp.mul_f64(f64::from(nanos % 1000) / 2000.0);
    exp.saturating_sub(jitter / 2) + jitter / 2
}

/// An error and its sources as one line.
pub(crate) fn flatten(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// Reads a body of at most `limit` bytes; `None` if it is longer.
pub(crate) fn read_capped(resp: impl Read, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    resp.take(limit + 1).read_to_end(&mut out)?;
    Ok((out.len() as u64 <= limit).then_some(out))
}

/// Adds `dir/*.crt` as trusted roots and `dir/*.cert` + `*.key` as the
/// client identity (the certs.d layout docker and podman share).
fn add_host_certs(
    mut b: reqwest::blocking::ClientBuilder,
    dir: &Path,
) -> Result<reqwest::blocking::ClientBuilder> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(b);
    };
    let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    let bad = |p: &Path, m: String| Error::Config {
        message: format!("{}: {m}", p.display()),
    };
    for p in &names {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        let read = |p: &Path| fs::read(p).map_err(|e| bad(p, e.to_string()));
        if ext == "crt" {
            let pem = read(p)?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(p, flatten(&e)))?;
            for c in certs {
                b = b.add_root_certificate(c);
            }
            tracing::debug!(path = %p.display(), "trusting CA certificates");
        } else if ext == "cert" {
            let key = p.with_extension("key");
            let mut pem = read(p)?;
            pem.push(b'\n');
            pem.extend(read(&key)?);
            let id = reqwest::Identity::from_pem(&pem).map_err(|e| bad(p, flatten(&e)))?;
            b = b.identity(id);
        }
    }
    Ok(b)
}

/// Standard base64 with padding (for the Basic Authorization header).
fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let b = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        assert!(backoff(b, max, 0) <= Duration::from_millis(100));
        assert!(backoff(b, max, 0) >= Duration::from_millis(50));
        assert!(backoff(b, max, 10) <= max);
        assert!(backoff(b, max, 3) >= Duration::from_millis(400));
    }

    #[test]
    fn bearer_preferred_over_basic() {
        let mut h = HeaderMap::new();
        h.append(header::WWW_AUTHENTICATE, "Basic realm=x".parse().unwrap());
        h.append(
            header::WWW_AUTHENTICATE,
            "Bearer realm=\"http://t/\"".parse().unwrap(),
        );
        assert_eq!(pick_challenge(&h).unwrap().scheme, "bearer");
    }
}
