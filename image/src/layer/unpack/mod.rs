//! Applying a layer to a directory.
//!
//! Invariants, entry by entry:
//! - the name passed [`EntryPath::parse`] (relative, no `..`);
//! - its parent was resolved from the target's descriptor with
//!   `RESOLVE_IN_ROOT` (a symlink on the way resolves inside the target, as
//!   in the container; never outside);
//! - the last component is created with `O_CREAT|O_EXCL|O_NOFOLLOW`,
//!   `mkdirat`, `symlinkat`, `mknodat` or `linkat` relative to that parent,
//!   after removing whatever was there (never written through), except that
//!   a directory over a directory is kept;
//! - a hard link's source is resolved the same way, so it can only name
//!   something inside the target.
//!
//! Directory modes and times are applied at the end, deepest first,
//! because creating children changes a directory's mtime and a read-only
//! mode would block them.

mod create;
mod whiteout;

use std::collections::HashSet;
use std::ffi::CStr;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::sys::time::TimeSpec;

use super::path::{EntryPath, Kind, classify};
use super::stream::{self, Budget, Decoded};
use super::tree::{self, cstring, open_dir_in_root};
use super::{Compression, UnpackOptions, Whiteouts};
use crate::digest::Digest;
use crate::error::{Error, Result};

/// What the tar reader may consume by itself between entries (headers,
/// PAX records, GNU long names, padding).
const META_BUDGET: u64 = 1 << 20;
/// Copy buffer for file contents.
const COPY_BUFFER: usize = 256 << 10;

/// What [`unpack`] read and wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnpackedLayer {
    /// sha256 of the stream as read (the layer's descriptor digest).
    pub digest: Digest,
    /// Bytes of the stream as read.
    pub size: u64,
    /// sha256 of the uncompressed tar (the config's `diff_id`).
    pub diff_id: Digest,
    /// The compression found.
    pub compression: Compression,
    /// Archive entries processed.
    pub entries: u64,
}

/// Applies the layer read from `reader` (plain, gzip or zstd tar,
/// detected) to the directory `target`, which must exist.
///
/// The stream is read to its end, so the returned digests cover it whole;
/// the caller compares them with the descriptor and config. A refused or
/// malformed entry stops the unpack with an error naming it, leaving what
/// was applied so far (unpack into a fresh directory and discard it on
/// error).
pub fn unpack(
    reader: impl Read + Send,
    target: &Path,
    options: &UnpackOptions,
) -> Result<UnpackedLayer> {
    let root = nix::fcntl::open(
        target,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open target directory", target, e.into()))?;
    let decoded = Decoded::open(reader)?;
    let mut u = Unpacker::new(root, options);
    let digests = std::thread::scope(|scope| {
        let (piped, decoder) = stream::pipe(scope, decoded);
        let (budget, handle) = Budget::new(piped);
        let mut archive = tar::Archive::new(budget);
        {
            let mut entries = archive.entries().map_err(|e| u.tar_error(e))?;
            loop {
                handle.arm(META_BUDGET);
                let next = entries.next();
                handle.disarm();
                let Some(entry) = next else { break };
                let mut entry = entry.map_err(|e| u.tar_error(e))?;
                u.apply(&mut entry)?;
                // Data of entries that have none to write (a directory with
                // a size, say) is skipped here, outside the metadata budget.
                io::copy(&mut entry, &mut io::sink()).map_err(|e| u.tar_error(e))?;
                u.entries += 1;
            }
        }
        u.fix_directories()?;
        archive
            .into_inner()
            .into_inner()
            .finish(decoder)
            .map_err(|e| u.tar_error(e))
    })?;
    if options.sync {
        nix::unistd::syncfs(u.root.as_fd()).map_err(|e| Error::io("syncfs", target, e.into()))?;
    }
    tracing::debug!(
        target = %target.display(),
        digest = %digests.digest,
        diff_id = %digests.diff_id,
        entries = u.entries,
        "layer unpacked"
    );
    Ok(UnpackedLayer {
        digest: digests.digest,
        size: digests.size,
        diff_id: digests.diff_id,
        compression: digests.compression,
        entries: u.entries,
    })
}

/// Metadata of one entry, read before its data.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: TimeSpec,
    xattrs: Vec<(std::ffi::CString, Vec<u8>)>,
}

