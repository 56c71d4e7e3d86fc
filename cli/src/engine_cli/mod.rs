//! The docker-style engine commands: containers (`run`, `ps`, `logs`,
//! `exec`...), `network` and `volume`. Argument parsing and output only;
//! the work is in rbox-engine.

mod attach;
mod cp;
mod exec;
mod logs;
pub mod network;
mod ps;
mod run;
mod stats;
pub mod volume;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use rbox_engine::Engine;

/// Prints an engine command's error chain and maps it to exit status 1.
pub fn exit(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rbox: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The engine's subcommands.
#[derive(Subcommand, Debug)]
pub enum EngineCommand {
    /// Create and start a container from an image.
    #[command(disable_help_flag = true)]
    Run(run::RunArgs),
    /// Create a container without starting it.
    #[command(disable_help_flag = true)]
    Create(run::RunArgs),
    /// Start stopped containers.
    Start {
        /// Attach to the output.
        #[arg(short, long)]
        attach: bool,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Stop running containers (stop signal, then SIGKILL).
    Stop {
        /// Seconds before SIGKILL.
        #[arg(short = 't', long = "time", alias = "timeout")]
        time: Option<i64>,
        /// Signal to send first.
        #[arg(short, long)]
        signal: Option<String>,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Send a signal to running containers.
    Kill {
        /// Signal (default KILL).
        #[arg(short, long, default_value = "KILL")]
        signal: String,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Stop then start containers.
    Restart {
        /// Seconds before SIGKILL.
        #[arg(short = 't', long = "time")]
        time: Option<i64>,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove containers.
    Rm {
        /// Kill running containers first.
        #[arg(short, long)]
        force: bool,
        /// Remove the container's anonymous volumes too.
        #[arg(short, long)]
        volumes: bool,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// List containers.
    Ps(ps::PsArgs),
    /// Print a container's logs.
    Logs(logs::LogsArgs),
    /// Run a command in a running container.
    Exec(exec::ExecArgs),
    /// Show low-level information on containers (JSON).
    Inspect {
        /// A template like '{{.State.Status}}' printed per container.
        #[arg(short, long)]
        format: Option<String>,
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Block until containers stop; print their exit codes.
    Wait {
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Show the processes of a container.
    Top {
        /// Container.
        container: String,
        /// ps(1) options.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Freeze every process of containers.
    Pause {
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Thaw paused containers.
    Unpause {
        /// Containers.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Rename a container.
    Rename {
        /// The container.
        container: String,
        /// Its new name.
        new_name: String,
    },
    /// Copy files between a container and the host.
    Cp(cp::CpArgs),
    /// Show containers' resource usage.
    Stats(stats::StatsArgs),
    /// Manage containers.
    Container {
        #[command(subcommand)]
        command: ContainerCommand,
    },
    /// The per-container monitor (internal).
    #[command(name = "__monitor", hide = true)]
    Monitor {
        /// Container id.
        id: String,
    },
}

/// `rbox container ...`.
#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    /// Remove all stopped containers.
    Prune {
        /// Do not ask for confirmation (accepted; rbox never asks).
        #[arg(short, long)]
        force: bool,
    },
}

/// Runs an engine command; errors are printed, docker's exit codes.
pub fn main(g: &crate::Global, cmd: EngineCommand) -> ExitCode {
    if !matches!(cmd, EngineCommand::Monitor { .. }) {
        // `rbox ps | head` ends quietly, as other Unix tools do. (Not in
        // the monitor: a client that goes away must not kill it.)
        // SAFETY: installing the default disposition has no handler code
        // and happens before any thread is started.
        let _ = unsafe {
            nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGPIPE,
                nix::sys::signal::SigHandler::SigDfl,
            )
        };
    }
    crate::trace::install(&crate::log::Logger::default());
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    let engine = Engine::new(&g.data_root, &g.state_root, exe).with_puller(puller(g));
    match dispatch(&engine, cmd) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("rbox: {}", crate::log::chain(e.as_ref()));
            let code = e
                .downcast_ref::<rbox_engine::Error>()
                .map(|e| e.exit_code())
                .unwrap_or(125);
            ExitCode::from(code)
        }
    }
}

/// `run`/`create` pull through the registry client, as `rbox build` does.
fn puller(g: &crate::Global) -> rbox_engine::Puller {
    let data_root = g.data_root.clone();
    std::sync::Arc::new(move |name: &str| {
        let pull = || -> Result<()> {
            let store = rbox_image::Store::open(&data_root)?;
            let reference = rbox_image::Reference::parse(name)?;
            let creds = rbox_registry::auth::CredentialStore::from_process(None)?;
            let client = rbox_registry::Client::new(
                rbox_registry::ClientConfig::default(),
                std::sync::Arc::new(creds),
            );
            eprintln!("pulling {reference}");
            client.pull(
                &reference,
                &rbox_image::manifest::Platform::host(),
                &store,
                &rbox_registry::NoProgress,
            )?;
            Ok(())
        };
        pull().map_err(|e| format!("{e:#}"))
    })
}

fn each(items: &[String], mut f: impl FnMut(&str) -> Result<()>) -> Result<u8> {
    let mut failed = None;
    for c in items {
        if let Err(e) = f(c) {
            eprintln!("rbox: {}", crate::log::chain(e.as_ref()));
            failed = Some(1);
        }
    }
    Ok(failed.unwrap_or(0))
}

fn dispatch(engine: &Engine, cmd: EngineCommand) -> Result<u8> {
    use EngineCommand as C;
    match cmd {
        C::Run(a) => run::run(engine, a),
        C::Create(a) => {
            let rec = engine.create(a.options()?)?;
            println!("{}", rec.id);
            Ok(0)
        }
        C::Start { attach, containers } => {
            if attach {
                let id = engine.resolve(&containers[0])?;
                let rec = engine.record(&id)?;
                let s = engine.start(&id)?;
                return attach::attach(
                    engine,
                    &id,
                    s,
                    rec.options.tty,
                    false,
                    attach::Streams::ALL,
                );
            }
            each(&containers, |c| {
                let id = engine.resolve(c)?;
                let mut s = engine.start(&id)?;
                rbox_engine::wait_started(&mut s, &id)?;
                println!("{c}");
                Ok(())
            })
        }
        C::Stop {
            time,
            signal,
            containers,
        } => each(&containers, |c| {
            let id = engine.resolve(c)?;
            let sig = signal.as_deref().map(rbox_engine::signal).transpose()?;
            engine.stop(&id, time, sig)?;
            println!("{c}");
            Ok(())
        }),
        C::Kill { signal, containers } => {
            let sig = rbox_engine::signal(&signal)?;
            each(&containers, |c| {
                engine.kill(&engine.resolve(c)?, sig)?;
                println!("{c}");
                Ok(())
            })
        }
        C::Restart { time, containers } => each(&containers, |c| {
            let id = engine.resolve(c)?;
            engine.stop(&id, time, None)?;
            let mut s = engine.start(&id)?;
            rbox_engine::wait_started(&mut s, &id)?;
            println!("{c}");
            Ok(())
        }),
        C::Rm {
            force,
            volumes,
            containers,
        } => each(&containers, |c| {
            engine.remove(&engine.resolve(c)?, force, volumes)?;
            println!("{c}");
            Ok(())
        }),
        C::Ps(a) => ps::run(engine, &a),
        C::Logs(a) => logs::run(engine, &a),
        C::Exec(a) => exec::run(engine, a),
        C::Inspect { format, containers } => {
            let mut out = Vec::new();
            let mut code = 0;
            for c in &containers {
                match engine.resolve(c).and_then(|id| engine.record(&id)) {
                    Ok(r) => out.push(rbox_engine::inspect::inspect(&r)),
                    Err(e) => {
                        eprintln!("rbox: {e}");
                        code = 1;
                    }
                }
            }
            if let Some(t) = format {
                for v in &out {
                    println!("{}", ps::template(&t, v));
                }
                return Ok(code);
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&out).context("encoding JSON")?
            );
            Ok(code)
        }
        C::Wait { containers } => each(&containers, |c| {
            let code = engine.wait(&engine.resolve(c)?)?;
            println!("{code}");
            Ok(())
        }),
        C::Top { container, ps_args } => {
            let pids = engine.top(&engine.resolve(&container)?)?;
            let list: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
            let mut cmd = std::process::Command::new("ps");
            if ps_args.is_empty() {
                cmd.args(["-o", "uid,pid,ppid,c,stime,tty,time,cmd"]);
            } else {
                cmd.args(&ps_args);
            }
            let st = cmd
                .arg("-p")
                .arg(list.join(","))
                .status()
                .context("running ps")?;
            Ok(if st.success() { 0 } else { 1 })
        }
        C::Stats(a) => stats::run(engine, &a),
        C::Cp(a) => cp::run(engine, &a),
        C::Pause { containers } => each(&containers, |c| {
            engine.pause(&engine.resolve(c)?)?;
            println!("{c}");
            Ok(())
        }),
        C::Unpause { containers } => each(&containers, |c| {
            engine.unpause(&engine.resolve(c)?)?;
            println!("{c}");
            Ok(())
        }),
        C::Rename {
            container,
            new_name,
        } => {
            engine.rename(&engine.resolve(&container)?, &new_name)?;
            Ok(0)
        }
        C::Container {
            command: ContainerCommand::Prune { force: _ },
        } => {
            let ids = engine.prune()?;
            if !ids.is_empty() {
                println!("Deleted Containers:");
                for id in &ids {
                    println!("{id}");
                }
            }
            println!("\nTotal reclaimed: {} containers", ids.len());
            Ok(0)
        }
        C::Monitor { id } => {
            // fd 0 is the attach socket of the command that started us;
            // keep it off the standard descriptors the container inherits.
            let client = rbox_engine::sys::dup_cloexec(0).ok();
            if let Ok(null) = std::fs::File::open("/dev/null") {
                let _ = nix::unistd::dup2_stdin(&null);
            }
            rbox_engine::monitor::run(engine.data_root(), &id, client)?;
            Ok(0)
        }
    }
}
