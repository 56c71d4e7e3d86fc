//! Overlay snapshots: the unpacked layers of an image as read-only
//! lowerdirs under one writable upper directory, mounted where a
//! container's (or build step's) root filesystem goes.
//!
//! overlayfs takes its options as one string of at most a page. Each
//! lower is `layers/<64 hex>`; when the list would not fit, short links
//! `layers/l/<12 hex>` (made once, like docker's) stand in for the long
//! names. The mount is undone when the [`Overlay`] is dropped (lazily, so
//! a process still inside it cannot make the drop fail).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use super::Store;
use crate::error::{Error, Result};

/// Largest option string (a page, less room for the kernel's own use).
const MAX_OPTIONS: usize = 4000;

/// How an overlay is mounted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OverlayOptions {
    /// `volatile`: skip syncs of the upper layer. For throw-away uppers
    /// (build steps), never for a container's data.
    pub volatile: bool,
}

impl OverlayOptions {
    /// Options for a throw-away upper (see [`OverlayOptions::volatile`]).
    pub fn throwaway() -> Self {
        Self { volatile: true }
    }
}

/// A mounted overlay; unmounted on drop.
#[derive(Debug)]
#[must_use = "the overlay is unmounted when dropped"]
pub struct Overlay {
    target: PathBuf,
    mounted: bool,
}

impl Overlay {
    /// Where it is mounted.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Unmounts now, reporting failure (drop unmounts lazily and quietly).
    pub fn unmount(mut self) -> Result<()> {
        self.mounted = false;
        nix::mount::umount2(&self.target, MntFlags::empty())
            .or_else(|_| nix::mount::umount2(&self.target, MntFlags::MNT_DETACH))
            .map_err(|e| Error::io("unmount overlay at", &self.target, e.into()))
    }

    /// Leaves the mount in place (its owner unmounts it by path later,
    /// e.g. an engine container that outlives this process).
    pub fn leak(mut self) -> PathBuf {
        self.mounted = false;
        std::mem::take(&mut self.target)
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        if self.mounted
            && let Err(e) = nix::mount::umount2(&self.target, MntFlags::MNT_DETACH)
        {
            tracing::warn!(target = %self.target.display(), "cannot unmount overlay: {e}");
        }
    }
}

/// Unmounts whatever is mounted at `target` (lazily); fine if nothing is.
pub fn unmount_overlay(target: &Path) -> Result<()> {
    match nix::mount::umount2(target, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(Error::io("unmount", target, e.into())),
    }
}

impl Store {
    /// Mounts `lowers` (layer directories, base first, as
    /// [`Store::layer_dirs`] returns them) under `upper` at `target`, with
    /// `work` as overlayfs' work directory (same filesystem as `upper`).
    /// `upper`, `work` and `target` are created if missing. With no
    /// lowers, an empty directory of the store stands in.
    pub fn mount_overlay(
        &self,
        lowers: &[PathBuf],
        upper: &Path,
        work: &Path,
        target: &Path,
        options: OverlayOptions,
    ) -> Result<Overlay> {
        for d in [upper, work, target] {
            fs::create_dir_all(d).map_err(|e| Error::io("create directory", d, e))?;
        }
        let empty;
        let lowers: Vec<PathBuf> = if lowers.is_empty() {
            empty = self.layers_dir().join("empty");
            fs::create_dir_all(&empty).map_err(|e| Error::io("create directory", &empty, e))?;
            vec![empty.clone()]
        } else {
            lowers.to_vec()
        };
        let mut opts = overlay_options(&lowers, upper, work, options);
        if opts.len() > MAX_OPTIONS {
            let short = lowers
                .iter()
                .map(|l| self.short_link(l))
                .collect::<Result<Vec<_>>>()?;
            opts = overlay_options(&short, upper, work, options);
            if opts.len() > MAX_OPTIONS {
                return Err(Error::InvalidImage {
                    digest: crate::Digest::sha256(opts.as_bytes()),
                    reason: format!(
                        "{} layers are more than one overlay mount can stack here",
                        lowers.len()
                    ),
                });
            }
        }
        nix::mount::mount(
            Some("overlay"),
            target,
            Some("overlay"),
            MsFlags::empty(),
            Some(opts.as_str()),
        )
        .map_err(|e| Error::io("mount overlay at", target, e.into()))?;
        Ok(Overlay {
            target: target.to_path_buf(),
            mounted: true,
        })
    }

    /// `layers/l/<12 hex>` -> `../<hex>`, made once.
    fn short_link(&self, lower: &Path) -> Result<PathBuf> {
        let name = lower
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| n.len() > 12)
            .ok_or_else(|| Error::io("link", lower, io::ErrorKind::InvalidInput.into()))?;
        let dir = self.layers_dir().join("l");
        fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
        let link = dir.join(&name[..12]);
        match fs::read_link(&link) {
            Ok(t) if t == Path::new("..").join(name) => return Ok(link),
            Ok(_) => {
                // A 48-bit prefix collision: use the full name instead.
                return Ok(lower.to_path_buf());
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("read link", &link, e)),
        }
        match std::os::unix::fs::symlink(Path::new("..").join(name), &link) {
            Ok(()) => Ok(link),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => self.short_link(lower),
            Err(e) => Err(Error::io("create link", &link, e)),
        }
    }
}

fn overlay_options(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    options: OverlayOptions,
) -> String {
    // overlayfs lists the top lower first.
    let lower: Vec<String> = lowers.iter().rev().map(|p| escape(p)).collect();
    let mut s = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        escape(upper),
        escape(work)
    );
    if options.volatile {
        s.push_str(",volatile");
    }
    s
}

/// overlayfs splits options at `,` and lowerdirs at `:`; a backslash
/// escapes either.
fn escape(p: &Path) -> String {
    let s = p.to_string_lossy();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, ',' | ':' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
