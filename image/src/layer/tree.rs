//! Directory-fd operations on a tree that may hold hostile names and links.
//!
//! Every path is either resolved from the tree's root descriptor with
//! `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS` (symlinks then resolve as they
//! would inside a container, never above the root), or is a single
//! component acted on with a `*at` call that does not follow it. Removal
//! walks by descriptors and never follows a symlink.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, ResolveFlag};
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::UnlinkatFlags;

use crate::sys;

/// Deepest directory nesting [`remove_all_at`] descends; one descriptor
/// is open per level.
const MAX_DEPTH: usize = 1024;

/// True unless this process is in the initial user namespace, where
/// device nodes can be created.
pub(crate) fn in_user_namespace() -> bool {
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(map) => {
            let fields: Vec<&str> = map.split_whitespace().collect();
            fields != ["0", "0", "4294967295"]
        }
        Err(_) => true,
    }
}

/// `bytes` as a C string; names were checked for NUL when parsed.
pub(crate) fn cstring(bytes: &[u8]) -> nix::Result<CString> {
    CString::new(bytes).map_err(|_| Errno::EINVAL)
}

/// Resolution flags for paths inside the tree.
pub(crate) fn resolve_flags(follow_symlinks: bool) -> ResolveFlag {
    let flags = ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS;
    if follow_symlinks {
        flags
    } else {
        flags | ResolveFlag::RESOLVE_NO_SYMLINKS
    }
}

/// Opens `path` (relative to the tree root, empty for the root) as a
/// directory, resolved inside the root.
pub(crate) fn open_dir_in_root(
    root: BorrowedFd<'_>,
    path: &[u8],
    flags: OFlag,
    follow_symlinks: bool,
) -> nix::Result<OwnedFd> {
    let p = if path.is_empty() {
        c".".to_owned()
    } else {
        cstring(path)?
    };
    sys::openat2(
        root,
        &p,
        flags | OFlag::O_DIRECTORY,
        Mode::empty(),
        resolve_flags(follow_symlinks),
    )
}

/// Opens the single component `name` of `dir` as a directory, refusing a
/// symlink.
pub(crate) fn open_child_dir(
    dir: BorrowedFd<'_>,
    name: &CStr,
    flags: OFlag,
) -> nix::Result<OwnedFd> {
    sys::openat2(
        dir,
        name,
        flags | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
        Mode::empty(),
        ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS,
    )
}

/// The file type of `name` in `dir`, without following it; None if absent.
pub(crate) fn kind_at(dir: BorrowedFd<'_>, name: &CStr) -> nix::Result<Option<SFlag>> {
    match nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT))),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes `name` from `dir` whatever it is, a directory with all its
/// contents included; absent is fine. Never follows a symlink.
pub(crate) fn remove_all_at(dir: BorrowedFd<'_>, name: &CStr) -> nix::Result<()> {
    remove_at_depth(dir, name, 0)
}

fn remove_at_depth(dir: BorrowedFd<'_>, name: &CStr, depth: usize) -> nix::Result<()> {
    match nix::unistd::unlinkat(dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => return Ok(()),
        // Linux says EISDIR for a directory.
        Err(Errno::EISDIR) => {}
        Err(e) => return Err(e),
    }
    if depth >= MAX_DEPTH {
        return Err(Errno::ELOOP);
    }
    let child = open_child_dir(dir, name, OFlag::O_RDONLY)?;
    let names = list_dir(child.as_fd())?;
    for n in names {
        remove_at_depth(child.as_fd(), &n, depth + 1)?;
    }
    match nix::unistd::unlinkat(dir, name, UnlinkatFlags::RemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The names in an open directory, without `.` and `..`.
pub(crate) fn list_dir(dir: BorrowedFd<'_>) -> nix::Result<Vec<CString>> {
    // A second descriptor for the stream, so `dir` stays usable (and its
    // offset untouched) for the caller.
    let fd = sys::openat2(
        dir,
        c".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        Mode::empty(),
        ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS,
    )?;
    let mut d = nix::dir::Dir::from_fd(fd)?;
    let mut out = Vec::new();
    for entry in d.iter() {
        let entry = entry?;
        let n = entry.file_name();
        if n != c"." && n != c".." {
            out.push(n.to_owned());
        }
    }
    Ok(out)
}
