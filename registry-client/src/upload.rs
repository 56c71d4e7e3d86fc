//! Blob upload: HEAD first (the registry may have it), a cross-repository
//! mount when the caller knows a repository of the same registry that
//! holds it, else an upload session (POST) finished by one streamed PUT
//! or, for ECR or when configured, by PATCH chunks of at least 5 MiB and
//! an empty PUT. Each PATCH follows the Location the last answer gave and
//! accepts 201 as well as 202 (ECR answers 201).
//!
//! A failure inside an upload session restarts the whole session: the
//! spec's resume-by-GET is not implemented by every registry.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rbox_image::{Digest, Reference, Store};
use reqwest::Method;
use reqwest::StatusCode;
use reqwest::blocking::Response;
use reqwest::header;

use crate::client::Client;
use crate::config::{MIN_CHUNK_SIZE, is_ecr_host};
use crate::error::{Error, Result};
use crate::manifests::{Subject, check, push_scope};
use crate::progress::{ProgressEvent, ProgressSink, ProgressState};
use crate::transport::{Body, Endpoint, Request};

/// How often a running upload reports its bytes.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// ECR's chunk size when none is configured.
const ECR_DEFAULT_CHUNK: u64 = 10 * 1024 * 1024;

/// What [`Client::push_blob`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlobPush {
    /// The registry already had it.
    Exists,
    /// Mounted from another repository.
    Mounted,
    /// Uploaded.
    Uploaded,
}

impl Client {
    /// Pushes blob `digest` (`size` bytes, in `store`) to `repository`,
    /// skipping it if present, mounting it from `mount_from` (another
    /// repository on the same registry) if given and allowed.
    pub fn push_blob(
        &self,
        repository: &Reference,
        digest: &Digest,
        size: u64,
        store: &Store,
        mount_from: Option<&Reference>,
        progress: &dyn ProgressSink,
    ) -> Result<BlobPush> {
        let event = |state, bytes| {
            progress.event(ProgressEvent::new(digest, state, bytes, Some(size)));
        };
        if self.blob_exists(repository, digest)?.is_some() {
            event(ProgressState::Exists, size);
            return Ok(BlobPush::Exists);
        }
        let ep = self.endpoint_for(repository)?;
        let path = store.blob_path(digest);
        if !store.contains(digest)? {
            return Err(Error::Store(rbox_image::Error::BlobNotFound(
                digest.clone(),
            )));
        }
        let mut scopes = push_scope(repository);
        let from = mount_from
            .filter(|f| f.domain() == repository.domain() && f.path() != repository.path());
        if let Some(f) = from {
            scopes.push(format!("repository:{}:pull", f.path()));
        }
        let chunk = if is_ecr_host(&ep.api_host) {
            Some(self.config.chunk_size.unwrap_or(ECR_DEFAULT_CHUNK))
        } else {
            self.config.chunk_size
        }
        .map(|c| c.max(MIN_CHUNK_SIZE));
        let mut failures = 0;
        loop {
            let start = self.start_upload(&ep, repository, digest, from, &scopes)?;
            let location = match start {
                Started::Mounted => {
                    event(ProgressState::Mounted, size);
                    return Ok(BlobPush::Mounted);
                }
                Started::Session(l) => l,
            };
            event(ProgressState::Uploading, 0);
            let sent = match chunk {
                None => monolithic(
                    &ep, repository, digest, size, &path, location, &scopes, &event,
                ),
                Some(c) => chunked(
                    &ep, repository, digest, size, &path, location, &scopes, c, &event,
                ),
            };
            match sent {
                Ok(()) => {
                    event(ProgressState::Done, size);
                    tracing::debug!(%digest, repository = %repository.path(), "uploaded blob");
                    return Ok(BlobPush::Uploaded);
                }
                Err(e) if e.is_transient() && failures < ep.retries => {
                    tracing::debug!(%digest, "upload failed ({e}); restarting the session");
                    ep.pause(failures, None);
                    failures += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn start_upload(
        &self,
        ep: &Endpoint,
        repository: &Reference,
        digest: &Digest,
        from: Option<&Reference>,
        scopes: &[String],
    ) -> Result<Started> {
        let mut url = format!("/v2/{}/blobs/uploads/", repository.path());
        if let Some(f) = from {
            url.push_str(&format!("?mount={digest}&from={}", f.path()));
        }
        let resp = ep.send(&Request::new(Method::POST, url.clone(), scopes))?;
        let resp = check(ep, resp, "POST", &url, Subject::Blob(repository, digest))?;
        if resp.status() == StatusCode::CREATED && from.is_some() {
            return Ok(Started::Mounted);
        }
        Ok(Started::Session(location(ep, &resp)?))
    }
}

enum Started {
    Mounted,
    Session(String),
}

fn location(ep: &Endpoint, resp: &Response) -> Result<String> {
    resp.headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| Error::Protocol {
            registry: ep.registry.clone(),
            message: format!("upload answer {} without a Location", resp.status()),
        })
}

fn with_digest(location: &str, digest: &Digest) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={digest}")
}

fn upload_request<'a>(method: Method, url: String, scopes: &'a [String]) -> Request<'a> {
    let mut r = Request::new(method, url, scopes);
    r.retry = false;
    r.follow_redirects = false;
    r.upload = true;
    r
}

