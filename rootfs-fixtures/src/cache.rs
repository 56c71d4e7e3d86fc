//! The per-user rootfs cache and the bundle builder that clones from it.
//!
//! Invariant: a cache entry's final name only ever appears by `rename` of a
//! complete tree, so its existence means it is complete and never changes.
//! Concurrent processes may each build a copy; the first rename wins and the
//! others discard theirs.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown, symlink};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{FixtureError, Result};
use crate::rootfs::{self, BUSYBOX, LAYOUT_VERSION};
use crate::spec::{runtime_spec, write_spec};

/// The cache entry this process already resolved.
static CACHED: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Returns the path of a shared busybox rootfs, building it at most once
/// per busybox binary (keyed by its mtime and size) and per user, under
/// `std::env::temp_dir()/rbox-fixtures-<euid>/`.
///
/// The tree is shared with every other test: treat it as read-only and
/// clone it (see [`busybox_bundle`]) before changing anything.
pub fn cached_busybox_rootfs() -> Result<PathBuf> {
    let mut cached = CACHED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(path) = cached.as_ref() {
        return Ok(path.clone());
    }
    let path = build_cached(Path::new(BUSYBOX), &std::env::temp_dir())?;
    *cached = Some(path.clone());
    Ok(path)
}

/// Finds or builds the cache entry for `busybox` under `tmp`.
pub(crate) fn build_cached(busybox: &Path, tmp: &Path) -> Result<PathBuf> {
    let meta = fs::metadata(busybox).map_err(|source| FixtureError::BusyboxMissing {
        path: busybox.to_path_buf(),
        source,
    })?;
    let uid = nix::unistd::geteuid().as_raw();
    let base = tmp.join(format!("rbox-fixtures-{uid}"));
    own_dir(&base, uid)?;
    let key = format!(
        "busybox-v{LAYOUT_VERSION}-{}.{:09}-{}",
        meta.mtime(),
        meta.mtime_nsec(),
        meta.size()
    );
    let entry = base.join(&key);
    if entry.is_dir() {
        return Ok(entry);
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let scratch = base.join(format!(".{key}.tmp-{}-{nanos}", std::process::id()));
    tracing::debug!(path = %entry.display(), "building cached busybox rootfs");
    if let Err(e) = rootfs::build(busybox, &scratch) {
        let _ = fs::remove_dir_all(&scratch);
        return Err(e);
    }
    match fs::rename(&scratch, &entry) {
        Ok(()) => Ok(entry),
        // Another process renamed its complete copy first: use that one.
        Err(_) if entry.is_dir() => {
            let _ = fs::remove_dir_all(&scratch);
            Ok(entry)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&scratch);
            Err(FixtureError::io("rename", &scratch)(e))
        }
    }
}

/// Creates the per-user cache directory, refusing one that someone else
/// owns (in a shared /tmp, they could have planted the tree).
fn own_dir(path: &Path, uid: u32) -> Result<()> {
    match fs::DirBuilder::new().create(path) {
        Ok(()) => rootfs::set_mode(path, 0o755)?,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(FixtureError::io("create directory", path)(e)),
    }
    let meta = fs::symlink_metadata(path).map_err(FixtureError::io("stat", path))?;
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o022 != 0 {
        return Err(FixtureError::CacheNotOurs {
            path: path.to_path_buf(),
            owner: meta.uid(),
            uid,
        });
    }
    Ok(())
}

/// Writes a bundle to `dest`: `dest/rootfs`, cloned from
/// [`cached_busybox_rootfs`], and `dest/config.json` from
/// [`runtime_spec`]`(args)`. Returns the path of `config.json`.
///
/// `dest` is created if missing; `dest/rootfs` must not exist or be empty.
/// Executables (and symlinks) in the rootfs are hard links into the cache
/// where the file system allows (copies otherwise): replace them, never
/// edit them in place.
pub fn busybox_bundle(dest: &Path, args: &[&str]) -> Result<PathBuf> {
    let cache = cached_busybox_rootfs()?;
    let rootfs = dest.join("rootfs");
    rootfs::prepare_dest(&rootfs)?;
    clone_tree(&cache, &rootfs)?;
    write_spec(dest, &runtime_spec(args))
}

