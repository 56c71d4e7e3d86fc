//! Image records, resolution, snapshots and reachability.

use std::fs;
use std::path::Path;

use rbox_test_support::TempRoot;

use super::super::*;
use crate::layer::{self, PackOptions};
use crate::manifest::{ContainerConfig, Descriptor, ImageConfig, Index, Platform, media_type};
use crate::reference::Reference;

/// Packs `dir` as a gzip layer into the store.
pub(crate) fn layer_from(store: &Store, dir: &Path) -> (Descriptor, crate::Digest) {
    let mut buf = Vec::new();
    let packed = layer::pack(dir, &PackOptions::default(), &mut buf).expect("pack");
    let d = store.write_blob(&buf).expect("write layer");
    assert_eq!(d, packed.digest);
    (
        Descriptor::new(media_type::OCI_LAYER_GZIP, d, buf.len() as u64),
        packed.diff_id,
    )
}

/// A two-layer image: `a` = "1" in the base, replaced by "2" and `b`
/// deleted by the top layer. Returns the manifest descriptor.
pub(crate) fn two_layer_image(tmp: &TempRoot, store: &Store, cmd: &str) -> Descriptor {
    let base = tmp.join(format!("base-{cmd}"));
    fs::create_dir_all(base.join("d")).unwrap();
    fs::write(base.join("a"), "1").unwrap();
    fs::write(base.join("b"), "gone").unwrap();
    fs::write(base.join("d/keep"), "k").unwrap();
    let top = tmp.join(format!("top-{cmd}"));
    fs::create_dir_all(&top).unwrap();
    fs::write(top.join("a"), "2").unwrap();
    fs::write(top.join(".wh.b"), "").unwrap();
    let (l1, d1) = layer_from(store, &base);
    let (l2, d2) = layer_from(store, &top);
    let config = ImageConfig {
        architecture: Platform::host().architecture,
        os: "linux".into(),
        config: Some(ContainerConfig {
            cmd: Some(vec![cmd.to_string()]),
            ..Default::default()
        }),
        rootfs: crate::manifest::RootFs {
            kind: "layers".into(),
            diff_ids: vec![d1, d2],
        },
        ..Default::default()
    };
    store.write_image(&config, &[l1, l2]).expect("write image")
}

fn setup() -> (TempRoot, Store) {
    let tmp = TempRoot::new("image-images").expect("temp root");
    let store = Store::open(tmp.join("data")).expect("open store");
    (tmp, store)
}

#[test]
fn write_tag_resolve_and_list() {
    let (tmp, store) = setup();
    let host = Platform::host();
    let m = two_layer_image(&tmp, &store, "sh");
    let name = Reference::parse("busybox").unwrap();
    assert!(store.tag(&name, &m).unwrap().is_none());
    let other = Reference::parse("example.com/x/y:1").unwrap();
    store.tag(&other, &m).unwrap();

    let img = store.resolve("busybox", &host).unwrap();
    assert_eq!(img.manifest_digest, m.digest);
    assert_eq!(img.config.container_config().cmd.unwrap(), ["sh"]);
    assert_eq!(
        store
            .resolve("docker.io/library/busybox:latest", &host)
            .unwrap(),
        img
    );
    assert_eq!(store.resolve(img.id.as_str(), &host).unwrap().id, img.id);
    assert_eq!(store.resolve(img.id.hex(), &host).unwrap().id, img.id);
    assert_eq!(store.resolve(&img.id.hex()[..8], &host).unwrap().id, img.id);
    assert_eq!(store.resolve(m.digest.as_str(), &host).unwrap().id, img.id);
    let by_digest = format!("busybox@{}", m.digest);
    assert_eq!(store.resolve(&by_digest, &host).unwrap().id, img.id);

    for missing in ["nope", "busybox:other", "abc", "ffffffff"] {
        let e = store.resolve(missing, &host).unwrap_err();
        assert!(matches!(e, Error::ImageNotFound(_)), "{missing}: {e}");
        assert!(e.to_string().contains("rbox pull"), "{e}");
    }
    let list = store.images(&host).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].names.len(), 2);
}

