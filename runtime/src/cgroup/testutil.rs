//! Fake cgroup trees in temp dirs for unit tests.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

pub(super) use super::devices::rule as dev;
use super::{Hierarchy, Manager, fs};

/// A temp dir removed (with everything in it) when dropped.
pub(super) struct TempDir(PathBuf);

impl TempDir {
    pub(super) fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("rbox-cg-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `content` to `dir/file`, creating `dir` as needed.
pub(super) fn put(dir: &Path, file: &str, content: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().expect("a file has a parent")).expect("mkdir");
    std::fs::write(path, content).expect("write fake file");
}

/// Reads `dir/file` of a fake tree.
pub(super) fn get(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).expect("read fake file")
}

/// The writes since the last call, paths relative to `root`.
pub(super) fn writes(root: &Path) -> Vec<(String, String)> {
    fs::log::take(root)
}

/// A v1 tree with one hierarchy per controller (plus a cgroup2 mount at
/// `unified` when asked), described by a mountinfo text.
pub(super) fn v1_hierarchy(root: &Path, controllers: &[&str], unified: bool) -> Hierarchy {
    let mut text = String::new();
    for (i, c) in controllers.iter().enumerate() {
        let dir = root.join(c.replace("name=", ""));
        std::fs::create_dir_all(&dir).expect("mkdir hierarchy");
        text += &format!(
            "{} 1 0:{i} / {} rw - cgroup cgroup rw,{c}\n",
            40 + i,
            dir.display()
        );
    }
    if unified {
        let dir = root.join("unified");
        std::fs::create_dir_all(&dir).expect("mkdir unified");
        text += &format!("99 1 0:99 / {} rw - cgroup2 cgroup2 rw\n", dir.display());
    }
    Hierarchy::from_mountinfo(&text).expect("fake mountinfo parses")
}

/// A manager for `/rbox-test/t1` on a fake v1 tree.
pub(super) fn v1_manager(root: &Path, controllers: &[&str]) -> Manager {
    Manager::with_root(
        v1_hierarchy(root, controllers, false),
        Some("/rbox-test/t1"),
        "t1",
        false,
    )
    .expect("manager")
}

/// A manager for `/rbox-test/t1` on a fake v2 tree.
pub(super) fn v2_manager(root: &Path) -> Manager {
    Manager::with_root(Hierarchy::unified(root), Some("/rbox-test/t1"), "t1", false)
        .expect("manager")
}

/// A created v1 cgroup (`/rbox-test/t1`) whose directories hold the given
/// (controller, file, content) files; the write log starts empty.
pub(super) fn v1_setup(
    tmp: &TempDir,
    controllers: &[&str],
    files: &[(&str, &str, &str)],
) -> Manager {
    let m = v1_manager(tmp.path(), controllers);
    for (ctrl, file, content) in files {
        put(&tmp.path().join(ctrl).join("rbox-test/t1"), file, content);
    }
    m.create().expect("create");
    writes(tmp.path());
    m
}

/// One expected write.
pub(super) fn w(path: &str, value: &str) -> (String, String) {
    (path.to_owned(), value.to_owned())
}

/// `linux.resources` from its config.json form.
pub(super) fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).expect("resources json")
}
