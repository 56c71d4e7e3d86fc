//! `rbox volume create|ls|rm|inspect|prune`, with docker's flags and output.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use rbox_engine::volume;

/// Manage volumes.
#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume (a random name if none is given).
    Create(CreateArgs),
    /// List volumes.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Remove one or more volumes.
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Show volumes as JSON.
    Inspect(NamesArgs),
    /// Remove unused anonymous volumes (all unused ones with --all).
    Prune(PruneArgs),
}

/// `volume create` flags.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Driver: only "local".
    #[arg(short, long, default_value = "local")]
    driver: String,
    /// Metadata key=value.
    #[arg(long)]
    label: Vec<String>,
    /// Volume name.
    name: Option<String>,
}

/// `volume ls` flags.
#[derive(Args, Debug)]
pub struct LsArgs {
    /// Only show names.
    #[arg(short, long)]
    quiet: bool,
}

/// `volume rm` flags.
#[derive(Args, Debug)]
pub struct RmArgs {
    /// Accepted for docker compatibility; a volume in use is never removed.
    #[arg(short, long)]
    force: bool,
    /// Volume names.
    #[arg(required = true)]
    names: Vec<String>,
}

/// Names.
#[derive(Args, Debug)]
pub struct NamesArgs {
    /// Volume names.
    #[arg(required = true)]
    names: Vec<String>,
}

/// `volume prune` flags.
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove named unused volumes too, not only anonymous ones.
    #[arg(short, long)]
    all: bool,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    force: bool,
}

/// Runs a volume command.
pub fn main(data_root: &Path, cmd: VolumeCommand) -> Result<()> {
    match cmd {
        VolumeCommand::Create(a) => {
            if a.driver != "local" {
                bail!("volume driver {:?} is not supported (only local)", a.driver);
            }
            let labels = super::network::labels(&a.label);
            let v = match &a.name {
                Some(n) => volume::create(data_root, n, &labels)
                    .with_context(|| format!("creating volume {n}"))?,
                None => volume::create_anonymous(data_root).context("creating a volume")?,
            };
            println!("{}", v.name);
        }
        VolumeCommand::Ls(a) => {
            let vols = volume::list(data_root).context("listing volumes")?;
            if !a.quiet {
                println!("{:<16}VOLUME NAME", "DRIVER");
            }
            for v in vols {
                if a.quiet {
                    println!("{}", v.name);
                } else {
                    println!("{:<16}{}", v.driver, v.name);
                }
            }
        }
        VolumeCommand::Rm(a) => {
            let _ = a.force;
            let mut failed = false;
            for n in &a.names {
                match volume::remove(data_root, n, &|name| in_use(data_root, name)) {
                    Ok(()) => println!("{n}"),
                    Err(e) => {
                        eprintln!("rbox: {}", crate::log::chain(&e));
                        failed = true;
                    }
                }
            }
            if failed {
                bail!("some volumes could not be removed");
            }
        }
        VolumeCommand::Inspect(a) => {
            let mut out = Vec::new();
            for n in &a.names {
                out.push(volume::inspect(data_root, n)?.docker_json());
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        VolumeCommand::Prune(a) => {
            if !a.force && !confirm(a.all)? {
                return Ok(());
            }
            let r = volume::prune(data_root, &|name| in_use(data_root, name), a.all)
                .context("pruning volumes")?;
            if !r.removed.is_empty() {
                println!("Deleted Volumes:");
                for n in &r.removed {
                    println!("{n}");
                }
                println!();
            }
            println!("Total reclaimed space: {}", human(r.space_reclaimed));
        }
    }
    Ok(())
}

fn confirm(all: bool) -> Result<bool> {
    let what = if all {
        "all volumes not used by at least one container"
    } else {
        "all anonymous volumes not used by at least one container"
    };
    if !std::io::stdin().is_terminal() {
        bail!("volume prune removes {what}: pass --force to confirm");
    }
    print!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// Whether a container record mentions the volume's data directory: the
/// engine's container configs (bundle config.json) name it as a mount
/// source. Conservative: any mention counts as use.
fn in_use(data_root: &Path, name: &str) -> bool {
    let needle = data_root.join("volumes").join(name).join("_data");
    let needle = needle.to_string_lossy().into_owned();
    let Ok(rd) = std::fs::read_dir(data_root.join("containers")) else {
        return false;
    };
    rd.flatten().any(|c| mentions(&c.path(), &needle, 2))
}

fn mentions(dir: &Path, needle: &str, depth: u32) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().any(|e| {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() && depth > 0 => mentions(&p, needle, depth - 1),
            Ok(t) if t.is_file() && p.extension().is_some_and(|x| x == "json") => {
                std::fs::read_to_string(&p).is_ok_and(|s| s.contains(needle))
            }
            _ => false,
        }
    })
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.1}{}", UNITS[i])
    }
}
