//! Harnesses for real container clients — podman, containerd (`ctr`) and
//! dockerd — driving the built `rbox` as their OCI runtime through a
//! symlink named `rbox-runc` (`argv[0]` dispatch).
//!
//! Invariants: every client runs with its storage, state, sockets and
//! cgroup parent inside the harness's own temp dir and `/rbox-test/<id>`;
//! dropping a harness stops its containers and daemons, waits for (or, past
//! a grace period, kills by pid) every process whose command line names the
//! temp dir (conmon, shims, cleanup commands), then unmounts and removes
//! the dir and the cgroups. Client commands run with a timeout, so a hung
//! client fails the test instead of blocking the suite.

mod containerd;
mod dockerd;
mod image;
mod podman;

pub use containerd::{CTR_IMAGE, Containerd};
pub use dockerd::{DOCKER_IMAGE, Dockerd};
pub use image::{busybox_docker_archive, busybox_rootfs_tar};
pub use podman::{PODMAN_IMAGE, Podman};

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long one client command may take before the test fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Creates `dir/rbox-runc`, a symlink to the built `rbox`: the name the
/// clients are given as their runtime binary.
pub fn runc_link(dir: &Path) -> io::Result<PathBuf> {
    let target = crate::rbox_bin().canonicalize()?;
    std::fs::create_dir_all(dir)?;
    let link = dir.join("rbox-runc");
    std::os::unix::fs::symlink(target, &link)?;
    Ok(link)
}

/// Runs `cmd` to completion with output captured through files in
/// `scratch` (a detached container or daemon may inherit them, and would
/// hold a pipe open forever). Kills it and fails with `TimedOut` after
/// `timeout`.
pub fn output_in(cmd: &mut Command, scratch: &Path, timeout: Duration) -> io::Result<Output> {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let out_p = scratch.join(format!("cmd-out.{n}"));
    let err_p = scratch.join(format!("cmd-err.{n}"));
    let mut child = cmd
        .stdout(std::fs::File::create(&out_p)?)
        .stderr(std::fs::File::create(&err_p)?)
        .spawn()?;
    let status = wait_timeout(&mut child, timeout)?;
    let read = |p: &Path| {
        let b = std::fs::read(p).unwrap_or_default();
        let _ = std::fs::remove_file(p);
        b
    };
    let (stdout, stderr) = (read(&out_p), read(&err_p));
    match status {
        Some(status) => Ok(Output {
            status,
            stdout,
            stderr,
        }),
        None => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "{cmd:?} did not finish in {timeout:?}; stdout: {}; stderr: {}",
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            ),
        )),
    }
}

/// Waits for `child` up to `timeout`; on timeout kills and reaps it and
/// returns None.
fn wait_timeout(
    child: &mut Child,
    timeout: Duration,
) -> io::Result<Option<std::process::ExitStatus>> {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait()? {
            return Ok(Some(s));
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Asserts that a client command succeeded; returns its stdout.
pub fn ok(what: &str, o: &Output) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({}): stdout={} stderr={}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A daemon the harness started: SIGTERM on [`Daemon::stop`] (or drop),
/// SIGKILL if it does not exit within the grace period.
pub(crate) struct Daemon {
    name: &'static str,
    child: Option<Child>,
}

impl Daemon {
    /// Spawns `cmd` with stdin from /dev/null and stdout/stderr to `log`.
    pub(crate) fn spawn(name: &'static str, cmd: &mut Command, log: &Path) -> io::Result<Daemon> {
        let f = std::fs::File::create(log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone()?)
            .stderr(f)
            .spawn()?;
        Ok(Daemon {
            name,
            child: Some(child),
        })
    }

    /// True while the daemon has not exited.
    pub(crate) fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().is_ok_and(|s| s.is_none()))
    }

    /// Stops the daemon: SIGTERM, then SIGKILL after `grace`.
    pub(crate) fn stop(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if child.try_wait().is_ok_and(|s| s.is_none())
            && let Ok(pid) = i32::try_from(child.id())
        {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        match wait_timeout(&mut child, grace) {
            Ok(Some(_)) => {}
            _ => eprintln!("rbox-integration: {} ignored SIGTERM; killed", self.name),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(20));
    }
}

/// Polls `ready` every 50 ms until it is true or `timeout` passes.
pub(crate) fn wait_until(timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ready()
}

/// Pids (other than ours) whose command line contains `marker`.
fn marked_processes(marker: &str) -> Vec<i32> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
        })
        .filter_map(|pid| i32::try_from(pid).ok())
        .collect()
}

/// Waits up to `grace` for every process naming `marker` (a test's unique
/// temp dir) in its command line to exit — conmon, shims, podman's
/// cleanup commands, which the clients daemonize — then SIGKILLs the
/// rest, by pid.
pub(crate) fn reap_marked(marker: &Path, grace: Duration) {
    // With the slash, a dir never matches another whose name it prefixes.
    let marker = format!("{}/", marker.display());
    if wait_until(grace, || marked_processes(&marker).is_empty()) {
        return;
    }
    for pid in marked_processes(&marker) {
        eprintln!("rbox-integration: killing leftover process {pid} of {marker}");
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    wait_until(Duration::from_secs(5), || {
        marked_processes(&marker).is_empty()
    });
}
