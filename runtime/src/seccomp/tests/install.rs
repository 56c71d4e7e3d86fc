//! `install` for real, in forked children (no root needed: the child sets
//! no_new_privs, which also keeps the filter out of the test process).

use std::os::fd::{AsFd, OwnedFd};

use nix::sys::prctl;
use nix::sys::stat::fstat;
use nix::sys::wait::WaitStatus;
use serde_json::json;

use super::big::docker_like;
use super::spec;
use crate::seccomp::{Filter, compile};
use crate::sys::seccomp::test_support::run_in_child;

/// A directory name that does not exist; the filtered mkdir must fail
/// before the kernel looks at it, and an unfiltered one would create it.
fn scratch_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("rbox-seccomp-test-{}", std::process::id()))
}

/// In the child: no_new_privs, then the filter; an exit code on failure.
fn lock_down(filter: &Filter) -> Result<Option<OwnedFd>, i32> {
    prctl::set_no_new_privs().map_err(|_| 2)?;
    filter.install().map_err(|_| 3)
}

fn exited(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        _ => None,
    }
}

#[test]
fn errno_rule_applies_in_child() {
    let filter = compile(&spec(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    })))
    .expect("compiles");
    let dir = scratch_dir();
    let status = run_in_child(|| {
        match lock_down(&filter) {
            Ok(None) => {}
            Ok(Some(_)) => return 6,
            Err(code) => return code,
        }
        match std::fs::create_dir(&dir) {
            Err(e) if e.raw_os_error() == Some(38) => {}
            _ => return 4,
        }
        if nix::unistd::getpid().as_raw() <= 0 {
            return 5;
        }
        0
    });
    assert_eq!(exited(status), Some(0), "child: {status:?}");
    assert!(!dir.exists());
}

#[test]
fn notify_returns_a_listener_fd() {
    let filter = compile(&spec(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]
    })))
    .expect("compiles");
    assert!(filter.needs_listener());
    let status = run_in_child(|| {
        let fd = match lock_down(&filter) {
            Ok(Some(fd)) => fd,
            Ok(None) => return 6,
            Err(code) => return code,
        };
        // Checked without SECCOMP_IOCTL_*: the fd must simply be open.
        match fstat(fd.as_fd()) {
            Ok(_) => 0,
            Err(_) => 4,
        }
    });
    assert_eq!(exited(status), Some(0), "child: {status:?}");
}

#[test]
fn kernel_accepts_docker_sized_filter() {
    let (profile, _) = docker_like();
    let filter = compile(&spec(profile)).expect("compiles");
    let dir = scratch_dir().with_extension("big");
    let status = run_in_child(|| {
        if let Err(code) = lock_down(&filter) {
            return code;
        }
        // mkdir is left out of the profile: the default ERRNO(EPERM).
        match std::fs::create_dir(&dir) {
            Err(e) if e.raw_os_error() == Some(1) => {}
            _ => return 4,
        }
        if nix::unistd::getppid().as_raw() <= 0 {
            return 5;
        }
        0
    });
    assert_eq!(exited(status), Some(0), "child: {status:?}");
    assert!(!dir.exists());
}
