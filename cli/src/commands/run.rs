//! `run`: create + start, then (without -d) forward signals to the
//! container's init until it exits, delete it, and exit with its code.

use anyhow::Result;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use rbox_runtime::ContainerId;
use std::path::Path;

use crate::tty::ConsoleListener;

use crate::runtime_cli::{CreateFlags, Ctx};

pub const FORWARDED: [Signal; 8] = [
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
    let mut opts = super::create::options(f);
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
    // A terminal with nobody to take it: rbox takes the pty itself.
    let console = if opts.console_socket.is_none() && wants_terminal(&f.bundle)? {
        let l = ConsoleListener::bind(&ctx.runtime.root, id)?;
        opts.console_socket = Some(l.path().to_path_buf());
        Some(l)
    } else {
        None
    };
    let mut c = ctx.runtime.create(&cid, &opts)?;
    let pid = c.state().pid;
    let master = match console.map(ConsoleListener::receive).transpose() {
        Ok(m) => m,
        Err(e) => {
            let _ = c.delete(true);
            return Err(e);
        }
    };
    if let Err(e) = c.start() {
        let _ = c.delete(true);
        return Err(e.into());
    }
    let code = match master {
        Some(m) => crate::tty::proxy(m, pid, &set)?,
        None => wait_forwarding(pid, &set)?,
    };
    if !keep {
        c.delete(true)?;
    }
    Ok(u8::try_from(code).unwrap_or(255))
}

/// Whether the bundle's process asks for a terminal (read without parsing
/// the rest of the spec).
fn wants_terminal(bundle: &Path) -> Result<bool> {
    #[derive(serde::Deserialize)]
    struct Proc {
        terminal: Option<bool>,
    }
    #[derive(serde::Deserialize)]
    struct Cfg {
        process: Option<Proc>,
    }
    let p = bundle.join("config.json");
    let Ok(b) = std::fs::read(&p) else {
        // create reports the missing file with its own message.
        return Ok(false);
    };
    let cfg: Cfg = match serde_json::from_slice(&b) {
        Ok(c) => c,
        Err(_) => return Ok(false),
    };
    Ok(cfg.process.and_then(|p| p.terminal).unwrap_or(false))
}

/// Waits for `pid`, forwarding the (blocked) signals in `set` to it.
pub fn wait_forwarding(pid: i32, set: &SigSet) -> Result<i32> {
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
