//! Fault tests against the in-process fake registry: each test starts
//! its own fake on a free loopback port.

use std::sync::Arc;
use std::time::Duration;

use rbox_image::{Digest, Reference, Store};
use rbox_registry::{Client, ClientConfig, StaticCredentials};
use rbox_test_support::TempRoot;
use rbox_test_support::fake_registry::FakeRegistry;

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod blobs;
mod image;
mod manifests;
mod push;

pub(crate) fn config() -> ClientConfig {
    let mut c = ClientConfig::default();
    // The test images' layers are random bytes, not tars: no unpacking.
    c.unpack_layers = false;
    c.backoff = Duration::from_millis(5);
    c.max_backoff = Duration::from_millis(50);
    c.retries = 3;
    c.certs_dirs = Vec::new();
    c
}

pub(crate) fn client(config: ClientConfig, creds: StaticCredentials) -> Client {
    Client::new(config, Arc::new(creds))
}

pub(crate) fn anon() -> Client {
    client(config(), StaticCredentials::new())
}

pub(crate) fn store(t: &TempRoot) -> Store {
    Store::open(t.join("store")).expect("open store")
}

pub(crate) fn reference(reg: &FakeRegistry, repo_tag: &str) -> Reference {
    Reference::parse(&format!("{}/{repo_tag}", reg.host())).expect("valid reference")
}

pub(crate) fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

pub(crate) fn put_blob_in_store(s: &Store, body: &[u8]) -> Digest {
    s.write_blob(body).unwrap()
}
