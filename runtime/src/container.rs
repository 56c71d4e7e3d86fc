//! Container lifecycle: create, start, state, kill, delete, pause, resume.
//!
//! `create` runs in the caller's process: it validates the bundle, makes the
//! cgroup, clones the init into its namespaces and drives it over a
//! socketpair until the init blocks on the exec fifo. `start` opens that
//! fifo. Status is always derived from the live process (see [`Status`]).

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use oci_spec::runtime::Spec;

use crate::cgroup::Manager;
use crate::channel::{Channel, Msg};
use crate::error::{Error, Result};
use crate::hook::{HookKind, run_hooks};
use crate::id::ContainerId;
use crate::state::{ContainerState, Status};
use crate::{init, sys, validate};

/// Where the runtime keeps state and how it manages cgroups.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Runtime {
    /// The state directory (runc's `--root`), e.g. `/run/rbox`.
    pub root: PathBuf,
    /// Treat cgroupsPath as systemd `slice:prefix:name`.
    pub systemd_cgroup: bool,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime {
            root: PathBuf::from("/run/rbox"),
            systemd_cgroup: false,
        }
    }
}

/// Options of `create` (runc's flags).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CreateOptions {
    /// The bundle directory holding config.json.
    pub bundle: PathBuf,
    /// Where to write the init's pid.
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master when `process.terminal`.
    pub console_socket: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root.
    pub no_pivot: bool,
    /// Do not create a session keyring (accepted; rbox never creates one).
    pub no_new_keyring: bool,
    /// Number of extra fds (3..3+N) passed to the container.
    pub preserve_fds: u32,
    /// Descriptors the container's process gets as stdin, stdout and
    /// stderr instead of the caller's (an engine's log pipes, a builder's
    /// output capture). They must stay open until `create` returns.
    pub stdio: Option<[std::os::fd::RawFd; 3]>,
}

impl CreateOptions {
    /// Options for a bundle directory.
    pub fn new(bundle: impl Into<PathBuf>) -> Self {
        CreateOptions {
            bundle: bundle.into(),
            ..Default::default()
        }
    }
}

/// A container known to the runtime.
#[derive(Debug)]
pub struct Container {
    dir: PathBuf,
    state: ContainerState,
    /// The spec, parsed at most once per process.
    spec: std::cell::OnceCell<Spec>,
}

