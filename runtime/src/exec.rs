//! `exec`: run another process inside a running container.
//!
//! A forked helper joins the container's cgroup, then all its namespaces at
//! once through the init's pidfd (`setns(pidfd, flags)`), then clones the
//! new process as the caller's child (CLONE_PARENT) so the caller can wait
//! for it. The helper is non-dumpable; the process marks every inherited fd
//! close-on-exec and checks its cwd is inside the container
//! (CVE-2024-21626). The caller should run from a sealed binary
//! ([`crate::ensure_sealed_self`], CVE-2019-5736).

use std::convert::Infallible;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use nix::unistd::ForkResult;
use oci_spec::runtime::{LinuxNamespaceType, Process};

use crate::channel::{Channel, Msg};
use crate::container::Container;
use crate::error::{Error, Result};
use crate::state::Status;
use crate::{init, process, sys};

/// Options of `exec`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ExecOptions {
    /// The process to run (runtime-spec `process`).
    pub process: Process,
    /// Unix socket receiving the pty master when `process.terminal`.
    pub console_socket: Option<PathBuf>,
    /// Extra fds (3..3+N) passed to the process.
    pub preserve_fds: u32,
    /// Where to write the process's pid.
    pub pid_file: Option<PathBuf>,
    /// Allow a paused container (the process starts frozen until resume).
    pub allow_paused: bool,
}

impl ExecOptions {
    /// Options running `process`.
    pub fn new(process: Process) -> Self {
        ExecOptions {
            process,
            console_socket: None,
            preserve_fds: 0,
            pid_file: None,
            allow_paused: false,
        }
    }
}

fn sys_err(call: impl Into<String>) -> impl FnOnce(nix::Error) -> Error {
    let call = call.into();
    move |source| Error::Sys { call, source }
}

const NS_FILES: [(LinuxNamespaceType, &str, libc::c_int); 8] = [
    (LinuxNamespaceType::User, "user", libc::CLONE_NEWUSER),
    (LinuxNamespaceType::Mount, "mnt", libc::CLONE_NEWNS),
    (LinuxNamespaceType::Pid, "pid", libc::CLONE_NEWPID),
    (LinuxNamespaceType::Network, "net", libc::CLONE_NEWNET),
    (LinuxNamespaceType::Ipc, "ipc", libc::CLONE_NEWIPC),
    (LinuxNamespaceType::Uts, "uts", libc::CLONE_NEWUTS),
    (LinuxNamespaceType::Cgroup, "cgroup", libc::CLONE_NEWCGROUP),
    (LinuxNamespaceType::Time, "time", libc::CLONE_NEWTIME),
];

/// The setns flags for the namespaces the container's spec lists (new or
/// joined), never inferred from /proc: a probe that fails because the init
/// just died must not leave the process in the host's namespaces. The user
/// namespace is skipped only when it is ours (setns to it is EINVAL).
fn spec_namespaces(spec: &oci_spec::runtime::Spec, pid: i32) -> Result<libc::c_int> {
    let listed: Vec<LinuxNamespaceType> = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .map(|n| n.iter().map(|n| n.typ()).collect())
        .unwrap_or_default();
    let mut flags = 0;
    for (typ, name, flag) in NS_FILES {
        if !listed.contains(&typ) {
            continue;
        }
        if typ == LinuxNamespaceType::User {
            let ino = |p: String| {
                std::fs::metadata(&p)
                    .map(|m| (m.dev(), m.ino()))
                    .map_err(|source| Error::Io {
                        op: "reading namespace",
                        path: p.into(),
                        source,
                    })
            };
            if ino(format!("/proc/{pid}/ns/{name}"))? == ino("/proc/self/ns/user".into())? {
                continue;
            }
        }
        flags |= flag;
    }
    Ok(flags)
}

