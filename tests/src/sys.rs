//! Every raw system call of the crate, wrapped once with its safety argument.

use nix::sched::CloneFlags;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};

/// Forks a child that tries `unshare(flags)` and reports whether it worked.
/// A child is needed because the test harness is multithreaded (which
/// `CLONE_NEWUSER` refuses) and the caller must keep its namespaces.
pub(crate) fn unshare_in_child(flags: CloneFlags) -> nix::Result<bool> {
    // SAFETY: the child calls only unshare(2) and _exit(2), both
    // async-signal-safe, so forking a multithreaded process is sound; it
    // touches no lock or allocation the parent's other threads may hold.
    match unsafe { fork() }? {
        ForkResult::Child => {
            let code = i32::from(nix::sched::unshare(flags).is_err());
            // SAFETY: _exit ends the child at once, without running the
            // parent's atexit handlers or flushing its stdio buffers twice.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => loop {
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, code)) => return Ok(code == 0),
                Ok(_) => return Ok(false),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e),
            }
        },
    }
}
