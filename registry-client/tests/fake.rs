//! Fault tests against the in-process fake registry: each test starts
//! its own fake on a free loopback port.

use std::sync::Arc;
use std::time::Duration;

use rbox_image::{Digest, Reference, Store};
use rbox_registry::{
    BlobPush, Client, ClientConfig, Credential, Error, NoProgress, ProgressState,
    RecordingProgress, StaticCredentials, media,
};
use rbox_test_support::TempRoot;
use rbox_test_support::fake_registry::{FakeAuth, FakeRegistry};

fn config() -> ClientConfig {
    let mut c = ClientConfig::default();
    c.backoff = Duration::from_millis(5);
    c.max_backoff = Duration::from_millis(50);
    c.retries = 3;
    c.certs_dirs = Vec::new();
    c
}

fn client(config: ClientConfig, creds: StaticCredentials) -> Client {
    Client::new(config, Arc::new(creds))
}

fn anon() -> Client {
    client(config(), StaticCredentials::new())
}

fn store(t: &TempRoot) -> Store {
    Store::open(t.join("store")).expect("open store")
}

fn reference(reg: &FakeRegistry, repo_tag: &str) -> Reference {
    Reference::parse(&format!("{}/{repo_tag}", reg.host())).expect("valid reference")
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn pulls_blob_and_verifies() {
    let reg = FakeRegistry::start();
    let body = data(300_000, 1);
    let d = reg.add_blob("app", &body);
    let t = TempRoot::new("reg-pull").unwrap();
    let s = store(&t);
    let r = reference(&reg, "app:latest");
    let progress = RecordingProgress::default();
    let d = Digest::parse(&d).unwrap();
    let info = anon()
        .pull_blob(&r, &d, Some(body.len() as u64), &s, &progress)
        .unwrap();
    assert_eq!(info.size, body.len() as u64);
    assert_eq!(s.read_blob(&d).unwrap(), body);
    let states: Vec<ProgressState> = progress.events().iter().map(|e| e.state).collect();
    assert_eq!(states.first(), Some(&ProgressState::Downloading));
    assert_eq!(states.last(), Some(&ProgressState::Done));
    // A second pull finds it in the store.
    let again = RecordingProgress::default();
    anon().pull_blob(&r, &d, None, &s, &again).unwrap();
    assert_eq!(again.events()[0].state, ProgressState::Exists);
}

#[test]
fn retries_5xx_and_429_with_retry_after() {
    let reg = FakeRegistry::start();
    let body = data(1000, 2);
    let d = Digest::parse(&reg.add_blob("app", &body)).unwrap();
    reg.faults(|f| {
        f.fail_statuses = vec![503, 500, 429];
        f.fail_path = "/blobs/".into();
        f.retry_after = Some(0);
    });
    let t = TempRoot::new("reg-5xx").unwrap();
    let s = store(&t);
    anon()
        .pull_blob(&reference(&reg, "app:x"), &d, None, &s, &NoProgress)
        .unwrap();
    let gets = reg
        .request_lines()
        .iter()
        .filter(|(m, p)| m == "GET" && p.contains("/blobs/"))
        .count();
    assert_eq!(gets, 4, "three faults, then success");
}

#[test]
fn gives_up_after_retries_and_never_retries_4xx() {
    let reg = FakeRegistry::start();
    let d = Digest::parse(&reg.add_blob("app", b"x")).unwrap();
    reg.faults(|f| {
        f.fail_statuses = vec![502; 10];
        f.fail_path = "/blobs/".into();
    });
    let t = TempRoot::new("reg-giveup").unwrap();
    let s = store(&t);
    let r = reference(&reg, "app:x");
    let err = anon().pull_blob(&r, &d, None, &s, &NoProgress).unwrap_err();
    assert!(matches!(err, Error::Status { status: 502, .. }), "{err}");
    let before = reg.request_lines().len();
    reg.faults(|f| {
        f.fail_statuses = vec![400];
    });
    let err = anon().pull_blob(&r, &d, None, &s, &NoProgress).unwrap_err();
    assert!(matches!(err, Error::Status { status: 400, .. }), "{err}");
    // One ping pair (https attempt is not an HTTP request) and one GET.
    let after: Vec<_> = reg.request_lines()[before..].to_vec();
    assert_eq!(
        after.iter().filter(|(_, p)| p.contains("/blobs/")).count(),
        1
    );
}

#[test]
fn resumes_with_range_after_reset() {
    let reg = FakeRegistry::start();
    let body = data(2_000_000, 3);
    let d = Digest::parse(&reg.add_blob("app", &body)).unwrap();
    reg.faults(|f| {
        f.resets = 2;
        f.reset_after_bytes = 700_000;
    });
    let t = TempRoot::new("reg-reset").unwrap();
    let s = store(&t);
    anon()
        .pull_blob(
            &reference(&reg, "app:x"),
            &d,
            Some(body.len() as u64),
            &s,
            &NoProgress,
        )
        .unwrap();
    assert_eq!(s.read_blob(&d).unwrap(), body);
    let ranges: Vec<String> = reg
        .requests()
        .iter()
        .filter_map(|r| r.header("range").map(str::to_owned))
        .collect();
    assert!(!ranges.is_empty(), "resumed with Range");
    assert!(
        ranges
            .iter()
            .all(|r| r.starts_with("bytes=") && r != "bytes=0-")
    );
}

#[test]
fn restarts_when_range_is_ignored() {
    let reg = FakeRegistry::start();
    let body = data(1_500_000, 4);
    let d = Digest::parse(&reg.add_blob("app", &body)).unwrap();
    reg.faults(|f| {
        f.resets = 1;
        f.reset_after_bytes = 500_000;
        f.range_support = false;
    });
    let t = TempRoot::new("reg-norange").unwrap();
    let s = store(&t);
    anon()
        .pull_blob(
            &reference(&reg, "app:x"),
            &d,
            Some(body.len() as u64),
            &s,
            &NoProgress,
        )
        .unwrap();
    assert_eq!(s.read_blob(&d).unwrap(), body);
}

#[test]
fn resumes_partial_left_by_earlier_pull() {
    let reg = FakeRegistry::start();
    let body = data(1_000_000, 5);
    let d = Digest::parse(&reg.add_blob("app", &body)).unwrap();
    let t = TempRoot::new("reg-partial").unwrap();
    let s = store(&t);
    // An earlier pull got 400 kB before it was killed.
    match s
        .ingest(
            d.as_str(),
            rbox_image::store::Expected::new(d.clone(), body.len() as u64),
        )
        .unwrap()
    {
        rbox_image::store::Ingest::Writer(mut w) => {
            std::io::Write::write_all(&mut w, &body[..400_000]).unwrap();
        }
        _ => panic!("fresh store"),
    }
    anon()
        .pull_blob(
            &reference(&reg, "app:x"),
            &d,
            Some(body.len() as u64),
            &s,
            &NoProgress,
        )
        .unwrap();
    assert_eq!(s.read_blob(&d).unwrap(), body);
    let r = reg.requests();
    let get = r.iter().find(|r| r.path.contains("/blobs/")).unwrap();
    assert_eq!(get.header("range"), Some("bytes=400000-"));
}

#[test]
fn wrong_digest_body_is_refused() {
    let reg = FakeRegistry::start();
    let body = data(5000, 6);
    let d = Digest::parse(&reg.add_blob("app", &body)).unwrap();
    reg.faults(|f| f.corrupt_blobs = true);
    let t = TempRoot::new("reg-corrupt").unwrap();
    let s = store(&t);
    let err = anon()
        .pull_blob(&reference(&reg, "app:x"), &d, Some(5000), &s, &NoProgress)
        .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(!s.contains(&d).unwrap());
    assert!(s.ingests().unwrap().is_empty(), "bad partial removed");
}

#[test]
fn slow_body_still_completes() {
    let reg = FakeRegistry::start();
    let body = data(100_000, 7);
    let d = Digest::parse(&reg.add_blob("app", &body)).unwrap();
    reg.faults(|f| f.slow_body = Some(Duration::from_millis(20)));
    let t = TempRoot::new("reg-slow").unwrap();
    let s = store(&t);
    anon()
        .pull_blob(&reference(&reg, "app:x"), &d, None, &s, &NoProgress)
        .unwrap();
    assert!(s.contains(&d).unwrap());
}

#[test]
fn slow_body_past_the_read_timeout_fails_then_resumes() {
    let reg = FakeRegistry::start();
    let body = data(200_000, 8);
    let d = Digest::parse(&reg.add_blob("app", &body)).unwrap();
    reg.faults(|f| f.slow_body = Some(Duration::from_millis(400)));
    let mut c = config();
    c.timeout = Duration::from_millis(150);
    c.retries = 1;
    let t = TempRoot::new("reg-timeout").unwrap();
    let s = store(&t);
    let err = client(c, StaticCredentials::new())
        .pull_blob(&reference(&reg, "app:x"), &d, None, &s, &NoProgress)
        .unwrap_err();
    assert!(matches!(err, Error::Http { .. }), "{err}");
    // What arrived stays for a resume.
    reg.faults(|f| f.slow_body = None);
    anon()
        .pull_blob(&reference(&reg, "app:x"), &d, None, &s, &NoProgress)
        .unwrap();
    assert_eq!(s.read_blob(&d).unwrap(), body);
}

#[test]
fn follows_redirects_without_credentials_and_stops_loops() {
    let reg = FakeRegistry::start();
    let body = data(1000, 9);
    let d = Digest::parse(&reg.add_blob("app", &body)).unwrap();
    reg.faults(|f| f.redirect_blobs = true);
    let t = TempRoot::new("reg-redirect").unwrap();
    let s = store(&t);
    let r = reference(&reg, "app:x");
    anon().pull_blob(&r, &d, None, &s, &NoProgress).unwrap();
    assert!(
        reg.request_lines()
            .iter()
            .any(|(_, p)| p.starts_with("/_data/"))
    );

    let d2 = Digest::parse(&reg.add_blob("app", b"other")).unwrap();
    reg.faults(|f| {
        f.redirect_blobs = false;
        f.redirect_loop = true;
    });
    let err = anon()
        .pull_blob(&r, &d2, None, &s, &NoProgress)
        .unwrap_err();
    assert!(
        matches!(err, Error::RedirectLoop { limit: 10, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("redirect loop"));
}

#[test]
fn manifests_round_trip_and_are_verified() {
    let reg = FakeRegistry::start();
    let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#;
    let d = reg.add_manifest("app", "v1", media::OCI_MANIFEST, m);
    let c = anon();
    let got = c.fetch_manifest(&reference(&reg, "app:v1")).unwrap();
    assert_eq!(got.digest.as_str(), d);
    assert_eq!(got.media_type, media::OCI_MANIFEST);
    assert_eq!(got.bytes, m);
    let accept = reg
        .requests()
        .iter()
        .find(|r| r.path.contains("/manifests/"))
        .and_then(|r| r.header("accept").map(str::to_owned))
        .unwrap();
    for t in [
        media::OCI_MANIFEST,
        media::OCI_INDEX,
        media::DOCKER_MANIFEST,
        media::DOCKER_MANIFEST_LIST,
    ] {
        assert!(accept.contains(t), "{accept}");
    }
    // By digest too.
    let by_digest = reference(&reg, &format!("app@{d}"));
    assert_eq!(c.fetch_manifest(&by_digest).unwrap().bytes, m);
    let head = c
        .head_manifest(&reference(&reg, "app:v1"))
        .unwrap()
        .unwrap();
    assert_eq!(head.digest.unwrap().as_str(), d);
    assert!(
        c.head_manifest(&reference(&reg, "app:nope"))
            .unwrap()
            .is_none()
    );

    let err = c.fetch_manifest(&reference(&reg, "app:nope")).unwrap_err();
    assert!(matches!(err, Error::ManifestUnknown { .. }), "{err}");

    reg.faults(|f| f.wrong_manifest_digest = true);
    let err = c.fetch_manifest(&reference(&reg, "app:v1")).unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");

    // A digest reference is checked against the body itself.
    let other = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    reg.add_manifest("app", &d, media::OCI_INDEX, other);
    reg.faults(|f| f.wrong_manifest_digest = false);
    let err = c.fetch_manifest(&by_digest).unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
}

#[test]
fn manifest_size_cap_and_media_type() {
    let reg = FakeRegistry::start();
    let big = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","pad":"{}"}}"#,
        media::OCI_MANIFEST,
        "x".repeat(5000)
    );
    reg.add_manifest("app", "big", media::OCI_MANIFEST, big.as_bytes());
    reg.add_manifest(
        "app",
        "v1s",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        br#"{"schemaVersion":1}"#,
    );
    let mut cfg = config();
    cfg.max_manifest_size = 4096;
    let c = client(cfg, StaticCredentials::new());
    let err = c.fetch_manifest(&reference(&reg, "app:big")).unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 4096, .. }), "{err}");
    let err = c.fetch_manifest(&reference(&reg, "app:v1s")).unwrap_err();
    assert!(matches!(err, Error::UnknownMediaType { .. }), "{err}");
}

