//! Manifest GET/HEAD/PUT/DELETE, verification, caps and tag pages.

use rbox_image::Digest;
use rbox_registry::{Error, StaticCredentials, media};
use rbox_test_support::fake_registry::FakeRegistry;

use crate::{anon, client, config, reference};

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

#[test]
fn forbidden_names_the_repository() {
    let reg = FakeRegistry::start();
    reg.faults(|f| {
        f.fail_statuses = vec![403];
        f.fail_path = "/manifests/".into();
    });
    let err = anon()
        .fetch_manifest(&reference(&reg, "secret/app:v1"))
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err}");
    assert!(err.to_string().contains("secret/app"), "{err}");
}