impl Runtime {
    /// A runtime with state under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Runtime {
            root: root.into(),
            ..Default::default()
        }
    }

    fn dir(&self, id: &ContainerId) -> PathBuf {
        self.root.join(id.as_str())
    }

    /// Loads an existing container.
    pub fn load(&self, id: &ContainerId) -> Result<Container> {
        let dir = self.dir(id);
        if !dir.join("state.json").exists() {
            return Err(Error::NotFound(id.to_string()));
        }
        Ok(Container {
            state: ContainerState::load(&dir)?,
            dir,
            spec: std::cell::OnceCell::new(),
        })
    }

    /// Removes what a killed `create` left: a state dir without state.json
    /// (its cgroup, if any, is unknown and stays). Returns whether there
    /// was something to remove.
    pub fn remove_stale(&self, id: &ContainerId) -> Result<bool> {
        let dir = self.dir(id);
        if !dir.is_dir() || dir.join("state.json").exists() {
            return Ok(false);
        }
        fs::remove_dir_all(&dir).map_err(|source| Error::Io {
            op: "removing stale state dir",
            path: dir,
            source,
        })?;
        Ok(true)
    }

    /// Every container under the root, sorted by id.
    pub fn list(&self) -> Result<Vec<Container>> {
        let rd = match fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(source) => {
                return Err(Error::Io {
                    op: "listing",
                    path: self.root.clone(),
                    source,
                });
            }
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let dir = e.path();
            if let Ok(state) = ContainerState::load(&dir) {
                out.push(Container {
                    dir,
                    state,
                    spec: std::cell::OnceCell::new(),
                });
            }
        }
        out.sort_by(|a, b| a.state.id.cmp(&b.state.id));
        Ok(out)
    }

    /// Creates a container from a bundle: on return its init waits for
    /// [`Container::start`].
    pub fn create(&self, id: &ContainerId, opts: &CreateOptions) -> Result<Container> {
        let bundle = fs::canonicalize(&opts.bundle).map_err(|source| Error::Io {
            op: "opening bundle",
            path: opts.bundle.clone(),
            source,
        })?;
        let config_path = bundle.join("config.json");
        let config = fs::read(&config_path).map_err(|source| Error::Io {
            op: "reading",
            path: config_path.clone(),
            source,
        })?;
        let spec = validate::parse_spec(&config, &config_path)?;
        validate::validate(&spec)?;
        let root = spec.root().as_ref().expect("validated: root is present");
        let rootfs = bundle.join(root.path());
        let rootfs = fs::canonicalize(&rootfs).map_err(|source| Error::Io {
            op: "opening rootfs",
            path: rootfs.clone(),
            source,
        })?;

        // The state holds the spec (env secrets) and drives what root later
        // kills and runs: nobody else may read or change it, whatever the
        // caller's umask (runc: root 0700, container dirs 0711).
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .map_err(|source| Error::Io {
                op: "creating state root",
                path: self.root.clone(),
                source,
            })?;
        let dir = self.dir(id);
        match std::fs::DirBuilder::new().mode(0o711).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists(id.to_string()));
            }
            Err(source) => {
                return Err(Error::Io {
                    op: "creating state dir",
                    path: dir,
                    source,
                });
            }
        }
        let mut guard = CreateGuard {
            dir: dir.clone(),
            cgroup: None,
            pid: None,
            poststop: None,
        };
        let cgroups_path = spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().as_ref())
            .map(|p| p.to_string_lossy().into_owned());
        let cg = Manager::new(cgroups_path.as_deref(), id.as_str(), self.systemd_cgroup)?;
        cg.create()?;
        // Adopting a populated cgroup would make delete kill and remove
        // processes that are not ours (runc refuses it too).
        let busy = cg.pids().unwrap_or_default();
        if !busy.is_empty() {
            return Err(Error::InvalidConfig(format!(
                "linux.cgroupsPath {}: the cgroup already holds {} process(es); use a fresh cgroup per container",
                cg.path().display(),
                busy.len()
            )));
        }
        guard.cgroup = Some(cg);
        let cg = guard.cgroup.as_ref().expect("just set");
        if let Some(res) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) {
            cg.apply(&validate::with_default_device_rules(res, &spec))?;
        }

        let fifo_path = dir.join("exec.fifo");
        nix::unistd::mkfifo(&fifo_path, nix::sys::stat::Mode::from_bits_truncate(0o622)).map_err(
            |source| Error::Sys {
                call: format!("mkfifo {}", fifo_path.display()),
                source,
            },
        )?;
        // The init opens it for writing after switching to the container
        // user: mode 0622 regardless of our umask.
        std::fs::set_permissions(
            &fifo_path,
            std::os::unix::fs::PermissionsExt::from_mode(0o622),
        )
        .map_err(|source| Error::Io {
            op: "chmod",
            path: fifo_path.clone(),
            source,
        })?;
        let fifo: OwnedFd = nix::fcntl::open(
            &fifo_path,
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|source| Error::Sys {
            call: format!("open {}", fifo_path.display()),
            source,
        })?;
        crate::state::write_private(&dir.join("config.json"), &config)?;

        let process = spec.process().as_ref().expect("validated");
        let console = if process.terminal().unwrap_or(false) {
            let p = opts.console_socket.as_ref().ok_or_else(|| {
                Error::InvalidConfig(
                    "process.terminal is true: pass --console-socket (or run with -d off and a tty)"
                        .into(),
                )
            })?;
            let s = std::os::unix::net::UnixStream::connect(p).map_err(|source| Error::Io {
                op: "connecting to console socket",
                path: p.clone(),
                source,
            })?;
            Some(OwnedFd::from(s))
        } else {
            None
        };

        let mut ns = validate::namespaces(&spec)?;
        let self_exe = fs::metadata("/proc/self/exe")
            .map(|m| (m.dev(), m.ino()))
            .map_err(|source| Error::Io {
                op: "stat",
                path: "/proc/self/exe".into(),
                source,
            })?;
        let mut state = ContainerState {
            oci_version: spec.version().clone(),
            id: id.to_string(),
            status: Status::Creating,
            pid: 0,
            start_time: 0,
            bundle: bundle.clone(),
            rootfs: rootfs.clone(),
            created: crate::state::now_rfc3339(),
            owner: owner(),
            annotations: spec.annotations().clone().unwrap_or_default(),
            cgroup_path: cg.path().display().to_string(),
            systemd_cgroup: self.systemd_cgroup,
        };
        let hooks = spec.hooks().clone().unwrap_or_default();
        let create_hooks: Vec<_> = hooks
            .prestart()
            .iter()
            .flatten()
            .map(|h| (HookKind::Prestart, h))
            .chain(
                hooks
                    .create_runtime()
                    .iter()
                    .flatten()
                    .map(|h| (HookKind::CreateRuntime, h)),
            )
            .collect();

        // Joins that must happen before the clone (they only affect
        // children): pid and time.
        // Non-dumpable from birth: the init inherits it, so /proc/<init>/exe
        // (the runtime binary) is never reachable, not even for the few
        // instructions before it could set it itself (CVE-2019-5736).
        sys::set_non_dumpable().map_err(|source| Error::Sys {
            call: "prctl(PR_SET_DUMPABLE)".into(),
            source,
        })?;
        let (parent_chan, child_chan) = Channel::pair().map_err(|source| Error::Sys {
            call: "socketpair".into(),
            source,
        })?;
        let child_state_json = state.spec_state_json(Status::Creating);
        let in_userns =
            ns.clone_flags.contains(CloneFlags::CLONE_NEWUSER) || ns.user_join.is_some();
        let init_args = init::InitArgs {
            spec: &spec,
            rootfs: &rootfs,
            bundle: &bundle,
            chan: child_chan,
            fifo,
            console,
            joins: std::mem::take(&mut ns.post_clone_joins),
            in_userns,
            new_cgroupns: ns.new_cgroupns,
            no_pivot: opts.no_pivot,
            session_keyring: (!opts.no_new_keyring).then(|| format!("_ses.{id}")),
            preserve_fds: opts.preserve_fds,
            stdio: opts.stdio,
            self_exe,
            state_json: child_state_json,
            has_create_hooks: !create_hooks.is_empty(),
        };
        let clone_err = |source| Error::Sys {
            call: format!("clone {:?}", ns.clone_flags),
            source,
        };
        let pid = match ns.needs_intermediate() {
            false => match sys::clone_process(ns.clone_flags.bits()).map_err(clone_err)? {
                sys::Forked::Child => {
                    drop(parent_chan);
                    init::run(init_args)
                }
                sys::Forked::Parent(pid) => {
                    // Our copies of the init's channel end and console
                    // socket must close, or its death goes unnoticed.
                    drop(init_args);
                    pid
                }
            },
            true => spawn_via_intermediate(&ns, &spec, &parent_chan, init_args)?,
        };
        guard.pid = Some(pid);
        state.pid = pid;
        state.start_time = sys::process_start_time(pid).ok_or_else(|| {
            Error::ContainerInit(format!(
                "container init {pid} vanished before its start time could be read"
            ))
        })?;

        if ns.clone_flags.contains(CloneFlags::CLONE_NEWUSER) && ns.user_join.is_none() {
            validate::write_id_maps(pid, &spec)?;
        }
        if let Some(adj) = process.oom_score_adj() {
            let p = PathBuf::from(format!("/proc/{pid}/oom_score_adj"));
            fs::write(&p, adj.to_string()).map_err(|source| Error::Io {
                op: "writing oom_score_adj (lowering it needs CAP_SYS_RESOURCE)",
                path: p,
                source,
            })?;
        }
        cg.add_task(pid)?;
        parent_chan
            .send(&Msg::Go { pid }, None)
            .map_err(|e| Error::Protocol(format!("starting init: {e}")))?;
        state.save(&dir)?;
        loop {
            let msg = parent_chan
                .recv()
                .map_err(|e| Error::Protocol(format!("reading from init: {e}")))?;
            match msg {
                Some((Msg::RunCreateHooks, _)) => {
                    let json = state.spec_state_json(Status::Creating);
                    if let Some(ps) = hooks.poststop().clone().filter(|p| !p.is_empty()) {
                        guard.poststop =
                            Some((ps, state.spec_state_json(Status::Stopped), bundle.clone()));
                    }
                    for (kind, h) in &create_hooks {
                        run_hooks(*kind, std::slice::from_ref(*h), &json, Some(&bundle))?;
                    }
                    parent_chan
                        .send(&Msg::HooksDone, None)
                        .map_err(|e| Error::Protocol(format!("resuming init: {e}")))?;
                }
                Some((Msg::SeccompListener, fd)) => {
                    let fd = fd.ok_or_else(|| {
                        Error::Protocol("seccomp listener message without an fd".into())
                    })?;
                    crate::seccomp_notify::send_listener(&spec, &state, fd.as_fd())?;
                    parent_chan
                        .send(&Msg::SeccompDone, None)
                        .map_err(|e| Error::Protocol(format!("resuming init: {e}")))?;
                }
                Some((Msg::Ready, _)) => break,
                Some((Msg::Error(m), _)) => {
                    return Err(Error::ContainerInit(m));
                }
                Some((other, _)) => {
                    return Err(Error::Protocol(format!("unexpected message {other:?}")));
                }
                None => {
                    let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
                    guard.pid = None;
                    return Err(Error::ContainerInit(format!(
                        "container init exited during setup ({status:?})"
                    )));
                }
            }
        }
        state.status = Status::Created;
        state.save(&dir)?;
        if let Some(p) = &opts.pid_file {
            write_pid_file(p, pid)?;
        }
        guard.disarm();
        Ok(Container {
            dir,
            state,
            spec: spec.into(),
        })
    }
}

