//! OCI hooks: run `path` with `args` and `env`, the container state as JSON
//! on stdin, killed after `timeout` seconds. Hooks in the runtime's
//! namespaces run in the bundle directory, as under runc (which chdirs
//! there), so a hook may name bundle files by relative paths.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::error::{Error, Result};

/// Which hook list is running; used in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    /// `prestart` (deprecated, run with createRuntime).
    Prestart,
    /// `createRuntime`.
    CreateRuntime,
    /// `createContainer`.
    CreateContainer,
    /// `startContainer`.
    StartContainer,
    /// `poststart`.
    Poststart,
    /// `poststop`.
    Poststop,
}

impl std::fmt::Display for HookKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HookKind::Prestart => "prestart",
            HookKind::CreateRuntime => "createRuntime",
            HookKind::CreateContainer => "createContainer",
            HookKind::StartContainer => "startContainer",
            HookKind::Poststart => "poststart",
            HookKind::Poststop => "poststop",
        })
    }
}

/// Runs each hook in order; the first failure stops the list. `cwd` is
/// the hooks' working directory (the bundle, for hooks in the runtime's
/// namespaces), used only while it is a directory: a poststop hook still
/// runs after the bundle is gone. `None` keeps the caller's.
pub fn run_hooks(
    kind: HookKind,
    hooks: &[Hook],
    state_json: &[u8],
    cwd: Option<&Path>,
) -> Result<()> {
    let cwd = cwd.filter(|d| d.is_dir());
    for h in hooks {
        run_hook(kind, h, state_json, cwd)?;
    }
    Ok(())
}

/// Runs every hook even when some fail, logging each failure as a warning:
/// the runtime-spec's rule for poststart and poststop.
pub fn run_hooks_warn(kind: HookKind, hooks: &[Hook], state_json: &[u8], cwd: Option<&Path>) {
    let cwd = cwd.filter(|d| d.is_dir());
    for h in hooks {
        if let Err(e) = run_hook(kind, h, state_json, cwd) {
            tracing::warn!("{e}");
        }
    }
}

fn run_hook(kind: HookKind, h: &Hook, state_json: &[u8], cwd: Option<&Path>) -> Result<()> {
    let fail = |reason: String| Error::Hook {
        kind: kind.to_string(),
        path: h.path().display().to_string(),
        reason,
    };
    let mut cmd = Command::new(h.path());
    let args = h.args().as_deref().unwrap_or_default();
    if let Some(a0) = args.first() {
        cmd.arg0(a0);
    }
    cmd.args(args.iter().skip(1));
    cmd.env_clear();
    for e in h.env().as_deref().unwrap_or_default() {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    cmd.stdin(Stdio::piped());
    // Output is kept for the error message (as runc does), in a memfd so a
    // chatty hook can never block on a full pipe.
    let out = crate::sys::memfd_sealable(c"rbox-hook")
        .map(std::fs::File::from)
        .map_err(|e| fail(format!("memfd for output: {e}")))?;
    let out2 = out.try_clone().map_err(|e| fail(format!("dup: {e}")))?;
    let mut reader = out.try_clone().map_err(|e| fail(format!("dup: {e}")))?;
    cmd.stdout(Stdio::from(out));
    cmd.stderr(Stdio::from(out2));
    let mut child = cmd
        .spawn()
        .map_err(|e| fail(format!("cannot start: {e}")))?;
    let deadline = h
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| (t, Instant::now() + Duration::from_secs(t as u64)));
    if let Some(stdin) = child.stdin.take() {
        // The state goes in under the same deadline: a hook that never
        // reads a large state must not block the runtime past its timeout.
        // A hook that ignores stdin may close it early: EPIPE is fine.
        let fed = feed_stdin(stdin, state_json, child.id() as i32, deadline.map(|d| d.1));
        if !fed {
            let _ = child.kill();
            let _ = child.wait();
            let t = deadline.map(|d| d.0).unwrap_or_default();
            return Err(fail(format!("timed out after {t} s")));
        }
    }
    if let Some((t, at)) = deadline
        && !crate::wait::wait_exit_timeout(
            child.id() as i32,
            at.saturating_duration_since(Instant::now()),
        )
    {
        let _ = child.kill();
        let _ = child.wait();
        return Err(fail(format!("timed out after {t} s")));
    }
    let status = child.wait().map_err(|e| fail(format!("waiting: {e}")))?;
    if !status.success() {
        let text = last_output(&mut reader);
        return Err(fail(if text.is_empty() {
            format!("exited with {status}")
        } else {
            format!("exited with {status}: {text}")
        }));
    }
    Ok(())
}

/// The last KiB of what a hook printed, trimmed, for error messages.
fn last_output(f: &mut std::fs::File) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let len = f.seek(SeekFrom::End(0)).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(1024)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).trim().to_string()
}

/// Writes `data` to a hook's stdin; with a deadline, non-blocking and
/// polled together with the hook's exit. Returns false on timeout.
fn feed_stdin(
    mut stdin: std::process::ChildStdin,
    data: &[u8],
    pid: i32,
    deadline: Option<Instant>,
) -> bool {
    let Some(deadline) = deadline else {
        let _ = stdin.write_all(data);
        return true;
    };
    use std::os::fd::AsFd;
    let flags = nix::fcntl::fcntl(&stdin, nix::fcntl::FcntlArg::F_GETFL).unwrap_or(0);
    let _ = nix::fcntl::fcntl(
        &stdin,
        nix::fcntl::FcntlArg::F_SETFL(
            nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK,
        ),
    );
    let mut rest = data;
    while !rest.is_empty() {
        match std::io::Write::write(&mut stdin, rest) {
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return false;
                }
                let Ok(pidfd) = crate::sys::pidfd_open(pid) else {
                    return true;
                };
                use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
                let ms = left.as_millis().min(i32::MAX as u128) as i32;
                let mut fds = [
                    PollFd::new(stdin.as_fd(), PollFlags::POLLOUT),
                    PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
                ];
                match poll(
                    &mut fds,
                    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
                ) {
                    Ok(0) => return false,
                    Ok(_) => {
                        if fds[1]
                            .revents()
                            .is_some_and(|r| r.contains(PollFlags::POLLIN))
                        {
                            // The hook exited without reading it all.
                            return true;
                        }
                    }
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(_) => return true,
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // EPIPE and the like: the hook closed its stdin.
            Err(_) => return true,
        }
    }
    true
}
