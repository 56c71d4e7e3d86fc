//! Privileged: the runtime as a library, the way the engine and builder
//! drive it — a container whose stdio is the caller's pipes, not the
//! caller's own stdio.

use std::io::Read;
use std::os::fd::AsRawFd;

use rbox_runtime::{ContainerId, CreateOptions, Runtime, wait_exit_code};
use rbox_test_support::{CgroupGuard, TempRoot, require_root, unique_id};

#[test]
fn stdio_goes_to_the_given_descriptors() {
    if !require_root("stdio_goes_to_the_given_descriptors") {
        return;
    }
    let tmp = TempRoot::new("rt-lib").unwrap();
    let id = unique_id("lib");
    let bundle = tmp.join("bundle");
    rbox_fixtures::busybox_bundle(&bundle, &[]).unwrap();
    let mut spec =
        rbox_fixtures::runtime_spec(&["sh", "-c", "read x; echo out:$x; echo err >&2; exit 3"]);
    let cg = format!("/rbox-test/{id}");
    spec["linux"]["cgroupsPath"] = serde_json::Value::String(cg.clone());
    let _guard = CgroupGuard::new(cg);
    rbox_fixtures::write_spec(&bundle, &spec).unwrap();

    let (in_r, in_w) = std::io::pipe().unwrap();
    let (mut out_r, out_w) = std::io::pipe().unwrap();
    let (mut err_r, err_w) = std::io::pipe().unwrap();
    let mut rt = Runtime::default();
    rt.root = tmp.join("state");
    let mut opts = CreateOptions::new(&bundle);
    opts.stdio = Some([in_r.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()]);
    let cid = ContainerId::new(&id).unwrap();
    let mut c = rt.create(&cid, &opts).unwrap();
    drop((in_r, out_w, err_w));
    c.start().unwrap();
    std::io::Write::write_all(&mut &in_w, b"hello\n").unwrap();
    drop(in_w);
    let code = wait_exit_code(c.pid()).unwrap();
    let mut out = String::new();
    out_r.read_to_string(&mut out).unwrap();
    let mut err = String::new();
    err_r.read_to_string(&mut err).unwrap();
    c.delete(true).unwrap();
    assert_eq!(code, 3);
    assert_eq!(out, "out:hello\n");
    assert_eq!(err, "err\n");
}
