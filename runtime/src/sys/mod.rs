//! Every raw system call of the crate, wrapped once with its safety argument.
//!
//! Wrappers return `nix::Result` so callers attach the path or id they were
//! working on. Nothing here keeps state.

pub(crate) mod bpf;
pub(crate) mod seccomp;

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

/// Result of [`clone_process`] as seen by the caller.
pub(crate) enum Forked {
    /// In the parent: the child's pid.
    Parent(i32),
    /// In the child.
    Child,
}

/// `clone(2)` without a new stack: behaves like `fork` but takes namespace
/// flags, so the child is born inside its new namespaces (a new pid
/// namespace makes it pid 1 without a second fork).
///
/// The caller must be single-threaded; the child must not rely on glibc's
/// cached thread id (no pthread calls), which is true of the runtime's init
/// path.
pub(crate) fn clone_process(flags: libc::c_int) -> nix::Result<Forked> {
    // SAFETY: a clone without CLONE_VM and with a null stack duplicates the
    // address space like fork(2); the remaining arguments are unused without
    // the *_TID/SETTLS flags, which we never pass.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    match Errno::result(ret)? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as i32)),
    }
}

/// `pidfd_open(2)`.
pub(crate) fn pidfd_open(pid: i32) -> nix::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let fd = Errno::result(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: the kernel returned a new descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pidfd_send_signal(2)`: signals exactly the process the pidfd refers to,
/// never a recycled pid.
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> nix::Result<()> {
    // SAFETY: the fd is valid for the borrow; a null siginfo is allowed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// `close_range(first, ~0, CLOSE_RANGE_CLOEXEC)`: marks every descriptor from
/// `first` up close-on-exec, so nothing the runtime holds leaks into the
/// container process (CVE-2024-21626).
pub(crate) fn cloexec_from(first: u32) -> nix::Result<()> {
    // SAFETY: plain syscall with integer arguments; marking fds CLOEXEC
    // does not invalidate any OwnedFd.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    Errno::result(ret).map(drop)
}

/// Makes `fds` the init's stdin, stdout and stderr. Each is first
/// copied above 2 (close-on-exec), so a source that is itself 0-2 is read
/// before it is replaced.
pub(crate) fn set_stdio(fds: [RawFd; 3]) -> nix::Result<()> {
    let mut high = [0; 3];
    for (h, fd) in high.iter_mut().zip(fds) {
        // SAFETY: plain fcntl on an integer fd the caller keeps open.
        *h = Errno::result(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) })?;
    }
    for (target, h) in high.into_iter().enumerate() {
        // SAFETY: dup2 onto 0-2, which no OwnedFd in the init owns; then
        // the temporary copy is closed (it is ours alone).
        Errno::result(unsafe { libc::dup2(h, target as RawFd) })?;
        // SAFETY: `h` came from F_DUPFD_CLOEXEC above and nothing else
        // refers to it.
        unsafe { libc::close(h) };
    }
    Ok(())
}

/// `setns(2)` on a namespace fd or pidfd.
pub(crate) fn setns(fd: BorrowedFd<'_>, nstype: libc::c_int) -> nix::Result<()> {
    // SAFETY: the fd is valid for the borrow.
    Errno::result(unsafe { libc::setns(fd.as_raw_fd(), nstype) }).map(drop)
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`: executes exactly the file
/// that was opened and checked, not whatever a path resolves to later.
pub(crate) fn execveat_fd(fd: BorrowedFd<'_>, argv: &[CString], envp: &[CString]) -> Errno {
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|a| a.as_ptr()).collect();
    envp_p.push(std::ptr::null());
    let empty: &CStr = c"";
    // SAFETY: argv/envp are NULL-terminated arrays of pointers into CStrings
    // that outlive the call; on success the call does not return.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            empty.as_ptr(),
            argv_p.as_ptr(),
            envp_p.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Errno::last()
}

