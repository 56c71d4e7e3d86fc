//! The operations behind the docker-style commands. No daemon: each
//! call reads and writes records under the data root; the container's
//! process is owned by its monitor (see [`crate::monitor`]).

use std::path::{Path, PathBuf};

use rbox_image::manifest::Platform;

use crate::error::{Error, Result};
use crate::network::{self, NetworkMode, NetworkRequest};
use crate::options::{LogOptions, RestartPolicy, RunOptions, parse_signal};
use crate::record::{Containers, Record, State, Status, new_id, random_bytes};
use crate::spec::{self, EtcFiles, NetNs, SpecContext};
use crate::{names, rootfs};

mod lifecycle;
mod ops;
mod volumes;

pub use lifecycle::wait_started;
pub(crate) use lifecycle::{destroy, record_exit};
pub use volumes::VolumeUse;

/// The engine over one data root and runtime root.
#[derive(Clone)]
pub struct Engine {
    data_root: PathBuf,
    runtime_root: PathBuf,
    monitor_exe: PathBuf,
    containers: Containers,
    puller: Option<Puller>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("data_root", &self.data_root)
            .field("runtime_root", &self.runtime_root)
            .field("puller", &self.puller.is_some())
            .finish()
    }
}

/// Fetches an image by name into the store (the registry client, wired
/// by the caller, which also reports progress): `Err` carries the
/// message.
pub type Puller = std::sync::Arc<dyn Fn(&str) -> std::result::Result<(), String> + Send + Sync>;

impl Engine {
    /// An engine; `monitor_exe` is the `rbox` binary, run as
    /// `rbox --data-root D --state-root R __monitor ID` for each container.
    pub fn new(
        data_root: impl Into<PathBuf>,
        runtime_root: impl Into<PathBuf>,
        monitor_exe: impl Into<PathBuf>,
    ) -> Self {
        // Absolute: the monitor runs from `/`.
        let data_root: PathBuf = data_root.into();
        let data_root = std::path::absolute(&data_root).unwrap_or(data_root);
        Engine {
            containers: Containers::new(&data_root),
            data_root,
            runtime_root: runtime_root.into(),
            monitor_exe: monitor_exe.into(),
            puller: None,
        }
    }

    /// Lets `create` pull images (`--pull always`, or `missing` when the
    /// image is not in the store).
    pub fn with_puller(mut self, puller: Puller) -> Self {
        self.puller = Some(puller);
        self
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
        let pull_policy = opts.pull.as_deref().unwrap_or("missing");
        if !["always", "missing", "never"].contains(&pull_policy) {
            return Err(Error::flag(
                "--pull",
                pull_policy,
                "use always, missing or never",
            ));
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
        let pull = |policy: &str| -> Result<()> {
            let Some(p) = &self.puller else {
                return Err(Error::PullUnavailable {
                    policy: policy.into(),
                    name: opts.image.clone(),
                });
            };
            p(&opts.image).map_err(|message| Error::Pull {
                name: opts.image.clone(),
                message,
            })
        };
        if pull_policy == "always" {
            pull("always")?;
        }
        let resolve = || store.resolve(&opts.image, &Platform::host());
        let image = match resolve() {
            Err(rbox_image::Error::ImageNotFound(_))
                if pull_policy == "missing" && self.puller.is_some() =>
            {
                pull("missing")?;
                resolve()
            }
            other => other,
        }
        .map_err(|e| match e {
            rbox_image::Error::ImageNotFound(_) => Error::NoSuchImage {
                name: opts.image.clone(),
            },
            source => Error::Image {
                name: opts.image.clone(),
                source,
            },
        })?;
        // What a killed create left behind goes first (mounts, names).
        if let Err(e) = self.sweep() {
            tracing::warn!("cleaning up unfinished creates: {e}");
        }
        let id = new_id()?;
        let (dir, lock) = self.containers.create_dir(&id)?;
        let mut name = String::new();
        let result = self.claim_name(&opts, &id).and_then(|n| {
            name = n;
            self.create_in(&store, &image, &id, &name, &dir, opts)
        });
        drop(lock);
        match result {
            Ok(r) => Ok(r),
            Err(e) => {
                let _ = rootfs::release(&dir.join("rootfs"));
                rootfs::release_hold(&self.data_root, &id);
                let _ = network::detach(&self.data_root, &id);
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
        let (rootfs, kind) = rootfs::prepare(store, image, id, dir)?;
        let net_err = |source| Error::Network {
            id: id.to_string(),
            source,
        };
        let mut mode: NetworkMode = opts
            .network
            .as_deref()
            .unwrap_or("bridge")
            .parse()
            .map_err(net_err)?;
        if let NetworkMode::Container(other) = &mode {
            mode = NetworkMode::Container(self.resolve(other)?);
        }
        let host_net = mode == NetworkMode::Host;
        let hostname = spec::hostname(id, &opts, host_net);
        let mut ports = Vec::new();
        for p in &opts.publish {
            ports.extend(network::parse_publish(p).map_err(net_err)?);
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
        let att = network::attach(&self.data_root, &req).map_err(net_err)?;
        let etc = dir.join("etc");
        std::fs::create_dir_all(&etc).map_err(|e| Error::io("creating", &etc, e))?;
        let hostname_file = etc.join("hostname");
        std::fs::write(&hostname_file, format!("{hostname}\n"))
            .map_err(|e| Error::io("writing", &hostname_file, e))?;
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
        let image_volumes: Vec<String> = image_cfg
            .volumes
            .iter()
            .flat_map(|m| m.keys().cloned())
            .collect();
        let (spec_opts, volume_uses) =
            volumes::resolve(&self.data_root, &rootfs, &opts, &image_volumes)?;
        let ctx = SpecContext {
            id,
            rootfs: &rootfs,
            etc_files: EtcFiles {
                hosts: &att.hosts_path,
                hostname: &hostname_file,
                resolv_conf: &att.resolv_conf_path,
            },
            hostname: &hostname,
            netns,
            init_binary: init.as_deref(),
        };
        let built = spec::build(&ctx, &spec_opts, &image_cfg)?;
        let mut mounts = built.mounts.clone();
        for m in &mut mounts {
            if let Some(u) = volume_uses.iter().find(|u| u.destination == m.destination) {
                m.kind = "volume".into();
                m.name = u.name.clone();
            }
        }
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
            env: built.spec["process"]["env"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            working_dir: built.spec["process"]["cwd"]
                .as_str()
                .unwrap_or("/")
                .to_string(),
            user: opts
                .user
                .clone()
                .or_else(|| image_cfg.user.clone())
                .unwrap_or_default(),
            command: built.command,
            labels,
            mounts,
            stop_signal: built.stop_signal,
            hostname,
            rootfs,
            overlay: kind == rootfs::Kind::Overlay,
            log_path: dir.join(format!("{id}-json.log")),
            runtime_root: self.runtime_root.clone(),
            ips: att.ips.iter().map(|i| i.to_string()).collect(),
            network: att.network.clone(),
            gateway: att.gateway.map(|g| g.to_string()),
            ports: att
                .ports
                .iter()
                .map(|p| {
                    let ip = p
                        .host_ip
                        .map(|i| i.to_string())
                        .unwrap_or_else(|| "0.0.0.0".into());
                    format!("{ip}:{}->{}/{}", p.host_port, p.container_port, p.protocol)
                })
                .collect(),
            volumes: volume_uses,
            options: opts,
        };
        self.containers.save(&rec)?;
        Ok(rec)
    }
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