#[allow(clippy::too_many_arguments)]
fn monolithic(
    ep: &Endpoint,
    repository: &Reference,
    digest: &Digest,
    size: u64,
    path: &std::path::Path,
    location: String,
    scopes: &[String],
    event: &(dyn Fn(ProgressState, u64) + Sync),
) -> Result<()> {
    let url = with_digest(&location, digest);
    let sent = Arc::new(AtomicU64::new(0));
    let mut req = upload_request(Method::PUT, url.clone(), scopes)
        .header(header::CONTENT_TYPE, "application/octet-stream");
    req.body = Body::File {
        path: path.to_owned(),
        offset: 0,
        len: size,
        sent: Some(sent.clone()),
    };
    let resp = with_progress(&sent, event, || ep.send(&req))?;
    check(ep, resp, "PUT", &url, Subject::Blob(repository, digest))?;
    Ok(())
}

/// Runs `f` while a watcher reports `sent` as Uploading events a few
/// times a second: the body is read inside the HTTP client, where the
/// caller's sink cannot be reached.
fn with_progress<T>(
    sent: &AtomicU64,
    event: &(dyn Fn(ProgressState, u64) + Sync),
    f: impl FnOnce() -> T,
) -> T {
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let mut last = 0;
            while !done.load(Ordering::SeqCst) {
                std::thread::park_timeout(PROGRESS_INTERVAL);
                let now = sent.load(Ordering::Relaxed);
                if now != last {
                    last = now;
                    event(ProgressState::Uploading, now);
                }
            }
        });
        let out = f();
        done.store(true, Ordering::SeqCst);
        watcher.thread().unpark();
        out
    })
}

#[allow(clippy::too_many_arguments)]
fn chunked(
    ep: &Endpoint,
    repository: &Reference,
    digest: &Digest,
    size: u64,
    path: &std::path::Path,
    mut location: String,
    scopes: &[String],
    chunk: u64,
    event: &(dyn Fn(ProgressState, u64) + Sync),
) -> Result<()> {
    let mut offset = 0;
    while offset < size {
        let len = chunk.min(size - offset);
        let end = offset + len - 1;
        let mut req = upload_request(Method::PATCH, location.clone(), scopes)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_RANGE, format!("{offset}-{end}"));
        req.body = Body::File {
            path: path.to_owned(),
            offset,
            len,
            sent: None,
        };
        let resp = ep.send(&req)?;
        let resp = check(
            ep,
            resp,
            "PATCH",
            &location,
            Subject::Blob(repository, digest),
        )?;
        if !matches!(resp.status(), StatusCode::ACCEPTED | StatusCode::CREATED) {
            return Err(Error::Protocol {
                registry: ep.registry.clone(),
                message: format!("PATCH answered {} instead of 202", resp.status()),
            });
        }
        // The registry says how much it holds; trust it over our count.
        let held = resp
            .headers()
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|r| r.trim().trim_start_matches("bytes=").split('-').nth(1))
            .and_then(|e| e.trim().parse::<u64>().ok());
        if let Some(h) = held
            && h != end
        {
            return Err(Error::Protocol {
                registry: ep.registry.clone(),
                message: format!("after PATCH of bytes {offset}-{end} the registry holds 0-{h}"),
            });
        }
        location = location_or(ep, &resp, location)?;
        offset = end + 1;
        event(ProgressState::Uploading, offset);
    }
    let url = with_digest(&location, digest);
    let req = upload_request(Method::PUT, url.clone(), scopes).header(header::CONTENT_LENGTH, "0");
    let resp = ep.send(&req)?;
    check(ep, resp, "PUT", &url, Subject::Blob(repository, digest))?;
    Ok(())
}

fn location_or(ep: &Endpoint, resp: &Response, previous: String) -> Result<String> {
    match resp.headers().get(header::LOCATION) {
        Some(_) => location(ep, resp),
        None => Ok(previous),
    }
}
