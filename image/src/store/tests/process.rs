//! Several processes on one store. The test binary re-runs itself with
//! `--exact store::tests::process::child` and RBOX_IMAGE_STORE_CHILD set;
//! that test then acts as the child.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use rbox_test_support::ChildGuard;

use super::{content, no_partials, store, writer};
use crate::digest::Digest;
use crate::error::Error;
use crate::reference::Reference;
use crate::store::{Expected, Ingest, Record, Store};

const CHILD_ENV: &str = "RBOX_IMAGE_STORE_CHILD";

fn spawn_child(mode: &str, root: &Path, arg: &str) -> std::process::Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "store::tests::process::child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, mode)
        .env("RBOX_IMAGE_STORE_ROOT", root)
        .env("RBOX_IMAGE_STORE_ARG", arg)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child")
}

/// Lines the child printed that start with `@`, its protocol.
fn protocol_lines(child: std::process::Child) -> Vec<String> {
    let out = child.wait_with_output().expect("wait child");
    assert!(out.status.success(), "child failed: {:?}", out.status);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix('@').map(str::to_owned))
        .collect()
}

#[test]
fn child() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let root = std::env::var("RBOX_IMAGE_STORE_ROOT").expect("root");
    let arg = std::env::var("RBOX_IMAGE_STORE_ARG").expect("arg");
    let store = Store::open(root).expect("open");
    let data = content(4 << 20, 7);
    let expected = Expected::new(Digest::sha256(&data), data.len() as u64);
    let mut stdout = std::io::stdout();
    match mode.as_str() {
        "write" => match store.ingest(&arg, expected).expect("ingest") {
            Ingest::Exists(_) => println!("\n@exists"),
            Ingest::Writer(mut w) => {
                assert_eq!(w.offset(), 0, "no partial to resume");
                for chunk in data.chunks(32 << 10) {
                    w.write_all(chunk).expect("write");
                }
                w.commit().expect("commit");
                println!("\n@wrote");
            }
        },
        "half-then-hang" => {
            let Ingest::Writer(mut w) = store.ingest(&arg, expected).expect("ingest") else {
                panic!("blob unexpectedly present");
            };
            w.write_all(&data[..data.len() / 2]).expect("write");
            w.flush().expect("flush");
            println!("\n@half");
            stdout.flush().expect("flush stdout");
            // Killed by the parent here, holding the lock.
            loop {
                std::thread::park();
            }
        }
        "records" => {
            for i in 0..15 {
                let name = Reference::parse(&format!("proc{arg}/img{i}")).expect("ref");
                store
                    .set_record(
                        &name,
                        Record::new(Digest::sha256(name.to_string().as_bytes())),
                    )
                    .expect("set");
            }
            println!("\n@done");
        }
        other => panic!("unknown child mode {other}"),
    }
}

#[test]
fn concurrent_processes_write_one_blob_once() {
    let (_tmp, store) = store();
    let data = content(4 << 20, 7);
    let digest = Digest::sha256(&data);
    let children: Vec<_> = (0..4)
        .map(|_| spawn_child("write", store.root(), digest.as_str()))
        .collect();
    let outcomes: Vec<String> = children.into_iter().flat_map(protocol_lines).collect();
    assert_eq!(outcomes.len(), 4, "{outcomes:?}");
    assert_eq!(
        outcomes.iter().filter(|o| *o == "wrote").count(),
        1,
        "exactly one process writes: {outcomes:?}"
    );
    assert_eq!(store.read_blob(&digest).expect("read"), data);
    no_partials(&store);
}

#[test]
fn a_killed_writer_process_leaves_a_resumable_partial() {
    let (_tmp, store) = store();
    let data = content(4 << 20, 7);
    let digest = Digest::sha256(&data);
    let reference = digest.to_string();
    // Guarded: a failing assertion must not leave the child parked forever.
    let mut guard = ChildGuard::from_child(spawn_child("half-then-hang", store.root(), &reference));
    let child = guard.child_mut().expect("a std child");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines
        .find_map(|l| l.expect("read line").strip_prefix('@').map(str::to_owned))
        .expect("the child reports progress");
    assert_eq!(first, "half");
    // While it holds the ingest, a non-blocking attempt is refused.
    let e = store
        .try_ingest(&reference, Expected::new(digest.clone(), data.len() as u64))
        .expect_err("locked by the child");
    assert!(matches!(e, Error::IngestLocked { .. }), "{e}");
    child.kill().expect("kill");
    child.wait().expect("reap");
    assert!(!store.contains(&digest).expect("contains"));
    let mut w = writer(
        &store,
        &reference,
        Expected::new(digest.clone(), data.len() as u64),
    );
    assert_eq!(w.offset(), (data.len() / 2) as u64);
    w.write_all(&data[data.len() / 2..]).expect("rest");
    w.commit().expect("commit");
    assert_eq!(store.read_blob(&digest).expect("read"), data);
    no_partials(&store);
}

#[test]
fn concurrent_record_updates_from_processes_are_all_kept() {
    let (_tmp, store) = store();
    let children: Vec<_> = (0..4)
        .map(|i| spawn_child("records", store.root(), &i.to_string()))
        .collect();
    for c in children {
        assert_eq!(protocol_lines(c), vec!["done".to_owned()]);
    }
    assert_eq!(store.records().expect("read").len(), 60);
}
