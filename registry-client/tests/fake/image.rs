//! High-level pull and push of whole images.

use rbox_image::manifest::Platform;
use rbox_registry::{Error, NoProgress, ProgressState, RecordingProgress, media};
use rbox_test_support::TempRoot;
use rbox_test_support::fake_registry::FakeRegistry;

use crate::{anon, common, reference, store};

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
