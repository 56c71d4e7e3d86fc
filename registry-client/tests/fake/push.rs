//! Blob uploads: monolithic, dedupe, mounts, session restarts, ECR chunks.

use rbox_registry::{
    BlobPush, Error, NoProgress, ProgressState, RecordingProgress, StaticCredentials,
};
use rbox_test_support::TempRoot;
use rbox_test_support::fake_registry::FakeRegistry;

use crate::{anon, client, config, data, put_blob_in_store, reference, store};

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
