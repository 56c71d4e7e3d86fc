//! save/load round trips and hostile archives.

use std::io::Write;

use rbox_test_support::TempRoot;

use super::*;
use crate::error::Error;
use crate::manifest::Platform;
use crate::reference::Reference;
use crate::store::Store;
use crate::store::tests_support::two_layer_image;

fn stores() -> (TempRoot, Store, Store) {
    let tmp = TempRoot::new("image-archive").expect("temp root");
    let a = Store::open(tmp.join("a")).unwrap();
    let b = Store::open(tmp.join("b")).unwrap();
    (tmp, a, b)
}

fn saved(format: SaveFormat) -> (TempRoot, Store, Store, Vec<u8>, crate::Digest) {
    let (tmp, a, b) = stores();
    let m = two_layer_image(&tmp, &a, "sh");
    let name = Reference::parse("example.com/app:1").unwrap();
    a.tag(&name, &m).unwrap();
    let image = a.resolve("example.com/app:1", &Platform::host()).unwrap();
    let id = image.id.clone();
    let mut out = Vec::new();
    save(
        &a,
        &[SaveItem {
            image,
            names: vec![name],
        }],
        format,
        &mut out,
    )
    .unwrap();
    (tmp, a, b, out, id)
}

fn entry_names(archive: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(archive);
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn docker_archive_round_trip() {
    let (_tmp, _a, b, out, id) = saved(SaveFormat::Docker);
    let names = entry_names(&out);
    for want in ["manifest.json", "index.json", "oci-layout", "repositories"] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    let loaded = load(&b, &out[..]).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].names[0].to_string(), "example.com/app:1");
    let img = b.resolve("example.com/app:1", &Platform::host()).unwrap();
    assert_eq!(img.id, id, "the image id survives");
    // Layers come back uncompressed (docker's format).
    assert!(
        img.manifest
            .layers
            .iter()
            .all(|l| l.media_type == crate::manifest::media_type::OCI_LAYER)
    );
    for (l, diff) in img.layers().unwrap() {
        assert_eq!(l.digest, diff);
    }
    // Loading twice is harmless.
    load(&b, &out[..]).unwrap();
}

#[test]
fn oci_archive_round_trip_keeps_the_manifest_digest() {
    let (_tmp, a, b, out, id) = saved(SaveFormat::Oci);
    assert!(!entry_names(&out).iter().any(|n| n == "manifest.json"));
    let loaded = load(&b, &out[..]).unwrap();
    let img = b.resolve("example.com/app:1", &Platform::host()).unwrap();
    assert_eq!(img.id, id);
    let orig = a.resolve("example.com/app:1", &Platform::host()).unwrap();
    assert_eq!(img.manifest_digest, orig.manifest_digest);
    assert_eq!(loaded[0].target.digest, orig.manifest_digest);
}

#[test]
fn load_detects_compression() {
    let (_tmp, _a, b, out, id) = saved(SaveFormat::Docker);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&out).unwrap();
    let gz = gz.finish().unwrap();
    load(&b, &gz[..]).unwrap();
    assert_eq!(
        b.resolve("example.com/app:1", &Platform::host())
            .unwrap()
            .id,
        id
    );
    let zst = zstd::encode_all(&out[..], 1).unwrap();
    let c = Store::open(b.root().with_file_name("c")).unwrap();
    load(&c, &zst[..]).unwrap();
    assert_eq!(
        c.resolve("example.com/app:1", &Platform::host())
            .unwrap()
            .id,
        id
    );
}

