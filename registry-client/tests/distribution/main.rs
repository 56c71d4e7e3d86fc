//! Integration tests against Debian's real registry (distribution 2.8)
//! on loopback: plain HTTP, TLS with a throw-away CA, htpasswd basic auth
//! and bearer tokens from a token server of our own. Each test starts its
//! own registry and kills it on drop; without /usr/bin/docker-registry
//! they print SKIP (or fail under RBOX_REQUIRE_PRIVILEGED=1).

#[path = "../common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use rbox_image::manifest::Platform;
use rbox_image::{Digest, Reference, Store};
use rbox_registry::{
    BlobPush, Client, ClientConfig, Credential, Error, NoProgress, StaticCredentials, media,
};
use rbox_test_support::TempRoot;
use rbox_test_support::distribution::{Distribution, Mode, PASSWORD, TLS_HOST, USER, available};

fn config(reg: &Distribution) -> ClientConfig {
    let mut c = ClientConfig::default();
    // The test images' layers are random bytes, not tars: no unpacking.
    c.unpack_layers = false;
    c.backoff = Duration::from_millis(10);
    c.retries = 2;
    c.certs_dirs = Vec::new();
    if matches!(reg.mode, Mode::Tls | Mode::MutualTls) {
        c.resolve = vec![(TLS_HOST.to_owned(), reg.addr())];
        let certs_d = reg.certs_d();
        if reg.mode == Mode::MutualTls {
            reg.add_client_cert(&certs_d);
        }
        c.certs_dirs = vec![certs_d];
    }
    c
}

fn creds(reg: &Distribution) -> StaticCredentials {
    StaticCredentials::new().with(
        reg.host(),
        Credential::Basic {
            username: USER.into(),
            password: PASSWORD.into(),
        },
    )
}

fn client(reg: &Distribution) -> Client {
    Client::new(config(reg), Arc::new(creds(reg)))
}

fn push_image(
    c: &Client,
    store: &Store,
    target: &Reference,
    blobs: &[(Digest, u64)],
    manifest: &[u8],
) {
    for (d, size) in blobs {
        c.push_blob(target, d, *size, store, None, &NoProgress)
            .unwrap();
    }
    c.put_manifest(target, media::OCI_MANIFEST, manifest)
        .unwrap();
}

fn pull_and_compare(c: &Client, source: &Store, r: &Reference) {
    let t = TempRoot::new("rbox-pull").unwrap();
    let dest = Store::open(t.join("store")).unwrap();
    let m = c.fetch_manifest(r).unwrap();
    if media::is_index_type(&m.media_type) {
        let index: serde_json::Value = serde_json::from_slice(&m.bytes).unwrap();
        for child in index["manifests"].as_array().unwrap() {
            let d = Digest::parse(child["digest"].as_str().unwrap()).unwrap();
            pull_and_compare(c, source, &r.with_digest(d));
        }
        return;
    }
    let v: serde_json::Value = serde_json::from_slice(&m.bytes).unwrap();
    let mut descs = vec![v["config"].clone()];
    descs.extend(v["layers"].as_array().unwrap().iter().cloned());
    for desc in descs {
        let d = Digest::parse(desc["digest"].as_str().unwrap()).unwrap();
        let size = desc["size"].as_u64().unwrap();
        c.pull_blob(r, &d, Some(size), &dest, &NoProgress).unwrap();
        assert_eq!(dest.read_blob(&d).unwrap(), source.read_blob(&d).unwrap());
    }
}

