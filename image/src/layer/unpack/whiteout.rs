//! Whiteouts and opaque markers, applied to a flattened tree (removal) or
//! written as overlayfs whiteouts.

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag};

use super::{Unpacker, failed, refused};
use crate::error::Result;
use crate::layer::Whiteouts;
use crate::layer::path::EntryPath;
use crate::layer::tree::{self, cstring, open_child_dir, open_dir_in_root};
use crate::sys;

const OVERLAY_OPAQUE: &CStr = c"trusted.overlay.opaque";

impl Unpacker<'_> {
    pub(super) fn whiteout(&mut self, parent: &[u8], victim: &[u8], name: &str) -> Result<()> {
        let victim = cstring(victim).map_err(|e| failed(name, "name", e))?;
        match self.options.whiteouts {
            Whiteouts::Apply => {
                let dir =
                    match open_dir_in_root(self.root.as_fd(), parent, OFlag::O_PATH, self.follow())
                    {
                        Ok(fd) => fd,
                        // Nothing below to hide.
                        Err(Errno::ENOENT) => return Ok(()),
                        Err(e) => return Err(self.resolve_error(e, parent, name)),
                    };
                self.remove_existing(dir.as_fd(), &victim, name)
            }
            Whiteouts::Overlay => {
                let dir = self.parent(parent, name)?;
                let dir = dir.as_fd();
                self.replacing(dir, &victim, name, "create overlay whiteout", || {
                    nix::sys::stat::mknodat(
                        dir,
                        victim.as_c_str(),
                        SFlag::S_IFCHR,
                        Mode::empty(),
                        0,
                    )
                })
            }
        }
    }

    pub(super) fn opaque(&mut self, parent: &[u8], name: &str) -> Result<()> {
        // Make sure the directory exists (the marker may precede it).
        self.parent(parent, name)?;
        let dir = open_dir_in_root(self.root.as_fd(), parent, OFlag::O_RDONLY, self.follow())
            .map_err(|e| self.resolve_error(e, parent, name))?;
        match self.options.whiteouts {
            Whiteouts::Overlay => sys::fsetxattr(dir.as_fd(), OVERLAY_OPAQUE, b"y")
                .map_err(|e| failed(name, "mark directory opaque", e)),
            Whiteouts::Apply => {
                self.cache = None;
                self.sweep(dir.as_fd(), parent, name, 0)
            }
        }
    }

    /// Removes from `dir` (at `path`) everything this layer did not write,
    /// keeping the directories that lead to what it wrote.
    pub(super) fn sweep(
        &self,
        dir: BorrowedFd<'_>,
        path: &[u8],
        name: &str,
        depth: usize,
    ) -> Result<()> {
        let names = tree::list_dir(dir).map_err(|e| failed(name, "list opaque directory", e))?;
        for child in names {
            let full = EntryPath::join(path, child.to_bytes());
            if self.ancestors.contains(&full) {
                if depth > 1024 {
                    return Err(refused(name, "opaque directory nested too deep"));
                }
                let sub = open_child_dir(dir, &child, OFlag::O_RDONLY)
                    .map_err(|e| failed(name, "open directory", e))?;
                self.sweep(sub.as_fd(), &full, name, depth + 1)?;
            } else if !self.created.contains(&full) {
                tree::remove_all_at(dir, &child)
                    .map_err(|e| failed(name, "remove hidden entry", e))?;
            }
        }
        Ok(())
    }
}
