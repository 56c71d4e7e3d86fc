//! Making a layer from a directory tree, reproducibly.
//!
//! The tree is walked by descriptors (never following a symlink, so a
//! container that planted links in its upper directory cannot make us read
//! host files), each directory's names sorted bytewise, depth first. Headers
//! are ustar with PAX records only where needed (long names, large ids,
//! xattrs), no user or group names, no atime or ctime, and mtimes as the
//! options say; so the same tree gives the same bytes, and with
//! [`Mtime::Fixed`] the same tree content does. An overlayfs upper
//! directory is translated to OCI whiteouts on the way.

mod encode;

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};

use self::encode::{Encoder, Exact, Output, set_ustar_name};
use super::Compression;
use super::path::{OPAQUE, WHITEOUT_PREFIX};
use super::tree::{self, cstring, open_child_dir};
use crate::digest::{Algorithm, Digest, DigestWriter};
use crate::error::{Error, Result};
use crate::sys::{self, XattrTarget};

/// Deepest nesting walked.
const MAX_DEPTH: usize = 1024;
/// ustar's largest octal uid/gid (7 digits).
const USTAR_ID_MAX: u64 = 0o7_777_777;

/// Which mtimes go into the headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mtime {
    /// The files' own (whole seconds).
    #[default]
    Keep,
    /// This one for every entry (seconds since the epoch).
    Fixed(u64),
    /// The files' own, but none later than this (SOURCE_DATE_EPOCH).
    Clamp(u64),
}

/// What kind of tree is packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PackSource {
    /// An ordinary tree: everything in it, as it is.
    #[default]
    Tree,
    /// An overlayfs upper directory (the diff of a container or build
    /// step): character devices 0/0 become `.wh.<name>` whiteouts and
    /// directories marked `trusted.overlay.opaque=y` (or `user.overlay.*`)
    /// get a `.wh..wh..opq` marker.
    OverlayUpper,
}

/// How [`pack`] writes a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PackOptions {
    /// Compression; gzip by default (what every registry and client takes).
    pub compression: Compression,
    /// Compression level; the codec's default when None (gzip 6, zstd 3).
    pub level: Option<u32>,
    /// Header mtimes.
    pub mtime: Mtime,
    /// What the directory is.
    pub source: PackSource,
    /// Carry extended attributes (`SCHILY.xattr.*`). `security.selinux`,
    /// `system.*` (ACLs) and overlayfs' own attributes are never carried.
    pub xattrs: bool,
}

impl Default for PackOptions {
    fn default() -> Self {
        Self {
            compression: Compression::Gzip,
            level: None,
            mtime: Mtime::Keep,
            source: PackSource::Tree,
            xattrs: true,
        }
    }
}

/// What [`pack`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PackedLayer {
    /// sha256 of the bytes written (the layer's descriptor digest).
    pub digest: Digest,
    /// Bytes written.
    pub size: u64,
    /// sha256 of the uncompressed tar (the config's `diff_id`).
    pub diff_id: Digest,
    /// Size of the uncompressed tar.
    pub uncompressed_size: u64,
    /// The compression used.
    pub compression: Compression,
    /// Archive entries written (whiteout markers included).
    pub entries: u64,
}

/// Packs the tree at `dir` into a layer written to `out`.
///
/// The root directory itself is not an entry (as in docker's layers).
/// Sockets are skipped; a file that changes size while being read is an
/// error ([`Error::Changed`]).
pub fn pack(dir: &Path, options: &PackOptions, out: impl Write) -> Result<PackedLayer> {
    let root = nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open directory", dir, e.into()))?;
    let io_err = |e: io::Error| Error::io("write layer of", dir, e);
    let compressed = DigestWriter::new(BufWriter::with_capacity(256 << 10, out), Algorithm::Sha256);
    let encoder = Encoder::new(compressed, options.compression, options.level).map_err(io_err)?;
    let tar_out: Output<_> = DigestWriter::new(encoder, Algorithm::Sha256);
    let mut packer = Packer {
        builder: tar::Builder::new(tar_out),
        options,
        dir,
        links: HashMap::new(),
        entries: 0,
    };
    packer.walk(root.as_fd(), b"", 0)?;
    let tar_out = packer.builder.into_inner().map_err(io_err)?;
    let entries = packer.entries;
    let (encoder, diff_id, uncompressed_size) = tar_out.into_parts();
    let compressed = encoder.finish().map_err(io_err)?;
    let (mut buffered, digest, size) = compressed.into_parts();
    buffered.flush().map_err(io_err)?;
    tracing::debug!(dir = %dir.display(), %digest, %diff_id, entries, "layer packed");
    Ok(PackedLayer {
        digest,
        size,
        diff_id,
        uncompressed_size,
        compression: options.compression,
        entries,
    })
}

