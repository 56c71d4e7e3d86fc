//! `rbox exec`: a process in a running container, from the container's
//! own process spec with docker's exec flags on top, through
//! rbox-runtime's exec (run from a sealed copy of ourselves).

use anyhow::{Result, bail};
use clap::Args;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use rbox_engine::spec::{caps, user};
use rbox_engine::{Engine, Status};
use rbox_runtime::ExecOptions;
use rbox_runtime::oci_spec::runtime::{Capability, LinuxCapabilities};

use crate::tty::ConsoleListener;

/// docker exec's flags.
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Run in the background.
    #[arg(short, long)]
    detach: bool,
    /// Keep stdin open.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    tty: bool,
    /// Environment variables.
    #[arg(short, long)]
    env: Vec<String>,
    /// User: name|uid[:group|gid].
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory.
    #[arg(short, long)]
    workdir: Option<String>,
    /// All capabilities.
    #[arg(long)]
    privileged: bool,
    /// Container.
    container: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

/// Runs `exec`; the process's exit code.
pub fn run(engine: &Engine, a: ExecArgs) -> Result<u8> {
    let id = engine.resolve(&a.container)?;
    let rec = engine.record(&id)?;
    if rec.state.status != Status::Running {
        bail!("container {} is not running", a.container);
    }
    if rec.state.paused {
        bail!(
            "container {} is paused, unpause the container before exec",
            a.container
        );
    }
    rbox_runtime::ensure_sealed_self()?;
    let c = engine.runtime_container(&rec)?;
    let mut p = c.spec()?.process().clone().unwrap_or_default();
    // The init wrapper is for the container's first process only.
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    p.set_console_size(None);
    if let Some(w) = &a.workdir {
        p.set_cwd(w.into());
    }
    let mut env = p.env().clone().unwrap_or_default();
    for e in &a.env {
        let e = if e.contains('=') {
            e.clone()
        } else if let Ok(v) = std::env::var(e) {
            format!("{e}={v}")
        } else {
            continue;
        };
        let key = e.split('=').next().unwrap_or_default().to_string();
        env.retain(|x| x.split('=').next() != Some(key.as_str()));
        env.push(e);
    }
    if let Some(u) = &a.user {
        let eu = user::resolve_in_root(&rec.rootfs, u, &[])?;
        p.user_mut().set_uid(eu.uid);
        p.user_mut().set_gid(eu.gid);
        p.user_mut().set_additional_gids(Some(eu.additional_gids));
        env.retain(|x| !x.starts_with("HOME="));
        env.push(format!("HOME={}", eu.home));
    }
    p.set_env(Some(env));
    if a.privileged {
        let all: std::collections::HashSet<Capability> = caps::available()
            .iter()
            .filter_map(|c| {
                c.parse()
                    .ok()
                    .or_else(|| c.trim_start_matches("CAP_").parse().ok())
            })
            .collect();
        let mut lc = LinuxCapabilities::default();
        lc.set_bounding(Some(all.clone()))
            .set_effective(Some(all.clone()))
            .set_permitted(Some(all));
        p.set_capabilities(Some(lc));
    }
    let mut opts = ExecOptions::new(p);
    if a.detach {
        let null = std::fs::File::open("/dev/null")?;
        let _ = nix::unistd::dup2_stdin(&null);
        c.exec(&opts)?;
        return Ok(0);
    }
    let mut set = SigSet::empty();
    for s in crate::commands::run::FORWARDED {
        set.add(s);
    }
    set.add(Signal::SIGCHLD);
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    if !a.interactive && !a.tty {
        let null = std::fs::File::open("/dev/null")?;
        let _ = nix::unistd::dup2_stdin(&null);
    }
    let console = if a.tty {
        let l = ConsoleListener::bind(
            &rec.runtime_root,
            &format!("{}-exec-{}", &id[..12], std::process::id()),
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
