//! The container's init: the cloned child that sets the container up and
//! finally becomes the user process by execve.
//!
//! Invariants: it is single-threaded; every failure before `Ready` goes back
//! to the runtime as [`Msg::Error`] naming the step; it is non-dumpable and
//! refuses to execute the runtime binary (CVE-2019-5736); every inherited fd
//! past stdio and `--preserve-fds` is close-on-exec (CVE-2024-21626).

use std::convert::Infallible;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use oci_spec::runtime::Spec;

use crate::channel::{Channel, Msg};
use crate::error::{Error, Result};
use crate::hook::{HookKind, run_hooks};
use crate::{process, rootfs, sys};

/// What the init needs from the runtime (prepared before the clone).
pub(crate) struct InitArgs<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub chan: Channel,
    pub fifo: OwnedFd,
    pub console: Option<OwnedFd>,
    /// Namespaces to join: (CLONE_NEW* flag, opened ns fd).
    pub joins: Vec<(CloneFlags, OwnedFd)>,
    /// In a user namespace (new or joined): become its root, bind devices.
    pub in_userns: bool,
    pub new_cgroupns: bool,
    pub no_pivot: bool,
    /// Join a fresh session keyring `_ses.<id>` (unless --no-new-keyring).
    pub session_keyring: Option<String>,
    pub preserve_fds: u32,
    /// Descriptors to become stdin/stdout/stderr, if not the inherited ones.
    pub stdio: Option<[std::os::fd::RawFd; 3]>,
    pub self_exe: (u64, u64),
    /// The container's state (status creating, no pid yet), completed
    /// with the host pid from `Go` for the in-container hooks.
    pub state_json: Vec<u8>,
    pub has_create_hooks: bool,
}

/// Set once `Ready` went to the runtime (the init is single-threaded; an
/// atomic keeps it free of `static mut`).
static READY_SENT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Runs the init; never returns.
pub(crate) fn run(args: InitArgs<'_>) -> ! {
    let err = match setup(&args) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let msg = error_chain(&err);
    // Before Ready the runtime is listening; after it, `create` may have
    // returned, so the container's stderr is the only witness.
    if READY_SENT.load(std::sync::atomic::Ordering::Relaxed)
        || args.chan.send(&Msg::Error(msg.clone()), None).is_err()
    {
        let _ = nix::unistd::write(std::io::stderr(), format!("rbox: {msg}\n").as_bytes());
    }
    sys::exit_child(127)
}

/// "a: b: c" from an error and its sources.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn sys_err(call: impl Into<String>) -> impl FnOnce(nix::Error) -> Error {
    let call = call.into();
    move |source| Error::Sys { call, source }
}

fn expect_msg(chan: &Channel, want: Msg) -> Result<()> {
    match chan.recv() {
        Ok(Some((m, _))) if m == want => Ok(()),
        Ok(other) => Err(Error::Protocol(format!(
            "expected {want:?} from the runtime, got {:?}",
            other.map(|o| o.0)
        ))),
        Err(e) => Err(Error::Protocol(format!("reading from the runtime: {e}"))),
    }
}

