//! Waiting on processes through pidfds: no polling loops, no pid reuse.

use std::os::fd::AsFd;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// Waits until `pid` exits or `timeout` passes, without reaping it.
/// Returns true when it exited (or was already gone).
pub(crate) fn wait_exit_timeout(pid: i32, timeout: Duration) -> bool {
    let Ok(fd) = crate::sys::pidfd_open(pid) else {
        return true;
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    loop {
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return false,
        }
    }
}

/// Waits for a pidfd to become readable (the process exited).
pub(crate) fn wait_pidfd(fd: std::os::fd::BorrowedFd<'_>, timeout: Option<Duration>) -> bool {
    let t = match timeout {
        Some(t) => PollTimeout::try_from(t.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX),
        None => PollTimeout::NONE,
    };
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    loop {
        match poll(&mut fds, t) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return false,
        }
    }
}