#[test]
fn put_delete_and_paginated_tags() {
    let reg = FakeRegistry::start();
    reg.faults(|f| f.tags_page = 2);
    let c = anon();
    let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    for tag in ["a", "b", "c", "d", "e"] {
        let d = c
            .put_manifest(
                &reference(&reg, &format!("ns/app:{tag}")),
                media::OCI_INDEX,
                m,
            )
            .unwrap();
        assert_eq!(d, Digest::sha256(m));
    }
    let (mt, bytes) = reg.manifest("ns/app", "c").unwrap();
    assert_eq!(mt, media::OCI_INDEX);
    assert_eq!(bytes, m);
    let repo = reference(&reg, "ns/app:a");
    assert_eq!(c.list_tags(&repo).unwrap(), ["a", "b", "c", "d", "e"]);
    let pages = reg
        .request_lines()
        .iter()
        .filter(|(_, p)| p.ends_with("/tags/list"))
        .count();
    assert_eq!(pages, 3);
    let err = c.list_tags(&reference(&reg, "nothing:a")).unwrap_err();
    assert!(matches!(err, Error::RepositoryUnknown { .. }), "{err}");
    c.delete_manifest(&reference(&reg, &format!("ns/app@{}", Digest::sha256(m))))
        .unwrap();
}

