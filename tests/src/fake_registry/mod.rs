//! An in-process fake OCI registry for fault tests: plain HTTP/1.1 on a
//! free 127.0.0.1 port, one thread per connection, content in memory.
//!
//! It speaks enough of the distribution API for a client's pull and push
//! (ping, token endpoint, blobs with Range, uploads by POST/PATCH/PUT,
//! mounts, manifests, tag pages) and injects the faults real registries
//! show: 5xx/429 with Retry-After, resets mid-body, wrong bytes, slow
//! bodies, redirect loops, ECR's 201-on-PATCH with a 5 MiB chunk minimum,
//! basic and bearer auth with tokens that expire after a number of uses.
//! Every request is logged for assertions. Dropping it stops the server.

mod http;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::Digest as _;

use http::{BodyPlan, read_request, write_response};
pub use http::{HttpRequest, HttpResponse, HttpServer, percent_decode};

/// ECR's smallest accepted chunk for all but the last PATCH.
pub const ECR_MIN_CHUNK: usize = 5 * 1024 * 1024;

/// Which authentication the fake demands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FakeAuth {
    /// None.
    #[default]
    Anonymous,
    /// HTTP Basic with this user and password.
    Basic {
        /// User.
        username: String,
        /// Password.
        password: String,
    },
    /// Bearer tokens from `/token`, which wants this user and password
    /// (basic auth on GET, or `refresh_token` = password on POST).
    Bearer {
        /// User.
        username: String,
        /// Password, also accepted as the refresh token.
        password: String,
    },
}

/// Faults to inject; change them with [`FakeRegistry::faults`].
#[derive(Debug, Clone)]
pub struct Faults {
    /// Statuses to answer the next requests whose path contains
    /// `fail_path` with (one per request, in order).
    pub fail_statuses: Vec<u16>,
    /// The path filter for `fail_statuses` (empty: every request but the
    /// ping and token).
    pub fail_path: String,
    /// Retry-After (seconds) sent with injected 429/503.
    pub retry_after: Option<u64>,
    /// Cut the next this-many blob GET bodies after `reset_after_bytes`
    /// bytes with a TCP reset.
    pub resets: u32,
    /// Where a reset cuts the body.
    pub reset_after_bytes: usize,
    /// Serve blob bodies with their first byte flipped.
    pub corrupt_blobs: bool,
    /// Sleep this long between 16 KiB pieces of blob bodies.
    pub slow_body: Option<Duration>,
    /// Answer blob GETs with a redirect to themselves, forever.
    pub redirect_loop: bool,
    /// Answer blob GETs with one redirect to `/_data/<digest>` (served
    /// without auth, like an object store).
    pub redirect_blobs: bool,
    /// Honour `Range` on blob GETs (off: always 200 with the whole blob).
    pub range_support: bool,
    /// ECR mode: PATCH answers 201, non-final chunks under 5 MiB are
    /// refused, monolithic PUT with a body is refused.
    pub ecr: bool,
    /// Authentication.
    pub auth: FakeAuth,
    /// A token stops working after this many uses (expiry mid-push).
    pub token_max_uses: Option<u32>,
    /// Page size of tag listings.
    pub tags_page: usize,
    /// Answer the manifest GET with a Docker-Content-Digest that does not
    /// match the body.
    pub wrong_manifest_digest: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            fail_statuses: Vec::new(),
            fail_path: String::new(),
            retry_after: None,
            resets: 0,
            reset_after_bytes: 0,
            corrupt_blobs: false,
            slow_body: None,
            redirect_loop: false,
            redirect_blobs: false,
            range_support: true,
            ecr: false,
            auth: FakeAuth::Anonymous,
            token_max_uses: None,
            tags_page: 100,
            wrong_manifest_digest: false,
        }
    }
}