struct Packer<'a, W: Write> {
    builder: tar::Builder<W>,
    options: &'a PackOptions,
    dir: &'a Path,
    /// First path of each multiply-linked inode, for hard-link entries.
    links: HashMap<(u64, u64), Vec<u8>>,
    entries: u64,
}

/// One header's worth of facts about a file.
struct Item<'p> {
    path: &'p [u8],
    kind: tar::EntryType,
    st: &'p FileStat,
    size: u64,
    link: Option<&'p [u8]>,
}

impl<W: Write> Packer<'_, W> {
    fn fail(&self, path: &[u8], op: &'static str, e: impl Into<io::Error>) -> Error {
        Error::io(
            op,
            self.dir.join(std::ffi::OsStr::from_bytes(path)),
            e.into(),
        )
    }

    fn walk(&mut self, dir: BorrowedFd<'_>, rel: &[u8], depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(self.fail(rel, "walk (nested too deep)", Errno::ELOOP));
        }
        let mut names = tree::list_dir(dir).map_err(|e| self.fail(rel, "list", e))?;
        names.sort_by(|a, b| a.to_bytes().cmp(b.to_bytes()));
        for name in names {
            let path = super::path::EntryPath::join(rel, name.to_bytes());
            let st = nix::sys::stat::fstatat(dir, name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                .map_err(|e| self.fail(&path, "stat", e))?;
            match SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) {
                SFlag::S_IFDIR => {
                    let fd = open_child_dir(dir, &name, OFlag::O_RDONLY)
                        .map_err(|e| self.fail(&path, "open directory", e))?;
                    self.check_overlay(fd.as_fd(), &path)?;
                    let xattrs = self.xattrs(XattrTarget::Fd(fd.as_fd()), &path)?;
                    let mut dpath = path.clone();
                    dpath.push(b'/');
                    self.append(
                        &Item {
                            path: &dpath,
                            kind: tar::EntryType::Directory,
                            st: &st,
                            size: 0,
                            link: None,
                        },
                        &xattrs,
                        io::empty(),
                    )?;
                    if self.options.source == PackSource::OverlayUpper && is_opaque(fd.as_fd()) {
                        let marker = super::path::EntryPath::join(&path, OPAQUE);
                        self.append_marker(&marker, &st)?;
                    }
                    self.walk(fd.as_fd(), &path, depth + 1)?;
                }
                SFlag::S_IFREG => self.file(dir, &name, &path, &st)?,
                SFlag::S_IFLNK => {
                    let target = nix::fcntl::readlinkat(dir, name.as_c_str())
                        .map_err(|e| self.fail(&path, "read link", e))?;
                    let xattrs = self.xattrs_at(dir, &name, &path)?;
                    let target = target.as_bytes().to_vec();
                    self.append(
                        &Item {
                            path: &path,
                            kind: tar::EntryType::Symlink,
                            st: &st,
                            size: 0,
                            link: Some(&target),
                        },
                        &xattrs,
                        io::empty(),
                    )?;
                }
                SFlag::S_IFCHR
                    if self.options.source == PackSource::OverlayUpper && st.st_rdev == 0 =>
                {
                    let (parent, base) = split(&path);
                    let mut wh = WHITEOUT_PREFIX.to_vec();
                    wh.extend_from_slice(base);
                    let wh = super::path::EntryPath::join(parent, &wh);
                    self.append_marker(&wh, &st)?;
                }
                kind @ (SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFIFO) => {
                    let kind = match kind {
                        SFlag::S_IFCHR => tar::EntryType::Char,
                        SFlag::S_IFBLK => tar::EntryType::Block,
                        _ => tar::EntryType::Fifo,
                    };
                    let xattrs = self.xattrs_at(dir, &name, &path)?;
                    self.append(
                        &Item {
                            path: &path,
                            kind,
                            st: &st,
                            size: 0,
                            link: None,
                        },
                        &xattrs,
                        io::empty(),
                    )?;
                }
                _ => tracing::debug!(path = %String::from_utf8_lossy(&path), "skipping a socket"),
            }
        }
        Ok(())
    }

    fn file(&mut self, dir: BorrowedFd<'_>, name: &CStr, path: &[u8], st: &FileStat) -> Result<()> {
        if st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key).cloned() {
                let xattrs = Vec::new();
                return self.append(
                    &Item {
                        path,
                        kind: tar::EntryType::Link,
                        st,
                        size: 0,
                        link: Some(&first),
                    },
                    &xattrs,
                    io::empty(),
                );
            }
            self.links.insert(key, path.to_vec());
        }
        let fd = open_file(dir, name).map_err(|e| self.fail(path, "open", e))?;
        let opened = nix::sys::stat::fstat(&fd).map_err(|e| self.fail(path, "stat", e))?;
        if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino) {
            return Err(Error::Changed {
                path: self.dir.join(lossy_path(path)),
            });
        }
        self.check_overlay(fd.as_fd(), path)?;
        let xattrs = self.xattrs(XattrTarget::Fd(fd.as_fd()), path)?;
        let size = u64::try_from(opened.st_size).unwrap_or(0);
        let mut reader = Exact {
            inner: File::from(fd),
            left: size,
        };
        self.append(
            &Item {
                path,
                kind: tar::EntryType::Regular,
                st: &opened,
                size,
                link: None,
            },
            &xattrs,
            &mut reader,
        )
        .map_err(|e| match e {
            Error::Io { source, .. } if source.kind() == io::ErrorKind::UnexpectedEof => {
                Error::Changed {
                    path: self.dir.join(lossy_path(path)),
                }
            }
            e => e,
        })?;
        let mut probe = [0u8; 1];
        if reader
            .inner
            .read(&mut probe)
            .map_err(|e| self.fail(path, "read", e))?
            != 0
        {
            return Err(Error::Changed {
                path: self.dir.join(lossy_path(path)),
            });
        }
        Ok(())
    }

    /// In an overlay upper directory, refuses files whose content or name
    /// lives elsewhere (metacopy, redirect_dir).
    fn check_overlay(&self, fd: BorrowedFd<'_>, path: &[u8]) -> Result<()> {
        if self.options.source != PackSource::OverlayUpper {
            return Ok(());
        }
        for (attr, name) in [
            (c"trusted.overlay.metacopy", "trusted.overlay.metacopy"),
            (c"trusted.overlay.redirect", "trusted.overlay.redirect"),
            (c"user.overlay.metacopy", "user.overlay.metacopy"),
            (c"user.overlay.redirect", "user.overlay.redirect"),
        ] {
            if sys::get_xattr(XattrTarget::Fd(fd), attr).is_ok() {
                return Err(Error::OverlayFeature {
                    path: self.dir.join(lossy_path(path)),
                    attribute: name,
                });
            }
        }
        Ok(())
    }

    /// An empty regular-file entry: an OCI whiteout or opaque marker,
    /// with the owner and times of what it stands for.
    fn append_marker(&mut self, path: &[u8], st: &FileStat) -> Result<()> {
        let item = Item {
            path,
            kind: tar::EntryType::Regular,
            st,
            size: 0,
            link: None,
        };
        self.append(&item, &[], io::empty())
    }

    fn mtime(&self, st: &FileStat) -> u64 {
        let own = u64::try_from(st.st_mtime).unwrap_or(0);
        match self.options.mtime {
            Mtime::Keep => own,
            Mtime::Fixed(t) => t,
            Mtime::Clamp(t) => own.min(t),
        }
    }

    fn append(
        &mut self,
        item: &Item<'_>,
        xattrs: &[(CString, Vec<u8>)],
        data: impl Read,
    ) -> Result<()> {
        let st = item.st;
        let mut h = tar::Header::new_ustar();
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        if !set_ustar_name(&mut h, item.path) {
            pax.push(("path".into(), item.path.to_vec()));
        }
        if let Some(link) = item.link {
            let ustar = h.as_ustar_mut().expect("a ustar header");
            if link.len() <= ustar.linkname.len() {
                ustar.linkname[..link.len()].copy_from_slice(link);
            } else {
                pax.push(("linkpath".into(), link.to_vec()));
            }
        }
        let (uid, gid) = (u64::from(st.st_uid), u64::from(st.st_gid));
        for (key, id) in [("uid", uid), ("gid", gid)] {
            if id > USTAR_ID_MAX {
                pax.push((key.into(), id.to_string().into_bytes()));
            }
        }
        for (k, v) in xattrs {
            pax.push((format!("SCHILY.xattr.{}", k.to_string_lossy()), v.clone()));
        }
        if !pax.is_empty() {
            self.builder
                .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .map_err(|e| self.fail(item.path, "write PAX header for", e))?;
        }
        h.set_entry_type(item.kind);
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(if uid > USTAR_ID_MAX { 0 } else { uid });
        h.set_gid(if gid > USTAR_ID_MAX { 0 } else { gid });
        h.set_size(item.size);
        h.set_mtime(self.mtime(st));
        if matches!(item.kind, tar::EntryType::Char | tar::EntryType::Block) {
            let major = u32::try_from(nix::sys::stat::major(st.st_rdev)).unwrap_or(0);
            let minor = u32::try_from(nix::sys::stat::minor(st.st_rdev)).unwrap_or(0);
            h.set_device_major(major)
                .map_err(|e| self.fail(item.path, "encode device of", e))?;
            h.set_device_minor(minor)
                .map_err(|e| self.fail(item.path, "encode device of", e))?;
        }
        h.set_cksum();
        self.builder
            .append(&h, data)
            .map_err(|e| self.fail(item.path, "write", e))?;
        self.entries += 1;
        Ok(())
    }

    fn xattrs(&self, target: XattrTarget<'_>, path: &[u8]) -> Result<Vec<(CString, Vec<u8>)>> {
        if !self.options.xattrs {
            return Ok(Vec::new());
        }
        let names = match sys::list_xattrs(target) {
            Ok(n) => n,
            Err(Errno::ENOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(self.fail(path, "list extended attributes of", e)),
        };
        let mut out = Vec::new();
        for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
            if !carried(name) {
                continue;
            }
            let cname =
                cstring(name).map_err(|e| self.fail(path, "read extended attribute of", e))?;
            match sys::get_xattr(target, &cname) {
                Ok(v) => out.push((cname, v)),
                // Removed between list and get.
                Err(Errno::ENODATA) => {}
                Err(e) => return Err(self.fail(path, "read extended attribute of", e)),
            }
        }
        out.sort();
        Ok(out)
    }

    /// Attributes of a symlink or device, which cannot be opened safely.
    fn xattrs_at(
        &self,
        dir: BorrowedFd<'_>,
        name: &CStr,
        path: &[u8],
    ) -> Result<Vec<(CString, Vec<u8>)>> {
        if !self.options.xattrs {
            return Ok(Vec::new());
        }
        let p = cstring(&sys::proc_fd_path(&dir, name.to_bytes()))
            .map_err(|e| self.fail(path, "name", e))?;
        self.xattrs(XattrTarget::Link(&p), path)
    }
}

/// Attributes that describe the file rather than the host or the overlay.
fn carried(name: &[u8]) -> bool {
    !(name == b"security.selinux"
        || name.starts_with(b"system.")
        || name.starts_with(b"trusted.overlay.")
        || name.starts_with(b"user.overlay."))
}

fn is_opaque(dir: BorrowedFd<'_>) -> bool {
    [c"trusted.overlay.opaque", c"user.overlay.opaque"]
        .iter()
        .any(|attr| sys::get_xattr(XattrTarget::Fd(dir), attr).is_ok_and(|v| v == b"y"))
}

fn open_file(dir: BorrowedFd<'_>, name: &CStr) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    // O_NOATIME keeps packing from touching atimes; only the owner (or
    // CAP_FOWNER) may ask for it.
    match nix::fcntl::openat(dir, name, flags | OFlag::O_NOATIME, Mode::empty()) {
        Err(Errno::EPERM) => nix::fcntl::openat(dir, name, flags, Mode::empty()),
        other => other,
    }
}

fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}

fn lossy_path(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}