impl Container {
    /// Starts `opts.process` in the container; returns its host pid. The
    /// process is a child of the caller ([`crate::wait_exit_code`]).
    pub fn exec(&self, opts: &ExecOptions) -> Result<i32> {
        let st = self.status();
        let paused_ok = st == Status::Paused && opts.allow_paused;
        if st != Status::Running && st != Status::Created && !paused_ok {
            return Err(Error::WrongState {
                id: self.id().to_string(),
                status: st,
                want: "running (resume it, or exec with --ignore-paused)",
            });
        }
        crate::lsm::check_requested(&opts.process)?;
        let spec = self.spec()?;
        let init_pid = self.state().pid;
        // Start-time checked: never a recycled pid.
        let pidfd = self.pidfd()?;
        let flags = spec_namespaces(spec, init_pid)?;
        let cg = self.cgroup()?;
        let console = match (
            &opts.console_socket,
            opts.process.terminal().unwrap_or(false),
        ) {
            (Some(p), true) => Some(OwnedFd::from(
                std::os::unix::net::UnixStream::connect(p).map_err(|source| Error::Io {
                    op: "connecting to console socket",
                    path: p.clone(),
                    source,
                })?,
            )),
            (None, true) => {
                return Err(Error::InvalidConfig(
                    "process.terminal is true: pass --console-socket".into(),
                ));
            }
            _ => None,
        };
        let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
            Some(s) => Some(crate::seccomp::compile(s)?),
            None => None,
        };
        let in_userns = flags & libc::CLONE_NEWUSER != 0;
        // The exec'd process shares the container's OOM fate (as with
        // runc): its own value if the process sets one, else the
        // container's. It is a child of the runtime, so it would
        // otherwise inherit the runtime's score.
        let oom_score_adj = opts
            .process
            .oom_score_adj()
            .or_else(|| spec.process().as_ref().and_then(|p| p.oom_score_adj()));
        let (parent, child) = Channel::pair().map_err(sys_err("socketpair"))?;
        // SAFETY: the runtime is single-threaded (documented requirement),
        // so the child may run arbitrary code.
        match unsafe { nix::unistd::fork() }.map_err(sys_err("fork"))? {
            ForkResult::Child => {
                drop(parent);
                let join = Join {
                    pidfd: pidfd.as_fd(),
                    flags,
                    oom_score_adj,
                };
                let err = match join_and_spawn(&child, &join, || {
                    exec_process(opts, console.as_ref(), seccomp.as_ref(), in_userns)
                }) {
                    Ok(()) => sys::exit_child(0),
                    Err(e) => e,
                };
                let _ = child.send(&Msg::Error(init::error_chain(&err)), None);
                sys::exit_child(1)
            }
            ForkResult::Parent { child: helper } => {
                drop(child);
                drop(console);
                let mut pid = None;
                let result = loop {
                    match parent.recv() {
                        Ok(Some((Msg::Pid(p), _))) => {
                            pid = Some(p);
                            if let Err(e) = cg.add_task(p) {
                                let _ = nix::sys::signal::kill(
                                    nix::unistd::Pid::from_raw(p),
                                    nix::sys::signal::Signal::SIGKILL,
                                );
                                break Err(e.into());
                            }
                            if let Err(e) = parent.send(&Msg::Go { pid: p }, None) {
                                break Err(Error::Protocol(e.to_string()));
                            }
                            if paused_ok {
                                // It froze on joining the cgroup: it runs
                                // (and can report errors) only on resume.
                                break Ok(());
                            }
                        }
                        Ok(Some((Msg::Error(m), _))) => break Err(Error::ContainerInit(m)),
                        Ok(Some((m, _))) => {
                            break Err(Error::Protocol(format!("unexpected {m:?}")));
                        }
                        // Closed by the successful execve (the channel is
                        // close-on-exec); a failure sends Error first.
                        Ok(None) if pid.is_some() => break Ok(()),
                        Ok(None) => {
                            break Err(Error::ContainerInit(
                                "exec helper exited during setup".into(),
                            ));
                        }
                        Err(e) => break Err(Error::Protocol(e.to_string())),
                    }
                };
                let _ = nix::sys::wait::waitpid(helper, None);
                if let Err(e) = result {
                    if let Some(p) = pid {
                        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(p), None);
                    }
                    return Err(e);
                }
                let pid = pid.ok_or_else(|| Error::Protocol("exec pid never arrived".into()))?;
                if let Some(f) = &opts.pid_file {
                    crate::write_pid_file(f, pid)?;
                }
                Ok(pid)
            }
        }
    }
}

/// What the exec helper joins before it clones the process.
struct Join<'a> {
    pidfd: std::os::fd::BorrowedFd<'a>,
    flags: libc::c_int,
    oom_score_adj: Option<i32>,
}