fn put_blob_in_store(s: &Store, body: &[u8]) -> Digest {
    s.write_blob(body).unwrap()
}

#[test]
fn push_monolithic_with_head_dedupe_and_mount() {
    let reg = FakeRegistry::start();
    let t = TempRoot::new("reg-push").unwrap();
    let s = store(&t);
    let body = data(1_200_000, 10);
    let d = put_blob_in_store(&s, &body);
    let c = anon();
    let r = reference(&reg, "app:x");
    let p = RecordingProgress::default();
    let n = body.len() as u64;
    assert_eq!(
        c.push_blob(&r, &d, n, &s, None, &p).unwrap(),
        BlobPush::Uploaded
    );
    assert_eq!(reg.blob(d.as_str()).unwrap(), body);
    let puts: Vec<_> = reg
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" || r.method == "PATCH")
        .collect();
    assert_eq!(puts.len(), 1, "one streamed PUT");
    assert_eq!(puts[0].body.len(), body.len());
    assert_eq!(p.events().last().unwrap().state, ProgressState::Done);

    assert_eq!(
        c.push_blob(&r, &d, n, &s, None, &NoProgress).unwrap(),
        BlobPush::Exists
    );

    let other = reference(&reg, "other:x");
    assert_eq!(
        c.push_blob(&other, &d, n, &s, Some(&r), &NoProgress)
            .unwrap(),
        BlobPush::Mounted
    );
    assert!(reg.has_blob("other", d.as_str()));
    let mounts = reg
        .requests()
        .iter()
        .filter(|r| r.query.contains_key("mount"))
        .count();
    assert_eq!(mounts, 1);
}