/// Arguments of `openat2(2)`.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `RESOLVE_NO_MAGICLINKS`.
pub(crate) const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
/// `RESOLVE_NO_SYMLINKS`.
pub(crate) const RESOLVE_NO_SYMLINKS: u64 = 0x04;
/// `RESOLVE_BENEATH`.
pub(crate) const RESOLVE_BENEATH: u64 = 0x08;
/// `RESOLVE_IN_ROOT`.
pub(crate) const RESOLVE_IN_ROOT: u64 = 0x10;

/// `openat2(2)`: resolves `path` relative to `dirfd` with `resolve` flags,
/// so a symlink planted in a rootfs cannot point the runtime outside it.
pub(crate) fn openat2(
    dirfd: BorrowedFd<'_>,
    path: &CStr,
    flags: libc::c_int,
    mode: u32,
    resolve: u64,
) -> nix::Result<OwnedFd> {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: u64::from(mode),
        resolve,
    };
    loop {
        // SAFETY: `how` is a valid open_how of the size we pass; `path` is a
        // NUL-terminated string that outlives the call.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd.as_raw_fd(),
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        match Errno::result(ret) {
            // The kernel asks for a retry when a rename raced the lookup.
            Err(Errno::EAGAIN) => continue,
            Err(e) => return Err(e),
            // SAFETY: the kernel returned a new descriptor that we now own.
            Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
        }
    }
}

/// `ioctl(fd, TIOCSCTTY, 0)`: makes the terminal the controlling one.
pub(crate) fn set_controlling_tty(fd: BorrowedFd<'_>) -> nix::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument.
    Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) }).map(drop)
}

/// `ioctl(fd, TIOCSWINSZ)`.
pub(crate) fn set_winsize(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> nix::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize that lives for the call.
    Errno::result(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) }).map(drop)
}

/// Unlocks a pty master and opens its slave (`unlockpt` + `TIOCGPTPEER`).
pub(crate) fn open_pty_peer(master: BorrowedFd<'_>) -> nix::Result<OwnedFd> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int that lives for the call.
    Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) })?;
    // SAFETY: TIOCGPTPEER takes open flags and returns a new fd.
    let fd = Errno::result(unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: the kernel returned a new descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `sched_setattr(2)` for the calling thread.
pub(crate) fn sched_setattr(
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
) -> nix::Result<()> {
    #[repr(C)]
    struct SchedAttr {
        size: u32,
        policy: u32,
        flags: u64,
        nice: i32,
        priority: u32,
        runtime: u64,
        deadline: u64,
        period: u64,
    }
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy,
        flags,
        nice,
        priority,
        runtime,
        deadline,
        period,
    };
    // SAFETY: attr is a valid sched_attr (v1 layout, size set) for the call.
    let ret = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    Errno::result(ret).map(drop)
}

/// `ioprio_set(IOPRIO_WHO_PROCESS, 0, prio)`.
pub(crate) fn ioprio_set(class: i64, level: i64) -> nix::Result<()> {
    let prio = (class << 13) | level;
    // SAFETY: plain syscall with integer arguments.
    let ret = unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, prio) };
    Errno::result(ret).map(drop)
}

/// `sethostname(2)` / `setdomainname(2)`.
pub(crate) fn set_domainname(name: &str) -> nix::Result<()> {
    // SAFETY: the pointer and length describe the borrowed string.
    let ret = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    Errno::result(ret).map(drop)
}

/// Reads the start time (field 22 of /proc/PID/stat, clock ticks since
/// boot): together with the pid it names one process for its whole life.
pub(crate) fn process_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: split after the
    // last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

/// `umask(2)`.
pub(crate) fn set_umask(mask: u32) {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
}

/// Makes the process non-dumpable: its /proc files become root-owned and
/// /proc/PID/exe unreachable to other processes (CVE-2019-5736).
pub(crate) fn set_non_dumpable() -> nix::Result<()> {
    // SAFETY: prctl with integer arguments.
    Errno::result(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) }).map(drop)
}

