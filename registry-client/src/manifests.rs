//! Manifest operations: GET/HEAD with the Accept header of every manifest
//! type this client handles, a size cap and digest verification; PUT with
//! the manifest's own Content-Type; DELETE; and tag listing with `Link`
//! pagination.

use std::io::Read;

use rbox_image::{Digest, Reference};
use reqwest::blocking::Response;
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::media;
use crate::transport::{Body, Endpoint, Request, read_capped};

/// The digest header registries send with manifests and uploads.
pub(crate) const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

/// A manifest or index as the registry served it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchedManifest {
    /// Its digest (verified against the bytes).
    pub digest: Digest,
    /// Its media type (one of [`crate::media`]'s manifest types).
    pub media_type: String,
    /// The exact bytes, as hashed.
    pub bytes: Vec<u8>,
}

/// What a HEAD says about a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManifestInfo {
    /// Docker-Content-Digest, when sent.
    pub digest: Option<Digest>,
    /// Content-Type, when sent.
    pub media_type: Option<String>,
    /// Content-Length, when sent.
    pub size: Option<u64>,
}

/// The thing a request was about, for turning statuses into errors.
pub(crate) enum Subject<'a> {
    Manifest(&'a Reference),
    Blob(&'a Reference, &'a Digest),
    Repository(&'a Reference),
}

pub(crate) fn pull_scope(r: &Reference) -> Vec<String> {
    vec![format!("repository:{}:pull", r.path())]
}

pub(crate) fn push_scope(r: &Reference) -> Vec<String> {
    vec![format!("repository:{}:pull,push", r.path())]
}

/// The tag or digest part of a manifest URL.
pub(crate) fn manifest_target(r: &Reference) -> String {
    match (r.digest(), r.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_owned(),
        (None, None) => rbox_image::reference::DEFAULT_TAG.to_owned(),
    }
}

impl Client {
    /// Fetches the manifest or index `reference` names (its digest if it
    /// has one, else its tag), checking it against the digest asked for or
    /// the registry's Docker-Content-Digest.
    pub fn fetch_manifest(&self, reference: &Reference) -> Result<FetchedManifest> {
        let ep = self.endpoint_for(reference)?;
        let scopes = pull_scope(reference);
        let target = manifest_target(reference);
        let url = format!("/v2/{}/manifests/{target}", reference.path());
        let req = Request::new(Method::GET, url.clone(), &scopes)
            .header(header::ACCEPT, media::MANIFEST_ACCEPT);
        let resp = ep.send(&req)?;
        let resp = check(&ep, resp, "GET", &url, Subject::Manifest(reference))?;
        let what = format!("manifest {}:{target}", reference.path());
        let content_type = content_type(resp.headers());
        let header_digest = header_digest(resp.headers());
        let limit = self.config.max_manifest_size;
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(too_large(&ep, &what, limit));
        }
        let bytes = read_capped(resp, limit)
            .map_err(|e| Error::Http {
                url: url.clone(),
                message: e.to_string(),
            })?
            .ok_or_else(|| too_large(&ep, &what, limit))?;
        let expected = reference.digest().cloned().or(header_digest);
        let digest = match &expected {
            Some(want) => {
                let actual = Digest::of(want.algorithm(), &bytes);
                if &actual != want {
                    return Err(Error::DigestMismatch {
                        registry: ep.registry.clone(),
                        what,
                        expected: want.clone(),
                        actual,
                    });
                }
                actual
            }
            None => Digest::sha256(&bytes),
        };
        let media_type = resolve_media_type(&ep, &what, content_type.as_deref(), &bytes)?;
        tracing::debug!(%reference, %digest, %media_type, "fetched manifest");
        Ok(FetchedManifest {
            digest,
            media_type,
            bytes,
        })
    }

    /// HEADs a manifest: `None` if the registry does not have it.
    pub fn head_manifest(&self, reference: &Reference) -> Result<Option<ManifestInfo>> {
        let ep = self.endpoint_for(reference)?;
        let scopes = pull_scope(reference);
        let url = format!(
            "/v2/{}/manifests/{}",
            reference.path(),
            manifest_target(reference)
        );
        let req = Request::new(Method::HEAD, url.clone(), &scopes)
            .header(header::ACCEPT, media::MANIFEST_ACCEPT);
        let resp = ep.send(&req)?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = check(&ep, resp, "HEAD", &url, Subject::Manifest(reference))?;
        Ok(Some(ManifestInfo {
            digest: header_digest(resp.headers()),
            media_type: content_type(resp.headers()),
            size: resp
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok()),
        }))
    }

    /// Uploads a manifest under `reference`'s tag (or digest), sent with
    /// `media_type` as Content-Type. Returns its digest.
    pub fn put_manifest(
        &self,
        reference: &Reference,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest> {
        let ep = self.endpoint_for(reference)?;
        let scopes = push_scope(reference);
        let url = format!(
            "/v2/{}/manifests/{}",
            reference.path(),
            manifest_target(reference)
        );
        let mut req = Request::new(Method::PUT, url.clone(), &scopes)
            .header(header::CONTENT_TYPE, media_type);
        req.body = Body::Bytes(bytes);
        let resp = ep.send(&req)?;
        let resp = check(&ep, resp, "PUT", &url, Subject::Manifest(reference))?;
        let digest = Digest::sha256(bytes);
        if let Some(d) = header_digest(resp.headers())
            && d.algorithm() == digest.algorithm()
            && d != digest
        {
            return Err(Error::DigestMismatch {
                registry: ep.registry.clone(),
                what: format!("uploaded manifest {url}"),
                expected: digest,
                actual: d,
            });
        }
        tracing::debug!(%reference, %digest, "pushed manifest");
        Ok(digest)
    }

    /// Deletes the manifest `reference` names; registries want a digest.
    pub fn delete_manifest(&self, reference: &Reference) -> Result<()> {
        let ep = self.endpoint_for(reference)?;
        let scopes = vec![format!("repository:{}:delete", reference.path())];
        let url = format!(
            "/v2/{}/manifests/{}",
            reference.path(),
            manifest_target(reference)
        );
        let resp = ep.send(&Request::new(Method::DELETE, url.clone(), &scopes))?;
        check(&ep, resp, "DELETE", &url, Subject::Manifest(reference))?;
        Ok(())
    }

    /// Every tag of `repository` (its tag and digest are ignored), following
    /// `Link: <...>; rel="next"` pages.
    pub fn list_tags(&self, repository: &Reference) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let ep = self.endpoint_for(repository)?;
        let scopes = pull_scope(repository);
        let mut url = format!("/v2/{}/tags/list", repository.path());
        let mut out = Vec::new();
        // A registry that links a page to itself must not spin forever.
        for _ in 0..10_000 {
            let resp = ep.send(&Request::new(Method::GET, url.clone(), &scopes))?;
            let resp = check(&ep, resp, "GET", &url, Subject::Repository(repository))?;
            let next = next_link(resp.headers());
            let body = read_capped(resp, self.config.max_manifest_size)
                .map_err(|e| Error::Http {
                    url: url.clone(),
                    message: e.to_string(),
                })?
                .ok_or_else(|| too_large(&ep, "tag list", self.config.max_manifest_size))?;
            let page: Tags = serde_json::from_slice(&body).map_err(|e| Error::InvalidDocument {
                registry: ep.registry.clone(),
                what: format!("tag list of {}", repository.path()),
                message: e.to_string(),
            })?;
            out.extend(page.tags.unwrap_or_default());
            match next {
                Some(n) => url = n,
                None => return Ok(out),
            }
        }
        Err(Error::Protocol {
            registry: ep.registry.clone(),
            message: "tag list pagination does not end".to_owned(),
        })
    }
}