#[test]
fn push_retries_a_failed_upload_session() {
    let reg = FakeRegistry::start();
    let t = TempRoot::new("reg-push-5xx").unwrap();
    let s = store(&t);
    let body = data(300_000, 11);
    let d = put_blob_in_store(&s, &body);
    reg.faults(|f| {
        f.fail_statuses = vec![500, 503];
        f.fail_path = "/blobs/uploads/u".into();
    });
    anon()
        .push_blob(
            &reference(&reg, "app:x"),
            &d,
            body.len() as u64,
            &s,
            None,
            &NoProgress,
        )
        .unwrap();
    assert_eq!(reg.blob(d.as_str()).unwrap(), body);
}

#[test]
fn chunked_push_in_ecr_mode() {
    let reg = FakeRegistry::start();
    reg.faults(|f| f.ecr = true);
    let t = TempRoot::new("reg-ecr").unwrap();
    let s = store(&t);
    let body = data(12 * 1024 * 1024 + 123, 12);
    let d = put_blob_in_store(&s, &body);
    let n = body.len() as u64;
    let r = reference(&reg, "app:x");
    // Monolithic is refused by ECR.
    let err = anon()
        .push_blob(&r, &d, n, &s, None, &NoProgress)
        .unwrap_err();
    assert!(matches!(err, Error::Status { status: 400, .. }), "{err}");
    // A chunk size under the minimum is raised to 5 MiB.
    let mut cfg = config();
    cfg.chunk_size = Some(1024);
    let c = client(cfg, StaticCredentials::new());
    let p = RecordingProgress::default();
    assert_eq!(
        c.push_blob(&r, &d, n, &s, None, &p).unwrap(),
        BlobPush::Uploaded
    );
    assert_eq!(reg.blob(d.as_str()).unwrap(), body);
    let patches: Vec<_> = reg
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(patches.len(), 3);
    assert_eq!(patches[0].header("content-range"), Some("0-5242879"));
    let uploading = p
        .events()
        .iter()
        .filter(|e| e.state == ProgressState::Uploading)
        .count();
    assert!(uploading >= 3);
}