#[test]
fn short_id_prefix_must_be_unique() {
    let (tmp, store) = setup();
    let host = Platform::host();
    let mut ids = Vec::new();
    for (i, cmd) in ["a", "b", "c", "d", "e", "f", "g", "h"].iter().enumerate() {
        let m = two_layer_image(&tmp, &store, cmd);
        store
            .tag(&Reference::parse(&format!("img{i}")).unwrap(), &m)
            .unwrap();
        ids.push(store.resolve(&format!("img{i}"), &host).unwrap().id);
    }
    // With 8 ids, some 1-hex prefix is shared only if two agree; a
    // 4-digit prefix is allowed and the full hex always works.
    for id in &ids {
        assert_eq!(&store.resolve(id.hex(), &host).unwrap().id, id);
    }
    let first = ids[0].hex().chars().next().unwrap();
    let sharing = ids.iter().filter(|d| d.hex().starts_with(first)).count();
    let short = format!("{first}{first}{first}");
    // Three digits are never enough.
    assert!(store.resolve(&short, &host).is_err());
    if sharing > 1 {
        // Fabricate an ambiguous 4-digit prefix only when one exists.
        let p4 = &ids[0].hex()[..4];
        if ids.iter().filter(|d| d.hex().starts_with(p4)).count() > 1 {
            assert!(matches!(
                store.resolve(p4, &host).unwrap_err(),
                Error::AmbiguousImage(_)
            ));
        }
    }
}

#[test]
fn index_selects_the_platform() {
    let (tmp, store) = setup();
    let m = two_layer_image(&tmp, &store, "x");
    let mut amd = m.clone();
    amd.platform = Some(Platform::parse("linux/amd64").unwrap());
    let mut arm = m.clone();
    arm.platform = Some(Platform::parse("linux/arm64").unwrap());
    let index = Index {
        schema_version: 2,
        media_type: Some(media_type::OCI_INDEX.into()),
        artifact_type: None,
        manifests: vec![arm, amd],
        subject: None,
        annotations: Default::default(),
    };
    let bytes = index.to_json();
    let d = store.write_blob(&bytes).unwrap();
    let target = Descriptor::new(media_type::OCI_INDEX, d.clone(), bytes.len() as u64);
    store
        .tag(&Reference::parse("multi").unwrap(), &target)
        .unwrap();
    let img = store
        .resolve("multi", &Platform::parse("linux/arm64").unwrap())
        .unwrap();
    assert_eq!(img.manifest_digest, m.digest);
    assert_eq!(img.target.digest, d);
    let e = chain(
        &store
            .resolve("multi", &Platform::parse("linux/riscv64").unwrap())
            .unwrap_err(),
    );
    assert!(e.contains("no image for platform linux/riscv64"), "{e}");
    let reach = store.reachable().unwrap();
    assert!(reach.contains(&d) && reach.contains(&m.digest) && reach.contains(&img.id));
    assert_eq!(reach.len(), 5, "index, manifest, config, two layers");
}

#[test]
fn gc_keeps_what_records_reach() {
    let (tmp, store) = setup();
    let m = two_layer_image(&tmp, &store, "keep");
    store.tag(&Reference::parse("keep").unwrap(), &m).unwrap();
    let junk = store.write_blob(b"unreferenced").unwrap();
    let report = store.gc(&GcOptions::default(), |s| s.reachable()).unwrap();
    assert_eq!(report.removed, vec![junk]);
    let host = Platform::host();
    let img = store.resolve("keep", &host).unwrap();
    for (l, _) in img.layers().unwrap() {
        store.verify_blob(&l.digest).unwrap();
    }
}

#[test]
fn refuses_mismatched_layers() {
    let (tmp, store) = setup();
    let dir = tmp.join("l");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("f"), "x").unwrap();
    let (l, _) = layer_from(&store, &dir);
    let config = ImageConfig {
        rootfs: crate::manifest::RootFs {
            kind: "layers".into(),
            diff_ids: vec![],
        },
        ..Default::default()
    };
    assert!(
        store
            .write_image(&config, std::slice::from_ref(&l))
            .is_err()
    );
    let mut missing = l;
    missing.digest = crate::Digest::sha256(b"not stored");
    let config = ImageConfig {
        rootfs: crate::manifest::RootFs {
            kind: "layers".into(),
            diff_ids: vec![crate::Digest::sha256(b"x")],
        },
        ..Default::default()
    };
    assert!(matches!(
        store.write_image(&config, &[missing]),
        Err(Error::BlobNotFound(_))
    ));
}

#[test]
fn flatten_applies_whiteouts() {
    let (tmp, store) = setup();
    let m = two_layer_image(&tmp, &store, "flat");
    store.tag(&Reference::parse("flat").unwrap(), &m).unwrap();
    let img = store.resolve("flat", &Platform::host()).unwrap();
    let out = tmp.join("rootfs");
    fs::create_dir_all(&out).unwrap();
    store.flatten_into(&img, &out).unwrap();
    assert_eq!(fs::read_to_string(out.join("a")).unwrap(), "2");
    assert!(!out.join("b").exists());
    assert_eq!(fs::read_to_string(out.join("d/keep")).unwrap(), "k");
}