/// Copies the tree at `src` into the existing directory `dst`, keeping
/// modes and owners; executables and symlinks are hard-linked when possible.
pub(crate) fn clone_tree(src: &Path, dst: &Path) -> Result<()> {
    let root = nix::unistd::geteuid().is_root();
    copy_meta(src, dst, root)?;
    let entries = fs::read_dir(src).map_err(FixtureError::io("read directory", src))?;
    for entry in entries {
        let entry = entry.map_err(FixtureError::io("read directory", src))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let ty = entry.file_type().map_err(FixtureError::io("stat", &from))?;
        if ty.is_dir() {
            fs::create_dir(&to).map_err(FixtureError::io("create directory", &to))?;
            clone_tree(&from, &to)?;
        } else if ty.is_symlink() {
            // A symlink cannot be changed in place, so sharing its inode is
            // safe, and on ext4 linking is far cheaper than creating one.
            if fs::hard_link(&from, &to).is_ok() {
                continue;
            }
            let target = fs::read_link(&from).map_err(FixtureError::io("read symlink", &from))?;
            symlink(&target, &to).map_err(FixtureError::io("create symlink", &to))?;
        } else {
            let meta = fs::metadata(&from).map_err(FixtureError::io("stat", &from))?;
            if meta.mode() & 0o111 != 0 && fs::hard_link(&from, &to).is_ok() {
                continue;
            }
            fs::copy(&from, &to).map_err(FixtureError::io("copy", &from))?;
            copy_meta(&from, &to, root)?;
        }
    }
    Ok(())
}

/// Gives `dst` the mode of `src`, and its owner when we may chown.
fn copy_meta(src: &Path, dst: &Path, root: bool) -> Result<()> {
    let meta = fs::metadata(src).map_err(FixtureError::io("stat", src))?;
    if root {
        chown(dst, Some(meta.uid()), Some(meta.gid())).map_err(FixtureError::io("chown", dst))?;
    }
    fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(FixtureError::io("chmod", dst))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rbox_test_support::TempRoot;

    fn have_busybox(test: &str) -> bool {
        crate::rootfs::tests::have_busybox(test)
    }

    #[test]
    fn cache_is_built_once_and_shared() {
        if !have_busybox("cache_is_built_once_and_shared") {
            return;
        }
        let t = TempRoot::new("fixture-cache").expect("temp root");
        let tmp = t.path().to_path_buf();
        let paths: Vec<PathBuf> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..3)
                .map(|_| s.spawn(|| build_cached(Path::new(BUSYBOX), &tmp)))
                .collect();
            hs.into_iter()
                .map(|h| h.join().expect("builder thread").expect("build cache"))
                .collect()
        });
        assert!(paths.iter().all(|p| *p == paths[0]));
        assert!(paths[0].join("bin/busybox").is_file());
        let again = build_cached(Path::new(BUSYBOX), &tmp).expect("reuse cache");
        assert_eq!(again, paths[0]);
        // Only the entry itself: losers removed their scratch copies.
        let base = paths[0].parent().expect("cache base");
        assert_eq!(fs::read_dir(base).expect("list cache").count(), 1);
    }

    #[test]
    fn bundle_links_executables_and_copies_the_rest() {
        if !have_busybox("bundle_links_executables_and_copies_the_rest") {
            return;
        }
        let t = TempRoot::new("fixture-bundle").expect("temp root");
        let config = busybox_bundle(&t.join("b"), &["/bin/true"]).expect("bundle");
        assert_eq!(config, t.join("b/config.json"));
        let spec: serde_json::Value =
            serde_json::from_slice(&fs::read(&config).expect("read config")).expect("parse config");
        assert_eq!(spec["process"]["args"], serde_json::json!(["/bin/true"]));
        let cache = cached_busybox_rootfs().expect("cache");
        let ino = |p: &Path| fs::metadata(p).expect("stat").ino();
        let rootfs = t.join("b/rootfs");
        let same_fs =
            fs::metadata(&cache).expect("stat").dev() == fs::metadata(&rootfs).expect("stat").dev();
        if same_fs {
            assert_eq!(
                ino(&rootfs.join("bin/busybox")),
                ino(&cache.join("bin/busybox"))
            );
        }
        assert_ne!(
            ino(&rootfs.join("etc/passwd")),
            ino(&cache.join("etc/passwd"))
        );
        assert_eq!(
            fs::metadata(rootfs.join("tmp")).expect("stat").mode() & 0o7777,
            0o1777
        );
        assert_eq!(
            fs::read_link(rootfs.join("bin/sh")).expect("sh link"),
            Path::new("../bin/busybox")
        );
        // A second bundle into the same place is refused, not merged.
        let err = busybox_bundle(&t.join("b"), &[]).expect_err("rootfs exists");
        assert!(matches!(err, FixtureError::DestNotEmpty { .. }), "{err}");
    }
}