#[test]
fn basic_auth_and_missing_credentials() {
    let reg = FakeRegistry::start();
    reg.faults(|f| {
        f.auth = FakeAuth::Basic {
            username: "u".into(),
            password: "p".into(),
        }
    });
    let body = data(1000, 13);
    let d = Digest::parse(&reg.add_blob("app", &body)).unwrap();
    let t = TempRoot::new("reg-basic").unwrap();
    let s = store(&t);
    let r = reference(&reg, "app:x");
    let err = anon().pull_blob(&r, &d, None, &s, &NoProgress).unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("run `rbox login {}`", reg.host())),
        "{err}"
    );
    let creds = StaticCredentials::new().with(
        reg.host(),
        Credential::Basic {
            username: "u".into(),
            password: "p".into(),
        },
    );
    client(config(), creds)
        .pull_blob(&r, &d, None, &s, &NoProgress)
        .unwrap();
    assert!(s.contains(&d).unwrap());
}

fn bearer_registry() -> FakeRegistry {
    let reg = FakeRegistry::start();
    reg.faults(|f| {
        f.auth = FakeAuth::Bearer {
            username: "u".into(),
            password: "secret".into(),
        }
    });
    reg
}

#[test]
fn bearer_token_flow_with_basic_and_identity_token() {
    let reg = bearer_registry();
    let body = data(1000, 14);
    let d = Digest::parse(&reg.add_blob("app", &body)).unwrap();
    let r = reference(&reg, "app:x");
    for cred in [
        Credential::Basic {
            username: "u".into(),
            password: "secret".into(),
        },
        Credential::IdentityToken("secret".into()),
    ] {
        let t = TempRoot::new("reg-bearer").unwrap();
        let s = store(&t);
        let c = client(
            config(),
            StaticCredentials::new().with(reg.host(), cred.clone()),
        );
        c.pull_blob(&r, &d, None, &s, &NoProgress).unwrap();
        // The token is cached: a second blob needs no new one.
        let tokens_before = reg
            .request_lines()
            .iter()
            .filter(|(_, p)| p == "/token")
            .count();
        assert!(c.blob_exists(&r, &d).unwrap().is_some());
        let tokens_after = reg
            .request_lines()
            .iter()
            .filter(|(_, p)| p == "/token")
            .count();
        assert_eq!(tokens_before, tokens_after, "{cred:?}");
    }
    let token_reqs: Vec<_> = reg
        .requests()
        .into_iter()
        .filter(|r| r.path == "/token")
        .collect();
    assert!(token_reqs.iter().any(|r| r.method == "GET"
        && r.query.get("scope").map(String::as_str) == Some("repository:app:pull")
        && r.query.get("service").map(String::as_str) == Some("fake-registry")));
    assert!(token_reqs.iter().any(|r| r.method == "POST"));

    let t = TempRoot::new("reg-bearer-anon").unwrap();
    let err = anon()
        .pull_blob(&r, &d, None, &store(&t), &NoProgress)
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
}

