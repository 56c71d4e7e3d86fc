//! The container's root filesystem: an overlay of the image's unpacked
//! layers (lowerdirs, top layer first) with `upper/` and `work/` under
//! the container's directory, mounted at `containers/<id>/rootfs`. When
//! overlayfs is unavailable the image is flattened into that directory
//! instead. The mount lives from create to rm.
//!
//! overlayfs takes its options in one page: a long lowerdir list is
//! passed as short symlinks (`l/0`, `l/1`…) in the container directory,
//! named relative to it with the process's cwd there for the mount call
//! (docker's trick).

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

/// Mounts (or copies) the rootfs of `image` for the container `id` in
/// `dir`. The container holds the image's layers in the store until
/// [`release_hold`], so `rmi` and `image prune` keep them.
pub fn prepare(
    store: &rbox_image::Store,
    image: &rbox_image::store::Image,
    id: &str,
    dir: &Path,
) -> Result<(PathBuf, Kind)> {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(&rootfs).map_err(|e| Error::io("creating", &rootfs, e))?;
    let image_err = |source| Error::Image {
        name: image.id.to_string(),
        source,
    };
    store
        .hold_layers(id, &image.config.chain_ids())
        .map_err(image_err)?;
    let layers = store.layer_dirs(image).map_err(image_err)?;
    match mount_overlay(&layers, dir, &rootfs) {
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

fn mount_overlay(layers: &[PathBuf], dir: &Path, rootfs: &Path) -> Result<()> {
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
    let abs: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
    let data = overlay_data(&abs, &upper, &work);
    if data.len() <= MAX_OPTIONS {
        return mount(rootfs, &data);
    }
    // Too long for one page: short symlinks `l/0`, `l/1`… to the layers,
    // named relative to `l/`, with the cwd there for the mount call.
    let short = dir.join("l");
    let _ = std::fs::remove_dir_all(&short);
    std::fs::create_dir_all(&short).map_err(|e| Error::io("creating", &short, e))?;
    for (i, p) in lowers.iter().enumerate() {
        let link = short.join(i.to_string());
        std::os::unix::fs::symlink(p, &link).map_err(|e| Error::io("creating link", &link, e))?;
    }
    let names: Vec<String> = (0..lowers.len()).map(|i| i.to_string()).collect();
    let data = overlay_data(&names, &upper, &work);
    let cwd = std::env::current_dir().map_err(|e| Error::io("reading cwd", ".", e))?;
    std::env::set_current_dir(&short).map_err(|e| Error::io("chdir", &short, e))?;
    let r = mount(rootfs, &data);
    let _ = std::env::set_current_dir(&cwd);
    r
}

/// The overlay mount data.
fn overlay_data(lowers: &[String], upper: &Path, work: &Path) -> String {
    format!(
        "lowerdir={},upperdir={},workdir={},index=off",
        lowers.join(":"),
        upper.display(),
        work.display()
    )
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

/// Drops the container's hold on its image's layers (see [`prepare`]);
/// logs rather than fails, as it runs on cleanup paths.
pub fn release_hold(data_root: &Path, id: &str) {
    if let Err(e) = rbox_image::Store::open(data_root).and_then(|s| s.release_layers(id)) {
        tracing::warn!(%id, "cannot release the container's hold on its layers: {e}");
    }
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
    fn short_lowerdir_names_fit_a_page() {
        // overlayfs takes at most 500 lower layers.
        let names: Vec<String> = (0..500).map(|i| i.to_string()).collect();
        let upper = Path::new("/var/lib/rbox/containers")
            .join("a".repeat(64))
            .join("upper");
        let work = upper.with_file_name("work");
        let d = overlay_data(&names, &upper, &work);
        assert!(d.len() <= MAX_OPTIONS, "{}", d.len());
        assert!(d.starts_with("lowerdir=0:1:2:"));
    }
}
