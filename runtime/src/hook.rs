//! OCI hooks: run `path` with `args` and `env`, the container state as JSON
//! on stdin, killed after `timeout` seconds. Hooks in the runtime's
//! namespaces run in the bundle directory, as under runc (which chdirs
//! there), so a hook may name bundle files by relative paths.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

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
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that ignores stdin may close it early: EPIPE is fine.
        let _ = stdin.write_all(state_json);
    }
    if let Some(t) = h.timeout().filter(|t| *t > 0)
        && !crate::wait::wait_exit_timeout(child.id() as i32, Duration::from_secs(t as u64))
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
