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

/// An image of `layers` layers for linux/`arch`.
pub fn make_image(store: &Store, arch: &str, layers: usize) -> TestImage {
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
        layer_descs.push(desc(
            "application/vnd.oci.image.layer.v1.tar",
            &d,
            data.len(),
        ));
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
        media::OCI_MANIFEST,
        desc(
            "application/vnd.oci.image.config.v1+json",
            &cd,
            config.len()
        ),
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
    let entries: Vec<String> = images
        .iter()
        .map(|i| {
            format!(
                r#"{{"mediaType":"{}","digest":"{}","size":{},"platform":{{"architecture":"{}","os":"linux"}}}}"#,
                media::OCI_MANIFEST,
                i.manifest,
                i.manifest_bytes.len(),
                i.arch
            )
        })
        .collect();
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{}]}}"#,
        media::OCI_INDEX,
        entries.join(",")
    );
    let d = store.write_blob(index.as_bytes()).unwrap();
    (d, index.into_bytes())
}