#[test]
fn token_expiry_mid_push_renews() {
    let reg = bearer_registry();
    reg.faults(|f| f.token_max_uses = Some(2));
    let t = TempRoot::new("reg-expiry").unwrap();
    let s = store(&t);
    let creds = StaticCredentials::new().with(
        reg.host(),
        Credential::Basic {
            username: "u".into(),
            password: "secret".into(),
        },
    );
    let c = client(config(), creds);
    let r = reference(&reg, "app:x");
    for i in 0..3u8 {
        let body = data(200_000, 20 + i);
        let d = put_blob_in_store(&s, &body);
        c.push_blob(&r, &d, body.len() as u64, &s, None, &NoProgress)
            .unwrap();
        assert_eq!(reg.blob(d.as_str()).unwrap(), body);
    }
    let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    c.put_manifest(&r, media::OCI_INDEX, m).unwrap();
    let tokens = reg
        .request_lines()
        .iter()
        .filter(|(_, p)| p == "/token")
        .count();
    assert!(tokens >= 3, "tokens renewed as they expired ({tokens})");
}

mod common;

use rbox_image::manifest::Platform;

#[test]
fn high_level_push_then_pull_multi_arch() {
    let reg = FakeRegistry::start();
    let t = TempRoot::new("reg-hl").unwrap();
    let src = store(&t);
    let amd = common::make_image(&src, "amd64", 3);
    let arm = common::make_image(&src, "arm64", 2);
    let (index, index_bytes) = common::make_index(&src, &[&amd, &arm]);
    let c = anon();
    let target = reference(&reg, "multi:v1");
    let progress = RecordingProgress::default();
    let pushed = c.push(&src, &index, &target, &progress).unwrap();
    assert_eq!(pushed.target.digest, index);
    assert_eq!(reg.manifest("multi", "v1").unwrap().1, index_bytes);
    assert!(reg.manifest("multi", amd.manifest.as_str()).is_some());
    for (d, _) in amd.blobs.iter().chain(&arm.blobs) {
        assert!(reg.has_blob("multi", d.as_str()), "{d}");
    }
    let states: Vec<_> = progress.events().iter().map(|e| e.state).collect();
    assert!(states.contains(&ProgressState::Waiting));
    assert!(states.contains(&ProgressState::Done));

    // Pull arm64 into a fresh store: only its blobs come.
    let t2 = TempRoot::new("reg-hl-pull").unwrap();
    let dst = store(&t2);
    let arm64 = Platform::new("linux", "arm64", None);
    let pulled = c.pull(&target, &arm64, &dst, &NoProgress).unwrap();
    assert_eq!(pulled.target.digest, index);
    assert_eq!(pulled.manifest.digest, arm.manifest);
    assert_eq!(pulled.config.digest, arm.config);
    assert_eq!(pulled.layers.len(), 2);
    for (d, _) in &arm.blobs {
        assert!(dst.contains(d).unwrap());
    }
    for (d, _) in &amd.blobs[1..] {
        assert!(
            !dst.contains(d).unwrap(),
            "other platform's layer {d} not fetched"
        );
    }
    // The name is recorded, and the store resolves it to the arm64 image.
    let image = dst
        .image_for(&pulled.target, &arm64)
        .expect("the store resolves the pulled image");
    assert_eq!(image.id, arm.config);
    assert_eq!(dst.record(&target).unwrap().unwrap().digest, index);

    // No such platform.
    let s390 = Platform::new("linux", "s390x", None);
    let err = c.pull(&target, &s390, &dst, &NoProgress).unwrap_err();
    assert!(matches!(err, Error::NoPlatform { .. }), "{err}");
    assert!(err.to_string().contains("linux/arm64"), "{err}");

    // Pushing the index from the one-platform store is refused clearly.
    let err = c
        .push(&dst, &index, &reference(&reg, "copy:v1"), &NoProgress)
        .unwrap_err();
    assert!(matches!(err, Error::IncompleteIndex { .. }), "{err}");
    // Its platform manifest alone pushes, mounting from `multi`.
    c.push(
        &dst,
        &arm.manifest,
        &reference(&reg, "multi:arm"),
        &NoProgress,
    )
    .unwrap();
}

