//! Blob download into the store: streamed through the store's ingest
//! (which hashes as it writes), resumed with `Range` from the ingest's
//! offset after a broken connection or an earlier killed pull, restarted
//! from zero when the server ignores the range, and verified by size and
//! digest at commit so a bad body never becomes a blob.

use std::io::{Read, Write};

use rbox_image::error::DigestError;
use rbox_image::store::{BlobInfo, Expected, Ingest, IngestWriter};
use rbox_image::{Digest, Reference, Store};
use reqwest::header;
use reqwest::{Method, StatusCode};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::manifests::{Subject, check, pull_scope};
use crate::progress::{ProgressEvent, ProgressSink, ProgressState};
use crate::transport::{Endpoint, Request};

/// Report download progress at most this often (bytes).
const PROGRESS_STEP: u64 = 512 * 1024;

impl Client {
    /// The size of blob `digest` in `repository` if the registry has it.
    pub fn blob_exists(&self, repository: &Reference, digest: &Digest) -> Result<Option<u64>> {
        let ep = self.endpoint_for(repository)?;
        let scopes = pull_scope(repository);
        let url = format!("/v2/{}/blobs/{digest}", repository.path());
        let resp = ep.send(&Request::new(Method::HEAD, url.clone(), &scopes))?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = check(&ep, resp, "HEAD", &url, Subject::Blob(repository, digest))?;
        Ok(Some(resp.content_length().unwrap_or(0)))
    }

    /// Downloads blob `digest` of `repository` into `store` (nothing to do
    /// if it is there), resuming a partial ingest, checking `size` when
    /// given and the digest always.
    pub fn pull_blob(
        &self,
        repository: &Reference,
        digest: &Digest,
        size: Option<u64>,
        store: &Store,
        progress: &dyn ProgressSink,
    ) -> Result<BlobInfo> {
        let expected = match size {
            Some(s) => Expected::new(digest.clone(), s),
            None => Expected::digest(digest.clone()),
        };
        let ingest_ref = digest.to_string();
        let mut writer = match store.ingest(&ingest_ref, expected.clone())? {
            Ingest::Exists(info) => {
                progress.event(ProgressEvent::new(
                    digest,
                    ProgressState::Exists,
                    info.size,
                    Some(info.size),
                ));
                return Ok(info);
            }
            Ingest::Writer(w) => w,
            _ => return Err(unexpected_ingest(digest)),
        };
        let ep = self.endpoint_for(repository)?;
        let scopes = pull_scope(repository);
        let url = format!("/v2/{}/blobs/{digest}", repository.path());
        let what = format!("blob {}@{digest}", repository.path());
        let mut failures = 0;
        loop {
            let offset = writer.offset();
            if size.is_some_and(|s| s == offset && s > 0) {
                break;
            }
            let mut req = Request::new(Method::GET, url.clone(), &scopes);
            if offset > 0 {
                req = req.header(header::RANGE, format!("bytes={offset}-"));
            }
            let resp = ep.send(&req)?;
            if offset > 0 && resp.status() == StatusCode::RANGE_NOT_SATISFIABLE {
                // The partial is as long as (or longer than) the blob:
                // only a fresh download can tell which bytes are right.
                tracing::debug!(%digest, offset, "range not satisfiable; restarting");
                writer.abort()?;
                writer = match store.ingest(&ingest_ref, expected.clone())? {
                    Ingest::Writer(w) => w,
                    Ingest::Exists(info) => return Ok(info),
                    _ => return Err(unexpected_ingest(digest)),
                };
                continue;
            }
            let mut resp = check(&ep, resp, "GET", &url, Subject::Blob(repository, digest))?;
            if offset > 0 && !resumes_at(&resp, offset) {
                // The server sent the whole blob (or an odd range): start
                // the ingest over and take the body from byte zero.
                tracing::debug!(%digest, offset, status = %resp.status(), "range not honoured; restarting");
                writer.abort()?;
                writer = match store.ingest(&ingest_ref, expected.clone())? {
                    Ingest::Writer(w) => w,
                    Ingest::Exists(info) => return Ok(info),
                    _ => return Err(unexpected_ingest(digest)),
                };
                if resp.status() != StatusCode::OK {
                    continue;
                }
            }
            let total = size.or_else(|| resp.content_length().map(|n| n + writer.offset()));
            match copy_body(&mut resp, &mut writer, digest, total, progress) {
                Ok(()) => break,
                Err(CopyError::Write(e)) => return Err(ingest_error(&ep, &what, e)),
                Err(CopyError::Read(e)) => {
                    if failures >= ep.retries {
                        return Err(Error::Http {
                            url: url.clone(),
                            message: format!("body broke off at byte {}: {e}", writer.offset()),
                        });
                    }
                    tracing::debug!(%digest, offset = writer.offset(), "body broke off ({e}); resuming");
                    ep.pause(failures, None);
                    failures += 1;
                }
            }
        }
        let got = writer.offset();
        progress.event(ProgressEvent::new(
            digest,
            ProgressState::Verifying,
            got,
            size,
        ));
        let info = writer.commit().map_err(|e| ingest_error(&ep, &what, e))?;
        progress.event(ProgressEvent::new(
            digest,
            ProgressState::Done,
            info.size,
            Some(info.size),
        ));
        Ok(info)
    }
}

/// True if `resp` is a 206 whose Content-Range starts at `offset`.
fn resumes_at(resp: &reqwest::blocking::Response, offset: u64) -> bool {
    if resp.status() != StatusCode::PARTIAL_CONTENT {
        return false;
    }
    let Some(cr) = resp
        .headers()
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    // `bytes START-END/TOTAL`
    cr.trim()
        .strip_prefix("bytes ")
        .and_then(|r| r.split('-').next())
        .and_then(|s| s.trim().parse::<u64>().ok())
        == Some(offset)
}

enum CopyError {
    Read(std::io::Error),
    Write(rbox_image::Error),
}

fn copy_body(
    body: &mut impl Read,
    writer: &mut IngestWriter,
    digest: &Digest,
    total: Option<u64>,
    progress: &dyn ProgressSink,
) -> std::result::Result<(), CopyError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut reported = writer.offset();
    progress.event(ProgressEvent::new(
        digest,
        ProgressState::Downloading,
        reported,
        total,
    ));
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        writer
            .write_all(&buf[..n])
            .map_err(|e| CopyError::Write(writer.write_error(e)))?;
        if writer.offset() - reported >= PROGRESS_STEP {
            reported = writer.offset();
            progress.event(ProgressEvent::new(
                digest,
                ProgressState::Downloading,
                reported,
                total,
            ));
        }
    }
}

/// A store error about content turned into the registry error naming
/// where the content came from.
fn ingest_error(ep: &Endpoint, what: &str, e: rbox_image::Error) -> Error {
    match e {
        rbox_image::Error::Digest {
            source: DigestError::Mismatch { expected, actual },
            ..
        } => Error::DigestMismatch {
            registry: ep.registry.clone(),
            what: what.to_owned(),
            expected,
            actual,
        },
        rbox_image::Error::Digest {
            source: DigestError::SizeMismatch { expected, actual },
            ..
        } => Error::SizeMismatch {
            registry: ep.registry.clone(),
            what: what.to_owned(),
            expected,
            actual,
        },
        other => Error::Store(other),
    }
}

fn unexpected_ingest(digest: &Digest) -> Error {
    Error::Config {
        message: format!(
            "the store answered the ingest of {digest} in a way this client does not know"
        ),
    }
}
