//! Every raw system call of the crate, wrapped once with its safety
//! argument: the extended-attribute calls nix does not cover, and an
//! `openat2` that retries the kernel's EAGAIN.
//!
//! Wrappers return `nix::Result` so callers attach the path or entry they
//! were working on. Nothing here keeps state.

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// `openat2(2)` with `O_CLOEXEC` added, retried while the kernel reports
/// that a concurrent rename raced the lookup (EAGAIN).
pub(crate) fn openat2(
    dirfd: BorrowedFd<'_>,
    path: &CStr,
    flags: OFlag,
    mode: Mode,
    resolve: ResolveFlag,
) -> nix::Result<OwnedFd> {
    loop {
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .mode(mode)
            .resolve(resolve);
        match nix::fcntl::openat2(dirfd, path, how) {
            Err(Errno::EAGAIN) => continue,
            other => return other,
        }
    }
}

/// `fsetxattr(2)`.
pub(crate) fn fsetxattr(fd: BorrowedFd<'_>, name: &CStr, value: &[u8]) -> nix::Result<()> {
    // SAFETY: `name` is NUL-terminated and `value` is a valid slice of the
    // length passed; both outlive the call.
    let ret = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// `lsetxattr(2)`: on the link itself when `path` ends in a symlink.
pub(crate) fn lsetxattr(path: &CStr, name: &CStr, value: &[u8]) -> nix::Result<()> {
    // SAFETY: both strings are NUL-terminated and `value` is a valid slice
    // of the length passed; all outlive the call.
    let ret = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// Where an attribute call should look: an open file, or a path whose last
/// component is not followed.
#[derive(Clone, Copy)]
pub(crate) enum XattrTarget<'a> {
    /// An open file or directory.
    Fd(BorrowedFd<'a>),
    /// A path; a final symlink is the object itself.
    Link(&'a CStr),
}

/// `flistxattr`/`llistxattr`: the attribute names, each NUL-terminated.
pub(crate) fn list_xattrs(target: XattrTarget<'_>) -> nix::Result<Vec<u8>> {
    read_sized(|buf: &mut [u8]| match target {
        // SAFETY: `buf` is writable for its length; a zero-length buffer
        // with a dangling pointer is allowed (the kernel only reports the
        // size).
        XattrTarget::Fd(fd) => unsafe {
            libc::flistxattr(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
        },
        // SAFETY: as above; `path` is NUL-terminated.
        XattrTarget::Link(path) => unsafe {
            libc::llistxattr(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
        },
    })
}

/// `fgetxattr`/`lgetxattr`: one attribute's value.
pub(crate) fn get_xattr(target: XattrTarget<'_>, name: &CStr) -> nix::Result<Vec<u8>> {
    read_sized(|buf: &mut [u8]| match target {
        // SAFETY: `buf` is writable for its length and `name` is
        // NUL-terminated.
        XattrTarget::Fd(fd) => unsafe {
            libc::fgetxattr(
                fd.as_raw_fd(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        },
        // SAFETY: as above; `path` is NUL-terminated.
        XattrTarget::Link(path) => unsafe {
            libc::lgetxattr(
                path.as_ptr(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        },
    })
}

/// Runs a size-probing call (size 0 asks for the length) and then the real
/// one, retrying if the value grew in between (ERANGE).
fn read_sized(mut call: impl FnMut(&mut [u8]) -> libc::ssize_t) -> nix::Result<Vec<u8>> {
    loop {
        let len = Errno::result(call(&mut []))?;
        let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
        match Errno::result(call(&mut buf)) {
            Ok(n) => {
                buf.truncate(usize::try_from(n).unwrap_or(0));
                return Ok(buf);
            }
            Err(Errno::ERANGE) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The `/proc/self/fd/<dirfd>/<name>` path that reaches `name` inside an
/// already-resolved directory, for the calls that have no `*at` form
/// (`lsetxattr`, `lgetxattr`). The directory is a magic link the kernel
/// resolves to the open directory itself, never through the target tree.
pub(crate) fn proc_fd_path(dir: &impl AsFd, name: &[u8]) -> Vec<u8> {
    let mut p = format!("/proc/self/fd/{}/", dir.as_fd().as_raw_fd()).into_bytes();
    p.extend_from_slice(name);
    p
}