/// Spawns the init through an intermediate child that first joins the
/// pid/time namespaces given by path, unshares a new time namespace and
/// joins an existing user namespace, so the namespaces the clone creates
/// are owned by the right user namespace and none of this sticks to the
/// caller. The init becomes the caller's child (CLONE_PARENT); its pid
/// comes back over the channel.
fn spawn_via_intermediate(
    ns: &validate::NsPlan,
    spec: &Spec,
    parent_chan: &Channel,
    args: init::InitArgs<'_>,
) -> Result<i32> {
    let flags = ns.clone_flags;
    // SAFETY: the runtime is single-threaded (documented requirement of
    // `create`), so the child may run arbitrary code.
    match unsafe { nix::unistd::fork() }.map_err(|source| Error::Sys {
        call: "fork".into(),
        source,
    })? {
        nix::unistd::ForkResult::Child => {
            let prepared = (|| -> std::result::Result<sys::Forked, String> {
                for (flag, fd) in &ns.pre_clone_joins {
                    sys::setns(fd.as_fd(), flag.bits())
                        .map_err(|e| format!("setns {flag:?} to the configured namespace: {e}"))?;
                }
                if ns.new_time {
                    nix::sched::unshare(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME))
                        .map_err(|e| format!("unshare(CLONE_NEWTIME): {e}"))?;
                    validate::write_time_offsets(spec).map_err(|e| e.to_string())?;
                }
                if let Some(userns) = &ns.user_join {
                    sys::setns(userns.as_fd(), libc::CLONE_NEWUSER).map_err(|e| {
                        format!("setns(CLONE_NEWUSER) to the configured user namespace: {e}")
                    })?;
                }
                sys::clone_process(flags.bits() | libc::CLONE_PARENT)
                    .map_err(|e| format!("clone {flags:?}: {e}"))
            })();
            match prepared {
                Ok(sys::Forked::Child) => init::run(args),
                Ok(sys::Forked::Parent(pid)) => {
                    let _ = args.chan.send(&Msg::Pid(pid), None);
                    sys::exit_child(0)
                }
                Err(m) => {
                    let _ = args.chan.send(&Msg::Error(m), None);
                    sys::exit_child(1)
                }
            }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(args);
            let msg = parent_chan.recv();
            let _ = nix::sys::wait::waitpid(child, None);
            match msg {
                Ok(Some((Msg::Pid(pid), _))) => Ok(pid),
                Ok(Some((Msg::Error(m), _))) => Err(Error::ContainerInit(m)),
                other => Err(Error::Protocol(format!(
                    "expected the init's pid, got {:?}",
                    other.map(|o| o.map(|m| m.0))
                ))),
            }
        }
    }
}