fn too_large(ep: &Endpoint, what: &str, limit: u64) -> Error {
    Error::TooLarge {
        registry: ep.registry.clone(),
        what: what.to_owned(),
        limit,
    }
}

/// The media type of a fetched manifest: the Content-Type if it is a
/// manifest type, else the document's own `mediaType`, else a guess from
/// its shape (old OCI images omit `mediaType`).
fn resolve_media_type(
    ep: &Endpoint,
    what: &str,
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<String> {
    if let Some(ct) = content_type
        && media::is_manifest_type(ct)
    {
        return Ok(ct.to_owned());
    }
    #[derive(Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType", default)]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
        #[serde(default)]
        layers: Option<serde_json::Value>,
        #[serde(rename = "schemaVersion", default)]
        schema_version: Option<u32>,
    }
    let probe: Probe = serde_json::from_slice(bytes).map_err(|e| Error::InvalidDocument {
        registry: ep.registry.clone(),
        what: what.to_owned(),
        message: e.to_string(),
    })?;
    let found = match (&probe.media_type, probe.schema_version) {
        (Some(mt), _) => Some(mt.clone()),
        (None, Some(2)) if probe.manifests.is_some() => Some(media::OCI_INDEX.to_owned()),
        (None, Some(2)) if probe.layers.is_some() => Some(media::OCI_MANIFEST.to_owned()),
        _ => None,
    };
    match found {
        Some(mt) if media::is_manifest_type(&mt) => Ok(mt),
        other => Err(Error::UnknownMediaType {
            registry: ep.registry.clone(),
            what: what.to_owned(),
            media_type: other
                .or_else(|| content_type.map(str::to_owned))
                .unwrap_or_default(),
        }),
    }
}

