//! `run`: create + start, then (without -d) forward signals to the
//! container's init until it exits, delete it, and exit with its code.

use anyhow::Result;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use rbox_runtime::ContainerId;

use crate::runtime_cli::{CreateFlags, Ctx};

const FORWARDED: [Signal; 8] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCONT,
];

/// Runs `run`; returns the container's exit code (128+N for signal N).
pub fn run(ctx: &Ctx, f: &CreateFlags, detach: bool, keep: bool, id: &str) -> Result<u8> {
    let cid = ContainerId::new(id)?;
    let opts = super::create::options(f);
    if detach {
        let mut c = ctx.runtime.create(&cid, &opts)?;
        if let Err(e) = c.start() {
            let _ = c.delete(true);
            return Err(e.into());
        }
        return Ok(0);
    }
    // Block the signals we forward before the clone, so none is lost; the
    // init restores an empty mask before it execs.
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    set.add(Signal::SIGCHLD);
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    let mut c = ctx.runtime.create(&cid, &opts)?;
    let pid = c.state().pid;
    if let Err(e) = c.start() {
        let _ = c.delete(true);
        return Err(e.into());
    }
    let code = wait_forwarding(pid, &set)?;
    if !keep {
        let c = ctx.runtime.load(&cid)?;
        c.delete(true)?;
    }
    Ok(u8::try_from(code).unwrap_or(255))
}

fn wait_forwarding(pid: i32, set: &SigSet) -> Result<i32> {
    let sfd = SignalFd::with_flags(set, SfdFlags::SFD_CLOEXEC)?;
    let target = Pid::from_raw(pid);
    loop {
        // Reap first: the child may have exited before we started waiting.
        match waitpid(target, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, c)) => return Ok(c),
            Ok(WaitStatus::Signaled(_, s, _)) => return Ok(128 + s as i32),
            Ok(_) => {}
            Err(nix::errno::Errno::ECHILD) => return Ok(255),
            Err(e) => return Err(e.into()),
        }
        let Some(info) = sfd.read_signal()? else {
            continue;
        };
        let sig = info.ssi_signo as i32;
        if sig != Signal::SIGCHLD as i32
            && let Ok(s) = Signal::try_from(sig)
        {
            let _ = nix::sys::signal::kill(target, s);
        }
    }
}
