//! The container's root filesystem: an overlay of the image's unpacked
//! layers (lowerdirs, top layer first) with `upper/` and `work/` under
//! the container's directory, mounted at `containers/<id>/rootfs`. When
//! overlayfs is unavailable the image is flattened into that directory
//! instead. The mount lives from create to rm.
//!
//! overlayfs takes its options in one page: a long lowerdir list is
//! passed as short names relative to the layers directory, with the
//! process's cwd there for the mount call (docker's trick).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use crate::error::{Error, Result};

/// Option strings longer than this use relative lowerdirs.
const MAX_OPTIONS: usize = 4000;

/// How the rootfs was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An overlay mount.
    Overlay,
    /// A flattened copy.
    Copy,
}

/// Mounts (or copies) the rootfs of `image` for the container in `dir`.
pub fn prepare(
    store: &rbox_image::Store,
    image: &rbox_image::store::Image,
    dir: &Path,
) -> Result<(PathBuf, Kind)> {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(&rootfs).map_err(|e| Error::io("creating", &rootfs, e))?;
    let layers = store.layer_dirs(image).map_err(|source| Error::Image {
        name: image.id.to_string(),
        source,
    })?;
    match mount_overlay(&layers, dir, &rootfs, &store.layers_dir()) {
        Ok(()) => Ok((rootfs, Kind::Overlay)),
        Err(e) => {
            tracing::warn!(
                "overlay mount failed ({e}); flattening the image into {}",
                rootfs.display()
            );
            store
                .flatten_into(image, &rootfs)
                .map_err(|source| Error::Image {
                    name: image.id.to_string(),
                    source,
                })?;
            Ok((rootfs, Kind::Copy))
        }
    }
}

fn mount_overlay(layers: &[PathBuf], dir: &Path, rootfs: &Path, layers_dir: &Path) -> Result<()> {
    let upper = dir.join("upper");
    let work = dir.join("work");
    for d in [&upper, &work] {
        std::fs::create_dir_all(d).map_err(|e| Error::io("creating", d, e))?;
    }
    let mut lowers: Vec<PathBuf> = layers.iter().rev().cloned().collect();
    if lowers.is_empty() {
        // An image without layers: overlay needs one lower dir.
        let empty = dir.join("empty");
        std::fs::create_dir_all(&empty).map_err(|e| Error::io("creating", &empty, e))?;
        lowers.push(empty);
    }
    match overlay_data(&lowers, &upper, &work, layers_dir) {
        (data, false) => mount(rootfs, &data),
        (data, true) => {
            let cwd = std::env::current_dir().map_err(|e| Error::io("reading cwd", ".", e))?;
            std::env::set_current_dir(layers_dir).map_err(|e| Error::io("chdir", layers_dir, e))?;
            let r = mount(rootfs, &data);
            let _ = std::env::set_current_dir(&cwd);
            r
        }
    }
}

/// The overlay mount data, and whether its lowerdirs are relative to
/// `layers_dir` (the absolute form would not fit in a page).
fn overlay_data(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    layers_dir: &Path,
) -> (String, bool) {
    let data = |lowers: Vec<String>| {
        format!(
            "lowerdir={},upperdir={},workdir={},index=off",
            lowers.join(":"),
            upper.display(),
            work.display()
        )
    };
    let abs = data(lowers.iter().map(|p| p.display().to_string()).collect());
    if abs.len() <= MAX_OPTIONS {
        return (abs, false);
    }
    let rel = lowers
        .iter()
        .map(|p| match p.strip_prefix(layers_dir) {
            Ok(r) => r.display().to_string(),
            Err(_) => p.display().to_string(),
        })
        .collect();
    (data(rel), true)
}

fn mount(target: &Path, data: &str) -> Result<()> {
    nix::mount::mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(data),
    )
    .map_err(|source| Error::Sys {
        call: format!("mount overlay on {}", target.display()),
        source,
    })
}

/// Whether `p` is a mount point (its device differs from its parent's).
pub fn is_mounted(p: &Path) -> bool {
    let (Ok(a), Some(Ok(b))) = (std::fs::metadata(p), p.parent().map(std::fs::metadata)) else {
        return false;
    };
    a.dev() != b.dev()
}

/// Unmounts the rootfs if mounted (lazily: a process still holding a
/// file keeps the mount alive out of sight).
pub fn release(rootfs: &Path) -> Result<()> {
    if is_mounted(rootfs) {
        nix::mount::umount2(rootfs, MntFlags::MNT_DETACH).map_err(|source| Error::Sys {
            call: format!("umount {}", rootfs.display()),
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lowerdir_lists_go_relative() {
        let layers = Path::new("/var/lib/rbox/layers");
        let hex = "a".repeat(64);
        let few: Vec<PathBuf> = (0..3).map(|i| layers.join(format!("{hex}{i}"))).collect();
        let (d, rel) = overlay_data(&few, Path::new("/u"), Path::new("/w"), layers);
        assert!(!rel && d.starts_with("lowerdir=/var/lib/rbox/layers/"));
        let many: Vec<PathBuf> = (0..100).map(|i| layers.join(format!("{hex}{i}"))).collect();
        let (d, rel) = overlay_data(&many, Path::new("/u"), Path::new("/w"), layers);
        assert!(rel);
        assert!(d.starts_with(&format!("lowerdir={hex}0:{hex}1:")), "{d}");
        assert!(d.ends_with(",upperdir=/u,workdir=/w,index=off"));
    }
}