fn setup(a: &InitArgs<'_>) -> Result<Infallible> {
    sys::set_parent_death_signal(libc::SIGKILL).map_err(sys_err("prctl(PR_SET_PDEATHSIG)"))?;
    sys::set_non_dumpable().map_err(sys_err("prctl(PR_SET_DUMPABLE)"))?;
    if let Some(fds) = a.stdio {
        sys::set_stdio(fds).map_err(sys_err("dup2 (stdio)"))?;
    }
    sys::cloexec_from(3 + a.preserve_fds).map_err(sys_err("close_range"))?;
    let host_pid = match a.chan.recv() {
        Ok(Some((Msg::Go { pid }, _))) => pid,
        Ok(other) => {
            return Err(Error::Protocol(format!(
                "expected Go from the runtime, got {:?}",
                other.map(|o| o.0)
            )));
        }
        Err(e) => return Err(Error::Protocol(format!("reading from the runtime: {e}"))),
    };
    let spec = a.spec;
    let proc_ = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::InvalidConfig("process is required to start a container".into()))?;

    if a.in_userns {
        // The maps are written: become root of the new namespace.
        nix::unistd::setresgid(0.into(), 0.into(), 0.into()).map_err(sys_err(
            "setresgid 0 in the user namespace (is gid 0 mapped?)",
        ))?;
        nix::unistd::setresuid(0.into(), 0.into(), 0.into()).map_err(sys_err(
            "setresuid 0 in the user namespace (is uid 0 mapped?)",
        ))?;
    }
    for (flag, fd) in &a.joins {
        sys::setns(fd.as_fd(), flag.bits()).map_err(sys_err(format!("setns {flag:?}")))?;
    }
    if a.new_cgroupns {
        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP)
            .map_err(sys_err("unshare(CLONE_NEWCGROUP)"))?;
    }
    nix::unistd::setsid().map_err(sys_err("setsid"))?;
    if let Some(name) = &a.session_keyring {
        // The container must not share the caller's session keyring (and
        // the secrets in it). Kernels without keyrings are fine (runc).
        match sys::join_session_keyring(name) {
            Ok(()) | Err(nix::errno::Errno::ENOSYS) | Err(nix::errno::Errno::EACCES) => {}
            Err(e) => return Err(sys_err(format!("joining session keyring {name}"))(e)),
        }
    }
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).map_err(sys_err(format!("sethostname {h:?}")))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|h| !h.is_empty()) {
        sys::set_domainname(d).map_err(sys_err(format!("setdomainname {d:?}")))?;
    }

    let ctx = rootfs::RootfsContext {
        spec,
        rootfs: a.rootfs,
        bundle: a.bundle,
        in_userns: a.in_userns,
        new_cgroupns: a.new_cgroupns,
        selinux: crate::lsm::selinux_enabled(),
    };
    rootfs::prepare(&ctx)?;
    if a.has_create_hooks {
        a.chan
            .send(&Msg::RunCreateHooks, None)
            .map_err(|e| Error::Protocol(format!("asking for hooks: {e}")))?;
        expect_msg(&a.chan, Msg::HooksDone)?;
    }
    if let Some(h) = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.create_container().as_ref())
    {
        let state = hook_state(&a.state_json, "creating", host_pid)?;
        run_hooks(HookKind::CreateContainer, h, &state, Some(a.rootfs))?;
    }
    rootfs::pivot(a.rootfs, a.no_pivot)?;
    rootfs::apply_sysctls(spec)?;
    rootfs::finish(spec)?;

    if proc_.terminal().unwrap_or(false) {
        setup_console(a, proc_)?;
    }
    process::apply_rlimits(proc_)?;
    process::apply_sched(proc_)?;

    // A cwd reached through a leaked host fd is outside the root, where
    // getcwd fails (CVE-2024-21626). Checked here, before any seccomp
    // filter (which may trap getcwd), and entered again as the container
    // user below so permissions apply.
    nix::unistd::chdir(proc_.cwd().as_path())
        .and_then(|()| nix::unistd::getcwd().map(drop))
        .map_err(|e| Error::Cwd {
            path: proc_.cwd().clone(),
            source: e,
        })?;
    let nnp = proc_.no_new_privileges().unwrap_or(false);
    let filter = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Some(crate::seccomp::compile(s)?),
        None => None,
    };
    // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN, which
    // the user switch may drop: install it first (runc does the same). With
    // a listener, the runtime must receive the fd before we go on.
    let mut installed = false;
    if let Some(f) = &filter
        && (!nnp || f.needs_listener())
    {
        install_seccomp(a, f)?;
        installed = true;
    }

    let caps = proc_.capabilities().as_ref();
    process::apply_bounding(caps)?;
    let setgroups_ok = !a.in_userns || setgroups_allowed();
    process::fix_stdio_owner(proc_.user().uid());
    process::apply_user(proc_, setgroups_ok)?;
    process::apply_caps(caps)?;
    if nnp {
        sys::set_no_new_privs().map_err(sys_err("prctl(PR_SET_NO_NEW_PRIVS)"))?;
    }
    let cwd = proc_.cwd();
    nix::unistd::chdir(cwd.as_path()).map_err(|e| Error::Cwd {
        path: cwd.clone(),
        source: e,
    })?;

    let args = proc_.args().as_deref().unwrap_or_default();
    let arg0 = args
        .first()
        .ok_or_else(|| Error::InvalidConfig("process.args must not be empty".into()))?;
    let env = process::environment(proc_);
    let exe = process::find_executable(arg0, &env)?;
    process::check_not_runtime(&exe, a.self_exe)?;
    let argv = process::cstrings(args)?;
    let envp = process::cstrings(&env)?;
    let exe_c = process::path_cstring(&exe)?;

    // From here the runtime may exit: do not die with it.
    sys::set_parent_death_signal(0).map_err(sys_err("prctl(PR_SET_PDEATHSIG)"))?;
    a.chan
        .send(&Msg::Ready, None)
        .map_err(|e| Error::Protocol(format!("reporting ready: {e}")))?;
    READY_SENT.store(true, std::sync::atomic::Ordering::Relaxed);

    wait_for_start(&a.fifo)?;
    if let Some(h) = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.start_container().as_ref())
    {
        // The user process has not run yet: the container is still
        // "created" (runtime-spec lifecycle), and pid is then REQUIRED.
        let state = hook_state(&a.state_json, "created", host_pid)?;
        run_hooks(HookKind::StartContainer, h, &state, None)?;
    }
    if let (Some(f), false) = (&filter, installed) {
        f.install()?;
    }
    crate::lsm::set_exec_labels(proc_)?;
    reset_signals();
    let err = nix::unistd::execve(&exe_c, &argv, &envp).unwrap_err();
    Err(Error::Exec {
        path: exe.display().to_string(),
        reason: err.desc().to_string(),
    })
}

