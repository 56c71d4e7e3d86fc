//! Removal of test cgroups from every hierarchy.
//!
//! Invariant: only paths strictly below [`CGROUP_TEST_ROOT`] are ever
//! touched (written, killed in, removed), so the machine's own cgroups
//! (`process_api` and the rest) are safe from any test.

use std::fs;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::mountinfo;

/// The cgroup under which every test cgroup lives.
pub const CGROUP_TEST_ROOT: &str = "/rbox-test";

/// Removes a test cgroup (say `/rbox-test/<id>`, as a runtime's
/// `cgroupsPath`) with all its descendants, leaf first, from every cgroup
/// v1 hierarchy and the unified one, on drop.
#[derive(Debug)]
pub struct CgroupGuard {
    path: String,
}

impl CgroupGuard {
    /// Guards `path`, an absolute cgroup path below `/rbox-test/`.
    ///
    /// # Panics
    ///
    /// If `path` is not a plain path strictly below `/rbox-test/` (no `.`,
    /// `..` or empty components): that is a bug in the test.
    pub fn new(path: impl Into<String>) -> Self {
        let path = path.into();
        let rel = path
            .strip_prefix(CGROUP_TEST_ROOT)
            .and_then(|r| r.strip_prefix('/'));
        let plain = rel.is_some_and(|r| {
            !r.is_empty() && r.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
        });
        assert!(
            plain,
            "CgroupGuard only removes cgroups below {CGROUP_TEST_ROOT}/, not {path:?}"
        );
        Self { path }
    }

    /// The guarded cgroup path, e.g. `/rbox-test/x`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The guarded cgroup's directory in each mounted hierarchy (existing or not).
    pub fn dirs(&self) -> Vec<PathBuf> {
        let rel = self.path.trim_start_matches('/');
        hierarchies().into_iter().map(|h| h.join(rel)).collect()
    }

    /// Removes the cgroup and its descendants everywhere now; returns the
    /// directories that could not be removed.
    pub fn remove(&self) -> Vec<PathBuf> {
        let mut left = Vec::new();
        for dir in self.dirs() {
            let mut tree = Vec::new();
            subtree(&dir, &mut tree);
            // Children were pushed after their parent: reverse is leaf first.
            for d in tree.iter().rev() {
                if !remove_cgroup(d) {
                    left.push(d.clone());
                }
            }
        }
        left
    }
}

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        let left = self.remove();
        if !left.is_empty() {
            eprintln!("rbox-test-support: cannot remove cgroups {left:?}");
        }
    }
}

/// Mount points of every cgroup hierarchy, v1 and v2, each once; only
/// whole-hierarchy mounts (root `/`), so a namespaced view is never
/// mistaken for the top, and only where no later mount hides it (as a
/// tmpfs over `unified` does for crun).
fn hierarchies() -> Vec<PathBuf> {
    let mut top: Vec<(PathBuf, bool)> = Vec::new();
    for m in mountinfo::mounts().unwrap_or_default() {
        let is_cgroup = (m.fstype == "cgroup" || m.fstype == "cgroup2") && m.root == Path::new("/");
        top.retain(|(p, _)| *p != m.mount_point);
        top.push((m.mount_point, is_cgroup));
    }
    top.into_iter()
        .filter(|(_, c)| *c)
        .map(|(p, _)| p)
        .collect()
}

/// `dir` and every directory below it, parents before children.
fn subtree(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    out.push(dir.to_path_buf());
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            subtree(&e.path(), out);
        }
    }
}

/// Removes one (leaf) cgroup directory, first thawing it and killing any
/// process still in it. True if it is gone.
fn remove_cgroup(dir: &Path) -> bool {
    debug_assert!(
        dir.components()
            .any(|c| c == Component::Normal("rbox-test".as_ref()))
    );
    for attempt in 0..100 {
        match fs::remove_dir(dir) {
            Ok(()) => return true,
            Err(e) if e.kind() == ErrorKind::NotFound => return true,
            Err(_) if attempt == 0 => {}
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
        // Frozen processes cannot die: thaw (v1 freezer, v2 core) first.
        let _ = fs::write(dir.join("freezer.state"), "THAWED");
        let _ = fs::write(dir.join("cgroup.freeze"), "0");
        let me = std::process::id();
        let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            // Never the test process itself, should it have joined the cgroup.
            if pid > 0 && u32::try_from(pid).is_ok_and(|p| p != me) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{have_cgroup_v1_controller, require, require_root, unique_id};

    #[test]
    #[should_panic(expected = "only removes cgroups below")]
    fn refuses_paths_outside_test_root() {
        CgroupGuard::new("/process_api");
    }

    #[test]
    fn validates_paths() {
        for bad in [
            "/rbox-test",
            "/rbox-test/",
            "/rbox-test/../x",
            "/rbox-test//x",
            "/rbox-testx/y",
            "rbox-test/x",
        ] {
            assert!(
                std::panic::catch_unwind(|| CgroupGuard::new(bad)).is_err(),
                "{bad} accepted"
            );
        }
        assert_eq!(CgroupGuard::new("/rbox-test/a/b").path(), "/rbox-test/a/b");
    }

    #[test]
    fn removes_nested_cgroups_with_processes() {
        const T: &str = "removes_nested_cgroups_with_processes";
        if !require_root(T)
            || !require(
                T,
                "cgroup v1 pids controller",
                have_cgroup_v1_controller("pids"),
            )
        {
            return;
        }
        let guard = CgroupGuard::new(format!("{CGROUP_TEST_ROOT}/{}", unique_id("guard")));
        let dirs = guard.dirs();
        for d in &dirs {
            fs::create_dir_all(d.join("child/grandchild")).expect("create cgroup");
        }
        let pids_dir = dirs
            .iter()
            .find(|d| d.starts_with("/sys/fs/cgroup/pids"))
            .expect("pids hierarchy")
            .join("child/grandchild");
        let mut sleeper = std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .expect("spawn sleep");
        fs::write(pids_dir.join("cgroup.procs"), sleeper.id().to_string()).expect("move sleep");
        let left = guard.remove();
        assert!(left.is_empty(), "left: {left:?}");
        assert!(dirs.iter().all(|d| !d.exists()));
        // The guard killed it; reap it.
        let status = sleeper.wait().expect("reap sleep");
        assert!(!status.success());
    }
}