/// Push a three-layer image and a two-arch index, read them back, list
/// tags, mount across repositories, delete.
fn round_trip(reg: &Distribution) {
    let c = client(reg);
    let t = TempRoot::new("rbox-push").unwrap();
    let store = Store::open(t.join("store")).unwrap();
    let host = reg.host();

    let img = common::make_image(&store, "amd64", 3);
    let (md, manifest, blobs) = (
        img.manifest.clone(),
        img.manifest_bytes.clone(),
        img.blobs.clone(),
    );
    let single = Reference::parse(&format!("{host}/rbox/single:v1")).unwrap();
    push_image(&c, &store, &single, &blobs, &manifest);
    let got = c.fetch_manifest(&single).unwrap();
    assert_eq!(got.digest, md);
    assert_eq!(got.media_type, media::OCI_MANIFEST);
    pull_and_compare(&c, &store, &single);

    // Multi-arch through the high-level API: push an index of two
    // platforms, pull each platform into a fresh store.
    let multi = Reference::parse(&format!("{host}/rbox/multi:v1")).unwrap();
    let amd = common::make_image(&store, "amd64", 2);
    let arm = common::make_image(&store, "arm64", 3);
    let (index, index_bytes) = common::make_index(&store, &[&amd, &arm]);
    let pushed = c.push(&store, &index, &multi, &NoProgress).unwrap();
    assert_eq!(pushed.target.digest, index);
    let got = c.fetch_manifest(&multi).unwrap();
    assert_eq!(got.media_type, media::OCI_INDEX);
    assert_eq!(got.bytes, index_bytes);
    pull_and_compare(&c, &store, &multi);
    for img in [&amd, &arm] {
        let t = TempRoot::new("rbox-hl-pull").unwrap();
        let dest = Store::open(t.join("store")).unwrap();
        let platform = Platform::new("linux", &img.arch, None);
        let pulled = c.pull(&multi, &platform, &dest, &NoProgress).unwrap();
        assert_eq!(pulled.manifest.digest, img.manifest);
        let image = dest.image_for(&pulled.target, &platform).unwrap();
        assert_eq!(image.id, img.config);
        assert_eq!(image.layers().unwrap().len(), pulled.layers.len());
        for (d, _) in &img.blobs {
            assert_eq!(dest.read_blob(d).unwrap(), store.read_blob(d).unwrap());
        }
    }

    // Second push: every blob is already there.
    for (d, size) in &blobs {
        let r = c
            .push_blob(&single, d, *size, &store, None, &NoProgress)
            .unwrap();
        assert_eq!(r, BlobPush::Exists);
    }
    // Cross-repository mount.
    let other = Reference::parse(&format!("{host}/rbox/other:v1")).unwrap();
    for (d, size) in &blobs {
        let r = c
            .push_blob(&other, d, *size, &store, Some(&single), &NoProgress)
            .unwrap();
        assert_eq!(r, BlobPush::Mounted, "{d}");
    }
    c.put_manifest(&other, media::OCI_MANIFEST, &manifest)
        .unwrap();

    c.put_manifest(
        &single.with_tag("v2").unwrap(),
        media::OCI_MANIFEST,
        &manifest,
    )
    .unwrap();
    let mut tags = c.list_tags(&single).unwrap();
    tags.sort();
    assert_eq!(tags, ["v1", "v2"]);

    let head = c.head_manifest(&single).unwrap().unwrap();
    assert_eq!(head.digest, Some(md.clone()));
    c.delete_manifest(&single.with_digest(md)).unwrap();
    let err = c.fetch_manifest(&single).unwrap_err();
    assert!(matches!(err, Error::ManifestUnknown { .. }), "{err}");
}

#[test]
fn distribution_http_round_trip() {
    if !available("distribution_http_round_trip", Mode::Http) {
        return;
    }
    let reg = Distribution::start(Mode::Http);
    round_trip(&reg);
}

#[test]
fn distribution_docker_manifest_list() {
    if !available("distribution_docker_manifest_list", Mode::Http) {
        return;
    }
    let reg = Distribution::start(Mode::Http);
    let c = client(&reg);
    let t = TempRoot::new("rbox-docker-types").unwrap();
    let store = Store::open(t.join("store")).unwrap();
    let amd = common::make_image_as(&store, "amd64", 2, common::Flavor::Docker);
    let arm = common::make_image_as(&store, "arm64", 1, common::Flavor::Docker);
    let (list, _) = common::make_index_as(&store, &[&amd, &arm], common::Flavor::Docker);
    let r = Reference::parse(&format!("{}/rbox/docker:v1", reg.host())).unwrap();
    c.push(&store, &list, &r, &NoProgress).unwrap();
    let got = c.fetch_manifest(&r).unwrap();
    assert_eq!(got.media_type, media::DOCKER_MANIFEST_LIST);
    assert_eq!(got.digest, list);
    let t2 = TempRoot::new("rbox-docker-pull").unwrap();
    let dest = Store::open(t2.join("store")).unwrap();
    let arm64 = Platform::new("linux", "arm64", None);
    let pulled = c.pull(&r, &arm64, &dest, &NoProgress).unwrap();
    assert_eq!(pulled.manifest.media_type, media::DOCKER_MANIFEST);
    assert_eq!(
        dest.image_for(&pulled.target, &arm64).unwrap().id,
        arm.config
    );
}