/// The state JSON for an in-container hook: `template` with `status` and
/// the host `pid` filled in.
fn hook_state(template: &[u8], status: &str, pid: i32) -> Result<Vec<u8>> {
    let bad = |e: serde_json::Error| Error::Protocol(format!("container state for hooks: {e}"));
    let mut v: serde_json::Value = serde_json::from_slice(template).map_err(bad)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("status".into(), status.into());
        o.insert("pid".into(), pid.into());
    }
    serde_json::to_vec(&v).map_err(bad)
}

fn setgroups_allowed() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").map_or(true, |s| s.trim() == "allow")
}

fn install_seccomp(a: &InitArgs<'_>, f: &crate::seccomp::Filter) -> Result<()> {
    let listener = f.install()?;
    if let Some(fd) = listener {
        a.chan
            .send(&Msg::SeccompListener, Some(fd.as_raw_fd()))
            .map_err(|e| Error::Protocol(format!("sending the seccomp listener: {e}")))?;
        expect_msg(&a.chan, Msg::SeccompDone)?;
    }
    Ok(())
}

/// Blocks until `start` opens the exec fifo for reading.
fn wait_for_start(fifo: &OwnedFd) -> Result<()> {
    let path = PathBuf::from(format!("/proc/self/fd/{}", fifo.as_raw_fd()));
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|source| Error::Io {
            op: "opening the exec fifo",
            path: path.clone(),
            source,
        })?;
    nix::unistd::write(&f, b"0").map_err(sys_err("writing the exec fifo"))?;
    Ok(())
}

/// The user process starts with default dispositions and an empty mask,
/// not the runtime's (Rust ignores SIGPIPE).
pub(crate) fn reset_signals() {
    use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, signal, sigprocmask};
    for s in Signal::iterator() {
        if s != Signal::SIGKILL && s != Signal::SIGSTOP {
            // SAFETY: installing SIG_DFL runs no code of ours in a handler.
            let _ = unsafe { signal(s, SigHandler::SigDfl) };
        }
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

/// Opens a pty inside the container, hands the master to the console
/// socket, and makes the slave our stdio and controlling terminal.
fn setup_console(a: &InitArgs<'_>, p: &oci_spec::runtime::Process) -> Result<()> {
    let sock = a.console.as_ref().ok_or_else(|| {
        Error::InvalidConfig("process.terminal is true but no --console-socket was given".into())
    })?;
    crate::tty::setup_pty(sock.as_fd(), p.console_size(), true)
}