/// `PR_SET_NO_NEW_PRIVS`.
pub(crate) fn set_no_new_privs() -> nix::Result<()> {
    // SAFETY: prctl with integer arguments.
    Errno::result(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }).map(drop)
}

/// `PR_SET_PDEATHSIG`: the child dies with its parent while it is still the
/// runtime's (undone by exec of a set-id binary, reset at exec otherwise).
pub(crate) fn set_parent_death_signal(sig: i32) -> nix::Result<()> {
    // SAFETY: prctl with integer arguments.
    Errno::result(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig, 0, 0, 0) }).map(drop)
}

/// `PR_SET_KEEPCAPS`.
pub(crate) fn set_keep_caps(on: bool) -> nix::Result<()> {
    // SAFETY: prctl with integer arguments.
    Errno::result(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, libc::c_ulong::from(on), 0, 0, 0) })
        .map(drop)
}

/// `_exit(2)`: leaves a forked child without running the parent's atexit
/// handlers or flushing its copied stdio buffers.
pub(crate) fn exit_child(code: i32) -> ! {
    // SAFETY: _exit never returns and is always safe to call.
    unsafe { libc::_exit(code) }
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, attr_set)`.
pub(crate) fn mount_setattr_recursive(fd: BorrowedFd<'_>, attr_set: u64) -> nix::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let empty: &CStr = c"";
    // SAFETY: attr is a valid mount_attr of the size passed; the path is a
    // NUL-terminated empty string.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// `memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)`.
pub(crate) fn memfd_sealable(name: &CStr) -> nix::Result<OwnedFd> {
    // SAFETY: name is NUL-terminated and outlives the call.
    let fd = Errno::result(unsafe {
        libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
    })?;
    // SAFETY: the kernel returned a new descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fcntl(F_ADD_SEALS)`.
pub(crate) fn add_seals(fd: BorrowedFd<'_>, seals: libc::c_int) -> nix::Result<()> {
    // SAFETY: fcntl with integer arguments on a valid fd.
    Errno::result(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) }).map(drop)
}

/// `fcntl(F_GET_SEALS)`.
pub(crate) fn get_seals(fd: BorrowedFd<'_>) -> nix::Result<libc::c_int> {
    // SAFETY: fcntl with integer arguments on a valid fd.
    Errno::result(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) })
}

/// `kill(2)` with a raw signal number (nix's `Signal` has no real-time
/// signals).
pub(crate) fn kill_raw(pid: i32, sig: i32) -> nix::Result<()> {
    // SAFETY: kill with integer arguments.
    Errno::result(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// A borrowed stdio descriptor (0, 1 or 2).
pub(crate) fn stdio_fd(fd: RawFd) -> BorrowedFd<'static> {
    debug_assert!((0..3).contains(&fd));
    // SAFETY: stdio descriptors are open for the life of the process (a
    // closed one makes the calls on it fail with EBADF, nothing worse).
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// `ioctl(master, TIOCGPTN)`: the number of a pty's slave.
pub(crate) fn pty_number(master: BorrowedFd<'_>) -> nix::Result<u32> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes an unsigned int we own.
    Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) })?;
    Ok(n)
}

/// `keyctl(KEYCTL_JOIN_SESSION_KEYRING, name)`: a new session keyring,
/// readable and writable by its possessor only.
pub(crate) fn join_session_keyring(name: &str) -> nix::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_int = 1;
    const KEYCTL_SETPERM: libc::c_int = 5;
    let c = CString::new(name).map_err(|_| Errno::EINVAL)?;
    // SAFETY: keyctl with a NUL-terminated name that outlives the call.
    let id = Errno::result(unsafe {
        libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, c.as_ptr())
    })?;
    // Possessor: all; user: view, read, search, link.
    // SAFETY: keyctl with integer arguments.
    Errno::result(unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_SETPERM, id, 0x3f1b_0000_u32) })
        .map(drop)
}
