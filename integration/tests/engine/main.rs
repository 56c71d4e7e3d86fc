//! The docker-style engine end to end: the built `rbox` running the
//! busybox image from a temp data root, every container under the test's
//! own cgroup parent `/rbox-test/<id>`. Each test removes its containers,
//! mounts and cgroups, and checks the engine left none behind.
//!
//! `lifecycle`: run/create/start/stop/rm, logs, exec, restart policy,
//! monitor crashes; `confinement`: docker's default confinement,
//! privileges, cgroup limits, OOM, --init; `storage`: layers, volumes
//! and networks.

/// The privileged-test guard: skip (or fail under
/// RBOX_REQUIRE_PRIVILEGED=1) without root.
macro_rules! guard {
    ($name:expr) => {
        if !rbox_integration::privileged($name) {
            return;
        }
    };
}

mod confinement;
mod lifecycle;
mod ops;
mod storage;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rbox_integration::{ok, rbox_bin, stdout};
use rbox_test_support::{CgroupGuard, TempRoot, unique_id};

/// A data root holding the busybox image, and the test's cgroup parent.
pub(crate) struct Engine {
    pub(crate) data: PathBuf,
    pub(crate) parent: String,
    cgroup: CgroupGuard,
    _tmp: TempRoot,
}

impl Engine {
    pub(crate) fn new() -> Engine {
        let tmp = TempRoot::new("rbox-engine").expect("temp root");
        let data = tmp.path().join("data");
        let store = rbox_image::Store::open(&data).expect("store");
        rbox_fixtures::busybox_image(&store, "busybox").expect("busybox image");
        let parent = format!("/rbox-test/{}", unique_id("eng"));
        Engine {
            data,
            cgroup: CgroupGuard::new(parent.clone()),
            parent,
            _tmp: tmp,
        }
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(rbox_bin());
        c.arg("--data-root").arg(&self.data);
        let mut args = args.to_vec();
        if matches!(args.first(), Some(&"run") | Some(&"create")) {
            args.splice(1..1, ["--cgroup-parent", self.parent.as_str()]);
            // The host's shared default bridge stays out of these tests;
            // the network test makes its own network.
            if !args.contains(&"--network") {
                args.splice(1..1, ["--network", "none"]);
            }
        }
        c.args(&args).stdin(Stdio::null());
        c
    }

    pub(crate) fn rbox(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("running rbox")
    }

    pub(crate) fn inspect(&self, c: &str) -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_str(&ok(&self.rbox(&["inspect", c]))).expect("inspect JSON");
        v[0].clone()
    }

    /// Polls inspect until `f` holds (the monitor works asynchronously).
    pub(crate) fn until(
        &self,
        c: &str,
        f: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        for _ in 0..600 {
            // The record may not exist yet (a create in progress).
            let o = self.rbox(&["inspect", c]);
            if o.status.success() {
                let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("inspect JSON");
                if f(&v[0]) {
                    return v[0].clone();
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{c} never reached the expected state: {}", self.inspect(c));
    }

    pub(crate) fn container_dirs(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.data.join("containers"))
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }

    /// Mount points under the data root.
    pub(crate) fn mounts(&self) -> Vec<String> {
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let root = self.data.display().to_string();
        text.lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&root))
            .map(str::to_string)
            .collect()
    }

    /// The container's cgroup directories that still exist.
    pub(crate) fn cgroups_of(&self, id: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for c in ["memory", "pids", "cpu", "devices"] {
            let parent = Path::new("/sys/fs/cgroup")
                .join(c)
                .join(self.parent.trim_start_matches('/'));
            if !id.is_empty() {
                out.extend(Some(parent.join(id)).filter(|p| p.exists()));
                continue;
            }
            if let Ok(rd) = std::fs::read_dir(&parent) {
                out.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
            }
        }
        out
    }

    pub(crate) fn assert_clean(&self, id: &str) {
        if !id.is_empty() {
            let ns = Path::new("/run/rbox/netns").join(id);
            assert!(!ns.exists(), "netns left: {}", ns.display());
        }
        assert!(
            self.container_dirs().is_empty(),
            "records left: {:?}",
            self.container_dirs()
        );
        assert!(self.mounts().is_empty(), "mounts left: {:?}", self.mounts());
        assert!(
            self.cgroups_of(id).is_empty(),
            "cgroups left: {:?}",
            self.cgroups_of(id)
        );
        let ps = ok(&self.rbox(&["ps", "-aq"]));
        assert!(ps.trim().is_empty(), "ps -a lists {ps}");
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let ids = self.rbox(&["ps", "-aq", "--no-trunc"]);
        for id in stdout(&ids).lines() {
            let _ = self.rbox(&["rm", "-f", id]);
        }
        let _ = self.rbox(&["container", "prune", "-f"]);
        for m in self.mounts() {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        let left = self.cgroup.remove();
        assert!(
            left.is_empty() || std::thread::panicking(),
            "cgroups left: {left:?}"
        );
    }
}

pub(crate) fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}