#[test]
fn distribution_tls_round_trip() {
    if !available("distribution_tls_round_trip", Mode::Tls) {
        return;
    }
    let reg = Distribution::start(Mode::Tls);
    round_trip(&reg);

    // Without the CA the handshake fails with a hint.
    let mut cfg = config(&reg);
    cfg.certs_dirs = Vec::new();
    cfg.retries = 0;
    let c = Client::new(cfg.clone(), Arc::new(StaticCredentials::new()));
    let err = c.ping(&reg.host()).unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("--tls-verify=false") && msg.contains("certs.d"),
        "{msg}"
    );

    // A host listed as insecure skips verification (docker's
    // insecure-registries).
    let mut insecure = cfg.clone();
    insecure.insecure_registries = vec![reg.host()];
    Client::new(insecure, Arc::new(StaticCredentials::new()))
        .ping(&reg.host())
        .unwrap();

    // --tls-verify=false gets through.
    cfg.tls_verify = false;
    let c = Client::new(cfg, Arc::new(StaticCredentials::new()));
    c.ping(&reg.host()).unwrap();
}

#[test]
fn distribution_htpasswd_round_trip() {
    if !available("distribution_htpasswd_round_trip", Mode::Htpasswd) {
        return;
    }
    let reg = Distribution::start(Mode::Htpasswd);
    round_trip(&reg);

    let anon = Client::new(config(&reg), Arc::new(StaticCredentials::new()));
    let r = Reference::parse(&format!("{}/rbox/single:v2", reg.host())).unwrap();
    let err = anon.fetch_manifest(&r).unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");

    let wrong = StaticCredentials::new().with(
        reg.host(),
        Credential::Basic {
            username: USER.into(),
            password: "wrong".into(),
        },
    );
    let err = Client::new(config(&reg), Arc::new(wrong))
        .fetch_manifest(&r)
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
}

#[test]
fn distribution_token_round_trip() {
    if !available("distribution_token_round_trip", Mode::Token) {
        return;
    }
    let reg = Distribution::start(Mode::Token);
    round_trip(&reg);

    let anon = Client::new(config(&reg), Arc::new(StaticCredentials::new()));
    let r = Reference::parse(&format!("{}/rbox/single:v2", reg.host())).unwrap();
    let err = anon.fetch_manifest(&r).unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
}

#[test]
fn distribution_client_certificate() {
    if !available("distribution_client_certificate", Mode::MutualTls) {
        return;
    }
    let reg = Distribution::start(Mode::MutualTls);
    // certs.d holds ca.crt, client.cert and client.key.
    let c = client(&reg);
    c.ping(&reg.host()).unwrap();
    let t = TempRoot::new("rbox-mtls").unwrap();
    let store = Store::open(t.join("store")).unwrap();
    let img = common::make_image(&store, "amd64", 1);
    let r = Reference::parse(&format!("{}/rbox/mtls:v1", reg.host())).unwrap();
    c.push(&store, &img.manifest, &r, &NoProgress).unwrap();
    assert_eq!(c.fetch_manifest(&r).unwrap().digest, img.manifest);

    // Without the identity the server refuses the handshake.
    let mut cfg = config(&reg);
    let bare = reg.dir.join("certs-no-client");
    let host_dir = bare.join(reg.host());
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::copy(reg.dir.join("ca.crt"), host_dir.join("ca.crt")).unwrap();
    cfg.certs_dirs = vec![bare];
    cfg.retries = 0;
    let err = Client::new(cfg, Arc::new(StaticCredentials::new()))
        .fetch_manifest(&r)
        .unwrap_err();
    assert!(
        matches!(err, Error::Tls { .. } | Error::Http { .. }),
        "{err}"
    );
}