fn join_and_spawn(
    chan: &Channel,
    join: &Join<'_>,
    body: impl FnOnce() -> Result<Infallible>,
) -> Result<()> {
    sys::set_non_dumpable().map_err(sys_err("prctl(PR_SET_DUMPABLE)"))?;
    if let Some(adj) = join.oom_score_adj {
        // Before setns: /proc here is still the host's. The clone below
        // inherits the score.
        let p = "/proc/self/oom_score_adj";
        std::fs::write(p, adj.to_string()).map_err(|source| Error::Io {
            op: "writing oom_score_adj (lowering it needs CAP_SYS_RESOURCE)",
            path: p.into(),
            source,
        })?;
    }
    let (pidfd, flags) = (join.pidfd, join.flags);
    // Always: with a dead init this fails (ESRCH) instead of running the
    // process on the host.
    sys::setns(pidfd, flags).map_err(sys_err(format!(
        "joining the container's namespaces (setns flags {flags:#x})"
    )))?;
    match sys::clone_process(libc::CLONE_PARENT).map_err(sys_err("clone"))? {
        sys::Forked::Child => {
            // The runtime moves us into the container's cgroup (it is
            // privileged on the host; a frozen cgroup would freeze the
            // helper doing it), then says go.
            match chan.recv() {
                Ok(Some((Msg::Go { .. }, _))) => {}
                _ => sys::exit_child(127),
            }
            let e = match body() {
                Ok(never) => match never {},
                Err(e) => e,
            };
            let _ = chan.send(&Msg::Error(init::error_chain(&e)), None);
            sys::exit_child(127)
        }
        sys::Forked::Parent(pid) => chan
            .send(&Msg::Pid(pid), None)
            .map_err(|e| Error::Protocol(e.to_string())),
    }
}

fn exec_process(
    opts: &ExecOptions,
    console: Option<&OwnedFd>,
    seccomp: Option<&crate::seccomp::Filter>,
    in_userns: bool,
) -> Result<Infallible> {
    let p = &opts.process;
    sys::cloexec_from(3 + opts.preserve_fds).map_err(sys_err("close_range"))?;
    if let Some(c) = console {
        nix::unistd::setsid().map_err(sys_err("setsid"))?;
        crate::tty::setup_pty(c.as_fd(), p.console_size(), false)?;
    }
    process::apply_rlimits(p)?;
    process::apply_sched(p)?;
    let nnp = p.no_new_privileges().unwrap_or(false);
    if let Some(f) = seccomp.filter(|_| !nnp) {
        f.install()?;
    }
    let caps = p.capabilities().as_ref();
    process::apply_bounding(caps)?;
    let setgroups_ok = !in_userns
        || std::fs::read_to_string("/proc/self/setgroups").map_or(true, |s| s.trim() == "allow");
    process::fix_stdio_owner(p.user().uid());
    process::apply_user(p, setgroups_ok)?;
    process::apply_caps(caps)?;
    if nnp {
        sys::set_no_new_privs().map_err(sys_err("prctl(PR_SET_NO_NEW_PRIVS)"))?;
    }
    nix::unistd::chdir(p.cwd().as_path()).map_err(|e| Error::Cwd {
        path: p.cwd().clone(),
        source: e,
    })?;
    // A cwd reached through a leaked host fd would be outside the root:
    // getcwd fails (ENOENT, "(unreachable)") for such a directory.
    nix::unistd::getcwd().map_err(|e| Error::Cwd {
        path: p.cwd().clone(),
        source: e,
    })?;
    let args = p.args().as_deref().unwrap_or_default();
    let arg0 = args
        .first()
        .ok_or_else(|| Error::InvalidConfig("process.args must not be empty".into()))?;
    let env = process::environment(p);
    let exe = process::find_executable(arg0, &env)?;
    // Defence in depth: even the sealed copy is not run in the container.
    let me = std::fs::metadata("/proc/self/exe").map_err(|source| Error::Io {
        op: "stat",
        path: "/proc/self/exe".into(),
        source,
    })?;
    process::check_not_runtime(&exe, (me.dev(), me.ino()))?;
    let argv = process::cstrings(args)?;
    let envp = process::cstrings(&env)?;
    let exe_c = process::path_cstring(&exe)?;
    if let Some(f) = seccomp.filter(|_| nnp) {
        f.install()?;
    }
    crate::lsm::set_exec_labels(p)?;
    init::reset_signals();
    let err = nix::unistd::execve(&exe_c, &argv, &envp).unwrap_err();
    Err(Error::Exec {
        path: exe.display().to_string(),
        reason: err.desc().to_string(),
    })
}