#[derive(Default)]
struct State {
    faults: Faults,
    blobs: HashMap<String, Vec<u8>>,
    /// Which repositories link which blobs.
    links: BTreeSet<(String, String)>,
    /// (repository, tag or digest) -> (media type, bytes).
    manifests: BTreeMap<(String, String), (String, Vec<u8>)>,
    /// id -> (repository, bytes so far, last chunk was short).
    uploads: HashMap<String, (String, Vec<u8>, bool)>,
    next_id: u64,
    /// token -> uses left (None: unlimited).
    tokens: HashMap<String, Option<u32>>,
    /// Every request, in arrival order.
    log: Vec<HttpRequest>,
}

/// A running fake registry.
pub struct FakeRegistry {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// The sha256 digest string of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    let h = sha2::Sha256::digest(data);
    let mut s = String::from("sha256:");
    for b in h {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

impl FakeRegistry {
    /// Starts a fake registry on a free loopback port.
    ///
    /// # Panics
    ///
    /// If no port can be bound (tests only).
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("bound socket has an address");
        let state = Arc::new(Mutex::new(State {
            next_id: 1,
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || serve(&conn, &st, addr));
            }
        });
        Self {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`, the registry part of references.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the faults.
    pub fn faults(&self, f: impl FnOnce(&mut Faults)) {
        f(&mut self.lock().faults);
    }

    /// Stores a blob in `repository`; returns its digest.
    pub fn add_blob(&self, repository: &str, data: &[u8]) -> String {
        let d = sha256_digest(data);
        let mut st = self.lock();
        st.blobs.insert(d.clone(), data.to_vec());
        st.links.insert((repository.to_owned(), d.clone()));
        d
    }

    /// Stores a manifest under `tag` (and its digest); returns the digest.
    pub fn add_manifest(
        &self,
        repository: &str,
        tag: &str,
        media_type: &str,
        data: &[u8],
    ) -> String {
        let d = sha256_digest(data);
        let mut st = self.lock();
        let v = (media_type.to_owned(), data.to_vec());
        st.manifests
            .insert((repository.to_owned(), tag.to_owned()), v.clone());
        st.manifests.insert((repository.to_owned(), d.clone()), v);
        d
    }

    /// The blob with `digest`, if pushed.
    pub fn blob(&self, digest: &str) -> Option<Vec<u8>> {
        self.lock().blobs.get(digest).cloned()
    }

    /// True if `repository` links blob `digest`.
    pub fn has_blob(&self, repository: &str, digest: &str) -> bool {
        self.lock()
            .links
            .contains(&(repository.to_owned(), digest.to_owned()))
    }

    /// The manifest `repository:reference`, if present: (media type, bytes).
    pub fn manifest(&self, repository: &str, reference: &str) -> Option<(String, Vec<u8>)> {
        self.lock()
            .manifests
            .get(&(repository.to_owned(), reference.to_owned()))
            .cloned()
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<HttpRequest> {
        self.lock().log.clone()
    }

    /// `(method, path)` of every request so far.
    pub fn request_lines(&self) -> Vec<(String, String)> {
        self.lock()
            .log
            .iter()
            .map(|r| (r.method.clone(), r.path.clone()))
            .collect()
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: &TcpStream, state: &Mutex<State>, addr: SocketAddr) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let req = match read_request(conn) {
        Ok(Some(r)) => r,
        _ => return,
    };
    let (resp, plan) = {
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        st.log.push(req.clone());
        route(&mut st, &req, addr)
    };
    let _ = write_response(conn, req.method == "HEAD", &resp, &plan);
}

fn normal() -> BodyPlan {
    BodyPlan {
        cut_after: None,
        slow: None,
    }
}

fn route(st: &mut State, req: &HttpRequest, addr: SocketAddr) -> (HttpResponse, BodyPlan) {
    if req.path == "/token" {
        return (token(st, req), normal());
    }
    if let Some(d) = req.path.strip_prefix("/_data/") {
        return match st.blobs.get(d) {
            Some(b) => (HttpResponse::status(200).body(b.clone()), normal()),
            None => (HttpResponse::status(404), normal()),
        };
    }
    if req.path != "/v2/"
        && !st.faults.fail_statuses.is_empty()
        && req.path.contains(&st.faults.fail_path)
    {
        let status = st.faults.fail_statuses.remove(0);
        let mut r = HttpResponse::error(status, "UNAVAILABLE", "injected fault");
        if let Some(s) = st.faults.retry_after {
            r = r.header("Retry-After", s.to_string());
        }
        return (r, normal());
    }
    if let Some(denied) = check_auth(st, req, addr) {
        return (denied, normal());
    }
    if req.path == "/v2/" {
        return (
            HttpResponse::status(200)
                .header("Docker-Distribution-API-Version", "registry/2.0")
                .body("{}"),
            normal(),
        );
    }
    let p = req.path.strip_prefix("/v2/").unwrap_or("");
    if let Some((repo, rest)) = p.split_once("/blobs/uploads") {
        return (
            uploads(st, req, repo, rest.trim_start_matches('/')),
            normal(),
        );
    }
    if let Some((repo, digest)) = p.split_once("/blobs/") {
        return blob(st, req, repo, digest);
    }
    if let Some((repo, reference)) = p.split_once("/manifests/") {
        return (manifest(st, req, repo, reference), normal());
    }
    if let Some(repo) = p.strip_suffix("/tags/list") {
        return (tags(st, req, repo), normal());
    }
    (HttpResponse::error(404, "NOT_FOUND", "no route"), normal())
}

/// The scope a request needs, for the challenge.
fn scope_of(req: &HttpRequest) -> Option<String> {
    let p = req.path.strip_prefix("/v2/")?;
    let repo = ["/blobs/", "/manifests/", "/tags/"]
        .iter()
        .find_map(|m| p.split_once(m).map(|(r, _)| r))?;
    let action = if matches!(req.method.as_str(), "GET" | "HEAD") {
        "pull"
    } else {
        "pull,push"
    };
    Some(format!("repository:{repo}:{action}"))
}

fn check_auth(st: &mut State, req: &HttpRequest, addr: SocketAddr) -> Option<HttpResponse> {
    let got = req.header("authorization").unwrap_or("");
    match st.faults.auth.clone() {
        FakeAuth::Anonymous => None,
        FakeAuth::Basic { username, password } => {
            let want = format!(
                "Basic {}",
                base64(format!("{username}:{password}").as_bytes())
            );
            (got != want).then(|| {
                HttpResponse::error(401, "UNAUTHORIZED", "authentication required")
                    .header("WWW-Authenticate", "Basic realm=\"fake\"")
            })
        }
        FakeAuth::Bearer { .. } => {
            let token = got.strip_prefix("Bearer ").unwrap_or("");
            let ok = match st.tokens.get_mut(token) {
                Some(Some(0)) | None => false,
                Some(Some(n)) => {
                    *n -= 1;
                    true
                }
                Some(None) => true,
            };
            if ok {
                return None;
            }
            let mut ch = format!("Bearer realm=\"http://{addr}/token\",service=\"fake-registry\"");
            if let Some(s) = scope_of(req) {
                ch.push_str(&format!(",scope=\"{s}\""));
            }
            if !token.is_empty() {
                ch.push_str(",error=\"invalid_token\"");
            }
            Some(
                HttpResponse::error(401, "UNAUTHORIZED", "authentication required")
                    .header("WWW-Authenticate", ch),
            )
        }
    }
}

fn token(st: &mut State, req: &HttpRequest) -> HttpResponse {
    let FakeAuth::Bearer { username, password } = st.faults.auth.clone() else {
        return HttpResponse::status(404);
    };
    let ok = if req.method == "POST" {
        let form: BTreeMap<String, String> = String::from_utf8_lossy(&req.body)
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (percent_decode(k), percent_decode(v)))
            .collect();
        form.get("grant_type").map(String::as_str) == Some("refresh_token")
            && form.get("refresh_token") == Some(&password)
    } else {
        req.header("authorization")
            == Some(&format!(
                "Basic {}",
                base64(format!("{username}:{password}").as_bytes())
            ))
    };
    if !ok {
        return HttpResponse::error(401, "UNAUTHORIZED", "bad credentials");
    }
    let t = format!("tok-{}", st.next_id);
    st.next_id += 1;
    st.tokens.insert(t.clone(), st.faults.token_max_uses);
    // Alternate the field name so clients must read both.
    let field = if st.next_id.is_multiple_of(2) {
        "token"
    } else {
        "access_token"
    };
    HttpResponse::status(200)
        .header("Content-Type", "application/json")
        .body(format!(r#"{{"{field}":"{t}","expires_in":300}}"#))
}

fn blob(st: &mut State, req: &HttpRequest, repo: &str, digest: &str) -> (HttpResponse, BodyPlan) {
    let Some(data) = st
        .links
        .contains(&(repo.to_owned(), digest.to_owned()))
        .then(|| st.blobs.get(digest).cloned())
        .flatten()
    else {
        return (
            HttpResponse::error(404, "BLOB_UNKNOWN", "blob unknown"),
            normal(),
        );
    };
    if req.method == "GET" {
        if st.faults.redirect_loop {
            return (
                HttpResponse::status(307).header("Location", req.path.clone()),
                normal(),
            );
        }
        if st.faults.redirect_blobs {
            return (
                HttpResponse::status(307).header("Location", format!("/_data/{digest}")),
                normal(),
            );
        }
    }
    let mut data = data;
    if st.faults.corrupt_blobs && !data.is_empty() {
        data[0] ^= 0xff;
    }
    let total = data.len();
    let mut resp = HttpResponse::status(200)
        .header("Docker-Content-Digest", digest)
        .header("Content-Type", "application/octet-stream");
    let range = req
        .header("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|s| s.parse::<usize>().ok());
    if let Some(start) = range
        && st.faults.range_support
        && req.method == "GET"
    {
        if start >= total {
            return (HttpResponse::status(416), normal());
        }
        resp.status = 206;
        resp = resp.header(
            "Content-Range",
            format!("bytes {start}-{}/{total}", total - 1),
        );
        data = data[start..].to_vec();
    }
    let mut plan = BodyPlan {
        cut_after: None,
        slow: st.faults.slow_body,
    };
    if req.method == "GET" && st.faults.resets > 0 {
        st.faults.resets -= 1;
        plan.cut_after = Some(st.faults.reset_after_bytes);
    }
    (resp.body(data), plan)
}

fn uploads(st: &mut State, req: &HttpRequest, repo: &str, id: &str) -> HttpResponse {
    let location = |id: &str| format!("/v2/{repo}/blobs/uploads/{id}");
    match (req.method.as_str(), id) {
        ("POST", "") => {
            if let (Some(d), Some(from)) = (req.query.get("mount"), req.query.get("from"))
                && st.links.contains(&(from.clone(), d.clone()))
            {
                st.links.insert((repo.to_owned(), d.clone()));
                return HttpResponse::status(201)
                    .header("Location", format!("/v2/{repo}/blobs/{d}"))
                    .header("Docker-Content-Digest", d.clone());
            }
            let id = format!("u{}", st.next_id);
            st.next_id += 1;
            st.uploads
                .insert(id.clone(), (repo.to_owned(), Vec::new(), false));
            HttpResponse::status(202)
                .header("Location", location(&id))
                .header("Range", "0-0")
                .header("Docker-Upload-UUID", id)
        }
        ("PATCH", id) => {
            let ecr = st.faults.ecr;
            let Some((_, buf, short)) = st.uploads.get_mut(id) else {
                return HttpResponse::error(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown");
            };
            if let Some(cr) = req.header("content-range") {
                let start = cr.split('-').next().and_then(|s| s.parse::<usize>().ok());
                if start != Some(buf.len()) {
                    return HttpResponse::status(416);
                }
            }
            if ecr && *short {
                // The previous chunk was short and was not the last.
                return HttpResponse::error(400, "BLOB_UPLOAD_INVALID", "chunk below 5 MiB");
            }
            *short = req.body.len() < ECR_MIN_CHUNK;
            buf.extend_from_slice(&req.body);
            let end = buf.len().saturating_sub(1);
            // A fresh id per chunk: clients must follow Location.
            let upload = st.uploads.remove(id).expect("present above");
            let new_id = format!("u{}", st.next_id);
            st.next_id += 1;
            st.uploads.insert(new_id.clone(), upload);
            HttpResponse::status(if ecr { 201 } else { 202 })
                .header("Location", location(&new_id))
                .header("Range", format!("0-{end}"))
        }
        ("PUT", id) => {
            let Some((_, mut buf, _)) = st.uploads.remove(id) else {
                return HttpResponse::error(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown");
            };
            if st.faults.ecr && !req.body.is_empty() {
                return HttpResponse::error(400, "BLOB_UPLOAD_INVALID", "ECR wants PATCH chunks");
            }
            buf.extend_from_slice(&req.body);
            let Some(want) = req.query.get("digest") else {
                return HttpResponse::error(400, "DIGEST_INVALID", "no digest");
            };
            let got = sha256_digest(&buf);
            if &got != want {
                return HttpResponse::error(400, "DIGEST_INVALID", "digest mismatch");
            }
            st.blobs.insert(got.clone(), buf);
            st.links.insert((repo.to_owned(), got.clone()));
            HttpResponse::status(201)
                .header("Location", format!("/v2/{repo}/blobs/{got}"))
                .header("Docker-Content-Digest", got)
        }
        _ => HttpResponse::error(405, "UNSUPPORTED", "method"),
    }
}

fn manifest(st: &mut State, req: &HttpRequest, repo: &str, reference: &str) -> HttpResponse {
    let key = (repo.to_owned(), reference.to_owned());
    match req.method.as_str() {
        "GET" | "HEAD" => match st.manifests.get(&key) {
            Some((mt, data)) => {
                let digest = if st.faults.wrong_manifest_digest {
                    sha256_digest(b"something else")
                } else {
                    sha256_digest(data)
                };
                HttpResponse::status(200)
                    .header("Content-Type", mt.clone())
                    .header("Docker-Content-Digest", digest)
                    .body(data.clone())
            }
            None => HttpResponse::error(404, "MANIFEST_UNKNOWN", "manifest unknown"),
        },
        "PUT" => {
            let mt = req.header("content-type").unwrap_or("").to_owned();
            let d = sha256_digest(&req.body);
            let v = (mt, req.body.clone());
            st.manifests.insert(key, v.clone());
            st.manifests.insert((repo.to_owned(), d.clone()), v);
            HttpResponse::status(201)
                .header("Location", format!("/v2/{repo}/manifests/{d}"))
                .header("Docker-Content-Digest", d)
        }
        "DELETE" => {
            if st.manifests.remove(&key).is_none() {
                return HttpResponse::error(404, "MANIFEST_UNKNOWN", "manifest unknown");
            }
            st.manifests
                .retain(|(r, _), (_, data)| !(r == repo && sha256_digest(data) == reference));
            HttpResponse::status(202)
        }
        _ => HttpResponse::error(405, "UNSUPPORTED", "method"),
    }
}

fn tags(st: &State, req: &HttpRequest, repo: &str) -> HttpResponse {
    let all: Vec<&String> = st
        .manifests
        .keys()
        .filter(|(r, t)| r == repo && !t.starts_with("sha256:"))
        .map(|(_, t)| t)
        .collect();
    if all.is_empty() {
        return HttpResponse::error(404, "NAME_UNKNOWN", "repository unknown");
    }
    let last = req.query.get("last");
    let page: Vec<&String> = all
        .iter()
        .filter(|t| last.is_none_or(|l| **t > l))
        .take(st.faults.tags_page)
        .copied()
        .collect();
    let body = format!(
        r#"{{"name":"{repo}","tags":[{}]}}"#,
        page.iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut r = HttpResponse::status(200)
        .header("Content-Type", "application/json")
        .body(body);
    if let Some(l) = page.last()
        && all.last() != Some(l)
    {
        r = r.header(
            "Link",
            format!(
                "</v2/{repo}/tags/list?n={}&last={l}>; rel=\"next\"",
                st.faults.tags_page
            ),
        );
    }
    r
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
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
