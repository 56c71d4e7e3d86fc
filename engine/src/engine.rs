//! The operations behind the docker-style commands. No daemon: each
//! call reads and writes records under the data root; the container's
//! process is owned by its monitor (see [`crate::monitor`]).

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rbox_image::manifest::Platform;
use rbox_runtime::{ContainerId, Runtime};

use crate::attach::{Kind, read_frame};
use crate::error::{Error, Result};
use crate::netplan::{self, NetworkMode, NetworkRequest};
use crate::options::{LogOptions, RestartPolicy, RunOptions, parse_signal};
use crate::record::{Containers, Record, State, Status, new_id, random_bytes};
use crate::spec::{self, NetNs, SpecContext};
use crate::{names, rootfs};

/// The engine over one data root and runtime root.
#[derive(Debug, Clone)]
pub struct Engine {
    data_root: PathBuf,
    runtime_root: PathBuf,
    monitor_exe: PathBuf,
    containers: Containers,
}

impl Engine {
    /// An engine; `monitor_exe` is the `rbox` binary, run as
    /// `rbox --data-root D --root R __monitor ID` for each container.
    pub fn new(
        data_root: impl Into<PathBuf>,
        runtime_root: impl Into<PathBuf>,
        monitor_exe: impl Into<PathBuf>,
    ) -> Self {
        let data_root = data_root.into();
        Engine {
            containers: Containers::new(&data_root),
            data_root,
            runtime_root: runtime_root.into(),
            monitor_exe: monitor_exe.into(),
        }
    }

    /// The records.
    pub fn containers(&self) -> &Containers {
        &self.containers
    }

    /// The data root.
    pub fn data_root(&self) -> &Path {
        &self.data_root
    }

    /// The id for a name, id or id prefix.
    pub fn resolve(&self, what: &str) -> Result<String> {
        self.containers.resolve(what)
    }

    /// A record, its status reconciled with reality: a running container
    /// whose monitor is gone is reported exited.
    pub fn record(&self, id: &str) -> Result<Record> {
        let r = self
            .containers
            .load(id)?
            .ok_or_else(|| Error::NoSuchContainer(id.into()))?;
        let active = matches!(r.state.status, Status::Running | Status::Restarting);
        if active && !pid_alive(r.state.monitor_pid) {
            // Nobody records the exit of, or logs, a container whose
            // monitor was killed: stop it, so the record tells the truth.
            if let Ok(c) = self.runtime_container(&r) {
                let _ = c.delete(true);
            }
            return self.containers.update(id, |r| {
                if matches!(r.state.status, Status::Running | Status::Restarting)
                    && !pid_alive(r.state.monitor_pid)
                {
                    r.state.status = Status::Exited;
                    r.state.exit_code = 255;
                    r.state.error = "the container's monitor died".into();
                    r.state.pid = 0;
                    r.state.monitor_pid = 0;
                    r.state.finished_at = crate::time::now();
                }
            });
        }
        Ok(r)
    }

