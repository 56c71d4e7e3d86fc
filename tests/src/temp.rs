//! Temporary directories that clean up after privileged tests, mounts
//! included.
//!
//! Invariant: nothing is deleted while anything is still mounted below the
//! directory, so a forgotten bind mount of a host directory can never make
//! the cleanup delete host files.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, umount2};

use crate::{mountinfo, unique_id};

/// A directory under `std::env::temp_dir()`, removed on drop after every
/// mount at or below it is lazily unmounted, deepest first.
#[derive(Debug)]
pub struct TempRoot {
    path: PathBuf,
    keep: bool,
}

impl TempRoot {
    /// Creates `temp_dir()/rbox-<prefix>-<unique id>` with mode 0755, so
    /// unprivileged container users can traverse it.
    pub fn new(prefix: &str) -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(unique_id(&format!("rbox-{prefix}")));
        fs::create_dir(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
        // Canonical, so it compares equal to the mount points the kernel
        // reports even when TMPDIR goes through a symlink.
        let path = dir.canonicalize()?;
        Ok(Self { path, keep: false })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `self.path().join(rel)`.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }

    /// Keeps the directory (and its mounts) after drop, for debugging a
    /// failing test; returns its path.
    pub fn keep(mut self) -> PathBuf {
        self.keep = true;
        self.path.clone()
    }

    /// Mount points at or below the directory, deepest first; of equal
    /// depth, the later mount (possibly on top of an earlier one) first.
    fn mounts_below(&self) -> Vec<PathBuf> {
        let Ok(mounts) = mountinfo::mounts() else {
            return Vec::new();
        };
        let mut below: Vec<(usize, usize, PathBuf)> = mounts
            .into_iter()
            .enumerate()
            .filter(|(_, m)| m.mount_point.starts_with(&self.path))
            .map(|(i, m)| (m.mount_point.components().count(), i, m.mount_point))
            .collect();
        below.sort_by_key(|b| std::cmp::Reverse((b.0, b.1)));
        below.into_iter().map(|(_, _, p)| p).collect()
    }

    /// Unmounts everything below and removes the directory.
    fn cleanup(&self) -> Result<(), String> {
        for _ in 0..3 {
            let mounts = self.mounts_below();
            if mounts.is_empty() {
                break;
            }
            for m in mounts {
                // Errors are expected when a mount vanished with its parent;
                // what matters is the re-read after the loop.
                let _ = umount2(&m, MntFlags::MNT_DETACH);
            }
        }
        let left = self.mounts_below();
        if !left.is_empty() {
            return Err(format!("still mounted below it: {left:?}; not removing"));
        }
        match fs::remove_dir_all(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
            _ => Ok(()),
        }
    }
}

impl AsRef<Path> for TempRoot {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        if let Err(e) = self.cleanup() {
            eprintln!(
                "rbox-test-support: cannot remove {}: {e}",
                self.path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CloneFlags, can_unshare, require, require_root};

    #[test]
    fn drop_removes_dir() {
        let t = TempRoot::new("unit").expect("create temp root");
        let p = t.path().to_path_buf();
        fs::create_dir_all(t.join("a/b")).expect("mkdir");
        fs::write(t.join("a/b/f"), b"x").expect("write");
        assert!(p.is_dir());
        drop(t);
        assert!(!p.exists());
    }

    #[test]
    fn keep_keeps_dir() {
        let t = TempRoot::new("unit").expect("create temp root");
        let p = t.keep();
        assert!(p.is_dir());
        fs::remove_dir(&p).expect("remove kept dir");
    }

    #[test]
    fn roots_differ() {
        let a = TempRoot::new("unit").expect("create temp root");
        let b = TempRoot::new("unit").expect("create temp root");
        assert_ne!(a.path(), b.path());
    }

    /// Mounts stacked below the root are unmounted before removal, and a
    /// bind mount of a directory outside is not deleted through.
    #[test]
    fn drop_unmounts_nested_mounts() {
        const T: &str = "drop_unmounts_nested_mounts";
        if !require_root(T)
            || !require(
                T,
                "unshare(CLONE_NEWNS)",
                can_unshare(CloneFlags::CLONE_NEWNS),
            )
        {
            return;
        }
        let outside = TempRoot::new("outside").expect("create temp root");
        fs::write(outside.join("precious"), b"keep me").expect("write");
        // A thread of its own, so its mount namespace dies with it.
        let outside_path = outside.path().to_path_buf();
        let inner = std::thread::spawn(move || {
            nix::sched::unshare(CloneFlags::CLONE_NEWNS).expect("unshare mount namespace");
            nix::mount::mount(
                None::<&str>,
                "/",
                None::<&str>,
                nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
                None::<&str>,
            )
            .expect("make / private");
            let t = TempRoot::new("unit").expect("create temp root");
            let p = t.path().to_path_buf();
            fs::create_dir_all(t.join("m/n")).expect("mkdir");
            let flags = nix::mount::MsFlags::empty();
            nix::mount::mount(
                Some("tmpfs"),
                &t.join("m"),
                Some("tmpfs"),
                flags,
                None::<&str>,
            )
            .expect("mount tmpfs");
            fs::create_dir(t.join("m/bind")).expect("mkdir in tmpfs");
            let bind = nix::mount::MsFlags::MS_BIND;
            nix::mount::mount(
                Some(&outside_path),
                &t.join("m/bind"),
                None::<&str>,
                bind,
                None::<&str>,
            )
            .expect("bind mount");
            assert_eq!(t.mounts_below().len(), 2);
            drop(t);
            assert!(!p.exists());
        });
        inner.join().expect("mount thread");
        assert_eq!(
            fs::read(outside.join("precious")).expect("read"),
            b"keep me"
        );
    }
}
