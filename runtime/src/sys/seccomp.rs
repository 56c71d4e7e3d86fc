//! Raw seccomp(2) calls for the seccomp module.
//!
//! The kernel copies the program during the call, so the borrowed slice
//! only has to live for the duration of `seccomp_set_mode_filter`.

use std::os::fd::{FromRawFd, OwnedFd};

use nix::errno::Errno;

/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`: the call returns a notify fd.
const FLAG_NEW_LISTENER: u32 = 1 << 3;

/// What a successful `SECCOMP_SET_MODE_FILTER` gave back.
#[derive(Debug)]
pub(crate) enum SetFilter {
    /// The filter was installed with `NEW_LISTENER`: the notify fd.
    Listener(OwnedFd),
    /// Any other success: the raw return value (0, or with `TSYNC` and
    /// without `TSYNC_ESRCH`, the id of a thread that could not sync).
    Ret(i64),
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)` on the calling thread.
pub(crate) fn seccomp_set_mode_filter(
    flags: u32,
    program: &[libc::sock_filter],
) -> Result<SetFilter, Errno> {
    let len = u16::try_from(program.len()).map_err(|_| Errno::EINVAL)?;
    let fprog = libc::sock_fprog {
        len,
        // The kernel only reads through this pointer.
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` points at `program`, which is valid for `len`
    // instructions and outlives the call; the kernel copies the program and
    // keeps no reference to user memory afterwards.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::c_ulong::from(libc::SECCOMP_SET_MODE_FILTER),
            libc::c_ulong::from(flags),
            &fprog as *const libc::sock_fprog,
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    if flags & FLAG_NEW_LISTENER != 0 {
        let fd = i32::try_from(ret).map_err(|_| Errno::EBADF)?;
        // SAFETY: with NEW_LISTENER a non-negative return is a new file
        // descriptor that this process owns and nothing else refers to.
        return Ok(SetFilter::Listener(unsafe { OwnedFd::from_raw_fd(fd) }));
    }
    // c_long is only 32 bits on 32-bit targets.
    #[allow(clippy::useless_conversion)]
    Ok(SetFilter::Ret(i64::from(ret)))
}

/// Test helpers that need a process of their own.
#[cfg(test)]
pub(crate) mod test_support {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use nix::sys::wait::{WaitStatus, waitpid};
    use nix::unistd::{ForkResult, fork};

    /// Runs `child` in a forked child and returns how it ended.
    ///
    /// The child only runs `child` and `_exit`s with its result (101 on a
    /// panic), so it never returns into the test harness.
    pub(crate) fn run_in_child(child: impl FnOnce() -> i32) -> WaitStatus {
        // SAFETY: the child only runs `child`, which the tests keep to
        // plain system calls, and then `_exit`s; glibc resets its malloc
        // locks at fork, so allocating in the child of a threaded test
        // binary is safe.
        match unsafe { fork() }.expect("fork a test child") {
            ForkResult::Child => {
                let code = catch_unwind(AssertUnwindSafe(child)).unwrap_or(101);
                // SAFETY: `_exit` ends the child without running the
                // parent's atexit handlers or destructors.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => waitpid(child, None).expect("wait for the test child"),
        }
    }
}
