//! `exec`: run a process in a running container, from `--process` JSON or
//! from the inline flags on top of the container's own process spec.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use rbox_runtime::ExecOptions;
use rbox_runtime::oci_spec::runtime::{Capability, Process};

use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};

use crate::runtime_cli::Ctx;
use crate::tty::ConsoleListener;

/// runc exec's flags.
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Process JSON (runtime-spec `process`); the inline flags are ignored.
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Return after starting the process.
    #[arg(short, long)]
    pub detach: bool,
    /// File to write the process's pid to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// Unix socket receiving the pty master.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Working directory.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Environment variable KEY=VALUE (repeatable).
    #[arg(short, long)]
    pub env: Vec<String>,
    /// User as UID[:GID].
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional gid (repeatable).
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Add a capability (repeatable).
    #[arg(short, long)]
    pub cap: Vec<String>,
    /// Set no_new_privs.
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Pass N extra fds.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// AppArmor profile for the process.
    #[arg(long = "apparmor")]
    pub apparmor: Option<String>,
    /// SELinux label for the process.
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// Allow exec into a paused container (the process starts frozen).
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// Accepted for runc compatibility: sub-cgroup to join.
    #[arg(long = "cgroup", hide = true)]
    pub cgroup: Vec<String>,
    /// Container id.
    pub id: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

fn inline_process(base: &Process, a: &ExecArgs) -> Result<Process> {
    if a.command.is_empty() {
        bail!("exec needs a command (or --process FILE)");
    }
    let mut p = base.clone();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    p.set_console_size(None);
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut env = p.env().clone().unwrap_or_default();
    for e in &a.env {
        let key = e.split('=').next().unwrap_or_default();
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    p.set_env(Some(env));
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let uid: u32 = uid
            .parse()
            .with_context(|| format!("--user {u:?}: use numeric UID[:GID]"))?;
        p.user_mut().set_uid(uid);
        if let Some(g) = gid {
            p.user_mut().set_gid(
                g.parse()
                    .with_context(|| format!("--user {u:?}: bad GID"))?,
            );
        }
    }
    if !a.additional_gids.is_empty() {
        p.user_mut()
            .set_additional_gids(Some(a.additional_gids.clone()));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for c in &a.cap {
            let name = c.to_ascii_uppercase();
            let cap: Capability = name
                .strip_prefix("CAP_")
                .unwrap_or(&name)
                .parse()
                .map_err(|_| anyhow::anyhow!("--cap {c:?} is not a capability name"))?;
            let add = |s: Option<_>| {
                let mut s: std::collections::HashSet<Capability> = s.unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding().clone()));
            caps.set_effective(add(caps.effective().clone()));
            caps.set_permitted(add(caps.permitted().clone()));
        }
        p.set_capabilities(Some(caps));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(profile) = &a.apparmor {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = &a.process_label {
        p.set_selinux_label(Some(label.clone()));
    }
    Ok(p)
}

/// Runs `exec`; returns the process's exit code (0 with --detach).
pub fn run(ctx: &Ctx, a: ExecArgs) -> Result<u8> {
    let c = super::load(ctx, &a.id)?;
    let process: Process = match &a.process {
        Some(path) => {
            let b = std::fs::read(path)
                .with_context(|| format!("reading --process {}", path.display()))?;
            serde_json::from_slice(&b)
                .with_context(|| format!("{} is not a runtime-spec process", path.display()))?
        }
        None => {
            let spec = c.spec()?;
            let base = spec.process().clone().unwrap_or_default();
            inline_process(&base, &a)?
        }
    };
    let terminal = process.terminal().unwrap_or(false);
    let mut opts = ExecOptions::new(process);
    opts.console_socket = a.console_socket.clone();
    opts.preserve_fds = a.preserve_fds;
    opts.pid_file = a.pid_file.clone();
    opts.allow_paused = a.ignore_paused;
    if a.detach {
        c.exec(&opts)?;
        return Ok(0);
    }
    let mut set = SigSet::empty();
    for s in crate::commands::run::FORWARDED {
        set.add(s);
    }
    set.add(Signal::SIGCHLD);
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    let console = if terminal && opts.console_socket.is_none() {
        let l = ConsoleListener::bind(
            &ctx.runtime.root,
            &format!("{}-exec-{}", a.id, std::process::id()),
        )?;
        opts.console_socket = Some(l.path().to_path_buf());
        Some(l)
    } else {
        None
    };
    let pid = c.exec(&opts)?;
    let code = match console {
        Some(l) => crate::tty::proxy(l.receive()?, pid, &set)?,
        None => crate::commands::run::wait_forwarding(pid, &set)?,
    };
    Ok(u8::try_from(code).unwrap_or(255))
}
