//! The bundle is a real, runnable container: runc (the reference peer)
//! runs it as root and as the `rbox` user.

use std::path::Path;
use std::process::{Command, Stdio};

use rbox_test_support::{
    CGROUP_TEST_ROOT, CgroupGuard, TempRoot, have_command, require, require_root, unique_id,
};

fn run_with_runc(test: &str, user: Option<u32>, script: &str) -> Option<String> {
    if !require_root(test)
        || !require(test, "runc (apt-get install runc)", have_command("runc"))
        || !require(
            test,
            "busybox-static at /bin/busybox",
            Path::new(rbox_fixtures::BUSYBOX).is_file(),
        )
    {
        return None;
    }
    let t = TempRoot::new("fixture-runc").expect("temp root");
    let bundle = t.join("bundle");
    rbox_fixtures::busybox_bundle(&bundle, &[]).expect("bundle");
    let id = unique_id("fixture");
    let cgroup = CgroupGuard::new(format!("{CGROUP_TEST_ROOT}/{id}"));
    let mut spec = rbox_fixtures::runtime_spec(&["/bin/sh", "-c", script]);
    spec["linux"]["cgroupsPath"] = cgroup.path().into();
    if let Some(uid) = user {
        spec["process"]["user"] = serde_json::json!({ "uid": uid, "gid": uid });
    }
    rbox_fixtures::write_spec(&bundle, &spec).expect("write config");
    let state = t.join("state");
    let out = Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .output()
        .expect("run runc");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "runc run failed: {}: {stderr}",
        out.status
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn runc_runs_bundle_as_root() {
    let Some(out) = run_with_runc(
        "runc_runs_bundle_as_root",
        None,
        "id; ls -ld /tmp; hostname",
    ) else {
        return;
    };
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("uid=0(root) gid=0(root)"), "{out}");
    assert!(lines[1].starts_with("drwxrwxrwt"), "{out}");
    assert_eq!(lines[2], "rbox");
}

#[test]
fn runc_runs_bundle_as_rbox_user() {
    let Some(out) = run_with_runc(
        "runc_runs_bundle_as_rbox_user",
        Some(1000),
        "id -un; echo $HOME; touch /tmp/x && echo tmp-ok",
    ) else {
        return;
    };
    assert_eq!(out, "rbox\n/home/rbox\ntmp-ok\n");
}