#[test]
fn layer_dirs_unpack_once_and_check_diff_ids() {
    if !rbox_test_support::require_root("layer_dirs_unpack_once_and_check_diff_ids") {
        return;
    }
    let (tmp, store) = setup();
    let m = two_layer_image(&tmp, &store, "snap");
    store.tag(&Reference::parse("snap").unwrap(), &m).unwrap();
    let img = store.resolve("snap", &Platform::host()).unwrap();
    let dirs = store.layer_dirs(&img).unwrap();
    assert_eq!(dirs.len(), 2);
    assert_eq!(fs::read_to_string(dirs[0].join("a")).unwrap(), "1");
    assert_eq!(fs::read_to_string(dirs[1].join("a")).unwrap(), "2");
    // The top layer's whiteout is an overlay whiteout (char 0/0).
    use std::os::unix::fs::FileTypeExt;
    let wh = fs::symlink_metadata(dirs[1].join("b")).unwrap();
    assert!(wh.file_type().is_char_device());
    // Second call reuses the directories (a marker survives).
    fs::write(dirs[0].join(".marker"), "").unwrap();
    assert_eq!(store.layer_dirs(&img).unwrap(), dirs);
    assert!(dirs[0].join(".marker").exists());

    // Prune keeps what is asked or held and removes the rest.
    let chain = img.config.chain_ids();
    store.hold_layers("ctr1", &chain[1..]).unwrap();
    assert!(store.hold_layers("../x", &chain).is_err());
    let keep: std::collections::BTreeSet<_> = chain.iter().take(1).cloned().collect();
    assert!(store.prune_layers(&keep).unwrap().is_empty());
    store.release_layers("ctr1").unwrap();
    store.release_layers("ctr1").unwrap();
    let removed = store.prune_layers(&keep).unwrap();
    assert_eq!(removed.len(), 1);
    assert!(dirs[0].exists() && !dirs[1].exists());

    // A config that lies about a diff id fails and leaves nothing.
    let mut lying = img.clone();
    lying.config.rootfs.diff_ids[1] = crate::Digest::sha256(b"lie");
    let e = store.layer_dirs(&lying).unwrap_err();
    assert!(matches!(e, Error::Snapshot { .. }), "{e}");
    let names: Vec<String> = fs::read_dir(store.layers_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.ends_with(".lock") && n != "holds")
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
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
fn overlay_shows_the_image_and_collects_changes_in_upper() {
    if !rbox_test_support::require_root("overlay_shows_the_image_and_collects_changes_in_upper") {
        return;
    }
    let (tmp, store) = setup();
    let m = two_layer_image(&tmp, &store, "ovl");
    store.tag(&Reference::parse("ovl").unwrap(), &m).unwrap();
    let img = store.resolve("ovl", &Platform::host()).unwrap();
    let lowers = store.layer_dirs(&img).unwrap();
    let (upper, work, merged) = (tmp.join("upper"), tmp.join("work"), tmp.join("merged"));
    let ovl = store
        .mount_overlay(&lowers, &upper, &work, &merged, OverlayOptions::default())
        .unwrap();
    assert_eq!(fs::read_to_string(merged.join("a")).unwrap(), "2");
    assert!(!merged.join("b").exists(), "whiteout hides b");
    assert_eq!(fs::read_to_string(merged.join("d/keep")).unwrap(), "k");
    fs::write(merged.join("new"), "n").unwrap();
    assert_eq!(fs::read_to_string(upper.join("new")).unwrap(), "n");
    assert!(!lowers.iter().any(|l| l.join("new").exists()));
    ovl.unmount().unwrap();
    assert!(!merged.join("a").exists());

    // No lowers: an empty image (FROM scratch).
    let ovl = store
        .mount_overlay(
            &[],
            &tmp.join("u2"),
            &tmp.join("w2"),
            &tmp.join("m2"),
            OverlayOptions::default(),
        )
        .unwrap();
    assert_eq!(fs::read_dir(ovl.target()).unwrap().count(), 0);
    drop(ovl);
}

#[test]
fn overlay_with_many_layers_uses_short_links() {
    if !rbox_test_support::require_root("overlay_with_many_layers_uses_short_links") {
        return;
    }
    let (tmp, store) = setup();
    let mut lowers = Vec::new();
    for i in 0..40u32 {
        let d = store.layer_dir(&crate::Digest::sha256(&i.to_le_bytes()));
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join(format!("f{i}")), "").unwrap();
        lowers.push(d);
    }
    let long: usize = lowers.iter().map(|l| l.as_os_str().len() + 1).sum();
    assert!(long > 4000, "the test must need short links ({long} bytes)");
    let merged = tmp.join("merged");
    let ovl = store
        .mount_overlay(
            &lowers,
            &tmp.join("u"),
            &tmp.join("w"),
            &merged,
            OverlayOptions { volatile: true },
        )
        .unwrap();
    assert_eq!(fs::read_dir(&merged).unwrap().count(), 40);
    drop(ovl);
    assert_eq!(
        fs::read_dir(store.layers_dir().join("l")).unwrap().count(),
        40
    );
}
