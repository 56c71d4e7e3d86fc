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
mod routes;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::Digest as _;

pub use http::{HttpRequest, HttpResponse, HttpServer, percent_decode};
use http::{read_request, write_response};
use routes::route;

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
    /// ping and the token endpoint, which fails only when named).
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
