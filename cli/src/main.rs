//! The `rbox` binary: docker-style commands for people, and the
//! runc-compatible runtime interface as `rbox runtime <cmd>` or when
//! invoked under the name `rbox-runc`.

mod commands;
mod engine_cli;
mod log;
mod runtime_cli;
mod trace;
mod tty;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked_as = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let rt = if invoked_as.ends_with("runc") {
        // Called by podman/containerd/dockerd as their OCI runtime.
        runtime_cli::RuntimeCli::parse_from(args)
    } else {
        let cli = Cli::parse_from(args);
        match cli.command {
            Command::Runtime(rt) => *rt,
            Command::Network(c) => {
                return engine_cli::exit(engine_cli::network::main(&cli.data_root, c));
            }
            Command::Volume(c) => {
                return engine_cli::exit(engine_cli::volume::main(&cli.data_root, c));
            }
        }
    };
    if matches!(rt.command, runtime_cli::RuntimeCommand::Exec(_)) {
        // exec joins a running (possibly hostile) container before its
        // execve: run from a sealed copy of ourselves (CVE-2019-5736).
        if let Err(e) = rbox_runtime::ensure_sealed_self() {
            eprintln!("rbox: {}", log::chain(&e));
            return ExitCode::from(1);
        }
    }
    runtime_cli::main(rt)
}

/// rbox: a container engine core.
#[derive(Parser, Debug)]
#[command(
    name = "rbox",
    version,
    about = "rbox: build, pull, push and run OCI containers without a daemon"
)]
struct Cli {
    /// Store and engine directory: images, containers, networks, volumes.
    #[arg(
        long = "data-root",
        env = "RBOX_DATA_ROOT",
        default_value = "/var/lib/rbox"
    )]
    data_root: std::path::PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// The runc-compatible OCI runtime interface (also installed as `rbox-runc`).
    Runtime(Box<runtime_cli::RuntimeCli>),
    /// Manage networks.
    #[command(subcommand)]
    Network(engine_cli::network::NetworkCommand),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(engine_cli::volume::VolumeCommand),
}