#[test]
fn pull_mounts_nothing_and_push_mounts_from_recorded_repository() {
    let reg = FakeRegistry::start();
    let t = TempRoot::new("reg-mount").unwrap();
    let s = store(&t);
    let img = common::make_image(&s, "amd64", 2);
    let c = anon();
    let first = reference(&reg, "first:v1");
    c.push(&s, &img.manifest, &first, &NoProgress).unwrap();
    // Record the name as a pull would, then push elsewhere on the registry.
    let desc = rbox_image::manifest::Descriptor::new(
        media::OCI_MANIFEST,
        img.manifest.clone(),
        img.manifest_bytes.len() as u64,
    );
    s.tag(&first, &desc).unwrap();
    let progress = RecordingProgress::default();
    c.push(&s, &img.manifest, &reference(&reg, "second:v1"), &progress)
        .unwrap();
    let mounted = progress
        .events()
        .iter()
        .filter(|e| e.state == ProgressState::Mounted)
        .count();
    assert_eq!(mounted, img.blobs.len());
}

#[test]
fn pull_in_parallel_survives_faults() {
    let reg = FakeRegistry::start();
    let t = TempRoot::new("reg-par").unwrap();
    let src = store(&t);
    let img = common::make_image(&src, "amd64", 5);
    let c = anon();
    let target = reference(&reg, "par:v1");
    c.push(&src, &img.manifest, &target, &NoProgress).unwrap();
    reg.faults(|f| {
        f.resets = 3;
        f.reset_after_bytes = 30_000;
        f.fail_statuses = vec![503, 429];
        f.fail_path = "/blobs/sha256".into();
        f.retry_after = Some(0);
    });
    let t2 = TempRoot::new("reg-par-pull").unwrap();
    let dst = store(&t2);
    let pulled = c
        .pull(
            &target,
            &Platform::new("linux", "amd64", None),
            &dst,
            &NoProgress,
        )
        .unwrap();
    assert_eq!(pulled.layers.len(), 5);
    for (d, _) in &img.blobs {
        assert_eq!(dst.read_blob(d).unwrap(), src.read_blob(d).unwrap());
    }
}
