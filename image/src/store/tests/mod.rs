pub(crate) mod images;
mod process;

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Barrier};

use rbox_test_support::TempRoot;

use super::*;
use crate::error::DigestError;
use crate::reference::Reference;

/// Deterministic, incompressible-looking test content.
pub(crate) fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

fn store() -> (TempRoot, Store) {
    let tmp = TempRoot::new("image-store").expect("temp root");
    let store = Store::open(tmp.join("data")).expect("open store");
    (tmp, store)
}

fn writer(store: &Store, reference: &str, expected: Expected) -> Box<IngestWriter> {
    match store.ingest(reference, expected).expect("ingest") {
        Ingest::Writer(w) => w,
        Ingest::Exists(info) => panic!("unexpectedly present: {info:?}"),
    }
}

fn no_partials(store: &Store) {
    assert_eq!(store.ingests().expect("ingests"), Vec::new());
    let left: Vec<_> = fs::read_dir(store.root().join(INGEST))
        .expect("ingest dir")
        .collect();
    assert!(left.is_empty(), "ingest/ not empty: {left:?}");
}

#[test]
fn writes_reads_and_verifies_a_blob() {
    let (_tmp, store) = store();
    let data = content(100_000, 1);
    let digest = store.write_blob(&data).expect("write");
    assert_eq!(digest, Digest::sha256(&data));
    assert!(store.contains(&digest).expect("contains"));
    assert_eq!(store.read_blob(&digest).expect("read"), data);
    assert_eq!(store.verify_blob(&digest).expect("verify"), 100_000);
    assert_eq!(store.blob_size(&digest).expect("size"), 100_000);
    assert_eq!(store.blobs().expect("list"), vec![digest.clone()]);
    let mode = fs::metadata(store.blob_path(&digest))
        .expect("stat")
        .permissions();
    assert_eq!(mode.mode() & 0o777, 0o444, "blobs are read-only");
    no_partials(&store);
    // Writing it again is a no-op that reports the blob.
    assert_eq!(store.write_blob(&data).expect("again"), digest);
}

#[test]
fn missing_blob_is_a_clear_error() {
    let (_tmp, store) = store();
    let d = Digest::sha256(b"nothing");
    assert!(!store.contains(&d).expect("contains"));
    let e = store.open_blob(&d).expect_err("missing");
    assert!(matches!(&e, Error::BlobNotFound(x) if *x == d), "{e}");
    assert!(e.to_string().contains(d.as_str()));
    assert!(!store.delete_blob(&d).expect("delete"));
}

#[test]
fn corrupted_blob_is_detected_on_read() {
    let (_tmp, store) = store();
    let digest = store.write_blob(b"manifest").expect("write");
    let path = store.blob_path(&digest);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
    fs::write(&path, b"manifesT").expect("corrupt");
    let e = store.read_blob(&digest).expect_err("corrupt");
    assert!(
        matches!(
            &e,
            Error::Digest {
                source: DigestError::Mismatch { .. },
                ..
            }
        ),
        "{e}"
    );
    assert!(store.verify_blob(&digest).is_err());
}

#[test]
fn digest_mismatch_removes_the_partial_and_stores_nothing() {
    let (_tmp, store) = store();
    let want = Digest::sha256(b"right");
    let mut w = writer(&store, "pull-1", Expected::new(want.clone(), 5));
    w.write_all(b"wrong").expect("write");
    let e = w.commit().expect_err("mismatch");
    assert!(
        matches!(&e, Error::Digest { source: DigestError::Mismatch { expected, .. }, .. } if *expected == want),
        "{e}"
    );
    assert!(e.to_string().contains(want.as_str()), "{e}");
    assert!(!store.contains(&want).expect("contains"));
    assert!(store.blobs().expect("list").is_empty());
    no_partials(&store);
}

