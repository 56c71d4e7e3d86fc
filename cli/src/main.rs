//! The `rbox` binary: docker-style commands for people, and the
//! runc-compatible runtime interface as `rbox runtime <cmd>` or when
//! invoked under the name `rbox-runc`.

mod build_cli;
mod commands;
mod engine_cli;
mod image_cli;
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
            Command::Runtime(rt) => rt,
            Command::Image(cmd) => return image_cli::main(&cli.global, cmd),
            Command::Images(a) => {
                return image_cli::main(&cli.global, image_cli::ImageCommand::Ls(a));
            }
            Command::Tag(a) => {
                return image_cli::main(&cli.global, image_cli::ImageCommand::Tag(a));
            }
            Command::Rmi(a) => return image_cli::main(&cli.global, image_cli::ImageCommand::Rm(a)),
            Command::Save(a) => {
                return image_cli::main(&cli.global, image_cli::ImageCommand::Save(a));
            }
            Command::Load(a) => {
                return image_cli::main(&cli.global, image_cli::ImageCommand::Load(a));
            }
            Command::Pull(a) => {
                return image_cli::main(&cli.global, image_cli::ImageCommand::Pull(a));
            }
            Command::Push(a) => {
                return image_cli::main(&cli.global, image_cli::ImageCommand::Push(a));
            }
            Command::Login(a) => return image_cli::registry::main_login(&cli.global, a),
            Command::Logout(a) => return image_cli::registry::main_logout(&cli.global, a),
            Command::Build(a) => return build_cli::main(&cli.global, a),
            Command::Network(c) => {
                return engine_cli::exit(engine_cli::network::main(&cli.global.data_root, c));
            }
            Command::Volume(c) => {
                return engine_cli::exit(engine_cli::volume::main(&cli.global.data_root, c));
            }
            Command::Engine(cmd) => return engine_cli::main(&cli.global, cmd),
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
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Flags every docker-style command shares.
#[derive(clap::Args, Debug, Clone)]
pub struct Global {
    /// Image store and engine directory.
    #[arg(
        long,
        global = true,
        env = "RBOX_DATA_ROOT",
        default_value = "/var/lib/rbox",
        value_name = "DIR"
    )]
    pub data_root: std::path::PathBuf,
    /// Runtime state directory (runc's --root).
    #[arg(
        long = "state-root",
        global = true,
        default_value = "/run/rbox",
        value_name = "DIR"
    )]
    pub state_root: std::path::PathBuf,
}

#[derive(clap::Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per process
enum Command {
    /// The runc-compatible OCI runtime interface (also installed as `rbox-runc`).
    Runtime(runtime_cli::RuntimeCli),
    /// Manage images (ls, inspect, tag, rm, prune, save, load, pull, push).
    #[command(subcommand)]
    Image(image_cli::ImageCommand),
    /// List images.
    Images(image_cli::LsArgs),
    /// Give an image another name.
    Tag(image_cli::TagArgs),
    /// Remove images.
    Rmi(image_cli::RmArgs),
    /// Write images to a tar archive (docker-archive with an OCI layout, or --format oci).
    Save(image_cli::SaveArgs),
    /// Read images from a tar archive (docker-archive or OCI layout; gzip/zstd/plain).
    Load(image_cli::LoadArgs),
    /// Download an image from a registry.
    Pull(image_cli::registry::PullArgs),
    /// Upload an image to a registry.
    Push(image_cli::registry::PushArgs),
    /// Log in to a registry (checks the credentials, then saves them).
    Login(image_cli::registry::LoginArgs),
    /// Log out from a registry.
    Logout(image_cli::registry::LogoutArgs),
    /// Build an image from a Dockerfile.
    Build(build_cli::BuildArgsCli),
    /// Manage networks.
    #[command(subcommand)]
    Network(engine_cli::network::NetworkCommand),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(engine_cli::volume::VolumeCommand),
    /// Docker-style container commands (run, ps, logs, exec, ...).
    #[command(flatten)]
    Engine(engine_cli::EngineCommand),
}
