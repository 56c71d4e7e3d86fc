//! Creating one entry of each kind below an already-resolved parent
//! directory: the last component is never followed, and whatever was at
//! the name is removed first (a directory over a directory excepted).

use std::ffi::CStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, UtimensatFlags};
use nix::unistd::{Gid, Uid};

use super::{DirFixup, Meta, Unpacker, failed, lossy, refused};
use crate::error::Result;
use crate::layer::Devices;
use crate::layer::path::EntryPath;
use crate::layer::tree::{self, cstring, open_child_dir, open_dir_in_root};
use crate::sys::{self, XattrTarget};

impl Unpacker<'_> {
    pub(super) fn make_dir(
        &mut self,
        dir: BorrowedFd<'_>,
        base: &CStr,
        path: &EntryPath,
        meta: Meta,
        name: &str,
    ) -> Result<bool> {
        let mkdir = || nix::sys::stat::mkdirat(dir, base, Mode::from_bits_truncate(0o700));
        match mkdir() {
            Ok(()) => {}
            Err(Errno::EEXIST) => {
                let kind = tree::kind_at(dir, base).map_err(|e| failed(name, "stat", e))?;
                if kind != Some(SFlag::S_IFDIR) {
                    self.remove_existing(dir, base, name)?;
                    mkdir().map_err(|e| failed(name, "create directory", e))?;
                }
            }
            Err(e) => return Err(failed(name, "create directory", e)),
        }
        let fd = open_child_dir(dir, base, OFlag::O_RDONLY)
            .map_err(|e| failed(name, "open directory", e))?;
        self.chown_fd(fd.as_fd(), &meta, name)?;
        self.set_xattrs(XattrTarget::Fd(fd.as_fd()), &meta, name)?;
        let st = nix::sys::stat::fstat(&fd).map_err(|e| failed(name, "stat", e))?;
        self.dirs.push(DirFixup {
            path: path.as_bytes().to_vec(),
            mode: meta.mode,
            mtime: meta.mtime,
            dev: st.st_dev,
            ino: st.st_ino,
        });
        Ok(true)
    }

    pub(super) fn make_file<R: Read>(
        &mut self,
        dir: BorrowedFd<'_>,
        base: &CStr,
        entry: &mut tar::Entry<'_, R>,
        meta: Meta,
        name: &str,
    ) -> Result<bool> {
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = self.replacing(dir, base, name, "create file", || {
            nix::fcntl::openat(dir, base, flags, Mode::from_bits_truncate(0o600))
        })?;
        let mut file = File::from(fd);
        let size = entry.size();
        let mut written = 0u64;
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.tar_error(e)),
            };
            file.write_all(&self.buf[..n])
                .map_err(|e| failed(name, "write", e))?;
            written += n as u64;
        }
        if written != size {
            return Err(self.tar_error(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the archive ends {written} bytes into this {size}-byte file"),
            )));
        }
        self.chown_fd(file.as_fd(), &meta, name)?;
        nix::sys::stat::fchmod(&file, Mode::from_bits_truncate(meta.mode))
            .map_err(|e| failed(name, "chmod", e))?;
        self.set_xattrs(XattrTarget::Fd(file.as_fd()), &meta, name)?;
        nix::sys::stat::futimens(&file, &meta.mtime, &meta.mtime)
            .map_err(|e| failed(name, "set times", e))?;
        Ok(true)
    }

    pub(super) fn make_symlink(
        &mut self,
        dir: BorrowedFd<'_>,
        base: &CStr,
        target: &[u8],
        meta: Meta,
        name: &str,
    ) -> Result<bool> {
        if target.is_empty() {
            return Err(refused(name, "symlink with an empty target"));
        }
        let target = cstring(target).map_err(|_| refused(name, "symlink target with NUL"))?;
        self.replacing(dir, base, name, "create symlink", || {
            nix::unistd::symlinkat(target.as_c_str(), dir, base)
        })?;
        self.finish_at(dir, base, &meta, name, false)?;
        Ok(true)
    }

    pub(super) fn make_hardlink(
        &mut self,
        dir: BorrowedFd<'_>,
        base: &CStr,
        path: &EntryPath,
        target: &[u8],
        name: &str,
    ) -> Result<bool> {
        let link = EntryPath::parse(target)
            .map_err(|r| refused(name, format!("hard link target {:?}: {r}", lossy(target))))?;
        if link.is_root() {
            return Err(refused(name, "hard link to the layer root"));
        }
        if link == *path {
            return Ok(false);
        }
        let (lparent, lbase) = link.split();
        let missing = || {
            refused(
                name,
                format!(
                    "hard link target {:?} is not in the layer or below it",
                    lossy(target)
                ),
            )
        };
        let src = match open_dir_in_root(self.root.as_fd(), lparent, OFlag::O_PATH, self.follow()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT | Errno::ENOTDIR) => return Err(missing()),
            Err(e) => return Err(self.resolve_error(e, lparent, name)),
        };
        let lbase = cstring(lbase).map_err(|e| failed(name, "name", e))?;
        // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink.
        let link =
            || nix::unistd::linkat(src.as_fd(), lbase.as_c_str(), dir, base, AtFlags::empty());
        match link() {
            Ok(()) => Ok(true),
            Err(Errno::ENOENT) => Err(missing()),
            Err(Errno::EEXIST) => {
                let same = |d: BorrowedFd<'_>, n: &CStr| {
                    nix::sys::stat::fstatat(d, n, AtFlags::AT_SYMLINK_NOFOLLOW)
                        .map(|s| (s.st_dev, s.st_ino))
                };
                if same(src.as_fd(), &lbase).ok() == same(dir, base).ok() {
                    return Ok(true);
                }
                self.remove_existing(dir, base, name)?;
                link().map_err(|e| failed(name, "create hard link", e))?;
                Ok(true)
            }
            Err(e) => Err(failed(name, "create hard link", e)),
        }
    }

    pub(super) fn make_node<R: Read>(
        &mut self,
        dir: BorrowedFd<'_>,
        base: &CStr,
        entry: &mut tar::Entry<'_, R>,
        meta: Meta,
        name: &str,
    ) -> Result<bool> {
        let h = entry.header();
        let (kind, dev) = match h.entry_type() {
            tar::EntryType::Fifo => (SFlag::S_IFIFO, 0),
            t => {
                match self.options.devices {
                    Devices::Create => {}
                    Devices::Skip => {
                        tracing::debug!(entry = name, "skipping a device node");
                        return Ok(false);
                    }
                    Devices::Refuse => {
                        return Err(refused(
                            name,
                            "device nodes are refused by the unpack options",
                        ));
                    }
                }
                let num = |v: io::Result<Option<u32>>| {
                    v.map(Option::unwrap_or_default)
                        .map_err(|e| self.tar_error(e))
                };
                let major = num(h.device_major())?;
                let minor = num(h.device_minor())?;
                let kind = if t == tar::EntryType::Char {
                    SFlag::S_IFCHR
                } else {
                    SFlag::S_IFBLK
                };
                (kind, nix::sys::stat::makedev(major.into(), minor.into()))
            }
        };
        self.replacing(dir, base, name, "create device node or fifo", || {
            nix::sys::stat::mknodat(dir, base, kind, Mode::from_bits_truncate(0o600), dev)
        })?;
        self.finish_at(dir, base, &meta, name, true)?;
        Ok(true)
    }

    /// Owner, mode (unless a symlink), attributes and times of `base` in
    /// `dir`, which was just created by us (so it is not a symlink unless
    /// `chmod` is false).
    pub(super) fn finish_at(
        &self,
        dir: BorrowedFd<'_>,
        base: &CStr,
        meta: &Meta,
        name: &str,
        chmod: bool,
    ) -> Result<()> {
        if self.options.same_owner {
            nix::unistd::fchownat(
                dir,
                base,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| failed(name, "chown", e))?;
        }
        if chmod {
            nix::sys::stat::fchmodat(
                dir,
                base,
                Mode::from_bits_truncate(meta.mode),
                FchmodatFlags::FollowSymlink,
            )
            .map_err(|e| failed(name, "chmod", e))?;
        }
        if !meta.xattrs.is_empty() {
            let p = cstring(&sys::proc_fd_path(&dir, base.to_bytes()))
                .map_err(|e| failed(name, "name", e))?;
            self.set_xattrs(XattrTarget::Link(&p), meta, name)?;
        }
        nix::sys::stat::utimensat(
            dir,
            base,
            &meta.mtime,
            &meta.mtime,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| failed(name, "set times", e))
    }

    pub(super) fn chown_fd(&self, fd: BorrowedFd<'_>, meta: &Meta, name: &str) -> Result<()> {
        if !self.options.same_owner {
            return Ok(());
        }
        nix::unistd::fchown(
            fd,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
        )
        .map_err(|e| failed(name, "chown", e))
    }

    pub(super) fn set_xattrs(
        &self,
        target: XattrTarget<'_>,
        meta: &Meta,
        name: &str,
    ) -> Result<()> {
        for (attr, value) in &meta.xattrs {
            let bytes = attr.to_bytes();
            if bytes.starts_with(b"trusted.overlay.") || bytes.starts_with(b"user.overlay.") {
                tracing::warn!(entry = name, xattr = ?attr, "skipping an overlayfs attribute from the layer");
                continue;
            }
            let r = match target {
                XattrTarget::Fd(fd) => sys::fsetxattr(fd, attr, value),
                XattrTarget::Link(p) => sys::lsetxattr(p, attr, value),
            };
            match r {
                Ok(()) => {}
                Err(e @ (Errno::ENOTSUP | Errno::EPERM)) => {
                    tracing::warn!(entry = name, xattr = ?attr, "cannot set attribute: {e}");
                }
                Err(e) => return Err(failed(name, "set extended attribute", e)),
            }
        }
        Ok(())
    }
}
