//! Lifecycle of created containers: start (through the monitor), kill,
//! stop, wait, remove, top and prune.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rbox_image::manifest::Platform;
use rbox_runtime::{ContainerId, Runtime};

use super::{Engine, pid_alive};
use crate::attach::{Kind, read_frame};
use crate::error::{Error, Result};
use crate::network;
use crate::record::{Containers, Record, Status};
use crate::rootfs;

impl Engine {
    /// Starts a created or exited container: spawns its monitor and
    /// returns the attach stream (frames of [`crate::attach`]). Use
    /// [`wait_started`] on it before returning to a `-d` user.
    pub fn start(&self, id: &str) -> Result<UnixStream> {
        let rec = self.record(id)?;
        if matches!(rec.state.status, Status::Running | Status::Restarting) {
            return Err(Error::WrongState {
                id: id.into(),
                status: rec.state.status.to_string(),
                want: "it is already running",
            });
        }
        self.ensure_rootfs(&rec)?;
        self.containers.update(id, |r| {
            r.state.stopped_by_user = false;
            r.state.error.clear();
        })?;
        let (ours, theirs) =
            UnixStream::pair().map_err(|e| Error::io("socketpair", "attach", e))?;
        let log = self.containers.dir(id).join("monitor.log");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| Error::io("opening", &log, e))?;
        let err = out.try_clone().map_err(|e| Error::io("opening", &log, e))?;
        let mut cmd = Command::new(&self.monitor_exe);
        // The monitor outlives the caller's cwd (which may be unmounted).
        cmd.current_dir("/")
            .arg("--data-root")
            .arg(&self.data_root)
            .arg("--state-root")
            .arg(&self.runtime_root)
            .arg("__monitor")
            .arg(id)
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        crate::sys::detach_session(&mut cmd);
        cmd.spawn()
            .map_err(|e| Error::io("starting the monitor", &self.monitor_exe, e))?;
        Ok(ours)
    }

    /// Mounts the overlay rootfs again when it is gone (after a reboot).
    pub(crate) fn ensure_rootfs(&self, rec: &Record) -> Result<()> {
        if rec.overlay && !rootfs::is_mounted(&rec.rootfs) {
            let store =
                rbox_image::Store::open(&self.data_root).map_err(|source| Error::Image {
                    name: rec.image.clone(),
                    source,
                })?;
            let image = store
                .resolve(&rec.image_id, &Platform::host())
                .map_err(|source| Error::Image {
                    name: rec.image_id.clone(),
                    source,
                })?;
            rootfs::prepare(&store, &image, &rec.id, &self.containers.dir(&rec.id))?;
        }
        Ok(())
    }

    /// Sends `signal` (a number) to the container's init.
    pub fn kill(&self, id: &str, signal: i32) -> Result<()> {
        let rec = self
            .containers
            .update(id, |r| r.state.stopped_by_user = true)?;
        let rec = self.record(&rec.id)?;
        if rec.state.status != Status::Running {
            return Err(Error::WrongState {
                id: id.into(),
                status: rec.state.status.to_string(),
                want: "it is not running",
            });
        }
        let c = self.runtime_container(&rec)?;
        c.kill(signal, false).map_err(|source| Error::Runtime {
            id: id.into(),
            source,
        })?;
        self.thaw_after_signal(&rec);
        Ok(())
    }

    /// `rbox stop`: `signal` (default: the container's stop signal), then
    /// SIGKILL after `timeout` seconds (default: `--stop-timeout`, else 10).
    pub fn stop(&self, id: &str, timeout: Option<i64>, signal: Option<i32>) -> Result<()> {
        let rec = self
            .containers
            .update(id, |r| r.state.stopped_by_user = true)?;
        let rec = self.record(&rec.id)?;
        if rec.state.status == Status::Restarting {
            self.wait_until(id, None, |s| s != Status::Restarting);
            return Ok(());
        }
        if rec.state.status != Status::Running {
            return Ok(());
        }
        let t = timeout.or(rec.options.stop_timeout).unwrap_or(10).max(0) as u64;
        if let Ok(c) = self.runtime_container(&rec) {
            let _ = c.kill(signal.unwrap_or(rec.stop_signal), false);
        }
        self.thaw_after_signal(&rec);
        if self.wait_until(id, Some(Duration::from_secs(t)), |s| s != Status::Running) {
            return Ok(());
        }
        if let Ok(c) = self.runtime_container(&rec) {
            let _ = c.kill(libc::SIGKILL, true);
        }
        self.wait_until(id, None, |s| {
            s != Status::Running && s != Status::Restarting
        });
        Ok(())
    }

    /// Waits until `done(status)` or the record is gone; false on timeout.
    fn wait_until(
        &self,
        id: &str,
        timeout: Option<Duration>,
        done: impl Fn(Status) -> bool,
    ) -> bool {
        let start = Instant::now();
        loop {
            match self.record(id) {
                Ok(r) if !done(r.state.status) => {}
                _ => return true,
            }
            if timeout.is_some_and(|t| start.elapsed() >= t) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `rbox wait`: blocks until the container is not running; its exit
    /// code.
    pub fn wait(&self, id: &str) -> Result<i32> {
        let first = self.record(id)?;
        let mut last = first.state.exit_code;
        let slot = first
            .options
            .rm
            .then(|| ExitSlot::new(&first.runtime_root, id))
            .flatten();
        let removed_code = || slot.as_ref().and_then(ExitSlot::code);
        loop {
            match self.record(id) {
                Ok(r) if matches!(r.state.status, Status::Running | Status::Restarting) => {
                    last = r.state.exit_code;
                }
                Ok(r) => return Ok(r.state.exit_code),
                Err(Error::NoSuchContainer(_)) => return Ok(removed_code().unwrap_or(last)),
                Err(e) => return Err(e),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `rbox rm`: removes a stopped container (a running one with
    /// `force`, killed first), and with `volumes` its anonymous volumes.
    pub fn remove(&self, id: &str, force: bool, volumes: bool) -> Result<()> {
        let rec = self.record(id)?;
        if matches!(rec.state.status, Status::Running | Status::Restarting) {
            if !force {
                return Err(Error::WrongState {
                    id: id.into(),
                    status: rec.state.status.to_string(),
                    want: "stop it first or use --force",
                });
            }
            self.containers
                .update(id, |r| r.state.stopped_by_user = true)?;
            if let Ok(c) = self.runtime_container(&rec) {
                let _ = c.kill(libc::SIGKILL, true);
            }
            self.thaw_after_signal(&rec);
            self.wait_until(id, Some(Duration::from_secs(30)), |s| {
                s != Status::Running && s != Status::Restarting
            });
        }
        let monitor = self.record(id).map(|r| r.state.monitor_pid).unwrap_or(0);
        wait_pid_gone(monitor, Duration::from_secs(10));
        destroy(&self.data_root, &self.record(id).unwrap_or(rec), volumes)
    }

    /// The runtime's view of a running container.
    pub fn runtime_container(&self, rec: &Record) -> Result<rbox_runtime::Container> {
        let cid = ContainerId::new(&rec.id).map_err(|source| Error::Runtime {
            id: rec.id.clone(),
            source,
        })?;
        Runtime::new(&rec.runtime_root)
            .load(&cid)
            .map_err(|source| Error::Runtime {
                id: rec.id.clone(),
                source,
            })
    }

    /// Host pids of the container's processes.
    pub fn top(&self, id: &str) -> Result<Vec<i32>> {
        let rec = self.record(id)?;
        if rec.state.status != Status::Running {
            return Err(Error::WrongState {
                id: id.into(),
                status: rec.state.status.to_string(),
                want: "it is not running",
            });
        }
        self.runtime_container(&rec)?
            .pids()
            .map_err(|source| Error::Runtime {
                id: id.into(),
                source,
            })
    }

    /// `rbox container prune`: removes every stopped container and what
    /// crashed creates left; returns the removed ids.
    pub fn prune(&self) -> Result<Vec<String>> {
        let mut out = self.sweep()?;
        for id in self.containers.ids()? {
            if let Ok(Some(_)) = self.containers.load(&id) {
                let r = self.record(&id)?;
                if !matches!(r.state.status, Status::Running | Status::Restarting) {
                    destroy(&self.data_root, &r, false)?;
                    out.push(id);
                }
            }
        }
        Ok(out)
    }

    /// Removes what creates that died half way left: directories without
    /// a record whose lock nobody holds (a create in progress holds it),
    /// with their rootfs mount and network. Returns their ids.
    pub fn sweep(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for (id, dir) in self.containers.partial_dirs()? {
            // Under its lock, and still without a record: a create that
            // finished (saved and unlocked) since the listing is not
            // remains.
            let Some(_lock) = self.containers.try_lock_dir(&dir) else {
                continue;
            };
            if id.is_some() && dir.join("config.json").exists() {
                continue;
            }
            tracing::info!(
                "removing the remains of an unfinished create: {}",
                dir.display()
            );
            let _ = rootfs::release(&dir.join("rootfs"));
            if let Some(id) = &id {
                rootfs::release_hold(&self.data_root, id);
                let _ = network::detach(&self.data_root, id);
            }
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io("removing", &dir, e))?;
            out.extend(id);
        }
        Ok(out)
    }
}

/// Reads the monitor's first frames: Ok once the container runs, the
/// start error otherwise.
pub fn wait_started(stream: &mut UnixStream, id: &str) -> Result<()> {
    loop {
        match read_frame(stream) {
            Ok(Some((Kind::Started, _))) => return Ok(()),
            Ok(Some((Kind::Error, p))) => {
                let code = p.first().copied().unwrap_or(125);
                return Err(Error::StartFailed {
                    id: id.into(),
                    message: String::from_utf8_lossy(p.get(1..).unwrap_or_default()).into_owned(),
                    code,
                });
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                return Err(Error::Monitor {
                    id: id.into(),
                    message: "exited before the container started; see monitor.log in the container's directory".into(),
                });
            }
        }
    }
}

/// Removes everything of a container: runtime state, rootfs mount,
/// network, directory, name, and with `volumes` its anonymous volumes.
pub(crate) fn destroy(data_root: &Path, rec: &Record, volumes: bool) -> Result<()> {
    let containers = Containers::new(data_root);
    let _ = containers.update(&rec.id, |r| r.state.status = Status::Removing);
    if let Ok(cid) = ContainerId::new(&rec.id)
        && let Ok(c) = Runtime::new(&rec.runtime_root).load(&cid)
    {
        let _ = c.delete(true);
    }
    rootfs::release(&containers.dir(&rec.id).join("rootfs"))?;
    rootfs::release_hold(data_root, &rec.id);
    network::detach(data_root, &rec.id).map_err(|source| Error::Network {
        id: rec.id.clone(),
        source,
    })?;
    let d = containers.dir(&rec.id);
    std::fs::remove_dir_all(&d).map_err(|e| Error::io("removing", &d, e))?;
    containers.release_name(&rec.name, &rec.id);
    if volumes {
        super::volumes::remove_anonymous(data_root, &rec.volumes);
    }
    Ok(())
}

fn wait_pid_gone(pid: i32, timeout: Duration) {
    let start = Instant::now();
    while pid_alive(pid) && start.elapsed() < timeout {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A waiter's slot for a `--rm` container's exit code, on the runtime
/// root (a tmpfs): `exits/<id>/<waiter pid>`. The waiter makes it before
/// it starts waiting and removes it after; the monitor fills every slot
/// before it removes the container, and writes nothing when nobody waits.
fn exit_slot(runtime_root: &Path, id: &str) -> std::path::PathBuf {
    runtime_root
        .join("exits")
        .join(id)
        .join(std::process::id().to_string())
}

/// Gives every registered waiter a removed container's exit code.
pub(crate) fn record_exit(runtime_root: &Path, id: &str, code: i32) {
    let dir = runtime_root.join("exits").join(id);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in rd.flatten() {
        if let Err(err) = std::fs::write(e.path(), code.to_string()) {
            tracing::warn!("writing {}: {err}", e.path().display());
        }
    }
}

/// Registers this process as a waiter; the slot goes away on drop.
struct ExitSlot(std::path::PathBuf);

impl ExitSlot {
    fn new(runtime_root: &Path, id: &str) -> Option<ExitSlot> {
        let p = exit_slot(runtime_root, id);
        std::fs::create_dir_all(p.parent()?).ok()?;
        std::fs::write(&p, "").ok()?;
        Some(ExitSlot(p))
    }

    fn code(&self) -> Option<i32> {
        std::fs::read_to_string(&self.0).ok()?.trim().parse().ok()
    }
}

impl Drop for ExitSlot {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        if let Some(d) = self.0.parent() {
            // Fails while other waiters remain: they remove it last.
            let _ = std::fs::remove_dir(d);
        }
    }
}