/// Rewrites an archive, replacing or adding entries.
fn rewrite(
    archive: &[u8],
    edit: impl Fn(&str, Vec<u8>) -> Option<Vec<u8>>,
    extra: &[(&str, Vec<u8>)],
) -> Vec<u8> {
    let mut out = tar::Builder::new(Vec::new());
    let mut a = tar::Archive::new(archive);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if let Some(d) = edit(&name, data) {
            let mut h = tar::Header::new_gnu();
            h.set_size(d.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            out.append_data(&mut h, &name, &d[..]).unwrap();
        }
    }
    for (name, d) in extra {
        let mut h = tar::Header::new_gnu();
        h.set_size(d.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        out.append_data(&mut h, name, &d[..]).unwrap();
    }
    out.into_inner().unwrap()
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[test]
fn hostile_archives_are_refused_and_record_nothing() {
    let (_tmp, _a, b, out, _) = saved(SaveFormat::Docker);
    let docker_manifest: serde_json::Value = {
        let mut a = tar::Archive::new(&out[..]);
        let mut v = None;
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap().to_str() == Some("manifest.json") {
                v = Some(serde_json::from_reader(&mut e).unwrap());
            }
        }
        v.unwrap()
    };
    let layer0 = docker_manifest[0]["Layers"][0]
        .as_str()
        .unwrap()
        .to_string();
    let config = docker_manifest[0]["Config"].as_str().unwrap().to_string();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "not a tar",
            b"hello world, not a tar archive at all....".repeat(20),
            "not a readable tar archive",
        ),
        (
            "no documents",
            rewrite(
                &out,
                |n, d| (n != "manifest.json" && n != "index.json").then_some(d),
                &[],
            ),
            "neither manifest.json",
        ),
        (
            "missing layer",
            rewrite(&out, |n, d| (n != layer0).then_some(d), &[]),
            "not in the archive",
        ),
        (
            "tampered layer",
            rewrite(
                &out,
                |n, mut d| {
                    if n == layer0 {
                        let last = d.len() - 1;
                        d[last] ^= 1;
                    }
                    Some(d)
                },
                &[],
            ),
            "does not hash to its name",
        ),
        (
            "malformed manifest.json",
            rewrite(
                &out,
                |n, d| {
                    Some(if n == "manifest.json" {
                        b"{[".to_vec()
                    } else {
                        d
                    })
                },
                &[],
            ),
            "manifest.json is malformed",
        ),
        (
            "config path climbing out",
            rewrite(
                &out,
                |n, d| {
                    Some(if n == "manifest.json" {
                        String::from_utf8(d)
                            .unwrap()
                            .replace(&config, "../../etc/passwd")
                            .into_bytes()
                    } else {
                        d
                    })
                },
                &[],
            ),
            "not in the archive",
        ),
        (
            "bad tag",
            rewrite(
                &out,
                |n, d| {
                    Some(if n == "manifest.json" {
                        String::from_utf8(d)
                            .unwrap()
                            .replace("example.com/app:1", "UPPER/Case:!!")
                            .into_bytes()
                    } else {
                        d
                    })
                },
                &[],
            ),
            "RepoTags",
        ),
        (
            "huge manifest.json",
            rewrite(
                &out,
                |n, d| (n != "manifest.json").then_some(d),
                &[("manifest.json", vec![b' '; 9 << 20])],
            ),
            "more than",
        ),
    ];
    for (what, archive, want) in cases {
        let e = load(&b, &archive[..]).expect_err(what);
        let msg = chain(&e);
        assert!(msg.contains(want), "{what}: {msg:?} lacks {want:?}");
        assert!(
            b.records().unwrap().is_empty(),
            "{what}: recorded something"
        );
        let _ = matches!(e, Error::InvalidArchive(_));
    }
}

#[test]
fn entry_climbing_out_is_refused() {
    let (_tmp, _a, b, out, _) = saved(SaveFormat::Oci);
    let evil = rewrite(&out, Some_, &[]);
    // tar::Builder refuses to write "../x" itself, so write the header by hand.
    let mut raw = evil[..evil.len() - 1024].to_vec();
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..9].copy_from_slice(b"../../x.j");
    h.set_size(2);
    h.set_mode(0o644);
    h.set_cksum();
    raw.extend_from_slice(h.as_bytes());
    raw.extend_from_slice(b"{}");
    raw.extend(std::iter::repeat_n(0u8, 510 + 1024));
    let e = load(&b, &raw[..]).unwrap_err();
    assert!(chain(&e).contains("climbs above"), "{}", chain(&e));
}

#[allow(non_snake_case)]
fn Some_(_: &str, d: Vec<u8>) -> Option<Vec<u8>> {
    Some(d)
}