    /// Every container, newest first.
    pub fn list(&self) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        for r in self.containers.list()? {
            out.push(self.record(&r.id).unwrap_or(r));
        }
        Ok(out)
    }

    /// `rbox create`: checks the flags, makes the record, the rootfs,
    /// the generated /etc files and the bundle. Nothing is left behind
    /// on failure.
    pub fn create(&self, opts: RunOptions) -> Result<Record> {
        match opts.pull.as_deref() {
            None | Some("missing") | Some("never") => {}
            Some(p @ "always") => {
                return Err(Error::PullUnavailable {
                    policy: p.into(),
                    name: opts.image.clone(),
                });
            }
            Some(p) => return Err(Error::flag("--pull", p, "use always, missing or never")),
        }
        let policy = RestartPolicy::parse(opts.restart.as_deref().unwrap_or("no"))?;
        if opts.rm && policy != RestartPolicy::No {
            return Err(Error::flag(
                "--restart",
                opts.restart.as_deref().unwrap_or(""),
                "conflicts with --rm",
            ));
        }
        LogOptions::parse(&opts.log_opts)?;
        let store = rbox_image::Store::open(&self.data_root).map_err(|source| Error::Image {
            name: opts.image.clone(),
            source,
        })?;
        let image = store
            .resolve(&opts.image, &Platform::host())
            .map_err(|e| match e {
                rbox_image::Error::ImageNotFound(_) => Error::NoSuchImage {
                    name: opts.image.clone(),
                },
                source => Error::Image {
                    name: opts.image.clone(),
                    source,
                },
            })?;
        let id = new_id()?;
        let dir = self.containers.create_dir(&id)?;
        let lock = self.containers.lock(&id);
        let mut name = String::new();
        let result = lock.and_then(|_lock| {
            name = self.claim_name(&opts, &id)?;
            self.create_in(&store, &image, &id, &name, &dir, opts)
        });
        match result {
            Ok(r) => Ok(r),
            Err(e) => {
                let _ = rootfs::release(&dir.join("rootfs"));
                let _ = netplan::detach(&self.data_root, &id);
                let _ = std::fs::remove_dir_all(&dir);
                if !name.is_empty() {
                    self.containers.release_name(&name, &id);
                }
                Err(e)
            }
        }
    }

    fn claim_name(&self, opts: &RunOptions, id: &str) -> Result<String> {
        if let Some(n) = &opts.name {
            let n = names::validate(n)?;
            self.containers.reserve_name(&n, id)?;
            return Ok(n);
        }
        let mut last = None;
        for retry in 0..10 {
            let n = names::generate(&random_bytes(), retry);
            match self.containers.reserve_name(&n, id) {
                Ok(()) => return Ok(n),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("ten attempts ran"))
    }

    fn create_in(
        &self,
        store: &rbox_image::Store,
        image: &rbox_image::store::Image,
        id: &str,
        name: &str,
        dir: &Path,
        opts: RunOptions,
    ) -> Result<Record> {
        let (rootfs, kind) = rootfs::prepare(store, image, dir)?;
        let mode = NetworkMode::parse(opts.network.as_deref());
        let host_net = mode == NetworkMode::Host;
        let hostname = spec::hostname(id, &opts, host_net);
        let mut ports = Vec::new();
        for p in &opts.publish {
            ports.extend(netplan::parse_publish(p).map_err(|e| Error::Network {
                id: id.into(),
                message: e.to_string(),
            })?);
        }
        let mut extra_hosts = Vec::new();
        for h in &opts.add_host {
            let (n, ip) = h
                .split_once(':')
                .ok_or_else(|| Error::flag("--add-host", h, "expected HOST:IP"))?;
            extra_hosts.push((n.to_string(), ip.to_string()));
        }
        let req = NetworkRequest {
            container_id: id.into(),
            name: name.into(),
            mode: mode.clone(),
            ports,
            dns: opts.dns.clone(),
            extra_hosts,
            hostname: hostname.clone(),
        };
        let att = netplan::attach(&self.data_root, &req).map_err(|e| Error::Network {
            id: id.into(),
            message: e.to_string(),
        })?;
        let etc = dir.join("etc");
        std::fs::create_dir_all(&etc).map_err(|e| Error::io("creating", &etc, e))?;
        for (f, content) in [
            ("hosts", att.hosts_file.clone()),
            ("hostname", format!("{hostname}\n")),
            ("resolv.conf", att.resolv_conf.clone()),
        ] {
            let p = etc.join(f);
            std::fs::write(&p, content).map_err(|e| Error::io("writing", &p, e))?;
        }
        let netns = match (&mode, &att.netns_path) {
            (NetworkMode::Host, _) => NetNs::Host,
            (_, Some(p)) => NetNs::Path(p.clone()),
            _ => NetNs::New,
        };
        let init = if opts.init {
            Some(init_binary()?)
        } else {
            None
        };
        let image_cfg = image.config.container_config();
        let ctx = SpecContext {
            id,
            rootfs: &rootfs,
            etc_dir: &etc,
            hostname: &hostname,
            netns,
            init_binary: init.as_deref(),
        };
        let built = spec::build(&ctx, &opts, &image_cfg)?;
        let bundle = dir.join("bundle");
        std::fs::create_dir_all(&bundle).map_err(|e| Error::io("creating", &bundle, e))?;
        let cfg = bundle.join("config.json");
        std::fs::write(
            &cfg,
            serde_json::to_vec_pretty(&built.spec).expect("specs serialize"),
        )
        .map_err(|e| Error::io("writing", &cfg, e))?;
        let mut labels = image_cfg.labels.clone().unwrap_or_default();
        for l in &opts.labels {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            labels.insert(k.to_string(), v.to_string());
        }
        let rec = Record {
            id: id.into(),
            name: name.into(),
            image: opts.image.clone(),
            image_id: image.id.to_string(),
            created: crate::time::now(),
            state: State::default(),
            restart_count: 0,
            command: built.command,
            labels,
            mounts: built.mounts,
            stop_signal: built.stop_signal,
            hostname,
            rootfs,
            overlay: kind == rootfs::Kind::Overlay,
            log_path: dir.join(format!("{id}-json.log")),
            runtime_root: self.runtime_root.clone(),
            ips: att.ips.iter().map(|i| i.to_string()).collect(),
            options: opts,
        };
        self.containers.save(&rec)?;
        Ok(rec)
    }

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
            rootfs::prepare(&store, &image, &self.containers.dir(id))?;
        }
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
        cmd.arg("--data-root")
            .arg(&self.data_root)
            .arg("--root")
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
        })
    }

    /// `rbox stop`: the stop signal, then SIGKILL after `timeout` seconds
    /// (default: `--stop-timeout`, else 10).
    pub fn stop(&self, id: &str, timeout: Option<i64>) -> Result<()> {
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
            let _ = c.kill(rec.stop_signal, false);
        }
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
        let mut last = self.record(id)?.state.exit_code;
        loop {
            match self.record(id) {
                Ok(r) if matches!(r.state.status, Status::Running | Status::Restarting) => {
                    last = r.state.exit_code;
                }
                Ok(r) => return Ok(r.state.exit_code),
                Err(Error::NoSuchContainer(_)) => return Ok(last),
                Err(e) => return Err(e),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `rbox rm`: removes a stopped container (a running one with
    /// `force`, killed first).
    pub fn remove(&self, id: &str, force: bool) -> Result<()> {
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
            self.wait_until(id, Some(Duration::from_secs(30)), |s| {
                s != Status::Running && s != Status::Restarting
            });
        }
        let monitor = self.record(id).map(|r| r.state.monitor_pid).unwrap_or(0);
        wait_pid_gone(monitor, Duration::from_secs(10));
        destroy(&self.data_root, &self.record(id).unwrap_or(rec))
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
        let mut out = Vec::new();
        for id in self.containers.ids()? {
            match self.containers.load(&id) {
                Ok(Some(_)) => {
                    let r = self.record(&id)?;
                    if !matches!(r.state.status, Status::Running | Status::Restarting) {
                        destroy(&self.data_root, &r)?;
                        out.push(id);
                    }
                }
                Ok(None) => {
                    // A create in progress holds the lock; a dead one not.
                    if !self.containers.busy(&id) {
                        let _ = rootfs::release(&self.containers.dir(&id).join("rootfs"));
                        let _ = netplan::detach(&self.data_root, &id);
                        let d = self.containers.dir(&id);
                        std::fs::remove_dir_all(&d).map_err(|e| Error::io("removing", &d, e))?;
                        out.push(id);
                    }
                }
                Err(e) => tracing::warn!("prune: skipping {id}: {e}"),
            }
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
/// network, directory, name.
pub(crate) fn destroy(data_root: &Path, rec: &Record) -> Result<()> {
    let containers = Containers::new(data_root);
    let _ = containers.update(&rec.id, |r| r.state.status = Status::Removing);
    if let Ok(cid) = ContainerId::new(&rec.id)
        && let Ok(c) = Runtime::new(&rec.runtime_root).load(&cid)
    {
        let _ = c.delete(true);
    }
    rootfs::release(&containers.dir(&rec.id).join("rootfs"))?;
    netplan::detach(data_root, &rec.id).map_err(|e| Error::Network {
        id: rec.id.clone(),
        message: e.to_string(),
    })?;
    let d = containers.dir(&rec.id);
    std::fs::remove_dir_all(&d).map_err(|e| Error::io("removing", &d, e))?;
    containers.release_name(&rec.name, &rec.id);
    Ok(())
}

fn pid_alive(pid: i32) -> bool {
    pid > 0
        && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
}

fn wait_pid_gone(pid: i32, timeout: Duration) {
    let start = Instant::now();
    while pid_alive(pid) && start.elapsed() < timeout {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The init binary for `--init`: `$RBOX_INIT_PATH`, else `docker-init`
/// or `tini-static` in `$PATH` (a static tini, which is what docker-init
/// is).
fn init_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("RBOX_INIT_PATH") {
        return Ok(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    for name in ["docker-init", "tini-static"] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return std::fs::canonicalize(&p).map_err(|e| Error::io("resolving", &p, e));
            }
        }
    }
    Err(Error::NoInitBinary)
}

/// Parses a `kill -s` value.
pub fn signal(s: &str) -> Result<i32> {
    parse_signal("--signal", s)
}
