//! The fake registry's request handlers: auth, token endpoint, blobs,
//! uploads, manifests and tags, each applying the configured faults.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::http::BodyPlan;
use super::{
    ECR_MIN_CHUNK, FakeAuth, HttpRequest, HttpResponse, State, base64, percent_decode,
    sha256_digest,
};

fn normal() -> BodyPlan {
    BodyPlan {
        cut_after: None,
        slow: None,
    }
}

pub(super) fn route(
    st: &mut State,
    req: &HttpRequest,
    addr: SocketAddr,
) -> (HttpResponse, BodyPlan) {
    if let Some(d) = req.path.strip_prefix("/_data/") {
        return match st.blobs.get(d) {
            Some(b) => (HttpResponse::status(200).body(b.clone()), normal()),
            None => (HttpResponse::status(404), normal()),
        };
    }
    // The token endpoint fails only when named by the filter.
    let token_filtered = req.path != "/token" || !st.faults.fail_path.is_empty();
    if req.path != "/v2/"
        && token_filtered
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
    if req.path == "/token" {
        return (token(st, req), normal());
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