pub(crate) fn content_type(h: &HeaderMap) -> Option<String> {
    let v = h.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(v.split(';').next().unwrap_or(v).trim().to_owned())
}

pub(crate) fn header_digest(h: &HeaderMap) -> Option<Digest> {
    Digest::parse(h.get(DOCKER_CONTENT_DIGEST)?.to_str().ok()?.trim()).ok()
}

/// The `rel="next"` target of a Link header.
fn next_link(h: &HeaderMap) -> Option<String> {
    for v in h.get_all(header::LINK) {
        let s = v.to_str().ok()?;
        for part in s.split(',') {
            let (target, params) = part.split_once(';').unwrap_or((part, ""));
            let is_next = params.split(';').any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            if is_next {
                let t = target.trim().trim_start_matches('<').trim_end_matches('>');
                return Some(t.to_owned());
            }
        }
    }
    None
}

/// Passes a 2xx response through; turns anything else into the error
/// that says what to do.
pub(crate) fn check(
    ep: &Endpoint,
    resp: Response,
    method: &str,
    url: &str,
    subject: Subject<'_>,
) -> Result<Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let detail = error_detail(resp);
    let registry = ep.registry.clone();
    let repository = match &subject {
        Subject::Manifest(r) | Subject::Blob(r, _) | Subject::Repository(r) => r.path().to_owned(),
    };
    Err(match status {
        StatusCode::UNAUTHORIZED => Error::Unauthorized { registry, detail },
        StatusCode::FORBIDDEN => Error::Forbidden {
            registry,
            repository,
            detail,
        },
        StatusCode::NOT_FOUND => match subject {
            Subject::Manifest(r) => Error::ManifestUnknown {
                registry,
                repository,
                reference: manifest_target(r),
            },
            Subject::Blob(_, d) => Error::BlobUnknown {
                registry,
                repository,
                digest: d.clone(),
            },
            Subject::Repository(_) => Error::RepositoryUnknown {
                registry,
                repository,
            },
        },
        _ => Error::Status {
            method: method.to_owned(),
            url: url.to_owned(),
            status: status.as_u16(),
            detail,
        },
    })
}

/// The registry's `{"errors":[{"code","message"}]}` body, summarised.
fn error_detail(resp: Response) -> String {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<ErrorItem>,
    }
    #[derive(Deserialize)]
    struct ErrorItem {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let mut body = Vec::new();
    if resp.take(64 * 1024).read_to_end(&mut body).is_err() {
        return String::new();
    }
    match serde_json::from_slice::<Errors>(&body) {
        Ok(e) => e
            .errors
            .iter()
            .map(|i| format!("{} {}", i.code, i.message).trim().to_owned())
            .collect::<Vec<_>>()
            .join("; "),
        Err(_) => String::from_utf8_lossy(&body).chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_next() {
        let mut h = HeaderMap::new();
        h.insert(
            header::LINK,
            "</v2/a/tags/list?last=b&n=2>; rel=\"next\""
                .parse()
                .unwrap(),
        );
        assert_eq!(next_link(&h).as_deref(), Some("/v2/a/tags/list?last=b&n=2"));
        h.insert(header::LINK, "</x>; rel=\"prev\"".parse().unwrap());
        assert_eq!(next_link(&h), None);
    }
}
