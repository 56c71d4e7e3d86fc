//! The runc-compatible command line: global flags and subcommands with
//! runc's names, flags and output shapes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::commands;
use crate::log::{Logger, chain};

/// runc-compatible OCI runtime.
#[derive(Parser, Debug)]
#[command(
    name = "rbox-runc",
    version,
    about = "rbox's runc-compatible OCI runtime"
)]
pub struct RuntimeCli {
    /// Runtime state directory.
    #[arg(long, global = true, default_value = "/run/rbox")]
    pub root: PathBuf,
    /// Log file for errors and debug lines.
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long = "log-format", global = true, default_value = "text")]
    pub log_format: String,
    /// Debug logging.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd cgroup paths (slice:prefix:name); cgroupfs does the work.
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility (ignored).
    #[arg(long, hide = true)]
    pub criu: Option<String>,
    /// Accepted for runc compatibility (auto, true, false).
    #[arg(long, hide = true)]
    pub rootless: Option<String>,
    #[command(subcommand)]
    pub command: RuntimeCommand,
}

/// Flags shared by create and run.
#[derive(Args, Debug, Clone)]
pub struct CreateFlags {
    /// Bundle directory holding config.json.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// File to write the container init's pid to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a session keyring.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N extra fds (3..3+N) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
}

/// runc's subcommands.
#[derive(Subcommand, Debug)]
pub enum RuntimeCommand {
    /// Create a container (it waits for `start`).
    Create {
        #[command(flatten)]
        flags: CreateFlags,
        /// Container id.
        id: String,
    },
    /// Start a created container's process.
    Start {
        /// Container id.
        id: String,
    },
    /// Create and start a container, and wait for it.
    Run {
        #[command(flatten)]
        flags: CreateFlags,
        /// Return after starting.
        #[arg(short, long)]
        detach: bool,
        /// Keep the container after it exits.
        #[arg(long)]
        keep: bool,
        /// Accepted for runc compatibility: rbox never becomes a subreaper.
        #[arg(long = "no-subreaper", hide = true)]
        no_subreaper: bool,
        /// Container id.
        id: String,
    },
    /// Print a container's state as JSON.
    State {
        /// Container id.
        id: String,
    },
    /// Send a signal to a container's init (default SIGTERM).
    Kill {
        /// Signal every process of the container.
        #[arg(short, long)]
        all: bool,
        /// Container id.
        id: String,
        /// Signal name or number.
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a container.
    Delete {
        /// Kill a running container first.
        #[arg(short, long)]
        force: bool,
        /// Container id.
        id: String,
    },
    /// Run a process in a running container.
    Exec(commands::exec::ExecArgs),
    /// List a container's processes.
    Ps {
        /// table or json.
        #[arg(short, long, default_value = "table")]
        format: String,
        /// Container id.
        id: String,
        /// Arguments for ps(1).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Freeze every process of a container.
    Pause {
        /// Container id.
        id: String,
    },
    /// Thaw a paused container.
    Resume {
        /// Container id.
        id: String,
    },
    /// Print container events (or one stats sample with --stats).
    Events(commands::events::EventsArgs),
    /// Change a container's resource limits.
    Update(commands::update::UpdateArgs),
    /// Print what this runtime supports (runtime-spec features.md).
    Features,
    /// Write a default config.json.
    Spec {
        /// Bundle directory to write config.json into.
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// A spec for running without root.
        #[arg(long)]
        rootless: bool,
    },
    /// List containers.
    #[command(alias = "ls")]
    List {
        /// table or json.
        #[arg(short, long, default_value = "table")]
        format: String,
        /// Only ids.
        #[arg(short, long)]
        quiet: bool,
    },
}

/// What every command gets.
pub struct Ctx {
    pub runtime: rbox_runtime::Runtime,
    pub log: Logger,
}

/// Runs a parsed runtime command line; errors are printed and logged.
pub fn main(cli: RuntimeCli) -> ExitCode {
    let log = Logger {
        file: cli.log.clone(),
        json: cli.log_format == "json",
        debug: cli.debug,
    };
    let mut runtime = rbox_runtime::Runtime::new(cli.root.clone());
    runtime.systemd_cgroup = cli.systemd_cgroup;
    crate::trace::install(&log);
    let ctx = Ctx { runtime, log };
    ctx.log.debug(&format!("{:?}", cli.command));
    match commands::dispatch(&ctx, cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            ctx.log.error(&chain(e.as_ref()));
            ExitCode::from(1)
        }
    }
}
