//! Child processes that cannot outlive a failing test.
//!
//! Invariant: a pid is only signalled while it is known to be our
//! unreaped child, so a recycled pid (another process) is never killed.

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// Kills (SIGKILL) and reaps a direct child on drop, unless it was already
/// reaped.
#[derive(Debug)]
pub struct ChildGuard {
    child: Inner,
}

#[derive(Debug)]
enum Inner {
    Pid(Pid),
    Std(std::process::Child),
    Released,
}

impl ChildGuard {
    /// Guards the direct child `pid` (from fork or clone). If the test
    /// reaps it itself, the guard notices (`ECHILD`) and does nothing.
    pub fn new(pid: i32) -> Self {
        Self {
            child: Inner::Pid(Pid::from_raw(pid)),
        }
    }

    /// Guards a spawned [`std::process::Child`].
    pub fn from_child(child: std::process::Child) -> Self {
        Self {
            child: Inner::Std(child),
        }
    }

    /// The child's pid.
    pub fn pid(&self) -> i32 {
        match &self.child {
            Inner::Pid(p) => p.as_raw(),
            Inner::Std(c) => c.id().try_into().unwrap_or(-1),
            Inner::Released => -1,
        }
    }

    /// The guarded [`std::process::Child`], if built by [`Self::from_child`].
    pub fn child_mut(&mut self) -> Option<&mut std::process::Child> {
        match &mut self.child {
            Inner::Std(c) => Some(c),
            _ => None,
        }
    }

    /// Stops guarding; returns the pid for the caller to reap.
    pub fn release(mut self) -> i32 {
        let pid = self.pid();
        if let Inner::Std(c) = std::mem::replace(&mut self.child, Inner::Released) {
            // Dropping a Child neither kills nor reaps it: the pid stays valid.
            drop(c);
        }
        pid
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        match &mut self.child {
            Inner::Std(c) => {
                // std tracks whether it reaped the child, so this is safe
                // even if the test already waited.
                if c.try_wait().is_ok_and(|s| s.is_none()) {
                    let _ = c.kill();
                }
                let _ = c.wait();
            }
            Inner::Pid(pid) => kill_and_reap(*pid),
            Inner::Released => {}
        }
    }
}

fn kill_and_reap(pid: Pid) {
    // WNOHANG answers "still ours and alive" without reaping; ECHILD means
    // it was reaped (and its pid may already belong to someone else).
    match waitpid(pid, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
        Ok(WaitStatus::StillAlive) => {}
        Ok(_) | Err(_) => return,
    }
    let _ = kill(pid, Signal::SIGKILL);
    loop {
        match waitpid(pid, Some(WaitPidFlag::__WALL)) {
            Err(Errno::EINTR) => continue,
            Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) | Err(_) => return,
            Ok(_) => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn kills_std_child() {
        let g = ChildGuard::from_child(Command::new("sleep").arg("600").spawn().expect("spawn"));
        let pid = g.pid();
        drop(g);
        // Reaped: not our child any more.
        assert_eq!(
            waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)),
            Err(Errno::ECHILD)
        );
    }

    #[test]
    fn kills_raw_child() {
        let c = Command::new("sleep").arg("600").spawn().expect("spawn");
        let pid = i32::try_from(c.id()).expect("pid fits");
        drop(c);
        drop(ChildGuard::new(pid));
        assert_eq!(
            waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)),
            Err(Errno::ECHILD)
        );
    }

    #[test]
    fn leaves_reaped_child_alone() {
        let mut g = ChildGuard::from_child(Command::new("true").spawn().expect("spawn"));
        let status = g.child_mut().expect("std child").wait().expect("wait");
        assert!(status.success());
        drop(g);
    }
}