/// A directory whose mode and times are applied at the end, if the same
/// inode is still at its path.
struct DirFixup {
    path: Vec<u8>,
    mode: u32,
    mtime: TimeSpec,
    dev: u64,
    ino: u64,
}

struct Unpacker<'o> {
    root: OwnedFd,
    options: &'o UnpackOptions,
    /// The last resolved parent directory (entries come grouped by
    /// directory). Dropped whenever anything is removed.
    cache: Option<(Vec<u8>, Rc<OwnedFd>)>,
    /// Paths this layer wrote, and their ancestors: what an opaque marker
    /// must keep (whiteouts applied to a flattened tree only).
    created: HashSet<Vec<u8>>,
    ancestors: HashSet<Vec<u8>>,
    dirs: Vec<DirFixup>,
    buf: Vec<u8>,
    last: Option<String>,
    entries: u64,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn refused(entry: &str, reason: impl Into<String>) -> Error {
    Error::UnsafeEntry {
        entry: entry.to_owned(),
        reason: reason.into(),
    }
}

fn failed(entry: &str, op: &'static str, e: impl Into<io::Error>) -> Error {
    Error::Entry {
        entry: entry.to_owned(),
        op,
        source: e.into(),
    }
}

impl<'o> Unpacker<'o> {
    fn new(root: OwnedFd, options: &'o UnpackOptions) -> Self {
        Self {
            root,
            options,
            cache: None,
            created: HashSet::new(),
            ancestors: HashSet::new(),
            dirs: Vec::new(),
            buf: vec![0; COPY_BUFFER],
            last: None,
            entries: 0,
        }
    }

    fn tar_error(&self, e: io::Error) -> Error {
        Error::Tar {
            entry: self.last.clone(),
            source: e,
        }
    }

