//! Test images written straight into a store: layers of arbitrary bytes,
//! a config whose diff ids match, an OCI manifest, and indexes over
//! several platforms.

#![allow(dead_code)] // each test target uses a different part

use rbox_image::{Digest, Store};
use rbox_registry::media;

/// An image in a store.
pub struct TestImage {
    pub arch: String,
    pub manifest: Digest,
    pub manifest_bytes: Vec<u8>,
    pub config: Digest,
    /// Config and layers with their sizes.
    pub blobs: Vec<(Digest, u64)>,
}

fn desc(media_type: &str, d: &Digest, size: usize) -> String {
    format!(r#"{{"mediaType":"{media_type}","digest":"{d}","size":{size}}}"#)
}

/// Which media types a test image uses.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Oci,
    Docker,
}

impl Flavor {
    fn manifest(self) -> &'static str {
        match self {
            Self::Oci => media::OCI_MANIFEST,
            Self::Docker => media::DOCKER_MANIFEST,
        }
    }

    fn index(self) -> &'static str {
        match self {
            Self::Oci => media::OCI_INDEX,
            Self::Docker => media::DOCKER_MANIFEST_LIST,
        }
    }

    fn config(self) -> &'static str {
        match self {
            Self::Oci => "application/vnd.oci.image.config.v1+json",
            Self::Docker => "application/vnd.docker.container.image.v1+json",
        }
    }

    fn layer(self) -> &'static str {
        match self {
            Self::Oci => "application/vnd.oci.image.layer.v1.tar",
            Self::Docker => "application/vnd.docker.image.rootfs.diff.tar.gzip",
        }
    }
}

/// An OCI image of `layers` layers for linux/`arch`.
pub fn make_image(store: &Store, arch: &str, layers: usize) -> TestImage {
    make_image_as(store, arch, layers, Flavor::Oci)
}

/// An image of `layers` layers for linux/`arch` with `flavor`'s types.
pub fn make_image_as(store: &Store, arch: &str, layers: usize, flavor: Flavor) -> TestImage {
    let mut blobs = Vec::new();
    let mut layer_descs = Vec::new();
    let mut diff_ids = Vec::new();
    let seed = arch
        .bytes()
        .fold(7u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
    for i in 0..layers {
        let data: Vec<u8> = (0..(100_000 + i * 7919))
            .map(|j| (j as u8) ^ (i as u8).wrapping_mul(17) ^ seed)
            .collect();
        let d = store.write_blob(&data).unwrap();
        layer_descs.push(desc(flavor.layer(), &d, data.len()));
        diff_ids.push(format!("\"{d}\""));
        blobs.push((d, data.len() as u64));
    }
    let config = format!(
        r#"{{"architecture":"{arch}","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
        diff_ids.join(",")
    );
    let cd = store.write_blob(config.as_bytes()).unwrap();
    blobs.insert(0, (cd.clone(), config.len() as u64));
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{},"layers":[{}]}}"#,
        flavor.manifest(),
        desc(flavor.config(), &cd, config.len()),
        layer_descs.join(",")
    );
    let md = store.write_blob(manifest.as_bytes()).unwrap();
    TestImage {
        arch: arch.to_owned(),
        manifest: md,
        manifest_bytes: manifest.into_bytes(),
        config: cd,
        blobs,
    }
}

/// An OCI index over `images`; returns its digest and bytes.
pub fn make_index(store: &Store, images: &[&TestImage]) -> (Digest, Vec<u8>) {
    make_index_as(store, images, Flavor::Oci)
}

/// An index (OCI) or manifest list (Docker) over `images`.
pub fn make_index_as(store: &Store, images: &[&TestImage], flavor: Flavor) -> (Digest, Vec<u8>) {
    let entries: Vec<String> = images
        .iter()
        .map(|i| {
            format!(
                r#"{{"mediaType":"{}","digest":"{}","size":{},"platform":{{"architecture":"{}","os":"linux"}}}}"#,
                flavor.manifest(),
                i.manifest,
                i.manifest_bytes.len(),
                i.arch
            )
        })
        .collect();
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{}]}}"#,
        flavor.index(),
        entries.join(",")
    );
    let d = store.write_blob(index.as_bytes()).unwrap();
    (d, index.into_bytes())
}