/// Undoes a half-made container when `create` fails.
struct CreateGuard {
    dir: PathBuf,
    cgroup: Option<Manager>,
    pid: Option<i32>,
    /// Poststop hooks owed once createRuntime hooks ran (network set up by
    /// a CNI hook is torn down by its poststop twin, as with runc).
    poststop: Option<(Vec<oci_spec::runtime::Hook>, Vec<u8>, PathBuf)>,
}

impl CreateGuard {
    fn disarm(&mut self) {
        self.cgroup = None;
        self.pid = None;
        self.dir = PathBuf::new();
        self.poststop = None;
    }
}

impl Drop for CreateGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let p = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(p, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(p, None);
        }
        if let Some(cg) = self.cgroup.take()
            && let Err(e) = cg.destroy()
        {
            tracing::warn!("removing cgroup after failed create: {e}");
        }
        if !self.dir.as_os_str().is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        }
        if let Some((hooks, state, bundle)) = self.poststop.take() {
            crate::hook::run_hooks_warn(HookKind::Poststop, &hooks, &state, Some(&bundle));
        }
    }
}

fn owner() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| nix::unistd::getuid().to_string())
}

/// Writes a pid file atomically.
pub fn write_pid_file(p: &Path, pid: i32) -> Result<()> {
    // O_EXCL: a symlink planted at the temp name is never followed.
    let tmp = p.with_extension(format!("rbox-tmp-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp)
        .and_then(|mut f| std::io::Write::write_all(&mut f, pid.to_string().as_bytes()))
        .and_then(|_| fs::rename(&tmp, p))
        .map_err(|source| Error::Io {
            op: "writing pid file",
            path: p.to_path_buf(),
            source,
        })
}

impl Container {
    /// The recorded state.
    pub fn state(&self) -> &ContainerState {
        &self.state
    }

    /// The container id.
    pub fn id(&self) -> &str {
        &self.state.id
    }

    /// The container's state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The init's host pid, 0 once stopped.
    pub fn pid(&self) -> i32 {
        if self.status() == Status::Stopped {
            0
        } else {
            self.state.pid
        }
    }

    fn init_alive(&self) -> bool {
        let pid = self.state.pid;
        if pid <= 0 {
            return false;
        }
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            return false;
        };
        let mut f = rest.split(' ');
        let st = f.next().unwrap_or("");
        let start: Option<u64> = f.nth(18).and_then(|s| s.parse().ok());
        st != "Z" && st != "X" && start == Some(self.state.start_time)
    }

    /// The live status.
    pub fn status(&self) -> Status {
        if self.state.status == Status::Creating && self.state.pid == 0 {
            return Status::Creating;
        }
        if !self.init_alive() {
            return Status::Stopped;
        }
        // Frozen first: a paused created container must read as paused so
        // that resume can thaw it.
        if self
            .cgroup()
            .is_ok_and(|cg| cg.is_frozen().unwrap_or(false))
        {
            return Status::Paused;
        }
        if self.dir.join("exec.fifo").exists() {
            return Status::Created;
        }
        Status::Running
    }

    /// The spec the container was created from.
    pub fn spec(&self) -> Result<&Spec> {
        if let Some(s) = self.spec.get() {
            return Ok(s);
        }
        let p = self.dir.join("config.json");
        let b = fs::read(&p).map_err(|source| Error::Io {
            op: "reading",
            path: p.clone(),
            source,
        })?;
        let spec = validate::parse_spec(&b, &p)?;
        Ok(self.spec.get_or_init(|| spec))
    }

    /// The container's cgroup.
    pub fn cgroup(&self) -> Result<Manager> {
        Ok(Manager::new(
            Some(&self.state.cgroup_path),
            &self.state.id,
            false,
        )?)
    }

    /// Starts the user process of a created container.
    pub fn start(&mut self) -> Result<()> {
        let st = self.status();
        if st != Status::Created {
            return Err(Error::WrongState {
                id: self.state.id.clone(),
                status: st,
                want: "created",
            });
        }
        self.open_exec_fifo()?;
        // No state write: the missing fifo is what makes it "running".
        self.state.status = Status::Running;
        let spec = self.spec()?;
        if let Some(h) = spec.hooks().as_ref().and_then(|h| h.poststart().as_ref()) {
            // Poststart failures are logged; the container keeps running.
            crate::hook::run_hooks_warn(
                HookKind::Poststart,
                h,
                &self.state.spec_state_json(Status::Running),
                Some(&self.state.bundle),
            );
        }
        Ok(())
    }

    /// Releases the init blocked on the exec fifo. The fifo is opened
    /// non-blocking and polled together with the init's pidfd, so an init
    /// that died is reported instead of waited for forever.
    fn open_exec_fifo(&self) -> Result<()> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let fifo = self.dir.join("exec.fifo");
        let pidfd = self.pidfd()?;
        let f: OwnedFd = nix::fcntl::open(
            &fifo,
            nix::fcntl::OFlag::O_RDONLY
                | nix::fcntl::OFlag::O_NONBLOCK
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|source| Error::Sys {
            call: format!("open {}", fifo.display()),
            source,
        })?;
        let died = || {
            Error::ContainerInit(format!(
                "container init {} exited before start; its error is on the container's stderr",
                self.state.pid
            ))
        };
        loop {
            let mut fds = [
                PollFd::new(f.as_fd(), PollFlags::POLLIN),
                PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(source) => {
                    return Err(Error::Sys {
                        call: format!("poll {}", fifo.display()),
                        source,
                    });
                }
                Ok(_) => {}
            }
            let ready = fds[0].revents().unwrap_or(PollFlags::empty());
            if ready.contains(PollFlags::POLLIN) {
                let mut b = [0u8; 1];
                match nix::unistd::read(&f, &mut b) {
                    Ok(1) => break,
                    Ok(_) | Err(nix::errno::Errno::EAGAIN) => {}
                    Err(source) => {
                        return Err(Error::Sys {
                            call: format!("read {}", fifo.display()),
                            source,
                        });
                    }
                }
            }
            if ready.contains(PollFlags::POLLHUP) {
                return Err(died());
            }
            if fds[1]
                .revents()
                .is_some_and(|r| r.contains(PollFlags::POLLIN))
            {
                return Err(died());
            }
        }
        let _ = fs::remove_file(&fifo);
        Ok(())
    }

    pub(crate) fn pidfd(&self) -> Result<OwnedFd> {
        if !self.init_alive() {
            return Err(Error::WrongState {
                id: self.state.id.clone(),
                status: Status::Stopped,
                want: "running, created or paused",
            });
        }
        let fd = sys::pidfd_open(self.state.pid).map_err(|source| Error::Sys {
            call: format!("pidfd_open {}", self.state.pid),
            source,
        })?;
        // The pid may have been recycled between the check and the open.
        if !self.init_alive() {
            return Err(Error::WrongState {
                id: self.state.id.clone(),
                status: Status::Stopped,
                want: "running, created or paused",
            });
        }
        Ok(fd)
    }

    /// Sends a signal to the init, or with `all` to every process in the
    /// container's cgroup.
    /// `sig` is a raw signal number, so real-time signals (podman stops
    /// systemd containers with SIGRTMIN+3) work too.
    pub fn kill(&self, sig: i32, all: bool) -> Result<()> {
        let fd = self.pidfd()?;
        if all {
            let cg = self.cgroup()?;
            match Signal::try_from(sig) {
                // Frozen while signalled (no fork escapes, no pid is
                // reused between listing and signalling), thawed after so
                // the signal is seen; cgroup.kill on v2 for SIGKILL.
                Ok(s) => cg.kill_all(s)?,
                Err(_) => {
                    let frozen = cg.freeze().is_ok();
                    for pid in cg.pids()? {
                        let _ = sys::kill_raw(pid, sig);
                    }
                    if frozen {
                        cg.thaw()?;
                    }
                }
            }
            return Ok(());
        }
        sys::pidfd_send_signal(fd.as_fd(), sig).map_err(|source| Error::Sys {
            call: format!("signal {sig} to {}", self.state.pid),
            source,
        })
    }

    /// Deletes the container; a running one only with `force` (SIGKILL).
    pub fn delete(self, force: bool) -> Result<()> {
        match self.status() {
            Status::Stopped | Status::Creating => {}
            Status::Created => self.kill_and_wait()?,
            st @ (Status::Running | Status::Paused) => {
                if !force {
                    return Err(Error::WrongState {
                        id: self.state.id.clone(),
                        status: st,
                        want: "stopped (kill it first, or delete --force)",
                    });
                }
                self.kill_and_wait()?;
            }
        }
        self.destroy()
    }

    fn kill_and_wait(&self) -> Result<()> {
        let Ok(fd) = self.pidfd() else {
            return Ok(());
        };
        let _ = sys::pidfd_send_signal(fd.as_fd(), libc::SIGKILL);
        if let Ok(cg) = self.cgroup() {
            let _ = cg.kill_all(Signal::SIGKILL);
        }
        if !crate::wait::wait_pidfd(fd.as_fd(), Some(Duration::from_secs(10))) {
            return Err(Error::ContainerInit(format!(
                "init {} did not die within 10 s of SIGKILL",
                self.state.pid
            )));
        }
        Ok(())
    }

    /// Removes what is left of a stopped container, running poststop hooks.
    /// runc's order: leftovers killed, cgroup and state removed, then the
    /// poststop hooks (so a failed cleanup retried by a second delete does
    /// not run them twice).
    fn destroy(self) -> Result<()> {
        let poststop = self
            .spec()
            .ok()
            .and_then(|s| s.hooks().as_ref().and_then(|h| h.poststop().clone()));
        if let Ok(cg) = self.cgroup() {
            // Leftovers of a container without its own pid namespace.
            let _ = cg.kill_all(Signal::SIGKILL);
            cg.destroy()?;
        }
        fs::remove_dir_all(&self.dir).map_err(|source| Error::Io {
            op: "removing state dir",
            path: self.dir.clone(),
            source,
        })?;
        if let Some(h) = poststop {
            // Failures are logged; deletion is done (runtime-spec).
            crate::hook::run_hooks_warn(
                HookKind::Poststop,
                &h,
                &self.state.spec_state_json(Status::Stopped),
                Some(&self.state.bundle),
            );
        }
        Ok(())
    }

    /// Freezes every process of the container.
    pub fn pause(&mut self) -> Result<()> {
        let st = self.status();
        if st != Status::Running && st != Status::Created {
            return Err(Error::WrongState {
                id: self.state.id.clone(),
                status: st,
                want: "running",
            });
        }
        self.cgroup()?.freeze()?;
        self.state.status = Status::Paused;
        self.state.save(&self.dir)
    }

    /// Thaws a paused container.
    pub fn resume(&mut self) -> Result<()> {
        let st = self.status();
        if st != Status::Paused {
            return Err(Error::WrongState {
                id: self.state.id.clone(),
                status: st,
                want: "paused",
            });
        }
        self.cgroup()?.thaw()?;
        self.state.status = Status::Running;
        self.state.save(&self.dir)
    }

    /// Host pids of every process in the container.
    pub fn pids(&self) -> Result<Vec<i32>> {
        Ok(self.cgroup()?.pids()?)
    }

    /// Applies new resource limits.
    pub fn update(&self, res: &oci_spec::runtime::LinuxResources) -> Result<()> {
        if self.status() == Status::Stopped {
            return Err(Error::WrongState {
                id: self.state.id.clone(),
                status: Status::Stopped,
                want: "running, created or paused",
            });
        }
        // Device rules are fixed at create (runc ignores them on update
        // too): a full resources object from CRI would otherwise replace
        // the default allow rules with a bare deny-all.
        let mut res = res.clone();
        res.set_devices(None);
        Ok(self.cgroup()?.apply(&res)?)
    }

    /// The runtime-spec state JSON object plus runc's extra fields.
    pub fn runc_state_json(&self) -> serde_json::Value {
        let status = self.status();
        serde_json::json!({
            "ociVersion": self.state.oci_version,
            "id": self.state.id,
            "pid": if status == Status::Stopped { 0 } else { self.state.pid },
            "status": status.to_string(),
            "bundle": self.state.bundle,
            "rootfs": self.state.rootfs,
            "created": self.state.created,
            "owner": self.state.owner,
            "annotations": self.state.annotations,
        })
    }

    /// Raw fd of the exec fifo path (for tests).
    pub fn fifo_path(&self) -> PathBuf {
        self.dir.join("exec.fifo")
    }
}

/// Waits for a child pid of this process and maps its status to a shell
/// exit code (128+signal for a signal death), as runc does.
pub fn wait_exit_code(pid: i32) -> Result<i32> {
    use nix::sys::wait::{WaitStatus, waitpid};
    loop {
        match waitpid(nix::unistd::Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, c)) => return Ok(c),
            Ok(WaitStatus::Signaled(_, s, _)) => return Ok(128 + s as i32),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(source) => {
                return Err(Error::Sys {
                    call: format!("waitpid {pid}"),
                    source,
                });
            }
        }
    }
}