    fn follow(&self) -> bool {
        self.options.follow_parent_symlinks
    }

    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let raw = entry.path_bytes().into_owned();
        let name = lossy(&raw);
        let etype = entry.header().entry_type();
        if etype == tar::EntryType::XGlobalHeader {
            return Ok(());
        }
        let path = EntryPath::parse(&raw).map_err(|r| refused(&name, r))?;
        self.last = Some(name.clone());
        if path.is_root() {
            tracing::debug!(entry = %name, "skipping the layer's root entry");
            return Ok(());
        }
        let (parent, base) = path.split();
        match classify(base).map_err(|r| refused(&name, r))? {
            Kind::Meta => return Ok(()),
            Kind::Whiteout(victim) => return self.whiteout(parent, victim, &name),
            Kind::Opaque => return self.opaque(parent, &name),
            Kind::Normal => {}
        }
        let meta = self.meta(entry, &name)?;
        let pfd = self.parent(parent, &name)?;
        let pfd = pfd.as_fd();
        let cbase = cstring(base).map_err(|e| failed(&name, "name", e))?;
        use tar::EntryType as T;
        let written = match etype {
            T::Directory => self.make_dir(pfd, &cbase, &path, meta, &name)?,
            T::Regular | T::Continuous | T::GNUSparse if raw.ends_with(b"/") => {
                // Pre-POSIX archives mark directories with a trailing '/'.
                self.make_dir(pfd, &cbase, &path, meta, &name)?
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                self.make_file(pfd, &cbase, entry, meta, &name)?
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| refused(&name, "symlink without a target"))?
                    .into_owned();
                self.make_symlink(pfd, &cbase, &target, meta, &name)?
            }
            T::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| refused(&name, "hard link without a target"))?
                    .into_owned();
                self.make_hardlink(pfd, &cbase, &path, &target, &name)?
            }
            T::Char | T::Block | T::Fifo => self.make_node(pfd, &cbase, entry, meta, &name)?,
            other => {
                return Err(refused(
                    &name,
                    format!("unsupported entry type {:?}", other.as_byte() as char),
                ));
            }
        };
        if written && self.options.whiteouts == Whiteouts::Apply {
            self.remember(path.as_bytes());
        }
        Ok(())
    }

    fn remember(&mut self, path: &[u8]) {
        let mut p = path;
        while let Some(i) = p.iter().rposition(|&b| b == b'/') {
            p = &p[..i];
            if !self.ancestors.insert(p.to_vec()) {
                break;
            }
        }
        self.created.insert(path.to_vec());
    }

    fn meta<R: Read>(&self, entry: &mut tar::Entry<'_, R>, name: &str) -> Result<Meta> {
        let h = entry.header();
        let tar_err = |e: io::Error| Error::Tar {
            entry: Some(name.to_owned()),
            source: e,
        };
        let id = |v: u64, what: &str| {
            u32::try_from(v).map_err(|_| refused(name, format!("{what} {v} is out of range")))
        };
        let mode = h.mode().map_err(tar_err)? & 0o7777;
        let uid = id(h.uid().map_err(tar_err)?, "uid")?;
        let gid = id(h.gid().map_err(tar_err)?, "gid")?;
        let secs = i64::try_from(h.mtime().map_err(tar_err)?).unwrap_or(i64::MAX);
        let mut mtime = TimeSpec::new(secs, 0);
        let mut xattrs = Vec::new();
        if let Some(exts) = entry.pax_extensions().map_err(tar_err)? {
            for ext in exts {
                let ext = ext.map_err(tar_err)?;
                let key = ext.key_bytes();
                if key == b"mtime" {
                    if let Some(t) = parse_pax_time(ext.value_bytes()) {
                        mtime = t;
                    }
                } else if let Some(attr) = key.strip_prefix(b"SCHILY.xattr.")
                    && self.options.xattrs
                {
                    let attr = cstring(attr).map_err(|_| refused(name, "xattr name with NUL"))?;
                    xattrs.push((attr, ext.value_bytes().to_vec()));
                }
            }
        }
        Ok(Meta {
            mode,
            uid,
            gid,
            mtime,
            xattrs,
        })
    }

    /// The directory `parent` (relative to the root), created with mode
    /// 0755 where missing.
    fn parent(&mut self, parent: &[u8], name: &str) -> Result<Rc<OwnedFd>> {
        if let Some((p, fd)) = &self.cache
            && p == parent
        {
            return Ok(fd.clone());
        }
        let fd = match open_dir_in_root(self.root.as_fd(), parent, OFlag::O_PATH, self.follow()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => self.create_parents(parent, name)?,
            Err(e) => return Err(self.resolve_error(e, parent, name)),
        };
        let fd = Rc::new(fd);
        self.cache = Some((parent.to_vec(), fd.clone()));
        Ok(fd)
    }

    fn create_parents(&mut self, parent: &[u8], name: &str) -> Result<OwnedFd> {
        let root = self.root.as_fd();
        let mut cur = open_dir_in_root(root, b"", OFlag::O_PATH, self.follow())
            .map_err(|e| failed(name, "open the target", e))?;
        let mut end = 0;
        for comp in parent.split(|&b| b == b'/') {
            end += comp.len();
            let prefix = &parent[..end];
            end += 1;
            match open_dir_in_root(root, prefix, OFlag::O_PATH, self.follow()) {
                Ok(fd) => {
                    cur = fd;
                    continue;
                }
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(self.resolve_error(e, prefix, name)),
            }
            let c = cstring(comp).map_err(|e| failed(name, "name", e))?;
            match nix::sys::stat::mkdirat(
                cur.as_fd(),
                c.as_c_str(),
                Mode::from_bits_truncate(0o755),
            ) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(failed(name, "create parent directory", e)),
            }
            cur = open_dir_in_root(root, prefix, OFlag::O_PATH, self.follow()).map_err(|e| {
                match e {
                    // It exists but does not resolve: a dangling symlink.
                    Errno::ENOENT => refused(
                        name,
                        format!("parent {:?} is a symlink to nowhere", lossy(prefix)),
                    ),
                    e => self.resolve_error(e, prefix, name),
                }
            })?;
        }
        Ok(cur)
    }

    fn resolve_error(&self, e: Errno, path: &[u8], name: &str) -> Error {
        match e {
            Errno::ELOOP if !self.follow() => refused(
                name,
                format!("parent {:?} goes through a symlink", lossy(path)),
            ),
            Errno::ELOOP => refused(
                name,
                format!(
                    "parent {:?} has a symlink loop or a magic link",
                    lossy(path)
                ),
            ),
            Errno::ENOTDIR => refused(name, format!("parent {:?} is not a directory", lossy(path))),
            e => failed(name, "resolve parent directory", e),
        }
    }

    /// Removes whatever is at `base` in `dir` (a whole tree for a
    /// directory), so the new entry replaces it rather than writing
    /// through it.
    fn remove_existing(&mut self, dir: BorrowedFd<'_>, base: &CStr, name: &str) -> Result<()> {
        self.cache = None;
        tree::remove_all_at(dir, base).map_err(|e| failed(name, "remove the existing entry", e))
    }

    /// Runs `create`; if the name exists, removes it and runs it again.
    fn replacing<T>(
        &mut self,
        dir: BorrowedFd<'_>,
        base: &CStr,
        name: &str,
        op: &'static str,
        mut create: impl FnMut() -> nix::Result<T>,
    ) -> Result<T> {
        match create() {
            Err(Errno::EEXIST) => {
                self.remove_existing(dir, base, name)?;
                create().map_err(|e| failed(name, op, e))
            }
            other => other.map_err(|e| failed(name, op, e)),
        }
    }

    fn fix_directories(&mut self) -> Result<()> {
        let mut dirs = std::mem::take(&mut self.dirs);
        // Deepest first, so a parent's restrictive mode cannot block the
        // lookup of its children; the sort is stable, so of two entries for
        // one directory the later still wins.
        dirs.sort_by_key(|d| std::cmp::Reverse(d.path.iter().filter(|&&b| b == b'/').count()));
        for fx in &dirs {
            let name = lossy(&fx.path);
            let fd = match open_dir_in_root(
                self.root.as_fd(),
                &fx.path,
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW,
                self.follow(),
            ) {
                Ok(fd) => fd,
                // Replaced or removed by a later entry.
                Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => continue,
                Err(e) => return Err(failed(&name, "open directory", e)),
            };
            let st = nix::sys::stat::fstat(&fd).map_err(|e| failed(&name, "stat", e))?;
            if (st.st_dev, st.st_ino) != (fx.dev, fx.ino) {
                continue;
            }
            nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(fx.mode))
                .map_err(|e| failed(&name, "chmod", e))?;
            nix::sys::stat::futimens(&fd, &fx.mtime, &fx.mtime)
                .map_err(|e| failed(&name, "set times", e))?;
        }
        Ok(())
    }
}

/// A PAX time, `seconds[.fraction]`.
fn parse_pax_time(v: &[u8]) -> Option<TimeSpec> {
    let s = std::str::from_utf8(v).ok()?;
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut nanos: i64 = 0;
    for (i, c) in frac.bytes().take(9).enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        nanos += i64::from(c - b'0') * 10i64.pow(8 - i as u32);
    }
    if s.starts_with('-') && nanos > 0 {
        // "-1.5" is 1.5 s before the epoch: -2 s + 0.5 s.
        return Some(TimeSpec::new(secs - 1, 1_000_000_000 - nanos));
    }
    Some(TimeSpec::new(secs, nanos))
}