#[test]
fn size_mismatch_is_refused_early_and_at_commit() {
    let (_tmp, store) = store();
    let data = content(1000, 2);
    let digest = Digest::sha256(&data);
    // Too long: the write past the size fails without writing.
    let mut w = writer(&store, "long", Expected::new(digest.clone(), 999));
    let e = w.write_all(&data).expect_err("past size");
    let e = w.write_error(e);
    assert!(
        matches!(
            &e,
            Error::Digest {
                source: DigestError::SizeMismatch {
                    expected: 999,
                    actual: 1000
                },
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(w.offset(), 0);
    w.abort().expect("abort");
    // Too short: commit says so.
    let mut w = writer(&store, "short", Expected::new(digest.clone(), 1000));
    w.write_all(&data[..10]).expect("write");
    let e = w.commit().expect_err("short");
    assert!(
        matches!(
            &e,
            Error::Digest {
                source: DigestError::SizeMismatch {
                    expected: 1000,
                    actual: 10
                },
                ..
            }
        ),
        "{e}"
    );
    no_partials(&store);
}

#[test]
fn a_dropped_writer_leaves_a_partial_that_resumes() {
    let (_tmp, store) = store();
    let data = content(300_000, 3);
    let digest = Digest::sha256(&data);
    let expected = Expected::new(digest.clone(), data.len() as u64);
    {
        let mut w = writer(&store, "resume", expected.clone());
        w.write_all(&data[..123_457]).expect("first part");
        // Dropped without commit, as by an interrupted pull.
    }
    assert_eq!(
        store.ingests().expect("ingests"),
        vec![IngestStatus {
            reference: "resume".into(),
            offset: 123_457
        }]
    );
    assert!(
        !store.contains(&digest).expect("contains"),
        "never visible unverified"
    );
    let mut w = writer(&store, "resume", expected);
    assert_eq!(w.offset(), 123_457);
    w.write_all(&data[123_457..]).expect("rest");
    assert_eq!(
        w.commit().expect("commit"),
        BlobInfo {
            digest: digest.clone(),
            size: 300_000
        }
    );
    assert_eq!(store.read_blob(&digest).expect("read"), data);
    no_partials(&store);
}

#[test]
fn write_blob_from_skips_the_resumed_prefix() {
    let (_tmp, store) = store();
    let data = content(50_000, 4);
    let expected = Expected::new(Digest::sha256(&data), 50_000);
    {
        let mut w = writer(&store, "from", expected.clone());
        w.write_all(&data[..20_000]).expect("part");
    }
    let info = store
        .write_blob_from(&mut &data[..], "from", expected)
        .expect("resume from a reader that starts over");
    assert_eq!(store.read_blob(&info.digest).expect("read"), data);
}

#[test]
fn a_partial_longer_than_expected_is_removed() {
    let (_tmp, store) = store();
    {
        let mut w = writer(&store, "over", Expected::unknown());
        w.write_all(&[1; 100]).expect("write");
    }
    let e = store
        .ingest("over", Expected::new(Digest::sha256(&[1; 50]), 50))
        .expect_err("too long");
    assert!(
        matches!(
            &e,
            Error::IngestTooLong {
                offset: 100,
                expected: 50,
                ..
            }
        ),
        "{e}"
    );
    no_partials(&store);
}

#[test]
fn unknown_digest_is_learnt_at_commit() {
    let (_tmp, store) = store();
    let data = content(4096, 5);
    let mut w = writer(&store, "pack", Expected::unknown());
    w.write_all(&data).expect("write");
    let info = w.commit().expect("commit");
    assert_eq!(info.digest, Digest::sha256(&data));
    // A second, different-ref writer of the same content commits cleanly.
    let mut w = writer(&store, "pack-2", Expected::unknown());
    w.write_all(&data).expect("write");
    assert_eq!(w.commit().expect("commit").digest, info.digest);
    assert_eq!(store.blobs().expect("list").len(), 1);
    no_partials(&store);
}

#[test]
fn present_blob_with_another_size_is_an_error() {
    let (_tmp, store) = store();
    let digest = store.write_blob(b"1234").expect("write");
    let e = store
        .ingest("x", Expected::new(digest, 5))
        .expect_err("size");
    assert!(
        matches!(
            &e,
            Error::Digest {
                source: DigestError::SizeMismatch {
                    expected: 5,
                    actual: 4
                },
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn empty_reference_is_refused() {
    let (_tmp, store) = store();
    let e = store.ingest("", Expected::unknown()).expect_err("empty");
    assert!(matches!(e, Error::InvalidIngestRef { .. }), "{e}");
}

#[test]
fn try_ingest_reports_a_locked_ingest() {
    let (_tmp, store) = store();
    let w = writer(&store, "busy", Expected::unknown());
    let e = store
        .try_ingest("busy", Expected::unknown())
        .expect_err("locked");
    assert!(
        matches!(&e, Error::IngestLocked { reference } if reference == "busy"),
        "{e}"
    );
    drop(w);
    assert!(matches!(
        store.try_ingest("busy", Expected::unknown()).expect("free"),
        Ingest::Writer(_)
    ));
}

#[test]
fn concurrent_threads_write_one_blob_once() {
    let (_tmp, store) = store();
    let data = Arc::new(content(2 << 20, 6));
    let digest = Digest::sha256(&data);
    let n = 8;
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (store, data, digest, barrier) =
                (store.clone(), data.clone(), digest.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                // Half use the digest as ref (they serialise), half their own.
                let reference = if i % 2 == 0 {
                    digest.to_string()
                } else {
                    format!("thread-{i}")
                };
                let expected = Expected::new(digest.clone(), data.len() as u64);
                match store.ingest(&reference, expected).expect("ingest") {
                    Ingest::Exists(_) => false,
                    Ingest::Writer(mut w) => {
                        for chunk in data.chunks(64 << 10) {
                            w.write_all(chunk).expect("write");
                        }
                        w.commit().expect("commit");
                        true
                    }
                }
            })
        })
        .collect();
    let wrote: Vec<bool> = handles
        .into_iter()
        .map(|h| h.join().expect("join"))
        .collect();
    assert!(wrote.iter().any(|w| *w));
    assert_eq!(store.blobs().expect("list"), vec![digest.clone()]);
    assert_eq!(store.read_blob(&digest).expect("read"), *data);
    no_partials(&store);
}

#[test]
fn records_round_trip_atomically() {
    let (_tmp, store) = store();
    assert!(store.records().expect("empty").is_empty());
    let busybox = Reference::parse("busybox").expect("ref");
    let d1 = Digest::sha256(b"m1");
    let d2 = Digest::sha256(b"m2");
    assert_eq!(
        store
            .set_record(&busybox, Record::new(d1.clone()))
            .expect("set"),
        None
    );
    let prev = store
        .set_record(
            &busybox,
            Record::with_descriptor(d2.clone(), "application/vnd.oci.image.manifest.v1+json", 7),
        )
        .expect("replace");
    assert_eq!(prev, Some(Record::new(d1)));
    let got = store.record(&busybox).expect("get").expect("present");
    assert_eq!(got.digest, d2);
    assert_eq!(got.size, Some(7));
    let text = fs::read_to_string(store.root().join("images.json")).expect("file");
    assert!(
        text.contains("\"docker.io/library/busybox:latest\""),
        "{text}"
    );
    assert!(!store.root().join("images.json.tmp").exists());
    assert_eq!(
        store.records().expect("read").digests(),
        BTreeSet::from([d2.clone()])
    );
    assert_eq!(
        store.remove_record(&busybox).expect("rm").map(|r| r.digest),
        Some(d2)
    );
    assert!(store.records().expect("read").is_empty());
}

#[test]
fn a_failed_update_changes_nothing() {
    let (_tmp, store) = store();
    let name = Reference::parse("a").expect("ref");
    store
        .set_record(&name, Record::new(Digest::sha256(b"1")))
        .expect("set");
    let before = fs::read(store.root().join("images.json")).expect("read");
    let e = store
        .update_records(|r| {
            r.remove(&name);
            Err::<(), _>(Error::BlobNotFound(Digest::sha256(b"x")))
        })
        .expect_err("closure failed");
    assert!(matches!(e, Error::BlobNotFound(_)));
    assert_eq!(
        fs::read(store.root().join("images.json")).expect("read"),
        before
    );
}

#[test]
fn corrupt_records_name_the_file() {
    let (_tmp, store) = store();
    fs::write(
        store.root().join("images.json"),
        b"{\"version\":1,\"images\":{\"UPPER\":",
    )
    .expect("write");
    let e = store.records().expect_err("corrupt");
    assert!(matches!(e, Error::CorruptRecords { .. }), "{e}");
    assert!(e.to_string().contains("images.json"), "{e}");
    fs::write(
        store.root().join("images.json"),
        b"{\"version\":9,\"images\":{}}",
    )
    .expect("write");
    let e = store.records().expect_err("version");
    assert!(e.to_string().contains("version 9"), "{e}");
}

#[test]
fn concurrent_record_updates_from_threads_are_all_kept() {
    let (_tmp, store) = store();
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    let name = Reference::parse(&format!("t{t}/img{i}")).expect("ref");
                    store
                        .set_record(
                            &name,
                            Record::new(Digest::sha256(name.to_string().as_bytes())),
                        )
                        .expect("set");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("join");
    }
    assert_eq!(store.records().expect("read").len(), 80);
}

#[test]
fn gc_removes_unreferenced_blobs_only() {
    let (_tmp, store) = store();
    let keep = store.write_blob(b"keep").expect("write");
    let drop1 = store.write_blob(b"drop me").expect("write");
    {
        let mut w = writer(&store, "partial", Expected::unknown());
        w.write_all(b"half").expect("write");
    }
    let dry = store
        .gc(
            &GcOptions {
                dry_run: true,
                remove_ingests: true,
            },
            |_| Ok(BTreeSet::from([keep.clone()])),
        )
        .expect("dry run");
    assert_eq!(dry.removed, vec![drop1.clone()]);
    assert_eq!(dry.freed, 7);
    assert_eq!(dry.removed_ingests.len(), 1);
    assert!(store.contains(&drop1).expect("still there"));

    let report = store
        .gc(&GcOptions::default(), |s| {
            // Roots come from the records, read under gc's lock.
            let mut roots = s.records()?.digests();
            roots.insert(keep.clone());
            Ok(roots)
        })
        .expect("gc");
    assert_eq!(report.removed, vec![drop1.clone()]);
    assert!(!store.contains(&drop1).expect("gone"));
    assert!(store.contains(&keep).expect("kept"));
    assert_eq!(
        store.ingests().expect("ingests").len(),
        1,
        "partials kept by default"
    );
}

#[test]
fn gc_refuses_while_this_process_holds_a_lease() {
    let (_tmp, store) = store();
    let lease = store.lease().expect("lease");
    let e = store
        .gc(&GcOptions::default(), |_| Ok(BTreeSet::new()))
        .expect_err("leased");
    assert!(matches!(e, Error::LeasedBySelf { .. }), "{e}");
    drop(lease);
    store
        .gc(&GcOptions::default(), |_| Ok(BTreeSet::new()))
        .expect("free");
}
