//! Helpers for the end-to-end suites: find the built `rbox`, make busybox
//! bundles with a unique id and cgroup under `/rbox-test`, run runtime
//! commands and collect their output; [`clients`] sets up podman,
//! containerd and dockerd with rbox as their OCI runtime.

pub mod clients;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rbox_test_support::{CgroupGuard, TempRoot, unique_id};
use serde_json::Value;

/// The `rbox` binary under test: `$RBOX_BIN`, or the workspace's
/// target/{debug,release}/rbox (the test command builds it first).
pub fn rbox_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("RBOX_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    for profile in ["debug", "release"] {
        let p = target.join(profile).join("rbox");
        if p.exists() {
            return p;
        }
    }
    panic!("rbox binary not found: run `cargo build -p rbox` first or set RBOX_BIN");
}

/// One test container: its temp dir (bundle + state root), id, spec and
/// cgroup guard. Dropping it deletes the container and cleans up.
pub struct Bundle {
    /// Temp root holding `bundle/` and `state/`.
    pub tmp: TempRoot,
    /// Container id (unique).
    pub id: String,
    /// The spec, edited before [`Bundle::write`].
    pub spec: Value,
    /// Removes `/rbox-test/<id>` in every hierarchy.
    pub cgroup: CgroupGuard,
    seq: std::sync::atomic::AtomicUsize,
}

impl Bundle {
    /// A busybox bundle running `args`, with cgroupsPath `/rbox-test/<id>`
    /// and hostname `rbox-test`.
    pub fn new(args: &[&str]) -> Bundle {
        let id = unique_id("it");
        let tmp = TempRoot::new("rbox-it").expect("temp root");
        rbox_fixtures::busybox_bundle(&tmp.join("bundle"), args).expect("busybox bundle");
        let mut spec = rbox_fixtures::runtime_spec(args);
        let cg = format!("/rbox-test/{id}");
        spec["linux"]["cgroupsPath"] = Value::String(cg.clone());
        spec["hostname"] = Value::String("rbox-test".into());
        Bundle {
            tmp,
            id,
            spec,
            cgroup: CgroupGuard::new(cg),
            seq: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The bundle directory.
    pub fn dir(&self) -> PathBuf {
        self.tmp.join("bundle")
    }

    /// The rootfs directory.
    pub fn rootfs(&self) -> PathBuf {
        self.dir().join("rootfs")
    }

    /// The runtime state root used for this container.
    pub fn state_root(&self) -> PathBuf {
        self.tmp.join("state")
    }

    /// Writes config.json from `spec`.
    pub fn write(&self) {
        rbox_fixtures::write_spec(&self.dir(), &self.spec).expect("write config.json");
    }

    /// `rbox runtime --root STATE <args>` as a Command (stdio piped).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(rbox_bin());
        c.arg("runtime")
            .arg("--root")
            .arg(self.state_root())
            .args(args)
            .current_dir(self.dir())
            .stdin(Stdio::null());
        c
    }

    /// Runs a runtime command to completion. Output goes through files,
    /// not pipes: a detached container inherits them and would hold a pipe
    /// open forever.
    pub fn rbox(&self, args: &[&str]) -> Output {
        let n = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out_p = self.tmp.join(format!("out.{n}"));
        let err_p = self.tmp.join(format!("err.{n}"));
        let out = std::fs::File::create(&out_p).expect("stdout file");
        let err = std::fs::File::create(&err_p).expect("stderr file");
        let status = self
            .cmd(args)
            .stdout(out)
            .stderr(err)
            .status()
            .expect("spawn rbox");
        Output {
            status,
            stdout: std::fs::read(&out_p).unwrap_or_default(),
            stderr: std::fs::read(&err_p).unwrap_or_default(),
        }
    }

    /// Writes the spec and runs the container in the foreground.
    pub fn run(&self) -> Output {
        self.write();
        let id = self.id.clone();
        self.rbox(&["run", "--bundle", self.dir().to_str().expect("utf-8"), &id])
    }

    /// `state` as JSON (None when the command fails).
    pub fn state(&self) -> Option<Value> {
        let o = self.rbox(&["state", &self.id]);
        o.status
            .success()
            .then(|| serde_json::from_slice(&o.stdout).expect("state is JSON"))
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = self.rbox(&["delete", "--force", &self.id.clone()]);
    }
}

/// stdout as a string.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as a string.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stdout.
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "rbox failed ({:?}): stdout={} stderr={}",
        o.status,
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// The guard every privileged test starts with.
pub fn privileged(test: &str) -> bool {
    rbox_test_support::require_root(test)
}

/// Polls `state` until the container has `want` status (3 s at most).
pub fn wait_status(b: &Bundle, want: &str) {
    for _ in 0..300 {
        if b.state().is_some_and(|s| s["status"] == want) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("container never became {want}: {:?}", b.state());
}
